"""The figures of paper 003 (Figs 3-10) for deck equilibria: their numbers, PNG and CSV.

Every figure is drawn from a table of columns (name -> 1-D array, one row per plotted point)
and returns that table, so the CSV written beside a PNG (:func:`write_csv`) holds exactly the
numbers it shows. Figures are bare matplotlib Figures: the caller's backend is left alone
(:mod:`evjax._plotting`).

- :func:`convergence`: Fig 3, the relaxation's path: mean charging price, mean parking fee,
  revenue per deck and the NI gap over the iterations.
- :func:`comparison`: Figs 4-10, per deck mean charging price, mean parking fee and revenue,
  baseline against an experiment.
- :func:`prices`: charging price and parking fee by hour per deck, optionally against a
  baseline (dashed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._csv import write_csv as _write_rows
from .._plotting import save, subplots
from .report import DeckEquilibrium

XLABEL = "relaxation iteration (last: after the Newton polish)"
QUANTITIES = (("charging", "mean charging price"), ("parking", "mean parking fee"),
              ("revenue", "revenue (daily profit)"))


def write_csv(path: str | Path, columns: dict) -> Path:
    """Write a table of equal-length columns (name -> 1-D array) as CSV with a header row;
    numbers at full float64 precision."""
    names = list(columns)
    values = [np.asarray(columns[k]).tolist() for k in names]
    return _write_rows(path, names, zip(*values, strict=True))


def _per_deck(columns: dict, key: str, deck: int) -> np.ndarray:
    return np.asarray(columns[key])[np.asarray(columns["deck"]) == deck]


# ---------------------------------------------------------------------------------- Fig 3


def convergence_columns(r: DeckEquilibrium, deck_names) -> dict:
    """One row per (iteration, deck): ``iteration``, ``deck`` (1-based), ``name``,
    ``charging`` and ``parking`` (mean over hours), ``revenue`` and ``ni_gap`` (of the iterate,
    all decks) along the solve's path: the relaxation's points, then the polished solution
    (``r.trace``, see :func:`evjax.decks.convergence_trace`)."""
    if r.trace is None:
        raise ValueError("the equilibrium carries no relaxation trace (solve with record=True)")
    t = r.trace
    steps, n = t["charging"].shape
    it, deck = np.meshgrid(np.arange(steps), np.arange(n), indexing="ij")
    return {"iteration": it.ravel(), "deck": deck.ravel() + 1,
            "name": [deck_names[i] for i in deck.ravel()],
            **{k: t[k].ravel() for k, _ in QUANTITIES},
            "ni_gap": np.repeat(t["ni_gap"], n)}


def convergence(r: DeckEquilibrium, deck_names, path, title="") -> dict:
    """Fig 3: mean charging price, mean parking fee and revenue per deck, and the NI gap, over
    the relaxation's iterations; returns the plotted columns (:func:`convergence_columns`)."""
    cols = convergence_columns(r, deck_names)
    fig, axes = subplots(1, 4, figsize=(17, 4))
    for ax, (key, label) in zip(axes, QUANTITIES, strict=False):
        for i, name in enumerate(deck_names):
            ax.plot(_per_deck(cols, "iteration", i + 1), _per_deck(cols, key, i + 1),
                    label=f"{i + 1} {name}")
        ax.set(title=label, xlabel=XLABEL)
    gap = _per_deck(cols, "ni_gap", 1)
    axes[3].semilogy(_per_deck(cols, "iteration", 1), np.abs(gap), color="k")
    axes[3].set(title="|NI gap| (eq (28))", xlabel=XLABEL)
    axes[2].legend(fontsize=8)
    fig.suptitle(title)
    save(fig, path, dpi=100)
    return cols


# ------------------------------------------------------------------------------- Figs 4-10


def comparison_columns(base: DeckEquilibrium, r: DeckEquilibrium, deck_names) -> dict:
    """One row per deck: ``deck``, ``name``, then ``charging``, ``parking`` (means over hours)
    and ``revenue``, each ``_baseline`` and ``_experiment``."""
    out = {"deck": np.arange(1, len(deck_names) + 1), "name": list(deck_names)}
    for key, _ in QUANTITIES:
        for label, eq in (("baseline", base), ("experiment", r)):
            out[f"{key}_{label}"] = eq.revenue if key == "revenue" else getattr(eq, key).mean(1)
    return out


def comparison(base: DeckEquilibrium, r: DeckEquilibrium, deck_names, path, title="") -> dict:
    """Figs 4-10: per deck mean charging price, mean parking fee and revenue, baseline vs
    experiment (bars); returns the plotted columns (:func:`comparison_columns`)."""
    cols = comparison_columns(base, r, deck_names)
    fig, axes = subplots(1, 3, figsize=(14, 4.5))
    idx = np.arange(len(cols["deck"]))
    ticks = [f"{d}\n{n}" for d, n in zip(cols["deck"], cols["name"], strict=True)]
    for ax, (key, label) in zip(axes, QUANTITIES, strict=True):
        ax.bar(idx - 0.2, cols[f"{key}_baseline"], 0.4, label="baseline")
        ax.bar(idx + 0.2, cols[f"{key}_experiment"], 0.4, label="experiment")
        ax.set_xticks(idx, ticks, fontsize=7)
        ax.set(title=label, xlabel="deck")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    save(fig, path, dpi=100)
    return cols


# ----------------------------------------------------------------------------- hourly prices


def prices_columns(r: DeckEquilibrium, deck_names, base: DeckEquilibrium | None = None,
                   clock=None) -> dict:
    """One row per (deck, hour): ``deck``, ``name``, ``hour`` (``clock[t]``, the hour of day
    of the scenario's t-th hour, default t), ``charging``, ``parking`` (of ``r``), and
    ``charging_baseline``, ``parking_baseline`` when ``base`` is given."""
    n, h = r.charging.shape
    clock = np.arange(h) if clock is None else np.asarray(clock)
    deck, hour = np.meshgrid(np.arange(n), np.arange(h), indexing="ij")
    out = {"deck": deck.ravel() + 1, "name": [deck_names[i] for i in deck.ravel()],
           "hour": clock[hour.ravel()], "charging": r.charging.ravel(),
           "parking": r.parking.ravel()}
    if base is not None:
        out.update(charging_baseline=base.charging.ravel(), parking_baseline=base.parking.ravel())
    return out


def prices(r: DeckEquilibrium, deck_names, path, title="", base=None, clock=None) -> dict:
    """Charging price and parking fee by hour, one line per deck (the baseline dashed, in the
    same colour, when ``base`` is given); returns the plotted columns (:func:`prices_columns`)."""
    cols = prices_columns(r, deck_names, base, clock)
    fig, axes = subplots(1, 2, figsize=(12, 4.5), sharex=True)
    for ax, key, label in ((axes[0], "charging", "charging price"),
                           (axes[1], "parking", "parking fee")):
        for i, name in enumerate(deck_names):
            hour = _per_deck(cols, "hour", i + 1)
            line, = ax.plot(hour, _per_deck(cols, key, i + 1), marker=".",
                            label=f"{i + 1} {name}")
            if base is not None:
                ax.plot(hour, _per_deck(cols, f"{key}_baseline", i + 1), ls="--",
                        color=line.get_color())
        ax.set(title=label + (" (dashed: baseline)" if base is not None else ""),
               xlabel="hour", ylabel="normalised price")
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    save(fig, path, dpi=100)
    return cols
