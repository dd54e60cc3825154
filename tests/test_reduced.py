"""The O(T)-per-coalition group costs of ``evjax.charging.reduced`` against dense solves.

Games of one shape are batched (``vmap``) so that each shape compiles once; every game is
compared with dense C-Nash and Nash solves, coalition by coalition.
"""

import functools

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import evjax  # noqa: E402
import helpers  # noqa: E402
from evjax.charging import reduced  # noqa: E402
from evjax.charging.ratios import ratios_from_costs  # noqa: E402
from evjax.sweeps import folds  # noqa: E402

RTOL = 1e-10
GAMES_PER_SHAPE = 6


def random_game(rng, n, t, *, wide=True):
    """A game with constant b (``helpers.constant_b_arrays``)."""
    return evjax.ChargingGame(*helpers.constant_b_arrays(rng, n, t, wide=wide))


@functools.lru_cache(maxsize=None)
def games(n, t):
    """GAMES_PER_SHAPE games of shape (n, t), stacked along a leading axis (half wide)."""
    rng = np.random.default_rng(1000 * n + t)
    gs = [random_game(rng, n, t, wide=k % 2 == 0) for k in range(GAMES_PER_SHAPE)]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *gs)


def unstack(batch, k):
    return jax.tree.map(lambda x: x[k], batch)


@jax.jit
def dense_reference(batch, masks):
    """Per game and mask: C-Nash costs (3,), Nash costs (3,), ratios (3,), by dense solves."""

    def per_game(game):
        x_nash = evjax.equilibrium(game, (), method="dense")

        def one(m):
            x = evjax.equilibrium(game, m[None, :], method="dense")
            cn = jnp.stack(evjax.group_costs(game, x, m))
            na = jnp.stack(evjax.group_costs(game, x_nash, m))
            return cn, na, jnp.stack(evjax.cost_ratios(game, m, method="dense"))

        return jax.vmap(one)(masks)

    return jax.vmap(per_game)(batch)


@jax.jit
def gemm_costs(batch, masks):
    return jax.vmap(lambda g: reduced.coalition_costs(reduced.coalition_tables(g), masks))(batch)


@functools.partial(jax.jit, static_argnums=(2, 3))
def table_costs(batch, bits, low_bits, build=reduced.subset_table):
    """Costs of the bitmasks ``bits`` (whole chunks, in order) through the subset table
    (or, with ``build=reduced.gram_table``, its Gram form)."""

    def per_game(game):
        tables = reduced.coalition_tables(game)
        table = build(tables, low_bits)
        highs = bits[:: 2**low_bits] >> low_bits
        cn, na = jax.vmap(lambda h: reduced.chunk_costs(tables, table, h))(highs)
        return cn.reshape(-1, 3), na.reshape(-1, 3)

    return jax.vmap(per_game)(batch)


def padded(fn, batch, masks):
    """fn(batch, masks) with the masks padded to a multiple of 256 rows (fewer compiles)."""
    k = masks.shape[0]
    pad = np.repeat(masks[:1], -k % 256, axis=0)
    return [np.asarray(v)[:, :k] for v in fn(batch, np.concatenate([masks, pad]))]


def check(batch, masks, cnash, nash):
    """Costs within RTOL of the all-stations cost, ratios within RTOL, of dense solves."""
    ref_cn, ref_na, ref_ratio = padded(dense_reference, batch, masks)
    cnash, nash = np.asarray(cnash), np.asarray(nash)
    bound = np.broadcast_to(RTOL * np.abs(ref_cn[..., :1]), ref_cn.shape)
    np.testing.assert_array_less(np.abs(cnash - ref_cn), bound)
    np.testing.assert_array_less(np.abs(nash - ref_na), bound)
    empty = cnash == 0  # what ratios_from_costs maps to its fill
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(empty, np.nan, nash / cnash)
    grand = np.broadcast_to(np.asarray(masks).sum(axis=1) == masks.shape[1], ratio.shape[:2])
    assert np.isnan(ratio[grand][:, 2]).all() and np.isnan(ref_ratio[grand][:, 2]).all()
    ok = ~np.isnan(ref_ratio)
    np.testing.assert_allclose(ratio[ok], ref_ratio[ok], rtol=RTOL, atol=0)


def assert_same_costs(got, want, rtol=1e-12):
    """Two ways of summing agree to rtol of each row's largest group cost."""
    scale = np.abs(np.asarray(want[0])).max(axis=-1, keepdims=True)
    for g, w in zip(got, want):
        assert (np.abs(np.asarray(g) - np.asarray(w)) <= rtol * scale).all()


def bits_to_masks(bits, n):
    return ((np.asarray(bits, np.int64)[:, None] >> np.arange(n)) & 1).astype(float)


@pytest.mark.parametrize("n, t", [(4, 24), (11, 9), (3, 70)])  # T > 64: a fori_loop over t
def test_every_coalition_gemm(n, t):
    batch, bits = games(n, t), np.arange(1, 2**n)
    masks = bits_to_masks(bits, n)
    check(batch, masks, *padded(gemm_costs, batch, masks))


@pytest.mark.parametrize("n, t, low_bits", [(1, 1, 0), (4, 24, 4), (11, 9, 5)])
def test_every_coalition_subset_table(n, t, low_bits):
    batch, bits = games(n, t), np.arange(1, 2**n)
    masks = bits_to_masks(bits, n)
    cnash, nash = table_costs(batch, jnp.arange(2**n), low_bits)
    cnash, nash = cnash[:, 1:], nash[:, 1:]  # drop the empty coalition
    check(batch, masks, cnash, nash)
    assert_same_costs((cnash, nash), padded(gemm_costs, batch, masks))
    # The Gram form (the GPU's cost stage): the same costs, the empty coalition included.
    gram = table_costs(batch, jnp.arange(2**n), low_bits, reduced.gram_table)
    check(batch, masks, gram[0][:, 1:], gram[1][:, 1:])
    full = table_costs(batch, jnp.arange(2**n), low_bits)
    assert_same_costs(gram, full)
    assert (np.asarray(gram[0])[:, 0, 1] == 0).all()  # the empty coalition costs exactly 0
    assert (np.asarray(gram[0])[:, -1, 2] == 0).all()  # the grand coalition has no outsiders


@pytest.mark.parametrize("n, t", [(30, 24)])
def test_random_coalitions_large_games(n, t):
    rng = np.random.default_rng(n + t)
    masks = (rng.random((250, n)) < rng.random((250, 1))).astype(float)
    masks[0] = 1.0  # the grand coalition
    masks[1:4] = 0.0
    masks[1, 0] = masks[2, n - 1] = 1.0  # singletons
    masks[3, : n - 1] = 1.0  # everyone but one
    masks = masks[masks.sum(axis=1) > 0]
    batch = games(n, t)
    check(batch, masks, *padded(gemm_costs, batch, masks))
    # the subset table on a whole chunk, the last (it ends with the grand coalition),
    # against the GEMM form and, for some rows, dense solves
    low_bits = 8
    bits = ((2 ** (n - low_bits) - 1) << low_bits) + np.arange(2**low_bits)
    cnash, nash = table_costs(batch, jnp.asarray(bits), low_bits)
    chunk_masks = bits_to_masks(bits, n)
    assert_same_costs((cnash, nash), padded(gemm_costs, batch, chunk_masks))
    pick = np.concatenate([[2**low_bits - 1], rng.choice(bits.size - 1, 40, replace=False)])
    check(batch, chunk_masks[pick], cnash[:, pick], nash[:, pick])
    gram = table_costs(batch, jnp.asarray(bits), low_bits, reduced.gram_table)
    assert_same_costs(gram, (cnash, nash))
    check(batch, chunk_masks[pick], gram[0][:, pick], gram[1][:, pick])


def test_matches_structured_public_path():
    n, t = 11, 9
    game = unstack(games(n, t), 0)
    tables = reduced.coalition_tables(game)
    masks = bits_to_masks(np.arange(1, 2**n, 37), n)
    cnash, nash = (np.asarray(v) for v in reduced.coalition_costs(tables, masks))
    x_nash = evjax.equilibrium(game, ())
    for m, cn, na in zip(masks[::4], cnash[::4], nash[::4]):
        members = [int(i) for i in np.flatnonzero(m)]
        ref_cn = np.array(evjax.group_costs(game, evjax.equilibrium(game, [members]), m))
        ref_na = np.array(evjax.group_costs(game, x_nash, m))
        np.testing.assert_allclose(cn, ref_cn, rtol=0, atol=RTOL * abs(ref_cn[0]))
        np.testing.assert_allclose(na, ref_na, rtol=0, atol=RTOL * abs(ref_cn[0]))


def popcount(x):
    return np.array([bin(int(v)).count("1") for v in np.ravel(x)]).reshape(np.shape(x))


def reducer(n):
    """Counts of ratio > 1 per group and per-size sums of the coalition costs."""

    def reduce(carry, bits, cnash, nash):
        size = jax.lax.population_count(bits).reshape(-1)
        ratio = ratios_from_costs(cnash, nash, fill=0.0).reshape(3, -1)
        count, per_size = carry
        count = count + jnp.sum(ratio > 1.0 + 1e-9, axis=1)
        per_size = per_size + jax.ops.segment_sum(cnash[1].reshape(-1), size, num_segments=n + 1)
        return count, per_size

    return reduce, (jnp.zeros(3, jnp.int64), jnp.zeros(n + 1))


def expected_reduction(tables, bits, n):
    masks = bits_to_masks(bits, n)
    cnash, nash = reduced.coalition_costs(tables, masks)
    ratio = np.asarray(ratios_from_costs(cnash, nash, fill=0.0))
    per_size = np.bincount(masks.sum(axis=1).astype(int), np.asarray(cnash)[:, 1], n + 1)
    return (ratio > 1.0 + 1e-9).sum(axis=0), per_size


def test_fold_chunks_reduces_like_the_full_table():
    n, t, low_bits = 11, 9, 4
    tables = reduced.coalition_tables(unstack(games(n, t), 1))
    order = np.argsort(popcount(np.arange(2**low_bits)), kind="stable")  # sizes contiguous
    for table in (reduced.subset_table(tables, low_bits),
                  reduced.subset_table(tables, low_bits, order=order)):
        assert table.sums.shape == (2**low_bits // 8, tables.width, 8)
        seen = []

        def reduce(carry, bits, cnash, nash, inner=reducer(n)[0]):
            seen.append(bits.shape)
            return inner(carry, bits, cnash, nash)

        highs = jnp.arange(2 ** (n - low_bits))
        count, per_size = folds.fold_chunks(tables, table, highs, reduce, reducer(n)[1])
        assert seen == [(8, 2**low_bits)]  # traced once, one group of 8 chunks per step
        want_count, want_per_size = expected_reduction(tables, np.arange(2**n), n)
        np.testing.assert_array_equal(count, want_count)
        np.testing.assert_allclose(per_size, want_per_size, rtol=1e-12)
    bits = np.asarray(reduced.chunk_bits(table, jnp.array([3])))[0]
    np.testing.assert_array_equal(bits, (3 << low_bits) + order)
    cn, _ = reduced.chunk_costs(tables, table, 3)
    np.testing.assert_allclose(cn, reduced.coalition_costs(tables, bits_to_masks(bits, n))[0],
                               rtol=1e-12)
    with pytest.raises(ValueError, match="multiple of group = 8"):
        folds.fold_chunks(tables, table, jnp.arange(12), *reducer(n))


def test_fold_bitmasks_and_offsets():
    n, t = 11, 9
    tables = reduced.coalition_tables(unstack(games(n, t), 2))
    rng = np.random.default_rng(0)
    bits = rng.integers(1, 2**n, (6, 50))
    count, per_size = folds.fold_bitmasks(tables, bits, *reducer(n), group=2)
    want_count, want_per_size = expected_reduction(tables, bits.reshape(-1), n)
    np.testing.assert_array_equal(count, want_count)
    np.testing.assert_allclose(per_size, want_per_size, rtol=1e-12)
    # stations 9, 10 always in: an offset on a table of the first 9 stations' subsets
    o = tables.width_in
    offset = jnp.concatenate([tables.features[9:, :o].sum(0), jnp.zeros(tables.width - o)])
    table = reduced.subset_table(tables, 9, offset=offset)
    low_only = reduced.CoalitionTables(
        features=tables.features[:9], a_centered=tables.a_centered, b=tables.b,
        base_price=tables.base_price, nash_total=tables.nash_total, n_stations=9, n_steps=t)
    cn, na = reduced.chunk_costs(low_only, table, 0)
    want = reduced.coalition_costs(tables, bits_to_masks(np.arange(2**9) | (3 << 9), n))
    np.testing.assert_allclose(cn, want[0], rtol=1e-12)
    np.testing.assert_allclose(na, want[1], rtol=1e-12)


def test_empty_and_grand_coalitions():
    n, t = 4, 3
    tables = reduced.coalition_tables(unstack(games(n, t), 0))
    cnash, nash = reduced.coalition_costs(tables, np.array([[0.0] * n, [1.0] * n]))
    cnash, nash = np.asarray(cnash), np.asarray(nash)
    assert np.isfinite(cnash).all() and np.isfinite(nash).all()
    assert cnash[0, 1] == nash[0, 1] == 0.0  # the empty coalition has no members
    assert cnash[1, 2] == nash[1, 2] == 0.0  # the grand coalition has no outsiders
    np.testing.assert_allclose(cnash[0], nash[0], rtol=1e-13)  # mask 0 is plain Nash
    ratio = np.asarray(ratios_from_costs(cnash, nash, fill=-1.0))
    assert ratio[0, 1] == ratio[1, 2] == -1.0
    c0, n0 = reduced.chunk_costs(tables, reduced.subset_table(tables, n), 0)
    np.testing.assert_allclose(c0[0], cnash[0], rtol=1e-13)
    assert c0[0, 1] == n0[0, 1] == 0.0 and c0[-1, 2] == n0[-1, 2] == 0.0


def test_costs_from_sums_is_the_gemm_stage():
    n, t = 4, 3
    tables = reduced.coalition_tables(unstack(games(n, t), 2))
    masks = bits_to_masks(np.arange(2**n), n)
    np.testing.assert_array_equal(reduced.bit_masks(jnp.arange(2**n), n), masks)
    sums = reduced.group_sums(tables, masks)
    assert sums.shape == (2**n, 3 * t + 9) == (2**n, tables.width)
    direct = reduced.costs_from_sums(tables, sums)
    np.testing.assert_allclose(direct[0], reduced.coalition_costs(tables, masks)[0], rtol=1e-14)
    # the columns-first forms the sweep engine uses
    low = reduced.subset_sums(tables, n)
    assert low.shape == (tables.width, 2**n)
    np.testing.assert_allclose(low.T, sums, rtol=1e-14)
    columns = reduced.tables._costs_columns(tables, low)
    np.testing.assert_allclose(columns[0].T, direct[0], rtol=1e-14)
    np.testing.assert_allclose(columns[1].T, direct[1], rtol=1e-14)


def test_time_varying_b_is_rejected():
    rng = np.random.default_rng(0)
    game = evjax.ChargingGame(
        np.ones(3), rng.uniform(0.5, 1.0, 3), np.ones(2), np.ones(2), np.ones((2, 3))
    )
    with pytest.raises(ValueError, match="scalar b"):
        reduced.coalition_tables(game)


def test_shape_errors_name_the_shape():
    tables = reduced.coalition_tables(unstack(games(4, 3), 0))
    with pytest.raises(ValueError, match=r"masks must have shape \(B, 4\)"):
        reduced.coalition_costs(tables, np.ones((2, 5)))
    with pytest.raises(ValueError, match=rf"sums must have shape \(B, {tables.width}\)"):
        reduced.costs_from_sums(tables, jnp.ones((2, 5)))
    with pytest.raises(ValueError, match="low_bits"):
        reduced.subset_sums(tables, 5)
    with pytest.raises(ValueError, match="low_bits"):
        reduced.subset_table(tables, -1)
    with pytest.raises(ValueError, match=r"order must have shape \(16,\)"):
        reduced.subset_table(tables, 4, order=np.arange(8))
