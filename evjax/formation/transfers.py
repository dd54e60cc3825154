"""Cartel stability with transfers: members of a coalition C are paid their Shapley share of
C's saving, so member i's cost in C is c_i(Nash) - phi_i(C) instead of c_i(C-Nash).

C is internally stable with transfers if no member gains by leaving,
c_i(Nash) - phi_i(C) <= c_i((C minus i)-Nash) + tol, and externally stable if no outsider
gains by joining, c_j(C-Nash) <= c_j(Nash) - phi_j(C plus j) + tol (the outsider is paid its
share in the larger coalition). The gains reported are the left sides minus the right.

:func:`shapley_table` holds every coalition's Shapley shares (N <= ``MAX_STATIONS``) from one
table of the 2^N savings, so :func:`transfer_stable_coalitions` enumerates every coalition
without a compilation per coalition.
"""

from __future__ import annotations

import time

import jax.numpy as jnp
import numpy as np

from .._validation import float_dtype
from ..charging.game import ChargingGame
from .costs import RTOL, _mask_costs_jit, bit_masks, check_rtol, cost_scale, nash_costs
from .shares import _members, batched_shapley, savings_table, shapley_value
from .stability import Stability, StableCoalitions, flip_costs

MAX_STATIONS = 14


def transfer_stability(game: ChargingGame, coalition, *, rtol=RTOL) -> Stability:
    """Internal and external stability of one coalition when its members receive Shapley
    shares (|C| + 1 <= 20); gains as in :class:`Stability`, under transfers."""
    members = list(_members(game, coalition))
    rtol = check_rtol(rtol)
    n = game.n_stations
    nash = nash_costs(game)
    tol = rtol * cost_scale(nash)
    m = np.zeros((1, n))
    m[0, members] = 1.0
    costs, flips = (np.asarray(v)[0] for v in flip_costs(game, jnp.asarray(m, float_dtype())))
    phi = np.asarray(shapley_value(game, members))
    leave = nash[members] - phi - flips[members]
    outsiders = [j for j in range(n) if j not in members]
    join = np.array([costs[j] - nash[j] + _share_of(game, members, j) for j in outsiders])
    return Stability(members=members, outsiders=outsiders,
                     internal=bool(np.all(leave <= tol)), external=bool(np.all(join <= tol)),
                     leave_gain=leave, join_gain=join, costs=costs, tol=tol)


def _share_of(game, members, j) -> float:
    larger = sorted([*members, j])
    return float(np.asarray(shapley_value(game, larger))[larger.index(j)])


def shapley_table(game: ChargingGame) -> np.ndarray:
    """phi (2^N, N): row c (bit i <=> station i in C) holds each member's Shapley share of
    v(C) (0 for outsiders), every coalition at once; N <= 14."""
    n = game.n_stations
    if n > MAX_STATIONS:
        raise ValueError(f"shapley_table holds 2^{n} coalitions' shares; N = {n} > "
                         f"{MAX_STATIONS}: use shapley_value per coalition")
    v_all = savings_table(game, tuple(range(n)))
    phi = np.zeros((1 << n, n))
    index = np.arange(1 << n, dtype=np.int64)
    size = np.bitwise_count(index)
    for k in range(2, n + 1):
        rows = index[size == k]
        members = np.stack([np.flatnonzero(r >> np.arange(n) & 1) for r in rows])  # (M, k)
        local = np.asarray(bit_masks(jnp.arange(1 << k, dtype=jnp.int64), k), np.int64)
        glob = local @ (np.int64(1) << members.T)  # (2^k, M) global subset indices
        shares = np.asarray(batched_shapley(jnp.asarray(v_all[glob.T]), k))
        phi[rows[:, None], members] = shares
    return phi


def transfer_stable_coalitions(game: ChargingGame, *, rtol=RTOL) -> StableCoalitions:
    """Every coalition of size >= 2 that is internally / externally / both stable when
    members receive Shapley shares (N <= 14; all 2^N coalitions from one savings table)."""
    rtol = check_rtol(rtol)
    t0 = time.perf_counter()
    n = game.n_stations
    phi = shapley_table(game)
    index = np.arange(1 << n, dtype=np.int64)
    m = np.asarray(bit_masks(jnp.asarray(index), n))
    costs = np.asarray(_mask_costs_jit(game, jnp.asarray(m, float_dtype())))
    nash = costs[0]
    tol = rtol * cost_scale(nash)
    flip = index[:, None] ^ (np.int64(1) << np.arange(n))[None, :]  # C xor {i}
    station = np.arange(n)[None, :]
    inside = m > 0.5
    leave = nash[None, :] - phi - costs[flip, station]  # members: paid phi_i(C)
    join = costs - nash[None, :] + phi[flip, station]  # outsiders: paid phi_j(C + j)
    internal = ~np.any(inside & (leave > tol), axis=1)
    external = ~np.any(~inside & (join > tol), axis=1)
    big = np.bitwise_count(index) >= 2
    return StableCoalitions(n_stations=n, internal=index[internal & big],
                            external=index[external & big],
                            stable=index[internal & external & big],
                            evaluated=(1 << n) - n - 1, tol=tol,
                            seconds=time.perf_counter() - t0)


__all__ = ["shapley_table", "transfer_stability", "transfer_stable_coalitions"]
