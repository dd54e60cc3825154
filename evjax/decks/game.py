"""The deck pricing game as a game for the Nikaido-Isoda solver (paper 003, decks.md).

Joint decision x (M, H) with M = 2I (shape name ``"M H"``): deck i owns rows 2i (hourly
charging prices) and 2i + 1 (hourly parking fees), inside boxes; it maximises its daily
profit (:func:`evjax.decks.market.profits`).
The grid (:mod:`evjax.decks.grid`) adds shared constraints g(x) <= 0, one per element and
hour, which make it a generalised Nash problem; :func:`evjax.solvers.solve` computes its
normalised equilibrium (one multiplier per constraint, shared by all decks).

The shared constraints are NOT a sum of one-player terms: a deck's load depends on the other
decks' prices through eq (8)'s mean price q and the SC demand, so the Hessian of lambda . g
has cross-player blocks. The solver's interior-point Newton steps use only its diagonal
blocks (an approximate Newton matrix) while every residual, the NI gap, the polish and the
implicit adjoint use the exact derivatives; a converged answer is therefore exact, only the
number of interior-point iterations grows (see the README's "Deck pricing game").
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..solvers.game import AbstractNIGame
from .grid import Grid, constraints, loads
from .market import Market, charging_load, profits


class DeckGame(AbstractNIGame):
    """I decks pricing charging and parking over H hours, with an optional grid.

    Fields: ``market`` (:class:`Market`), ``grid`` (:class:`Grid` or None: no shared
    constraints), ``charging_box`` and ``parking_box`` (2,) price bounds, ``start_price``
    the relaxation's starting point (paper: 0.5, clipped into the boxes). Build it from a
    scenario with :func:`evjax.decks.build_game`.
    """

    market: Market
    grid: Grid | None
    charging_box: Float[Array, " 2"]
    parking_box: Float[Array, " 2"]
    start_price: Float[Array, ""]
    players: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    maximize: bool = eqx.field(static=True, default=True)

    def __init__(self, market: Market, grid: Grid | None, charging_box=(0.2, 2.0),
                 parking_box=(0.0, 2.0), start_price=0.5):
        self.market = market
        self.grid = grid
        self.charging_box = jnp.asarray(charging_box, market.lsc.dtype)
        self.parking_box = jnp.asarray(parking_box, market.lsc.dtype)
        self.start_price = jnp.asarray(start_price, market.lsc.dtype)
        self.players = tuple((2 * i, 2 * i + 1) for i in range(market.n_decks))
        self.maximize = True

    @property
    def shape(self) -> tuple[int, int]:
        return (2 * self.market.n_decks, self.market.n_hours)

    def payoffs(self, x: Float[Array, "M H"]) -> Float[Array, " I"]:
        """Daily profit of every deck (eq (1))."""
        return profits(self.market, x)

    def bounds(self):
        m, h = self.shape
        lower = jnp.tile(jnp.stack([self.charging_box[0], self.parking_box[0]])[:, None],
                         (m // 2, h))
        upper = jnp.tile(jnp.stack([self.charging_box[1], self.parking_box[1]])[:, None],
                         (m // 2, h))
        return lower, upper

    def grid_constraints(self, x: Float[Array, "M H"]) -> Float[Array, "K H"]:
        """The grid constraints (K, H) at prices ``x`` (rows as ``grid.labels()``)."""
        if self.grid is None:
            return jnp.zeros((0, self.shape[1]), x.dtype)
        return constraints(self.grid, self.load(x))

    def load(self, x: Float[Array, "M H"]) -> Float[Array, "I H"]:
        """Deck loads P_i(t), kW (charging plus base load; charging only without a grid)."""
        charging = charging_load(self.market, x)
        return charging if self.grid is None else loads(self.grid, charging)

    def shared(self, x: Float[Array, "M H"]) -> Float[Array, " K"]:
        return self.grid_constraints(x).reshape(-1)

    def start(self) -> Float[Array, "M H"]:
        lower, upper = self.bounds()
        return jnp.clip(jnp.full(self.shape, self.start_price), lower, upper)


def hour_game(game: DeckGame, t: int) -> DeckGame:
    """The game of hour ``t`` alone (H = 1; the fixed cost C_i is kept).

    Profits and grid constraints of hour t involve only hour t's prices, so the deck game is
    the product of its H hourly games: its equilibrium is theirs side by side, its NI function
    their sum. Solving hour by hour gives the same equilibrium with K grid constraints per
    solve instead of K H (the interior point's Schur complement is K x K)."""
    m = game.market
    one = slice(t, t + 1)
    market = eqx.tree_at(lambda q: (q.lc_park, q.lc_charge, q.lsc, q.sc, q.buy), m,
                         (m.lc_park[:, one], m.lc_charge[:, one], m.lsc[:, one], m.sc[:, one],
                          m.buy[one]))
    out = eqx.tree_at(lambda g: g.market, game, market)
    if game.grid is not None:
        out = eqx.tree_at(lambda g: g.grid.base, out, game.grid.base[:, one])
    return out
