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

Ways of forming the sums, one module each (the folds over many coalitions that drive
sweeps, ``fold_bitmasks`` and ``fold_chunks``, live in :mod:`evjax.sweeps.folds`):

* ``tables``: :class:`CoalitionTables`, :func:`group_sums` / :func:`coalition_costs`: masks
  (B, N) times the feature table (a GEMM, O(N W) per coalition), for arbitrary coalitions.
* ``subsets`` and ``chunks``: :func:`subset_table` + :func:`chunk_costs`: for the 2^L
  coalitions ``(high << L) | j`` of a chunk the sums are (sums of the high stations) +
  (column j of a table of all 2^L subsets of the L low stations), O(W) per coalition: for
  enumerations.
* ``gram``: :func:`gram_table` in place of :func:`subset_table` (the sweeps' default): every
  sum over t in the cost loop is a combination of five products of the T-vectors XC, XM, PZ
  and their products with a_c. The products of (low subset + chunk) are the two parts' own
  products plus cross terms; the low part's vectors are affine in its memberships, so the
  cross terms of a group of chunks with all 2^L subsets are O(G L T) coefficients and one
  matrix product (5 G, 2L + 1) x (2L + 1, 2^L), then O(1) work per coalition.

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

from .chunks import chunk_bits, chunk_costs
from .gram import GRAM_SCALARS, GramTable, gram_parts, gram_table
from .subsets import LANES, SubsetTable, high_sums, subset_sums, subset_table
from .tables import (
    CoalitionTables,
    bit_masks,
    coalition_costs,
    coalition_tables,
    costs_from_sums,
    group_sums,
)

__all__ = [
    "GRAM_SCALARS", "LANES", "CoalitionTables", "GramTable", "SubsetTable", "bit_masks",
    "chunk_bits", "chunk_costs", "coalition_costs", "coalition_tables", "costs_from_sums",
    "gram_parts", "gram_table", "group_sums", "high_sums", "subset_sums",
    "subset_table",
]
