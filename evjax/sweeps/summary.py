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

import dataclasses
import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

GROUPS = ("all", "coalition", "outside")
NO_CODE = np.iinfo(np.int64).max
# Codes from here up are not coalitions (whose codes are int64 bitmasks below 2^62): list
# entries that only hold a bound (see ``bound_lists``) and exhausted entries (NO_CODE).
FIRST_FILL = 1 << 62


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


def _dtypes():
    """(float, int) dtypes of summaries and tallies: 64-bit where JAX allows it."""
    x64 = jax.config.jax_enable_x64
    return (jnp.float64, jnp.int64) if x64 else (jnp.float32, jnp.int32)


def empty_summary(n_stations: int, bins: int, top_k: int) -> Summary:
    """The neutral element of :func:`merge`."""
    s, g = n_stations + 1, len(GROUPS)
    f, i = _dtypes()
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


def is_coalition(codes):
    """Which list codes are coalitions' (not fill)."""
    return codes < FIRST_FILL


def bound_lists(summary: Summary, top, bottom) -> Summary:
    """``summary`` with its top (bottom) lists filled with the value ``top`` (``bottom``) (3,).

    A sweep's blocks start their lists at bounds that the whole sweep's k-th entries are known
    to reach; a group of chunks with nothing beyond a list's k-th entry then skips the list.
    The fill entries have distinct codes above every coalition's, so they lose every tie and
    merge like real entries; :func:`is_coalition` tells them apart.
    """
    k = summary.top_value.shape[1]
    fill = jnp.broadcast_to(NO_CODE - 1 - jnp.arange(k, dtype=summary.top_code.dtype),
                            summary.top_code.shape)
    return dataclasses.replace(
        summary,
        top_value=jnp.broadcast_to(jnp.asarray(top, summary.top_value.dtype)[:, None],
                                   summary.top_value.shape),
        top_code=fill,
        bottom_value=jnp.broadcast_to(jnp.asarray(bottom, summary.top_value.dtype)[:, None],
                                      summary.top_value.shape),
        bottom_code=fill,
    )


def _select(key, codes, k):
    """The k largest ``key`` per row with their ``codes``, ties to the lowest code: (G, n) -> (G, k).

    k passes of a row maximum (no sort: XLA's CPU sort is slow). Each pass takes the largest
    key, then the lowest code among entries with that key, and removes that entry (key -inf,
    code ``NO_CODE``); an exhausted row yields (-inf, ``NO_CODE``). Codes other than
    ``NO_CODE`` must be unique within a row, as coalitions are.
    """
    picked_key, picked_code = [], []
    for _ in range(k):
        m = jnp.max(key, axis=1, keepdims=True)
        c = jnp.min(jnp.where(key == m, codes, NO_CODE), axis=1, keepdims=True)
        picked_key.append(m)
        picked_code.append(c)
        taken = (key == m) & (codes == c)
        key = jnp.where(taken, -jnp.inf, key)
        codes = jnp.where(taken, NO_CODE, codes)
    return jnp.concatenate(picked_key, 1), jnp.concatenate(picked_code, 1)


def _best(values, codes, k, largest: bool):
    """The k best (value, code) pairs per row, by value (largest or smallest first) then code.

    Entries with an infinite value of the wrong sign (fill) come last."""
    key, code = _select(values if largest else -values, codes, k)
    return (key if largest else -key), code


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

    def by_class(op, x):  # (G, C, B) -> (G, C, L + 1): op over each size class of a chunk
        return jnp.stack([op(x[:, :, offsets[k]:offsets[k + 1]], axis=2)
                          for k in range(low + 1)], axis=2)

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
    hist = _histogram(zero.reshape(3, -1), defined.reshape(3, -1), edges, replicas)
    r = ratios.reshape(3, -1)
    top, bottom = _extremes(summary, lambda: (hi.reshape(3, -1), lo.reshape(3, -1)),
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
    f, i = _dtypes()
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

    def masked(r):  # (defined, hi, lo, zero): hi/lo/zero are -inf/+inf/0 where undefined
        defined = jnp.isfinite(r)
        return (defined, jnp.where(defined, r, -jnp.inf), jnp.where(defined, r, jnp.inf),
                jnp.where(defined, r, 0.0))

    r = jnp.where(ok[None], ratios, jnp.nan)
    defined, hi, lo, zero = masked(r)
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
    hist, (below, above, top_hits, bottom_hits) = _histogram(
        zero.reshape(3, -1), defined.reshape(3, -1), edges, 1,
        marks=[m.reshape(3, -1) for m in (zero < 1.0 - tol, zero > 1.0 + tol,
                                          zero >= summary.top_value[:, -1, None, None],
                                          zero <= summary.bottom_value[:, -1, None, None])])

    def extremes():  # inside the lax.conds, so that hi and lo are not materialised for them
        _, hi, lo, _ = masked(jnp.where(ok[None], ratios, jnp.nan))
        return hi.reshape(3, -1), lo.reshape(3, -1)

    top, bottom = _extremes(summary, extremes, codes.reshape(-1), jnp.any(top_hits > 0),
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

    def by_class(op, x):  # (K, P, B) -> (K, P, L + 1)
        return jnp.stack([op(x[..., offsets[k]:offsets[k + 1]], axis=-1)
                          for k in range(low + 1)], axis=-1)

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


def _histogram(zero, defined, edges, replicas: int, marks=()):
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


def _extremes(summary: Summary, extremes, codes, top_hit, bottom_hit):
    """The top and bottom lists updated with the coalitions ``codes`` (n,).

    ``extremes()`` returns their ratios (3, n) twice, with -inf and with +inf where undefined
    (hi, lo); it is called inside the branches. A list is re-sorted only when ``top_hit``
    (``bottom_hit``) says that some entry may beat its k-th (a ``lax.cond``), which keeps
    sorting (slow on CPU) off the hot path.
    """
    itype = summary.n_evaluated.dtype
    k = summary.top_value.shape[1]

    def better(values, current_v, current_c, largest):
        """The k best of the current list and ``values``.

        The k best values lie in the k 64-blocks with the best block extremes: select those
        blocks, then the k best among their 64k entries and the current list.
        """
        key = values if largest else -values
        block = 64 if key.shape[1] % 64 == 0 else 1
        n_blocks = key.shape[1] // block
        index = jnp.broadcast_to(jnp.arange(n_blocks), (3, n_blocks))
        _, blocks = _select(jnp.max(key.reshape(3, n_blocks, block), axis=2), index,
                            min(k, n_blocks))
        idx = (blocks[:, :, None] * block + jnp.arange(block)).reshape(3, -1)
        v = jnp.take_along_axis(values, idx, 1)
        c = jnp.where(jnp.isfinite(v), codes[idx], NO_CODE)
        return _best(jnp.concatenate([current_v, v], 1),
                     jnp.concatenate([current_c, c.astype(itype)], 1), k, largest)

    top = jax.lax.cond(
        top_hit,
        lambda: better(extremes()[0], summary.top_value, summary.top_code, True),
        lambda: (summary.top_value, summary.top_code),
    )
    bottom = jax.lax.cond(
        bottom_hit,
        lambda: better(extremes()[1], summary.bottom_value, summary.bottom_code, False),
        lambda: (summary.bottom_value, summary.bottom_code),
    )
    return top, bottom


def merge(a: Summary, b: Summary) -> Summary:
    """Combine two summaries, on the host (associative; exact for every field but float sums).

    numpy, not a compiled call: a sweep merges one partial per block, and dispatching a
    dozen small device arrays per block cost more than the merge. The result has numpy
    fields; the top and bottom lists follow :func:`_best` (value, then code; a repeated
    entry counts once; exhausted rows end in (-inf or +inf, ``NO_CODE``)).
    """
    a, b = to_numpy(a), to_numpy(b)
    k = a["top_value"].shape[1]

    def best(name, largest):
        values = np.concatenate([a[f"{name}_value"], b[f"{name}_value"]], axis=1)
        codes = np.concatenate([a[f"{name}_code"], b[f"{name}_code"]], axis=1)
        out_v = np.full((values.shape[0], k), -np.inf if largest else np.inf, values.dtype)
        out_c = np.full((values.shape[0], k), NO_CODE, codes.dtype)
        for g in range(values.shape[0]):
            order = np.lexsort((codes[g], -values[g] if largest else values[g]))
            v, c = values[g, order], codes[g, order]
            first = np.ones(v.size, bool)
            first[1:] = (v[1:] != v[:-1]) | (c[1:] != c[:-1])
            v, c = v[first][:k], c[first][:k]
            out_v[g, : v.size], out_c[g, : c.size] = v, c
        return out_v, out_c

    top_value, top_code = best("top", True)
    bottom_value, bottom_code = best("bottom", False)
    return Summary(
        n_evaluated=a["n_evaluated"] + b["n_evaluated"],
        above_one=a["above_one"] + b["above_one"],
        below_one=a["below_one"] + b["below_one"],
        size_count=a["size_count"] + b["size_count"],
        size_sum=a["size_sum"] + b["size_sum"],
        size_min=np.minimum(a["size_min"], b["size_min"]),
        size_max=np.maximum(a["size_max"], b["size_max"]),
        hist=a["hist"] + b["hist"],
        top_value=top_value,
        top_code=top_code,
        bottom_value=bottom_value,
        bottom_code=bottom_code,
    )


def merge_fields(total: Summary, fields: dict[str, np.ndarray]) -> Summary:
    """``merge(total, partial)`` with the partial given as numpy fields.

    Every way of running a sweep (one device, several, several processes) folds its blocks'
    partials through this, in block order, so they all give the same result.
    """
    return merge(total, Summary(**fields))


def to_numpy(summary: Summary) -> dict[str, np.ndarray]:
    """The summary's fields as numpy arrays (for checkpoints)."""
    return {name: np.asarray(getattr(summary, name)) for name in Summary.__annotations__}


def from_numpy(fields: dict[str, np.ndarray]) -> Summary:
    return Summary(**{name: jnp.asarray(fields[name]) for name in Summary.__annotations__})
