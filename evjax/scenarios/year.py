"""A year of real days: the same station mix on every day of a year, each with its own
day-ahead prices, every coalition swept (:func:`evjax.sweep_batch`); one summary row a day.

Per day, the question of paper 000: which share of the coalitions C hurts the stations
outside it (M_[N]\\C < 1), and how that relates to the day's price spread.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np

from .._plotting import save, subplots
from ..charging.ratios import GROUPS
from ..sweeps import sweep_batch
from ..sweeps.table import _pyarrow
from .charging import charging_day, check_stations
from .real_data import available_dates, day_prices


def year_dates(year: int) -> list[dt.date]:
    """The days of ``year`` that have complete prices; ``ValueError`` listing the years."""
    have = available_dates()
    years = sorted({d.year for d in have})
    if isinstance(year, bool) or not isinstance(year, int) or year not in years:
        raise ValueError(f"no prices for the year {year!r}; the years are "
                         f"{', '.join(map(str, years))} (2015, 2023, 2024 and 2025 partly)")
    return [d for d in have if d.year == year]


def year_study(year: int, stations, *, steps: int = 24, b: float | None = None,
               seed: int = 0, dates=None) -> dict[str, np.ndarray]:
    """One row per day of ``year`` (or of ``dates``, days of any year): the day's
    :func:`charging_day` game (the same ``stations``, ``steps``, ``b`` and ``seed`` every
    day, so that weekdays share their sessions and the prices make the difference) swept
    over every coalition.

    Columns (arrays of equal length): date ("YYYY-MM-DD"), day_of_year, weekend, hours (23,
    24 or 25), price_mean and price_spread (max - min, EUR/kWh), n_coalitions, and per group
    g in all, coalition, outside: share_below_g and share_above_g (the share of coalitions
    with M_g < 1, > 1, to the sweep's tolerance); seconds (the sweeps' wall time, all days).
    """
    stations = check_stations(stations)
    days = year_dates(year) if dates is None else list(dates)
    games = [charging_day(d, stations, steps=steps, b=b, seed=seed) for d in days]
    start = time.perf_counter()
    results = sweep_batch(games, progress=False, top_k=1, bins=10)
    seconds = time.perf_counter() - start
    prices = [day_prices(d)[0] / 1000.0 for d in days]
    n = np.array([r.n_evaluated for r in results])
    out = {
        "date": np.array([d.isoformat() for d in days]),
        "day_of_year": np.array([d.timetuple().tm_yday for d in days]),
        "weekend": np.array([d.weekday() >= 5 for d in days]),
        "hours": np.array([p.size for p in prices]),
        "price_mean": np.array([p.mean() for p in prices]),
        "price_spread": np.array([p.max() - p.min() for p in prices]),
        "n_coalitions": n,
    }
    for g in GROUPS:
        out[f"share_below_{g}"] = np.array([r.below_one[g] for r in results]) / n
        out[f"share_above_{g}"] = np.array([r.above_one[g] for r in results]) / n
    out["seconds"] = np.full(len(days), seconds)
    return out


def write_year_study(rows: dict[str, np.ndarray], out) -> tuple[Path, Path]:
    """``rows`` (:func:`year_study`) as ``out/year.parquet`` (needs pyarrow) and the figure
    ``out/year.png`` (:func:`plot_year_study`); the two paths."""
    pa, pq = _pyarrow()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "year.parquet"
    pq.write_table(pa.table(rows), table)
    return table, save(plot_year_study(rows), out / "year.png")


def plot_year_study(rows: dict[str, np.ndarray]):
    """Two panels: the share of coalitions with M_[N]\\C < 1 by day of year (weekends
    marked), and the same share against the day's price spread. Returns the figure."""
    fig, (by_day, by_spread) = subplots(1, 2, figsize=(11, 4))
    share, weekend = rows["share_below_outside"], rows["weekend"]
    for mask, label, colour in ((~weekend, "weekday", "C0"), (weekend, "weekend", "C1")):
        by_day.scatter(rows["day_of_year"][mask], share[mask], s=8, c=colour, label=label)
        by_spread.scatter(rows["price_spread"][mask], share[mask], s=8, c=colour, label=label)
    by_day.set_xlabel("day of year")
    by_day.set_ylabel("share of coalitions with M_[N]\\C < 1")
    by_spread.set_xlabel("price spread of the day (max - min, EUR/kWh)")
    by_day.legend()
    year = rows["date"][0][:4] if len(rows["date"]) else ""
    fig.suptitle(f"Coalitions that hurt outsiders, {year} (NL day-ahead prices)")
    return fig
