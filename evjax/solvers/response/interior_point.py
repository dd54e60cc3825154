"""The optimal response by a primal-dual interior-point method: :class:`InteriorPoint`.

Maximising Psi(x, .) over the joint feasible set is minimising sum_p loss_p(y_p, x_-p): the
players' unilateral losses, separable in the players' blocks y_p, subject to bounds, row-sum
equalities and the shared constraints g(y) <= 0 evaluated at the candidate y (the set of the
normalised equilibrium). A primal-dual interior-point method (Nocedal and Wright, ch. 19)
solves it: Newton steps on the perturbed KKT conditions with exact Hessian blocks per player
(autodiff), the row equalities inside each block's saddle system, and the K shared
constraints through a K x K Schur complement (Woodbury), so the cost per step is
O(P (R T)^3 + K^2 (P R T)) rather than O((M T)^3). Fraction-to-the-boundary steps keep
bounds, slacks and multipliers positive; the barrier parameter follows 0.1 x the mean
complementarity. After every step the shared constraints' slacks are reset to at least their
constraints' margins, s = max(s, -g(y)) (:func:`._ipm_system.measure`), and at the barrier
floor a run of full Newton steps that move y by rounding only ends the iteration as
converged (:class:`InteriorPoint`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, cho_solve

from .._solution import Response
from .._checks import check_steps, check_tol
from ._abstract import AbstractResponse
from ._ipm_system import Problem, State, complementarity, initial, measure, problem


TAU = 0.995  # fraction to the boundary
SIGMA = 0.1  # barrier target / mean complementarity
# Rounding stall: at the barrier floor, a full Newton step whose move of y is at most
# STALL_ULPS units in the last place (of 1 + |y|), without a tenfold fall of the residual,
# STALL_STEPS times in a row: y is converged as far as float64 resolves it (see
# :class:`InteriorPoint`).
STALL_ULPS = 16.0
STALL_STEPS = 3


def _saddle_solve(hd, e, has_eq, qy, qe):
    """Solve the players' block saddle systems [[H + Sigma, E'], [E, -F]] [dy; dnu] = [qy; -qe].

    E (P, R, n) sums each row's T entries (zero rows where a row has no equality) and F is
    the identity on those free rows, whose multipliers are then just their right-hand sides:
    (H + Sigma) dy + E' dnu = qy, and E dy = qe on rows with an equality (dnu = qe on free
    rows). ``qy`` (P, n, m) and ``qe`` (P, R, m): m right-hand sides at once.

    H + Sigma is positive definite (a convex block with its barrier terms, or shifted by the
    inertia correction), so the system is solved by Cholesky factors of H + Sigma and of the
    (R, R) Schur complement E (H + Sigma)^-1 E' (+ I on free rows): no pivoting, whose
    permutation bookkeeping would be a sequential loop per solve on CPU. The LAPACK calls
    form one chain (each needs the previous one's result; every right-hand side goes through
    one call): jaxlib 0.10's batched LAPACK kernels block a thread-pool thread while their
    batch runs on the same pool, so two of them running side by side on a 2-thread pool
    deadlock (see ``evjax/_runtime.py``).
    """
    r = e.shape[1]
    factor = cho_factor(hd, lower=True)  # from the lower triangle
    solved = cho_solve(factor, jnp.concatenate([jnp.swapaxes(e, 1, 2), qy], axis=2))
    h_inv_et, hq = solved[..., :r], solved[..., r:]
    free = jax.vmap(jnp.diag)((~has_eq).astype(hd.dtype))
    schur = jnp.einsum("prn,pnq->prq", e, h_inv_et) + free
    rhs = jnp.where(has_eq[..., None], jnp.einsum("prn,pnm->prm", e, hq) - qe, qe)
    dnu = cho_solve(cho_factor(_symmetric(schur), lower=True), rhs)
    return hq - jnp.einsum("pnr,prm->pnm", h_inv_et, dnu), dnu


def _symmetric(a):
    """(a + a') / 2: for products that are symmetric only to rounding."""
    return 0.5 * (a + jnp.swapaxes(a, -1, -2))


def _newton_matrix(prob: Problem, hess, sigma):
    """The blocks H + Sigma (P, n, n) of the saddle systems, positive definite.

    Padding entries: identity. Inertia correction (Nocedal and Wright 19.3): where a
    player's loss is not convex in its own block (a deck's profit is not jointly concave in
    its two prices), H + Sigma may be indefinite and Newton would head for a saddle or a
    maximum of the loss. Shift such a block to be positive definite; convex blocks (every
    block of a convex game) are left exactly as they are, so the step is Newton's wherever
    H + Sigma is positive definite. A game whose players' losses are convex in their own
    blocks says so (``own_convex``) and skips the eigenvalues, a good part of a step's cost
    for the charging game."""
    diag = jnp.where(prob.pad, 1.0, sigma)
    h = jnp.where(prob.pad[:, :, None] | prob.pad[:, None, :], 0.0, hess)
    hd = h + jax.vmap(jnp.diag)(diag)
    if not prob.game.own_convex:
        hd = 0.5 * (hd + jnp.swapaxes(hd, 1, 2))  # autodiff Hessians of such losses drift
        lam_min = jnp.min(jnp.linalg.eigvalsh(hd), axis=1)  # (P,)
        floor = 1e-8 * (1.0 + jnp.max(jnp.abs(hd), axis=(1, 2)))
        inertia = jnp.where(lam_min > floor, 0.0, floor - lam_min)
        hd = hd + inertia[:, None, None] * jnp.eye(hd.shape[1], dtype=hd.dtype)[None]
    return hd


def _direction(prob: Problem, st: State, hd, e, jac, r_d, r_e):
    """The Newton direction (dy, dnu) of the block saddle systems (:func:`_saddle_solve`),
    with the K shared constraints by Woodbury: their Schur complement diag(s/lam) + U A^-1 U'
    (K, K), symmetric positive definite."""
    k = st.lam.shape[0]
    if not k:
        dy, dnu = _saddle_solve(hd, e, prob.has_eq, -r_d[..., None], -r_e[..., None])
        return dy[..., 0], dnu[..., 0]
    p, r = prob.rhs.shape
    jac_t = jnp.moveaxis(jac, 0, 2)  # (P, n, K)
    sol_y, sol_nu = _saddle_solve(
        hd, e, prob.has_eq, jnp.concatenate([-r_d[..., None], jac_t], axis=2),
        jnp.concatenate([-r_e[..., None], jnp.zeros((p, r, k), hd.dtype)], axis=2))
    (qy, uy), (qnu, unu) = (sol_y[..., 0], sol_y[..., 1:]), (sol_nu[..., 0], sol_nu[..., 1:])
    schur = jnp.diag(st.s / st.lam) + jnp.einsum("pnk,pnj->kj", jac_t, uy)
    z = cho_solve(cho_factor(_symmetric(schur), lower=True), jnp.einsum("pnk,pn->k", jac_t, qy))
    return qy - jnp.einsum("pnk,k->pn", uy, z), qnu - jnp.einsum("prk,k->pr", unu, z)


def _longest(v, dv, mask):
    """Largest alpha in (0, 1] with v + alpha dv >= (1 - TAU) v where mask."""
    ratio = jnp.where(mask & (dv < 0), -TAU * v / jnp.where(dv < 0, dv, -1.0), 1.0)
    return jnp.min(ratio, initial=1.0)


def _step(prob: Problem, st: State, mu_floor) -> State:
    """One Newton step on the perturbed KKT conditions, with fraction-to-the-boundary.

    The barrier parameter stops at ``mu_floor`` (a tenth of the tolerance): pushing it to
    rounding level makes the Newton systems so ill-conditioned that the residual grows again.
    """
    dtype = st.y.dtype
    e = prob.equality_matrix(dtype)
    grad, g, jac = st.derivatives
    hess = st.hessians if prob.game.quadratic else prob.hessians(st.y, st.lam)
    mean_comp, _ = complementarity(prob, st)
    mu = jnp.maximum(SIGMA * mean_comp, mu_floor)

    sl = jnp.where(prob.has_lo, st.y - prob.lo, 1.0)
    su = jnp.where(prob.has_hi, prob.hi - st.y, 1.0)
    sigma = st.zl / sl + st.zu / su  # zero where there is no bound
    barrier = jnp.where(prob.has_lo, mu / sl, 0.0) - jnp.where(prob.has_hi, mu / su, 0.0)
    r_d = grad + jnp.einsum("prn,pr->pn", e, st.nu) - barrier  # stationarity, barrier form
    r_e = jnp.where(prob.has_eq, jnp.einsum("prn,pn->pr", e, st.y) - prob.rhs, 0.0)
    k = st.lam.shape[0]
    if k:
        r_d = r_d + jnp.einsum("kpn,k->pn", jac, st.lam)
        r_g = g + st.s
        shift = (mu - st.s * st.lam + st.lam * r_g) / st.s  # (K,)
        r_d = r_d + jnp.einsum("kpn,k->pn", jac, shift)
    r_d = jnp.where(prob.pad, 0.0, r_d)

    dy, dnu = _direction(prob, st, _newton_matrix(prob, hess, sigma), e, jac, r_d, r_e)
    dy = jnp.where(prob.pad, 0.0, dy)
    dzl = jnp.where(prob.has_lo, mu / sl - st.zl - st.zl / sl * dy, 0.0)
    dzu = jnp.where(prob.has_hi, mu / su - st.zu + st.zu / su * dy, 0.0)
    if k:
        jdy = jnp.einsum("kpn,pn->k", jac, dy)
        dlam = st.lam / st.s * jdy + shift
        ds = -r_g - jdy
    else:
        dlam = ds = jnp.zeros(0, dtype)

    alpha = jnp.minimum(
        jnp.minimum(_longest(sl, dy, prob.has_lo), _longest(su, -dy, prob.has_hi)),
        jnp.minimum(_longest(st.zl, dzl, prob.has_lo), _longest(st.zu, dzu, prob.has_hi)),
    )
    if k:
        alpha = jnp.minimum(alpha, jnp.minimum(_longest(st.s, ds, True),
                                               _longest(st.lam, dlam, True)))
    ulp = jnp.finfo(dtype).eps * (1.0 + jnp.abs(st.y))
    tiny = (alpha >= 1.0) & jnp.all(jnp.abs(alpha * dy) <= STALL_ULPS * ulp)
    return State(
        y=st.y + alpha * dy, nu=st.nu + alpha * dnu, zl=st.zl + alpha * dzl,
        zu=st.zu + alpha * dzu, s=st.s + alpha * ds, lam=st.lam + alpha * dlam,
        residual=st.residual, primal=st.primal, comp=st.comp, step=st.step + 1, tiny=tiny,
        still=st.still, derivatives=st.derivatives, hessians=st.hessians,
    )


class InteriorPoint(AbstractResponse):
    """The optimal response of any game by a primal-dual interior-point method (module
    docstring).

    ``tol`` bounds the final KKT residual (stationarity, equalities, shared constraints and
    complementarity, max norms) relative to max(1, the largest loss gradient at the start).
    Far below 1e-10 the Newton systems of an interior-point method are too ill-conditioned
    in float64 for the residual to keep falling; :func:`evjax.solvers.solve` polishes its
    result by Newton on the equilibrium's KKT conditions instead. ``max_steps`` caps the
    iterations; unrolled (:class:`evjax.solvers.UnrolledAdjoint`) exactly ``max_steps`` run
    in a ``lax.scan`` (freezing once converged), so that reverse-mode autodiff can go through
    it; otherwise a ``lax.while_loop`` stops at ``tol``.

    Stopping: at the residual tolerance, or on a rounding stall: at the barrier floor, with
    the primal residual and every complementarity product within the tolerance, the full
    (uncut) Newton step moves no entry of y by more than ``STALL_ULPS`` units in the last
    place, without a tenfold fall of the residual, ``STALL_STEPS`` times in a row. y is then
    converged as far as float64 resolves it; what remains of the residual is the multipliers'
    rounding, amplified by lam / s ~ 1e14 of the active constraints (measured on the deck
    game: 20-600 x tol, at random, so that whether the residual dipped below tol within
    ``max_steps`` depended on the compiler's rounding).
    """

    tol: float = eqx.field(default=1e-10, static=True)
    max_steps: int = eqx.field(default=100, static=True)

    def __check_init__(self):
        check_tol("InteriorPoint.tol", self.tol)
        check_steps("InteriorPoint.max_steps", self.max_steps)

    def respond(self, game, x, *, unrolled=False) -> Response:
        prob = problem(game, x)
        st = measure(prob, initial(prob, prob.x))
        tol = self.tol * jnp.maximum(1.0, jnp.max(jnp.abs(st.derivatives[0])))
        mu_floor = 0.01 * tol

        def converged(s):
            return (s.residual <= tol) | (s.still >= STALL_STEPS)

        def done(s):
            return converged(s) | ~jnp.isfinite(s.residual)

        def advance(s):
            new = measure(prob, _step(prob, s, mu_floor))
            stalled = (new.tiny & (new.residual > 0.1 * s.residual) & (new.primal <= tol)
                       & (new.comp[1] <= tol) & (new.comp[0] <= mu_floor / SIGMA))
            return eqx.tree_at(lambda z: z.still, new, jnp.where(stalled, s.still + 1, 0))

        if unrolled:
            def body(s, _):
                return jax.tree.map(lambda a, b: jnp.where(done(s), a, b), s, advance(s)), None

            st, _ = jax.lax.scan(body, st, None, length=self.max_steps)
        else:
            st = jax.lax.while_loop(lambda s: ~done(s) & (s.step < self.max_steps), advance, st)
        return _response(prob, st, converged(st))


def _response(prob: Problem, st: State, converged) -> Response:
    """The iterate ``st`` in the game's (M, T) layout."""
    p, n = st.y.shape
    t = prob.t

    def back(v):
        return prob.blocks.scatter(v.reshape(p, n // t, t))

    return Response(
        y=back(st.y), row_mult=prob.blocks.scatter(st.nu[:, :, None])[:, 0],
        lower_mult=back(st.zl), upper_mult=back(st.zu), shared_mult=st.lam,
        residual=st.residual, primal_residual=st.primal, steps=st.step, converged=converged)
