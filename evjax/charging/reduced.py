"""Group costs of many single coalitions in O(T) each (``shared/design/fast-sweeps.md`` s. 2).

For constant b and one coalition C (everyone else alone), station i is in one of two states:
*in* (i in C, delta_i = mu_i) or *out* (delta_i = mu_i + b). Theorem 4.1 with Woodbury on
Q = diag(delta) + b [1, m][1, m]' gives the deviation from the flat profile

    y_i^t = x_i^t - d_i/T = (w_i^t - g_G^t) / delta_i       for i in group G in {in, out},

w_i = v_i - mean_t v_i, v_i = mu_i xbar_i - a, with g_out = r0 = b (X - D/T) (the price
deviation an outsider sees) and g_in = r0 + r1 = g_out + b Y_in (the coalition also
internalises its own aggregate). Write xc_i = xbar_i - mean_t xbar_i, c_i = d_i/T - mean_t
xbar_i, a_c = a - mean_t a, so that w_i = mu_i xc_i - a_c. With the group sums

    s_in = sum_C 1/mu_i,       XC = sum_C xc_i,
    s_out = sum_out 1/delta_i,  XM = sum_out mu_i xc_i / delta_i
    det  = (1 + b s_in)(1 + b s_out) + b s_in     (= det M of the design note, >= 1)

the 2 x 2 solve of the design note becomes, in forms where no large term cancels,

    Y_in  = sum_C y_i   = ((1 + b s_out) XC - b s_in XM - s_in a_c) / det
    Y_out = sum_out y_i = ((1 + 2 b s_in) XM - b s_out XC - s_out (1 + b s_in) a_c) / det
    pdev  = p - mean_t p = a_c + g_out = ((1 + b s_in)(a_c + b XM) + b XC) / det
    pi    = a_c + g_in                 = (a_c + b XM + b (2 + b s_out) XC) / det,

and mean_t p = mean_t a + b D/T at every equilibrium (sum_t y_i^t = 0). Then x_i - xbar_i is
c_i - pi/mu_i inside and z_i - pdev/delta_i outside, z_i = c_i - b xc_i/delta_i, and eq (1)
summed over each group, using sum_t pi^t = sum_t y^t = 0, is

    c_C   = d_C mean p + pdev . Y_in  + sum_C mu_i T c_i^2/2 + s_in ||pi||^2 / 2
    c_out = d_out mean p + pdev . Y_out + sum_out mu_i ||z_i||^2/2
            - pdev . sum_out (mu_i z_i/delta_i) + ||pdev||^2/2 sum_out mu_i/delta_i^2.

So a coalition needs the sums over C of the *in* features (xc, 1/mu, mu T c^2/2, d, Nash cost)
and the sums over the complement of the *out* features (mu xc/delta, mu z/delta, 1/delta,
mu/delta^2, mu ||z||^2/2, d, Nash cost): one row of width W = 3T + 9
(:class:`CoalitionTables`), then about 30 T flops. Every sum runs over the members of one
group, never "total minus coalition", so nothing cancels and an empty group sums to exact
zeros. The Nash costs need no solve per coalition: they are sums of the per-station Nash costs
(Corollary 4.5) over each group.

Two ways of forming the sums:

* :func:`group_sums` / :func:`coalition_costs` / :func:`fold_bitmasks`: masks (B, N) times the
  feature table (a GEMM, O(N W) per coalition), for arbitrary coalitions.
* :func:`subset_table` + :func:`chunk_costs` / :func:`fold_chunks`: for the 2^L coalitions
  ``(high << L) | j`` of a chunk the sums are (sums of the high stations) + (column j of a
  table of all 2^L subsets of the L low stations), O(W) per coalition: for enumerations.
* :func:`gram_table` in place of :func:`subset_table` (the sweeps' default): every sum over
  t in the cost loop is a combination of five products of the T-vectors XC, XM, PZ and their
  products with a_c. The products of (low subset + chunk) are the two parts' own products
  plus cross terms; the low part's vectors are affine in its memberships, so the cross
  terms of a group of chunks with all 2^L subsets are O(G L T) coefficients and one matrix
  product (5 G, 2L + 1) x (2L + 1, 2^L), then O(1) work per coalition.

Speed (``benchmarks/micro_reduced.py``): the loop over t is unrolled so that the whole cost
stage is one elementwise loop over coalitions, and the folds materialise each group's costs
(``lax.map``) before the reduction reads them, so that XLA does not recompute the cost loop
inside every consumer of the reduction.

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

    ``features`` (N, W), W = 3T + 9, has two parts per station i (notation of this module's
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

    ``row(k)`` returns feature k of the group sums (module docstring) for the whole batch;
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


def _stack(tables, c_in, c_out, n_in, n_out, axis=0):
    """(cnash, nash) stacked along ``axis`` in the order (all, coalition, outside)."""
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
    return _stack(tables, *_group_costs(tables, lambda k: s[k]))


def costs_from_sums(
    tables: CoalitionTables, sums: Float[Array, "B W"]
) -> tuple[Float[Array, "B 3"], Float[Array, "B 3"]]:
    """(C-Nash costs, Nash costs), each (B, 3) with columns (all, coalition, outside).

    ``sums`` (B, W) holds per coalition the in part of ``tables.features`` summed over its
    members and the out part summed over the other stations (:func:`group_sums`). About 30 T
    flops per coalition: the formulas of this module's docstring (eq (1), Theorem 4.1).
    """
    if sums.ndim != 2 or sums.shape[1] != tables.width:
        raise ValueError(f"sums must have shape (B, {tables.width}), got {sums.shape}")
    sums_t = sums.T
    return _stack(tables, *_group_costs(tables, lambda k: sums_t[k]), axis=1)


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


def _gemm_group_costs(tables, masks_t):
    """_group_costs of masks given transposed, (N, B): the sums are formed columns-first."""
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
    return _stack(tables, *_gemm_group_costs(tables, masks.T), axis=1)


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
    O(2^L L W) (milliseconds for L <= 14): simpler to compile than doubling
    (table[j | 2^k] = table[j] + F[k]), with the rounding of :func:`group_sums`.
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


LANES = 8  # float64 lanes of an AVX-512 register


class SubsetTable(eqx.Module):
    """:func:`subset_sums` laid out for the fast chunk loop, with its columns' subsets.

    ``sums[j // V, :, j % V]`` is the sums (W,) of column j, V = ``lanes`` = min(8, 2^L): the
    loop over coalitions then reads V coalitions' feature k as one contiguous vector (8
    float64, one AVX-512 register) and a block's W features lie together in memory.
    ``codes[j]`` is the subset of the low stations in column j (bit k <=> station k); the
    identity unless an ``order`` was given to :func:`subset_table`.
    """

    sums: Float[Array, "blocks W lanes"]
    codes: Int[Array, " 2^L"]
    low_bits: int = eqx.field(static=True)

    @property
    def size(self) -> int:
        return 2**self.low_bits


def subset_table(
    tables: CoalitionTables, low_bits: int, *, order=None, offset=None
) -> SubsetTable:
    """The :class:`SubsetTable` of the ``low_bits`` = L lowest stations of one game.

    ``order`` (optional, a permutation of range(2^L)) puts subset ``order[j]`` in column j,
    e.g. sorted by popcount so that coalitions of one size are contiguous in every chunk.
    ``offset`` (optional, (W,)) is added to every column: the constant sums of stations that
    every enumerated coalition includes (in part) or excludes (out part). For T = 24 keep
    2^L W float64 within L2 cache: L = 9 to 11.
    """
    codes, offset = _table_args(tables, low_bits, order, offset)
    return _subset_table(tables, low_bits, codes, offset)


def _table_args(tables, low_bits, order, offset):
    if not 0 <= low_bits <= tables.n_stations:
        raise ValueError(f"low_bits must lie in [0, {tables.n_stations}], got {low_bits}")
    codes = jnp.arange(2**low_bits) if order is None else jnp.asarray(order)
    if codes.shape != (2**low_bits,):
        raise ValueError(f"order must have shape ({2**low_bits},), got {codes.shape}")
    if offset is None:
        offset = jnp.zeros(tables.width, tables.features.dtype)
    return codes, jnp.asarray(offset)


@eqx.filter_jit
def _subset_table(tables, low_bits, codes, offset):
    sums = _subset_sums(tables, low_bits)[:, codes] + offset[:, None]  # (W, 2^L)
    lanes = min(LANES, 2**low_bits)
    blocked = sums.T.reshape(2**low_bits // lanes, lanes, tables.width).transpose(0, 2, 1)
    return SubsetTable(sums=blocked, codes=codes, low_bits=low_bits)


def high_sums(tables: CoalitionTables, high, low_bits: int) -> Float[Array, " W"]:
    """Sums (W,) over the high stations (index >= L) for the high bits ``high`` (traced ok)."""
    n_high = tables.n_stations - low_bits
    f = tables.features[low_bits:]
    o = tables.width_in
    m = ((jnp.asarray(high) >> jnp.arange(n_high)) & 1).astype(f.dtype)
    return jnp.concatenate([m @ f[:, :o], (1.0 - m) @ f[:, o:]])


def _chunk_group_costs(tables, table: SubsetTable, high):
    """(c_C, c_out, nash_C, nash_out), each (2^L,), of the bitmasks high * 2^L + j."""
    return _sums_group_costs(tables, table, high_sums(tables, high, table.low_bits))


def _sums_group_costs(tables, table: SubsetTable, hs):
    """:func:`_chunk_group_costs` given the high stations' sums ``hs`` (W,)."""
    out = _group_costs(tables, lambda k: table.sums[:, k, :] + hs[k])
    return tuple(v.reshape(table.size) for v in out)


GRAM_SCALARS = 17  # per-side scalars of the Gram form (see gram_parts)


def gram_parts(tables: CoalitionTables, sums: Float[Array, "... W"]):
    """The Gram form of feature sums ``sums`` (..., W): (vectors (..., 3T), scalars (..., 17)).

    ``vectors`` holds the three T-vectors of the cost loop, [XC, XM, PZ] (XC the coalition's
    summed xc, XM and PZ the outsiders' summed mu xc/delta and mu z/delta). ``scalars`` holds
    the nine scalar sums (s_in, k_in, d_in, nash_in, s_out, h_out, k_out, d_out, nash_out),
    then the five products over t that the costs need, XC.XC, XC.XM, XM.XM, PZ.XC, PZ.XM,
    then XC.a_c, XM.a_c, PZ.a_c. Sums of two disjoint parts add, but for the five products,
    which gain the cross terms (:func:`_gram_group_costs`).
    """
    t, o = tables.n_steps, tables.width_in
    xc, xm, pz = sums[..., :t], sums[..., o:o + t], sums[..., o + t:o + 2 * t]
    a = tables.a_centered

    def dot(u, v):
        return jnp.sum(u * v, axis=-1)

    scalars = [sums[..., t + k] for k in range(4)] + [sums[..., o + 2 * t + k] for k in range(5)]
    scalars += [dot(xc, xc), dot(xc, xm), dot(xm, xm), dot(pz, xc), dot(pz, xm),
                xc @ a, xm @ a, pz @ a]
    return jnp.concatenate([xc, xm, pz], axis=-1), jnp.stack(scalars, axis=-1)


class GramTable(eqx.Module):
    """:func:`subset_sums` in the Gram form (:func:`gram_parts`), for the GEMM cost stage.

    ``scalars`` (2^L, 17) holds the Gram scalars of column j's sums. The column's T-vectors
    [XC, XM, PZ] are affine in its memberships m (1 for the low stations in the coalition):

        vectors_j = basis[0] + sum_i m_ij basis[1 + i] + sum_i (1 - m_ij) basis[1 + L + i],

    ``basis`` (2L + 1, 3T) the constant part (the fixed stations' sums), each low station's in
    part [xc_i, 0, 0] and its out part [0, xm_i, pz_i]; ``members`` (2L + 1, 2^L) holds
    column j's weights [1, m_j, 1 - m_j]. Every term is a member's own, so an empty group is
    exactly 0 here too. ``codes[j]`` is the subset of the low stations in column j, as in
    :class:`SubsetTable`.
    """

    scalars: Float[Array, "2^L 17"]
    basis: Float[Array, "K 3T"]
    members: Float[Array, "K 2^L"]
    codes: Int[Array, " 2^L"]
    low_bits: int = eqx.field(static=True)

    @property
    def size(self) -> int:
        return 2**self.low_bits


def gram_table(tables: CoalitionTables, low_bits: int, *, order=None, offset=None) -> GramTable:
    """The :class:`GramTable` of the ``low_bits`` = L lowest stations (see :func:`subset_table`).

    With it, a group of G chunks costs O(G L T) for the coefficients of the cross terms
    between the chunks' high stations and the low stations, then one matrix product
    (5 G, 2L + 1) x (2L + 1, 2^L) and O(1) elementwise work per coalition: about 10 L + 100
    flops per coalition against the 30 T of the elementwise loop of :class:`SubsetTable`.
    """
    codes, offset = _table_args(tables, low_bits, order, offset)
    return _gram_table(tables, low_bits, codes, offset)


@eqx.filter_jit
def _gram_table(tables, low_bits, codes, offset):
    sums = _subset_sums(tables, low_bits)[:, codes] + offset[:, None]  # (W, 2^L)
    _, scalars = gram_parts(tables, sums.T)
    f = tables.features[:low_bits]
    o = tables.width_in

    def vectors_of(x):  # (..., W) -> (..., 3T)
        return gram_parts(tables, x)[0]

    inside, outside = f.at[:, o:].set(0.0), f.at[:, :o].set(0.0)  # each station's two parts
    basis = jnp.concatenate([vectors_of(offset)[None], vectors_of(inside), vectors_of(outside)])
    m = bit_masks(codes, low_bits, f.dtype).T  # (L, 2^L)
    members = jnp.concatenate([jnp.ones((1, m.shape[1]), m.dtype), m, 1.0 - m])
    return GramTable(scalars=scalars, basis=basis, members=members, codes=codes,
                     low_bits=low_bits)


def _gram_group_costs(tables: CoalitionTables, table: GramTable, hs: Float[Array, "G W"]):
    """(c_C, c_out, nash_C, nash_out), each (G, 2^L), of the chunks with high sums ``hs``.

    The cost loop of :func:`_group_costs` with every sum over t written through the products
    of :func:`gram_parts`: for u = a_c + b XM, p_dev = c_pu u + c_px XC, and so on, each sum of
    products is a combination of XC.XC, XC.XM, XM.XM, PZ.XC, PZ.XM and the a_c products. A
    coalition's products are the low column's plus the chunk's plus the cross terms, which
    one matrix product gives for all (chunk, column) pairs.
    """
    t, b = tables.n_steps, tables.b
    vectors, scalars = gram_parts(tables, hs)
    hxc, hxm, hpz = vectors[:, :t], vectors[:, t:2 * t], vectors[:, 2 * t:]
    z = jnp.zeros_like(hxc)
    # Row k of the product pairs the low columns [XC, XM, PZ] with the chunk's counterparts.
    cross_rows = jnp.stack([jnp.concatenate(r, axis=-1) for r in (
        (2.0 * hxc, z, z), (hxm, hxc, z), (z, 2.0 * hxm, z), (hpz, z, hxc), (z, hpz, hxm))])
    coefficients = jnp.einsum("kgt,it->kgi", cross_rows, table.basis)  # (5, G, 2L + 1)
    cross = jnp.einsum("kgi,ij->kgj", coefficients, table.members)  # (5, G, 2^L)
    s = [scalars[:, k, None] + table.scalars[None, :, k] for k in range(GRAM_SCALARS)]
    s_in, k_in, d_in, n_in, s_out, h_out, k_out, d_out, n_out = s[:9]
    xx, xm, mm, zx, zm = (s[9 + k] + cross[k] for k in range(5))
    ax, am, az = s[14:]
    aa = jnp.dot(tables.a_centered, tables.a_centered)
    uu = aa + b * (2.0 * am + b * mm)  # u.u, u.xc, u.a_c, u.pz, u.xm
    ux, ua, uz, um = ax + b * xm, aa + b * am, az + b * zm, am + b * mm
    bs_in, bs_out = b * s_in, b * s_out
    inv_det = 1.0 / ((1.0 + bs_in) * (1.0 + bs_out) + bs_in)
    c_pu, c_px = inv_det * (1.0 + bs_in), inv_det * b  # as in _group_costs
    c_ix = c_px * (2.0 + bs_out)
    c_yx, c_yu = inv_det * (1.0 + bs_out), inv_det * s_in
    c_om, c_ox = inv_det * (1.0 + 2.0 * bs_in), inv_det * bs_out
    c_oa = inv_det * s_out * (1.0 + bs_in)
    acc_in = (c_pu * c_yx - c_px * c_yu) * ux - c_pu * c_yu * uu + c_px * c_yx * xx
    acc_pi = inv_det * (inv_det * uu + 2.0 * c_ix * ux) + c_ix * c_ix * xx
    p_m, p_x = c_pu * um + c_px * xm, c_pu * ux + c_px * xx  # p_dev . (xm, xc, a_c, pz, p_dev)
    p_a, p_z = c_pu * ua + c_px * ax, c_pu * uz + c_px * zx
    p_p = c_pu * (c_pu * uu + 2.0 * c_px * ux) + c_px * c_px * xx
    acc_out = c_om * p_m - c_ox * p_x - c_oa * p_a - p_z + 0.5 * h_out * p_p
    c_in = d_in * tables.base_price + k_in + acc_in + (0.5 * s_in) * acc_pi
    c_out = d_out * tables.base_price + k_out + acc_out
    return c_in, c_out, n_in, n_out


def chunk_bits(table: SubsetTable | GramTable, highs: Int[ArrayLike, "*G"]) -> Int[Array, "*G 2^L"]:
    """The bitmasks (high << L) | codes[j] of the chunks ``highs``: shape highs.shape + (2^L,)."""
    highs = jnp.asarray(highs)
    return (highs[..., None] << table.low_bits) | table.codes.astype(highs.dtype)


def chunk_costs(
    tables: CoalitionTables, table: SubsetTable, high
) -> tuple[Float[Array, "2^L 3"], Float[Array, "2^L 3"]]:
    """(C-Nash, Nash) group costs (2^L, 3) of the 2^L coalitions of the chunk ``high``.

    ``table`` is ``subset_table(tables, L)``; ``high`` an integer (traced ok). Row j is the
    bitmask ``(high << L) | table.codes[j]`` (:func:`chunk_bits`); columns (all, coalition,
    outside). The empty coalition (bitmask 0) follows the module's conventions.
    """
    return _chunk_costs(tables, table, jnp.asarray(high))


@eqx.filter_jit
def _chunk_costs(tables, table, high):
    if isinstance(table, GramTable):
        hs = high_sums(tables, high, table.low_bits)[None]
        return _stack(tables, *(v[0] for v in _gram_group_costs(tables, table, hs)), axis=1)
    return _stack(tables, *_chunk_group_costs(tables, table, high), axis=1)


Reduce = Callable[[Any, Array, Array, Array], Any]


def _packed(costs):
    """(c_C, c_out, nash_C, nash_out) as two complex arrays, (C-Nash, Nash)."""
    c_in, c_out, n_in, n_out = costs
    return jax.lax.complex(c_in, c_out), jax.lax.complex(n_in, n_out)


def _fold(tables, costs_of, bits_of, xs, reduce, init):
    """Scan over the leading axis of ``xs`` (groups of chunks) and fold ``reduce`` over them.

    ``costs_of(x)`` gives the costs of one group, (G, B) each, packed by :func:`_packed` as
    two complex arrays (C-Nash, Nash), computed inside ``lax.map`` (a loop over the group)
    for a :class:`SubsetTable`.
    Packing makes XLA emit the cost loop as one fusion that computes the shared terms once
    (two real outputs become two fusions that each recompute them: 1.3x slower), and the
    loop materialises the costs once before ``reduce`` reads them, instead of XLA fusing (and
    so recomputing) the cost loop into every consumer of the reduction.
    """

    def step(carry, x):
        c, n = costs_of(x)
        cnash, nash = _stack(tables, c.real, c.imag, n.real, n.imag)
        return reduce(carry, bits_of(x), cnash, nash), None

    carry, _ = jax.lax.scan(step, init, xs)
    return carry


def _grouped(name, xs, group):
    xs = jnp.asarray(xs)
    if group < 1 or xs.shape[0] % group:
        raise ValueError(
            f"{name} must have a leading length that is a multiple of group = {group}, "
            f"got shape {xs.shape}"
        )
    return xs.reshape(xs.shape[0] // group, group, *xs.shape[1:])


def fold_chunks(
    tables: CoalitionTables,
    table: SubsetTable | GramTable,
    highs: Int[ArrayLike, " H"],
    reduce: Reduce,
    init: Any,
    *,
    group: int = 8,
) -> Any:
    """Fold ``reduce`` over the H * 2^L coalitions of the chunks ``highs``, in one compiled call.

    Chunk h holds the bitmasks (h << L) | codes[j], j < 2^L (``table = subset_table(tables,
    L)`` or ``gram_table(tables, L)``; the first loops over the group's chunks, the second
    takes the whole group as one matrix product).
    Chunks are taken ``group`` at a time (H must be a multiple of it), and

        carry = reduce(carry, bits, cnash, nash)

    is called once per group with ``bits`` (group, 2^L) the bitmasks (:func:`chunk_bits`) and
    ``cnash``, ``nash`` (3, group, 2^L) the group costs (rows all, coalition, outside). It must
    be jit-traceable; ``init`` is the initial carry. Memory is O(group * 2^L), whatever H.
    The empty coalition (bitmask 0) and the grand coalition follow the module's conventions.
    Fastest on CPU (T = 24): a :class:`GramTable`, L = 11, group = 8 (a
    :class:`SubsetTable` at L = 9 is about 1.5x slower), no ``lax.top_k`` or sort per group.
    On a GPU: a :class:`GramTable`, L = 14, group = 256 (4M coalitions per step).
    """
    highs = _grouped("highs", highs, group)
    return _fold_chunks(tables, table, highs, reduce, init)


@eqx.filter_jit
def _fold_chunks(tables, table, highs, reduce, init):
    if isinstance(table, GramTable):
        return _fold(
            tables,
            lambda hg: _packed(_gram_group_costs(
                tables, table, jax.vmap(lambda h: high_sums(tables, h, table.low_bits))(hg))),
            lambda hg: chunk_bits(table, hg),
            highs,
            reduce,
            init,
        )
    return _fold(
        tables,
        lambda hg: jax.lax.map(lambda hs: _packed(_sums_group_costs(tables, table, hs)),
                               jax.vmap(lambda h: high_sums(tables, h, table.low_bits))(hg)),
        lambda hg: chunk_bits(table, hg),
        highs,
        reduce,
        init,
    )


def fold_bitmasks(
    tables: CoalitionTables,
    bits: Int[ArrayLike, "K B"],
    reduce: Reduce,
    init: Any,
    *,
    group: int = 1,
) -> Any:
    """Fold ``reduce`` over arbitrary coalitions given as bitmasks (the GEMM form).

    ``bits`` (K, B): K batches of B bitmasks (bit i <=> station i), e.g. the coalitions of one
    size. Batches are taken ``group`` at a time (K must be a multiple of it) and
    ``reduce(carry, bits, cnash, nash)`` gets ``bits`` (group, B) and costs (3, group, B),
    as in :func:`fold_chunks`. O(N W + T) per coalition: prefer :func:`fold_chunks` for
    consecutive bitmasks.
    """
    bits = jnp.asarray(bits)
    if bits.ndim != 2:
        raise ValueError(f"bits must have shape (K, B), got {bits.shape}")
    return _fold_bitmasks(tables, _grouped("bits", bits, group), reduce, init)


@eqx.filter_jit
def _fold_bitmasks(tables, bits, reduce, init):
    n = tables.n_stations
    dtype = tables.features.dtype

    def costs_of(b):
        masks_t = ((b[None, :] >> jnp.arange(n, dtype=b.dtype)[:, None]) & 1).astype(dtype)
        return _gemm_group_costs(tables, masks_t)

    return _fold(tables, lambda x: jax.lax.map(lambda b: _packed(costs_of(b)), x), lambda x: x,
                 bits, reduce, init)


def ratios_from_costs(cnash, nash, fill=jnp.nan):
    """M = Nash cost / C-Nash cost per entry (Eval-Metric), ``fill`` where it is undefined.

    An empty group (coalition of the empty mask, outside of the grand coalition) has C-Nash
    cost exactly 0 here; those entries, and any whose C-Nash cost is negative (the rule of
    :func:`evjax.charging.metrics.ratio`), get ``fill`` instead of a number.
    """
    empty = cnash <= 0
    # The division last: XLA then materialises the ratios once rather than re-deriving them
    # (from the costs) inside every reduction that reads them.
    return jnp.where(empty, fill, nash) / jnp.where(empty, 1.0, cnash)
