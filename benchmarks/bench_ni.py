"""The Nikaido-Isoda solver (issue 4): evjax against NashOpt on a box-constrained charging game.

A Nash game with N = 20 stations, T = 24 steps and x >= 0 binding for some stations (a few
nominal profiles concentrated in 2 to 4 steps, a price offset a^t higher in the evening),
NI gap tolerance 1e-8, solved by

* evjax: ``evjax.solvers.solve(ConstrainedChargingGame(game, (), nonnegative=True),
  tol=1e-8)``, jitted, float64, with the constant step (default) and the optimal step; single
  solves, a ``jax.vmap`` over ``--batch`` instances (a^t perturbed) in one call, and the
  implicit gradient of the summed cost of stations 0..4 with respect to mu;
* NashOpt (``benchmarks/_nashopt.py``): ``GNEP_LQ`` (variational) with the solvers given by
  ``--solvers`` (default: dr_daqp, lemke_dual, qp_gnep, the accurate ones that take under a
  few seconds here; ``all`` adds lemke, log_ipm, prox_admm, extragradient, op_extrap, which
  take seconds to minutes or stop short of 1e-8). The fastest one whose equilibrium passes the
  certificate (best-response gains and violation < 1e-8) is the baseline: its sequential
  throughput, and its finite-difference gradient (central, 2N re-solves).

It prints each equilibrium's certificate (largest best-response gain, by exact water filling
independent of both libraries; constraint violation; max abs difference from evjax's), the
times, all measured interleaved round-robin after a warm-up (median and min: on a shared
machine the min is the steadier figure), the ratios against the targets of issue 4, and the
relaxation steps of both step rules against N. Unless ``--no-write``, the tables go to
``benchmarks/RESULTS.md``. NashOpt is optional: ``pip install -e ".[bench]"``, preferably in
its own virtual environment.

    python benchmarks/bench_ni.py [--repeats 7] [--fd-repeats 3] [--batch 1000]
                                  [--sizes 5,10,20,40] [--solvers all] [--no-write]
"""

from __future__ import annotations

import os

# A deadlock workaround for jaxlib 0.10's CPU runtime: set before jax is imported.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_cpu_enable_concurrency_optimized_scheduler=false"
    " --xla_cpu_multi_thread_eigen=false"
).strip()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import functools as ft  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _nashopt  # noqa: E402


def make_game(n=20, t=24, seed=0, concentrated=5):
    """a (T,), b, mu, d (N,), xbar (N, T) where x >= 0 binds for some stations.

    mu_i ~ U(0.5, 1.5), d_i ~ U(2, 6), b = 0.05; a^t = 0.5 + 0.05 cos(2 pi t / T) plus 0.15
    in the evening (steps 17..21 of 24). The first ``concentrated`` stations want their
    energy in 2 to 4 consecutive steps (xbar_i = d_i / width there, 0 elsewhere): they are
    the ones for which x >= 0 would be violated without it (for seed 0, exactly them, in 33
    entries; at the constrained equilibrium a sixth station also touches 0). The others'
    nominal profiles spread over the whole day (weights U(0.5, 1.5)).
    """
    rng = np.random.default_rng(seed)
    steps = np.arange(t)
    evening = (steps >= round(17 * t / 24)) & (steps <= round(21 * t / 24))
    a = 0.5 + 0.05 * np.cos(2 * np.pi * steps / t) + 0.15 * evening
    b = 0.05
    mu = rng.uniform(0.5, 1.5, n)
    d = rng.uniform(2.0, 6.0, n)
    xbar = np.zeros((n, t))
    for i in range(n):
        if i < concentrated:
            width = int(rng.integers(2, 5))
            start = int(rng.integers(0, t - width + 1))
            xbar[i, start:start + width] = d[i] / width
        else:
            w = rng.uniform(0.5, 1.5, t)
            xbar[i] = d[i] * w / w.sum()
    return a, b, mu, d, xbar


def median_time(fn, repeats, warmup=1):
    """Median and min seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed measurements per solve (median reported)")
    parser.add_argument("--fd-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=1000,
                        help="instances in the batched (vmapped) evjax call")
    parser.add_argument("--sizes", default="5,10,20,40",
                        help="N values for the iteration counts of both step rules (T = 24)")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--solvers", default="dr_daqp,lemke_dual,qp_gnep",
                        help="comma-separated NashOpt GNEP_LQ solvers to compare, or 'all' "
                             f"({','.join(_nashopt.VGNE_SOLVERS)}); the fastest accurate one "
                             "does the finite differences")
    args = parser.parse_args(argv)

    try:
        _nashopt.require()
    except ImportError as e:
        sys.exit(f"bench_ni: {e}")

    import _common
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import evjax

    a, b, mu, d, xbar = make_game(seed=args.seed)
    n, t = xbar.shape
    params = dict(a=a, b=b, mu=mu, d=d, xbar=xbar)
    game = evjax.ChargingGame(jnp.asarray(a), b, jnp.asarray(mu), jnp.asarray(d),
                              jnp.asarray(xbar))
    x_free = np.asarray(evjax.equilibrium(game))
    neg = x_free < 0
    print(_common.format_machine(_common.machine_info()))
    print(f"jax {jax.__version__}, nashopt {_version('nashopt')}, daqp {_version('daqp')}, "
          f"{_common.thread_settings()}")
    print(f"game: N={n} T={t} seed={args.seed}; without x >= 0, {int(neg.sum())} entries "
          f"of {int(neg.any(axis=1).sum())} stations would be negative")

    cg = evjax.ConstrainedChargingGame(game, (), nonnegative=True)
    calls, solutions = {}, {}
    for step in ("constant", "optimal"):
        solve = jax.jit(lambda g, step=step: evjax.solvers.solve(
            g, tol=1e-8, step=step, throw=False))
        t0 = time.perf_counter()
        sol = jax.block_until_ready(solve(cg))
        print(f"evjax step={step}: result {int(sol.result)} "
              f"({evjax.solvers.RESULTS.message(sol.result)}), {int(sol.steps)} steps, NI gap "
              f"{float(sol.gap):.2e}; first call (compilation) {time.perf_counter() - t0:.1f} s")
        name = f"evjax solve (step={step})"
        solutions[name] = np.asarray(sol.value)
        calls[name] = (lambda solve=solve: jax.block_until_ready(solve(cg)), (), {})
    x_ref = solutions["evjax solve (step=constant)"]

    solvers = list(_nashopt.VGNE_SOLVERS) if args.solvers == "all" else [
        s.strip() for s in args.solvers.split(",") if s.strip()]
    accurate = []
    for s in solvers:
        name = f"NashOpt {s} (build + solve)"
        try:
            solutions[name] = _nashopt.solve(**params, solver=s)  # also the warm-up
        except Exception as e:  # noqa: BLE001 - report and go on
            print(f"NashOpt {s}: failed: {type(e).__name__}: {e}")
            continue
        calls[name] = (lambda s=s: _nashopt.solve(**params, solver=s), (), {})
        problem = _nashopt.build(**params, solver=s)
        calls[f"NashOpt {s} (solve only)"] = (problem.solve, (), {})

    print("\ncertificates (best-response gains by exact water filling; max |x - evjax|):")
    for name, x in solutions.items():
        if "solve only" in name:
            continue
        gain = _nashopt.best_response_gains(**params, x=x).max()
        viol = _nashopt.violation(d, x)
        print(f"  {name:38s} gain {gain:9.2e}  violation {viol:9.2e}  "
              f"max|x - x_evjax| {np.abs(x - x_ref).max():9.2e}  "
              f"{int((x < 1e-9).sum())} entries at 0 in {int((x < 1e-9).any(axis=1).sum())} "
              "stations")
        if name.startswith("NashOpt") and max(gain, viol) < 1e-8:
            accurate.append(name.split()[1])

    # Batched: --batch instances with a^t perturbed, one vmapped call (throw=False).
    a_batch = a + np.random.default_rng(args.seed + 1).uniform(-0.05, 0.05, (args.batch, t))

    def batch_game(a_):
        g = evjax.ChargingGame(a_, b, jnp.asarray(mu), jnp.asarray(d), jnp.asarray(xbar))
        return evjax.ConstrainedChargingGame(g, (), nonnegative=True)

    batched = {}
    for step in ("constant", "optimal"):
        run = jax.jit(jax.vmap(lambda a_, step=step: evjax.solvers.solve(
            batch_game(a_), tol=1e-8, step=step, throw=False)))
        t0 = time.perf_counter()
        out = jax.block_until_ready(run(jnp.asarray(a_batch)))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = jax.block_until_ready(run(jnp.asarray(a_batch)))
        batched[step] = (time.perf_counter() - t0, out)
        codes = np.bincount(np.asarray(out.result), minlength=5)
        print(f"evjax batched step={step}: {args.batch} instances in {batched[step][0]:.2f} s "
              f"(first call {first:.1f} s); result codes {codes.tolist()}, steps up to "
              f"{int(np.asarray(out.steps).max())}", flush=True)

    # Gradients: d(summed cost of stations 0..4 at equilibrium)/d mu.
    coalition = np.arange(5)

    def evjax_cost(mu_, step):
        g = evjax.ChargingGame(jnp.asarray(a), b, mu_, jnp.asarray(d), jnp.asarray(xbar))
        sol = evjax.solvers.solve(evjax.ConstrainedChargingGame(g, (), nonnegative=True),
                                  tol=1e-8, step=step)
        return jnp.sum(evjax.station_costs(g, sol.value)[coalition])

    grads = {}
    for step in ("constant", "optimal"):
        grad = jax.jit(jax.grad(ft.partial(evjax_cost, step=step)))
        grads[step] = np.asarray(jax.block_until_ready(grad(jnp.asarray(mu))))
        calls[f"evjax implicit gradient (step={step})"] = (
            lambda grad=grad: jax.block_until_ready(grad(jnp.asarray(mu))), (), {})

    print(f"\ntimes (interleaved round-robin, {args.repeats} measurements each, warm-up "
          "excluded; median and min):")
    timings = _common.time_calls({k: (f, a_, {"repeats": args.repeats, "min_repeats":
                                              args.repeats, "budget": 1e9})
                                  for k, (f, a_, _) in calls.items()})
    for name, tm in timings.items():
        print(f"  {name:40s} {tm.median * 1e3:9.1f} ms  (min {tm.best * 1e3:.1f})")

    if not accurate:
        sys.exit("no NashOpt solver reached best-response gains and violation below 1e-8")
    fastest = min(accurate, key=lambda s: timings[f"NashOpt {s} (build + solve)"].median)
    print(f"\nfastest accurate NashOpt solver: {fastest}")

    def coalition_cost(x, p):
        return float(_nashopt.station_costs(**p, x=x)[coalition].sum())

    fd = lambda: _nashopt.fd_gradient(coalition_cost, params, "mu", solver=fastest)  # noqa: E731
    g_fd = fd()
    med, best = median_time(fd, args.fd_repeats, warmup=0)
    print(f"NashOpt {fastest} FD gradient d(cost of stations 0..4)/d mu, central differences "
          f"({2 * n} solves): median {med:.2f} s (min {best:.2f}, {args.fd_repeats} runs)")
    for step, g_ev in grads.items():
        rel = np.abs(g_ev - g_fd).max() / np.abs(g_fd).max()
        print(f"  evjax implicit gradient (step={step}) vs NashOpt FD: max rel. difference "
              f"{rel:.2e}")

    # Against the targets of issue 4.
    base = timings[f"NashOpt {fastest} (build + solve)"].median
    rows = []
    for step in ("constant", "optimal"):
        single = timings[f"evjax solve (step={step})"].median
        batch_s, out = batched[step]
        ok = int(np.sum(np.asarray(out.result) == 0))
        grad_s = timings[f"evjax implicit gradient (step={step})"].median
        rows.append([
            step, f"{single * 1e3:.0f}", f"{base / single:.2f} (> 1)",
            f"{batch_s / args.batch * 1e3:.1f} ({ok}/{args.batch} conv.)",
            f"{base / (batch_s / args.batch):.2f} (>= 100)",
            f"{grad_s * 1e3:.0f}", f"{med / grad_s:.1f} (>= 100)",
        ])
    headers = ["evjax step", "single [ms]", "NashOpt/single", "batched [ms/inst]",
               "batched vs NashOpt seq.", "implicit grad [ms]", "NashOpt FD / implicit"]
    table = _common.markdown_table(headers, rows)
    print(f"\nNashOpt {fastest}: {base * 1e3:.0f} ms per build + solve (its sequential "
          f"throughput), FD gradient {med:.2f} s\n")
    print(table)

    # Relaxation steps of both step rules against N (T = 24, same construction).
    counts = []
    for n_ in [int(v) for v in args.sizes.split(",") if v.strip()]:
        a_, b_, mu_, d_, xbar_ = make_game(n=n_, t=t, seed=args.seed,
                                           concentrated=max(1, n_ // 4))
        g = evjax.ConstrainedChargingGame(
            evjax.ChargingGame(jnp.asarray(a_), b_, jnp.asarray(mu_), jnp.asarray(d_),
                               jnp.asarray(xbar_)), (), nonnegative=True)
        row = [n_]
        for step in ("constant", "optimal"):
            sol = jax.jit(lambda g, step=step: evjax.solvers.solve(
                g, tol=1e-8, step=step, throw=False))(g)
            row.append(f"{int(sol.steps)}" + ("" if int(sol.result) == 0 else
                                              f" ({evjax.solvers.RESULTS.message(sol.result)})"))
        counts.append(row)
        print(f"N={n_}: steps constant {row[1]}, optimal {row[2]}", flush=True)
    steps_table = _common.markdown_table(["N", "constant step", "optimal step"], counts)
    print(steps_table)

    if args.no_write:
        return
    body = "\n".join([
        f"Date: {_common.now_utc()}  ",
        f"Command: `{_common.command_line()}`",
        "",
        f"Box-constrained charging game (x >= 0 binding), N = {n}, T = {t}, NI gap 1e-8, "
        "Nash (no coalition). Single solves and gradients: median of interleaved "
        f"measurements after a warm-up. Batched: one `jax.vmap` call over {args.batch} "
        "instances (a^t perturbed), second call timed. NashOpt baseline: its fastest "
        f"accurate solver, `{fastest}` (build + solve, {base * 1e3:.0f} ms), and its central "
        f"finite-difference gradient with respect to mu ({2 * n} re-solves, {med:.2f} s). "
        "Targets of issue 4 in parentheses.",
        "",
        table,
        "",
        "Relaxation steps to NI gap 1e-8 against N (T = 24):",
        "",
        steps_table,
        "",
        "Machine:",
        "",
        _common.format_machine(_common.machine_info(), markdown=True),
    ])
    path = _common.replace_section("## Nikaido-Isoda solver vs NashOpt", body)
    print(f"wrote {path}")


def _version(name):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    main()
