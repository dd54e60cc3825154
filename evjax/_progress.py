"""Progress bars, the one home of them: sweeps, the paper reproductions, the CLI.

A thin wrapper over ``tqdm.auto`` that decides once whether a bar is shown: ``enabled`` True
shows it, False hides it, None shows it when standard error is a terminal (a disabled bar
still takes ``update``, ``set_postfix_str``, ``close`` and ``with``, so callers never test
for it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable


def progress_bar(total: int | None = None, *, enabled: bool | None, desc: str, unit: str,
                 iterable: Iterable | None = None, **options):
    """A ``tqdm`` bar over ``total`` units (or over ``iterable``), shown as ``enabled`` says.

    ``options`` go to ``tqdm`` (e.g. ``unit_scale``, ``smoothing``).
    """
    # Imported here: tqdm.auto probes for a notebook, which costs start-up time of the CLI
    # and of ``import evjax`` for callers that never show a bar.
    from tqdm.auto import tqdm

    shown = sys.stderr.isatty() if enabled is None else bool(enabled)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not shown, **options)
