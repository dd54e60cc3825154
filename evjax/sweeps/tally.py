"""The CPU reduction: per-size statistics tallied onto rows, settled onto sizes at the end.

:func:`tally_groups` is :func:`evjax.sweeps.reduce.fold_groups` for XLA's CPU backend, where
reducing each size's slice of every chunk is several times slower than updating a few rows in
place; :func:`settle` reduces the rows onto sizes once per block.
"""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .reduce import histogram, popcount_offsets, size_classes
from .summary import GROUPS, Summary, dtypes
from .topk import update_lists


class Tally(eqx.Module):
    """Per-size statistics of a run of chunks, kept per (fixed size, column): O(G P 2^L).

    The CPU form of :func:`fold_groups`' per-size reductions (:func:`tally_groups`). Entry
    (g, p, j) gathers ratio g at column j of every chunk whose fixed part has size p, so its
    coalitions all have size p + popcount(column j). Adding a group of chunks is then
    elementwise (a few rows updated in place) where reducing each size's slice of every chunk
    is several times slower on XLA's CPU backend. :func:`settle` reduces the rows onto sizes.

    Fields (G = 3 groups, P = N + 1 - L fixed sizes, B = 2^L columns):
        chunks: (P,) how many chunks had each fixed size.
        max, min, sum: (G, P, B) over the defined ratios (-inf, +inf, 0 where none).
        undefined: (G, P, B) how many ratios were undefined (NaN: see :func:`tally_groups`),
            a float count (exact below 2^53).
    """

    chunks: Int[Array, " P"]
    max: Float[Array, "G P B"]
    min: Float[Array, "G P B"]
    sum: Float[Array, "G P B"]
    undefined: Float[Array, "G P B"]


def empty_tally(n_stations: int, low_bits: int) -> Tally:
    """The :class:`Tally` of no chunk, for chunks of 2^L = 2^``low_bits`` coalitions."""
    p, g, b = n_stations + 1 - low_bits, len(GROUPS), 1 << low_bits
    f, i = dtypes()
    return Tally(
        chunks=jnp.zeros(p, i),
        max=jnp.full((g, p, b), -jnp.inf, f),
        min=jnp.full((g, p, b), jnp.inf, f),
        sum=jnp.zeros((g, p, b), f),
        undefined=jnp.zeros((g, p, b), f),
    )


def tally_groups(
    summary: Summary,
    tally: Tally,
    codes: Int[Array, "C B"],
    ratios: Float[Array, "G C B"],
    base: Int[Array, " C"],
    size_ok: Bool[Array, " S"],
    *,
    edges: Float[Array, " E"],
    tol: float,
) -> tuple[Summary, Tally]:
    """:func:`fold_groups` for a CPU: the per-size statistics go to ``tally``.

    The arguments are those of :func:`fold_groups`, with one more requirement: the C = 2^m
    chunks are consecutive and aligned (high parts C q + c, c < C), as :func:`fold_chunks`
    groups them, so that chunk c's fixed size is base[0] + popcount(c). Chunks of one
    popcount are combined elementwise, and the m + 1 rows from base[0] on are updated in
    place: no scatter, no reduction over coalitions. The summary gains everything but the
    per-size statistics and ``n_evaluated``, which :func:`settle` adds from the tally. Ratios
    of sizes the sweep does not count become NaN here, so the tally counts them as undefined;
    settle drops those sizes whole.
    """
    itype = summary.n_evaluated.dtype
    n_chunks, width = codes.shape
    low, levels = width.bit_length() - 1, n_chunks.bit_length() - 1
    if width != 1 << low or n_chunks != 1 << levels:
        raise ValueError(f"need 2^m chunks of 2^L coalitions, got {n_chunks} of {width}")
    s = summary.size_count.shape[0]
    ok_class = size_ok[jnp.minimum(base[:, None] + jnp.arange(low + 1), s - 1)]  # (C, L + 1)
    # Expanded to (C, B) by broadcasts, as columns are sorted by class (a gather is slow).
    ok = jnp.concatenate([jnp.broadcast_to(ok_class[:, k, None], (n_chunks, count))
                          for k, count in enumerate(np.diff(popcount_offsets(low)))], axis=1)

    r = jnp.where(ok[None], ratios, jnp.nan)
    defined, hi, lo, zero = _masked(r)
    weight = np.bitwise_count(np.arange(n_chunks))

    def rows(op, x):  # (K, C, B) -> (K, m + 1, B): row w combines the chunks of popcount w
        return jnp.stack([functools.reduce(op, [x[:, c] for c in np.flatnonzero(weight == w)])
                          for w in range(levels + 1)], axis=1)

    def update(acc, op, x):  # acc[:, base[0] + w] = op(acc[:, base[0] + w], x[:, w])
        zero_index = jnp.zeros((), base.dtype)
        start = (zero_index, base[0], zero_index)
        return jax.lax.dynamic_update_slice(
            acc, op(jax.lax.dynamic_slice(acc, start, x.shape), x), start)

    tally = Tally(
        chunks=tally.chunks.at[base].add(1),
        max=update(tally.max, jnp.maximum, rows(jnp.maximum, hi)),
        min=update(tally.min, jnp.minimum, rows(jnp.minimum, lo)),
        sum=update(tally.sum, jnp.add, rows(jnp.add, zero)),
        undefined=update(tally.undefined, jnp.add, rows(jnp.add, (~defined).astype(zero.dtype))),
    )
    # Above/below 1 +- tol and beyond the lists' k-th entries (whether a list must be
    # re-sorted), all counted by the histogram's scatter.
    hist, (below, above, top_hits, bottom_hits) = histogram(
        zero.reshape(3, -1), defined.reshape(3, -1), edges, 1,
        marks=[m.reshape(3, -1) for m in (zero < 1.0 - tol, zero > 1.0 + tol,
                                          zero >= summary.top_value[:, -1, None, None],
                                          zero <= summary.bottom_value[:, -1, None, None])])

    def extremes():  # inside the lax.conds, so that hi and lo are not materialised for them
        _, hi, lo, _ = _masked(jnp.where(ok[None], ratios, jnp.nan))
        return hi.reshape(3, -1), lo.reshape(3, -1)

    top, bottom = update_lists(summary, extremes, codes.reshape(-1), jnp.any(top_hits > 0),
                            jnp.any(bottom_hits > 0))
    summary = dataclasses.replace(
        summary,
        above_one=summary.above_one + above.astype(itype),
        below_one=summary.below_one + below.astype(itype),
        hist=summary.hist + hist.astype(itype),
        top_value=top[0],
        top_code=top[1],
        bottom_value=bottom[0],
        bottom_code=bottom[1],
    )
    return summary, tally


def settle(summary: Summary, tally: Tally, size_ok: Bool[Array, " S"]) -> Summary:
    """``summary`` with the per-size statistics and count of ``tally`` added (O(G P 2^L))."""
    itype = summary.n_evaluated.dtype
    _, p, width = tally.max.shape
    low = width.bit_length() - 1
    s = summary.size_count.shape[0]
    offsets = popcount_offsets(low)

    by_class = functools.partial(size_classes, offsets=offsets)  # (K, P, B) -> (K, P, L + 1)

    sizes = np.arange(p)[:, None] + np.arange(low + 1)  # (P, L + 1): p + k
    onehot = (sizes == np.arange(s)[:, None, None]) & size_ok[:, None, None]  # (S, P, L + 1)

    def to_sizes(op, x, fill):  # (K, P, L + 1) -> (S, K)
        return op(jnp.where(onehot[:, None], x[None], fill), axis=(2, 3))

    binom = jnp.asarray(np.diff(offsets), itype)
    coalitions = tally.chunks[:, None] * binom  # (P, L + 1)
    undefined = to_sizes(jnp.sum, by_class(jnp.sum, tally.undefined), 0.0)
    count = jnp.sum(jnp.where(onehot, coalitions, 0), axis=(1, 2))[:, None] - undefined
    return dataclasses.replace(
        summary,
        n_evaluated=summary.n_evaluated + jnp.sum(jnp.where(onehot, coalitions, 0)),
        size_count=summary.size_count + count.astype(itype),
        size_sum=summary.size_sum + to_sizes(jnp.sum, by_class(jnp.sum, tally.sum), 0.0),
        size_min=jnp.minimum(summary.size_min,
                             to_sizes(jnp.min, by_class(jnp.min, tally.min), jnp.inf)),
        size_max=jnp.maximum(summary.size_max,
                             to_sizes(jnp.max, by_class(jnp.max, tally.max), -jnp.inf)),
    )


def _masked(r):
    """(defined, hi, lo, zero) of ratios ``r``: hi/lo/zero are -inf/+inf/0 where undefined."""
    defined = jnp.isfinite(r)
    return (defined, jnp.where(defined, r, -jnp.inf), jnp.where(defined, r, jnp.inf),
            jnp.where(defined, r, 0.0))
