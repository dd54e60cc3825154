"""``evjax design`` and ``evjax sensitivity``: the command-line side of :mod:`evjax.design`
(which coalition to form, and how each ratio moves with each parameter)."""

from __future__ import annotations

import sys

from ._common import (RATIO_NAMES, UsageError, bad_input, load_game, optional_stations,
                      print_json, ratio_report, writable_folder)

DESIGN_HELP = "the coalition maximising a ratio (relaxed search, optax, local search)"
SENSITIVITY_HELP = "d(ratio)/d(parameter) for every parameter, ranked, with a bar plot"


def add_design(p) -> None:
    """The arguments of ``evjax design`` on its parser ``p``."""
    from ..design.objective import GROUPS, KINDS  # the choices (imports JAX: see evjax.cli)

    p.description = ("Search the coalition that maximises M_[N], M_C or M_[N]\\C (or a "
                     "saving): relaxed membership with Adam, rounding, add/drop/swap polish.")
    p.add_argument("game", nargs="?", help="game file; default: 16 stations, Figure 4 mix")
    p.add_argument("--objective", choices=GROUPS, default="coalition",
                   help="the group whose ratio is maximised (default coalition)")
    p.add_argument("--kind", choices=KINDS, default="ratio",
                   help="maximise the ratio or the saving c(Nash) - c(C-Nash)")
    p.add_argument("--size", type=int, help="fixed coalition size (default: any)")
    p.add_argument("--include", help="stations the coalition must contain, e.g. 0,3")
    p.add_argument("--exclude", help="stations the coalition must not contain")
    p.add_argument("--restarts", type=int, default=8, help="relaxed restarts (default 8)")
    p.add_argument("--steps", type=int, default=100, help="Adam steps each (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (members, ratios, evaluations, ...)")
    p.set_defaults(func=cmd_design)


def add_sensitivity(p) -> None:
    """The arguments of ``evjax sensitivity`` on its parser ``p``."""
    from ..design.objective import GROUPS  # the choices (imports JAX: see evjax.cli)

    p.description = ("Gradients of the three ratios of one coalition with respect to mu, d, "
                     "a, b and xbar (reverse mode through the closed form).")
    p.add_argument("game", nargs="?", help="game file; default: 16 stations, Figure 4 mix")
    p.add_argument("--coalition", metavar="I,J,...",
                   help="the coalition (default: the file's, if it has exactly one)")
    p.add_argument("--group", choices=GROUPS, default="coalition",
                   help="the ratio the table ranks (default coalition)")
    p.add_argument("--by", choices=("derivative", "elasticity"), default="derivative",
                   help="rank by |dM/dp| or by |(p/M) dM/dp|")
    p.add_argument("--top", type=int, default=15, help="rows of the table and plot")
    p.add_argument("--out", help="directory for sensitivity.png (default .)")
    p.add_argument("--no-plot", action="store_true", help="write no plot")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_sensitivity)


def _fmt(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.10g}"


def _ratios_line(game, coalition, ratios) -> str:
    """The three ratios, each a number or "undefined: <why>" (unconstrained games)."""
    from ..charging import ChargingGame, equilibrium

    reasons = [None] * 3
    if isinstance(game, ChargingGame) and any(float(r) != float(r) for r in ratios):
        _, reasons = ratio_report(game, coalition, equilibrium(game),
                                  equilibrium(game, [list(coalition)]))
    return ", ".join(f"{name} = {_fmt(float(r))}" if why is None else f"{name} {why}"
                     for name, r, why in zip(RATIO_NAMES.values(), ratios, reasons, strict=True))


def cmd_design(args) -> int:
    """``evjax design``: the coalition found, its objective, ratios and evaluation counts."""
    from ..design import coalition_search

    game, _, source = load_game(args.game, default="figure4")
    with bad_input():
        result = coalition_search(
            game, args.objective, kind=args.kind, size=args.size,
            include=optional_stations(args.include, "--include"),
            exclude=optional_stations(args.exclude, "--exclude"), restarts=args.restarts,
            steps=args.steps, seed=args.seed)
    if args.json:
        return print_json({"source": str(source), "objective": args.objective,
                           "kind": args.kind, "size": args.size, **result.to_dict()})
    goal = (f"{args.kind} {RATIO_NAMES[args.objective]}"
            + (f", size {args.size}" if args.size else ""))
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
    """``evjax sensitivity``: the ranked table of d(ratio)/d(parameter), and its bar plot."""
    from ..design import sensitivity
    from ..design.plot import entry_label, plot_sensitivity

    if args.top < 1:
        raise UsageError(f"--top must be >= 1, got {args.top}")
    folder = None if args.no_plot else writable_folder(args.out or ".")  # before the work
    game, file_coalitions, source = load_game(args.game, default="figure4")
    if args.coalition is not None:
        coalition = optional_stations(args.coalition, "--coalition")
    elif file_coalitions and len(file_coalitions) == 1:
        coalition = file_coalitions[0]
    else:
        raise UsageError("give the coalition: --coalition 0,1,2 (or a file with exactly one)")
    with bad_input():
        result = sensitivity(game, coalition)
    plot = None
    if not args.no_plot:
        plot = folder / "sensitivity.png"
        plot_sensitivity(result, plot, top=args.top, by=args.by,
                         title=f"{source}: coalition {coalition}")
        print(f"Bar plot of the ranked sensitivities: {plot}", file=sys.stderr)
    if args.json:
        return print_json({"source": str(source), **result.to_dict(args.group, args.by),
                           "plot": None if plot is None else str(plot)})
    print(f"Game: {source}; N = {game.n_stations} stations, T = {game.n_steps} steps")
    print(f"Coalition {coalition}: " + _ratios_line(game, coalition, result.ratios))
    print(f"\nd{RATIO_NAMES[args.group]}/dp, the {args.top} largest by |{args.by}|:")
    print(f"{'rank':>4} {'parameter':>12} {'value':>12} {'dM/dp':>14} {'(p/M) dM/dp':>14}")
    for k, row in enumerate(result.ranked(args.group, args.by)[: args.top], 1):
        print(f"{k:>4} {entry_label(row):>12} {row['value']:>12.6g} {row['derivative']:>14.6g} "
              f"{row['elasticity']:>14.6g}")
    return 0
