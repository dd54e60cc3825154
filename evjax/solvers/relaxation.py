"""The relaxation loop of :func:`evjax.solvers.solve`, with polishes checked by the NI gap.

Every optimal response is computed at one place in the loop body, the one copy of the
interior-point method in the compiled program: the body picks the next point (the first, a
relaxation step, a step rule's trial point, or a polished candidate), then evaluates Z and V
there (:meth:`Relaxation.body`). The optimal step rule's trial point is a body iteration of
its own (a phase), and the parabola's a* a second one unless the trial is as good; a second,
vmapped copy of the interior-point method for the trials doubled the compile time and left
jaxlib 0.10's CPU runtime deadlocked at 100 batched games.

Polishing early pays: once the relaxation has the active set, the polish (:func:`.kkt.polish`)
lands on the equilibrium (exactly, for a quadratic game) while the relaxation would need many
more steps to bring V below ``tol`` (V roughly halves per constant step). So there are up to
two polishes: relax until V < max(tol, ``POLISH_AT`` V(x0)) (``POLISH_AT_SEPARABLE`` for
time-separable games), polish, evaluate the candidate: accepted if V < tol and feasible, else
the relaxation goes on from where it was until V < tol, is polished again, and is the answer
if that polish does not improve on it. The polishes sit between the rounds of a three-round
``fori_loop``, not in the loop body: under ``jax.vmap`` a ``cond`` with a batched predicate in
the body would become a select and run the polish at every step of every game (between rounds
it runs twice per game at most). The one relaxation loop is the only copy of the
interior-point method in the program (a second copy doubles the compile time, and an outer
``while_loop`` or a relaxation before the ``fori_loop`` left jaxlib 0.10's CPU runtime
deadlocked at 100 batched games). Unrolled (for reverse-mode gradients through the
iterations), the same body runs in ``lax.scan``s (``evaluations * max_steps + 1`` steps,
polish at ``tol``, then 1 step), frozen once finished. ``polish=False``: no polish, the first
relaxation point with V < tol is the answer.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._solution import RESULTS, Response, result_code
from .game import AbstractNIGame, ni_gap, violation
from .kkt import polish as kkt_polish
from .response import AbstractResponse
from .step import AbstractStepRule

# Phases: what the loop body evaluates next. The optimal step takes one or two body
# iterations per relaxation step (the trial, and x + a* d unless the trial is as good).
_FIRST = -1  # x0 (not evaluated yet)
_RELAX = 0  # x is the evaluated relaxation point: take a step (or a trial step)
_CANDIDATE = 1  # x is a polished candidate
_TRIAL_STAR = 2  # optimal step: V at the trial known, evaluate x + a* d

_RUNNING = -1  # the state's ``result`` while the relaxation goes on
_POLISH = -2  # the relaxation is close enough: polish, then evaluate the polished point
POLISH_AT = 1e-3  # first polish at V(x) < 1e-3 V(x0); if rejected, the second at V < tol
# Time-separable games polish with active-set updates (``kkt.polish_separable``), which
# tolerate a rougher active set: their first polish comes earlier.
POLISH_AT_SEPARABLE = 1e-2

class State(eqx.Module):
    """The relaxation's loop state."""

    x: Array  # the current point (evaluated unless phase == _FIRST)
    response: Response  # Z(x)
    gap: Array  # V(x)
    step: Array
    gaps: Array
    alphas: Array
    phase: Array  # what the next evaluation is: _FIRST, _RELAX, _CANDIDATE or a trial
    fallback: tuple  # (x, response, gap) of the relaxation's last point, during _CANDIDATE
    result: Array  # _RUNNING, _POLISH when ready for a polish, else a result code
    polish_at: Array  # try a polish once V(x) < max(tol, polish_at * V(x0))
    iterates: Array | None  # (max_steps + 1, M, T) the points x_s, when recording
    trial: tuple | None  # the step rule's state (:meth:`AbstractStepRule.init`)


def _polish(game: AbstractNIGame, state: State, run=None):
    """The relaxation's point polished by Newton on the KKT conditions (:func:`.kkt.polish`)."""
    return kkt_polish(game, state.x, state.response, run=run)


def _select(pred, a, b):
    """The pytree ``a`` where ``pred``, else ``b``."""
    return jax.tree.map(lambda p, q: jnp.where(pred, p, q), a, b)


class Relaxation(eqx.Module):
    """One relaxation: the game, its options, and the pieces of the loop."""

    game: AbstractNIGame
    step: AbstractStepRule
    response: AbstractResponse
    tol: float
    max_steps: int
    unrolled: bool
    record: bool
    polish: bool

    def respond(self, x) -> Response:
        """Z(x) by the response method (unrolled with the relaxation)."""
        return self.response.respond(self.game, x, unrolled=self.unrolled)

    def initial(self, x0) -> State:
        """The state before the first evaluation, at ``x0``."""
        dtype = x0.dtype
        dummy = jax.eval_shape(self.respond, x0)
        zeros = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), dummy)
        nan = jnp.asarray(jnp.nan, dtype)
        polish_at = (0.0 if self.unrolled or not self.polish else POLISH_AT_SEPARABLE
                     if self.game.time_separable else POLISH_AT)
        return State(
            x=x0, response=zeros, gap=nan, step=jnp.asarray(0, jnp.int32),
            gaps=jnp.full(self.max_steps + 1, jnp.nan, dtype),
            alphas=jnp.full(self.max_steps, jnp.nan, dtype),
            phase=jnp.asarray(_FIRST, jnp.int32), fallback=(x0, zeros, nan),
            result=jnp.asarray(_RUNNING, jnp.int32), polish_at=jnp.asarray(polish_at, dtype),
            iterates=(jnp.full((self.max_steps + 1, *x0.shape), jnp.nan, dtype) if self.record
                      else None),
            trial=self.step.init(zeros, dtype))

    def status(self, s: State, first_gap):
        """The result code of the evaluated relaxation state ``s``, ``_RUNNING`` to go on."""
        game = self.game
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
        threshold = jnp.maximum(self.tol, s.polish_at * first_gap)
        return jnp.select(
            [failed & ~feasible_known,
             failed,
             ~finite_here | ~jnp.isfinite(s.gap),
             (s.gap < threshold) & near_feasible,
             s.gap > 1e6 * jnp.maximum(first_gap, self.tol),
             s.step >= self.max_steps],
            [result_code(RESULTS.infeasible), result_code(RESULTS.response_failed),
             result_code(RESULTS.nonfinite),
             _POLISH if self.polish else result_code(RESULTS.successful),
             result_code(RESULTS.diverged), result_code(RESULTS.max_steps_reached)],
            _RUNNING,
        )

    def body(self, s: State) -> State:
        """One evaluation of Z and V: at x0, a step rule's trial point or a polished
        candidate, and what follows from it."""
        first, candidate = s.phase == _FIRST, s.phase == _CANDIDATE
        a = self.step.size(s.trial, s.x.dtype)
        x_next = jnp.where(first | candidate, s.x, s.x + a * (s.response.y - s.x))
        r = self.respond(x_next)  # the one interior-point method of the program
        gap = ni_gap(self.game, x_next, r)
        move = self.step.update(self.game, s.x, s.response, s.gap, s.trial, x_next, r, gap, a,
                                on_relax=s.phase == _RELAX, on_star=s.phase == _TRIAL_STAR)
        k = jnp.where(move.moved, s.step + 1, s.step)
        new = State(
            x=move.x, response=move.response, gap=move.gap, step=k,
            gaps=jnp.where(candidate, s.gaps, s.gaps.at[k].set(move.gap)),
            alphas=jnp.where(move.moved, s.alphas.at[s.step].set(move.a), s.alphas),
            phase=jnp.full_like(s.phase, _RELAX), fallback=s.fallback, result=s.result,
            polish_at=s.polish_at,
            iterates=None if s.iterates is None else jnp.where(
                candidate, s.iterates, s.iterates.at[k].set(move.x)),
            trial=move.state,
        )
        # Relaxing: decide from the relaxation's own state.
        code = self.status(new, jnp.where(first, gap, s.gaps[0]))
        relaxing = eqx.tree_at(lambda z: z.result, new, code)
        # Between an optimal step's trials: the point stays, the trial is remembered.
        mid_step = s if move.state is None else eqx.tree_at(
            lambda z: (z.phase, z.trial), s, (jnp.full_like(s.phase, _TRIAL_STAR), move.state))
        evaluated = self.judge_candidate(s, new, x_next, r, gap)
        return jax.tree.map(
            lambda p, q, w: jnp.where(candidate, p, jnp.where(move.waiting, w, q)),
            evaluated, relaxing, mid_step)

    def judge_candidate(self, s: State, new: State, x_next, r, gap) -> State:
        """The state after evaluating a polished candidate ``x_next``: the answer if V < tol
        and it is feasible (even where the relaxation's own point has a smaller, negative V:
        that point may be slightly infeasible). Else, if the relaxation had converged
        (V < tol), its point is the answer; else the relaxation goes on from its point, to
        polish again later."""
        x_f, r_f, g_f = s.fallback
        scale = jnp.maximum(1.0, jnp.max(jnp.abs(x_f)))
        accept = (jnp.all(jnp.isfinite(x_next)) & (gap < self.tol)
                  & (violation(self.game, x_next) <= 1e-10 * scale))
        done = accept | (g_f < self.tol)
        polished = _select(accept, (x_next, r, gap), (x_f, r_f, g_f))
        code = jnp.where(done, result_code(RESULTS.successful), _RUNNING).astype(jnp.int32)
        return eqx.tree_at(
            lambda z: (z.x, z.response, z.gap, z.result, z.polish_at), new,
            (*polished, code, jnp.where(done, s.polish_at, 0.0)))

    def to_polish(self, s: State, gated=False) -> State:
        """Games whose relaxation is ready: the polished point, as a candidate."""
        ready = s.result == _POLISH
        candidate = eqx.tree_at(
            lambda z: (z.x, z.phase, z.fallback, z.result), s,
            (_polish(self.game, s, ready if gated else None), jnp.full_like(s.phase, _CANDIDATE),
             (s.x, s.response, s.gap), jnp.full_like(s.result, _RUNNING)))
        return _select(ready, candidate, s)

    def maybe_polish(self, s: State) -> State:
        """``to_polish`` if ready. A ``while_loop`` of at most one trip, not a ``cond``: under
        ``jax.vmap`` a ``cond`` becomes a select that polishes every game of the batch, while
        the loop makes its one trip only if some game is ready, and the polish's own rounds
        (``run``) stop at once for the games that are not."""
        return jax.lax.while_loop(lambda c: c[0], lambda c: (jnp.asarray(False), self.to_polish(
            c[1], gated=True)), (s.result == _POLISH, s))[1]

    def scan(self, s: State, length: int) -> State:
        """``length`` body iterations, each frozen once the relaxation has finished."""
        def scan_body(s, _):
            return _select(s.result != _RUNNING, s, self.body(s)), None

        return jax.lax.scan(scan_body, s, None, length=length)[0]

    def run(self, x0) -> tuple[State, Array]:
        """The relaxation from ``x0``: the final state and its result code."""
        state = self.initial(x0)
        if self.unrolled:
            length = 1 + self.step.evaluations * self.max_steps
            state = self.scan(self.to_polish(self.scan(state, length)), 1)
        else:
            # (Plain functions, not bound methods: JAX hashes the functions it traces, and a
            # bound method hashes its Module, whose game holds tracers.)
            def relax(s):
                return jax.lax.while_loop(lambda s: s.result == _RUNNING,
                                          lambda s: self.body(s), s)

            def round_(i, s):  # round 0 relaxes; rounds 1 and 2 polish (if ready), then go on
                return relax(jax.lax.cond(i > 0, lambda s: self.maybe_polish(s), lambda s: s, s))

            state = jax.lax.fori_loop(0, 3, round_, state)
        return state, jnp.maximum(state.result, 0)
