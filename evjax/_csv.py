"""CSV files of figures' numbers, the one writer of them (paper reproductions, deck figures).

Rows are written as given (``csv.writer``): Python floats keep their shortest round-trip form,
so numbers are exact at float64 precision.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """Write ``header`` then ``rows`` to ``path`` as CSV (its folder created); returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
