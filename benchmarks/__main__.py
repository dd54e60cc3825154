"""Run every evjax benchmark and write benchmarks/RESULTS.md with the scaling plots.

    python -m benchmarks                      # the full suite (about 30 min on 2 CPU cores)
    python -m benchmarks --quick              # small sizes: a smoke test (a few minutes)
    python -m benchmarks --only sweep,ni      # some benchmarks; the others' figures are kept
    python -m benchmarks --device gpu         # on a GPU: writes the '## GPU' section
    python -m benchmarks --out /tmp/bench     # RESULTS.md and scaling_*.png elsewhere

Benchmarks (``--only`` names): equilibrium (issue 2), sweep (issue 3), ni (issue 4, NashOpt
baseline skipped with a note when ``nashopt`` is not installed), design (issue 6), year
(issue 20: a year of real-day sweeps; quick: 3 days), formation (issue 21: every stable
coalition of N = 20 and 24; quick: N = 10, 12). Each
writes its subsection of the platform's section (``## CPU`` or ``## GPU``, from the JAX
backend unless ``--section`` says), so a GPU run keeps the CPU figures and ``--only`` keeps
the other benchmarks'. float64 is enabled here; by default BLAS and XLA's CPU backend run on
one thread each (``--multithread`` keeps the libraries' defaults).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402  (standard library only: before numpy and jax)

BENCHMARKS = ("equilibrium", "sweep", "ni", "design", "year", "formation")
MODULES = {"equilibrium": "bench_equilibrium", "sweep": "bench_sweep", "ni": "bench_ni",
           "design": "bench_design", "year": "bench_year", "formation": "bench_formation"}


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repetitions: a smoke test, not figures to keep")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated benchmarks to run, of {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", default=str(HERE),
                        help="folder of RESULTS.md and the scaling plots (default: benchmarks/)")
    parser.add_argument("--device", choices=("cpu", "gpu"),
                        help="JAX platform to run on (sets JAX_PLATFORMS; default: JAX's choice)")
    parser.add_argument("--section", choices=("cpu", "gpu"),
                        help="section of RESULTS.md to write (default: from the JAX backend)")
    parser.add_argument("--multithread", action="store_true",
                        help="keep the libraries' default threading (default: one thread each "
                        "for BLAS and XLA's CPU backend)")
    parser.add_argument("--full-sweep", action="store_true",
                        help="also sweep all 2^30 - 1 coalitions at N = 30 (default on a GPU)")
    parser.add_argument("--ni-batch", type=int, default=None,
                        help="instances of the batched NI call (default 1000; quick 8)")
    parser.add_argument("--ni-solvers", default=None,
                        help="NashOpt solvers for the NI baseline (default: bench_ni's)")
    parser.add_argument("--ni-repeats", type=int, default=None,
                        help="timed measurements per NI solve (default 5; quick 3)")
    parser.add_argument("--ni-fd-repeats", type=int, default=None,
                        help="timed NashOpt finite-difference gradients (default 2; quick 1)")
    parser.add_argument("--design-games", type=int, default=None,
                        help="random games at N = 16 (default 100; quick 2 at N = 10)")
    parser.add_argument("--design-big-games", type=int, default=None,
                        help="random games at N = 60 (default 3; quick 1 at N = 20)")
    parser.add_argument("--year-days", type=int, default=None,
                        help="first days of 2022 in the year study (default all 365; quick 3)")
    parser.add_argument("--year-sample", type=int, default=None,
                        help="days of the year study's dense baseline (default 4; quick 2)")
    parser.add_argument("--formation-sample", type=int, default=None,
                        help="coalitions of the formation benchmark's brute-force sample "
                        "(default 60; quick 10)")
    args = parser.parse_args(argv)
    args.only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in args.only if b not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    return args


def configure(args) -> None:
    """Environment before jax is imported: threads, platform."""
    if not args.multithread and "jax" not in sys.modules:  # (called from a test: too late)
        _common.limit_threads()
    if args.device is not None:
        # (the CPU backend stays available on a GPU: the sweep folds its partials there)
        os.environ["JAX_PLATFORMS"] = "cpu" if args.device == "cpu" else "cuda,cpu"
    # On a GPU: allocate on demand, so that the sweep benchmark's engine subprocess (peak
    # memory, first call) finds memory too. No effect on a CPU.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def module(name: str):
    import importlib

    return importlib.import_module(MODULES[name])


def run_one(name: str, args, backend: str):
    """Run one benchmark's ``suite()``: a ``_report.Result`` with its seconds."""
    kw = dict(quick=args.quick)
    if name == "equilibrium":
        kw["multithread"] = args.multithread
    elif name == "sweep":
        kw.update(multithread=args.multithread,
                  full=args.full_sweep or (backend == "gpu" and not args.quick))
    elif name == "ni":
        kw.update(batch=args.ni_batch, repeats=args.ni_repeats, fd_repeats=args.ni_fd_repeats)
        if args.ni_solvers:
            kw["solvers"] = args.ni_solvers
    elif name == "design":
        kw.update(games=args.design_games, big_games=args.design_big_games)
    elif name == "year":
        kw.update(days=args.year_days, sample=args.year_sample)
    elif name == "formation":
        kw.update(sample=args.formation_sample)
    t0 = time.perf_counter()
    result = module(name).suite(**kw)
    result.seconds = time.perf_counter() - t0
    return result


def main(argv=None) -> int:
    args = parse(argv)
    configure(args)

    import jax

    jax.config.update("jax_enable_x64", True)
    import _report

    import evjax  # noqa: F401  (on jaxlib 0.10 it sets an XLA flag the CPU backend must see)

    out = Path(args.out)
    path = out / "RESULTS.md"
    backend = jax.default_backend()
    section = args.section or _report.platform(backend)
    info = _common.machine_info()
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    started, t0 = _common.now_utc(), time.perf_counter()
    print(f"evjax benchmark suite: {', '.join(args.only)} -> {path} (section {section})")
    print(_common.format_machine(info), flush=True)

    everything = set(args.only) == set(BENCHMARKS)
    _report.write_machine(path, section, info, command=command, date=started, seconds=None,
                          ran=args.only, everything=everything)
    for name in BENCHMARKS:  # every benchmark has its subsection, run or not
        title = module(name).TITLE
        if f"### {title}" not in path.read_text(encoding="utf-8").split("\n"):
            _common.replace_section(
                f"### {title}", f"Not run on this platform yet: `python -m benchmarks "
                f"--only {name}`.", path, within=_report.PLATFORMS[section],
                placeholder=_report.NO_RUN[section])

    for name in args.only:
        print(f"\n=== {name} ===", flush=True)
        result = run_one(name, args, backend)
        plot = _report.publish(result, path, section, info=info, command=command,
                               date=started)
        print(_report.headline_table(result.headline))
        print(f"{name}: {result.seconds:.0f} s; wrote {path}" + (f" and {plot}" if plot else ""),
              flush=True)

    total = time.perf_counter() - t0
    _report.write_machine(path, section, info, command=command, date=started, seconds=total,
                          ran=args.only, everything=everything)
    print(f"\nsuite done in {total / 60:.1f} min: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
