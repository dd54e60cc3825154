"""What a coalition design maximises: a ratio or a saving of one group, relaxed or exact.

For a coalition C (everyone else alone) and a group S in {[N], C, [N]\\C}:

    ratio   M_S = c_S(x*) / c_S(x^dagger)       (paper 000, Eval-Metric)
    saving      = c_S(x*) - c_S(x^dagger)        (cost difference, in cost units)

with x* the Nash and x^dagger the C-Nash equilibrium. Both are maximised. The *relaxed* value
takes a membership vector m in [0, 1]^N: the C-Nash equilibrium is the closed form with the
fractional membership, Q_t = diag(mu + b (1 - m)) + b (1 1' + m m'), positive definite
(``evjax.charging.coalitions``), and the group weights are m and 1 - m; it is smooth in m and
equals the exact value at 0/1 vectors. The *exact* value of a batch of 0/1 coalitions uses the
O(T)-per-coalition reduced form (``evjax.charging.reduced``) when b is a scalar.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ..charging.closed_form import equilibrium, solve_membership
from ..charging.game import ChargingGame
from ..charging.metrics import station_costs, station_costs_of
from ..charging.ratios import GROUPS, group_index, ratio
from ..charging.reduced import coalition_costs, coalition_tables

KINDS = ("ratio", "saving")


class Objective(eqx.Module):
    """A design objective: maximise the ``kind`` ("ratio" or "saving") of ``group``.

    ``group`` is "all" (M_[N]), "coalition" (M_C) or "outside" (M_[N]\\C). Built once per game
    (:func:`objective`): it holds the Nash station costs (independent of the coalition) and,
    for scalar b, the reduced-form tables for exact batched evaluation. The group and kind are
    data (``column``, ``saving``), not static: one compilation serves every objective.
    """

    game: ChargingGame
    nash: Float[Array, " N"]
    tables: object
    column: Int[Array, ""]
    saving: Bool[Array, ""]

    @property
    def group(self) -> str:
        return GROUPS[int(self.column)]

    @property
    def kind(self) -> str:
        return KINDS[int(self.saving)]

    def _combine(self, nash_s, cnash_s):
        # a ratio is NaN where the C-Nash cost is <= 0 (evjax.charging.ratios.ratio)
        return jnp.where(self.saving, nash_s - cnash_s, ratio(nash_s, cnash_s))

    def relaxed(self, m: Float[Array, " N"]) -> Float[Array, ""]:
        """The objective at a fractional membership m in [0, 1]^N (smooth in m). ``m`` is
        trusted (the search keeps it in the box; it is not checked)."""
        cnash = station_costs_of(self.game, solve_membership(self.game, m[None, :]))
        w = jnp.stack([jnp.ones_like(m), m, 1.0 - m])[self.column]
        defined = jnp.sum(w) > 1e-9  # an empty group has no ratio: 1, with zero gradient
        den = jnp.where(defined, jnp.dot(w, cnash), 1.0)
        num = jnp.where(defined, jnp.dot(w, self.nash), 1.0)
        return self._combine(num, den)

    def exact(self, masks: Float[Array | np.ndarray, "B N"]) -> Float[Array, " B"]:
        """The objective of B coalitions given as 0/1 masks; -inf where the group is empty
        or its ratio is undefined (never chosen)."""
        if self.tables is not None:
            cnash, nash = coalition_costs(self.tables, masks)
            value = self._combine(nash[:, self.column], cnash[:, self.column])
        else:
            value = jax.vmap(self.relaxed)(masks)
        size = jnp.sum(masks, axis=1)
        n = masks.shape[1]
        empty = jnp.stack([size == 0, size == 0, size == n])[self.column]
        return jnp.where(empty | jnp.isnan(value), -jnp.inf, value)


def objective(game, group: str = "coalition", kind: str = "ratio") -> Objective:
    """The :class:`Objective` maximising ``kind`` of ``group`` in ``game`` (a
    :class:`evjax.ChargingGame`, scalar or (T,) b); ``ValueError`` naming a bad argument."""
    column = group_index(group)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(game, ChargingGame):
        raise ValueError(
            f"coalition search needs an unconstrained ChargingGame, got {type(game).__name__}"
        )
    nash = station_costs(game, equilibrium(game, ()))  # eager: refuses a float64 overflow
    tables = coalition_tables(game) if game.constant_b else None
    return Objective(game, nash, tables, jnp.asarray(column),
                     jnp.asarray(kind == "saving"))
