"""``evjax scenario``: its game files go through ``evjax solve`` and ``evjax decks``'s
reader unchanged; bad input exits 2 naming the value; its help loads no JAX."""

import json
import subprocess
import sys

from evjax.cli import main
from evjax.decks import load_scenario
from evjax.io import load_game


def _run(*args):
    return subprocess.run([sys.executable, "-m", "evjax", *args], capture_output=True,
                          text=True)


def test_scenario_charging_round_trip_through_solve(tmp_path, capsys):
    assert main(["scenario", "charging", "--date", "2023-07-15", "--stations",
                 "public:10,workplace:4,private:6", "--steps", "96", "--seed", "3"]) == 0
    path = tmp_path / "game.json"
    path.write_text(capsys.readouterr().out)
    game, coalitions = load_game(path)
    assert game.n_stations == 3 and game.n_steps == 96 and coalitions is None
    assert "ElaadNL" in json.loads(path.read_text())["description"]
    assert main(["solve", str(path), "--coalition", "0,2"]) == 0
    assert "M_C" in capsys.readouterr().out


def test_scenario_decks_and_list(tmp_path, capsys):
    assert main(["scenario", "decks", "--tariff", "pge-a-10", "--date", "2023-07-12"]) == 0
    path = tmp_path / "day.json"
    path.write_text(capsys.readouterr().out)
    assert load_scenario(path)["buy_in"][12] == 0.23223  # PG&E A-10 summer weekday peak
    assert main(["scenario", "--list"]) == 0
    out = capsys.readouterr().out
    assert "2015-01-02 to 2025-01-07" in out and "sce-tou-ev-8" in out and "private" in out


def test_scenario_bad_input_exits_2_naming_the_value(capsys):
    for argv, text in ((["charging", "--date", "2031-01-01", "--stations", "public:1"],
                        "2031-01-01"),
                       (["charging", "--date", "2023-07-15", "--stations", "bus:1"], "'bus'"),
                       (["charging", "--date", "2023-07-15"], "--stations"),
                       (["charging", "--date", "2023-07-15", "--stations", "public:1",
                         "--b", "0"], "--b"),
                       (["decks", "--tariff", "nope"], "'nope'"),
                       ([], "charging")):
        assert main(["scenario", *argv]) == 2
        assert text in capsys.readouterr().err


def test_scenario_help_loads_no_jax():
    code = ("import sys\nfrom evjax.cli import main\ntry:\n    main(['scenario', '--help'])\n"
            "except SystemExit as exc:\n    assert exc.code == 0\n"
            "print([m for m in ('jax', 'equinox', 'matplotlib') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert "    scenario " in _run("--help").stdout
