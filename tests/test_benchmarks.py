"""The benchmark suite (`python -m benchmarks`) on tiny sizes: RESULTS.md's sections and ratios.

Nothing here asserts a timing: the benchmarks measure, the tests only check that the suite
runs, writes every section, keeps the other platform's section, and that each ratio printed
is the baseline's printed figure divided by evjax's. The NashOpt rows are checked only where
nashopt is installed (the optional `bench` extra; not in CI).
"""

import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _report  # noqa: E402
import bench_design  # noqa: E402
import bench_equilibrium  # noqa: E402
import bench_formation  # noqa: E402
import bench_ni  # noqa: E402
import bench_sweep  # noqa: E402
import bench_year  # noqa: E402
from benchmarks.__main__ import main  # noqa: E402

TITLES = [m.TITLE for m in (bench_equilibrium, bench_sweep, bench_ni, bench_design, bench_year,
                            bench_formation)]


def _number(cell):
    try:
        return float(cell)
    except ValueError:
        return None


def headline_rows(text):
    """Every row of every headline table (header '| measure | evjax | ...') as a dict."""
    rows, header = [], None
    for line in text.split("\n"):
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "measure":
            header = cells
        elif header and not set(cells[0]) <= set("-: "):
            rows.append(dict(zip(header, cells)))
    return rows


def check_ratios(text):
    """baseline / evjax, as printed, equals the printed figures' quotient (4 digits each)."""
    checked = 0
    for row in headline_rows(text):
        evjax, base, ratio = (_number(row[k]) for k in
                              ("evjax", "baseline figure", "baseline / evjax"))
        if base is None:
            assert ratio is None, row
            continue
        assert ratio == pytest.approx(base / evjax, rel=2e-3), row
        checked += 1
    return checked


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    # --section cpu: the layout checked below is a CPU run's, also on a machine with a GPU
    assert main(["--quick", "--only", "equilibrium", "--out", str(out), "--section", "cpu"]) == 0
    return out


def test_entry_point_writes_every_section(results):
    text = (results / "RESULTS.md").read_text()
    lines = text.split("\n")
    assert lines[0] == "# evjax benchmark results"
    for heading in ["## CPU", "## GPU", "### Machine", *[f"### {t}" for t in TITLES]]:
        assert heading in lines, heading
    assert lines.index("## CPU") < lines.index("### Machine") < lines.index("## GPU")
    assert _report.NO_RUN["gpu"] in lines  # until a GPU run exists, it says so
    assert any(ln.startswith("Partial run ") and "--only equilibrium" in ln for ln in lines)
    for key in ("cpu", "cores", "memory", "platform", "python", "jax", "jaxlib",
                "jax devices"):
        assert any(ln.startswith(f"- {key}: ") for ln in lines), key
    # The benchmark that ran: its headline table, details and plot; the others say so.
    assert check_ratios(text) >= 2
    assert "(scaling_equilibrium.png)" in text and (results / "scaling_equilibrium.png").exists()
    assert text.count("Not run on this platform yet") == len(TITLES) - 1  # all but one


def test_gpu_section_keeps_the_cpu_section(results, tmp_path):
    path = tmp_path / "RESULTS.md"
    shutil.copy(results / "RESULTS.md", path)
    before = path.read_text()
    cpu = before[before.index("## CPU"):before.index("## GPU")]
    result = _report.Result("equilibrium", bench_equilibrium.TITLE,
                            _headlines_of(before), "details of a GPU run")
    _report.write(result, path, "gpu", info={"cpu": "x"}, command="c", date="d")
    after = path.read_text()
    assert after[after.index("## CPU"):after.index("## GPU")] == cpu
    gpu = after[after.index("## GPU"):]
    assert f"### {bench_equilibrium.TITLE}" in gpu and _report.NO_RUN["gpu"] not in gpu


def _headlines_of(text):
    return [_report.Headline(r["measure"], float(r["evjax"]), r["baseline"],
                             _number(r["baseline figure"])) for r in headline_rows(text)]


def test_ni_rows_against_nashopt():
    pytest.importorskip("nashopt")
    pytest.importorskip("qpsolvers")
    result = bench_ni.suite(quick=True, sizes="6", scaling_t=())
    text = _report.section_body(result, {}, "test", "now")
    assert check_ratios(text) == 4  # single, vmapped, chunked, gradient: all against NashOpt
    assert {s.label for s in result.scaling} == {"evjax NI solve (optimal step)",
                                                 "NashOpt lemke_dual"}
    assert re.search(r"\| 6 +\| +\d+ \|", text)  # relaxation steps at N = 6


def test_year_rows_against_the_dense_baseline():
    # two days, both sampled: the engine's per-day summary is checked against the dense
    # recomputation inside suite() (it raises SystemExit on disagreement)
    result = bench_year.suite(quick=True, days=2, sample=2, log=lambda *a: None)
    text = _report.section_body(result, {}, "test", "now")
    assert check_ratios(text) == 2  # the days' sweeps and the time per day, against dense
    assert "2022-01-01" in text and "2022-01-02" in text
    assert result.headline[0].met is None  # the target applies to a full year only


def test_formation_rows_against_the_brute_force():
    result = bench_formation.suite(quick=True, sizes=(6,), sample=8, log=lambda *a, **k: None)
    rows = [r for r in result.details.split("\n") if r.startswith("| 6 ")]
    sampled, agree = rows[0].strip(" |").split("|")[-2:]
    assert agree.strip() == f"{sampled.strip()}/{sampled.strip()}"
    check_ratios(_report.headline_table(result.headline))
