"""Coalition sweeps: coalitions per second, evjax.sweep vs dense vmapped solves vs paper eq (4).

    python benchmarks/bench_sweep.py             # full run (about 4 min on 2 cores), writes RESULTS.md
    python benchmarks/bench_sweep.py --quick     # smoke test (small N, ~1 min, no RESULTS.md write)
    python benchmarks/bench_sweep.py --full      # also sweep all 2^30 - 1 coalitions at N = 30 (long)
    python benchmarks/bench_sweep.py --no-write  # full run, print only

For each (N, T) in {(20, 24), (30, 24)} and a random game with constant b
(``bench_equilibrium.make_game``), three ways of getting the paper's three cost ratios
M_[N], M_C, M_[N]\\C (Nash cost / C-Nash cost of all stations, of the coalition, of the rest)
for single coalitions C (everyone else alone):

1. ``engine``: ``evjax.sweep(game)``, every coalition, reduced on the device to summaries.
   Its first call runs in a fresh subprocess (compilation included; the subprocess's VmHWM is
   the peak memory). Warm calls then run in this process, timed round-robin with the dense
   baseline (``_common.time_calls``, fairer on a shared machine); the rate is coalitions /
   median wall-clock seconds of a whole ``evjax.sweep`` call (planning, evaluation, top-k
   recomputation). ``SweepResult.seconds`` (evaluation only) is shown too. At N = 20 the
   sweep is the full 2^20 - 1; at N = 30 it is restricted (some stations included, some
   excluded, 2^24..2^26 coalitions chosen from the N = 20 rate) and the rate per coalition is
   extrapolated to the 2^30 - 1 of the full sweep; ``--full`` adds the full N = 30 sweep (one
   cold and one warm call, both in the subprocess).
2. ``dense``: what a straightforward JAX user writes: ``jax.jit(jax.vmap(f))`` over a batch of
   4096 random membership masks m, f building Q = b (1 1' + C) + diag(mu) with
   C = m m' + diag(1 - m), solving x = d/T + ``jnp.linalg.solve``(Q, w) (w = v - mean_t v,
   v = mu xbar - a, Theorem 4.1), then the costs of eq (1), the three group costs and the
   ratios against the Nash costs, computed once beforehand.
3. ``eq4``: the paper's eq (4) in numpy as written (Theta = I_T kron Q, NT x NT, with
   ``np.linalg.inv``: ``bench_equilibrium.paper_eq4``) for the C-Nash costs, then the same
   ratios; timed per coalition on a sample of coalitions, extrapolated to coalitions/s.

Checks before anything is reported (the script aborts otherwise): the engine's largest and
smallest ratio of each group (its own reduced values) and the top-1/bottom-1 coalitions'
reported ratios agree with the dense recomputation of those coalitions to 1e-9; the dense and
eq (4) ratios agree to 1e-9 on the eq (4) sample; the engine evaluated the expected number of
coalitions. Targets (project issue, 2-core CPU): engine >= 25 x dense and >= 10,000 x eq (4) at
N = 20, T = 24; engine >= 2e7 coalitions/s; peak memory of the N = 30 sweep <= 2 GB.

Threads: by default numpy's BLAS and XLA's CPU backend run on one thread each
(``_common.limit_threads``, as in ``bench_equilibrium``); ``--multithread`` keeps the
libraries' defaults (the engine subprocesses inherit the setting). Dense and eq (4) are
built and checked against each other first, eq (4) timed on its sample; then per engine run
the subprocess, the engine checks, and the round-robin timing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402  (standard library only; must precede numpy and jax)

if __name__ == "__main__" and "--multithread" not in sys.argv[1:]:
    _common.limit_threads()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import evjax  # noqa: E402
from bench_equilibrium import make_game, paper_eq4  # noqa: E402

SECTION = "## Coalition sweeps: engine vs dense vmapped vs paper eq (4) (issue 3)"
TITLE = SECTION[len("## "):]  # its subsection of RESULTS.md
TOLERANCE = 1e-9
GROUPS = ("all", "coalition", "outside")

TARGET_DENSE = 25.0  # engine / dense at N = 20, T = 24
TARGET_EQ4 = 1e4  # engine / eq (4) at N = 20, T = 24
TARGET_RATE = 2e7  # coalitions per second
TARGET_MEMORY_MB = 2000.0  # peak RSS of the N = 30 sweep (2 GB, decimal)
TARGET_N = 20


# --------------------------------------------------------------------------- game


def game_params(n: int, t: int) -> dict[str, np.ndarray]:
    return make_game(n, t)


def to_game(params) -> evjax.ChargingGame:
    return evjax.ChargingGame(*(jnp.asarray(params[k]) for k in ("a", "b", "mu", "d", "xbar")))


def restriction(n: int, free: int) -> tuple[list[int], list[int]]:
    """Stations to include and exclude so that ``free`` of the ``n`` stay free.

    Half of the fixed stations (rounded down) are included, the rest excluded, taken from
    the top indices down: the engine's bit layout (low stations vary fastest) is unchanged.
    """
    fixed = list(range(n - 1, free - 1, -1))
    k = len(fixed) // 2
    return sorted(fixed[:k]), sorted(fixed[k:])


# --------------------------------------------------------------------------- dense baseline


def dense_ratio_fn(params):
    """jit(vmap(mask -> 3 ratios)) with one dense N x N solve per coalition, and the Nash costs.

    The straightforward JAX formulation of Theorem 4.1 per coalition mask m (N,) of 0/1.
    Undefined ratios (an empty group: the grand coalition's outside; a C-Nash cost <= 0) are
    NaN.
    """
    a, b, mu, d, xbar = (jnp.asarray(params[k]) for k in ("a", "b", "mu", "d", "xbar"))
    n, t = xbar.shape
    v = mu[:, None] * xbar - a[None, :]
    w = v - jnp.mean(v, axis=1, keepdims=True)
    ones = jnp.ones((n, n))

    def costs(m):
        c_mat = jnp.outer(m, m) + jnp.diag(1.0 - m)
        q = b * (ones + c_mat) + jnp.diag(mu)
        x = d[:, None] / t + jnp.linalg.solve(q, w)
        price = a + b * jnp.sum(x, axis=0)
        return x @ price + 0.5 * mu * jnp.sum((x - xbar) ** 2, axis=1)

    nash = jax.jit(costs)(jnp.zeros(n))

    def ratios(m, nash):
        c = costs(m)
        cnash = jnp.stack([jnp.sum(c), m @ c, (1.0 - m) @ c])
        nash_g = jnp.stack([jnp.sum(nash), m @ nash, (1.0 - m) @ nash])
        # An empty group has C-Nash cost exactly 0; like evjax (``ratios_from_costs``), a
        # group whose C-Nash cost is <= 0 (real days with negative prices) is undefined too.
        return jnp.where(cnash > 0, nash_g / cnash, jnp.nan)

    batched = jax.jit(jax.vmap(ratios, in_axes=(0, None)))
    return batched, nash


def random_masks(n: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` distinct random non-empty coalitions as 0/1 float masks (count, n)."""
    rng = np.random.default_rng(seed)
    codes = np.zeros(0, dtype=np.int64)
    while codes.size < count:
        more = rng.integers(1, 1 << n, size=count, dtype=np.int64)
        codes = np.unique(np.concatenate([codes, more]))
    codes = rng.permutation(codes)[:count]
    return ((codes[:, None] >> np.arange(n)) & 1).astype(np.float64)


def mask_of(members, n: int) -> np.ndarray:
    m = np.zeros(n)
    m[list(members)] = 1.0
    return m


# --------------------------------------------------------------------------- paper eq (4)


def eq4_ratios(params, members, nash_costs) -> np.ndarray:
    """The three ratios of one coalition, C-Nash costs from eq (4) (NT x NT, np.linalg.inv)."""
    n = params["mu"].shape[0]
    _, c = paper_eq4(params["a"], params["b"], params["mu"], params["d"], params["xbar"],
                     list(members))
    m = mask_of(members, n).astype(bool)
    cnash = np.array([c.sum(), c[m].sum(), c[~m].sum()])
    nash = np.array([nash_costs.sum(), nash_costs[m].sum(), nash_costs[~m].sum()])
    empty = np.array([not m.any(), not m.any(), m.all()])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(empty, np.nan, nash / cnash)


def eq4_nash(params) -> np.ndarray:
    """Per-station Nash costs from eq (4) with the empty coalition (C = I)."""
    return paper_eq4(params["a"], params["b"], params["mu"], params["d"], params["xbar"], [])[1]


# --------------------------------------------------------------------------- engine (child)


def _vmhwm_kb() -> int | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def engine_summary(result) -> dict:
    """What the checks need of a SweepResult: count, the engine's own extremes, top/bottom-1."""

    def extreme(fn, key):  # the engine's reduced per-size extremes, over all sizes, per group
        out = []
        for gi in range(3):
            col = [s[key][gi] for s in result.by_size if s[key][gi] is not None]
            out.append(fn(col) if col else None)
        return out

    return {
        "n_evaluated": result.n_evaluated,
        "max": extreme(max, "max"),
        "min": extreme(min, "min"),
        "top": {g: result.top[g][:1] for g in GROUPS},
        "bottom": {g: result.bottom[g][:1] for g in GROUPS},
    }


def child_main(spec: dict) -> int:
    """Run one engine sweep ``1 + warm`` times in this fresh process; print one JSON line.

    The first call is cold (compilation included); VmHWM is the process's peak RSS.
    """
    params = game_params(spec["n"], spec["t"])
    game = to_game(params)
    jax.block_until_ready(game)
    before_kb = _vmhwm_kb()
    kw = dict(include=spec["include"], exclude=spec["exclude"], progress=False)
    walls, evals, result = [], [], None
    for _ in range(1 + spec["warm"]):
        t0 = time.perf_counter()
        result = evjax.sweep(game, **kw)
        walls.append(time.perf_counter() - t0)
        evals.append(result.seconds)
    stats = jax.devices()[0].memory_stats() or {}  # None on a CPU
    out = {**engine_summary(result), "walls": walls, "evals": evals,
           "vmhwm_kb": _vmhwm_kb(), "before_kb": before_kb,
           "device_peak_bytes": stats.get("peak_bytes_in_use"),
           "method": result.plan["method"], "low_bits": result.plan["low_bits"]}
    print("RESULT " + json.dumps(out), flush=True)
    return 0


def run_child(n, t, include, exclude, warm=0) -> dict:
    """The engine subprocess for one sweep (cold call, ``warm`` more): its JSON result."""
    spec = dict(n=n, t=t, include=include, exclude=exclude, warm=warm)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    if "--multithread" in sys.argv[1:]:
        cmd.append("--multithread")
    # On a GPU this process already holds its memory: the child allocates on demand.
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": os.environ.get(
        "XLA_PYTHON_CLIENT_PREALLOCATE", "false")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"ABORT: engine subprocess failed (N={n}):\n{proc.stderr[-4000:]}")
    line = next(ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


# --------------------------------------------------------------------------- checks


def check_engine(eng, params, dense_fn, nash, n, expected) -> float:
    """Engine extremes vs dense recomputation of its top-1/bottom-1 coalitions; max error."""
    if eng["n_evaluated"] != expected:
        raise SystemExit(
            f"ABORT: engine evaluated {eng['n_evaluated']} coalitions at N={n}, expected {expected}"
        )
    worst = 0.0
    for kind, key in (("top", "max"), ("bottom", "min")):
        for gi, g in enumerate(GROUPS):
            entries = eng[kind][g]
            if not entries:
                raise SystemExit(f"ABORT: engine reported no {kind} coalition for group {g!r}")
            members = entries[0]["members"]
            ref = np.asarray(dense_fn(jnp.asarray(mask_of(members, n)[None]), nash))[0]
            reported = entries[0]["ratios"]
            for label, val, want in (
                (f"{key} value", eng[key][gi], ref[gi]),
                (f"{kind}-1 listed ratio", reported[gi], ref[gi]),
            ):
                err = abs(val - want) if val is not None else math.inf
                worst = max(worst, err)
                if not err <= TOLERANCE:
                    raise SystemExit(
                        f"ABORT: N={n} group {g!r}: engine {label} {val!r} vs dense "
                        f"recomputation {want!r} of coalition {members} (|diff| {err:.2e} > "
                        f"{TOLERANCE:g})"
                    )
    return worst


# --------------------------------------------------------------------------- measurement


def engine_timed(game, include, exclude):
    """A no-argument sweep call that records each call's result and ``.seconds``."""
    record = {"evals": [], "result": None}

    def call():
        result = evjax.sweep(game, include=include, exclude=exclude, progress=False)
        record["evals"].append(result.seconds)
        record["result"] = result
        return result

    return call, record


def measure_eq4(params, masks, nash_dense, sample, dense_fn):
    """Per-coalition eq (4) seconds on ``sample`` coalitions (checked against dense)."""
    nash_p = eq4_nash(params)
    if not np.max(np.abs(nash_p - np.asarray(nash_dense))) <= 1e-9 * np.max(np.abs(nash_p)):
        raise SystemExit("ABORT: Nash costs of dense and eq (4) disagree")
    rows = np.asarray(masks[:sample])
    ref = np.asarray(dense_fn(jnp.asarray(rows), nash_dense))
    paper_eq4(params["a"], params["b"], params["mu"], params["d"], params["xbar"], [0])  # warm
    times, worst = [], 0.0
    for k in range(sample):
        members = np.flatnonzero(rows[k]).tolist()
        t0 = time.perf_counter()
        r = eq4_ratios(params, members, nash_p)
        times.append(time.perf_counter() - t0)
        diff = np.abs(r - ref[k])
        both_nan = np.isnan(r) & np.isnan(ref[k])
        err = float(np.max(np.where(both_nan, 0.0, diff)))
        worst = max(worst, err)
        if not err <= TOLERANCE:
            raise SystemExit(
                f"ABORT: dense vs eq (4) ratios of coalition {members} differ by {err:.2e}: "
                f"{ref[k]} vs {r}"
            )
    return times, worst


def fmt_rate(x: float) -> str:
    return f"{x:.3g}"


def flag(ok: bool) -> str:
    return "met" if ok else "not met"


def measure(quick: bool = False, full: bool = False, log=print):
    """Build, check and time the three methods; (cases, runs) as dicts (see ``details``)."""
    if quick:
        (n_a, t_a), (n_b, t_b) = (10, 8), (14, 8)
        batch, eq4_sample = 512, (3, 3)
        dense_kw = dict(min_time=0.02, repeats=3, min_repeats=3, budget=0.5)
        engine_kw = (dict(min_time=0.02, repeats=3, min_repeats=3, budget=1.0),) * 2
        free_bounds, target_seconds = (10, 10), 1.0
    else:
        (n_a, t_a), (n_b, t_b) = (20, 24), (30, 24)
        batch, eq4_sample = 4096, (12, 6)
        dense_kw = dict(min_time=0.2, repeats=5, min_repeats=5, budget=5.0)
        engine_kw = (dict(min_time=0.2, repeats=5, min_repeats=5, budget=15.0),
                     dict(min_time=0.2, repeats=5, min_repeats=3, budget=15.0))
        free_bounds, target_seconds = (24, 26), 15.0

    # Dense and eq (4): build, check against each other, time eq (4) on its sample.
    cases = []
    for (n, t), sample in zip(((n_a, t_a), (n_b, t_b)), eq4_sample, strict=True):
        params = game_params(n, t)
        dense_fn, nash = dense_ratio_fn(params)
        masks = jnp.asarray(random_masks(n, batch, seed=n))
        jax.block_until_ready(dense_fn(masks, nash))  # compile for the batch shape
        eq4_times, err_eq4 = measure_eq4(params, masks, nash, sample, dense_fn)
        eq4_rate = 1.0 / statistics.median(eq4_times)
        log(f"N={n} T={t}: eq4 {fmt_rate(eq4_rate)} coal/s (median "
              f"{statistics.median(eq4_times):.3g} s per coalition over {sample}); dense vs "
              f"eq4 max |diff| {err_eq4:.1e}", flush=True)
        cases.append(dict(n=n, t=t, params=params, game=to_game(params), dense_fn=dense_fn,
                          nash=nash, masks=masks, eq4_rate=eq4_rate, eq4_n=sample,
                          err_eq4=err_eq4, batch=batch))

    # Engine runs: the full sweep of the smaller game, then a restricted sweep of the larger
    # one sized from the first rate, then (--full) the larger one in full. Each: a fresh
    # subprocess for the cold call and the peak memory, then (but for --full) warm calls in
    # this process timed round-robin with the dense baseline.
    runs = []
    plan = [(cases[0], False), (cases[1], True)] + ([(cases[1], False)] if full else [])
    for case, restricted in plan:
        n, t = case["n"], case["t"]
        include, exclude = [], []
        if restricted:
            # About target_seconds per warm call at the first run's rate.
            free = int(math.floor(math.log2(max(runs[0]["engine_rate"] * target_seconds, 2.0))))
            free = min(max(free, free_bounds[0]), free_bounds[1], n)
            include, exclude = restriction(n, free)
        n_free = n - len(include) - len(exclude)
        expected = (1 << n_free) - (0 if include else 1)
        # --full's N = 30 sweep and --quick: cold and warm calls all in the subprocess (no
        # second compilation in this process), dense timed on its own.
        in_child = quick or (case is cases[1] and not restricted)
        msg = f"N={n} T={t}: engine sweep of {expected:,} coalitions"
        if restricted:
            msg += f" (include {include}, exclude {exclude})"
        if in_child and runs and not quick:
            msg += f", about {2 * expected / runs[-1]['engine_rate'] / 60:.0f} min"
        log(msg + " ...", flush=True)
        # A GPU's full N = 30 sweep takes about a second: time 3 warm calls of it.
        on_gpu = jax.default_backend() != "cpu"
        n_child_warm = (2 if quick else 3 if on_gpu else 1) if in_child else 0
        child = run_child(n, t, include, exclude, warm=n_child_warm)
        err_eng = check_engine(child, case["params"], case["dense_fn"], case["nash"], n,
                               expected)
        if in_child:
            wall = statistics.median(child["walls"][1:])
            evals = statistics.median(child["evals"][1:])
            n_warm = n_child_warm
            if "t_dense" not in case:
                case["t_dense"] = _common.time_calls(
                    {"dense": (case["dense_fn"], (case["masks"], case["nash"]), dense_kw)})["dense"]
            t_dense = case["t_dense"]
        else:
            call, record = engine_timed(case["game"], include, exclude)
            call()  # warm-up: compilation in this process
            times = _common.time_calls(
                {"engine": (call, (), engine_kw[len(runs) > 0]),
                 "dense": (case["dense_fn"], (case["masks"], case["nash"]), dense_kw)},
                warmup=0,
            )
            err_eng = max(err_eng, check_engine(engine_summary(record["result"]),
                                                case["params"], case["dense_fn"],
                                                case["nash"], n, expected))
            wall, n_warm = times["engine"].median, times["engine"].repeats
            evals = statistics.median(record["evals"][1:])
            t_dense = case["t_dense"] = times["dense"]
        run = dict(
            case=case, n=n, t=t, restricted=restricted, include=include, exclude=exclude,
            n_free=n_free, evaluated=child["n_evaluated"], cold=child["walls"][0], wall=wall,
            evals=evals, n_warm=n_warm, t_dense=t_dense,
            engine_rate=child["n_evaluated"] / wall, eval_rate=child["n_evaluated"] / evals,
            dense_rate=case["batch"] / t_dense.median,
            memory_mb=(child["vmhwm_kb"] or 0) * 1024 / 1e6,  # VmHWM kB (KiB) -> MB
            device_mb=(child["device_peak_bytes"] or 0) / 1e6,
            method=f"{child['method']}, L = {child['low_bits']}",
            base_mb=(child["before_kb"] or 0) * 1024 / 1e6,
            err_eng=err_eng,
        )
        runs.append(run)
        log(f"  cold (compile + run, fresh process) {run['cold']:.3g} s; warm median "
              f"{wall:.3g} s over {n_warm} (evaluation {evals:.3g} s): "
              f"{fmt_rate(run['engine_rate'])} coal/s (evaluation only "
              f"{fmt_rate(run['eval_rate'])}); dense {fmt_rate(run['dense_rate'])} coal/s "
              f"({case['batch']} masks, median {t_dense.median:.3g} s over {t_dense.repeats} x "
              f"{t_dense.number} calls); peak RSS {run['memory_mb']:.0f} MB "
              f"({run['base_mb']:.0f} MB before the first sweep); engine vs dense max |diff| "
              f"{err_eng:.1e}", flush=True)

    return cases, runs


def details(cases, runs, multithread: bool = False, full: bool = False, log=print) -> str:
    """The table of rates, targets and notes of ``measure``'s runs (markdown)."""
    headers = ["N", "T", "engine coalitions", "first call [s]", "warm call [s]",
               "engine [coal/s]", "dense [coal/s]", "eq4 [coal/s]", "engine/dense",
               "engine/eq4", "peak RSS [MB]", "targets"]
    rows = []
    for run in runs:
        case, n = run["case"], run["n"]
        r_dense = run["engine_rate"] / run["dense_rate"]
        r_eq4 = run["engine_rate"] / case["eq4_rate"]
        flags = [f">= 2e7/s: {flag(run['engine_rate'] >= TARGET_RATE)}"]
        if case is cases[0]:
            flags.append(f">= {TARGET_DENSE:g}x dense: {flag(r_dense >= TARGET_DENSE)}")
            flags.append(f">= {TARGET_EQ4:,.0f}x eq4: {flag(r_eq4 >= TARGET_EQ4)}")
        else:
            flags.append(f"<= 2 GB: {flag(run['memory_mb'] <= TARGET_MEMORY_MB)}")
        label = f"{run['evaluated']:,}"
        if run["restricted"]:
            label += f" (2^{run['n_free']} of 2^{n}; rate extrapolated)"
        rows.append([n, run["t"], label, f"{run['cold']:.3g}", f"{run['wall']:.3g}",
                     fmt_rate(run["engine_rate"]), fmt_rate(run["dense_rate"]),
                     fmt_rate(case["eq4_rate"]), f"{r_dense:.3g}", f"{r_eq4:.3g}",
                     f"{run['memory_mb']:.0f}", "; ".join(flags)])
    align = ["r"] * (len(headers) - 1) + ["l"]
    table = _common.markdown_table(headers, rows, align=align)
    log()
    log(table)
    err_dense = max(c["err_eq4"] for c in cases)
    err_engine = max(r["err_eng"] for r in runs)
    log(f"\nchecks passed: engine extremes vs dense max |diff| {err_engine:.1e}, dense vs eq4 "
          f"max |diff| {err_dense:.1e} (tolerance {TOLERANCE:g})")
    restricted_runs = [r for r in runs if r["restricted"]]
    for r in restricted_runs:
        est = ((1 << r["n"]) - 1) / r["engine_rate"]
        log(f"N={r['n']}: full 2^{r['n']} - 1 sweep extrapolated at {est:,.0f} s "
              f"({est / 60:.1f} min)")

    notes = []
    for r in runs:
        what = "restricted" if r["restricted"] else "full"
        timed = (f"{r['n_warm']} warm call(s) in the subprocess, dense timed apart" if
                 r["case"] is cases[1] and not r["restricted"] else
                 f"{r['n_warm']} warm calls, round-robin with {r['t_dense'].repeats} x "
                 f"{r['t_dense'].number} dense calls")
        notes.append(
            f"N = {r['n']} ({what}): {timed}; engine cost stage {r['method']}; "
            f"evaluation-only rate "
            f"(`SweepResult.seconds`) {fmt_rate(r['eval_rate'])} coal/s; "
            + (f"peak device memory {r['device_mb']:.0f} MB; " if r["device_mb"] else "")
            + f"engine subprocess RSS "
            f"before its first sweep (Python, JAX, the game) {r['base_mb']:.0f} MB; dense "
            f"batch {r['case']['batch']} random masks; eq4 sample {r['case']['eq4_n']} "
            "coalitions (the first masks of the dense batch)."
        )
    for r in restricted_runs:
        est = ((1 << r["n"]) - 1) / r["engine_rate"]
        notes.append(
            f"N = {r['n']} restricted: stations {r['include']} included and {r['exclude']} "
            f"excluded ({r['evaluated']:,} coalitions); the rate per coalition is extrapolated "
            f"to the full 2^{r['n']} - 1 = {(1 << r['n']) - 1:,} coalitions (about "
            f"{est / 60:.1f} min at that rate). Its peak RSS is that of the restricted sweep: "
            "the engine holds O(block) memory, whatever the number of coalitions. "
            + ("The full sweep is the next row." if full else
               "`--full` also sweeps all of them.")
        )
    return "\n".join(
        [
            "Coalitions per second, each coalition C giving the three ratios M_[N], M_C, "
            "M_[N]\\C (Nash cost / C-Nash cost) of a random game with constant b "
            "(`bench_equilibrium.make_game`). `engine`: `evjax.sweep(game)` over every "
            "coalition (summaries reduced on the device). `first call` is its first call in a "
            "fresh subprocess (compilation included), whose VmHWM is the `peak RSS`; the rate "
            "is coalitions / median wall-clock seconds of warm calls of the whole "
            "`evjax.sweep` call (planning, evaluation, top-k recomputation), timed round-robin "
            "with the dense baseline. `dense`: `jax.jit(jax.vmap(f))` over random masks, "
            "f = one `jnp.linalg.solve` of Q = b (1 1' + C) + diag(mu) per coalition, then "
            "eq (1) costs, group costs and ratios against precomputed Nash costs; median of "
            "warm calls. `eq4`: the paper's eq (4) in numpy (NT x NT Kronecker system, "
            "`np.linalg.inv`, `bench_equilibrium.paper_eq4`) per coalition, timed on a sample "
            "of coalitions and extrapolated (1 / median seconds per coalition). Checked "
            "before reporting: the engine's largest and smallest ratio per group and its "
            "top-1 / bottom-1 coalitions agree with the dense recomputation to "
            f"{err_engine:.1e} (tolerance {TOLERANCE:g}); dense and eq4 ratios agree to "
            f"{err_dense:.1e} on the eq4 sample. Targets from the project issue (2-core CPU): "
            f">= {TARGET_DENSE:g}x dense and >= {TARGET_EQ4:,.0f}x eq4 at N = 20, T = 24; "
            f">= {TARGET_RATE:.0e} coalitions/s; N = 30 sweep peak memory <= 2 GB. Threads: "
            f"{'library defaults' if multithread else 'one for BLAS and one for XLA'}. "
            "The load average was read at the start; the machine is shared, so figures are "
            "noisy.",
            "",
            table,
            "",
            *[f"- {note}" for note in notes],
        ]
    )


# --------------------------------------------------------------------------- scaling

SCALING_N = ([12, 16, 20, 24], 24)  # N values at T = 24
SCALING_T = ([6, 12, 24, 48, 96], 20)  # T values at N = 20
QUICK_SCALING_N = ([8, 10], 8)
QUICK_SCALING_T = ([4, 8], 10)


def scaling_point(n: int, t: int, *, batch: int, eq4_sample: int, timing_kw: dict) -> dict:
    """Seconds per coalition at (N, T): engine (full sweep, warm), dense (vmapped), eq (4).

    The same three computations as the main table, measured the same way (round-robin warm
    calls of the whole ``evjax.sweep``; the dense batch; eq (4) on a sample, checked against
    dense), in this process and without the subprocess for peak memory.
    """
    params = game_params(n, t)
    game = to_game(params)
    dense_fn, nash = dense_ratio_fn(params)
    masks = jnp.asarray(random_masks(n, min(batch, (1 << n) - 1), seed=n))
    jax.block_until_ready(dense_fn(masks, nash))
    eq4_times, _ = measure_eq4(params, masks, nash, eq4_sample, dense_fn)
    call, record = engine_timed(game, [], [])
    call()  # compile
    times = _common.time_calls({"engine": (call, (), timing_kw),
                                "dense": (dense_fn, (masks, nash), timing_kw)}, warmup=0)
    count = record["result"].n_evaluated
    return dict(n=n, t=t, engine=times["engine"].median / count,
                dense=times["dense"].median / masks.shape[0],
                eq4=statistics.median(eq4_times))


def scaling(quick: bool = False, log=print) -> list[dict]:
    """``scaling_point`` along N (T fixed) and along T (N fixed)."""
    (ns, t_fixed), (ts, n_fixed) = (QUICK_SCALING_N, QUICK_SCALING_T) if quick else (
        SCALING_N, SCALING_T)
    kw = dict(batch=512 if quick else 4096, eq4_sample=2 if quick else 3,
              timing_kw=dict(min_time=0.02 if quick else 0.2, repeats=3, min_repeats=3,
                             budget=1.0 if quick else 10.0))
    points = {}
    for n, t in [(n, t_fixed) for n in ns] + [(n_fixed, t) for t in ts]:
        if (n, t) not in points:
            points[(n, t)] = p = scaling_point(n, t, **kw)
            log(f"scaling N={n} T={t}: seconds per coalition engine {p['engine']:.3g}, dense "
                f"{p['dense']:.3g}, eq4 {p['eq4']:.3g}", flush=True)
    series = []
    for axis, sel, fixed in (("N", [points[(n, t_fixed)] for n in ns], f"T = {t_fixed}"),
                             ("T", [points[(n_fixed, t)] for t in ts], f"N = {n_fixed}")):
        series.append((axis, sel, fixed))
    return series


# --------------------------------------------------------------------------- entry points


def suite(quick: bool = False, full: bool = False, multithread: bool = False, log=print,
          with_scaling: bool = True):
    """Run the benchmark for ``python -m benchmarks``: a ``_report.Result``."""
    import _report

    cases, runs = measure(quick, full, log=log)
    text = details(cases, runs, multithread, full, log=log)
    headline = []
    for run in runs:
        case, n, t = run["case"], run["n"], run["t"]
        per = 1.0 / run["engine_rate"]
        what = f"seconds per coalition, N = {n}, T = {t}" + (
            " (restricted sweep, rate extrapolated)" if run["restricted"] else "")
        r_dense = run["engine_rate"] / run["dense_rate"]
        r_eq4 = run["engine_rate"] / case["eq4_rate"]
        first = case is cases[0]
        headline += [
            _report.Headline(what, per, "dense vmapped JAX", 1.0 / run["dense_rate"],
                             f">= {TARGET_DENSE:g}x" if first else "",
                             bool(r_dense >= TARGET_DENSE) if first else None),
            _report.Headline(what, per, "paper eq (4), numpy", 1.0 / case["eq4_rate"],
                             f">= {TARGET_EQ4:,.0f}x" if first else "",
                             bool(r_eq4 >= TARGET_EQ4) if first else None),
            _report.Headline(f"coalitions per second, N = {n}, T = {t}", run["engine_rate"],
                             target=f">= {TARGET_RATE:.0e}/s (2-core CPU)",
                             met=bool(run["engine_rate"] >= TARGET_RATE), fmt=".3g"),
        ]
        if not first and run["restricted"]:
            headline.append(_report.Headline(
                f"peak RSS of the N = {n} sweep [MB]", run["memory_mb"],
                target=f"<= {TARGET_MEMORY_MB:,.0f} MB", met=bool(
                    run["memory_mb"] <= TARGET_MEMORY_MB), fmt=".4g"))
        if n == 30 and not run["restricted"]:
            headline.append(_report.Headline(
                f"seconds for all 2^{n} - 1 coalitions, N = {n}, T = {t} (warm call)",
                run["wall"], target="< 1 s on one H100-class GPU", met=bool(run["wall"] < 1.0)))
    scaling_series = []
    if with_scaling:
        for axis, sel, fixed in scaling(quick, log=log):
            for label, key in (("evjax sweep engine", "engine"), ("dense vmapped JAX", "dense"),
                               ("paper eq (4) numpy", "eq4")):
                scaling_series.append(_report.Series(
                    axis, label, [p[axis.lower()] for p in sel], [p[key] for p in sel], fixed,
                    "seconds per coalition"))
    return _report.Result("sweep", TITLE, headline, text, scaling_series)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: N in {10, 14}, T = 8; implies --no-write")
    parser.add_argument("--full", action="store_true",
                        help="also sweep all 2^30 - 1 coalitions at N = 30, one cold and one warm "
                        "call (long on a small CPU)")
    parser.add_argument("--no-write", action="store_true",
                        help="do not update benchmarks/RESULTS.md")
    parser.add_argument("--no-scaling", action="store_true",
                        help="skip the scaling series (time per coalition against N and T)")
    parser.add_argument("--multithread", action="store_true",
                        help="keep the libraries' default threading (default: one thread each "
                        "for BLAS and XLA)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(json.loads(args.child))

    info = _common.machine_info()
    print("evjax sweep benchmark: coalitions per second (three ratios per coalition)")
    print(_common.format_machine(info))
    print(flush=True)
    result = suite(args.quick, args.full, args.multithread, with_scaling=not args.no_scaling)
    if args.quick or args.no_write:
        return 0
    import _report

    print(f"\nwrote section {SECTION!r} of {_report.publish_alone(result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
