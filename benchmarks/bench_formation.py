"""Coalition formation (issue 21): enumerating every internally / externally stable coalition.

For N = 20 and N = 24 stations (T = 10, a random game of the paper's two station types),
:func:`evjax.formation.stable_coalitions` judges all 2^N - N - 1 coalitions of size >= 2 and
their leave/join neighbours (O(N^2) each, in bit order, chunk by chunk), timed once per N
including its compilation (N = 24 runs once: the machine is shared).

Baseline, in the same run: numpy brute force on a random subsample of coalitions, each
judged from N + 1 dense KKT solves (the (NT + N)-unknown system of every player's optimality
conditions: C-Nash and each station's leave/join move), timed and extrapolated to all
coalitions (clearly an extrapolation: the brute force would take hours). On that subsample
its verdicts are checked against evjax's.

    python benchmarks/bench_formation.py [--sizes 20,24] [--sample 60] [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402  (standard library only: before numpy and jax)

if __name__ == "__main__":
    _common.limit_threads()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import evjax  # noqa: E402
from evjax.formation import stable_coalitions  # noqa: E402

TITLE = "Coalition formation: every stable coalition of N = 20 and 24 (issue 21)"  # RESULTS.md
T = 10


def random_game(n: int, seed: int = 0):
    """Types H (d = 5, mu = 1, share 0.3) and L (d = 1, mu = 0.1), each scaled by
    exp(U[-0.3, 0.3]); b ~ U[0.25, 1], a^t = 0.5 + 0.4 U[0, 1], a random profile shape."""
    rng = np.random.default_rng(seed)
    high = rng.random(n) < 0.3
    d = np.where(high, 5.0, 1.0) * np.exp(rng.uniform(-0.3, 0.3, n))
    mu = np.where(high, 1.0, 0.1) * np.exp(rng.uniform(-0.3, 0.3, n))
    alpha = rng.dirichlet(np.ones(T))
    a = 0.5 + 0.4 * rng.random(T)
    b = float(rng.uniform(0.25, 1.0))
    return (a, b, mu, d, d[:, None] * alpha[None, :])


def kkt_costs(arrays, members) -> np.ndarray:
    """Every station's cost at C-Nash by one dense KKT solve ((NT + N) unknowns, numpy)."""
    a, b, mu, d, xbar = arrays
    n, t = xbar.shape
    same = np.eye(n)
    same[np.ix_(members, members)] = 1.0
    m_xx = np.kron(b * (1.0 + same) + np.diag(mu), np.eye(t))
    m_xl = np.kron(np.eye(n), np.ones((t, 1)))
    mat = np.block([[m_xx, m_xl], [m_xl.T, np.zeros((n, n))]])
    rhs = np.concatenate([(mu[:, None] * xbar - a[None, :]).reshape(-1), d])
    x = np.linalg.solve(mat, rhs)[: n * t].reshape(n, t)
    price = a + b * x.sum(axis=0)
    return x @ price + 0.5 * mu * ((x - xbar) ** 2).sum(axis=1)


def brute_verdicts(arrays, bits: int, tol: float) -> tuple[bool, bool]:
    """(internal, external) of coalition ``bits`` from N + 1 dense solves."""
    n = len(arrays[2])
    inside = [i for i in range(n) if bits >> i & 1]
    here = kkt_costs(arrays, inside)
    internal = external = True
    for i in range(n):
        moved = [j for j in range(n) if (bits ^ (1 << i)) >> j & 1]
        gain = here[i] - kkt_costs(arrays, moved)[i]
        if gain > tol:
            internal, external = (False, external) if i in inside else (internal, False)
    return internal, external


def measure(n: int, sample: int, log=print) -> dict:
    arrays = random_game(n)
    game = evjax.ChargingGame(*arrays)
    t0 = time.perf_counter()
    found = stable_coalitions(game, progress=False)
    seconds = time.perf_counter() - t0
    log(f"  N = {n}: {found.evaluated:,} coalitions in {seconds:.1f} s; internally stable "
        f"{len(found.internal):,}, externally {len(found.external):,}, both "
        f"{len(found.stable):,}", flush=True)
    rng = np.random.default_rng(n)
    picks = rng.choice(np.arange(1 << n), size=sample, replace=False)
    picks = picks[np.bitwise_count(picks) >= 2]
    internal, external = set(found.internal.tolist()), set(found.external.tolist())
    t0 = time.perf_counter()
    verdicts = [brute_verdicts(arrays, int(c), found.tol) for c in picks]
    brute = (time.perf_counter() - t0) / len(picks)
    agree = sum(v == (int(c) in internal, int(c) in external) for c, v in zip(picks, verdicts))
    log(f"  brute force: {len(picks)} coalitions, {brute * 1e3:.1f} ms each; verdicts agree "
        f"on {agree}/{len(picks)}", flush=True)
    return dict(n=n, evaluated=found.evaluated, seconds=seconds, brute=brute,
                sampled=len(picks), agree=agree, internal=len(found.internal),
                external=len(found.external), stable=len(found.stable))


def suite(quick: bool = False, sizes=None, sample: int | None = None, log=print):
    """Run the benchmark for ``python -m benchmarks``: a ``_report.Result``."""
    import _report

    sizes = ((10, 12) if quick else (20, 24)) if sizes is None else tuple(sizes)
    sample = (10 if quick else 60) if sample is None else sample
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    rows = [measure(n, sample, log) for n in sizes]
    headline = []
    for r in rows:
        headline.append(_report.Headline(
            f"N = {r['n']}: microseconds per coalition judged (all {r['evaluated']:,}, "
            "compilation included)", 1e6 * r["seconds"] / r["evaluated"],
            f"numpy dense KKT, N + 1 solves per coalition (mean of {r['sampled']} sampled)",
            1e6 * r["brute"]))
        headline.append(_report.Headline(
            f"N = {r['n']}: wall time of the enumeration [s]", r["seconds"],
            "numpy dense KKT, extrapolated to every coalition", r["brute"] * r["evaluated"]))
    details = _common.markdown_table(
        ["N", "coalitions", "evjax [s]", "evjax coalitions/s", "brute force coalitions/s",
         "internally stable", "externally stable", "both",
         "brute force sample", "verdicts agree"],
        [[str(r["n"]), f"{r['evaluated']:,}", f"{r['seconds']:.2f}",
          f"{r['evaluated'] / r['seconds']:,.0f}", f"{1.0 / r['brute']:,.1f}",
          f"{r['internal']:,}",
          f"{r['external']:,}", f"{r['stable']:,}", str(r["sampled"]),
          f"{r['agree']}/{r['sampled']}"] for r in rows])
    notes = [f"Shared machine: load average (1/5/15 min) {load} at the start; wall times.",
             "The brute-force figures are extrapolated from the sampled coalitions' mean "
             "time; no brute-force run over all coalitions was made."]
    return _report.Result("formation", TITLE, headline, details, notes=notes)


def main(argv=None) -> int:
    import _report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="station counts, e.g. 20,24")
    parser.add_argument("--sample", type=int, default=None,
                        help="coalitions of the brute-force sample (default 60; quick 10)")
    parser.add_argument("--quick", action="store_true", help="N = 10, 12")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; by default the formation subsection of "
                             "benchmarks/RESULTS.md is replaced")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    print(_common.format_machine(_common.machine_info()), flush=True)
    result = suite(quick=args.quick, sizes=sizes, sample=args.sample)
    return _report.print_and_publish(result, write=not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
