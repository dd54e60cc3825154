"""The subset form: the feature sums of all 2^L subsets of the L lowest stations, laid out
for the elementwise chunk loop (a chunk's coalition sums are a high part plus a table column).

Shapes: J = 2^L columns (one per subset of the low stations), W = 3T + 9 features.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .tables import CoalitionTables, _group_costs, bit_masks


def subset_sums(tables: CoalitionTables, low_bits: int) -> Float[Array, "W J"]:
    """Feature sums of every subset of the ``low_bits`` = L lowest stations, columns-first.

    Column j (of 2^L) is, for the coalition whose low stations are the bits of j: the in part
    summed over those stations and the out part summed over the other low stations. Add the
    high stations' sums (:func:`high_sums`) to get a whole coalition's sums. Built once per
    game as the product of the 2^L x L bit matrix with the L low rows of the feature table,
    O(2^L L W) (milliseconds for L <= 14): simpler to compile than doubling
    (table[j | 2^k] = table[j] + F[k]), with the rounding of :func:`group_sums`.
    """
    if not 0 <= low_bits <= tables.n_stations:
        raise ValueError(f"low_bits must lie in [0, {tables.n_stations}], got {low_bits}")
    return _subset_sums(tables, low_bits)


@eqx.filter_jit
def _subset_sums(tables, low_bits):
    o = tables.width_in
    f = tables.features[:low_bits]
    m = bit_masks(jnp.arange(2**low_bits), low_bits, f.dtype)  # (2^L, L)
    return jnp.concatenate([f[:, :o].T @ m.T, f[:, o:].T @ (1.0 - m).T], axis=0)


LANES = 8  # float64 lanes of an AVX-512 register


class SubsetTable(eqx.Module):
    """:func:`subset_sums` laid out for the fast chunk loop, with its columns' subsets.

    ``sums[j // V, :, j % V]`` is the sums (W,) of column j, V = ``lanes`` = min(8, 2^L): the
    loop over coalitions then reads V coalitions' feature k as one contiguous vector (8
    float64, one AVX-512 register) and a block's W features lie together in memory.
    ``codes[j]`` is the subset of the low stations in column j (bit k <=> station k); the
    identity unless an ``order`` was given to :func:`subset_table`.
    """

    sums: Float[Array, "blocks W lanes"]
    codes: Int[Array, " J"]
    low_bits: int = eqx.field(static=True)

    @property
    def size(self) -> int:
        return 2**self.low_bits


def subset_table(
    tables: CoalitionTables, low_bits: int, *, order=None, offset=None
) -> SubsetTable:
    """The :class:`SubsetTable` of the ``low_bits`` = L lowest stations of one game.

    ``order`` (optional, a permutation of range(2^L)) puts subset ``order[j]`` in column j,
    e.g. sorted by popcount so that coalitions of one size are contiguous in every chunk.
    ``offset`` (optional, (W,)) is added to every column: the constant sums of stations that
    every enumerated coalition includes (in part) or excludes (out part). For T = 24 keep
    2^L W float64 within L2 cache: L = 9 to 11.
    """
    codes, offset = _table_args(tables, low_bits, order, offset)
    return _subset_table(tables, low_bits, codes, offset)


def _table_args(tables, low_bits, order, offset):
    if not 0 <= low_bits <= tables.n_stations:
        raise ValueError(f"low_bits must lie in [0, {tables.n_stations}], got {low_bits}")
    codes = jnp.arange(2**low_bits) if order is None else jnp.asarray(order)
    if codes.shape != (2**low_bits,):
        raise ValueError(f"order must have shape ({2**low_bits},), got {codes.shape}")
    if offset is None:
        offset = jnp.zeros(tables.width, tables.features.dtype)
    return codes, jnp.asarray(offset)


@eqx.filter_jit
def _subset_table(tables, low_bits, codes, offset):
    sums = _subset_sums(tables, low_bits)[:, codes] + offset[:, None]  # (W, 2^L)
    lanes = min(LANES, 2**low_bits)
    blocked = sums.T.reshape(2**low_bits // lanes, lanes, tables.width).transpose(0, 2, 1)
    return SubsetTable(sums=blocked, codes=codes, low_bits=low_bits)


def high_sums(tables: CoalitionTables, high, low_bits: int) -> Float[Array, " W"]:
    """Sums (W,) over the high stations (index >= L) for the high bits ``high`` (traced ok)."""
    n_high = tables.n_stations - low_bits
    f = tables.features[low_bits:]
    o = tables.width_in
    m = ((jnp.asarray(high) >> jnp.arange(n_high)) & 1).astype(f.dtype)
    return jnp.concatenate([m @ f[:, :o], (1.0 - m) @ f[:, o:]])


def _chunk_group_costs(tables, table: SubsetTable, high):
    """(c_C, c_out, nash_C, nash_out), each (2^L,), of the bitmasks high * 2^L + j."""
    return subset_group_costs(tables, table, high_sums(tables, high, table.low_bits))


def subset_group_costs(tables: CoalitionTables, table: SubsetTable, hs: Float[Array, " W"]):
    """(c_C, c_out, nash_C, nash_out), each (2^L,), of the chunk whose high stations' sums
    are ``hs`` (W,) (the cost stage that the folds of :mod:`evjax.sweeps.folds` map over)."""
    out = _group_costs(tables, lambda k: table.sums[:, k, :] + hs[k])
    return tuple(v.reshape(table.size) for v in out)
