"""A sweep's pilot sample: the ratios of a few thousand of its coalitions, before any block.

The pilot fixes the histogram's edges and the bounds at which blocks start their top-k lists
(:func:`pilot_bounds`). :func:`coalition_ratios` is also how a sweep recomputes the ratios of
the coalitions it lists, compiled like the blocks so that every process agrees.
"""

from __future__ import annotations

import equinox as eqx
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._runtime import REPRODUCIBLE_JIT
from ..charging.ratios import ratios_from_costs
from ..charging.reduced import CoalitionTables, coalition_costs

PILOT_SIZE = 4096  # coalitions drawn (with repeats, removed) for the pilot

# Relative margin of the pilot's bounds: the pilot's ratios (coalition_ratios) and the engine's
# agree to about 1e-15 relative; a coalition within the margin of a bound is still listed.
BOUND_MARGIN = 1e-9


@eqx.filter_jit(**REPRODUCIBLE_JIT)
def coalition_ratios(tables: CoalitionTables,
                     masks: Float[ArrayLike, "B N"]) -> Float[Array, "B 3"]:
    """The three ratios (B, 3) of 0/1 ``masks`` (B, N), compiled like a sweep's blocks.

    A sweep's pilot sample and its top-k lists use this, so that they too are the same in
    every process (``evjax._runtime.REPRODUCIBLE_JIT``).
    """
    return ratios_from_costs(*coalition_costs(tables, masks))


def listed_ratios(tables: CoalitionTables, coalitions) -> np.ndarray:
    """(K, 3) ratios of the listed coalitions (member lists), in one call of a few shapes."""
    k = len(coalitions)
    masks = np.zeros((-(-k // 64) * 64, tables.n_stations))  # a few shapes: few compilations
    for row, members in enumerate(coalitions):
        masks[row, members] = 1.0
    return np.asarray(coalition_ratios(tables, masks))[:k]


def pilot_ratios(tables: CoalitionTables, plan) -> tuple[np.ndarray, np.ndarray]:
    """Ratios (K, 3) of a pilot sample of ``plan``'s coalitions, and which sizes it admits.

    ``plan`` is a :class:`evjax.sweeps.plan.SweepPlan` without edges yet. Deterministic
    (seed 0): up to 4096 distinct coalitions of the enumeration.
    """
    rng = np.random.default_rng(0)
    codes = np.unique(rng.integers(0, plan.n_codes, size=PILOT_SIZE, dtype=np.int64))
    masks = plan.masks(codes)
    sizes = masks.sum(axis=1).astype(int)
    masks = masks[sizes > 0]
    admitted = np.isin(sizes[sizes > 0], plan.sizes)
    return np.asarray(coalition_ratios(tables, masks)), admitted


def pilot_edges(ratios: np.ndarray, n_free: int, bins: int) -> tuple[float, ...]:
    """Histogram edges around the pilot's ratios."""
    r = ratios[np.isfinite(ratios)]
    lo, hi = (float(r.min()), float(r.max())) if r.size else (0.99, 1.01)
    lo, hi = min(lo, 1.0), max(hi, 1.0)
    pad = 0.25 * (hi - lo) + 1e-12 * max(abs(hi), 1.0) + (0 if n_free else 1e-9)
    return tuple(np.linspace(lo - pad, hi + pad, bins + 1).tolist())


def pilot_bounds(ratios: np.ndarray, top_k: int) -> tuple:
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
