"""Bad inputs raise ValueError naming the argument and the offending value (style.md point 4);
under jit, non-finite or non-positive values are caught by eqx.error_if."""

from __future__ import annotations

import functools
import re

import helpers as H
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import evjax

N, T = 3, 4
RNG = np.random.default_rng(0)
GOOD = dict(
    a=RNG.uniform(1.0, 5.0, T),
    b=0.8,
    mu=RNG.uniform(0.5, 2.0, N),
    d=RNG.uniform(1.0, 4.0, N),
    xbar=RNG.uniform(0.0, 1.0, (N, T)),
)


def _game(**changes):
    return evjax.ChargingGame(**{**GOOD, **changes})


def _raises(pattern, fn, *args, **kwargs):
    with pytest.raises(ValueError, match=pattern) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_good_game_is_accepted():
    g = _game()
    assert (g.n_stations, g.n_steps) == (N, T)
    np.testing.assert_array_equal(np.asarray(g.mu), GOOD["mu"])
    # and it solves to the numpy reference, so the fixtures below differ from it only in the bad bit
    p = H.Problem(GOOD["a"], np.asarray(GOOD["b"]), GOOD["mu"], GOOD["d"], GOOD["xbar"])
    assert H.rel_error(np.asarray(evjax.equilibrium(g)), H.solve(p)) < 1e-10


# ---- shapes ---------------------------------------------------------------------------------


def test_a_and_xbar_disagree_on_T():
    _raises(r"xbar must have shape \(3, 5\), got \(3, 4\)", _game, a=np.ones(T + 1))


def test_d_and_mu_disagree_on_N():
    _raises(r"d must have shape \(3,\), got \(4,\)", _game, d=np.ones(N + 1))


def test_xbar_rows_disagree_with_mu():
    _raises(r"xbar must have shape \(3, 4\), got \(2, 4\)", _game, xbar=np.ones((N - 1, T)))


@pytest.mark.parametrize("length", [T - 1, T + 2])
def test_b_of_wrong_length(length):
    _raises(rf"b must have shape \(4,\), got \({length},\)", _game, b=np.ones(length))


def test_b_of_rank_two():
    _raises(r"b must have rank 0 or 1, got shape \(4, 1\)", _game, b=np.ones((T, 1)))


def test_no_stations():
    _raises(r"mu .*N = 0", _game, mu=np.ones(0), d=np.ones(0), xbar=np.ones((0, T)))


def test_no_time_steps():
    _raises(r"a .*T = 0", _game, a=np.ones(0), xbar=np.ones((N, 0)))


@pytest.mark.parametrize(
    ("name", "value", "shape"),
    [
        ("a", np.ones((1, T)), r"\(1, 4\)"),  # rank 2, would broadcast against (T,)
        ("a", np.ones((T, 1)), r"\(4, 1\)"),
        ("a", 2.0, r"\(\)"),
        ("mu", 1.0, r"\(\)"),
        ("d", np.ones((N, 1)), r"\(3, 1\)"),
        ("xbar", np.ones(T), r"\(4,\)"),
        ("xbar", np.ones((1, N, T)), r"\(1, 3, 4\)"),
    ],
)
def test_wrong_rank_is_refused_not_broadcast(name, value, shape):
    _raises(rf"{name} must have rank .*got shape {shape}", _game, **{name: value})


@pytest.mark.parametrize("name", ["a", "mu", "d", "xbar"])
def test_non_numeric(name):
    _raises(rf"{name} must be numeric", _game, **{name: "abc"})
    _raises(rf"{name} must be numeric, got None", _game, **{name: None})


# ---- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("bad", "shown"), [(0.0, r"0\.0"), (-1.5, r"-1\.5")])
def test_mu_must_be_positive(bad, shown):
    mu = GOOD["mu"].copy()
    mu[1] = bad
    _raises(rf"mu must be > 0, got {shown} at index \(1,\)", _game, mu=mu)


def test_non_finite_entry_is_located():
    xbar = GOOD["xbar"].copy()
    xbar[-1, -1] = np.nan
    n, t = xbar.shape
    _raises(rf"xbar must be finite, got nan at index \({n - 1}, {t - 1}\)", _game, xbar=xbar)


def test_boolean_data_is_refused():
    _raises(r"mu must be numeric, got dtype bool", _game, mu=np.ones_like(GOOD["mu"], bool))


@pytest.mark.parametrize(
    "b", [0.0, -0.3, np.array([1.0, 1.0, 0.0, 1.0]), np.array([1.0, -2.0, 1.0, 1.0])]
)
def test_b_must_be_positive(b):
    _raises(r"b must be > 0, got ", _game, b=b)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["a", "b", "mu", "d", "xbar"])
def test_non_finite(name, bad):
    value = np.array(GOOD[name], dtype=float, copy=True)
    value.reshape(-1)[0] = bad  # first entry: long arrays are abbreviated in the message
    text = _raises(rf"{name} must be finite, got ", _game, **{name: value})
    assert ("nan" if np.isnan(bad) else "inf") in text


# ---- coalitions -----------------------------------------------------------------------------


@functools.cache
def _g():
    return _game()


@pytest.mark.parametrize(
    ("coalitions", "pattern"),
    [
        ([[0, 1], [1, 2]], r"coalitions overlap: station 1 is in coalition 0 and 1"),
        ([[0, 2], [1], [2]], r"coalitions overlap: station 2 is in coalition 0 and 2"),
        ([[0, 1, 0]], r"coalition 0 \(\[0, 1, 0\]\) repeats station 0"),
        ([[0, 3]], r"coalition 0 \(\[0, 3\]\) names station 3, out of range for N = 3"),
        ([[1], [7]], r"coalition 1 \(\[7\]\) names station 7, out of range"),
        ([[-1, 0]], r"names station -1, out of range for N = 3"),
        ([[0], []], r"coalition 1 \(\[\]\) is empty"),
        ([0, 1, 2], r"sequence of sequences .*got \[0, 1, 2\]"),
        ([[True, False]], r"the boolean True"),
        ([[0, np.True_]], r"the boolean (np\.)?True"),
        ([[0.0, 1.0]], r"integer station indices, got 0\.0"),
        ("01", r"coalitions must be a sequence of sequences .*'01'"),
        (5, r"coalitions must be a sequence of sequences .*5"),
    ],
)
def test_bad_index_lists(coalitions, pattern):
    _raises(pattern, evjax.equilibrium, _g(), coalitions)
    _raises(pattern, evjax.membership, coalitions, N)


@pytest.mark.parametrize(
    ("mask", "pattern"),
    [
        (np.ones((1, N + 1)), r"membership array must have shape \(K, 3\) or \(3,\), got \(1, 4\)"),
        (np.ones(N - 1), r"got \(2,\)"),
        (np.ones((2, 2, N)), r"got \(2, 2, 3\)"),
        (np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]), r"overlap: station 1 has total membership"),
        (np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), r"overlap: station 0 has total membership"),
        (np.array([1.0, 2.0, 0.0]), r"membership entries must lie in \[0, 1\], got .*2\."),
        (np.array([1.0, -1.0, 0.0]), r"membership entries must lie in \[0, 1\], got .*-1\."),
        (np.array([1.0, np.nan, 0.0]), r"membership entries must lie in \[0, 1\], got .*nan"),
    ],
)
def test_bad_membership_arrays(mask, pattern):
    _raises(pattern, evjax.equilibrium, _g(), mask)
    _raises(pattern, evjax.equilibrium, _g(), jnp.asarray(mask))


def test_cost_ratios_check_the_coalition():
    _raises(r"coalition 0 \(\[0, 5\]\) names station 5", evjax.cost_ratios, _g(), [0, 5])
    _raises(
        r"coalition mask must have shape \(3,\), got \(1, 3\)",
        evjax.cost_ratios,
        _g(),
        np.ones((1, N)),
    )


@pytest.mark.parametrize("method", ["Structured", "woodbury", "", None])
def test_unknown_method(method):
    pattern = rf"method must be one of \('structured', 'dense'\), got {re.escape(repr(method))}"
    _raises(pattern, evjax.equilibrium, _g(), (), method=method)
    _raises(pattern, evjax.cost_ratios, _g(), [0, 1], method=method)


def test_station_costs_check_the_profile_shape():
    _raises(
        r"x must have shape \(3, 4\), got \(4, 3\)", evjax.station_costs, _g(), jnp.ones((T, N))
    )


# ---- from_shares ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha", "pattern"),
    [
        (np.array([0.3, 0.3, 0.3, 0.3]), r"alpha must be >= 0 and sum to 1, got .*sum .*1\.2"),
        (np.array([0.2, 0.2, 0.2, 0.2]), r"alpha must be >= 0 and sum to 1, got .*sum .*0\.8"),
        (np.array([0.6, 0.6, -0.1, -0.1]), r"alpha must be >= 0 and sum to 1, got .*-0\.1"),
        (np.array([0.5, 0.5]), r"alpha must have shape \(4,\), got \(2,\)"),
        (np.array([0.5, np.nan, 0.25, 0.25]), r"alpha must be finite, got .*nan"),
    ],
)
def test_from_shares_checks_alpha(alpha, pattern):
    _raises(pattern, evjax.ChargingGame.from_shares, GOOD["a"], 1.0, GOOD["mu"], GOOD["d"], alpha)


def test_from_shares_builds_d_alpha():
    alpha = np.array([0.1, 0.2, 0.3, 0.4])
    g = evjax.ChargingGame.from_shares(GOOD["a"], 1.0, GOOD["mu"], GOOD["d"], alpha)
    np.testing.assert_allclose(np.asarray(g.xbar), np.outer(GOOD["d"], alpha), rtol=1e-15)


# ---- under jit: eqx.error_if ----------------------------------------------------------------


@jax.jit
def _solve_with(mu, a, b):
    game = evjax.ChargingGame(a, b, mu, GOOD["d"], GOOD["xbar"])
    return evjax.equilibrium(game, [[0, 1]])


def _args(**changes):
    args = dict(mu=jnp.asarray(GOOD["mu"]), a=jnp.asarray(GOOD["a"]), b=jnp.asarray(GOOD["b"]))
    args.update({k: jnp.asarray(v) for k, v in changes.items()})
    return args


def test_jit_accepts_good_values():
    x = np.asarray(_solve_with(**_args()))
    p = H.Problem(GOOD["a"], np.asarray(GOOD["b"]), GOOD["mu"], GOOD["d"], GOOD["xbar"])
    assert H.rel_error(x, H.solve(p, [[0, 1]])) < 1e-10


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(mu=np.array([1.0, 0.0, 1.0])), "mu must be finite and > 0"),
        (dict(mu=np.array([1.0, -2.0, 1.0])), "mu must be finite and > 0"),
        (dict(mu=np.array([1.0, np.nan, 1.0])), "mu must be finite and > 0"),
        (dict(b=0.0), "b must be finite and > 0"),
        (dict(a=np.array([1.0, np.inf, 1.0, 1.0])), "a must be finite"),
    ],
)
def test_jit_catches_bad_values(changes, message):
    with pytest.raises(Exception) as info:
        jax.block_until_ready(_solve_with(**_args(**changes)))
    assert message in str(info.value)
