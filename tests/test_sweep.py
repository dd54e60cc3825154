"""Coalition sweeps against brute force (dense equilibria, coalition by coalition)."""

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import evjax
from evjax.sweeps import sweep

jax.config.update("jax_enable_x64", True)


def random_game(seed, n, t):
    rng = np.random.default_rng(seed)
    return evjax.ChargingGame(
        rng.uniform(0.5, 2.0, t), rng.uniform(0.2, 1.5), rng.uniform(0.1, 3.0, n),
        rng.uniform(0.5, 5.0, n), rng.uniform(0.0, 1.0, (n, t)),
    )


def brute_force(game, coalitions):
    n = game.n_stations
    masks = np.zeros((len(coalitions), n))
    for k, c in enumerate(coalitions):
        masks[k, list(c)] = 1.0
    ratios = jax.vmap(lambda m: jnp.stack(evjax.cost_ratios(game, m, method="dense")))(
        jnp.asarray(masks))
    return np.asarray(ratios)


def check_against(result, game, coalitions, tol=1e-9, k=4):
    ratios = brute_force(game, coalitions)
    sizes = np.array([len(c) for c in coalitions])
    assert result.n_evaluated == len(coalitions)
    for g, name in enumerate(("all", "coalition", "outside")):
        r = ratios[:, g]
        ok = np.isfinite(r)
        assert result.above_one[name] == int(np.sum(r[ok] > 1 + tol))
        assert result.below_one[name] == int(np.sum(r[ok] < 1 - tol))
        order = sorted(np.flatnonzero(ok), key=lambda i: -r[i])[:k]
        got = result.top[name]
        assert [e["members"] for e in got] == [sorted(coalitions[i]) for i in order]
        np.testing.assert_allclose([e["ratios"][g] for e in got], r[order], rtol=1e-10)
        order = sorted(np.flatnonzero(ok), key=lambda i: r[i])[:k]
        assert [e["members"] for e in result.bottom[name]] == [sorted(coalitions[i]) for i in order]
    for row in result.by_size:
        sel = sizes == row["size"]
        assert row["count"] == sel.sum()
        for g in range(3):
            r = ratios[sel, g]
            r = r[np.isfinite(r)]
            if r.size == 0:
                assert row["mean"][g] is None
                continue
            np.testing.assert_allclose(row["mean"][g], r.mean(), rtol=1e-10)
            np.testing.assert_allclose(row["min"][g], r.min(), rtol=1e-10)
            np.testing.assert_allclose(row["max"][g], r.max(), rtol=1e-10)
    assert sorted(row["size"] for row in result.by_size) == sorted(set(sizes.tolist()))
    edges = np.asarray(result.histogram["edges"])
    for g, name in enumerate(("all", "coalition", "outside")):
        r = ratios[:, g]
        r = r[np.isfinite(r)]
        inner, _ = np.histogram(r[(r >= edges[0]) & (r < edges[-1])], bins=edges)
        expected = [int(np.sum(r < edges[0])), *inner.tolist(), int(np.sum(r >= edges[-1]))]
        assert result.histogram["counts"][name] == expected


def all_coalitions(n, sizes=None, include=(), exclude=()):
    out = []
    for k in range(1, n + 1):
        if sizes is not None and k not in sizes:
            continue
        for c in itertools.combinations(range(n), k):
            if set(include) <= set(c) and not set(exclude) & set(c):
                out.append(c)
    return out


@pytest.mark.parametrize("method", ["table", "gram"])  # the CPU's and the GPU's cost stage
def test_full_sweep_matches_brute_force(method):
    game = random_game(0, 8, 5)
    result = sweep(game, top_k=4, low_bits=3, block_size=16, method=method)
    assert result.plan["method"] == method
    check_against(result, game, all_coalitions(8))
    grand = [row for row in result.by_size if row["size"] == 8][0]
    assert grand["count"] == 1 and grand["mean"][2] is None


def test_gpu_plan_matches_brute_force_on_a_cpu():
    """A GPU's plan (Gram form, histogram over 1024 replicas, whole blocks per step), run here."""
    from evjax.charging.ratios import ratios_from_costs
    from evjax.charging.reduced import coalition_costs, coalition_tables
    from evjax.sweeps.engine import BlockRunner, run_blocks
    from evjax.sweeps.plan import make_plan
    from evjax.sweeps.result import finalize

    game = random_game(4, 10, 6)
    tables = coalition_tables(game)
    plan = make_plan(tables, top_k=4, low_bits=2, platform="gpu")
    assert (plan.method, plan.replicas, plan.group) == ("gram", 1024, min(256, plan.steps))
    summary = run_blocks([BlockRunner(tables, plan)], range(plan.n_blocks))

    def ratios_of(coalitions):
        masks = np.zeros((len(coalitions), game.n_stations))
        for k, members in enumerate(coalitions):
            masks[k, members] = 1.0
        return np.asarray(ratios_from_costs(*coalition_costs(tables, masks)))

    check_against(finalize(summary, plan, ratios_of, 0.0), game, all_coalitions(10))


@pytest.mark.parametrize("method", ["table", "gram"])
def test_restricted_sweep_matches_brute_force(method):
    game = random_game(1, 8, 5)
    result = sweep(game, sizes="2-4", include=[3], exclude=[5], top_k=4, low_bits=3,
                   block_size=16, method=method)
    check_against(result, game, all_coalitions(8, sizes={2, 3, 4}, include=[3], exclude=[5]))


def test_resumed_sweep_is_identical(tmp_path):
    game = random_game(2, 8, 5)
    options = dict(top_k=4, low_bits=3, block_size=16)
    reference = sweep(game, **options)
    out = tmp_path / "run"
    first = sweep(game, out=out, **options)
    assert json.loads((out / "result.json").read_text())["n_evaluated"] == first.n_evaluated
    again = sweep(game, out=out, **options)  # everything already done: reloaded, not redone
    for r in (first, again):
        assert r.to_dict() | {"seconds": 0} == reference.to_dict() | {"seconds": 0}
    with pytest.raises(ValueError, match="different game or options"):
        sweep(game, out=out, **(options | {"top_k": 3}))


def test_bad_options_are_refused():
    game = random_game(3, 6, 4)
    with pytest.raises(ValueError, match="both included and excluded"):
        sweep(game, include=[1], exclude=[1])
    with pytest.raises(ValueError, match="sizes"):
        sweep(game, sizes="0-3")
    with pytest.raises(ValueError, match="no coalition"):
        sweep(game, sizes=[1], include=[0, 1])
    with pytest.raises(ValueError, match="method must be one of"):
        sweep(game, method="fast")
    tv = evjax.ChargingGame(game.a, jnp.ones(4), game.mu, game.d, game.xbar)
    with pytest.raises(ValueError, match="scalar b"):
        sweep(tv)
    # a NaN tol counted every coalition above and below 1, a negative one most of them
    for bad in (-1e-9, -1.0, float("nan"), float("inf"), "x", None, True):
        with pytest.raises(ValueError, match=r"tol must be a (finite )?number >= 0, got"):
            sweep(game, tol=bad)
    with pytest.raises(ValueError, match=r"tol must be a finite number >= 0, got nan"):
        sweep(evjax.ConstrainedChargingGame(game, (), nonnegative=True), tol=float("nan"))


def test_best_lists_break_ties_by_code_like_a_lexsort():
    from evjax.sweeps.topk import NO_CODE, best as _best

    rng = np.random.default_rng(3)
    for largest in (True, False):
        values = rng.integers(0, 4, (3, 40)).astype(float)  # many ties
        codes = np.stack([rng.permutation(40) for _ in range(3)]).astype(np.int64)
        values[0, :36] = -np.inf if largest else np.inf  # fill entries: fewer than k left
        codes[0, :36] = NO_CODE
        v, c = (np.asarray(x) for x in _best(jnp.asarray(values), jnp.asarray(codes), 7, largest))
        for g in range(3):
            order = np.lexsort((codes[g], -values[g] if largest else values[g]))[:7]
            np.testing.assert_array_equal(v[g], values[g, order])
            np.testing.assert_array_equal(c[g], codes[g, order])


def test_tally_fold_matches_slice_fold_on_awkward_data():
    """The CPU's per-size tally (rows) against the GPU's slice reductions, on random ratios
    with NaNs, a gap in the counted sizes and ties, group after group."""
    from evjax.sweeps.reduce import fold_groups, popcount_order
    from evjax.sweeps.summary import empty_summary, to_numpy
    from evjax.sweeps.tally import empty_tally, settle, tally_groups

    rng = np.random.default_rng(7)
    n, low, group, n_include = 11, 3, 4, 1
    order = popcount_order(low)
    size_ok = np.ones(n + 1, bool)
    size_ok[[0, 3, 7]] = False
    edges = jnp.linspace(0.9, 1.1, 17)
    sliced = empty_summary(n, 16, 5)
    tallied, tally = empty_summary(n, 16, 5), empty_tally(n, low)
    fold_slices = jax.jit(lambda s, c, r, b, ok, e: fold_groups(s, c, r, b, ok, edges=e,
                                                                 tol=1e-9))
    fold_rows = jax.jit(lambda s, t, c, r, b, ok, e: tally_groups(s, t, c, r, b, ok, edges=e,
                                                                  tol=1e-9))
    for q in range(16):  # aligned groups of chunks, high parts group q + c
        highs = group * q + np.arange(group)
        codes = jnp.asarray((highs[:, None] << low) | order)
        ratios = np.round(1.0 + 0.05 * rng.standard_normal((3, group, 1 << low)), 3)
        ratios[rng.random(ratios.shape) < 0.05] = np.nan
        ratios = jnp.asarray(ratios)
        base = jnp.asarray(np.bitwise_count(highs) + n_include, jnp.int32)
        args = (codes, ratios, base, jnp.asarray(size_ok), edges)
        sliced = fold_slices(sliced, *args)
        tallied, tally = fold_rows(tallied, tally, *args)
    a, b = to_numpy(sliced), to_numpy(settle(tallied, tally, jnp.asarray(size_ok)))
    assert a["n_evaluated"] > 0 and np.all(a["size_count"][~size_ok] == 0)
    for name in a:
        if name == "size_sum":
            np.testing.assert_allclose(b[name], a[name], rtol=1e-13)
        else:
            np.testing.assert_array_equal(b[name], a[name], err_msg=name)


def test_list_bounds_change_speed_not_results():
    """Blocks that start their top/bottom lists at the tightest valid bounds (the final k-th
    entries), or at none, fold to the same summary; the pilot's bounds are valid ones."""
    from evjax.sweeps.engine import BlockRunner, run_blocks
    from evjax.sweeps.plan import make_plan, sweep_tables
    from evjax.sweeps.summary import is_coalition, to_numpy

    tables = sweep_tables(random_game(5, 11, 6))
    plan = make_plan(tables, top_k=5, low_bits=3, block_size=32)
    assert plan.n_blocks >= 4

    def fold(bounds):
        runner = BlockRunner(tables, plan)
        runner.tighten = lambda summary: None  # keep the given bounds throughout
        runner.bounds = np.asarray(bounds, float)
        return to_numpy(run_blocks([runner], range(plan.n_blocks)))

    free = fold([[-np.inf] * 3, [np.inf] * 3])
    assert is_coalition(free["top_code"]).all() and is_coalition(free["bottom_code"]).all()
    floors, ceilings = free["top_value"][:, -1], free["bottom_value"][:, -1]
    assert np.all(np.asarray(plan.bounds[:3]) <= floors)
    assert np.all(np.asarray(plan.bounds[3:]) >= ceilings)
    tight = fold([floors, ceilings])
    for name in free:
        np.testing.assert_array_equal(tight[name], free[name], err_msg=name)
    # A bound beyond the true k-th entry is not valid: the lists then keep fill entries.
    wrong = fold([floors + 1.0, ceilings])
    assert not is_coalition(wrong["top_code"]).all()


def test_block_sizes_round_down_to_powers_of_two():
    """Blocks hold a power of two of chunks, so that groups of chunks stay aligned (the CPU
    tally needs it): an odd block size sweeps like the power of two below it."""
    game = random_game(1, 8, 5)
    odd = sweep(game, low_bits=3, block_size=24, top_k=4)
    even = sweep(game, low_bits=3, block_size=16, top_k=4)
    assert odd.plan["steps"] == even.plan["steps"] == 2
    assert odd.to_dict() | {"seconds": 0} == even.to_dict() | {"seconds": 0}
