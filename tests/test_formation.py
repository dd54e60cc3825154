"""Coalition formation (issue 21) against numpy brute force: per-station costs, cartel
stability of every coalition, Shapley values, splits and the core, stability with transfers,
stable partitions, and gradients of shares."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import evjax
import formation_helpers as fh
import helpers
from evjax import formation

jax.config.update("jax_enable_x64", True)

N, T = 7, 4


@pytest.fixture(scope="module")
def case():
    """A 7-station game, its brute-force cost table (2^7 dense solves) and tolerance."""
    arrays = fh.random_arrays(2, N, T)
    table = fh.cost_table(arrays)
    return evjax.ChargingGame(*arrays), arrays, table, fh.tolerance(table)


@pytest.fixture(scope="module")
def case_tv():
    """The same with a time-varying b (the vmapped closed form instead of the Gram form)."""
    arrays = fh.random_arrays(5, 6, T, time_varying=True)
    table = fh.cost_table(arrays)
    return evjax.ChargingGame(*arrays), arrays, table, fh.tolerance(table)


def all_masks(n):
    return ((np.arange(1 << n)[:, None] >> np.arange(n)) & 1).astype(float)


@pytest.mark.parametrize("which", ["case", "case_tv"])
def test_station_costs_for_every_coalition(which, request):
    game, _, table, _ = request.getfixturevalue(which)
    n = game.n_stations
    costs = np.asarray(evjax.station_costs_for(game, all_masks(n)))
    np.testing.assert_allclose(costs, table, rtol=1e-11, atol=1e-12)
    lists = [[0, 2], [], [1, 2, 3]]  # index lists, overlapping coalitions allowed
    rows = [5, 0, 14]
    np.testing.assert_allclose(evjax.station_costs_for(game, lists), table[rows], rtol=1e-11)


def test_gram_costs_and_neighbours(case):
    game, _, table, _ = case
    costs, flips = (np.asarray(v) for v in formation.stability.flip_costs(  # Gram form
        game, jnp.asarray(all_masks(N))))
    scale = np.abs(table).max()
    assert np.abs(costs - table).max() < 1e-12 * scale
    index = np.arange(1 << N)[:, None] ^ (1 << np.arange(N))[None, :]
    assert np.abs(flips - table[index, np.arange(N)[None, :]]).max() < 1e-12 * scale


@pytest.mark.parametrize("which", ["case", "case_tv"])
def test_every_stability_verdict(which, request):
    game, _, table, tol = request.getfixturevalue(which)
    ref = fh.cartel_verdicts(table, tol)
    found = formation.stable_coalitions(game, chunk=32, progress=False)
    assert found.tol == pytest.approx(tol, rel=1e-12)
    assert found.internal.tolist() == [c for c, (i, _) in ref.items() if i]
    assert found.external.tolist() == [c for c, (_, e) in ref.items() if e]
    assert found.stable.tolist() == [c for c, (i, e) in ref.items() if i and e]
    assert found.evaluated == len(ref)
    assert found.lists("internal")[0] == fh.members(int(found.internal[0]), game.n_stations)


def test_one_coalition_gains(case):
    game, _, table, tol = case
    ref = fh.cartel_verdicts(table, tol)
    for c in (3, 0b1011, 0b1110001, (1 << N) - 1):
        members = fh.members(c, N)
        s = formation.cartel_stability(game, members[::-1])  # any order
        assert s.members == members and (s.internal, s.external) == ref[c]
        np.testing.assert_allclose(s.leave_gain, [table[c, i] - table[c ^ (1 << i), i]
                                                  for i in members], atol=1e-4 * tol)
        np.testing.assert_allclose(s.join_gain, [table[c, j] - table[c | (1 << j), j]
                                                 for j in s.outsiders], atol=1e-4 * tol)


def test_shapley_of_every_coalition(case):
    game, _, table, tol = case
    phi = formation.shapley_table(game)
    for c in range(1 << N):
        members = fh.members(c, N)
        if len(members) < 2:
            continue
        ref = fh.shapley(table, members)
        np.testing.assert_allclose(phi[c, members], ref, rtol=0, atol=1e-10)
        assert np.all(phi[c, [j for j in range(N) if j not in members]] == 0.0)
    members = [0, 2, 3, 5, 6]
    exact = np.asarray(formation.shapley_value(game, members))
    np.testing.assert_allclose(exact, fh.shapley(table, members), rtol=0, atol=1e-10)
    assert exact.sum() == pytest.approx(fh.saving(table, members), abs=1e-4 * tol)


def test_splits_rationality_and_core(case):
    game, _, table, tol = case
    seen = set()
    for members in ([0, 1], [1, 3, 4], [0, 2, 3, 5, 6], list(range(N))):
        for split in formation.SPLITS:
            s = formation.coalition_shares(game, members, split)
            v = fh.saving(table, members)
            nash = table[0, members]
            ref = {"shapley": fh.shapley(table, members), "equal": np.full(len(members),
                   v / len(members)), "proportional": v * nash / nash.sum()}[split]
            np.testing.assert_allclose(s.shares, ref, rtol=0, atol=1e-10)
            assert s.saving == pytest.approx(v, abs=1e-4 * tol)
            np.testing.assert_allclose(s.own, nash - table[sum(1 << i for i in members),
                                                           members], atol=1e-4 * tol)
            assert s.in_core == fh.in_core(table, members, s.shares, tol)
            assert s.rational == bool(np.all(ref >= -tol))
            seen.add(s.in_core)
    assert seen == {True, False}  # the cases cover both verdicts


def test_monte_carlo_shapley_within_three_standard_errors(case):
    game, _, table, _ = case
    members = [0, 1, 3, 4, 6]
    est, se = formation.shapley_monte_carlo(game, members, samples=400, seed=1)
    ref = fh.shapley(table, members)
    assert np.all(se > 0) and np.all(np.abs(est - ref) <= 3 * se)


def test_stability_with_shapley_transfers(case):
    game, _, table, tol = case
    phi = {c: fh.shapley(table, fh.members(c, N)) for c in range(1 << N)
           if len(fh.members(c, N)) >= 2}

    def share(c, i):
        return phi[c][fh.members(c, N).index(i)] if c in phi else 0.0

    found = formation.transfer_stable_coalitions(game)
    want_i, want_e = [], []
    for c in phi:
        inside = fh.members(c, N)
        if all(table[0, i] - share(c, i) <= table[c ^ (1 << i), i] + tol for i in inside):
            want_i.append(c)
        if all(table[c, j] <= table[0, j] - share(c | (1 << j), j) + tol
               for j in range(N) if j not in inside):
            want_e.append(c)
    assert found.internal.tolist() == want_i and found.external.tolist() == want_e
    for c in (0b11, 0b1011, 0b1100101):
        s = formation.transfer_stability(game, fh.members(c, N))
        assert (s.internal, s.external) == (c in want_i, c in want_e)


def test_stable_partitions():
    arrays = fh.random_arrays(3, 6, T)
    game = evjax.ChargingGame(*arrays)
    tol = fh.tolerance(fh.cost_table(arrays))
    nash, core = fh.stable_partitions(arrays, tol)
    assert nash and core  # this game has both
    for kind, ref in (("nash", nash), ("core", core)):
        got = formation.stable_partitions(game, kind, progress=False)
        assert sorted(fh.canonical(p.blocks) for p in got) == sorted(ref)
        totals = [p.total for p in got]
        assert totals == sorted(totals)
        for p in got:
            np.testing.assert_allclose(p.costs, fh.structure_costs(arrays, p.blocks),
                                       rtol=1e-11)


def test_shapley_gradient_matches_finite_differences(case):
    game, arrays, _, _ = case
    members = [0, 2, 5]
    grads = eqx.filter_grad(lambda g: formation.shapley_value(g, members)[1])(game)
    a, b, mu, d, xbar = (np.asarray(v, np.float64) for v in arrays)

    def share(**change):
        fields = dict(a=a, b=b, mu=mu, d=d, xbar=xbar) | change
        g = evjax.ChargingGame(fields["a"], fields["b"], fields["mu"], fields["d"],
                               fields["xbar"])
        return np.asarray(formation.shapley_value(g, members))[1]

    for name, value, entry in (("mu", mu, 2), ("d", d, 0), ("a", a, 3), ("b", b, ())):
        def along(x, name=name, value=value, entry=entry):  # one entry: few solves
            changed = np.array(value, np.float64)
            changed[entry] = x
            return share(**{name: changed})

        fd = helpers.central_difference(along, value[entry], step=1e-4)
        np.testing.assert_allclose(np.asarray(getattr(grads, name))[entry], fd, rtol=1e-6,
                                   atol=1e-9)


def test_stability_margins_and_their_gradient(case):
    game, arrays, table, tol = case
    for c in (3, 0b1011, 0b1110001, (1 << N) - 1):
        members = fh.members(c, N)
        internal, external = np.asarray(formation.stability_margins(game, members))
        assert (internal >= -tol, external >= -tol) == fh.cartel_verdicts(table, tol)[c]
        assert internal == pytest.approx(min(table[c ^ (1 << i), i] - table[c, i]
                                             for i in members), abs=1e-4 * tol)
    members = [0, 2, 5]
    grad = eqx.filter_grad(lambda g: formation.stability_margins(g, members)[0])(game)
    a, b, mu, d, xbar = arrays

    def margin(x):
        changed = np.array(mu, np.float64)
        changed[2] = x
        g = evjax.ChargingGame(a, b, changed, d, xbar)
        return np.asarray(formation.stability_margins(g, members))[0]

    fd = helpers.central_difference(margin, mu[2], step=1e-4)
    np.testing.assert_allclose(np.asarray(grad.mu)[2], fd, rtol=1e-6, atol=1e-9)


def test_bad_input_is_refused(case):
    game, *_ = case
    with pytest.raises(ValueError, match="rtol"):
        formation.stable_coalitions(game, rtol=-1.0)
    with pytest.raises(ValueError, match="split"):
        formation.coalition_shares(game, [0, 1], "nucleolus")
    with pytest.raises(ValueError, match="station 9"):
        formation.cartel_stability(game, [0, 9])
    with pytest.raises(ValueError, match="0/1"):
        evjax.station_costs_for(game, np.full((2, N), 0.5))
    with pytest.raises(ValueError, match="sequence"):
        evjax.station_costs_for(game, [[0, 1], 5])
    with pytest.raises(ValueError, match="kind"):
        formation.stable_partitions(game, "strong")
    big = evjax.ChargingGame(np.ones(2), 1.0, np.ones(25), np.ones(25), np.ones((25, 2)))
    with pytest.raises(ValueError, match="too many"):
        formation.stable_coalitions(big)
    with pytest.raises(ValueError, match="too many"):
        formation.stable_partitions(big)
