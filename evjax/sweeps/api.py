"""``evjax.sweep``: every single coalition of a game, summarised, resumable, on all devices.

:func:`sweep` is the public boundary: it validates the options, builds the game's coalition
tables once (:func:`evjax.sweeps.plan.sweep_tables`) and passes them, never the game, to the
plan and its pilot, the block runners and the final lists. Its steps: plan
(:func:`evjax.sweeps.plan.make_plan`), runners (one per device or core), the out directory
(:mod:`evjax.sweeps.checkpoint`), the time estimate, the evaluation of every block not yet
done, and the result (:func:`evjax.sweeps.result.finalize`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from .._paths import check_writable
from .._progress import progress_bar
from ..charging.constrained import ConstrainedChargingGame
from ..charging.game import ChargingGame
from ..charging.reduced import CoalitionTables
from .checkpoint import TABLE, Checkpoint, open_checkpoint
from .constrained import sweep_constrained
from .distributed import run_blocks_multiprocess
from .engine import BlockRunner, estimate_seconds, run_blocks
from .pilot import listed_ratios
from .plan import SweepPlan, make_plan, sweep_tables
from .result import SweepResult, finalize
from .summary import empty_summary
from .table import block_rows, check_table, write_part


def sweep(
    game: ChargingGame | ConstrainedChargingGame,
    *,
    sizes: str | Sequence[int] | None = None,
    include: Sequence[int] = (),
    exclude: Sequence[int] = (),
    top_k: int = 10,
    tol=1e-9,  # any value: refused with a ValueError naming it unless finite and >= 0
    bins: int = 60,
    out: str | Path | None = None,
    table: bool = False,
    progress: bool | None = None,
    devices: Sequence | None = None,
    max_hours: float = 24.0,
    checkpoint_seconds: float = 1.0,
    block_size: int | None = None,
    low_bits: int | None = None,
    method: str | None = None,
) -> SweepResult:
    """Evaluate every coalition (the rest alone) and summarise the three Eval-Metric ratios.

    Arguments:
        game: a charging game with scalar b, N <= 62.
        sizes: coalition sizes to keep ("2-5", "3", [2, 4]); default all.
        include / exclude: stations every / no evaluated coalition contains.
        top_k: length of the top and bottom lists per ratio.
        tol: a ratio counts as above 1 when > 1 + tol (below: < 1 - tol); finite, >= 0.
        bins: histogram bins (edges from a deterministic pilot sample, with under/overflow).
        out: directory for a resumable run (``evjax.sweeps.checkpoint``: manifest + state,
            written atomically after each block, the state tied to its manifest by digest);
            rerunning the same call resumes. Refused (``ValueError``) before any block: a
            directory that cannot be written, that another sweep is using (its lock is
            held), that holds another game or options, or whose files are damaged.
        table: also write every coalition's row (members bitmask, size, C-Nash costs,
            ratios) as Parquet under ``out/table/``, one file per block (needs ``out``,
            pyarrow, and at most 26 free stations); read it with
            ``evjax.sweeps.table.read_table``.
        progress: show a progress bar (default: when stderr is a terminal).
        devices: devices to spread blocks over (default ``jax.local_devices()``).
        max_hours: refuse (``ValueError`` with the estimate) sweeps expected to take longer.
        checkpoint_seconds: with ``out``, save the state at most this often (and at the end).
        block_size, low_bits, method: how the enumeration is cut and evaluated; by default
            what suits the devices (``evjax.sweeps.plan.DEFAULTS``): the Gram form
            ("gram": one small matrix product per step, 16K coalitions a step on a CPU, 4M
            on a GPU), or the elementwise O(T) loop ("table"). Both give the same ratios to
            rounding.

    Returns a :class:`SweepResult`. Per coalition the work is O(T) after an O(N T) per-game
    precomputation (``evjax.charging.reduced``, built once per sweep and shared by the plan's
    pilot, every block runner and the final lists); memory is O(block), never O(2^N).

    A :class:`evjax.ConstrainedChargingGame` (x >= 0, rate limits, capacity) takes the slower
    path of :func:`evjax.sweeps.constrained.sweep_constrained`: one Nikaido-Isoda solve per
    coalition, at most 16 free stations, without ``out``, ``table`` or ``devices``.
    """
    if isinstance(game, ConstrainedChargingGame):
        return _constrained(game, out=out, table=table, devices=devices, sizes=sizes,
                            include=include, exclude=exclude, top_k=top_k, tol=tol, bins=bins,
                            progress=progress)
    devices = list(devices) if devices is not None else jax.local_devices()
    if out is not None:  # before any computation (the plan's pilot is one)
        out = check_writable(out, directory=True, name="out")
    tables = sweep_tables(game)
    plan = make_plan(tables, sizes=sizes, include=include, exclude=exclude, top_k=top_k,
                     tol=tol, bins=bins, low_bits=low_bits, block_size=block_size,
                     method=method, platform=devices[0].platform)
    _check_outputs(plan, out, table)
    runners = _runners(tables, plan, devices)
    with contextlib.ExitStack() as stack:
        checkpoint = None
        if out is not None:  # locked from here to the end, checked before any block
            checkpoint = stack.enter_context(open_checkpoint(out, game, plan, table))
        _refuse_long(runners, plan, devices, max_hours)
        if checkpoint is not None:
            checkpoint.begin()
        done, elapsed = _evaluate(runners, plan, checkpoint, table=table, progress=progress,
                                  checkpoint_seconds=checkpoint_seconds)
        result = finalize(done, plan, functools.partial(listed_ratios, tables), elapsed)
        if checkpoint is not None:
            checkpoint.write_result(result.to_dict())
    return result


def _constrained(game: ConstrainedChargingGame, *, out, table, devices, **options):
    """The constrained game's slower path, refusing the options it does not support."""
    unsupported = [k for k, v in (("out", out), ("table", table), ("devices", devices))
                   if v not in (None, False)]
    if unsupported:
        raise ValueError(f"a constrained sweep does not support {', '.join(unsupported)}")
    return sweep_constrained(game, **options)


def _check_outputs(plan: SweepPlan, out: Path | None, table: bool) -> None:
    """Refuse an out directory with several processes, and a table without out or too large."""
    if jax.process_count() > 1 and out is not None:
        raise ValueError(
            "a resumable out directory (and table) is not supported with several processes; "
            "run without out, or in one process"
        )
    if table:
        if out is None:
            raise ValueError("table=True writes Parquet files and needs an out directory")
        check_table(len(plan.free))


def _runners(tables: CoalitionTables, plan: SweepPlan, devices) -> list[BlockRunner]:
    """One block runner per device; a CPU device gets one per core (XLA runs a block on one)."""
    runners = [BlockRunner(tables, plan, d) for d in devices]
    cpu_workers = (os.cpu_count() or 1) // max(1, sum(d.platform == "cpu" for d in devices))
    if cpu_workers > 1:
        runners = [r for r in runners for _ in range(cpu_workers if r.device.platform == "cpu"
                                                     else 1)]
    return runners


def _refuse_long(runners: list[BlockRunner], plan: SweepPlan, devices, max_hours: float) -> None:
    """``ValueError`` with the estimate when the sweep would take longer than ``max_hours``."""
    n_devices = len(devices) * jax.process_count()
    workers = len(runners) * jax.process_count()
    # Timing costs two blocks: only worth it where a sweep could run for long (> 64 blocks).
    seconds = estimate_seconds(runners[0], plan.n_blocks, workers) if plan.n_blocks > 64 else 0.0
    if jax.process_count() > 1:  # one decision for every process
        from jax.experimental import multihost_utils  # only under jax.distributed

        seconds = float(multihost_utils.broadcast_one_to_all(np.float64(seconds)))
    if seconds > max_hours * 3600:
        raise ValueError(
            f"this sweep enumerates 2^{len(plan.free)} = {plan.n_codes:,} coalitions, estimated "
            f"at {seconds / 3600:,.1f} hours on {n_devices} {devices[0].platform} device(s), "
            f"over the limit of {max_hours} h; restrict it with sizes, include or exclude "
            "(each excluded or included station halves the work), or raise max_hours"
        )


def _evaluate(runners: list[BlockRunner], plan: SweepPlan, checkpoint: Checkpoint | None, *,
              table: bool, progress: bool | None, checkpoint_seconds: float):
    """Fold every block not yet in the checkpoint; returns (summary, seconds)."""
    n_blocks = plan.n_blocks
    summary, start = empty_summary(plan.n_stations, len(plan.edges) - 1, plan.top_k), 0
    if checkpoint is not None and checkpoint.initial is not None:
        summary, start = checkpoint.initial, checkpoint.start
    per_block = plan.steps << plan.low_bits
    bar = progress_bar(plan.n_codes, enabled=progress, desc="sweep", unit="coal",
                       unit_scale=True, smoothing=0.1)
    bar.update(start * per_block)
    last_save = [time.perf_counter()]

    def on_block(block, partial):
        if table:
            write_part(checkpoint.out / TABLE, block, block_rows(runners[0], block))
        bar.update(per_block)
        now = time.perf_counter()
        due = now - last_save[0] >= checkpoint_seconds or block == n_blocks - 1
        if checkpoint is not None and due:
            checkpoint.save(partial, block + 1)
            last_save[0] = now

    t0 = time.perf_counter()
    # several processes (jax.distributed): evjax/sweeps/distributed.py
    fold = run_blocks_multiprocess if jax.process_count() > 1 else run_blocks
    done = fold(runners, range(start, n_blocks), on_block=on_block, initial=summary)
    elapsed = time.perf_counter() - t0
    bar.close()
    if checkpoint is not None:
        checkpoint.save(done, n_blocks)
    return done, elapsed


def unbatch(games) -> list[ChargingGame]:
    """A list of games from a sequence of games or one game with a leading batch axis."""
    if isinstance(games, ChargingGame):
        if games.a.ndim == 1:
            return [games]
        n = games.a.shape[0]
        return [jax.tree_util.tree_map(lambda x, i=i: x[i], games) for i in range(n)]
    games = list(games)
    if not all(isinstance(g, ChargingGame) for g in games):
        raise ValueError("games must be ChargingGames or one batched ChargingGame")
    return games


def sweep_batch(games, *, out: str | Path | None = None, **options) -> list[SweepResult]:
    """:func:`sweep` for each of many games (a batch of parameter draws), same options.

    ``games``: a sequence of games, or one game built under ``jax.vmap`` (leading batch axis).
    Games of equal shapes share one compilation. With ``out``, game k uses ``out/game-k``
    (each resumable as in :func:`sweep`). Returns one :class:`SweepResult` per game.
    """
    results = []
    for k, game in enumerate(unbatch(games)):
        sub = None if out is None else Path(out) / f"game-{k:05d}"
        results.append(sweep(game, out=sub, **options))
    return results
