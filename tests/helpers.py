"""Independent numpy references for the evjax tests (paper 000, Kudva et al. 2024).

* a problem zoo: random charging games (N up to 12, T up to 24, up to 3 disjoint coalitions,
  constant or time-varying b) and the paper's Type H / Type L games;
* the C-Nash equilibrium by a dense solve of the full (NT + N) KKT system of all players;
* the station costs of eq (1), group costs and the Eval-Metric ratios;
* a player's exact best response (its own equality-constrained quadratic programme);
* a central finite-difference checker (4-point, Richardson-extrapolated).

None of this uses evjax: it is the yardstick evjax is measured against. Only ``Problem.game``
builds an ``evjax.ChargingGame`` from the numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Structure = Sequence[Sequence[int]]


# --------------------------------------------------------------------------------------------
# The problem zoo
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Problem:
    """One charging game as numpy arrays, with a coalition structure (index lists)."""

    a: np.ndarray  # (T,)
    b: np.ndarray  # () or (T,)
    mu: np.ndarray  # (N,)
    d: np.ndarray  # (N,)
    xbar: np.ndarray  # (N, T)
    coalitions: tuple[tuple[int, ...], ...] = ()

    @property
    def n(self) -> int:
        return self.mu.shape[0]

    @property
    def t(self) -> int:
        return self.a.shape[0]

    @property
    def time_varying_b(self) -> bool:
        return np.ndim(self.b) == 1

    def arrays(self):
        return self.a, self.b, self.mu, self.d, self.xbar

    def game(self):
        import evjax

        return evjax.ChargingGame(self.a, self.b, self.mu, self.d, self.xbar)

    def membership(self, rows: int | None = None) -> np.ndarray:
        """The (rows, N) 0/1 membership matrix, padded with zero rows up to ``rows``."""
        return membership_matrix(self.coalitions, self.n, rows)

    def with_(self, **changes) -> Problem:
        fields = dict(
            a=self.a, b=self.b, mu=self.mu, d=self.d, xbar=self.xbar, coalitions=self.coalitions
        )
        fields.update(changes)
        return Problem(**fields)


def membership_matrix(coalitions: Structure, n: int, rows: int | None = None) -> np.ndarray:
    rows = len(coalitions) if rows is None else rows
    if rows < len(coalitions):
        raise AssertionError("more coalitions than rows")
    m = np.zeros((rows, n))
    for k, members in enumerate(coalitions):
        m[k, list(members)] = 1.0
    return m


def random_coalitions(
    rng: np.random.Generator,
    n: int,
    k: int | None = None,
    *,
    k_max: int = 3,
    min_size: int = 1,
    min_outside: int = 0,
) -> tuple[tuple[int, ...], ...]:
    """``k`` (default: random in 0..k_max) disjoint coalitions of random stations.

    Each coalition has at least ``min_size`` members and at least ``min_outside`` stations are
    left alone; ``k`` is lowered when the stations do not suffice.
    """
    room = n - min_outside
    k_fit = room // min_size if min_size > 0 else k_max
    if k is None:
        k = int(rng.integers(0, min(k_max, k_fit) + 1))
    k = min(k, k_fit)
    if k == 0:
        return ()
    perm = rng.permutation(n)
    # sizes >= min_size summing to at most `room`
    total = int(rng.integers(k * min_size, room + 1))
    extra = rng.multinomial(total - k * min_size, np.ones(k) / k)
    sizes = min_size + extra
    out, start = [], 0
    for s in sizes:
        out.append(tuple(sorted(int(i) for i in perm[start : start + s])))
        start += s
    return tuple(out)


def random_problem(
    rng: np.random.Generator,
    n: int | None = None,
    t: int | None = None,
    *,
    time_varying_b: bool = False,
    coalitions: Structure | None = None,
    k_max: int = 3,
) -> Problem:
    """A random game over moderately wide parameter ranges (well-conditioned KKT systems)."""
    n = int(rng.integers(1, 13)) if n is None else n
    t = int(rng.integers(1, 25)) if t is None else t
    a = rng.uniform(0.0, 20.0, t) * rng.choice([0.1, 1.0, 3.0])
    if time_varying_b:
        b = np.exp(rng.uniform(np.log(0.1), np.log(5.0), t))
    else:
        b = np.asarray(np.exp(rng.uniform(np.log(0.1), np.log(5.0))))
    mu = np.exp(rng.uniform(np.log(0.1), np.log(10.0), n))
    d = rng.uniform(0.5, 20.0, n)
    if rng.uniform() < 0.5:  # nominal profiles that deliver the demand, as in the paper
        xbar = d[:, None] * rng.dirichlet(np.ones(t), size=n)
    else:  # arbitrary nominal profiles (the model does not need sum_t xbar = d)
        xbar = rng.uniform(-1.0, 3.0, (n, t)) * (d[:, None] / t)
    if coalitions is None:
        coalitions = random_coalitions(rng, n, k_max=k_max)
    return Problem(a, b, mu, d, xbar, tuple(tuple(int(i) for i in c) for c in coalitions))


def problem_zoo(seed: int, count: int, shapes: Sequence[tuple[int, int]] | None = None):
    """``count`` random problems, alternating constant / time-varying b, shapes drawn at random
    (N in 1..12, T in 1..24) or cycled from ``shapes``."""
    rng = np.random.default_rng(seed)
    out = []
    for j in range(count):
        n, t = (None, None) if shapes is None else shapes[j % len(shapes)]
        out.append(random_problem(rng, n, t, time_varying_b=bool(j % 2)))
    return out


def shares(kind: str, t: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Time shares alpha (T,), >= 0, summing to 1.

    ``"uniform"``: 1/T; ``"paper"``: 0.4/T for the first half of the day, 1.6/T after (the
    paper's eta_1, eta_2); ``"random"``: a Dirichlet draw (needs ``rng``).
    """
    if kind == "uniform":
        return np.full(t, 1.0 / t)
    if kind == "paper":
        alpha = np.where(np.arange(t) < t // 2, 0.4 / t, 1.6 / t)
        return alpha / alpha.sum()  # exactly 1 for even T; normalised otherwise
    if kind == "random":
        return rng.dirichlet(np.full(t, 2.0))
    raise ValueError(kind)


TYPES = {"H": (5.0, 5.0), "L": (1.0, 1.0)}  # type -> (d, mu): paper 000, Figure 5


def typed_problem(
    types: str,
    coalitions: Structure,
    *,
    t: int = 10,
    a: float | np.ndarray = 10.0,
    b: float = 1.0,
    alpha: np.ndarray | None = None,
    type_table: dict[str, tuple[float, float]] = TYPES,
) -> Problem:
    """A paper-style game: station i has type ``types[i]`` in {"H", "L"} (d_i, mu_i from
    ``type_table``), xbar_i^t = d_i alpha^t (Assumption 4.1), a constant unless an array."""
    d = np.array([type_table[c][0] for c in types])
    mu = np.array([type_table[c][1] for c in types])
    alpha = shares("paper", t) if alpha is None else np.asarray(alpha, float)
    a = np.broadcast_to(np.asarray(a, float), (t,)).copy()
    return Problem(
        a, np.asarray(float(b)), mu, d, np.outer(d, alpha), tuple(tuple(c) for c in coalitions)
    )


# --------------------------------------------------------------------------------------------
# The dense KKT solve of the C-Nash equilibrium
# --------------------------------------------------------------------------------------------


def players_of(coalitions: Structure, n: int) -> list[list[int]]:
    """The players: each coalition, then each station in none (checked disjoint here)."""
    seen: set[int] = set()
    out = []
    for members in coalitions:
        members = [int(i) for i in members]
        if not members or seen & set(members) or len(set(members)) != len(members):
            raise AssertionError(f"bad structure {coalitions!r}")
        seen |= set(members)
        out.append(members)
    return out + [[i] for i in range(n) if i not in seen]


def kkt_system(a, b, mu, d, xbar, coalitions: Structure = ()):
    """The (NT + N) x (NT + N) KKT matrix and right side of every player's problem.

    Unknowns: x_i^t at row i*T + t, then lambda_i at row N*T + i. For station i of player P:
        a^t + b^t sum_j x_j^t + b^t sum_{j in P} x_j^t + mu_i (x_i^t - xbar_i^t) + lambda_i = 0,
    and sum_t x_i^t = d_i.
    """
    a, mu, d, xbar = (np.asarray(v, np.float64) for v in (a, mu, d, xbar))
    n, t = xbar.shape
    b_t = np.broadcast_to(np.asarray(b, np.float64), (t,))
    same = np.zeros((n, n))
    for p in players_of(coalitions, n):
        same[np.ix_(p, p)] = 1.0
    # coef[i, j, t]: derivative of station i's stationarity row at step t in x_j^t
    coef = b_t[None, None, :] * (1.0 + same)[:, :, None] + (np.diag(mu))[:, :, None]
    m_xx = np.einsum("ijt,ts->itjs", coef, np.eye(t)).reshape(n * t, n * t)
    m_xl = np.kron(np.eye(n), np.ones((t, 1)))
    top = np.hstack([m_xx, m_xl])
    bottom = np.hstack([m_xl.T, np.zeros((n, n))])
    rhs = np.concatenate([(mu[:, None] * xbar - a[None, :]).reshape(-1), d])
    return np.vstack([top, bottom]), rhs


def kkt_solve(a, b, mu, d, xbar, coalitions: Structure = ()):
    """The C-Nash equilibrium x (N, T) and multipliers lambda (N,) by a dense solve."""
    n, t = np.shape(xbar)
    mat, rhs = kkt_system(a, b, mu, d, xbar, coalitions)
    sol = np.linalg.solve(mat, rhs)
    return sol[: n * t].reshape(n, t), sol[n * t :]


def solve(problem: Problem, coalitions: Structure | None = None) -> np.ndarray:
    """``kkt_solve`` for a Problem (its own structure unless ``coalitions`` is given)."""
    structure = problem.coalitions if coalitions is None else coalitions
    return kkt_solve(*problem.arrays(), structure)[0]


def station_costs(a, b, mu, xbar, x) -> np.ndarray:
    """c_i(x) = sum_t p^t x_i^t + mu_i/2 ||x_i - xbar_i||^2, p^t = a^t + b^t sum_j x_j^t (eq 1)."""
    a, mu, xbar, x = (np.asarray(v, np.float64) for v in (a, mu, xbar, x))
    price = a + np.asarray(b, np.float64) * x.sum(axis=0)
    return (price[None, :] * x).sum(axis=1) + 0.5 * mu * ((x - xbar) ** 2).sum(axis=1)


def costs(problem: Problem, x) -> np.ndarray:
    return station_costs(problem.a, problem.b, problem.mu, problem.xbar, x)


def group_costs(problem: Problem, x, coalition: Sequence[int]) -> np.ndarray:
    """(c_[N], c_C, c_[N]\\C) at x."""
    c = costs(problem, x)
    inside = np.zeros(problem.n, bool)
    inside[list(coalition)] = True
    return np.array([c.sum(), c[inside].sum(), c[~inside].sum()])


def ratios(problem: Problem, coalition: Sequence[int]) -> np.ndarray:
    """(M_[N], M_C, M_[N]\\C) = cost at Nash / cost at C-Nash (Eval-Metric)."""
    nash = group_costs(problem, solve(problem, ()), coalition)
    cnash = group_costs(problem, solve(problem, [coalition]), coalition)
    return nash / cnash


def best_response(problem: Problem, x, player: Sequence[int]) -> np.ndarray:
    """x with ``player``'s block replaced by its exact best response to the others' x.

    Player P minimises sum_{i in P} c_i over x_P with sum_t x_i^t = d_i (i in P): stationarity
    a^t + b^t (s^t + 2 sum_{j in P} x_j^t) + mu_i (x_i^t - xbar_i^t) + lambda_i = 0, where s^t
    is the others' total.
    """
    x = np.array(x, np.float64)
    p = list(player)
    k, t = len(p), problem.t
    b_t = np.broadcast_to(problem.b, (t,))
    others = x.sum(axis=0) - x[p].sum(axis=0)
    coef = 2.0 * b_t[None, None, :] * np.ones((k, k, 1)) + np.diag(problem.mu[p])[:, :, None]
    m_xx = np.einsum("ijt,ts->itjs", coef, np.eye(t)).reshape(k * t, k * t)
    m_xl = np.kron(np.eye(k), np.ones((t, 1)))
    mat = np.block([[m_xx, m_xl], [m_xl.T, np.zeros((k, k))]])
    rhs_x = problem.mu[p][:, None] * problem.xbar[p] - (problem.a + b_t * others)[None, :]
    rhs = np.concatenate([rhs_x.reshape(-1), problem.d[p]])
    x[p] = np.linalg.solve(mat, rhs)[: k * t].reshape(k, t)
    return x


def best_response_gain(problem: Problem, x, player: Sequence[int]) -> float:
    """How much ``player`` saves by its best response to the others' x (>= 0)."""
    p = list(player)
    before = costs(problem, x)[p].sum()
    after = costs(problem, best_response(problem, x, p))[p].sum()
    return float(before - after)


# --------------------------------------------------------------------------------------------
# Finite differences and error measures
# --------------------------------------------------------------------------------------------


def central_difference(
    f: Callable[[np.ndarray], np.ndarray], x, *, step: float = 1e-3
) -> np.ndarray:
    """The Jacobian of ``f`` at ``x`` (shape f(x).shape + x.shape) by 4-point central
    differences, h = step * max(|x_k|, 1) per entry: error O(h^4) plus rounding O(eps/h)."""
    x = np.array(x, np.float64)
    f0 = np.asarray(f(x), np.float64)
    jac = np.empty(f0.shape + x.shape)
    for idx in np.ndindex(x.shape):
        h = step * max(abs(float(x[idx])), 1.0)

        def at(s, idx=idx, h=h):
            xp = x.copy()
            xp[idx] += s * h
            return np.asarray(f(xp), np.float64)

        jac[(Ellipsis, *idx)] = (8.0 * (at(1) - at(-1)) - (at(2) - at(-2))) / (12.0 * h)
    return jac


def rel_error(value, reference) -> float:
    """||value - reference|| / ||reference|| (Frobenius), reference assumed non-zero."""
    value = np.asarray(value, np.float64)
    reference = np.asarray(reference, np.float64)
    scale = np.linalg.norm(reference)
    if scale == 0.0:
        raise AssertionError("relative error against a zero reference")
    return float(np.linalg.norm(value - reference) / scale)


def constant_b_arrays(rng: np.random.Generator, n: int, t: int, *, wide: bool):
    """(a, b, mu, d, xbar) of a random game with scalar b; ``wide`` spans several decades."""
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
    return a, b, mu, d, xbar


# --------------------------------------------------------------------------------------------
# Constrained best responses: an ADMM quadratic programme (OSQP's iteration), independent of
# the library's interior-point method
# --------------------------------------------------------------------------------------------


def qp_admm(h, q, a, lower, upper, *, iters: int = 20000, rho: float = 0.1):
    """argmin 1/2 y'Hy + q'y s.t. lower <= A y <= upper (OSQP's ADMM, alpha = 1.6).

    Equality rows (lower == upper) get 1e3 x rho. Dense and small: for certificates."""
    n = h.shape[0]
    rhos = np.where(lower == upper, 1e3 * rho, rho)
    sigma, alpha = 1e-6, 1.6
    kkt_inv = np.linalg.inv(h + sigma * np.eye(n) + a.T @ (rhos[:, None] * a))
    y, z, w = np.zeros(n), np.clip(np.zeros(a.shape[0]), lower, upper), np.zeros(a.shape[0])
    for _ in range(iters):
        y_t = kkt_inv @ (sigma * y - q + a.T @ (rhos * z - w))
        z_t = a @ y_t
        y = alpha * y_t + (1 - alpha) * y
        z_relaxed = alpha * z_t + (1 - alpha) * z
        z_new = np.clip(z_relaxed + w / rhos, lower, upper)
        w = w + rhos * (z_relaxed - z_new)
        z = z_new
    return y


def constrained_best_response_gain(problem: Problem, x, player: Sequence[int], *,
                                   nonnegative=False, rate_limit=None, capacity=None) -> float:
    """How much ``player`` saves by its best response to the others' x under the constraints
    (x >= 0, x <= rate_limit, and its share of the capacity left by the others), by ADMM.

    The player's cost is the quadratic 1/2 y'Hy + q'y + const in its block y (k stations x T):
    H = mu_i on the diagonal plus 2 b^t for every pair of members at the same t, q = a^t +
    b^t s^t - mu_i xbar_i^t (s = the others' total)."""
    x = np.asarray(x, np.float64)
    p = list(player)
    k, t = len(p), problem.t
    b_t = np.broadcast_to(problem.b, (t,))
    others = x.sum(axis=0) - x[p].sum(axis=0)
    h = np.kron(2.0 * np.ones((k, k)), np.diag(b_t)) + np.kron(np.diag(problem.mu[p]), np.eye(t))
    q = ((problem.a + b_t * others)[None, :] - problem.mu[p][:, None] * problem.xbar[p]).ravel()
    rows, lo, hi = [np.kron(np.eye(k), np.ones((1, t)))], [problem.d[p]], [problem.d[p]]
    box_lo = np.full(k * t, 0.0 if nonnegative else -np.inf)
    box_hi = np.full(k * t, np.inf) if rate_limit is None else np.repeat(
        np.broadcast_to(rate_limit, (problem.n,))[p], t)
    rows.append(np.eye(k * t))
    lo.append(box_lo)
    hi.append(box_hi)
    if capacity is not None:
        rows.append(np.kron(np.ones((1, k)), np.eye(t)))
        lo.append(np.full(t, -np.inf))
        hi.append(np.broadcast_to(capacity, (t,)) - others)
    a, lower, upper = np.vstack(rows), np.concatenate(lo), np.concatenate(hi)
    y = qp_admm(h, q, a, lower, upper)
    assert np.all(a @ y >= lower - 1e-9) and np.all(a @ y <= upper + 1e-9), "ADMM not converged"

    def f(v):
        return 0.5 * v @ h @ v + q @ v

    return float(f(x[p].ravel()) - f(y))


def qp_interior_point(h, q, a_eq, b_eq, g, h_in, *, tol: float = 1e-13, iters: int = 200):
    """argmin 1/2 x'Hx + q'x s.t. A x = b, G x <= h_in: a dense primal-dual interior-point
    method in numpy (Nocedal and Wright 16.6), no JAX. Raises if it does not converge."""
    n, m = h.shape[0], g.shape[0]
    x, y = np.zeros(n), np.zeros(a_eq.shape[0])
    s, z = np.maximum(h_in - g @ x, 1.0), np.ones(m)
    for _ in range(iters):
        r_d = h @ x + q + a_eq.T @ y + g.T @ z
        r_p, r_g = a_eq @ x - b_eq, g @ x + s - h_in
        gap = s @ z / m
        scale = 1.0 + np.abs(q).max()
        if max(np.abs(r_d).max() / scale, np.abs(r_p).max(), np.abs(r_g).max(), gap) < tol:
            return x
        r_c = s * z - 0.1 * gap
        kkt = np.block([[h + g.T @ ((z / s)[:, None] * g), a_eq.T],
                        [a_eq, np.zeros((a_eq.shape[0], a_eq.shape[0]))]])
        rhs = np.concatenate([-r_d + g.T @ ((r_c - z * r_g) / s), -r_p])
        d = np.linalg.solve(kkt, rhs)
        dx, dy = d[:n], d[n:]
        ds = -r_g - g @ dx
        dz = (-r_c - z * ds) / s
        step = 1.0
        for v, dv in ((s, ds), (z, dz)):
            neg = dv < 0
            if neg.any():
                step = min(step, 0.99 * np.min(-v[neg] / dv[neg]))
        x, y, s, z = x + step * dx, y + step * dy, s + step * ds, z + step * dz
    raise RuntimeError("qp_interior_point did not converge")


def potential_equilibrium(problem: Problem, coalition: Sequence[int] = (), *, nonnegative=False,
                          rate_limit=None, capacity=None) -> np.ndarray:
    """The (normalised) C-Nash equilibrium of the constrained charging game, without JAX.

    With one price slope b^t for all, the game is a potential game, coalitions included:
    station i's marginal cost a^t + b^t (S^t + X_G^t) + mu_i (x_i^t - xbar_i^t), with X_G^t
    the total of its group G (its coalition, or itself), is the gradient in x_i of
    Phi(x) = sum_t [a^t S^t + b^t/2 (S^t^2 + sum_G X_G^t^2)] + sum_i mu_i/2 ||x_i - xbar_i||^2.
    So the equilibrium under constraints shared by all is argmin Phi subject to them: a convex
    QP, solved by :func:`qp_interior_point`."""
    n, t = problem.n, problem.t
    groups = [list(coalition)] * bool(len(coalition)) + [
        [i] for i in range(n) if i not in coalition]
    g = np.zeros((len(groups), n))
    for k, members in enumerate(groups):
        g[k, members] = 1.0
    b = np.broadcast_to(problem.b, (t,))
    h = np.kron(np.ones((n, n)) + g.T @ g, np.diag(b)) + np.kron(np.diag(problem.mu), np.eye(t))
    q = np.tile(problem.a, n) - (problem.mu[:, None] * problem.xbar).ravel()
    rows, bounds = [], []
    if nonnegative:
        rows.append(-np.eye(n * t))
        bounds.append(np.zeros(n * t))
    if rate_limit is not None:
        rows.append(np.eye(n * t))
        bounds.append(np.repeat(np.broadcast_to(rate_limit, (n,)), t))
    if capacity is not None:
        rows.append(np.kron(np.ones((1, n)), np.eye(t)))
        bounds.append(np.broadcast_to(capacity, (t,)))
    g_in = np.vstack(rows) if rows else np.zeros((0, n * t))
    h_in = np.concatenate(bounds) if bounds else np.zeros(0)
    x = qp_interior_point(h, q, np.kron(np.eye(n), np.ones((1, t))), problem.d, g_in, h_in)
    return x.reshape(n, t)
