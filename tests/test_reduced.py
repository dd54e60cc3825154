"""The O(T)-per-coalition group costs of ``evjax.charging.reduced`` against dense solves."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import evjax  # noqa: E402
from evjax.charging import reduced  # noqa: E402

RTOL = 1e-10


def random_game(rng, n, t, *, wide=True):
    """A game with constant b; ``wide`` spans several decades in mu, b and d."""
    if wide:
        mu = 10.0 ** rng.uniform(-2, 2, n)
        b = 10.0 ** rng.uniform(-2, 2)
        d = 10.0 ** rng.uniform(-1, 2, n)
    else:
        mu = rng.uniform(0.5, 2.0, n)
        b = rng.uniform(0.2, 2.0)
        d = rng.uniform(1.0, 5.0, n)
    a = rng.uniform(0.5, 3.0, t) * 10.0 ** rng.uniform(-1, 1)
    xbar = d[:, None] * rng.dirichlet(np.ones(t), n) * rng.uniform(0.5, 1.5, (n, 1))
    return evjax.ChargingGame(a, b, mu, d, xbar)


@jax.jit
def dense_reference(game, masks):
    """Per mask: (C-Nash costs (3,), Nash costs (3,), ratios (3,)), all by dense solves."""
    x_nash = evjax.equilibrium(game, (), method="dense")

    def one(m):
        x = evjax.equilibrium(game, m[None, :], method="dense")
        cn = jnp.stack(evjax.group_costs(game, x, m))
        na = jnp.stack(evjax.group_costs(game, x_nash, m))
        return cn, na, jnp.stack(evjax.cost_ratios(game, m, method="dense"))

    return jax.vmap(one)(masks)


def structured_reference(game, mask):
    """The same for one mask through the public structured path, as the brief names it."""
    members = [int(i) for i in np.flatnonzero(mask)]
    cn = evjax.group_costs(game, evjax.equilibrium(game, [members]), mask)
    na = evjax.group_costs(game, evjax.equilibrium(game, ()), mask)
    return np.array(cn), np.array(na)


def check_against_dense(game, masks, cnash, nash):
    ref_cn, ref_na, ref_ratio = (np.asarray(v) for v in dense_reference(game, jnp.asarray(masks)))
    # the all-stations cost sets the scale of every column
    bound = np.broadcast_to(RTOL * np.abs(ref_cn[:, :1]), ref_cn.shape)
    np.testing.assert_array_less(np.abs(np.asarray(cnash) - ref_cn), bound)
    np.testing.assert_array_less(np.abs(np.asarray(nash) - ref_na), bound)
    ratio = np.asarray(reduced.ratios_from_costs(cnash, nash))
    grand = np.asarray(masks).sum(axis=1) == game.n_stations
    assert np.isnan(ratio[grand, 2]).all() and np.isnan(ref_ratio[grand, 2]).all()
    ok = ~np.isnan(ref_ratio)
    np.testing.assert_allclose(ratio[ok], ref_ratio[ok], rtol=RTOL, atol=0)


def all_masks(n):
    return np.asarray(reduced.bit_masks(np.arange(1, 2**n), n))


@pytest.mark.parametrize("seed", range(12))
def test_all_coalitions_small_games(seed):
    rng = np.random.default_rng(seed)
    n, t = int(rng.integers(1, 11)), int(rng.integers(1, 25))
    game = random_game(rng, n, t, wide=seed % 3 != 0)
    tables = reduced.coalition_tables(game)
    masks = all_masks(n)
    cnash, nash = reduced.coalition_costs(tables, masks)
    check_against_dense(game, masks, cnash, nash)


@pytest.mark.parametrize("n", [12, 20, 30])
def test_random_coalitions_large_games(n):
    rng = np.random.default_rng(100 + n)
    game = random_game(rng, n, int(rng.integers(1, 25)))
    tables = reduced.coalition_tables(game)
    masks = (rng.random((300, n)) < rng.random((300, 1))).astype(float)
    masks[0] = 1.0  # the grand coalition
    masks[1:4] = 0.0
    masks[1, 0] = masks[2, n - 1] = 1.0  # singletons
    masks[3, : n - 1] = 1.0  # everyone but one
    masks = masks[masks.sum(axis=1) > 0]
    cnash, nash = reduced.coalition_costs(tables, masks)
    check_against_dense(game, masks, cnash, nash)


def test_matches_structured_public_path():
    rng = np.random.default_rng(7)
    game = random_game(rng, 9, 13)
    tables = reduced.coalition_tables(game)
    masks = all_masks(9)[rng.choice(2**9 - 1, 40, replace=False)]
    cnash, nash = reduced.coalition_costs(tables, masks)
    for m, cn, na in zip(masks, np.asarray(cnash), np.asarray(nash)):
        ref_cn, ref_na = structured_reference(game, m)
        np.testing.assert_allclose(cn, ref_cn, rtol=0, atol=RTOL * abs(ref_cn[0]))
        np.testing.assert_allclose(na, ref_na, rtol=0, atol=RTOL * abs(ref_cn[0]))


@pytest.mark.parametrize("n, low_bits", [(1, 0), (1, 1), (5, 2), (9, 4), (12, 12)])
def test_subset_table_enumerates_every_coalition(n, low_bits):
    rng = np.random.default_rng(n)
    game = random_game(rng, n, int(rng.integers(1, 25)))
    tables = reduced.coalition_tables(game)
    low = reduced.subset_sums(tables, low_bits)
    assert low.shape == (tables.width, 2**low_bits)
    parts = [reduced.chunk_costs(tables, low, h) for h in range(2 ** (n - low_bits))]
    cnash = np.concatenate([p[0] for p in parts])[1:]
    nash = np.concatenate([p[1] for p in parts])[1:]
    check_against_dense(game, all_masks(n), cnash, nash)
    gemm = reduced.coalition_costs(tables, all_masks(n))
    np.testing.assert_allclose(cnash, gemm[0], rtol=0, atol=1e-13 * abs(gemm[0][0, 0]))
    np.testing.assert_allclose(nash, gemm[1], rtol=0, atol=1e-13 * abs(gemm[0][0, 0]))


def test_subset_table_large_game_random_chunks():
    n, low_bits = 30, 10
    rng = np.random.default_rng(30)
    game = random_game(rng, n, 24)
    tables = reduced.coalition_tables(game)
    low = reduced.subset_sums(tables, low_bits)
    highs = rng.integers(0, 2 ** (n - low_bits), 3)
    highs[0] = 2 ** (n - low_bits) - 1  # its last row is the grand coalition
    for h in highs:
        cnash, nash = reduced.chunk_costs(tables, low, jnp.asarray(h))
        bits = (int(h) << low_bits) + np.arange(2**low_bits)
        masks = np.asarray(reduced.bit_masks(jnp.asarray(bits, jnp.int64), n))
        ref = reduced.coalition_costs(tables, masks)
        np.testing.assert_allclose(cnash, ref[0], rtol=0, atol=1e-13 * abs(ref[0][0, 0]))
        np.testing.assert_allclose(nash, ref[1], rtol=0, atol=1e-13 * abs(ref[0][0, 0]))
        pick = rng.choice(2**low_bits, 40, replace=False)
        check_against_dense(game, masks[pick], cnash[pick], nash[pick])


def test_fold_chunks_reduces_like_the_full_table():
    n, low_bits = 10, 6
    rng = np.random.default_rng(3)
    game = random_game(rng, n, 7, wide=False)
    tables = reduced.coalition_tables(game)
    low = reduced.subset_sums(tables, low_bits)

    def reduce(carry, high, cnash, nash):
        j = jnp.arange(cnash.shape[1])
        bits = high * cnash.shape[1] + j
        size = jax.lax.population_count(bits)
        ratio = reduced.ratios_from_costs(cnash, nash, fill=0.0)
        count, per_size = carry
        count = count + jnp.sum(ratio > 1.0, axis=1)
        per_size = per_size + jax.ops.segment_sum(cnash[1], size, num_segments=n + 1)
        return count, per_size

    init = (jnp.zeros(3, jnp.int64), jnp.zeros(n + 1))
    count, per_size = reduced.fold_chunks(
        tables, low, jnp.arange(2 ** (n - low_bits)), reduce, init
    )
    masks = np.asarray(reduced.bit_masks(jnp.arange(2**n), n))
    cnash, nash = reduced.coalition_costs(tables, masks)
    ratio = np.asarray(reduced.ratios_from_costs(cnash, nash, fill=0.0))
    np.testing.assert_array_equal(count, (ratio > 1.0).sum(axis=0))
    sizes = masks.sum(axis=1).astype(int)
    expect = np.bincount(sizes, weights=np.asarray(cnash)[:, 1], minlength=n + 1)
    np.testing.assert_allclose(per_size, expect, rtol=1e-12)


def test_empty_and_grand_coalitions():
    rng = np.random.default_rng(11)
    game = random_game(rng, 6, 5)
    tables = reduced.coalition_tables(game)
    cnash, nash = reduced.coalition_costs(tables, np.array([[0.0] * 6, [1.0] * 6]))
    cnash, nash = np.asarray(cnash), np.asarray(nash)
    assert np.isfinite(cnash).all() and np.isfinite(nash).all()
    assert cnash[0, 1] == nash[0, 1] == 0.0  # empty coalition: no members
    assert cnash[1, 2] == nash[1, 2] == 0.0  # grand coalition: no outsiders
    np.testing.assert_allclose(cnash[0], nash[0], rtol=1e-13)  # mask 0 is plain Nash
    ratio = np.asarray(reduced.ratios_from_costs(cnash, nash, fill=-1.0))
    assert ratio[0, 1] == ratio[1, 2] == -1.0
    low = reduced.subset_sums(tables, 6)
    c0, n0 = reduced.chunk_costs(tables, low, 0)
    np.testing.assert_allclose(c0[0], cnash[0], rtol=1e-13)
    assert c0[0, 1] == n0[0, 1] == 0.0 and c0[-1, 2] == n0[-1, 2] == 0.0


def test_tables_under_jit_and_vmap():
    rng = np.random.default_rng(5)
    games = [random_game(rng, 4, 3) for _ in range(3)]
    masks = all_masks(4)
    batched = jax.tree.map(lambda *xs: jnp.stack(xs), *games)
    f = jax.jit(jax.vmap(lambda g: reduced.coalition_costs(reduced.coalition_tables(g), masks)))
    cnash, _ = f(batched)
    for g, c in zip(games, cnash):
        ref = reduced.coalition_costs(reduced.coalition_tables(g), masks)[0]
        np.testing.assert_allclose(c, ref, rtol=1e-13)


def test_time_varying_b_is_rejected():
    rng = np.random.default_rng(0)
    game = evjax.ChargingGame(
        np.ones(3), rng.uniform(0.5, 1.0, 3), np.ones(2), np.ones(2), np.ones((2, 3))
    )
    with pytest.raises(ValueError, match="scalar b"):
        reduced.coalition_tables(game)


def test_shape_errors_name_the_shape():
    rng = np.random.default_rng(0)
    tables = reduced.coalition_tables(random_game(rng, 3, 2))
    with pytest.raises(ValueError, match=r"masks must have shape \(B, 3\)"):
        reduced.coalition_costs(tables, np.ones((2, 4)))
    with pytest.raises(ValueError, match=rf"sums must have shape \(B, {tables.width}\)"):
        reduced.costs_from_sums(tables, jnp.ones((2, 5)))
    with pytest.raises(ValueError, match="low_bits"):
        reduced.subset_sums(tables, 4)
