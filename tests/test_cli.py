"""The command line: solve, example-game, JSON output, and malformed input (exit status 2)."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import evjax
from evjax.cli import main

jax.config.update("jax_enable_x64", True)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def game_file(tmp_path, capsys):
    code, out, _ = run(capsys, "example-game")
    assert code == 0
    path = tmp_path / "game.json"
    path.write_text(out)
    return path


def test_example_game_is_the_figure2_setting(game_file):
    data = json.loads(game_file.read_text())
    assert data["b"] == 0.5 and data["a"] == [0.5] * 10 and data["coalitions"] == [[0, 1]]
    assert data["d"] == [1.0, 1.0, 5.0, 5.0, 5.0] and data["mu"] == [0.1, 0.1, 1.0, 1.0, 1.0]
    xbar = np.array(data["xbar"])
    np.testing.assert_allclose(xbar[0], [0.04] * 5 + [0.16] * 5)
    np.testing.assert_allclose(xbar.sum(axis=1), data["d"])


def test_solve_json_matches_the_library(game_file, capsys):
    code, out, _ = run(capsys, "solve", str(game_file), "--coalition", "0,1", "--json")
    assert code == 0
    result = json.loads(out)
    game, _ = evjax.io.load_game(game_file)
    x = np.asarray(evjax.equilibrium(game, [[0, 1]], method="dense"))
    np.testing.assert_allclose(result["x"], x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result["costs"], evjax.station_costs(game, x), rtol=1e-12)
    np.testing.assert_allclose(result["ratios"], evjax.cost_ratios(game, [0, 1]), rtol=1e-12)
    assert result["certificate"]["max_gain"] < 1e-10
    assert result["certificate"]["kkt_residual"] < 1e-10
    assert len(result["x"]) == 5 and all(len(row) == 10 for row in result["x"])


def test_several_coalitions_give_no_ratios(game_file, capsys):
    code, out, _ = run(
        capsys, "solve", str(game_file), "--coalition", "0,1", "--coalition", "2,3", "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert result["ratios"] is None and result["coalitions"] == [[0, 1], [2, 3]]
    assert result["certificate"]["max_gain"] < 1e-10


def test_grand_coalition_outside_ratio_is_null(game_file, capsys):
    code, out, _ = run(capsys, "solve", str(game_file), "--coalition", "0,1,2,3,4", "--json")
    ratios = json.loads(out)["ratios"]
    assert code == 0 and ratios[2] is None and np.isfinite(ratios[:2]).all()


def test_default_game_prints_a_report(capsys):
    code, out, _ = run(capsys, "solve")
    assert code == 0
    assert "M_C = 0.99273" in out and "Certificate" in out


def test_time_varying_b_file(tmp_path, capsys):
    path = tmp_path / "tv.json"
    path.write_text(json.dumps(
        {"a": [1, 2, 3], "b": [0.5, 1.0, 2.0], "mu": [1, 2], "d": [3, 1], "alpha": [0.2, 0.3, 0.5]}
    ))
    code, out, _ = run(capsys, "solve", str(path), "--coalition", "0,1", "--json")
    assert code == 0
    result = json.loads(out)
    np.testing.assert_allclose(np.sum(result["x"], axis=1), [3, 1], rtol=1e-12)
    assert result["certificate"]["max_gain"] < 1e-10


BAD_FILES = {
    "not-json": ("{\"a\": ", "not valid JSON"),
    "not-object": ("[1, 2]", "JSON object"),
    "missing": (json.dumps({"a": [1], "b": 1, "mu": [1]}), "missing key"),
    "unknown": (json.dumps({"a": [1], "b": 1, "mu": [1], "d": [1], "alpha": [1], "c": 2}),
                "unknown key"),
    "both": (json.dumps({"a": [1], "b": 1, "mu": [1], "d": [1], "alpha": [1], "xbar": [[1]]}),
             "exactly one"),
    "mu": (json.dumps({"a": [1, 1], "b": 1, "mu": [0], "d": [1], "alpha": [0.5, 0.5]}), "mu"),
    "b": (json.dumps({"a": [1, 1], "b": -1, "mu": [1], "d": [1], "alpha": [0.5, 0.5]}), "b"),
    "shape": (json.dumps({"a": [1, 1], "b": 1, "mu": [1, 1], "d": [1], "alpha": [0.5, 0.5]}),
              "d must have shape"),
    "ragged": (json.dumps({"a": [1, 1], "b": 1, "mu": [1], "d": [1], "xbar": [[1, 2], [1]]}),
               "xbar"),
    "string": (json.dumps({"a": [1, "x"], "b": 1, "mu": [1], "d": [1], "alpha": [0.5, 0.5]}),
               "numbers"),
    "alpha": (json.dumps({"a": [1, 1], "b": 1, "mu": [1], "d": [1], "alpha": [0.5, 0.7]}),
              "alpha"),
    "coalitions": (json.dumps({"a": [1], "b": 1, "mu": [1, 1], "d": [1, 1], "xbar": [[1], [1]],
                               "coalitions": [[0, 1], [1]]}), "overlap"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_malformed_game_file_exits_2_with_one_line(name, tmp_path, capsys):
    text, needle = BAD_FILES[name]
    path = tmp_path / f"{name}.json"
    path.write_text(text)
    code, out, err = run(capsys, "solve", str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err


@pytest.mark.parametrize("option", ["0,9", "0,a", "", "1,1"])
def test_bad_coalition_option_exits_2(option, game_file, capsys):
    code, _, err = run(capsys, "solve", str(game_file), "--coalition", option)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_missing_file_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, "solve", str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read" in err


def test_console_script_exit_status(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-m", "evjax", "solve", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.startswith("evjax: error:")


def test_solve_with_constraints_uses_the_ni_solver(game_file, capsys):
    import sys as _sys

    _sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from helpers import Problem, constrained_best_response_gain

    code, out, _ = run(capsys, "solve", str(game_file), "--coalition", "0,1", "--nonnegative",
                       "--rate-limit", "1.5", "--capacity", "1.75", "--json")
    assert code == 0
    result = json.loads(out)
    x = np.array(result["x"])
    game, _ = evjax.io.load_game(game_file)
    p = Problem(*(np.asarray(v, float) for v in (game.a, game.b, game.mu, game.d, game.xbar)))
    assert x.min() >= -1e-12 and x.max() <= 1.5 + 1e-12 and x.sum(axis=0).max() <= 1.75 + 1e-12
    assert x.sum(axis=0).max() > 1.75 - 1e-9  # the capacity binds
    for player in ([0, 1], [2], [3], [4]):
        gain = constrained_best_response_gain(p, x, player, nonnegative=True, rate_limit=1.5,
                                              capacity=1.75)
        assert gain < 1e-8
    assert result["certificate"]["ni_gap"] < 1e-8 and result["ratios"][0] is not None
    code, _, err = run(capsys, "solve", str(game_file), "--capacity", "0.5")
    assert code == 2 and "capacity is infeasible" in err and err.count("\n") == 1


HEAVY = ("jax", "equinox", "optimistix", "lineax", "matplotlib")


def _modules_after(code: str) -> list[str]:
    """The heavy modules loaded once ``code`` has run in a fresh interpreter."""
    script = f"import sys\n{code}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"'))


@pytest.mark.parametrize("command", ["", "solve", "sweep", "example-game", "reproduce"])
def test_help_loads_no_jax(command):
    code = ("from evjax.cli import main\ntry:\n    main([*%r.split(), '--help'])\n"
            "except SystemExit as exc:\n    assert exc.code == 0\n") % command
    assert _modules_after(code) == []


def test_help_lists_every_command():
    proc = subprocess.run([sys.executable, "-m", "evjax", "--help"], capture_output=True,
                          text=True)
    assert proc.returncode == 0
    for command in ("solve", "sweep", "example-game", "design", "sensitivity", "decks",
                    "reproduce"):
        assert f"    {command} " in proc.stdout


def test_import_evjax_is_lazy_and_every_public_name_resolves():
    assert _modules_after("import evjax") == []
    assert all(getattr(evjax, name) is not None for name in evjax.__all__)
    assert evjax.build_deck_game is evjax.decks.build_game
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        evjax.nope  # noqa: B018


def test_the_library_never_imports_the_cli():
    code = ("import evjax.charging, evjax.decks, evjax.design, evjax.io, evjax.reproduce, "
            "evjax.solvers, evjax.sweeps\nassert 'evjax.cli' not in sys.modules")
    _modules_after(code)


def test_repeated_commands_load_their_programs_from_the_user_cache(tmp_path):
    """The CLI caches compiled programs under $XDG_CACHE_HOME/evjax/jax: a second run loads
    them (nothing new is written) and prints the same numbers."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    command = [sys.executable, "-m", "evjax", "solve", "--json"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    folder = tmp_path / "evjax" / "jax"
    entries = sorted(p.name for p in folder.iterdir())
    assert entries
    second = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert sorted(p.name for p in folder.iterdir()) == entries  # loaded, nothing recompiled


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    from evjax.cli import compilation_cache_dir

    monkeypatch.delenv("EVJAX_NO_COMPILATION_CACHE", raising=False)
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache_dir() == str(tmp_path / "evjax" / "jax")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert compilation_cache_dir() == str(tmp_path / "home" / ".cache" / "evjax" / "jax")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert compilation_cache_dir() == str(tmp_path / "jax")
    monkeypatch.setenv("EVJAX_NO_COMPILATION_CACHE", "1")
    assert compilation_cache_dir() is None
