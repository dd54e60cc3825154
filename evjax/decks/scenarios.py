"""Scenarios of the deck game as data: the default day, the paper's experiments, building.

The scenario format, its defaults and its validation are in :mod:`evjax.decks.schema`.
:func:`default_scenario` is the built-in day (made from the schema's defaults);
:func:`build_game` returns a :class:`evjax.decks.DeckGame`; the paper's experiments (Figs 3-10)
are named transformations of a scenario, :data:`EXPERIMENTS`; :func:`hours` and
:func:`without_grid` restrict a scenario; :func:`load_scenario` reads a JSON or TOML file.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .._validation import float_dtype
from .game import DeckGame
from .grid import PHASES, Grid, constraints
from .market import Market
from .schema import DECK_DEFAULTS, DECK_FIELDS, DEFAULTS, GRID_DEFAULTS, validate


# ------------------------------------------------------------------------------ default day


def _bump(hours: np.ndarray, centre: float, width: float) -> np.ndarray:
    d = np.minimum(np.abs(hours - centre), 24 - np.abs(hours - centre))  # on the clock
    return np.exp(-0.5 * (d / width) ** 2)


def _profile(total: float | int, bumps, floor: float = 0.15) -> list[float]:
    """``total`` customers a day spread over 24 hours: a floor plus Gaussian bumps."""
    h = np.arange(24.0)
    shape = floor + sum(w * _bump(h, c, s) for c, s, w in bumps)
    return [round(float(v), 6) for v in total * shape / shape.sum()]


# name, phase, daily LC, LC charging share, LSC, SC, bumps (centre, width, weight), base kW
_DECKS = (
    ("residential", "A", 260, 0.3, 520, 150, ((19.5, 2.5, 1.0), (8.0, 1.5, 0.4)), 20.0),
    ("office", "B", 300, 0.25, 560, 140, ((9.5, 2.5, 0.8), (14.0, 2.5, 0.7)), 30.0),
    ("retail", "C", 220, 0.2, 600, 200, ((13.0, 2.5, 0.8), (18.5, 2.0, 1.0)), 40.0),
    ("downtown", "A", 240, 0.2, 640, 180, ((11.0, 3.0, 0.8), (19.0, 2.0, 1.0)), 35.0),
    ("highway", "B", 200, 0.3, 480, 220, ((7.5, 1.5, 0.3), (17.5, 2.0, 1.0)), 15.0),
    ("hospital", "C", 280, 0.25, 500, 160, ((10.0, 4.0, 1.0), (19.0, 3.0, 0.6)), 45.0),
)


def default_scenario() -> dict:
    """The built-in day: 6 decks on a 3-phase radial feeder; the grid binds in the evening
    peak (17-21 h, when the buy-in price is also highest) and is slack at night. Its global
    values are :data:`DEFAULTS` and :data:`GRID_DEFAULTS`."""
    decks = []
    for name, phase, lc, share, lsc, sc, bumps, base in _DECKS:
        decks.append({
            "name": name, "phase": phase, **DECK_DEFAULTS,
            "lc_park": _profile(lc, bumps), "lc_charge": _profile(lc * share, bumps),
            "lsc": _profile(lsc, bumps), "sc": _profile(sc, bumps),
            "base_kw": _profile(24 * base, ((13.0, 5.0, 1.0),), floor=0.5),
        })
    buy = [0.25] * 7 + [0.45] * 10 + [0.75] * 5 + [0.25] * 2
    return {"name": "default day", "hours": 24, "decks": decks, "buy_in": buy,
            **_plain(DEFAULTS), "grid": _plain(GRID_DEFAULTS)}


def _plain(d: dict) -> dict:
    """A JSON-like copy (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


# ------------------------------------------------------------------------------ experiments


def _decks(s: dict) -> list[dict]:
    return s["decks"]


def _move(deck: dict, source: str, amount: np.ndarray, to: dict[str, float]) -> None:
    """Move ``amount`` (H,) customers out of group ``source`` into groups ``to`` (shares)."""
    deck[source] = list(np.asarray(deck[source], float) - amount)
    for group, share in to.items():
        if group == "lc":
            park = np.asarray(deck["lc_park"], float)
            ratio = np.asarray(deck["lc_charge"], float).sum() / max(park.sum(), 1e-300)
            deck["lc_park"] = list(park + share * amount)
            deck["lc_charge"] = list(np.asarray(deck["lc_charge"], float)
                                     + ratio * share * amount)
        else:
            deck[group] = list(np.asarray(deck[group], float) + share * amount)


def _no_sc_last(s):
    _decks(s)[-1]["sc"] = [0.0] * s["hours"]


def _no_lsc_last(s):
    _decks(s)[-1]["lsc"] = [0.0] * s["hours"]


def _sc_to_lc_lsc(s):
    for d in _decks(s):
        sc = np.asarray(d["sc"], float)
        moved = sc * min(100.0 / sc.sum(), 1.0) if sc.sum() > 0 else sc
        _move(d, "sc", moved, {"lc": 0.5, "lsc": 0.5})


def _half_sc_to_lsc(s):
    for d in _decks(s):
        _move(d, "sc", 0.5 * np.asarray(d["sc"], float), {"lsc": 1.0})


def _lc_to_lsc(s):
    for d in _decks(s):
        moved = np.asarray(d["lc_park"], float)
        d["lsc"] = list(np.asarray(d["lsc"], float) + moved)
        d["lc_park"] = [0.0] * s["hours"]
        d["lc_charge"] = [0.0] * s["hours"]


def _half_lsc_to_lc(s):
    for d in _decks(s):
        _move(d, "lsc", 0.5 * np.asarray(d["lsc"], float), {"lc": 1.0})


EXPERIMENTS = {
    "baseline": (lambda s: None, "the scenario as given (Fig 3: convergence)"),
    "deck6-no-sc": (_no_sc_last, "the last deck (deck 6) loses its SC (Fig 4)"),
    "deck6-no-lsc": (_no_lsc_last, "the last deck (deck 6) loses its LSC (Fig 5)"),
    "sc-to-lc-lsc": (_sc_to_lc_lsc, "100 SC a day per deck become half LC, half LSC (Figs 6-7)"),
    "half-sc-to-lsc": (_half_sc_to_lsc, "half of every deck's SC become LSC (Fig 8)"),
    "lc-to-lsc": (_lc_to_lsc, "every deck's LC become LSC (Fig 9)"),
    "half-lsc-to-lc": (_half_lsc_to_lc, "half of every deck's LSC become LC (Fig 10)"),
}


def experiment(scenario: dict, name: str) -> dict:
    """The scenario (validated, defaults filled in: :func:`validate`) transformed by the named
    experiment (:data:`EXPERIMENTS`); ValueError for an unknown name or a bad scenario."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    out = validate(scenario)
    EXPERIMENTS[name][0](out)
    out["name"] = f"{out['name']}: {name}"
    return out


def without_grid(scenario: dict) -> dict:
    """A copy of ``scenario`` with no grid limits."""
    out = copy.deepcopy(scenario)
    out["grid"] = None
    return out


def hours(scenario: dict, keep) -> dict:
    """The scenario (validated, defaults filled in) restricted to the hours ``keep``: distinct
    integer indices 0 <= t < H, in the order given. ValueError naming a bad index."""
    out = validate(scenario)
    h = out["hours"]
    try:
        keep = list(keep)
    except TypeError:
        raise ValueError(f"hours to keep must be a list of hour indices, got {keep!r}") from None
    if not keep:
        raise ValueError("hours to keep must name at least one hour, got none")
    for t in keep:
        if not isinstance(t, (int, np.integer)) or isinstance(t, bool) or not 0 <= t < h:
            raise ValueError(f"hour {t!r} is not an hour of this scenario: hours to keep must "
                             f"be integers from 0 to {h - 1}")
    if len(set(keep)) < len(keep):
        twice = next(t for t in keep if keep.count(t) > 1)
        raise ValueError(f"hour {twice} is listed twice in the hours to keep")
    keep = [int(t) for t in keep]
    out["hours"] = len(keep)
    out["buy_in"] = [out["buy_in"][t] for t in keep]
    for d in out["decks"]:
        for f in DECK_FIELDS:
            d[f] = [d[f][t] for t in keep]
    return out


def load_scenario(path) -> dict:
    """A scenario from a JSON or TOML file (by extension; TOML: ``grid = false`` for none)."""
    path = Path(path)
    text = path.read_text()
    is_toml = path.suffix.lower() == ".toml"
    errors = (json.JSONDecodeError, tomllib.TOMLDecodeError)
    try:
        data = tomllib.loads(text) if is_toml else json.loads(text)
    except errors as exc:
        raise ValueError(f"{path}: not valid {path.suffix[1:] or 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a scenario must be an object/table at the top level")
    if data.get("grid") is False:
        data["grid"] = None
    return data


def build_game(scenario: dict, *, grid: bool = True) -> DeckGame:
    """A :class:`DeckGame` from a scenario dict (:func:`validate`: ValueError naming the
    field; also if the grid is infeasible at every price).

    ``grid=False`` ignores the scenario's grid (no shared constraints)."""
    s = validate(scenario)
    dt = float_dtype()

    def arr(v):
        return jnp.asarray(np.asarray(v, float), dt)

    rows = {f: arr([d[f] for d in s["decks"]]) for f in DECK_FIELDS}
    market = Market(
        lc_park=rows["lc_park"], lc_charge=rows["lc_charge"], lsc=rows["lsc"], sc=rows["sc"],
        buy=arr(s["buy_in"]), cost=arr([d["cost"] for d in s["decks"]]), alpha=arr(s["alpha"]),
        sc_beta=arr(s["sc_beta"]), sc_outside=arr(s["sc_outside"]),
        energy=arr(s["energy_kwh"]), clip_width=s["clip_width"],
    )
    phase = tuple(PHASES.index(d["phase"]) for d in s["decks"])
    g = s["grid"]
    net = _grid(g, phase, rows["base_kw"], arr) if grid and g is not None else None
    game = DeckGame(market, net, charging_box=arr(s["charging_box"]),
                    parking_box=arr(s["parking_box"]), start_price=s["start_price"])
    if net is not None:
        _check_feasible(game)
    return game


def _grid(g: dict, phase, base, arr) -> Grid:
    """The :class:`Grid` of validated ratings ``g`` (:func:`_grid_fields`)."""
    n = len(phase)

    def opt(key, length=None):
        v = g[key]
        return None if v is None else arr(np.broadcast_to(np.asarray(v, float), (length,))
                                          if length else v)

    has_voltage = g["impedance_ohm"] is not None
    return Grid(base=base, v_phase=arr(g["v_phase"]), transformer=opt("transformer_kw"),
                backbone=opt("backbone_a", 3), service=opt("service_a", n),
                impedance=opt("impedance_ohm", n),
                v_min=arr(g["v_min"]) if has_voltage else None,
                imbalance=opt("imbalance"), phase=phase)


_FIELD_OF_KIND = {"transformer": "grid.transformer_kw", "backbone": "grid.backbone_a",
                  "service": "grid.service_a", "voltage": "grid.v_min / grid.impedance_ohm"}


def _check_feasible(game: DeckGame) -> None:
    """ValueError if the load no price can shed (LC charging plus base load) already breaks a
    capacity or voltage limit: then the grid is infeasible at every price."""
    m = game.market
    floor = m.energy * m.lc_charge + game.grid.base
    c = np.asarray(constraints(game.grid, floor))
    labels = game.grid.labels()
    for row, (kind, element) in enumerate(labels):
        if kind in _FIELD_OF_KIND and (c[row] > 1e-12).any():
            t = int(np.argmax(c[row]))
            raise ValueError(
                f"{_FIELD_OF_KIND[kind]}: the grid is infeasible at every price: the load no "
                f"price can shed (LC charging + base load) exceeds the {kind} limit of "
                f"{element} at hour {t} by {100 * c[row, t]:.3g}%"
            )
