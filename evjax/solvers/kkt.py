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
from jax.scipy.linalg import solve_triangular

from .._linalg import gauss_jordan_inverse

from ._solution import Response
from .game import AbstractNIGame


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


def polish(game: AbstractNIGame, x, response: Response, steps: int = 3, run=None):
    """Newton on the equilibrium's KKT conditions (active set of the last response).

    The NI gap is quadratic in the distance to the equilibrium, so a gap of 1e-8 leaves
    errors near 1e-4 relative; once the relaxation has found the active set, Newton on the
    KKT conditions reaches the equilibrium to rounding (one step for quadratic games). The
    caller keeps the result only if its NI gap is below tol and it is feasible.

    ``run`` (time-separable games, :func:`polish_separable`): None runs a fixed number of
    active-set rounds (reverse-differentiable, for unrolled gradients); a boolean runs them
    in a ``while_loop`` that stops once the active set settles, and not at all where ``run``
    is False, so that under ``jax.vmap`` games that do not polish cost nothing.
    """
    has_eq = jnp.isfinite(game.row_sums())
    root = (x, jnp.where(has_eq, response.row_mult, 0.0), response.shared_mult)
    if game.time_separable:
        # The response's own active set (slacks at Z(x), not at x) starts the active-set
        # rounds closer to the equilibrium's: with it, 1 or 2 rounds instead of 2 or 3 on
        # 1000 perturbed charging games polished at V < 1e-3 V(x0).
        return polish_separable(game, root, active_set(game, response.y, response), steps,
                                run=run)
    active = active_set(game, x, response)
    flat, unravel = jax.flatten_util.ravel_pytree(root)

    def residual(v):
        return jax.flatten_util.ravel_pytree(kkt_residual(unravel(v), active, (game,)))[0]

    def newton(jacobian):
        """v -> v - J^-1 residual(v), by QR: on CPU an LU's pivots become a permutation
        in a sequential loop, slower than the QR's extra flops at these sizes."""
        q, r = jnp.linalg.qr(jacobian)
        return lambda v: v - solve_triangular(r, (q.T @ residual(v))[:, None], lower=False)[:, 0]

    if game.quadratic:  # a constant Jacobian: one factorisation, then refinement steps
        step = newton(jax.jacfwd(residual)(flat))
        out = jax.lax.fori_loop(0, steps, lambda _, v: step(v), flat)
    else:
        out = jax.lax.fori_loop(0, steps, lambda _, v: newton(jax.jacfwd(residual)(v))(v), flat)
    return unravel(out)[0]


def polish_separable(game: AbstractNIGame, root, active, steps: int, updates: int = 3,
                     run=None):
    """Like :func:`polish`, for a ``time_separable`` game, with active-set updates.

    The KKT Jacobian in x is T blocks B_t (M, M), one per step; the row sums and the shared
    constraints couple them through y = (row multipliers, shared multipliers), (M + K,). So
    a Newton step inverts the T blocks (:func:`evjax._linalg.gauss_jordan_inverse`) and the
    (M + K) Schur complement,
    O(T M^3): at M = 20, T = 24 about 50 times fewer flops than the dense (MT + M + K)
    factorisation (:func:`_separable_solver`).
    Being cheap, it can afford a primal-dual active-set update (Hintermueller, Ito and
    Kunisch 2002) after each Newton solve: a bound joins the active set where the new point
    violates it, leaves it where its multiplier has the wrong sign (likewise the shared
    constraints), up to ``updates`` times (:func:`_update_active_set`); with ``run`` given
    (see :func:`polish`), the rounds stop once an update leaves the active set as it was.
    The relaxation's response then only has to find the active set roughly, so the early
    polish is accepted sooner.

    The Jacobian blocks are those of the free conditions (the pseudo-gradient's, all bounds
    inactive, all shared constraints active) with the active set's rows masked in: for a
    quadratic game they are computed once for all rounds.
    """
    x0, nu0, lam0 = root
    v0 = (x0, jnp.concatenate([nu0, lam0]))
    fixed = _jacobians(game, *v0) if game.quadratic else None

    def round_(carry):  # Newton, then the next active set (unused after the last round)
        act, v, i, _ = carry
        v = _newton(game, v, act, fixed, steps)
        new = _update_active_set(game, act, v)
        changed = jnp.any(jnp.stack([jnp.any(a != b) for a, b in zip(new, act)]))
        return new, v, i + 1, changed

    if run is None:
        carry = jax.lax.fori_loop(0, updates + 1, lambda _, c: round_(c),
                                  (active, v0, 0, jnp.asarray(True)))
    else:
        carry = jax.lax.while_loop(lambda c: c[3] & (c[2] <= updates), round_,
                                   (active, v0, 0, jnp.asarray(run)))
    return carry[1][0]


def _free_set(game: AbstractNIGame, k: int):
    """The active set of the free conditions: every bound inactive, every shared constraint
    active."""
    m, t = game.shape
    return jnp.zeros((m, t), bool), jnp.zeros((m, t), bool), jnp.ones(k, bool)


def _split(game: AbstractNIGame, y):
    """y = (row multipliers (M,), shared multipliers (K,))."""
    m = game.shape[0]
    return y[:m], y[m:]


def _jacobians(game: AbstractNIGame, x, y):
    """The Jacobian blocks of the free conditions (every bound free) at (x, y): those of the
    stationarity in x, d r_x[i,t]/d x[j,t], as ``game.step_jacobians`` gives them (D, U, V)
    or, where it does not, dense B (T, M, M); and G (T, K, M) of the shared constraints. The
    rest of :func:`kkt_residual`'s Jacobian is known: the row multipliers enter the
    stationarity of their own row (identity) and the row sums sum each row over t. (The
    shared constraints' multiplier terms are linear in x for every game whose constraints
    are affine, so the pseudo-gradient's blocks are the stationarity's wherever the game is
    quadratic; otherwise the dense blocks are.)"""
    m, t = game.shape
    k = y.shape[0] - m
    structured = game.step_jacobians(x) if game.quadratic else None
    if structured is None:
        def r_x(x_):
            return kkt_residual((x_, *_split(game, y)), _free_set(game, k), (game,))[0]

        seeds = jnp.broadcast_to(jnp.eye(m, dtype=x.dtype)[:, :, None], (m, m, t))
        _, lin = jax.linearize(r_x, x)
        structured = jnp.transpose(jax.vmap(lin)(seeds), (2, 1, 0))  # (T, M_i, M_j)
    g = (jnp.transpose(jax.jacrev(game.shared)(x), (2, 0, 1)) if k  # (T, K, M)
         else jnp.zeros((t, 0, m), x.dtype))
    return structured, g


def _separable_solver(game: AbstractNIGame, jacs, act):
    """The Newton system with active set ``act``, factored: rhs -> step.

    Unknowns (dx (T, M), dy = (dnu (M), dlam (K))): B_t dx_t + C_t dy = r_x[:, t],
    sum_t D_t dx_t + F dy = r_y, with C_t = [diag(free & has_eq), free-row G_t'] and
    D_t = [diag(has_eq); active-shared rows of G_t]. Eliminating dx_t leaves the
    (M + K) Schur complement F - sum_t D_t B_t^-1 C_t, whose row-sum block is a masked
    sum of the B_t^-1: no matrix products there."""
    m = game.shape[0]
    has_eq = jnp.isfinite(game.row_sums())
    blocks, g = jacs
    act_lo, act_hi, act_shared = act
    bound = jnp.transpose(act_lo | act_hi)  # (T, M): rows x_i^t = bound
    sign = jnp.transpose(jnp.where(act_lo, 1.0, -1.0))
    # Explicit inverses, so that applying them is matrix products. Small,
    # well-conditioned blocks; the Newton iteration's exact residuals absorb the rounding.
    if isinstance(blocks, tuple):  # diag(D) + U V^T, a bound's row replaced by +-e_i
        diag, u, v = blocks
        b_inv = _low_rank_inverse(jnp.where(bound, sign, diag),
                                  jnp.where(bound[:, :, None], 0.0, u), v)
    else:
        b_inv = gauss_jordan_inverse(jnp.where(bound[:, :, None], sign[:, :, None] * jnp.eye(m),
                                   blocks))  # (T, M, M)
    dtype = b_inv.dtype
    eq_free = (~bound & has_eq[None, :]).astype(dtype)  # (T, M): C_t's row-sum part
    g_rows = jnp.where(act_shared[None, :, None], g, 0.0)  # D_t's shared part (T, K, M)
    g_cols = jnp.where(bound[:, None, :], 0.0, g)  # C_t's shared part, transposed
    f = jnp.diag(jnp.concatenate([~has_eq, ~act_shared]).astype(dtype))
    b_inv_c = jnp.concatenate(  # B_t^-1 C_t (T, M, M + K)
        [b_inv * eq_free[:, None, :], jnp.einsum("tmn,tkn->tmk", b_inv, g_cols)], axis=2)
    d_b_inv_c = jnp.concatenate([  # sum_t D_t B_t^-1 C_t (M + K, M + K)
        jnp.where(has_eq[:, None], jnp.sum(b_inv_c, axis=0), 0.0),
        jnp.einsum("tkm,tmj->kj", g_rows, b_inv_c)], axis=0)
    s_inv = gauss_jordan_inverse(f - d_b_inv_c)

    def step(res_x, res_y):  # res_x (M, T), res_y (M + K,)
        b_inv_r = jnp.einsum("tmn,nt->tm", b_inv, res_x)  # (T, M)
        d_b_inv_r = jnp.concatenate([jnp.where(has_eq, jnp.sum(b_inv_r, axis=0), 0.0),
                                     jnp.einsum("tkm,tm->k", g_rows, b_inv_r)])
        dy = s_inv @ (res_y - d_b_inv_r)
        dx = b_inv_r - jnp.einsum("tmj,j->tm", b_inv_c, dy)
        return dx.T, dy

    return step


def _newton(game: AbstractNIGame, v, act, fixed, steps: int):
    """``steps`` Newton steps on the KKT conditions with active set ``act`` from v = (x, y);
    ``fixed``: the Jacobian blocks of a quadratic game (else recomputed at every step)."""
    step = _separable_solver(game, fixed, act) if game.quadratic else None

    def one(_, v):
        x, y = v
        res = kkt_residual((x, *_split(game, y)), act, (game,))
        solve = step if step is not None else _separable_solver(game, _jacobians(game, x, y),
                                                                act)
        dx, dy = solve(res[0], jnp.concatenate(res[1:]))
        return x - dx, y - dy

    return jax.lax.fori_loop(0, steps, one, v)


def _update_active_set(game: AbstractNIGame, act, v):
    """Primal-dual active-set rule: active where multiplier > slack (c = 1)."""
    x, y = v
    nu, lam = _split(game, y)
    lower, upper = game.bounds()
    has_lo, has_hi = jnp.isfinite(lower), jnp.isfinite(upper)
    free = _free_set(game, lam.shape[0])
    stationarity = kkt_residual((x, nu, lam), free, (game,))[0]  # own + multiplier terms
    lo = has_lo & (stationarity > jnp.where(has_lo, x - lower, 0.0))
    hi = has_hi & ~lo & (-stationarity > jnp.where(has_hi, upper - x, 0.0))
    g = game.shared(x)
    shared = lam + g > 0 if g.shape[0] else act[2]
    return lo, hi, shared


def _low_rank_inverse(diag, u, v):
    """(diag(D) + U V^T)^-1 for a batch, by the Woodbury identity: D^-1 - D^-1 U (I + V^T
    D^-1 U)^-1 V^T D^-1, O(M^2 R) each for U, V (..., M, R) with R small (the (R, R)
    capacitance matrices by :func:`evjax._linalg.gauss_jordan_inverse`)."""
    d_inv = 1.0 / diag
    w = d_inv[..., None] * u  # D^-1 U
    capacitance = jnp.eye(u.shape[-1], dtype=u.dtype) + jnp.einsum("...mr,...ms->...rs", v, w)
    correction = jnp.einsum("...mr,...rs,...ns->...mn", w, gauss_jordan_inverse(capacitance),
                            d_inv[..., None] * v)
    eye = jnp.eye(diag.shape[-1], dtype=diag.dtype)
    return d_inv[..., :, None] * eye - correction

