"""The optimal response where it used to fail, and what the relaxation says when one fails.

References: scipy's SLSQP on the same response problem (an independent local method), and
the result codes' definitions (infeasible = no feasible point known)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

from evjax import ConstrainedChargingGame
from evjax.decks.game import hour_game
from evjax.decks.scenarios import build_game, default_scenario, experiment
from evjax.solvers import RESULTS, InteriorPoint, optimal_response, solve, violation
from evjax.solvers.game import Blocks

from helpers import Problem

# The constant-step relaxation's 3rd point for deck 6 without LSC at 18 h of the default
# day (infeasible for the transformer: g = +0.064). Its response used to jam: the slack of
# that constraint fell below -g(y) after a step along the curved loads, then s and lam
# shrank together for 300 interior-point steps with |g + s| = 9e-5 (read as "infeasible").
X_JAMMED = [[1.1985218063025327], [1.8124999999846012], [1.0463965722539228],
            [1.8124999999396483], [1.1009610398522418], [1.8124999999795852],
            [1.1892704436996724], [1.8124999999837474], [1.1259852519236992],
            [1.8124999999710276], [0.6335624073126709], [1.8124999999117222]]


def test_the_deck_response_that_jammed_converges_to_the_slsqp_optimum():
    game = hour_game(build_game(experiment(default_scenario(), "deck6-no-lsc")), 18)
    x = jnp.asarray(X_JAMMED)
    r = jax.jit(lambda g, v: optimal_response(g, v, max_steps=300))(game, x)
    assert bool(r.converged) and int(r.steps) < 300
    assert float(r.primal_residual) < 1e-12
    assert float(violation(game, r.y)) < 1e-12

    # SLSQP on the same problem: minimise sum_p loss_p(y_p, x_-p) s.t. g(y) <= 0, bounds,
    # started from the box's centre (not from evjax's answer).
    blocks = Blocks.of(game.players)

    def objective(y):
        y = jnp.asarray(y).reshape(x.shape)
        return sum(game.losses(blocks.replace(x, p, y[jnp.asarray(rows)]))[p]
                   for p, rows in enumerate(game.players))

    f = jax.jit(objective)
    df = jax.jit(jax.grad(objective))
    g = jax.jit(lambda y: -game.shared(jnp.asarray(y).reshape(x.shape)))
    dg = jax.jit(jax.jacobian(lambda y: -game.shared(jnp.asarray(y).reshape(x.shape))))
    lower, upper = (np.asarray(b).ravel() for b in game.bounds())
    ref = minimize(lambda y: float(f(y)), 0.5 * (lower + upper), jac=lambda y: np.asarray(df(y)),
                   bounds=list(zip(lower, upper)), method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda y: np.asarray(g(y)),
                                 "jac": lambda y: np.asarray(dg(y))}],
                   options={"ftol": 1e-14, "maxiter": 500})
    # (SLSQP ends on a loss of precision at this optimum; its point and multiplier 467 on
    # the transformer constraint are the interior point's.)
    # SLSQP ends within its own tolerance of the transformer limit (slightly outside), which
    # the multiplier 467 turns into ~1e-6 of profit: the values agree to 1e-8, the points
    # to 1e-5.
    np.testing.assert_allclose(float(f(np.asarray(r.y).ravel())), ref.fun, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(r.y).ravel(), ref.x, atol=1e-5)


def _charging():
    rng = np.random.default_rng(7)
    n, t = 4, 6
    p = Problem(rng.uniform(1, 2, t), np.full(t, 0.5), rng.uniform(0.5, 2, n),
                rng.uniform(1, 3, n), rng.uniform(0, 1, (n, t)))
    return ConstrainedChargingGame(p.game(), (), nonnegative=True, rate_limit=0.8,
                                   capacity=0.8 * p.d.sum() / t * 1.25), p


@pytest.mark.parametrize("feasible_start", [True, False])
def test_a_failed_response_is_called_infeasible_only_without_a_feasible_point(feasible_start):
    """One interior-point step per response cannot meet the shared capacity from a point
    where it nearly binds: the response fails. From a feasible start (every station's energy
    spread evenly: row sums, bounds and the capacity hold) that is the response's failure,
    not the game's; from an infeasible start with no step taken, nothing feasible is known."""
    game, p = _charging()
    even = np.repeat((p.d / 6)[:, None], 6, axis=1)
    x0 = even if feasible_start else even + 0.5 * np.eye(4, 6)
    x0 = jnp.asarray(x0)
    assert (float(violation(game, x0)) < 1e-12) == feasible_start
    sol = jax.jit(lambda g, v: solve(g, v, throw=False, response=InteriorPoint(max_steps=1)))(
        game, x0)
    assert not bool(sol.response.converged) and float(sol.response.primal_residual) > 1e-6
    expected = RESULTS.response_failed if feasible_start else RESULTS.infeasible
    assert sol.result == expected, sol.message
    # With enough interior-point steps the same game is solved from either start.
    assert jax.jit(lambda g, v: solve(g, v, throw=False))(game, x0).result == RESULTS.successful
