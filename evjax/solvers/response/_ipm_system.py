"""The interior-point response's problem and iterate: the response problem at x in padded block
form (:class:`Problem`), the primal-dual iterate (:class:`State`) and its KKT measures
(:func:`measure`), for :class:`evjax.solvers.InteriorPoint` (``interior_point.py``)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ..game import AbstractNIGame, Blocks


class Problem(eqx.Module):
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


class State(eqx.Module):
    y: Array
    nu: Array
    zl: Array
    zu: Array
    s: Array
    lam: Array
    residual: Array
    primal: Array
    comp: Array  # (mean, largest) complementarity product, from measure
    step: Array
    tiny: Array  # the last step was a full Newton step moving y by rounding only
    still: Array  # consecutive rounding-stalled steps (:class:`evjax.solvers.InteriorPoint`)
    derivatives: tuple  # (grad, g, jac) at y, from measure, reused by the Newton step
    hessians: Array  # (P, n, n) Hessian blocks, constant for a quadratic game; else (0,)


def problem(game: AbstractNIGame, x) -> Problem:
    """The response problem of ``game`` at ``x``."""
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
    return Problem(
        game=game, x=x, blocks=blocks, lo=jnp.where(jnp.isfinite(lo), lo, 0.0),
        hi=jnp.where(jnp.isfinite(hi), hi, 0.0), has_lo=jnp.isfinite(lo), has_hi=jnp.isfinite(hi),
        pad=pad, rhs=jnp.where(has_eq, rhs, 0.0), has_eq=has_eq,
    )


def initial(prob: Problem, x) -> State:
    """The start: x's blocks pushed inside the bounds, unit multipliers, positive slacks."""
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
    return State(
        y=y, nu=jnp.zeros(prob.rhs.shape, y.dtype), zl=jnp.where(prob.has_lo, one, 0.0),
        zu=jnp.where(prob.has_hi, one, 0.0), s=s, lam=jnp.ones(k, y.dtype),
        residual=jnp.asarray(jnp.inf, y.dtype), primal=jnp.asarray(jnp.inf, y.dtype),
        comp=jnp.full(2, jnp.inf, y.dtype), step=jnp.asarray(0, jnp.int32),
        tiny=jnp.asarray(False), still=jnp.asarray(0, jnp.int32),
        derivatives=prob.derivatives(y, jnp.ones(k, y.dtype)),
        hessians=(prob.hessians(y, jnp.ones(k, y.dtype)) if prob.game.quadratic
                  else jnp.zeros(0, y.dtype)),
    )


def complementarity(prob: Problem, st: State):
    """(mean, largest) complementarity product of the bounds and shared constraints."""
    sl = jnp.where(prob.has_lo, st.y - prob.lo, 0.0)
    su = jnp.where(prob.has_hi, prob.hi - st.y, 0.0)
    products = [(sl * st.zl).ravel(), (su * st.zu).ravel(), st.s * st.lam]
    count = jnp.sum(prob.has_lo) + jnp.sum(prob.has_hi) + st.s.shape[0]
    total = sum(jnp.sum(v) for v in products)
    largest = jnp.max(jnp.concatenate([jnp.zeros(1, st.y.dtype)] + products))
    return total / jnp.maximum(count, 1), largest


def residuals(prob: Problem, st: State, grad, g, jac, e):
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


def measure(prob: Problem, st: State) -> State:
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
    dual_res, primal_res = residuals(prob, st, grad, g, jac, e)
    mean_comp, largest_comp = complementarity(prob, st)
    residual = jnp.maximum(jnp.maximum(dual_res, primal_res), largest_comp)
    return eqx.tree_at(lambda s: (s.residual, s.primal, s.comp, s.derivatives), st,
                       (residual, primal_res, jnp.stack([mean_comp, largest_comp]),
                        (grad, g, jac)))

