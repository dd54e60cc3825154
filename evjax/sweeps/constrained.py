"""Sweeps of a :class:`evjax.ConstrainedChargingGame`: every coalition by Nikaido-Isoda solves.

The slower path of :func:`evjax.sweep`. The closed forms behind the fast engine do not hold
under x >= 0, rate limits or a grid capacity, so every coalition's C-Nash equilibrium is a
solve of :func:`evjax.solvers.solve`, with the coalition given as data (a membership row, see
``evjax.charging.constrained``): one compiled solve, vmapped over batches of coalitions. The
ratios then go through the same reduction as the fast engine (:func:`reduce.fold_groups`)
and the same :class:`SweepResult`, so the two paths report alike.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..charging.constrained import ConstrainedChargingGame
from ..charging.metrics import station_costs
from .._progress import progress_bar
from ..charging.ratios import ratios_from_costs
from ..solvers import RESULTS, solve
from .plan import make_plan, sweep_tables
from .reduce import fold_groups
from .result import SweepResult, finalize
from .summary import empty_summary

MAX_FREE = 16  # 65,536 coalitions: minutes of NI solves on a laptop core


def _solver(game: ConstrainedChargingGame, options: dict):
    """A jitted (B, N) memberships -> (station costs (B, N) at each C-Nash, result codes (B,)).

    An all-zero membership is the Nash game: the same compiled solve serves it."""
    constraints = dict(nonnegative=game.nonnegative, rate_limit=game.rate_limit,
                       capacity=game.capacity)

    def one(mask):
        sol = solve(ConstrainedChargingGame(game.game, mask, **constraints), throw=False,
                    **options)
        return station_costs(game.game, sol.value), sol.result

    return jax.jit(jax.vmap(one))


def sweep_constrained(
    game: ConstrainedChargingGame,
    *,
    sizes: str | Sequence[int] | None = None,
    include: Sequence[int] = (),
    exclude: Sequence[int] = (),
    top_k: int = 10,
    tol=1e-9,  # checked by make_plan
    bins: int = 60,
    progress: bool | None = None,
    batch: int = 256,
    **solver_options,
) -> SweepResult:
    """Every coalition of ``game`` (the rest alone) under its constraints, summarised.

    The same options and result as :func:`evjax.sweep` (without ``out``, ``table`` and
    ``devices``), at most ``MAX_FREE`` = 16 free stations. ``batch`` coalitions are solved per
    vmapped call; ``solver_options`` go to :func:`evjax.solvers.solve`. Raises
    ``RuntimeError`` naming the coalitions whose solve failed: a sweep never summarises a
    point that is not an equilibrium. Histogram edges span the ratios found (padded by a
    quarter of their range), since all of them are in memory here.
    """
    plan = make_plan(sweep_tables(game.game), sizes=sizes, include=include, exclude=exclude,
                     top_k=top_k, tol=tol, edges=(0.0, 1.0), low_bits=0)
    n, n_free = plan.n_stations, len(plan.free)
    if n_free > MAX_FREE:
        raise ValueError(
            f"a constrained sweep solves one equilibrium per coalition; {n_free} free stations "
            f"are {1 << n_free:,} solves (at most 2^{MAX_FREE}); restrict it with sizes, "
            "include or exclude"
        )
    codes = np.arange(plan.n_codes, dtype=np.int64)
    masks = plan.masks(codes)
    batch = min(batch, plan.n_codes + 1)
    run = _solver(game, solver_options)
    bar = progress_bar(plan.n_codes, enabled=progress, desc="sweep", unit="coal",
                       unit_scale=True, smoothing=0.1)
    t0 = time.perf_counter()
    costs, results = [], []
    # Row 0 of the first batch: the Nash game (all-zero membership).
    rows = np.concatenate([np.zeros((1, n)), masks])
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        pad = np.zeros((batch - len(chunk), n))  # one compiled shape for every batch
        c, r = run(jnp.asarray(np.concatenate([chunk, pad])))
        costs.append(np.asarray(c)[: len(chunk)])
        results.append(np.asarray(r)[: len(chunk)])
        bar.update(len(chunk) - (start == 0))
    bar.close()
    costs, results = np.concatenate(costs), np.concatenate(results)
    failed = np.flatnonzero(results != RESULTS.successful)
    if failed.size:
        shown = "; ".join(
            f"{plan.members(int(k) - 1) if k else 'Nash'}: {RESULTS.message(results[k])}"
            for k in failed[:5])
        raise RuntimeError(f"{failed.size} of {len(rows)} equilibrium solves failed ({shown})")
    ratios = _group_ratios(masks, cnash=costs[1:], nash=costs[0])
    plan, summary = _summarise(plan, codes, masks, ratios, bins=bins, top_k=top_k, tol=tol)

    def ratios_of(coalitions):
        codes = [sum(1 << bit for bit, station in enumerate(plan.free) if station in members)
                 for members in coalitions]
        return ratios[:, codes].T

    return finalize(summary, plan, ratios_of, time.perf_counter() - t0)


def _group_ratios(masks: np.ndarray, *, cnash: np.ndarray, nash: np.ndarray) -> np.ndarray:
    """Ratios (3, C) (all, coalition, outside) from station costs at each C-Nash (C, N) and
    at Nash (N,), for the coalitions ``masks`` (C, N)."""

    def groups(c):  # (3, C): all, coalition, outside
        return np.stack([c.sum(axis=-1), (masks * c).sum(axis=-1), ((1 - masks) * c).sum(axis=-1)])

    return np.asarray(ratios_from_costs(jnp.asarray(groups(cnash)),
                                        jnp.asarray(groups(np.broadcast_to(nash, cnash.shape)))))


def _summarise(plan, codes, masks, ratios, *, bins: int, top_k: int, tol):
    """(plan with histogram edges around the counted ratios, the :class:`Summary`).

    One chunk per coalition (L = 0): chunk c is the coalition with code c.
    """
    n = plan.n_stations
    size_ok = np.zeros(n + 1, bool)
    size_ok[list(plan.sizes)] = True
    sizes_of = masks.sum(axis=1).astype(int)
    counted = np.isfinite(ratios) & size_ok[sizes_of][None, :]
    lo, hi = (ratios[counted].min(), ratios[counted].max()) if counted.any() else (1.0, 1.0)
    lo, hi = min(lo, 1.0), max(hi, 1.0)
    pad = 0.25 * (hi - lo) + 1e-12 * max(abs(hi), 1.0)
    plan = dataclasses.replace(plan, edges=tuple(np.linspace(lo - pad, hi + pad, bins + 1)))
    summary = fold_groups(
        empty_summary(n, bins, top_k), jnp.asarray(codes[:, None]),
        jnp.asarray(ratios[:, :, None]), jnp.asarray(sizes_of, jnp.int32), jnp.asarray(size_ok),
        edges=jnp.asarray(plan.edges), tol=tol,
    )
    return plan, summary

