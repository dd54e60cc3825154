"""The optimal response Z(x) = argmax_y Psi(x, y) (paper 003 eq (26)) by an interior-point method.

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
constraints' margins, s = max(s, -g(y)) (:func:`_measure`), and at the barrier floor a run of
full Newton steps that move y by rounding only ends the iteration as converged
(:func:`optimal_response`).
"""

from __future__ import annotations

import functools as ft

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from . import water_filling
from .game import AbstractNIGame, Blocks

TAU = 0.995  # fraction to the boundary
SIGMA = 0.1  # barrier target / mean complementarity
# Rounding stall: at the barrier floor, a full Newton step whose move of y is at most
# STALL_ULPS units in the last place (of 1 + |y|), without a tenfold fall of the residual,
# STALL_STEPS times in a row: y is converged as far as float64 resolves it (see
# :func:`optimal_response`).
STALL_ULPS = 16.0
STALL_STEPS = 3


class Response(eqx.Module):
    """The optimal response and its multipliers, in the game's (M, T) layout.

    Fields: ``y`` (M, T); ``row_mult`` (M,) multipliers of the row equalities; ``lower_mult``,
    ``upper_mult`` (M, T) of the bounds; ``shared_mult`` (K,) of g(y) <= 0; ``residual`` the
    final KKT residual (max norm); ``steps`` the interior-point iterations; ``converged``:
    the residual reached the tolerance, or y stalled at rounding level with the primal
    residual and complementarity within it (:func:`optimal_response`).
    """

    y: Float[Array, "M T"]
    row_mult: Float[Array, " M"]
    lower_mult: Float[Array, "M T"]
    upper_mult: Float[Array, "M T"]
    shared_mult: Float[Array, " K"]
    residual: Float[Array, ""]
    primal_residual: Float[Array, ""]
    steps: Int[Array, ""]
    converged: Bool[Array, ""]


class _Problem(eqx.Module):
    """The response problem at ``x`` in padded block form (P players, n = R T entries each)."""

    game: AbstractNIGame
    x: Float[Array, "M T"]
    blocks: Blocks
    lo: Float[Array, "P n"]
    hi: Float[Array, "P n"]
    has_lo: Bool[Array, "P n"]
    has_hi: Bool[Array, "P n"]
    pad: Bool[Array, "P n"]
    rhs: Float[Array, "P R"]
    has_eq: Bool[Array, "P R"]

    @property
    def t(self) -> int:
        return self.x.shape[1]

    def full(self, y: Float[Array, "P n"]) -> Float[Array, "M T"]:
        p, n = y.shape
        return self.blocks.scatter(y.reshape(p, n // self.t, self.t))

    def block_loss(self, p, v: Float[Array, " n"], y: Float[Array, "P n"], lam):
        """loss_p(v, x_-p) + lam . g(y with block p = v): the block-p Lagrangian part."""
        v = v.reshape(-1, self.t)
        out = self.game.losses(self.blocks.replace(self.x, p, v))[p]
        if lam.shape[0]:
            out = out + jnp.dot(lam, self.game.shared(self.blocks.replace(self.full(y), p, v)))
        return out

    def hessians(self, y, lam) -> Float[Array, "P n n"]:
        """Hessian blocks of the Lagrangian (the bounds' and equalities' parts are linear)."""
        ps = jnp.arange(y.shape[0])
        return jax.vmap(jax.hessian(self.block_loss, argnums=1), (0, 0, None, None))(
            ps, y, y, lam)

    def derivatives(self, y, lam):
        """Gradient (P, n) of each player's loss in its own block, g(y) (K,) and its Jacobian
        (K, P, n)."""
        ps = jnp.arange(y.shape[0])
        grad = jax.vmap(jax.grad(self.block_loss, argnums=1), (0, 0, None, None))(
            ps, y, y, jnp.zeros_like(lam))
        k = lam.shape[0]
        if k:
            g = self.game.shared(self.full(y))
            jac = jax.jacrev(lambda yy: self.game.shared(self.full(yy)))(y)
        else:
            g, jac = jnp.zeros(0, y.dtype), jnp.zeros((0,) + y.shape, y.dtype)
        return grad, g, jac

    def equality_matrix(self, dtype) -> Float[Array, "P R n"]:
        r = self.rhs.shape[1]
        e = jnp.repeat(jnp.eye(r, dtype=dtype), self.t, axis=1)  # (R, R T)
        return jnp.where(self.has_eq[:, :, None], e[None], 0.0)


class _State(eqx.Module):
    y: Array
    nu: Array
    zl: Array
    zu: Array
    s: Array
    lam: Array
    residual: Array
    primal: Array
    comp: Array  # (mean, largest) complementarity product, from _measure
    step: Array
    tiny: Array  # the last step was a full Newton step moving y by rounding only
    still: Array  # consecutive rounding-stalled steps (:func:`optimal_response`)
    derivatives: tuple  # (grad, g, jac) at y, from _measure, reused by _step
    hessians: Array  # (P, n, n) Hessian blocks, constant for a quadratic game; else (0,)


def _problem(game: AbstractNIGame, x) -> _Problem:
    blocks = Blocks.of(game.players)
    lower, upper = game.bounds()
    p, r = blocks.index.shape
    t = x.shape[1]

    def flat(a, fill):
        return blocks.gather(a, fill).reshape(p, r * t)

    lo, hi = flat(lower, -jnp.inf), flat(upper, jnp.inf)
    pad = ~jnp.repeat(jnp.asarray(blocks.valid), t, axis=1)
    rows = game.row_sums()
    rhs = jnp.where(blocks.valid, rows[blocks.index], jnp.nan)
    has_eq = jnp.isfinite(rhs)
    return _Problem(
        game=game, x=x, blocks=blocks, lo=jnp.where(jnp.isfinite(lo), lo, 0.0),
        hi=jnp.where(jnp.isfinite(hi), hi, 0.0), has_lo=jnp.isfinite(lo), has_hi=jnp.isfinite(hi),
        pad=pad, rhs=jnp.where(has_eq, rhs, 0.0), has_eq=has_eq,
    )


def _initial(prob: _Problem, x) -> _State:
    p, n = prob.lo.shape
    y = prob.blocks.gather(x).reshape(p, n)
    width = jnp.where(prob.has_lo & prob.has_hi, prob.hi - prob.lo, jnp.inf)
    margin = jnp.minimum(1e-2 * jnp.maximum(1.0, jnp.abs(y)), 0.25 * width)
    y = jnp.where(prob.has_lo, jnp.maximum(y, prob.lo + margin), y)
    y = jnp.where(prob.has_hi, jnp.minimum(y, prob.hi - margin), y)
    y = jnp.where(prob.pad, 0.0, y)
    k = prob.game.shared(x).shape[0]
    g = prob.game.shared(prob.full(y)) if k else jnp.zeros(0, y.dtype)
    s = jnp.maximum(-g, 1e-2 * jnp.maximum(1.0, jnp.abs(g)))
    one = jnp.ones_like(y)
    return _State(
        y=y, nu=jnp.zeros(prob.rhs.shape, y.dtype), zl=jnp.where(prob.has_lo, one, 0.0),
        zu=jnp.where(prob.has_hi, one, 0.0), s=s, lam=jnp.ones(k, y.dtype),
        residual=jnp.asarray(jnp.inf, y.dtype), primal=jnp.asarray(jnp.inf, y.dtype),
        comp=jnp.full(2, jnp.inf, y.dtype), step=jnp.asarray(0, jnp.int32),
        tiny=jnp.asarray(False), still=jnp.asarray(0, jnp.int32),
        derivatives=prob.derivatives(y, jnp.ones(k, y.dtype)),
        hessians=(prob.hessians(y, jnp.ones(k, y.dtype)) if prob.game.quadratic
                  else jnp.zeros(0, y.dtype)),
    )


def _complementarity(prob: _Problem, st: _State):
    sl = jnp.where(prob.has_lo, st.y - prob.lo, 0.0)
    su = jnp.where(prob.has_hi, prob.hi - st.y, 0.0)
    products = [(sl * st.zl).ravel(), (su * st.zu).ravel(), st.s * st.lam]
    count = jnp.sum(prob.has_lo) + jnp.sum(prob.has_hi) + st.s.shape[0]
    total = sum(jnp.sum(v) for v in products)
    largest = jnp.max(jnp.concatenate([jnp.zeros(1, st.y.dtype)] + products))
    return total / jnp.maximum(count, 1), largest


def _residuals(prob: _Problem, st: _State, grad, g, jac, e):
    """Max norms of the dual (stationarity) and primal (equalities, shared) residuals."""
    dual = grad + jnp.einsum("prn,pr->pn", e, st.nu) - st.zl + st.zu
    if st.lam.shape[0]:
        dual = dual + jnp.einsum("kpn,k->pn", jac, st.lam)
    dual = jnp.where(prob.pad, 0.0, dual)
    eq = jnp.where(prob.has_eq, jnp.einsum("prn,pn->pr", e, st.y) - prob.rhs, 0.0)
    primal = jnp.max(jnp.abs(eq), initial=0.0)
    if st.lam.shape[0]:
        primal = jnp.maximum(primal, jnp.max(jnp.abs(g + st.s)))
    return jnp.max(jnp.abs(dual)), primal


def _cholesky(a, symmetrize=False):
    """Lower Cholesky factor of the symmetric ``a``: from its lower triangle, or from
    (a + a') / 2 with ``symmetrize`` (for products that are symmetric only to rounding)."""
    return jax.lax.linalg.cholesky(a, symmetrize_input=symmetrize)


def _cho_solve(chol, b):
    """A^-1 b from the lower Cholesky factor of A (leading batch dimensions shared)."""
    solve = ft.partial(jax.lax.linalg.triangular_solve, left_side=True, lower=True)
    return solve(chol, solve(chol, b), transpose_a=True)


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
    chol = _cholesky(hd)
    solved = _cho_solve(chol, jnp.concatenate([jnp.swapaxes(e, 1, 2), qy], axis=2))
    h_inv_et, hq = solved[..., :r], solved[..., r:]
    free = jax.vmap(jnp.diag)((~has_eq).astype(hd.dtype))
    schur = jnp.einsum("prn,pnq->prq", e, h_inv_et) + free
    rhs = jnp.where(has_eq[..., None], jnp.einsum("prn,pnm->prm", e, hq) - qe, qe)
    dnu = _cho_solve(_cholesky(schur, symmetrize=True), rhs)
    return hq - jnp.einsum("pnr,prm->pnm", h_inv_et, dnu), dnu


def _step(prob: _Problem, st: _State, mu_floor) -> _State:
    """One Newton step on the perturbed KKT conditions, with fraction-to-the-boundary.

    The barrier parameter stops at ``mu_floor`` (a tenth of the tolerance): pushing it to
    rounding level makes the Newton systems so ill-conditioned that the residual grows again.
    """
    dtype = st.y.dtype
    e = prob.equality_matrix(dtype)
    grad, g, jac = st.derivatives
    hess = st.hessians if prob.game.quadratic else prob.hessians(st.y, st.lam)
    mean_comp, _ = _complementarity(prob, st)
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

    # The block saddle systems (:func:`_saddle_solve`); padding entries: identity.
    p, n = st.y.shape
    r = prob.rhs.shape[1]
    diag = jnp.where(prob.pad, 1.0, sigma)
    h = jnp.where(prob.pad[:, :, None] | prob.pad[:, None, :], 0.0, hess)
    hd = h + jax.vmap(jnp.diag)(diag)
    # Inertia correction (Nocedal and Wright 19.3): where a player's loss is not convex in its
    # own block (a deck's profit is not jointly concave in its two prices), H + Sigma may be
    # indefinite and Newton would head for a saddle or a maximum of the loss. Shift such a
    # block to be positive definite; convex blocks (every block of a convex game) are left
    # exactly as they are, so the step is Newton's wherever H + Sigma is positive definite.
    # A game whose players' losses are convex in their own blocks says so (``own_convex``)
    # and skips the eigenvalues, a good part of a step's cost for the charging game.
    if not prob.game.own_convex:
        hd = 0.5 * (hd + jnp.swapaxes(hd, 1, 2))  # autodiff Hessians of such losses drift
        lam_min = jnp.min(jnp.linalg.eigvalsh(hd), axis=1)  # (P,)
        floor = 1e-8 * (1.0 + jnp.max(jnp.abs(hd), axis=(1, 2)))
        inertia = jnp.where(lam_min > floor, 0.0, floor - lam_min)
        hd = hd + inertia[:, None, None] * jnp.eye(hd.shape[1], dtype=dtype)[None]
    if k:
        jac_t = jnp.moveaxis(jac, 0, 2)  # (P, n, K)
        sol_y, sol_nu = _saddle_solve(
            hd, e, prob.has_eq, jnp.concatenate([-r_d[..., None], jac_t], axis=2),
            jnp.concatenate([-r_e[..., None], jnp.zeros((p, r, k), dtype)], axis=2))
        (qy, uy), (qnu, unu) = (sol_y[..., 0], sol_y[..., 1:]), (sol_nu[..., 0], sol_nu[..., 1:])
        # Woodbury for the K shared constraints: Schur complement diag(s/lam) + U A^-1 U'
        # (K, K), symmetric positive definite.
        schur = jnp.diag(st.s / st.lam) + jnp.einsum("pnk,pnj->kj", jac_t, uy)
        z = _cho_solve(_cholesky(schur, symmetrize=True), jnp.einsum("pnk,pn->k", jac_t, qy))
        dy, dnu = qy - jnp.einsum("pnk,k->pn", uy, z), qnu - jnp.einsum("prk,k->pr", unu, z)
    else:
        dy, dnu = _saddle_solve(hd, e, prob.has_eq, -r_d[..., None], -r_e[..., None])
        dy, dnu = dy[..., 0], dnu[..., 0]
    dy = jnp.where(prob.pad, 0.0, dy)
    dzl = jnp.where(prob.has_lo, mu / sl - st.zl - st.zl / sl * dy, 0.0)
    dzu = jnp.where(prob.has_hi, mu / su - st.zu + st.zu / su * dy, 0.0)
    if k:
        jdy = jnp.einsum("kpn,pn->k", jac, dy)
        dlam = st.lam / st.s * jdy + shift
        ds = -r_g - jdy
    else:
        dlam = ds = jnp.zeros(0, dtype)

    def longest(v, dv, mask):
        """Largest alpha in (0, 1] with v + alpha dv >= (1 - TAU) v where mask."""
        ratio = jnp.where(mask & (dv < 0), -TAU * v / jnp.where(dv < 0, dv, -1.0), 1.0)
        return jnp.min(ratio, initial=1.0)

    alpha = jnp.minimum(
        jnp.minimum(longest(sl, dy, prob.has_lo), longest(su, -dy, prob.has_hi)),
        jnp.minimum(longest(st.zl, dzl, prob.has_lo), longest(st.zu, dzu, prob.has_hi)),
    )
    if k:
        alpha = jnp.minimum(alpha, jnp.minimum(longest(st.s, ds, True),
                                               longest(st.lam, dlam, True)))
    ulp = jnp.finfo(dtype).eps * (1.0 + jnp.abs(st.y))
    tiny = (alpha >= 1.0) & jnp.all(jnp.abs(alpha * dy) <= STALL_ULPS * ulp)
    return _State(
        y=st.y + alpha * dy, nu=st.nu + alpha * dnu, zl=st.zl + alpha * dzl,
        zu=st.zu + alpha * dzu, s=st.s + alpha * ds, lam=st.lam + alpha * dlam,
        residual=st.residual, primal=st.primal, comp=st.comp, step=st.step + 1, tiny=tiny,
        still=st.still, derivatives=st.derivatives, hessians=st.hessians,
    )


def _measure(prob: _Problem, st: _State) -> _State:
    """The KKT residual of ``st`` itself (after its last step), after the slack reset.

    Slack reset: a shared constraint's slack never stays below the constraint's own margin,
    s = max(s, -g(y)). A Newton step moves s along the linearisation of g; where g curves
    (the deck game's loads are nonlinear in the prices), g(y + alpha dy) misses it and s can
    end up below -g(y) > 0, i.e. the slack says "nearly active" where the constraint holds
    with room to spare. Complementarity then inflates lam ~ mu / s, the term lam (g + s) / s
    of the Newton step grows like 1 / s, the fraction to the boundary cuts the steps to
    ~1e-10 and s and lam shrink together towards 0 with g + s stuck (the deck 6 without LSC
    response at 18 h: |g + s| = 9e-5 for 300 steps, read as infeasible). Raising s to -g(y)
    removes that residual at once and keeps y, so it is a safe step: primal feasibility
    of that row is then exact.
    """
    e = prob.equality_matrix(st.y.dtype)
    grad, g, jac = prob.derivatives(st.y, st.lam)
    if st.s.shape[0]:
        st = eqx.tree_at(lambda z: z.s, st, jnp.maximum(st.s, -g))
    dual_res, primal_res = _residuals(prob, st, grad, g, jac, e)
    mean_comp, largest_comp = _complementarity(prob, st)
    residual = jnp.maximum(jnp.maximum(dual_res, primal_res), largest_comp)
    return eqx.tree_at(lambda s: (s.residual, s.primal, s.comp, s.derivatives), st,
                       (residual, primal_res, jnp.stack([mean_comp, largest_comp]),
                        (grad, g, jac)))


def optimal_response(
    game: AbstractNIGame,
    x: Float[Array, "M T"],
    *,
    tol: float = 1e-10,
    max_steps: int = 100,
    unrolled: bool = False,
    method: str = "auto",
) -> Response:
    """Z(x): every player's best unilateral deviation from ``x`` at once, over the joint set.

    ``tol`` bounds the final KKT residual (stationarity, equalities, shared constraints and
    complementarity, max norms) relative to max(1, the largest loss gradient at the start).
    Far below 1e-10 the Newton systems of an interior-point method are too ill-conditioned
    in float64 for the residual to keep falling; :func:`evjax.solvers.solve` polishes its
    result by Newton on the equilibrium's KKT conditions instead. ``unrolled=True`` runs
    exactly ``max_steps`` iterations in a ``lax.scan`` (freezing once converged), so that
    reverse-mode autodiff can go through it; otherwise a ``lax.while_loop`` stops at ``tol``.

    Stopping: at the residual tolerance, or on a rounding stall: at the barrier floor, with
    the primal residual and every complementarity product within the tolerance, the full
    (uncut) Newton step moves no entry of y by more than ``STALL_ULPS`` units in the last
    place, without a tenfold fall of the residual, ``STALL_STEPS`` times in a row. y is then
    converged as far as float64 resolves it; what remains of the residual is the multipliers'
    rounding, amplified by lam / s ~ 1e14 of the active constraints (measured on the deck
    game: 20-600 x tol, at random, so that whether the residual dipped below tol within
    ``max_steps`` depended on the compiler's rounding).

    ``method``: ``"interior_point"`` (any game), ``"water_filling"`` (the exact closed form
    of :func:`evjax.solvers.water_filling.water_filling`: players of one row each, quadratic,
    time-separable, no shared constraints), or ``"auto"``: water filling where it applies.
    """
    x = jnp.asarray(x)
    if method not in ("auto", "interior_point", "water_filling"):
        raise ValueError(f"method must be 'auto', 'interior_point' or 'water_filling', "
                         f"got {method!r}")
    separable = water_filling.applies(game, x)
    if method == "water_filling" and not separable:
        raise ValueError(
            "method='water_filling' needs a quadratic, time-separable game whose players own "
            "one row each and without shared constraints; use 'interior_point'")
    if method != "interior_point" and separable:
        return water_filling.water_filling(game, x, tol=tol)
    prob = _problem(game, x)
    st = _measure(prob, _initial(prob, prob.x))
    tol = tol * jnp.maximum(1.0, jnp.max(jnp.abs(st.derivatives[0])))

    mu_floor = 0.01 * tol

    def converged(s):
        return (s.residual <= tol) | (s.still >= STALL_STEPS)

    def done(s):
        return converged(s) | ~jnp.isfinite(s.residual)

    def advance(s):
        new = _measure(prob, _step(prob, s, mu_floor))
        stalled = (new.tiny & (new.residual > 0.1 * s.residual) & (new.primal <= tol)
                   & (new.comp[1] <= tol) & (new.comp[0] <= mu_floor / SIGMA))
        return eqx.tree_at(lambda z: z.still, new, jnp.where(stalled, s.still + 1, 0))

    if unrolled:
        def body(s, _):
            new = advance(s)
            return jax.tree.map(lambda a, b: jnp.where(done(s), a, b), s, new), None

        st, _ = jax.lax.scan(body, st, None, length=max_steps)
    else:
        st = jax.lax.while_loop(lambda s: ~done(s) & (s.step < max_steps), advance, st)

    blocks = prob.blocks
    p, n = st.y.shape
    t = prob.t

    def back(v):
        return blocks.scatter(v.reshape(p, n // t, t))

    return Response(
        y=back(st.y),
        row_mult=blocks.scatter(st.nu[:, :, None])[:, 0],
        lower_mult=back(st.zl),
        upper_mult=back(st.zu),
        shared_mult=st.lam,
        residual=st.residual,
        primal_residual=st.primal,
        steps=st.step,
        converged=converged(st),
    )
