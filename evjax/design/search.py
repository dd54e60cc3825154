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
   over [2, N] (:func:`restart_sizes`): left alone, every restart drifts to similar sizes.
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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from ..charging.game import ChargingGame
from ..charging.metrics import Ratios, cost_ratios
from ..sweeps.plan import pinned_stations
from .objective import Group, Kind, Objective, objective
from .projections import sized_box

Relaxation = Literal["projection", "sigmoid"]


@dataclass(frozen=True)
class Constraints:
    """The feasible coalitions: sizes in [min_size, max_size], ``include`` in, ``exclude`` out.

    ``lo``, ``hi`` (N,) bound each station's membership (1, 1 for included; 0, 0 for excluded).
    """

    n: int
    min_size: int
    max_size: int
    include: tuple[int, ...]
    exclude: tuple[int, ...]

    @property
    def fixed(self) -> bool:
        return self.min_size == self.max_size

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.zeros(self.n), np.ones(self.n)
        lo[list(self.include)] = 1.0
        hi[list(self.exclude)] = 0.0
        return lo, hi


def constraints(
    n: int, group: str, size: int | None = None, include: Sequence[int] = (),
    exclude: Sequence[int] = (), min_size: int = 1,
) -> Constraints:
    """Validate the options of :func:`coalition_search` (``ValueError`` naming the value)."""
    inc, exc = pinned_stations(n, include, exclude)
    top = n - len(exc) - (1 if group == "outside" else 0)  # the outside group must be non-empty
    low = max(min_size, len(inc), 1)
    if size is not None:
        if isinstance(size, bool) or int(size) != size:
            raise ValueError(f"size must be an integer, got {size!r}")
        if not low <= size <= top:
            raise ValueError(
                f"size = {size} is infeasible: with {len(inc)} included and {len(exc)} excluded "
                f"of N = {n} stations (and objective group {group!r}) it must lie in "
                f"[{low}, {top}]"
            )
        low = top = int(size)
    if low > top:
        raise ValueError(f"no coalition satisfies the constraints (sizes [{low}, {top}])")
    return Constraints(n, low, top, tuple(inc), tuple(exc))


# -- 1. relaxed ascent -------------------------------------------------------------------


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


def restart_sizes(cons: Constraints, restarts: int) -> tuple[np.ndarray, np.ndarray]:
    """Each restart's range of sizes (R,), (R,): the fixed size; or, without one, restart 0
    free over [min_size, max_size] and the others pinned to sizes spread geometrically over
    [2, max_size] (the relaxation alone drifts towards one size; the spread lets rounding and
    polish see all, densest where small coalitions differ most)."""
    s_lo = np.full(restarts, float(cons.min_size))
    s_hi = np.full(restarts, float(cons.max_size))
    if not cons.fixed and restarts > 1:
        low = min(max(cons.min_size, 2), cons.max_size)  # a lone station changes nothing
        s_lo[1:] = s_hi[1:] = np.round(np.geomspace(low, cons.max_size, restarts - 1))
    return s_lo, s_hi


# -- 2. rounding ---------------------------------------------------------------------------


def rounded(m: np.ndarray, cons: Constraints) -> tuple[np.ndarray, np.ndarray]:
    """Rounding of fractional memberships m (R, N): per row, the stations ranked by m
    (included first, excluded never), cut at every allowed size.

    Returns (masks (R, S, N), own (R,)): S = max_size - min_size + 1 prefixes per row, and the
    index of each row's own prefix (its size sum(m), rounded into the allowed range).
    """
    lo, hi = cons.bounds()
    score = np.where(lo == 1.0, np.inf, np.where(hi == 0.0, -np.inf, m))
    order = np.argsort(-score, axis=1, kind="stable")
    sizes = np.arange(cons.min_size, cons.max_size + 1)
    masks = np.zeros((m.shape[0], len(sizes), cons.n))
    for r, row in enumerate(order):
        for s, k in enumerate(sizes):
            masks[r, s, row[:k]] = 1.0
    own = np.clip(np.round(m.sum(axis=1)), cons.min_size, cons.max_size) - cons.min_size
    return masks, own.astype(int)


# -- 3. local search -----------------------------------------------------------------------


def neighbours(mask: Float[Array, " N"], lo, hi, min_size: int, max_size: int):
    """Every add, drop and swap of one station: masks (N (N + 2), N) and their validity."""
    n = mask.shape[0]
    eye = jnp.eye(n, dtype=mask.dtype)
    size = jnp.sum(mask)
    can_add = (mask == 0) & (hi > 0)  # station j may enter
    can_drop = (mask == 1) & (lo < 1)  # station i may leave
    adds = mask[None, :] + eye
    drops = mask[None, :] - eye
    swaps = (mask[None, None, :] - eye[:, None, :] + eye[None, :, :]).reshape(n * n, n)
    valid = jnp.concatenate([
        can_add & (size + 1 <= max_size),
        can_drop & (size - 1 >= min_size),
        (can_drop[:, None] & can_add[None, :]).reshape(n * n),
    ])
    return jnp.concatenate([adds, drops, swaps]), valid


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
    game: ChargingGame,
    group: Group = "coalition",
    *,
    kind: Kind = "ratio",
    size: int | None = None,
    include: Sequence[int] = (),
    exclude: Sequence[int] = (),
    min_size: int = 1,
    restarts: int = 8,
    steps: int = 100,
    learning_rate: float = 0.05,
    relaxation: Relaxation = "projection",
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
    lo, hi = cons.bounds()
    s_lo, s_hi = restart_sizes(cons, restarts)
    rng = np.random.default_rng(seed)
    n_free = int((hi > lo).sum())
    centre = np.full(game.n_stations, (0.5 * (s_lo[0] + s_hi[0]) - lo.sum()) / max(n_free, 1))
    m0 = np.concatenate([centre[None, :], rng.random((restarts - 1, game.n_stations))])
    m0 = np.clip(np.where(hi > lo, m0, lo), lo, hi)
    dtype = obj.nash.dtype
    as_array = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    m_end, history = relaxed_ascent(
        obj, as_array(m0), as_array(lo), as_array(hi), as_array(s_lo), as_array(s_hi),
        steps=steps, learning_rate=learning_rate, relaxation=relaxation, penalty=penalty)
    m_end = np.asarray(m_end)
    if not np.isfinite(m_end).all():  # NaN gradients along the ascent
        raise ValueError(_undefined(kind, group))

    prefixes, own = rounded(m_end, cons)
    flat = prefixes.reshape(-1, game.n_stations)
    # padded to R N rows (duplicates): one compilation per (N, R), whatever the sizes
    padded = np.concatenate([flat, np.repeat(flat[:1], restarts * game.n_stations - len(flat), 0)])
    values = np.asarray(obj.exact(jnp.asarray(padded, dtype)))[: len(flat)]
    if not np.isfinite(values).any():  # every candidate undefined (-inf)
        raise ValueError(_undefined(kind, group))
    unique, first = np.unique(flat, axis=0, return_index=True)
    exact_evals = len(unique)  # duplicates are evaluated (fixed shapes) but not counted
    # polish: each restart's own rounding, and the best `polish` distinct prefixes overall
    order = first[np.argsort(-values[first], kind="stable")]
    starts = list(dict.fromkeys([*order[:polish].tolist(),
                                 *(np.arange(restarts) * prefixes.shape[1] + own).tolist()]))
    starts = list(dict.fromkeys(unique_index(flat, j) for j in starts))
    best_mask, best_value = flat[order[0]], float(values[order[0]])
    rounded_value = best_value
    for j in starts if polish else ():
        mask, value, evals, _ = local_search(
            obj, jnp.asarray(flat[j], dtype), jnp.asarray(lo, dtype), jnp.asarray(hi, dtype),
            jnp.asarray(cons.min_size), jnp.asarray(cons.max_size), jnp.asarray(max_moves))
        exact_evals += int(evals)
        if float(value) > best_value:
            best_mask, best_value = np.asarray(mask), float(value)
    members = np.flatnonzero(best_mask > 0.5).tolist()
    ratios = Ratios(*(float(r) for r in cost_ratios(game, members)))
    relaxed_evals = restarts * steps
    return SearchResult(members, best_value, ratios, relaxed_evals + exact_evals, relaxed_evals,
                        exact_evals, m_end, np.asarray(history), rounded_value)
