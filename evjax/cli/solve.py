"""``evjax solve`` and ``evjax example-game``: one charging game of paper 000, solved in
closed form, or with constraints by the Nikaido-Isoda relaxation of paper 003."""

from __future__ import annotations

import sys

from ._common import (UsageError, bad_input, load_game, positive_number, print_json,
                      print_profile, print_ratios, ratio_report, stations)

SOLVE_HELP = "equilibrium, costs, ratios and certificate of a charging game"
EXAMPLE_HELP = "print a game file (the Figure 2 setting of paper 000)"


def add_solve(p) -> None:
    """The arguments of ``evjax solve`` on its parser ``p``."""
    p.description = "Solve the C-Nash equilibrium of a charging game (paper 000, Theorem 4.1)."
    p.add_argument("game", nargs="?", help="game file (JSON); default: built-in example")
    p.add_argument(
        "--coalition", action="append", metavar="I,J,...",
        help="a coalition as comma-separated station indices; repeat for several "
             "(default: the file's 'coalitions', else none: Nash)",
    )
    p.add_argument("--method", choices=("structured", "dense"), default="structured")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    cons = p.add_argument_group(
        "constraints (any of them switches to the Nikaido-Isoda solver, paper 003 eqs 24-28)")
    cons.add_argument("--nonnegative", action="store_true", help="no discharging: x >= 0")
    cons.add_argument("--rate-limit", metavar="R", help="x_i^t <= R (one number, or N numbers)")
    cons.add_argument("--capacity", metavar="C",
                      help="shared grid limit sum_i x_i^t <= C (one number, or T numbers)")
    cons.add_argument("--step", choices=("optimal", "constant"), default="optimal",
                      help="relaxation step rule: optimal (Krawczyk-Uryasev, the default) or "
                      "constant (0.5, paper 003's rule; cycles on large games)")
    cons.add_argument("--tol", type=float, default=1e-8, help="NI gap tolerance (default 1e-8)")
    p.set_defaults(func=cmd_solve)


def add_example_game(p) -> None:
    """The arguments of ``evjax example-game`` on its parser ``p``."""
    p.add_argument("--coalition-size", type=int, default=2,
                   help="stations 0..k-1 form the type-L coalition (default 2)")
    p.set_defaults(func=cmd_example_game)


def cmd_solve(args) -> int:
    """``evjax solve``: print (or ``--json``) the equilibrium, costs, ratios, certificate."""
    import numpy as np

    from ..charging import certify, coalition_lists, equilibrium, station_costs

    positive_number(args.tol, "--tol")
    game, file_coalitions, source = load_game(args.game)
    if args.coalition is not None:
        coalitions = [stations(c) for c in args.coalition]
    else:
        coalitions = file_coalitions or []
    with bad_input():
        coalitions = coalition_lists(coalitions, game.n_stations)
    constraints = _constraints(args)
    if constraints:
        return _solve_constrained(args, game, coalitions, source, constraints)
    with bad_input():  # a result that is not finite (float64 overflow) is refused
        x = equilibrium(game, coalitions, method=args.method)
        x_nash = equilibrium(game, (), method=args.method)
        costs, nash_costs = station_costs(game, x), station_costs(game, x_nash)
    ratios = reasons = None
    if len(coalitions) == 1:
        ratios, reasons = ratio_report(game, coalitions[0], x_nash, x)
    cert = certify(game, x, coalitions)
    if args.json:
        return print_json({
            "source": str(source), "n_stations": game.n_stations, "n_steps": game.n_steps,
            "coalitions": coalitions, "x": np.asarray(x).tolist(),
            "costs": np.asarray(costs).tolist(), "nash_costs": np.asarray(nash_costs).tolist(),
            "ratios": ratios, "ratio_reasons": reasons, "certificate": cert.to_dict(),
        })
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
        print_ratios(ratios, reasons, "Ratios, cost at Nash / cost at C-Nash (> 1: the "
                                      "coalition lowers that cost):")
    print(f"\nCertificate: KKT residual {float(cert.kkt_residual):.3g}, largest best-response "
          f"gain {float(cert.max_gain):.3g} over {len(cert.players)} players")
    print_profile(x)
    return 0


def _numbers(text: str, flag: str) -> float | list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip() != ""]
    except ValueError:
        raise UsageError(f"{flag} takes a number or comma-separated numbers, got {text!r}") from None
    if not values:
        raise UsageError(f"{flag} needs a value, got {text!r}")
    return values[0] if len(values) == 1 else values


def _constraints(args) -> dict:
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

    from ..charging import station_costs
    from ..charging.constrained import ConstrainedChargingGame
    from ..solvers import RESULTS, solve

    with bad_input():
        cgame = ConstrainedChargingGame(game, coalitions, **constraints)
        nash_game = ConstrainedChargingGame(game, (), **constraints)
    run = eqx.filter_jit(lambda g: solve(g, step=args.step, tol=args.tol, throw=False))
    sol, nash = run(cgame), run(nash_game)
    for name, s in (("equilibrium", sol), ("Nash equilibrium", nash)):
        if int(s.result) != RESULTS.successful:
            print(f"evjax solve: no {name}: {RESULTS.message(s.result)} (NI gap "
                  f"{float(s.gap):.3g} after {int(s.steps)} steps)", file=sys.stderr)
            return 1
    x = sol.value
    with bad_input():  # a result that is not finite (float64 overflow) is refused
        costs, nash_costs = station_costs(game, x), station_costs(game, nash.value)
    ratios = reasons = None
    if len(coalitions) == 1:
        ratios, reasons = ratio_report(game, coalitions[0], nash.value, x)
    cert = {
        "ni_gap": float(sol.gap), "violation": float(sol.violation), "steps": int(sol.steps),
        "step_rule": args.step,
        "step_sizes": [float(a) for a in np.asarray(sol.step_sizes)[: int(sol.steps)]],
        "shared_multipliers": np.asarray(sol.response.shared_mult).tolist(),
    }
    if args.json:
        shown = {k: v if k == "nonnegative" else np.asarray(v).tolist()
                 for k, v in constraints.items()}
        return print_json({
            "source": str(source), "n_stations": game.n_stations, "n_steps": game.n_steps,
            "coalitions": coalitions, "constraints": shown, "x": np.asarray(x).tolist(),
            "costs": np.asarray(costs).tolist(), "nash_costs": np.asarray(nash_costs).tolist(),
            "ratios": ratios, "ratio_reasons": reasons, "certificate": cert,
        })
    print(f"Game: {source}; N = {game.n_stations} stations, T = {game.n_steps} steps")
    print(f"Constraints: {', '.join(f'{k} = {v}' for k, v in constraints.items())}")
    print(f"Coalitions: {coalitions if coalitions else 'none (Nash equilibrium)'}")
    print(f"\n{'station':>7} {'cost':>14} {'cost at Nash':>14}")
    for i in range(game.n_stations):
        print(f"{i:>7} {float(costs[i]):>14.8g} {float(nash_costs[i]):>14.8g}")
    if ratios is not None:
        print_ratios(ratios, reasons, "Ratios, cost at Nash / cost at C-Nash:")
    print(f"\nNikaido-Isoda relaxation ({args.step} step): {cert['steps']} steps, NI gap "
          f"{cert['ni_gap']:.3g}, constraint violation {cert['violation']:.3g}")
    print_profile(x)
    return 0


def cmd_example_game(args) -> int:
    """``evjax example-game``: the Figure 2 setting of paper 000 as a game file (JSON)."""
    from ..charging.examples import figure2_game
    from ..io import game_to_dict

    k = args.coalition_size
    with bad_input():
        game = figure2_game(coalition_size=k)
    data = game_to_dict(
        game,
        coalitions=[list(range(k))] if k > 0 else [],
        description=(
            f"Paper 000, Figure 2 setting: N = 5, T = 10, b = 0.5, a^t = 0.5, alpha = 0.4/T "
            f"then 1.6/T; stations 0..{k - 1} type L (d = 1, mu = 0.1) in the coalition, the "
            f"rest type H (d = 5, mu = 1)."
        ),
    )
    return print_json(data, indent=1)
