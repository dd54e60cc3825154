"""How gradients reach the game's parameters through :func:`evjax.solvers.solve`: adjoints as
Modules (as optimistix's ``ImplicitAdjoint`` and ``RecursiveCheckpointAdjoint``).

:class:`ImplicitAdjoint` (the default) applies the implicit function theorem to the
equilibrium's KKT conditions with the active set of the final response fixed
(:func:`.kkt.kkt_residual`, through ``optimistix.ImplicitAdjoint``); :class:`UnrolledAdjoint`
differentiates through a fixed number of relaxation and interior-point iterations (slower;
for checking).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array

from .game import AbstractNIGame
from .kkt import active_set, kkt_residual

# A relaxation: (game, x0) -> (final state, result code), the state with fields x and
# response (:class:`.relaxation.State`).
Relax = Callable[[AbstractNIGame, Array], tuple]


class AbstractAdjoint(eqx.Module):
    """How :func:`evjax.solvers.solve` is differentiated."""

    # Whether the relaxation and the optimal responses run as fixed-length scans (reverse-
    # mode differentiable) instead of while loops that stop at their tolerances.
    unrolled: ClassVar[bool]

    @abc.abstractmethod
    def apply(self, relax: Relax, game: AbstractNIGame, x0: Array) -> tuple:
        """``relax(game, x0)``, differentiable in ``game`` (and ``x0``) this adjoint's way."""


class UnrolledAdjoint(AbstractAdjoint):
    """Autodiff through the iterations: ``max_steps`` relaxation steps (two evaluations each
    with :class:`evjax.solvers.OptimalStep`) and the response method's ``max_steps``
    interior-point steps each, in ``lax.scan``s frozen once converged. Slower than
    :class:`ImplicitAdjoint`; for checking it."""

    unrolled: ClassVar[bool] = True

    def apply(self, relax, game, x0):
        return relax(game, x0)


class _Static(eqx.Module):
    """The relaxation, carried through the implicit adjoint's inputs (no array leaves)."""

    relax: Relax = eqx.field(static=True)


def _primal_of(inputs):
    """(root, residual) for the implicit adjoint: root = (x, row multipliers, shared ones)."""
    game, x0, static = inputs[:3]  # (optimistix appends its while loop)
    state, result = static.relax(jax.lax.stop_gradient(game), jax.lax.stop_gradient(x0))
    x = state.x
    nu = jnp.where(jnp.isfinite(game.row_sums()), state.response.row_mult, 0.0)
    active = active_set(game, x, state.response)
    return (x, nu, state.response.shared_mult), (active, state, result)


def _rewrite_of(root, residual, inputs):
    return kkt_residual(root, residual[0], inputs)


# optimistix takes the two as plain global functions (no closure). Lambdas, not defs: the tests'
# annotation checker (jaxtyping's import hook) wraps every def in a closure, and before
# jaxtyping 0.3.11 it does so even under typing.no_type_check.
_primal = lambda inputs: _primal_of(inputs)  # noqa: E731
_rewrite = lambda root, residual, inputs: _rewrite_of(root, residual, inputs)  # noqa: E731


class ImplicitAdjoint(AbstractAdjoint):
    """The implicit function theorem at the equilibrium's KKT point (the default): the
    relaxation runs without gradients and the equilibrium's derivative solves the KKT
    conditions' linearisation (active set of the final response fixed), by QR."""

    unrolled: ClassVar[bool] = False

    def apply(self, relax, game, x0):
        root, (_, state, result) = optx.ImplicitAdjoint(
            linear_solver=lx.QR()  # an LU on CPU turns its pivots into a sequential loop
        ).apply(_primal, _rewrite, (game, x0, _Static(relax)), frozenset())
        return eqx.tree_at(lambda s: s.x, state, root[0]), result
