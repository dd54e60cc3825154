"""The full per-coalition table of a sweep, as Parquet files written block by block."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._paths import atomic_write

MAX_TABLE_FREE_STATIONS = 26


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the environment
        raise ValueError(
            "writing the sweep table needs pyarrow: pip install pyarrow (from a clone of "
            "evjax: pip install -e '.[parquet]')"
        ) from None
    return pa, pq


def check_table(n_free: int) -> None:
    """Refuse tables too large to be useful (2^26 rows is about 4 GB of Parquet)."""
    _pyarrow()
    if n_free > MAX_TABLE_FREE_STATIONS:
        raise ValueError(
            f"a table of 2^{n_free} coalitions is too large; the table is written for at most "
            f"{MAX_TABLE_FREE_STATIONS} free stations: restrict with include/exclude"
        )


def write_part(directory: Path, block: int, columns: dict[str, np.ndarray]) -> Path:
    """Write one block's rows to ``directory/part-BLOCK.parquet`` atomically."""
    pa, pq = _pyarrow()
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table(columns)
    return atomic_write(directory / f"part-{block:06d}.parquet",
                        lambda fh: pq.write_table(table, fh))


def read_table(directory: str | Path):
    """All parts of a sweep table as one pyarrow Table, in block order."""
    pa, pq = _pyarrow()
    parts = sorted(Path(directory).glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts])
