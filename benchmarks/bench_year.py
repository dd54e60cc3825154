"""The year study of issue 20: every coalition of N = 16 stations on every day of a year.

The same station mix (6 public stations of 8 EVs a day, 4 workplace of 5, 6 private of 1)
on each of the 365 days of 2022, each day with its own Dutch day-ahead prices
(:func:`evjax.scenarios.year_study`: one :func:`evjax.charging_day` game a day, swept by
:func:`evjax.sweep_batch`, 2^16 - 1 coalitions each). Target: under 60 s on 2 CPU cores.

Baseline, in the same run: the same per-day question answered without the sweep engine, on
a sample of days spread over the year: every coalition's three ratios by a dense vmapped
JAX solve per coalition (``bench_sweep.dense_ratio_fn``), timed warm (its compilation
excluded, which favours the baseline) and extrapolated to the year. Before reporting, the
engine's per-day summary (share of coalitions with M_g < 1 and > 1, per group) and its
extremes (``evjax.sweep`` of the day) are checked against that dense recomputation.

    python benchmarks/bench_year.py [--year 2022] [--days 365] [--sample 4] [--out DIR]
                                    [--quick] [--no-write]

Prints the headline table and the phases' wall times (building the games, the sweeps
including their one compilation per day length, writing Parquet and PNG with ``--out``) and
writes the year subsection of ``benchmarks/RESULTS.md`` (``python -m benchmarks --only
year`` runs it with the suite).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402  (standard library only: before numpy and jax)

if __name__ == "__main__":
    _common.limit_threads()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import evjax  # noqa: E402
from bench_sweep import dense_ratio_fn, engine_summary  # noqa: E402
from evjax.scenarios import charging_day, write_year_study, year_dates, year_study  # noqa: E402

MIX = ",".join(["public:8"] * 6 + ["workplace:5"] * 4 + ["private:1"] * 6)
MIX_TEXT = "6 public stations of 8 EVs a day, 4 workplace of 5, 6 private of 1"
TITLE = "Year study: a year of N = 16 sweeps of real days (issue 20)"  # RESULTS.md
GROUPS = ("all", "coalition", "outside")
TARGET_SECONDS = 60.0  # the year's sweeps on 2 CPU cores
TOL = 1e-9  # evjax.sweep's default tol: M < 1 - TOL counts as below one
AGREE = 1e-9  # |engine - dense| allowed for the extremes; shares: ratios within it of 1 -+ TOL
CHUNK = 8192  # coalitions per dense call (bounds the baseline's memory)


def all_masks(n: int) -> np.ndarray:
    """Every non-empty coalition of ``n`` stations as 0/1 float masks (2^n - 1, n)."""
    codes = np.arange(1, 1 << n, dtype=np.int64)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(np.float64)


def game_params(game: evjax.ChargingGame) -> dict[str, np.ndarray]:
    return {k: np.asarray(getattr(game, k)) for k in ("a", "b", "mu", "d", "xbar")}


def dense_day(game: evjax.ChargingGame, masks: np.ndarray) -> tuple[np.ndarray, float]:
    """Every coalition's ratios (C, 3) by the dense baseline, and its warm wall time (s)."""
    fn, nash = dense_ratio_fn(game_params(game))
    chunks = [jnp.asarray(masks[i:i + CHUNK]) for i in range(0, len(masks), CHUNK)]
    _common.block(fn(chunks[0], nash))  # compile (both chunk shapes: the last may be short)
    _common.block(fn(chunks[-1], nash))
    start = time.perf_counter()
    out = [_common.block(fn(c, nash)) for c in chunks]
    seconds = time.perf_counter() - start
    return np.concatenate([np.asarray(o) for o in out]), seconds


def check_day(row: dict, result, ratios: np.ndarray, day: str) -> float:
    """Engine summary of one day (``row``: its year_study shares; ``result``: its sweep)
    against the dense ratios; raises SystemExit on disagreement, returns the largest error."""
    worst = 0.0
    summary = engine_summary(result)
    n = len(ratios)
    for gi, g in enumerate(GROUPS):
        r = ratios[:, gi]
        defined = ~np.isnan(r)
        for side, sign in (("below", -1.0), ("above", 1.0)):
            engine = round(float(row[f"share_{side}_{g}"]) * n)
            # coalitions with ratios within AGREE of the threshold may fall either way
            strict = np.sum(defined & (sign * (r - 1.0) > TOL + AGREE))
            loose = np.sum(defined & (sign * (r - 1.0) > TOL - AGREE))
            if not strict <= engine <= loose:
                raise SystemExit(f"ABORT: {day}: engine counts {engine} coalitions with M_{g} "
                                 f"{side} 1, dense recomputation {strict}..{loose}")
        for key, fn in (("max", np.nanmax), ("min", np.nanmin)):
            err = abs(summary[key][gi] - float(fn(r)))
            worst = max(worst, err)
            if not err <= AGREE:
                raise SystemExit(f"ABORT: {day}: engine {key} of M_{g} {summary[key][gi]!r} vs "
                                 f"dense {float(fn(r))!r} (|diff| {err:.2e} > {AGREE:g})")
    return worst


def sample_days(days: list, count: int) -> list[int]:
    """``count`` indices spread evenly over ``days`` (first and last included)."""
    count = max(1, min(count, len(days)))
    return sorted({int(round(i)) for i in np.linspace(0, len(days) - 1, count)})


def measure(year: int, days: int | None, sample: int, out: str | None = None, log=print):
    """The timed year study, the dense baseline on ``sample`` days, and the checks."""
    dates = year_dates(year)[:days]
    start = time.perf_counter()
    for d in dates:
        charging_day(d, MIX)
    build = time.perf_counter() - start
    log(f"  built {len(dates)} games in {build:.1f} s")
    start = time.perf_counter()
    rows = year_study(year, MIX, dates=dates)
    total = time.perf_counter() - start
    sweeps = float(rows["seconds"][0])
    log(f"  year_study: sweeps {sweeps:.1f} s, {total:.1f} s in all")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_year_study(rows, out or tmp)
    write = time.perf_counter() - start
    picked, dense_s, worst, checked = sample_days(dates, sample), [], 0.0, []
    for i in picked:
        game = charging_day(dates[i], MIX)
        masks = all_masks(game.mu.shape[0])
        ratios, seconds = dense_day(game, masks)
        dense_s.append(seconds)
        row = {k: v[i] for k, v in rows.items()}
        result = evjax.sweep(game, progress=False, tol=TOL)
        worst = max(worst, check_day(row, result, ratios, rows["date"][i]))
        checked.append((rows["date"][i], row, ratios, seconds))
        log(f"  dense baseline {rows['date'][i]}: {seconds:.2f} s, checks pass")
    return dict(dates=dates, rows=rows, build=build, sweeps=sweeps, total=total, write=write,
                dense=dense_s, worst=worst, checked=checked)


def details(m: dict) -> str:
    rows, n_days = m["rows"], len(m["dates"])
    n_coal = int(rows["n_coalitions"][0])
    share = rows["share_below_outside"]
    phases = _common.markdown_table(["phase", "seconds"], [
        ["build the games (charging_day)", f"{m['build']:.2f}"],
        [f"sweep_batch: {n_days} days x {n_coal:,} coalitions (compilation included)",
         f"{m['sweeps']:.2f}"],
        ["year_study in all (games + sweeps + summaries)", f"{m['total']:.2f}"],
        ["write Parquet + PNG", f"{m['write']:.2f}"]])
    sampled = _common.markdown_table(
        ["day", "dense baseline [s]", "share M_[N]\\C < 1: engine", "dense",
         "min M_[N]\\C (dense)", "max M_[N]\\C (dense)"],
        [[day, f"{s:.3f}", f"{float(row['share_below_outside']):.4f}",
          f"{np.sum(r[:, 2] < 1 - TOL) / len(r):.4f}",
          f"{np.nanmin(r[:, 2]):.6f}", f"{np.nanmax(r[:, 2]):.6f}"]
         for day, row, r, s in m["checked"]])
    return "\n".join([
        f"Station mix: {MIX_TEXT} (N = 16, T = 24), {n_days} days from {m['dates'][0]} to "
        f"{m['dates'][-1]}, each day's Dutch day-ahead prices. Share of coalitions with "
        f"M_[N]\\C < 1 over the days: mean {share.mean():.4f}, min {share.min():.4f}, max "
        f"{share.max():.4f}.",
        "",
        phases,
        "",
        f"**Baseline and checks.** On {len(m['checked'])} days spread over the period, all "
        f"{n_coal:,} coalitions' ratios by one dense vmapped `jnp.linalg.solve` per coalition "
        f"(chunks of {CHUNK}; warm: compilation excluded), the time extrapolated to the "
        f"{n_days} days. On each sampled day the engine's counts of M_g < 1 and M_g > 1 (all "
        "three groups) agree with the dense recomputation (up to coalitions within "
        f"{AGREE:g} of the threshold), and its extremes of every group with the dense ones "
        f"(largest difference {m['worst']:.1e}).",
        "",
        sampled,
    ])


def suite(quick: bool = False, year: int = 2022, days: int | None = None,
          sample: int | None = None, out: str | None = None, log=print):
    """Run the benchmark for ``python -m benchmarks``: a ``_report.Result``.

    Defaults: every day of ``year``, 4 sampled days for the baseline (``quick``: the first 3
    days, 2 sampled).
    """
    import _report

    days = (3 if quick else None) if days is None else days
    sample = (2 if quick else 4) if sample is None else sample
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    m = measure(year, days, sample, out=out, log=log)
    n_days = len(m["dates"])
    extrapolated = float(np.mean(m["dense"])) * n_days
    full_year = n_days >= 365
    headline = [
        _report.Headline(
            f"sweeps of {n_days} days, N = 16, T = 24 (`year_study`'s sweep_batch) [s]",
            m["sweeps"], f"dense vmapped solve per coalition, {len(m['dense'])} days "
            f"extrapolated to {n_days}", extrapolated,
            target="< 60 s on 2 cores" + ("" if full_year else " (a full year only)"),
            met=bool(m["sweeps"] < TARGET_SECONDS) if full_year else None),
        _report.Headline("seconds per day (sweep)", m["sweeps"] / n_days,
                         "dense, mean of the sampled days", float(np.mean(m["dense"]))),
        _report.Headline(f"year_study in all, {n_days} days (games + sweeps + summaries) [s]",
                         m["total"]),
    ]
    notes = [f"Shared machine: load average (1/5/15 min) {load} at the start of this benchmark "
             "on its 2 cores; all times are wall times under that load."]
    return _report.Result("year", TITLE, headline, details(m), notes=notes)


def main(argv=None) -> int:
    import _report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2022)
    parser.add_argument("--days", type=int, default=None, help="only the first DAYS days")
    parser.add_argument("--sample", type=int, default=None,
                        help="days of the dense baseline (default 4; quick 2)")
    parser.add_argument("--quick", action="store_true", help="3 days, 2 sampled")
    parser.add_argument("--out", help="write year.parquet and year.png there")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; by default the year subsection of "
                             "benchmarks/RESULTS.md is replaced")
    args = parser.parse_args(argv)
    result = suite(quick=args.quick, year=args.year, days=args.days, sample=args.sample,
                   out=args.out)
    print(_common.format_machine(_common.machine_info()))
    return _report.print_and_publish(result, write=not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
