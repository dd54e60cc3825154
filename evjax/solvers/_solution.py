"""What the solvers return: result codes, the optimal response, the solution (as optimistix's
``_solution.py``).

``RESULTS`` is an :class:`equinox.Enumeration`: a solution's ``result`` is one of its items,
compared by ``sol.result == RESULTS.successful`` and turned into its message by
``RESULTS[sol.result]``. Where an integer is wanted (sweep tables, the deck report's hourly
codes, JSON, CSV), ``NISolution.code`` is the result as an int32 array: the items' positions,
0 (``successful``) to 5 (``response_failed``), stable across versions (files hold them);
:func:`result_code` and :func:`result_message` convert between the two.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int


class RESULTS(eqx.Enumeration):
    """Result of :func:`evjax.solvers.solve` (``NISolution.result``); anything but
    ``successful`` means ``value`` is NOT an equilibrium."""

    successful = "converged"
    max_steps_reached = (
        "the NI gap did not reach tol within max_steps relaxation steps (with step='constant', "
        "try step='optimal', the default, which also converges where constant steps cycle)")
    diverged = "the relaxation diverged (the NI gap grew by a factor of more than 1e6)"
    infeasible = (
        "the game looks infeasible: the optimal response could not satisfy the constraints and "
        "no feasible point is known")
    nonfinite = "a non-finite value appeared (NaN or inf in the payoffs or their derivatives)"
    response_failed = (
        "the optimal response did not converge (its interior-point method stopped short of the "
        "constraints although a feasible point is known: the game is not shown infeasible; try "
        "more response_steps)")


# The items in the order of their integer codes (equinox numbers them in declaration order).
_ITEMS = (RESULTS.successful, RESULTS.max_steps_reached, RESULTS.diverged,
          RESULTS.infeasible, RESULTS.nonfinite, RESULTS.response_failed)


def result_code(result: RESULTS) -> Int[Array, "*batch"]:
    """The integer code of ``result`` (an item of :class:`RESULTS`, batched or not): 0 for
    ``successful``, then 1 to 5 in the order the items are declared."""
    (code,) = jax.tree.leaves(result)  # an item is a pytree of its one integer
    return jnp.asarray(code, jnp.int32)


def from_code(code: Int[ArrayLike, ""]) -> RESULTS:
    """The item of :class:`RESULTS` with integer ``code`` (a scalar, traced or not)."""
    out = RESULTS.successful
    for k, item in enumerate(_ITEMS[1:], start=1):
        out = RESULTS.where(jnp.asarray(code) == k, item, out)
    return out


def result_message(result: RESULTS | Int[ArrayLike, ""] | int) -> str:
    """The message of a result: an item of :class:`RESULTS` or its integer code."""
    if isinstance(result, RESULTS):
        return RESULTS[result]
    code = int(np.asarray(result))
    if not 0 <= code < len(_ITEMS):
        raise ValueError(f"result codes are 0..{len(_ITEMS) - 1}, got {code}")
    return RESULTS[_ITEMS[code]]


class Response(eqx.Module):
    """The optimal response Z(x) and its multipliers, in the game's (M, T) layout.

    Fields: ``y`` (M, T); ``row_mult`` (M,) multipliers of the row equalities; ``lower_mult``,
    ``upper_mult`` (M, T) of the bounds; ``shared_mult`` (K,) of g(y) <= 0; ``residual`` the
    final KKT residual (max norm); ``primal_residual`` its equalities' and shared
    constraints' part; ``steps`` the interior-point iterations (1 for water filling);
    ``converged``: the residual reached the tolerance, or y stalled at rounding level with
    the primal residual and complementarity within it
    (:class:`evjax.solvers.InteriorPoint`).
    """

    y: Float[Array, "M T"]
    row_mult: Float[Array, " M"]
    lower_mult: Float[Array, "M T"]
    upper_mult: Float[Array, "M T"]
    shared_mult: Float[Array, " K"]
    residual: Float[Array, ""]
    primal_residual: Float[Array, ""]
    steps: Int[Array, ""]
    converged: Bool[Array, ""]


class NISolution(eqx.Module):
    """What :func:`evjax.solvers.solve` returns.

    Fields:
        value: (M, T) the last relaxation point: the equilibrium when ``result`` is
            ``RESULTS.successful``.
        result: an item of :class:`RESULTS`; anything but ``successful`` means ``value``
            is NOT an equilibrium. ``code`` is it as an integer.
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

    Stacked solutions (``jax.vmap``, :func:`evjax.solvers.solve_many`) carry a leading batch
    axis on every field, ``result`` and ``code`` included.
    """

    value: Float[Array, "M T"]
    result: RESULTS
    gap: Float[Array, ""]
    violation: Float[Array, ""]
    steps: Int[Array, ""]
    gap_history: Float[Array, " S1"]
    step_sizes: Float[Array, " S"]
    response_steps: Int[Array, ""]
    response: Response
    iterates: Float[Array, "S1 M T"] | None = None

    @property
    def code(self) -> Int[Array, "*batch"]:
        """``result`` as an int32 array (:func:`result_code`): 0 where converged."""
        return result_code(self.result)

    @property
    def converged(self) -> Bool[Array, "*batch"]:
        """Whether ``result`` is ``RESULTS.successful``."""
        return self.result == RESULTS.successful

    @property
    def message(self) -> str:
        """The message of ``result`` (:class:`RESULTS`)."""
        return RESULTS[self.result]
