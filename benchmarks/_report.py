"""RESULTS.md of the benchmark suite: one section per platform, one subsection per benchmark.

Every benchmark module (``bench_*.py``) has a ``suite(...)`` function returning a
:class:`Result`: its headline figures against the baselines and the issue's targets
(:class:`Headline` rows), the detailed markdown it always printed, and scaling series for
the plots. :func:`write` puts a result into ``RESULTS.md`` under ``## CPU`` or ``## GPU``
(from the JAX backend), replacing only that benchmark's subsection, so a GPU run never
erases the CPU figures and ``--only`` reruns one benchmark. Standard library only at import
(matplotlib is imported by :func:`plot_scaling`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence

import _common

PREAMBLE = """\
Written by `python -m benchmarks` (see `benchmarks/README.md` for how to run it on a CPU, a
GPU or several hosts). One section per platform, `## CPU` and `## GPU`; in each, the machine,
then one subsection per benchmark with the run it comes from. Every figure below comes from
the run named in its subsection; the baselines were measured in the same process and run as
evjax.

How to read a benchmark's first table: `evjax` and `baseline figure` are absolute figures in
the unit of the row (seconds unless stated; lower is better for times), `baseline / evjax` is
the baseline's figure divided by evjax's (for times: how many times faster evjax is), and
`target` is the project issue's target for that figure, `met` whether this run meets it.
Rows without a baseline are absolute targets. The tables after it are each benchmark's
detailed output; the scaling plots (log-log, time against N and against T) are linked from
their benchmark and their data listed under them.
"""

PLATFORMS = {"cpu": "## CPU", "gpu": "## GPU"}
NO_RUN = {
    "cpu": "No CPU run yet.",
    "gpu": "No GPU run yet: the suite has not been run on a GPU machine "
           "(`python -m benchmarks --device gpu` writes this section; see benchmarks/README.md).",
}


class Headline(NamedTuple):
    """One figure of evjax against a baseline (``base``) and/or a target.

    ``ratio`` is ``base / evjax`` when both are numbers: for times, how many times faster
    evjax is. ``met`` is decided by the benchmark from unrounded figures (None: no target).
    """

    measure: str
    evjax: float
    baseline: str = ""
    base: float | None = None
    target: str = ""
    met: bool | None = None
    fmt: str = ".4g"

    @property
    def ratio(self) -> float | None:
        return None if self.base is None else self.base / self.evjax


class Series(NamedTuple):
    """One line of a scaling plot: ``y`` (seconds) against ``axis`` ('N' or 'T') at ``x``."""

    axis: str
    label: str
    x: Sequence[float]
    y: Sequence[float]
    fixed: str  # the other dimension, e.g. 'T = 24'
    ylabel: str


@dataclass
class Result:
    """What ``suite()`` of a benchmark returns."""

    key: str  # 'equilibrium', 'sweep', 'ni', 'design'
    title: str  # the subsection heading, without '### '
    headline: list[Headline]
    details: str  # markdown: the benchmark's own tables and notes
    scaling: list[Series] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None  # wall time of suite(), set by the runner


def fmt(x: float | None, spec: str = ".4g") -> str:
    return "—" if x is None else format(x, spec)


def headline_table(rows: Sequence[Headline]) -> str:
    """The figures against baselines and targets, as a markdown table."""
    headers = ["measure", "evjax", "baseline", "baseline figure", "baseline / evjax", "target",
               "met"]
    cells = [
        [r.measure, fmt(r.evjax, r.fmt), r.baseline or "—", fmt(r.base, r.fmt),
         fmt(r.ratio, ".4g"), r.target or "—",
         "—" if r.met is None else ("met" if r.met else "not met")]
        for r in rows
    ]
    return _common.markdown_table(headers, cells, align=["l", "r", "l", "r", "r", "l", "l"])


def scaling_table(series: Sequence[Series], axis: str) -> str:
    """The data of one panel of a scaling plot: one row per x, one column per line."""
    lines = [s for s in series if s.axis == axis]
    xs = sorted({x for s in lines for x in s.x})
    rows = []
    for x in xs:
        row = [f"{x:g}"]
        for s in lines:
            y = dict(zip(s.x, s.y)).get(x)
            row.append(fmt(y, ".3g"))
        rows.append(row)
    return _common.markdown_table([f"{axis} ({lines[0].fixed})", *[s.label for s in lines]],
                                  rows)


def plot_scaling(series: Sequence[Series], path: Path, title: str) -> Path:
    """Log-log panels of time against N and against T, evjax and baselines on the same axes."""
    from evjax import _plotting

    plt = _plotting.pyplot()
    axes = [a for a in ("N", "T") if any(s.axis == a for s in series)]
    fig, panels = plt.subplots(1, len(axes), figsize=(5.2 * len(axes), 4.2), squeeze=False)
    for ax, axis in zip(panels[0], axes):
        lines = [s for s in series if s.axis == axis]
        for s in lines:
            ax.loglog(s.x, s.y, "o-", label=s.label)
        xs = sorted({x for s in lines for x in s.x})
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
        ax.set_xlabel(f"{axis} ({lines[0].fixed})")
        ax.set_ylabel(lines[0].ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _plotting.save(fig, path)


def run_line(result: Result, info: dict[str, str], command: str, date: str) -> str:
    took = "" if result.seconds is None else f", {result.seconds:.0f} s"
    return (f"Run {date}{took}: `{command}`, on {info.get('cpu', '?')} ({info.get('cores', '?')} "
            f"cores), jax {info.get('jax', '?')} on {info.get('jax devices', '?')}.")


def section_body(result: Result, info: dict[str, str], command: str, date: str,
                 plot: Path | None = None) -> str:
    """The markdown of one benchmark's subsection."""
    parts = [run_line(result, info, command, date), "", headline_table(result.headline), ""]
    parts += [f"- {n}" for n in result.notes]
    parts += ["", result.details.strip("\n"), ""]
    if result.scaling:
        if plot is not None:
            parts += [f"Scaling (log-log): [{plot.name}]({plot.name})", "", f"![{result.key} "
                      f"scaling]({plot.name})", ""]
        for axis in ("N", "T"):
            if any(s.axis == axis for s in result.scaling):
                parts += [scaling_table(result.scaling, axis), ""]
    return "\n".join(parts)


def platform(backend: str) -> str:
    """'gpu' for JAX's GPU backends (cuda, rocm, gpu), else 'cpu'."""
    return "gpu" if backend in ("gpu", "cuda", "rocm") else "cpu"


def ensure_layout(path: Path) -> None:
    """Create ``path`` with the preamble and both platform sections if it lacks them."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{_common.RESULTS_HEADER}\n\n{PREAMBLE}", encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    for key, heading in PLATFORMS.items():
        if heading not in text.split("\n"):
            _common.replace_section(heading, NO_RUN[key], path)


def write(result: Result, path: Path, section: str, *, info: dict[str, str], command: str,
          date: str, plot: Path | None = None) -> Path:
    """Replace ``result``'s subsection of the ``section`` ('cpu' or 'gpu') part of ``path``."""
    ensure_layout(path)
    return _common.replace_section(
        f"### {result.title}", section_body(result, info, command, date, plot), path,
        within=PLATFORMS[section], placeholder=NO_RUN[section])


PLOT_TITLES = {
    "equilibrium": "One C-Nash equilibrium + costs",
    "sweep": "Coalition sweep: time per coalition",
    "ni": "Constrained equilibrium (NI solver vs NashOpt)",
}


def publish(result: Result, path: Path, section: str, *, info: dict[str, str], command: str,
            date: str) -> Path | None:
    """Draw ``result``'s scaling plot next to ``path`` (``scaling_<key>[_gpu].png``), then
    write its subsection; the plot's path, or None without scaling series."""
    plot = None
    if result.scaling:
        suffix = "" if section == "cpu" else f"_{section}"
        plot = plot_scaling(result.scaling, path.parent / f"scaling_{result.key}{suffix}.png",
                            f"{PLOT_TITLES.get(result.key, result.title)} ({section.upper()})")
    write(result, path, section, info=info, command=command, date=date, plot=plot)
    return plot


def publish_alone(result: Result) -> Path:
    """``publish`` for a benchmark run as a script: benchmarks/RESULTS.md, this machine."""
    info = _common.machine_info()
    path = _common.RESULTS_PATH
    publish(result, path, platform(info["jax backend"]), info=info,
            command=_common.command_line(), date=_common.now_utc())
    return path


def _run_lines(path: Path, section: str) -> list[str]:
    """The 'Full suite run' / 'Partial run' lines of a platform's ``### Machine`` now."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    try:
        start = lines.index(PLATFORMS[section])
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        machine = lines.index("### Machine", start, end)
    except ValueError:
        return []
    return [ln for ln in lines[machine:end] if ln.startswith(("Full suite run", "Partial run"))]


def write_machine(path: Path, section: str, info: dict[str, str], *, command: str, date: str,
                  seconds: float | None, ran: Sequence[str], everything: bool) -> Path:
    """The ``### Machine`` subsection of a platform: where and when the suite ran.

    A run of every benchmark (``everything``) replaces the record; a partial run (``--only``)
    keeps the last full run's line and adds its own.
    """
    ensure_layout(path)
    took = "" if seconds is None else f" in {seconds / 60:.1f} min"
    this = (f"Full suite run {date}{took}: `{command}`." if everything else
            f"Partial run {date}{took}: `{command}` ({', '.join(ran)}).")
    kept = [] if everything else [ln for ln in _run_lines(path, section)
                                  if not ln.startswith(f"Partial run {date}")]
    body = "\n".join([
        *[f"{ln}  " for ln in (ln.rstrip() for ln in kept)], this, "",
        "Machine and software of the latest run:",
        "",
        _common.format_machine(info, markdown=True),
    ])
    return _common.replace_section("### Machine", body, path, within=PLATFORMS[section],
                                   placeholder=NO_RUN[section])


def print_and_publish(result, write: bool = True) -> int:
    """A benchmark run alone: print its headline table and details, and (``write``) replace
    its subsection of RESULTS.md; the exit status (0)."""
    print(headline_table(result.headline))
    print(result.details)
    if write:
        print(f"wrote {publish_alone(result)}")
    return 0
