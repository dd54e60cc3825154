"""The picture of a stability study: stable coalitions by size, and a coalition's shares per
member under each split (matplotlib only when drawn; no backend is selected)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._plotting import save, subplots
from .shares import Shares
from .stability import StableCoalitions

KINDS = (("internal", "internally stable"), ("external", "externally stable"),
         ("stable", "stable"))


def plot_stability(found: StableCoalitions, path: str | Path, *,
                   shares: list[Shares] | None = None, title: str = "") -> Path:
    """Write a PNG (or any matplotlib format) of the counts of internally / externally /
    both stable coalitions by size, and, given ``shares`` (one :class:`Shares` per split of
    the same coalition), each member's share and own saving; returns the path written."""
    panels = 2 if shares else 1
    fig, axes = subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    sizes = np.arange(2, found.n_stations + 1)
    width = 0.27
    for j, (kind, label) in enumerate(KINDS):
        counts = found.by_size(kind)
        ax.bar(sizes + (j - 1) * width, [counts.get(int(s), 0) for s in sizes], width,
               label=label)
    ax.set_xlabel("coalition size")
    ax.set_ylabel("coalitions")
    ax.set_title(title or f"{found.evaluated:,} coalitions of size >= 2")
    ax.legend()
    if shares:
        ax = axes[0, 1]
        members = np.arange(len(shares[0].members))
        series = [("own (no transfer)", shares[0].own)] + [(s.split, s.shares) for s in shares]
        width = 0.8 / len(series)
        for j, (label, values) in enumerate(series):
            ax.bar(members + (j - (len(series) - 1) / 2) * width, values, width, label=label)
        ax.set_xticks(members, [str(i) for i in shares[0].members])
        ax.axhline(0.0, color="black", linewidth=0.5)
        ax.set_xlabel("member")
        ax.set_ylabel("saving")
        ax.set_title(f"shares of v(C) = {shares[0].saving:.4g}")
        ax.legend()
    return save(fig, path)
