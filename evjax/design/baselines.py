"""Baselines for the coalition search: greedy and random search under an evaluation budget.

Both return a :class:`~evjax.design.search.SearchResult` (no relaxed part) and count every
exact cost evaluation, so that they can be given the search's own count as their budget.

* :func:`greedy_search`: from the must-include stations, add the station whose addition gives
  the best value, until the fixed size is reached (or, without a fixed size, until no addition
  improves, or the largest size); then, while budget remains, the same from one random
  additional starting station. Each step evaluates every allowed addition.
* :func:`random_search`: uniform random coalitions (a uniform size in the allowed range, then
  uniform members), the best of ``budget``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .objective import Objective, objective
from .feasible import constraints
from .search import SearchResult, exact_ratios

BATCH = 512  # exact evaluations per compiled call (padded): one compilation per N


def evaluate(obj: Objective, masks: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """The exact objective of 0/1 ``masks`` (B, N), in padded batches of ``batch`` rows."""
    out = []
    for start in range(0, len(masks), batch):
        chunk = masks[start:start + batch]
        padded = np.concatenate([chunk, np.repeat(chunk[:1], batch - len(chunk), axis=0)])
        out.append(np.asarray(obj.exact(jnp.asarray(padded, obj.nash.dtype)))[: len(chunk)])
    return np.concatenate(out) if out else np.zeros(0)


def _result(game, mask, value, evaluations) -> SearchResult:
    members = np.flatnonzero(mask > 0.5).tolist()
    return SearchResult(members, float(value), exact_ratios(game, mask), int(evaluations), 0,
                        int(evaluations), np.zeros((0, game.n_stations)), np.zeros((0, 0)),
                        float(value))


def greedy_search(
    game, group: str = "coalition", *, kind: str = "ratio", size=None, include=(),
    exclude=(), min_size: int = 1, budget: int | None = None, seed: int = 0,
) -> SearchResult:
    """Greedy forward selection (module docstring); ``budget`` None: one pass only."""
    obj = objective(game, group, kind)
    cons = constraints(game.n_stations, group, size, include, exclude, min_size)
    lo, hi = cons.bounds()
    rng = np.random.default_rng(seed)
    free = np.flatnonzero(hi > lo)
    best_mask, best_value, used = None, -np.inf, 0
    start, spent = lo.copy(), False
    while not spent:
        mask, value = start.copy(), -np.inf
        if mask.sum() >= cons.min_size:
            value = evaluate(obj, mask[None], batch=game.n_stations)[0]
            used += 1
        while mask.sum() < cons.max_size:
            adds = free[mask[free] == 0]
            if budget is not None and used + len(adds) > budget:
                spent = True  # the next step does not fit: the last pass
                break
            cand = np.repeat(mask[None], len(adds), axis=0)
            cand[np.arange(len(adds)), adds] = 1.0
            values = evaluate(obj, cand, batch=game.n_stations)  # one step, one call
            used += len(adds)
            j = int(np.argmax(values))
            if not cons.fixed and mask.sum() >= cons.min_size and values[j] <= value:
                break
            mask, value = cand[j], values[j]
        if mask.sum() >= cons.min_size and value > best_value:  # a feasible coalition
            best_mask, best_value = mask, value
        if budget is None or used >= budget or len(free) == 0:
            break
        start = lo.copy()
        start[rng.choice(free)] = 1.0
        if start.sum() > cons.max_size:
            break
    if best_mask is None:
        raise ValueError(f"budget = {budget} is too small for one greedy pass")
    return _result(game, best_mask, best_value, used)


def random_search(
    game, group: str = "coalition", *, kind: str = "ratio", size=None, include=(),
    exclude=(), min_size: int = 1, budget: int = 1000, seed: int = 0,
) -> SearchResult:
    """The best of ``budget`` uniformly random feasible coalitions (module docstring)."""
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    obj = objective(game, group, kind)
    cons = constraints(game.n_stations, group, size, include, exclude, min_size)
    lo, hi = cons.bounds()
    rng = np.random.default_rng(seed)
    free = np.flatnonzero(hi > lo)
    sizes = rng.integers(cons.min_size, cons.max_size + 1, budget) - int(lo.sum())
    keys = rng.random((budget, len(free)))
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)  # a random permutation per row
    masks = np.repeat(lo[None], budget, axis=0)
    masks[:, free] = (ranks < sizes[:, None]).astype(float)
    values = evaluate(obj, masks)
    j = int(np.argmax(values))
    return _result(game, masks[j], values[j], budget)
