"""The scenario format of the deck game: its fields, their one set of defaults, validation.

A scenario is a plain dict (or a JSON / TOML file holding one):

    {"name": str, "hours": H,
     "decks": [{"name": str, "phase": "A"|"B"|"C", "cost": C_i,
                "lc_park": [H], "lc_charge": [H], "lsc": [H], "sc": [H], "base_kw": [H]}, ...],
     "buy_in": [H],                       # per kWh, normalised
     "alpha": 4.0, "sc_beta": 4.0, "sc_outside": 1.0, "energy_kwh": 7.2, "clip_width": 0.01,
     "charging_box": [0.2, 2.0], "parking_box": [0.0, 2.0], "start_price": 0.5,
     "grid": null | {"v_phase": V, "transformer_kw": P_tx, "backbone_a": x (one or 3),
                     "service_a": [I] or one, "impedance_ohm": [I] or one, "v_min": V,
                     "imbalance": p}}

``hours``, ``decks``, ``buy_in`` and, per deck, ``phase`` and the five hourly lists are
required. Every other field has ONE default, the default day's value, kept here
(:data:`DEFAULTS`, :data:`DECK_DEFAULTS`, :data:`GRID_DEFAULTS`; the default day of
:func:`evjax.decks.default_scenario` is built from them): a scenario that omits ``grid`` gets
the default day's ratings, one that omits a rating gets the default day's rating;
``"grid": null`` (TOML: ``grid = false``) means no grid, and a rating given as null drops that
constraint. A field that is not one of these (a typo, or ``kappa`` of the earlier linear SC
demand) is refused, not ignored. :func:`validate` checks a scenario (errors name the field) and
returns it with every default filled in; the grid's feasibility is checked when the game is
built (:func:`evjax.decks.build_game`).
"""

from __future__ import annotations

from difflib import get_close_matches

import numpy as np

from .grid import PHASES

DECK_FIELDS = ("lc_park", "lc_charge", "lsc", "sc", "base_kw")  # hourly lists, required

# The one place of every default (the default day's values, decks.md).
DEFAULTS = {
    "alpha": 4.0,  # eq (8)
    "sc_beta": 4.0,  # SC logit: price sensitivity beta
    "sc_outside": 1.0,  # SC logit: weight W of the outside option
    "energy_kwh": 7.2,  # energy per charging customer and hour (a 7.2 kW port)
    "clip_width": 0.01,  # width of LSC charging's smooth clip at zero
    "charging_box": (0.2, 2.0),
    "parking_box": (0.0, 2.0),
    "start_price": 0.5,  # the relaxation's starting point (paper)
}
DECK_DEFAULTS = {"cost": 200.0}  # fixed daily cost C_i
GRID_DEFAULTS = {"v_phase": 230.0, "transformer_kw": 3000.0, "backbone_a": 6000.0,
                 "service_a": 4000.0, "impedance_ohm": 0.001, "v_min": 207.0,
                 "imbalance": 0.5}
TOP_KEYS = ("name", "hours", "decks", "buy_in", "grid", *DEFAULTS)
DECK_KEYS = ("name", "phase", *DECK_FIELDS, *DECK_DEFAULTS)
# fields of earlier versions, refused with what replaced them
RETIRED = {"kappa": "the linear SC demand (kappa) was replaced by a logit: set 'sc_beta' "
                    "(default 4.0) and 'sc_outside' (default 1.0)"}


def _check_keys(data: dict, known, where: str) -> None:
    """ValueError for the first key of ``data`` that is not in ``known`` (with a hint)."""
    for key in data:
        if key in known:
            continue
        name = f"{where}{key}" if isinstance(key, str) else f"{where}{key!r}"
        if key in RETIRED:
            hint = f": {RETIRED[key]}"
        else:
            close = get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"; did you mean '{where}{close[0]}'?" if close else (
                f"; known fields: {', '.join(known)}")
        raise ValueError(f"unknown field '{name}' in the scenario{hint}")


def _field(data: dict, key: str, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'scenario'} must be an object, got {type(data).__name__}")
    if key not in data:
        raise ValueError(f"scenario is missing field '{where}{key}'")
    return data[key]


def _numbers(value, name: str, length: int | None = None, *, positive=False,
             nonnegative=False) -> np.ndarray:
    if isinstance(value, (bool, str)) or (
            isinstance(value, (list, tuple)) and any(isinstance(v, (bool, str)) for v in value)):
        raise ValueError(f"{name} must be numbers, got {value!r}"[:200])
    try:
        v = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, got {value!r}"[:200]) from None
    if length is not None:
        if v.ndim == 0:
            v = np.full(length, float(v))
        if v.shape != (length,):
            raise ValueError(f"{name} must have {length} entries, got shape {v.shape}")
    elif v.ndim != 0:
        raise ValueError(f"{name} must be one number, got shape {v.shape}")
    bad = ~np.isfinite(v)
    if bad.any():
        raise ValueError(f"{name} must be finite, got {v[bad].ravel()[0]}")
    for flag, test, need in ((positive, v <= 0, "> 0"), (nonnegative, v < 0, ">= 0")):
        if flag and test.any():
            i = int(np.flatnonzero(np.atleast_1d(test))[0])
            at = f" at index {i}" if v.ndim else ""
            raise ValueError(f"{name} must be {need}, got {np.atleast_1d(v)[i]:g}{at}")
    return v


def _box(value, name: str) -> list[float]:
    v = _numbers(value, name, 2)
    if not v[0] < v[1]:
        raise ValueError(f"{name} must be [lower, upper] with lower < upper, got {list(v)}")
    return [float(u) for u in v]


def _name(value, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}name must be a string, got {value!r}"[:200])
    return value


def _deck(d, i: int, h: int) -> dict:
    """Deck ``i`` validated, its default filled in (hourly fields as lists of floats)."""
    where = f"decks[{i}]."
    if not isinstance(d, dict):
        raise ValueError(f"decks[{i}] must be an object, got {type(d).__name__}")
    _check_keys(d, DECK_KEYS, where)
    out = {"name": _name(d.get("name", f"deck {i + 1}"), where)}
    ph = _field(d, "phase", where)
    if ph not in PHASES:
        raise ValueError(f"{where}phase must be one of A, B, C, got {ph!r}")
    out["phase"] = ph
    out["cost"] = float(_numbers(d.get("cost", DECK_DEFAULTS["cost"]), where + "cost"))
    for f in DECK_FIELDS:
        out[f] = _numbers(_field(d, f, where), where + f, h, nonnegative=True).tolist()
    return out


def validate(scenario: dict) -> dict:
    """``scenario`` checked (ValueError naming the field: missing, unknown, wrong type, shape
    or range) and returned as a new dict with every default filled in (:data:`DEFAULTS`,
    :data:`DECK_DEFAULTS`, :data:`GRID_DEFAULTS`) and every hourly field a list of H floats.
    The grid's feasibility is checked by :func:`build_game`."""
    s = scenario
    if not isinstance(s, dict):
        raise ValueError(f"a scenario must be an object, got {type(s).__name__}")
    _check_keys(s, TOP_KEYS, "")
    h = _field(s, "hours", "")
    if not isinstance(h, int) or isinstance(h, bool) or h < 1:
        raise ValueError(f"hours must be a positive integer, got {h!r}")
    decks = _field(s, "decks", "")
    if not isinstance(decks, list) or len(decks) < 2:
        raise ValueError("decks must be a list of at least 2 decks")
    out = {"name": _name(s.get("name", "scenario"), ""), "hours": h,
           "decks": [_deck(d, i, h) for i, d in enumerate(decks)],
           "buy_in": _numbers(_field(s, "buy_in", ""), "buy_in", h).tolist()}
    value = {k: s.get(k, v) for k, v in DEFAULTS.items()}
    for key, kind in (("alpha", "positive"), ("sc_beta", "positive"),
                      ("sc_outside", "nonnegative"), ("energy_kwh", "positive"),
                      ("clip_width", "positive"), ("start_price", None)):
        out[key] = float(_numbers(value[key], key, positive=kind == "positive",
                                  nonnegative=kind == "nonnegative"))
    out["charging_box"] = _box(value["charging_box"], "charging_box")
    out["parking_box"] = _box(value["parking_box"], "parking_box")
    g = s.get("grid", GRID_DEFAULTS)
    out["grid"] = None if g is None else _grid_fields(g, len(decks))
    return out


def _grid_fields(g, n: int) -> dict:
    """The grid's ratings validated, defaults filled in (None: that constraint dropped)."""
    if not isinstance(g, dict):
        raise ValueError(f"grid must be an object or null, got {type(g).__name__}")
    _check_keys(g, tuple(GRID_DEFAULTS), "grid.")
    value = {k: g.get(k, v) for k, v in GRID_DEFAULTS.items()}
    length = {"backbone_a": 3, "service_a": n, "impedance_ohm": n}
    out = {}
    for key, v in value.items():
        if v is None:
            if key == "v_phase" or (key == "v_min" and value["impedance_ohm"] is not None):
                need = "" if key == "v_phase" else " with grid.impedance_ohm"
                raise ValueError(f"grid.{key} must be a number{need}, got null")
            out[key] = None
            continue
        a = _numbers(v, f"grid.{key}", length.get(key), positive=key != "impedance_ohm",
                     nonnegative=key == "impedance_ohm")
        out[key] = a.tolist() if a.ndim else float(a)
    if out["impedance_ohm"] is not None and not out["v_min"] < out["v_phase"]:
        raise ValueError(f"grid.v_min must be below grid.v_phase, got {out['v_min']:g} >= "
                         f"{out['v_phase']:g}")
    return out
