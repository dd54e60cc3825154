"""The year study of issue 20: every coalition of N = 16 stations on every day of a year.

The same station mix (6 public stations of 8 EVs a day, 4 workplace of 5, 6 private of 1)
on each of the 365 days of 2022, each day with its own Dutch day-ahead prices
(:func:`evjax.scenarios.year_study`: one :func:`evjax.charging_day` game a day, swept by
:func:`evjax.sweep_batch`, 2^16 - 1 coalitions each). Target: under 60 s on 2 CPU cores.

    python benchmarks/bench_year.py [--year 2022] [--days 365] [--out DIR]

Prints a table of the phases' wall times (building the games, the sweeps including their one
compilation per day length, writing Parquet and PNG with ``--out``). Not yet part of
``python -m benchmarks`` (it does not write RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402  (standard library only: before numpy and jax)

MIX = ",".join(["public:8"] * 6 + ["workplace:5"] * 4 + ["private:1"] * 6)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2022)
    parser.add_argument("--days", type=int, default=None, help="only the first DAYS days")
    parser.add_argument("--out", help="write year.parquet and year.png there")
    args = parser.parse_args(argv)
    _common.limit_threads()
    import jax

    jax.config.update("jax_enable_x64", True)
    from evjax.scenarios import charging_day, write_year_study, year_dates, year_study

    days = year_dates(args.year)[: args.days]
    start = time.perf_counter()
    for d in days:
        charging_day(d, MIX)
    build = time.perf_counter() - start
    start = time.perf_counter()
    rows = year_study(args.year, MIX, dates=days)
    total = time.perf_counter() - start
    sweeps = float(rows["seconds"][0])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_year_study(rows, args.out or tmp)
    write = time.perf_counter() - start
    print(_common.format_machine(_common.machine_info()))
    print(_common.markdown_table(
        ["phase", "seconds"],
        [["build the games (charging_day)", f"{build:.2f}"],
         [f"sweep_batch: {len(days)} days x {int(rows['n_coalitions'][0])} coalitions",
          f"{sweeps:.2f}"],
         ["year_study in all (games + sweeps + summaries)", f"{total:.2f}"],
         ["write Parquet + PNG", f"{write:.2f}"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
