"""The ``evjax`` command line: ``evjax solve``, ``evjax example-game``, ``evjax reproduce``.

The CLI (unlike the library) enables float64 before doing anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from pathlib import Path
from ._paths import check_writable

import jax

EXIT_BAD_INPUT = 2


class UsageError(ValueError):
    """Bad input from the command line or a file: exit status 2, one line on stderr."""


def _parse_coalition(text: str) -> list[int]:
    try:
        members = [int(v) for v in text.split(",") if v.strip() != ""]
    except ValueError:
        raise UsageError(
            f"--coalition takes comma-separated station indices such as 0,1,2; got {text!r}"
        ) from None
    if not members:
        raise UsageError(f"--coalition needs at least one station index, got {text!r}")
    return members


def _finite_or_none(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


@contextlib.contextmanager
def bad_input():
    """Turn the library's ``ValueError`` (its bad-input error) into a :class:`UsageError`."""
    try:
        yield
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def positive_number(value: float, flag: str) -> float:
    """``value`` if it is a finite number > 0, else a :class:`UsageError` naming ``flag``."""
    if not 0.0 < value < math.inf:  # False for NaN too
        raise UsageError(f"{flag} must be a finite number > 0, got {value!r}")
    return value


def writable_folder(path, flag: str = "--out") -> Path:
    """The folder ``path``, checked writable (:func:`evjax._paths.check_writable`) and created,
    before any computation (a :class:`UsageError` naming ``flag`` otherwise)."""
    try:
        folder = check_writable(path, directory=True, name=flag)
        folder.mkdir(parents=True, exist_ok=True)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write there ({exc.strerror})") from None
    return folder


def _ratio_report(game, coalition, nash_x, cnash_x):
    """(ratios as floats or None, reasons as str or None) of one coalition, from the Nash
    and C-Nash profiles (:func:`evjax.charging.metrics.group_ratios`, ``ratio_reasons``)."""
    from .charging.metrics import group_costs, group_ratios, ratio_reasons

    nash, cnash = group_costs(game, nash_x, coalition), group_costs(game, cnash_x, coalition)
    ratios = [_finite_or_none(r) for r in group_ratios(nash, cnash)]
    return ratios, list(ratio_reasons(nash, cnash, coalition, game.n_stations))


def _print_ratios(ratios, reasons, heading: str) -> None:
    names = ("M_[N]", "M_C", "M_[N]\\C")
    print(f"\n{heading}")
    for name, r, why in zip(names, ratios, reasons, strict=True):
        print(f"  {name} = {r:.10g}" if r is not None else f"  {name}: {why}")


def _load(path):
    from .charging.examples import figure2_game
    from .io import load_game

    if path is None:
        return figure2_game(coalition_size=2), [[0, 1]], "built-in example (Figure 2 setting)"
    try:
        game, coalitions = load_game(path)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return game, coalitions, path


def cmd_solve(args) -> int:
    import numpy as np

    from .charging import certify, coalition_lists, equilibrium, station_costs

    positive_number(args.tol, "--tol")
    game, file_coalitions, source = _load(args.game)
    if args.coalition is not None:
        coalitions = [_parse_coalition(c) for c in args.coalition]
    else:
        coalitions = file_coalitions or []
    try:
        coalitions = coalition_lists(coalitions, game.n_stations)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    constraints = _constraints(args, game)
    if constraints:
        return _solve_constrained(args, game, coalitions, source, constraints)
    with bad_input():  # a result that is not finite (float64 overflow) is refused
        x = equilibrium(game, coalitions, method=args.method)
        x_nash = equilibrium(game, (), method=args.method)
        costs, nash_costs = station_costs(game, x), station_costs(game, x_nash)
    ratios = reasons = None
    if len(coalitions) == 1:
        ratios, reasons = _ratio_report(game, coalitions[0], x_nash, x)
    cert = certify(game, x, coalitions)

    if args.json:
        out = {
            "source": str(source),
            "n_stations": game.n_stations,
            "n_steps": game.n_steps,
            "coalitions": coalitions,
            "x": np.asarray(x).tolist(),
            "costs": np.asarray(costs).tolist(),
            "nash_costs": np.asarray(nash_costs).tolist(),
            "ratios": ratios,
            "ratio_reasons": reasons,
            "certificate": cert.to_dict(),
        }
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return 0

    kind = "constant" if game.constant_b else "time-varying"
    print(f"Game: {source}; N = {game.n_stations} stations, T = {game.n_steps} steps, {kind} b")
    print(f"Coalitions: {coalitions if coalitions else 'none (Nash equilibrium)'}")
    owner = {i: k for k, c in enumerate(coalitions) for i in c}
    print(f"\n{'station':>7} {'player':>8} {'d':>10} {'mu':>10} {'cost':>14} {'cost at Nash':>14}")
    for i in range(game.n_stations):
        player = f"C{owner[i]}" if i in owner else "alone"
        print(f"{i:>7} {player:>8} {float(game.d[i]):>10.4g} {float(game.mu[i]):>10.4g} "
              f"{float(costs[i]):>14.8g} {float(nash_costs[i]):>14.8g}")
    if ratios is not None:
        _print_ratios(ratios, reasons, "Ratios, cost at Nash / cost at C-Nash (> 1: the "
                                       "coalition lowers that cost):")
    print(f"\nCertificate: KKT residual {float(cert.kkt_residual):.3g}, largest best-response "
          f"gain {float(cert.max_gain):.3g} over {len(cert.players)} players")
    _print_profile(x)
    return 0


def _print_profile(x) -> None:
    import numpy as np

    print("\nEquilibrium x (row i: station i, columns: steps):")
    with np.printoptions(precision=6, suppress=True, linewidth=120):
        print(np.asarray(x))


def _numbers(text: str, flag: str) -> float | list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip() != ""]
    except ValueError:
        raise UsageError(f"{flag} takes a number or comma-separated numbers, got {text!r}") from None
    if not values:
        raise UsageError(f"{flag} needs a value, got {text!r}")
    return values[0] if len(values) == 1 else values


def _constraints(args, game) -> dict:
    """The --nonnegative / --rate-limit / --capacity options as ConstrainedChargingGame keywords."""
    out = {}
    if args.nonnegative:
        out["nonnegative"] = True
    if args.rate_limit is not None:
        out["rate_limit"] = _numbers(args.rate_limit, "--rate-limit")
    if args.capacity is not None:
        out["capacity"] = _numbers(args.capacity, "--capacity")
    return out


def _solve_constrained(args, game, coalitions, source, constraints) -> int:
    """``evjax solve`` with constraints: Nikaido-Isoda relaxation (paper 003 eqs 24-28)."""
    import equinox as eqx
    import numpy as np

    from .charging import station_costs
    from .charging.constrained import ConstrainedChargingGame
    from .solvers import RESULTS, solve

    try:
        cgame = ConstrainedChargingGame(game, coalitions, **constraints)
        nash_game = ConstrainedChargingGame(game, (), **constraints)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    run = eqx.filter_jit(lambda g: solve(g, step=args.step, tol=args.tol, throw=False))
    sol, nash = run(cgame), run(nash_game)
    for name, s in (("equilibrium", sol), ("Nash equilibrium", nash)):
        if s.result != RESULTS.successful:
            print(f"evjax solve: no {name}: {s.message} (NI gap "
                  f"{float(s.gap):.3g} after {int(s.steps)} steps)", file=sys.stderr)
            return 1
    x = sol.value
    with bad_input():  # a result that is not finite (float64 overflow) is refused
        costs, nash_costs = station_costs(game, x), station_costs(game, nash.value)
    ratios = reasons = None
    if len(coalitions) == 1:
        ratios, reasons = _ratio_report(game, coalitions[0], nash.value, x)
    cert = {
        "ni_gap": float(sol.gap), "violation": float(sol.violation), "steps": int(sol.steps),
        "step_rule": args.step, "step_sizes": [float(a) for a in
                                                np.asarray(sol.step_sizes)[: int(sol.steps)]],
        "shared_multipliers": np.asarray(sol.response.shared_mult).tolist(),
    }
    if args.json:
        json.dump({
            "source": str(source), "n_stations": game.n_stations, "n_steps": game.n_steps,
            "coalitions": coalitions, "constraints": {k: (np.asarray(v).tolist() if k != "nonnegative"
                                                         else v) for k, v in constraints.items()},
            "x": np.asarray(x).tolist(), "costs": np.asarray(costs).tolist(),
            "nash_costs": np.asarray(nash_costs).tolist(), "ratios": ratios,
            "ratio_reasons": reasons, "certificate": cert,
        }, sys.stdout)
        sys.stdout.write("\n")
        return 0
    shown = ", ".join(f"{k} = {v}" for k, v in constraints.items())
    print(f"Game: {source}; N = {game.n_stations} stations, T = {game.n_steps} steps")
    print(f"Constraints: {shown}")
    print(f"Coalitions: {coalitions if coalitions else 'none (Nash equilibrium)'}")
    print(f"\n{'station':>7} {'cost':>14} {'cost at Nash':>14}")
    for i in range(game.n_stations):
        print(f"{i:>7} {float(costs[i]):>14.8g} {float(nash_costs[i]):>14.8g}")
    if ratios is not None:
        _print_ratios(ratios, reasons, "Ratios, cost at Nash / cost at C-Nash:")
    print(f"\nNikaido-Isoda relaxation ({args.step} step): {cert['steps']} steps, NI gap "
          f"{cert['ni_gap']:.3g}, constraint violation {cert['violation']:.3g}")
    _print_profile(x)
    return 0


def cmd_example_game(args) -> int:
    from .charging.examples import figure2_game
    from .io import game_to_dict

    k = args.coalition_size
    try:
        game = figure2_game(coalition_size=k)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    data = game_to_dict(
        game,
        coalitions=[list(range(k))] if k > 0 else [],
        description=(
            f"Paper 000, Figure 2 setting: N = 5, T = 10, b = 0.5, a^t = 0.5, alpha = 0.4/T "
            f"then 1.6/T; stations 0..{k - 1} type L (d = 1, mu = 0.1) in the coalition, the "
            f"rest type H (d = 5, mu = 1)."
        ),
    )
    json.dump(data, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def cmd_sweep(args) -> int:
    from pathlib import Path

    from .charging.examples import figure4_game
    from .sweeps import sweep
    from .sweeps.plot import check_plot_path, plot_by_size

    if args.game is None:
        game, source = figure4_game(), "built-in default (16 stations, Figure 4 type mix, seed 0)"
    else:
        game, _, source = _load(args.game)
    parse = lambda text: _parse_coalition(text) if text else []  # noqa: E731
    if args.table and args.out is None:
        raise UsageError("--table writes Parquet files: give an --out directory")
    plot = None  # --plot, else OUT/sweep-by-size.png, else ./sweep-by-size.png
    if not args.no_plot:
        plot = Path(args.plot) if args.plot else Path(args.out or ".") / "sweep-by-size.png"
    try:
        if args.out is not None:  # both before the sweep, not after it
            check_writable(args.out, directory=True, name="--out")
        if plot is not None:
            check_plot_path(plot, "--plot" if args.plot else "the plot")
        result = sweep(game, sizes=args.sizes, include=parse(args.include),
                       exclude=parse(args.exclude), top_k=args.top, out=args.out,
                       table=args.table, tol=args.tol)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if plot is not None:
        plot = plot_by_size(result, plot, title=f"{source}: {result.n_evaluated:,} coalitions")
        print(f"Plot of the ratios against coalition size: {plot.resolve()}", file=sys.stderr)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return 0
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
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evjax", description="Equilibria of EV-charging games (JAX, float64)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    solve = sub.add_parser(
        "solve",
        help="equilibrium, costs, ratios and certificate of a charging game",
        description="Solve the C-Nash equilibrium of a charging game (paper 000, Theorem 4.1).",
    )
    solve.add_argument("game", nargs="?", help="game file (JSON); default: built-in example")
    solve.add_argument(
        "--coalition", action="append", metavar="I,J,...",
        help="a coalition as comma-separated station indices; repeat for several "
             "(default: the file's 'coalitions', else none: Nash)",
    )
    solve.add_argument("--method", choices=("structured", "dense"), default="structured")
    solve.add_argument("--json", action="store_true", help="print one JSON object")
    cons = solve.add_argument_group(
        "constraints (any of them switches to the Nikaido-Isoda solver, paper 003 eqs 24-28)")
    cons.add_argument("--nonnegative", action="store_true", help="no discharging: x >= 0")
    cons.add_argument("--rate-limit", metavar="R", help="x_i^t <= R (one number, or N numbers)")
    cons.add_argument("--capacity", metavar="C",
                      help="shared grid limit sum_i x_i^t <= C (one number, or T numbers)")
    cons.add_argument("--step", choices=("optimal", "constant"), default="optimal",
                      help="relaxation step rule: optimal (Krawczyk-Uryasev, the default) or "
                      "constant (0.5, paper 003's rule; cycles on large games)")
    cons.add_argument("--tol", type=float, default=1e-8, help="NI gap tolerance (default 1e-8)")
    solve.set_defaults(func=cmd_solve)

    sw = sub.add_parser(
        "sweep", help="every coalition of a game: ratio counts, per-size statistics, top-k",
        description="Evaluate every single coalition (the rest alone) in O(T) each.",
    )
    sw.add_argument("game", nargs="?", help="game file; default: 16 stations, Figure 4 mix")
    sw.add_argument("--sizes", help="coalition sizes, e.g. 2-5 or 2,3")
    sw.add_argument("--include", help="stations every coalition contains, e.g. 0,3")
    sw.add_argument("--exclude", help="stations no coalition contains")
    sw.add_argument("--top", type=int, default=10, help="length of the top lists")
    sw.add_argument("--out", help="directory for a resumable run (rerun to resume)")
    sw.add_argument("--table", action="store_true",
                    help="also write every coalition's row as Parquet under OUT/table/")
    sw.add_argument("--tol", type=float, default=1e-9,
                    help="a ratio counts as above 1 when > 1 + TOL (default 1e-9; finite, >= 0)")
    sw.add_argument("--plot", help="PNG of the ratios against size (default "
                    "OUT/sweep-by-size.png, or ./sweep-by-size.png without --out; the path "
                    "written is printed on stderr)")
    sw.add_argument("--no-plot", action="store_true", help="write no plot")
    sw.add_argument("--json", action="store_true", help="print one JSON object")
    sw.set_defaults(func=cmd_sweep)

    example = sub.add_parser(
        "example-game", help="print a game file (the Figure 2 setting of paper 000)"
    )
    example.add_argument("--coalition-size", type=int, default=2,
                         help="stations 0..k-1 form the type-L coalition (default 2)")
    example.set_defaults(func=cmd_example_game)

    from .design.cli import add_parsers as add_design_parsers  # design, sensitivity

    add_design_parsers(sub)
    from .decks.cli import add_parser as add_decks_parser  # evjax decks (paper 003)

    add_decks_parser(sub)
    from .reproduce.cli import add_parser as add_reproduce_parser  # evjax reproduce

    add_reproduce_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    jax.config.update("jax_enable_x64", True)
    # One thread per XLA op (read when the backend starts, i.e. before the first
    # computation): the CLI's work is many small ops, which intra-op threads only slow down.
    if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false").strip()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"evjax: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
