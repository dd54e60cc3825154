"""Closed-form C-Nash equilibria (paper 000, Theorem 4.1, Corollary 4.5, Remark 4.4).

With the membership matrix m (K, N) of a coalition structure, the game Jacobian per step is

    Q_t = b^t (1 1' + C) + diag(mu) = diag(delta_t) + b^t V V',
    delta_t = mu + b^t * alone,   V = [1, m_1, ..., m_K]   (N x (K+1)),

where alone_i = 1 - sum_k m_ki (1 for a station in no coalition). The KKT conditions of every
player read Q_t x^t = v^t - lambda with v^t = mu * xbar^t - a^t 1, and sum_t x^t = d.

* Constant b (Theorem 4.1): x^t = d/T + Q^{-1} (v^t - mean_t v).
* Time-varying b: lambda solves (sum_t Q_t^{-1}) lambda = sum_t Q_t^{-1} v^t - d, then
  x^t = Q_t^{-1} (v^t - lambda).

The ``"structured"`` path applies Woodbury to diag + rank (K+1), costing O(N T K^2) for
constant b (``../shared/design/fast-sweeps.md`` section 1); for time-varying b the N x N matrix
sum_t Q_t^{-1} is itself diagonal minus rank T (K+1) and is inverted by Woodbury again. The
``"dense"`` path forms each N x N matrix Q_t and solves it directly: the reference. Neither
ever forms an NT x NT matrix (the paper's eq (4) does). Every matrix solved here is symmetric
positive (or negative) definite, and every solve is Gauss-Jordan elimination
(``evjax._linalg``): no LAPACK call, so a vmapped closed form cannot meet jaxlib 0.10's
batched-LAPACK deadlock (``evjax/_runtime.py``).
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._linalg import definite_solve
from .coalitions import membership
from .game import ChargingGame

Method = Literal["structured", "dense"]
METHODS = ("structured", "dense")


def jacobian_factors(game: ChargingGame, m: Float[Array, "K N"]):
    """(delta, V) with Q_t = diag(delta_t) + b^t V V'; delta has shape (N,) or (T, N)."""
    alone = 1.0 - jnp.sum(m, axis=0)
    delta = game.mu + jnp.multiply.outer(game.b, alone)
    v_cols = jnp.concatenate([jnp.ones((1, m.shape[1]), m.dtype), m], axis=0).T
    return delta, v_cols


def woodbury_solve(delta, cols, inner, rhs):
    """x = (diag(delta) + U inner^{-1} U')^{-1} rhs by the Woodbury identity, U = ``cols``.

    ``delta`` (N,), ``cols`` (N, R), ``inner`` (R, R), ``rhs`` (N, S): one R x R solve of the
    capacitance inner + U' diag(delta)^{-1} U instead of an N x N one. Q_t = diag(delta_t) +
    b^t V V' is ``inner`` = I / b^t; sum_t Q_t^{-1} (time-varying b) is a second use.
    """
    d_inv_rhs = rhs / delta[:, None]
    d_inv_v = cols / delta[:, None]
    core = inner + cols.T @ d_inv_v
    return d_inv_rhs - d_inv_v @ definite_solve(core, cols.T @ d_inv_rhs)  # core: definite


def _dense_q(delta, b, v_cols):
    return jnp.diag(delta) + b * (v_cols @ v_cols.T)


def _nominal_drive(game: ChargingGame) -> Float[Array, "N T"]:
    """v^t = mu * xbar^t - a^t 1, as an (N, T) array."""
    return game.mu[:, None] * game.xbar - game.a[None, :]


def _constant_b(game, m, method):
    delta, v_cols = jacobian_factors(game, m)
    v = _nominal_drive(game)
    w = v - jnp.mean(v, axis=1, keepdims=True)
    if method == "dense":
        y = definite_solve(_dense_q(delta, game.b, v_cols), w)
    else:
        y = woodbury_solve(delta, v_cols, jnp.eye(v_cols.shape[1], dtype=w.dtype) / game.b, w)
    return game.d[:, None] / game.n_steps + y


def _time_varying_b(game, m, method):
    delta, v_cols = jacobian_factors(game, m)  # delta: (T, N)
    b = game.b
    v = _nominal_drive(game)  # (N, T)
    if method == "dense":
        q = jax.vmap(_dense_q, in_axes=(0, 0, None))(delta, b, v_cols)  # (T, N, N)
        q_inv = definite_solve(q, jnp.eye(q.shape[-1], dtype=q.dtype))  # (T, N, N)
        s = jnp.sum(q_inv, axis=0)
        lam = definite_solve(s, (jnp.einsum("tij,tj->i", q_inv, v.T) - game.d)[:, None])[:, 0]
        return jnp.einsum("tij,tj->it", q_inv, v.T - lam[None, :])
    # Q_t^{-1} r_t for every t: Woodbury with inner I / b^t, per step.
    kp1 = v_cols.shape[1]
    inner = jnp.eye(kp1, dtype=v.dtype) / b[:, None, None]  # (T, K+1, K+1)
    per_step = jax.vmap(woodbury_solve, in_axes=(0, None, 0, 0))

    def q_inv(r):  # r: (T, N) -> Q_t^{-1} r_t for every t
        return per_step(delta, v_cols, inner, r[:, :, None])[..., 0]

    # S = sum_t Q_t^{-1} = diag(sigma) - P G P' with P_t = D_t^{-1} V and G = blockdiag(core_t
    # ^{-1}), core_t = I / b^t + V' D_t^{-1} V: rank T (K+1), Woodbury with inner -G^{-1}.
    p = v_cols[None, :, :] / delta[:, :, None]  # (T, N, K+1)
    core = inner + jnp.einsum("nk,tnl->tkl", v_cols, p)
    sigma = jnp.sum(1.0 / delta, axis=0)
    rhs = jnp.sum(q_inv(v.T), axis=0) - game.d
    t_steps = game.n_steps
    p_flat = jnp.transpose(p, (1, 0, 2)).reshape(p.shape[1], t_steps * kp1)  # (N, T(K+1))
    block = jnp.zeros((t_steps, kp1, t_steps, kp1), v.dtype)
    block = block.at[jnp.arange(t_steps), :, jnp.arange(t_steps), :].set(core)
    lam = woodbury_solve(sigma, p_flat, -block.reshape(t_steps * kp1, t_steps * kp1),
                         rhs[:, None])[:, 0]
    return q_inv(v.T - lam[None, :]).T


def check_method(method) -> None:
    """``ValueError`` unless ``method`` names a closed-form path (:data:`METHODS`)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


@eqx.filter_jit
def solve_membership(game: ChargingGame, m: Float[Array, "K N"],
                     method: Method = "structured") -> Float[Array, "N T"]:
    """:func:`equilibrium` of a checked membership matrix ``m`` (K, N) (trusted: no check)."""
    if game.constant_b:
        return _constant_b(game, m, method)
    return _time_varying_b(game, m, method)


def equilibrium(game: ChargingGame, coalitions=(), *,
                method="structured") -> Float[Array, "N T"]:
    """The C-Nash equilibrium x (N, T) of ``game`` under a coalition structure.

    Arguments:
        game: the charging game.
        coalitions: disjoint coalitions as index lists (``[[0, 1, 2]]``), or a membership
            array of shape (K, N) or (N,) (see ``evjax.charging.coalitions``). ``()`` (the
            default) gives the Nash equilibrium (Corollary 4.5).
        method: ``"structured"`` (Woodbury on diag + rank (K+1), the default) or ``"dense"``
            (direct N x N solves, the reference).

    Returns the profile x with x[i, t] the charge of station i at step t; it satisfies
    sum_t x[i, t] = d[i]. Theorem 4.1 (one coalition), Remark 4.4 (several), Corollary 4.5.
    Called eagerly, it refuses a profile that is not finite (``ValueError``: float64
    overflowed, e.g. b = 1e300); under ``jit``/``vmap`` that check is skipped.
    """
    check_method(method)
    x = solve_membership(game, membership(coalitions, game.n_stations), method)
    game.check_finite("equilibrium x", x)  # eager calls only: traced values pass
    return x
