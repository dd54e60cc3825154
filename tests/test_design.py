"""evjax.design: coalition search, baselines, parameter design, sensitivities, CLI.

References are independent of evjax: every coalition's ratios by the numpy KKT solves of
``helpers`` (brute force over all 2^N - 1 coalitions of N = 8 stations), finite differences
of those ratios for the sensitivities, and the designed games re-solved the same way.
"""

from __future__ import annotations

import functools
import itertools
import json

import helpers as H
import jax
import numpy as np
import pytest

import evjax
from evjax.cli import main
from evjax.design import (
    coalition_search,
    design_parameters,
    greedy_search,
    random_search,
    sensitivity,
)

N, T = 8, 6
GROUPS = ("all", "coalition", "outside")


def paper_problem(seed: int, n: int = N, t: int = T) -> H.Problem:
    """Figure 4 style types (H: d = 5, mu = 1; L: d = 1, mu = 0.1) with jittered parameters."""
    rng = np.random.default_rng(seed)
    high = rng.random(n) < 0.35
    d = np.where(high, 5.0, 1.0) * np.exp(rng.uniform(-0.3, 0.3, n))
    mu = np.where(high, 1.0, 0.1) * np.exp(rng.uniform(-0.3, 0.3, n))
    alpha = H.shares("paper", t)
    a = 0.5 + 0.4 * rng.random(t)
    return H.Problem(a, np.asarray(rng.uniform(0.25, 1.0)), mu, d, np.outer(d, alpha))


@functools.cache
def brute_force(seed: int) -> dict:
    """{members tuple: (M_all, M_C, M_out)} for every non-empty coalition (numpy KKT solves)."""
    p = paper_problem(seed)
    x_nash = H.solve(p, ())
    out = {}
    for k in range(1, N + 1):
        for members in itertools.combinations(range(N), k):
            x = H.solve(p, (members,))
            c_nash, c = H.costs(p, x_nash), H.costs(p, x)
            m = np.zeros(N, bool)
            m[list(members)] = True
            outside = c_nash[~m].sum() / c[~m].sum() if (~m).any() else np.nan
            out[members] = (c_nash.sum() / c.sum(), c_nash[m].sum() / c[m].sum(), outside)
    return out


def best(table: dict, group: str, size=None, include=(), exclude=()) -> tuple[tuple, float]:
    j = GROUPS.index(group)
    feasible = {c: r[j] for c, r in table.items()
                if (size is None or len(c) == size) and set(include) <= set(c)
                and not set(exclude) & set(c) and np.isfinite(r[j])}
    members = max(feasible, key=feasible.get)
    return members, feasible[members]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("group,size", [("coalition", 3), ("coalition", None), ("all", None),
                                        ("outside", None), ("outside", 2)])
def test_search_finds_the_brute_force_optimum(seed, group, size):
    game = paper_problem(seed).game()
    result = coalition_search(game, group, size=size, restarts=4, steps=60)
    _, optimum = best(brute_force(seed), group, size)
    assert result.value == pytest.approx(optimum, rel=1e-12)
    assert result.ratios[GROUPS.index(group)] == pytest.approx(optimum, rel=1e-12)
    if size is not None:
        assert len(result.members) == size
    assert result.evaluations == result.relaxed_evaluations + result.exact_evaluations
    assert result.relaxed_evaluations == 4 * 60 and result.exact_evaluations > 0


def test_size_include_exclude_are_respected():
    game = paper_problem(0).game()
    table = brute_force(0)
    for include, exclude in (([1], [0, 2]), ([3, 5], [4])):
        result = coalition_search(game, "coalition", size=4, include=include, exclude=exclude,
                                  restarts=4, steps=60)
        assert len(result.members) == 4
        assert set(include) <= set(result.members) and not set(exclude) & set(result.members)
        _, optimum = best(table, "coalition", 4, include, exclude)
        assert result.value == pytest.approx(optimum, rel=1e-12)


def test_saving_objective_and_sigmoid_relaxation():
    p = paper_problem(1)
    game = p.game()
    result = coalition_search(game, "all", kind="saving", size=3, restarts=4, steps=60,
                              relaxation="sigmoid")
    x_nash = H.solve(p, ())
    savings = {c: H.costs(p, x_nash).sum() - H.costs(p, H.solve(p, (c,))).sum()
               for c in itertools.combinations(range(N), 3)}
    assert result.value == pytest.approx(max(savings.values()), rel=1e-9)
    assert savings[tuple(result.members)] == pytest.approx(result.value, rel=1e-9)


def test_bad_search_options_raise():
    game = paper_problem(0).game()
    with pytest.raises(ValueError, match="size = 9 is infeasible"):
        coalition_search(game, size=9)
    with pytest.raises(ValueError, match=r"stations \[2\] are both"):
        coalition_search(game, include=[2], exclude=[2])
    with pytest.raises(ValueError, match="group must be one of"):
        coalition_search(game, "everyone")
    with pytest.raises(ValueError, match="size = 8 is infeasible"):
        coalition_search(game, "outside", size=8)  # the outside group would be empty


def test_baselines_keep_to_their_budget():
    game = paper_problem(2).game()
    _, optimum = best(brute_force(2), "coalition", 3)
    greedy = greedy_search(game, "coalition", size=3, budget=100)
    rand = random_search(game, "coalition", size=3, budget=100, seed=1)
    for r in (greedy, rand):
        assert r.evaluations <= 100 and len(r.members) == 3 and r.value <= optimum * (1 + 1e-12)
        assert brute_force(2)[tuple(r.members)][1] == pytest.approx(r.value, rel=1e-12)


# -- parameter design --------------------------------------------------------------------------


def with_array(p: H.Problem, name: str, value) -> H.Problem:
    return p.with_(**{name: np.asarray(value)})


DESIGN_COALITION = [1, 2, 5]  # in paper_problem(0): M_C = 1.013464, M_out = 0.995094


@pytest.mark.parametrize("parameter,group,target", [
    ("mu", "outside", ("at_least", 1.0)),  # make the coalition harmless to outsiders
    ("a", "coalition", ("at_least", 1.0155)),  # a tariff that makes it pay off more
])
def test_parameter_design_meets_the_target_when_re_solved(parameter, group, target):
    p = paper_problem(0)
    game, coalition = p.game(), DESIGN_COALITION
    result = design_parameters(game, coalition, parameter=parameter, group=group,
                               **{target[0]: target[1]})
    j = GROUPS.index(group)
    assert result.ratios_before[j] < target[1] and result.feasible
    designed = with_array(p, parameter, result.value)
    if parameter == "mu":  # only the coalition's entries move (xbar keeps its value)
        outside = [i for i in range(N) if i not in coalition]
        assert np.array_equal(result.value[outside], p.mu[outside])
    again = H.ratios(designed, coalition)  # an independent re-solve of both equilibria
    assert again[j] >= target[1] - 1e-10
    # the smallest change on its ray: 1% less change misses the target
    shrunk = result.initial + 0.99 * (result.value - result.initial)
    assert H.ratios(with_array(p, parameter, shrunk), coalition)[j] < target[1]


def test_parameter_design_reports_an_unreachable_target():
    game = paper_problem(0).game()
    result = design_parameters(game, DESIGN_COALITION, parameter="mu", group="outside",
                               at_least=1.05, outer=4)
    assert not result.feasible and result.ratios_after.outside < 1.05
    with pytest.raises(ValueError, match="exactly one of at_least and at_most"):
        design_parameters(game, DESIGN_COALITION)


# -- sensitivities ----------------------------------------------------------------------------


def test_sensitivity_matches_finite_differences_and_is_ranked():
    p = paper_problem(3)
    coalition = [0, 1, 2]
    result = sensitivity(p.game(), coalition)
    names = ("a", "b", "mu", "d", "xbar")
    for k, name in enumerate(names):
        def ratios(v, k=k):
            arrays = list(p.arrays())
            arrays[k] = v
            return H.ratios(H.Problem(*arrays), coalition)

        fd = H.central_difference(ratios, p.arrays()[k])
        assert H.rel_error(result.gradients[name], fd) < 1e-6, name
    ranked = result.ranked("coalition")
    assert len(ranked) == 2 * N + T + 1 + N * T
    mags = [abs(r["derivative"]) for r in ranked]
    assert mags == sorted(mags, reverse=True)
    top = ranked[0]
    grad = result.gradients[top["parameter"]][1]
    assert grad[tuple(top["index"])] == top["derivative"] and abs(grad).max() == mags[0]


# -- command line -----------------------------------------------------------------------------


@pytest.fixture
def game_file(tmp_path, capsys):
    p = paper_problem(0)
    path = tmp_path / "game.json"
    path.write_text(json.dumps(evjax.io.game_to_dict(p.game())))
    return path


def test_cli_design_json(game_file, capsys):
    code = main(["design", str(game_file), "--objective", "coalition", "--size", "3",
                 "--include", "1", "--exclude", "0", "--restarts", "4", "--steps", "60", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    _, optimum = best(brute_force(0), "coalition", 3, [1], [0])
    assert len(out["members"]) == 3 and 1 in out["members"] and 0 not in out["members"]
    assert out["ratios"][1] == pytest.approx(optimum, rel=1e-12)
    assert out["evaluations"] == 4 * 60 + out["exact_evaluations"]
    assert main(["design", str(game_file), "--size", "20"]) == 2
    assert "size = 20 is infeasible" in capsys.readouterr().err


def test_cli_sensitivity_json_and_plot(game_file, tmp_path, capsys):
    code = main(["sensitivity", str(game_file), "--coalition", "0,1,2", "--json",
                 "--out", str(tmp_path / "plots")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and (tmp_path / "plots" / "sensitivity.png").stat().st_size > 10_000
    lib = sensitivity(evjax.io.load_game(game_file)[0], [0, 1, 2]).ranked("coalition")
    assert [r["derivative"] for r in out["ranked"]] == pytest.approx(
        [r["derivative"] for r in lib], rel=1e-12)
    assert len(out["ranked"]) == 2 * N + T + 1 + N * T and out["coalition"] == [0, 1, 2]
    assert main(["sensitivity", str(game_file), "--coalition", "0,9", "--no-plot"]) == 2


def test_exact_objective_with_time_varying_b_matches_numpy():
    """Time-varying b has no reduced form: exact values come from the closed form at 0/1
    masks (the search's only b-specific path; its relaxed ascent is the same code)."""
    from evjax.design import objective

    p = paper_problem(4, n=6, t=4)
    p = p.with_(b=np.random.default_rng(4).uniform(0.25, 1.0, 4))
    pairs = list(itertools.combinations(range(6), 2)) + [tuple(range(6))]
    masks = np.array([[float(i in c) for i in range(6)] for c in pairs])
    for j, group in enumerate(GROUPS):
        values = np.asarray(objective(p.game(), group).exact(masks))
        with np.errstate(invalid="ignore"):  # numpy's outside ratio of the grand coalition
            expected = [H.ratios(p, list(c))[j] for c in pairs]
        np.testing.assert_allclose(values[:-1], expected[:-1], rtol=1e-11)
        if group == "outside":  # the grand coalition has no outsiders
            assert values[-1] == -np.inf
        else:
            assert values[-1] == pytest.approx(expected[-1], rel=1e-11)


CONSTRAINED = dict(nonnegative=True, capacity=2.0)


def _constrained_problem():
    rng = np.random.default_rng(2)
    n, t = 5, 6
    return H.Problem(rng.uniform(1, 2, t), np.float64(0.5), rng.uniform(0.5, 2, n),
                     rng.uniform(1, 3, n), rng.uniform(0, 1, (n, t)))


def _constrained_coalition_ratio(p, mu):
    """M_C of {0, 1} under CONSTRAINED by the potential-game QP (numpy, no JAX)."""
    q = p.with_(mu=mu)
    costs = [np.asarray(evjax.station_costs(q.game(), H.potential_equilibrium(
        q, c, **CONSTRAINED)))[:2].sum() for c in ((), (0, 1))]
    return costs[0] / costs[1]


def test_sensitivity_of_the_constrained_game_matches_finite_differences():
    """The NI solver's implicit gradients against central differences of independently
    re-solved equilibria (the potential-game QP)."""
    p = _constrained_problem()
    game = evjax.ConstrainedChargingGame(p.game(), (), **CONSTRAINED)
    sens = sensitivity(game, [0, 1])
    fd = H.central_difference(lambda mu: _constrained_coalition_ratio(p, mu), p.mu, step=1e-5)
    np.testing.assert_allclose(sens.gradients["mu"][1], fd, rtol=1e-5, atol=1e-9)


def test_parameter_design_on_the_constrained_game_meets_the_target_by_an_independent_solve():
    """Through the NI solver's implicit gradients (x >= 0 and a grid capacity); the result is
    checked by the potential-game QP (numpy interior point, no JAX; tests/helpers.py)."""
    p = _constrained_problem()
    constraints = CONSTRAINED
    game = evjax.ConstrainedChargingGame(p.game(), (), **constraints)

    def coalition_ratio(mu):
        return _constrained_coalition_ratio(p, mu)

    before = coalition_ratio(p.mu)
    target = before + 5e-4
    res = design_parameters(game, [0, 1], parameter="mu", group="coalition", at_least=target,
                            outer=3, inner=8, learning_rate=0.05)
    assert res.feasible
    x = H.potential_equilibrium(p, (0, 1), **constraints)
    assert (x < 1e-9).any() and (x.sum(axis=0) > 2.0 - 1e-9).any()  # the constraints bind
    assert np.isclose(float(res.ratios_before.coalition), before, rtol=1e-9)
    assert coalition_ratio(np.asarray(res.value)) >= target - 1e-9
    changed = np.asarray(res.value) != p.mu
    np.testing.assert_array_equal(changed, [True, True, False, False, False])
