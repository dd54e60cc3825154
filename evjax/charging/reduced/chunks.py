"""Chunks of 2^L consecutive coalitions, evaluated with either table form.

Chunk ``high`` holds the bitmasks ``(high << L) | codes[j]``, j < J = 2^L.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .gram import GramTable, gram_group_costs
from .subsets import SubsetTable, _chunk_group_costs, high_sums
from .tables import CoalitionTables, stack_costs


def chunk_bits(table: SubsetTable | GramTable, highs: Int[ArrayLike, "*G"]) -> Int[Array, "*G J"]:
    """The bitmasks (high << L) | codes[j] of the chunks ``highs``: shape highs.shape + (2^L,)."""
    highs = jnp.asarray(highs)
    return (highs[..., None] << table.low_bits) | table.codes.astype(highs.dtype)


def chunk_costs(
    tables: CoalitionTables, table: SubsetTable | GramTable, high: Int[ArrayLike, ""]
) -> tuple[Float[Array, "J 3"], Float[Array, "J 3"]]:
    """(C-Nash, Nash) group costs (2^L, 3) of the 2^L coalitions of the chunk ``high``.

    ``table`` is ``subset_table(tables, L)`` or ``gram_table(tables, L)``; ``high`` an
    integer (traced ok). Row j is the bitmask ``(high << L) | table.codes[j]``
    (:func:`chunk_bits`); columns (all, coalition, outside). The empty coalition (bitmask 0)
    follows the package's conventions.
    """
    return _chunk_costs(tables, table, jnp.asarray(high))


@eqx.filter_jit
def _chunk_costs(tables, table, high):
    if isinstance(table, GramTable):
        hs = high_sums(tables, high, table.low_bits)[None]
        return stack_costs(tables, *(v[0] for v in gram_group_costs(tables, table, hs)), axis=1)
    return stack_costs(tables, *_chunk_group_costs(tables, table, high), axis=1)
