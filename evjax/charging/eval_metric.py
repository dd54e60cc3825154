"""The paper's Eval-Metric of one coalition, for either charging game (paper 000, Section 5).

:func:`cost_ratios` is the public entry: it checks the coalition once and hands the checked
form to the game's own path, the closed form (:func:`evjax.charging.metrics.charging_cost_ratios`)
or the Nikaido-Isoda solver (:func:`evjax.charging.constrained.constrained_cost_ratios`).
It sits above both, so that neither imports the other.
"""

from __future__ import annotations

from .closed_form import check_method
from .coalitions import single_coalition
from .constrained import ConstrainedChargingGame, constrained_cost_ratios
from .game import ChargingGame
from .metrics import charging_cost_ratios
from .ratios import Ratios


def cost_ratios(game: ChargingGame | ConstrainedChargingGame, coalition, *,
                method="structured") -> Ratios:
    """(M_[N], M_C, M_[N]\\C) for one coalition C (indices or a mask of shape (N,)).

    M_S = c_S(x*) / c_S(x^dagger) with x* the Nash and x^dagger the C-Nash equilibrium
    (Eval-Metric); NaN where c_S(x^dagger) <= 0 (see :class:`evjax.Ratios`). Differentiable
    in every game parameter and, for masks, in the membership. ``method`` picks the closed
    form's path ("structured" or "dense"). Called eagerly, it refuses costs that are not
    finite (float64 overflow: ``ValueError``).
    A :class:`evjax.ConstrainedChargingGame` (x >= 0, rate limits, capacity) is accepted too:
    its equilibria come from the Nikaido-Isoda solver (slower; ``coalition`` as indices).
    """
    check_method(method)
    if isinstance(game, ConstrainedChargingGame):  # the slower path: two NI solves
        return constrained_cost_ratios(game, coalition)
    return charging_cost_ratios(game, single_coalition(coalition, game.n_stations), method)
