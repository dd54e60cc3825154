"""Costs and the paper's Eval-Metric ratios (paper 000, eqs (1), (2), (5), Eval-Metric)."""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import concrete, short
from .closed_form import METHODS, Method, equilibrium
from .coalitions import single_coalition
from .game import ChargingGame


def station_costs(game: ChargingGame, x: Float[Array, "N T"]) -> Float[Array, " N"]:
    """c_i(x) = sum_t p^t(x) x_i^t + mu_i/2 ||x_i - xbar_i||^2 for every station (eq (1)).

    Called eagerly, costs that are not finite (float64 overflow) raise ``ValueError``."""
    if x.shape != game.xbar.shape:
        raise ValueError(f"x must have shape {game.xbar.shape}, got {x.shape}")
    known = concrete(x)
    if known is not None and not np.isfinite(known).all():
        raise ValueError(f"x must be finite, got {short(known)}")
    payment = jnp.sum(game.price(x)[None, :] * x, axis=1)
    costs = payment + 0.5 * game.mu * jnp.sum((x - game.xbar) ** 2, axis=1)
    game.check_finite("station costs", costs)  # eager calls only: traced values pass
    return costs


def group_cost(game: ChargingGame, x: Float[Array, "N T"], group) -> Float[Array, ""]:
    """c_S(x) = sum_{i in S} c_i(x) (eq (5)); ``group`` as indices or a mask of shape (N,)."""
    return jnp.dot(single_coalition(group, game.n_stations), station_costs(game, x))


class Ratios(NamedTuple):
    """The Eval-Metric ratios: cost at Nash divided by cost at C-Nash, for three groups.

    A ratio above 1 means the group pays less at C-Nash (the coalition helps it); below 1,
    Nash is better for it. A ratio is a number only where the group's C-Nash cost is positive;
    elsewhere it is NaN, undefined (:func:`ratio_reasons` says why): ``outside`` of the grand
    coalition (no outsiders: cost 0), or a group whose C-Nash cost is zero or negative (a
    quotient of costs of mixed or negative sign does not say which equilibrium is cheaper).
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


def ratio(num, den):
    """``num / den`` where ``den > 0``, NaN elsewhere: the rule of every cost ratio in evjax
    (an empty group has cost exactly 0, so it is undefined too). Safe under ``grad``."""
    defined = den > 0
    return jnp.where(defined, num / jnp.where(defined, den, 1.0), jnp.nan)


def group_ratios(nash: GroupCosts, cnash: GroupCosts) -> Ratios:
    """The three ratios from the groups' costs at Nash and at C-Nash (:func:`ratio` each)."""
    return Ratios(*(ratio(n, c) for n, c in zip(nash, cnash, strict=True)))


def ratio_reasons(nash: GroupCosts, cnash: GroupCosts, coalition, n: int) -> tuple:
    """Why each ratio of :func:`group_ratios` is undefined: a sentence, or None where the ratio
    is a number (concrete costs; ``coalition`` as indices or a mask, ``n`` stations)."""
    m = np.asarray(single_coalition(coalition, n))
    sizes = (float(n), float(m.sum()), float((1.0 - m).sum()))
    empty = ("no stations", "no members", "no outsiders (the grand coalition)")
    reasons = []
    for size, none, num, den in zip(sizes, empty, nash, cnash, strict=True):
        num, den = float(num), float(den)
        if size == 0:
            reasons.append(f"undefined: the group has {none}")
        elif not (np.isfinite(num) and np.isfinite(den)):
            reasons.append(f"undefined: a cost is not finite (Nash {num:.6g}, C-Nash {den:.6g})")
        elif den <= 0:
            reasons.append(f"undefined: the group's C-Nash cost is {den:.6g} <= 0 (Nash cost "
                           f"{num:.6g}); a ratio of costs needs a positive denominator")
        else:
            reasons.append(None)
    return tuple(reasons)


def cost_ratios(game: ChargingGame, coalition, *, method: Method = "structured") -> Ratios:
    """(M_[N], M_C, M_[N]\\C) for one coalition C (indices or a mask of shape (N,)).

    M_S = c_S(x*) / c_S(x^dagger) with x* the Nash and x^dagger the C-Nash equilibrium
    (Eval-Metric); NaN where c_S(x^dagger) <= 0 (see :class:`Ratios`). Differentiable in
    every game parameter and, for masks, in the membership. Called eagerly, it refuses
    costs that are not finite (float64 overflow: ``ValueError``).
    A :class:`evjax.ConstrainedChargingGame` (x >= 0, rate limits, capacity) is accepted too:
    its equilibria come from the Nikaido-Isoda solver (slower; ``coalition`` as indices).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    from .constrained import ConstrainedChargingGame, constrained_cost_ratios

    if isinstance(game, ConstrainedChargingGame):  # the slower path: two NI solves
        return constrained_cost_ratios(game, coalition)
    nash, cnash = _group_costs_both(game, single_coalition(coalition, game.n_stations), method)
    game.check_finite("group costs at Nash and C-Nash", jnp.stack([*nash, *cnash]))
    return group_ratios(nash, cnash)


@eqx.filter_jit
def _group_costs_both(game: ChargingGame, m: Float[Array, " N"], method: Method):
    """The groups' costs at the Nash and at the C-Nash equilibrium of the mask ``m``."""
    nash = group_costs(game, equilibrium(game, (), method=method), m)
    cnash = group_costs(game, equilibrium(game, m, method=method), m)
    return nash, cnash
