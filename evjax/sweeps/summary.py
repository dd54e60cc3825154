"""On-device reduction of coalition results: counts, per-size statistics, histograms, top-k.

A sweep feeds chunks of evaluated coalitions (bit codes, sizes, the three ratios) into a
:class:`Summary`. Every field is a fixed-size array, so memory is O(N + bins + k) whatever the
number of coalitions, and two summaries combine exactly (:func:`merge`), which is what makes
resumed and sharded sweeps reproduce an uninterrupted one: each chunk's partial summary is
folded in chunk order.

Ratio columns are always (all, coalition, outside); an undefined ratio (the grand coalition's
outside ratio) is NaN and counts nowhere.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..charging.ratios import GROUPS
from .topk import NO_CODE, merge_best

# A summary's fields are device arrays while blocks fold them, numpy arrays once merged on the
# host (:func:`merge`) or loaded from a checkpoint.
HostOrDevice = Array | np.ndarray
# Codes from here up are not coalitions (whose codes are int64 bitmasks below 2^62): list
# entries that only hold a bound (see ``bound_lists``) and exhausted entries (NO_CODE).
FIRST_FILL = 1 << 62


class Summary(eqx.Module):
    """Running reductions over coalitions (all fields O(N + bins + k)).

    Fields (S = N + 1 sizes, G = 3 groups, k = top_k):
        n_evaluated: coalitions seen.
        above_one, below_one: (G,) how many coalitions have ratio > 1 + tol / < 1 - tol.
        size_count, size_sum, size_min, size_max: (S, G) per coalition size.
        hist: (G, bins + 2) counts over ``edges`` with under- and overflow at the ends.
        top_value, top_code, bottom_value, bottom_code: (G, k) the k largest / smallest
            ratios and their coalitions' bit codes, ordered by value then by code.

    Fields are JAX arrays on the device and numpy arrays on the host (``HostOrDevice``).
    """

    n_evaluated: Int[HostOrDevice, ""]
    above_one: Int[HostOrDevice, " G"]
    below_one: Int[HostOrDevice, " G"]
    size_count: Int[HostOrDevice, "S G"]
    size_sum: Float[HostOrDevice, "S G"]
    size_min: Float[HostOrDevice, "S G"]
    size_max: Float[HostOrDevice, "S G"]
    hist: Int[HostOrDevice, "G B"]
    top_value: Float[HostOrDevice, "G k"]
    top_code: Int[HostOrDevice, "G k"]
    bottom_value: Float[HostOrDevice, "G k"]
    bottom_code: Int[HostOrDevice, "G k"]


def dtypes():
    """(float, int) dtypes of summaries and tallies: 64-bit where JAX allows it."""
    x64 = jax.config.jax_enable_x64
    return (jnp.float64, jnp.int64) if x64 else (jnp.float32, jnp.int32)


def empty_summary(n_stations: int, bins: int, top_k: int) -> Summary:
    """The neutral element of :func:`merge`."""
    s, g = n_stations + 1, len(GROUPS)
    f, i = dtypes()
    big = jnp.iinfo(i).max
    return Summary(
        n_evaluated=jnp.zeros((), i),
        above_one=jnp.zeros(g, i),
        below_one=jnp.zeros(g, i),
        size_count=jnp.zeros((s, g), i),
        size_sum=jnp.zeros((s, g), f),
        size_min=jnp.full((s, g), jnp.inf, f),
        size_max=jnp.full((s, g), -jnp.inf, f),
        hist=jnp.zeros((g, bins + 2), i),
        top_value=jnp.full((g, top_k), -jnp.inf, f),
        top_code=jnp.full((g, top_k), big, i),
        bottom_value=jnp.full((g, top_k), jnp.inf, f),
        bottom_code=jnp.full((g, top_k), big, i),
    )


def is_coalition(codes):
    """Which list codes are coalitions' (not fill)."""
    return codes < FIRST_FILL


def bound_lists(summary: Summary, top, bottom) -> Summary:
    """``summary`` with its top (bottom) lists filled with the value ``top`` (``bottom``) (3,).

    A sweep's blocks start their lists at bounds that the whole sweep's k-th entries are known
    to reach; a group of chunks with nothing beyond a list's k-th entry then skips the list.
    The fill entries have distinct codes above every coalition's, so they lose every tie and
    merge like real entries; :func:`is_coalition` tells them apart.
    """
    k = summary.top_value.shape[1]
    fill = jnp.broadcast_to(NO_CODE - 1 - jnp.arange(k, dtype=summary.top_code.dtype),
                            summary.top_code.shape)
    return dataclasses.replace(
        summary,
        top_value=jnp.broadcast_to(jnp.asarray(top, summary.top_value.dtype)[:, None],
                                   summary.top_value.shape),
        top_code=fill,
        bottom_value=jnp.broadcast_to(jnp.asarray(bottom, summary.top_value.dtype)[:, None],
                                      summary.top_value.shape),
        bottom_code=fill,
    )


def merge(a: Summary, b: Summary) -> Summary:
    """Combine two summaries, on the host (associative; exact for every field but float sums).

    numpy, not a compiled call: a sweep merges one partial per block, and dispatching a
    dozen small device arrays per block cost more than the merge. The result has numpy
    fields; the top and bottom lists follow :func:`evjax.sweeps.topk.merge_best`.
    """
    a, b = to_numpy(a), to_numpy(b)
    k = a["top_value"].shape[1]

    def best(name, largest):
        values = np.concatenate([a[f"{name}_value"], b[f"{name}_value"]], axis=1)
        codes = np.concatenate([a[f"{name}_code"], b[f"{name}_code"]], axis=1)
        return merge_best(values, codes, k, largest)

    top_value, top_code = best("top", True)
    bottom_value, bottom_code = best("bottom", False)
    return Summary(
        n_evaluated=np.asarray(a["n_evaluated"] + b["n_evaluated"]),  # 0-d, not a scalar
        above_one=a["above_one"] + b["above_one"],
        below_one=a["below_one"] + b["below_one"],
        size_count=a["size_count"] + b["size_count"],
        size_sum=a["size_sum"] + b["size_sum"],
        size_min=np.minimum(a["size_min"], b["size_min"]),
        size_max=np.maximum(a["size_max"], b["size_max"]),
        hist=a["hist"] + b["hist"],
        top_value=top_value,
        top_code=top_code,
        bottom_value=bottom_value,
        bottom_code=bottom_code,
    )


def merge_fields(total: Summary, fields: dict[str, np.ndarray]) -> Summary:
    """``merge(total, partial)`` with the partial given as numpy fields.

    Every way of running a sweep (one device, several, several processes) folds its blocks'
    partials through this, in block order, so they all give the same result.
    """
    return merge(total, Summary(**fields))


def to_numpy(summary: Summary) -> dict[str, np.ndarray]:
    """The summary's fields as numpy arrays (for checkpoints)."""
    return {name: np.asarray(getattr(summary, name)) for name in Summary.__annotations__}


def from_numpy(fields: dict[str, np.ndarray]) -> Summary:
    return Summary(**{name: jnp.asarray(fields[name]) for name in Summary.__annotations__})
