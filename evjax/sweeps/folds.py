"""Folds of a reduction over the costs of many coalitions, each in one compiled call.

The drivers of the sweeps (``evjax.sweeps.runner``): chunks of consecutive coalitions
(:func:`fold_chunks`, either table form of :mod:`evjax.charging.reduced`) or arbitrary
bitmasks (:func:`fold_bitmasks`, the GEMM form), a group at a time, with the costs
materialised once per group before the reduction reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Int

from ..charging.reduced import CoalitionTables, GramTable, SubsetTable, chunk_bits, high_sums
from ..charging.reduced.gram import gram_group_costs
from ..charging.reduced.subsets import subset_group_costs
from ..charging.reduced.tables import gemm_group_costs, stack_costs

Reduce = Callable[[Any, Array, Array, Array], Any]


def _packed(costs):
    """(c_C, c_out, nash_C, nash_out) as two complex arrays, (C-Nash, Nash)."""
    c_in, c_out, n_in, n_out = costs
    return jax.lax.complex(c_in, c_out), jax.lax.complex(n_in, n_out)


def _fold(tables, costs_of, bits_of, xs, reduce, init):
    """Scan over the leading axis of ``xs`` (groups of chunks) and fold ``reduce`` over them.

    ``costs_of(x)`` gives the costs of one group, (G, B) each, packed by :func:`_packed` as
    two complex arrays (C-Nash, Nash), computed inside ``lax.map`` (a loop over the group)
    for a :class:`SubsetTable`.
    Packing makes XLA emit the cost loop as one fusion that computes the shared terms once
    (two real outputs become two fusions that each recompute them: 1.3x slower), and the
    loop materialises the costs once before ``reduce`` reads them, instead of XLA fusing (and
    so recomputing) the cost loop into every consumer of the reduction.
    """

    def step(carry, x):
        c, n = costs_of(x)
        cnash, nash = stack_costs(tables, c.real, c.imag, n.real, n.imag)
        return reduce(carry, bits_of(x), cnash, nash), None

    carry, _ = jax.lax.scan(step, init, xs)
    return carry


def _grouped(name, xs, group):
    xs = jnp.asarray(xs)
    if group < 1 or xs.shape[0] % group:
        raise ValueError(
            f"{name} must have a leading length that is a multiple of group = {group}, "
            f"got shape {xs.shape}"
        )
    return xs.reshape(xs.shape[0] // group, group, *xs.shape[1:])


def fold_chunks(
    tables: CoalitionTables,
    table: SubsetTable | GramTable,
    highs: Int[ArrayLike, " H"],
    reduce: Reduce,
    init: Any,
    *,
    group: int = 8,
) -> Any:
    """Fold ``reduce`` over the H * 2^L coalitions of the chunks ``highs``, in one compiled call.

    Chunk h holds the bitmasks (h << L) | codes[j], j < 2^L (``table = subset_table(tables,
    L)`` or ``gram_table(tables, L)``; the first loops over the group's chunks, the second
    takes the whole group as one matrix product).
    Chunks are taken ``group`` at a time (H must be a multiple of it), and

        carry = reduce(carry, bits, cnash, nash)

    is called once per group with ``bits`` (group, 2^L) the bitmasks (:func:`chunk_bits`) and
    ``cnash``, ``nash`` (3, group, 2^L) the group costs (rows all, coalition, outside). It must
    be jit-traceable; ``init`` is the initial carry. Memory is O(group * 2^L), whatever H.
    The empty coalition (bitmask 0) and the grand coalition follow the conventions of
    :mod:`evjax.charging.reduced`.
    Fastest on CPU (T = 24): a :class:`GramTable`, L = 11, group = 8 (a
    :class:`SubsetTable` at L = 9 is about 1.5x slower), no ``lax.top_k`` or sort per group.
    On a GPU: a :class:`GramTable`, L = 14, group = 256 (4M coalitions per step).
    """
    highs = _grouped("highs", highs, group)
    return _fold_chunks(tables, table, highs, reduce, init)


@eqx.filter_jit
def _fold_chunks(tables, table, highs, reduce, init):
    if isinstance(table, GramTable):
        return _fold(
            tables,
            lambda hg: _packed(gram_group_costs(
                tables, table, jax.vmap(lambda h: high_sums(tables, h, table.low_bits))(hg))),
            lambda hg: chunk_bits(table, hg),
            highs,
            reduce,
            init,
        )
    return _fold(
        tables,
        lambda hg: jax.lax.map(lambda hs: _packed(subset_group_costs(tables, table, hs)),
                               jax.vmap(lambda h: high_sums(tables, h, table.low_bits))(hg)),
        lambda hg: chunk_bits(table, hg),
        highs,
        reduce,
        init,
    )


def fold_bitmasks(
    tables: CoalitionTables,
    bits: Int[ArrayLike, "K B"],
    reduce: Reduce,
    init: Any,
    *,
    group: int = 1,
) -> Any:
    """Fold ``reduce`` over arbitrary coalitions given as bitmasks (the GEMM form).

    ``bits`` (K, B): K batches of B bitmasks (bit i <=> station i), e.g. the coalitions of one
    size. Batches are taken ``group`` at a time (K must be a multiple of it) and
    ``reduce(carry, bits, cnash, nash)`` gets ``bits`` (group, B) and costs (3, group, B),
    as in :func:`fold_chunks`. O(N W + T) per coalition: prefer :func:`fold_chunks` for
    consecutive bitmasks.
    """
    bits = jnp.asarray(bits)
    if bits.ndim != 2:
        raise ValueError(f"bits must have shape (K, B), got {bits.shape}")
    return _fold_bitmasks(tables, _grouped("bits", bits, group), reduce, init)


@eqx.filter_jit
def _fold_bitmasks(tables, bits, reduce, init):
    n = tables.n_stations
    dtype = tables.features.dtype

    def costs_of(b):
        masks_t = ((b[None, :] >> jnp.arange(n, dtype=b.dtype)[:, None]) & 1).astype(dtype)
        return gemm_group_costs(tables, masks_t)

    return _fold(tables, lambda x: jax.lax.map(lambda b: _packed(costs_of(b)), x), lambda x: x,
                 bits, reduce, init)
