"""The solver options by name: the string spellings of :func:`evjax.solvers.solve`'s and
:func:`optimal_response`'s options mapped onto their Modules, in this one place.

    step="optimal"             -> OptimalStep()           (the default)
    step="constant", alpha=a   -> ConstantStep(a)         (alpha default 0.5)
    adjoint="implicit"         -> ImplicitAdjoint()       (the default)
    adjoint="unrolled"         -> UnrolledAdjoint()
    response="auto"            -> AutoResponse(tol, max_steps)   (the default)
    response="interior_point"  -> InteriorPoint(tol, max_steps)
    response="water_filling"   -> WaterFilling(tol)

with ``tol`` and ``max_steps`` of the response from ``response_tol`` (default 1e-10) and
``response_steps`` (default 100) for :func:`solve` (``response_method=`` is another spelling of
``response=``). The solver itself only ever sees the Modules; anything else is a ValueError
naming the value.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jaxtyping import ArrayLike, Float

from ._checks import check_steps, check_tol
from ._solution import Response
from .adjoint import AbstractAdjoint, ImplicitAdjoint, UnrolledAdjoint
from .game import AbstractNIGame
from .response import AbstractResponse, AutoResponse, InteriorPoint, WaterFilling
from .step import AbstractStepRule, ConstantStep, OptimalStep

STEPS = {"optimal": OptimalStep, "constant": ConstantStep}
ADJOINTS = {"implicit": ImplicitAdjoint, "unrolled": UnrolledAdjoint}
RESPONSES = {"auto": AutoResponse, "interior_point": InteriorPoint,
             "water_filling": WaterFilling}
# solve's keywords of the string spellings, besides step=, adjoint= and response=.
SPELLINGS = ("alpha", "response_method", "response_tol", "response_steps")


def _names(table) -> str:
    return ", ".join(repr(k) for k in table)


def step_rule(step, alpha=None) -> AbstractStepRule:
    """The step rule of ``step`` (a rule, or its name with ``alpha`` for ``"constant"``).
    (Arguments unannotated here and below: checked with a ValueError naming the value.)"""
    if alpha is not None:
        ConstantStep(alpha)  # its check: ValueError unless 0 < alpha <= 1
    if isinstance(step, AbstractStepRule):
        if alpha is not None:
            raise ValueError(f"alpha={alpha} goes with step='constant'; with a step rule "
                             f"object pass ConstantStep(alpha), got step={step!r}")
        return step
    if not isinstance(step, str) or step not in STEPS:
        raise ValueError(f"step must be an AbstractStepRule (ConstantStep(alpha), "
                         f"OptimalStep()) or one of {_names(STEPS)}, got {step!r}")
    if step == "constant":
        return ConstantStep(0.5 if alpha is None else float(alpha))
    return OptimalStep()


def adjoint_of(adjoint) -> AbstractAdjoint:
    """The adjoint of ``adjoint`` (an adjoint, or its name)."""
    if isinstance(adjoint, AbstractAdjoint):
        return adjoint
    if not isinstance(adjoint, str) or adjoint not in ADJOINTS:
        raise ValueError(f"adjoint must be an AbstractAdjoint (ImplicitAdjoint(), "
                         f"UnrolledAdjoint()) or one of {_names(ADJOINTS)}, got {adjoint!r}")
    return ADJOINTS[adjoint]()


def response_method(method, tol=None, max_steps=None, *, names=("method", "tol", "max_steps")
                    ) -> AbstractResponse:
    """The response method of ``method`` (a method, or its name with ``tol`` and
    ``max_steps``: defaults 1e-10 and 100). ``names``: how the caller spells the three."""
    if tol is not None:
        check_tol(names[1], tol)
    if max_steps is not None:
        check_steps(names[2], max_steps)
    if isinstance(method, AbstractResponse):
        if tol is not None or max_steps is not None:
            raise ValueError(f"{names[1]}/{names[2]} go with a method's name; a method object "
                             f"has its own (e.g. InteriorPoint(tol, max_steps)), got "
                             f"{names[0]}={method!r}")
        return method
    if not isinstance(method, str) or method not in RESPONSES:
        raise ValueError(f"{names[0]} must be an AbstractResponse (AutoResponse(), "
                         f"InteriorPoint(), WaterFilling()) or one of {_names(RESPONSES)}, "
                         f"got {method!r}")
    tol = 1e-10 if tol is None else float(tol)
    max_steps = 100 if max_steps is None else max_steps
    return WaterFilling(tol) if method == "water_filling" else RESPONSES[method](tol, max_steps)


def solver_options(step, adjoint, response, spellings: dict[str, Any]):
    """(step rule, adjoint, response method) of :func:`solve`'s arguments and its string
    spellings' keywords (``SPELLINGS``)."""
    unknown = sorted(set(spellings) - set(SPELLINGS))
    if unknown:
        raise ValueError(f"solve got unknown options {unknown}; its options are step, "
                         f"adjoint, response, tol, max_steps, throw, polish, record and "
                         f"the spellings {list(SPELLINGS)}")
    if "response_method" in spellings:
        if response is not None:
            raise ValueError("pass response= or response_method=, not both")
        response = spellings["response_method"]
    return (step_rule(step, spellings.get("alpha")), adjoint_of(adjoint),
            response_method("auto" if response is None else response,
                            spellings.get("response_tol"), spellings.get("response_steps"),
                            names=("response", "response_tol", "response_steps")))


def optimal_response(
    game: AbstractNIGame,
    x: Float[ArrayLike, "M T"],
    *,
    tol: float = 1e-10,
    max_steps: int = 100,
    unrolled: bool = False,
    method="auto",
) -> Response:
    """Z(x): every player's best unilateral deviation from ``x`` at once, over the joint set
    (paper 003 eq (26)), with its multipliers.

    ``method`` (checked here, ValueError naming it): an :class:`AbstractResponse`, or
    ``"interior_point"`` (any game: :class:`InteriorPoint`, with ``tol`` its KKT tolerance
    relative to the largest loss gradient and ``max_steps`` its iteration cap),
    ``"water_filling"`` (the exact closed form :class:`WaterFilling`: players of one row
    each, quadratic, time-separable, no shared constraints), or ``"auto"``: water filling
    where it applies. ``unrolled=True`` runs a
    fixed number of iterations in a ``lax.scan`` so that reverse-mode autodiff can go
    through it. A method object carries its own ``tol`` and ``max_steps``.
    """
    if isinstance(method, AbstractResponse):
        respond = method
    else:
        respond = response_method(method, tol, max_steps)
    return respond.respond(game, jnp.asarray(x), unrolled=unrolled)

