"""Nikaido-Isoda relaxation (paper 003 eqs 24-28; Krawczyk and Uryasev 2000): :func:`solve`.

    Psi(x, y) = sum_p [loss_p(x) - loss_p(y_p, x_-p)]            (NI function, eq (24))
    Z(x)      = argmax_{y in X} Psi(x, y)                         (optimal response, eq (26))
    x_{s+1}   = (1 - a_s) x_s + a_s Z(x_s)                        (relaxation, eq (27))
    stop when V(x_s) = max_y Psi(x_s, y) = Psi(x_s, Z(x_s)) < tol (eq (28))

V(x) >= 0 is the total gain the players could make by deviating alone; it is 0 exactly at
an equilibrium, which is why a returned value with ``result == RESULTS.successful`` is one
(to ``tol``).

The pieces, one module each: the step rules a_s (``step.py``: :class:`OptimalStep`, the
default, and paper 003's :class:`ConstantStep`), the optimal-response methods
(``response/``: :class:`AutoResponse`, :class:`InteriorPoint`, :class:`WaterFilling`), the
relaxation loop with its polishes (``relaxation.py``), the adjoints that carry gradients to
the game's parameters (``adjoint.py``: :class:`ImplicitAdjoint`, :class:`UnrolledAdjoint`),
and the solution with its result codes (``_solution.py``). This module is the public
boundary: it validates the arguments once and maps the options' string spellings
(``options.py``) onto those Modules.
"""

from __future__ import annotations

import functools as ft

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_steps, check_tol
from ._solution import RESULTS, NISolution, from_code
from .adjoint import ImplicitAdjoint
from .game import AbstractNIGame, violation
from .options import solver_options
from .relaxation import Relaxation, State
from .step import OptimalStep


def _relax(game, x0, **options) -> tuple[State, Array]:
    return Relaxation(game, **options).run(x0)


def _solution(game: AbstractNIGame, state: State, code) -> NISolution:
    return NISolution(
        value=state.x, result=from_code(code), gap=state.gap,
        violation=violation(game, state.x), steps=state.step, gap_history=state.gaps,
        step_sizes=state.alphas, response_steps=state.response.steps, response=state.response,
        iterates=state.iterates,
    )


def solve(
    game: AbstractNIGame,
    x0: Float[ArrayLike, "M T"] | None = None,
    *,
    # (The options are not annotated: solve checks them itself, with a ValueError naming the
    # value: step an AbstractStepRule or str, adjoint an AbstractAdjoint or str, response an
    # AbstractResponse, str or None.)
    step=OptimalStep(),
    adjoint=ImplicitAdjoint(),
    response=None,
    tol: float = 1e-8,
    max_steps: int = 1000,
    throw: bool = True,
    polish: bool = True,
    record: bool = False,
    **spellings,
) -> NISolution:
    """The (normalised) Nash equilibrium of ``game`` by Nikaido-Isoda relaxation.

    Arguments:
        game: an :class:`AbstractNIGame` (e.g. :class:`evjax.ConstrainedChargingGame`).
        x0: (M, T) starting point (default ``game.start()``); need not be feasible.
        step: the step rule: :class:`OptimalStep` (default; Krawczyk-Uryasev: a_s minimises
            the NI gap along the step, 1 or 2 optimal responses per step) or
            :class:`ConstantStep` (a_s = ``alpha``; paper 003's algorithm, with 0.5: it
            cycles on large charging games, e.g. 80 stations with x >= 0).
        adjoint: how gradients are taken: :class:`ImplicitAdjoint` (default; implicit
            function theorem at the solution's KKT point) or :class:`UnrolledAdjoint`
            (autodiff through ``max_steps`` relaxation steps and the response method's
            ``max_steps`` interior-point steps each; slower, for checking).
        response: how the optimal responses are computed: :class:`AutoResponse` (default:
            closed-form water filling where the game allows it, else the interior-point
            method), :class:`InteriorPoint` or :class:`WaterFilling`, each with its own
            tolerance (default 1e-10) and iteration cap (default 100).
        tol: stop when the NI gap V(x) = max_y Psi(x, y) < tol (eq (28)), in payoff units.
        max_steps: relaxation steps at most.
        throw: raise (``RESULTS``' message through ``eqx.error_if``) unless converged; with
            ``throw=False`` inspect ``result`` (what batched, ``vmap``-ed solves use).
        polish: polish the relaxation's point by Newton on the KKT conditions (default; the
            equilibrium to rounding). ``False`` returns the relaxation's first point with
            V < tol, the paper's algorithm as it stands: an equilibrium to the gap's accuracy
            (V is quadratic in the distance, so about sqrt(tol) from the polished point).
        record: keep the relaxation's iterates x_0 .. x_steps in ``iterates`` (memory
            (max_steps + 1) M T: for convergence plots of small games, not for sweeps).
        spellings: the options by name (``evjax/solvers/options.py``): ``step="optimal"`` or
            ``"constant"`` with ``alpha=`` (default 0.5), ``adjoint="implicit"`` or
            ``"unrolled"``, ``response=`` (or ``response_method=``) ``"auto"``,
            ``"interior_point"`` or ``"water_filling"`` with ``response_tol=`` and
            ``response_steps=``.

    Returns an :class:`NISolution`. jit- and vmap-able (the options are static: the Modules
    have no array leaves).
    """
    step, adjoint, response = solver_options(step, adjoint, response, spellings)
    check_tol("tol", tol)
    check_steps("max_steps", max_steps)
    if not isinstance(game, AbstractNIGame):
        raise ValueError(f"game must be an AbstractNIGame, got {type(game).__name__}")
    x0 = game.start() if x0 is None else jnp.asarray(x0, jnp.result_type(float))
    if x0.shape != tuple(game.shape):
        raise ValueError(f"x0 must have shape {tuple(game.shape)}, got {x0.shape}")
    relax = ft.partial(_relax, step=step, response=response, tol=float(tol),
                       max_steps=max_steps, unrolled=adjoint.unrolled, record=bool(record),
                       polish=bool(polish))
    state, code = adjoint.apply(relax, game, x0)
    solution = _solution(game, state, code)
    if throw:
        value = solution.result.error_if(solution.value,
                                         solution.result != RESULTS.successful)
        solution = eqx.tree_at(lambda s: s.value, solution, value)
    return solution
