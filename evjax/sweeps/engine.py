"""The sweep engine: blocks of a plan evaluated as compiled calls, folded in block order.

A plan (:mod:`evjax.sweeps.plan`) cuts the enumeration into blocks of ``steps * 2^L``
consecutive codes. Each block runs as one compiled call that folds chunks of 2^L coalitions
(:func:`evjax.sweeps.folds.fold_chunks`) into a :class:`Summary`: O(T) work per coalition
(``../shared/design/fast-sweeps.md`` section 2), memory O(2^L), never O(2^N). Blocks are
folded in order, so a resumed or sharded sweep reproduces an uninterrupted one exactly. The
engine takes the game's coalition tables, built once per sweep, never the game.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._runtime import REPRODUCIBLE_JIT
from .._validation import require_float64
from ..charging.ratios import ratios_from_costs
from ..charging.reduced import CoalitionTables, gram_table, subset_table
from .distributed import evaluate_blocks
from .folds import fold_chunks
from .plan import SweepPlan
from .reduce import fold_groups, popcount_order
from .summary import Summary, bound_lists, empty_summary, merge_fields, to_numpy
from .tally import empty_tally, settle, tally_groups


def _restricted_tables(tables: CoalitionTables, plan: SweepPlan):
    """Tables over the free stations and the constant sums of the fixed ones."""
    o = tables.width_in
    f = tables.features
    offset = jnp.concatenate([
        jnp.sum(f[list(plan.include), :o], axis=0) if plan.include else jnp.zeros(o, f.dtype),
        jnp.sum(f[list(plan.exclude), o:], axis=0) if plan.exclude else
        jnp.zeros(f.shape[1] - o, f.dtype),
    ])
    free_tables = CoalitionTables(
        features=f[list(plan.free), :], a_centered=tables.a_centered, b=tables.b,
        base_price=tables.base_price, nash_total=tables.nash_total,
        n_stations=len(plan.free), n_steps=tables.n_steps,
    )
    return free_tables, offset


@eqx.filter_jit(**REPRODUCIBLE_JIT)
def _block(free_tables, table, edges, bounds, first_high, static: SweepPlan):
    """Fold ``steps`` chunks of 2^L coalitions, from high index ``first_high``, into a Summary.

    The costs come from :func:`evjax.sweeps.folds.fold_chunks`, which evaluates a group of
    chunks before handing them to the reduction, so XLA never recomputes the O(T) cost loop
    inside each statistic that reads it.
    """
    size_ok = jnp.zeros(static.n_stations + 1, bool).at[jnp.asarray(static.sizes)].set(True)
    n_include = len(static.include)

    def base_of(bits):
        # Column 0 of every chunk is the empty low subset: bits[:, 0] is the chunk's high part.
        return jax.lax.population_count(bits[:, 0]).astype(jnp.int32) + n_include

    init = empty_summary(static.n_stations, edges.shape[0] - 1, static.top_k)
    init = bound_lists(init, bounds[0], bounds[1])
    highs = first_high + jnp.arange(static.steps, dtype=jnp.int64)
    if static.fold == "slices":
        def reduce(summary, bits, cnash, nash):
            return fold_groups(summary, bits, ratios_from_costs(cnash, nash), base_of(bits),
                               size_ok, edges=edges, tol=static.tol, replicas=static.replicas)

        return fold_chunks(free_tables, table, highs, reduce, init, group=static.group)

    def tally(carry, bits, cnash, nash):
        return tally_groups(*carry, bits, ratios_from_costs(cnash, nash), base_of(bits),
                            size_ok, edges=edges, tol=static.tol)

    carry = (init, empty_tally(static.n_stations, static.low_bits))
    return settle(*fold_chunks(free_tables, table, highs, tally, carry, group=static.group),
                  size_ok)


@eqx.filter_jit(**REPRODUCIBLE_JIT)
def _runner_tables(tables: CoalitionTables, static: SweepPlan):
    """The free stations' tables and the subset table of a plan (``static``: without edges)."""
    free_tables, offset = _restricted_tables(tables, static)
    # Columns sorted by size, which fold_groups needs; the Gram form where the plan says.
    build = gram_table if static.method == "gram" else subset_table
    table = build(free_tables, static.low_bits, order=popcount_order(static.low_bits),
                  offset=offset)
    return free_tables, table



class BlockRunner:
    """Evaluates blocks of a plan on one device (compiled once per plan shape).

    ``tables``: the game's :func:`evjax.sweeps.plan.sweep_tables`, shared by every runner.
    """

    def __init__(self, tables: CoalitionTables, plan: SweepPlan, device=None):
        require_float64("a sweep (float64 costs, int64 bitmasks)")
        self.static = dataclasses.replace(plan, edges=(), bounds=())
        if device is not None:
            tables = jax.device_put(tables, device)
        free_tables, table = _runner_tables(tables, self.static)
        dtype = free_tables.features.dtype
        edges = jnp.asarray(plan.edges, dtype)
        args = (free_tables, table, edges)
        self.args = jax.device_put(args, device) if device is not None else args
        self.plan = plan
        self.device = device
        floors = [-np.inf if b is None else b for b in plan.bounds[:3]] or [-np.inf] * 3
        ceilings = [np.inf if b is None else b for b in plan.bounds[3:]] or [np.inf] * 3
        self.bounds = np.asarray([floors, ceilings], dtype)

    def tighten(self, summary: Summary) -> None:
        """Start later blocks' top (bottom) lists at the k-th entries of ``summary``'s.

        ``summary`` folds some of the sweep's blocks, so its k-th largest ratio is a bound
        that the whole sweep's k-th reaches: blocks then skip every group of chunks with
        nothing beyond it (see ``_pilot_bounds``). Results do not depend on it, only speed.
        """
        top = np.asarray(summary.top_value)[:, -1]  # whole arrays: no device op per block
        bottom = np.asarray(summary.bottom_value)[:, -1]
        self.bounds = np.stack([np.maximum(self.bounds[0], top),
                                np.minimum(self.bounds[1], bottom)])

    def __call__(self, block: int) -> Summary:
        first = np.asarray(block * self.plan.steps, np.int64)  # numpy: no dispatch per call
        bounds = self.bounds
        if self.device is not None:
            first, bounds = jax.device_put((first, bounds), self.device)
        return _block(*self.args, bounds, first, self.static)


def run_blocks(
    runners: list[BlockRunner], blocks: Sequence[int], on_block=None, initial=None
) -> Summary:
    """Fold the given blocks in order onto ``initial``; all runners (devices) work at once.

    Blocks go round-robin to the runners, each on its own worker thread
    (:func:`evjax.sweeps.distributed.evaluate_blocks`); partials are folded on the host (numpy)
    in block order, so the result does not depend on the number of devices.
    """
    plan = runners[0].plan
    total = initial if initial is not None else empty_summary(
        plan.n_stations, len(plan.edges) - 1, plan.top_k)
    total = Summary(**to_numpy(total))
    for runner in runners:
        runner.tighten(total)
    for b, fields in evaluate_blocks(runners, blocks):
        total = merge_fields(total, fields)
        for runner in runners:
            runner.tighten(total)
        if on_block is not None:
            on_block(b, total)
    return total


def estimate_seconds(runner: BlockRunner, n_blocks: int, n_devices: int) -> float:
    """Time one block after compilation and extrapolate to the whole plan."""
    jax.block_until_ready(runner(0))
    t0 = time.perf_counter()
    jax.block_until_ready(runner(0))
    return (time.perf_counter() - t0) * n_blocks / max(n_devices, 1)
