"""The Gram form of the subset table: every sum over t of the cost loop through five products,
so that a group of chunks costs one small matrix product, then O(1) per coalition.

Shapes: J = 2^L columns, K = 2L + 1 basis rows, V = 3T (the vectors [XC, XM, PZ]).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .subsets import _subset_sums, _table_args
from .tables import CoalitionTables, bit_masks


GRAM_SCALARS = 17  # per-side scalars of the Gram form (see gram_parts)


def gram_parts(tables: CoalitionTables, sums: Float[Array, "... W"]):
    """The Gram form of feature sums ``sums`` (..., W): (vectors (..., 3T), scalars (..., 17)).

    ``vectors`` holds the three T-vectors of the cost loop, [XC, XM, PZ] (XC the coalition's
    summed xc, XM and PZ the outsiders' summed mu xc/delta and mu z/delta). ``scalars`` holds
    the nine scalar sums (s_in, k_in, d_in, nash_in, s_out, h_out, k_out, d_out, nash_out),
    then the five products over t that the costs need, XC.XC, XC.XM, XM.XM, PZ.XC, PZ.XM,
    then XC.a_c, XM.a_c, PZ.a_c. Sums of two disjoint parts add, but for the five products,
    which gain the cross terms (:func:`gram_group_costs`).
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

    scalars: Float[Array, "J 17"]
    basis: Float[Array, "K V"]
    members: Float[Array, "K J"]
    codes: Int[Array, " J"]
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


def gram_group_costs(tables: CoalitionTables, table: GramTable, hs: Float[Array, "G W"]):
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
