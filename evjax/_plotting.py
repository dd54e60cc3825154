"""What every evjax plot shares: figures made without pyplot, and saving them.

evjax never selects a matplotlib backend: :func:`subplots` builds a bare
:class:`matplotlib.figure.Figure`, which draws and saves to files on any backend (the canvas
is chosen by the file's format when it is saved) and is never registered with pyplot, so the
caller's backend, pyplot's figure list and any interactive session are left as they were.
matplotlib is imported here only when a figure is drawn (it is optional for the numerics).
"""

from __future__ import annotations

import sys
from pathlib import Path


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs):
    """``(figure, axes)`` like ``matplotlib.pyplot.subplots``, but a bare ``Figure`` that no
    backend and no pyplot state knows about; ``kwargs`` go to ``Figure.subplots``."""
    from matplotlib.figure import Figure  # lazy: matplotlib only for plotting

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def pyplot():
    """``matplotlib.pyplot``, on whatever backend the caller chose (evjax never sets one).

    Prefer :func:`subplots`, which leaves pyplot alone."""
    import matplotlib.pyplot as plt  # lazy: matplotlib only for plotting

    return plt


def save(fig, path: str | Path, *, dpi: int = 120) -> Path:
    """Lay out ``fig``, write it to ``path`` (creating its folder) and release it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None and getattr(fig.canvas, "manager", None) is not None:
        plt.close(fig)  # a figure made by pyplot: drop it from pyplot's list
    return path
