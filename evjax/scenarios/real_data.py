"""The shipped real data (``evjax/data/real``): Dutch day-ahead prices, ElaadNL session
statistics and three US time-of-use tariffs, read once and looked up by date and kind.

Provenance, licences and how the copy is regenerated: ``evjax/data/real/PROVENANCE.md``.
Every public function validates its arguments (a ``ValueError`` naming the value and saying
what exists); the arrays returned are NumPy, float64.

Local time is Europe/Amsterdam as the source gives it (UTC+1, UTC+2 in summer). A local day
is a list of real hours from local midnight to local midnight: 24 of them, 23 on the spring
clock change (02:00-03:00 does not exist) and 25 on the autumn one (02:00-03:00 happens
twice). :func:`day_prices` returns each real hour with its clock hour, so that a caller sees
the day as it was, never shifted onto 24 slots.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from importlib.resources import files

import numpy as np

KINDS = ("public", "workplace", "private")
TARIFFS = ("sce-tou-ev-4", "sce-tou-ev-8", "pge-a-10")
_EPOCH = dt.date(1970, 1, 1)


def _data(name: str):
    return files("evjax") / "data" / "real" / name


@functools.cache
def _prices() -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(local hour since 1970 of each row, clock hour, price EUR/MWh, {date: slice})."""
    with _data("prices.npz").open("rb") as f, np.load(f) as z:
        utc, offset, price = z["utc_hour"], z["offset"].astype(np.int64), z["price"]
    # a row missing from the source has offset 0: it takes its neighbour's, and its NaN price
    # makes its local day incomplete
    idx = np.where(offset != 0, np.arange(offset.size), 0)
    offset = offset[np.maximum.accumulate(idx)]
    local = utc + offset
    day = local // 24
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    stops = np.r_[starts[1:], day.size]
    days = {}
    for a, b in zip(starts, stops, strict=True):
        complete = local[a] % 24 == 0 and local[b - 1] % 24 == 23
        if complete and np.isfinite(price[a:b]).all():
            days[_EPOCH + dt.timedelta(days=int(day[a]))] = slice(int(a), int(b))
    return local, local % 24, price, days


def available_dates() -> list[dt.date]:
    """Every local date whose day-ahead prices are complete in the shipped data, in order."""
    return list(_prices()[3])


def excluded_dates() -> list[dt.date]:
    """Dates inside the data's range whose prices are incomplete in the source (refused)."""
    have = _prices()[3]
    first, last = min(have), max(have)
    span = (last - first).days + 1
    return [d for d in (first + dt.timedelta(days=i) for i in range(span)) if d not in have]


def as_date(value) -> dt.date:
    """``value`` (a ``datetime.date`` or ``"YYYY-MM-DD"``) as a date, else ``ValueError``."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"date must be a date or a string YYYY-MM-DD, got {value!r}")


def check_date(value) -> dt.date:
    """``value`` as a date that has complete prices, else ``ValueError`` saying what exists."""
    date = as_date(value)
    have = _prices()[3]
    if date not in have:
        first, last = min(have), max(have)
        gaps = ", ".join(str(d) for d in excluded_dates())
        raise ValueError(f"no complete day-ahead prices for {date}: the data has local days "
                         f"{first} to {last}, except {gaps} (incomplete in the source)")
    return date


def day_prices(date) -> tuple[np.ndarray, np.ndarray]:
    """(prices EUR/MWh, clock hours) of the real hours of local day ``date``: 24 entries, or
    23 / 25 on clock-change days (clock hours 0, 1, 3, ... / 0, 1, 2, 2, 3, ...)."""
    _, clock, price, days = _prices()
    s = days[check_date(date)]
    return price[s].copy(), clock[s].copy()


def reference_price() -> float:
    """The mean of every shipped complete day's hourly prices, EUR/kWh (0.0756 for the shipped data)."""
    _, _, price, days = _prices()
    return float(np.mean(np.concatenate([price[s] for s in days.values()]))) / 1000.0


# ------------------------------------------------------------------------- ElaadNL statistics


@functools.cache
def _elaad() -> dict[str, np.ndarray]:
    with _data("elaad.npz").open("rb") as f, np.load(f) as z:
        return {k: z[k] for k in z.files}


def check_kind(kind) -> str:
    """``kind`` if it is one of :data:`KINDS`, else ``ValueError`` listing them."""
    if kind not in KINDS:
        raise ValueError(f"unknown station kind {kind!r}; the kinds are {', '.join(KINDS)}")
    return kind


def elaad_table(name: str) -> dict[str, np.ndarray]:
    """One ElaadNL table as {column: values}: ``index`` (clock times or percentages) and one
    column per kind present. Names: arrival_weekday, arrival_weekend (no workplace column),
    energy_demand, connection_time, mean_demand, mean_session."""
    data = _elaad()
    names = sorted({k.rsplit("_", 1)[0] for k in data if k.endswith("_index")})
    if name not in names:
        raise ValueError(f"unknown ElaadNL table {name!r}; the tables are {', '.join(names)}")
    return {k[len(name) + 1:]: v for k, v in data.items() if k.startswith(name + "_")
            and k[len(name) + 1:] in ("index", *KINDS)}


def arrival_shares(kind: str, weekend: bool) -> np.ndarray:
    """Shape (96,): the share of a day's arrivals in each 15-minute clock slot (00:00, 00:15,
    ...), summing to 1. The source has no weekend workplace table: workplace stations use the
    weekday one every day (their EVs per day are the caller's)."""
    check_kind(kind)
    table = elaad_table("arrival_weekend" if weekend and kind != "workplace" else
                        "arrival_weekday")
    share = table[kind] / table[kind].sum()  # the source's percentages sum to 100
    return share


def quantiles(table: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(p, q) of ``energy_demand`` (kWh) or ``connection_time`` (hours): a share p % of the
    kind's sessions needs more than q (p = 0, 1, ..., 100; q decreasing)."""
    if table not in ("energy_demand", "connection_time"):
        raise ValueError(f"quantiles are in energy_demand and connection_time, not {table!r}")
    t = elaad_table(table)
    return t["index"].astype(float), t[check_kind(kind)]


def mean_from_quantiles(table: str, kind: str) -> float:
    """The mean of a kind's energy demand (kWh) or connection time (h): the average of the
    quantile function, trapezoidal over the 100 percent steps."""
    p, q = quantiles(table, kind)
    return float(np.trapezoid(q, p) / 100.0)


# ------------------------------------------------------------------------------------ tariffs


@functools.cache
def _tariffs() -> dict:
    return json.loads(_data("tariffs.json").read_text())


def check_tariff(name) -> str:
    """``name`` if it is one of :data:`TARIFFS`, else ``ValueError`` listing them."""
    if name not in TARIFFS:
        raise ValueError(f"unknown tariff {name!r}; the tariffs are {', '.join(TARIFFS)}")
    return name


def tariff_info(name: str) -> dict:
    """The tariff's schedule as acnportal ships it (name, effective date, link, schedule)."""
    return _tariffs()[check_tariff(name)]


def tariff_effective(name: str) -> dt.date:
    """The date from which the tariff's schedule is effective (its file's ``effective``)."""
    # the source spells its dates without zero padding ("2019-3-1")
    return dt.date(*map(int, tariff_info(name)["effective"].split("-")))


def _in_season(entry: dict, date: dt.date) -> bool:
    start, end = (tuple(int(v) for v in entry[k].split("-")) for k in
                  ("effective_start", "effective_end"))
    md = (date.month, date.day)
    return start <= md <= end if start <= end else (md >= start or md <= end)


def _dow(entry: dict, date: dt.date) -> bool:
    mask = entry["dow_mask"]
    return mask == "ALL" or (mask == "WEEKENDS") == (date.weekday() >= 5)


def tariff_prices(name: str, date=None) -> np.ndarray:
    """Shape (24,): the tariff's energy price (USD/kWh) in each clock hour of ``date``
    (default: the tariff's effective date), the time-weighted mean where a period starts
    inside an hour (PG&E A-10 switches at 08:30 and 21:30). The season and weekday/weekend
    period are chosen by the schedule's effective_start/_end and dow_mask; demand charges
    (USD/kW) are not part of this energy price."""
    info = tariff_info(name)
    date = tariff_effective(name) if date is None else as_date(date)
    entry = next(e for e in info["schedule"] if _in_season(e, date) and _dow(e, date))
    times = np.r_[np.asarray(entry["times"], float), 24.0]
    rates = np.asarray(entry["tariffs"], float)
    grid = np.linspace(0.0, 24.0, 24 * 60 + 1)[:-1] + 0.5 / 60  # minute midpoints
    per_minute = rates[np.searchsorted(times, grid, side="right") - 1]
    minutes = per_minute.reshape(24, 60)
    # an hour inside one period gets its rate exactly (a mean of 60 equal floats may not)
    return np.where(minutes.min(1) == minutes.max(1), minutes[:, 0], minutes.mean(axis=1))
