"""The deck pricing game of paper 003 (evjax.decks), checked against independent references.

The game separates by hour (profits and grid constraints of hour t involve only hour t's
prices), so a reduced day of two hours of the default day (03 h: grid slack; 19 h: the evening
peak, where the grid binds) has exactly the equilibrium of those hours in the full day; the
tests use it to stay fast. References (tests/deck_helpers.py, numpy, no evjax): the model and
grid re-implemented, and each deck's best response found globally by grid search with zooms.
"""

import io
import json
from contextlib import redirect_stdout

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evjax.cli import main
from evjax.decks import (DEFAULTS, EXPERIMENTS, build_game, default_scenario, elasticities,
                         equilibrium, experiment, hours, validate, without_grid)
from evjax.decks.game import hour_game
from evjax.decks.market import customers, sc_share
from evjax.decks.report import (_certify_by_hour, _solve, best_response_gains, describe,
                                join_hours)
from evjax.solvers import RESULTS, result_code, solve

from deck_helpers import DeckReference, bill, sc_count

NIGHT, EVENING = 0, 1  # positions of hours 3 and 19 in the reduced day
SCENARIO = hours(default_scenario(), [3, 19])


def slack_grid(scenario):
    """The scenario with every grid rating multiplied by 1000 (constraints present, slack)."""
    s = json.loads(json.dumps(scenario))
    g = s["grid"]
    for k in ("transformer_kw", "backbone_a", "service_a"):
        g[k] = np.multiply(g[k], 1e3).tolist()
    g["impedance_ohm"] = np.multiply(g["impedance_ohm"], 1e-3).tolist()
    g["imbalance"] = 1e3
    return s


@pytest.fixture(scope="module")
def solved():
    """Every experiment on the reduced day, with the grid: (scenario, game, solution)."""
    out = {}
    for name in EXPERIMENTS:
        s = experiment(SCENARIO, name)
        game = build_game(s)
        # hour by hour, as the CLI solves (one compilation of the 1-hour game for all)
        out[name] = (s, game, join_hours([_solve(g, g.start())
                                          for g in (hour_game(game, t) for t in range(2))]))
    return out


def mean_prices(sol):
    x = np.asarray(sol.value)
    return x[0::2].mean(axis=1), x[1::2].mean(axis=1)


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("buy_in"), "missing field 'buy_in'"),
    (lambda s: s["decks"][2].pop("sc"), "missing field 'decks[2].sc'"),
    (lambda s: s["decks"][1].__setitem__("lsc", [1.0]), "decks[1].lsc must have 2 entries"),
    (lambda s: s["decks"][0]["sc"].__setitem__(1, -3.0), "decks[0].sc must be >= 0"),
    (lambda s: s["grid"].__setitem__("backbone_a", -1.0), "grid.backbone_a must be > 0"),
    (lambda s: s["decks"][4].__setitem__("phase", "D"), "decks[4].phase must be one of"),
    (lambda s: s["grid"].__setitem__("transformer_kw", 10.0),
     "grid.transformer_kw: the grid is infeasible at every price"),
    (lambda s: s.__setitem__("charging_box", [2.0, 0.2]), "charging_box must be [lower, upper]"),
])
def test_bad_scenarios_raise_errors_naming_the_field(edit, message):
    s = json.loads(json.dumps(SCENARIO))
    edit(s)
    with pytest.raises(ValueError) as err:
        build_game(s)
    assert message in str(err.value)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.__setitem__("kapa", 1.0), "unknown field 'kapa' in the scenario; did you mean"),
    (lambda s: s.__setitem__("sc_bet", 3.0), "unknown field 'sc_bet' in the scenario; did you "
     "mean 'sc_beta'?"),
    (lambda s: s.__setitem__("kappa", 0.5), "unknown field 'kappa' in the scenario: the linear "
     "SC demand"),
    (lambda s: s["decks"][3].__setitem__("lsc_", [1.0, 1.0]), "unknown field 'decks[3].lsc_'"),
    (lambda s: s["grid"].__setitem__("transformer", 1.0),
     "unknown field 'grid.transformer' in the scenario; did you mean 'grid.transformer_kw'?"),
    (lambda s: s.__setitem__("sc_beta", -1.0), "sc_beta must be > 0"),
    (lambda s: s.__setitem__("sc_outside", "1"), "sc_outside must be numbers"),
])
def test_unknown_and_bad_fields_are_refused(edit, message):
    s = json.loads(json.dumps(SCENARIO))
    edit(s)
    with pytest.raises(ValueError) as err:
        build_game(s)
    assert message in str(err.value)


def test_an_omitted_field_gets_the_default_days_value():
    """One default per field: the default day is built from DEFAULTS, and a scenario that
    omits a field gets that same value (the built game is identical)."""
    full = json.loads(json.dumps(SCENARIO))
    bare = {k: v for k, v in full.items() if k not in DEFAULTS}
    bare["decks"] = [{k: v for k, v in d.items() if k != "cost"} for d in full["decks"]]
    bare["grid"] = {"v_phase": full["grid"]["v_phase"]}
    assert validate(bare) == validate(full)
    a, b = build_game(bare), build_game(full)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    day = default_scenario()
    assert {k: day[k] for k in DEFAULTS} == {k: list(v) if isinstance(v, tuple) else v
                                             for k, v in DEFAULTS.items()}


@pytest.mark.parametrize("keep, message", [
    ([30], "hour 30 is not an hour of this scenario"),
    ([-1], "hour -1 is not an hour of this scenario"),
    ([1.5], "hour 1.5 is not an hour"),
    ([], "at least one hour"),
    ([3, 3], "hour 3 is listed twice"),
])
def test_hours_refuses_bad_indices(keep, message):
    with pytest.raises(ValueError, match=message):
        hours(default_scenario(), keep)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("hours"), "missing field 'hours'"),
    (lambda s: s.__setitem__("hours", "2"), "hours must be a positive integer, got '2'"),
    (lambda s: s.__setitem__("hours", 3), "decks[0].lc_park must have 3 entries"),
])
@pytest.mark.parametrize("name", ["deck6-no-sc", "sc-to-lc-lsc"])
def test_bad_hours_with_an_experiment_is_a_clear_error(tmp_path, capsys, edit, message, name):
    """Before: the experiment's transformation ran on the unchecked scenario (KeyError or
    TypeError tracebacks); now the scenario is validated first, in the API and the CLI."""
    s = json.loads(json.dumps(SCENARIO))
    edit(s)
    with pytest.raises(ValueError) as err:
        experiment(s, name)
    assert message in str(err.value)
    path = tmp_path / "day.json"
    path.write_text(json.dumps(s))
    code = main(["decks", str(path), "--experiment", name, "--no-certify"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_unknown_experiment_is_named():
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        experiment(SCENARIO, "nope")


def test_experiments_are_data_transformations():
    base = default_scenario()
    sc = lambda s: np.array([d["sc"] for d in s["decks"]])  # noqa: E731
    total = lambda s: sum(np.sum(d[g]) for d in s["decks"] for g in ("lc_park", "lsc", "sc"))  # noqa: E731
    moved = experiment(base, "sc-to-lc-lsc")
    np.testing.assert_allclose(sc(base).sum(1) - sc(moved).sum(1), 100.0)
    for name in EXPERIMENTS:  # customers are moved between groups, never created
        np.testing.assert_allclose(total(experiment(base, name)),
                                   total(base) - (name == "deck6-no-sc") * np.sum(
                                       base["decks"][5]["sc"]) - (name == "deck6-no-lsc")
                                   * np.sum(base["decks"][5]["lsc"]))
    assert np.all(np.array(experiment(base, "deck6-no-sc")["decks"][5]["sc"]) == 0)
    assert np.all(np.array(experiment(base, "lc-to-lsc")["decks"][0]["lc_park"]) == 0)


# ----------------------------------------------------------------------- equilibria certified


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_is_an_equilibrium_by_independent_checks(solved, name):
    s, game, sol = solved[name]
    assert sol.result == RESULTS.successful, RESULTS[sol.result]
    ref = DeckReference(s)
    x = np.asarray(sol.value)
    profits = ref.profits(x)
    np.testing.assert_allclose(np.asarray(game.payoffs(sol.value)), profits, rtol=1e-12)
    revenue = np.sum(np.abs(profits))
    assert float(sol.gap) < 1e-6 * revenue
    assert float(sol.gap) > -1e-6 * revenue  # a negative gap: the response is no maximiser
    c = ref.constraints(np.stack([ref.loads(x[0::2, t, None], x[1::2, t, None], t)[:, 0]
                                  for t in range(ref.h)], axis=1))
    assert c.max() <= 1e-8
    gains = ref.best_response_gains(x)
    assert np.all(gains <= 1e-6 * np.abs(profits)), (gains, profits)


def test_grid_binds_in_the_evening_only_and_multipliers_are_reported(solved):
    s, game, sol = solved["baseline"]
    eq = describe(game, sol, certify=False)
    binding = eq.binding
    assert binding and all(c["hour"] == EVENING for c in binding)
    assert all(c["multiplier"] > 1e-3 for c in binding)
    for c in eq.constraints:  # complementarity, to the solver's tolerances
        assert c["multiplier"] >= -1e-9 and c["slack"] >= -1e-8
        assert min(c["multiplier"], c["slack"]) < 1e-6
    night = [c["slack"] for c in eq.constraints if c["hour"] == NIGHT]
    assert min(night) > 0.05
    assert eq.clipped["lsc_charging_clipped"] == 0


def test_without_grid_limits_constrained_equals_unconstrained(solved):
    """Ratings x 1000: the constrained solver's answer is the unconstrained equilibrium, which
    the independent reference (no grid) certifies; then, with the real ratings, evening prices
    rise where the grid binds and night prices stay put."""
    _, game, sol = solved["baseline"]
    slack = build_game(slack_grid(SCENARIO))
    relaxed = join_hours([_solve(g, g.start()) for g in (hour_game(slack, t) for t in range(2))])
    assert relaxed.result == RESULTS.successful
    assert np.all(np.asarray(relaxed.response.shared_mult) < 1e-8)
    x0 = np.asarray(relaxed.value)
    ref = DeckReference(SCENARIO, grid=False)
    assert np.all(ref.best_response_gains(x0) <= 1e-6 * np.abs(ref.profits(x0)))
    free = build_game(without_grid(SCENARIO))  # the same equilibrium in the game without grid
    jac = np.asarray(jax.jacrev(free.payoffs)(relaxed.value))  # (I, 2I, H)
    own = np.stack([jac[r // 2, r] for r in range(x0.shape[0])])  # own-price derivatives
    lower, upper = (np.asarray(b) for b in free.bounds())
    interior = (x0 > lower + 1e-6) & (x0 < upper - 1e-6)
    assert np.abs(own[interior]).max() < 1e-6 * np.abs(ref.profits(x0)).max()
    x = np.asarray(sol.value)
    np.testing.assert_allclose(x[:, NIGHT], x0[:, NIGHT], atol=1e-9)
    rise = x[0::2, EVENING] - x0[0::2, EVENING]
    assert rise[0] > 0.01 and rise[3] > 0.01  # phase A (decks 1 and 4) binds


# ------------------------------------------------------------------------- paper findings


def assert_paper_findings(price, revenue):
    """The paper's three findings (decks.md), from mean charging prices and revenues per
    experiment ((6,) arrays keyed by experiment name)."""
    base = price["baseline"]
    # (a) Fig 4: deck 6 without SC raises its own mean charging price; the others barely move
    move = price["deck6-no-sc"] - base
    assert move[5] > 0.02, move
    assert np.abs(move[:5]).max() < 0.25 * move[5], move
    # (b) Figs 6-8: SC moved into LC/LSC raise every deck's mean charging price
    for name in ("sc-to-lc-lsc", "half-sc-to-lsc"):
        assert np.all(price[name] - base > 1e-3), (name, price[name] - base)
    # (c) Fig 5: deck 6 loses more revenue without LSC than without SC
    loss = {n: revenue["baseline"][5] - revenue[n][5] for n in ("deck6-no-sc", "deck6-no-lsc")}
    assert loss["deck6-no-lsc"] > 2 * loss["deck6-no-sc"] > 0, loss


def test_paper_findings_hold(solved):
    price = {n: mean_prices(sol)[0] for n, (_, _, sol) in solved.items()}
    revenue = {n: np.asarray(game.payoffs(sol.value)) for n, (_, game, sol) in solved.items()}
    assert_paper_findings(price, revenue)


@pytest.mark.parametrize("beta", [3.0, 5.0])
def test_findings_and_certificates_hold_for_other_sc_sensitivities(beta):
    """decks.md sets beta = 4 from Table 1's order, not from the findings: at beta = 3 and 5
    every experiment the findings use is certified and the findings hold."""
    base = dict(SCENARIO, sc_beta=beta)
    names = ("baseline", "deck6-no-sc", "deck6-no-lsc", "sc-to-lc-lsc", "half-sc-to-lsc")
    eq = {n: equilibrium(build_game(experiment(base, n))) for n in names}
    for n, r in eq.items():
        assert r.certified, (n, r.message, r.relative_gain, r.restarts)
        sc, lsc = r.elasticity["sc"], r.elasticity["lsc_charging"]
        both = np.isfinite(sc) & np.isfinite(lsc)  # (sc-to-lc-lsc moves all SC of 2 hours)
        assert np.all(sc[both] > lsc[both]), n
    assert_paper_findings({n: r.charging.mean(1) for n, r in eq.items()},
                          {n: r.revenue for n, r in eq.items()})


def test_sc_are_the_most_elastic_group_at_every_equilibrium(solved):
    """Table 1's order at the equilibrium of every experiment, in every deck-hour: SC more
    price-elastic than LSC charging, LC at zero; each elasticity against central finite
    differences of the numpy reference's counts (the deck's own charging price moved, every
    other price held)."""
    for name, (s, game, sol) in solved.items():
        el = describe(game, sol, certify=False).elasticity
        ref = DeckReference(s)
        x = np.asarray(sol.value)
        sc, lsc = ref.counts(x)
        h = 1e-6
        for i in range(6):
            up, down = x.copy(), x.copy()
            up[2 * i] += h
            down[2 * i] -= h
            for key, now, (a, b) in (("sc", sc, (ref.counts(up)[0], ref.counts(down)[0])),
                                     ("lsc_charging", lsc, (ref.counts(up)[1],
                                                            ref.counts(down)[1]))):
                present = now[i] > 0
                fd = -x[2 * i] * (a[i] - b[i]) / (2 * h) / np.where(present, now[i], 1.0)
                np.testing.assert_allclose(el[key][i][present], fd[present], rtol=1e-6)
                assert np.all(np.isnan(el[key][i][~present]))
        both = np.isfinite(el["sc"]) & np.isfinite(el["lsc_charging"])
        assert both.sum() >= 10 or name == "sc-to-lc-lsc", name  # it moves all SC of 2 hours
        assert np.all(el["sc"][both] > el["lsc_charging"][both]), name
        lc = el["lc"][np.isfinite(el["lc"])]
        assert np.all(lc == 0)


# ------------------------------------------------------------------------------ SC demand


def test_sc_demand_matches_the_numpy_reference_and_its_properties():
    """decks.md's SC logit: the evjax counts against the reference formula at random prices;
    c = s at the reference prices; dc/dr_i < 0 and dc/dm_i > 0 (finite differences of the
    reference); 0 < c < s (n + W) even at extreme bills; the elasticity at the reference
    prices is beta (n - 1 + W) / (n + W) in the bill (LSC charging's is 1)."""
    game = build_game(SCENARIO)
    m = game.market
    s, n = np.asarray(m.sc), 6
    counts = eqx.filter_jit(lambda market, x: customers(market, x).sc)  # jitted: eager is slow
    share_of = jax.jit(sc_share, static_argnums=4)
    rng = np.random.default_rng(5)
    for _ in range(5):
        x = rng.uniform([[0.2], [0.0]] * 6, [[2.0], [2.0]] * 6, (12, 2))
        r = bill(x[0::2], x[1::2], 7.2)
        others = (r.sum(0) - r) / 5
        expected = sc_count(s, r, others, 4.0, 1.0, n)
        np.testing.assert_allclose(np.asarray(counts(m, jnp.asarray(x))), expected, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(counts(m, jnp.ones((12, 2)))), s, rtol=1e-14)
    r0, m0 = rng.uniform(0.3, 1.8, 50), rng.uniform(0.3, 1.8, 50)
    h = 1e-6
    d_own = sc_count(1.0, r0 + h, m0, 4.0, 1.0, n) - sc_count(1.0, r0 - h, m0, 4.0, 1.0, n)
    d_others = sc_count(1.0, r0, m0 + h, 4.0, 1.0, n) - sc_count(1.0, r0, m0 - h, 4.0, 1.0, n)
    assert np.all(d_own < 0) and np.all(d_others > 0)
    grad_own = jax.jit(jax.vmap(jax.grad(sc_share), (0, 0, None, None, None)),
                       static_argnums=4)(jnp.asarray(r0), jnp.asarray(m0), 4.0, 1.0, n)
    np.testing.assert_allclose(np.asarray(grad_own), d_own / (2 * h), rtol=1e-6)
    extreme = jnp.asarray([-50.0, -5.0, 0.0, 1.0, 5.0, 50.0, 500.0])
    share = np.asarray(share_of(extreme[:, None], extreme[None, :], 4.0, 1.0, n))
    # in floating point the bounds are reached where an exponential under- or overflows
    assert np.all(np.isfinite(share)) and np.all(share >= 0) and np.all(share <= n + 1.0)
    assert np.all(share[:3, 3:] > 0)  # a low own bill against high others: positive
    moderate = np.asarray(share_of(jnp.asarray(r0), jnp.asarray(m0), 4.0, 1.0, n))
    assert np.all(moderate > 0) and np.all(moderate < n + 1.0)
    el = eqx.filter_jit(elasticities)(m, jnp.ones((12, 2)))
    np.testing.assert_allclose(np.asarray(el["sc"]), 4.0 * 6 / 7 * 7.2 / 8.2, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(el["lsc_charging"]), 1.0, rtol=1e-3)  # clip ~1e-4
    np.testing.assert_array_equal(np.asarray(el["lc"]), 0.0)


# ---------------------------------------------------------------------- non-concave restarts


def test_a_better_global_response_restarts_the_relaxation_from_it(solved):
    """decks.md, "Certification in a non-concave game": hand the certification a point where
    deck 1 sits at the box corner (a bad response); the global search finds a better one,
    the relaxation restarts from it and returns the certified equilibrium."""
    _, game, sol = solved["baseline"]
    games = [hour_game(game, t) for t in range(2)]
    start = [_solve(g, g.start()) for g in games]
    bad = np.asarray(start[EVENING].value).copy()
    bad[0:2] = [[2.0], [0.0]]
    spoiled = eqx.tree_at(lambda z: z.value, start[EVENING], jnp.asarray(bad))
    sols, gains, log = _certify_by_hour(game, games, [start[NIGHT], spoiled], restarts=3)
    assert log and log[0]["hour"] == EVENING and 1 in log[0]["decks"] and log[0]["gain"] > 1
    assert log[-1]["result"] == result_code(RESULTS.successful)
    np.testing.assert_allclose(np.asarray(sols[EVENING].value), np.asarray(start[EVENING].value),
                               atol=1e-6)
    assert np.all(gains <= 1e-9 * np.abs(np.asarray(game.payoffs(sol.value)))[:, None])


# ------------------------------------------------------------------------------ gradients


def _with(game, field, value):
    return eqx.tree_at(lambda g: getattr(g.market, field), game, value)


def test_implicit_gradients_match_finite_differences_of_resolved_equilibria(solved):
    game = hour_game(solved["baseline"][1], EVENING)  # the transformer binds here
    w = jnp.asarray(np.random.default_rng(0).uniform(0.5, 1.5, 6))

    def value(g):
        return jnp.dot(w, g.payoffs(solve(g, throw=False).value))

    grad = eqx.filter_jit(eqx.filter_grad(value))(game)
    rng = np.random.default_rng(1)
    for field in ("buy", "alpha", "sc_beta", "sc_outside", "lsc", "sc", "lc_charge"):
        base = getattr(game.market, field)
        d = jnp.asarray(rng.normal(size=base.shape)) * (jnp.abs(base) + (field == "buy"))
        d = d / jnp.max(jnp.abs(d))
        implicit = float(jnp.sum(getattr(grad.market, field) * d))
        h = 1e-4 * max(1.0, float(jnp.max(jnp.abs(base))))
        plus, minus = (float(jnp.dot(w, g.payoffs(_solve(g, g.start()).value)))
                       for g in (_with(game, field, base + h * d), _with(game, field, base - h * d)))
        fd = (plus - minus) / (2 * h)
        assert abs(implicit - fd) <= 1e-5 * max(1.0, abs(fd)), (field, implicit, fd)


# ------------------------------------------------------------------------------------ CLI


def test_cli_lists_experiments_and_prints_json(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["decks", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in EXPERIMENTS)
    path = tmp_path / "day.json"
    path.write_text(json.dumps(SCENARIO))
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["decks", str(path), "--experiment", "deck6-no-sc", "--json",
                     "--no-certify"])
    assert code == 0
    out = json.loads(buf.getvalue())
    assert {"decks", "ni_gap", "max_violation", "steps"} <= set(out)
    assert len(out["decks"]) == 6 and {"mean_charging_price", "mean_parking_fee",
                                       "revenue"} <= set(out["decks"][0])
    assert out["max_violation"] <= 1e-8 and out["binding"]


def test_library_certificate_agrees_with_the_reference_away_from_equilibrium(solved):
    s, game, sol = solved["baseline"]
    x = np.asarray(sol.value).copy()
    x[0::2] -= 0.1  # every deck charges 0.1 less: not an equilibrium
    x[8, EVENING] = 1.0  # deck 5 parks for less in the evening
    x = np.clip(x, *(np.asarray(b) for b in game.bounds()))
    ref = DeckReference(s)
    expected = ref.best_response_gains(x)
    got = np.asarray(best_response_gains(game, jnp.asarray(x)))
    assert np.all(expected > 0.5)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_the_day_is_the_product_of_its_hours(solved):
    """What solving hour by hour rests on: payoffs and grid constraints of the day are the
    hourly ones side by side (each hourly game carries the fixed cost, the day once)."""
    _, game, sol = solved["baseline"]
    x = np.asarray(sol.value) + np.random.default_rng(3).uniform(-0.1, 0.1, (12, 2))
    hourly = [hour_game(game, t) for t in range(2)]
    total = sum(np.asarray(g.payoffs(jnp.asarray(x[:, t:t + 1]))) for t, g in enumerate(hourly))
    np.testing.assert_allclose(total + np.asarray(game.market.cost),
                               np.asarray(game.payoffs(jnp.asarray(x))), rtol=1e-12)
    np.testing.assert_allclose(
        np.concatenate([np.asarray(g.grid_constraints(jnp.asarray(x[:, t:t + 1])))
                        for t, g in enumerate(hourly)], axis=1),
        np.asarray(game.grid_constraints(jnp.asarray(x))), rtol=1e-12)


def test_plots_leave_the_callers_matplotlib_backend_alone(solved, tmp_path):
    """An evjax figure is a bare matplotlib Figure: drawing and saving one neither switches the
    caller's backend (evjax once forced Agg) nor leaves a figure in pyplot's list."""
    import matplotlib
    import matplotlib.pyplot as plt

    from evjax.decks import plot

    scenario, game, sol = solved["baseline"]
    r = describe(game, sol, certify=False)
    names = [d["name"] for d in scenario["decks"]]
    before, open_before = matplotlib.get_backend(), plt.get_fignums()
    matplotlib.use("svg")  # a backend evjax would not pick itself
    try:
        plot.prices(r, names, tmp_path / "prices.png")
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == open_before
        assert (tmp_path / "prices.png").stat().st_size > 10_000
    finally:
        matplotlib.use(before)
