"""Games of real days: Dutch day-ahead prices, ElaadNL charging sessions, US tariffs.

:func:`charging_day` builds a :class:`evjax.ChargingGame` (paper 000) of a real day and a
station mix; :func:`deck_day` a deck scenario (paper 003) for :mod:`evjax.decks`;
:func:`year_study` sweeps every coalition on every day of a year (:func:`write_year_study`:
Parquet and PNG). The data
(its loader is :mod:`evjax.scenarios.real_data`) is shipped with evjax, derived from the
ev2gym 2.0.0 and acnportal 0.3.3 wheels (``evjax/data/real/PROVENANCE.md``).
"""

from .charging import (MU_PER_EV, PORT_KW, STEPS, Station, charging_day, check_stations,
                       default_b, parse_stations)
from .decks import DECK_KINDS, deck_day
from .real_data import (KINDS, TARIFFS, available_dates, day_prices, excluded_dates,
                        reference_price, tariff_prices)
from .year import plot_year_study, write_year_study, year_dates, year_study

__all__ = [
    "DECK_KINDS", "KINDS", "MU_PER_EV", "PORT_KW", "STEPS", "Station", "TARIFFS",
    "available_dates", "charging_day", "check_stations", "day_prices", "deck_day",
    "default_b", "excluded_dates", "parse_stations", "plot_year_study", "reference_price",
    "tariff_prices", "write_year_study", "year_dates", "year_study",
]
