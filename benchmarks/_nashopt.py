"""NashOpt (PyPI ``nashopt``) as the baseline of the Nikaido-Isoda benchmark (issue 4).

The charging game of paper 000 with the constraints of :class:`evjax.ConstrainedChargingGame`
is a linear-quadratic GNEP, which NashOpt models with ``nashopt.GNEP_LQ``: player P (a station,
or a coalition owning its members' profiles) minimises ``0.5 x' Q_P x + c_P' x`` over the
stacked profile x (stations in player order, T steps each) subject to shared linear
constraints ``A x <= b`` (the grid capacity), ``Aeq x = beq`` (each station's energy,
sum_t x_i^t = d_i: a "shared" equality whose row only involves one player) and bounds
``lb <= x <= ub`` (x >= 0, rate limits). With ``variational=True`` the shared multipliers
are equal for all players: the normalised equilibrium, the one evjax computes.

    Q_P = H restricted to the rows and columns of P's variables (zero elsewhere), with
    H[(i,t),(j,s)] = [t = s] (b_t (1 + [i, j in the same player]) + mu_i [i = j]),
    c_P[(i,t)] = a_t - mu_i xbar_i^t for i in P (0 elsewhere).

0.5 x' Q_P x + c_P' x is then P's summed cost (eq (5)) less the constant
sum_{i in P} mu_i/2 ||xbar_i||^2.

Functions: :func:`build` (the ``GNEP_LQ`` object), :func:`solve` (the equilibrium, (N, T)),
:func:`fd_gradient` (central finite differences of a scalar function of the equilibrium,
re-solving), :func:`best_response_gains` (an independent certificate, by exact water filling),
:func:`station_costs`. Everything takes and returns numpy arrays; nothing here imports jax
except through nashopt itself.

Solvers (``GNEP_LQ(..., solver=...)``, nashopt 1.3.9): the MILP route ("highs", "gurobi",
big-M on the KKT conditions) and, for variational GNEs, "dr_daqp", "qp_gnep", "lemke",
"lemke_dual", "log_ipm", "prox_admm", "extragradient", "op_extrap". On the N = 20, T = 24
game of bench_ni.py (2 shared CPU cores) "lemke_dual" was the fastest accurate one
(equilibrium within 1e-15 of evjax's, about 0.1 to 0.3 s a solve), then "dr_daqp" (the one
NashOpt's README calls usually fastest; accurate, about 2x slower here), "lemke" and
"qp_gnep" (accurate, 1 to 2 s), "op_extrap" (accurate, 10 to 20 s); "prox_admm" (default
tol) and "extragradient" (1,000 iterations, 85 s) stop about 1e-6 away; "log_ipm" and
"highs" gave no answer within 2 minutes. "log_ipm" and "prox_admm" fail on a game without a
shared inequality unless given an empty one, which :func:`build` does.

nashopt is optional: ``pip install -e ".[bench]"`` (see pyproject.toml); :func:`require`
raises an ImportError saying so when it is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

INSTALL_HINT = (
    "the NashOpt baseline needs the optional 'bench' extra: "
    "pip install -e \".[bench]\"  (nashopt>=1.3 and qpsolvers; consider a separate "
    "virtual environment, e.g. python3 -m venv /work/venv-bench)"
)

# Solvers of GNEP_LQ for variational GNEs (nashopt 1.3.9); "highs" is the MILP route.
VGNE_SOLVERS = ("lemke_dual", "dr_daqp", "qp_gnep", "lemke", "log_ipm", "prox_admm",
                "extragradient", "op_extrap")
DEFAULT_SOLVER = "lemke_dual"  # the fastest accurate one measured (see above)


def require():
    """Import and return the ``nashopt`` module, or raise ImportError with the install hint."""
    try:
        import nashopt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"{INSTALL_HINT} ({e})") from e
    if not hasattr(nashopt, "GNEP_LQ"):  # e.g. a stray 'nashopt' folder on sys.path
        raise ImportError(f"{INSTALL_HINT} ('nashopt' at {getattr(nashopt, '__path__', '?')} "
                          "is not NashOpt: it has no GNEP_LQ)")
    return nashopt


def available() -> bool:
    try:
        require()
    except ImportError:
        return False
    return True


def _players(coalitions: Sequence[Sequence[int]], n: int) -> list[list[int]]:
    """The players: each coalition, then every station not in one, alone (ascending)."""
    taken = [int(i) for c in coalitions for i in c]
    if len(set(taken)) != len(taken) or any(not 0 <= i < n for i in taken):
        raise ValueError(f"coalitions must be disjoint station indices in [0, {n}): {coalitions}")
    players = [sorted(int(i) for i in c) for c in coalitions if len(c)]
    players += [[i] for i in range(n) if i not in set(taken)]
    return players


def _arrays(a, b, mu, d, xbar):
    a = np.asarray(a, float)
    t = a.shape[0]
    b = np.broadcast_to(np.asarray(b, float), (t,)).copy()
    mu, d, xbar = (np.asarray(v, float) for v in (mu, d, xbar))
    n = mu.shape[0]
    if d.shape != (n,) or xbar.shape != (n, t) or a.shape != (t,):
        raise ValueError(f"shapes: a {a.shape}, mu {mu.shape}, d {d.shape}, xbar {xbar.shape}")
    return a, b, mu, d, xbar


class Problem:
    """A built ``GNEP_LQ`` with the station order of its stacked variable.

    ``order[k]`` is the station whose profile is the k-th block of T entries of NashOpt's x.
    """

    def __init__(self, gnep, order, shape):
        self.gnep = gnep
        self.order = np.asarray(order)
        self.shape = shape

    def to_profile(self, x_flat) -> np.ndarray:
        """NashOpt's stacked x as evjax's (N, T) profile (stations in index order)."""
        n, t = self.shape
        out = np.empty((n, t))
        out[self.order] = np.asarray(x_flat, float).reshape(n, t)
        return out

    def solve(self, solver_options=None) -> np.ndarray:
        sol = self.gnep.solve(solver_options=solver_options)
        self.last = sol
        return self.to_profile(sol.x)


def build(a, b, mu, d, xbar, *, coalitions=(), nonnegative=True, rate_limit=None,
          capacity=None, solver=DEFAULT_SOLVER) -> Problem:
    """The charging game as NashOpt's ``GNEP_LQ`` (variational: the normalised equilibrium).

    a (T,), b scalar or (T,), mu, d (N,), xbar (N, T); coalitions as in evjax (disjoint lists
    of stations; the rest alone); nonnegative: x >= 0; rate_limit: scalar or (N,) upper
    bound on x_i^t; capacity: scalar or (T,) bound on sum_i x_i^t (a shared constraint).
    """
    nashopt = require()
    a, b, mu, d, xbar = _arrays(a, b, mu, d, xbar)
    n, t = xbar.shape
    players = _players(coalitions, n)
    order = np.array([i for p in players for i in p])
    owner = np.empty(n, int)
    for k, p in enumerate(players):
        owner[p] = k
    own = owner[order]  # player of each block, in stacked order
    same = (own[:, None] == own[None, :]).astype(float)
    mu_o = mu[order]
    # H[(i,t),(j,s)] = [t=s] (b_t (1 + same(i,j)) + mu_i [i=j])  (stacked, symmetric)
    h = np.kron(1.0 + same, np.diag(b)) + np.kron(np.diag(mu_o), np.eye(t))
    lin = (a[None, :] - mu_o[:, None] * xbar[order]).ravel()
    dim = [t * len(p) for p in players]
    ends = np.cumsum(dim)
    q_list, c_list = [], []
    for k in range(len(players)):  # player k's variables are the contiguous block [s, e)
        s, e = ends[k] - dim[k], ends[k]
        q = np.zeros_like(h)
        q[s:e, :] = h[s:e, :]
        q[:, s:e] = h[:, s:e]
        c = np.zeros(n * t)
        c[s:e] = lin[s:e]
        q_list.append(q)
        c_list.append(c)
    aeq = np.kron(np.eye(n), np.ones((1, t)))
    beq = d[order].copy()
    lb = np.full(n * t, 0.0 if nonnegative else -np.inf)
    if rate_limit is None:
        ub = np.full(n * t, np.inf)
    else:
        r = np.broadcast_to(np.asarray(rate_limit, float), (n,))
        ub = np.repeat(r[order], t)
    if capacity is None:
        a_in = b_in = None
        if solver in ("log_ipm", "prox_admm"):  # nashopt 1.3.9 needs an A there (A=None fails)
            a_in, b_in = np.zeros((0, n * t)), np.zeros(0)
    else:
        a_in = np.kron(np.ones((1, n)), np.eye(t))
        b_in = np.broadcast_to(np.asarray(capacity, float), (t,)).copy()
    gnep = nashopt.GNEP_LQ(dim, q_list, c_list, lb=lb, ub=ub, A=a_in, b=b_in, Aeq=aeq,
                           beq=beq, variational=True, solver=solver)
    return Problem(gnep, order, (n, t))


def solve(a, b, mu, d, xbar, *, coalitions=(), nonnegative=True, rate_limit=None,
          capacity=None, solver=DEFAULT_SOLVER, solver_options=None) -> np.ndarray:
    """The equilibrium (N, T) by NashOpt: build the ``GNEP_LQ`` and solve it once."""
    problem = build(a, b, mu, d, xbar, coalitions=coalitions, nonnegative=nonnegative,
                    rate_limit=rate_limit, capacity=capacity, solver=solver)
    return problem.solve(solver_options)


def station_costs(a, b, mu, d, xbar, x) -> np.ndarray:
    """Eq (1): c_i(x) = sum_t (a_t + b_t sum_j x_j^t) x_i^t + mu_i/2 ||x_i - xbar_i||^2."""
    a, b, mu, d, xbar = _arrays(a, b, mu, d, xbar)
    x = np.asarray(x, float)
    price = a + b * x.sum(axis=0)
    return x @ price + 0.5 * mu * np.sum((x - xbar) ** 2, axis=1)


PARAMETERS = ("a", "b", "mu", "d", "xbar")


def fd_gradient(fun: Callable[[np.ndarray], float], params: dict, name: str, *,
                step: float = 1e-5, coalitions=(), nonnegative=True, rate_limit=None,
                capacity=None, solver=DEFAULT_SOLVER, solver_options=None) -> np.ndarray:
    """d fun(x*(params)) / d params[name] by central differences, re-solving with NashOpt.

    ``params`` holds a, b, mu, d, xbar (numpy); ``fun(x, params)`` maps the (N, T)
    equilibrium and the (perturbed) parameters to a float, e.g. a coalition's summed cost. Each entry of params[name] is moved by
    +-step (relative to max(1, |value|)): 2 * size solves. For d, keep the constraints
    feasible (rate limits, capacity) under the perturbation.
    """
    if name not in PARAMETERS:
        raise ValueError(f"name must be one of {PARAMETERS}, got {name!r}")
    base = np.asarray(params[name], float)
    grad = np.empty(base.shape)
    opts = dict(coalitions=coalitions, nonnegative=nonnegative, rate_limit=rate_limit,
                capacity=capacity, solver=solver, solver_options=solver_options)
    for idx in np.ndindex(base.shape):
        h = step * max(1.0, abs(base[idx]))
        values = []
        for sign in (1.0, -1.0):
            moved = base.copy()
            moved[idx] += sign * h
            x = solve(**{**params, name: moved}, **opts)
            values.append(fun(x, {**params, name: moved}))
        grad[idx] = (values[0] - values[1]) / (2 * h)
    return grad


# --------------------------------------------------------------------------- certificate


def _water_fill(g0, h, lo, hi, total, iters=200):
    """argmin_y sum_t (g0_t y_t + h_t/2 y_t^2) s.t. sum y = total, lo <= y <= hi (exact).

    y(lam) = clip((lam - g0)/h, lo, hi) is nondecreasing in lam: bisection brackets the
    multiplier, then the free set at the bracket fixes it in closed form.
    """
    def y_of(lam):
        return np.clip((lam - g0) / h, lo, hi)

    finite_lo = np.where(np.isfinite(lo), lo, -abs(total) - 1.0)
    finite_hi = np.where(np.isfinite(hi), hi, abs(total) + 1.0)
    left = np.min(g0 + h * finite_lo) - 1.0
    right = np.max(g0 + h * finite_hi) + 1.0
    for _ in range(iters):
        mid = 0.5 * (left + right)
        if y_of(mid).sum() < total:
            left = mid
        else:
            right = mid
        if right - left <= 1e-15 * max(1.0, abs(mid)):
            break
    lam = 0.5 * (left + right)
    y = y_of(lam)
    free = (y > lo) & (y < hi)
    if free.any():  # exact multiplier on the free set
        fixed = y[~free].sum()
        lam = (total - fixed + np.sum(g0[free] / h[free])) / np.sum(1.0 / h[free])
        y = y_of(lam)
    return y


def best_response_gains(a, b, mu, d, xbar, x, *, nonnegative=True, rate_limit=None,
                        capacity=None) -> np.ndarray:
    """Each station's saving from its best response to the others (Nash players only).

    The best response of station i given x_-i minimises a separable strictly convex
    quadratic subject to sum_t y_t = d_i and the box lo <= y <= hi, with hi including its
    room under the capacity, cap_t - sum_{j != i} x_j^t: solved exactly by water filling,
    independently of both NashOpt and evjax. Gains are c_i(x) - c_i(BR_i, x_-i) >= 0.
    """
    a, b, mu, d, xbar = _arrays(a, b, mu, d, xbar)
    x = np.asarray(x, float)
    n, t = x.shape
    total = x.sum(axis=0)
    r = None if rate_limit is None else np.broadcast_to(np.asarray(rate_limit, float), (n,))
    cap = None if capacity is None else np.broadcast_to(np.asarray(capacity, float), (t,))
    gains = np.empty(n)
    for i in range(n):
        others = total - x[i]
        g0 = a + b * others - mu[i] * xbar[i]
        h = 2 * b + mu[i]
        lo = np.full(t, 0.0 if nonnegative else -np.inf)
        hi = np.full(t, np.inf if r is None else r[i])
        if cap is not None:
            hi = np.minimum(hi, cap - others)
        y = _water_fill(g0, h, lo, hi, d[i])
        cost = lambda z: float(z @ (a + b * (others + z)) + 0.5 * mu[i] * np.sum((z - xbar[i]) ** 2))  # noqa: E731
        gains[i] = cost(x[i]) - cost(y)
    return gains


def violation(d, x, *, nonnegative=True, rate_limit=None, capacity=None) -> float:
    """The largest violation of the constraints by x (energy, bounds, capacity)."""
    x = np.asarray(x, float)
    v = [np.max(np.abs(x.sum(axis=1) - np.asarray(d, float)))]
    if nonnegative:
        v.append(max(0.0, -x.min()))
    if rate_limit is not None:
        r = np.broadcast_to(np.asarray(rate_limit, float), (x.shape[0],))
        v.append(max(0.0, np.max(x - r[:, None])))
    if capacity is not None:
        v.append(max(0.0, np.max(x.sum(axis=0) - capacity)))
    return float(max(v))
