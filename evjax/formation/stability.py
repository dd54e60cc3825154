"""Cartel stability of single coalitions (d'Aspremont, Jacquemin, Gabszewicz and Weymark 1983)
in paper 000's charging game: one coalition C facing stations that act alone.

C is *internally stable* if no member lowers its own cost by leaving,
c_i((C minus i)-Nash) >= c_i(C-Nash) - tol for every i in C, *externally stable* if no
outsider lowers its cost by joining, c_j((C plus j)-Nash) >= c_j(C-Nash) - tol for every j not
in C, and *stable* if both. The *gain* of a station is what its move saves it:
c_i(C-Nash) - c_i(C xor {i}-Nash) (> tol: it moves).

Tolerance: tol = rtol * max_i |c_i(Nash)|, ``rtol`` = 1e-9 by default. The closed forms agree
with dense KKT solves to ~1e-13 of that scale, so a verdict is decided by a real gain, and a
gain smaller than tol (a tie) counts as no reason to move.

For constant b every coalition and its N neighbours cost O(N^2) (``costs.costs_and_flips``);
:func:`stable_coalitions` enumerates all 2^N - N - 1 coalitions of size >= 2 in bit order
(bit i set <=> station i in C), in chunks of ``chunk`` coalitions, so memory stays bounded.
For a time-varying b each chunk solves B (N + 1) equilibria by the vmapped closed form
(N <= ``MAX_STATIONS_TV``).
"""

from __future__ import annotations

import dataclasses
import time

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._progress import progress_bar
from .._validation import float_dtype, require_float64
from ..charging.coalitions import coalition_members
from ..charging.game import ChargingGame
from .costs import (RTOL, _costs_for, bit_masks, check_rtol, cost_scale, cost_tables,
                    costs_and_flips, nash_costs)

MAX_STATIONS = 24  # 2^24 - 25 coalitions: about a minute on one CPU core
MAX_STATIONS_TV = 14  # time-varying b: B (N + 1) closed-form solves per chunk


@dataclasses.dataclass(frozen=True)
class Stability:
    """Cartel stability of one coalition: verdicts and every station's gain from moving.

    ``members`` ascending; ``leave_gain[k]`` = c_i(C) - c_i(C minus i) for i = members[k];
    ``join_gain[k]`` = c_j(C) - c_j(C plus j) for j = outsiders[k] (> tol: the move pays);
    ``costs`` (N,) at C-Nash, ``tol`` absolute.
    """

    members: list[int]
    outsiders: list[int]
    internal: bool
    external: bool
    leave_gain: np.ndarray
    join_gain: np.ndarray
    costs: np.ndarray
    tol: float

    @property
    def stable(self) -> bool:
        return self.internal and self.external


def flip_costs(game: ChargingGame, m):
    """(c_i at C, c_i at C xor {i}) for B checked 0/1 masks (B, N): the Gram form for a
    scalar b, else B (N + 1) vmapped closed-form solves."""
    if game.constant_b:
        return _flip_gram(cost_tables(game), m)
    return _flip_dense(game, m)


_flip_gram = eqx.filter_jit(costs_and_flips)


@eqx.filter_jit
def _flip_dense(game, m):
    rows, n = m.shape
    eye = jnp.eye(n, dtype=m.dtype)
    flipped = jnp.abs(m[:, None, :] - eye[None, :, :]).reshape(rows * n, n)
    costs = _costs_for(game, jnp.concatenate([m, flipped]), "structured")
    flips = jnp.diagonal(costs[rows:].reshape(rows, n, n), axis1=1, axis2=2)
    return costs[:rows], flips


def cartel_stability(game: ChargingGame, coalition, *, rtol=RTOL) -> Stability:
    """Internal and external stability of one coalition (indices, e.g. ``[0, 1, 2]``).

    Every station's gain from leaving (members) or joining (outsiders) is computed in the
    same batch as C's own equilibrium; see the module docstring for the tolerance.
    """
    n = game.n_stations
    members = sorted(coalition_members(coalition, n))
    rtol = check_rtol(rtol)
    m = np.zeros((1, n))
    m[0, members] = 1.0
    costs, flips = (np.asarray(v)[0] for v in flip_costs(game, jnp.asarray(m, float_dtype())))
    game.check_finite("station costs", costs)
    tol = rtol * cost_scale(nash_costs(game))
    gain = costs - flips
    outsiders = [j for j in range(n) if j not in members]
    return Stability(members=members, outsiders=outsiders,
                     internal=bool(np.all(gain[members] <= tol)),
                     external=bool(np.all(gain[outsiders] <= tol)),
                     leave_gain=gain[members], join_gain=gain[outsiders], costs=costs,
                     tol=tol)


def stability_margins(game: ChargingGame, coalition) -> jnp.ndarray:
    """[internal, external] margins (2,) of one coalition: min over members of
    c_i(C minus i) - c_i(C), and min over outsiders of c_j(C plus j) - c_j(C) (inf for an
    empty set). C is internally (externally) stable iff its margin is >= -tol.

    Differentiable in the game (``eqx.filter_grad``; a subgradient where two stations tie):
    the objective of a design study that asks which parameter change makes C stable."""
    n = game.n_stations
    m = jnp.zeros((1, n), float_dtype()).at[0, jnp.asarray(coalition_members(coalition, n))
                                            ].set(1.0)
    return _margins(game, m)


@eqx.filter_jit
def _margins(game, m):
    costs, flips = flip_costs(game, m)
    slack, inside = (flips - costs)[0], m[0] > 0.5
    return jnp.stack([jnp.min(jnp.where(inside, slack, jnp.inf)),
                      jnp.min(jnp.where(inside, jnp.inf, slack))])


@dataclasses.dataclass(frozen=True)
class StableCoalitions:
    """Every coalition of size >= 2 of a game by its stability, as bit indices (bit i set <=>
    station i in C), ascending. ``evaluated`` coalitions of size >= 2; ``tol`` absolute."""

    n_stations: int
    internal: np.ndarray
    external: np.ndarray
    stable: np.ndarray
    evaluated: int
    tol: float
    seconds: float

    def lists(self, kind: str) -> list[list[int]]:
        """The coalitions of ``kind`` ('internal', 'external', 'stable') as member lists,
        sorted by bit index (members ascending)."""
        bits = np.asarray(getattr(self, kind), np.int64)
        m = (bits[:, None] >> np.arange(self.n_stations)) & 1
        return [np.flatnonzero(row).tolist() for row in m]

    def by_size(self, kind: str) -> dict[int, int]:
        """{size: count} of the coalitions of ``kind``."""
        sizes = _popcount(np.asarray(getattr(self, kind), np.int64))
        return {int(k): int(v) for k, v in zip(*np.unique(sizes, return_counts=True))}


def _popcount(bits: np.ndarray) -> np.ndarray:
    return np.bitwise_count(bits)


@eqx.filter_jit
def _chunk_verdicts(game, tab, start, chunk: int, n: int, tol):
    index = start + jnp.arange(chunk, dtype=jnp.int64)
    m = bit_masks(index, n)
    costs, flips = costs_and_flips(tab, m) if tab is not None else _flip_dense(game, m)
    moves = costs - flips > tol
    inside = m > 0.5
    internal = ~jnp.any(moves & inside, axis=1)
    external = ~jnp.any(moves & ~inside, axis=1)
    return internal, external


def stable_coalitions(game: ChargingGame, *, rtol=RTOL, chunk: int = 1 << 14,
                      progress: bool | None = None) -> StableCoalitions:
    """Every internally stable, externally stable and stable coalition of size >= 2.

    All 2^N coalitions are evaluated in bit order, ``chunk`` at a time (one compiled shape);
    N <= 24 for a scalar b, N <= 14 for a time-varying b (``ValueError`` beyond). Each chunk
    evaluates its coalitions and their leave/join neighbours in one batch.
    """
    n = game.n_stations
    limit = MAX_STATIONS if game.constant_b else MAX_STATIONS_TV
    if game.a.ndim != 1:
        raise ValueError(f"stable_coalitions takes one game, not a batch; a has shape "
                         f"{game.a.shape}")
    if n > limit:
        kind = "a scalar" if game.constant_b else "a time-varying"
        raise ValueError(f"stable_coalitions enumerates all 2^{n} coalitions; N = {n} > "
                         f"{limit} is too many for {kind} b; check single coalitions with "
                         "cartel_stability")
    if not (isinstance(chunk, int) and chunk >= 1):
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    rtol = check_rtol(rtol)
    require_float64("stable_coalitions (64-bit coalition indices, 1e-9 tolerances)")
    t0 = time.perf_counter()
    tol = rtol * cost_scale(nash_costs(game))
    total = 1 << n
    if not game.constant_b:  # B (N + 1) dense-ish solves a chunk: keep their memory small
        chunk = min(chunk, max(1, (1 << 12) // (n + 1)))
    chunk = min(chunk, total)
    tab = cost_tables(game) if game.constant_b else None
    found: dict[str, list[np.ndarray]] = {"internal": [], "external": [], "stable": []}
    with progress_bar(total, enabled=progress, desc="stability", unit="coalition",
                      unit_scale=True) as bar:
        for start in range(0, total, chunk):
            ins, ext = _chunk_verdicts(game, tab, jnp.int64(start), chunk, n, tol)
            index = np.arange(start, start + chunk, dtype=np.int64)
            keep = (index < total) & (_popcount(index) >= 2)
            ins, ext = np.asarray(ins) & keep, np.asarray(ext) & keep
            found["internal"].append(index[ins])
            found["external"].append(index[ext])
            found["stable"].append(index[ins & ext])
            bar.update(min(chunk, total - start))
    joined = {k: np.concatenate(v) for k, v in found.items()}
    return StableCoalitions(n_stations=n, **joined, evaluated=total - n - 1, tol=tol,
                            seconds=time.perf_counter() - t0)


__all__ = ["Stability", "StableCoalitions", "cartel_stability", "flip_costs",
           "stability_margins", "stable_coalitions"]
