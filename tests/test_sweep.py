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
    from evjax.charging.reduced import coalition_costs, coalition_tables, ratios_from_costs
    from evjax.sweeps.engine import BlockRunner, make_plan, run_blocks
    from evjax.sweeps.result import finalize

    game = random_game(4, 10, 6)
    plan = make_plan(game, top_k=4, low_bits=2, platform="gpu")
    assert (plan.method, plan.replicas, plan.group) == ("gram", 1024, min(256, plan.steps))
    summary = run_blocks([BlockRunner(game, plan)], range(plan.n_blocks))
    tables = coalition_tables(game)

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


def test_best_lists_break_ties_by_code_like_a_lexsort():
    from evjax.sweeps.summary import NO_CODE, _best

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
