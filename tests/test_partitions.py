"""Every coalition structure (``evjax.sweeps.partitions``) against brute force for N <= 7."""

import jax

jax.config.update("jax_enable_x64", True)

import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import evjax  # noqa: E402
import helpers  # noqa: E402
from evjax.charging import structures as P  # noqa: E402
from evjax.sweeps.partitions import partitions  # noqa: E402

RTOL = 1e-10
BELL = [1, 1, 2, 5, 15, 52, 203, 877, 4140, 21147, 115975, 678570, 4213597]


def random_game(rng, n, t, *, wide=False):
    """A game with constant b (``helpers.constant_b_arrays``)."""
    return evjax.ChargingGame(*helpers.constant_b_arrays(rng, n, t, wide=wide))


def set_partitions(items):
    """Every set partition of ``items``, recursively (independent of the library's RGS)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1 :]
        yield [[first]] + part


def canonical(blocks):
    return tuple(sorted(tuple(sorted(blk)) for blk in blocks))


def dense_costs(game, blocks):
    """Station costs (N,) at the equilibrium of a structure, by one dense N x N solve.

    Q = b (1 1' + C) + diag(mu) with C block-diagonal of ones blocks (Remark 4.4; a singleton
    block is a station alone), x^t = d/T + Q^{-1} (v^t - mean_t v), v^t = mu xbar^t - a^t 1.
    """
    mu, b, d, a, xbar = (np.asarray(v) for v in (game.mu, game.b, game.d, game.a, game.xbar))
    n, t = xbar.shape
    c = np.zeros((n, n))
    for blk in blocks:
        c[np.ix_(blk, blk)] = 1.0
    q = b * (np.ones((n, n)) + c) + np.diag(mu)
    v = mu[:, None] * xbar - a[None, :]
    x = d[:, None] / t + np.linalg.solve(q, v - v.mean(axis=1, keepdims=True))
    price = a + b * x.sum(axis=0)
    return (price[None, :] * x).sum(axis=1) + 0.5 * mu * ((x - xbar) ** 2).sum(axis=1)


def brute_force(game):
    """Per structure (keyed by canonical blocks, in RGS order): total, block ratios by block."""
    n = game.n_stations
    nash = dense_costs(game, [[i] for i in range(n)])
    out = {}
    for blocks in set_partitions(list(range(n))):
        blocks = sorted(sorted(blk) for blk in blocks)  # by smallest member: the RGS order
        cost = dense_costs(game, blocks)
        ratios = [nash[blk].sum() / cost[blk].sum() for blk in blocks]
        out[canonical(blocks)] = (cost.sum(), ratios)
    labels = {key: rgs(key, n) for key in out}
    return dict(sorted(out.items(), key=lambda item: labels[item[0]])), nash.sum()


def rgs(blocks, n):
    labels = np.zeros(n, int)
    for k, blk in enumerate(sorted(blocks)):
        labels[list(blk)] = k
    return tuple(labels)


def assert_ranking(got, ref_keys, ref_order, key_of):
    """Same structures in the same order, except where reference keys (nearly) tie."""
    assert len(got) == len(ref_order)
    keys = np.array([key_of(s) for s in got])
    np.testing.assert_allclose(keys, [ref_keys[r] for r in ref_order], rtol=RTOL)
    all_keys = np.array(sorted(ref_keys.values()))
    for s, ref in zip(got, ref_order):
        if canonical(s.blocks) != ref:
            key = ref_keys[ref]
            close = np.sum(np.abs(all_keys - key) <= 1e-9 * abs(key))
            assert close > 1, f"{s.blocks} ranked where {ref} (key {key}) belongs; no tie"


@pytest.mark.parametrize("n", range(1, 8))
def test_against_brute_force(n):
    rng = np.random.default_rng(100 + n)
    for wide in (False, True):
        game = random_game(rng, n, int(rng.integers(1, 9)), wide=wide)
        ref, nash_total = brute_force(game)
        top_k = 6
        sweep = partitions(game, top_k=top_k, chunk=64, tables=True)

        assert sweep.n_structures == len(ref) == BELL[n] == P.bell_number(n)
        np.testing.assert_allclose(sweep.nash_total, nash_total, rtol=RTOL)

        # every structure: its total cost and every block's ratio
        keys = [canonical(P.blocks_of(row)) for row in sweep.labels]
        assert keys == list(ref)  # all of them, once each, in lexicographic RGS order
        ref_total = np.array([tot for tot, _ in ref.values()])
        np.testing.assert_allclose(sweep.totals, ref_total, rtol=RTOL)
        for row, got, (_, ratios) in zip(sweep.labels, sweep.block_ratios, ref.values()):
            used = int(row.max()) + 1
            np.testing.assert_allclose(got[:used], ratios, rtol=RTOL)
            assert np.isnan(got[used:]).all()

        # the reference entries
        for entry, blocks in ((sweep.nash, [[i] for i in range(n)]), (sweep.grand, [range(n)])):
            total, ratios = ref[canonical(blocks)]
            assert canonical(entry.blocks) == canonical(blocks)
            np.testing.assert_allclose(entry.total, total, rtol=RTOL)
            np.testing.assert_allclose(entry.ratio, nash_total / total, rtol=RTOL)
            np.testing.assert_allclose(entry.block_ratios, ratios, rtol=RTOL)
        np.testing.assert_allclose(sweep.nash.block_ratios, 1.0, rtol=RTOL)

        # the rankings: Python's sort is stable, ref is in enumeration order (as ties are kept)
        totals = {key: tot for key, (tot, _) in ref.items()}
        order = sorted(ref, key=lambda key: totals[key])[:top_k]
        assert_ranking(sweep.best_total, totals, order, lambda s: s.total)
        worst = {key: min(r) for key, (_, r) in ref.items() if len(key) < n}
        order = sorted(worst, key=lambda key: -worst[key])[:top_k]
        assert_ranking(sweep.best_worst_ratio, worst, order, lambda s: s.worst_ratio)
        for s in sweep.best_total + sweep.best_worst_ratio:
            total, ratios = ref[canonical(s.blocks)]
            np.testing.assert_allclose(s.block_ratios, ratios, rtol=RTOL)
            np.testing.assert_allclose(s.ratio, nash_total / total, rtol=RTOL)

        # the counts
        coalitions_gain = players_gain = 0
        for key, (_, ratios) in ref.items():
            coal = [r for blk, r in zip(key, ratios) if len(blk) >= 2]
            coalitions_gain += bool(coal) and all(r > 1 + 1e-9 for r in coal)
            players_gain += len(key) < n and all(r > 1 + 1e-9 for r in ratios)
        assert sweep.n_coalitions_gain == coalitions_gain
        assert sweep.n_players_gain == players_gain


def test_dense_reference_is_the_library_equilibrium():
    """The numpy reference above agrees with evjax.equilibrium(method="dense") + station_costs."""
    rng = np.random.default_rng(7)
    game = random_game(rng, 4, 6)
    for blocks in set_partitions(list(range(4))):
        coalitions = [blk for blk in blocks if len(blk) >= 2]
        x = evjax.equilibrium(game, coalitions, method="dense")
        np.testing.assert_allclose(
            np.asarray(evjax.station_costs(game, x)), dense_costs(game, blocks), rtol=1e-12
        )


def test_structure_costs_n10_sample():
    """A sample of N = 10 structures (labels up to 9, bitmasks up to 2^10) against dense."""
    rng = np.random.default_rng(11)
    game = random_game(rng, 10, 24, wide=True)
    tables = P.partition_tables(game)
    labels = np.concatenate(list(P.restricted_growth_strings(10, 50_000)))
    labels = labels[rng.choice(len(labels), 64, replace=False)]
    cost, nash = (np.asarray(v) for v in P.structure_costs(tables, labels))
    nash_ref = dense_costs(game, [[i] for i in range(10)])
    for row, c, na in zip(labels, cost, nash):
        blocks = P.blocks_of(row)
        ref = dense_costs(game, blocks)
        used = len(blocks)
        scale = np.abs(ref).sum()
        np.testing.assert_array_less(
            np.abs(c[:used] - [ref[blk].sum() for blk in blocks]), RTOL * scale
        )
        np.testing.assert_allclose(na[:used], [nash_ref[blk].sum() for blk in blocks], rtol=RTOL)
        assert (c[used:] == 0).all() and (na[used:] == 0).all()


@pytest.mark.parametrize("n", range(1, 10))
def test_restricted_growth_strings(n):
    for chunk in (1, 7, 4096):
        if chunk == 1 and n > 6:
            continue
        parts = list(P.restricted_growth_strings(n, chunk))
        assert all(p.shape == (chunk, n) for p in parts[:-1]) and 0 < len(parts[-1]) <= chunk
        labels = np.concatenate(parts).astype(int)
        assert labels.shape == (BELL[n], n) and labels.dtype == int
        assert (labels[:, 0] == 0).all()
        prefix_max = np.maximum.accumulate(labels, axis=1)
        assert (labels[:, 1:] <= prefix_max[:, :-1] + 1).all()
        as_tuples = [tuple(row) for row in labels]
        assert as_tuples == sorted(set(as_tuples))  # distinct and lexicographic


def test_chunking_does_not_change_the_result():
    game = random_game(np.random.default_rng(3), 6, 5)
    one = partitions(game, top_k=4, chunk=7, tables=True)  # 29 chunks, the last one padded
    two = partitions(game, top_k=4, chunk=1000, tables=True)
    assert one.to_dict() == two.to_dict()
    np.testing.assert_array_equal(one.labels, two.labels)
    np.testing.assert_allclose(one.totals, two.totals, rtol=1e-13)
    assert one.n_structures == 203


def test_small_games_and_json():
    game = random_game(np.random.default_rng(5), 3, 4)
    sweep = partitions(game, top_k=10)
    assert len(sweep.best_total) == 5  # all of Bell(3)
    assert len(sweep.best_worst_ratio) == 4  # Nash is not ranked there
    assert sweep.labels is None and sweep.totals is None
    text = json.dumps(sweep.to_dict())
    back = json.loads(text)
    assert back["n_structures"] == 5
    assert back["grand"]["blocks"] == [[0, 1, 2]]
    assert back["nash"]["blocks"] == [[0], [1], [2]]
    assert sweep.grand.coalitions == ((0, 1, 2),) and sweep.nash.coalitions == ()

    single = partitions(random_game(np.random.default_rng(6), 1, 3))
    assert single.n_structures == 1 and single.best_worst_ratio == ()
    assert single.n_coalitions_gain == single.n_players_gain == 0
    assert single.grand.blocks == single.nash.blocks == ((0,),)


def test_errors():
    rng = np.random.default_rng(9)
    with pytest.raises(ValueError, match=r"Bell\(13\) = 27,644,437"):
        partitions(random_game(rng, 13, 2))
    with pytest.raises(ValueError, match="scalar b"):
        partitions(evjax.ChargingGame([1.0, 2.0], [0.5, 0.7], [1.0], [1.0], [[0.5, 0.5]]))
    game = random_game(rng, 3, 2)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="top_k"):
            partitions(game, top_k=bad)
        with pytest.raises(ValueError, match="chunk"):
            partitions(game, chunk=bad)
    for bad in (-1e-3, float("nan"), "x"):
        with pytest.raises(ValueError, match="tol"):
            partitions(game, tol=bad)


def test_bell_numbers():
    assert [P.bell_number(n) for n in range(13)] == BELL


def test_structure_costs_takes_any_labels():
    """Labels need not be restricted-growth strings: relabelled blocks give the same costs."""
    game = random_game(np.random.default_rng(12), 5, 4)
    tables = P.partition_tables(game)
    canonical_labels = np.array([[0, 1, 0, 2, 1]])
    relabelled = np.array([[4, 0, 4, 3, 0]])
    cost, nash = (np.asarray(v) for v in P.structure_costs(tables, canonical_labels))
    cost2, nash2 = (np.asarray(v) for v in P.structure_costs(tables, relabelled))
    np.testing.assert_allclose(cost2[0, [4, 0, 3]], cost[0, :3], rtol=1e-13)
    np.testing.assert_allclose(nash2[0, [4, 0, 3]], nash[0, :3], rtol=1e-13)
    with pytest.raises(ValueError, match=r"lie in \[0, 5\)"):
        P.structure_costs(tables, np.array([[0, 1, 5, 0, 0]]))
    with pytest.raises(ValueError, match="shape"):
        P.structure_costs(tables, np.zeros((2, 4), int))


def test_single_step_every_structure_costs_the_same():
    """T = 1: x = d at every equilibrium, so all Bell(N) structures tie and nobody gains."""
    game = random_game(np.random.default_rng(13), 4, 1)
    sweep = partitions(game, top_k=6, chunk=64, tables=True)
    np.testing.assert_allclose(sweep.totals, sweep.nash_total, rtol=1e-12)
    np.testing.assert_allclose(sweep.block_ratios[~np.isnan(sweep.block_ratios)], 1.0, rtol=1e-12)
    assert sweep.n_coalitions_gain == sweep.n_players_gain == 0
    assert len(sweep.best_total) == 6 and len(sweep.best_worst_ratio) == 6
