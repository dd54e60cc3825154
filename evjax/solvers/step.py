"""Step rules of the Nikaido-Isoda relaxation x_{s+1} = (1 - a_s) x_s + a_s Z(x_s) (paper 003
eq (27)), as Modules passed to :func:`evjax.solvers.solve` (as optimistix's ``LearningRate``).

:class:`ConstantStep` is paper 003's algorithm (a_s = 0.5). Near the equilibrium it iterates
(1 - a) I + a J, J the Jacobian of the joint response Z. In the charging game (a potential
game: J's eigenvalues are real) every station answers the others' common load, which puts an
eigenvalue near -b (N - 1) / (mu + 2 b), so a = 0.5 leaves the equilibrium once an eigenvalue
falls below 1 - 2 / a = -3: on the box-constrained games of benchmarks/bench_ni.py the
iteration's spectral radius is 0.95 at N = 60 and 1.42 at N = 80, where the relaxation cycles
to ``max_steps``. :class:`OptimalStep` (the default; Krawczyk and Uryasev 2000) adapts a to
the spectrum (6 steps at N = 80).

The optimal step: the parabola through V(0), V'(0) (Danskin's theorem: the derivative of
Psi(x + a d, Z(x)) with Z(x) held) and V at a trial step (the last step's a*, first 1/2),
exact for quadratic games without active constraints. The trial is taken where the parabola
says it is nearly as good as its minimum a*, else x + a* d is evaluated too, and the better
of the two kept: one or two optimal responses per step.

A rule's :meth:`~AbstractStepRule.update` is called in the relaxation's loop body after every
evaluation of Z and V (``evjax/solvers/relaxation.py``); its state rides in the loop state.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ._solution import Response
from .game import AbstractNIGame, ni_function

# The optimal step takes its trial step (the last step's a*) where the parabola says it
# achieves all but this fraction of the best decrease, V(0) - V(a*), saving the second
# response. 0.25 (3/4 of the best decrease, like a sufficient-decrease line search): on
# 1,000 perturbed N = 20 charging games (one vmap), the same 3 steps as with 0.05, and 5
# responses per game instead of 7.
OPTIMAL_STEP_SLACK = 0.25


class Move(eqx.Module):
    """What a step rule makes of an evaluation (:meth:`AbstractStepRule.update`).

    ``moved``: a relaxation step was taken, to ``x`` with response ``response``, gap ``gap``
    and step size ``a``; ``waiting``: the rule needs another evaluation before it moves;
    ``state``: the rule's state for the next evaluation."""

    moved: Bool[Array, ""]
    waiting: Bool[Array, ""]
    x: Float[Array, "M T"]
    response: Response
    gap: Float[Array, ""]
    a: Float[Array, ""]
    state: tuple | None


class AbstractStepRule(eqx.Module):
    """How the relaxation picks its step sizes a_s in (0, 1]."""

    # Loop-body evaluations (optimal responses) per relaxation step, at most: the length of
    # the unrolled relaxation's scan.
    evaluations: ClassVar[int]

    @abc.abstractmethod
    def init(self, response: Response, dtype) -> tuple | None:
        """The rule's state before the first step (``response``: zeros of Z's structure)."""

    @abc.abstractmethod
    def size(self, state: tuple | None, dtype) -> Float[Array, ""]:
        """The step a to evaluate next, x + a (Z(x) - x)."""

    @abc.abstractmethod
    def update(self, game: AbstractNIGame, x, response: Response, gap, state, x_next,
               r: Response, gap_next, a, *, on_relax, on_star) -> Move:
        """The evaluation at ``x_next`` = x + a d (Z ``r``, V ``gap_next``) from the evaluated
        point ``x`` (Z ``response``, V ``gap``): ``on_relax`` where it was the first trial from
        ``x``, ``on_star`` where it was a second one (:attr:`evaluations` > 1 only)."""


class ConstantStep(AbstractStepRule):
    """a_s = ``alpha`` at every step (paper 003's algorithm with 0.5). Near the equilibrium it
    converges where every eigenvalue of the joint response's Jacobian exceeds 1 - 2 /
    ``alpha``; it cycles on large charging games (e.g. 80 stations with x >= 0)."""

    alpha: float = eqx.field(default=0.5, static=True)
    evaluations: ClassVar[int] = 1

    def __check_init__(self):
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in (0, 1], got {self.alpha}")

    def init(self, response, dtype):
        return None

    def size(self, state, dtype):
        return jnp.asarray(self.alpha, dtype)

    def update(self, game, x, response, gap, state, x_next, r, gap_next, a, *, on_relax,
               on_star):
        return Move(moved=on_relax, waiting=jnp.asarray(False), x=x_next, response=r,
                    gap=gap_next, a=a, state=None)


def parabola(v0, slope, a_t, v_t):
    """Krawczyk-Uryasev optimal step: the parabola with V(0) = ``v0``, V'(0) = ``slope`` and
    V(``a_t``) = ``v_t``, minimised on [0.05, 1] (1 where it is not convex). Returns a* and
    whether the trial ``a_t`` is nearly as good: V(a_t) - V(a*) <= ``OPTIMAL_STEP_SLACK``
    (V(0) - V(a*)) by the parabola."""
    c2 = (v_t - v0 - slope * a_t) / a_t**2
    a_star = jnp.clip(jnp.where(c2 > 0, -slope / (2.0 * jnp.where(c2 > 0, c2, 1.0)), 1.0),
                      0.05, 1.0)
    a_star = jnp.where(jnp.isfinite(a_star), a_star, 0.5)
    v_star = v0 + slope * a_star + c2 * a_star**2
    return a_star, v_t - v_star <= OPTIMAL_STEP_SLACK * (v0 - v_star)


class OptimalStep(AbstractStepRule):
    """Krawczyk and Uryasev's step (the default): a_s minimises the NI gap along the step,
    by a parabola through V(0), V'(0) and a trial step; one or two optimal responses per
    step. State: (Z, V, a) at the trial point and the next trial step a*."""

    evaluations: ClassVar[int] = 2

    def init(self, response, dtype):
        # (V, a) of the trial start finite: they are read only once set, but a NaN there
        # would reach unrolled gradients as 0 * NaN (first trial step 1/2).
        return (response, jnp.zeros((), dtype), jnp.zeros((), dtype), jnp.asarray(0.5, dtype))

    def size(self, state, dtype):
        return state[3]  # the trial step (the last step's a*), or a* itself

    def update(self, game, x, response, gap, state, x_next, r, gap_next, a, *, on_relax,
               on_star):
        direction = response.y - x
        # V'(0) along the direction, by Danskin's theorem: the derivative of
        # Psi(x + a d, Z(x)) in a with the response Z(x) held (V = max_y Psi(x, y)).
        slope = jax.jvp(lambda z: ni_function(game, z, response.y), (x,), (direction,))[1]
        # V(x) is NaN before the first evaluation, where a* is not used; kept out of the
        # parabola so that unrolled gradients do not meet 0 * NaN.
        v0 = jnp.where(jnp.isfinite(gap), gap, 0.0)
        a_star, close = parabola(v0, slope, a, gap_next)
        take_trial = on_relax & close
        # At x + a* d: keep it unless the trial point has the lower V.
        r_t, v_t, a_t, _ = state
        back = on_star & (v_t < gap_next)
        x_new = jnp.where(back, x + a_t * direction, x_next)
        r_new, gap_new = jax.tree.map(lambda p, q: jnp.where(back, p, q), (r_t, v_t),
                                      (r, gap_next))
        # The next step's trial is this step's a*.
        trial = jax.tree.map(lambda p, q: jnp.where(on_relax, p, q), (r, gap_next, a, a_star),
                             state)
        return Move(moved=take_trial | on_star, waiting=on_relax & ~take_trial, x=x_new,
                    response=r_new, gap=gap_new, a=jnp.where(back, a_t, a), state=trial)
