"""Paper 003 (Jiang et al. 2023, World Electr. Veh. J. 14, 59): Figures 3-10 in one call.

The paper names its deck pricing game but states neither the demand functions, the grid nor
any parameter value; ``shared/design/decks.md`` fixes them and :mod:`evjax.decks` implements
that model, its default day of six decks and the paper's experiments as data
(:data:`evjax.decks.EXPERIMENTS`). :func:`reproduce` solves every experiment on the default day
(the normalised equilibrium by Nikaido-Isoda relaxation, hour by hour), refuses to go on unless
each one is converged and certified (NI gap below tolerance, grid constraints met, and no deck
gains more than 1e-6 of its revenue by its globally searched best response), then writes each
figure as PNG and as a CSV of exactly the plotted numbers:

    fig3   baseline: mean charging price, mean parking fee, revenue per deck and the NI gap
           over the relaxation's iterations (the paper's Fig 3 a-c, plus the stopping rule)
    fig4   deck 6 without SC vs baseline: per deck mean charging price, fee, revenue
    fig5   deck 6 without LSC vs baseline (the same three panels)
    fig6   100 SC a day per deck become half LC, half LSC, vs baseline (the same panels)
    fig7   the same experiment, hour by hour: charging price and parking fee per deck
           against the baseline (dashed). The text captions neither Fig 6 nor Fig 7; decks.md
           gives both to this experiment, so Fig 6 is its per-deck view and Fig 7 its hourly one
    fig8   half of every deck's SC become LSC vs baseline
    fig9   every deck's LC become LSC vs baseline
    fig10  half of every deck's LSC become LC vs baseline

and three tables: ``certificates.csv`` (per experiment: NI gap, constraint violation,
relaxation steps, largest relative best-response gain, restarts from global best responses,
binding grid constraints, clipped counts, and the smallest margin by which SC are more
price-elastic than LSC charging), ``parameters.csv`` (the model's parameters, which the
paper's missing parameter table would hold) and ``findings.csv`` (the paper's claims, the
numbers that test them here, and whether they hold).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from .._progress import progress_bar
from .._validation import require_float64
from ..decks import build_game, default_scenario, equilibrium, experiment, hours, plot
from ..decks.report import DeckEquilibrium
from ..solvers import solve

_SOLVE = inspect.signature(solve).parameters  # the deck solves use solve's defaults

# figure -> (experiment, view, caption); view: convergence, comparison or prices (hourly)
FIGURES = {
    "fig3": ("baseline", "convergence", "Fig 3: convergence of the NI relaxation (baseline)"),
    "fig4": ("deck6-no-sc", "comparison", "Fig 4: deck 6 without SC vs baseline"),
    "fig5": ("deck6-no-lsc", "comparison", "Fig 5: deck 6 without LSC vs baseline"),
    "fig6": ("sc-to-lc-lsc", "comparison",
             "Fig 6: 100 SC per deck become half LC, half LSC, vs baseline"),
    "fig7": ("sc-to-lc-lsc", "prices",
             "Fig 7: 100 SC per deck become half LC, half LSC: hourly prices (dashed: baseline)"),
    "fig8": ("half-sc-to-lsc", "comparison", "Fig 8: half of SC become LSC vs baseline"),
    "fig9": ("lc-to-lsc", "comparison", "Fig 9: all LC become LSC vs baseline"),
    "fig10": ("half-lsc-to-lc", "comparison", "Fig 10: half of LSC become LC vs baseline"),
}
QUICK_HOURS = (3, 19)  # night (grid slack) and evening peak (grid binds) of the default day


def scenario(quick: bool = False) -> tuple[dict, list[int]]:
    """The default day of decks.md (24 h), or with ``quick`` its hours 03 and 19 only (the
    game separates by hour, so their equilibrium is exactly those hours of the full day);
    returns (scenario dict, the clock hour of each of its hours)."""
    day = default_scenario()
    if quick:
        return hours(day, QUICK_HOURS), list(QUICK_HOURS)
    return day, list(range(day["hours"]))


def require_certified(name: str, r: DeckEquilibrium) -> DeckEquilibrium:
    """``r`` if it is a converged, certified equilibrium (:attr:`DeckEquilibrium.certified`),
    else RuntimeError naming the experiment and what failed: no figure is drawn from it."""
    if not r.certified:
        raise RuntimeError(
            f"paper 003, experiment {name!r}: no certified equilibrium ({r.message}; NI gap "
            f"{r.ni_gap:.3g}, violation {r.violation:.3g}, largest relative best-response "
            f"gain {r.relative_gain:.3g}); refusing to write its figures")
    return r


def equilibria(base: dict, *, progress: bool = True) -> dict[str, DeckEquilibrium]:
    """Every experiment the figures use, solved on the scenario ``base`` and certified
    (:func:`require_certified`); one compiled hourly solve serves them all."""
    names = list(dict.fromkeys(e for e, _, _ in FIGURES.values()))
    out = {}
    bar = progress_bar(iterable=names, enabled=None if progress else False, desc="paper 003",
                       unit="experiment")
    for name in bar:
        bar.set_postfix_str(name)
        out[name] = require_certified(name, equilibrium(build_game(experiment(base, name))))
    return out


def write_figures(results: dict[str, DeckEquilibrium], out: Path, deck_names, clock) -> list:
    """Figs 3-10 from certified ``results`` (:func:`equilibria`) as figN.png and figN.csv
    under ``out``; returns the paths written."""
    written = []
    base = results["baseline"]
    for fig, (name, view, caption) in FIGURES.items():
        png = out / f"{fig}.png"
        r = results[name]
        if view == "convergence":
            cols = plot.convergence(r, deck_names, png, title=caption)
        elif view == "comparison":
            cols = plot.comparison(base, r, deck_names, png, title=caption)
        else:
            cols = plot.prices(r, deck_names, png, title=caption, base=base, clock=clock)
        written += [png, plot.write_csv(out / f"{fig}.csv", cols)]
    return written


def certificates(results: dict[str, DeckEquilibrium], clock) -> dict:
    """The certificate table: one row per experiment (``binding_hours`` on the clock)."""
    rows = list(results.values())
    return {
        "experiment": list(results), "figures": [
            " ".join(f for f, (e, _, _) in FIGURES.items() if e == n) for n in results],
        "converged": [r.converged for r in rows], "certified": [r.certified for r in rows],
        "ni_gap": [r.ni_gap for r in rows], "max_violation": [r.violation for r in rows],
        "relaxation_steps": [r.steps for r in rows],
        "max_relative_best_response_gain": [r.relative_gain for r in rows],
        "restarts": [len(r.restarts) for r in rows],
        "binding_constraints": [len(r.binding) for r in rows],
        "binding_hours": [" ".join(str(clock[h]) for h in sorted({c["hour"] for c in r.binding}))
                          for r in rows],
        "clipped_counts": [r.clipped["lsc_charging_clipped"] for r in rows],
        "min_sc_minus_lsc_elasticity": [elasticity_margin(r) for r in rows],
    }


def elasticity_margin(r: DeckEquilibrium) -> float:
    """The smallest SC minus LSC-charging own-price elasticity over the deck-hours where both
    groups are present (positive: SC the more elastic group everywhere); NaN if none."""
    d = r.elasticity["sc"] - r.elasticity["lsc_charging"]
    return float(np.min(d[np.isfinite(d)])) if np.isfinite(d).any() else float("nan")


def parameters(base: dict, clock) -> dict:
    """The model's parameter table (decks.md): global values, then per deck daily customers
    by group, phase, fixed cost and base load."""
    rows = [("hours", " ".join(map(str, clock))), ("decks", len(base["decks"])),
            *((k, base[k]) for k in ("alpha", "sc_beta", "sc_outside", "energy_kwh",
                                     "clip_width", "start_price")),
            ("charging_box", " ".join(map(str, base["charging_box"]))),
            ("parking_box", " ".join(map(str, base["parking_box"]))),
            ("relaxation_step", _SOLVE["alpha"].default),
            ("ni_gap_tolerance", _SOLVE["tol"].default),
            ("buy_in", " ".join(f"{v:g}" for v in base["buy_in"])),
            *((f"grid.{k}", v if np.ndim(v) == 0 else " ".join(f"{u:g}" for u in v))
              for k, v in (base["grid"] or {}).items())]
    for i, d in enumerate(base["decks"]):
        rows += [(f"deck{i + 1}.name", d["name"]), (f"deck{i + 1}.phase", d["phase"]),
                 (f"deck{i + 1}.cost", d["cost"])]
        rows += [(f"deck{i + 1}.{g}_per_day", float(np.sum(d[g])))
                 for g in ("lc_park", "lc_charge", "lsc", "sc", "base_kw")]
    return {"parameter": [k for k, _ in rows], "value": [v for _, v in rows]}


OTHERS_BARELY_MOVE = 0.25  # Fig 4: the other decks move by less than this share of deck 6


def findings(results: dict[str, DeckEquilibrium]) -> dict:
    """The paper's claims about Figs 3-10 and the numbers that test them in this model: one
    row per claim with ``measure``, its ``value``, the ``numbers`` behind it (as text) and
    whether it ``holds``."""
    base = results["baseline"]
    mean = {n: r.charging.mean(1) for n, r in results.items()}
    move = mean["deck6-no-sc"] - mean["baseline"]
    others = np.abs(move[:-1]).max() / abs(move[-1])
    loss = {n: base.revenue[-1] - results[n].revenue[-1] for n in ("deck6-no-sc", "deck6-no-lsc")}
    lsc_vs_sc = loss["deck6-no-lsc"] / loss["deck6-no-sc"]
    margins = [m for m in (elasticity_margin(r) for r in results.values()) if np.isfinite(m)]
    lc = np.concatenate([r.elasticity["lc"].ravel() for r in results.values()])
    rows = [
        ("the relaxation converges to an equilibrium (every experiment certified)", "fig3",
         "largest relative best-response gain over the experiments",
         max(r.relative_gain for r in results.values()),
         f"NI gap {base.ni_gap:.3g} (baseline); {sum(r.certified for r in results.values())} "
         f"of {len(results)} certified", all(r.certified for r in results.values())),
        ("SC are the most price-elastic group, LC not at all (Table 1)", "table1",
         "smallest SC minus LSC-charging own-price elasticity over deck-hours and experiments",
         min(margins),
         f"baseline: SC {np.nanmin(base.elasticity['sc']):.3g}-"
         f"{np.nanmax(base.elasticity['sc']):.3g}, LSC charging "
         f"{np.nanmin(base.elasticity['lsc_charging']):.3g}-"
         f"{np.nanmax(base.elasticity['lsc_charging']):.3g}, LC 0",
         bool(min(margins) > 0 and np.all(lc[np.isfinite(lc)] == 0))),
        ("a deck losing its SC raises its own price", "fig4",
         "deck 6 mean charging price change", move[-1],
         f"deck 6 {mean['baseline'][-1]:.4f} -> {mean['deck6-no-sc'][-1]:.4f}",
         bool(move[-1] > 0)),
        ("...while the other decks barely move", "fig4",
         "largest other-deck change / deck 6 change", others,
         f"other decks change by {move[:-1].min():+.4f} to {move[:-1].max():+.4f}",
         bool(others < OTHERS_BARELY_MOVE)),
        ("losing LSC costs a deck more revenue than losing SC", "fig5",
         "deck 6 revenue loss without LSC / without SC", lsc_vs_sc,
         f"deck 6 revenue {base.revenue[-1]:.1f}: loses {loss['deck6-no-lsc']:.1f} without "
         f"LSC, {loss['deck6-no-sc']:.1f} without SC",
         bool(loss["deck6-no-sc"] > 0 and lsc_vs_sc > 1)),
    ]
    for name, fig in (("sc-to-lc-lsc", "fig6"), ("half-sc-to-lsc", "fig8")):
        change = mean[name] - mean["baseline"]
        rows.append((f"fewer SC -> every deck prices higher ({name})", fig,
                     "smallest change of a deck's mean charging price", change.min(),
                     f"every deck's mean charging price changes by {change.min():+.4f} to "
                     f"{change.max():+.4f}", bool(change.min() > 0)))
    keys = ("finding", "figure", "measure", "value", "numbers", "holds")
    return {k: [row[j] for row in rows] for j, k in enumerate(keys)}


def reproduce(out: Path, *, quick: bool = False, seed: int = 0,
              progress: bool = True) -> list[Path]:
    """Regenerate paper 003's Figures 3-10 (and the tables above) under ``out``.

    ``quick`` uses hours 03 and 19 of the default day instead of all 24 (the same
    equilibrium in those hours; under a minute, mostly compiling, instead of three). ``seed`` is accepted for the common
    interface of :mod:`evjax.reproduce` and changes nothing: the default day is fixed data and
    the solves are deterministic. ``progress`` shows a bar over the experiments (on a
    terminal only). Returns the files written. Raises RuntimeError, before writing anything,
    if an experiment has no certified equilibrium; ValueError without float64.
    """
    del seed  # nothing random in this reproduction
    require_float64("paper 003's certificates")
    out = Path(out)
    base, clock = scenario(quick)
    results = equilibria(base, progress=progress)
    names = [d["name"] for d in base["decks"]]
    written = write_figures(results, out, names, clock)
    for table, cols in (("certificates", certificates(results, clock)),
                        ("parameters", parameters(base, clock)),
                        ("findings", findings(results))):
        written.append(plot.write_csv(out / f"{table}.csv", cols))
    return written


