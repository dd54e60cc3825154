"""Equilibrium certificates, computed without the closed form.

``certify`` checks a profile against the definition of a C-Nash equilibrium (Definition 3.3)
directly: autodiff gradients give each player's KKT residual, and each player (a coalition or a
lone station) re-optimises its own block against the others by a generic equality-constrained
Newton/KKT solve of its own cost, built from autodiff Hessians. Neither uses Theorem 4.1.
"""

from __future__ import annotations

from collections import defaultdict

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .coalitions import players_of, structure_lists
from .game import ChargingGame
from .metrics import station_costs_of


class Certificate(eqx.Module):
    """How far a profile is from a C-Nash equilibrium; both figures are ~0 at one.

    Fields:
        kkt_residual: the largest violation of any player's first-order conditions: the spread
            over t of d c_P / d x_i^t for i in player P (it must be constant in t), and the
            demand residual |sum_t x_i^t - d_i|. In the units of price and charge.
        max_gain: the largest cost reduction any player obtains by re-optimising only its own
            block with the others fixed (cost units; >= 0 up to rounding).
        gains: that reduction for every player, in the order of ``players``.
        players: the players, coalitions first, then lone stations.
    """

    kkt_residual: Float[Array, ""]
    max_gain: Float[Array, ""]
    gains: Float[Array, " P"]
    players: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    def to_dict(self) -> dict:
        return {
            "kkt_residual": float(self.kkt_residual),
            "max_gain": float(self.max_gain),
            "gains": np.asarray(self.gains).tolist(),
            "players": [list(p) for p in self.players],
        }


def _player_cost(game: ChargingGame, x, members, block):
    return jnp.sum(station_costs_of(game, x.at[members].set(block))[members])


@eqx.filter_jit
def _gains(game: ChargingGame, x, members):
    """Best-response gain of each player in a batch of same-size players (rows of members)."""

    def one(idx):
        block = x[idx]
        cost = lambda z: _player_cost(game, x, idx, z.reshape(block.shape))  # noqa: E731
        z0 = block.reshape(-1)
        grad = jax.grad(cost)(z0)
        hess = jax.hessian(cost)(z0)
        k, t = block.shape
        a_eq = jnp.kron(jnp.eye(k, dtype=x.dtype), jnp.ones((1, t), x.dtype))  # sum_t per member
        kkt = jnp.block([[hess, a_eq.T], [a_eq, jnp.zeros((k, k), x.dtype)]])
        rhs = jnp.concatenate([-grad, game.d[idx] - block.sum(axis=1)])
        step = jnp.linalg.solve(kkt, rhs)[: k * t]
        return -(grad @ step + 0.5 * step @ hess @ step)  # exact: the cost is quadratic

    return jax.vmap(one)(members)


@eqx.filter_jit
def _kkt_residual(game: ChargingGame, x, owner: Float[Array, "N N"]):
    # owner[i, j] = 1 when stations i and j belong to the same player.
    jac = jax.jacrev(station_costs_of, argnums=1)(game, x)  # (N_cost, N, T)
    own = jnp.einsum("ij,jit->it", owner, jac)  # d c_{P(i)} / d x_i
    stationarity = jnp.max(jnp.abs(own - jnp.mean(own, axis=1, keepdims=True)))
    demand = jnp.max(jnp.abs(jnp.sum(x, axis=1) - game.d))
    return jnp.maximum(stationarity, demand)


def certify(game: ChargingGame, x, coalitions=()) -> Certificate:
    """Certify ``x`` as the C-Nash equilibrium of ``game`` under ``coalitions``.

    Returns a :class:`Certificate` with the KKT residual and every player's best-response gain.
    ``coalitions`` as index lists or a concrete 0/1 membership array; ``x`` of shape (N, T).
    """
    n = game.n_stations
    x = jnp.asarray(x, dtype=game.xbar.dtype)
    if x.shape != game.xbar.shape:
        raise ValueError(f"x must have shape {game.xbar.shape}, got {x.shape}")
    plist = players_of(structure_lists(coalitions, n), n)
    owner = np.zeros((n, n))
    for members in plist:
        owner[np.ix_(members, members)] = 1.0
    by_size: dict[int, list[int]] = defaultdict(list)
    for k, members in enumerate(plist):
        by_size[len(members)].append(k)
    gains = np.zeros(len(plist))
    for size, ks in by_size.items():
        idx = jnp.asarray([plist[k] for k in ks], dtype=jnp.int32)
        gains[ks] = np.asarray(_gains(game, x, idx))
    gains = jnp.asarray(gains, dtype=x.dtype)
    return Certificate(
        kkt_residual=_kkt_residual(game, x, jnp.asarray(owner, dtype=x.dtype)),
        max_gain=jnp.max(gains),
        gains=gains,
        players=tuple(tuple(p) for p in plist),
    )
