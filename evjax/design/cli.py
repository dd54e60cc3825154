"""``evjax design`` and ``evjax sensitivity``: the command-line side of :mod:`evjax.design`.

``add_parsers(sub)`` registers both subcommands on the parser of :mod:`evjax.cli`.
"""

from __future__ import annotations

import json
import sys

from .objective import GROUPS, KINDS

NAMES = {"all": "M_[N]", "coalition": "M_C", "outside": "M_[N]\\C"}


def _game(path):
    from ..charging.examples import figure4_game
    from ..cli import _load

    if path is None:
        return figure4_game(), None, "built-in default (16 stations, Figure 4 type mix, seed 0)"
    return _load(path)


def _stations(text, flag):
    from ..cli import UsageError, _parse_coalition

    if not text:
        return []
    try:
        return _parse_coalition(text)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--coalition", flag)) from None


def _fmt(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.10g}"


def _ratios_line(game, coalition, ratios) -> str:
    """The three ratios, each a number or "undefined: <why>" (unconstrained games)."""
    from ..charging.closed_form import equilibrium
    from ..charging.game import ChargingGame
    from ..cli import _ratio_report

    reasons = [None] * 3
    if isinstance(game, ChargingGame) and any(float(r) != float(r) for r in ratios):
        _, reasons = _ratio_report(game, coalition, equilibrium(game),
                                   equilibrium(game, [list(coalition)]))
    return ", ".join(f"{NAMES[g]} = {_fmt(float(r))}" if why is None else f"{NAMES[g]} {why}"
                     for g, r, why in zip(GROUPS, ratios, reasons, strict=True))


def cmd_design(args) -> int:
    from ..cli import UsageError
    from .search import coalition_search

    game, _, source = _game(args.game)
    try:
        result = coalition_search(
            game, args.objective, kind=args.kind, size=args.size,
            include=_stations(args.include, "--include"),
            exclude=_stations(args.exclude, "--exclude"), restarts=args.restarts,
            steps=args.steps, seed=args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        out = {"source": str(source), "objective": args.objective, "kind": args.kind,
               "size": args.size, **result.to_dict()}
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return 0
    goal = f"{args.kind} {NAMES[args.objective]}" + (f", size {args.size}" if args.size else "")
    print(f"Game: {source}; N = {game.n_stations} stations, T = {game.n_steps} steps")
    print(f"Maximising the {goal}")
    print(f"\nCoalition found: {result.members} (size {len(result.members)})")
    print(f"Objective: {_fmt(result.value)} (after rounding, before polish: "
          f"{_fmt(result.rounded_value)})")
    print("Ratios, cost at Nash / cost at C-Nash: "
          + _ratios_line(game, result.members, result.ratios))
    print(f"Cost evaluations: {result.evaluations:,} ({result.relaxed_evaluations:,} relaxed "
          f"with gradient, {result.exact_evaluations:,} exact)")
    return 0


def cmd_sensitivity(args) -> int:
    from ..cli import UsageError, writable_folder
    from .plot import entry_label, plot_sensitivity
    from .sensitivity import sensitivity

    if args.top < 1:
        raise UsageError(f"--top must be >= 1, got {args.top}")
    folder = None if args.no_plot else writable_folder(args.out or ".")  # before the work
    game, file_coalitions, source = _game(args.game)
    if args.coalition is not None:
        coalition = _stations(args.coalition, "--coalition")
    elif file_coalitions and len(file_coalitions) == 1:
        coalition = file_coalitions[0]
    else:
        raise UsageError("give the coalition: --coalition 0,1,2 (or a file with exactly one)")
    try:
        result = sensitivity(game, coalition)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    plot = None
    if not args.no_plot:
        plot = folder / "sensitivity.png"
        plot_sensitivity(result, plot, top=args.top, by=args.by,
                         title=f"{source}: coalition {coalition}")
        print(f"Bar plot of the ranked sensitivities: {plot}", file=sys.stderr)
    if args.json:
        out = {"source": str(source), **result.to_dict(args.group, args.by),
               "plot": None if plot is None else str(plot)}
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(f"Game: {source}; N = {game.n_stations} stations, T = {game.n_steps} steps")
    print(f"Coalition {coalition}: " + _ratios_line(game, coalition, result.ratios))
    print(f"\nd{NAMES[args.group]}/dp, the {args.top} largest by |{args.by}|:")
    print(f"{'rank':>4} {'parameter':>12} {'value':>12} {'dM/dp':>14} {'(p/M) dM/dp':>14}")
    for k, row in enumerate(result.ranked(args.group, args.by)[: args.top], 1):
        print(f"{k:>4} {entry_label(row):>12} {row['value']:>12.6g} {row['derivative']:>14.6g} "
              f"{row['elasticity']:>14.6g}")
    return 0


def add_parsers(sub) -> None:
    """Register ``design`` and ``sensitivity`` on the subparsers ``sub`` of ``evjax``."""
    design = sub.add_parser(
        "design", help="the coalition maximising a ratio (relaxed search, optax, local search)",
        description="Search the coalition that maximises M_[N], M_C or M_[N]\\C (or a saving): "
                    "relaxed membership with Adam, rounding, add/drop/swap polish.")
    design.add_argument("game", nargs="?", help="game file; default: 16 stations, Figure 4 mix")
    design.add_argument("--objective", choices=GROUPS, default="coalition",
                        help="the group whose ratio is maximised (default coalition)")
    design.add_argument("--kind", choices=KINDS, default="ratio",
                        help="maximise the ratio or the saving c(Nash) - c(C-Nash)")
    design.add_argument("--size", type=int, help="fixed coalition size (default: any)")
    design.add_argument("--include", help="stations the coalition must contain, e.g. 0,3")
    design.add_argument("--exclude", help="stations the coalition must not contain")
    design.add_argument("--restarts", type=int, default=8, help="relaxed restarts (default 8)")
    design.add_argument("--steps", type=int, default=100, help="Adam steps each (default 100)")
    design.add_argument("--seed", type=int, default=0)
    design.add_argument("--json", action="store_true",
                        help="print one JSON object (members, ratios, evaluations, ...)")
    design.set_defaults(func=cmd_design)

    sens = sub.add_parser(
        "sensitivity", help="d(ratio)/d(parameter) for every parameter, ranked, with a bar plot",
        description="Gradients of the three ratios of one coalition with respect to mu, d, a, "
                    "b and xbar (reverse mode through the closed form).")
    sens.add_argument("game", nargs="?", help="game file; default: 16 stations, Figure 4 mix")
    sens.add_argument("--coalition", metavar="I,J,...",
                      help="the coalition (default: the file's, if it has exactly one)")
    sens.add_argument("--group", choices=GROUPS, default="coalition",
                      help="the ratio the table ranks (default coalition)")
    sens.add_argument("--by", choices=("derivative", "elasticity"), default="derivative",
                      help="rank by |dM/dp| or by |(p/M) dM/dp|")
    sens.add_argument("--top", type=int, default=15, help="rows of the table and plot")
    sens.add_argument("--out", help="directory for sensitivity.png (default .)")
    sens.add_argument("--no-plot", action="store_true", help="write no plot")
    sens.add_argument("--json", action="store_true", help="print one JSON object")
    sens.set_defaults(func=cmd_sensitivity)
