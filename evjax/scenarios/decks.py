"""A deck scenario of paper 003 on a real day: ElaadNL arrivals, Dutch prices or a tariff."""

from __future__ import annotations

import numpy as np

from ..decks.scenarios import default_scenario
from ..decks.schema import validate
from .real_data import as_date, check_date, check_tariff, day_prices, tariff_effective, \
    tariff_info, tariff_prices
from .sessions import arrival_weights

# The ElaadNL kind whose arrivals each deck of the default day follows.
DECK_KINDS = {"residential": "private", "office": "workplace", "retail": "public",
              "downtown": "public", "highway": "public", "hospital": "public"}
_CUSTOMER_FIELDS = ("lc_park", "lc_charge", "lsc", "sc")


def _hourly(kind: str, weekend: bool, clock: np.ndarray) -> np.ndarray:
    """Shape (H,): the share of the kind's daily arrivals in each real hour."""
    return arrival_weights(kind, weekend, clock).reshape(-1, 4).sum(axis=1)


def deck_day(date=None, tariff: str | None = None, *, base: dict | None = None) -> dict:
    """A deck scenario (:mod:`evjax.decks.schema`) of a real day, validated.

    Arguments:
        date: ``"YYYY-MM-DD"`` or a ``datetime.date``. Without ``tariff``: a day with complete
            Dutch prices; the buy-in price of each hour is its day-ahead price in EUR/kWh.
        tariff: one of :data:`evjax.scenarios.real_data.TARIFFS`; the buy-in price of each
            clock hour is the tariff's energy price (USD/kWh) on ``date`` (any date: it picks
            the season and weekday/weekend period; default the tariff's effective date).
        base: the scenario whose decks are reshaped (default
            :func:`evjax.decks.default_scenario`); each deck's name must be in
            :data:`DECK_KINDS`.

    Each deck keeps its daily numbers of customers (lc_park, lc_charge, lsc, sc) and spreads
    them over the hours like the arrivals of its kind (:data:`DECK_KINDS`; weekday or weekend
    by the date). With prices, the hours are the day's real hours (23 or 25 on clock-change
    days: ``hours`` says which; each real hour takes the arrivals and base load of its clock
    hour, renormalised); a tariff is a clock schedule, so its day has 24 hours.
    ``ValueError`` for neither or an unknown date, tariff or deck.

    Solving: paper 003's constant relaxation step (0.5) can diverge at an hour of a real day
    (2023-07-12 at 18 h: the grid binds while the buy-in price is low); the optimal step
    converges there (:func:`evjax.decks.equilibrium` with ``step="optimal"``,
    ``evjax decks --step optimal``).
    """
    if date is None and tariff is None:
        raise ValueError("give a date (day-ahead prices) or a tariff (or both)")
    if tariff is not None:
        info = tariff_info(check_tariff(tariff))
        buy = tariff_prices(tariff, date)
        day = as_date(date) if date is not None else tariff_effective(tariff)
        clock, name = np.arange(24), f"{info['name']} on {day}"
    else:
        day = check_date(date)
        price, clock = day_prices(day)
        buy, name = price / 1000.0, f"NL day-ahead {day}"
    scenario = default_scenario() if base is None else validate(base)
    weekend = day.weekday() >= 5
    decks = []
    for deck in scenario["decks"]:
        if deck["name"] not in DECK_KINDS:
            raise ValueError(f"deck {deck['name']!r} has no ElaadNL kind; the decks with one "
                             f"are {', '.join(DECK_KINDS)}")
        share = _hourly(DECK_KINDS[deck["name"]], weekend, clock)
        out = dict(deck)
        for field in _CUSTOMER_FIELDS:
            out[field] = (sum(deck[field]) * share).tolist()
        base_kw = np.asarray(deck["base_kw"])[clock]  # the base load of each clock hour
        out["base_kw"] = (base_kw * sum(deck["base_kw"]) / base_kw.sum()).tolist()
        decks.append(out)
    return validate({**scenario, "name": name, "hours": int(len(clock)), "decks": decks,
                     "buy_in": [float(v) for v in buy]})
