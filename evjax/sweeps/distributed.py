"""Sweeps on several devices and several processes or hosts (``jax.distributed``).

A sweep is a sequence of blocks whose partial summaries are folded in block order
(:func:`evjax.sweeps.engine.run_blocks`). Here the blocks are dealt out and the partials
gathered back; folding them in the same global order gives the same result, bit for bit:

* several local devices: one worker thread per device (``BlockRunner`` calls block until
  their result is ready, so one thread could keep only one device busy at a time);
* several processes: process p evaluates the blocks b with ``b % P == p`` on its local
  devices; after every round of ``round_blocks`` blocks per process, all processes exchange
  their per-block partials (``jax.experimental.multihost_utils.process_allgather``, one
  collective of raw bytes per round) and each folds all of the round's partials in block
  order. Every process returns the same summary as a one-process run of the same sweep.

All processes must make the same call (same game, options and blocks); that is checked
before any block is evaluated. ``docs/cluster.md`` describes how to launch a sweep this way.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import jax
import numpy as np

from .summary import Summary, empty_summary, merge_fields, to_numpy

_NO_BLOCK = -1


def process_blocks(blocks: Sequence[int], process_index: int, process_count: int) -> list[int]:
    """The blocks of ``blocks`` that process ``process_index`` evaluates (b % P == index)."""
    return [b for b in blocks if b % process_count == process_index]


def evaluate_blocks(runners, blocks: Sequence[int], ahead: int | None = None) -> Iterator:
    """Yield ``(block, partial fields as numpy)`` for ``blocks`` in the given order.

    Block i of the list goes to runner ``i % len(runners)``; each runner has its own worker
    thread (XLA releases the GIL while it computes), so all devices work at once. At most
    ``ahead`` blocks (default 4 per runner) are in flight, so memory stays O(ahead).
    """
    blocks = list(blocks)
    width = len(runners)
    ahead = max(width, ahead if ahead is not None else 4 * width)
    pools = [ThreadPoolExecutor(1, thread_name_prefix=f"evjax-device-{i}") for i in range(width)]

    def task(runner, block):
        fields = to_numpy(runner(block))
        runner.tighten(Summary(**fields))  # the runner's next block starts from here (speed)
        return fields

    pending: deque[tuple[int, Future]] = deque()
    try:
        for i, block in enumerate(blocks):
            pending.append((block, pools[i % width].submit(task, runners[i % width], block)))
            if len(pending) >= ahead:
                b, fut = pending.popleft()
                yield b, fut.result()
        while pending:
            b, fut = pending.popleft()
            yield b, fut.result()
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _layout(template: dict[str, np.ndarray]) -> list[tuple[str, tuple, np.dtype, int]]:
    return [(k, v.shape, v.dtype, v.nbytes) for k, v in template.items()]


def _pack(block: int, fields: dict[str, np.ndarray] | None, layout) -> np.ndarray:
    """One block's partial as raw bytes: int64 block index, then every field in order."""
    parts = [np.asarray([block], np.int64).view(np.uint8)]
    for name, shape, dtype, nbytes in layout:
        if fields is None:
            parts.append(np.zeros(nbytes, np.uint8))
        else:
            value = np.ascontiguousarray(fields[name], dtype=dtype).reshape(shape)
            parts.append(value.reshape(-1).view(np.uint8))
    return np.concatenate(parts)


def _unpack(row: np.ndarray, layout) -> tuple[int, dict[str, np.ndarray]]:
    block = int(row[:8].view(np.int64)[0])
    fields, at = {}, 8
    for name, shape, dtype, nbytes in layout:
        fields[name] = row[at : at + nbytes].copy().view(dtype).reshape(shape)
        at += nbytes
    return block, fields


def _fingerprint(runners, blocks: list[int], initial: dict[str, np.ndarray]) -> np.ndarray:
    """A digest of what this process is about to sweep (plan, blocks, data, start state)."""
    h = hashlib.sha256()
    h.update(json.dumps(runners[0].plan.to_dict(), sort_keys=True).encode())
    h.update(np.asarray(blocks, np.int64).tobytes())
    for leaf in jax.tree_util.tree_leaves(getattr(runners[0], "args", ())):
        h.update(np.asarray(leaf).tobytes())
    for name in sorted(initial):
        h.update(np.ascontiguousarray(initial[name]).tobytes())
    return np.frombuffer(h.digest(), np.uint8)


def _allgather(x: np.ndarray) -> np.ndarray:
    """(P, ...) stack of ``x`` from every process (identity with one process)."""
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=False))


def run_blocks_multiprocess(
    runners,
    blocks: Sequence[int],
    on_block: Callable[[int, Summary], None] | None = None,
    initial: Summary | None = None,
    *,
    round_blocks: int | None = None,
    out=None,
) -> Summary:
    """:func:`evjax.sweeps.engine.run_blocks` across all processes of ``jax.distributed``.

    Every process calls this with the same ``blocks`` and ``initial`` (the same sweep); each
    evaluates its share (b % P == ``jax.process_index()``) on ``runners`` (its local
    devices), the partials are exchanged after every round of ``round_blocks`` blocks per
    process (default 8 per local runner, agreed across processes) and folded onto
    ``initial`` in block order; ``on_block(block, total)`` is called for every block, in order,
    in every process. Returns the folded summary, identical in every process and to a
    one-process run.

    ``out`` (a resumable run) is refused with a ``ValueError``: the checkpoint files of
    ``evjax.sweep`` are written by every process, which clash on a shared file system.
    Raises ``ValueError`` when the processes are not running the same sweep.
    """
    if out is not None:
        raise ValueError(
            f"out={str(out)!r}: resumable sweeps (out, table) are not supported with several "
            f"processes ({jax.process_count()} under jax.distributed); run without out, or "
            "split the sweep with include/exclude into single-process runs"
        )
    plan = runners[0].plan
    total = initial if initial is not None else empty_summary(
        plan.n_stations, len(plan.edges) - 1, plan.top_k)
    total = Summary(**to_numpy(total))
    blocks = [int(b) for b in blocks]
    n_proc, me = jax.process_count(), jax.process_index()
    template = to_numpy(total)
    layout = _layout(template)

    # Everyone must sweep the same thing: compare digests and agree on the round size.
    per_round = int(round_blocks) if round_blocks is not None else 8 * len(runners)
    if per_round < 1:
        raise ValueError(f"round_blocks must be >= 1, got {round_blocks}")
    header = np.concatenate([_fingerprint(runners, blocks, template),
                             np.asarray([per_round], np.int64).view(np.uint8)])
    every = _allgather(header)
    differ = [p for p in range(n_proc) if not np.array_equal(every[p][:32], every[0][:32])]
    if differ:
        raise ValueError(
            f"processes {differ} run a different sweep from process 0 (game, options or "
            "starting state differ): every process must run the same command on the same game"
        )
    per_round = int(every[:, 32:].copy().view(np.int64).max())

    mine = process_blocks(blocks, me, n_proc)
    n_rounds = max(-(-len(process_blocks(blocks, p, n_proc)) // per_round) for p in range(n_proc))
    order, parts = deque(blocks), {}
    results = evaluate_blocks(runners, mine, ahead=2 * per_round)  # the next round computes
    try:  # while this one is exchanged
        for r in range(n_rounds):
            own = mine[r * per_round : (r + 1) * per_round]
            rows = [_pack(b, fields, layout) for b, fields in (next(results) for _ in own)]
            rows += [_pack(_NO_BLOCK, None, layout)] * (per_round - len(rows))
            gathered = _allgather(np.stack(rows))  # (P, per_round, bytes)
            for row in gathered.reshape(-1, gathered.shape[-1]):
                b, fields = _unpack(row, layout)
                if b != _NO_BLOCK:
                    parts[b] = fields
            while order and order[0] in parts:  # fold every block now complete, in order
                b = order.popleft()
                total = merge_fields(total, parts.pop(b))
                if on_block is not None:
                    on_block(b, total)
            for runner in runners:  # later blocks start their lists here (speed only)
                runner.tighten(total)
    finally:
        results.close()
    assert not order and not parts, "every block is folded exactly once"
    return total
