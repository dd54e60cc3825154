"""Generic equilibrium solvers: Nikaido-Isoda relaxation with constraints and gradients."""

from .batched import solve_many
from .game import AbstractNIGame, ni_function
from .nikaido_isoda import RESULTS, NISolution, ni_gap, solve, violation
from .response import Response, optimal_response

__all__ = [
    "AbstractNIGame",
    "NISolution",
    "RESULTS",
    "Response",
    "ni_function",
    "ni_gap",
    "optimal_response",
    "solve",
    "solve_many",
    "violation",
]
