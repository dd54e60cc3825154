"""The equilibrium's KKT conditions: the residual with a fixed active set, and the polish.

At a (normalised) equilibrium of an :class:`AbstractNIGame`, every row's pseudo-gradient
(:meth:`AbstractNIGame.own_gradients`) plus its row-sum and shared-constraint multiplier
terms vanishes on the free entries, active bounds hold with equality, and active shared
constraints are zero. :func:`kkt_residual` is that system with the active set fixed: the
implicit adjoint differentiates it, and :func:`polish` runs Newton on it to land on the
equilibrium once the relaxation has found the active set.
"""

from __future__ import annotations

import jax
import jax.flatten_util
import jax.numpy as jnp

from .game import AbstractNIGame
from .response import Response


def active_set(game: AbstractNIGame, x, response: Response):
    """Active sets at the equilibrium from the last response: multiplier > slack."""
    lower, upper = game.bounds()
    lo = jnp.isfinite(lower) & (response.lower_mult > jnp.where(jnp.isfinite(lower), x - lower, 0))
    hi = jnp.isfinite(upper) & (response.upper_mult > jnp.where(jnp.isfinite(upper), upper - x, 0))
    g = game.shared(x)
    shared = response.shared_mult > -g if g.shape[0] else jnp.zeros(0, bool)
    return lo, hi, shared


def kkt_residual(root, aux, inputs):
    """The equilibrium's KKT conditions, active set fixed: zero at the solution."""
    x, nu, lam = root
    active_lo, active_hi, active_shared = aux
    game = inputs[0]
    lower, upper = game.bounds()
    own = game.own_gradients(x)  # (M, T): d loss_owner(r) / d x_r
    rows = game.row_sums()
    has_eq = jnp.isfinite(rows)
    stationarity = own + jnp.where(has_eq, nu, 0.0)[:, None]
    g = game.shared(x)
    if g.shape[0]:
        stationarity = stationarity + jnp.einsum("k,kmt->mt", lam, jax.jacrev(game.shared)(x))
    r_x = jnp.where(active_lo, x - jnp.where(active_lo, lower, 0.0),
                    jnp.where(active_hi, jnp.where(active_hi, upper, 0.0) - x, stationarity))
    r_nu = jnp.where(has_eq, jnp.sum(x, axis=1) - jnp.where(has_eq, rows, 0.0), nu)
    r_lam = jnp.where(active_shared, g, lam) if g.shape[0] else lam
    return r_x, r_nu, r_lam


def polish(game: AbstractNIGame, x, response: Response, steps: int = 3):
    """Newton on the equilibrium's KKT conditions (active set of the last response).

    The NI gap is quadratic in the distance to the equilibrium, so a gap of 1e-8 leaves
    errors near 1e-4 relative; once the relaxation has found the active set, Newton on the
    KKT conditions reaches the equilibrium to rounding (one step for quadratic games). The
    caller keeps the result only if its NI gap is below tol and it is feasible.
    """
    active = active_set(game, x, response)
    has_eq = jnp.isfinite(game.row_sums())
    root = (x, jnp.where(has_eq, response.row_mult, 0.0), response.shared_mult)
    if game.time_separable:
        return polish_separable(game, root, active, steps)
    flat, unravel = jax.flatten_util.ravel_pytree(root)

    def residual(v):
        return jax.flatten_util.ravel_pytree(kkt_residual(unravel(v), active, (game,)))[0]

    def newton(jacobian):
        """v -> v - J^-1 residual(v), by QR: on CPU an LU's pivots become a permutation
        in a sequential loop, slower than the QR's extra flops at these sizes."""
        q, r = jnp.linalg.qr(jacobian)
        return lambda v: v - _upper_solve(r, q.T @ residual(v))

    if game.quadratic:  # a constant Jacobian: one factorisation, then refinement steps
        step = newton(jax.jacfwd(residual)(flat))
        out = jax.lax.fori_loop(0, steps, lambda _, v: step(v), flat)
    else:
        out = jax.lax.fori_loop(0, steps, lambda _, v: newton(jax.jacfwd(residual)(v))(v), flat)
    return unravel(out)[0]


def polish_separable(game: AbstractNIGame, root, active, steps: int, updates: int = 3):
    """Like :func:`polish`, for a ``time_separable`` game, with active-set updates.

    The KKT Jacobian in x is T blocks B_t (M, M), one per step; the row sums and the shared
    constraints couple them through y = (row multipliers, shared multipliers), (M + K,). So
    a Newton step solves the T blocks (QR) and the (M + K) Schur complement, O(T M^3): at
    M = 20, T = 24 about 50 times fewer flops than the dense (MT + M + K) factorisation.
    Being cheap, it can afford a primal-dual active-set update (Hintermueller, Ito and
    Kunisch 2002) after each Newton solve: a bound joins the active set where the new point
    violates it, leaves it where its multiplier has the wrong sign (likewise the shared
    constraints), ``updates`` times. The relaxation's response then only has to find the
    active set roughly, so the early polish is accepted sooner.
    """
    m, t = game.shape
    x0, nu0, lam0 = root
    seeds = jnp.broadcast_to(jnp.eye(m, dtype=x0.dtype)[:, :, None], (m, m, t))
    lower, upper = game.bounds()
    has_lo, has_hi = jnp.isfinite(lower), jnp.isfinite(upper)

    def solver(x, y, act):
        """The Newton system at (x, y) with active set ``act``, factored: rhs -> step."""
        def r_x(x_, y_):
            return kkt_residual((x_, *y_), act, (game,))[0]

        def r_y(x_, y_):
            return jnp.concatenate(kkt_residual((x_, *y_), act, (game,))[1:])

        _, lin = jax.linearize(lambda x_: r_x(x_, y), x)
        b = jnp.transpose(jax.vmap(lin)(seeds), (2, 1, 0))  # (T, M_i, M_j): d r_x[i,t]/d x[j,t]
        c = jax.jacfwd(lambda y_: r_x(x, y_))(y)  # ((M, T, M), (M, T, K))
        c = jnp.transpose(jnp.concatenate(c, axis=-1), (1, 0, 2))  # (T, M, M + K)
        d = jnp.transpose(jax.jacrev(lambda x_: r_y(x_, y))(x), (2, 0, 1))  # (T, M + K, M)
        f = jnp.concatenate(jax.jacfwd(lambda y_: r_y(x, y_))(y), axis=-1)  # (M + K, M + K)
        # Explicit inverses (QR, then R^-1 Q'), so that applying them is matrix products and
        # the LAPACK calls form one chain: jaxlib 0.10's batched LAPACK kernels deadlock
        # when several run side by side (``evjax/_runtime.py``). Small, well-conditioned
        # blocks; the Newton iteration's exact residuals absorb the rounding.
        b_inv = _inverse(b)  # (T, M, M)
        b_inv_c = jnp.einsum("tmn,tnk->tmk", b_inv, c)
        s_inv = _inverse(f - jnp.einsum("tkm,tmj->kj", d, b_inv_c))

        def step(res_x, res_y):  # res_x (M, T), res_y (M + K,)
            b_inv_r = jnp.einsum("tmn,nt->tm", b_inv, res_x)  # (T, M)
            dy = s_inv @ (res_y - jnp.einsum("tkm,tm->k", d, b_inv_r))
            dx = b_inv_r - jnp.einsum("tmj,j->tm", b_inv_c, dy)
            return dx.T, dy

        return step

    def split(y):
        return y[:m], y[m:]

    def newton(v, act):
        x, y = v
        step = solver(x, split(y), act) if game.quadratic else None

        def one(_, v):
            x, y = v
            res = kkt_residual((x, *split(y)), act, (game,))
            solve = step if step is not None else solver(x, split(y), act)
            dx, dy = solve(res[0], jnp.concatenate(res[1:]))
            return x - dx, y - dy

        return jax.lax.fori_loop(0, steps, one, v)

    def update(act, v):
        """Primal-dual active-set rule: active where multiplier > slack (c = 1)."""
        x, y = v
        nu, lam = split(y)
        free = (jnp.zeros_like(act[0]), jnp.zeros_like(act[1]), act[2])
        stationarity = kkt_residual((x, nu, lam), free, (game,))[0]  # own + multiplier terms
        lo = has_lo & (stationarity > jnp.where(has_lo, x - lower, 0.0))
        hi = has_hi & ~lo & (-stationarity > jnp.where(has_hi, upper - x, 0.0))
        g = game.shared(x)
        shared = lam + g > 0 if g.shape[0] else act[2]
        return lo, hi, shared

    def round_(_, carry):  # Newton, then the next active set (unused after the last round)
        act, v = carry
        v = newton(v, act)
        return update(act, v), v

    v = (x0, jnp.concatenate([nu0, lam0]))
    return jax.lax.fori_loop(0, updates + 1, round_, (active, v))[1][0]


def _inverse(a):
    """a^-1 for a (batch of) square matrices, by QR (no pivoting loop): R^-1 Q'."""
    q, r = jnp.linalg.qr(a)
    return jax.lax.linalg.triangular_solve(r, jnp.swapaxes(q, -1, -2), left_side=True,
                                           lower=False)


def _upper_solve(r, b):
    return jax.lax.linalg.triangular_solve(r, b[:, None], left_side=True, lower=False)[:, 0]
