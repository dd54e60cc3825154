"""``evjax sweep``: every coalition of a charging game, its ratio counts, per-size statistics
and top lists (:func:`evjax.sweeps.sweep`), with a plot of the ratios against size."""

from __future__ import annotations

import sys
from pathlib import Path

from .._paths import check_writable
from ._common import UsageError, bad_input, load_game, optional_stations, print_json

HELP = "every coalition of a game: ratio counts, per-size statistics, top-k"


def add_sweep(p) -> None:
    """The arguments of ``evjax sweep`` on its parser ``p``."""
    p.description = "Evaluate every single coalition (the rest alone) in O(T) each."
    p.add_argument("game", nargs="?", help="game file; default: 16 stations, Figure 4 mix")
    p.add_argument("--sizes", help="coalition sizes, e.g. 2-5 or 2,3")
    p.add_argument("--include", help="stations every coalition contains, e.g. 0,3")
    p.add_argument("--exclude", help="stations no coalition contains")
    p.add_argument("--top", type=int, default=10, help="length of the top lists")
    p.add_argument("--out", help="directory for a resumable run (rerun to resume)")
    p.add_argument("--table", action="store_true",
                   help="also write every coalition's row as Parquet under OUT/table/")
    p.add_argument("--tol", type=float, default=1e-9,
                   help="a ratio counts as above 1 when > 1 + TOL (default 1e-9; finite, >= 0)")
    p.add_argument("--plot", help="PNG of the ratios against size (default "
                   "OUT/sweep-by-size.png, or ./sweep-by-size.png without --out; the path "
                   "written is printed on stderr)")
    p.add_argument("--no-plot", action="store_true", help="write no plot")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    """``evjax sweep``: sweep, plot (unless ``--no-plot``), print a summary or ``--json``."""
    from ..sweeps import sweep
    from ..sweeps.plot import check_plot_path, plot_by_size

    game, _, source = load_game(args.game, default="figure4")
    if args.table and args.out is None:
        raise UsageError("--table writes Parquet files: give an --out directory")
    plot = None  # --plot, else OUT/sweep-by-size.png, else ./sweep-by-size.png
    if not args.no_plot:
        plot = Path(args.plot) if args.plot else Path(args.out or ".") / "sweep-by-size.png"
    with bad_input():
        if args.out is not None:  # both before the sweep, not after it
            check_writable(args.out, directory=True, name="--out")
        if plot is not None:
            check_plot_path(plot, "--plot" if args.plot else "the plot")
        include = optional_stations(args.include, "--include")
        exclude = optional_stations(args.exclude, "--exclude")
        result = sweep(game, sizes=args.sizes, include=include, exclude=exclude,
                       top_k=args.top, out=args.out, table=args.table, tol=args.tol)
    if plot is not None:
        plot = plot_by_size(result, plot, title=f"{source}: {result.n_evaluated:,} coalitions")
        print(f"Plot of the ratios against coalition size: {plot.resolve()}", file=sys.stderr)
    if args.json:
        return print_json(result.to_dict(), allow_nan=False)
    _print_summary(result, source)
    return 0


def _print_summary(result, source) -> None:
    print(f"Sweep of {source}: {result.n_evaluated:,} coalitions in {result.seconds:.2f} s")
    print("Coalitions with ratio > 1 (the coalition lowers that group's cost): " + ", ".join(
        f"{g} {n:,}" for g, n in result.above_one.items()))
    fmt = lambda v: "   n/a  " if v is None else f"{v:8.5f}"  # noqa: E731
    print(f"\n{'size':>4} {'count':>10}   mean M_[N]  M_C      M_out    | min M_C  max M_C")
    for row in result.by_size:
        print(f"{row['size']:>4} {row['count']:>10,}   {fmt(row['mean'][0])} {fmt(row['mean'][1])}"
              f" {fmt(row['mean'][2])} | {fmt(row['min'][1])} {fmt(row['max'][1])}")
    for g, entries in result.top.items():
        if entries:
            best = entries[0]
            print(f"Largest M_{g}: {best['members']} with ratios {best['ratios']}")
