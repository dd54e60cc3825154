"""Parameter design: the smallest change of a game parameter that meets a ratio target.

    minimise  ||(p - p0) / s||^2   over the free entries of one parameter p (mu, d, a, b or
                                   xbar), s = |p0| (a relative change; 1 where p0 = 0)
    such that M_S(p) >= level   (or <= level)       S one of [N], C, [N]\\C (Eval-Metric)
              lo <= p <= hi

by an augmented Lagrangian (Powell-Hestenes-Rockafellar for one inequality): the inner
problem min ||u||^2 + (max(0, lam - rho g)^2 - lam^2) / (2 rho), with g the constraint
normalised by its initial violation, is solved by optax Adam steps, each projected onto the
bounds; then lam <- max(0, lam - rho g), rho doubled while infeasible. A final bisection along
the segment from p0 to the result finds the smallest feasible step on it, and the result is
verified by recomputing both equilibria with the dense solver.

A :class:`evjax.ConstrainedChargingGame` works too: the ratios come from the Nikaido-Isoda
solver and their gradients from its implicit adjoint (slower: two solves per step).
"""

from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from ..charging.coalitions import coalition_members, mask_of
from ..charging.constrained import ConstrainedChargingGame, constrained_cost_ratios
from ..charging.game import ChargingGame
from ..charging.metrics import charging_cost_ratios
from ..charging.ratios import Ratios, group_index
from .projections import box

PARAMETERS = ("mu", "d", "a", "b", "xbar")
POSITIVE = ("mu", "b", "d")  # must stay > 0 (ChargingGame): default bounds p0 / 10 .. 10 p0


def get_parameter(game, name: str):
    """The array of parameter ``name`` of a charging game (or of a constrained one's game)."""
    return getattr(base_game(game), name)


def with_parameter(game, name: str, value):
    """``game`` with parameter ``name`` replaced by ``value`` (same shape; traced ok)."""
    if isinstance(game, ConstrainedChargingGame):
        return eqx.tree_at(lambda g: getattr(g.game, name), game, value)
    return eqx.tree_at(lambda g: getattr(g, name), game, value)


def checked_coalition(game, coalition) -> tuple[list[int], Array]:
    """(members, mask): one coalition of a (constrained) charging game, checked once, as
    station indices (in the order given) and as a 0/1 membership vector (N,)."""
    n = base_game(game).n_stations
    members = coalition_members(coalition, n)
    return members, mask_of([members], n)[0]


def base_game(game) -> ChargingGame:
    """The charging game itself: ``game``, or a constrained game's ``game``."""
    return game.game if isinstance(game, ConstrainedChargingGame) else game


def ratios_of(game, mask: Array | None, members: tuple[int, ...],
              method: str = "structured") -> Ratios:
    """The three ratios of a checked coalition (trusted): from its ``mask`` (N,) by the closed
    form (``method``), or from its ``members`` by the NI solver for a constrained game."""
    if isinstance(game, ConstrainedChargingGame):
        return constrained_cost_ratios(game, members)
    return charging_cost_ratios(game, mask, method)


@dataclass(frozen=True)
class ParameterDesign:
    """What :func:`design_parameters` returns (host data).

    Attributes:
        game: the designed game (``parameter`` replaced by ``value``).
        parameter: the parameter's name; ``initial`` and ``value`` its arrays before / after.
        free: boolean mask of the entries allowed to change.
        relative_change: ||(value - initial) / s|| (s = |initial|, 1 where it is 0).
        ratios_before, ratios_after: the three ratios; ``ratios_after`` recomputed from the
            designed game's equilibria (dense solver for the unconstrained game).
        feasible: whether ``ratios_after`` meets the target.
        history: per outer iteration, (relative change, ratio) of the iterate.
    """

    game: object
    parameter: str
    initial: np.ndarray
    value: np.ndarray
    free: np.ndarray
    relative_change: float
    ratios_before: Ratios
    ratios_after: Ratios
    feasible: bool
    history: np.ndarray


def design_parameters(
    game,
    coalition,
    *,
    parameter: str = "mu",
    entries=None,
    group: str = "coalition",
    at_least: float | None = None,
    at_most: float | None = None,
    bounds=None,
    outer: int = 12,
    inner: int = 60,
    learning_rate: float = 0.02,
    rho: float = 10.0,
) -> ParameterDesign:
    """The smallest relative change of ``parameter`` meeting a ratio target (module docstring).

    Arguments:
        game: a :class:`evjax.ChargingGame` or :class:`evjax.ConstrainedChargingGame`.
        coalition: the coalition's station indices.
        parameter: "mu", "d" (N,), "a" (T,), "b" (scalar or (T,)) or "xbar" (N, T).
        entries: boolean mask or indices of the entries that may change; default: the
            coalition's stations for mu, d and xbar, every entry for a and b.
        group: the ratio constrained, "all", "coalition" or "outside".
        at_least / at_most: the target M_group >= at_least or <= at_most (exactly one).
        bounds: (lo, hi) broadcast to the parameter's shape; default p0/10 .. 10 p0 for mu,
            b and d (which must stay > 0), p0 -/+ 10 max(|p0|, 1) for a and xbar.
        outer, inner, learning_rate, rho: augmented-Lagrangian iterations, Adam steps per
            iteration, Adam's step and the initial penalty.
    """
    if parameter not in PARAMETERS:
        raise ValueError(f"parameter must be one of {PARAMETERS}, got {parameter!r}")
    column = group_index(group)
    if (at_least is None) == (at_most is None):
        raise ValueError("give exactly one of at_least and at_most")
    if not isinstance(game, ChargingGame | ConstrainedChargingGame):
        raise ValueError(f"game must be a (constrained) ChargingGame, got {type(game).__name__}")
    members, mask = checked_coalition(game, coalition)
    constrained = isinstance(game, ConstrainedChargingGame)
    level, sign = (at_least, 1.0) if at_least is not None else (at_most, -1.0)
    p0 = jnp.asarray(get_parameter(game, parameter))
    free = _entries(parameter, p0, entries, members)
    lo, hi = _bounds(parameter, p0, bounds)
    scale = jnp.where(p0 == 0, 1.0, jnp.abs(p0))
    before = ratios_of(game, mask, tuple(members))
    as_array = lambda v: jnp.asarray(v, p0.dtype)  # noqa: E731
    target = _Target(
        game, p0, free, scale, jnp.where(free, (lo - p0) / scale, 0.0),
        jnp.where(free, (hi - p0) / scale, 0.0), as_array(level), as_array(sign),
        as_array(max(abs(float(before[column]) - level), 1e-6)), jnp.asarray(column),
        as_array(mask), parameter, tuple(members) if constrained else ())
    u, history = _augmented_lagrangian(target, outer, inner, learning_rate, rho)
    value = jnp.where(free, p0 + scale * u, p0)
    designed = with_parameter(game, parameter, value)
    # verified from scratch: dense solves for the unconstrained game
    after = ratios_of(designed, mask, tuple(members), method="dense")
    feasible = bool(sign * (float(after[column]) - level) >= -1e-12)
    return ParameterDesign(
        designed, parameter, np.asarray(p0), np.asarray(value), np.asarray(free),
        float(jnp.linalg.norm(u)), Ratios(*(float(r) for r in before)),
        Ratios(*(float(r) for r in after)), feasible, np.asarray(history))


def _augmented_lagrangian(target: "_Target", outer: int, inner: int, learning_rate: float,
                          rho: float):
    """(u, history): the outer iterations of the module docstring's augmented Lagrangian,
    then the shortest feasible step along the best feasible iterate's ray."""
    as_array = lambda v: jnp.asarray(v, target.p0.dtype)  # noqa: E731
    level, sign = float(target.level), float(target.sign)
    u = jnp.zeros_like(target.p0)
    state, lam, history, best = optax.adam(0.0).init(u), 0.0, [], None
    zero, one = as_array(0.0), as_array(1.0)

    def constraint(v):  # zero Adam steps: the constraint alone, from the same compilation
        return float(_inner_steps(target, v, state, zero, one, zero, jnp.asarray(0))[2])

    for _ in range(outer):
        u, state, g = _inner_steps(target, u, state, as_array(lam), as_array(rho),
                                   as_array(learning_rate), jnp.asarray(inner))
        g = float(g)
        norm = float(jnp.linalg.norm(u))
        history.append((norm, level + sign * g * float(target.g_scale)))
        if g >= 0 and (best is None or norm < float(jnp.linalg.norm(best))):
            best = u
        lam = max(0.0, lam - rho * g)
        if g < 0:
            rho *= 2.0
    u = _shortest_feasible(constraint, u if best is None else best, target.u_lo, target.u_hi)
    return u, history


class _Target(eqx.Module):
    """One design problem as a pytree (so that one compilation serves every call of the same
    structure): the change u is relative, p = p0 + scale u on the free entries."""

    game: object
    p0: Array
    free: Array
    scale: Array
    u_lo: Array
    u_hi: Array
    level: Array
    sign: Array
    g_scale: Array
    column: Array
    mask: Array  # the coalition as a membership vector (the unconstrained game)
    parameter: str = eqx.field(static=True)
    members: tuple = eqx.field(static=True)  # the coalition's indices (the constrained game)

    def constraint(self, u):
        """>= 0 where the target is met, normalised by the initial gap."""
        p = jnp.where(self.free, self.p0 + self.scale * u, self.p0)
        game = with_parameter(self.game, self.parameter, p)
        ratio = jnp.stack(list(ratios_of(game, self.mask, self.members)))[self.column]
        return self.sign * (ratio - self.level) / self.g_scale


@eqx.filter_jit
def _inner_steps(target: _Target, u, state, lam, rho, learning_rate, steps):
    """``steps`` projected Adam steps on the augmented Lagrangian (module docstring); returns
    (u, state, constraint at u). ``steps`` is traced (0: only the constraint), so that one
    compilation serves the whole design."""
    opt = optax.adam(learning_rate)

    def lagrangian(u):
        g = target.constraint(u)
        return jnp.sum(u**2) + (jnp.maximum(0.0, lam - rho * g) ** 2 - lam**2) / (2 * rho)

    def step(_, carry):
        u, state = carry
        updates, state = opt.update(jax.grad(lagrangian)(u), state, u)
        return box(optax.apply_updates(u, updates), target.u_lo, target.u_hi), state

    u, state = jax.lax.fori_loop(0, steps, step, (u, state))
    return u, state, target.constraint(u)


def _entries(parameter, p0, entries, coalition):
    if entries is None:
        if parameter in ("mu", "d"):
            entries = coalition
        elif parameter == "xbar":
            mask = np.zeros(p0.shape, bool)
            mask[coalition] = True
            return jnp.asarray(mask)
        else:
            return jnp.ones(p0.shape, bool)
    mask = np.asarray(entries)
    if mask.dtype != bool:
        flat = np.zeros(p0.shape[0] if p0.ndim else 1, bool)
        flat[mask.astype(int)] = True
        mask = flat if p0.ndim == 1 else np.broadcast_to(
            flat[:, None] if p0.ndim == 2 else flat[0], p0.shape)
    if mask.shape != p0.shape:
        raise ValueError(f"entries must select from shape {p0.shape}, got shape {mask.shape}")
    if not mask.any():
        raise ValueError("entries selects no entry to change")
    return jnp.asarray(mask)


def _bounds(parameter, p0, bounds):
    if bounds is None:
        if parameter in POSITIVE:
            return p0 / 10.0, p0 * 10.0
        width = 10.0 * jnp.maximum(jnp.abs(p0), 1.0)
        return p0 - width, p0 + width
    lo, hi = (jnp.broadcast_to(jnp.asarray(v, p0.dtype), p0.shape) for v in bounds)
    if not bool(jnp.all(lo <= p0) & jnp.all(p0 <= hi)):
        raise ValueError(f"bounds must contain the current {parameter}")
    if parameter in POSITIVE and not bool(jnp.all(lo > 0)):
        raise ValueError(f"{parameter} must stay positive: its lower bounds must be > 0")
    return lo, hi


def _shortest_feasible(g, u, u_lo, u_hi, iters: int = 50):
    """The feasible point t u with the smallest t >= 0 on the ray through ``u`` (within the
    bounds), by bisection: shrinks a feasible ``u`` whose constraint holds strictly, extends
    one that falls just short. Returns ``u`` unchanged when no point of the ray is feasible."""
    if float(g(jnp.zeros_like(u))) >= 0:
        return jnp.zeros_like(u)
    ratios = jnp.where(u > 0, u_hi / jnp.where(u > 0, u, 1.0),
                       jnp.where(u < 0, u_lo / jnp.where(u < 0, u, 1.0), jnp.inf))
    t_max = float(jnp.min(ratios))  # the ray leaves the box at t_max >= 1
    left, right = 0.0, 1.0
    while float(g(right * u)) < 0:
        if right >= t_max:
            return u
        left, right = right, min(2.0 * right, t_max)
    for _ in range(iters):
        mid = 0.5 * (left + right)
        if float(g(mid * u)) >= 0:
            right = mid
        else:
            left = mid
    return right * u
