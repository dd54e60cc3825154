"""Costs of stations and of groups (paper 000, eqs (1) and (5)), at one profile or at both
equilibria of a coalition.

The public functions check their arguments (a coalition through
:func:`evjax.charging.coalitions.single_coalition`, once); the ``*_of`` functions below them
take a checked membership vector and trust it, so that a batched or differentiated caller
pays for no check.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import concrete, short
from .closed_form import Method, solve_membership
from .coalitions import single_coalition
from .game import ChargingGame
from .ratios import GroupCosts, Ratios, group_ratios, ratio, ratio_reasons  # noqa: F401
# (GroupCosts, Ratios, ratio and ratio_reasons are re-exported: their former home)


def station_costs(game: ChargingGame, x) -> Float[Array, " N"]:
    """c_i(x) = sum_t p^t(x) x_i^t + mu_i/2 ||x_i - xbar_i||^2 for every station (eq (1)).

    ``x`` has shape (N, T). Called eagerly, costs that are not finite (float64 overflow)
    raise ``ValueError``."""
    if jnp.shape(x) != game.xbar.shape:
        raise ValueError(f"x must have shape {game.xbar.shape}, got {jnp.shape(x)}")
    known = concrete(x)
    if known is not None and not np.isfinite(known).all():
        raise ValueError(f"x must be finite, got {short(known)}")
    costs = station_costs_of(game, jnp.asarray(x))
    game.check_finite("station costs", costs)  # eager calls only: traced values pass
    return costs


def station_costs_of(game: ChargingGame, x: Float[Array, "N T"]) -> Float[Array, " N"]:
    """:func:`station_costs` without the checks (a profile computed from ``game``)."""
    payment = jnp.sum(game.price(x)[None, :] * x, axis=1)
    return payment + 0.5 * game.mu * jnp.sum((x - game.xbar) ** 2, axis=1)


def group_cost(game: ChargingGame, x, group) -> Float[Array, ""]:
    """c_S(x) = sum_{i in S} c_i(x) (eq (5)); ``group`` as indices or a mask of shape (N,)."""
    return jnp.dot(single_coalition(group, game.n_stations), station_costs(game, x))


def group_costs(game: ChargingGame, x, coalition) -> GroupCosts:
    """(c_[N](x), c_C(x), c_[N]\\C(x)) for one coalition given as indices or a mask (N,);
    ``x`` has shape (N, T)."""
    m = single_coalition(coalition, game.n_stations)
    return costs_by_group(station_costs(game, x), m)


def costs_by_group(costs: Float[Array, " N"], m: Float[Array, " N"]) -> GroupCosts:
    """The three groups' costs from the station costs and a checked membership vector."""
    return GroupCosts(jnp.sum(costs), jnp.dot(m, costs), jnp.dot(1.0 - m, costs))


@eqx.filter_jit
def equilibrium_group_costs(game: ChargingGame, m: Float[Array, " N"],
                            method: Method = "structured") -> tuple[GroupCosts, GroupCosts]:
    """The groups' costs at the Nash and at the C-Nash equilibrium of the checked membership
    vector ``m`` (N,) (closed form; trusted: no check)."""
    alone = jnp.zeros((0, m.shape[0]), m.dtype)  # no coalition: the Nash equilibrium
    nash = station_costs_of(game, solve_membership(game, alone, method))
    cnash = station_costs_of(game, solve_membership(game, m[None, :], method))
    return costs_by_group(nash, m), costs_by_group(cnash, m)


def charging_cost_ratios(game: ChargingGame, m: Float[Array, " N"],
                         method: Method = "structured") -> Ratios:
    """(M_[N], M_C, M_[N]\\C) of the checked membership vector ``m`` (N,) in the closed form:
    group ratios of :func:`equilibrium_group_costs`. Called eagerly, it refuses costs that
    are not finite (float64 overflow: ``ValueError``)."""
    nash, cnash = equilibrium_group_costs(game, m, method)
    game.check_finite("group costs at Nash and C-Nash", jnp.stack([*nash, *cnash]))
    return group_ratios(nash, cnash)
