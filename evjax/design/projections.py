"""Euclidean projections for projected-gradient design (membership and parameter bounds).

* :func:`capped_simplex`: onto {m in [lo, hi]^N : sum m = k}, the fixed-size relaxation of a
  coalition (lo, hi per entry pin must-include / must-exclude stations), by bisection on the
  shift tau of m = clip(v - tau, lo, hi) (sum is monotone in tau); jit-able, O(N) per
  bisection step.
* :func:`sized_box`: onto {m in [lo, hi]^N : s_lo <= sum m <= s_hi}, a range of sizes (the
  box when its clip already has an allowed sum, else the capped simplex at the nearer end).
* :func:`box`: onto [lo, hi] entrywise (``optax.projections.projection_box``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

BISECTION_STEPS = 60  # halves the bracket to 2^-60 of its width: float64 rounding


def box(v: Float[Array, "..."], lo, hi) -> Float[Array, "..."]:
    """The projection of ``v`` onto the box [lo, hi] (broadcast entrywise)."""
    return optax.projections.projection_box(v, lo, hi)


def capped_simplex(
    v: Float[Array, " N"], k, lo: Float[Array, " N"], hi: Float[Array, " N"]
) -> Float[Array, " N"]:
    """The projection of ``v`` (N,) onto {m : lo <= m <= hi, sum m = k}.

    Requires sum lo <= k <= sum hi (checked by the caller). The minimiser of ||m - v||^2 over
    that set is clip(v - tau, lo, hi) for the tau where the sum equals k (KKT conditions);
    tau is found by bisection on [min(v - hi), max(v - lo)].
    """
    total = lambda tau: jnp.sum(jnp.clip(v - tau, lo, hi))  # noqa: E731, decreasing in tau

    def halve(_, bracket):
        left, right = bracket
        mid = 0.5 * (left + right)
        above = total(mid) > k
        return jnp.where(above, mid, left), jnp.where(above, right, mid)

    bracket = (jnp.min(v - hi) - 1.0, jnp.max(v - lo) + 1.0)
    left, right = jax.lax.fori_loop(0, BISECTION_STEPS, halve, bracket)
    return jnp.clip(v - 0.5 * (left + right), lo, hi)


def sized_box(v: Float[Array, " N"], lo, hi, s_lo, s_hi) -> Float[Array, " N"]:
    """The projection of ``v`` onto {m : lo <= m <= hi, s_lo <= sum m <= s_hi}.

    The set is the box cut by two parallel half-spaces: if clip(v, lo, hi) has an allowed sum
    it is the projection, else the constraint on the side it violates is active (KKT).
    """
    m = box(v, lo, hi)
    total = jnp.sum(m)
    return jnp.where(total < s_lo, capped_simplex(v, s_lo, lo, hi),
                     jnp.where(total > s_hi, capped_simplex(v, s_hi, lo, hi), m))
