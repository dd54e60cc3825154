"""Sensitivities: d(ratio)/d(parameter) for every parameter of a game, ranked.

For one coalition C, the three ratios (M_[N], M_C, M_[N]\\C) are differentiated by reverse
mode with respect to every entry of mu (N), d (N), a (T), b (scalar or T) and xbar (N, T):
through the closed form for a :class:`evjax.ChargingGame`, through the Nikaido-Isoda solver's
implicit adjoint for a :class:`evjax.ConstrainedChargingGame`. Each entry also gets its
elasticity (p / M) dM/dp, the relative change of the ratio per relative change of the
parameter, which compares parameters of different units.
"""

from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax
import numpy as np

from ..charging.constrained import ConstrainedChargingGame
from ..charging.ratios import group_index
from .parameters import PARAMETERS, checked_coalition, get_parameter, ratios_of, with_parameter


@dataclass(frozen=True)
class Sensitivity:
    """What :func:`sensitivity` returns.

    Attributes:
        coalition: the coalition's station indices.
        ratios: (3,) the ratios (M_[N], M_C, M_[N]\\C) at the game.
        gradients: per parameter name, an array (3, *shape of the parameter): dM/dp.
        values: per parameter name, the parameter's array.
    """

    coalition: list[int]
    ratios: np.ndarray
    gradients: dict
    values: dict

    def ranked(self, group: str = "coalition", by: str = "derivative") -> list[dict]:
        """Every parameter entry, largest |dM/dp| first (``by="elasticity"``: largest
        |(p / M) dM/dp|); each {parameter, index, value, derivative, elasticity}."""
        j = group_index(group)
        if by not in ("derivative", "elasticity"):
            raise ValueError(f"by must be 'derivative' or 'elasticity', got {by!r}")
        rows = []
        for name in PARAMETERS:
            grad, value = self.gradients[name][j], self.values[name]
            for idx in np.ndindex(value.shape):
                der = float(grad[idx])
                rows.append({"parameter": name, "index": list(idx), "value": float(value[idx]),
                             "derivative": der,
                             "elasticity": der * float(value[idx]) / float(self.ratios[j])})
        rows.sort(key=lambda r: -abs(r[by]) if np.isfinite(r[by]) else 0.0)
        return rows

    def to_dict(self, group: str = "coalition", by: str = "derivative") -> dict:
        num = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
        return {"coalition": self.coalition, "group": group, "ranked_by": by,
                "ratios": [num(r) for r in self.ratios],
                "ranked": self.ranked(group, by)}


def sensitivity(game, coalition) -> Sensitivity:
    """The gradients of the three ratios of ``coalition`` with respect to mu, d, a, b, xbar.

    ``game``: a :class:`evjax.ChargingGame` or :class:`evjax.ConstrainedChargingGame`;
    ``coalition``: station indices. Undefined ratios (M_[N]\\C of the grand coalition, a
    C-Nash cost <= 0) have NaN gradients; a game whose costs overflow float64 raises
    ``ValueError``.
    """
    members, mask = checked_coalition(game, coalition)
    values = {name: get_parameter(game, name) for name in PARAMETERS}
    if isinstance(game, ConstrainedChargingGame):
        ratios, jac = _jacobian(game, values, None, tuple(members))
    else:
        ratios, jac = _jacobian(game, values, mask, ())
    if not np.isfinite(np.asarray(ratios)).all():  # undefined, or float64 overflow:
        ratios_of(game, mask, tuple(members))  # the eager ratios raise ValueError on overflow
    return Sensitivity(members, np.asarray(ratios),
                       {k: np.asarray(v) for k, v in jac.items()},
                       {k: np.asarray(v) for k, v in values.items()})


@eqx.filter_jit
def _jacobian(game, values: dict, mask, members: tuple):
    """(ratios (3,), {name: (3, *shape)}) at ``values``; the coalition as a membership
    ``mask`` (unconstrained game: one compilation for every coalition) or ``members``."""

    def ratios(params):
        g = game
        for name, v in params.items():
            g = with_parameter(g, name, v)
        return jax.numpy.stack(list(ratios_of(g, mask, members)))

    return ratios(values), jax.jacrev(ratios)(values)
