"""The coalitions a search may visit: sizes, must-include and must-exclude stations, the
relaxed ascent's starting points, rounding onto feasible coalitions, and one-station moves.

Shared by :func:`evjax.design.coalition_search` and its baselines
(:mod:`evjax.design.baselines`); the options are checked once, by :func:`constraints`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from ..charging.coalitions import include_exclude


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


def constraints(n: int, group: str, size=None, include=(), exclude=(),
                min_size: int = 1) -> Constraints:
    """Validate the options of :func:`coalition_search` (``ValueError`` naming the value)."""
    inc, exc = include_exclude(include, exclude, n)
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


def starting_points(cons: Constraints, s_lo, s_hi, restarts: int, seed: int) -> np.ndarray:
    """(R, N) starts of the relaxed ascent: restart 0 uniform at its size range's centre, the
    others seeded uniform draws, each clipped to the bounds (pinned stations at their bound)."""
    lo, hi = cons.bounds()
    rng = np.random.default_rng(seed)
    n_free = int((hi > lo).sum())
    centre = np.full(cons.n, (0.5 * (s_lo[0] + s_hi[0]) - lo.sum()) / max(n_free, 1))
    m0 = np.concatenate([centre[None, :], rng.random((restarts - 1, cons.n))])
    return np.clip(np.where(hi > lo, m0, lo), lo, hi)


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


def neighbours(mask: Float[Array, " N"], lo, hi, min_size: Int[ArrayLike, ""],
               max_size: Int[ArrayLike, ""]):
    """Every add, drop and swap of one station: masks (N (N + 2), N) and their validity
    (``min_size``, ``max_size`` may be traced)."""
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
