"""Coalition search: a relaxed ascent with optax, rounding, and local-search polish.

Which coalition C maximises a ratio (or a saving) of paper 000's Eval-Metric? Enumeration
(``evjax.sweep``) answers exactly up to N of about 30; beyond, this search:

1. **Relaxed ascent.** Membership m in [0, 1]^N (``evjax.charging.coalitions``: the costs are
   smooth in m). ``restarts`` starting points, batched with ``vmap``, each follow ``steps``
   optax Adam steps on the relaxed objective (:class:`~evjax.design.objective.Objective`):
   ``relaxation="projection"`` steps m directly and projects onto the box cut by the allowed
   sizes (the capped simplex {sum m = size} for a fixed size); ``"sigmoid"`` steps logits,
   m = sigmoid(theta), with a quadratic penalty on a sum outside the allowed sizes. Without
   a fixed size, restart 0 is free and the others are pinned to sizes spread geometrically
   over [2, N] (:func:`~evjax.design.feasible.restart_sizes`): left alone, every restart
   drifts to similar sizes.
   Must-include / must-exclude stations are pinned to 1 / 0 throughout.
2. **Rounding.** Per restart, stations ranked by m, cut at every allowed size (one exact
   evaluation per distinct coalition).
3. **Polish.** Best-improvement local search from each restart's own rounding (cut at its
   sum m) and from the ``polish`` best distinct roundings overall: each move evaluates every
   allowed add, drop and swap of one station (batched, exact, O(T) each by the reduced form)
   and takes the best, until none improves.

Every cost evaluation is counted: one per relaxed step and restart (the objective with its
gradient: two equilibria and a reverse pass), one per exact coalition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from ..charging.metrics import charging_cost_ratios
from ..charging.ratios import Ratios
from .feasible import Constraints, constraints, neighbours, restart_sizes, rounded, starting_points
from .objective import Objective, objective
from .projections import sized_box

Relaxation = Literal["projection", "sigmoid"]


# -- relaxed ascent -------------------------------------------------------------------


@eqx.filter_jit
def relaxed_ascent(
    obj: Objective, m0: Float[Array, "R N"], lo, hi, s_lo: Float[Array, " R"],
    s_hi: Float[Array, " R"], *, steps: int, learning_rate: float,
    relaxation: Relaxation = "projection", penalty: float = 1.0,
) -> tuple[Float[Array, "R N"], Float[Array, "R S"]]:
    """Adam ascent of the relaxed objective from R starts, vmapped.

    Restart r keeps lo <= m <= hi and s_lo[r] <= sum m <= s_hi[r] (projection; or, for
    "sigmoid", a penalty on the sum outside the range). Returns ((R, N) final memberships,
    (R, steps) objective values along the way). Sizes are traced: one compilation per shape.
    """
    opt = optax.adam(learning_rate)
    free = hi > lo

    def run(m_start, size_lo, size_hi):
        if relaxation == "projection":
            to_m = project = lambda v: sized_box(v, lo, hi, size_lo, size_hi)  # noqa: E731
            p = project(m_start)

            def loss(p):
                return -obj.relaxed(p)
        else:
            def to_m(theta):
                return jnp.where(free, jax.nn.sigmoid(theta), lo)

            def project(theta):
                return theta

            clipped = jnp.clip(m_start, 1e-3, 1 - 1e-3)
            p = jnp.log(clipped) - jnp.log1p(-clipped)

            def loss(theta):
                m = to_m(theta)
                total = jnp.sum(m)
                excess = jnp.maximum(total - size_hi, 0.0) + jnp.maximum(size_lo - total, 0.0)
                return -obj.relaxed(m) + penalty * excess**2

        def step(carry, _):
            p, state = carry
            value, grad = jax.value_and_grad(loss)(p)
            updates, state = opt.update(grad, state, p)
            return (project(optax.apply_updates(p, updates)), state), -value

        (p, _), values = jax.lax.scan(step, (p, opt.init(p)), None, length=steps)
        return to_m(p), values

    return jax.vmap(run)(m0, s_lo, s_hi)


# -- local search -----------------------------------------------------------------------


@eqx.filter_jit
def local_search(obj: Objective, mask, lo, hi, min_size, max_size, max_moves=100):
    """Best-improvement local search from a 0/1 ``mask``: (mask, value, evaluations, moves).

    ``min_size``, ``max_size``, ``max_moves`` may be traced (one compilation per N)."""
    value0 = obj.exact(mask[None, :])[0]

    def cond(state):
        _, _, _, moves, improved = state
        return improved & (moves < max_moves)

    def body(state):
        mask, value, evals, moves, _ = state
        cand, valid = neighbours(mask, lo, hi, min_size, max_size)
        values = jnp.where(valid, obj.exact(cand), -jnp.inf)
        best = jnp.argmax(values)
        improved = values[best] > value + 1e-12 * jnp.abs(value)
        return (jnp.where(improved, cand[best], mask), jnp.where(improved, values[best], value),
                evals + jnp.sum(valid), moves + improved, improved)

    state = (mask, value0, jnp.asarray(0), jnp.asarray(0), jnp.asarray(True))
    mask, value, evals, moves, _ = jax.lax.while_loop(cond, body, state)
    return mask, value, evals, moves


def _undefined(kind: str, group: str) -> str:
    """Why a search stopped: its objective was not a number."""
    return (f"the {kind} of group {group!r} is undefined or not finite for the coalitions the "
            f"search reached (C-Nash costs <= 0, or float64 overflow; evjax.cost_ratios(game, "
            f"coalition) says which for one coalition)")


def unique_index(masks: np.ndarray, j: int) -> int:
    """The first row of ``masks`` equal to row ``j`` (to polish each distinct start once)."""
    return int(np.flatnonzero((masks == masks[j]).all(axis=1))[0])


# -- the search ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    """What :func:`coalition_search` returns (host data).

    Attributes:
        members: the coalition found, sorted station indices.
        value: its objective value (exact).
        ratios: its three ratios (M_[N], M_C, M_[N]\\C), :class:`evjax.Ratios` of floats.
        evaluations: cost evaluations used, = ``relaxed_evaluations + exact_evaluations``.
        relaxed_evaluations: relaxed objective-and-gradient evaluations (restarts x steps).
        exact_evaluations: exact evaluations of 0/1 coalitions (rounding and polish).
        relaxed: (R, N) the memberships the relaxed ascent ended at.
        history: (R, steps) the relaxed objective along each restart's ascent.
        rounded_value: the best value straight after rounding, before the polish.
    """

    members: list[int]
    value: float
    ratios: Ratios
    evaluations: int
    relaxed_evaluations: int
    exact_evaluations: int
    relaxed: np.ndarray
    history: np.ndarray
    rounded_value: float

    def to_dict(self) -> dict:
        num = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
        return {"members": self.members, "value": num(self.value),
                "ratios": [num(r) for r in self.ratios], "evaluations": self.evaluations,
                "relaxed_evaluations": self.relaxed_evaluations,
                "exact_evaluations": self.exact_evaluations}


def coalition_search(
    game,
    group: str = "coalition",
    *,
    kind: str = "ratio",
    size=None,
    include=(),
    exclude=(),
    min_size: int = 1,
    restarts: int = 8,
    steps: int = 100,
    learning_rate: float = 0.05,
    relaxation: str = "projection",
    penalty: float = 1.0,
    polish: int = 3,
    max_moves: int = 100,
    seed: int = 0,
) -> SearchResult:
    """The coalition maximising ``kind`` ("ratio" or "saving") of ``group`` in ``game``.

    Arguments:
        game: a :class:`evjax.ChargingGame` (scalar or time-varying b).
        group: "all" (M_[N]), "coalition" (M_C) or "outside" (M_[N]\\C).
        size: a fixed coalition size, or None for any size in [min_size, N] (N - 1 for
            "outside", which needs outsiders).
        include / exclude: stations the coalition must / must not contain.
        restarts, steps, learning_rate: the relaxed Adam ascent (module docstring), restarts
            batched with ``vmap``; restart 0 starts from the uniform membership, the others
            from seeded uniform draws.
        relaxation: "projection" (projected gradient; capped simplex for a fixed size) or
            "sigmoid" (logits, with ``penalty`` (sum m - size)^2 for a fixed size).
        polish: local search from this many best distinct rounded coalitions, besides each
            restart's own rounding (0: no local search at all).
        max_moves: moves per local search at most.
        seed: the starting points' seed.

    Returns a :class:`SearchResult`; its ``evaluations`` count every cost evaluation.
    """
    if relaxation not in ("projection", "sigmoid"):
        raise ValueError(f"relaxation must be 'projection' or 'sigmoid', got {relaxation!r}")
    if restarts < 1 or steps < 0:
        raise ValueError(f"restarts must be >= 1 and steps >= 0, got {restarts}, {steps}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    obj = objective(game, group, kind)
    cons = constraints(game.n_stations, group, size, include, exclude, min_size)
    s_lo, s_hi = restart_sizes(cons, restarts)
    as_array = lambda v: jnp.asarray(v, obj.nash.dtype)  # noqa: E731
    lo, hi = (as_array(v) for v in cons.bounds())
    m_end, history = relaxed_ascent(
        obj, as_array(starting_points(cons, s_lo, s_hi, restarts, seed)), lo, hi,
        as_array(s_lo), as_array(s_hi), steps=steps, learning_rate=learning_rate,
        relaxation=relaxation, penalty=penalty)
    m_end = np.asarray(m_end)
    if not np.isfinite(m_end).all():  # NaN gradients along the ascent
        raise ValueError(_undefined(kind, group))

    prefixes, own = rounded(m_end, cons)
    flat = prefixes.reshape(-1, game.n_stations)
    # padded to R N rows (duplicates): one compilation per (N, R), whatever the sizes
    padded = np.concatenate([flat, np.repeat(flat[:1], restarts * game.n_stations - len(flat), 0)])
    values = np.asarray(obj.exact(as_array(padded)))[: len(flat)]
    if not np.isfinite(values).any():  # every candidate undefined (-inf)
        raise ValueError(_undefined(kind, group))
    unique, first = np.unique(flat, axis=0, return_index=True)
    exact_evals = len(unique)  # duplicates are evaluated (fixed shapes) but not counted
    # polish: each restart's own rounding, and the best `polish` distinct prefixes overall
    order = first[np.argsort(-values[first], kind="stable")]
    starts = list(dict.fromkeys([*order[:polish].tolist(),
                                 *(np.arange(restarts) * prefixes.shape[1] + own).tolist()]))
    starts = list(dict.fromkeys(unique_index(flat, j) for j in starts))
    rounded_value = float(values[order[0]])
    best_mask, best_value, evals = polished(obj, flat, starts if polish else [], cons,
                                            flat[order[0]], rounded_value, max_moves)
    exact_evals += evals
    members = np.flatnonzero(best_mask > 0.5).tolist()
    relaxed_evals = restarts * steps
    return SearchResult(members, best_value, exact_ratios(game, best_mask),
                        relaxed_evals + exact_evals, relaxed_evals, exact_evals, m_end,
                        np.asarray(history), rounded_value)


def polished(obj: Objective, flat: np.ndarray, starts, cons: Constraints, best_mask,
             best_value: float, max_moves: int):
    """(mask, value, evaluations): the best of ``best_mask`` (worth ``best_value``) and the
    local searches from the rows ``starts`` of ``flat``."""
    as_array = lambda v: jnp.asarray(v, obj.nash.dtype)  # noqa: E731
    lo, hi = (as_array(v) for v in cons.bounds())
    evaluations = 0
    for j in starts:
        mask, value, evals, _ = local_search(
            obj, as_array(flat[j]), lo, hi, jnp.asarray(cons.min_size),
            jnp.asarray(cons.max_size), jnp.asarray(max_moves))
        evaluations += int(evals)
        if float(value) > best_value:
            best_mask, best_value = np.asarray(mask), float(value)
    return best_mask, best_value, evaluations


def exact_ratios(game, mask: np.ndarray) -> Ratios:
    """The three ratios of the 0/1 coalition ``mask`` (N,) found by a search, as floats."""
    m = jnp.asarray((mask > 0.5).astype(float), game.mu.dtype)
    return Ratios(*(float(r) for r in charging_cost_ratios(game, m)))
