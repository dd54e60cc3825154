"""The Nikaido-Isoda solver (issue 4): evjax against NashOpt on a box-constrained charging game.

A Nash game with N = 20 stations, T = 24 steps and x >= 0 binding for some stations (a few
nominal profiles concentrated in 2 to 4 steps, a price offset a^t higher in the evening),
NI gap tolerance 1e-8, solved by

* evjax: ``evjax.solvers.solve(ConstrainedChargingGame(game, (), nonnegative=True),
  tol=1e-8)``, jitted, float64, with the optimal step (default) and the constant step
  (paper 003's rule, 0.5); single
  solves, a ``jax.vmap`` over ``--batch`` instances (a^t perturbed) in one call, the same
  instances in one ``evjax.solvers.solve_many(..., chunk=--chunk)`` call (vmapped in chunks),
  and the implicit gradient of the summed cost of stations 0..4 with respect to mu;
* NashOpt (``benchmarks/_nashopt.py``): ``GNEP_LQ`` (variational) with the solvers given by
  ``--solvers`` (default: dr_daqp, lemke_dual, qp_gnep, the accurate ones that take under a
  few seconds here; ``all`` adds lemke, log_ipm, prox_admm, extragradient, op_extrap, which
  take seconds to minutes or stop short of 1e-8). The fastest one whose equilibrium passes the
  certificate (best-response gains and violation < 1e-8) is the baseline: its sequential
  throughput, and its finite-difference gradient (central, 2N re-solves).

It prints each equilibrium's certificate (largest best-response gain, by exact water filling
independent of both libraries; constraint violation; max abs difference from evjax's), the
times, all measured interleaved round-robin after a warm-up (median and min: on a shared
machine the min is the steadier figure, and the ratios use it), the ratios against the
targets of issue 4, and a table against N (``--sizes``, up to 160 stations, a quarter of
them concentrated): the relaxation steps and result of both step rules, the time per solve of
the default step and of NashOpt's fastest accurate solver (build + solve, and solve only),
and every solution's largest best-response gain; with the time per solve against T
(``--scaling-t``, N = 20), for the scaling plot. The batched calls are compiled ahead of time
(``jit(...).lower(...).compile()``), called once, then timed over 5 calls. The ratios
compare minimum times, evjax's and NashOpt's alike: on a shared machine other work only
ever slows a run down.
Unless ``--no-write``, the tables go to the NI subsection of ``benchmarks/RESULTS.md``
(``python -m benchmarks --only ni`` runs the same and also draws the plot). NashOpt is
optional (``pip install -e ".[bench]"``, preferably in its own virtual environment): without
it its baselines are skipped, with a note.

    python benchmarks/bench_ni.py [--repeats 7] [--fd-repeats 3] [--batch 1000]
                                  [--sizes 5,10,20,40,80,160] [--scaling-t 12,24,48]
                                  [--solvers all]
                                  [--no-write]
"""

from __future__ import annotations

import os

# Single-threaded Eigen (set before jax's backend starts); flags already set are kept. (No
# scheduler flag: the solver chains its LAPACK calls, so jaxlib 0.10's batched-LAPACK deadlock
# cannot occur; the 1,000 batched solves below are the check. See evjax/_runtime.py.)
_flags = os.environ.get("XLA_FLAGS", "")
for _flag in ("--xla_cpu_multi_thread_eigen=false",):
    if _flag.split("=")[0].lstrip("-") not in _flags:
        _flags = f"{_flags} {_flag}"
os.environ["XLA_FLAGS"] = _flags.strip()
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


def _timed_calls(run, arg, repeats):
    """(median s, min s, output) of ``run(arg)`` over ``repeats`` timed calls after one
    warm-up call (the compiled batched calls: one call is seconds, so a few suffice)."""
    import jax

    out = jax.block_until_ready(run(arg))
    median, fastest = median_time(lambda: jax.block_until_ready(run(arg)), repeats, warmup=0)
    return median, fastest, out


TITLE = "Nikaido-Isoda solver vs NashOpt (issue 4)"  # its subsection of RESULTS.md
STEPS = ("optimal", "constant")  # the default first: the reference, the scaling series
SIZES = "5,10,20,40,80,160"  # N values of the table against N
DEFAULT_SOLVERS = "dr_daqp,lemke_dual,qp_gnep"
SCALING_T = (12, 24, 48)  # T values at N = 20 for the scaling plot (default step)


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed measurements per solve (the minimum is reported, the "
                        "median logged)")
    parser.add_argument("--fd-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=1000,
                        help="instances in the batched (vmapped) evjax call")
    parser.add_argument("--chunk", type=int, default=CHUNK,
                        help="games per vectorised chunk in the chunked batched call")
    parser.add_argument("--sizes", default=SIZES,
                        help="N values of the table against N (T = 24): steps of both step "
                        "rules, times of the default step and NashOpt, certificates")
    parser.add_argument("--scaling-t", default=",".join(map(str, SCALING_T)),
                        help="T values (N = 20) for the time-against-T series; '' for none")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--solvers", default=DEFAULT_SOLVERS,
                        help="comma-separated NashOpt GNEP_LQ solvers to compare, or 'all' "
                             f"({','.join(_nashopt.VGNE_SOLVERS)}); the fastest accurate one "
                             "does the finite differences")
    return parser


def _ints(text):
    return [int(v) for v in str(text).split(",") if v.strip()]


IPM = "evjax solve (interior-point responses)"
CHUNK = 25  # the chunked batched call's vmap width: a chunk's (T, M, M) blocks stay in cache


def measure(repeats=7, fd_repeats=3, seed=0, batch=1000, chunk=CHUNK, sizes=SIZES,
            solvers=DEFAULT_SOLVERS, scaling_t=SCALING_T, n=20, t=24, concentrated=5,
            steps=STEPS, batch_repeats=5, log=print) -> dict:
    """Every measurement of the benchmark, as a dict (``details`` and ``suite`` format it).

    NashOpt's parts are skipped (``nashopt`` None in the result) when it is not installed.
    """
    import _common
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import evjax

    have_nashopt = _nashopt.available()
    a, b, mu, d, xbar = make_game(n=n, t=t, seed=seed, concentrated=concentrated)
    params = dict(a=a, b=b, mu=mu, d=d, xbar=xbar)
    game = evjax.ChargingGame(jnp.asarray(a), b, jnp.asarray(mu), jnp.asarray(d),
                              jnp.asarray(xbar))
    x_free = np.asarray(evjax.equilibrium(game))
    neg = x_free < 0
    log(f"jax {jax.__version__}, nashopt {_version('nashopt')}, daqp {_version('daqp')}, "
        f"{_common.thread_settings()}")
    log(f"game: N={n} T={t} seed={seed}; without x >= 0, {int(neg.sum())} entries "
        f"of {int(neg.any(axis=1).sum())} stations would be negative")
    if not have_nashopt:
        log(f"NashOpt baselines skipped: {_nashopt.INSTALL_HINT}")

    def constrained(a_, b_, mu_, d_, xbar_):
        return evjax.ConstrainedChargingGame(
            evjax.ChargingGame(jnp.asarray(a_), b_, jnp.asarray(mu_), jnp.asarray(d_),
                               jnp.asarray(xbar_)), (), nonnegative=True)

    # One jitted solve per step rule, reused for every game below (compiled once per shape).
    solve = {step: jax.jit(lambda g, step=step: evjax.solvers.solve(
        g, tol=1e-8, step=step, throw=False)) for step in steps}
    cg = constrained(a, b, mu, d, xbar)
    calls, solutions, compile_s = {}, {}, {}
    for step in steps:
        t0 = time.perf_counter()
        sol = jax.block_until_ready(solve[step](cg))
        compile_s[step] = time.perf_counter() - t0
        log(f"evjax step={step}: result {int(sol.code)} "
            f"({sol.message}), {int(sol.steps)} steps, NI gap "
            f"{float(sol.gap):.2e}; first call (compilation) {compile_s[step]:.1f} s")
        name = f"evjax solve (step={step})"
        solutions[name] = np.asarray(sol.value)
        calls[name] = (lambda step=step: jax.block_until_ready(solve[step](cg)), (), {})
    x_ref = solutions[f"evjax solve (step={steps[0]})"]
    # What the closed-form responses buy: the first step rule with interior-point responses.
    ipm = jax.jit(lambda g: evjax.solvers.solve(g, tol=1e-8, step=steps[0], throw=False,
                                                response_method="interior_point"))
    ipm_x = np.asarray(jax.block_until_ready(ipm(cg)).value)
    log(f"evjax step={steps[0]} with interior-point responses: max |x - x_evjax| "
        f"{np.abs(ipm_x - x_ref).max():.1e}")
    calls[IPM] = (lambda: jax.block_until_ready(ipm(cg)), (), {})

    solver_names = [] if not have_nashopt else list(_nashopt.VGNE_SOLVERS) if (
        solvers == "all") else [s.strip() for s in solvers.split(",") if s.strip()]
    accurate, certificates = [], {}
    for s in solver_names:
        name = f"NashOpt {s} (build + solve)"
        try:
            solutions[name] = _nashopt.solve(**params, solver=s)  # also the warm-up
        except Exception as e:  # noqa: BLE001 - report and go on
            log(f"NashOpt {s}: failed: {type(e).__name__}: {e}")
            continue
        calls[name] = (lambda s=s: _nashopt.solve(**params, solver=s), (), {})
        problem = _nashopt.build(**params, solver=s)
        calls[f"NashOpt {s} (solve only)"] = (problem.solve, (), {})

    log("\ncertificates (best-response gains by exact water filling; max |x - evjax|):")
    for name, x in solutions.items():
        gain = _nashopt.best_response_gains(**params, x=x).max()
        viol = _nashopt.violation(d, x)
        certificates[name] = (float(gain), float(viol), float(np.abs(x - x_ref).max()))
        log(f"  {name:38s} gain {gain:9.2e}  violation {viol:9.2e}  "
            f"max|x - x_evjax| {np.abs(x - x_ref).max():9.2e}  "
            f"{int((x < 1e-9).sum())} entries at 0 in {int((x < 1e-9).any(axis=1).sum())} "
            "stations")
        if name.startswith("NashOpt") and max(gain, viol) < 1e-8:
            accurate.append(name.split()[1])

    # Batched: `batch` instances with a^t perturbed, one vmapped call (throw=False), compiled
    # ahead of time, then a warm-up call and `batch_repeats` timed ones.
    a_batch = jnp.asarray(
        a + np.random.default_rng(seed + 1).uniform(-0.05, 0.05, (batch, t)))

    def batch_game(a_):
        g = evjax.ChargingGame(a_, b, jnp.asarray(mu), jnp.asarray(d), jnp.asarray(xbar))
        return evjax.ConstrainedChargingGame(g, (), nonnegative=True)

    batched = {}
    for step in steps:
        t0 = time.perf_counter()
        run = jax.jit(jax.vmap(lambda a_, step=step: evjax.solvers.solve(
            batch_game(a_), tol=1e-8, step=step, throw=False))).lower(a_batch).compile()
        first = time.perf_counter() - t0
        seconds, fastest_s, out = _timed_calls(run, a_batch, batch_repeats)
        batched[step] = (fastest_s, out)
        codes = np.bincount(np.asarray(out.code), minlength=5)
        log(f"evjax batched step={step}: {batch} instances in {seconds:.2f} s (median of "
            f"{batch_repeats}; min {fastest_s:.2f}; compilation {first:.1f} s); result codes "
            f"{codes.tolist()}, steps up to "
            f"{int(np.asarray(out.steps).max())}", flush=True)

    # Chunked: the same instances in one `evjax.solvers.solve_many` call: vmapped `chunk` at
    # a time inside one `lax.map`, so that a chunk's Newton blocks stay in the CPU's cache (a
    # vmap of 1000 streams 77 MB of (T, M, M) blocks through memory per pass) and each
    # chunk's loops stop at its own slowest game.
    chunk = min(chunk, batch)
    chunked = {}
    for step in steps:
        t0 = time.perf_counter()
        run = jax.jit(lambda a_, step=step: evjax.solvers.solve_many(
            batch_game, a_, chunk=chunk, tol=1e-8, step=step)).lower(a_batch).compile()
        first = time.perf_counter() - t0
        seconds, fastest_s, out = _timed_calls(run, a_batch, batch_repeats)
        chunked[step] = (fastest_s, np.asarray(out.code))
        same = float(np.abs(np.asarray(out.value) - np.asarray(batched[step][1].value)).max())
        log(f"evjax chunked step={step}: {batch} instances, {chunk} at a time, in "
            f"{seconds:.2f} s (median of {batch_repeats}; min {fastest_s:.2f}; compilation "
            f"{first:.1f} s); result codes "
            f"{np.bincount(chunked[step][1], minlength=5).tolist()}, max |x - vmapped x| "
            f"{same:.1e}", flush=True)

    # Gradients: d(summed cost of stations 0..4 at equilibrium)/d mu.
    coalition = np.arange(min(5, n))

    def evjax_cost(mu_, step):
        g = evjax.ChargingGame(jnp.asarray(a), b, mu_, jnp.asarray(d), jnp.asarray(xbar))
        sol = evjax.solvers.solve(evjax.ConstrainedChargingGame(g, (), nonnegative=True),
                                  tol=1e-8, step=step)
        return jnp.sum(evjax.station_costs(g, sol.value)[coalition])

    grads = {}
    for step in steps:
        grad = jax.jit(jax.grad(ft.partial(evjax_cost, step=step)))
        grads[step] = np.asarray(jax.block_until_ready(grad(jnp.asarray(mu))))
        calls[f"evjax implicit gradient (step={step})"] = (
            lambda grad=grad: jax.block_until_ready(grad(jnp.asarray(mu))), (), {})

    log(f"\ntimes (interleaved round-robin, {repeats} measurements each, warm-up "
        "excluded; median and min):")
    timings = _common.time_calls({k: (f, a_, {"repeats": repeats, "min_repeats": repeats,
                                              "budget": 1e9})
                                  for k, (f, a_, _) in calls.items()})
    for name, tm in timings.items():
        log(f"  {name:40s} {tm.median * 1e3:9.1f} ms  (min {tm.best * 1e3:.1f})")

    fastest = fd = g_fd = None
    if solver_names:
        if not accurate:
            raise SystemExit("no NashOpt solver reached best-response gains and violation "
                             "below 1e-8")
        fastest = min(accurate, key=lambda s: timings[f"NashOpt {s} (build + solve)"].best)
        log(f"\nfastest accurate NashOpt solver: {fastest}")

        def coalition_cost(x, p):
            return float(_nashopt.station_costs(**p, x=x)[coalition].sum())

        fd_call = lambda: _nashopt.fd_gradient(  # noqa: E731
            coalition_cost, params, "mu", solver=fastest)
        g_fd = fd_call()
        fd = median_time(fd_call, fd_repeats, warmup=0)
        log(f"NashOpt {fastest} FD gradient d(cost of stations 0..{coalition[-1]})/d mu, "
            f"central differences ({2 * n} solves): median {fd[0]:.2f} s (min {fd[1]:.2f}, "
            f"{fd_repeats} runs)")
        for step, g_ev in grads.items():
            rel = np.abs(g_ev - g_fd).max() / np.abs(g_fd).max()
            log(f"  evjax implicit gradient (step={step}) vs NashOpt FD: max rel. difference "
                f"{rel:.2e}")

    # Against N (T as above, same construction, a quarter of the stations concentrated):
    # both step rules' steps and results, the time per solve of the first (default) step rule
    # and of NashOpt's fastest accurate solver, and every solution's certificate.
    quick_time = dict(min_time=0.05, repeats=3, min_repeats=3, budget=5.0)
    counts, by_n = [], []
    for n_ in _ints(sizes):
        p_ = dict(zip(PARAMS, make_game(n=n_, t=t, seed=seed, concentrated=max(1, n_ // 4))))
        g = constrained(*p_.values())
        point = _scaling_point(n_, t, g, p_, solve[steps[0]], fastest, quick_time)
        row, gains = [n_], {}
        for step in steps:
            sol = solve[step](g)
            gains[step] = _nashopt.best_response_gains(**p_, x=np.asarray(sol.value)).max()
            row.append(f"{int(sol.steps)}" + ("" if int(sol.code) == 0 else
                                              f" (result {int(sol.code)}, NI gap "
                                              f"{float(sol.gap):.1e})"))
        gains["nashopt"] = point.pop("nashopt_gain")
        row += _against_n_cells(point, gains, steps)
        counts.append(row)
        by_n.append(point)
        log(f"N={n_}: steps {', '.join(f'{s} {c}' for s, c in zip(steps, row[1:]))}; "
            f"times [ms], ratio, largest gains ({', '.join(steps)}, NashOpt): "
            f"{' | '.join(row[1 + len(steps):])}", flush=True)
    by_t = []
    for t_ in scaling_t:
        p_ = dict(zip(PARAMS, make_game(n=n, t=t_, seed=seed, concentrated=concentrated)))
        by_t.append(_scaling_point(n, t_, constrained(*p_.values()), p_, solve[steps[0]],
                                   fastest, quick_time, detail=False))
        nashopt_s = by_t[-1]["nashopt"]
        log(f"T={t_}: evjax {by_t[-1]['evjax']:.3g} s, NashOpt "
            + ("skipped" if nashopt_s is None else f"{nashopt_s:.3g} s"), flush=True)
    return dict(n=n, t=t, steps=steps, batch=batch, timings=timings, batched=batched,
                chunk=chunk, chunked=chunked,
                fastest=fastest, fd=fd, counts=counts, by_n=by_n, by_t=by_t,
                certificates=certificates, compile_s=compile_s, have_nashopt=have_nashopt,
                scaling_step=steps[0])


PARAMS = ("a", "b", "mu", "d", "xbar")


def _against_n_cells(point, gains, steps):
    """The cells of the table against N after the steps: times, ratio, certificates."""
    missing = point["nashopt_skip"] or "n/a"

    def ms(v):
        return missing if v is None else f"{v * 1e3:.1f}"

    ratio = missing if point["nashopt"] is None else f"{point['nashopt'] / point['evjax']:.0f}x"
    gain = [f"{gains[s]:.1e}" for s in steps] + [
        missing if gains["nashopt"] is None else f"{gains['nashopt']:.1e}"]
    return [ms(point["evjax"]), ms(point["nashopt"]), ms(point["nashopt_solve"]), ratio, *gain]


# NashOpt's GNEP_LQ takes every player's quadratic form as a dense (NT, NT) matrix: N (NT)^2
# doubles (2.4 GB at N = 80, T = 24, where the process peaked at 7.4 GB; 18.9 GB at N = 160).
# Games above this many GB of such matrices are not given to NashOpt (a shared machine).
NASHOPT_MAX_GB = 4.0


def _nashopt_gb(n, t):
    return n * (n * t) ** 2 * 8 / 1e9


def _scaling_point(n, t, game, params, solve, fastest, timing_kw, detail=True):
    """Seconds per solve at (N, T): evjax (jitted, compiled first) and NashOpt (if any; build
    + solve, and with ``detail`` solve only, and its largest best-response gain). NashOpt is
    skipped (None, with ``nashopt_skip`` saying why) above ``NASHOPT_MAX_GB``; its build +
    solve is timed without a warm-up call (a build at N = 80 takes a minute here)."""
    import _common
    import jax

    out = dict(n=n, t=t, evjax=_common.time_call(
        lambda: jax.block_until_ready(solve(game)), **timing_kw).best, nashopt=None,
        nashopt_solve=None, nashopt_gain=None, nashopt_skip=None)
    if fastest is None:
        return out
    if _nashopt_gb(n, t) > NASHOPT_MAX_GB:
        out["nashopt_skip"] = f"not run: {_nashopt_gb(n, t):.0f} GB of dense Q_P"
        return out
    out["nashopt"] = _common.time_call(
        lambda: _nashopt.solve(**params, solver=fastest),
        **{**timing_kw, "min_repeats": 1}, warmup=0).best
    if detail:
        problem = _nashopt.build(**params, solver=fastest)
        x = problem.solve()
        out["nashopt_gain"] = float(_nashopt.best_response_gains(**params, x=x).max())
        out["nashopt_solve"] = _common.time_call(problem.solve, **timing_kw).best
    return out


def details(m: dict) -> tuple[str, str]:
    """The table against the targets and the table of relaxation steps (markdown)."""
    import _common

    timings, steps, batch = m["timings"], m["steps"], m["batch"]
    fastest = m["fastest"]
    base = timings[f"NashOpt {fastest} (build + solve)"].best if fastest else None
    med = m["fd"][1] if m["fd"] else None

    def ratio(x, target):
        return "n/a (no NashOpt)" if x is None else f"{x:.2f} ({target})"

    rows = []
    for step in steps:
        single = timings[f"evjax solve (step={step})"].best
        batch_s, out = m["batched"][step]
        ok = int(np.sum(np.asarray(out.code) == 0))
        grad_s = timings[f"evjax implicit gradient (step={step})"].best
        chunk_s, chunk_codes = m["chunked"][step]
        rows.append([
            step, f"{single * 1e3:.1f}", ratio(base and base / single, "> 1"),
            f"{batch_s / batch * 1e3:.2f} ({ok}/{batch} conv.)",
            ratio(base and base / (batch_s / batch), ">= 100"),
            f"{chunk_s / batch * 1e3:.2f} ({int(np.sum(chunk_codes == 0))}/{batch} conv.)",
            ratio(base and base / (chunk_s / batch), ">= 100"),
            f"{grad_s * 1e3:.1f}", ratio(med and med / grad_s, ">= 100"),
        ])
    headers = ["evjax step", "single [ms]", "NashOpt/single", "vmap [ms/inst]",
               "vmap vs NashOpt seq.", f"chunks of {m['chunk']} [ms/inst]",
               "chunked vs NashOpt seq.", "implicit grad [ms]", "NashOpt FD / implicit"]
    table = _common.markdown_table(headers, rows)
    headers = ["N", *[f"{s} step: steps" for s in steps], f"evjax {steps[0]} step [ms]",
               f"NashOpt {fastest or ''} [ms]", "NashOpt solve only [ms]", "NashOpt / evjax",
               *[f"largest gain ({s} step)" for s in steps], "largest gain (NashOpt)"]
    steps_table = _common.markdown_table(headers, m["counts"])
    return table, steps_table


SUITE_SOLVERS = "lemke_dual,dr_daqp"  # the suite's default: the two fastest accurate ones


def suite(quick: bool = False, batch: int | None = None, chunk: int = CHUNK,
          repeats: int | None = None,
          fd_repeats: int | None = None, sizes: str | None = None,
          solvers: str = SUITE_SOLVERS, seed: int = 0, scaling_t=None, log=print):
    """Run the benchmark for ``python -m benchmarks``: a ``_report.Result``.

    Defaults: 1,000 batched instances, 5 timed measurements, 2 timed finite-difference
    gradients, NashOpt's two fastest accurate solvers (``lemke_dual``, ``dr_daqp``; the
    script's own defaults time ``qp_gnep`` too, and more repetitions). ``quick``: N = 6,
    T = 8, the default (optimal) step only, 8 batched instances, ``lemke_dual`` only (compilation
    dominates: about a minute and a half).
    """
    import _report

    if quick:
        m = measure(repeats=repeats or 3, fd_repeats=fd_repeats or 1, batch=batch or 8,
                    chunk=min(chunk, 4),
                    sizes=sizes or "4,6", solvers="lemke_dual", n=6, t=8, concentrated=2,
                    scaling_t=(4, 8) if scaling_t is None else scaling_t, seed=seed,
                    steps=STEPS[:1], batch_repeats=1, log=log)
    else:
        m = measure(repeats=repeats or 5, fd_repeats=fd_repeats or 2, batch=batch or 1000,
                    chunk=chunk,
                    sizes=sizes or SIZES, solvers=solvers, seed=seed,
                    scaling_t=SCALING_T if scaling_t is None else scaling_t, log=log)
    table, steps_table = details(m)
    timings, fastest, batch = m["timings"], m["fastest"], m["batch"]
    base = timings[f"NashOpt {fastest} (build + solve)"].best if fastest else None
    where = f"N = {m['n']}, T = {m['t']}"
    baseline = f"NashOpt `{fastest}`" if fastest else "NashOpt (not installed: skipped)"
    headline = []
    for step in m["steps"]:
        single = timings[f"evjax solve (step={step})"].best
        per_inst = m["batched"][step][0] / batch
        per_chunked = m["chunked"][step][0] / batch
        grad_s = timings[f"evjax implicit gradient (step={step})"].best
        headline += [
            _report.Headline(f"seconds per single solve, {step} step, {where}", single,
                             f"{baseline} (build + solve)", base, "> 1x",
                             None if base is None else bool(base / single > 1)),
            _report.Headline(f"seconds per instance, vmap of {batch}, {step} step", per_inst,
                             f"{baseline}, sequential solves", base, ">= 100x",
                             None if base is None else bool(base / per_inst >= 100)),
            _report.Headline(f"seconds per instance, {batch} in chunks of {m['chunk']}, {step} "
                             "step", per_chunked, f"{baseline}, sequential solves", base,
                             ">= 100x",
                             None if base is None else bool(base / per_chunked >= 100)),
            _report.Headline(f"seconds per gradient d(cost)/d mu, {step} step (implicit)",
                             grad_s, f"{baseline}, central finite differences "
                             f"({2 * m['n']} solves)", m["fd"][1] if m["fd"] else None,
                             ">= 100x", None if not m["fd"] else bool(m["fd"][1] / grad_s >= 100)),
        ]
    notes = [] if m["have_nashopt"] else [
        "NashOpt is not installed here, so its baselines are skipped (`pip install -e "
        "\".[bench]\"` adds it; GPU machines without network run evjax alone)."]
    cert = "; ".join(f"{k}: gain {g:.1e}, violation {v:.1e}, max |x - evjax| {dx:.1e}"
                     for k, (g, v, dx) in m["certificates"].items())
    text = "\n".join([
        f"Box-constrained charging game (x >= 0 binding), {where}, NI gap 1e-8, Nash (no "
        "coalition). Every figure and ratio is the minimum over repeated measurements, for "
        "evjax and NashOpt alike (on a shared machine other work only ever slows a run down, "
        "and this one's timings varied by 2x within minutes; the benchmark's log prints the "
        "medians too). Single solves and gradients: interleaved measurements after a warm-up. "
        f"Batched: one `jax.vmap` call over {batch} instances (a^t perturbed), "
        "compiled ahead of time, called once, then 5 timed calls; chunked: the "
        f"same instances in one `evjax.solvers.solve_many(..., chunk={m['chunk']})` call (one "
        f"`lax.map`, vmapped {m['chunk']} at a time, so that a chunk's arrays stay in cache). "
        "Every evjax solve here computes its "
        "optimal responses in closed form (water filling: one row per player, no shared "
        "constraint; with the interior-point method instead, the single solve with the "
        f"{m['steps'][0]} step takes {timings[IPM].best * 1e3:.1f} ms). NashOpt baseline: its "
        "fastest accurate "
        + (f"solver, `{fastest}` (build + solve, {base * 1e3:.0f} ms), and its central "
           f"finite-difference gradient with respect to mu ({2 * m['n']} re-solves, "
           f"{m['fd'][1]:.2f} s). " if fastest else "solver: skipped (NashOpt not installed). ")
        + "Targets of issue 4 in parentheses. Certificates (largest best-response gain by "
        f"exact water filling, constraint violation): {cert}.",
        "",
        table,
        "",
        f"Against N (T = {m['t']}, the same construction with a quarter of the stations "
        "concentrated): relaxation steps to NI gap 1e-8 of both step rules (with the result "
        "code and NI gap where one did not converge: paper 003's constant step 0.5 cycles "
        "once the joint response's Jacobian J has an eigenvalue below -3; at the equilibria "
        "of these games (numpy, apart from evjax) the spectral radius of its linearised "
        "iteration 0.5 I + 0.5 J is 0.54 at N = 20 and 40, 0.95 at 60, 1.42 at 80 and 3.3 at "
        f"160); seconds per solve of the {m['steps'][0]} step (the default) and of NashOpt "
        f"`{fastest}` (build + solve, and its solve alone), both as minima over 3 "
        "measurements; and each solution's largest best-response gain by exact water filling "
        "(independent of both libraries).",
        "",
        steps_table,
    ])
    scaling = []
    for axis, pts, fixed in (("N", m["by_n"], f"T = {m['t']}"), ("T", m["by_t"], f"N = {m['n']}")):
        if not pts:
            continue
        xs = [p[axis.lower()] for p in pts]
        scaling.append(_report.Series(axis, f"evjax NI solve ({m['scaling_step']} step)", xs,
                                      [p["evjax"] for p in pts], fixed, "seconds per solve"))
        if fastest:
            run = [p for p in pts if p["nashopt"] is not None]  # skipped where too large
            scaling.append(_report.Series(axis, f"NashOpt {fastest}",
                                          [p[axis.lower()] for p in run],
                                          [p["nashopt"] for p in run], fixed,
                                          "seconds per solve"))
    return _report.Result("ni", TITLE, headline, text,
                          scaling, notes)


def main(argv=None):
    args = _parser().parse_args(argv)
    import _common
    import _report

    print(_common.format_machine(_common.machine_info()))
    result = suite(batch=args.batch, chunk=args.chunk, repeats=args.repeats,
                   fd_repeats=args.fd_repeats,
                   sizes=args.sizes, solvers=args.solvers, seed=args.seed,
                   scaling_t=_ints(args.scaling_t))
    print()
    print(_report.headline_table(result.headline))
    print(result.details)
    if args.no_write:
        return
    print(f"wrote {_report.publish_alone(result)}")


def _version(name):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    main()
