"""Plots of design studies (matplotlib, imported lazily): ranked sensitivities as bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._plotting import pyplot, save
from ..charging.ratios import GROUPS
from .sensitivity import Sensitivity


LABELS = {"all": r"$M_{[N]}$ (all stations)", "coalition": r"$M_{\mathcal{C}}$ (coalition)",
          "outside": r"$M_{[N]\setminus\mathcal{C}}$ (outside)"}


def entry_label(row: dict) -> str:
    """``mu[3]``, ``xbar[2,5]``, ``b`` for a row of :meth:`Sensitivity.ranked`."""
    idx = ",".join(str(i) for i in row["index"])
    return f"{row['parameter']}[{idx}]" if idx else row["parameter"]


def plot_sensitivity(result: Sensitivity, path: str | Path, *, top: int = 15,
                     by: str = "derivative", title: str | None = None) -> Path:
    """Write a PNG with one panel per ratio: the ``top`` largest |dM/dp| (or elasticities)
    as horizontal bars, largest on top."""
    if not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be an integer >= 1, got {top!r}")
    from matplotlib.ticker import MaxNLocator  # lazy: matplotlib is an optional dependency

    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(14, 0.32 * top + 1.6))
    for ax, group in zip(axes, GROUPS, strict=True):
        rows = [r for r in result.ranked(group, by) if abs(r[by]) > 0][:top][::-1]
        ax.barh([entry_label(r) for r in rows], [r[by] for r in rows],
                color=["tab:blue" if r[by] > 0 else "tab:red" for r in rows])
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set_title(LABELS[group])
        ax.set_xlabel("dM/dp" if by == "derivative" else "(p/M) dM/dp")
        ax.tick_params(axis="y", labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title or f"Sensitivities of the ratios of coalition {result.coalition}")
    return save(fig, path)
