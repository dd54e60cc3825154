"""What a sweep enumerates: its options validated once, the free stations, the chunking.

The subsets of the *free* stations (all but ``include`` and ``exclude``) are enumerated as
integers ``c`` (bit p of c: the p-th free station is in the coalition), in blocks of
``steps * 2^L`` consecutive codes (:mod:`evjax.sweeps.engine` evaluates them). How chunks are
evaluated and reduced depends on the device (:data:`DEFAULTS`); the plan records it, so a
resumed sweep must use the same. :func:`make_plan` is the public boundary: every option is
checked here (``ValueError`` naming the bad value) and trusted by the engine.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..charging.coalitions import include_exclude
from ..charging.game import ChargingGame
from ..charging.reduced import CoalitionTables, coalition_tables
from .pilot import pilot_bounds, pilot_edges, pilot_ratios

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
# (tally.tally_groups; slice reductions are several times slower there); 1.5x the
# elementwise "table" loop at N = 30. GPU: 256 chunks of 16384 (4M coalitions per step),
# slice reductions (reduce.fold_groups), the histogram spread over 1024 copies of its bins.
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

    def masks(self, codes: np.ndarray) -> np.ndarray:
        """0/1 memberships (len(codes), N) of the coalitions with compact codes ``codes``."""
        masks = np.zeros((codes.size, self.n_stations))
        masks[:, list(self.include)] = 1.0
        for p, f in enumerate(self.free):
            masks[:, f] = (codes >> p) & 1
        return masks


def sweep_tables(game: ChargingGame) -> CoalitionTables:
    """The coalition tables of a game a sweep can enumerate (built once per sweep).

    ``ValueError`` for more than :data:`MAX_STATIONS` stations (int64 bitmasks) or a
    time-varying b (the reduced form needs a scalar b).
    """
    n = game.n_stations
    if n > MAX_STATIONS:
        raise ValueError(
            f"N = {n} stations do not fit in int64 coalition masks (at most {MAX_STATIONS}); "
            "restrict the sweep with include/exclude or sizes on a smaller game"
        )
    if not game.constant_b:
        raise ValueError("sweeps need a scalar b (constant price slope); got a time-varying b")
    return coalition_tables(game)


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


def _steps(n_free: int, low: int, block_size: int) -> int:
    """Chunks per block: a power of two, at least MIN_BLOCKS blocks where chunks allow.

    (Groups of 8 chunks), so that several workers (cores or devices) share even a small
    sweep; a constant, so that the plan, and so the result, does not depend on how many
    there are. A power of two keeps groups of chunks aligned.
    """
    chunks = (1 << n_free) >> low
    steps = max(1, min(block_size >> low, max(8, chunks // MIN_BLOCKS), chunks))
    return 1 << (steps.bit_length() - 1)


def make_plan(
    tables: CoalitionTables,
    *,
    sizes=None,
    include: Sequence[int] = (),
    exclude: Sequence[int] = (),
    top_k: int = 10,
    tol=1e-9,  # any value: refused with a ValueError unless finite and >= 0
    edges: Sequence[float] | None = None,
    bins: int = 60,
    low_bits: int | None = None,
    block_size: int | None = None,
    method: str | None = None,
    platform: str = "cpu",
) -> SweepPlan:
    """Validate a sweep's options against the game's ``tables`` and fix its enumeration.

    ``tables``: :func:`sweep_tables` of the game. ``platform`` ("cpu" or "gpu") picks the
    defaults of ``method``, ``low_bits`` and ``block_size`` (:data:`DEFAULTS`; any other
    platform takes the GPU's). Histogram ``edges`` (default: ``bins`` bins around the ratios
    of a deterministic pilot sample) and the top-k lists' starting bounds come from the pilot.
    """
    defaults = DEFAULTS["cpu" if platform == "cpu" else "gpu"]
    method = defaults["method"] if method is None else method
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    block_size = defaults["block_size"] if block_size is None else block_size
    n = tables.n_stations
    inc, exc = include_exclude(include, exclude, n)
    free = tuple(i for i in range(n) if i not in set(inc) | set(exc))
    size_tuple = parse_sizes(sizes, n)
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    tol = _tolerance(tol)
    low = min(len(free), defaults["low_bits"]) if low_bits is None else low_bits
    if not 0 <= low <= len(free):
        raise ValueError(f"low_bits must lie in [0, {len(free)}], got {low}")
    steps = _steps(len(free), low, block_size)
    edge_tuple = tuple(float(e) for e in edges) if edges is not None else None
    plan = SweepPlan(n, free, tuple(sorted(inc)), tuple(sorted(exc)), size_tuple, low, steps,
                     edge_tuple or (), top_k, tol, method, min(defaults["group"], steps),
                     defaults["fold"], defaults["replicas"])
    if plan.n_coalitions == 0:
        raise ValueError(
            f"no coalition satisfies sizes {list(size_tuple)} with include {plan.include} and "
            f"exclude {plan.exclude}"
        )
    ratios, admitted = pilot_ratios(tables, plan)
    if edge_tuple is None:
        plan = dataclasses.replace(plan, edges=pilot_edges(ratios, len(free), bins))
    return dataclasses.replace(plan, bounds=pilot_bounds(ratios[admitted], top_k))
