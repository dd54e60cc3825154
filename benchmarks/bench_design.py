"""Validation of the coalition search (evjax.design) against exhaustive sweeps and baselines.

1. 100 random games, N = 16 (paper 000 Figure 4 style: types H (d = 5, mu = 1) and L (d = 1,
   mu = 0.1) with random parameters around them): for each game a random fixed size K in
   [2, 8] and every objective (M_[N], M_C, M_[N]\\C), and also free size; the exact optimum is
   the top-1 of ``evjax.sweep``. Reports the fraction of instances where the search finds the
   optimum value (to 1e-12 relative), the largest relative gap of the ratio, and the largest
   gap of the improvement (M - 1) relative to the optimum's.
2. N = 60: the search against greedy search and random search given the same number of cost
   evaluations (``evjax.design.baselines``), on 8 games, K = 10 and free size.

    python benchmarks/bench_design.py [--games 100] [--big-games 8] [--no-write]

The figures go to the design subsection of ``benchmarks/RESULTS.md`` (``python -m benchmarks``
runs this benchmark with the others: ``--only design``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import evjax  # noqa: E402
from evjax.design import coalition_search, greedy_search, random_search  # noqa: E402

GROUPS = ("all", "coalition", "outside")
TITLE = "Coalition design: search vs exhaustive sweeps and baselines (issue 6)"  # RESULTS.md


def random_game(rng: np.random.Generator, n: int, t: int = 10) -> evjax.ChargingGame:
    """Paper-style types with random parameters: H (d = 5, mu = 1) with probability p ~ U[0.1,
    0.5], else L (d = 1, mu = 0.1); each d, mu scaled by exp(U[-0.3, 0.3]); b ~ U[0.25, 1];
    a^t = 0.5 + 0.4 U[0, 1]; alpha two-level (low share U[0.2, 0.8]/T first half, rest after)."""
    p = rng.uniform(0.1, 0.5)
    high = rng.random(n) < p
    d = np.where(high, 5.0, 1.0) * np.exp(rng.uniform(-0.3, 0.3, n))
    mu = np.where(high, 1.0, 0.1) * np.exp(rng.uniform(-0.3, 0.3, n))
    low = rng.uniform(0.2, 0.8) / t
    alpha = np.where(np.arange(t) < t // 2, low, 0.0)
    alpha[t // 2:] = (1.0 - alpha.sum()) / (t - t // 2)
    a = 0.5 + 0.4 * rng.random(t)
    return evjax.ChargingGame.from_shares(a, rng.uniform(0.25, 1.0), mu, d, alpha)


def validate_small(n_games: int, seed: int = 0, n: int = 16, clock=None):
    """Search against the exhaustive optimum; ``clock`` (a dict) collects the seconds spent
    in sweeps ('sweep') and searches ('search')."""
    rng = np.random.default_rng(seed)
    rows = []  # (group, sized, found, optimum, evaluations)
    clock = {} if clock is None else clock
    t0 = time.perf_counter()
    for g in range(n_games):
        game = random_game(rng, n)
        k = int(rng.integers(2, 9))
        for sizes in ([k], None):
            ts = time.perf_counter()
            sw = evjax.sweep(game, sizes=sizes, top_k=1, progress=False)
            clock["sweep"] = clock.get("sweep", 0.0) + time.perf_counter() - ts
            for j, group in enumerate(GROUPS):
                best = sw.top[group][0]["ratios"][j]
                ts = time.perf_counter()
                res = coalition_search(game, group, size=sizes[0] if sizes else None, seed=g)
                clock["search"] = clock.get("search", 0.0) + time.perf_counter() - ts
                rows.append((group, sizes is not None, res.value, best, res.evaluations))
        if (g + 1) % 10 == 0:
            print(f"  {g + 1} games, {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def small_stats(sel):
    """Instances, fraction exact, max relative gap of M, max gap of M - 1, mean evaluations."""
    found = np.array([r[2] for r in sel])
    best = np.array([r[3] for r in sel])
    exact = np.isclose(found, best, rtol=1e-12, atol=0) | (found >= best)
    gap = np.max((best - found) / best)
    gap1 = np.max(np.where(best > 1, (best - found) / np.maximum(best - 1, 1e-300), 0.0))
    return len(sel), exact.mean(), gap, gap1, np.mean([r[4] for r in sel])


def summarise_small(rows, n: int = 16):
    lines = ["| objective | size | instances | exact | max rel. gap of M | max gap of M - 1 "
             f"| mean evaluations (sweep: {2**n:,}) |", "|---|---|---|---|---|---|---|"]
    stats = small_stats
    for group in GROUPS:
        for sized in (True, False):
            sel = [r for r in rows if r[0] == group and r[1] == sized]
            n, ex, gap, gap1, ev = stats(sel)
            lines.append(f"| M_{group} | {'fixed K in 2..8' if sized else 'free'} | {n} | "
                         f"{100 * ex:.0f}% | {gap:.2e} | {gap1:.2%} | {ev:,.0f} |")
    n, ex, gap, gap1, ev = stats(rows)
    lines.append(f"| **all** | | {n} | **{100 * ex:.1f}%** | **{gap:.2e}** | {gap1:.2%} | {ev:,.0f} |")
    return lines


def compare_big(n_games: int, seed: int = 1, n: int = 60):
    rng = np.random.default_rng(seed)
    rows = []  # (group, sized, search, greedy, random, budget)
    for g in range(n_games):
        game = random_game(rng, n)
        for size in (10, None):
            for group in GROUPS:
                res = coalition_search(game, group, size=size, seed=g)
                gr = greedy_search(game, group, size=size, budget=res.evaluations, seed=g)
                rs = random_search(game, group, size=size, budget=res.evaluations, seed=g)
                rows.append((group, size is not None, res.value, gr.value, rs.value,
                             res.evaluations, gr.evaluations, rs.evaluations))
                print(f"  game {g} {group} size {size}: M - 1 search {res.value - 1:.6e}, "
                      f"greedy {gr.value - 1:.6e}, random {rs.value - 1:.6e} "
                      f"({res.evaluations} evaluations)", flush=True)
    return rows


def summarise_big(rows, n):
    lines = [f"| objective | size | games | search wins / ties / loses vs greedy | vs random "
             f"| mean M - 1: search / greedy / random | mean evaluations (search, greedy, random) |",
             "|---|---|---|---|---|---|---|"]
    for group in GROUPS:
        for sized in (True, False):
            sel = np.array([r[2:] for r in rows if r[0] == group and r[1] == sized])
            s, gr, rs = sel[:, 0], sel[:, 1], sel[:, 2]
            tol = 1e-12 * np.abs(s)
            wl = lambda o: f"{(s > o + tol).sum()} / {(np.abs(s - o) <= tol).sum()} / {(s < o - tol).sum()}"  # noqa: E731
            lines.append(
                f"| M_{group} | {'K = 10' if sized else 'free'} | {len(sel)} | {wl(gr)} | {wl(rs)} | "
                f"{np.mean(s - 1):.3e} / {np.mean(gr - 1):.3e} / {np.mean(rs - 1):.3e} | "
                f"{sel[:, 3].mean():,.0f}, {sel[:, 4].mean():,.0f}, {sel[:, 5].mean():,.0f} |")
    return lines


def suite(quick: bool = False, games: int | None = None, big_games: int | None = None,
          n: int = 16, n_big: int = 60, log=print):
    """Run the benchmark for ``python -m benchmarks``: a ``_report.Result``.

    Defaults: 100 games at N = 16 and 3 at N = 60 (``quick``: 2 games at N = 10 and one at
    N = 20).
    """
    import _report

    if quick:
        n, n_big = min(n, 10), min(n_big, 20)
    games = (2 if quick else 100) if games is None else games
    big_games = (1 if quick else 3) if big_games is None else big_games
    clock = {}
    t0 = time.perf_counter()
    small = validate_small(games, n=n, clock=clock)
    t1 = time.perf_counter()
    big = compare_big(big_games, n=n_big) if big_games else []
    t2 = time.perf_counter()
    count, exact, gap, gap1, evals = small_stats(small)
    per_sweep = clock["sweep"] / len(small)  # one sweep answers its 3 objectives
    per_search = clock["search"] / len(small)
    headline = [
        _report.Headline(f"instances where the search finds the exhaustive optimum, N = {n} [%]",
                         100 * exact, "exhaustive `evjax.sweep`", target=">= 90%",
                         met=bool(exact >= 0.9), fmt=".4g"),
        _report.Headline(f"largest relative gap of the ratio to the optimum, N = {n} [%]",
                         100 * gap, "exhaustive `evjax.sweep`", target="<= 1% in all",
                         met=bool(gap <= 0.01), fmt=".3g"),
        _report.Headline(f"mean cost evaluations per instance, N = {n}", float(evals),
                         "exhaustive `evjax.sweep`", float(2**n - 1)),
        _report.Headline(f"mean seconds per instance, N = {n} (one sweep serves 3 instances)", per_search, "exhaustive `evjax.sweep`", per_sweep),
    ]
    if big:
        arr = np.array([r[2:5] for r in big])
        for j, name in ((1, "greedy"), (2, "random search")):
            tol = 1e-12 * np.abs(arr[:, 0])
            wins = float(np.mean(arr[:, 0] > arr[:, j] + tol))
            ties = float(np.mean(np.abs(arr[:, 0] - arr[:, j]) <= tol))
            headline.append(_report.Headline(
                f"N = {n_big}: instances where the search beats / ties {name}, same budget [%]",
                100 * (wins + ties), f"{name} (wins {100 * wins:.0f}%, ties {100 * ties:.0f}%)",
                target="report who wins and by how much (table below)"))
    details = "\n".join([
        f"**N = {n}, exhaustive optimum.** {games} random games, T = 10 (`random_game`: H/L "
        "types with random parameters). For each game one random fixed size K in 2..8 and "
        "free size, each with the three objectives. Search: `coalition_search` defaults (8 "
        "restarts x 100 Adam steps on the relaxed membership, rounding, best-improvement "
        "add/drop/swap polish). Exact: the top-1 value of `evjax.sweep` (to 1e-12 relative). "
        "The gap of M - 1 is the shortfall relative to the optimum's improvement over Nash, "
        f"stricter than the ratio's relative gap. Seconds: searches {clock['search']:.0f} s, "
        f"sweeps {clock['sweep']:.0f} s, {t1 - t0:.0f} s in all.",
        "",
        *summarise_small(small, n),
        "",
        *([f"**N = {n_big}, against baselines with the same budget.** {big_games} random games; "
           "greedy and random search get the search's evaluation count as budget (greedy: best "
           "single addition until size K or no improvement, then restarts from a random "
           f"station until the budget is spent). {t2 - t1:.0f} s.",
           "", *summarise_big(big, n_big)] if big else []),
    ])
    return _report.Result("design", TITLE, headline, details)


def main(argv=None):
    import _report

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", type=int, default=100)
    parser.add_argument("--big-games", type=int, default=8)
    parser.add_argument("--no-write", action="store_true",
                        help="print only; by default the design subsection of "
                             "benchmarks/RESULTS.md is replaced")
    args = parser.parse_args(argv)
    result = suite(games=args.games, big_games=args.big_games)
    print(_report.headline_table(result.headline))
    print(result.details)
    if not args.no_write:
        print(f"wrote {_report.publish_alone(result)}")


if __name__ == "__main__":
    main()
