"""The Nikaido-Isoda relaxation solver on the charging game, with and without constraints.

References: the closed form (unconstrained), independent ADMM best responses (constrained),
finite differences of re-solved equilibria (gradients)."""

import functools as ft
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import evjax
from evjax import ConstrainedChargingGame
from evjax.solvers import (RESULTS, AutoResponse, ConstantStep, ImplicitAdjoint, InteriorPoint,
                           OptimalStep, UnrolledAdjoint, WaterFilling, ni_function,
                           optimal_response, result_code, result_message, solve)
from evjax.solvers.game import Blocks, unilateral_losses

from helpers import Problem, central_difference, constrained_best_response_gain

N, T = 5, 6


def problem(seed=0, time_varying=False):
    """A random 5-station, 6-step game. b is always a (T,) vector (constant unless
    ``time_varying``), so that every test game has one pytree structure and the tests share
    compiled solves: compiling a solve costs seconds, running one milliseconds."""
    rng = np.random.default_rng(seed)
    b = rng.uniform(0.3, 0.8, T) if time_varying else np.full(T, 0.5)
    return Problem(rng.uniform(1, 2, T), b, rng.uniform(0.5, 2, N), rng.uniform(1, 3, N),
                   rng.uniform(0, 1, (N, T)))


solve_jit = jax.jit(solve, static_argnames=("step", "adjoint", "throw", "max_steps", "tol"))

STRUCTURES = [(), ([0, 1],), ([0, 1], [2, 3, 4])]


@pytest.mark.parametrize("coalitions, time_varying", [
    (STRUCTURES[0], False), (STRUCTURES[1], True), (STRUCTURES[2], False),
    (STRUCTURES[2], True),
])
def test_unconstrained_equilibrium_is_the_closed_form(coalitions, time_varying):
    p = problem(1, time_varying)
    game = p.game()
    sol = solve_jit(ConstrainedChargingGame(game, coalitions))
    assert sol.result == RESULTS.successful
    reference = evjax.equilibrium(game, list(coalitions))
    np.testing.assert_allclose(sol.value, reference, atol=1e-8, rtol=0)
    assert float(sol.gap) < 1e-8
    assert float(sol.violation) < 1e-12


CONSTRAINTS = dict(nonnegative=True, rate_limit=0.55, capacity=1.75)


def constrained(p: Problem, **constraints) -> ConstrainedChargingGame:
    """Coalition {0, 1} under ``CONSTRAINTS`` (or ``constraints``): the shared test structure."""
    return ConstrainedChargingGame(p.game(), ([0, 1],), **{**CONSTRAINTS, **constraints})


@pytest.mark.parametrize("step", [ConstantStep(), OptimalStep()])
def test_constrained_equilibrium_is_certified_by_independent_best_responses(step):
    p = problem(2)
    game = constrained(p)
    sol = solve_jit(game, step=step)
    assert sol.result == RESULTS.successful, sol.message
    x = np.asarray(sol.value)
    # The constraints bind: some x at 0, some at the rate limit, capacity reached.
    assert (x < 1e-9).any() and (x > 0.55 - 1e-9).any()
    assert np.max(x.sum(axis=0)) > 1.75 - 1e-9
    assert x.min() >= -1e-12 and x.max() <= 0.55 + 1e-12
    assert np.max(x.sum(axis=0)) <= 1.75 + 1e-12
    np.testing.assert_allclose(x.sum(axis=1), p.d, atol=1e-12)
    for player in game.players:
        gain = constrained_best_response_gain(p, x, player, **CONSTRAINTS)
        assert gain < 1e-8, (player, gain)
    # The same check rejects a point that is not an equilibrium (the flat start).
    start = np.asarray(game.start())
    assert max(constrained_best_response_gain(p, start, q, **CONSTRAINTS)
               for q in game.players) > 1e-3


def test_step_rules_agree_and_the_optimal_step_takes_fewer_steps():
    game = constrained(problem(3), rate_limit=0.7, capacity=2.5)
    const = solve_jit(game, step=ConstantStep(0.5))
    opt = solve_jit(game, step=OptimalStep())
    np.testing.assert_allclose(const.value, opt.value, atol=1e-9)
    assert int(opt.steps) < int(const.steps)
    gaps = np.asarray(const.gap_history)[: int(const.steps) + 1]
    assert gaps[0] > 1e-3 and np.all(np.isfinite(gaps))
    alphas = np.asarray(const.step_sizes)
    np.testing.assert_array_equal(alphas[: int(const.steps)], 0.5)
    assert np.isnan(alphas[int(const.steps):]).all()
    used = np.asarray(opt.step_sizes)[: int(opt.steps)]
    assert np.all((used >= 0.05) & (used <= 1.0)), used
    assert np.isnan(np.asarray(opt.step_sizes)[int(opt.steps):]).all()


@pytest.mark.parametrize("step", [ConstantStep(), OptimalStep()])
def test_a_rejected_early_polish_goes_on_relaxing(monkeypatch, step):
    """The early polish's candidate is rejected when it is not feasible: here a polish that
    breaks the row sums while V is large (so only the early one); the relaxation must go on
    to V < tol, polish again and end at the same equilibrium as the default schedule."""
    import evjax.solvers.relaxation as ni

    game = constrained(problem(2))
    reference = solve_jit(game, step=step)
    polish = ni._polish

    def spoiled(game, state, *args):
        x = polish(game, state, *args)
        return jnp.where(state.gap > 1e-6, x.at[0, 0].add(0.01), x)

    monkeypatch.setattr(ni, "_polish", spoiled)
    late = jax.jit(lambda g: solve(g, step=step))(game)  # a fresh trace sees the patch
    assert late.result == RESULTS.successful
    assert float(late.gap) < 1e-8
    # The relaxation went on to V < tol (the early polish happens at V < 1e-3 V(x0)).
    gaps = np.asarray(late.gap_history)[: int(late.steps) + 1]
    assert gaps[-1] < 1e-8 < 1e-3 * gaps[0]
    assert int(late.steps) > int(reference.steps)
    np.testing.assert_allclose(late.value, reference.value, atol=1e-9)


def test_time_separable_polish_is_the_dense_polish(monkeypatch):
    """The Schur-complement Newton solve of a time-separable game against the dense one
    (active set of the start's response fixed: no active-set updates)."""
    from evjax.solvers import kkt

    game = constrained(problem(2))
    x = solve_jit(game).value + 1e-3 * jnp.asarray(
        np.random.default_rng(0).normal(size=game.shape))
    r = jax.jit(optimal_response)(game, x)
    active = kkt.active_set(game, x, r)
    root = (x, r.row_mult, r.shared_mult)
    separable = jax.jit(lambda g, root, active: kkt.polish_separable(
        g, root, active, steps=3, updates=0))(game, root, active)
    monkeypatch.setattr(ConstrainedChargingGame, "time_separable", False)
    dense = jax.jit(kkt.polish)(game, x, r)
    assert float(jnp.max(jnp.abs(separable - x))) > 1e-4  # it moved
    np.testing.assert_allclose(separable, dense, atol=1e-12, rtol=0)


@pytest.mark.parametrize("membership", [False, True])
def test_ni_function_is_the_total_unilateral_gain(membership):
    p = problem(4)
    if membership:  # coalitions as data: each station a player paying for its coalition
        game = ConstrainedChargingGame(p.game(), jnp.asarray([1.0, 1.0, 0.0, 1.0, 0.0]))
        pays = [[0, 1, 3], [0, 1, 3], [2], [0, 1, 3], [4]]
    else:
        game = ConstrainedChargingGame(p.game(), ([0, 1],))
        pays = [list(q) for q in game.players]
    x = np.asarray(game.start())
    y = x + np.random.default_rng(0).normal(0, 0.1, x.shape)
    costs = lambda z: np.asarray(evjax.station_costs(p.game(), jnp.asarray(z)))  # noqa: E731
    expected = 0.0
    for player, paid in zip(game.players, pays):
        z = x.copy()
        z[list(player)] = y[list(player)]
        expected += costs(x)[paid].sum() - costs(z)[paid].sum()
    np.testing.assert_allclose(ni_function(game, jnp.asarray(x), jnp.asarray(y)), expected,
                               rtol=1e-12)
    # The closed-form unilateral losses equal the generic ones (one payoff per player).
    generic = jax.jit(lambda u, v: unilateral_losses(game, Blocks.of(game.players), u, v))(
        jnp.asarray(x), jnp.asarray(y))  # jitted: eager, its vmap compiles op by op
    np.testing.assert_allclose(game.unilateral_losses(jnp.asarray(x), jnp.asarray(y)), generic,
                               rtol=1e-13)
    # The optimal response maximises it: no random feasible y does better. (In membership
    # mode, where it is in closed form: the coalition game's interior-point response costs
    # a compilation, and the certificates below check it.)
    if membership:
        r = jax.jit(optimal_response)(game, jnp.asarray(x))
        best = float(ni_function(game, jnp.asarray(x), r.y))
        assert best >= ni_function(game, jnp.asarray(x), jnp.asarray(y)) - 1e-12


def test_the_optimal_steps_slope_is_the_derivative_of_the_ni_gap():
    """Danskin: d/da V(x + a d) at a = 0 is the derivative of Psi(x + a d, Z(x)) with Z(x)
    held, which the optimal step uses; checked by central differences of V, each with its
    own optimal response (constraints active)."""
    game = constrained(problem(2))
    x = game.start()
    respond = jax.jit(lambda v: optimal_response(game, v, tol=1e-12).y)  # compiled once
    z = respond(x)
    d = z - x
    slope = jax.jvp(lambda v: ni_function(game, v, z), (x,), (d,))[1]

    def gap(a):
        v = x + a * d
        return float(ni_function(game, v, respond(v)))

    h = 1e-5
    assert float(slope) < 0  # a descent direction for V
    np.testing.assert_allclose(float(slope), (gap(h) - gap(-h)) / (2 * h), rtol=1e-6)


def _objective(game_arrays):
    a, mu, d, rate, cap = game_arrays
    p = problem(5)
    return constrained(p.with_(a=a, mu=mu, d=d), rate_limit=rate, capacity=cap)


def test_implicit_and_unrolled_gradients_agree_with_finite_differences():
    p = problem(5)
    weights = np.random.default_rng(1).uniform(0.5, 1.5, (N, T))
    base = (p.a, p.mu, p.d, np.full(N, 0.65), np.full(T, 2.05))

    def value(arrays, **options):
        return jnp.sum(weights * solve(_objective(arrays), **options).value**2)

    grad_implicit = jax.jit(jax.grad(value))(base)
    # Unrolled: reverse mode through fixed-length scans (30 relaxation steps, 25 interior-
    # point steps each), which must be long enough to converge; with the constant step (one
    # body iteration per relaxation step: the optimal step's two double the program).
    grad_unrolled = jax.jit(jax.grad(lambda v: value(
        v, adjoint=UnrolledAdjoint(), step=ConstantStep(), max_steps=30,
        response=AutoResponse(max_steps=25))))(base)

    def forward(arrays):
        return np.sum(weights * np.asarray(solve_jit(_objective(arrays)).value) ** 2)

    x = np.asarray(solve_jit(_objective(base)).value)
    assert (x < 1e-9).any() and (x > 0.65 - 1e-9).any()  # active bounds at the solution
    assert (x.sum(axis=0) > 2.05 - 1e-9).any()  # and active capacity
    for k, name in enumerate(["a", "mu", "d", "rate_limit", "capacity"]):
        def f(v, k=k):
            arrays = list(base)
            arrays[k] = v
            return forward(tuple(arrays))

        fd = central_difference(f, np.asarray(base[k]), step=1e-4)
        np.testing.assert_allclose(grad_implicit[k], fd, rtol=1e-5, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(grad_unrolled[k], grad_implicit[k], rtol=1e-6, atol=1e-8,
                                   err_msg=name)


def test_unrolled_gradients_with_the_optimal_step_match_finite_differences():
    """The default (optimal) step under ``UnrolledAdjoint()``: its trial state used to start
    at NaN (V before the first evaluation, the trial's V and a), which the forward pass
    never reads but reverse mode multiplied by zero cotangents: every gradient was NaN."""
    rng = np.random.default_rng(3)
    n, t = 3, 4
    p = Problem(rng.uniform(1, 2, t), np.full(t, 0.5), rng.uniform(0.5, 2, n),
                rng.uniform(1, 3, n), rng.uniform(0, 1, (n, t)))
    weights = rng.uniform(0.5, 1.5, (n, t))
    rate = 0.4 * float(np.max(p.d))

    def value(mu, **options):
        game = ConstrainedChargingGame(p.with_(mu=mu).game(), (), nonnegative=True,
                                       rate_limit=rate)
        return jnp.sum(weights * solve(game, **options).value ** 2)

    grad = jax.jit(jax.grad(lambda m: value(  # (the string spellings of the options)
        m, adjoint="unrolled", max_steps=30, response_steps=25)))(jnp.asarray(p.mu))
    forward = jax.jit(value)
    fd = central_difference(lambda m: float(forward(jnp.asarray(m))), np.asarray(p.mu),
                            step=1e-4)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)


def test_batched_solves_match_single_solves():
    p = problem(2)
    rng = np.random.default_rng(2)
    # 16 games (on jaxlib 0.10 a vmap over 5 or more games deadlocked before the solver
    # chained its LAPACK calls: see evjax/_runtime.py; evjax sets no XLA flag). Two of them
    # demand more energy in total than the capacity allows: infeasible.
    a_batch = p.a + rng.uniform(-0.3, 0.3, (16, T))
    d_batch = np.tile(p.d, (16, 1))
    d_batch[[3, 11]] *= 1.3

    def one(a, d):
        return solve(constrained(p.with_(a=a, d=d)), throw=False)

    batch = jax.jit(jax.vmap(one))(a_batch, d_batch)
    feasible = np.ones(16, bool)
    feasible[[3, 11]] = False
    np.testing.assert_array_equal(batch.code, np.where(feasible, result_code(RESULTS.successful),
                                                       result_code(RESULTS.infeasible)))
    np.testing.assert_array_equal(batch.converged, feasible)
    # An infeasible instance leaves the others unaffected: they match single solves.
    for k in (0, 4, 15):
        single = solve_jit(constrained(p.with_(a=a_batch[k])))
        np.testing.assert_allclose(batch.value[k], single.value, atol=1e-10)


def test_failures_are_reported_not_presented_as_equilibria():
    p = problem(7)
    # Two constant steps do not converge here (the optimal step, the default, takes two).
    sol = solve_jit(constrained(p), step=ConstantStep(), max_steps=2, throw=False)
    assert sol.result == RESULTS.max_steps_reached
    assert int(sol.code) == 1 and sol.message == RESULTS[RESULTS.max_steps_reached]
    assert float(sol.gap) > 1e-8
    # Feasible in total, but hour 0 cannot carry the stations' rate-limited minimum: every
    # station must charge nearly d_i / T each hour, hour 0 allows half of that in total.
    rate = p.d / T * 1.001
    capacity = np.full(T, p.d.sum())
    capacity[0] = 0.5 * p.d.sum() / T
    with pytest.raises(Exception, match="infeasible"):
        jax.block_until_ready(solve_jit(constrained(p, rate_limit=rate, capacity=capacity)))


def test_bad_options_raise_clear_errors():
    g = problem(0).game()
    with pytest.raises(ValueError, match="rate_limit is infeasible for station"):
        ConstrainedChargingGame(g, (), rate_limit=0.01)
    with pytest.raises(ValueError, match="capacity is infeasible"):
        ConstrainedChargingGame(g, (), capacity=0.01)
    with pytest.raises(ValueError, match="rate_limit must be finite and > 0|rate_limit must be > 0"):
        ConstrainedChargingGame(g, (), rate_limit=-1.0)
    with pytest.raises(ValueError, match="step must be"):
        solve(ConstrainedChargingGame(g, ()), step="fast")
    with pytest.raises(ValueError, match="players must partition|overlap|appears"):
        ConstrainedChargingGame(g, ([0, 1], [1, 2]))


def test_invalid_solver_options_raise_value_errors_naming_them():
    """Options are Modules (or their names); anything else, or a Module in the wrong slot,
    is refused before tracing with the offending value named."""
    game = ConstrainedChargingGame(problem(0).game(), (), nonnegative=True)
    cases = [
        (dict(step=ImplicitAdjoint()), r"step must be an AbstractStepRule.*ImplicitAdjoint"),
        (dict(step="fast"), r"step must be .*'fast'"),
        (dict(adjoint=OptimalStep()), r"adjoint must be an AbstractAdjoint.*OptimalStep"),
        (dict(adjoint="reverse"), r"adjoint must be .*'reverse'"),
        (dict(response=ConstantStep()), r"response must be an AbstractResponse.*Constant"),
        (dict(response="newton"), r"response must be .*'newton'"),
        (dict(response_method="newton"), r"response must be .*'newton'"),
        (dict(step=ConstantStep(), alpha=0.3), r"alpha=0.3 goes with step='constant'"),
        (dict(response=InteriorPoint(), response_steps=5), r"response_tol/response_steps"),
        (dict(alpha=1.5, step="constant"), r"alpha must lie in \(0, 1\], got 1.5"),
        (dict(response_steps=0), r"response_steps must be an int >= 1, got 0"),
        (dict(max_steps=0), r"max_steps must be an int >= 1, got 0"),
        (dict(response_tolerance=1e-9), r"unknown options \['response_tolerance'\]"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            solve(game, **options)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\], got 0.0"):
        ConstantStep(0.0)
    with pytest.raises(ValueError, match=r"InteriorPoint.tol must be a finite number > 0"):
        InteriorPoint(tol=float("nan"))
    with pytest.raises(ValueError, match=r"AutoResponse.max_steps must be an int >= 1, got 0"):
        AutoResponse(max_steps=0)
    with pytest.raises(ValueError, match=r"WaterFilling.tol must be a finite number > 0"):
        WaterFilling(tol=-1.0)


def test_the_string_spellings_are_the_option_objects():
    """The documented conveniences map onto the Modules (one place: solvers/options.py)."""
    from evjax.solvers.options import solver_options

    assert solver_options("constant", "unrolled", "interior_point",
                          dict(alpha=0.25, response_tol=1e-9, response_steps=7)) == (
        ConstantStep(0.25), UnrolledAdjoint(), InteriorPoint(1e-9, 7))
    assert solver_options("optimal", "implicit", None, {}) == (
        OptimalStep(), ImplicitAdjoint(), AutoResponse(1e-10, 100))
    assert solver_options(OptimalStep(), ImplicitAdjoint(), None,
                          dict(response_method="water_filling")) == (
        OptimalStep(), ImplicitAdjoint(), WaterFilling(1e-10))


def test_results_are_an_enumeration_with_messages_and_stable_codes():
    """RESULTS' items, their integer codes 0..5 (files hold them) and their messages."""
    items = [RESULTS.successful, RESULTS.max_steps_reached, RESULTS.diverged,
             RESULTS.infeasible, RESULTS.nonfinite, RESULTS.response_failed]
    assert len(RESULTS) == 6
    assert [int(result_code(item)) for item in items] == [0, 1, 2, 3, 4, 5]
    words = ["converged", "did not reach tol within max_steps", "diverged", "infeasible",
             "non-finite", "optimal response did not converge"]
    for code, (item, word) in enumerate(zip(items, words, strict=True)):
        assert word in RESULTS[item], (item, RESULTS[item])
        assert result_message(code) == result_message(item) == RESULTS[item]
    assert RESULTS[RESULTS.successful] == "converged"
    with pytest.raises(ValueError, match="result codes are 0..5, got 6"):
        result_message(6)


def test_throw_raises_with_the_results_message():
    """``throw=True`` (the default) raises with the message of the solution's result."""
    game = constrained(problem(7))
    with pytest.raises(Exception, match=re.escape(RESULTS[RESULTS.max_steps_reached])):
        jax.block_until_ready(solve_jit(game, step=ConstantStep(), max_steps=2))


@pytest.mark.parametrize("membership", [False, True])
def test_closed_form_own_gradients_are_the_autodiff_ones(membership, monkeypatch):
    """ConstrainedChargingGame.own_gradients (closed form, used by the polish and the
    implicit adjoint) against the generic reverse-mode default of AbstractNIGame."""
    p = problem(3, time_varying=True)
    coalitions = (np.array([[1, 0, 1, 0, 0], [0, 1, 0, 0, 1]], float) if membership
                  else ([0, 2], [1, 3]))  # station 3 (4) alone
    game = ConstrainedChargingGame(p.game(), coalitions, nonnegative=True)
    x = jnp.asarray(np.random.default_rng(4).uniform(-1, 2, (N, T)))
    closed = game.own_gradients(x)
    generic = evjax.solvers.AbstractNIGame.own_gradients(game, x)
    np.testing.assert_allclose(closed, generic, rtol=1e-13, atol=1e-13)
    # The polish's step blocks diag(D_t) + U_t V_t^T: the autodiff Jacobian's diagonal blocks.
    jac = np.asarray(jax.jacfwd(ft.partial(evjax.solvers.AbstractNIGame.own_gradients, game))(x))
    diag, u, v = game.step_jacobians(x)
    blocks = jax.vmap(jnp.diag)(diag) + jnp.einsum("tmr,tnr->tmn", u, v)
    np.testing.assert_allclose(blocks, np.stack([jac[:, k, :, k] for k in range(T)]),
                               rtol=1e-13, atol=1e-15)
    assert u.shape[-1] == 3  # the all-ones column and one per coalition
    # Likewise the own curvature (the water-filling response's), and the generic default's
    # two forms (one product per row for a time-separable game, one per entry otherwise).
    curvature = evjax.solvers.AbstractNIGame.own_curvature
    np.testing.assert_allclose(game.own_curvature(x), curvature(game, x), rtol=1e-13)
    monkeypatch.setattr(ConstrainedChargingGame, "time_separable", False)
    np.testing.assert_allclose(game.own_curvature(x), curvature(game, x), rtol=1e-13)


def station_best_response(p: Problem, x, i, *, nonnegative=False, rate_limit=None):
    """Station i's best response to the others' x (numpy): min 1/2 y'Hy + q'y, sum y = d_i,
    with its bounds, H = diag(mu_i + 2 b^t), q = a^t + b^t (others' total) - mu_i xbar_i
    (by the dense interior-point QP of the helpers, or the KKT solve without bounds)."""
    from helpers import qp_interior_point

    b = np.broadcast_to(p.b, (T,))
    h = np.diag(p.mu[i] + 2.0 * b)
    q = p.a + b * (x.sum(axis=0) - x[i]) - p.mu[i] * p.xbar[i]
    ones = np.ones((1, T))
    g, h_in = [], []
    if nonnegative:
        g.append(-np.eye(T))
        h_in.append(np.zeros(T))
    if rate_limit is not None:
        g.append(np.eye(T))
        h_in.append(np.full(T, rate_limit))
    if not g:
        kkt = np.block([[h, ones.T], [ones, np.zeros((1, 1))]])
        return np.linalg.solve(kkt, np.concatenate([-q, [p.d[i]]]))[:T]
    return qp_interior_point(h, q, ones, np.array([p.d[i]]), np.vstack(g), np.concatenate(h_in))


WATER_FILLING_CASES = [dict(nonnegative=True), dict(rate_limit=0.6),
                       dict(nonnegative=True, rate_limit=0.6), {}]


@pytest.mark.parametrize("constraints", WATER_FILLING_CASES)
def test_the_water_filling_response_is_every_stations_exact_best_response(constraints):
    """The closed-form response of a Nash game (one row per player, no shared constraint)
    against each station's best response by a dense QP, and its multipliers against the
    interior-point response's."""
    p = problem(3)
    game = ConstrainedChargingGame(p.game(), (), **constraints)
    x = np.random.default_rng(4).uniform(0.0, 0.8, (N, T))
    r = jax.jit(lambda g, x: optimal_response(g, x, method="water_filling"))(game, x)
    assert bool(r.converged) and int(r.steps) == 1
    for i in range(N):
        np.testing.assert_allclose(r.y[i], station_best_response(p, x, i, **constraints),
                                   atol=1e-10, rtol=0)
    if constraints:  # the bounds bind somewhere, else this would test little
        assert (np.asarray(r.lower_mult) > 1e-6).any() or (np.asarray(r.upper_mult) > 1e-6).any()
    ipm = jax.jit(lambda g, x: optimal_response(g, x, method="interior_point"))(game, x)
    for field in ("y", "row_mult", "lower_mult", "upper_mult"):
        np.testing.assert_allclose(getattr(r, field), getattr(ipm, field), atol=1e-6,
                                   err_msg=field)


@pytest.mark.parametrize("membership", [False, True])
def test_solves_with_water_filling_responses_are_certified_equilibria(membership):
    """Water-filling responses give the equilibrium, for the Nash game and a coalition as
    data (every station a player): certified by independent best responses (ADMM), and the
    same as with interior-point responses (the polish makes both exact)."""
    p = problem(5)
    coalitions = np.array([1.0, 1.0, 0.0, 0.0, 0.0]) if membership else ()
    game = ConstrainedChargingGame(p.game(), coalitions, nonnegative=True, rate_limit=0.6)
    run = jax.jit(solve, static_argnames="response")
    fast = run(game, response=WaterFilling())
    assert fast.result == RESULTS.successful and int(fast.response_steps) == 1
    if not membership:  # (one comparison suffices: each solve compiles for seconds)
        slow = run(game, response=InteriorPoint())
        assert slow.result == RESULTS.successful and int(slow.response_steps) > 1
        np.testing.assert_allclose(fast.value, slow.value, atol=1e-10, rtol=0)
    x = np.asarray(fast.value)
    assert (x < 1e-9).any() and (x > 0.6 - 1e-9).any()  # both bounds bind
    players = [[0, 1], [2], [3], [4]] if membership else [[i] for i in range(N)]
    for player in players:
        gain = constrained_best_response_gain(p, x, player, nonnegative=True, rate_limit=0.6)
        assert gain < 1e-8, (player, gain)


def test_water_filling_is_refused_where_it_does_not_apply():
    p = problem(0)
    x = np.zeros((N, T))
    for game in (ConstrainedChargingGame(p.game(), ([0, 1],)),  # a player with two rows
                 ConstrainedChargingGame(p.game(), (), capacity=3.0)):  # a shared constraint
        with pytest.raises(ValueError, match="water_filling"):
            optimal_response(game, x, method="water_filling")
    with pytest.raises(ValueError, match="method must be"):
        optimal_response(ConstrainedChargingGame(p.game(), ()), x, method="newton")


def test_without_the_polish_the_relaxation_stops_at_the_gap():
    """``polish=False`` is the paper's algorithm as it stands: relax until V < tol. Its point
    is then an equilibrium to the gap's accuracy: V quadratic in the distance, so about
    sqrt(tol) from the polished one, which takes fewer steps."""
    game = ConstrainedChargingGame(problem(2).game(), (), nonnegative=True)
    run = jax.jit(solve, static_argnames="polish")
    plain, polished = run(game, polish=False), run(game)
    assert plain.result == RESULTS.successful and polished.result == RESULTS.successful
    assert 0.0 <= float(plain.gap) < 1e-8 and float(polished.gap) < 1e-12
    assert int(plain.steps) > int(polished.steps)
    gaps = np.asarray(plain.gap_history)[: int(plain.steps) + 1]
    assert gaps[-2] >= 1e-8 > gaps[-1]  # it stopped at the first step below tol
    error = float(jnp.max(jnp.abs(plain.value - polished.value)))
    assert 1e-12 < error < 1e-3


def test_an_infeasible_water_filling_game_is_reported_infeasible():
    """Rate limits that cannot carry a station's energy (T r_i < d_i), traced so that the
    constructor cannot refuse them: the closed-form response cannot meet the row sum, and
    the solve says the game is infeasible instead of returning a point."""
    p = problem(6)
    rate = jnp.asarray(0.5 * p.d / T)

    def run(r):
        game = ConstrainedChargingGame(p.game(), (), nonnegative=True, rate_limit=r)
        r = optimal_response(game, game.start())
        return solve(game, throw=False).result, r.converged, r.primal_residual

    result, converged, primal = jax.jit(run)(rate)
    assert result == RESULTS.infeasible
    assert not bool(converged)
    np.testing.assert_allclose(primal, np.max(p.d - T * rate), rtol=1e-12)


def test_solve_many_is_the_vmapped_solve():
    """Chunks of 3 over 7 games (the last chunk short) give the one-vmap solutions, empty
    leaves (a game without shared constraints has no shared multipliers) included."""
    from evjax.solvers import solve_many

    p = problem(8)
    a_batch = p.a + np.random.default_rng(8).uniform(-0.3, 0.3, (7, T))

    def make(a):
        return ConstrainedChargingGame(p.with_(a=a).game(), (), nonnegative=True)

    many = jax.jit(lambda a: solve_many(make, a, chunk=3))(a_batch)
    vmapped = jax.jit(jax.vmap(lambda a: solve(make(a), throw=False)))(a_batch)
    assert many.response.shared_mult.shape == (7, 0)
    np.testing.assert_array_equal(many.code, vmapped.code)
    np.testing.assert_array_equal(many.code, result_code(RESULTS.successful))
    np.testing.assert_allclose(many.value, vmapped.value, atol=1e-13, rtol=0)
    assert (np.asarray(many.value) < 1e-9).any()  # x >= 0 binds somewhere
    with pytest.raises(ValueError, match="chunk"):
        solve_many(make, a_batch, chunk=0)
