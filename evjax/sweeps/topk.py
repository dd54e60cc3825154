"""Top-k selection, the one home of it: k largest keys with their codes, ties to the lowest code.

On the device (:func:`select`, :func:`best`, :func:`update_lists`: k passes of a row maximum,
no sort, since XLA's CPU sort is slow) and on the host (:func:`merge_best`, numpy, for the
merge of one partial summary per block). Both order by value, then by code, so a list is the
same whichever way it was built.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

NO_CODE = np.iinfo(np.int64).max  # the code of an exhausted list entry


def select(key, codes, k):
    """The k largest ``key`` (G, n) per row with their ``codes``, ties to the lowest code: (G, k).

    k passes of a row maximum (no sort: XLA's CPU sort is slow). Each pass takes the largest
    key, then the lowest code among entries with that key, and removes that entry (key -inf,
    code ``NO_CODE``, the largest of the codes' dtype); an exhausted row yields (-inf,
    ``NO_CODE``). Codes other than ``NO_CODE`` must be unique within a row, as coalitions are.
    """
    none = jnp.iinfo(codes.dtype).max  # NO_CODE for the int64 codes of coalitions
    picked_key, picked_code = [], []
    for _ in range(k):
        m = jnp.max(key, axis=1, keepdims=True)
        c = jnp.min(jnp.where(key == m, codes, none), axis=1, keepdims=True)
        picked_key.append(m)
        picked_code.append(c)
        taken = (key == m) & (codes == c)
        key = jnp.where(taken, -jnp.inf, key)
        codes = jnp.where(taken, none, codes)
    return jnp.concatenate(picked_key, 1), jnp.concatenate(picked_code, 1)


def best(values, codes, k, largest: bool):
    """The k best (value, code) pairs per row, by value (largest or smallest first) then code.

    Entries with an infinite value of the wrong sign (fill) come last."""
    key, code = select(values if largest else -values, codes, k)
    return (key if largest else -key), code


def update_lists(summary, extremes, codes, top_hit, bottom_hit):
    """The top and bottom lists of ``summary`` updated with the coalitions ``codes`` (n,).

    ``summary`` is a :class:`evjax.sweeps.summary.Summary` (its lists and integer dtype are
    read). ``extremes()`` returns their ratios (3, n) twice, with -inf and with +inf where
    undefined (hi, lo); it is called inside the branches. A list is re-sorted only when
    ``top_hit`` (``bottom_hit``) says that some entry may beat its k-th (a ``lax.cond``),
    which keeps sorting (slow on CPU) off the hot path.
    """
    itype = summary.n_evaluated.dtype
    top = jax.lax.cond(
        top_hit,
        lambda: _better(extremes()[0], codes, summary.top_value, summary.top_code, itype, True),
        lambda: (summary.top_value, summary.top_code),
    )
    bottom = jax.lax.cond(
        bottom_hit,
        lambda: _better(extremes()[1], codes, summary.bottom_value, summary.bottom_code, itype,
                        False),
        lambda: (summary.bottom_value, summary.bottom_code),
    )
    return top, bottom


def _better(values, codes, current_v, current_c, itype, largest: bool):
    """The k best of the current list (3, k) and ``values`` (3, n) of coalitions ``codes``.

    The k best values lie in the k 64-blocks with the best block extremes: select those
    blocks, then the k best among their 64k entries and the current list.
    """
    k = current_v.shape[1]
    key = values if largest else -values
    block = 64 if key.shape[1] % 64 == 0 else 1
    n_blocks = key.shape[1] // block
    index = jnp.broadcast_to(jnp.arange(n_blocks), (3, n_blocks))
    _, blocks = select(jnp.max(key.reshape(3, n_blocks, block), axis=2), index,
                       min(k, n_blocks))
    idx = (blocks[:, :, None] * block + jnp.arange(block)).reshape(3, -1)
    v = jnp.take_along_axis(values, idx, 1)
    c = jnp.where(jnp.isfinite(v), codes[idx], NO_CODE)
    return best(jnp.concatenate([current_v, v], 1),
                jnp.concatenate([current_c, c.astype(itype)], 1), k, largest)


def merge_top(carry, keys, index, payload, k: int):
    """The k largest ``keys`` (n,) of a list ``carry`` and a chunk, with their indices and rows.

    ``carry`` = (values (k,) descending, indices (k,), payload rows (k, ...)); ``index`` (n,)
    and ``payload`` (n, ...) belong to the chunk, whose indices all follow the carry's, so
    that ties go to the earlier entry (the lowest index), as in :func:`select`. Most chunks
    cannot enter the list: the selection is skipped unless some key beats the k-th.
    """

    def merge(carry):
        joined = jnp.concatenate([carry[0], keys])  # the carry first: earlier wins ties
        position = jnp.arange(joined.shape[0])
        values, pick = select(joined[None], position[None], k)
        pick = pick[0]
        return (
            values[0],
            jnp.concatenate([carry[1], index])[pick],
            jnp.concatenate([carry[2], payload])[pick],
        )

    return jax.lax.cond(jnp.max(keys) > carry[0][-1], merge, lambda c: c, carry)


def merge_best(values, codes, k: int, largest: bool):
    """:func:`best` on the host (numpy): the k best (value, code) pairs per row of (G, n).

    By value (largest or smallest first) then code; a repeated entry counts once; exhausted
    rows end in (-inf or +inf, ``NO_CODE``).
    """
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
