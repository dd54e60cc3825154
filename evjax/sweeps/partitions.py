"""The sweep over every coalition structure of a small game: all Bell(N) set partitions.

Partitions are enumerated as restricted-growth strings and costed in O(N^2) each
(:mod:`evjax.charging.structures`), chunk by chunk on the device, reduced to two counts and two
top-k rankings (:func:`evjax.sweeps.topk.merge_top`); :class:`PartitionSweep` reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..charging.game import ChargingGame
from ..charging.structures import (
    PartitionTables,
    bell_number,
    block_costs,
    blocks_of,
    partition_tables,
    restricted_growth_strings,
    row_sum,
)
from .topk import merge_top


@eqx.filter_jit
def _fold_chunk(tables, labels, start, n_valid, tol, carry, k: int):
    """Reduce one chunk of label arrays (B, N) into the running counts and top-k lists."""
    cost, nash, bits = block_costs(tables, labels)
    rows = jnp.arange(labels.shape[0], dtype=jnp.int32)
    valid = rows < n_valid
    nonempty, coalition = bits > 0, (bits & (bits - 1)) > 0  # >= 1 and >= 2 members
    # M_B = Nash / C-Nash cost of every block that has members, negative costs included (not
    # ratios_from_costs, whose rule maps a cost <= 0 to NaN); NaN for labels no station carries.
    ratio = jnp.where(nonempty, nash / jnp.where(nonempty, cost, 1.0), jnp.nan)
    losing = ~(ratio > 1.0 + tol)  # NaN (a zero cost) counts as not gaining
    total = row_sum(cost)
    is_nash = labels[:, -1] == tables.n_stations - 1  # N blocks: every station alone
    worst = jnp.min(jnp.where(nonempty, ratio, jnp.inf), axis=1)
    n_coalitions = row_sum(coalition.astype(cost.dtype))
    coalitions_gain = (n_coalitions > 0) & (row_sum((coalition & losing).astype(cost.dtype)) == 0)
    players_gain = ~is_nash & (row_sum((nonempty & losing).astype(cost.dtype)) == 0)
    counts = carry["counts"] + jnp.stack(
        [jnp.sum(coalitions_gain & valid), jnp.sum(players_gain & valid)]
    ).astype(carry["counts"].dtype)
    index = start + rows
    by_total = merge_top(carry["by_total"], jnp.where(valid, -total, -jnp.inf), index, labels, k)
    by_worst = merge_top(
        carry["by_worst"], jnp.where(valid & ~is_nash, worst, -jnp.inf), index, labels, k
    )
    return {"counts": counts, "by_total": by_total, "by_worst": by_worst}, (total, ratio)


@dataclass(frozen=True)
class Structure:
    """One coalition structure: its blocks (every station in one), costs and ratios.

    ``blocks`` are ordered by smallest member; blocks of size >= 2 are the coalitions, singletons
    act alone. ``total`` is c_[N] at the structure's equilibrium, ``ratio`` M_[N] = Nash total /
    ``total``, ``block_ratios[k]`` = M_{B_k} = c_{B_k}(x*) / c_{B_k}(x^dagger) (Eval-Metric).
    """

    blocks: tuple[tuple[int, ...], ...]
    total: float
    ratio: float
    block_ratios: tuple[float, ...]

    @property
    def coalitions(self) -> tuple[tuple[int, ...], ...]:
        return tuple(blk for blk in self.blocks if len(blk) >= 2)

    @property
    def worst_ratio(self) -> float:
        """min_k M_{B_k}: above 1 when every player (coalition or single station) gains."""
        return min(self.block_ratios)

    def to_dict(self) -> dict:
        return {
            "blocks": [list(blk) for blk in self.blocks],
            "total": self.total,
            "ratio": self.ratio,
            "block_ratios": list(self.block_ratios),
            "worst_ratio": self.worst_ratio,
        }


@dataclass(frozen=True)
class PartitionSweep:
    """What :func:`partitions` found over all Bell(N) coalition structures.

    * ``n_structures``: structures evaluated (Bell(N)); ``nash_total``: c_[N](x*).
    * ``nash``, ``grand``: the all-singletons and grand-coalition structures, for reference.
    * ``best_total``: the ``top_k`` structures of lowest total cost c_[N] (highest M_[N]).
    * ``best_worst_ratio``: the ``top_k`` structures other than Nash with the highest worst
      block ratio min_k M_{B_k} (the structures whose worst-off player fares best).
    * ``n_coalitions_gain``: structures with at least one coalition in which every coalition
      (block of size >= 2) has M > 1 + tol; ``n_players_gain``: structures other than Nash in
      which every block, singletons included, has M > 1 + tol (everyone pays less than at Nash).
    * ``labels`` (S, N) int8, ``totals`` (S,), ``block_ratios`` (S, N) (NaN for labels no
      station carries): every structure, in enumeration order, only with ``tables=True``.

    Ties keep enumeration order (lexicographic in the label arrays).
    """

    n_stations: int
    n_structures: int
    nash_total: float
    nash: Structure
    grand: Structure
    best_total: tuple[Structure, ...]
    best_worst_ratio: tuple[Structure, ...]
    n_coalitions_gain: int
    n_players_gain: int
    tol: float
    labels: np.ndarray | None = None
    totals: np.ndarray | None = None
    block_ratios: np.ndarray | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict of the summary (the per-structure tables are left out)."""
        return {
            "n_stations": self.n_stations,
            "n_structures": self.n_structures,
            "nash_total": self.nash_total,
            "nash": self.nash.to_dict(),
            "grand": self.grand.to_dict(),
            "best_total": [s.to_dict() for s in self.best_total],
            "best_worst_ratio": [s.to_dict() for s in self.best_worst_ratio],
            "n_coalitions_gain": self.n_coalitions_gain,
            "n_players_gain": self.n_players_gain,
            "tol": self.tol,
        }


def _structures(labels: np.ndarray, totals, ratios, nash_total: float) -> list[Structure]:
    """:class:`Structure` records from label arrays (R, N), totals (R,), block ratios (R, N)."""
    out = []
    for row, total, ratio in zip(labels, np.asarray(totals), np.asarray(ratios)):
        out.append(
            Structure(
                blocks=tuple(tuple(blk) for blk in blocks_of(row)),
                total=float(total),
                ratio=nash_total / float(total),
                block_ratios=tuple(float(v) for v in ratio[: int(row.max()) + 1]),
            )
        )
    return out


def _chunks(labels_iter, chunk: int):
    """(padded labels (chunk, N), valid rows) per chunk; padding repeats the first row."""
    for labels in labels_iter:
        rows = labels.shape[0]
        if rows < chunk:  # the padded rows are masked out of every reduction
            labels = np.concatenate([labels, np.repeat(labels[:1], chunk - rows, axis=0)])
        yield labels, rows


def partitions(
    game: ChargingGame,
    *,
    top_k=10,
    tol=1e-9,
    chunk=1 << 14,
    tables: bool = False,
) -> PartitionSweep:
    """Evaluate every coalition structure (set partition) of a game with N <= 12 stations.

    Each of the Bell(N) partitions is the structure whose coalitions are its blocks of size >= 2
    (Remark 4.4); its equilibrium is Theorem 4.1's with the block-diagonal C. Per structure:
    the total cost c_[N] (eq (5)), M_[N] and each block's ratio M_B (Eval-Metric), computed in
    O(N^2) work (:mod:`evjax.charging.structures`) and reduced on the device chunk by chunk.

    Arguments (``top_k``, ``tol`` and ``chunk`` are left unannotated: any other value is
    refused with a ``ValueError`` naming it, not a type-check error):
        game: a single game with scalar b (time-varying b raises ``ValueError``).
        top_k: how many structures the two rankings keep (>= 1).
        tol: a group *gains* when its ratio M > 1 + tol (for the two counts).
        chunk: structures per compiled call (memory O(chunk N)).
        tables: also return every structure's labels, total and block ratios (for N = 12
            about 500 MB).

    Returns a :class:`PartitionSweep`. ``ValueError`` for N > 12 (Bell(13) = 27,644,437).
    """
    _check_options(top_k, tol, chunk)
    pt = partition_tables(game)
    n = pt.n_stations
    n_total = bell_number(n)
    chunk = min(chunk, n_total)
    k = min(top_k, n_total)
    fold = _Fold(pt, tol, k)
    carry = fold.init
    kept: list[tuple[np.ndarray, jax.Array, jax.Array]] = []
    start = 0
    for labels, rows in _chunks(restricted_growth_strings(n, chunk), chunk):
        carry, (total, ratio) = fold(carry, labels, start, rows)
        if tables:
            kept.append((labels[:rows], total[:rows], ratio[:rows]))
        start += rows
    if start != n_total:  # the enumeration is the contract; never report a partial sweep
        raise RuntimeError(f"enumerated {start} structures, expected Bell({n}) = {n_total}")
    out = _report(fold, carry, chunk, n_structures=start)
    if tables:
        out["labels"] = np.concatenate([lab for lab, _, _ in kept])
        out["totals"] = np.concatenate([np.asarray(tot) for _, tot, _ in kept])
        out["block_ratios"] = np.concatenate([np.asarray(rat) for _, _, rat in kept])
    return PartitionSweep(**out)


def _check_options(top_k, tol, chunk) -> None:
    """``ValueError`` naming a bad ``top_k``, ``tol`` or ``chunk`` of :func:`partitions`."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")


class _Fold:
    """One chunk of label arrays folded into the counts and rankings (:func:`_fold_chunk`)."""

    def __init__(self, tables: PartitionTables, tol: float | int, k: int):
        self.tables, self.k, self.tol = tables, k, tol
        dtype, n = tables.subsets.dtype, tables.n_stations

        def empty():
            return (jnp.full((k,), -jnp.inf, dtype), jnp.zeros((k,), jnp.int32),
                    jnp.zeros((k, n), jnp.int8))

        self.init = {"counts": jnp.zeros(2, jnp.int32), "by_total": empty(), "by_worst": empty()}

    def __call__(self, carry, labels, start, rows):
        dtype = self.tables.subsets.dtype
        return _fold_chunk(self.tables, jnp.asarray(labels), jnp.int32(start), jnp.int32(rows),
                           jnp.asarray(self.tol, dtype), carry, self.k)


def _report(fold: _Fold, carry, chunk: int, *, n_structures: int) -> dict:
    """The fields of a :class:`PartitionSweep` (without its tables) from the final ``carry``.

    Nash, the grand coalition and both rankings are re-evaluated through the same compiled
    chunk function, so the reported numbers are those the rankings compared.
    """
    n, k = fold.tables.n_stations, fold.k
    keys = [np.asarray(carry[name][0]) for name in ("by_total", "by_worst")]
    reported = np.concatenate(
        [np.stack([np.arange(n), np.zeros(n)]).astype(np.int8)]
        + [np.asarray(carry[name][2]) for name in ("by_total", "by_worst")]
    )
    pieces = [reported[i : i + chunk] for i in range(0, len(reported), chunk)]
    evaluated = [fold(fold.init, labels, 0, rows)[1] for labels, rows in _chunks(pieces, chunk)]
    totals = np.concatenate([np.asarray(tot) for tot, _ in evaluated])[: len(reported)]
    ratios = np.concatenate([np.asarray(rat) for _, rat in evaluated])[: len(reported)]
    nash_total = float(fold.tables.nash_total)
    nash, grand, *ranked = _structures(reported, totals, ratios, nash_total)
    by_total = [s for s, key in zip(ranked[:k], keys[0]) if np.isfinite(key)]
    by_worst = [s for s, key in zip(ranked[k:], keys[1]) if np.isfinite(key)]
    counts = np.asarray(carry["counts"])
    return dict(
        n_stations=n,
        n_structures=n_structures,
        nash_total=nash_total,
        nash=nash,
        grand=grand,
        best_total=tuple(by_total),
        best_worst_ratio=tuple(by_worst),
        n_coalitions_gain=int(counts[0]),
        n_players_gain=int(counts[1]),
        tol=float(fold.tol),
    )
