"""Brute-force references for coalition formation (issue 21), in numpy only: one dense KKT
solve per coalition or structure (``helpers.kkt_solve``), then the definitions written out
literally (loops over members, subsets, permutations, moves)."""

from __future__ import annotations

import itertools
import math

import numpy as np

import helpers


def random_arrays(seed: int, n: int, t: int, *, time_varying: bool = False):
    """(a, b, mu, d, xbar) of ``helpers.random_problem`` (b of shape (T,) when
    ``time_varying``)."""
    rng = np.random.default_rng(seed)
    return helpers.random_problem(rng, n, t, time_varying_b=time_varying).arrays()


def structure_costs(arrays, blocks) -> np.ndarray:
    """Every station's cost (N,) at the C-Nash equilibrium of ``blocks`` (a dense solve)."""
    a, b, mu, d, xbar = arrays
    coalitions = [list(c) for c in blocks if len(c) >= 2]
    x, _ = helpers.kkt_solve(a, b, mu, d, xbar, coalitions)
    return helpers.station_costs(a, b, mu, xbar, x)


def cost_table(arrays) -> np.ndarray:
    """(2^N, N): row c (bit i <=> station i in C) the stations' costs when C forms."""
    n = len(arrays[2])
    return np.stack([structure_costs(arrays, [members(c, n)]) for c in range(1 << n)])


def members(c: int, n: int) -> list[int]:
    return [i for i in range(n) if c >> i & 1]


def tolerance(table: np.ndarray, rtol: float = 1e-9) -> float:
    return rtol * np.abs(table[0]).max()


def cartel_verdicts(table: np.ndarray, tol: float):
    """{coalition bit index: (internal, external)} for every coalition of size >= 2."""
    n = table.shape[1]
    out = {}
    for c in range(1 << n):
        inside = members(c, n)
        if len(inside) < 2:
            continue
        internal = all(table[c ^ (1 << i), i] >= table[c, i] - tol for i in inside)
        external = all(table[c | (1 << j), j] >= table[c, j] - tol
                       for j in range(n) if j not in inside)
        out[c] = (internal, external)
    return out


def saving(table: np.ndarray, group) -> float:
    """v(S) = sum_{i in S} (c_i(Nash) - c_i(S-Nash))."""
    s = sum(1 << i for i in group)
    return float(sum(table[0, i] - table[s, i] for i in group))


def shapley(table: np.ndarray, coalition) -> np.ndarray:
    """The Shapley value by the subset formula, members in the order given."""
    k = len(coalition)
    phi = np.zeros(k)
    for j, i in enumerate(coalition):
        others = [m for m in coalition if m != i]
        for r in range(k):
            w = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
            for group in itertools.combinations(others, r):
                phi[j] += w * (saving(table, (*group, i)) - saving(table, group))
    return phi


def in_core(table: np.ndarray, coalition, shares, tol: float) -> bool:
    """No proper non-empty S of C with v(S) > sum of its shares + tol."""
    pay = dict(zip(coalition, shares))
    return all(saving(table, group) <= sum(pay[i] for i in group) + tol
               for r in range(1, len(coalition))
               for group in itertools.combinations(coalition, r))


def set_partitions(n: int):
    """Every partition of range(n) once, as lists of blocks: the distinct block sets of all
    n^n labellings (a brute force independent of the library's restricted-growth strings)."""
    seen = {canonical([[i for i in range(n) if lab[i] == k] for k in set(lab)])
            for lab in itertools.product(range(n), repeat=n)}
    return [list(map(list, p)) for p in sorted(seen)]


def canonical(blocks) -> tuple:
    return tuple(sorted(tuple(sorted(b)) for b in blocks if b))


def stable_partitions(arrays, tol: float):
    """(Nash stable, core) partitions as canonical tuples, by moves and blocking groups."""
    n = len(arrays[2])
    table = {canonical(p): structure_costs(arrays, p) for p in set_partitions(n)}
    nash, core = [], []
    for part, costs in table.items():
        moves = []
        for i in range(n):
            without = [[m for m in b if m != i] for b in part]
            moves += [(i, without + [[i]])]
            moves += [(i, [b + [i] if k == t else b for k, b in enumerate(without)])
                      for t in range(len(part)) if i not in part[t]]
        if all(table[canonical(p)][i] >= costs[i] - tol for i, p in moves):
            nash.append(part)
        blocked = any(
            all(table[canonical([[m for m in b if m not in g] for b in part] + [list(g)])][i]
                < costs[i] - tol for i in g)
            for r in range(1, n + 1) for g in itertools.combinations(range(n), r))
        if not blocked:
            core.append(part)
    return nash, core
