"""Paper 000, Figure 5: the three-station game, coalition {0, 1}, station 2 outside.

N = 3, T = 10, b = 1, a^t = 10; Type H: d = 5, mu = 5; Type L: d = 1, mu = 1; xbar = d alpha'
with a non-uniform alpha. A cell's verdict is "Coalition" when the ratio M_S (cost at Nash over
cost at C-Nash) is above 1 and "Nash" when below. The grids are as corrected by the seeds
README: the first printed grid is M_C, the second M_[N]\\C; the M_[N] grid is not printed and is
checked against Theorem 4.7 and the numpy KKT costs.
"""

from __future__ import annotations

import functools

import helpers as H
import numpy as np
import pytest

import evjax

T = 10
COALITION = [0, 1]
INSIDE = ("HH", "HL", "LL")
OUTSIDE = ("H", "L")
GROUPS = ("all", "coalition", "outside")

EXPECTED = {  # group -> outside type -> inside types -> verdict
    "coalition": {
        "H": {"HH": "Coalition", "HL": "Coalition", "LL": "Coalition"},
        "L": {"HH": "Nash", "HL": "Coalition", "LL": "Nash"},
    },
    "outside": {
        "H": {"HH": "Coalition", "HL": "Coalition", "LL": "Nash"},
        "L": {"HH": "Nash", "HL": "Nash", "LL": "Coalition"},
    },
    "all": {
        "H": {"HH": "Coalition", "HL": "Coalition", "LL": "Nash"},
        "L": {"HH": "Nash", "HL": "Coalition", "LL": "Coalition"},
    },
}

ALPHAS = {
    "paper": np.where(np.arange(T) < 5, 0.4 / T, 1.6 / T),  # the paper's eta_1, eta_2
    "dirichlet": np.random.default_rng(5).dirichlet(np.full(T, 2.0)),
}

CELLS = [(g, o, i) for g in GROUPS for o in OUTSIDE for i in INSIDE]


def _verdict(ratio: float) -> str:
    assert abs(ratio - 1.0) > 1e-9, ratio  # no cell of the figure is a tie
    return "Coalition" if ratio > 1.0 else "Nash"


def _problem(inside, outside, alpha):
    return H.typed_problem(inside + outside, [COALITION], t=T, a=10.0, b=1.0, alpha=alpha)


@functools.cache
def _ratios(inside, outside, alpha_name):
    """evjax.cost_ratios of one cell, as a numpy array (all, coalition, outside)."""
    p = _problem(inside, outside, ALPHAS[alpha_name])
    game = evjax.ChargingGame.from_shares(p.a, 1.0, p.mu, p.d, ALPHAS[alpha_name])
    return np.array([float(r) for r in evjax.cost_ratios(game, COALITION)])


def test_alphas_are_shares_and_non_uniform():
    for alpha in ALPHAS.values():
        assert abs(alpha.sum() - 1.0) < 1e-15 and (alpha >= 0).all()
        assert np.ptp(alpha) > 0.05 / T


@pytest.mark.parametrize("alpha_name", ALPHAS)
@pytest.mark.parametrize(("group", "outside", "inside"), CELLS)
def test_figure5_cell(group, outside, inside, alpha_name):
    ratios = _ratios(inside, outside, alpha_name)
    ratio = ratios[GROUPS.index(group)]
    assert _verdict(ratio) == EXPECTED[group][outside][inside]


@pytest.mark.parametrize("alpha_name", ALPHAS)
@pytest.mark.parametrize("outside", OUTSIDE)
@pytest.mark.parametrize("inside", INSIDE)
def test_ratios_match_numpy_kkt_costs(inside, outside, alpha_name):
    p = _problem(inside, outside, ALPHAS[alpha_name])
    np.testing.assert_allclose(
        _ratios(inside, outside, alpha_name), H.ratios(p, COALITION), rtol=1e-12
    )


@pytest.mark.parametrize("group", GROUPS)
def test_grid_against_theorem_4_7_and_numpy_costs(group):
    """Theorem 4.7 (condition holds <=> the group pays no more at Nash <=> M_S <= 1) and the
    numpy KKT ratios give the expected grid, including the unprinted M_[N] one."""
    for outside in OUTSIDE:
        for inside in INSIDE:
            p = _problem(inside, outside, ALPHAS["paper"])
            game = evjax.ChargingGame.from_shares(p.a, 1.0, p.mu, p.d, ALPHAS["paper"])
            cond = evjax.theorem_4_7(game, [COALITION], group)
            expected = EXPECTED[group][outside][inside]
            assert ("Nash" if cond.holds else "Coalition") == expected, (outside, inside)
            ratio = H.ratios(p, COALITION)[GROUPS.index(group)]
            assert _verdict(ratio) == expected
            # the margin has the sign of c_S(C-Nash) - c_S(Nash), i.e. (costs > 0) of 1 - M_S
            assert np.sign(cond.margin) == np.sign(1.0 - ratio)


def test_verdicts_do_not_depend_on_the_non_uniform_alpha():
    """Remark 4.8: condition (6) involves neither alpha nor T; the ratios themselves differ."""
    for outside in OUTSIDE:
        for inside in INSIDE:
            r1, r2 = _ratios(inside, outside, "paper"), _ratios(inside, outside, "dirichlet")
            assert [_verdict(r) for r in r1] == [_verdict(r) for r in r2]
            assert np.abs(r1 - r2).max() > 1e-6


@pytest.mark.parametrize("outside", OUTSIDE)
@pytest.mark.parametrize("inside", INSIDE)
def test_uniform_alpha_gives_ratios_of_exactly_one(inside, outside):
    alpha = np.full(T, 1.0 / T)
    p = _problem(inside, outside, alpha)
    game = evjax.ChargingGame.from_shares(p.a, 1.0, p.mu, p.d, alpha)
    ratios = np.array([float(r) for r in evjax.cost_ratios(game, COALITION)])
    np.testing.assert_allclose(ratios, 1.0, rtol=0, atol=1e-12)
    # both equilibria are the flat profile d / T (Remark 4.3)
    for structure in ((), [COALITION]):
        x = np.asarray(evjax.equilibrium(game, structure))
        np.testing.assert_allclose(x, np.repeat(p.d[:, None] / T, T, axis=1), rtol=1e-12)
