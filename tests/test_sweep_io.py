"""Sweep output: Parquet tables, plots, batches of games, the CLI, and resuming after SIGKILL."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import evjax
from evjax.cli import main
from evjax.sweeps import read_table, sweep, sweep_batch

jax.config.update("jax_enable_x64", True)

SMALL = dict(top_k=3, low_bits=3, block_size=16)


def random_game(seed, n, t):
    rng = np.random.default_rng(seed)
    return evjax.ChargingGame(
        rng.uniform(0.5, 2.0, t), rng.uniform(0.2, 1.5), rng.uniform(0.1, 3.0, n),
        rng.uniform(0.5, 5.0, n), rng.uniform(0.0, 1.0, (n, t)),
    )


def test_table_rows_match_the_library(tmp_path):
    game = random_game(4, 7, 5)
    sweep(game, out=tmp_path, table=True, sizes="2-3", exclude=[6], **SMALL)
    table = read_table(tmp_path / "table").to_pydict()
    expected = [m for m in range(1, 1 << 7) if bin(m).count("1") in (2, 3) and not m >> 6 & 1]
    assert table["members"] == expected
    rng = np.random.default_rng(0)
    for row in rng.choice(len(expected), 5, replace=False):
        members = [i for i in range(7) if expected[row] >> i & 1]
        assert table["size"][row] == len(members)
        x = evjax.equilibrium(game, [members], method="dense")
        costs = evjax.group_costs(game, x, members)
        np.testing.assert_allclose(
            [table[f"cost_{g}"][row] for g in ("all", "coalition", "outside")], costs, rtol=1e-10)
        np.testing.assert_allclose(
            [table[f"ratio_{g}"][row] for g in ("all", "coalition", "outside")],
            evjax.cost_ratios(game, members, method="dense"), rtol=1e-10)


def test_table_needs_out_and_a_small_enough_sweep():
    game = random_game(5, 6, 4)
    with pytest.raises(ValueError, match="out directory"):
        sweep(game, table=True)


def test_batch_of_games_equals_one_by_one(tmp_path):
    games = [random_game(s, 6, 4) for s in (10, 11, 12)]
    batched = jax.vmap(evjax.ChargingGame)(
        *(np.stack([getattr(g, f) for g in games]) for f in ("a", "b", "mu", "d", "xbar")))
    results = sweep_batch(batched, **SMALL)
    for game, result in zip(games, results, strict=True):
        alone = sweep(game, **SMALL)
        assert result.to_dict() | {"seconds": 0} == alone.to_dict() | {"seconds": 0}


def test_cli_sweep_json_and_plot(tmp_path, capsys):
    path = tmp_path / "game.json"
    path.write_text(json.dumps(evjax.io.game_to_dict(random_game(6, 6, 4))))
    plot = tmp_path / "p.png"
    code = main(["sweep", str(path), "--sizes", "2-4", "--include", "0", "--top", "2",
                 "--json", "--plot", str(plot)])
    captured = capsys.readouterr()
    out = json.loads(captured.out, parse_constant=refuse_constant)  # strict JSON: no NaN
    assert code == 0 and plot.stat().st_size > 10_000
    assert captured.err.strip().endswith(str(plot.resolve()))
    assert out["n_evaluated"] == sum(1 for m in range(64) if m & 1 and 2 <= bin(m).count("1") <= 4)
    assert set(out["above_one"]) == {"all", "coalition", "outside"}
    assert [row["size"] for row in out["by_size"]] == [2, 3, 4]
    assert all(len(row[k]) == 3 for row in out["by_size"] for k in ("mean", "min", "max"))
    assert all(len(out["top"][g]) == 2 for g in ("all", "coalition", "outside"))
    assert all(0 in e["members"] for e in out["top"]["coalition"])


def refuse_constant(constant):
    raise ValueError(f"invalid JSON constant {constant}")


def test_cli_sweep_plot_goes_to_out_else_the_current_directory(tmp_path, capsys, monkeypatch):
    path = tmp_path / "game.json"
    path.write_text(json.dumps(evjax.io.game_to_dict(random_game(6, 6, 4))))
    monkeypatch.chdir(tmp_path)
    for args, where in ((["--out", "run"], tmp_path / "run"), ([], tmp_path)):
        assert main(["sweep", str(path), "--sizes", "2-4", "--include", "0", *args]) == 0
        plot = where / "sweep-by-size.png"
        assert plot.stat().st_size > 10_000
        assert capsys.readouterr().err.strip().splitlines()[-1] == (
            f"Plot of the ratios against coalition size: {plot.resolve()}")
        if args:
            assert not (tmp_path / "sweep-by-size.png").exists()


def cli_error(capsys, argv):
    """Run the CLI expecting a usage error: (stderr line, which must be the only one)."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("evjax: error: "), err
    return err


def test_cli_sweep_refuses_bad_options(capsys):
    assert main(["sweep", "--include", "0", "--exclude", "0", "--no-plot"]) == 2
    assert main(["sweep", "--table", "--no-plot"]) == 2
    assert "out" in capsys.readouterr().err
    for tol in ("-1", "nan", "inf", "-1e-12"):
        assert f"tol must be a finite number >= 0, got {float(tol)}" in cli_error(
            capsys, ["sweep", f"--tol={tol}", "--no-plot", "--json"])


def test_cli_sweep_checks_out_and_plot_before_sweeping(tmp_path, capsys, monkeypatch):
    def computed(*args, **kwargs):
        raise AssertionError("swept before checking --out and --plot")

    monkeypatch.setattr(evjax.sweeps, "sweep", computed)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    cases = [
        (["--plot", str(tmp_path / "p.xyz")], "--plot '.*p.xyz' must end in a format's suffix"),
        (["--plot", str(tmp_path / "p")], "--plot '.*p' must end in a format's suffix"),
        (["--plot", str(a_file / "p.png")], "--plot '.*p.png' cannot be created: .*a-file' is "
                                            "not a directory"),
        (["--plot", str(tmp_path)], "--plot '.*' is a directory"),
        (["--out", str(a_file)], "--out '.*a-file' exists and is not a directory"),
        (["--out", str(a_file / "run"), "--no-plot"], "--out '.*run' cannot be created"),
    ]
    for args, message in cases:
        assert re.search(message, cli_error(capsys, ["sweep", *args]))
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))  # probes gone


def test_enumeration_too_large_is_refused():
    game = random_game(7, 63, 2)
    with pytest.raises(ValueError, match="int64"):
        sweep(game)
    game = random_game(8, 40, 4)
    with pytest.raises(ValueError, match="hours"):
        sweep(game, max_hours=1e-9)


CHILD = """
import sys, jax
jax.config.update("jax_enable_x64", True)
import evjax
from evjax.sweeps import sweep
game, _ = evjax.io.load_game(sys.argv[1])
sweep(game, out=sys.argv[2], table=True, top_k=5, low_bits=4, block_size=32,
      checkpoint_seconds=0.0, progress=False)
"""


def test_resume_after_sigkill_is_identical(tmp_path):
    game = random_game(9, 13, 6)
    path = tmp_path / "game.json"
    path.write_text(json.dumps(evjax.io.game_to_dict(game)))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    # The three runs share a persistent compilation cache: the later two load the first's
    # executables (half of each run's time), which must resume just the same.
    env = os.environ | {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax-cache"),
                        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    reference = tmp_path / "reference"
    subprocess.run([sys.executable, str(script), str(path), str(reference)], check=True,
                   timeout=300, env=env)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(path), str(out)], env=env)
    deadline = time.time() + 240
    parts = out / "table"
    while time.time() < deadline and proc.poll() is None:
        if parts.is_dir() and len(list(parts.glob("part-*.parquet"))) >= 20:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "result.json").exists()
    subprocess.run([sys.executable, str(script), str(path), str(out)], check=True, timeout=300,
                   env=env)
    assert not [p.name for d in (out, parts) for p in d.iterdir() if p.name.endswith(".tmp")]
    got = json.loads((out / "result.json").read_text())
    want = json.loads((reference / "result.json").read_text())
    assert got | {"seconds": 0} == want | {"seconds": 0}
    got_table, want_table = (read_table(d / "table").to_pydict() for d in (out, reference))
    assert got_table.keys() == want_table.keys()
    for column in want_table:  # assert_array_equal treats NaN == NaN (grand coalition)
        np.testing.assert_array_equal(got_table[column], want_table[column])
