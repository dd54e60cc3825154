"""``evjax decks``: the deck pricing game of paper 003 from the command line.

Solves the default day (or a scenario file) and the paper's experiments, prints a summary
(or ``--json``), and with ``--out DIR`` writes CSV files and PNG plots per experiment:
prices.csv, decks.csv, constraints.csv, convergence.csv, prices.png, convergence.png (Fig 3),
and, over experiments, comparison.csv and compare-NAME.png (Figs 4-10, each vs baseline).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from .scenarios import EXPERIMENTS

EXIT_NOT_CERTIFIED = 1


def add_parser(sub) -> None:
    """Register the ``decks`` subcommand on an argparse subparsers object."""
    listing = "\n".join(f"  {k:<15} {v[1]}" for k, v in EXPERIMENTS.items())
    p = sub.add_parser(
        "decks", help="deck pricing game of paper 003 (charging/parking decks on a grid)",
        description="Equilibrium prices of competing charging/parking decks under grid "
                    "constraints (paper 003; Nikaido-Isoda relaxation).",
        epilog=f"experiments (--experiment NAME, or all):\n{listing}",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", nargs="?", help="scenario file (JSON or TOML); default: the "
                   "built-in day of 6 decks")
    p.add_argument("--experiment", default="baseline", metavar="NAME",
                   help="one of the experiments below, or 'all' (default: baseline)")
    p.add_argument("--out", metavar="DIR", help="write CSV files and PNG plots under DIR")
    p.add_argument("--json", action="store_true", help="print JSON (per experiment run; an "
                   "object keyed by experiment name with --experiment all)")
    p.add_argument("--no-grid", action="store_true", help="ignore the grid limits")
    p.add_argument("--no-certify", action="store_true",
                   help="skip the global best-response check of every deck")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import UsageError
    from .report import equilibrium
    from .scenarios import build_game, default_scenario, experiment, load_scenario

    if args.experiment != "all" and args.experiment not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {args.experiment!r}; choose from "
                         f"{', '.join(EXPERIMENTS)} or all")
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    try:
        base = load_scenario(args.scenario) if args.scenario else default_scenario()
        games = {n: build_game(experiment(base, n), grid=not args.no_grid) for n in names}
    except (ValueError, OSError) as exc:
        raise UsageError(f"{args.scenario or 'default scenario'}: {exc}") from None
    deck_names = [d.get("name", f"deck {i + 1}") for i, d in enumerate(base["decks"])]
    results = {n: equilibrium(g, certify=not args.no_certify) for n, g in games.items()}
    if args.out:
        _write(Path(args.out), games, results, deck_names)
    if args.json:
        out = {n: dict(r.summary(), scenario=base.get("name", "scenario"), experiment=n)
               for n, r in results.items()}
        json.dump(out if args.experiment == "all" else out[names[0]], sys.stdout)
        sys.stdout.write("\n")
    else:
        for n, r in results.items():
            _print(n, r, deck_names)
    failed = [n for n, r in results.items() if not r.converged]
    for n in failed:
        print(f"evjax decks: {n}: NO equilibrium: {results[n].message}", file=sys.stderr)
    return EXIT_NOT_CERTIFIED if failed else 0


def _print(name, r, deck_names) -> None:
    status = "converged" if r.converged else f"NOT converged ({r.message})"
    print(f"\n== {name}: {status}; NI gap {r.ni_gap:.3g}, max violation {r.violation:.3g}, "
          f"{r.steps} relaxation steps")
    if np.all(np.isfinite(r.gains)):
        verdict = "certified" if r.certified else "NOT certified"
        print(f"   best-response check (global per hour): largest relative gain "
              f"{r.relative_gain:.3g} -> {verdict}")
    print(f"   {'deck':<14}{'charging':>10}{'parking':>10}{'revenue':>12}"
          f"{'LC':>8}{'LSC':>8}{'SC':>8}")
    for i, dn in enumerate(deck_names):
        c = r.customers
        print(f"   {dn:<14}{r.charging[i].mean():>10.4f}{r.parking[i].mean():>10.4f}"
              f"{r.revenue[i]:>12.2f}{c['lc_park'][i].sum():>8.0f}{c['lsc'][i].sum():>8.0f}"
              f"{c['sc'][i].sum():>8.0f}")
    binding = r.binding
    if r.constraints:
        shown = ", ".join(f"{c['kind']} {c['element']} h{c['hour']} (mult {c['multiplier']:.3g})"
                          for c in binding[:8])
        more = f" and {len(binding) - 8} more" if len(binding) > 8 else ""
        print(f"   binding grid constraints: {shown or 'none'}{more}")
    clipped = {k: v for k, v in r.clipped.items() if v}
    print(f"   clipped counts: {clipped or 'none'}")


def _csv(path: Path, header, rows) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _write(out: Path, games, results, deck_names) -> None:
    from . import plot
    from .report import relaxation_trace

    out.mkdir(parents=True, exist_ok=True)
    for name, r in results.items():
        d = out / name
        d.mkdir(exist_ok=True)
        hours = r.charging.shape[1]
        groups = ("lc_park", "lc_charge", "lsc", "lsc_charging", "sc")
        _csv(d / "prices.csv",
             ["deck", "name", "hour", "charging_price", "parking_fee", *groups, "load_kw"],
             [[i + 1, deck_names[i], t, r.charging[i, t], r.parking[i, t],
               *(r.customers[g][i, t] for g in groups), r.load[i, t]]
              for i in range(len(deck_names)) for t in range(hours)])
        _csv(d / "decks.csv",
             ["deck", "name", "mean_charging_price", "mean_parking_fee", "revenue",
              "best_response_gain"],
             [[i + 1, deck_names[i], r.charging[i].mean(), r.parking[i].mean(), r.revenue[i],
               r.gains[i]] for i in range(len(deck_names))])
        _csv(d / "constraints.csv",
             ["kind", "element", "hour", "value", "slack", "multiplier", "binding"],
             [[c["kind"], c["element"], c["hour"], c["value"], c["slack"], c["multiplier"],
               int(c["binding"])] for c in r.constraints])
        steps = 10 * (max(r.steps, 1) // 10 + 1)  # few distinct lengths: few compilations
        trace = [np.asarray(a) for a in relaxation_trace(games[name], steps)]
        _csv(d / "convergence.csv",
             ["iteration", "ni_gap", "step_size"]
             + [f"{k}_{i + 1}" for k in ("charging", "parking", "revenue")
                for i in range(len(deck_names))],
             [[s, r.gap_history[s] if s < len(r.gap_history) else "",
               r.step_sizes[s] if s < len(r.step_sizes) else "",
               *trace[0][s], *trace[1][s], *trace[2][s]] for s in range(steps + 1)])
        plot.prices(r, deck_names, d / "prices.png", title=name)
        plot.convergence(trace, deck_names, d / "convergence.png", title=name)
    if len(results) > 1:
        _csv(out / "comparison.csv",
             ["experiment", "deck", "name", "mean_charging_price", "mean_parking_fee",
              "revenue"],
             [[n, i + 1, deck_names[i], r.charging[i].mean(), r.parking[i].mean(),
               r.revenue[i]] for n, r in results.items() for i in range(len(deck_names))])
        if "baseline" in results:
            for n, r in results.items():
                if n != "baseline":
                    plot.comparison(results["baseline"], r, deck_names,
                                    out / f"compare-{n}.png", title=f"{n} vs baseline")
