"""The distribution grid of the decks as shared constraints, per hour (paper 003 eqs 14-19).

Deck i draws P_i(t) = E N_ch[i, t] / dt + base_i(t) kW on phase phi(i) at node i of a radial
feeder from one transformer (nodes 1..I in order). Phase currents x_phi = 1000 sum_{i on phi}
P_i / V (A, V the phase voltage in volts). Every constraint is written as c(x) <= 0 in
dimensionless form (a ratio to its limit, minus one), so multipliers are in profit units per
unit of relative loading:

* (14) transformer, per phase: sum_{i on phi} P_i / (1.3 P_tx / 3) - 1;
* (15) backbone cable, per phase: x_phi / x_phi_max - 1;
* (16) service line of deck k: x_k / x_k_max - 1;
* (17-18) voltage at deck h: V_drop_h / (V - V_min) - 1, with V_drop_h = sum_{k <= h} z_k
  I_k and I_k the current through segment k (node k-1 to k) on h's phase: the sum of the
  currents of all decks at or beyond node k on that phase. Paper eq (17) sums only j <= h,
  which misses the load downstream of h that also flows through segments 1..h (erratum);
* (19) phase imbalance: x_phi - mean x <= p mean x and mean x - x_phi <= p mean x, both
  divided by the transformer's rated phase current so that they stay linear.

A limit given as None drops its constraints.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

PHASES = ("A", "B", "C")
KINDS = ("transformer", "backbone", "service", "voltage", "imbalance-high", "imbalance-low")


class Grid(eqx.Module):
    """Ratings of the feeder serving I decks over H hours (array fields differentiable).

    Fields: ``base`` (I, H) non-charging load, kW; ``v_phase`` phase voltage, V;
    ``transformer`` rated power P_tx, kW (eq 14); ``backbone`` (3,) rated phase current, A
    (eq 15); ``service`` (I,) service-line rated current, A (eq 16); ``impedance`` (I,) ohms of
    segment k (node k-1 to k) and ``v_min`` V (eqs 17-18); ``imbalance`` p of eq (19). Static:
    ``phase`` (I,) phase index 0, 1, 2 of each deck. ``None`` drops that limit.
    """

    base: Float[Array, "I H"]
    v_phase: Float[Array, ""]
    transformer: Float[Array, ""] | None
    backbone: Float[Array, " 3"] | None
    service: Float[Array, " I"] | None
    impedance: Float[Array, " I"] | None
    v_min: Float[Array, ""] | None
    imbalance: Float[Array, ""] | None
    phase: tuple[int, ...] = eqx.field(static=True)

    def kinds(self) -> tuple[str, ...]:
        """The constraint kinds present, in the order :func:`constraints` returns them."""
        present = {
            "transformer": self.transformer is not None,
            "backbone": self.backbone is not None,
            "service": self.service is not None,
            "voltage": self.impedance is not None,
            "imbalance-high": self.imbalance is not None,
            "imbalance-low": self.imbalance is not None,
        }
        return tuple(k for k in KINDS if present[k])

    def labels(self) -> list[tuple[str, str]]:
        """(kind, element) of every constraint row of :func:`constraints`, per hour."""
        decks = [f"deck {i + 1}" for i in range(len(self.phase))]
        phases = [f"phase {p}" for p in PHASES]
        rows = {"transformer": phases, "backbone": phases, "service": decks, "voltage": decks,
                "imbalance-high": phases, "imbalance-low": phases}
        return [(k, e) for k in self.kinds() for e in rows[k]]


def phase_matrix(phase: tuple[int, ...]) -> np.ndarray:
    """(3, I) 0/1: deck i is on phase phi."""
    out = np.zeros((3, len(phase)))
    out[list(phase), np.arange(len(phase))] = 1.0
    return out


def segment_matrix(phase: tuple[int, ...]) -> np.ndarray:
    """(I, I, I) S[h, k, j] = 1 if deck j's current flows through segment k on the way to h:
    k <= h and k <= j (j at or beyond node k) and j on h's phase (nodes 1..I = decks)."""
    n = len(phase)
    h, k, j = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    same = np.asarray(phase)[h] == np.asarray(phase)[j]
    return ((k <= h) & (k <= j) & same).astype(float)


def loads(grid: Grid, charging_kw: Float[Array, "I H"]) -> Float[Array, "I H"]:
    """P_i(t) = charging + base load, kW."""
    return charging_kw + grid.base


def currents(grid: Grid, load_kw: Float[Array, "I H"]):
    """(deck currents (I, H), phase currents (3, H)), A."""
    deck = 1000.0 * load_kw / grid.v_phase
    return deck, jnp.asarray(phase_matrix(grid.phase)) @ deck


def voltage_drop(grid: Grid, deck_current: Float[Array, "I H"]) -> Float[Array, "I H"]:
    """V_drop at each deck's node, V: sum_{k <= h} z_k (sum of currents at or beyond k)."""
    s = jnp.asarray(segment_matrix(grid.phase))
    return jnp.einsum("hkj,k,jt->ht", s, grid.impedance, deck_current)


def constraints(grid: Grid, load_kw: Float[Array, "I H"]) -> Float[Array, "K H"]:
    """Every grid constraint c <= 0 per hour (rows as :meth:`Grid.labels`), dimensionless."""
    deck, phase = currents(grid, load_kw)
    rated_phase_current = None
    rows = []
    if grid.transformer is not None:
        per_phase = 1.3 * grid.transformer / 3.0
        rows.append(jnp.asarray(phase_matrix(grid.phase)) @ load_kw / per_phase - 1.0)
        rated_phase_current = 1000.0 * (grid.transformer / 3.0) / grid.v_phase
    if grid.backbone is not None:
        rows.append(phase / grid.backbone[:, None] - 1.0)
    if grid.service is not None:
        rows.append(deck / grid.service[:, None] - 1.0)
    if grid.impedance is not None:
        rows.append(voltage_drop(grid, deck) / (grid.v_phase - grid.v_min) - 1.0)
    if grid.imbalance is not None:
        scale = rated_phase_current if rated_phase_current is not None else (
            jnp.max(grid.backbone) if grid.backbone is not None else 1000.0)
        mean = jnp.mean(phase, axis=0, keepdims=True)
        rows.append((phase - (1.0 + grid.imbalance) * mean) / scale)
        rows.append(((1.0 - grid.imbalance) * mean - phase) / scale)
    if not rows:
        return jnp.zeros((0, load_kw.shape[1]), load_kw.dtype)
    return jnp.concatenate(rows, axis=0)
