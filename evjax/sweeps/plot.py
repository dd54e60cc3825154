"""Plots of sweep results (matplotlib, imported lazily): the ratios against coalition size."""

from __future__ import annotations

from pathlib import Path

from .._plotting import pyplot, save
from .._paths import check_writable
from .result import SweepResult


LABELS = {"all": r"$M_{[N]}$ (all stations)", "coalition": r"$M_{\mathcal{C}}$ (coalition)",
          "outside": r"$M_{[N]\setminus\mathcal{C}}$ (outside)"}


def check_plot_path(path: str | Path, name: str = "plot") -> Path:
    """Refuse (``ValueError``) a plot path that cannot be written, before any computation.

    The file's suffix must name a format matplotlib writes (.png, .pdf, .svg, ...); without
    one matplotlib would add ".png" to the name given. Nothing is created.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    path = check_writable(path, directory=False, name=name)
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise ValueError(f"{name} {str(path)!r} must end in a format's suffix such as .png "
                         f"(one of {', '.join(formats)})")
    return path


def plot_by_size(result: SweepResult, path: str | Path, title: str | None = None) -> Path:
    """Write a PNG of the three ratios against coalition size (like paper 000's Figure 4).

    Each panel shows the mean ratio per size and the band between its min and max, with the
    line M = 1 (above it the coalition lowers that group's cost). Returns the path written.
    """
    from matplotlib.ticker import MaxNLocator

    path = check_plot_path(path)

    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharex=True)
    for g, (name, label) in enumerate(LABELS.items()):
        ax = axes[g]
        rows = [r for r in result.by_size if r["mean"][g] is not None]
        sizes = [r["size"] for r in rows]
        ax.fill_between(sizes, [r["min"][g] for r in rows], [r["max"][g] for r in rows],
                        alpha=0.25, label="min to max")
        ax.plot(sizes, [r["mean"][g] for r in rows], "o-", ms=3, label="mean")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_title(label)
        ax.set_xlabel("coalition size")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cost at Nash / cost at C-Nash")
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(title or f"{result.n_evaluated:,} coalitions")
    return save(fig, path)
