"""The full per-coalition table of a sweep: each block's rows, written as Parquet files.

:func:`block_rows` evaluates every coalition of one block (codes, C-Nash costs, ratios) with
the runner's tables; :func:`write_part` writes them, one file per block; :func:`read_table`
reads them back in block order.
"""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._paths import atomic_write
from .._runtime import REPRODUCIBLE_JIT
from ..charging.ratios import ratios_from_costs
from ..charging.reduced import chunk_bits, chunk_costs
from .engine import BlockRunner
from .plan import SweepPlan
from .summary import GROUPS

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


@eqx.filter_jit(**REPRODUCIBLE_JIT)
def _block_rows(free_tables, table, first_high, static: SweepPlan):
    """Every coalition of a block: compact codes (R,), C-Nash costs and ratios (R, 3)."""

    def step(_, high):
        cnash, nash = chunk_costs(free_tables, table, high)
        return None, (chunk_bits(table, high), cnash, ratios_from_costs(cnash, nash))

    highs = first_high + jnp.arange(static.steps, dtype=jnp.int64)
    _, (codes, costs, ratios) = jax.lax.scan(step, None, highs)
    return codes.reshape(-1), costs.reshape(-1, 3), ratios.reshape(-1, 3)


def block_rows(runner: BlockRunner, block: int) -> dict[str, np.ndarray]:
    """The table rows of one block (coalitions the plan admits only), as numpy columns.

    Columns: ``members`` (int64 bitmask over all N stations, bit i = station i), ``size``,
    ``cost_all``, ``cost_coalition``, ``cost_outside`` (at C-Nash) and ``ratio_all``,
    ``ratio_coalition``, ``ratio_outside`` (Nash / C-Nash; NaN where undefined).
    """
    plan = runner.plan
    free_tables, table, _ = runner.args
    first = jnp.asarray(block * plan.steps, jnp.int64)
    codes, costs, ratios = (np.asarray(v) for v in _block_rows(
        free_tables, table, first, runner.static))
    members = np.full(codes.shape, sum(1 << i for i in plan.include), dtype=np.int64)
    for p, station in enumerate(plan.free):
        members |= ((codes >> p) & 1) << station
    size = np.bitwise_count(members.astype(np.uint64)).astype(np.int8)
    keep = np.isin(size, plan.sizes)
    order = np.argsort(members[keep], kind="stable")
    out = {"members": members[keep][order], "size": size[keep][order]}
    for g, name in enumerate(GROUPS):
        out[f"cost_{name}"] = costs[keep][order, g]
        out[f"ratio_{name}"] = ratios[keep][order, g]
    return out
