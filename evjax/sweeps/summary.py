"""On-device reduction of coalition results: counts, per-size statistics, histograms, top-k.

A sweep feeds chunks of evaluated coalitions (bit codes, sizes, the three ratios) into a
:class:`Summary`. Every field is a fixed-size array, so memory is O(N + bins + k) whatever the
number of coalitions, and two summaries combine exactly (:func:`merge`), which is what makes
resumed and sharded sweeps reproduce an uninterrupted one: each chunk's partial summary is
folded in chunk order.

Ratio columns are always (all, coalition, outside); an undefined ratio (the grand coalition's
outside ratio) is NaN and counts nowhere.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

GROUPS = ("all", "coalition", "outside")
NO_CODE = np.iinfo(np.int64).max


class Summary(eqx.Module):
    """Running reductions over coalitions (all fields O(N + bins + k)).

    Fields (S = N + 1 sizes, G = 3 groups, k = top_k):
        n_evaluated: coalitions seen.
        above_one, below_one: (G,) how many coalitions have ratio > 1 + tol / < 1 - tol.
        size_count, size_sum, size_min, size_max: (S, G) per coalition size.
        hist: (G, bins + 2) counts over ``edges`` with under- and overflow at the ends.
        top_value, top_code, bottom_value, bottom_code: (G, k) the k largest / smallest
            ratios and their coalitions' bit codes, ordered by value then by code.
    """

    n_evaluated: Int[Array, ""]
    above_one: Int[Array, " G"]
    below_one: Int[Array, " G"]
    size_count: Int[Array, "S G"]
    size_sum: Float[Array, "S G"]
    size_min: Float[Array, "S G"]
    size_max: Float[Array, "S G"]
    hist: Int[Array, "G B"]
    top_value: Float[Array, "G k"]
    top_code: Int[Array, "G k"]
    bottom_value: Float[Array, "G k"]
    bottom_code: Int[Array, "G k"]


def empty_summary(n_stations: int, bins: int, top_k: int) -> Summary:
    """The neutral element of :func:`merge`."""
    s, g = n_stations + 1, len(GROUPS)
    f = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    i = jnp.int64 if jax.config.jax_enable_x64 else jnp.int32
    big = jnp.iinfo(i).max
    return Summary(
        n_evaluated=jnp.zeros((), i),
        above_one=jnp.zeros(g, i),
        below_one=jnp.zeros(g, i),
        size_count=jnp.zeros((s, g), i),
        size_sum=jnp.zeros((s, g), f),
        size_min=jnp.full((s, g), jnp.inf, f),
        size_max=jnp.full((s, g), -jnp.inf, f),
        hist=jnp.zeros((g, bins + 2), i),
        top_value=jnp.full((g, top_k), -jnp.inf, f),
        top_code=jnp.full((g, top_k), big, i),
        bottom_value=jnp.full((g, top_k), jnp.inf, f),
        bottom_code=jnp.full((g, top_k), big, i),
    )


def _best(values, codes, k, largest: bool):
    """The k best (value, code) pairs per row, by value then code: (G, n) -> (G, k)."""
    key = -values if largest else values
    order = jnp.lexsort((codes, key), axis=-1)[:, :k]
    return jnp.take_along_axis(values, order, -1), jnp.take_along_axis(codes, order, -1)


def fold_chunk(
    summary: Summary,
    codes: Int[Array, " B"],
    sizes: Int[Array, " B"],
    ratios: Float[Array, "G B"],
    valid: Bool[Array, " B"],
    *,
    edges: Float[Array, " E"],
    tol: float,
) -> Summary:
    """``summary`` updated with one chunk of coalitions (jit-traceable, O(B) work).

    ``ratios`` rows are (all, coalition, outside); ``valid`` masks out coalitions the sweep
    does not count (the empty one, other sizes). Per-size statistics are segment reductions
    on the sizes. The top and bottom lists are re-sorted only when the chunk holds a value
    that beats their k-th entry (a ``lax.cond``): after the first chunks almost none does,
    which keeps sorting (slow on CPU) off the hot path.
    """
    itype = summary.n_evaluated.dtype
    defined = valid[None, :] & jnp.isfinite(ratios)  # (G, B)
    hi = jnp.where(defined, ratios, -jnp.inf)
    lo = jnp.where(defined, ratios, jnp.inf)
    zero = jnp.where(defined, ratios, 0.0)
    s = summary.size_count.shape[0]
    per_size = lambda op, x: jax.vmap(  # noqa: E731
        lambda row: op(row, sizes, num_segments=s), out_axes=1)(x)
    bins = edges.shape[0] - 1
    # Uniform edges: the bin is arithmetic, 0 for underflow and bins + 1 for overflow.
    width = (edges[-1] - edges[0]) / bins
    which = jnp.clip(jnp.floor((zero - edges[0]) / width).astype(jnp.int32) + 1, 0, bins + 1)
    which = jnp.where(defined, which + (bins + 2) * jnp.arange(3)[:, None], 3 * (bins + 2))
    hist = jnp.bincount(which.reshape(-1), length=3 * (bins + 3))[: 3 * (bins + 2)]
    codes_g = jnp.broadcast_to(codes.astype(itype), hi.shape)
    k = summary.top_value.shape[1]

    def candidates(values):
        """The k largest entries per row (ties: lowest index), via maxima of 64-blocks.

        The k largest values lie in the k blocks with the largest maxima, so one top_k over
        B/64 maxima and one over 64k entries replace a top_k (a sort on CPU) over all B.
        """
        width = 64 if values.shape[1] % 64 == 0 else 1
        blocks = values.reshape(values.shape[0], -1, width)
        kb = min(k, blocks.shape[1])
        _, top_blocks = jax.lax.top_k(jnp.max(blocks, axis=2), kb)
        top_blocks = jnp.sort(top_blocks, axis=1)  # keep index order for ties
        idx = (top_blocks[:, :, None] * width + jnp.arange(width)).reshape(values.shape[0], -1)
        _, pick = jax.lax.top_k(jnp.take_along_axis(values, idx, 1), min(k, idx.shape[1]))
        return jnp.take_along_axis(idx, pick, 1)

    def better(values, current_v, current_c, largest):
        idx = candidates(values if largest else -values)
        v = jnp.take_along_axis(values, idx, 1)
        c = jnp.where(jnp.isfinite(v), jnp.take_along_axis(codes_g, idx, 1), NO_CODE)
        return _best(jnp.concatenate([current_v, v], 1),
                     jnp.concatenate([current_c, c.astype(itype)], 1), k, largest)

    top = jax.lax.cond(
        jnp.any(hi >= summary.top_value[:, -1:]),
        lambda: better(hi, summary.top_value, summary.top_code, True),
        lambda: (summary.top_value, summary.top_code),
    )
    bottom = jax.lax.cond(
        jnp.any(lo <= summary.bottom_value[:, -1:]),
        lambda: better(lo, summary.bottom_value, summary.bottom_code, False),
        lambda: (summary.bottom_value, summary.bottom_code),
    )
    return Summary(
        n_evaluated=summary.n_evaluated + jnp.sum(valid).astype(itype),
        above_one=summary.above_one + jnp.sum(defined & (ratios > 1.0 + tol), axis=1).astype(itype),
        below_one=summary.below_one + jnp.sum(defined & (ratios < 1.0 - tol), axis=1).astype(itype),
        size_count=summary.size_count + per_size(jax.ops.segment_sum, defined.astype(itype)),
        size_sum=summary.size_sum + per_size(jax.ops.segment_sum, zero),
        size_min=jnp.minimum(summary.size_min, per_size(jax.ops.segment_min, lo)),
        size_max=jnp.maximum(summary.size_max, per_size(jax.ops.segment_max, hi)),
        hist=summary.hist + hist.reshape(3, bins + 2).astype(itype),
        top_value=top[0],
        top_code=top[1],
        bottom_value=bottom[0],
        bottom_code=bottom[1],
    )


@jax.jit
def merge(a: Summary, b: Summary) -> Summary:
    """Combine two summaries (associative; exact for every field but float sums)."""
    k = a.top_value.shape[1]
    top_value, top_code = _best(
        jnp.concatenate([a.top_value, b.top_value], 1),
        jnp.concatenate([a.top_code, b.top_code], 1), k, True,
    )
    bottom_value, bottom_code = _best(
        jnp.concatenate([a.bottom_value, b.bottom_value], 1),
        jnp.concatenate([a.bottom_code, b.bottom_code], 1), k, False,
    )
    return Summary(
        n_evaluated=a.n_evaluated + b.n_evaluated,
        above_one=a.above_one + b.above_one,
        below_one=a.below_one + b.below_one,
        size_count=a.size_count + b.size_count,
        size_sum=a.size_sum + b.size_sum,
        size_min=jnp.minimum(a.size_min, b.size_min),
        size_max=jnp.maximum(a.size_max, b.size_max),
        hist=a.hist + b.hist,
        top_value=top_value,
        top_code=top_code,
        bottom_value=bottom_value,
        bottom_code=bottom_code,
    )


def merge_fields(total: Summary, fields: dict[str, np.ndarray], device) -> Summary:
    """``merge(total, partial)`` with the partial given as numpy fields, on ``device``.

    Every way of running a sweep (one device, several, several processes) folds its blocks'
    partials through this, in block order, so they all give the same result.
    """
    return merge(total, jax.device_put(from_numpy(fields), device))


def to_numpy(summary: Summary) -> dict[str, np.ndarray]:
    """The summary's fields as numpy arrays (for checkpoints)."""
    return {name: np.asarray(getattr(summary, name)) for name in Summary.__annotations__}


def from_numpy(fields: dict[str, np.ndarray]) -> Summary:
    return Summary(**{name: jnp.asarray(fields[name]) for name in Summary.__annotations__})
