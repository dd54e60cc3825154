"""Scenarios of the deck game as data: the default day, the paper's experiments, validation.

A scenario is a plain dict (or a JSON / TOML file holding one):

    {"name": str, "hours": H,
     "decks": [{"name": str, "phase": "A"|"B"|"C", "cost": C_i,
                "lc_park": [H], "lc_charge": [H], "lsc": [H], "sc": [H], "base_kw": [H]}, ...],
     "buy_in": [H],                       # per kWh, normalised
     "alpha": 4.0, "kappa": 0.5, "energy_kwh": 7.2, "clip_width": 0.01,
     "charging_box": [0.2, 2.0], "parking_box": [0.0, 2.0], "start_price": 0.5,
     "grid": null | {"v_phase": V, "transformer_kw": P_tx, "backbone_a": x (one or 3),
                     "service_a": [I] or one, "impedance_ohm": [I], "v_min": V, "imbalance": p}}

Any grid rating may be null (that constraint is dropped). :func:`build_game` validates it
(errors name the field) and returns a :class:`evjax.decks.DeckGame`. The paper's experiments
(Figs 3-10) are named transformations of a scenario, :data:`EXPERIMENTS`.
"""

from __future__ import annotations

import copy
import json
try:  # Python >= 3.11
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10: JSON scenarios only
    tomllib = None
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .._validation import float_dtype
from .game import DeckGame
from .grid import PHASES, Grid
from .market import Market

DECK_FIELDS = ("lc_park", "lc_charge", "lsc", "sc", "base_kw")


# ------------------------------------------------------------------------------ default day


def _bump(hours: np.ndarray, centre: float, width: float) -> np.ndarray:
    d = np.minimum(np.abs(hours - centre), 24 - np.abs(hours - centre))  # on the clock
    return np.exp(-0.5 * (d / width) ** 2)


def _profile(total: float, bumps, floor: float = 0.15) -> list[float]:
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
    peak (17-21 h, when the buy-in price is also highest) and is slack at night."""
    decks = []
    for name, phase, lc, share, lsc, sc, bumps, base in _DECKS:
        decks.append({
            "name": name, "phase": phase, "cost": 200.0,
            "lc_park": _profile(lc, bumps), "lc_charge": _profile(lc * share, bumps),
            "lsc": _profile(lsc, bumps), "sc": _profile(sc, bumps),
            "base_kw": _profile(24 * base, ((13.0, 5.0, 1.0),), floor=0.5),
        })
    buy = [0.25] * 7 + [0.45] * 10 + [0.75] * 5 + [0.25] * 2
    return {
        "name": "default day", "hours": 24, "decks": decks, "buy_in": buy,
        "alpha": 4.0, "kappa": 0.5, "energy_kwh": 7.2, "clip_width": 0.01,
        "charging_box": [0.2, 2.0], "parking_box": [0.0, 2.0], "start_price": 0.5,
        "grid": {"v_phase": 230.0, "transformer_kw": 3000.0, "backbone_a": 6000.0,
                 "service_a": 4000.0, "impedance_ohm": [0.001] * 6, "v_min": 207.0,
                 "imbalance": 0.5},
    }


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
    """A copy of ``scenario`` transformed by the named experiment (:data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    out = copy.deepcopy(scenario)
    EXPERIMENTS[name][0](out)
    out["name"] = f"{scenario.get('name', 'scenario')}: {name}"
    return out


def without_grid(scenario: dict) -> dict:
    """A copy of ``scenario`` with no grid limits."""
    out = copy.deepcopy(scenario)
    out["grid"] = None
    return out


def hours(scenario: dict, keep) -> dict:
    """A copy of ``scenario`` restricted to the hours ``keep`` (a list of indices)."""
    out = copy.deepcopy(scenario)
    keep = list(keep)
    out["hours"] = len(keep)
    out["buy_in"] = [scenario["buy_in"][t] for t in keep]
    for d in out["decks"]:
        for f in DECK_FIELDS:
            d[f] = [d[f][t] for t in keep]
    return out


def load_scenario(path) -> dict:
    """A scenario from a JSON or TOML file (by extension; TOML: ``grid = false`` for none)."""
    path = Path(path)
    text = path.read_text()
    is_toml = path.suffix.lower() == ".toml"
    if is_toml and tomllib is None:
        raise ValueError(f"{path}: TOML scenarios need Python >= 3.11 (tomllib); use JSON")
    errors = (json.JSONDecodeError,) + ((tomllib.TOMLDecodeError,) if tomllib else ())
    try:
        data = tomllib.loads(text) if is_toml else json.loads(text)
    except errors as exc:
        raise ValueError(f"{path}: not valid {path.suffix[1:] or 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a scenario must be an object/table at the top level")
    if data.get("grid") is False:
        data["grid"] = None
    return data


# ------------------------------------------------------------------------------- validation


def _field(data: dict, key: str, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'scenario'} must be an object, got {type(data).__name__}")
    if key not in data:
        raise ValueError(f"scenario is missing field '{where}{key}'")
    return data[key]


def _numbers(value, name: str, length: int | None = None, *, positive=False,
             nonnegative=False) -> np.ndarray:
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


def _box(value, name: str) -> np.ndarray:
    v = _numbers(value, name, 2)
    if not v[0] < v[1]:
        raise ValueError(f"{name} must be [lower, upper] with lower < upper, got {list(v)}")
    return v


def build_game(scenario: dict, *, grid: bool = True) -> DeckGame:
    """A :class:`DeckGame` from a scenario dict (validated: ValueError naming the field).

    ``grid=False`` ignores the scenario's grid (no shared constraints)."""
    s = scenario
    h = _field(s, "hours", "")
    if not isinstance(h, int) or isinstance(h, bool) or h < 1:
        raise ValueError(f"hours must be a positive integer, got {h!r}")
    decks = _field(s, "decks", "")
    if not isinstance(decks, list) or len(decks) < 2:
        raise ValueError("decks must be a list of at least 2 decks")
    counts = {f: [] for f in DECK_FIELDS}
    phase, cost = [], []
    for i, d in enumerate(decks):
        where = f"decks[{i}]."
        for f in DECK_FIELDS:
            counts[f].append(_numbers(_field(d, f, where), where + f, h, nonnegative=True))
        ph = _field(d, "phase", where)
        if ph not in PHASES:
            raise ValueError(f"{where}phase must be one of A, B, C, got {ph!r}")
        phase.append(PHASES.index(ph))
        cost.append(float(_numbers(d.get("cost", 0.0), where + "cost")))
    buy = _numbers(_field(s, "buy_in", ""), "buy_in", h)
    alpha = _numbers(s.get("alpha", 1.6), "alpha", positive=True)
    kappa = _numbers(s.get("kappa", 1.5), "kappa", nonnegative=True)
    energy = _numbers(s.get("energy_kwh", 7.2), "energy_kwh", positive=True)
    width = float(_numbers(s.get("clip_width", 0.01), "clip_width", positive=True))
    ch_box = _box(s.get("charging_box", [0.2, 2.0]), "charging_box")
    pk_box = _box(s.get("parking_box", [0.0, 2.0]), "parking_box")
    start = float(_numbers(s.get("start_price", 0.5), "start_price"))
    dt = float_dtype()

    def arr(v):
        return jnp.asarray(np.asarray(v), dt)

    market = Market(
        lc_park=arr(counts["lc_park"]), lc_charge=arr(counts["lc_charge"]),
        lsc=arr(counts["lsc"]), sc=arr(counts["sc"]), buy=arr(buy), cost=arr(cost),
        alpha=arr(alpha), kappa=arr(kappa), energy=arr(energy), clip_width=width,
    )
    g = s.get("grid")
    net = _grid(g, len(decks), h, tuple(phase), arr(counts["base_kw"]), arr) if (
        grid and g is not None) else None
    game = DeckGame(market, net, charging_box=arr(ch_box), parking_box=arr(pk_box),
                    start_price=start)
    if net is not None:
        _check_feasible(game)
    return game


def _grid(g: dict, n: int, h: int, phase, base, arr) -> Grid:
    if not isinstance(g, dict):
        raise ValueError(f"grid must be an object or null, got {type(g).__name__}")

    def opt(key, length=None):
        v = g.get(key)
        return None if v is None else arr(_numbers(v, f"grid.{key}", length, positive=True))

    v_phase = arr(_numbers(_field(g, "v_phase", "grid."), "grid.v_phase", positive=True))
    impedance = g.get("impedance_ohm")
    if impedance is not None:
        impedance = arr(_numbers(impedance, "grid.impedance_ohm", n, nonnegative=True))
        v_min = float(_numbers(_field(g, "v_min", "grid."), "grid.v_min", positive=True))
        if not v_min < float(v_phase):
            raise ValueError(f"grid.v_min must be below grid.v_phase, got {v_min:g} >= "
                             f"{float(v_phase):g}")
        v_min = arr(v_min)
    else:
        v_min = None
    return Grid(base=base, v_phase=v_phase, transformer=opt("transformer_kw"),
                backbone=opt("backbone_a", 3), service=opt("service_a", n),
                impedance=impedance, v_min=v_min, imbalance=opt("imbalance"), phase=phase)


_FIELD_OF_KIND = {"transformer": "grid.transformer_kw", "backbone": "grid.backbone_a",
                  "service": "grid.service_a", "voltage": "grid.v_min / grid.impedance_ohm"}


def _check_feasible(game: DeckGame) -> None:
    """ValueError if the load no price can shed (LC charging plus base load) already breaks a
    capacity or voltage limit: then the grid is infeasible at every price."""
    from .grid import constraints

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
