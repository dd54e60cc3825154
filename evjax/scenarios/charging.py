"""A charging game of paper 000 on a real day: Dutch day-ahead prices, ElaadNL sessions."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..charging.game import ChargingGame
from .real_data import KINDS, check_date, check_kind, day_prices, mean_from_quantiles, \
    reference_price
from .sessions import arrival_weights, draw_sessions, uncontrolled_profile

STEPS = (24, 96)
# Port power (kW) of a station kind when not given: 11 kW, a three-phase 16 A AC point, the
# common public and workplace point in the Netherlands; 7.4 kW (single-phase 32 A) at home.
PORT_KW = {"public": 11.0, "workplace": 11.0, "private": 7.4}
# Sensitivity of ONE EV to deviating from its uncontrolled profile, EUR/kWh^2 at hourly steps
# (an assumption, not data: ordered by how much slack the kind's sessions have; ElaadNL's
# median connection time over median charging time at the kind's port: private 11 h for
# 19.4 kWh, workplace 4.9 h for 8.8 kWh, public 4.4 h for 7.2 kWh).
MU_PER_EV = {"public": 0.10, "workplace": 0.05, "private": 0.02}
# The default price impact: the mix's mean EV load raises the price by this share of the
# reference price (see charging_day).
PRICE_IMPACT_SHARE = 0.1


class Station(NamedTuple):
    """A station of ``kind`` (public, workplace, private) serving ``evs`` EVs a day at
    ``port_kw`` kW (default :data:`PORT_KW` of the kind)."""

    kind: str
    evs: int
    port_kw: float | None = None


def _positive(value) -> bool:
    """Whether ``value`` is a real number (not a bool), finite and > 0."""
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool) and 0 < value < math.inf)


def parse_stations(text: str) -> list[Station]:
    """Stations from ``"public:10,workplace:4,private:6"`` (``kind:evs`` or
    ``kind:evs:port_kw``); ``ValueError`` naming the bad entry."""
    out = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"a station is kind:evs or kind:evs:port_kw, got {item!r}")
        try:
            evs = int(parts[1])
            kw = float(parts[2]) if len(parts) == 3 else None
        except ValueError:
            raise ValueError(f"a station is kind:evs or kind:evs:port_kw with numbers, got "
                             f"{item!r}") from None
        out.append(Station(parts[0], evs, kw))
    return check_stations(out)


def check_stations(stations) -> list[Station]:
    """``stations`` (Stations or (kind, evs[, port_kw]) tuples) checked: a known kind, an
    integer number of EVs >= 1 and a finite port power > 0; ``ValueError`` otherwise."""
    if isinstance(stations, str):
        return parse_stations(stations)
    out = []
    for s in stations:
        if not isinstance(s, (tuple, list)) or len(s) not in (2, 3):
            raise ValueError(f"a station is (kind, evs) or (kind, evs, port_kw), got {s!r}")
        s = Station(*s)
        check_kind(s.kind)
        if isinstance(s.evs, bool) or not isinstance(s.evs, (int, np.integer)) or s.evs < 1:
            raise ValueError(f"a station's EVs per day must be an integer >= 1, got {s.evs!r}")
        kw = PORT_KW[s.kind] if s.port_kw is None else s.port_kw
        if not _positive(kw):
            raise ValueError(f"a station's port power must be a number > 0 (kW), got {kw!r}")
        out.append(Station(s.kind, int(s.evs), float(kw)))
    if not out:
        raise ValueError("give at least one station")
    return out


def default_b(stations, steps: int) -> float:
    """The default price slope b (EUR/kWh per kWh of total load in one step): the mix's mean
    EV load, P = sum_i evs_i E_k / 24 h (E_k the kind's mean energy demand, ElaadNL), raises
    the price by :data:`PRICE_IMPACT_SHARE` (10 %) of the reference price (the mean Dutch
    day-ahead price of the shipped data, 2015-2025: 0.0756 EUR/kWh):
    b = 0.1 * 0.0756 / (P dt), dt = 24 / steps hours."""
    stations = check_stations(stations)
    load_kw = sum(s.evs * mean_from_quantiles("energy_demand", s.kind) for s in stations) / 24
    return PRICE_IMPACT_SHARE * reference_price() / (load_kw * 24.0 / steps)


def charging_day(date, stations, *, steps: int = 24, b: float | None = None, seed: int = 0,
                 mu_per_ev: dict | None = None) -> ChargingGame:
    """The charging game of paper 000 (eq (1)) on the real local day ``date`` (Europe/Amsterdam).

    Arguments:
        date: ``"YYYY-MM-DD"`` or a ``datetime.date`` with complete prices
            (:func:`evjax.scenarios.real_data.available_dates`).
        stations: :class:`Station`\\ s, ``(kind, evs[, port_kw])`` tuples, or a string
            ``"public:10,workplace:4,private:6"``; kinds public, workplace, private.
        steps: 24 (hourly) or 96 (quarter-hours) on an ordinary day.
        b: the price slope (EUR/kWh per kWh of total load in a step); default
            :func:`default_b`.
        seed: seeds the draw of each station's sessions (NumPy ``default_rng``).
        mu_per_ev: {kind: EUR/kWh^2} replacing :data:`MU_PER_EV`.

    The game, in EUR and kWh per step, step dt = 24 / steps h:
        a^t: the day's day-ahead price (EUR/MWh / 1000 = EUR/kWh) of the hour holding step t
            (quarter-hours hold their hour's price).
        xbar_i: the uncontrolled profile of station i (kWh per step): ``evs`` sessions drawn
            from the kind's ElaadNL arrival, energy-demand and connection-time statistics
            (weekday or weekend by the date; workplace always weekday, the source has no
            weekend workplace table), each charging at the port power from its arrival until
            its energy is delivered or it leaves, on a periodic day
            (:mod:`evjax.scenarios.sessions`).
        d_i = sum_t xbar_i^t, the energy those sessions receive (kWh).
        mu_i = m_k / (evs_i dt), m_k = :data:`MU_PER_EV` of the kind: a station aggregating
            evs identical EVs of sensitivity m_k has, split evenly, sensitivity m_k / evs;
            1 / dt keeps the cost of a deviation the same at either resolution.
        b: an assumption, not an estimate. The national market's own slope (a few EUR/MWh per
            GW of load) applied to a few stations gives b ~ 1e-9 and a game without
            interaction; the default treats the stations as the load of a small local market
            whose price their mean load moves by 10 % (:func:`default_b`). Pass ``b`` to
            study other values.

    Clock changes: T follows the day's real hours, not 24. The last Sunday of March has 23
    hours (T = 23 or 92: no 02:00-03:00), the last Sunday of October 25 (T = 25 or 100:
    02:00-03:00 twice, each with its own price); arrivals follow the clock
    (:mod:`evjax.scenarios.sessions`). Nothing is shifted or padded. Unknown dates, kinds,
    steps or values: ``ValueError`` naming the value and what exists.
    """
    date = check_date(date)
    stations = check_stations(stations)
    if steps not in STEPS:
        raise ValueError(f"steps must be 24 (hourly) or 96 (quarter-hours), got {steps!r}")
    mu_per_ev = {**MU_PER_EV, **(mu_per_ev or {})}
    unknown = sorted(set(mu_per_ev) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kind(s) {unknown} in mu_per_ev; the kinds are "
                         f"{', '.join(KINDS)}")
    for kind, value in mu_per_ev.items():
        if not _positive(value):
            raise ValueError(f"mu_per_ev[{kind!r}] must be a finite number > 0, got {value!r}")
    if b is not None and not _positive(b):
        raise ValueError(f"b must be a finite number > 0, got {b!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    price, clock = day_prices(date)
    per_hour = steps // 24
    t = per_hour * price.size
    a = np.repeat(price / 1000.0, per_hour)
    rng = np.random.default_rng(seed)
    weekend = date.weekday() >= 5
    xbar = np.stack([
        uncontrolled_profile(*draw_sessions(s.kind, s.evs, arrival_weights(
            s.kind, weekend, clock), rng), s.port_kw, price.size, t) for s in stations])
    dt_h = 24.0 / steps
    mu = np.array([mu_per_ev[s.kind] / (s.evs * dt_h) for s in stations])
    b = default_b(stations, steps) if b is None else float(b)
    return ChargingGame(a, b, mu, xbar.sum(axis=1), xbar)
