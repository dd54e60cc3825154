"""Paper 003's Figures 3-10 in one call (evjax.reproduce.jiang2023), in quick mode.

Quick mode is the two-hour day of tests/test_decks.py (03 h, grid slack; 19 h, the evening
peak where the grid binds). Every figure's CSV is checked against a computation that does not
go through the reproduction: direct solves of the experiment decks.md names for that figure,
the numpy model and global best-response search of tests/deck_helpers.py, and, for Fig 3, the
relaxation's first step rebuilt from reference best responses.
"""

import csv
import dataclasses

import numpy as np
import pytest

from evjax.decks import build_game, default_scenario, equilibrium, experiment, hours
from evjax.reproduce import jiang2023
from evjax.reproduce.jiang2023 import reproduce
from evjax.solvers import RESULTS, result_code

from deck_helpers import DeckReference

SCENARIO = hours(default_scenario(), [3, 19])
# decks.md, "Default day and the paper's experiments": which experiment each figure shows
COMPARED = {"fig4": "deck6-no-sc", "fig5": "deck6-no-lsc", "fig6": "sc-to-lc-lsc",
            "fig8": "half-sc-to-lsc", "fig9": "lc-to-lsc", "fig10": "half-lsc-to-lc"}
TABLES = ("certificates", "parameters", "findings")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("jiang2023")
    return out, reproduce(out, quick=True, progress=False)


def table(out, name) -> dict:
    """A written CSV as columns: float arrays where every entry is a number, else strings."""
    with (out / f"{name}.csv").open() as fh:
        rows = list(csv.reader(fh))
    cols = {}
    for j, key in enumerate(rows[0]):
        values = [r[j] for r in rows[1:]]
        try:
            cols[key] = np.array(values, float)
        except ValueError:
            cols[key] = values
    return cols


@pytest.fixture(scope="module")
def direct():
    """Every experiment solved directly through evjax.decks (no reproduction code)."""
    return {name: equilibrium(build_game(experiment(SCENARIO, name)), certify=False)
            for name in ("baseline", *COMPARED.values())}


def hourly_x(cols, suffix=""):
    """The (2I, H) joint prices from a Fig 7 table (rows ordered deck-major, hour-minor)."""
    n, h = int(cols["deck"].max()), len(set(cols["hour"]))
    x = np.empty((2 * n, h))
    x[0::2] = cols["charging" + suffix].reshape(n, h)
    x[1::2] = cols["parking" + suffix].reshape(n, h)
    return x


def test_writes_figures_3_to_10_as_png_and_csv_and_the_tables(run):
    out, files = run
    expected = {f"fig{k}.{ext}" for k in range(3, 11) for ext in ("png", "csv")}
    expected |= {f"{t}.csv" for t in TABLES}
    assert sorted(f.name for f in files) == sorted(expected)
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for f in files:
        assert f.stat().st_size > 100
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_comparison_figures_compare_the_named_experiment_with_the_baseline(run, direct):
    out, _ = run
    base = direct["baseline"]
    for fig, name in COMPARED.items():
        cols = table(out, fig)
        r = direct[name]
        np.testing.assert_array_equal(cols["deck"], np.arange(1, 7))
        for label, eq in (("baseline", base), ("experiment", r)):
            np.testing.assert_allclose(cols[f"charging_{label}"], eq.charging.mean(1), atol=1e-9)
            np.testing.assert_allclose(cols[f"parking_{label}"], eq.parking.mean(1), atol=1e-9)
            np.testing.assert_allclose(cols[f"revenue_{label}"], eq.revenue, rtol=1e-9)
        moved = np.abs(cols["revenue_experiment"] - cols["revenue_baseline"]).max()
        assert moved > 1.0, (fig, moved)  # a real comparison, not the baseline twice


def test_fig7_is_an_equilibrium_by_the_reference_and_agrees_with_fig6(run):
    out, _ = run
    cols = table(out, "fig7")
    np.testing.assert_array_equal(sorted(set(cols["hour"])), [3, 19])
    fig4, fig6 = table(out, "fig4"), table(out, "fig6")
    for suffix, scenario, shown in (("", experiment(SCENARIO, "sc-to-lc-lsc"), "experiment"),
                                    ("_baseline", SCENARIO, "baseline")):
        x = hourly_x(cols, suffix)
        ref = DeckReference(scenario)
        profits = ref.profits(x)
        per_deck = fig6 if shown == "experiment" else fig4
        np.testing.assert_allclose(profits, per_deck[f"revenue_{shown}"], rtol=1e-9)
        np.testing.assert_allclose(x[0::2].mean(1), per_deck[f"charging_{shown}"], atol=1e-12)
        loads = np.stack([ref.loads(x[0::2, t, None], x[1::2, t, None], t)[:, 0]
                          for t in range(2)], axis=1)
        assert ref.constraints(loads).max() <= 1e-8
        assert np.all(ref.best_response_gains(x) <= 1e-6 * np.abs(profits))


def test_fig3_is_the_relaxation_path_from_the_start_price_to_the_equilibrium(run):
    out, _ = run
    cols = table(out, "fig3")
    it = cols["iteration"]
    at = lambda k, key: cols[key][it == k]  # noqa: E731  (6,) per deck
    np.testing.assert_allclose(at(0, "charging"), 0.5)
    np.testing.assert_allclose(at(0, "parking"), 0.5)
    # x_1 = x_0 + (Z(x_0) - x_0) / 2 (eq (27)), Z(x_0) = argmax over grid-feasible y of
    # sum_i R_i(y_i, x_0,-i). At 03 h the decks' own best responses to x_0 meet the grid, so
    # Z is them (reference search); at 19 h they do not, and Z (read off Fig 3 with the
    # 03 h part known) must be feasible, on the grid's boundary, and beat feasible samples.
    ref, free = DeckReference(SCENARIO), DeckReference(SCENARIO, grid=False)
    x0 = np.full((12, 2), 0.5)
    night = np.array([free.hour_best(i, 0, x0)[1:] for i in range(6)]).ravel()
    evening = np.array([free.hour_best(i, 1, x0)[1:] for i in range(6)]).ravel()

    def grid(y, t):  # (K, G) constraint values of candidate columns y (12, G) at hour t
        return ref.constraints(ref.loads(y[0::2], y[1::2], t))

    def value(y, t):  # (G,) sum_i R_i(y_i, x0_-i) at hour t
        return sum(ref.hour_profit(i, t, y[2 * i], y[2 * i + 1], x0) for i in range(6))

    assert grid(night[:, None], 0).max() < 0 < grid(evening[:, None], 1).max()
    mean1 = np.stack([at(1, "charging"), at(1, "parking")], axis=1).ravel()  # (12,)
    z = 2 * (2 * mean1 - (x0[:, 0] + night) / 2) - x0[:, 1]  # Z at 19 h
    assert -1e-6 < grid(z[:, None], 1).max() <= 1e-8
    rng = np.random.default_rng(0)
    lo, hi = np.tile([0.2, 0.0], 6), np.tile([2.0, 2.0], 6)
    samples = rng.uniform(lo[:, None], hi[:, None], (12, 20000))
    feasible = samples[:, grid(samples, 1).max(axis=0) <= 0]
    assert feasible.shape[1] > 100 and value(feasible, 1).max() <= value(z[:, None], 1)[0]
    x1 = np.stack([(x0[:, 0] + night) / 2, (x0[:, 1] + z) / 2], axis=1)
    np.testing.assert_allclose(at(1, "revenue"), ref.profits(x1), rtol=1e-6)
    # the path ends at the equilibrium of Fig 4's baseline (the solver's polished solution,
    # one row after the last relaxation step), where the NI gap is below tol
    last = it.max()
    fig4 = table(out, "fig4")
    np.testing.assert_allclose(at(last, "revenue"), fig4["revenue_baseline"], rtol=1e-12)
    gap = cols["ni_gap"][cols["deck"] == 1]
    assert abs(gap[-1]) < 1e-8 < gap[0]
    certificates = table(out, "certificates")
    baseline = certificates["experiment"].index("baseline")
    assert last == certificates["relaxation_steps"][baseline] + 1
    assert gap[-1] == certificates["ni_gap"][baseline]


def test_tables_certify_every_experiment_and_state_which_findings_hold(run):
    out, _ = run
    cert = table(out, "certificates")
    assert set(cert["experiment"]) == {"baseline", *COMPARED.values()}
    assert cert["certified"] == ["True"] * 7
    assert np.all(cert["max_relative_best_response_gain"] < 1e-6)
    assert np.all(cert["max_violation"] <= 1e-8)
    assert cert["binding_hours"][cert["experiment"].index("baseline")] == "19"
    found = table(out, "findings")
    holds = dict(zip(found["finding"], found["holds"], strict=True))
    value = dict(zip(found["finding"], found["value"], strict=True))
    fig4, fig5 = table(out, "fig4"), table(out, "fig5")
    own = fig4["charging_experiment"][5] - fig4["charging_baseline"][5]
    assert value["a deck losing its SC raises its own price"] == pytest.approx(own, rel=1e-12)
    others = np.abs(fig4["charging_experiment"][:5] - fig4["charging_baseline"][:5]).max()
    assert value["...while the other decks barely move"] == pytest.approx(others / own,
                                                                          rel=1e-12)
    loss = [f["revenue_baseline"][5] - f["revenue_experiment"][5] for f in (fig5, fig4)]
    key = "losing LSC costs a deck more revenue than losing SC"
    assert value[key] == pytest.approx(loss[0] / loss[1], rel=1e-12)
    for fig, name in (("fig6", "sc-to-lc-lsc"), ("fig8", "half-sc-to-lsc")):
        f = table(out, fig)
        key = f"fewer SC -> every deck prices higher ({name})"
        change = f["charging_experiment"] - f["charging_baseline"]
        assert value[key] == pytest.approx(change.min(), rel=1e-12)
    # every finding of the paper holds in this model (README, "Paper 003"), and SC are the
    # most price-elastic group at every equilibrium (certificates.csv, per experiment)
    assert set(holds.values()) == {"True"}, holds
    margin = dict(zip(cert["experiment"], cert["min_sc_minus_lsc_elasticity"], strict=True))
    assert np.isnan(margin.pop("sc-to-lc-lsc"))  # the two-hour day: all of its SC are moved
    assert min(margin.values()) > 0


@pytest.mark.parametrize("spoil, message", [
    (lambda r: dataclasses.replace(r, result=int(result_code(RESULTS.max_steps_reached)),
                                   message=RESULTS[RESULTS.max_steps_reached]),
     "did not reach tol"),
    (lambda r: dataclasses.replace(r, gains=1e-3 * np.abs(r.revenue)), "best-response gain 0.001"),
])
def test_refuses_to_write_figures_from_an_uncertified_equilibrium(tmp_path, monkeypatch, spoil,
                                                                  message):
    solve = jiang2023.equilibrium
    monkeypatch.setattr(jiang2023, "equilibrium", lambda game: spoil(solve(game)))
    with pytest.raises(RuntimeError, match="'baseline'") as err:
        reproduce(tmp_path / "out", quick=True, progress=False)
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()
