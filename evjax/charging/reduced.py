"""Group costs of many single coalitions in O(T) each (``shared/design/fast-sweeps.md`` s. 2).

For constant b and one coalition C (everyone else alone), station i is in one of two states:
*in* (i in C, delta_i = mu_i) or *out* (delta_i = mu_i + b). With w_i^t = v_i^t - mean_t v_i,
v = mu * xbar - a 1 (Theorem 4.1), Woodbury on Q = diag(delta) + b [1, m][1, m]' gives

    y_i^t = x_i^t - d_i/T = (w_i^t - g_G^t) / delta_i       for i in group G in {in, out},

with two T-vectors g_in = r0 + r1 and g_out = r0. In terms of the group sums

    s_G = sum_{i in G} 1/delta_i,   A_G^t = sum_{i in G} w_i^t/delta_i,   beta = b / det,
    det = (1 + b s_in)(1 + b s_out) + b s_in           (= det M of the design note, >= 1),

    g_out = beta ((1 + b s_in) A_out + A_in),   g_in = beta (A_out + (2 + b s_out) A_in).

Every sum runs over the members of one group, never "total minus coalition": the out sums are
taken over the complement directly, so nothing cancels and an empty group sums to exact zeros.
The group deviation is Y_G = A_G - g_G s_G, and as sum_t w_i^t = 0, sum_t Y_G^t = 0 and

    p^t - mean_t p = a^t - mean_t a + b (Y_in^t + Y_out^t),   mean_t p = mean_t a + b D / T.

With e_i = d_i/T - xbar_i and q_i = e_i + w_i/delta_i (so x_i - xbar_i = q_i - g_G/delta_i),
eq (1) summed over group G is

    c_G = d_G (mean a + b D/T) + sum_t (p^t - mean p) Y_G^t
          + K_G - sum_t g_G^t P_G^t + H_G/2 sum_t (g_G^t)^2,

    d_G = sum d_i,  K_G = sum_i mu_i/2 ||q_i||^2,  P_G^t = sum_i mu_i q_i^t / delta_i,
    H_G = sum_i mu_i / delta_i^2          (H_in = s_in and P_in = sum q_i for delta = mu).

So one coalition needs the sums over C of the *in* features (w/mu, q, 1/mu, K, d, Nash cost)
and the sums over the complement of the *out* features (w/(mu+b), mu q/(mu+b), 1/(mu+b),
mu/(mu+b)^2, K, d, Nash cost): one row of width W = 4T + 9 (:class:`CoalitionTables`), then
O(T) elementwise work. The Nash costs need no solve per coalition: they are sums of the
per-station Nash costs (Corollary 4.5) over each group.

Two ways of forming the sums:

* :func:`group_sums`: masks (B, N) times the feature table (a GEMM, O(N W) per coalition).
* :func:`subset_sums` + :func:`chunk_costs` / :func:`fold_chunks`: for the 2^L consecutive
  bitmasks ``high * 2^L + j`` the sums are (sums of the high stations) + (row j of a table of
  all 2^L subsets of the low stations), O(W) per coalition.

Conventions. Bitmask bit i set <=> station i in the coalition. Cost columns are
(all, coalition, outside). The empty coalition (mask 0) is plain Nash: its coalition costs are
exactly 0 at both equilibria and its other columns are finite. The grand coalition has no
outsiders: its outside costs are exactly 0 at both. :func:`ratios_from_costs` maps such empty
groups to ``fill``. Float64 is expected (enable ``jax_enable_x64``); time-varying b is not
reduced here (use :func:`evjax.equilibrium`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .closed_form import equilibrium
from .game import ChargingGame
from .metrics import station_costs


class CoalitionTables(eqx.Module):
    """Per-game precomputation for single-coalition sweeps (O(N T) once per game).

    ``features`` (N, W), W = 4T + 9, has two parts per station i: the *in* part (first
    ``width_in`` = 2T + 4 columns, summed over the coalition) and the *out* part (last
    2T + 5 columns, summed over the stations outside it):

        in:  w_i/mu_i (T), q_i (T), 1/mu_i, K_i, d_i, nash_i                  (delta = mu)
        out: w_i/delta (T), mu_i q_i/delta (T), 1/delta, mu_i/delta^2, K_i, d_i, nash_i
                                                                                (delta = mu + b)

    with q_i = d_i/T - xbar_i + w_i/delta, K_i = mu_i/2 ||q_i||^2 and nash_i the station's cost
    at the Nash equilibrium. ``a_centered`` is a - mean_t a (T,), ``base_price`` is mean_t p =
    mean_t a + b D / T (the same at every equilibrium), ``nash_total`` the Nash cost of all.
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
        return 2 * self.n_steps + 4

    @property
    def width(self) -> int:
        return 4 * self.n_steps + 9


def coalition_tables(game: ChargingGame) -> CoalitionTables:
    """The :class:`CoalitionTables` of one game with scalar b (``ValueError`` otherwise)."""
    if not game.constant_b:
        raise ValueError(
            f"coalition_tables needs a scalar b (constant price slope); got b of shape "
            f"{tuple(game.b.shape)}. Time-varying b is not reduced: use evjax.equilibrium."
        )
    if game.a.ndim != 1:
        raise ValueError(f"coalition_tables takes one game, not a batch; a has shape {game.a.shape}")
    return _tables(game)


@eqx.filter_jit
def _tables(game: ChargingGame) -> CoalitionTables:
    n, t = game.n_stations, game.n_steps
    mu, b, d = game.mu, game.b, game.d
    v = mu[:, None] * game.xbar - game.a[None, :]
    w = v - jnp.mean(v, axis=1, keepdims=True)
    e = d[:, None] / t - game.xbar
    nash = station_costs(game, equilibrium(game, ()))

    def part(delta, extra_h):
        q = e + w / delta[:, None]
        k = 0.5 * mu * jnp.sum(q * q, axis=1)
        scalars = [1.0 / delta] + ([mu / delta**2] if extra_h else []) + [k, d, nash]
        return jnp.concatenate(
            [w / delta[:, None], (mu / delta)[:, None] * q, jnp.stack(scalars, axis=1)], axis=1
        )

    features = jnp.concatenate([part(mu, False), part(mu + b, True)], axis=1)
    return CoalitionTables(
        features=features,
        a_centered=game.a - jnp.mean(game.a),
        b=b,
        base_price=jnp.mean(game.a) + b * jnp.sum(d) / t,
        nash_total=jnp.sum(nash),
        n_stations=n,
        n_steps=t,
    )


def _costs_columns(tables: CoalitionTables, s):
    """The elementwise stage on sums laid out columns-first: s (W, *batch) -> 2 x (3, *batch).

    Batch axes trail so that every operation vectorises over coalitions and the sums over t
    are sums of rows.
    """
    t, b = tables.n_steps, tables.b
    o = tables.width_in
    a_in, p_in = s[:t], s[t : 2 * t]
    s_in, k_in, d_in, n_in = s[2 * t], s[2 * t + 1], s[2 * t + 2], s[2 * t + 3]
    a_out, p_out = s[o : o + t], s[o + t : o + 2 * t]
    s_out, h_out, k_out, d_out, n_out = (s[o + 2 * t + j] for j in range(5))
    bs_in, bs_out = b * s_in, b * s_out
    beta = b / ((1.0 + bs_in) * (1.0 + bs_out) + bs_in)
    g_out = beta * ((1.0 + bs_in) * a_out + a_in)
    g_in = beta * (a_out + (2.0 + bs_out) * a_in)
    y_in = a_in - g_in * s_in
    y_out = a_out - g_out * s_out
    a_c = tables.a_centered.reshape((t,) + (1,) * (s.ndim - 1))
    p_dev = a_c + b * (y_in + y_out)
    c_in = (
        d_in * tables.base_price
        + k_in
        + jnp.sum(p_dev * y_in - g_in * p_in + (0.5 * s_in) * (g_in * g_in), axis=0)
    )
    c_out = (
        d_out * tables.base_price
        + k_out
        + jnp.sum(p_dev * y_out - g_out * p_out + (0.5 * h_out) * (g_out * g_out), axis=0)
    )
    cnash = jnp.stack([c_in + c_out, c_in, c_out])
    nash = jnp.stack([jnp.broadcast_to(tables.nash_total, n_in.shape), n_in, n_out])
    return cnash, nash


def costs_from_sums(
    tables: CoalitionTables, sums: Float[Array, "B W"]
) -> tuple[Float[Array, "B 3"], Float[Array, "B 3"]]:
    """(C-Nash costs, Nash costs), each (B, 3) with columns (all, coalition, outside).

    ``sums`` (B, W) holds per coalition the in part of ``tables.features`` summed over its
    members and the out part summed over the other stations (:func:`group_sums`). O(T) work
    per coalition: the formulas of this module's docstring (eq (1), Theorem 4.1).
    """
    if sums.ndim != 2 or sums.shape[1] != tables.width:
        raise ValueError(f"sums must have shape (B, {tables.width}), got {sums.shape}")
    cnash, nash = _costs_columns(tables, sums.T)
    return cnash.T, nash.T


def group_sums(tables: CoalitionTables, masks: ArrayLike) -> Float[Array, "B W"]:
    """Feature sums (B, W) of 0/1 ``masks`` (B, N): in part over C, out part over the rest."""
    masks = jnp.asarray(masks, dtype=tables.features.dtype)
    if masks.ndim != 2 or masks.shape[1] != tables.n_stations:
        raise ValueError(f"masks must have shape (B, {tables.n_stations}), got {masks.shape}")
    o = tables.width_in
    return jnp.concatenate(
        [masks @ tables.features[:, :o], (1.0 - masks) @ tables.features[:, o:]], axis=1
    )


def coalition_costs(
    tables: CoalitionTables, masks: ArrayLike
) -> tuple[Float[Array, "B 3"], Float[Array, "B 3"]]:
    """(C-Nash, Nash) group costs (B, 3), columns (all, coalition, outside), of 0/1 ``masks``.

    ``masks`` (B, N): row k is the membership of coalition k (others act alone). The GEMM form:
    :func:`group_sums` then :func:`costs_from_sums`.
    """
    masks = jnp.asarray(masks, dtype=tables.features.dtype)
    if masks.ndim != 2 or masks.shape[1] != tables.n_stations:
        raise ValueError(f"masks must have shape (B, {tables.n_stations}), got {masks.shape}")
    return _coalition_costs(tables, masks)


@eqx.filter_jit
def _coalition_costs(tables, masks):
    return costs_from_sums(tables, group_sums(tables, masks))


def bit_masks(bits: Int[ArrayLike, " B"], n: int, dtype=None) -> Float[Array, "B n"]:
    """Masks (B, n) of integer bitmasks: entry (k, i) is bit i of ``bits[k]``."""
    bits = jnp.asarray(bits)
    shifts = jnp.arange(n, dtype=bits.dtype)
    return ((bits[:, None] >> shifts) & 1).astype(dtype or jnp.result_type(float))


def subset_sums(tables: CoalitionTables, low_bits: int) -> Float[Array, "W 2^L"]:
    """Feature sums of every subset of the ``low_bits`` = L lowest stations, columns-first.

    Column j (of 2^L) is, for the coalition whose low stations are the bits of j: the in part
    summed over those stations and the out part summed over the other low stations. Add the
    high stations' sums (:func:`high_sums`) to get a whole coalition's sums. Built once per
    game as the product of the 2^L x L bit matrix with the L low rows of the feature table,
    O(2^L L W) (under 10 ms for L = 14): simpler to compile than doubling
    (table[j | 2^k] = table[j] + F[k]) and with the same rounding as :func:`group_sums`.
    """
    if not 0 <= low_bits <= tables.n_stations:
        raise ValueError(f"low_bits must lie in [0, {tables.n_stations}], got {low_bits}")
    return _subset_sums(tables, low_bits)


@eqx.filter_jit
def _subset_sums(tables, low_bits):
    o = tables.width_in
    f = tables.features[:low_bits]
    m = bit_masks(jnp.arange(2**low_bits), low_bits, f.dtype)  # (2^L, L)
    return jnp.concatenate([f[:, :o].T @ m.T, f[:, o:].T @ (1.0 - m).T], axis=0)


def high_sums(tables: CoalitionTables, high, low_bits: int) -> Float[Array, " W"]:
    """Sums (W,) over the high stations (index >= L) for the high bits ``high`` (traced ok)."""
    n_high = tables.n_stations - low_bits
    f = tables.features[low_bits:]
    o = tables.width_in
    m = ((jnp.asarray(high) >> jnp.arange(n_high)) & 1).astype(f.dtype)
    return jnp.concatenate([m @ f[:, :o], (1.0 - m) @ f[:, o:]])


def _chunk(tables, low_table, high):
    low_bits = low_table.shape[1].bit_length() - 1
    s = low_table + high_sums(tables, high, low_bits)[:, None]
    return _costs_columns(tables, s)


def chunk_costs(
    tables: CoalitionTables, low_table: Float[Array, "W 2^L"], high
) -> tuple[Float[Array, "2^L 3"], Float[Array, "2^L 3"]]:
    """(C-Nash, Nash) group costs (2^L, 3) of the bitmasks ``high * 2^L + j``, j < 2^L.

    ``low_table`` is ``subset_sums(tables, L)``; ``high`` an integer (traced ok). Columns
    (all, coalition, outside). For ``high == 0`` row 0 is the empty coalition (see module).
    """
    return _chunk_rows(tables, low_table, jnp.asarray(high))


@eqx.filter_jit
def _chunk_rows(tables, low_table, high):
    cnash, nash = _chunk(tables, low_table, high)
    return cnash.T, nash.T


@eqx.filter_jit
def fold_chunks(
    tables: CoalitionTables,
    low_table: Float[Array, "W 2^L"],
    highs: Int[Array, " H"],
    reduce: Callable[[Any, Any, Array, Array], Any],
    init: Any,
) -> Any:
    """Fold ``reduce`` over the chunks of ``highs``: H * 2^L coalitions in one compiled call.

    ``reduce(carry, high, cnash, nash) -> carry`` gets the chunk's costs columns-first,
    cnash and nash of shape (3, 2^L) (rows all, coalition, outside; column j is the bitmask
    ``high * 2^L + j``). It must be jit-traceable; ``init`` is the initial carry. Nothing of
    size larger than one chunk is ever materialised.
    """

    def step(carry, high):
        cnash, nash = _chunk(tables, low_table, high)
        return reduce(carry, high, cnash, nash), None

    carry, _ = jax.lax.scan(step, init, highs)
    return carry


def ratios_from_costs(cnash, nash, fill=jnp.nan):
    """M = Nash cost / C-Nash cost per entry (Eval-Metric), ``fill`` where a group is empty.

    An empty group (coalition of the empty mask, outside of the grand coalition) has C-Nash
    cost exactly 0 here; those entries get ``fill`` instead of 0/0.
    """
    empty = cnash == 0
    return jnp.where(empty, fill, nash / jnp.where(empty, 1.0, cnash))
