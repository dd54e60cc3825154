"""The charging game of paper 000 as a game for the Nikaido-Isoda solver, with constraints.

Players are the coalitions of a structure plus the stations acting alone (a coalition owns
its members' profiles and minimises their summed cost, eq (5)); every station keeps its energy
equality sum_t x_i^t = d_i. The constraints the paper leaves as future work are options:

* ``nonnegative``: no discharging, x_i^t >= 0;
* ``rate_limit`` (scalar or (N,)): x_i^t <= r_i;
* ``capacity`` (scalar or (T,)): a shared grid limit sum_i x_i^t <= cap^t, which makes the
  game a generalised Nash problem; :func:`evjax.solvers.solve` computes its normalised
  equilibrium (one price of capacity for every player).

Without constraints the equilibrium is the closed form of :func:`evjax.equilibrium`.

Coalitions as data: given a 0/1 membership array instead of index lists, every station is a
player of its own that minimises its coalition's summed cost over its own profile. The
coalition's cost is jointly convex and the constraints separate by station (the shared one
with one price for all), so the members' block-wise optimality conditions are the
coalition's joint ones: the same equilibrium, but with players fixed, so one compiled solve
serves every coalition (``jax.vmap`` over memberships, as constrained sweeps do).
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import as_float_array, check_shape, check_values, concrete
from ..solvers import solve
from ..solvers.game import AbstractNIGame, owner_of
from .coalitions import coalition_members, membership, players
from .game import ChargingGame
from .metrics import group_costs, station_costs
from .ratios import Ratios, group_ratios


class ConstrainedChargingGame(AbstractNIGame):
    """A :class:`ChargingGame` with a coalition structure and optional constraints.

    Arguments:
        game: the charging game (a (T,), b scalar or (T,), mu, d (N,), xbar (N, T)).
        coalitions: disjoint coalitions (lists of station indices); the other stations act
            alone. ``()`` is the Nash game. Or a 0/1 membership array (N,) or (K, N) of
            disjoint coalitions (may be traced: coalitions as data, see the module notes).
        nonnegative: require x >= 0.
        rate_limit: per-station upper bound r_i on every x_i^t (scalar or (N,)), or None.
        capacity: shared upper bound on sum_i x_i^t (scalar or (T,)), or None.
    """

    game: ChargingGame
    membership: Float[Array, "K N"] | None
    rate_limit: Float[Array, " N"] | None
    capacity: Float[Array, " T"] | None
    players: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    nonnegative: bool = eqx.field(static=True, default=False)
    maximize: bool = eqx.field(static=True, default=False)
    own_convex: ClassVar[bool] = True  # a coalition's cost is convex in its members' rows
    quadratic: ClassVar[bool] = True  # quadratic costs, affine capacity constraints
    time_separable: ClassVar[bool] = True  # prices and capacities act step by step

    def __init__(
        self,
        game: ChargingGame,
        coalitions=(),
        *,
        nonnegative: bool = False,
        rate_limit=None,
        capacity=None,
    ):
        if not isinstance(game, ChargingGame):
            raise ValueError(f"game must be a ChargingGame, got {type(game).__name__}")
        n, t = game.n_stations, game.n_steps
        self.game = game
        if isinstance(coalitions, (np.ndarray, jax.Array)):
            # checked like every membership array: [0, 1], disjoint, no empty row (if concrete)
            self.membership = membership(coalitions, n)
            self.players = tuple((i,) for i in range(n))
        else:
            self.membership = None
            self.players = tuple(tuple(p) for p in players(coalitions, n))
        self.nonnegative = bool(nonnegative)
        self.maximize = False
        self.rate_limit = None
        self.capacity = None
        known_d = concrete(game.d)
        if rate_limit is not None:
            r, known = _vector("rate_limit", rate_limit, n)
            bad = np.flatnonzero(t * known < known_d * (1 - 1e-12)) if (
                known is not None and known_d is not None) else ()
            if len(bad):
                i = int(bad[0])
                raise ValueError(
                    f"rate_limit is infeasible for station {i}: T * r_i = "
                    f"{t * known[i]:.6g} is below its demand d_{i} = {known_d[i]:.6g}"
                )
            self.rate_limit = r
        if capacity is not None:
            c, known = _vector("capacity", capacity, t)
            if known is not None and known_d is not None and (
                    known.sum() < known_d.sum() * (1 - 1e-12)):
                raise ValueError(
                    f"capacity is infeasible: its total over the day, {known.sum():.6g}, is "
                    f"below the total demand sum_i d_i = {known_d.sum():.6g}"
                )
            self.capacity = c

    @property
    def shape(self) -> tuple[int, int]:
        return (self.game.n_stations, self.game.n_steps)

    @property
    def constrained(self) -> bool:
        return self.nonnegative or self.rate_limit is not None or self.capacity is not None

    def payoffs(self, x: Float[Array, "N T"]) -> Float[Array, " P"]:
        """Each player's summed station cost (eq (1) summed over its members, eq (5))."""
        # Player p pays for its stations: its own (a coalition's members), or in membership
        # mode station i's coalition. A 0/1 matrix product, not a scatter (slow under vmap).
        return self._rows()[1] @ station_costs(self.game, x)

    def own_gradients(self, x: Float[Array, "N T"]) -> Float[Array, "N T"]:
        """d/dx_i of station i's player's cost: p(x) + b * (its player's summed profile)
        + mu_i (x_i - xbar_i), in closed form (O(N T) instead of autodiff's O(P N T))."""
        g = self.game
        b = jnp.broadcast_to(g.b, (g.n_steps,))
        if self.membership is not None:
            summed = self._team() @ x
        elif all(len(p) == 1 for p in self.players):
            summed = x
        else:  # a static 0/1 matrix: a matrix product, not a scatter (slow under vmap)
            owner = owner_of(self.players)
            summed = jnp.asarray(owner[:, None] == owner[None, :], x.dtype) @ x
        return g.price(x)[None, :] + b[None, :] * summed + g.mu[:, None] * (x - g.xbar)

    def own_curvature(self, x: Float[Array, "N T"]) -> Float[Array, "N T"]:
        """d^2 / d(x_i^t)^2 of station i's player's cost: mu_i + 2 b^t (the price's slope,
        once through the price and once through the player's own summed profile)."""
        g = self.game
        b = jnp.broadcast_to(g.b, (g.n_steps,))
        return jnp.broadcast_to(g.mu[:, None] + 2.0 * b[None, :], x.shape).astype(x.dtype)

    def step_jacobians(self, x: Float[Array, "N T"]):
        """d g_i^t / d x_j^t = mu_i [i = j] + b^t (1 + [i and j share a player]): the price's
        slope once through the price and once through the player's summed profile. As
        diag(D_t) + U_t V_t^T: the all-ones column and one 0/1 column per coalition of
        two or more stations (R = 1 + their number); stations alone add b^t to D."""
        g = self.game
        n, t = self.shape
        b = jnp.broadcast_to(g.b, (t,)).astype(x.dtype)
        if self.membership is not None:
            groups = self.membership  # (K, N), disjoint
        else:
            groups = jnp.asarray(np.array([[i in p for i in range(n)] for p in self.players
                                           if len(p) > 1], float).reshape(-1, n))
        columns = jnp.concatenate([jnp.ones((1, n), x.dtype), groups.astype(x.dtype)]).T
        alone = 1.0 - jnp.sum(groups, axis=0)  # (N,)
        diag = g.mu[None, :] + b[:, None] * alone[None, :]
        v = jnp.broadcast_to(columns, (t, *columns.shape))  # (T, N, R)
        return diag, b[:, None, None] * v, v

    def unilateral_losses(self, x: Float[Array, "N T"],
                          y: Float[Array, "N T"]) -> Float[Array, " P"]:
        """Each player's cost after it alone moves its rows from ``x`` to ``y``, in closed form
        (O(P N T) matrix products instead of P evaluations of every station's cost).

        Player p owns the rows R_p and pays for the stations W_p (R_p itself, or a
        station's coalition in membership mode). Its move D_p = sum_{i in R_p} (y_i - x_i)
        shifts the price to a + b (X + D_p), and its cost is that price times its stations'
        summed profile S_p + D_p, plus their quadratic terms (y's on R_p, x's elsewhere)."""
        g = self.game
        owns, pays = self._rows()
        deviation = owns @ (y - x)
        price = g.a + g.b * (jnp.sum(x, axis=0) + deviation)
        quad_x = 0.5 * g.mu * jnp.sum((x - g.xbar) ** 2, axis=1)
        quad_y = 0.5 * g.mu * jnp.sum((y - g.xbar) ** 2, axis=1)
        return (jnp.sum(price * (pays @ x + deviation), axis=1) + pays @ quad_x
                + owns @ (quad_y - quad_x))

    def _rows(self) -> tuple[Float[Array, "P N"], Float[Array, "P N"]]:
        """(owns, pays): 0/1 matrices of the rows each player moves and of the stations whose
        costs it pays."""
        if self.membership is not None:
            return jnp.eye(self.game.n_stations), self._team()
        owner = owner_of(self.players)
        owns = jnp.asarray(np.arange(len(self.players))[:, None] == owner[None, :], float)
        return owns, owns

    def _team(self) -> Float[Array, "N N"]:
        """1 where stations i and j share a coalition (and on the diagonal); membership mode."""
        together = self.membership.T @ self.membership
        return together + jnp.diag(1.0 - jnp.diag(together))

    def bounds(self):
        n, t = self.shape
        lower = jnp.zeros((n, t)) if self.nonnegative else jnp.full((n, t), -jnp.inf)
        if self.rate_limit is None:
            upper = jnp.full((n, t), jnp.inf)
        else:
            upper = jnp.broadcast_to(self.rate_limit[:, None], (n, t))
        return lower, upper

    def row_sums(self) -> Float[Array, " N"]:
        return self.game.d

    def shared(self, x: Float[Array, "N T"]) -> Float[Array, " K"]:
        if self.capacity is None:
            return jnp.zeros(0, x.dtype)
        return jnp.sum(x, axis=0) - self.capacity

    def start(self) -> Float[Array, "N T"]:
        """Flat profiles d_i / T (feasible for x >= 0, and for rate limits that allow d_i)."""
        n, t = self.shape
        return jnp.broadcast_to((self.game.d / t)[:, None], (n, t))


def _vector(name: str, value, length: int):
    """A positive finite scalar or (length,) vector, broadcast; and its value if concrete."""
    v = as_float_array(name, value, (0, 1))
    v = jnp.broadcast_to(v, (length,)) if v.ndim == 0 else v
    check_shape(name, v, (length,))
    v = check_values(name, v, positive=True)
    return v, concrete(v)


def constrained_cost_ratios(game: ConstrainedChargingGame, coalition, **options) -> Ratios:
    """(M_[N], M_C, M_[N]\\C) of one coalition under ``game``'s constraints.

    Nash and C-Nash equilibria come from :func:`evjax.solvers.solve` (``options`` are passed
    on; it raises unless both converge); ``game``'s own coalitions are ignored. ``coalition``
    is a list of station indices (it fixes the players, which are static). Compiled once per
    game structure, coalition and options (an eager solve would compile its loops again at
    every call, with the game's values baked in)."""
    members = tuple(coalition_members(coalition, game.game.n_stations))
    nash, cnash = _constrained_group_costs(game, members, tuple(sorted(options.items())))
    game.game.check_finite("group costs at Nash and C-Nash", jnp.stack([*nash, *cnash]))
    return group_ratios(nash, cnash)


@eqx.filter_jit
def _constrained_group_costs(game: ConstrainedChargingGame, members, options):
    """The groups' costs at the constrained Nash and C-Nash equilibria of ``members``.

    Both equilibria come from one solve mapped over two coalitions as data (an all-zero
    membership is the Nash game; see the module notes): one solver program to compile
    instead of two (compiling, not solving, is what a first call costs: about half). A
    ``lax.map``, not a ``vmap``: each solve stops at its own convergence, and forward-mode
    derivatives (``sensitivity``'s ``jacfwd``) batch it only once."""
    options = dict(options)
    constraints = dict(nonnegative=game.nonnegative, rate_limit=game.rate_limit,
                       capacity=game.capacity)
    mask = jnp.zeros(game.game.n_stations).at[jnp.asarray(members)].set(1.0)

    def profile(m):
        return solve(ConstrainedChargingGame(game.game, m, **constraints), **options).value

    nash_x, cnash_x = jax.lax.map(profile, jnp.stack([jnp.zeros_like(mask), mask])[:, None, :])
    return group_costs(game.game, nash_x, mask), group_costs(game.game, cnash_x, mask)
