"""The result of a sweep: summaries on the host, as Python data and JSON."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .summary import GROUPS, Summary, is_coalition, to_numpy


def _num(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def json_safe(value):
    """``value`` with every non-finite float replaced by None (valid, strict JSON)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return _num(value)
    return value


@dataclass(frozen=True)
class SweepResult:
    """Summaries of a sweep over single coalitions (see :func:`evjax.sweep`).

    Attributes:
        n_evaluated: how many coalitions were evaluated.
        above_one / below_one: per group ("all", "coalition", "outside"), how many coalitions
            have that ratio > 1 + tol / < 1 - tol.
        by_size: a list of {size, count, mean, min, max}; each statistic a list of the three
            ratios (all, coalition, outside), None where undefined.
        top / bottom: per group, the k coalitions with the largest / smallest ratio, each as
            {members, ratios: [M_all, M_coalition, M_outside]}.
        histogram: {edges, counts: per group, underflow and overflow counts at the ends}.
        plan: the enumeration (free, include, exclude, sizes, chunking).
        seconds: wall time of the evaluation.
    """

    n_evaluated: int
    above_one: dict
    below_one: dict
    by_size: list
    top: dict
    bottom: dict
    histogram: dict
    plan: dict
    seconds: float

    def to_dict(self) -> dict:
        """The result as JSON data (no NaN or infinity: an undefined number is None)."""
        return json_safe({
            "n_evaluated": self.n_evaluated,
            "above_one": self.above_one,
            "below_one": self.below_one,
            "by_size": self.by_size,
            "top": self.top,
            "bottom": self.bottom,
            "histogram": self.histogram,
            "plan": self.plan,
            "seconds": self.seconds,
        })


def finalize(summary: Summary, plan, ratios_of, seconds: float) -> SweepResult:
    """Turn a folded summary (numpy or device fields) into a :class:`SweepResult`.

    ``ratios_of(list of member lists) -> (K, 3) ratios`` recomputes the listed coalitions'
    ratios, all in one call (the top-k lists report all three ratios of each coalition, not
    only the one ranked by; one call rather than one per coalition, which on a GPU would cost
    a round trip each).
    """
    f = to_numpy(summary)
    listed = sorted({int(c) for name in ("top", "bottom")
                     for v, c in zip(f[f"{name}_value"].ravel(), f[f"{name}_code"].ravel(),
                                     strict=True) if np.isfinite(v) and is_coalition(c)})
    members_of = {c: plan.members(c) for c in listed}
    recomputed = np.asarray(ratios_of([members_of[c] for c in listed])) if listed else []
    cache = {c: [members_of[c], [_num(r) for r in row]]
             for c, row in zip(listed, recomputed, strict=True)}
    by_size = []
    for size in range(f["size_count"].shape[0]):
        count = f["size_count"][size]
        if count.max() == 0:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = f["size_sum"][size] / count
        by_size.append({
            "size": size,
            "count": int(count.max()),
            "mean": [_num(m) if c else None for m, c in zip(mean, count, strict=True)],
            "min": [_num(m) if c else None
                    for m, c in zip(f["size_min"][size], count, strict=True)],
            "max": [_num(m) if c else None
                    for m, c in zip(f["size_max"][size], count, strict=True)],
        })

    def entries(values, codes):
        return [{"members": cache[int(c)][0], "ratios": cache[int(c)][1]}
                for v, c in zip(values, codes, strict=True)
                if np.isfinite(v) and is_coalition(c)]

    return SweepResult(
        n_evaluated=int(f["n_evaluated"]),
        above_one={g: int(v) for g, v in zip(GROUPS, f["above_one"], strict=True)},
        below_one={g: int(v) for g, v in zip(GROUPS, f["below_one"], strict=True)},
        by_size=by_size,
        top={g: entries(f["top_value"][i], f["top_code"][i]) for i, g in enumerate(GROUPS)},
        bottom={g: entries(f["bottom_value"][i], f["bottom_code"][i])
                for i, g in enumerate(GROUPS)},
        histogram={"edges": list(plan.edges),
                   "counts": {g: f["hist"][i].tolist() for i, g in enumerate(GROUPS)}},
        plan=plan.to_dict(),
        seconds=seconds,
    )
