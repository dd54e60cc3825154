"""Bad input ends in a one-line error naming the value, never in a wrong answer (issue 18,
section 6): the API raises ValueError, the CLI exits 2 with one line on stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import helpers as H
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import evjax
from evjax.charging.constrained import ConstrainedChargingGame
from evjax.charging.examples import figure2_game
from evjax.charging.metrics import group_costs
from evjax.charging.ratios import ratio, ratio_report, ratio_reasons, ratios_from_costs
from evjax.cli import main
from evjax.solvers import solve

jax.config.update("jax_enable_x64", True)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(code, out, err, needle):
    """Exit 2, nothing on stdout, one line on stderr (no traceback) containing ``needle``."""
    assert code == 2 and out == "", (code, out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err


@pytest.fixture(scope="module")
def example():
    """The Figure 2 game as a game-file dict (N = 5, T = 10, b = 0.5, coalition [[0, 1]])."""
    return evjax.io.game_to_dict(figure2_game(coalition_size=2), coalitions=[[0, 1]])


def write(tmp_path, data, name="game.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


# -- solver tolerance --------------------------------------------------------------------------


@pytest.mark.parametrize("tol", ["0", "-1", "nan", "inf"])
def test_solve_tol_must_be_positive_and_finite(tol, capsys):
    code, out, err = run(capsys, "solve", "--nonnegative", f"--tol={tol}")
    assert_usage_error(code, out, err, f"--tol must be a finite number > 0, got {float(tol)!r}")


@pytest.mark.parametrize("tol", [0.0, -1e-3, float("nan"), float("inf")])
def test_api_solve_tol_is_checked_before_solving(tol):
    game = ConstrainedChargingGame(figure2_game(coalition_size=2), (), nonnegative=True)
    with pytest.raises(ValueError, match=r"tol must be a finite number > 0, got"):
        solve(game, tol=tol)
    with pytest.raises(ValueError, match=r"response_tol must be a finite number > 0"):
        solve(game, response_tol=tol)


# -- demands and ratios ------------------------------------------------------------------------


@pytest.mark.parametrize("d0", [0.0, -1.0])
def test_demand_must_be_positive(d0, example, tmp_path, capsys):
    d = np.array([d0, 1.0, 5.0, 5.0, 5.0])
    g = figure2_game(coalition_size=2)
    with pytest.raises(ValueError, match=rf"d must be > 0, got {d0!r} at index \(0,\)"):
        evjax.ChargingGame(g.a, g.b, g.mu, d, g.xbar)
    with pytest.raises(ValueError, match=r"d must be > 0"):
        evjax.ChargingGame.from_shares(g.a, g.b, g.mu, d, g.xbar[2] / 5.0)
    path = write(tmp_path, {**example, "d": d.tolist()})
    # solve (and --nonnegative, where d < 0 is infeasible), design (an IndexError on main)
    for argv in (["solve", path], ["solve", path, "--nonnegative"], ["design", path]):
        assert_usage_error(*run(capsys, *argv), f"d must be > 0, got {d0!r}")


def test_design_refuses_a_zero_demand_game(example, tmp_path, capsys):
    """On main: d = 0 and xbar = 0 everywhere made every cost 0, NaN relaxed memberships and
    an IndexError when they were rounded (int(NaN))."""
    path = write(tmp_path, {**example, "d": [0.0] * 5, "xbar": [[0.0] * 10] * 5})
    assert_usage_error(*run(capsys, "design", path), "d must be > 0, got 0.0")


def mixed_sign_problem() -> H.Problem:
    """N = 3, T = 4, a = -1: the coalition [0, 1] pays -0.478 at C-Nash and +0.292 at Nash
    (values from the numpy KKT reference below); the other groups pay > 0."""
    rng = np.random.default_rng(6)
    mu, d = rng.uniform(0.1, 2, 3), rng.uniform(0.5, 3, 3)
    xbar = rng.uniform(-2, 2, (3, 4))
    xbar += (d - xbar.sum(axis=1))[:, None] / 4
    return H.Problem(np.full(4, -1.0), np.array(0.5), mu, d, xbar)


def test_ratio_of_a_non_positive_cost_is_undefined_with_its_reason():
    p, coalition = mixed_sign_problem(), [0, 1]
    nash = H.group_costs(p, H.solve(p, ()), coalition)  # numpy reference, apart from evjax
    cnash = H.group_costs(p, H.solve(p, [coalition]), coalition)
    assert cnash[1] < 0 < nash[1] and cnash[0] > 0 and cnash[2] > 0  # mixed signs for C
    game = p.game()
    ratios = np.asarray(evjax.cost_ratios(game, coalition))
    assert np.isnan(ratios[1])  # on main: -0.611, a "ratio" of costs of opposite sign
    np.testing.assert_allclose(ratios[[0, 2]], (nash / cnash)[[0, 2]], rtol=1e-12)
    # the same rule under vmap (traced masks)
    masks = jnp.asarray([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    batched = np.asarray(jax.vmap(lambda m: jnp.stack(evjax.cost_ratios(game, m)))(masks))
    np.testing.assert_allclose(batched[0], ratios, rtol=1e-12)
    x_n, x_c = evjax.equilibrium(game), evjax.equilibrium(game, [coalition])
    reasons = ratio_reasons(group_costs(game, x_n, coalition), group_costs(game, x_c, coalition),
                            coalition, 3)
    assert reasons[0] is None and reasons[2] is None
    assert f"C-Nash cost is {cnash[1]:.6g} <= 0" in reasons[1]


def test_the_ratio_rule_fills_every_non_positive_c_nash_cost():
    """One rule for every ratio: fill (NaN by default) where the C-Nash cost is <= 0, with a
    zero gradient there, and the plain quotient elsewhere."""
    cnash = jnp.asarray([2.0, 0.0, -1.0, 4.0])
    nash = jnp.asarray([3.0, 1.0, 5.0, 0.0])
    np.testing.assert_array_equal(ratios_from_costs(cnash, nash), [1.5, np.nan, np.nan, 0.0])
    np.testing.assert_array_equal(ratios_from_costs(cnash, nash, fill=-1.0), [1.5, -1, -1, 0])
    np.testing.assert_array_equal(ratio(nash, cnash), ratios_from_costs(cnash, nash))
    grad = jax.grad(lambda c: jnp.nansum(ratio(nash, c)))(cnash)
    np.testing.assert_array_equal(grad, [-0.75, 0.0, 0.0, 0.0])
    costs = evjax.GroupCosts(*nash[:3])
    values, reasons = ratio_report(costs, evjax.GroupCosts(*cnash[:3]), [0], 3)
    assert values == [1.5, None, None] and reasons[0] is None and "<= 0" in reasons[2]


def test_cli_reports_undefined_ratios_with_the_reason(tmp_path, capsys):
    p = mixed_sign_problem()
    path = write(tmp_path, {"a": p.a.tolist(), "b": float(p.b), "mu": p.mu.tolist(),
                            "d": p.d.tolist(), "xbar": p.xbar.tolist()})
    code, out, _ = run(capsys, "solve", path, "--coalition", "0,1", "--json")
    result = json.loads(out)  # strict JSON: no NaN
    assert code == 0 and result["ratios"][1] is None and result["ratios"][0] is not None
    assert result["ratio_reasons"][0] is None and "<= 0" in result["ratio_reasons"][1]
    code, out, _ = run(capsys, "solve", path, "--coalition", "0,1")
    assert code == 0 and "M_C: undefined: the group's C-Nash cost is" in out
    code, out, _ = run(capsys, "solve", path, "--coalition", "0,1,2", "--json")
    assert json.loads(out)["ratio_reasons"][2] == "undefined: the group has no outsiders " \
                                                  "(the grand coalition)"


# -- membership arrays -------------------------------------------------------------------------


def test_all_zero_membership_raises_like_an_empty_coalition():
    g = figure2_game(coalition_size=2)
    with pytest.raises(ValueError, match=r"coalition 0 \(\[\]\) is empty"):
        evjax.cost_ratios(g, [])
    for call in (lambda: evjax.cost_ratios(g, np.zeros(5)),
                 lambda: evjax.equilibrium(g, np.array([[1.0, 1, 0, 0, 0], [0, 0, 0, 0, 0]])),
                 lambda: ConstrainedChargingGame(g, np.zeros(5), nonnegative=True)):
        with pytest.raises(ValueError, match=r"coalition \d of the membership array has no member"):
            call()


@pytest.mark.parametrize("mask,needle", [
    (np.array([[1.0, 1, 0, 0, 0], [0, 1, 1, 0, 0]]), "station 1 has total membership 2.0 > 1"),
    (np.array([2.0, -1, 0, 0, 0]), "membership entries must lie in [0, 1]"),
    (np.array([0.5, np.nan, 0, 0, 0]), "membership entries must lie in [0, 1]"),
])
def test_constrained_game_validates_membership_arrays(mask, needle):
    """On main these were accepted and the NI solver reported them converged (result 0)."""
    with pytest.raises(ValueError) as info:
        ConstrainedChargingGame(figure2_game(coalition_size=2), mask, nonnegative=True)
    assert needle in str(info.value)


def test_constrained_game_refuses_a_membership_array_of_the_wrong_shape():
    g = figure2_game(coalition_size=2)
    for mask, shape in ((np.ones((2, 3)), r"\(2, 3\)"), (np.ones((1, 2, 5)), r"\(1, 2, 5\)")):
        with pytest.raises(ValueError, match=rf"membership array must have shape \(K, 5\) or "
                                             rf"\(5,\), got {shape}"):
            ConstrainedChargingGame(g, mask, nonnegative=True)


def test_constrained_game_takes_traced_membership_arrays_under_vmap():
    """Traced memberships cannot be checked by value; they pass on their shape (coalitions as
    data, as constrained sweeps use them)."""
    g = figure2_game(coalition_size=2)
    masks = jnp.asarray([[1.0, 1, 0, 0, 0], [0, 0, 1, 1, 1]])
    held = jax.vmap(lambda m: ConstrainedChargingGame(g, m, nonnegative=True).membership)(masks)
    np.testing.assert_array_equal(np.asarray(held), np.asarray(masks)[:, None, :])
    with pytest.raises(ValueError, match="membership array must have shape"):
        jax.vmap(lambda m: ConstrainedChargingGame(g, m, nonnegative=True))(jnp.ones((2, 4)))


# -- options of design and sensitivity, strings, overflow --------------------------------------


def test_design_seed_and_sensitivity_top(capsys):
    assert_usage_error(*run(capsys, "design", "--seed", "-1"),
                       "seed must be an integer >= 0, got -1")
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        evjax.design.coalition_search(figure2_game(coalition_size=2), seed=-1)
    for top in ("-5", "0"):  # on main: LinAlgError from the plot, or "the -5 largest"
        for extra in ((), ("--no-plot",)):
            assert_usage_error(*run(capsys, "sensitivity", "--coalition", "0,1", "--top", top,
                                    *extra), f"--top must be >= 1, got {top}")


def test_numbers_given_as_strings_are_a_value_error(example, tmp_path, capsys):
    g = figure2_game(coalition_size=2)
    for mu in (["0.1", "0.1", "1", "1", "1"], np.array(["0.1"] * 5)):  # TypeError on main
        with pytest.raises(ValueError, match=r"mu must be numeric, got .*0\.1"):
            evjax.ChargingGame(g.a, g.b, mu, g.d, g.xbar)
    path = write(tmp_path, {**example, "mu": ["0.1", "0.1", "1", "1", "1"]})
    assert_usage_error(*run(capsys, "solve", path), "mu must hold numbers only")


@pytest.mark.parametrize("change,needle", [
    ({"b": 1e300}, "non-finite equilibrium x"),
    ({"d": [1e200, 1.0, 5.0, 5.0, 5.0]}, "non-finite station costs"),
])
def test_overflow_is_refused_not_reported_as_nan(change, needle, example, tmp_path, capsys):
    data = {**example, **change}
    if "d" in change:  # keep xbar = d alpha (Assumption 4.1)
        data["xbar"] = (np.asarray(change["d"])[:, None]
                        * np.asarray(example["xbar"][2]) / 5.0).tolist()
    game, _ = evjax.io.game_from_dict(data)
    big = "|b| 1e+300" if "b" in change else "|d| 1e+200"
    with pytest.raises(ValueError, match="float64 overflowed") as info:
        evjax.cost_ratios(game, [0, 1])  # NaN ratios on main
    assert big in str(info.value)
    with pytest.raises(ValueError, match=needle):
        evjax.station_costs(game, evjax.equilibrium(game, [[0, 1]]))
    path = write(tmp_path, data)
    assert_usage_error(*run(capsys, "solve", path), needle)
    if "b" in change:  # NaN sensitivities and an IndexError-prone search on main
        assert_usage_error(*run(capsys, "sensitivity", path, "--coalition", "0,1", "--no-plot"),
                           "float64 overflowed")
        # the search stops at NaN memberships, or the coalition it found has no finite costs
        assert_usage_error(*run(capsys, "design", path, "--restarts", "2", "--steps", "3"),
                           "float64 overflow")


# -- output folders ----------------------------------------------------------------------------


def test_unwritable_out_is_refused_before_any_work(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    inside_a_file = str(a_file / "sub")
    for argv in (["sensitivity", "--coalition", "0,1", "--out", inside_a_file],
                 ["reproduce", "kudva2024", "--quick", "--out", inside_a_file]):
        assert_usage_error(*run(capsys, *argv), f"--out '{inside_a_file}' cannot be created")
    for argv in (["sensitivity", "--coalition", "0,1", "--out", str(a_file)],
                 ["reproduce", "kudva2024", "--quick", "--out", str(a_file)]):
        assert_usage_error(*run(capsys, *argv), "exists and is not a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_pyarrow_hint_names_a_command_that_works_from_a_clone(monkeypatch):
    from evjax.sweeps import table

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ValueError, match=r"pip install pyarrow") as info:
        table._pyarrow()
    assert "evjax[parquet]" not in str(info.value) and "'.[parquet]'" in str(info.value)


# -- float64 -----------------------------------------------------------------------------------

FLOAT32_SCRIPT = """
import sys
from pathlib import Path
import jax.numpy as jnp
import evjax, evjax.reproduce
T = 10
alpha = jnp.where(jnp.arange(T) < T // 2, 0.4 / T, 1.6 / T)   # the README's example
try:
    evjax.ChargingGame.from_shares(jnp.full(T, 0.5), 0.5, jnp.array([0.1, 0.1, 1.0, 1.0, 1.0]),
                                   jnp.array([1.0, 1.0, 5.0, 5.0, 5.0]), alpha)
except ValueError as exc:
    print("from_shares:", exc)
try:
    evjax.reproduce.load("kudva2024").reproduce(Path(sys.argv[1]), quick=True, progress=False)
except ValueError as exc:
    print("reproduce:", exc)
"""


def test_float32_errors_say_that_float64_is_needed(tmp_path):
    out = tmp_path / "figures"
    env = {k: v for k, v in __import__("os").environ.items() if k != "JAX_ENABLE_X64"}
    proc = subprocess.run([sys.executable, "-c", FLOAT32_SCRIPT, str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 2, (proc.stdout, proc.stderr)
    hint = "needs float64, but JAX runs in float32: call jax.config.update('jax_enable_x64', True)"
    assert lines[0].startswith("from_shares: alpha (it sums to 0.99999") and hint in lines[0]
    assert lines[1].startswith("reproduce: reproducing kudva2024") and hint in lines[1]
    assert not out.exists()  # nothing written (main wrote Figures 2-4 in float32 first)


def test_parameter_design_keeps_demands_positive():
    game = figure2_game(coalition_size=2)
    with pytest.raises(ValueError, match="d must stay positive: its lower bounds must be > 0"):
        evjax.design.design_parameters(game, [0, 1], parameter="d", bounds=(-1.0, 10.0),
                                       at_least=1.0)
