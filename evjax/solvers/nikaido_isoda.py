"""Nikaido-Isoda relaxation (paper 003 eqs 24-28; Krawczyk and Uryasev 2000).

    Psi(x, y) = sum_p [loss_p(x) - loss_p(y_p, x_-p)]            (NI function, eq (24))
    Z(x)      = argmax_{y in X} Psi(x, y)                         (optimal response, eq (26))
    x_{s+1}   = (1 - a_s) x_s + a_s Z(x_s)                        (relaxation, eq (27))
    stop when V(x_s) = max_y Psi(x_s, y) = Psi(x_s, Z(x_s)) < tol (eq (28))

V(x) >= 0 is the total gain the players could make by deviating alone; it is 0 exactly at
an equilibrium, which is why a returned value with ``result == 0`` is one (to ``tol``).

Step rules: ``"optimal"`` (the default: Krawczyk and Uryasev's step minimising V along the
relaxation direction d = Z(x) - x) and ``"constant"`` (a_s = ``alpha``: paper 003's
algorithm with 0.5). Near the equilibrium the constant step iterates (1 - a) I + a J, J the
Jacobian of the joint response Z. In the charging game (a potential game: J's eigenvalues
are real) every station answers the others' common load, which puts an eigenvalue near
-b (N - 1) / (mu + 2 b), so a = 0.5 leaves the equilibrium once an eigenvalue falls below
1 - 2 / a = -3: on the box-constrained games of benchmarks/bench_ni.py the iteration's
spectral radius is 0.95 at N = 60 and 1.42 at N = 80, where the relaxation cycles to
``max_steps``. The optimal step adapts a to the spectrum (6 steps at N = 80).

The optimal step: the parabola through V(0), V'(0) (Danskin's theorem: the derivative of
Psi(x + a d, Z(x)) with Z(x) held) and V at a trial step (the last step's a*, first 1/2),
exact for quadratic games without active constraints. The trial is taken where the parabola
says it is nearly as good as its minimum a*, else x + a* d is evaluated too, and the better
of the two kept: one or two optimal responses per step.

Gradients of any function of the equilibrium reach the game's parameters two ways:
``adjoint="implicit"`` (default) applies the implicit function theorem to the equilibrium's
KKT conditions with the active set of the final response fixed (through
``optimistix.ImplicitAdjoint``); ``adjoint="unrolled"`` differentiates through a fixed number
of relaxation and interior-point iterations.
"""

from __future__ import annotations

import functools as ft

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, Float, Int

from .game import AbstractNIGame, ni_function
from .kkt import active_set, kkt_residual, polish
from .response import Response, optimal_response

RESULT_MESSAGES = (
    "converged",
    "the NI gap did not reach tol within max_steps relaxation steps (with step='constant', "
    "try step='optimal', the default, which also converges where constant steps cycle)",
    "the relaxation diverged (the NI gap grew by a factor of more than 1e6)",
    "the game looks infeasible: the optimal response could not satisfy the constraints and "
    "no feasible point is known",
    "a non-finite value appeared (NaN or inf in the payoffs or their derivatives)",
    "the optimal response did not converge (its interior-point method stopped short of the "
    "constraints although a feasible point is known: the game is not shown infeasible; try "
    "more response_steps)",
)


class RESULTS:
    """Result codes of :func:`solve` (``NISolution.result``); messages in ``RESULT_MESSAGES``."""

    successful = 0
    max_steps_reached = 1
    diverged = 2
    infeasible = 3
    nonfinite = 4
    response_failed = 5

    @staticmethod
    def message(code) -> str:
        return RESULT_MESSAGES[int(code)]


class NISolution(eqx.Module):
    """What :func:`solve` returns.

    Fields:
        value: (M, T) the last relaxation point: the equilibrium when ``result == 0``.
        result: int code (:class:`RESULTS`); nonzero means ``value`` is NOT an equilibrium.
        gap: the NI gap V(value) = max_y Psi(value, y) >= 0, in the payoffs' units.
        violation: the largest constraint violation of ``value`` (bounds, row sums, shared).
        steps: relaxation steps taken.
        gap_history: (max_steps + 1,) V at every iterate (NaN after the last).
        step_sizes: (max_steps,) the a_s used (NaN after the last).
        response_steps: interior-point iterations of the last optimal response (1 for a
            closed-form water-filling response).
        response: the last optimal response Z(value) with its multipliers.
        iterates: (max_steps + 1, M, T) the relaxation's points x_0 .. x_steps (NaN after the
            last; polished candidates are not relaxation points) when solved with
            ``record=True``, else None.
    """

    value: Float[Array, "M T"]
    result: Int[Array, ""]
    gap: Float[Array, ""]
    violation: Float[Array, ""]
    steps: Int[Array, ""]
    gap_history: Float[Array, " S1"]
    step_sizes: Float[Array, " S"]
    response_steps: Int[Array, ""]
    response: Response
    iterates: Float[Array, "S1 M T"] | None = None

    @property
    def converged(self):
        return self.result == RESULTS.successful


def ni_gap(game: AbstractNIGame, x, response: Response):
    """V(x) = Psi(x, Z(x)) given the optimal response at ``x``."""
    return ni_function(game, x, response.y)


def violation(game: AbstractNIGame, x: Float[Array, "M T"]) -> Float[Array, ""]:
    """The largest violation of ``game``'s constraints at ``x`` (0 when feasible)."""
    lower, upper = game.bounds()
    out = jnp.max(jnp.maximum(jnp.maximum(lower - x, x - upper), 0.0))
    rows = game.row_sums()
    eq = jnp.where(jnp.isfinite(rows), jnp.abs(jnp.sum(x, axis=1) - rows), 0.0)
    out = jnp.maximum(out, jnp.max(eq, initial=0.0))
    g = game.shared(x)
    if g.shape[0]:
        out = jnp.maximum(out, jnp.max(jnp.maximum(g, 0.0)))
    return out


class _State(eqx.Module):
    x: Array  # the current point (evaluated unless phase == -1)
    response: Response  # Z(x)
    gap: Array  # V(x)
    step: Array
    gaps: Array
    alphas: Array
    phase: Array  # what the next evaluation is: _FIRST, _RELAX, _CANDIDATE or an optimal trial
    fallback: tuple  # (x, response, gap) of the relaxation's last point, during _CANDIDATE
    result: Array  # -1 while running, _POLISH when the relaxation is ready for a polish
    polish_at: Array  # try a polish once V(x) < max(tol, polish_at * V(x0))
    iterates: Array | None  # (max_steps + 1, M, T) the points x_s, when recording
    trial: tuple | None  # optimal step: (Z, V, a) at the trial x + a d, and the next a*


# Phases: what the loop body evaluates next. The optimal step takes one or two body
# iterations per relaxation step (the trial, and x + a* d unless the trial is as good).
_FIRST = -1  # x0 (not evaluated yet)
_RELAX = 0  # x is the evaluated relaxation point: take a step (constant) or a trial step
_CANDIDATE = 1  # x is a polished candidate
_TRIAL_STAR = 2  # optimal step: V at the trial known, evaluate x + a* d


_POLISH = -2  # the relaxation is close enough: polish, then evaluate the polished point
POLISH_AT = 1e-3  # first polish at V(x) < 1e-3 V(x0); if rejected, the second at V < tol
# Time-separable games polish with active-set updates (``kkt.polish_separable``), which
# tolerate a rougher active set: their first polish comes earlier.
POLISH_AT_SEPARABLE = 1e-2
# The optimal step takes its trial step (the last step's a*) where the parabola says it
# achieves all but this fraction of the best decrease, V(0) - V(a*), saving the second
# response. 0.25 (3/4 of the best decrease, like a sufficient-decrease line search): on
# 1,000 perturbed N = 20 charging games (one vmap), the same 3 steps as with 0.05, and 5
# responses per game instead of 7.
OPTIMAL_STEP_SLACK = 0.25


def _respond(game, x, options):
    return optimal_response(game, x, **dict(options))


def _relax(game, x0, *, step, alpha, tol, max_steps, inner, unrolled, record=False,
           polish=True):
    """The relaxation loop, with polishes (:func:`.kkt.polish`) checked by the NI gap.

    Every optimal response is computed at one place in the loop body, the one copy of the
    interior-point method in the compiled program: the body picks the next point (the first,
    a relaxation step, an optimal step's trial point, or a polished candidate), then
    evaluates Z and V there. The optimal step rule's trial point is a body iteration of its
    own (a phase), and the parabola's a* a second one unless the trial is as good; a second,
    vmapped copy of the interior-point method for the trials doubled the compile time and
    left jaxlib 0.10's CPU runtime deadlocked at 100 batched games.

    Polishing early pays: once the relaxation has the active set, the polish lands on the
    equilibrium (exactly, for a quadratic game) while the relaxation would need many more
    steps to bring V below ``tol`` (V roughly halves per constant step). So there are up to
    two polishes: relax until V < max(tol, ``POLISH_AT`` V(x0)) (``POLISH_AT_SEPARABLE`` for
    time-separable games), polish, evaluate the
    candidate: accepted if V < tol and feasible, else the relaxation goes on from where it
    was until V < tol, is polished again, and is the answer if that polish does not improve
    on it. The polishes sit between the rounds of a three-round ``fori_loop``, not in the
    loop body: under ``jax.vmap`` a ``cond`` with a batched predicate in the body would become
    a select and run the polish at every step of every game (between rounds it runs twice
    per game at most). The one relaxation loop is the only copy of the interior-point method
    in the program (a second copy doubles the compile time, and an outer ``while_loop`` or a
    relaxation before the ``fori_loop`` left jaxlib 0.10's CPU runtime deadlocked at 100
    batched games). ``unrolled`` runs the same body in ``lax.scan``s (``max_steps + 1``
    steps, polish at ``tol``, then 1 step), frozen once finished. ``polish=False``: no
    polish, the first relaxation point with V < tol is the answer.
    """
    dtype = x0.dtype
    respond = ft.partial(_respond, game, options=inner)
    dummy = jax.eval_shape(respond, x0)
    zeros = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), dummy)
    nan = jnp.asarray(jnp.nan, dtype)
    state = _State(x=x0, response=zeros, gap=nan, step=jnp.asarray(0, jnp.int32),
                   gaps=jnp.full(max_steps + 1, jnp.nan, dtype),
                   alphas=jnp.full(max_steps, jnp.nan, dtype),
                   phase=jnp.asarray(_FIRST, jnp.int32),
                   fallback=(x0, zeros, nan), result=jnp.asarray(-1, jnp.int32),
                   polish_at=jnp.asarray(
                       0.0 if unrolled or not polish else POLISH_AT_SEPARABLE
                       if game.time_separable else POLISH_AT, dtype),
                   iterates=jnp.full((max_steps + 1, *x0.shape), jnp.nan, dtype) if record
                   else None,
                   trial=None if step == "constant"
                   # (V, a) of the trial start finite: they are read only once set, but a NaN
                   # there would reach unrolled gradients as 0 * NaN (first trial step 1/2)
                   else (zeros, jnp.zeros((), dtype), jnp.zeros((), dtype),
                         jnp.asarray(0.5, dtype)))

    def status(s: _State, first_gap):
        """The result code of the evaluated relaxation state ``s``, -1 to go on."""
        # A response that cannot meet the constraints (primal residual large or NaN) at a
        # point where the payoffs are finite. That says the game is infeasible only where no
        # feasible point is known: neither x itself (nearly) feasible, nor a step taken. Every
        # step was taken from a point whose response met the constraints (primal residual
        # <= 1e-6, else the relaxation would have stopped there), so from the first step on a
        # feasible point is known, and a failed response is the interior-point method's
        # failure (``response_failed``), never evidence of infeasibility. Neither point can
        # stand in for the response: V would be the gain of another point, not max Psi.
        finite_here = jnp.all(jnp.isfinite(s.x)) & jnp.all(jnp.isfinite(game.losses(s.x)))
        failed = finite_here & ~s.response.converged & ~(s.response.primal_residual <= 1e-6)
        # Converged: no deviation gains tol, and x (nearly) feasible. With a non-convex shared
        # set (e.g. loads concave in prices) the relaxation's averages of feasible responses
        # are infeasible and gain *more* than any feasible response: V(x) < 0 there, which
        # must not count as convergence.
        scale = jnp.maximum(1.0, jnp.max(jnp.abs(s.x)))
        near_feasible = violation(game, s.x) <= 1e-6 * scale
        feasible_known = near_feasible | (s.step > 0)
        threshold = jnp.maximum(tol, s.polish_at * first_gap)
        return jnp.select(
            [failed & ~feasible_known,
             failed,
             ~finite_here | ~jnp.isfinite(s.gap),
             (s.gap < threshold) & near_feasible,
             s.gap > 1e6 * jnp.maximum(first_gap, tol),
             s.step >= max_steps],
            [RESULTS.infeasible, RESULTS.response_failed, RESULTS.nonfinite,
             _POLISH if polish else RESULTS.successful, RESULTS.diverged,
             RESULTS.max_steps_reached],
            -1,
        )

    def parabola(v0, slope, a_t, v_t):
        """Krawczyk-Uryasev optimal step: the parabola with V(0) = ``v0``, V'(0) = ``slope``
        and V(``a_t``) = ``v_t``, minimised on [0.05, 1] (1 where it is not convex).
        Returns a* and whether the trial ``a_t`` is nearly as good: V(a_t) - V(a*) <=
        ``OPTIMAL_STEP_SLACK`` (V(0) - V(a*)) by the parabola."""
        c2 = (v_t - v0 - slope * a_t) / a_t**2
        a_star = jnp.clip(jnp.where(c2 > 0, -slope / (2.0 * jnp.where(c2 > 0, c2, 1.0)), 1.0),
                          0.05, 1.0)
        a_star = jnp.where(jnp.isfinite(a_star), a_star, 0.5)
        v_star = v0 + slope * a_star + c2 * a_star**2
        return a_star, v_t - v_star <= OPTIMAL_STEP_SLACK * (v0 - v_star)

    def body(s: _State) -> _State:
        first, candidate = s.phase == _FIRST, s.phase == _CANDIDATE
        direction = s.response.y - s.x
        if step == "constant":
            a = jnp.asarray(alpha, dtype)
        else:
            a = s.trial[3]  # the trial step (the last step's a*), or a* itself
        x_next = jnp.where(first | candidate, s.x, s.x + a * direction)
        r = respond(x_next)  # the one interior-point method of the program
        gap = ni_gap(game, x_next, r)
        if step == "constant":
            moved, waiting = ~first & ~candidate, jnp.asarray(False)
            x_new, r_new, gap_new, a_new = x_next, r, gap, a
            trial = None
        else:
            # V'(0) along the direction, by Danskin's theorem: the derivative of
            # Psi(x + a d, Z(x)) in a with the response Z(x) held (V = max_y Psi(x, y)).
            slope = jax.jvp(lambda z: ni_function(game, z, s.response.y), (s.x,),
                            (direction,))[1]
            on_relax, on_star = s.phase == _RELAX, s.phase == _TRIAL_STAR
            # V(x) is NaN before the first evaluation, where a* is not used; kept out of the
            # parabola so that unrolled gradients do not meet 0 * NaN.
            v0 = jnp.where(jnp.isfinite(s.gap), s.gap, 0.0)
            a_star, close = parabola(v0, slope, a, gap)
            take_trial = on_relax & close
            # At x + a* d: keep it unless the trial point has the lower V.
            r_t, v_t, a_t, _ = s.trial
            back = on_star & (v_t < gap)
            moved = take_trial | on_star
            waiting = on_relax & ~take_trial
            x_new = jnp.where(back, s.x + a_t * direction, x_next)
            r_new, gap_new = jax.tree.map(lambda p, q: jnp.where(back, p, q), (r_t, v_t),
                                          (r, gap))
            a_new = jnp.where(back, a_t, a)
            # The next step's trial is this step's a*.
            trial = jax.tree.map(lambda p, q: jnp.where(on_relax, p, q),
                                 (r, gap, a, a_star), s.trial)
        k = jnp.where(moved, s.step + 1, s.step)
        new = _State(
            x=x_new, response=r_new, gap=gap_new, step=k,
            gaps=jnp.where(candidate, s.gaps, s.gaps.at[k].set(gap_new)),
            alphas=jnp.where(moved, s.alphas.at[s.step].set(a_new), s.alphas),
            phase=jnp.full_like(s.phase, _RELAX), fallback=s.fallback, result=s.result,
            polish_at=s.polish_at,
            iterates=None if s.iterates is None else jnp.where(
                candidate, s.iterates, s.iterates.at[k].set(x_new)),
            trial=trial,
        )
        # Relaxing: decide from the relaxation's own state.
        code = status(new, jnp.where(first, gap, s.gaps[0]))
        relaxing = eqx.tree_at(lambda z: z.result, new, code)
        # Between an optimal step's trials: the point stays, the trial is remembered.
        mid_step = s if trial is None else eqx.tree_at(
            lambda z: (z.phase, z.trial), s,
            (jnp.full_like(s.phase, _TRIAL_STAR), trial),
        )
        # The polished candidate was just evaluated: the answer if V < tol and it is feasible
        # (even where the relaxation's own point has a smaller, negative V: that point may
        # be slightly infeasible). Else, if the relaxation had converged (V < tol), its point
        # is the answer; else the relaxation goes on from its point, to polish again later.
        x_f, r_f, g_f = s.fallback
        scale = jnp.maximum(1.0, jnp.max(jnp.abs(x_f)))
        accept = (jnp.all(jnp.isfinite(x_next)) & (gap < tol)
                  & (violation(game, x_next) <= 1e-10 * scale))
        done = accept | (g_f < tol)
        polished = jax.tree.map(
            lambda p, q: jnp.where(accept, p, q), (x_next, r, gap), (x_f, r_f, g_f))
        code = jnp.where(done, RESULTS.successful, -1).astype(jnp.int32)
        evaluated = eqx.tree_at(
            lambda z: (z.x, z.response, z.gap, z.result, z.polish_at), new,
            (*polished, code, jnp.where(done, s.polish_at, 0.0)))
        return jax.tree.map(
            lambda p, q, w: jnp.where(candidate, p, jnp.where(waiting, w, q)),
            evaluated, relaxing, mid_step)

    def to_polish(s: _State, gated=False) -> _State:
        """Games whose relaxation is ready: the polished point, as a candidate (phase 1)."""
        ready = s.result == _POLISH
        candidate = eqx.tree_at(
            lambda z: (z.x, z.phase, z.fallback, z.result), s,
            (_polish(game, s, ready if gated else None), jnp.full_like(s.phase, _CANDIDATE),
             (s.x, s.response, s.gap), jnp.full_like(s.result, -1)))
        return jax.tree.map(lambda p, q: jnp.where(ready, p, q), candidate, s)

    def maybe_polish(s: _State) -> _State:
        """``to_polish`` if ready. A ``while_loop`` of at most one trip, not a ``cond``: under
        ``jax.vmap`` a ``cond`` becomes a select that polishes every game of the batch, while
        the loop makes its one trip only if some game is ready, and the polish's own rounds
        (``run``) stop at once for the games that are not."""
        return jax.lax.while_loop(lambda c: c[0], lambda c: (jnp.asarray(False), to_polish(
            c[1], gated=True)), (s.result == _POLISH, s))[1]

    if unrolled:
        def scan(s, length):
            def scan_body(s, _):
                new = body(s)
                return jax.tree.map(lambda a, b: jnp.where(s.result != -1, a, b), s, new), None

            return jax.lax.scan(scan_body, s, None, length=length)[0]

        per_step = 1 if step == "constant" else 2  # body iterations per relaxation step
        state = scan(to_polish(scan(state, 1 + per_step * max_steps)), 1)
    else:
        def relax(s):
            return jax.lax.while_loop(lambda s: s.result == -1, body, s)

        def round_(i, s):  # round 0 relaxes; rounds 1 and 2 polish (if ready), then go on
            return relax(jax.lax.cond(i > 0, maybe_polish, lambda s: s, s))

        state = jax.lax.fori_loop(0, 3, round_, state)
    return state, jnp.maximum(state.result, 0)


def _polish(game, state: _State, run=None):
    """The relaxation's point polished by Newton on the KKT conditions (:func:`polish`)."""
    return polish(game, state.x, state.response, run=run)


def _solution(game, state: _State, result) -> NISolution:
    return NISolution(
        value=state.x, result=result.astype(jnp.int32), gap=state.gap,
        violation=violation(game, state.x), steps=state.step, gap_history=state.gaps,
        step_sizes=state.alphas, response_steps=state.response.steps, response=state.response,
        iterates=state.iterates,
    )


# ----------------------------------------------------------------------- implicit adjoint


class _Static(eqx.Module):
    """Solver options carried through the implicit adjoint's inputs (no array leaves)."""

    options: dict = eqx.field(static=True)


def _primal(inputs):
    """(root, residual) for the implicit adjoint: root = (x, row multipliers, shared ones)."""
    game, x0, static = inputs[0], inputs[1], inputs[2]
    state, result = _relax(jax.lax.stop_gradient(game), jax.lax.stop_gradient(x0),
                           **dict(static.options))
    x = state.x
    nu = jnp.where(jnp.isfinite(game.row_sums()), state.response.row_mult, 0.0)
    lam = state.response.shared_mult
    active = active_set(game, x, state.response)
    return (x, nu, lam), (active, state, result)


def _rewrite(root, residual, inputs):
    return kkt_residual(root, residual[0], inputs)


def _implicit(game, x0, options):
    static = _Static(tuple(sorted(options.items())))
    root, (_, state, result) = optx.ImplicitAdjoint(
        linear_solver=lx.QR()  # an LU on CPU turns its pivots into a sequential loop
    ).apply(_primal, _rewrite, (game, x0, static), frozenset())
    return eqx.tree_at(lambda s: s.x, state, root[0]), result


# --------------------------------------------------------------------------------- solve


def solve(
    game: AbstractNIGame,
    x0: Float[Array, "M T"] | None = None,
    *,
    step: str = "optimal",
    alpha: float = 0.5,
    tol: float = 1e-8,
    max_steps: int = 1000,
    adjoint: str = "implicit",
    throw: bool = True,
    response_tol: float = 1e-10,
    response_steps: int = 100,
    response_method: str = "auto",
    polish: bool = True,
    record: bool = False,
) -> NISolution:
    """The (normalised) Nash equilibrium of ``game`` by Nikaido-Isoda relaxation.

    Arguments:
        game: an :class:`AbstractNIGame` (e.g. :class:`evjax.ConstrainedChargingGame`).
        x0: (M, T) starting point (default ``game.start()``); need not be feasible.
        step: ``"optimal"`` (default; Krawczyk-Uryasev: a_s minimises the NI gap along
            the step, 1 or 2 optimal responses per step) or ``"constant"`` (a_s =
            ``alpha``; paper 003's algorithm, with 0.5: near the equilibrium it converges
            where every eigenvalue of the joint response's Jacobian exceeds
            1 - 2 / ``alpha``, and it cycles on large charging games, e.g. 80 stations
            with x >= 0).
        alpha: the constant step's a_s (``step="constant"`` only).
        tol: stop when the NI gap V(x) = max_y Psi(x, y) < tol (eq (28)), in payoff units.
        max_steps: relaxation steps at most.
        adjoint: ``"implicit"`` (implicit function theorem at the solution's KKT point) or
            ``"unrolled"`` (autodiff through ``max_steps`` relaxation steps and
            ``response_steps`` interior-point steps each; slower, for checking).
        throw: raise (``eqx.error_if``) unless converged; with ``throw=False`` inspect
            ``result`` (what batched, ``vmap``-ed solves use).
        response_tol, response_steps: KKT tolerance and iteration cap of each optimal
            response (:func:`evjax.solvers.optimal_response`).
        response_method: how to compute the optimal responses: ``"auto"`` (closed-form
            water filling where the game allows it, else the interior-point method),
            ``"interior_point"`` or ``"water_filling"`` (see
            :func:`evjax.solvers.optimal_response`).
        polish: polish the relaxation's point by Newton on the KKT conditions (default; the
            equilibrium to rounding). ``False`` returns the relaxation's first point with
            V < tol, the paper's algorithm as it stands: an equilibrium to the gap's accuracy
            (V is quadratic in the distance, so about sqrt(tol) from the polished point).
        record: keep the relaxation's iterates x_0 .. x_steps in ``iterates`` (memory
            (max_steps + 1) M T: for convergence plots of small games, not for sweeps).

    Returns an :class:`NISolution`. jit- and vmap-able (``step``, ``adjoint`` and the integer
    options are static).
    """
    if step not in ("constant", "optimal"):
        raise ValueError(f"step must be 'constant' or 'optimal', got {step!r}")
    if adjoint not in ("implicit", "unrolled"):
        raise ValueError(f"adjoint must be 'implicit' or 'unrolled', got {adjoint!r}")
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
    for name, value in (("tol", tol), ("response_tol", response_tol)):
        if not 0.0 < value < float("inf"):  # False for NaN too
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if not isinstance(game, AbstractNIGame):
        raise ValueError(f"game must be an AbstractNIGame, got {type(game).__name__}")
    x0 = game.start() if x0 is None else jnp.asarray(x0, jnp.result_type(float))
    if x0.shape != tuple(game.shape):
        raise ValueError(f"x0 must have shape {tuple(game.shape)}, got {x0.shape}")
    inner = (("max_steps", response_steps), ("method", response_method),
             ("tol", response_tol), ("unrolled", adjoint == "unrolled"))
    options = dict(step=step, alpha=alpha, tol=tol, max_steps=max_steps, inner=inner,
                   unrolled=adjoint == "unrolled", record=bool(record), polish=bool(polish))
    if adjoint == "implicit":
        state, result = _implicit(game, x0, options)
    else:
        state, result = _relax(game, x0, **options)
    solution = _solution(game, state, result)
    if throw:
        value = eqx.branched_error_if(
            solution.value, solution.result != RESULTS.successful, solution.result,
            [f"evjax.solvers.solve: {m}" for m in RESULT_MESSAGES],
        )
        solution = eqx.tree_at(lambda s: s.value, solution, value)
    return solution
