"""What the Nikaido-Isoda solver needs to know about a game.

A game's joint decision is one array ``x`` of shape (M, T): M rows of T numbers (a station's
charging profile, a deck's hourly prices). Each player owns some rows (a coalition owns its
members' rows) and has a payoff at the joint ``x``: a cost it minimises or a profit it
maximises. Feasible sets:

* per entry bounds ``lower <= x <= upper`` (either may be infinite);
* per row equalities ``sum_t x[r, t] = row_sum[r]`` where ``row_sum[r]`` is finite (NaN: none);
* optional shared constraints ``g(x) <= 0`` (K,), which make it a generalised Nash problem;
  the solver computes the normalised equilibrium (Krawczyk and Uryasev 2000). ``g`` must be a
  sum of terms that each involve one player's rows (true of capacity sums and of grid loads):
  the solver's Newton steps use the Hessian blocks of single players.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._solution import Response


class AbstractNIGame(eqx.Module):
    """A game for :func:`evjax.solvers.solve`: players own rows of ``x`` (M, T).

    Subclasses set the static field ``players`` (a tuple of disjoint tuples of row indices
    covering range(M)) and ``maximize`` (payoffs are profits, not costs), and implement
    :meth:`payoffs`; the other methods default to an unconstrained game.
    """

    players: eqx.AbstractVar[tuple[tuple[int, ...], ...]]
    maximize: eqx.AbstractVar[bool]
    # True where every player's loss is convex in its own rows (at any x): the optimal
    # response then skips its inertia correction (per-block eigenvalues at every step).
    own_convex: ClassVar[bool] = False
    # True where every loss is a quadratic function of x and the shared constraints are
    # affine: the Hessian blocks of the optimal response are then constant, and it computes
    # them once per response instead of at every interior-point step.
    quadratic: ClassVar[bool] = False
    # True where the pseudo-gradient at step t (:meth:`own_gradients`) and the shared
    # constraints' gradients depend on x only through the column x[:, t]: the polish's
    # Newton systems are then T small (M, M) blocks coupled by the row sums and the shared
    # multipliers, solved by a Schur complement instead of one dense (MT, MT) factorisation.
    time_separable: ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int]:
        """(M, T): the shape of the joint decision ``x``."""

    @abc.abstractmethod
    def payoffs(self, x: Float[Array, "M T"]) -> Float[Array, " P"]:
        """Every player's payoff at the joint decision ``x`` (costs or profits)."""

    def bounds(self) -> tuple[Float[Array, "M T"], Float[Array, "M T"]]:
        """(lower, upper) bounds on every entry of ``x``; infinite where there is none."""
        shape = self.shape
        return jnp.full(shape, -jnp.inf), jnp.full(shape, jnp.inf)

    def row_sums(self) -> Float[Array, " M"]:
        """Required sum over t of each row of ``x``; NaN where a row has no such equality."""
        return jnp.full(self.shape[0], jnp.nan)

    def shared(self, x: Float[Array, "M T"]) -> Float[Array, " K"]:
        """Shared constraint values g(x), feasible where ``g(x) <= 0``; (0,) if there are none."""
        return jnp.zeros(0, x.dtype)

    def start(self) -> Float[Array, "M T"]:
        """A starting point for the relaxation (need not be feasible); default: zeros."""
        return jnp.zeros(self.shape)

    # ------------------------------------------------------------------ derived, not abstract

    def own_gradients(self, x: Float[Array, "M T"]) -> Float[Array, "M T"]:
        """Each row's derivative of its owner's loss, d loss_owner(r)(x) / d x[r] (M, T).

        The pseudo-gradient whose zero (with the constraints' multipliers) is the
        equilibrium; the solver's polish and implicit adjoint differentiate it once more.
        Default: reverse-mode autodiff of :meth:`losses` (P passes). A game with a cheaper
        closed form may override it (:class:`evjax.ConstrainedChargingGame` does, O(M T))."""
        jac = jax.jacrev(self.losses)(x)  # (P, M, T)
        return jac[owner_of(self.players), jnp.arange(x.shape[0])]

    def own_curvature(self, x: Float[Array, "M T"]) -> Float[Array, "M T"]:
        """Each entry's second derivative of its owner's loss, d^2 loss_owner(r) / d x[r, t]^2
        (M, T): the diagonals of the players' own Hessians (what a water-filling response
        needs). Default: Jacobian-vector products of :meth:`own_gradients`, one per row for a
        ``time_separable`` game (the derivative along row r at every t at once holds
        d g[r', t] / d x[r, t] for every r'), one per entry otherwise. A game with a closed
        form may override it (:class:`evjax.ConstrainedChargingGame` does)."""
        m, t = x.shape
        _, lin = jax.linearize(self.own_gradients, x)
        if self.time_separable:
            seeds = jnp.broadcast_to(jnp.eye(m, dtype=x.dtype)[:, :, None], (m, m, t))
            return jnp.diagonal(jax.vmap(lin)(seeds), axis1=0, axis2=1).T
        seeds = jnp.eye(m * t, dtype=x.dtype).reshape(m * t, m, t)
        return jnp.diagonal(jax.vmap(lin)(seeds).reshape(m * t, m * t)).reshape(m, t)

    def step_jacobians(self, x: Float[Array, "M T"]):
        """For a ``time_separable`` game, the Jacobian of :meth:`own_gradients` at each step t,
        d g[i, t] / d x[j, t], as a diagonal plus a low-rank product, B_t = diag(D_t) +
        U_t V_t^T, returned as (D (T, M), U (T, M, R), V (T, M, R)); or None (the default):
        unknown, and the polish computes the blocks densely by M Jacobian-vector products
        and inverts them in O(M^3) each. Given (and the game ``quadratic``), the polish
        inverts them by the Woodbury identity in O(M^2 R).
        :class:`evjax.ConstrainedChargingGame` gives them (R = 1 + its number of
        coalitions)."""
        return None

    def losses(self, x: Float[Array, "M T"]) -> Float[Array, " P"]:
        """Payoffs as losses to minimise: costs as they are, profits negated."""
        p = self.payoffs(x)
        return -p if self.maximize else p

    def unilateral_losses(self, x: Float[Array, "M T"],
                          y: Float[Array, "M T"]) -> Float[Array, " P"]:
        """loss_p(y_p, x_-p) for every player p: each deviates alone from ``x`` to its rows of
        ``y`` (the NI function's second term). The default evaluates :meth:`losses` once per
        player (O(P) payoff evaluations); override it with a closed form where one exists."""
        return unilateral_losses(self, Blocks.of(self.players), x, y)


def owner_of(players: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """(M,) the index of the player owning each row."""
    out = np.zeros(sum(len(p) for p in players), dtype=np.int32)
    for k, p in enumerate(players):
        out[list(p)] = k
    return out


def check_players(players, m: int) -> tuple[tuple[int, ...], ...]:
    """``players`` as a tuple of tuples of ints: disjoint, non-empty, covering range(m)."""
    out = tuple(tuple(int(r) for r in p) for p in players)
    seen = [r for p in out for r in p]
    if any(len(p) == 0 for p in out):
        raise ValueError(f"every player must own at least one row, got {out}")
    if sorted(seen) != list(range(m)):
        raise ValueError(
            f"players must partition the rows 0..{m - 1} (each row owned exactly once), "
            f"got {out}"
        )
    return out


class Blocks:
    """The rows of each player, padded to a common count: ``index`` (P, R), ``valid`` (P, R).

    Static (numpy) data derived from a game's ``players``."""

    def __init__(self, index: np.ndarray, valid: np.ndarray):
        self.index = index
        self.valid = valid

    @staticmethod
    def of(players: tuple[tuple[int, ...], ...]) -> "Blocks":
        r = max(len(p) for p in players)
        index = np.zeros((len(players), r), dtype=np.int32)
        valid = np.zeros((len(players), r), dtype=bool)
        for k, p in enumerate(players):
            index[k, : len(p)] = p
            valid[k, : len(p)] = True
        return Blocks(index, valid)

    def gather(self, x: Float[Array, "M T"], fill=0.0) -> Float[Array, "P R T"]:
        """The rows of each player (padding rows: ``fill``)."""
        return jnp.where(self.valid[:, :, None], x[self.index], fill)

    def scatter(self, blocks: Float[Array, "P R T"]) -> Float[Array, "M T"]:
        """Inverse of :meth:`gather` (padding rows dropped)."""
        m = int(self.valid.sum())
        rows = self.index[self.valid]
        return jnp.zeros((m,) + blocks.shape[2:], blocks.dtype).at[rows].set(blocks[self.valid])

    def replace(self, x: Float[Array, "M T"], p, block: Float[Array, "R T"]) -> Array:
        """``x`` with player ``p``'s rows replaced by ``block`` (``p`` may be traced)."""
        index = jnp.asarray(self.index)[p]
        valid = jnp.asarray(self.valid)[p]
        rows = jnp.where(valid, index, x.shape[0])  # padding rows: out of bounds, dropped
        return x.at[rows].set(block, mode="drop")


def unilateral_losses(game: AbstractNIGame, blocks: Blocks, x, y) -> Float[Array, " P"]:
    """loss_p(y_p, x_-p) for every player p: each deviates alone from ``x`` to its rows of ``y``."""
    yb = blocks.gather(y)

    def one(p):
        return game.losses(blocks.replace(x, p, yb[p]))[p]

    return jax.vmap(one)(jnp.arange(len(game.players)))


def ni_function(game: AbstractNIGame, x: Float[Array, "M T"], y: Float[Array, "M T"]):
    """Psi(x, y) = sum_p [loss_p(x) - loss_p(y_p, x_-p)] (paper 003 eq (24)), in loss units.

    The total gain of the players' unilateral moves from ``x`` to their rows of ``y``; for a
    profit game this is sum_p [R_p(y_p, x_-p) - R_p(x)], the paper's F(x, y).
    """
    return jnp.sum(game.losses(x) - game.unilateral_losses(x, y))


def ni_gap(game: AbstractNIGame, x: Float[Array, "M T"], response: Response) -> Float[Array, ""]:
    """V(x) = Psi(x, Z(x)) = max_y Psi(x, y) (paper 003 eq (28)) given the optimal response
    Z(x) at ``x``: >= 0, and 0 exactly at an equilibrium."""
    return ni_function(game, x, response.y)


def violation(game: AbstractNIGame, x: Float[Array, "M T"]) -> Float[Array, ""]:
    """The largest violation of ``game``'s constraints at ``x`` (0 when feasible): bounds, row
    sums and shared constraints, in their own units."""
    lower, upper = game.bounds()
    out = jnp.max(jnp.maximum(jnp.maximum(lower - x, x - upper), 0.0))
    rows = game.row_sums()
    eq = jnp.where(jnp.isfinite(rows), jnp.abs(jnp.sum(x, axis=1) - rows), 0.0)
    out = jnp.maximum(out, jnp.max(eq, initial=0.0))
    g = game.shared(x)
    if g.shape[0]:
        out = jnp.maximum(out, jnp.max(jnp.maximum(g, 0.0)))
    return out
