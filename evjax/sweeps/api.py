"""``evjax.sweep``: every single coalition of a game, summarised, resumable, on all devices."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from ..charging.game import ChargingGame
from .engine import (BlockRunner, block_rows, coalition_ratios, estimate_seconds,
                     make_plan, run_blocks)
from .checkpoint import FORMAT as CHECKPOINT_FORMAT
from .checkpoint import TABLE, Checkpoint, game_digest
from .._paths import check_writable
from .result import SweepResult, finalize
from .summary import empty_summary
from .table import check_table, write_part

def _progress(total: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, unit="coal", unit_scale=True, desc="sweep", smoothing=0.1)


def sweep(
    game: ChargingGame,
    *,
    sizes: str | Sequence[int] | None = None,
    include: Sequence[int] = (),
    exclude: Sequence[int] = (),
    top_k: int = 10,
    tol: float = 1e-9,
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
            what suits the devices (``evjax.sweeps.engine.DEFAULTS``): the Gram form
            ("gram": one small matrix product per step, 16K coalitions a step on a CPU, 4M
            on a GPU), or the elementwise O(T) loop ("table"). Both give the same ratios to
            rounding.

    Returns a :class:`SweepResult`. Per coalition the work is O(T) after an O(N T) per-game
    precomputation (``evjax.charging.reduced``); memory is O(block), never O(2^N).

    A :class:`evjax.ConstrainedChargingGame` (x >= 0, rate limits, capacity) takes the slower
    path of :func:`evjax.sweeps.constrained.sweep_constrained`: one Nikaido-Isoda solve per
    coalition, at most 16 free stations, without ``out``, ``table`` or ``devices``.
    """
    from ..charging.constrained import ConstrainedChargingGame

    if isinstance(game, ConstrainedChargingGame):
        from .constrained import sweep_constrained

        unsupported = [k for k, v in (("out", out), ("table", table), ("devices", devices))
                       if v not in (None, False)]
        if unsupported:
            raise ValueError(f"a constrained sweep does not support {', '.join(unsupported)}")
        return sweep_constrained(game, sizes=sizes, include=include, exclude=exclude,
                                 top_k=top_k, tol=tol, bins=bins, progress=progress)
    devices = list(devices) if devices is not None else jax.local_devices()
    if out is not None:  # before any computation (the plan's pilot is one)
        out = check_writable(out, directory=True, name="out")
    plan = make_plan(game, sizes=sizes, include=include, exclude=exclude, top_k=top_k, tol=tol,
                     bins=bins, low_bits=low_bits, block_size=block_size, method=method,
                     platform=devices[0].platform)
    if jax.process_count() > 1 and out is not None:
        raise ValueError(
            "a resumable out directory (and table) is not supported with several processes; "
            "run without out, or in one process"
        )
    if table:
        if out is None:
            raise ValueError("table=True writes Parquet files and needs an out directory")
        check_table(len(plan.free))
    runners = _runners(game, plan, devices)
    with contextlib.ExitStack() as stack:
        checkpoint = None
        if out is not None:  # locked from here to the end, checked before any block
            manifest = {"format": CHECKPOINT_FORMAT, "game": game_digest(game),
                        "plan": plan.to_dict(), "table": bool(table)}
            template = empty_summary(plan.n_stations, len(plan.edges) - 1, plan.top_k)
            checkpoint = stack.enter_context(Checkpoint(out, manifest, template, plan.n_blocks))
        _refuse_long(runners, plan, devices, max_hours)
        if checkpoint is not None:
            checkpoint.begin()
        done, elapsed = _evaluate(runners, plan, checkpoint, table=table, progress=progress,
                                  checkpoint_seconds=checkpoint_seconds)
        result = finalize(done, plan, lambda coalitions: _ratios_of(game, coalitions), elapsed)
        if checkpoint is not None:
            checkpoint.write_result(result.to_dict())
    return result


def _runners(game: ChargingGame, plan, devices) -> list[BlockRunner]:
    """One block runner per device; a CPU device gets one per core (XLA runs a block on one)."""
    runners = [BlockRunner(game, plan, d) for d in devices]
    cpu_workers = (os.cpu_count() or 1) // max(1, sum(d.platform == "cpu" for d in devices))
    if cpu_workers > 1:
        runners = [r for r in runners for _ in range(cpu_workers if r.device.platform == "cpu"
                                                     else 1)]
    return runners


def _refuse_long(runners: list[BlockRunner], plan, devices, max_hours: float) -> None:
    """``ValueError`` with the estimate when the sweep would take longer than ``max_hours``."""
    n_devices = len(devices) * jax.process_count()
    workers = len(runners) * jax.process_count()
    # Timing costs two blocks: only worth it where a sweep could run for long (> 64 blocks).
    seconds = estimate_seconds(runners[0], plan.n_blocks, workers) if plan.n_blocks > 64 else 0.0
    if jax.process_count() > 1:  # one decision for every process
        from jax.experimental import multihost_utils

        seconds = float(multihost_utils.broadcast_one_to_all(np.float64(seconds)))
    if seconds > max_hours * 3600:
        raise ValueError(
            f"this sweep enumerates 2^{len(plan.free)} = {plan.n_codes:,} coalitions, estimated "
            f"at {seconds / 3600:,.1f} hours on {n_devices} {devices[0].platform} device(s), "
            f"over the limit of {max_hours} h; restrict it with sizes, include or exclude "
            "(each excluded or included station halves the work), or raise max_hours"
        )


def _evaluate(runners: list[BlockRunner], plan, checkpoint: Checkpoint | None, *, table: bool,
              progress: bool | None, checkpoint_seconds: float):
    """Fold every block not yet in the checkpoint; returns (summary, seconds)."""
    n_blocks = plan.n_blocks
    summary, start = empty_summary(plan.n_stations, len(plan.edges) - 1, plan.top_k), 0
    if checkpoint is not None and checkpoint.initial is not None:
        summary, start = checkpoint.initial, checkpoint.start
    per_block = plan.steps << plan.low_bits
    bar = _progress(plan.n_codes, progress)
    if bar is not None:
        bar.update(start * per_block)
    last_save = [time.perf_counter()]

    def on_block(block, partial):
        if table:
            write_part(checkpoint.out / TABLE, block, block_rows(runners[0], block))
        if bar is not None:
            bar.update(per_block)
        now = time.perf_counter()
        due = now - last_save[0] >= checkpoint_seconds or block == n_blocks - 1
        if checkpoint is not None and due:
            checkpoint.save(partial, block + 1)
            last_save[0] = now

    t0 = time.perf_counter()
    # -- several processes (jax.distributed): evjax/sweeps/distributed.py -----------------
    if jax.process_count() > 1:
        from .distributed import run_blocks_multiprocess

        done = run_blocks_multiprocess(runners, range(start, n_blocks), on_block=on_block,
                                       initial=summary, out=None)
    else:
        done = run_blocks(runners, range(start, n_blocks), on_block=on_block, initial=summary)
    # -- end several processes -------------------------------------------------------------
    elapsed = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    if checkpoint is not None:
        checkpoint.save(done, n_blocks)
    return done, elapsed


def _ratios_of(game: ChargingGame, coalitions) -> np.ndarray:
    """(K, 3) ratios of the listed coalitions, in one call of a few padded shapes."""
    k = len(coalitions)
    masks = np.zeros((-(-k // 64) * 64, game.n_stations))  # a few shapes: few compilations
    for row, members in enumerate(coalitions):
        masks[row, members] = 1.0
    return np.asarray(coalition_ratios(game, masks))[:k]


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
