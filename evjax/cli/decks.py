"""``evjax decks``: the deck pricing game of paper 003 from the command line.

Solves the default day (or a scenario file) and the paper's experiments, prints a summary
(or ``--json``), and with ``--out DIR`` writes CSV files and PNG plots per experiment:
prices.csv (with each group's own-price elasticity per deck and hour), decks.csv,
constraints.csv, prices.png, convergence.png and .csv (Fig 3), and,
over experiments, comparison.csv and compare-NAME.png and .csv (Figs 4-10, each vs baseline;
every figure's CSV holds the numbers it plots, :mod:`evjax.decks.plot`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import UsageError, print_json, writable_folder

HELP = "deck pricing game of paper 003 (charging/parking decks on a grid)"
EXIT_NOT_CERTIFIED = 1


def add_decks(p) -> None:
    """The arguments of ``evjax decks`` on its parser ``p``."""
    from ..decks import EXPERIMENTS  # listed in the help (imports JAX: see evjax.cli)

    listing = "\n".join(f"  {k:<15} {v[1]}" for k, v in EXPERIMENTS.items())
    p.description = ("Equilibrium prices of competing charging/parking decks under grid "
                     "constraints (paper 003; Nikaido-Isoda relaxation).")
    p.epilog = f"experiments (--experiment NAME, or all):\n{listing}"
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("scenario", nargs="?", help="scenario file (JSON or TOML); default: the "
                   "built-in day of 6 decks")
    p.add_argument("--experiment", default="baseline", metavar="NAME",
                   help="one of the experiments below, or 'all' (default: baseline)")
    p.add_argument("--out", metavar="DIR", help="write CSV files and PNG plots under DIR")
    p.add_argument("--json", action="store_true", help="print JSON (per experiment run; an "
                   "object keyed by experiment name with --experiment all)")
    p.add_argument("--no-grid", action="store_true", help="ignore the grid limits")
    p.add_argument("--step", choices=("constant", "optimal"), default="constant",
                   help="the relaxation's step rule: constant 0.5 (paper 003, default) or "
                        "optimal (Krawczyk-Uryasev)")
    p.add_argument("--no-certify", action="store_true",
                   help="skip the global best-response check of every deck")
    p.set_defaults(func=cmd_decks)


def cmd_decks(args) -> int:
    """``evjax decks``: solve the experiments, print or ``--json``, write files with ``--out``;
    exit status 1 when an equilibrium is not found or not certified."""
    from ..decks import EXPERIMENTS, build_game, default_scenario, equilibrium, experiment
    from ..decks import load_scenario

    if args.experiment != "all" and args.experiment not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {args.experiment!r}; choose from "
                         f"{', '.join(EXPERIMENTS)} or all")
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    try:
        base = load_scenario(args.scenario) if args.scenario else default_scenario()
        games = {n: build_game(experiment(base, n), grid=not args.no_grid) for n in names}
    except (ValueError, OSError) as exc:
        raise UsageError(f"{args.scenario or 'default scenario'}: {exc}") from None
    out = writable_folder(args.out) if args.out else None  # before solving
    deck_names = [d.get("name", f"deck {i + 1}") for i, d in enumerate(base["decks"])]
    results = {n: equilibrium(g, certify=not args.no_certify, step=args.step)
               for n, g in games.items()}
    if out is not None:
        _write(out, results, deck_names)
    if args.json:
        summaries = {n: dict(r.summary(), scenario=base.get("name", "scenario"), experiment=n)
                     for n, r in results.items()}
        print_json(summaries if args.experiment == "all" else summaries[names[0]])
    else:
        for n, r in results.items():
            _print(n, r, deck_names)
    failed = [n for n, r in results.items()
              if not r.converged or (not args.no_certify and not r.certified)]
    for n in failed:
        r = results[n]
        why = r.message if not r.converged else (
            f"largest relative best-response gain {r.relative_gain:.3g} (certified below "
            f"1e-6), violation {r.violation:.3g}")
        print(f"evjax decks: {n}: NO certified equilibrium: {why}", file=sys.stderr)
    return EXIT_NOT_CERTIFIED if failed else 0  # not converged, or (checked) not certified


def _print(name, r, deck_names) -> None:
    import numpy as np

    from ..solvers import RESULTS

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
    el = {g: r.elasticity[g][np.isfinite(r.elasticity[g])] for g in ("sc", "lsc_charging")}
    ranges = ", ".join(f"{g} {v.min():.2f}-{v.max():.2f}" for g, v in el.items() if v.size)
    print(f"   own-price elasticities over deck-hours: {ranges}, LC 0")
    for x in r.restarts:
        print(f"   restart at hour {x['hour']} from the global best response of deck(s) "
              f"{x['decks']} (gain {x['gain']:.3g}): {RESULTS.message(x['result'])}")


def _write(out: Path, results, deck_names) -> None:
    import numpy as np

    from ..decks import plot

    out.mkdir(parents=True, exist_ok=True)
    idx = np.arange(len(deck_names))
    for name, r in results.items():
        d = out / name
        d.mkdir(exist_ok=True)
        hours = r.charging.shape[1]
        deck, hour = np.meshgrid(idx, np.arange(hours), indexing="ij")
        groups = ("lc_park", "lc_charge", "lsc", "lsc_charging", "sc")
        plot.write_csv(d / "prices.csv", {
            "deck": deck.ravel() + 1, "name": [deck_names[i] for i in deck.ravel()],
            "hour": hour.ravel(), "charging_price": r.charging.ravel(),
            "parking_fee": r.parking.ravel(),
            **{g: r.customers[g].ravel() for g in groups}, "load_kw": r.load.ravel(),
            **{f"elasticity_{g}": r.elasticity[g].ravel() for g in ("sc", "lsc_charging", "lc")}})
        plot.write_csv(d / "decks.csv", {
            "deck": idx + 1, "name": list(deck_names),
            "mean_charging_price": r.charging.mean(1), "mean_parking_fee": r.parking.mean(1),
            "revenue": r.revenue, "best_response_gain": r.gains})
        keys = ("kind", "element", "hour", "value", "slack", "multiplier", "binding")
        plot.write_csv(d / "constraints.csv", {
            k: [int(c[k]) if k == "binding" else c[k] for c in r.constraints] for k in keys})
        plot.prices(r, deck_names, d / "prices.png", title=name)
        plot.write_csv(d / "convergence.csv",
                       plot.convergence(r, deck_names, d / "convergence.png", title=name))
    if len(results) > 1:
        names = list(results)
        plot.write_csv(out / "comparison.csv", {
            "experiment": np.repeat(names, len(idx)), "deck": np.tile(idx + 1, len(names)),
            "name": list(deck_names) * len(names),
            "mean_charging_price": np.concatenate([r.charging.mean(1) for r in results.values()]),
            "mean_parking_fee": np.concatenate([r.parking.mean(1) for r in results.values()]),
            "revenue": np.concatenate([r.revenue for r in results.values()])})
        if "baseline" in results:
            for n, r in results.items():
                if n != "baseline":
                    plot.write_csv(out / f"compare-{n}.csv", plot.comparison(
                        results["baseline"], r, deck_names, out / f"compare-{n}.png",
                        title=f"{n} vs baseline"))
