"""``evjax stability``: its JSON against numpy brute force, the PNG, the default game, bad
input (exit status 2), and a help that loads no JAX."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

import evjax
import formation_helpers as fh
from evjax.cli import main

jax.config.update("jax_enable_x64", True)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 6-station game file and its brute-force cost table."""
    arrays = fh.random_arrays(3, 6, 4)
    path = tmp_path_factory.mktemp("stability") / "game.json"
    path.write_text(json.dumps(evjax.ChargingGame(*arrays).to_dict()))
    return path, arrays, fh.cost_table(arrays)


def test_json_matches_brute_force(small, capsys, tmp_path):
    path, arrays, table = small
    png = tmp_path / "stability.png"
    code, out, err = run(capsys, "stability", str(path), "--coalition", "3,0,1", "--json",
                         "--structures", "--out", str(png))
    assert code == 0, err
    report = json.loads(out)
    tol = fh.tolerance(table)
    ref = fh.cartel_verdicts(table, tol)
    n = 6
    assert report["internally_stable"] == [fh.members(c, n) for c, v in ref.items() if v[0]]
    assert report["externally_stable"] == [fh.members(c, n) for c, v in ref.items() if v[1]]
    assert report["stable"] == [fh.members(c, n) for c, v in ref.items() if all(v)]
    assert report["coalition"] == [0, 1, 3]
    assert (report["internal"], report["external"]) == ref[0b1011]
    np.testing.assert_allclose(report["shapley"], fh.shapley(table, [0, 1, 3]), atol=1e-10)
    for split, shares in report["shares"].items():
        assert shares["in_core"] == fh.in_core(table, [0, 1, 3], shares["shares"], tol), split
    nash, core = fh.stable_partitions(arrays, tol)
    for kind, want in (("nash", nash), ("core", core)):
        got = report["structures"][kind]
        assert sorted(fh.canonical(p["blocks"]) for p in got) == sorted(want)
    assert png.stat().st_size > 0 and "stability.png" in err


def test_text_output(small, capsys):
    code, out, _ = run(capsys, "stability", str(small[0]), "--coalition", "0,1", "--shares",
                       "equal")
    assert code == 0
    assert "internally stable" in out and "equal shares" in out and "Coalition [0, 1]" in out


def test_default_game(capsys):
    code, out, _ = run(capsys, "stability", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["n_stations"] == 16 and report["evaluated"] == 2**16 - 17
    internal = {tuple(c) for c in report["internally_stable"]}
    external = {tuple(c) for c in report["externally_stable"]}
    assert {tuple(c) for c in report["stable"]} == internal & external
    assert all(len(c) >= 2 and c == sorted(c) for c in report["internally_stable"])


@pytest.mark.parametrize("argv, message", [
    (["--coalition", "0,99"], "station 99"),
    (["--coalition", "0,x"], "--coalition"),
    (["--rtol", "-1"], "rtol"),
    (["--structures"], "--structures"),
    (["--out", "plot.nope"], "suffix"),
])
def test_bad_input_exits_2(argv, message, capsys):
    code, _, err = run(capsys, "stability", *argv)
    assert code == 2 and message in err


def test_help_loads_no_jax():
    code = ("import sys; from evjax.cli import build_parser\n"
            "try:\n    build_parser().parse_args(['stability', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "assert 'jax' not in sys.modules, 'jax imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--coalition" in result.stdout and "--structures" in result.stdout
