"""Shared helpers for the evjax benchmarks: machine info, timing, tables, RESULTS.md sections.

Nothing here is specific to one benchmark. Import it from a script in this folder with

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _common

(the scripts run alone as well as through ``python -m benchmarks``, which puts this folder on
``sys.path`` the same way, so every module is imported once, under its bare name).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import re
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"
RESULTS_HEADER = "# evjax benchmark results"


# --------------------------------------------------------------------------- threads

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_XLA_SINGLE = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def limit_threads() -> bool:
    """Run numpy's BLAS and XLA's CPU backend on one thread each; True if it took effect.

    Call before numpy or jax is imported (this module imports neither at load time); later,
    it only warns and returns False. On a small, shared machine multithreaded BLAS can be
    slower by orders of magnitude when other processes hold the cores, so single-threaded
    figures are the reproducible ones. Thread variables the user has set are kept.
    """
    if "numpy" in sys.modules or "jax" in sys.modules:
        warnings.warn("limit_threads() called after numpy or jax was imported; no effect")
        return False
    for var in _THREAD_VARS:
        os.environ.setdefault(var, "1")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_XLA_SINGLE}".strip()
    return True


def thread_settings() -> str:
    """The thread-related environment, as one line."""
    parts = [f"{v}={os.environ[v]}" for v in _THREAD_VARS if v in os.environ]
    if os.environ.get("XLA_FLAGS"):
        parts.append(f"XLA_FLAGS='{os.environ['XLA_FLAGS']}'")
    return ", ".join(parts) or "library defaults"


# --------------------------------------------------------------------------- machine info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) * 1024 / 2**30:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def machine_info() -> dict[str, str]:
    """CPU model, core counts, memory, platform and library versions, JAX backend and devices."""
    info: dict[str, str] = {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cores usable"] = str(len(os.sched_getaffinity(0)))
    info["memory"] = _memory()
    if hasattr(os, "getloadavg"):
        info["load average (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    info["platform"] = platform.platform()
    info["threads"] = thread_settings()
    info["python"] = platform.python_version()
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    try:
        import jax
        import jaxlib

        info["jax"] = jax.__version__
        info["jaxlib"] = jaxlib.__version__
        info["jax backend"] = jax.default_backend()
        devices = jax.devices()
        kinds = sorted({getattr(d, "device_kind", str(d)) for d in devices})
        info["jax devices"] = f"{len(devices)} x {', '.join(kinds)} (default {devices[0]})"
        info["jax x64"] = str(bool(jax.config.read("jax_enable_x64")))
    except ImportError:  # pragma: no cover
        info["jax"] = "not installed"
    return info


def format_machine(info: dict[str, str], *, markdown: bool = False) -> str:
    """The machine info as 'key: value' lines (markdown bullets when ``markdown``)."""
    prefix = "- " if markdown else "  "
    return "\n".join(f"{prefix}{k}: {v}" for k, v in info.items())


def now_utc() -> str:
    """The current UTC time, to the second, as 'YYYY-MM-DD HH:MM:SS UTC'."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def command_line() -> str:
    """The command that started this process, as one would type it from the repo root."""
    script = sys.argv[0]
    try:
        script = os.path.relpath(script, Path(__file__).resolve().parent.parent)
    except ValueError:
        pass
    return " ".join(["python", script, *sys.argv[1:]])


# --------------------------------------------------------------------------- timing


def block(out: Any) -> Any:
    """Wait for every JAX array in the pytree ``out``; other leaves (numpy, floats) pass."""
    try:
        import jax
    except ImportError:  # pragma: no cover
        return out
    for leaf in jax.tree_util.tree_leaves(out):
        wait = getattr(leaf, "block_until_ready", None)
        if wait is not None:
            wait()
    return out


class Timing(NamedTuple):
    """Seconds per call: the median over ``repeats`` measurements of ``number`` calls each."""

    median: float
    best: float
    repeats: int
    number: int


def time_call(
    fn: Callable[..., Any],
    *args: Any,
    min_time: float = 0.2,
    repeats: int = 7,
    min_repeats: int = 3,
    budget: float = 5.0,
    warmup: int = 1,
) -> Timing:
    """Time ``fn(*args)`` in seconds per call, waiting for JAX outputs to be ready.

    After ``warmup`` calls (compilation, caches), one timed call estimates the cost; each
    measurement then runs ``number`` calls so that it lasts at least ``min_time`` seconds.
    Up to ``repeats`` measurements are taken, fewer (but at least ``min_repeats``) when they
    would take more than ``budget`` seconds in all; the median and best are reported.
    """
    kw = dict(min_time=min_time, repeats=repeats, min_repeats=min_repeats, budget=budget)
    return time_calls({"fn": (fn, args, kw)}, warmup=warmup)["fn"]


def _plan(fn, args, warmup, min_time, repeats, min_repeats, budget):
    for _ in range(warmup):
        block(fn(*args))
    t0 = time.perf_counter()
    block(fn(*args))
    one = max(time.perf_counter() - t0, 1e-9)
    number = max(1, math.ceil(min_time / one))
    fit = int(budget // (number * one))
    return number, max(min_repeats, min(repeats, fit))


def _measure(fn, args, number):
    t0 = time.perf_counter()
    for _ in range(number):
        out = fn(*args)
    block(out)
    return (time.perf_counter() - t0) / number


def time_calls(
    calls: dict[str, tuple[Callable[..., Any], tuple, dict]], *, warmup: int = 1
) -> dict[str, Timing]:
    """Time several calls with their measurements interleaved, round-robin.

    ``calls`` maps a name to ``(fn, args, options)`` with ``options`` the keywords of
    ``time_call`` (min_time, repeats, min_repeats, budget). Interleaving spreads slow
    drifts of the machine (other processes, clocks) over all the calls compared, so their
    ratios are fairer than from back-to-back runs.
    """
    defaults = dict(min_time=0.2, repeats=7, min_repeats=3, budget=5.0)
    plans = {
        name: _plan(fn, args, warmup, **{**defaults, **opts})
        for name, (fn, args, opts) in calls.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(max(n_rep for _, n_rep in plans.values())):
        for name, (fn, args, _) in calls.items():
            number, n_rep = plans[name]
            if r < n_rep:
                samples[name].append(_measure(fn, args, number))
    return {
        name: Timing(statistics.median(s), min(s), len(s), plans[name][0])
        for name, s in samples.items()
    }


def format_seconds(s: float) -> str:
    """Seconds in 3 significant digits, scientific notation below 0.01 s."""
    return f"{s:.3g}" if s >= 1e-2 else f"{s:.2e}"


# --------------------------------------------------------------------------- tables


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], align: Sequence[str] | None = None
) -> str:
    """A GitHub markdown table, columns padded for reading as plain text too.

    ``align`` holds 'l' or 'r' per column (default: right for all but the first column).
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    ncol = len(headers)
    if any(len(r) != ncol for r in cells):
        raise ValueError("every row must have one cell per header")
    align = list(align) if align is not None else ["l"] + ["r"] * (ncol - 1)
    widths = [max(3, *(len(r[j]) for r in cells)) for j in range(ncol)]

    def line(row):
        padded = [
            row[j].ljust(widths[j]) if align[j] == "l" else row[j].rjust(widths[j])
            for j in range(ncol)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        ("-" * (widths[j] - 1) + ":") if align[j] == "r" else ("-" * widths[j])
        for j in range(ncol)
    ]
    return "\n".join([line(cells[0]), "| " + " | ".join(rule) + " |", *map(line, cells[1:])])


# --------------------------------------------------------------------------- RESULTS.md


def _level(line: str) -> int:
    """The markdown heading level of ``line`` ('## x' -> 2), 0 if it is no heading."""
    hashes = len(line) - len(line.lstrip("#"))
    return hashes if hashes and line[hashes:hashes + 1] == " " else 0


def _section_end(lines: list[str], start: int, stop: int) -> int:
    """Index of the first heading after ``start`` (before ``stop``) at ``start``'s level or above."""
    level = _level(lines[start])
    return next((i for i in range(start + 1, stop) if 0 < _level(lines[i]) <= level), stop)


def replace_section(
    heading: str,
    body: str,
    path: Path | str = RESULTS_PATH,
    header: str = RESULTS_HEADER,
    *,
    within: str | None = None,
    placeholder: str = "",
) -> Path:
    """Write ``heading`` + ``body`` as a section of the markdown file at ``path``.

    ``heading`` is a full heading line ('## ...', '### ...'). If the file has that heading
    (inside the section ``within``, a heading of a higher level, when given), the text from
    it up to the next heading of the same or a higher level is replaced; otherwise the
    section is appended (at the end of ``within``). A missing file is created with
    ``header`` as its first line, a missing ``within`` section at the end of the file with
    ``placeholder`` as its text until then. Other sections are kept as they are.
    """
    if not _level(heading):
        raise ValueError(f"heading must be a markdown heading ('## ...'), got {heading!r}")
    path = Path(path)
    section = [heading, "", *body.strip("\n").split("\n"), ""]
    lines = path.read_text(encoding="utf-8").split("\n") if path.exists() else [header, ""]
    while lines and lines[-1] == "":
        lines.pop()
    lo, hi = 0, len(lines)
    if within is not None:
        outer = next((i for i, ln in enumerate(lines) if ln.rstrip() == within.rstrip()), None)
        if outer is None:
            lines += ["", within, *([""] + [placeholder] if placeholder else [])]
            outer = len(lines) - (3 if placeholder else 1)
        lo, hi = outer + 1, _section_end(lines, outer, len(lines))
    start = next(
        (i for i in range(lo, hi) if lines[i].rstrip() == heading.rstrip()), None
    )
    if start is None:
        if within is not None and placeholder and placeholder in lines[lo:hi]:
            del lines[lo + lines[lo:hi].index(placeholder)]  # the first real section
            hi -= 1
        while hi > lo and lines[hi - 1] == "":
            hi -= 1
        new = [*lines[:hi], "", *section, *lines[hi:]]
    else:
        new = [*lines[:start], *section, *lines[_section_end(lines, start, hi):]]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(new).rstrip("\n") + "\n")
    path.write_text(text, encoding="utf-8")
    return path
