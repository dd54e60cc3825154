"""Theorems 4.7 and 4.11 of paper 000: when does a group pay less at Nash than at C-Nash?

Both are if-and-only-if conditions that need no equilibrium solve. They are evaluated here
in numpy float64 from the game's concrete values, so they also serve as an independent check
of the equilibrium code. Each returns a :class:`TheoremCondition`, true when the condition
("group S incurs a lower cost at Nash than at C-Nash") holds; its ``margin`` is the
condition's left side minus its right side (>= 0 when it holds).

Errata handled (``../shared/seeds/README.md`` and our derivation):
* Theorem 4.7: f_i keeps the 1/(2b) factor (the proof writes Delta* where Delta-dagger is
  meant; the statement is right).
* Theorem 4.11: the right side is (Gamma-dagger_S - Gamma*_S) h(A) with Gamma_S the sum of
  Gamma_i over the group S; the paper prints the totals over [N], which agree only for S = [N].
  (Expand c_S with the paper's eq (13) to see it; the tests check both theorems against direct
  cost comparisons on thousands of games.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import concrete
from .coalitions import membership, single_coalition
from .game import ChargingGame
from .ratios import GROUPS


@dataclass(frozen=True)
class TheoremCondition:
    """The truth of a theorem's condition for one group, with lhs - rhs as ``margin``."""

    holds: bool
    margin: float

    def __bool__(self) -> bool:
        return self.holds


def _numpy_game(game: ChargingGame):
    leaves = [concrete(getattr(game, f)) for f in ("a", "b", "mu", "d", "xbar")]
    if any(leaf is None for leaf in leaves):
        raise ValueError("the theorem conditions need a concrete game, not a traced one")
    a, b, mu, d, xbar = (np.asarray(v, dtype=np.float64) for v in leaves)
    if a.ndim != 1 or mu.ndim != 1:
        raise ValueError("the theorem conditions take one game, not a batch")
    return a, b, mu, d, xbar


def _constant(name: str, values: np.ndarray, theorem: str) -> float:
    values = np.atleast_1d(values)
    scale = max(np.abs(values).max(), 1e-300)
    if np.ptp(values) > 1e-12 * scale:
        raise ValueError(f"{theorem} assumes a constant {name}; got {name} varying over time")
    return float(values[0])


def _group_mask(group, m: np.ndarray, n: int) -> np.ndarray:
    in_coalition = m.sum(axis=0) > 0.5
    if isinstance(group, str):
        if group not in GROUPS:
            names = ", ".join(repr(g) for g in GROUPS)
            raise ValueError(f"group must be {names} or station indices, got {group!r}")
        masks = (np.ones(n, bool), in_coalition, ~in_coalition)
        return masks[GROUPS.index(group)]
    return np.asarray(single_coalition(group, n)) > 0.5


def _q(mu: np.ndarray, b: float, m: np.ndarray) -> np.ndarray:
    """Q = b (1 1' + C) + diag(mu) for the structure m (K, N)."""
    n = mu.size
    alone = 1.0 - m.sum(axis=0)
    c = m.T @ m + np.diag(alone)
    return b * (np.ones((n, n)) + c) + np.diag(mu)


def _structure(game: ChargingGame, coalitions) -> np.ndarray:
    m = np.asarray(membership(coalitions, game.n_stations), dtype=np.float64)
    if not np.isin(m, (0.0, 1.0)).all():
        raise ValueError("the theorems are stated for 0/1 coalitions, not fractional membership")
    return m


def theorem_4_7(game: ChargingGame, coalitions, group="all") -> TheoremCondition:
    """Theorem 4.7's condition (6): sum_{i in S} f-dagger_i - f*_i >= 0.

    Holds if and only if group S pays no more at Nash than at C-Nash, under the theorem's
    assumptions: constant a and b, and xbar_i^t = d_i alpha^t (Assumption 4.1). A game outside
    them raises ``ValueError``. With uniform alpha both equilibria coincide and the costs tie,
    so the condition carries no information there. ``group`` is ``"all"``, ``"coalition"``
    (every station in some coalition), ``"outside"`` or a sequence of station indices.
    """
    a, b, mu, d, xbar = _numpy_game(game)
    name = "Theorem 4.7"
    _constant("a", a, name)
    b = _constant("b", b, name)
    total = d.sum()
    alpha = xbar.sum(axis=0) / total if total != 0 else None
    scale = max(np.abs(xbar).max(), np.abs(d).max(), 1e-300)
    if (
        alpha is None
        or np.abs(xbar - np.outer(d, alpha)).max() > 1e-9 * scale
        or (alpha < -1e-12).any()
        or abs(alpha.sum() - 1.0) > 1e-9
    ):
        raise ValueError(
            f"{name} assumes xbar_i^t = d_i alpha^t with alpha >= 0 summing to 1 (Assumption 4.1)"
        )
    m = _structure(game, coalitions)
    s = _group_mask(group, m, mu.size)

    def f(structure):
        delta_i = np.linalg.solve(_q(mu, b, structure), mu * d)
        return delta_i.sum() * delta_i + mu * (delta_i - d) ** 2 / (2.0 * b)

    margin = float(np.sum((f(m) - f(np.zeros((0, mu.size))))[s]))
    return TheoremCondition(margin >= 0.0, margin)


def theorem_4_11(game: ChargingGame, coalitions, group="all") -> TheoremCondition:
    """Theorem 4.11's condition: g-dagger_S - g*_S >= (Gamma-dagger_S - Gamma*_S) h(A).

    Holds if and only if group S pays no more at Nash than at C-Nash, under the theorem's
    assumptions: constant b, xbar^t = d/T, and a non-constant a (h(A) is undefined for a
    constant a, where the two equilibria coincide). A game outside them raises ``ValueError``.
    Gamma_S sums Gamma_i over S (see the module's note on the paper's typo). Note that
    h(A) = 1/T for every non-constant a (its numerator is T sum a^2 - (sum a)^2, its
    denominator T times that), so the verdict depends on mu, b, T and the coalitions only.
    """
    a, b, mu, d, xbar = _numpy_game(game)
    name = "Theorem 4.11"
    b = _constant("b", b, name)
    t = a.size
    scale = max(np.abs(xbar).max(), np.abs(d).max(), 1e-300)
    if np.abs(xbar - d[:, None] / t).max() > 1e-9 * scale:
        raise ValueError(f"{name} assumes uniform nominal profiles xbar_i^t = d_i / T")
    g_t = t * a - a.sum()
    g_sq = float(np.sum(g_t**2))
    if g_sq <= 1e-24 * max(np.sum(a**2), 1e-300):
        raise ValueError(f"{name} needs a non-constant a (h(A) is 0/0 for a constant a)")
    h = float(np.dot(a, g_t)) / g_sq
    m = _structure(game, coalitions)
    s = _group_mask(group, m, mu.size)

    def g_and_gamma(structure):
        gamma_i = np.linalg.solve(_q(mu, b, structure), np.ones_like(mu))
        g = (b / t) * gamma_i.sum() * gamma_i + mu * gamma_i**2 / (2.0 * t)
        return g[s].sum(), gamma_i[s].sum()

    g_dag, gamma_dag = g_and_gamma(m)
    g_star, gamma_star = g_and_gamma(np.zeros((0, mu.size)))
    margin = float((g_dag - g_star) - (gamma_dag - gamma_star) * h)
    return TheoremCondition(margin >= 0.0, margin)
