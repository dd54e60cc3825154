"""The GPU reduction of chunks of coalitions into a :class:`Summary` (slice reductions).

:func:`fold_groups` reduces each chunk's size classes (static slices, as columns are sorted by
popcount: :func:`popcount_order`) and bins the ratios (:func:`histogram`); the CPU form is
:mod:`evjax.sweeps.tally`. Ratio rows are (all, coalition, outside); an undefined ratio is NaN
and counts nowhere.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .summary import Summary
from .topk import update_lists


def popcount_order(low_bits: int) -> np.ndarray:
    """The subsets 0..2^L - 1 of L stations sorted by size (stable): a chunk's column order.

    Subsets of k stations then fill the static slice ``popcount_offsets(L)[k:k + 2]`` of every
    chunk, which is what lets :func:`fold_groups` reduce per coalition size without a scatter.
    """
    codes = np.arange(1 << low_bits)
    return np.argsort(np.bitwise_count(codes), kind="stable")


def popcount_offsets(low_bits: int) -> np.ndarray:
    """Where each subset size starts in :func:`popcount_order`: (L + 2,) offsets."""
    counts = [math.comb(low_bits, k) for k in range(low_bits + 1)]
    return np.concatenate([[0], np.cumsum(counts)])


def size_classes(op, x, *, offsets):
    """``op`` over each size class of the last axis, (..., B) -> (..., L + 1).

    Columns are in :func:`popcount_order`, so class k is the static slice
    ``offsets[k]:offsets[k + 1]`` (``offsets`` = :func:`popcount_offsets`).
    """
    return jnp.stack([op(x[..., offsets[k]:offsets[k + 1]], axis=-1)
                      for k in range(len(offsets) - 1)], axis=-1)


def fold_groups(
    summary: Summary,
    codes: Int[Array, "C B"],
    ratios: Float[Array, "G C B"],
    base: Int[Array, " C"],
    size_ok: Bool[Array, " S"],
    *,
    edges: Float[Array, " E"],
    tol: float,
    replicas: int = 1,
) -> Summary:
    """``summary`` updated with C chunks of B = 2^L coalitions each (jit-traceable, O(C B)).

    Chunk c holds the coalitions whose bit codes are ``codes[c]``: a fixed part of size
    ``base[c]`` plus the subsets of L further stations in :func:`popcount_order`, so that the
    coalitions of size base[c] + k fill a static slice of the chunk. ``ratios`` rows are (all,
    coalition, outside); ``size_ok[s]`` says whether the sweep counts coalitions of size s.

    Per-size statistics reduce each chunk's slices, (G, C, L + 1), then map those onto sizes
    through a one-hot (S, C, L + 1) comparison: no scatter over coalitions (scatters to a few
    dozen addresses serialise on a GPU). Counts follow from the binomial structure of a chunk,
    less non-finite ratios (the grand coalition's outside ratio). The histogram is a bincount
    spread over ``replicas`` copies of the bins (coalition i adds to copy i % replicas) and
    summed: 1 on a CPU, about 1024 on a GPU, where many coalitions adding to one bin at once
    would wait on each other. The top and bottom lists are re-sorted only when a per-size
    maximum or minimum of the chunks beats their k-th entry (a ``lax.cond``), which keeps
    sorting (slow on CPU) off the hot path.
    """
    itype = summary.n_evaluated.dtype
    n_chunks, width = codes.shape
    low = width.bit_length() - 1
    if width != 1 << low:
        raise ValueError(f"chunks must hold 2^L coalitions, got {width}")
    s = summary.size_count.shape[0]
    # Materialise the ratios once: otherwise XLA recomputes them inside every consumer.
    ratios = jax.lax.optimization_barrier(ratios)
    offsets = popcount_offsets(low)
    chunk_sizes = base[:, None] + jnp.arange(low + 1, dtype=base.dtype)  # (C, L + 1)
    ok_ck = size_ok[jnp.minimum(chunk_sizes, s - 1)]
    low_class = np.repeat(np.arange(low + 1), np.diff(offsets))  # (B,) size class of column j
    ok = ok_ck[:, low_class]  # (C, B)
    finite = jnp.isfinite(ratios)
    defined = ok[None] & finite  # (G, C, B)
    hi = jnp.where(defined, ratios, -jnp.inf)
    lo = jnp.where(defined, ratios, jnp.inf)
    zero = jnp.where(defined, ratios, 0.0)

    by_class = functools.partial(size_classes, offsets=offsets)  # (G, C, B) -> (G, C, L + 1)
    onehot = chunk_sizes[None] == jnp.arange(s, dtype=base.dtype)[:, None, None]  # (S, C, L+1)

    def to_sizes(op, x, fill):  # (G, C, L + 1) -> (S, G)
        return op(jnp.where(onehot[None], x[:, None], fill), axis=(2, 3)).T

    size_max = to_sizes(jnp.max, by_class(jnp.max, hi), -jnp.inf)
    size_min = to_sizes(jnp.min, by_class(jnp.min, lo), jnp.inf)
    size_sum = to_sizes(jnp.sum, by_class(jnp.sum, zero), 0.0)
    binom = jnp.asarray(np.diff(offsets), itype)
    counted = jnp.where(ok_ck, binom, 0)  # (C, L + 1)
    missing = by_class(jnp.sum, (ok[None] & ~finite).astype(itype))
    count = to_sizes(jnp.sum, counted[None] - missing, 0)
    hist = histogram(zero.reshape(3, -1), defined.reshape(3, -1), edges, replicas)
    r = ratios.reshape(3, -1)
    top, bottom = update_lists(summary, lambda: (hi.reshape(3, -1), lo.reshape(3, -1)),
                            codes.reshape(-1), jnp.any(size_max >= summary.top_value[:, -1]),
                            jnp.any(size_min <= summary.bottom_value[:, -1]))
    defined = defined.reshape(3, -1)
    return Summary(
        n_evaluated=summary.n_evaluated + jnp.sum(counted).astype(itype),
        above_one=summary.above_one + jnp.sum(defined & (r > 1.0 + tol), axis=1).astype(itype),
        below_one=summary.below_one + jnp.sum(defined & (r < 1.0 - tol), axis=1).astype(itype),
        size_count=summary.size_count + count.astype(itype),
        size_sum=summary.size_sum + size_sum,
        size_min=jnp.minimum(summary.size_min, size_min),
        size_max=jnp.maximum(summary.size_max, size_max),
        hist=summary.hist + hist.astype(itype),
        top_value=top[0],
        top_code=top[1],
        bottom_value=bottom[0],
        bottom_code=bottom[1],
    )


def histogram(zero, defined, edges, replicas: int, marks=()):
    """Counts (3, bins + 2) of the defined entries of ``zero`` (3, n) over uniform ``edges``.

    The bin is arithmetic, 0 for underflow and bins + 1 for overflow (the float is clipped to
    [0, bins + 1] first, so that truncation is the floor). One bincount over all three rows,
    spread over ``replicas`` copies of the bins (entry i adds to copy i % replicas).
    ``marks``, boolean (3, n) each, are counted by the same scatter (each doubles the slots,
    which are few): with them the call returns (counts, [how many defined entries of each
    row every mark marks, (3,) each]), instead of a pass over the entries per mark.
    """
    bins = edges.shape[0] - 1
    scale = bins / (edges[-1] - edges[0])
    position = jnp.clip((zero - edges[0]) * scale + 1.0, 0.0, bins + 1.0)
    position = position + (bins + 2) * jnp.arange(3.0)[:, None]
    slots = 3 * (bins + 2) + 1  # the last slot takes the undefined ratios
    which = jnp.where(defined, position, slots - 1).astype(jnp.int32)
    copies = 1 << len(marks)
    for m, mark in enumerate(marks):
        which = which + jnp.where(defined & mark, slots << m, 0).astype(jnp.int32)
    if replicas > 1:
        which = which + copies * slots * (jnp.arange(which.shape[1], dtype=jnp.int32) % replicas)
    # A barrier before every scatter: fused into the scatter's (n, 1) index shape, the loop
    # producing the indices is not vectorised (several times slower).
    which = jax.lax.optimization_barrier(which)
    hist = jnp.zeros(copies * slots * replicas, jnp.int32).at[which.reshape(-1)].add(
        jnp.ones((), jnp.int32), mode="promise_in_bounds")  # int32: half a bincount's bytes
    hist = hist.reshape(replicas, copies, slots).sum(axis=0)[:, : slots - 1]
    hist = hist.reshape((2,) * len(marks) + (3, bins + 2))  # mark m: axis len(marks) - 1 - m
    counts = hist.reshape(-1, 3, bins + 2).sum(axis=0)
    if not marks:
        return counts
    n = len(marks)
    marked = [jnp.sum(jnp.take(hist, 1, axis=n - 1 - m), axis=tuple(range(n - 1)) + (n,))
              for m in range(n)]
    return counts, marked

