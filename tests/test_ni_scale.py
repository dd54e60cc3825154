"""The Nikaido-Isoda solver's default at scale (issue 18): box-constrained charging games of
benchmarks/bench_ni.py (T = 24, an evening price spike, x >= 0 binding), where paper 003's
constant step 0.5 cycles from N = 80 on.

Every default solve must converge and be certified by each station's best response to the
others, computed here in numpy by exact water filling (sorted breakpoints), apart from evjax.
Each N is one compilation of the solver (about 25 s of CPU), so the suite solves N = 20 (two
games, one compilation) and N = 80, the smallest size of the benchmark's where the constant
step fails; N = 40 and 160 are solved and certified the same way (exact water filling,
benchmarks/_nashopt.py) in the benchmark's table against N (``python -m benchmarks --only
ni``)."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import evjax
from evjax.solvers import RESULTS, solve

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_ni import make_game  # noqa: E402

# One compiled default solve, shared by every game of a shape.
default_solve = jax.jit(lambda g: solve(g, tol=1e-8, throw=False))


def water_filling(h: float, g: np.ndarray, d: float) -> np.ndarray:
    """argmin_y sum_t h/2 y_t^2 + g_t y_t subject to sum_t y_t = d, y >= 0 (h > 0, d >= 0).

    KKT: y_t = max(0, -(g_t + nu) / h). The free steps are those of the k smallest g_t; for
    each k the multiplier follows from the sum, and the right k is the one whose free set is
    consistent (y > 0 on it, g_t + nu >= 0 off it)."""
    order = np.argsort(g)
    gs = g[order]
    for k in range(1, len(g) + 1):
        nu = -(h * d + gs[:k].sum()) / k
        if k == len(g) or gs[k] + nu >= 0:
            y = np.zeros_like(g)
            y[order[:k]] = -(gs[:k] + nu) / h
            return np.maximum(y, 0.0)
    raise AssertionError("unreachable")


def relative_gains(a, b, mu, d, xbar, x) -> np.ndarray:
    """Each station's saving from its best response to the others, relative to its cost.

    c_i(y, x_-i) = y . (a + b (o + y)) + mu_i / 2 |y - xbar_i|^2 with o the others' total:
    h = mu_i + 2 b, g = a + b o - mu_i xbar_i."""
    total = x.sum(axis=0)
    gains = np.empty(len(d))
    for i in range(len(d)):
        others = total - x[i]

        def cost(y, i=i, others=others):
            return y @ (a + b * (others + y)) + 0.5 * mu[i] * np.sum((y - xbar[i]) ** 2)

        y = water_filling(mu[i] + 2 * b, a + b * others - mu[i] * xbar[i], d[i])
        gains[i] = (cost(x[i]) - cost(y)) / max(1.0, abs(cost(x[i])))
    return gains


def box_game(n, concentrated):
    params = make_game(n=n, t=24, seed=0, concentrated=concentrated)
    a, b, mu, d, xbar = params
    game = evjax.ChargingGame(jnp.asarray(a), b, jnp.asarray(mu), jnp.asarray(d),
                              jnp.asarray(xbar))
    return params, game, evjax.ConstrainedChargingGame(game, (), nonnegative=True)


def test_the_water_filling_reference_is_a_best_response():
    """The reference itself: its answer satisfies the KKT conditions, beats random feasible
    profiles, and it finds that the flat start is no equilibrium."""
    rng = np.random.default_rng(0)
    h, g, d = 1.3, rng.normal(size=24), 4.0
    y = water_filling(h, g, d)
    assert abs(y.sum() - d) < 1e-12 and y.min() >= 0
    grad = h * y + g
    free = y > 0
    nu = -grad[free].mean()
    np.testing.assert_allclose(grad[free] + nu, 0, atol=1e-12)
    assert np.all(grad[~free] + nu >= -1e-12)
    f = lambda z: 0.5 * h * z @ z + g @ z  # noqa: E731
    for _ in range(200):
        z = rng.dirichlet(np.ones(24)) * d
        assert f(z) >= f(y) - 1e-12
    params, _, cg = box_game(20, 5)
    assert relative_gains(*params, np.asarray(cg.start())).max() > 1e-3


# (N, concentrated stations): bench_ni's sizes (a quarter concentrated, as its table of steps
# against N), and the hard game of the NI benchmark's first session, where 19 of the 20
# stations would charge negatively without x >= 0 (the constant step cycles there too).
GAMES = [(20, 5), (20, 19), (80, 20)]


@pytest.mark.parametrize("n, concentrated", GAMES)
def test_the_default_solve_converges_and_is_certified_by_best_responses(n, concentrated):
    params, game, cg = box_game(n, concentrated)
    if concentrated == 19:
        assert int((np.asarray(evjax.equilibrium(game)) < 0).any(axis=1).sum()) == 19
    sol = default_solve(cg)
    assert sol.result == RESULTS.successful, sol.message
    x = np.asarray(sol.value)
    assert x.min() >= -1e-12
    np.testing.assert_allclose(x.sum(axis=1), params[3], rtol=0, atol=1e-11)
    assert (x < 1e-12).any()  # x >= 0 binds
    gains = relative_gains(*params, x)
    assert gains.max() < 1e-8, (int(gains.argmax()), gains.max())
