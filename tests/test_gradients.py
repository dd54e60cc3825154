"""Gradients of costs and ratios with respect to every game parameter, against finite differences.

f(a, b, mu, d, xbar) is one of: a station's cost at the C-Nash equilibrium, the coalition's cost
there (``evjax.group_cost``), and the three Eval-Metric ratios (``evjax.cost_ratios``). Its
``jax.grad`` (through the closed form, ``method="structured"`` and ``"dense"``, under ``jax.jit``
and ``jax.vmap`` over a batch of games) is compared with central finite differences of the
same quantity computed by the independent numpy KKT solve of ``helpers``: relative error
(Frobenius norm, per parameter) below 1e-6.
"""

from __future__ import annotations

import functools

import helpers as H
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import evjax

N, T, BATCH = 5, 6, 3
COALITION = [0, 1, 2]
STATION = 3  # outside the coalition: its cost moves through the price only
OUTPUTS = ("station_cost", "group_cost", "ratio_all", "ratio_coalition", "ratio_outside")
PARAMS = ("a", "b", "mu", "d", "xbar")
METHODS = ("structured", "dense")
TOL = 1e-6


@functools.cache
def _problems(time_varying_b: bool):
    rng = np.random.default_rng(20 + int(time_varying_b))
    out = []
    for _ in range(BATCH):
        b = rng.uniform(0.5, 2.0, T) if time_varying_b else np.asarray(rng.uniform(0.5, 2.0))
        d = rng.uniform(1.0, 8.0, N)
        xbar = d[:, None] * rng.dirichlet(np.full(T, 2.0), size=N)
        a, mu = rng.uniform(1.0, 10.0, T), rng.uniform(0.5, 3.0, N)
        out.append(H.Problem(a, b, mu, d, xbar, (tuple(COALITION),)))
    return out


def _params(p: H.Problem) -> dict:
    return dict(zip(PARAMS, (np.asarray(v, np.float64) for v in p.arrays())))


def outputs_numpy(params: dict) -> np.ndarray:
    """The five outputs from the numpy KKT solves and numpy costs."""
    p = H.Problem(*(params[k] for k in PARAMS), coalitions=(tuple(COALITION),))
    x_dag = H.solve(p)
    c = H.costs(p, x_dag)
    return np.concatenate([[c[STATION], c[COALITION].sum()], H.ratios(p, COALITION)])


def outputs_evjax(params: dict, method: str) -> jax.Array:
    game = evjax.ChargingGame(*(params[k] for k in PARAMS))
    x = evjax.equilibrium(game, [COALITION], method=method)
    ratios = evjax.cost_ratios(game, COALITION, method=method)
    return jnp.stack(
        [
            evjax.station_costs(game, x)[STATION],
            evjax.group_cost(game, x, COALITION),
            ratios.all,
            ratios.coalition,
            ratios.outside,
        ]
    )


@functools.cache
def _finite_differences(time_varying_b: bool, j: int) -> dict:
    """name -> Jacobian (5,) + shape of the parameter, by central differences of the numpy f."""
    params = _params(_problems(time_varying_b)[j])
    return {
        name: H.central_difference(lambda v, name=name: outputs_numpy({**params, name: v}), value)
        for name, value in params.items()
    }


def _batched_grad(method):
    """jit(vmap over games(grad of output k)); one compilation serves all five outputs."""

    def grad_k(params, k):
        return jax.grad(lambda q: outputs_evjax(q, method)[k])(params)

    return jax.jit(jax.vmap(grad_k, in_axes=(0, None)))


GRADS = {method: _batched_grad(method) for method in METHODS}


@functools.cache
def _autodiff(method: str, time_varying_b: bool) -> list:
    """Per output k: dict name -> (BATCH, ...) gradients."""
    problems = _problems(time_varying_b)
    batch = {k: jnp.asarray(np.stack([_params(p)[k] for p in problems])) for k in PARAMS}
    return [
        {name: np.asarray(g) for name, g in GRADS[method](batch, k).items()}
        for k in range(len(OUTPUTS))
    ]


def test_numpy_outputs_are_well_posed():
    """Costs are positive and the ratios are not degenerate, so relative errors mean something."""
    for time_varying_b in (False, True):
        for p in _problems(time_varying_b):
            out = outputs_numpy(_params(p))
            assert (out[:2] > 1.0).all()
            assert np.abs(out[2:] - 1.0).min() > 1e-4  # the coalition changes every group cost


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("time_varying_b", [False, True], ids=["const_b", "tv_b"])
def test_grad_matches_finite_differences(time_varying_b, method, output):
    k = OUTPUTS.index(output)
    grads = _autodiff(method, time_varying_b)[k]
    for j in range(BATCH):
        fd = _finite_differences(time_varying_b, j)
        for name in PARAMS:
            reference = fd[name][k]
            assert np.linalg.norm(reference) > 1e-8, (name, j)
            err = H.rel_error(grads[name][j], reference)
            assert err < TOL, (name, j, err)
    assert grads["b"].shape == ((BATCH, T) if time_varying_b else (BATCH,))


@pytest.mark.parametrize("time_varying_b", [False, True], ids=["const_b", "tv_b"])
def test_structured_and_dense_gradients_agree(time_varying_b):
    structured = _autodiff("structured", time_varying_b)
    dense = _autodiff("dense", time_varying_b)
    for k in range(len(OUTPUTS)):
        for name in PARAMS:
            assert H.rel_error(structured[k][name], dense[k][name]) < 1e-10, (OUTPUTS[k], name)


def test_grad_with_respect_to_the_game_module():
    """jit(grad) of a function of the ChargingGame itself, one game (no vmap): the gradient is
    a ChargingGame-shaped pytree with the per-field gradients (not validated as a game: the
    gradient in mu may well be negative)."""
    p = _problems(True)[1]
    game = p.game()

    @jax.jit
    @jax.grad
    def coalition_ratio(g):
        return evjax.cost_ratios(g, COALITION).coalition

    grads = coalition_ratio(game)
    assert isinstance(grads, evjax.ChargingGame)
    fd = _finite_differences(True, 1)
    k = OUTPUTS.index("ratio_coalition")
    for name in PARAMS:
        assert H.rel_error(np.asarray(getattr(grads, name)), fd[name][k]) < TOL, name
