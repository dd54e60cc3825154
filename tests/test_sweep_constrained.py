"""Constrained sweeps (x >= 0, rate limits, grid capacity) against an independent reference.

The reference: the charging game with one price slope b^t for all stations is a potential
game, coalitions included. Station i's marginal cost in its own profile, a^t + b^t (S^t +
X_G^t) + mu_i (x_i^t - xbar_i^t) with X_G the total of its group G (its coalition, or itself),
is the gradient of

    Phi(x) = sum_t [a^t S^t + b^t / 2 (S^t^2 + sum_G X_G^t^2)] + sum_i mu_i / 2 ||x_i - xbar_i||^2,

so the (normalised) C-Nash equilibrium under constraints shared by all is the minimiser of the
convex QP min Phi subject to them: one dense ADMM solve per coalition in numpy, no
Nikaido-Isoda anywhere.
"""

import itertools

import numpy as np
import pytest

import evjax
from evjax import ConstrainedChargingGame

import helpers
from helpers import Problem

N, T = 5, 6
RATE, CAP = 0.62, 2.0


def problem() -> Problem:
    rng = np.random.default_rng(11)
    return Problem(rng.uniform(1, 2, T), np.float64(0.5), rng.uniform(0.3, 2, N),
                   rng.uniform(1, 3, N), rng.uniform(0, 1, (N, T)) * rng.uniform(0, 2, (N, 1)))


def potential_equilibrium(p: Problem, coalition) -> np.ndarray:
    return helpers.potential_equilibrium(p, coalition, nonnegative=True, rate_limit=RATE,
                                         capacity=CAP)


def reference_ratios(p: Problem) -> dict[tuple[int, ...], np.ndarray]:
    game = p.game()
    nash = np.asarray(evjax.station_costs(game, potential_equilibrium(p, ())))
    out = {}
    for size in range(1, N + 1):
        for c in itertools.combinations(range(N), size):
            cn = np.asarray(evjax.station_costs(game, potential_equilibrium(p, c)))
            inside = np.isin(np.arange(N), c)
            outside = nash[~inside].sum() / cn[~inside].sum() if size < N else np.nan
            out[c] = np.array([nash.sum() / cn.sum(), nash[inside].sum() / cn[inside].sum(),
                               outside])
    return out


@pytest.fixture(scope="module")
def swept():
    p = problem()
    game = ConstrainedChargingGame(p.game(), (), nonnegative=True, rate_limit=RATE, capacity=CAP)
    return p, evjax.sweep(game, top_k=4), reference_ratios(p)


def test_the_constraints_bind_in_the_test_game(swept):
    p, _, _ = swept
    x = potential_equilibrium(p, (0, 1))
    assert (x < 1e-7).any() and (x > RATE - 1e-7).any() and (x.sum(0) > CAP - 1e-7).any()


def test_constrained_sweep_matches_the_potential_qp_reference(swept):
    p, result, ref = swept
    tol = 1e-9
    r = np.array(list(ref.values()))  # (31, 3)
    sizes = np.array([len(c) for c in ref])
    assert result.n_evaluated == len(ref) == 2**N - 1
    # The count comparison is meaningful only away from the threshold.
    finite = r[np.isfinite(r)]
    assert np.min(np.abs(np.abs(finite - 1.0) - tol)[np.abs(finite - 1) > 1e-7]) > 1e-7
    for k, name in enumerate(["all", "coalition", "outside"]):
        col = r[:, k]
        assert result.above_one[name] == int(np.sum(col > 1 + tol)), name
    for entry in result.by_size:
        s = entry["size"]
        rows = r[sizes == s]
        assert entry["count"] == len(rows)
        for k in range(3):
            col = rows[:, k][np.isfinite(rows[:, k])]
            if col.size == 0:
                assert entry["mean"][k] is None
                continue
            np.testing.assert_allclose(entry["mean"][k], col.mean(), rtol=1e-7)
            np.testing.assert_allclose(entry["min"][k], col.min(), rtol=1e-7)
            np.testing.assert_allclose(entry["max"][k], col.max(), rtol=1e-7)
    for k, name in enumerate(["all", "coalition", "outside"]):
        order = sorted((c for c in ref if np.isfinite(ref[c][k])), key=lambda c: -ref[c][k])
        top = result.top[name]
        assert [tuple(e["members"]) for e in top] == [tuple(c) for c in order[:4]], name
        for e in top:
            np.testing.assert_allclose(
                np.array(e["ratios"], dtype=float), ref[tuple(e["members"])], rtol=1e-7)


def test_constrained_sweeps_refuse_what_they_cannot_do():
    p = problem()
    game = ConstrainedChargingGame(p.game(), (), nonnegative=True)
    with pytest.raises(ValueError, match="does not support out"):
        evjax.sweep(game, out="somewhere")
