"""Per-game tables of the reduced form and the GEMM cost of arbitrary single coalitions.

The derivation is in :mod:`evjax.charging.reduced`: :class:`CoalitionTables` holds each
station's *in* and *out* features, :func:`_group_costs` is the O(T) cost loop that every form
shares, and :func:`coalition_costs` forms a batch's group sums as masks (B, N) times the
feature table (a GEMM, O(N W) per coalition).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from ..closed_form import equilibrium
from ..game import ChargingGame
from ..metrics import station_costs


class CoalitionTables(eqx.Module):
    """Per-game precomputation for single-coalition sweeps (O(N T) once per game).

    ``features`` (N, W), W = 3T + 9, has two parts per station i (notation of the package's
    docstring): the *in* part (first ``width_in`` = T + 4 columns, summed over the coalition)
    and the *out* part (last 2T + 5 columns, summed over the stations outside it):

        in:  xc_i (T), 1/mu_i, mu_i T c_i^2/2, d_i, nash_i
        out: mu_i xc_i/delta_i (T), mu_i z_i/delta_i (T), 1/delta_i, mu_i/delta_i^2,
             mu_i ||z_i||^2/2, d_i, nash_i                             (delta_i = mu_i + b)

    with nash_i the station's cost at the Nash equilibrium. ``a_centered`` is a - mean_t a
    (T,), ``base_price`` is mean_t p = mean_t a + b D / T (the same at every equilibrium),
    ``nash_total`` the Nash cost of all stations.
    """

    features: Float[Array, "N W"]
    a_centered: Float[Array, " T"]
    b: Float[Array, ""]
    base_price: Float[Array, ""]
    nash_total: Float[Array, ""]
    n_stations: int = eqx.field(static=True)
    n_steps: int = eqx.field(static=True)

    @property
    def width_in(self) -> int:
        return self.n_steps + 4

    @property
    def width(self) -> int:
        return 3 * self.n_steps + 9


def coalition_tables(game: ChargingGame) -> CoalitionTables:
    """The :class:`CoalitionTables` of one game with scalar b (``ValueError`` otherwise)."""
    if not game.constant_b:
        raise ValueError(
            f"coalition_tables needs a scalar b (constant price slope); got b of shape "
            f"{tuple(game.b.shape)}. Time-varying b is not reduced: use evjax.equilibrium."
        )
    if game.a.ndim != 1:
        raise ValueError(
            f"coalition_tables takes one game, not a batch; a has shape {game.a.shape}"
        )
    return _tables(game)


@eqx.filter_jit
def _tables(game: ChargingGame) -> CoalitionTables:
    n, t = game.n_stations, game.n_steps
    mu, b, d = game.mu, game.b, game.d
    mean_xbar = jnp.mean(game.xbar, axis=1)
    xc = game.xbar - mean_xbar[:, None]
    c = d / t - mean_xbar
    nash = station_costs(game, equilibrium(game, ()))
    inside = jnp.concatenate([xc, jnp.stack([1.0 / mu, 0.5 * t * mu * c * c, d, nash], 1)], 1)
    delta = mu + b
    z = c[:, None] - (b / delta)[:, None] * xc
    k_out = 0.5 * mu * jnp.sum(z * z, axis=1)
    scalars = jnp.stack([1.0 / delta, mu / delta**2, k_out, d, nash], axis=1)
    ratio = (mu / delta)[:, None]
    outside = jnp.concatenate([ratio * xc, ratio * z, scalars], axis=1)
    return CoalitionTables(
        features=jnp.concatenate([inside, outside], axis=1),
        a_centered=game.a - jnp.mean(game.a),
        b=b,
        base_price=jnp.mean(game.a) + b * jnp.sum(d) / t,
        nash_total=jnp.sum(nash),
        n_stations=n,
        n_steps=t,
    )


_UNROLL_MAX_T = 64  # unroll the loop over t up to this many steps; above, a fori_loop


def _group_costs(tables: CoalitionTables, row: Callable[[Any], Array]):
    """(c_C, c_out, nash_C, nash_out) of a batch of coalitions, each of the batch's shape.

    ``row(k)`` returns feature k of the group sums (the package docstring) for the whole batch;
    k may be traced. The loop over t is unrolled, so that the whole computation is one
    elementwise loop over the batch with the sums over t as running accumulators: no
    intermediate of size T x batch exists.
    """
    t, b = tables.n_steps, tables.b
    o = tables.width_in
    s_in, k_in, d_in, n_in = row(t), row(t + 1), row(t + 2), row(t + 3)
    s_out, h_out, k_out, d_out, n_out = (row(o + 2 * t + j) for j in range(5))
    bs_in, bs_out = b * s_in, b * s_out
    inv_det = 1.0 / ((1.0 + bs_in) * (1.0 + bs_out) + bs_in)
    c_pu = inv_det * (1.0 + bs_in)  # pdev = c_pu u + c_px XC,  u = a_c + b XM
    c_px = inv_det * b
    c_ix = c_px * (2.0 + bs_out)  # pi = inv_det u + c_ix XC
    c_yx = inv_det * (1.0 + bs_out)  # Y_in = c_yx XC - c_yu u
    c_yu = inv_det * s_in
    c_om = inv_det * (1.0 + 2.0 * bs_in)  # Y_out = c_om XM - c_ox XC - c_oa a_c
    c_ox = inv_det * bs_out
    c_oa = inv_det * s_out * (1.0 + bs_in)
    half_h = 0.5 * h_out

    def step(k, acc):
        acc_in, acc_pi, acc_out = acc
        a_c = tables.a_centered[k]
        xc, xm, pz = row(k), row(o + k), row(o + t + k)
        u = a_c + b * xm
        p_dev = c_pu * u + c_px * xc
        pi = inv_det * u + c_ix * xc
        y_in = c_yx * xc - c_yu * u
        y_out = c_om * xm - c_ox * xc - c_oa * a_c
        return (
            acc_in + p_dev * y_in,
            acc_pi + pi * pi,
            acc_out + p_dev * (y_out - pz + half_h * p_dev),
        )

    zero = jnp.zeros_like(inv_det)
    acc = (zero, zero, zero)
    if t <= _UNROLL_MAX_T:
        for k in range(t):
            acc = step(k, acc)
    else:
        acc = jax.lax.fori_loop(0, t, step, acc, unroll=8)
    acc_in, acc_pi, acc_out = acc
    c_in = d_in * tables.base_price + k_in + acc_in + (0.5 * s_in) * acc_pi
    c_out = d_out * tables.base_price + k_out + acc_out
    return c_in, c_out, n_in, n_out


def stack_costs(tables: CoalitionTables, c_in, c_out, n_in, n_out, axis: int = 0):
    """(cnash, nash) of the group costs of :func:`_group_costs`, stacked along ``axis`` in the
    order (all, coalition, outside)."""
    cnash = jnp.stack([c_in + c_out, c_in, c_out], axis=axis)
    nash = jnp.stack([jnp.broadcast_to(tables.nash_total, n_in.shape), n_in, n_out], axis=axis)
    return cnash, nash


def _costs_columns(tables: CoalitionTables, s):
    """(cnash, nash), each (3, *batch), of group sums laid out columns-first, s (W, *batch).

    Rows (all, coalition, outside). When several reductions consume the result in the same
    jitted step, XLA fuses the whole cost loop into each of them (about 5x slower in
    ``benchmarks/micro_reduced.py``, "engine-style"): compute it inside ``lax.map`` first, as
    :func:`fold_chunks` does.
    """
    return stack_costs(tables, *_group_costs(tables, lambda k: s[k]))


def costs_from_sums(
    tables: CoalitionTables, sums: Float[Array, "B W"]
) -> tuple[Float[Array, "B 3"], Float[Array, "B 3"]]:
    """(C-Nash costs, Nash costs), each (B, 3) with columns (all, coalition, outside).

    ``sums`` (B, W) holds per coalition the in part of ``tables.features`` summed over its
    members and the out part summed over the other stations (:func:`group_sums`). About 30 T
    flops per coalition: the formulas of the package docstring (eq (1), Theorem 4.1).
    """
    if sums.ndim != 2 or sums.shape[1] != tables.width:
        raise ValueError(f"sums must have shape (B, {tables.width}), got {sums.shape}")
    sums_t = sums.T
    return stack_costs(tables, *_group_costs(tables, lambda k: sums_t[k]), axis=1)


def group_sums(tables: CoalitionTables, masks: ArrayLike) -> Float[Array, "B W"]:
    """Feature sums (B, W) of 0/1 ``masks`` (B, N): in part over C, out part over the rest."""
    masks = _check_masks(tables, masks)
    o = tables.width_in
    return jnp.concatenate(
        [masks @ tables.features[:, :o], (1.0 - masks) @ tables.features[:, o:]], axis=1
    )


def _check_masks(tables, masks):
    masks = jnp.asarray(masks, dtype=tables.features.dtype)
    if masks.ndim != 2 or masks.shape[1] != tables.n_stations:
        raise ValueError(f"masks must have shape (B, {tables.n_stations}), got {masks.shape}")
    return masks


def gemm_group_costs(tables: CoalitionTables, masks_t: Float[Array, "N B"]):
    """:func:`_group_costs` of 0/1 masks given transposed, (N, B): the GEMM form, with the
    sums formed columns-first."""
    o = tables.width_in
    f = tables.features
    sums_t = jnp.concatenate([f[:, :o].T @ masks_t, f[:, o:].T @ (1.0 - masks_t)], axis=0)
    return _group_costs(tables, lambda k: sums_t[k])


def coalition_costs(
    tables: CoalitionTables, masks: ArrayLike
) -> tuple[Float[Array, "B 3"], Float[Array, "B 3"]]:
    """(C-Nash, Nash) group costs (B, 3), columns (all, coalition, outside), of 0/1 ``masks``.

    ``masks`` (B, N): row k is the membership of coalition k (others act alone). The GEMM form
    (the same as :func:`costs_from_sums` of :func:`group_sums`, with the sums formed
    columns-first), O(N W + T) per coalition.
    """
    return _coalition_costs(tables, _check_masks(tables, masks))


@eqx.filter_jit
def _coalition_costs(tables, masks):
    return stack_costs(tables, *gemm_group_costs(tables, masks.T), axis=1)


def bit_masks(bits: Int[ArrayLike, " B"], n: int, dtype=None) -> Float[Array, "B n"]:
    """Masks (B, n) of integer bitmasks: entry (k, i) is bit i of ``bits[k]``."""
    bits = jnp.asarray(bits)
    shifts = jnp.arange(n, dtype=bits.dtype)
    return ((bits[:, None] >> shifts) & 1).astype(dtype or jnp.result_type(float))
