"""The paper's Eval-Metric ratios, from costs: their types, the NaN rule, and why a ratio is
undefined (paper 000, eq (5) and Eval-Metric).

For a coalition C the three groups are [N] (every station), C and [N] minus C, always in the
order of :data:`GROUPS`. Their ratio M_S = c_S(x*) / c_S(x^dagger) compares the group's cost
at the Nash equilibrium x* with its cost at the C-Nash equilibrium x^dagger; it is a number
only where c_S(x^dagger) > 0 (:func:`ratios_from_costs`). Every ratio in evjax (a single
coalition, a sweep, a design objective) is computed here.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .coalitions import single_coalition

#: The three groups of a coalition C, in the order of every ratio and cost triple.
GROUPS = ("all", "coalition", "outside")


class Ratios(NamedTuple):
    """The Eval-Metric ratios: cost at Nash divided by cost at C-Nash, for three groups.

    A ratio above 1 means the group pays less at C-Nash (the coalition helps it); below 1,
    Nash is better for it. A ratio is a number only where the group's C-Nash cost is positive;
    elsewhere it is NaN, undefined (:func:`ratio_reasons` says why): ``outside`` of the grand
    coalition (no outsiders: cost 0), or a group whose C-Nash cost is zero or negative (a
    quotient of costs of mixed or negative sign does not say which equilibrium is cheaper).
    """

    all: Float[Array, ""]
    coalition: Float[Array, ""]
    outside: Float[Array, ""]


class GroupCosts(NamedTuple):
    """Costs of the three groups [N], C and [N] minus C at one profile."""

    all: Float[Array, ""]
    coalition: Float[Array, ""]
    outside: Float[Array, ""]


def group_index(group: str) -> int:
    """The position of ``group`` in :data:`GROUPS`; ``ValueError`` naming any other value."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, got {group!r}")
    return GROUPS.index(group)


def ratios_from_costs(cnash: ArrayLike, nash: ArrayLike, fill=jnp.nan) -> Array:
    """M = Nash cost / C-Nash cost per entry (Eval-Metric), ``fill`` where it is undefined.

    ``cnash`` and ``nash`` broadcast against each other (any shape). An empty group (the
    coalition of the empty mask, the outside of the grand coalition) has C-Nash cost exactly
    0; those entries, and any whose C-Nash cost is negative, get ``fill`` instead of a number.
    Safe under ``grad``: the undefined entries have zero gradient.
    """
    empty = cnash <= 0
    # The division last: XLA then materialises the ratios once rather than re-deriving them
    # (from the costs) inside every reduction that reads them.
    return jnp.where(empty, fill, nash) / jnp.where(empty, 1.0, cnash)


def ratio(num: ArrayLike, den: ArrayLike) -> Array:
    """``num / den`` where ``den > 0``, NaN elsewhere: :func:`ratios_from_costs` with the
    numerator first (an empty group has cost exactly 0, so it is undefined too)."""
    return ratios_from_costs(den, num)


def group_ratios(nash: GroupCosts, cnash: GroupCosts) -> Ratios:
    """The three ratios from the groups' costs at Nash and at C-Nash (:func:`ratio` each)."""
    return Ratios(*(ratio(n, c) for n, c in zip(nash, cnash, strict=True)))


def ratio_reasons(nash: GroupCosts, cnash: GroupCosts, coalition, n: int) -> tuple:
    """Why each ratio of :func:`group_ratios` is undefined: a sentence, or None where the ratio
    is a number (concrete costs; ``coalition`` as indices or a mask (N,), ``n`` stations)."""
    return reasons_of_mask(nash, cnash, np.asarray(single_coalition(coalition, n)))


def reasons_of_mask(nash: GroupCosts, cnash: GroupCosts, m: np.ndarray) -> tuple:
    """:func:`ratio_reasons` for a checked membership vector ``m`` (N,)."""
    sizes = (float(m.size), float(m.sum()), float((1.0 - m).sum()))
    empty = ("no stations", "no members", "no outsiders (the grand coalition)")
    reasons = []
    for size, none, num, den in zip(sizes, empty, nash, cnash, strict=True):
        num, den = float(num), float(den)
        if size == 0:
            reasons.append(f"undefined: the group has {none}")
        elif not (np.isfinite(num) and np.isfinite(den)):
            reasons.append(f"undefined: a cost is not finite (Nash {num:.6g}, C-Nash {den:.6g})")
        elif den <= 0:
            reasons.append(f"undefined: the group's C-Nash cost is {den:.6g} <= 0 (Nash cost "
                           f"{num:.6g}); a ratio of costs needs a positive denominator")
        else:
            reasons.append(None)
    return tuple(reasons)


def ratio_report(nash: GroupCosts, cnash: GroupCosts, coalition, n: int):
    """(ratios, reasons) for a report: each ratio as a float, or None where undefined, and
    :func:`ratio_reasons`' sentence for it (None where the ratio is a number)."""
    m = np.asarray(single_coalition(coalition, n))
    values = [float(r) for r in group_ratios(nash, cnash)]
    return ([v if np.isfinite(v) else None for v in values],
            list(reasons_of_mask(nash, cnash, m)))
