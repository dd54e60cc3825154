"""The closed-form C-Nash equilibria against a dense numpy solve of every player's KKT system.

Paper 000: Theorem 4.1 (one coalition), Remark 4.4 (several), Corollary 4.5 (Nash), Remark 4.3.
"""

from __future__ import annotations

import functools

import helpers as H
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import evjax

METHODS = ("structured", "dense")
# One batch per kind of b, each of one shape (N, T): every distinct shape costs compilations,
# which dominate the run time. The eager tests below add N, T = 6, 8 and edge shapes.
SHAPES = [(False, (2, 3)), (False, (12, 24)), (True, (3, 5)), (True, (9, 14))]  # (tv b, (N, T))
PER_BATCH = 26  # 4 batches x 26 = 104 random games, each solved by both methods
K_ROWS = 3  # membership arrays padded with zero rows: 0..3 coalitions in one batch
TOL = 1e-10


def _stack(problems):
    leaves = zip(*(p.arrays() for p in problems))
    return [np.stack([np.asarray(v) for v in leaf]) for leaf in leaves]


@functools.cache
def _batch(shape, time_varying_b):
    """PER_BATCH random games of one shape with their numpy KKT solutions and costs."""
    n, t = shape
    rng = np.random.default_rng(1000 * n + 10 * t + int(time_varying_b))
    problems = []
    for j in range(PER_BATCH):
        structure = H.random_coalitions(rng, n, k=j % (K_ROWS + 1))
        problems.append(
            H.random_problem(rng, n, t, time_varying_b=time_varying_b, coalitions=structure)
        )
    x_ref = [H.solve(p) for p in problems]
    c_ref = [H.costs(p, x) for p, x in zip(problems, x_ref)]
    masks = np.stack([p.membership(K_ROWS) for p in problems])
    return problems, x_ref, c_ref, masks


@functools.cache
def _games(shape, time_varying_b):
    """The batch as one ChargingGame pytree with a leading batch axis, built under vmap."""
    arrays = _stack(_batch(shape, time_varying_b)[0])
    games = jax.vmap(evjax.ChargingGame)(*arrays)
    return arrays, games


def _solve_and_cost(method):
    def one(game, m):
        x = evjax.equilibrium(game, m, method=method)
        return x, evjax.station_costs(game, x)

    return jax.jit(jax.vmap(one))


BATCHED = {method: _solve_and_cost(method) for method in METHODS}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("time_varying_b", "shape"),
    SHAPES,
    ids=[f"{'tv' if tv else 'const'}_b-N{n}_T{t}" for tv, (n, t) in SHAPES],
)
def test_matches_dense_kkt_solve(time_varying_b, shape, method):
    problems, x_ref, c_ref, masks = _batch(shape, time_varying_b)
    arrays, games = _games(shape, time_varying_b)
    for leaf, array in zip((games.a, games.b, games.mu, games.d, games.xbar), arrays):
        np.testing.assert_array_equal(np.asarray(leaf), array)  # a batch of PER_BATCH games
    x, c = BATCHED[method](games, jnp.asarray(masks))
    x, c = np.asarray(x), np.asarray(c)
    err_x = [H.rel_error(x[j], x_ref[j]) for j in range(PER_BATCH)]
    err_c = [H.rel_error(c[j], c_ref[j]) for j in range(PER_BATCH)]
    assert max(err_x) <= TOL, err_x
    assert max(err_c) <= TOL, err_c
    d = np.stack([p.d for p in problems])
    np.testing.assert_allclose(x.sum(axis=2), d, rtol=1e-12, atol=1e-12 * np.abs(d).max())


def test_numpy_reference_is_an_equilibrium():
    """The yardstick itself: at the KKT solution no player gains by deviating (its exact best
    response, solved separately per player), demands are met; off it, players gain."""
    for p in H.problem_zoo(seed=3, count=40):  # N in 1..12, T in 1..24, 0..3 coalitions
        x = H.solve(p)
        scale = np.abs(H.costs(p, x)).sum() + 1.0
        np.testing.assert_allclose(x.sum(axis=1), p.d, rtol=1e-12, atol=1e-12 * scale)
        for player in H.players_of(p.coalitions, p.n):
            assert abs(H.best_response_gain(p, x, player)) < 1e-10 * scale
        if p.t > 1:
            y = x.copy()
            y[0] += np.linspace(-1.0, 1.0, p.t)  # zero-sum over t: still feasible
            player = next(q for q in H.players_of(p.coalitions, p.n) if 0 in q)
            assert H.best_response_gain(p, y, player) > 1e-6


def test_zoo_covers_zero_to_three_coalitions():
    for time_varying_b, shape in SHAPES:
        problems = _batch(shape, time_varying_b)[0]
        counts = {len(p.coalitions) for p in problems}
        if shape[0] >= 3:
            assert counts == {0, 1, 2, 3}
        else:  # two stations: at most two (singleton) coalitions
            assert counts == {0, 1, 2}
        if shape[0] >= 9:
            assert any(len(c) >= 3 for p in problems for c in p.coalitions)
        assert len({p.time_varying_b for p in problems}) == 1


# ---- one 'home' shape for the eager tests, so that compilations are shared ------------------

N, T = 6, 8


@functools.cache
def _home(time_varying_b: bool) -> H.Problem:
    rng = np.random.default_rng(7 + int(time_varying_b))
    return H.random_problem(rng, N, T, time_varying_b=time_varying_b, coalitions=())


STRUCTURES = [(), ((0, 3),), ((1, 2), (4, 5))]


@pytest.mark.parametrize("structure", STRUCTURES, ids=["nash", "one", "two"])
@pytest.mark.parametrize("method", METHODS)
def test_index_lists_eager(structure, method):
    p = _home(False)
    x = np.asarray(evjax.equilibrium(p.game(), [list(c) for c in structure], method=method))
    x_ref = H.solve(p, structure)
    assert H.rel_error(x, x_ref) <= TOL
    c = np.asarray(evjax.station_costs(p.game(), jnp.asarray(x)))
    assert H.rel_error(c, H.costs(p, x_ref)) <= TOL
    np.testing.assert_allclose(x.sum(axis=1), p.d, rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 5), (4, 1), (1, 1)], ids=["N1", "T1", "N1_T1"])
def test_edge_shapes(shape):
    rng = np.random.default_rng(sum(shape))
    p = H.random_problem(rng, *shape, coalitions=())
    structures = [(), ((0,),)] + ([((0, 1), (2,))] if shape[0] >= 3 else [])
    for structure in structures:
        x = np.asarray(evjax.equilibrium(p.game(), [list(c) for c in structure]))
        assert H.rel_error(x, H.solve(p, structure)) <= TOL
    if shape[1] == 1:  # one step: each station charges its demand
        np.testing.assert_allclose(x[:, 0], p.d, rtol=1e-14)


def test_membership_array_equals_index_lists():
    p = _home(False)
    g = p.game()
    lists = [[1, 2], [4, 5]]
    by_lists = np.asarray(evjax.equilibrium(g, lists))
    m = H.membership_matrix(lists, N)
    np.testing.assert_allclose(np.asarray(evjax.equilibrium(g, m)), by_lists, rtol=1e-13, atol=0)
    np.testing.assert_allclose(
        np.asarray(evjax.equilibrium(g, jnp.asarray(m))), by_lists, rtol=1e-13, atol=0
    )
    # a single coalition as a (N,) mask and as a (1, N) array
    one = np.asarray(evjax.equilibrium(g, [[0, 3]]))
    mask = np.zeros(N)
    mask[[0, 3]] = 1.0
    np.testing.assert_allclose(np.asarray(evjax.equilibrium(g, mask)), one, rtol=1e-13, atol=0)
    np.testing.assert_allclose(
        np.asarray(evjax.equilibrium(g, mask[None, :])), one, rtol=1e-13, atol=0
    )
    assert H.rel_error(one, H.solve(p, [[0, 3]])) <= TOL
    assert H.rel_error(one, by_lists) > 1e-6  # the structures really differ


# jitted solvers shared by several tests (one compilation per game structure)
@jax.jit
def _jit_mask(game, m):
    return evjax.equilibrium(game, m)


@jax.jit
def _jit_lists(game):
    return evjax.equilibrium(game, [[1, 2], [4, 5]], method="dense")


def test_nash_equals_singleton_coalitions():
    p = _home(False)
    g = p.game()
    nash = np.asarray(evjax.equilibrium(g, ()))
    assert H.rel_error(nash, H.solve(p, ())) <= TOL
    singles = np.asarray(evjax.equilibrium(g, [[1], [4]]))
    assert H.rel_error(singles, nash) <= 1e-12
    one_hot = np.zeros(N)
    one_hot[2] = 1.0
    assert H.rel_error(np.asarray(evjax.equilibrium(g, one_hot)), nash) <= 1e-12


def test_nash_equals_singleton_coalitions_time_varying_b():
    p = _home(True)
    g = p.game()
    nash_ref = H.solve(p, ())
    singles = np.asarray(_jit_mask(g, jnp.asarray(H.membership_matrix([[1], [4]], N))))
    nobody = np.asarray(_jit_mask(g, jnp.zeros((2, N))))  # two empty membership rows
    assert H.rel_error(singles, nash_ref) <= TOL
    assert H.rel_error(singles, nobody) <= 1e-12


def test_time_varying_path_with_constant_b_equals_scalar_path():
    p = _home(False)
    scalar = p.game()
    array = p.with_(b=np.full(T, float(p.b))).game()
    assert scalar.constant_b and not array.constant_b
    structure = [[1, 2], [4, 5]]
    m = jnp.asarray(H.membership_matrix(structure, N))
    x_ref = H.solve(p, structure)
    # structured (Woodbury) and dense paths, each with scalar b and with b as a (T,) array
    for solver in (lambda g: _jit_mask(g, m), _jit_lists):
        x_scalar = np.asarray(solver(scalar))
        x_array = np.asarray(solver(array))
        assert H.rel_error(x_array, x_scalar) <= 1e-12
        assert H.rel_error(x_array, x_ref) <= TOL


@pytest.mark.parametrize("method", METHODS)
def test_remark_4_3_constant_data_gives_uniform_charging(method):
    rng = np.random.default_rng(43)
    p = _home(False)
    level = rng.uniform(-2.0, 5.0, N)  # xbar_i^t = level_i, constant in t but != d_i / T
    q = p.with_(a=np.full(T, 3.7), xbar=np.repeat(level[:, None], T, axis=1))
    for structure in STRUCTURES:
        x = np.asarray(evjax.equilibrium(q.game(), [list(c) for c in structure], method=method))
        np.testing.assert_allclose(x, np.repeat(q.d[:, None] / T, T, axis=1), rtol=1e-12)
        np.testing.assert_allclose(H.solve(q, structure), x, rtol=1e-10)


# ---- certificates ---------------------------------------------------------------------------

CERT_STRUCTURE = [[0, 2], [3, 5]]  # players: two pairs, then stations 1 and 4 alone


def test_certify_equilibrium():
    p = _home(False)
    g = p.game()
    x = evjax.equilibrium(g, CERT_STRUCTURE)
    cert = evjax.certify(g, x, CERT_STRUCTURE)
    assert [list(q) for q in cert.players] == H.players_of(CERT_STRUCTURE, N)
    assert 0.0 <= float(cert.kkt_residual) < 1e-8
    assert abs(float(cert.max_gain)) < 1e-8
    assert np.abs(np.asarray(cert.gains)).max() < 1e-8
    # a membership array names the same structure
    cert_m = evjax.certify(g, x, H.membership_matrix(CERT_STRUCTURE, N))
    assert cert_m.players == cert.players
    assert float(cert_m.kkt_residual) < 1e-8
    # the Nash profile is not a C-Nash equilibrium of this structure
    nash = evjax.equilibrium(g, ())
    cert_nash = evjax.certify(g, nash, CERT_STRUCTURE)
    assert float(cert_nash.kkt_residual) > 1e-3
    gains = [H.best_response_gain(p, np.asarray(nash), q) for q in H.players_of(CERT_STRUCTURE, N)]
    np.testing.assert_allclose(np.asarray(cert_nash.gains), gains, rtol=1e-8, atol=1e-9)
    assert max(gains) > 1e-3


@pytest.mark.parametrize("player", [0, 1, 3], ids=["coalition0", "coalition1", "alone4"])
def test_certify_perturbed_profile(player):
    p = _home(False)
    g = p.game()
    plist = H.players_of(CERT_STRUCTURE, N)
    members = plist[player]
    x = H.solve(p, CERT_STRUCTURE)
    rng = np.random.default_rng(11 + player)
    e = rng.normal(size=(len(members), T))
    e -= e.mean(axis=1, keepdims=True)  # keeps sum_t x_i^t = d_i
    x_pert = x.copy()
    x_pert[members] += 0.5 * e
    cert = evjax.certify(g, jnp.asarray(x_pert), CERT_STRUCTURE)
    assert float(cert.kkt_residual) > 1e-2
    gains = np.asarray(cert.gains)
    expected = np.array([H.best_response_gain(p, x_pert, q) for q in plist])
    scale = np.abs(H.costs(p, x)).sum()
    np.testing.assert_allclose(gains, expected, rtol=1e-8, atol=1e-12 * scale)
    # the perturbed player's best response to the others' equilibrium play is its own
    # equilibrium block, so its gain is exactly what the perturbation cost it
    lost = H.costs(p, x_pert)[members].sum() - H.costs(p, x)[members].sum()
    assert gains[player] > 1e-2
    np.testing.assert_allclose(gains[player], lost, rtol=1e-8)
    assert float(cert.max_gain) == pytest.approx(gains.max(), rel=1e-12)


def test_certify_reports_demand_violation():
    p = _home(False)
    g = p.game()
    x = H.solve(p, CERT_STRUCTURE)
    shift = 0.01
    x_bad = x.copy()
    x_bad[4] += shift  # station 4 (alone) now delivers d_4 + T * shift
    cert = evjax.certify(g, jnp.asarray(x_bad), CERT_STRUCTURE)
    # constant b: a uniform shift keeps every stationarity row constant in t
    assert float(cert.kkt_residual) == pytest.approx(T * shift, rel=1e-8)


# ---- transformations ------------------------------------------------------------------------


def test_under_jit():
    p = _home(True)
    g = p.game()
    x_ref = H.solve(p, [[1, 2], [4, 5]])
    m = jnp.asarray(H.membership_matrix([[1, 2], [4, 5]], N))
    assert H.rel_error(np.asarray(_jit_mask(g, m)), x_ref) <= TOL
    assert H.rel_error(np.asarray(_jit_lists(g)), x_ref) <= TOL


def test_vmap_over_membership_masks():
    p = _home(False)
    g = p.game()
    rng = np.random.default_rng(5)
    masks = (rng.uniform(size=(12, N)) < 0.5).astype(float)
    masks[0] = 0.0  # no coalition: Nash
    masks[1] = 1.0  # the grand coalition
    xs = np.asarray(jax.vmap(lambda m: evjax.equilibrium(g, m))(jnp.asarray(masks)))
    for mask, x in zip(masks, xs):
        members = np.flatnonzero(mask).tolist()
        structure = [members] if members else []
        assert H.rel_error(x, H.solve(p, structure)) <= TOL
    assert H.rel_error(xs[1], xs[0]) > 1e-3


@pytest.mark.parametrize("time_varying_b", [False, True], ids=["const_b", "tv_b"])
def test_vmapped_nash_and_cnash_make_no_lapack_call_and_match_numpy(time_varying_b):
    """A vmapped Nash + C-Nash pair is LAPACK-free and exact at N = 20 (above the unrolled size).

    On jaxlib 0.10 two batched LAPACK solves side by side deadlocked a 2-core machine (the
    paper 000 reproduction hung there, evjax/_runtime.py): the closed form solves every
    system by Gauss-Jordan elimination instead, here through its loop path (N, and T (K+1)
    for time-varying b, above evjax._linalg.UNROLL_MAX)."""
    rng = np.random.default_rng(20 + int(time_varying_b))
    n, t = 20, 6
    problems = [H.random_problem(rng, n, t, time_varying_b=time_varying_b,
                                 coalitions=H.random_coalitions(rng, n, k=k)) for k in (1, 3)]
    arrays = _stack(problems)
    masks = jnp.asarray(np.stack([p.membership(K_ROWS) for p in problems]))
    games = jax.vmap(evjax.ChargingGame)(*arrays)
    for method in METHODS:
        def pair(game, m):
            return evjax.equilibrium(game, (), method=method), evjax.equilibrium(game, m,
                                                                                 method=method)

        program = jax.jit(jax.vmap(pair))
        assert "lapack" not in program.lower(games, masks).as_text().lower()
        nash, cnash = map(np.asarray, program(games, masks))
        for j, p in enumerate(problems):
            assert H.rel_error(nash[j], H.solve(p, ())) <= TOL
            assert H.rel_error(cnash[j], H.solve(p)) <= TOL
