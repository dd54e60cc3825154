"""Coalition structures as set partitions (paper 000, Remark 4.4): enumeration and O(N^2) costs.

A partition of the stations into blocks B_1..B_K is the structure whose coalitions are the
blocks of size >= 2 (a singleton block acts alone). Partitions are enumerated as
*restricted-growth strings*: labels l of shape (N,) with l_0 = 0 and l_i <= 1 + max(l_0..l_{i-1});
block k holds the stations labelled k, so blocks come ordered by their smallest member.

Cost of one structure in O(N^2) work, independent of T (constant b). Every station is in one
block, and a singleton block {i} contributes b e_i e_i' to Q exactly as acting alone does, so

    Q = diag(mu) + b 1 1' + b sum_k m_k m_k'        (Remark 4.4, all blocks as rank-one terms).

Sherman-Morrison per block, then once more for b 1 1', gives the deviation y = x - d/T of
Theorem 4.1 (w = v - mean_t v, v^t = mu * xbar^t - a^t 1): for station i in block k,

    y_i = (w_i - G_k) / mu_i,   G_k = b phi_k + rho_k gamma,   gamma = b c Phi,
    s_k = sum_{i in k} 1/mu_i,  rho_k = 1/(1 + b s_k),  sigma_k = s_k rho_k,
    A_k = sum_{i in k} w_i/mu_i,   phi_k = rho_k A_k,   Phi = sum_k phi_k,
    c = 1/(1 + b sum_k sigma_k),

and the total deviation is Y = c Phi. Substituting into eq (1) summed over block k (with
q_i = d_i/T - xbar_i + w_i/mu_i, P_k = sum_{i in k} q_i, a_c = a - mean_t a):

    c_k = const_k + b c <Phi, M_k> + (b c)^2 |Phi|^2 (s_k rho_k^2 / 2 - sigma_k),
    const_k = d_k (mean a + b D/T) + rho_k <a_c, A_k> + sum_{i in k} mu_i/2 |q_i|^2
              - b rho_k <A_k, P_k> + b^2 s_k rho_k^2 / 2 |A_k|^2,
    <Phi, M_k> = -sigma_k <Phi, a_c> - rho_k <Phi, P_k> + rho_k (1 + b s_k rho_k) <Phi, A_k>.

``const_k``, rho_k, sigma_k and the two coefficients depend on the block's members only: one
table row per subset of the stations (2^N rows). The cross terms need Phi only through the
station Gram matrices <w_i/mu_i, w_j/mu_j> and <w_i/mu_i, q_j> (N x N each): with r_i = rho of
i's block, <Phi, A_k> and <Phi, P_k> are block sums of r @ Gram. So per structure: one gather of
K table rows and an (N,) x (N, 2N) product. Constant b only (time-varying b raises). Against
dense N x N solves the costs agree to ~1e-15 relative, also for mu and b across four decades.

The sweep over all Bell(N) structures that uses these is :func:`evjax.sweeps.partitions`.
"""

from __future__ import annotations

from collections.abc import Iterator

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._validation import concrete, float_dtype, short
from .closed_form import equilibrium
from .game import ChargingGame
from .metrics import station_costs

MAX_STATIONS = 12  # Bell(12) = 4,213,597 structures
_SUFFIX = 6  # stations appended per prefix when enumerating (at most 163,967 strings each)


def bell_number(n: int) -> int:
    """Bell(n), the number of set partitions of n elements (Bell(12) = 4,213,597)."""
    row = [1]
    for _ in range(n):
        nxt = [row[-1]]
        for value in row:
            nxt.append(nxt[-1] + value)
        row = nxt
    return row[0]


def _extend(labels: np.ndarray, n_blocks: np.ndarray, steps: int):
    """Append ``steps`` positions to every string, children in increasing label order."""
    for _ in range(steps):
        counts = n_blocks + 1
        parent = np.repeat(np.arange(labels.shape[0]), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        new = (np.arange(parent.size) - starts).astype(np.int8)
        labels = np.concatenate([labels[parent], new[:, None]], axis=1)
        n_blocks = np.maximum(n_blocks[parent], new + 1)
    return labels, n_blocks


def restricted_growth_strings(n: int, chunk: int = 1 << 16) -> Iterator[np.ndarray]:
    """All Bell(n) set partitions of {0..n-1} as int8 label arrays, in chunks of ``chunk`` rows.

    Yields arrays of shape (chunk, n) (the last one may be shorter) in lexicographic order;
    row l has l[0] = 0 and l[i] <= 1 + max(l[:i]). Vectorised numpy; memory O(chunk + 163,967 n).
    """
    if n < 1 or chunk < 1:
        raise ValueError(f"need n >= 1 and chunk >= 1, got n = {n}, chunk = {chunk}")
    suffix = min(n - 1, _SUFFIX)
    start = (np.zeros((1, 1), np.int8), np.ones(1, np.int8))
    prefixes, prefix_blocks = _extend(*start, n - 1 - suffix)
    buffer: list[np.ndarray] = []
    held = 0
    for p in range(prefixes.shape[0]):
        rows, _ = _extend(prefixes[p : p + 1], prefix_blocks[p : p + 1], suffix)
        buffer.append(rows)
        held += rows.shape[0]
        if held >= chunk:
            joined = np.concatenate(buffer)
            full = (held // chunk) * chunk
            yield from np.split(joined[:full], held // chunk)
            buffer, held = [joined[full:]], held - full
    if held:
        yield np.concatenate(buffer)


def blocks_of(labels) -> list[list[int]]:
    """The blocks of one label array (N,), ordered by smallest member."""
    labels = np.asarray(labels)
    return [np.flatnonzero(labels == k).tolist() for k in range(int(labels.max()) + 1)]


class PartitionTables(eqx.Module):
    """Per-game precomputation for :func:`structure_costs`: O(2^N N^2 + N^2 T), on the host.

    ``subsets`` (2^N, 6): per subset S (bit i of the row index <=> station i in S) the columns
    rho_S, sigma_S, const_S, rho_S (1 + b s_S rho_S), s_S rho_S^2 / 2 - sigma_S and the Nash cost
    of S (see the module docstring). ``gram`` (N, 2N) is [<w_i/mu_i, w_j/mu_j> | <w_i/mu_i, q_j>],
    ``g_a`` (N,) is <w_i/mu_i, a_c>, ``nash_total`` the Nash cost of all stations.
    """

    subsets: Float[Array, "S 6"]
    gram: Float[Array, "N N2"]
    g_a: Float[Array, " N"]
    b: Float[Array, ""]
    nash_total: Float[Array, ""]
    n_stations: int = eqx.field(static=True)


def partition_tables(game: ChargingGame) -> PartitionTables:
    """The :class:`PartitionTables` of one game with scalar b and N <= 12 (``ValueError`` else)."""
    if game.a.ndim != 1:
        raise ValueError(f"partitions takes one game, not a batch; a has shape {game.a.shape}")
    n = game.n_stations
    if n > MAX_STATIONS:
        raise ValueError(
            f"partitions enumerates all Bell({n}) = {bell_number(n):,} coalition structures; "
            f"N = {n} > {MAX_STATIONS} is too many. Restrict the game to at most "
            f"{MAX_STATIONS} stations (e.g. fix some stations' roles and enumerate the rest), "
            "or sweep single coalitions instead."
        )
    if not game.constant_b:
        raise ValueError(
            f"partitions needs a scalar b (constant price slope); got b of shape "
            f"{tuple(game.b.shape)}. For time-varying b use evjax.equilibrium per structure."
        )
    # Each station's Nash cost (Corollary 4.5) from the one closed form of the equilibrium.
    nash = np.asarray(station_costs(game, equilibrium(game, ())), np.float64)
    arrays = (game.a, game.b, game.mu, game.d, game.xbar)
    return _host_tables(*(np.asarray(v, np.float64) for v in arrays), nash)


def _host_tables(a, b, mu, d, xbar, nash) -> PartitionTables:
    """The tables in float64 numpy: O(2^N N^2 + N^2 T), no compilation per game shape.

    numpy on the host, not a compiled call: the 2^N subset rows are a few small products,
    which would otherwise cost a compilation per game shape. ``nash`` (N,) holds each
    station's Nash cost.
    """
    n, t = xbar.shape
    v = mu[:, None] * xbar - a[None, :]
    w = v - v.mean(axis=1, keepdims=True)

    wm = w / mu[:, None]
    q = d[:, None] / t - xbar + wm
    a_c = a - a.mean()
    base_price = a.mean() + b * d.sum() / t
    g_aa, g_ap, g_a = wm @ wm.T, wm @ q.T, wm @ a_c
    masks = ((np.arange(1 << n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    station = np.stack([1.0 / mu, 0.5 * mu * (q * q).sum(axis=1), d, nash, g_a], axis=1)
    s, k_q, d_s, nash_s, a_a = (masks @ station).T
    aa = ((masks @ g_aa) * masks).sum(axis=1)
    ap = ((masks @ g_ap) * masks).sum(axis=1)
    rho = 1.0 / (1.0 + b * s)
    sigma = s * rho
    const = d_s * base_price + rho * a_a + k_q - b * rho * ap + 0.5 * b * b * s * rho * rho * aa
    subsets = np.stack(
        [rho, sigma, const, rho * (1.0 + b * s * rho), 0.5 * s * rho * rho - sigma, nash_s], axis=1
    )
    dtype = float_dtype()
    return PartitionTables(
        subsets=jnp.asarray(subsets, dtype),
        gram=jnp.asarray(np.concatenate([g_aa, g_ap], axis=1), dtype),
        g_a=jnp.asarray(g_a, dtype),
        b=jnp.asarray(b, dtype),
        nash_total=jnp.asarray(nash.sum(), dtype),
        n_stations=n,
    )


def row_sum(x):
    """Sum over the last axis as a matrix-vector product (XLA:CPU fuses row reductions slowly)."""
    return x @ jnp.ones((x.shape[-1],), x.dtype)


def block_costs(tables: PartitionTables, labels):
    """(C-Nash cost, Nash cost, member bitmask) of every block, each (B, N); column k: label k.

    ``labels`` (B, N) integer arrays in [0, N), trusted (traced inside a sweep's fold);
    :func:`structure_costs` is the checked entry point.
    """
    n, b = tables.n_stations, tables.b
    rows = labels.shape[0]
    labels = labels.astype(jnp.int32)
    flat = (labels + n * jnp.arange(rows)[:, None]).reshape(-1)  # segment (structure, label)

    def block_sum(x):  # x (B, N) per station -> (B, N) per block
        return jax.ops.segment_sum(x.reshape(-1), flat, num_segments=rows * n).reshape(rows, n)

    bits = block_sum(jnp.broadcast_to(1 << jnp.arange(n, dtype=jnp.int32), (rows, n)))
    rho, sigma, const, coef_a, coef_q, nash = (col[bits] for col in tables.subsets.T)
    r = jnp.take_along_axis(rho, labels, axis=1)  # rho of each station's block
    z = r @ tables.gram  # <Phi, w_j/mu_j>, <Phi, q_j> up to the block weights: (B, 2N)
    z_a, z_p = z[:, :n], z[:, n:]
    phi_phi = row_sum(r * z_a)[:, None]
    phi_a = (r @ tables.g_a)[:, None]
    bc = b / (1.0 + b * row_sum(sigma)[:, None])
    cost = (
        const
        + bc * (coef_a * block_sum(z_a) - rho * block_sum(z_p) - sigma * phi_a)
        + (bc * bc * phi_phi) * coef_q
    )
    return cost, nash, bits


def structure_costs(
    tables: PartitionTables, labels: Int[ArrayLike, "B N"]
) -> tuple[Float[Array, "B N"], Float[Array, "B N"]]:
    """(C-Nash, Nash) cost of every block of B structures given as label arrays (B, N).

    Station i of structure s is in block ``labels[s, i]``, any integer in [0, N) (restricted-growth
    strings are one canonical choice). Entry (s, k) is the cost c_{B_k} (eq (5)) of block k at
    that structure's equilibrium (Theorem 4.1 with Remark 4.4's C) and at Nash; exactly 0 for
    labels no station carries. O(N^2) work per structure, independent of T.
    """
    labels = jnp.asarray(labels)
    n = tables.n_stations
    if labels.ndim != 2 or labels.shape[1] != n or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"labels must be integers of shape (B, {n}), got {labels.dtype}"
                         f"{list(labels.shape)}")
    known = concrete(labels)
    if known is not None and known.size and (known.min() < 0 or known.max() >= n):
        raise ValueError(f"labels must lie in [0, {n}), got {short(known)}")
    return _structure_costs(tables, labels)


@eqx.filter_jit
def _structure_costs(tables, labels):
    cost, nash, _ = block_costs(tables, labels)
    return cost, nash
