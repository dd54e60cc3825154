"""One C-Nash equilibrium plus station costs: evjax structured vs evjax dense vs paper eq (4).

    python benchmarks/bench_equilibrium.py             # full run, writes benchmarks/RESULTS.md
    python benchmarks/bench_equilibrium.py --quick     # smoke test (N in {5, 14}, T = 10)
    python benchmarks/bench_equilibrium.py --no-write  # full run, print only

Three ways of computing the costs c_i(x) (paper 000, eq (1)) at the C-Nash equilibrium of a
random game with one coalition C = {0, ..., N // 3} (the first N // 3 + 1 stations):

1. ``structured``: ``jax.jit`` of game -> station_costs(game, equilibrium(game, [C])), the
   Woodbury path (diagonal plus rank K + 1, never an N x N solve). Each of the three timed
   functions returns (x, costs), so that exactly what is timed is also what is checked.
2. ``dense``: the same with ``method="dense"`` (one N x N solve with T right-hand sides).
3. ``paper eq (4)``: the Kronecker formulation in the proof of Theorem 4.1, in numpy, as it
   reads: Theta = I_T kron Q (NT x NT), Gamma, Psi_1, Psi_2 with ``np.linalg.inv``,
   x = Psi_1 ((I_T kron mu) xbar - (I_T kron 1_N) A) + Psi_2 d, then eq (1).

All three are checked to agree (relative error < 1e-8 on x and on the costs) before any
timing; the script aborts otherwise. Times are median seconds per solve, the three methods
measured round-robin (``_common.time_calls``); the jitted functions are compiled before
timing. By default numpy's BLAS and XLA's CPU backend run on one thread each
(``_common.limit_threads``), which keeps the figures reproducible on a small shared
machine; ``--multithread`` keeps the libraries' defaults.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402  (standard library only; must precede numpy and jax)

if __name__ == "__main__" and "--multithread" not in sys.argv[1:]:
    _common.limit_threads()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import evjax  # noqa: E402

SECTION = "## Equilibrium: structured vs dense vs paper eq (4) (issue 2)"
TITLE = SECTION[len("## "):]  # its subsection of RESULTS.md
TOLERANCE = 1e-8

FULL_SIZES = [(n, t) for n in (5, 14, 30, 100) for t in (10, 24)]
QUICK_SIZES = [(5, 10), (14, 10)]
# Added for the scaling plot against T (issue 7): N = 30 at more T than the two.
SCALING_T_SIZES = [(30, 48), (30, 96)]


# --------------------------------------------------------------------------- problem


def make_game(n: int, t: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A random game (constant b, as in the paper) as float64 numpy arrays."""
    rng = np.random.default_rng(seed + 1000 * n + t)
    a = rng.uniform(1.0, 3.0, t)
    b = np.float64(0.5)
    mu = rng.uniform(0.5, 2.0, n)
    d = rng.uniform(5.0, 15.0, n)
    alpha = rng.uniform(0.5, 1.5, (n, t))
    xbar = d[:, None] * alpha / alpha.sum(axis=1, keepdims=True)
    return {"a": a, "b": b, "mu": mu, "d": d, "xbar": xbar}


def coalition(n: int) -> list[int]:
    return list(range(n // 3 + 1))


# --------------------------------------------------------------------------- paper eq (4)


def paper_eq4(a, b, mu, d, xbar, members):
    """x (N, T) and costs (N,) from eq (4) and eq (1), written as the paper's proof reads.

    Stacking is time-major: x = [x_1^1, ..., x_N^1, ..., x_1^T, ..., x_N^T].
    """
    n, t = xbar.shape
    in_c = np.zeros(n, dtype=bool)
    in_c[members] = True
    # C = blockdiag(1_C 1_C', I_{[N] \ C}) in the original station order.
    c_mat = np.diag((~in_c).astype(float)) + np.outer(in_c, in_c).astype(float)
    q = b * (np.ones((n, n)) + c_mat) + np.diag(mu)
    i_t, i_n = np.eye(t), np.eye(n)
    ones_t, ones_n = np.ones((t, 1)), np.ones((n, 1))

    theta = np.kron(i_t, q)  # NT x NT
    theta_inv = np.linalg.inv(theta)
    e = np.kron(ones_t, i_n)  # 1_T kron I_N, NT x N
    gamma = e.T @ theta_inv @ e  # (1_T' kron I_N) Theta^{-1} (1_T kron I_N)
    gamma_inv = np.linalg.inv(gamma)
    psi_1 = (np.eye(n * t) - theta_inv @ e @ gamma_inv @ e.T) @ theta_inv
    psi_2 = theta_inv @ e @ gamma_inv

    xbar_vec = xbar.T.reshape(-1)  # time-major stacking
    drive = np.kron(i_t, np.diag(mu)) @ xbar_vec - np.kron(i_t, ones_n) @ a
    x_vec = psi_1 @ drive + psi_2 @ d
    x = x_vec.reshape(t, n).T  # (N, T)

    # eq (1): c_i = sum_t p^t x_i^t + mu_i / 2 ||x_i - xbar_i||^2, p^t = a^t + b 1' x^t.
    price = a + b * x.sum(axis=0)
    costs = x @ price + 0.5 * mu * np.sum((x - xbar) ** 2, axis=1)
    return x, costs


# --------------------------------------------------------------------------- evjax


def evjax_solver(members, method):
    """jit(game -> (x, station_costs(game, x))) for one coalition and one method."""

    @jax.jit
    def solve(game):
        x = evjax.equilibrium(game, [members], method=method)
        return x, evjax.station_costs(game, x)

    return solve


def rel_err(u, v) -> float:
    u, v = np.asarray(u), np.asarray(v)
    return float(np.max(np.abs(u - v)) / max(np.max(np.abs(v)), 1e-300))


# --------------------------------------------------------------------------- main


def run_case(n, t, timing_kw, eq4_kw):
    params = make_game(n, t)
    members = coalition(n)
    game = evjax.ChargingGame(*(jnp.asarray(params[k]) for k in ("a", "b", "mu", "d", "xbar")))
    structured = evjax_solver(members, "structured")
    dense = evjax_solver(members, "dense")
    eq4_args = (params["a"], params["b"], params["mu"], params["d"], params["xbar"], members)

    # Compile, then check agreement before timing.
    x_s, c_s = jax.block_until_ready(structured(game))
    x_d, c_d = jax.block_until_ready(dense(game))
    x_p, c_p = paper_eq4(*eq4_args)
    errors = {
        "structured vs eq4": max(rel_err(x_s, x_p), rel_err(c_s, c_p)),
        "dense vs eq4": max(rel_err(x_d, x_p), rel_err(c_d, c_p)),
        "structured vs dense": max(rel_err(x_s, x_d), rel_err(c_s, c_d)),
    }
    bad = {k: v for k, v in errors.items() if not v < TOLERANCE}
    if bad:
        raise SystemExit(
            f"ABORT: methods disagree at N={n}, T={t} (relative error > {TOLERANCE:g}): {bad}"
        )

    times = _common.time_calls(
        {
            "structured": (structured, (game,), timing_kw),
            "dense": (dense, (game,), timing_kw),
            "eq4": (paper_eq4, eq4_args, eq4_kw),
        }
    )
    return times["structured"], times["dense"], times["eq4"], max(errors.values())


def measure(sizes, timing_kw, eq4_kw, log=print) -> list[dict]:
    """Check and time the three methods at every (N, T) of ``sizes``; one dict per size."""
    rows = []
    for n, t in sizes:
        t_s, t_d, t_p, err = run_case(n, t, timing_kw, eq4_kw)
        rows.append(dict(n=n, t=t, structured=t_s, dense=t_d, eq4=t_p, err=err))
        log(
            f"N={n:<4d} T={t:<3d} structured {_common.format_seconds(t_s.median):>9} s "
            f"({t_s.repeats}x{t_s.number})  dense {_common.format_seconds(t_d.median):>9} s "
            f"({t_d.repeats}x{t_d.number})  eq4 {_common.format_seconds(t_p.median):>9} s "
            f"({t_p.repeats}x{t_p.number}, best {_common.format_seconds(t_p.best)})  "
            f"max rel err {err:.1e}",
            flush=True,
        )
    return rows


def details(rows, multithread: bool = False) -> str:
    """The table of times and ratios, with what was measured (markdown)."""
    headers = [
        "N",
        "T",
        "structured [s]",
        "dense [s]",
        "paper eq4 [s]",
        "dense/structured",
        "eq4/structured",
    ]
    cells = [
        [
            r["n"],
            r["t"],
            _common.format_seconds(r["structured"].median),
            _common.format_seconds(r["dense"].median),
            _common.format_seconds(r["eq4"].median),
            f"{r['dense'].median / r['structured'].median:.2f}",
            f"{r['eq4'].median / r['structured'].median:.3g}",
        ]
        for r in rows
    ]
    table = _common.markdown_table(headers, cells, align=["r"] * len(headers))
    worst = max(r["err"] for r in rows)
    return "\n".join(
        [
            "One C-Nash equilibrium plus the station costs (eq (1)) for a random game with "
            "constant b and one coalition {0, ..., N // 3}; median seconds per solve "
            "(each measurement at least 0.2 s of repeated calls, `time.perf_counter`; the three "
            "methods measured round-robin). "
            "`structured` and `dense` are `jax.jit` of "
            "`station_costs(game, equilibrium(game, [C], method=...))`, compiled before "
            "timing, waited on with `block_until_ready`; `paper eq4` is the Kronecker form of "
            "eq (4) (Theta = I_T kron Q, Gamma, Psi_1, Psi_2 with `np.linalg.inv`, NT x NT) in "
            "numpy. Ratios are times relative to `structured` (above 1: structured is faster). "
            f"All three agreed before timing: max relative error {worst:.1e} on x and costs. "
            f"Threads: {'library defaults' if multithread else 'one for BLAS and one for XLA'}"
            " (see the machine's `threads` line). On a machine loaded by other processes the "
            "figures are noisier.",
            "",
            table,
        ]
    )


def suite(quick: bool = False, multithread: bool = False, log=print, sizes=None):
    """Run the benchmark for ``python -m benchmarks``: a ``_report.Result``.

    ``sizes`` ((N, T) pairs) replaces the default ones (``QUICK_SIZES`` when ``quick``).
    """
    import _report

    if quick:
        sizes = sizes or QUICK_SIZES
        timing_kw = dict(min_time=0.02, repeats=3, min_repeats=3, budget=0.5)
        eq4_kw = timing_kw
    else:
        sizes = sizes or FULL_SIZES + SCALING_T_SIZES
        timing_kw = dict(min_time=0.2, repeats=7, min_repeats=5, budget=3.0)
        eq4_kw = dict(min_time=0.2, repeats=7, min_repeats=3, budget=10.0)
    rows = measure(sizes, timing_kw, eq4_kw, log=log)

    def pick(n, t):
        return next(r for r in rows if r["n"] == n and r["t"] == t)

    big = max(rows, key=lambda r: (r["n"], r["t"]))
    headline = []
    for r in ([big] if quick else [pick(30, 24), big]):
        what = f"seconds per equilibrium + costs, N = {r['n']}, T = {r['t']}"
        for name, key in (("dense evjax (N x N solve)", "dense"), ("paper eq (4), numpy", "eq4")):
            headline.append(_report.Headline(what, r["structured"].median, name,
                                             r[key].median, target="none set (issue 2)"))
    # Scaling: against N at the T with the most N values (the largest such T), against T at
    # the N with the most T values.
    t_n = max(rows, key=lambda r: (sum(q["t"] == r["t"] for q in rows), r["t"]))["t"]
    n_t = max(rows, key=lambda r: (sum(q["n"] == r["n"] for q in rows), r["n"]))["n"]
    scaling = []
    for axis, sel, fixed in (("N", [r for r in rows if r["t"] == t_n], f"T = {t_n}"),
                             ("T", [r for r in rows if r["n"] == n_t], f"N = {n_t}")):
        sel = sorted(sel, key=lambda r: r[axis.lower()])
        for label, key in (("evjax structured", "structured"), ("dense evjax", "dense"),
                           ("paper eq (4) numpy", "eq4")):
            scaling.append(_report.Series(axis, label, [r[axis.lower()] for r in sel],
                                          [r[key].median for r in sel], fixed,
                                          "seconds per solve"))
    return _report.Result("equilibrium", TITLE, headline,
                          details(rows, multithread), scaling)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: N in {5, 14}, T = 10, few repetitions; implies --no-write",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="do not update benchmarks/RESULTS.md"
    )
    parser.add_argument(
        "--multithread",
        action="store_true",
        help="keep the libraries' default threading (by default BLAS and XLA use one "
        "thread each: multithreaded BLAS on a small shared machine is erratic)",
    )
    args = parser.parse_args(argv)

    info = _common.machine_info()
    print("evjax equilibrium benchmark: one C-Nash equilibrium plus costs, seconds per solve")
    print(_common.format_machine(info))
    print()
    result = suite(args.quick, args.multithread)
    print()
    print(result.details)
    if args.quick or args.no_write:
        return 0
    import _report

    print(f"\nwrote section {SECTION!r} of {_report.publish_alone(result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
