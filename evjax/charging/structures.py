"""Every coalition structure of a small game: all Bell(N) set partitions (paper 000, Remark 4.4).

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
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._validation import concrete, float_dtype, short
from .game import ChargingGame

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
    arrays = (game.a, game.b, game.mu, game.d, game.xbar)
    return _host_tables(*(np.asarray(v, np.float64) for v in arrays))


def _host_tables(a, b, mu, d, xbar) -> PartitionTables:
    """The tables in float64 numpy: O(2^N N^2 + N^2 T), no compilation per game shape."""
    n, t = xbar.shape
    v = mu[:, None] * xbar - a[None, :]
    w = v - v.mean(axis=1, keepdims=True)
    # Nash (Corollary 4.5): Q = diag(mu + b) + b 1 1', one Sherman-Morrison step
    alone = mu + b
    gamma = b * (w / alone[:, None]).sum(axis=0) / (1.0 + b * (1.0 / alone).sum())
    x = d[:, None] / t + (w - gamma[None, :]) / alone[:, None]
    price = a + b * x.sum(axis=0)
    nash = (price[None, :] * x).sum(axis=1) + 0.5 * mu * ((x - xbar) ** 2).sum(axis=1)

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


def _row_sum(x):
    """Sum over the last axis as a matrix-vector product (XLA:CPU fuses row reductions slowly)."""
    return x @ jnp.ones((x.shape[-1],), x.dtype)


def _block_costs(tables: PartitionTables, labels):
    """(C-Nash cost, Nash cost, member bitmask) of every block, each (B, N); column k: label k."""
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
    phi_phi = _row_sum(r * z_a)[:, None]
    phi_a = (r @ tables.g_a)[:, None]
    bc = b / (1.0 + b * _row_sum(sigma)[:, None])
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
    cost, nash, _ = _block_costs(tables, labels)
    return cost, nash


def _top_k(keys, k: int, group: int = 256):
    """``jax.lax.top_k`` of a long vector in two stages (faster on CPU); ties: lower index first."""
    size = keys.shape[0]
    if size % group or size < 4 * group or k > group:
        return jax.lax.top_k(keys, k)
    values, inner = jax.lax.top_k(keys.reshape(-1, group), k)  # per group of consecutive keys
    values, pick = jax.lax.top_k(values.reshape(-1), k)
    return values, (inner + group * jnp.arange(size // group)[:, None]).reshape(-1)[pick]


def _merge_top(carry, keys, index, labels, k: int):
    """The k largest keys of the carry and a chunk, with their indices and label arrays."""

    def merge(carry):
        values, pick = _top_k(keys, k)
        joined = jnp.concatenate([carry[0], values])  # the carry first: earlier wins ties
        values, best = jax.lax.top_k(joined, k)
        return (
            values,
            jnp.concatenate([carry[1], index[pick]])[best],
            jnp.concatenate([carry[2], labels[pick]])[best],
        )

    # most chunks cannot enter the list: skip the selection (carry[0] is sorted, descending)
    return jax.lax.cond(jnp.max(keys) > carry[0][-1], merge, lambda c: c, carry)


@eqx.filter_jit
def _fold_chunk(tables, labels, start, n_valid, tol, carry, k: int):
    """Reduce one chunk of label arrays (B, N) into the running counts and top-k lists."""
    cost, nash, bits = _block_costs(tables, labels)
    rows = jnp.arange(labels.shape[0], dtype=jnp.int32)
    valid = rows < n_valid
    nonempty, coalition = bits > 0, (bits & (bits - 1)) > 0  # >= 1 and >= 2 members
    ratio = jnp.where(nonempty, nash / jnp.where(nonempty, cost, 1.0), jnp.nan)
    losing = ~(ratio > 1.0 + tol)  # NaN (a zero cost) counts as not gaining
    total = _row_sum(cost)
    is_nash = labels[:, -1] == tables.n_stations - 1  # N blocks: every station alone
    worst = jnp.min(jnp.where(nonempty, ratio, jnp.inf), axis=1)
    n_coalitions = _row_sum(coalition.astype(cost.dtype))
    coalitions_gain = (n_coalitions > 0) & (_row_sum((coalition & losing).astype(cost.dtype)) == 0)
    players_gain = ~is_nash & (_row_sum((nonempty & losing).astype(cost.dtype)) == 0)
    counts = carry["counts"] + jnp.stack(
        [jnp.sum(coalitions_gain & valid), jnp.sum(players_gain & valid)]
    ).astype(carry["counts"].dtype)
    index = start + rows
    by_total = _merge_top(carry["by_total"], jnp.where(valid, -total, -jnp.inf), index, labels, k)
    by_worst = _merge_top(
        carry["by_worst"], jnp.where(valid & ~is_nash, worst, -jnp.inf), index, labels, k
    )
    return {"counts": counts, "by_total": by_total, "by_worst": by_worst}, (total, ratio)


@dataclass(frozen=True)
class Structure:
    """One coalition structure: its blocks (every station in one), costs and ratios.

    ``blocks`` are ordered by smallest member; blocks of size >= 2 are the coalitions, singletons
    act alone. ``total`` is c_[N] at the structure's equilibrium, ``ratio`` M_[N] = Nash total /
    ``total``, ``block_ratios[k]`` = M_{B_k} = c_{B_k}(x*) / c_{B_k}(x^dagger) (Eval-Metric).
    """

    blocks: tuple[tuple[int, ...], ...]
    total: float
    ratio: float
    block_ratios: tuple[float, ...]

    @property
    def coalitions(self) -> tuple[tuple[int, ...], ...]:
        return tuple(blk for blk in self.blocks if len(blk) >= 2)

    @property
    def worst_ratio(self) -> float:
        """min_k M_{B_k}: above 1 when every player (coalition or single station) gains."""
        return min(self.block_ratios)

    def to_dict(self) -> dict:
        return {
            "blocks": [list(blk) for blk in self.blocks],
            "total": self.total,
            "ratio": self.ratio,
            "block_ratios": list(self.block_ratios),
            "worst_ratio": self.worst_ratio,
        }


@dataclass(frozen=True)
class PartitionSweep:
    """What :func:`partitions` found over all Bell(N) coalition structures.

    * ``n_structures``: structures evaluated (Bell(N)); ``nash_total``: c_[N](x*).
    * ``nash``, ``grand``: the all-singletons and grand-coalition structures, for reference.
    * ``best_total``: the ``top_k`` structures of lowest total cost c_[N] (highest M_[N]).
    * ``best_worst_ratio``: the ``top_k`` structures other than Nash with the highest worst
      block ratio min_k M_{B_k} (the structures whose worst-off player fares best).
    * ``n_coalitions_gain``: structures with at least one coalition in which every coalition
      (block of size >= 2) has M > 1 + tol; ``n_players_gain``: structures other than Nash in
      which every block, singletons included, has M > 1 + tol (everyone pays less than at Nash).
    * ``labels`` (S, N) int8, ``totals`` (S,), ``block_ratios`` (S, N) (NaN for labels no
      station carries): every structure, in enumeration order, only with ``tables=True``.

    Ties keep enumeration order (lexicographic in the label arrays).
    """

    n_stations: int
    n_structures: int
    nash_total: float
    nash: Structure
    grand: Structure
    best_total: tuple[Structure, ...]
    best_worst_ratio: tuple[Structure, ...]
    n_coalitions_gain: int
    n_players_gain: int
    tol: float
    labels: np.ndarray | None = None
    totals: np.ndarray | None = None
    block_ratios: np.ndarray | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict of the summary (the per-structure tables are left out)."""
        return {
            "n_stations": self.n_stations,
            "n_structures": self.n_structures,
            "nash_total": self.nash_total,
            "nash": self.nash.to_dict(),
            "grand": self.grand.to_dict(),
            "best_total": [s.to_dict() for s in self.best_total],
            "best_worst_ratio": [s.to_dict() for s in self.best_worst_ratio],
            "n_coalitions_gain": self.n_coalitions_gain,
            "n_players_gain": self.n_players_gain,
            "tol": self.tol,
        }


def _structures(labels: np.ndarray, totals, ratios, nash_total: float) -> list[Structure]:
    """:class:`Structure` records from label arrays (R, N), totals (R,), block ratios (R, N)."""
    out = []
    for row, total, ratio in zip(labels, np.asarray(totals), np.asarray(ratios)):
        out.append(
            Structure(
                blocks=tuple(tuple(blk) for blk in blocks_of(row)),
                total=float(total),
                ratio=nash_total / float(total),
                block_ratios=tuple(float(v) for v in ratio[: int(row.max()) + 1]),
            )
        )
    return out


def _chunks(labels_iter, chunk: int):
    """(padded labels (chunk, N), valid rows) per chunk; padding repeats the first row."""
    for labels in labels_iter:
        rows = labels.shape[0]
        if rows < chunk:  # the padded rows are masked out of every reduction
            labels = np.concatenate([labels, np.repeat(labels[:1], chunk - rows, axis=0)])
        yield labels, rows


def partitions(
    game: ChargingGame,
    *,
    top_k: int = 10,
    tol: float = 1e-9,
    chunk: int = 1 << 14,
    tables: bool = False,
) -> PartitionSweep:
    """Evaluate every coalition structure (set partition) of a game with N <= 12 stations.

    Each of the Bell(N) partitions is the structure whose coalitions are its blocks of size >= 2
    (Remark 4.4); its equilibrium is Theorem 4.1's with the block-diagonal C. Per structure:
    the total cost c_[N] (eq (5)), M_[N] and each block's ratio M_B (Eval-Metric), computed in
    O(N^2) work (module docstring) and reduced on the device chunk by chunk.

    Arguments:
        game: a single game with scalar b (time-varying b raises ``ValueError``).
        top_k: how many structures the two rankings keep (>= 1).
        tol: a group *gains* when its ratio M > 1 + tol (for the two counts).
        chunk: structures per compiled call (memory O(chunk N)).
        tables: also return every structure's labels, total and block ratios (for N = 12
            about 500 MB).

    Returns a :class:`PartitionSweep`. ``ValueError`` for N > 12 (Bell(13) = 27,644,437).
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    pt = partition_tables(game)
    n = pt.n_stations
    n_total = bell_number(n)
    chunk = min(chunk, n_total)
    k = min(top_k, n_total)
    dtype = pt.subsets.dtype

    def empty():
        return (jnp.full((k,), -jnp.inf, dtype), jnp.zeros((k,), jnp.int32),
                jnp.zeros((k, n), jnp.int8))

    def fold(carry, labels, start, rows):
        return _fold_chunk(
            pt, jnp.asarray(labels), jnp.int32(start), jnp.int32(rows), jnp.asarray(tol, dtype),
            carry, k,
        )

    init = {"counts": jnp.zeros(2, jnp.int32), "by_total": empty(), "by_worst": empty()}
    carry = init
    kept: list[tuple[np.ndarray, jax.Array, jax.Array]] = []
    start = 0
    for labels, rows in _chunks(restricted_growth_strings(n, chunk), chunk):
        carry, (total, ratio) = fold(carry, labels, start, rows)
        if tables:
            kept.append((labels[:rows], total[:rows], ratio[:rows]))
        start += rows
    if start != n_total:  # the enumeration is the contract; never report a partial sweep
        raise RuntimeError(f"enumerated {start} structures, expected Bell({n}) = {n_total}")

    # Nash, the grand coalition and both rankings, through the same compiled chunk function
    keys = [np.asarray(carry[name][0]) for name in ("by_total", "by_worst")]
    reported = np.concatenate(
        [np.stack([np.arange(n), np.zeros(n)]).astype(np.int8)]
        + [np.asarray(carry[name][2]) for name in ("by_total", "by_worst")]
    )
    pieces = [reported[i : i + chunk] for i in range(0, len(reported), chunk)]
    evaluated = [fold(init, labels, 0, rows)[1] for labels, rows in _chunks(pieces, chunk)]
    totals = np.concatenate([np.asarray(tot) for tot, _ in evaluated])[: len(reported)]
    ratios = np.concatenate([np.asarray(rat) for _, rat in evaluated])[: len(reported)]
    nash_total = float(pt.nash_total)
    nash, grand, *ranked = _structures(reported, totals, ratios, nash_total)
    by_total = [s for s, key in zip(ranked[:k], keys[0]) if np.isfinite(key)]
    by_worst = [s for s, key in zip(ranked[k:], keys[1]) if np.isfinite(key)]
    counts = np.asarray(carry["counts"])
    out = dict(
        n_stations=n,
        n_structures=start,
        nash_total=nash_total,
        nash=nash,
        grand=grand,
        best_total=tuple(by_total),
        best_worst_ratio=tuple(by_worst),
        n_coalitions_gain=int(counts[0]),
        n_players_gain=int(counts[1]),
        tol=float(tol),
    )
    if tables:
        out["labels"] = np.concatenate([lab for lab, _, _ in kept])
        out["totals"] = np.concatenate([np.asarray(tot) for _, tot, _ in kept])
        out["block_ratios"] = np.concatenate([np.asarray(rat) for _, _, rat in kept])
    return PartitionSweep(**out)
