"""The base of the optimal-response methods (each in its own module, as lineax's solvers)."""

from __future__ import annotations

import abc

import equinox as eqx
from jaxtyping import Array, Float

from .._solution import Response
from ..game import AbstractNIGame


class AbstractResponse(eqx.Module):
    """How the optimal response Z(x) = argmax_y Psi(x, y) (paper 003 eq (26)) is computed:
    every player's best unilateral deviation from ``x`` at once, over the joint set."""

    @abc.abstractmethod
    def respond(self, game: AbstractNIGame, x: Float[Array, "M T"], *,
                unrolled: bool = False) -> Response:
        """Z(x) with its multipliers. ``unrolled``: a fixed number of iterations in a
        ``lax.scan`` (reverse-mode differentiable), not a loop that stops at ``tol``.
        Raises ValueError (at trace time) where the method does not apply to ``game``."""
