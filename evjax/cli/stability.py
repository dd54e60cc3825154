"""``evjax stability``: which coalitions of a charging game are stable (cartel stability:
internal, external), a coalition's verdicts and shares of its saving, and optionally the
stable coalition structures (:mod:`evjax.formation`), with a PNG of the counts and shares."""

from __future__ import annotations

import sys

from ._common import UsageError, bad_input, load_game, print_json, stations

HELP = "stable coalitions (internal/external), shares of a coalition's saving, structures"
TOP = 10


def add_stability(p) -> None:
    """The arguments of ``evjax stability`` on its parser ``p``."""
    p.description = ("Cartel stability of every coalition of size >= 2 (no member gains by "
                     "leaving, no outsider by joining; ties within RTOL x the largest Nash "
                     "cost count as no gain), and the shares of one coalition's saving.")
    p.add_argument("game", nargs="?", help="game file; default: 16 stations, Figure 4 mix")
    p.add_argument("--coalition", metavar="I,J,...", help="verdicts and shares of this one")
    p.add_argument("--shares", choices=("shapley", "proportional", "equal"),
                   default="shapley", help="the split of --coalition's saving to print "
                   "(default shapley; --json reports all three)")
    p.add_argument("--structures", action="store_true",
                   help="also the Nash stable and core partitions (N <= 9), by total cost")
    p.add_argument("--rtol", type=float, default=1e-9,
                   help="relative tolerance of every verdict (default 1e-9)")
    p.add_argument("--out", metavar="PNG", help="write a plot: stable coalitions by size "
                   "(and --coalition's shares per member)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_stability)


def cmd_stability(args) -> int:
    """``evjax stability``: enumerate, judge the coalition, print a summary or ``--json``."""
    from .. import formation
    from ..charging.coalitions import coalition_members
    from ..sweeps.plot import check_plot_path

    game, _, source = load_game(args.game, default="figure4")
    plot = None
    with bad_input():
        if args.out is not None:  # before the enumeration, not after it
            plot = check_plot_path(args.out, "--out")
        coalition = None
        if args.coalition:  # checked before the enumeration, not after it
            coalition = coalition_members(stations(args.coalition), game.n_stations)
        rtol = formation.costs.check_rtol(args.rtol)
        if args.structures and game.n_stations > formation.partitions.MAX_CORE:
            raise ValueError(f"--structures enumerates every partition: N = "
                             f"{game.n_stations} > {formation.partitions.MAX_CORE}")
        found = formation.stable_coalitions(game, rtol=rtol)
        report = _coalitions_report(found)
        shares = None
        if coalition is not None:
            report.update(_coalition_report(formation, game, coalition, rtol))
            shares = [formation.coalition_shares(game, coalition, s, rtol=rtol)
                      for s in formation.SPLITS]
            report["shares"] = {s.split: _shares_dict(s) for s in shares}
            report["shapley"] = report["shares"]["shapley"]["shares"]
        if args.structures:
            report["structures"] = {kind: [p.to_dict() for p in
                                           formation.stable_partitions(game, kind, rtol=rtol)]
                                    for kind in ("nash", "core")}
    if plot is not None:
        from ..formation.plot import plot_stability

        path = plot_stability(found, plot, shares=shares, title=str(source))
        print(f"Plot of the stable coalitions: {path.resolve()}", file=sys.stderr)
    if args.json:
        return print_json(report, allow_nan=False)
    _print(report, source, args.shares)
    return 0


def _coalitions_report(found) -> dict:
    return {"n_stations": found.n_stations, "evaluated": found.evaluated, "tol": found.tol,
            "seconds": found.seconds,
            "internally_stable": found.lists("internal"),
            "externally_stable": found.lists("external"), "stable": found.lists("stable"),
            "by_size": {k: {str(s): c for s, c in found.by_size(k).items()}
                        for k in ("internal", "external", "stable")}}


def _coalition_report(formation, game, coalition, rtol) -> dict:
    verdict = formation.cartel_stability(game, coalition, rtol=rtol)
    out = {"coalition": verdict.members, "internal": verdict.internal,
           "external": verdict.external, "leave_gain": verdict.leave_gain.tolist(),
           "join_gain": verdict.join_gain.tolist()}
    if len(verdict.members) < formation.shares.MAX_EXACT:
        with_transfers = formation.transfer_stability(game, coalition, rtol=rtol)
        out["with_shapley_transfers"] = {"internal": with_transfers.internal,
                                         "external": with_transfers.external,
                                         "leave_gain": with_transfers.leave_gain.tolist(),
                                         "join_gain": with_transfers.join_gain.tolist()}
    return out


def _shares_dict(s) -> dict:
    return {"shares": s.shares.tolist(), "own": s.own.tolist(), "saving": s.saving,
            "rational": s.rational, "in_core": s.in_core,
            "max_excess": None if s.in_core is None else s.excess, "worst_group": s.worst,
            "stderr": None if s.stderr is None else s.stderr.tolist()}


def _print(report, source, split) -> None:
    print(f"Stability of {source}: {report['evaluated']:,} coalitions of size >= 2 in "
          f"{report['seconds']:.2f} s (tolerance {report['tol']:.3g})")
    for kind, key in (("internal", "internally_stable"), ("external", "externally_stable"),
                      ("stable", "stable")):
        sizes = ", ".join(f"{s}: {c:,}" for s, c in report["by_size"][kind].items()) or "none"
        print(f"  {key.replace('_', ' ')}: {len(report[key]):,} (by size {sizes})")
    if report["stable"]:
        shown = report["stable"][:TOP]
        print(f"Stable coalitions (first {len(shown)}): " + "; ".join(map(str, shown)))
    if "coalition" in report:
        yes = {True: "yes", False: "no"}
        print(f"\nCoalition {report['coalition']}: internally stable {yes[report['internal']]}"
              f", externally stable {yes[report['external']]}")
        if "with_shapley_transfers" in report:
            t = report["with_shapley_transfers"]
            print(f"  with Shapley transfers: internally {yes[t['internal']]}, externally "
                  f"{yes[t['external']]}")
        s = report["shares"][split]
        print(f"  saving v(C) = {s['saving']:.6g}; {split} shares "
              + ", ".join(f"{i}: {v:.6g}" for i, v in zip(report["coalition"], s["shares"]))
              + f"\n  individually rational {yes[s['rational']]}, in the core "
              + ("n/a" if s["in_core"] is None else yes[s["in_core"]]))
    for kind, parts in report.get("structures", {}).items():
        print(f"\n{kind.capitalize()} stable partitions: {len(parts):,}")
        for p in parts[:TOP]:
            print(f"  {p['blocks']}  total cost {p['total_cost']:.6g}")


__all__ = ["HELP", "UsageError", "add_stability", "cmd_stability"]
