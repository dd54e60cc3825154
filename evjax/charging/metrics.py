"""Costs and the paper's Eval-Metric ratios (paper 000, eqs (1), (2), (5), Eval-Metric)."""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .closed_form import METHODS, Method, equilibrium
from .coalitions import single_coalition
from .game import ChargingGame


def station_costs(game: ChargingGame, x: Float[Array, "N T"]) -> Float[Array, " N"]:
    """c_i(x) = sum_t p^t(x) x_i^t + mu_i/2 ||x_i - xbar_i||^2 for every station (eq (1))."""
    if x.shape != game.xbar.shape:
        raise ValueError(f"x must have shape {game.xbar.shape}, got {x.shape}")
    payment = jnp.sum(game.price(x)[None, :] * x, axis=1)
    return payment + 0.5 * game.mu * jnp.sum((x - game.xbar) ** 2, axis=1)


def group_cost(game: ChargingGame, x: Float[Array, "N T"], group) -> Float[Array, ""]:
    """c_S(x) = sum_{i in S} c_i(x) (eq (5)); ``group`` as indices or a mask of shape (N,)."""
    return jnp.dot(single_coalition(group, game.n_stations), station_costs(game, x))


class Ratios(NamedTuple):
    """The Eval-Metric ratios: cost at Nash divided by cost at C-Nash, for three groups.

    A ratio above 1 means the group pays less at C-Nash (the coalition helps it); below 1,
    Nash is better for it. ``outside`` is NaN for the grand coalition (no outsiders).
    """

    all: Float[Array, ""]
    coalition: Float[Array, ""]
    outside: Float[Array, ""]


class GroupCosts(NamedTuple):
    """Costs of the three groups [N], C and [N] minus C at one profile."""

    all: Float[Array, ""]
    coalition: Float[Array, ""]
    outside: Float[Array, ""]


def group_costs(game: ChargingGame, x: Float[Array, "N T"], coalition) -> GroupCosts:
    """(c_[N](x), c_C(x), c_[N]\\C(x)) for one coalition given as indices or a mask (N,)."""
    m = single_coalition(coalition, game.n_stations)
    c = station_costs(game, x)
    return GroupCosts(jnp.sum(c), jnp.dot(m, c), jnp.dot(1.0 - m, c))


def _ratio(num, den, defined):
    safe = jnp.where(defined, den, 1.0)
    return jnp.where(defined, num / safe, jnp.nan)


def cost_ratios(game: ChargingGame, coalition, *, method: Method = "structured") -> Ratios:
    """(M_[N], M_C, M_[N]\\C) for one coalition C (indices or a mask of shape (N,)).

    M_S = c_S(x*) / c_S(x^dagger) with x* the Nash and x^dagger the C-Nash equilibrium
    (Eval-Metric). Differentiable in every game parameter and, for masks, in the membership.
    A :class:`evjax.ConstrainedChargingGame` (x >= 0, rate limits, capacity) is accepted too:
    its equilibria come from the Nikaido-Isoda solver (slower; ``coalition`` as indices).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    from .constrained import ConstrainedChargingGame, constrained_cost_ratios

    if isinstance(game, ConstrainedChargingGame):  # the slower path: two NI solves
        return constrained_cost_ratios(game, coalition)
    return _cost_ratios(game, single_coalition(coalition, game.n_stations), method)


@eqx.filter_jit
def _cost_ratios(game: ChargingGame, m: Float[Array, " N"], method: Method) -> Ratios:
    nash = group_costs(game, equilibrium(game, (), method=method), m)
    cnash = group_costs(game, equilibrium(game, m, method=method), m)
    has_outside = jnp.sum(1.0 - m) > 0
    return Ratios(
        nash.all / cnash.all,
        nash.coalition / cnash.coalition,
        _ratio(nash.outside, cnash.outside, has_outside),
    )
