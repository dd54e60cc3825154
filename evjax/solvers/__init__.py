"""Generic equilibrium solvers: Nikaido-Isoda relaxation with constraints and gradients.

:func:`solve` takes its options as Modules: a step rule (:class:`OptimalStep`,
:class:`ConstantStep`), an adjoint (:class:`ImplicitAdjoint`, :class:`UnrolledAdjoint`) and
a response method (:class:`AutoResponse`, :class:`InteriorPoint`, :class:`WaterFilling`);
it returns an :class:`NISolution` whose ``result`` is an item of :class:`RESULTS`.
"""

from ._solution import RESULTS, NISolution, Response, result_code, result_message
from .adjoint import AbstractAdjoint, ImplicitAdjoint, UnrolledAdjoint
from .batched import solve_many
from .game import AbstractNIGame, ni_function, ni_gap, violation
from .nikaido_isoda import solve
from .options import optimal_response
from .response import AbstractResponse, AutoResponse, InteriorPoint, WaterFilling
from .step import AbstractStepRule, ConstantStep, OptimalStep

__all__ = [
    "AbstractAdjoint",
    "AbstractNIGame",
    "AbstractResponse",
    "AbstractStepRule",
    "AutoResponse",
    "ConstantStep",
    "ImplicitAdjoint",
    "InteriorPoint",
    "NISolution",
    "OptimalStep",
    "RESULTS",
    "Response",
    "UnrolledAdjoint",
    "WaterFilling",
    "ni_function",
    "ni_gap",
    "optimal_response",
    "result_code",
    "result_message",
    "solve",
    "solve_many",
    "violation",
]
