"""Coalition structures (paper 000, Remark 4.4): which partitions of the stations are Nash
stable, and which are in the core of the partition game, in each station's own cost.

Partitions are label arrays (N,) (station i in block ``labels[i]``, any integers in [0, N);
``evjax.charging.structures.restricted_growth_strings`` enumerates them). Every station's
cost at a structure comes from the Gram form of :mod:`evjax.formation.costs` with block
products: with S_ij = 1 when i and j share a block, r_i = rho of i's block
(1/(1 + b s_k), s_k = sum_{j in k} 1/mu_j), Phi = sum_j r_j u_j and phi_k = r_i sum_{j in k} u_j,
so <Phi, phi_k> = r_i (S G r)_i, <phi_k, phi_k> = r_i^2 (S G S)_ii and so on: O(N^3) per
structure, constant b only.

* Nash stable: no station lowers its cost by more than tol by moving to another block of the
  partition or by going alone (the others stay).
* Core (no transfers): no group S of stations blocks, i.e. no S whose members would all lower
  their costs by more than tol if S formed a block and the rest of each block stayed
  together (the structure {S} and {B minus S}). O(2^N) deviations per partition.

The tolerance is ``rtol`` times the largest Nash cost, as everywhere in ``evjax.formation``.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._progress import progress_bar
from ..charging.game import ChargingGame
from ..charging.structures import bell_number, blocks_of, restricted_growth_strings
from .costs import (RTOL, BlockProducts, CostTables, bit_masks, check_rtol, cost_scale,
                    cost_tables, costs_from_products, nash_costs)

MAX_NASH = 10  # Bell(10) = 115,975 partitions, N^2 moves each
MAX_CORE = 9  # Bell(9) = 21,147 partitions, 2^9 groups each


def partition_costs(tab: CostTables, labels) -> jnp.ndarray:
    """Every station's cost (B, N) at each of B structures given as labels (B, N) (trusted)."""
    n = labels.shape[1]
    same = (labels[:, :, None] == labels[:, None, :]).astype(tab.mu.dtype)  # (B, N, N)
    b = tab.b
    r = 1.0 / (1.0 + b * (same @ (1.0 / tab.mu)))  # rho of each station's block
    g, h = tab.gram[:, :n], tab.gram[:, n:].T
    gr = r @ g  # (G r)_i
    sgs = jnp.einsum("bij,jk,bik->bi", same, g, same)  # m_k' G m_k for i's block
    products = BlockProducts(
        rho_k=r, bc=(b / (1.0 + b * (r @ (1.0 / tab.mu))))[:, None],
        phi_a=(r @ tab.g_a)[:, None], phi_u=gr, phi_q=r @ h.T,
        phi_phi=jnp.sum(r * gr, axis=1, keepdims=True),
        k_a=r * (same @ tab.g_a), k_phi=r * jnp.einsum("bij,bj->bi", same, gr),
        k_q=r * jnp.sum(same * h[None], axis=2), k_k=r * r * sgs)
    return costs_from_products(tab, products)


@eqx.filter_jit
def _nash_chunk(tab, labels, tol):
    rows, n = labels.shape
    costs = partition_costs(tab, labels)
    target = jnp.arange(n, dtype=labels.dtype)
    moved = jnp.where(jnp.eye(n, dtype=bool)[None, :, None, :], target[None, None, :, None],
                      labels[:, None, None, :])  # [b, i, k]: station i relabelled k
    dev = partition_costs(tab, moved.reshape(rows * n * n, n)).reshape(rows, n, n, n)
    own = jnp.diagonal(dev, axis1=1, axis2=3)  # (B, k, i): station i's cost after its move
    gain = costs[:, None, :] - own
    stays = target[None, :, None] == labels[:, None, :]  # moving to its own block: no move
    return costs, ~jnp.any((gain > tol) & ~stays, axis=(1, 2))


@eqx.filter_jit
def _core_chunk(tab, labels, tol):
    rows, n = labels.shape
    costs = partition_costs(tab, labels)
    groups = bit_masks(jnp.arange(1, 1 << n, dtype=jnp.int64), n) > 0.5  # (G, N)
    rest = jnp.where(groups[None], -1, labels[:, None, :])  # (B, G, N), S marked -1
    used = jnp.any(rest[..., None] == jnp.arange(n)[None, None, None, :], axis=2)
    fresh = jnp.argmin(used, axis=2)  # a label no remaining block carries
    dev_labels = jnp.where(groups[None], fresh[..., None], rest).astype(labels.dtype)
    g = groups.shape[0]
    dev = partition_costs(tab, dev_labels.reshape(rows * g, n)).reshape(rows, g, n)
    better = dev < costs[:, None, :] - tol
    blocked = jnp.all(better | ~groups[None], axis=2)
    return costs, ~jnp.any(blocked, axis=1)


@dataclasses.dataclass(frozen=True)
class StablePartition:
    """A stable structure: its ``blocks`` (every station in one), each station's ``costs``
    and their ``total``."""

    blocks: list[list[int]]
    costs: np.ndarray
    total: float

    def to_dict(self) -> dict:
        return {"blocks": self.blocks, "total_cost": self.total,
                "costs": self.costs.tolist()}


def stable_partitions(game: ChargingGame, kind: str = "nash", *, rtol=RTOL,
                      chunk: int | None = None, progress: bool | None = None
                      ) -> list[StablePartition]:
    """Every Nash stable (``kind='nash'``, N <= 10) or core (``kind='core'``, N <= 9)
    partition of a scalar-b game, ranked by total cost (cheapest first). ``chunk``
    partitions are evaluated at once (default: about 2^15 deviations a chunk)."""
    if kind not in ("nash", "core"):
        raise ValueError(f"kind must be 'nash' or 'core', got {kind!r}")
    n = game.n_stations
    limit = MAX_NASH if kind == "nash" else MAX_CORE
    if n > limit:
        raise ValueError(f"{kind} stable partitions: N = {n} > {limit} (Bell({n}) = "
                         f"{bell_number(n):,} partitions) is too many")
    rtol = check_rtol(rtol)
    if chunk is None:
        chunk = max(1, (1 << 15) // (n ** 2 if kind == "nash" else 1 << n))
    elif not (isinstance(chunk, int) and chunk >= 1):
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    tab = cost_tables(game)
    tol = rtol * cost_scale(nash_costs(game))
    step = _nash_chunk if kind == "nash" else _core_chunk
    found = []
    with progress_bar(bell_number(n), enabled=progress, desc=f"{kind} partitions",
                      unit="partition") as bar:
        for labels in restricted_growth_strings(n, chunk):
            rows = labels.shape[0]
            padded = np.concatenate([labels, np.zeros((chunk - rows, n), labels.dtype)])
            costs, ok = step(tab, jnp.asarray(padded, jnp.int32), tol)
            costs, ok = np.asarray(costs)[:rows], np.asarray(ok)[:rows]
            found += [StablePartition(blocks_of(labels[s]), costs[s], float(costs[s].sum()))
                      for s in np.flatnonzero(ok)]
            bar.update(rows)
    return sorted(found, key=lambda p: p.total)


__all__ = ["StablePartition", "partition_costs", "stable_partitions"]
