"""Sweeps over every single coalition of a game: chunked, jitted, reduced on the device.

The subsets of the *free* stations (all but ``include`` and ``exclude``) are enumerated as
integers ``c`` (bit p of c: the p-th free station is in the coalition), in blocks of
``steps * 2^L`` consecutive codes. Each block runs as one compiled call that folds
:func:`evjax.charging.reduced` chunks of 2^L coalitions into a :class:`Summary`: O(T) work per
coalition (``../shared/design/fast-sweeps.md`` section 2), memory O(2^L), never O(2^N). Blocks
are folded in order, so a resumed or sharded sweep reproduces an uninterrupted one exactly.
How chunks are evaluated and reduced depends on the device (:data:`DEFAULTS`); the plan
records it, so a resumed sweep must use the same.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._runtime import REPRODUCIBLE_JIT
from .._validation import require_float64
from ..charging.coalitions import coalition_lists
from ..charging.game import ChargingGame
from ..charging.reduced import (
    CoalitionTables,
    chunk_bits,
    chunk_costs,
    coalition_costs,
    coalition_tables,
    fold_chunks,
    gram_table,
    ratios_from_costs,
    subset_table,
)
from .summary import (
    Summary,
    bound_lists,
    empty_summary,
    empty_tally,
    fold_groups,
    merge_fields,
    popcount_order,
    settle,
    tally_groups,
    to_numpy,
)

MAX_STATIONS = 62  # coalition codes are int64 bitmasks


# Split an enumeration into at least this many blocks where it can. Blocks evaluated at the
# same time start their top-k lists at the same bounds (BlockRunner.tighten), and re-sorting
# a list is the slow part of a group where it happens: 16 blocks made a full N = 20 sweep on
# a CPU 1.4x slower than 4 (0.111 s vs 0.079 s, before the bounds).
MIN_BLOCKS = 4

# How each kind of device evaluates chunks (method, low bits, coalitions per block, chunks per
# step, how per-size statistics are reduced, histogram replicas). Both use the Gram form (one
# small matrix product per step, then O(1) per coalition). CPU: 8 chunks of 2048 per step
# (16K coalitions: fewer steps, each still cache-sized), per-size statistics tallied onto rows
# (summary.tally_groups; slice reductions are several times slower there); 1.5x the
# elementwise "table" loop at N = 30. GPU: 256 chunks of 16384 (4M coalitions per step),
# slice reductions (summary.fold_groups), the histogram spread over 1024 copies of its bins.
DEFAULTS = {
    "cpu": dict(method="gram", low_bits=11, block_size=1 << 20, group=8, fold="rows",
                replicas=1),
    "gpu": dict(method="gram", low_bits=14, block_size=1 << 26, group=256, fold="slices",
                replicas=1024),
}
METHODS = ("table", "gram")


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep enumerates: the free stations, the fixed members, sizes, chunking."""

    n_stations: int
    free: tuple[int, ...]
    include: tuple[int, ...]
    exclude: tuple[int, ...]
    sizes: tuple[int, ...]
    low_bits: int
    steps: int
    edges: tuple[float, ...] = field(repr=False)
    top_k: int = 10
    tol: float = 1e-9
    method: str = "table"
    group: int = 8
    fold: str = "rows"
    replicas: int = 1
    bounds: tuple = field(default=(), repr=False)

    @property
    def n_codes(self) -> int:
        return 1 << len(self.free)

    @property
    def n_blocks(self) -> int:
        return max(1, (self.n_codes >> self.low_bits) // self.steps)

    @property
    def n_coalitions(self) -> int:
        """How many coalitions the restriction admits (the empty one excluded)."""
        k = len(self.include)
        return sum(math.comb(len(self.free), s - k) for s in self.sizes if s >= k)

    def to_dict(self) -> dict:
        return {
            "n_stations": self.n_stations, "free": list(self.free),
            "include": list(self.include), "exclude": list(self.exclude),
            "sizes": list(self.sizes), "low_bits": self.low_bits, "steps": self.steps,
            "edges": list(self.edges), "top_k": self.top_k, "tol": self.tol,
            "method": self.method, "group": self.group, "fold": self.fold,
            "replicas": self.replicas, "bounds": list(self.bounds),
        }

    def members(self, code: int) -> list[int]:
        """The stations of the coalition with compact code ``code``."""
        return sorted(list(self.include) + [f for p, f in enumerate(self.free) if code >> p & 1])


def parse_sizes(text: str | Sequence[int] | None, n: int) -> tuple[int, ...]:
    """Sizes from "2-5", "3", "2,4,6" or a sequence; all of 1..N when None."""
    if text is None:
        return tuple(range(1, n + 1))
    if isinstance(text, str):
        out: set[int] = set()
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            try:
                lo_i, hi_i = int(lo), int(hi or lo)
            except ValueError:
                raise ValueError(f"sizes must look like 2-5 or 2,3,4; got {text!r}") from None
            out.update(range(lo_i, hi_i + 1))
        sizes = sorted(out)
    else:
        sizes = sorted(set(int(s) for s in text))
    if not sizes or sizes[0] < 1 or sizes[-1] > n:
        raise ValueError(f"sizes must lie in 1..{n}, got {text!r}")
    return tuple(sizes)


def _tolerance(tol) -> float:
    """``tol`` as a float, refused unless finite and >= 0 (NaN would count every ratio)."""
    try:
        value = float(tol)
    except (TypeError, ValueError):
        raise ValueError(f"tol must be a number >= 0, got {tol!r}") from None
    if isinstance(tol, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    return value


def make_plan(
    game: ChargingGame,
    *,
    sizes=None,
    include: Sequence[int] = (),
    exclude: Sequence[int] = (),
    top_k: int = 10,
    tol: float = 1e-9,
    edges: Sequence[float] | None = None,
    bins: int = 60,
    low_bits: int | None = None,
    block_size: int | None = None,
    method: str | None = None,
    platform: str = "cpu",
) -> SweepPlan:
    """Validate a sweep's options against ``game`` and fix its enumeration.

    ``platform`` ("cpu" or "gpu") picks the defaults of ``method``, ``low_bits`` and
    ``block_size`` (:data:`DEFAULTS`; any other platform takes the GPU's).
    """
    defaults = DEFAULTS["cpu" if platform == "cpu" else "gpu"]
    method = defaults["method"] if method is None else method
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    block_size = defaults["block_size"] if block_size is None else block_size
    n = game.n_stations
    if n > MAX_STATIONS:
        raise ValueError(
            f"N = {n} stations do not fit in int64 coalition masks (at most {MAX_STATIONS}); "
            "restrict the sweep with include/exclude or sizes on a smaller game"
        )
    if not game.constant_b:
        raise ValueError("sweeps need a scalar b (constant price slope); got a time-varying b")
    inc = coalition_lists([list(include)], n)[0] if include else []
    exc = coalition_lists([list(exclude)], n)[0] if exclude else []
    both = sorted(set(inc) & set(exc))
    if both:
        raise ValueError(f"stations {both} are both included and excluded")
    free = tuple(i for i in range(n) if i not in set(inc) | set(exc))
    size_tuple = parse_sizes(sizes, n)
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    tol = _tolerance(tol)
    low = min(len(free), defaults["low_bits"]) if low_bits is None else low_bits
    if not 0 <= low <= len(free):
        raise ValueError(f"low_bits must lie in [0, {len(free)}], got {low}")
    chunks = (1 << len(free)) >> low
    # At least MIN_BLOCKS blocks where chunks allow (groups of 8 chunks), so that several
    # workers (cores or devices) share even a small sweep; a constant, so that the plan, and
    # so the result, does not depend on how many there are.
    steps = max(1, min(block_size >> low, max(8, chunks // MIN_BLOCKS), chunks))
    steps = 1 << (steps.bit_length() - 1)  # a power of two: groups of chunks stay aligned
    edge_tuple = tuple(float(e) for e in edges) if edges is not None else None
    plan = SweepPlan(n, free, tuple(sorted(inc)), tuple(sorted(exc)), size_tuple, low, steps,
                     edge_tuple or (), top_k, tol, method, min(defaults["group"], steps),
                     defaults["fold"], defaults["replicas"])
    if plan.n_coalitions == 0:
        raise ValueError(
            f"no coalition satisfies sizes {list(size_tuple)} with include {plan.include} and "
            f"exclude {plan.exclude}"
        )
    ratios, admitted = _pilot(game, plan)
    if edge_tuple is None:
        plan = dataclasses.replace(plan, edges=_pilot_edges(ratios, len(free), bins))
    return dataclasses.replace(plan, bounds=_pilot_bounds(ratios[admitted], top_k))


def _pilot(game, plan: SweepPlan):
    """Ratios (K, 3) of a pilot sample of the plan's coalitions, and which sizes it admits.

    Deterministic (seed 0): up to 4096 distinct coalitions of the enumeration.
    """
    rng = np.random.default_rng(0)
    codes = np.unique(rng.integers(0, plan.n_codes, size=4096, dtype=np.int64))
    masks = np.zeros((codes.size, plan.n_stations))
    masks[:, list(plan.include)] = 1.0
    for p, f in enumerate(plan.free):
        masks[:, f] = (codes >> p) & 1
    sizes = masks.sum(axis=1).astype(int)
    masks = masks[sizes > 0]
    admitted = np.isin(sizes[sizes > 0], plan.sizes)
    return np.asarray(coalition_ratios(game, masks)), admitted


def _pilot_edges(ratios, n_free: int, bins: int) -> tuple[float, ...]:
    """Histogram edges around the pilot's ratios."""
    r = ratios[np.isfinite(ratios)]
    lo, hi = (float(r.min()), float(r.max())) if r.size else (0.99, 1.01)
    lo, hi = min(lo, 1.0), max(hi, 1.0)
    pad = 0.25 * (hi - lo) + 1e-12 * max(abs(hi), 1.0) + (0 if n_free else 1e-9)
    return tuple(np.linspace(lo - pad, hi + pad, bins + 1).tolist())


def _pilot_bounds(ratios, top_k: int) -> tuple:
    """Bounds that the top-k (bottom-k) list of each ratio is known to reach, from the pilot.

    (top floors of all, coalition, outside, then bottom ceilings), None where the pilot has
    fewer than k defined ratios. The pilot's coalitions are among those enumerated, so the
    sweep's k-th largest ratio is at least the pilot's k-th largest: blocks start their top
    lists at that value, less a margin for the rounding between the pilot's formulas and the
    engine's, and then skip every group of chunks with nothing above it (re-sorting a top
    list is the slow part of a group where it happens). The final lists are unchanged.
    """
    floors, ceilings = [], []
    for g in range(3):
        r = np.sort(ratios[np.isfinite(ratios[:, g]), g])
        if r.size < top_k:
            floors.append(None)
            ceilings.append(None)
            continue
        hi, lo = float(r[-top_k]), float(r[top_k - 1])
        floors.append(hi - BOUND_MARGIN * max(1.0, abs(hi)))
        ceilings.append(lo + BOUND_MARGIN * max(1.0, abs(lo)))
    return tuple(floors + ceilings)


# Relative margin of the pilot's bounds: the pilot's ratios (coalition_ratios) and the engine's
# agree to about 1e-15 relative; a coalition within the margin of a bound is still listed.
BOUND_MARGIN = 1e-9


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

    The costs come from :func:`evjax.charging.reduced.fold_chunks`, which evaluates a group of
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
def _runner_tables(game, static: SweepPlan):
    """The free stations' tables and the subset table of a plan (``static``: without edges)."""
    free_tables, offset = _restricted_tables(coalition_tables(game), static)
    # Columns sorted by size, which fold_groups needs; the Gram form where the plan says.
    build = gram_table if static.method == "gram" else subset_table
    table = build(free_tables, static.low_bits, order=popcount_order(static.low_bits),
                  offset=offset)
    return free_tables, table


@eqx.filter_jit(**REPRODUCIBLE_JIT)
def coalition_ratios(game: ChargingGame, masks):
    """The three ratios (B, 3) of 0/1 ``masks`` (B, N), compiled like a sweep's blocks.

    A sweep's pilot sample and its top-k lists use this, so that they too are the same in
    every process (``evjax._runtime.REPRODUCIBLE_JIT``).
    """
    return ratios_from_costs(*coalition_costs(coalition_tables(game), masks))


class BlockRunner:
    """Evaluates blocks of a plan on one device (compiled once per plan shape)."""

    def __init__(self, game: ChargingGame, plan: SweepPlan, device=None):
        require_float64("a sweep (float64 costs, int64 bitmasks)")
        self.static = dataclasses.replace(plan, edges=(), bounds=())
        if device is not None:
            game = jax.device_put(game, device)
        free_tables, table = _runner_tables(game, self.static)
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
    from .distributed import evaluate_blocks

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


@eqx.filter_jit(**REPRODUCIBLE_JIT)
def _block_rows(free_tables, table, first_high, static: SweepPlan):
    """Every coalition of a block: compact codes (R,), C-Nash costs and ratios (R, 3)."""

    def step(_, high):
        cnash, nash = chunk_costs(free_tables, table, high)
        return None, (chunk_bits(table, high), cnash, ratios_from_costs(cnash, nash))

    highs = first_high + jnp.arange(static.steps, dtype=jnp.int64)
    _, (codes, costs, ratios) = jax.lax.scan(step, None, highs)
    return codes.reshape(-1), costs.reshape(-1, 3), ratios.reshape(-1, 3)


def block_rows(runner: BlockRunner, block: int) -> dict[str, np.ndarray]:
    """The table rows of one block (coalitions the plan admits only), as numpy columns.

    Columns: ``members`` (int64 bitmask over all N stations, bit i = station i), ``size``,
    ``cost_all``, ``cost_coalition``, ``cost_outside`` (at C-Nash) and ``ratio_all``,
    ``ratio_coalition``, ``ratio_outside`` (Nash / C-Nash; NaN where undefined).
    """
    plan = runner.plan
    free_tables, table, _ = runner.args
    first = jnp.asarray(block * plan.steps, jnp.int64)
    codes, costs, ratios = (np.asarray(v) for v in _block_rows(
        free_tables, table, first, runner.static))
    members = np.full(codes.shape, sum(1 << i for i in plan.include), dtype=np.int64)
    for p, station in enumerate(plan.free):
        members |= ((codes >> p) & 1) << station
    size = np.bitwise_count(members.astype(np.uint64)).astype(np.int8)
    keep = np.isin(size, plan.sizes)
    order = np.argsort(members[keep], kind="stable")
    out = {"members": members[keep][order], "size": size[keep][order]}
    for g, name in enumerate(("all", "coalition", "outside")):
        out[f"cost_{name}"] = costs[keep][order, g]
        out[f"ratio_{name}"] = ratios[keep][order, g]
    return out
