"""What a deck equilibrium tells: prices, customers, elasticities, revenue, grid loading,
certificates.

:func:`equilibrium` solves a :class:`DeckGame` with the Nikaido-Isoda solver and returns a
:class:`DeckEquilibrium` of numpy arrays. Besides the solver's own NI gap it carries an
independent certificate, :func:`best_response_gains`: each deck's best response to the others'
prices found globally (the deck's problem separates by hour into 2-variable problems, searched
on a dense grid over the price box with zooms, grid constraints respected), because a deck's
profit need not be concave: with elastic SC it can have two peaks (serve the SC at a low bill,
or drop them and charge the captive parkers more; decks.md, "Certification in a non-concave
game"), and the solver's interior-point response is a local method that can stop at the lower
one. The global search is therefore also the way forward: where it finds a better response
than the relaxation's answer in some hour, the relaxation of that hour is restarted from the
point where those decks play their global best responses (at most ``RESTARTS`` times), and the
equilibrium is certified only if no deck then gains. :func:`convergence_trace` is Fig 3: the
path the relaxation took.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..solvers import RESULTS, result_code, solve
from .game import DeckGame, hour_game
from .market import customers, elasticities, revenues, split

BINDING_SLACK = 1e-7  # a constraint binds when its slack (relative to its limit) is below this


@dataclasses.dataclass
class DeckEquilibrium:
    """A solved deck game (numpy arrays; I decks, H hours, K grid constraints per hour).

    ``charging``, ``parking`` (I, H) prices; ``customers`` dict of (I, H) counts per group;
    ``revenue`` (I,) daily profit R_i; ``load`` (I, H) kW; ``constraints`` list of dicts (kind,
    element, hour, value c <= 0, slack -c, multiplier, binding); ``clipped`` dict: counts of
    (deck, hour) where eq (8)'s LSC charging is clipped at zero (raw g <= 0) or within 5 clip
    widths of it (SC are a logit, positive: never clipped); ``elasticity`` dict of (I, H)
    own-price elasticities at the equilibrium per group, ``"sc"``, ``"lsc_charging"``,
    ``"lc"`` (-d ln N / d ln p in the deck's own charging price, every other price held;
    :func:`evjax.decks.market.elasticities`; NaN where a group has no customers);
    ``ni_gap``, ``violation``, ``steps``, ``result`` (solver code), ``message``; ``gains``
    (I,) best-response gains (global search) and ``certified``: converged, relative gains
    < 1e-6 and violation < 1e-8; ``restarts``: one dict per restart of an hour's relaxation
    from the decks' global best responses (``hour`` its index in the scenario, ``decks``
    1-based, ``gain`` the largest gain found, ``result`` of the restarted solve); ``trace``: the relaxation's path for Fig 3
    (:func:`convergence_trace`), or None.
    """

    charging: np.ndarray
    parking: np.ndarray
    customers: dict
    revenue: np.ndarray
    load: np.ndarray
    constraints: list
    clipped: dict
    ni_gap: float
    violation: float
    steps: int
    step_sizes: np.ndarray
    gap_history: np.ndarray
    result: int
    message: str
    gains: np.ndarray
    x: np.ndarray
    elasticity: dict = dataclasses.field(default_factory=dict)
    restarts: list = dataclasses.field(default_factory=list)
    trace: dict | None = None

    @property
    def converged(self) -> bool:
        return self.result == int(result_code(RESULTS.successful))

    @property
    def relative_gain(self) -> float:
        return float(np.max(self.gains / np.maximum(np.abs(self.revenue), 1e-12)))

    @property
    def certified(self) -> bool:
        return self.converged and self.relative_gain < 1e-6 and self.violation < 1e-8

    @property
    def binding(self) -> list:
        return [c for c in self.constraints if c["binding"]]

    def summary(self) -> dict:
        """The JSON summary: per deck means and revenue, NI gap, violation, steps, binding."""
        decks = [{"mean_charging_price": float(self.charging[i].mean()),
                  "mean_parking_fee": float(self.parking[i].mean()),
                  "revenue": float(self.revenue[i]),
                  "best_response_gain": float(self.gains[i]),
                  "mean_elasticity": {k: _nanmean(v[i]) for k, v in self.elasticity.items()}}
                 for i in range(len(self.revenue))]
        return {
            "decks": decks, "ni_gap": self.ni_gap, "max_violation": self.violation,
            "steps": self.steps, "converged": self.converged, "message": self.message,
            "certified": self.certified, "max_relative_gain": self.relative_gain,
            "binding": [{k: c[k] for k in ("kind", "element", "hour", "multiplier")}
                        for c in self.binding],
            "clipped": self.clipped,
            "restarts": self.restarts,
        }


def _nanmean(v) -> float | None:
    """The mean of the finite entries, None (JSON null) if there are none."""
    v = np.asarray(v)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else None


# The optimal response at some relaxation points needs more than solve's default 100
# interior-point iterations (deck 6 without LSC at 20 h of the default day: 100 fail, the
# converged responses take up to about 45); 300 only bounds the loop, the program is the same.
RESPONSE_STEPS = 300
RESTARTS = 3  # restarts of an hour's relaxation from the decks' global best responses, at most
# Paper 003's algorithm is the constant step 0.5 (``solve``'s own default is the optimal step).
STEP = "constant"
# One compiled hourly solve per step rule: always pass x0 (game.start() for the paper's start).
_solve = eqx.filter_jit(lambda game, x0, step=STEP: solve(game, x0, step=step, throw=False,
                                                     record=True, response_steps=RESPONSE_STEPS))


def equilibrium(game: DeckGame, *, certify: bool = True, by_hour: bool = True,
                restarts: int = RESTARTS, step: str = STEP):
    """Solve ``game`` (Nikaido-Isoda relaxation, normalised equilibrium) and report it.

    ``by_hour`` (default) solves the H hourly games separately (:func:`hour_game`; exactly
    the same equilibrium, one compilation for all hours) and joins them: the NI gap is the sum
    of the hourly gaps, steps and result the worst hour's. With ``certify`` each hour's answer
    is checked by the global best-response search; where some deck gains more than
    1e-6 |R_i| / H there (so that the day's gain could reach the certificate's 1e-6 |R_i|),
    that hour is solved again from the point where each such deck plays its global best
    response, up to ``restarts`` times (decks.md, "Certification in a non-concave game").
    Only converged hours are restarted: an hour whose solve failed keeps its result, so the
    report says so (not converged, not certified) instead of hiding the failure. ``step`` is
    the relaxation's step rule (:func:`evjax.solvers.solve`): ``"constant"`` (paper 003's 0.5,
    the default) or ``"optimal"``."""
    if not by_hour or game.shape[1] == 1:
        return describe(game, _solve(game, game.start(), step), certify=certify)
    games = [hour_game(game, t) for t in range(game.shape[1])]
    sols = [_solve(g, g.start(), step) for g in games]
    if not certify:
        return describe(game, join_hours(sols), certify=False)
    sols, gains, log = _certify_by_hour(game, games, sols, restarts, step)
    return describe(game, join_hours(sols), certify=True, gains=np.sum(gains, axis=1),
                    restarts=log)


def _certify_by_hour(game: DeckGame, games, sols, restarts: int, step: str = STEP):
    """The hourly solutions after at most ``restarts`` rounds of restarts from global best
    responses (see :func:`equilibrium`); returns (solutions, gains (I, H), restart log)."""
    hours = len(games)
    found = [_best_responses(g, s.value) for g, s in zip(games, sols, strict=True)]
    log, stuck = [], set()  # stuck: hours whose restart failed (it would fail again)
    for _ in range(restarts):
        x = jnp.concatenate([s.value for s in sols], axis=1)
        scale = 1e-6 * np.maximum(np.abs(np.asarray(game.payoffs(x))), 1.0) / hours
        # only converged hours: a local answer that a global response beats (non-concave
        # profit). A failed solve stays failed and is reported as such, not retried here.
        redo = [t for t in range(hours) if bool(sols[t].converged)
                and t not in stuck and np.any(np.asarray(found[t][0])[:, 0] > scale)]
        if not redo:
            break
        for t in redo:
            gain = np.asarray(found[t][0])[:, 0]
            decks = [int(i) for i in np.flatnonzero(gain > scale)]
            x0 = np.asarray(sols[t].value).copy()
            for i in decks:
                x0[2 * i: 2 * i + 2] = np.asarray(found[t][1])[i]
            sol = _solve(games[t], jnp.asarray(x0), step)
            log.append({"hour": t, "decks": [i + 1 for i in decks],
                        "gain": float(gain.max()), "result": int(sol.code)})
            if sol.converged:
                sols[t] = sol
                found[t] = _best_responses(games[t], sol.value)
            else:  # keep the converged (uncertified) answer; the log says what failed
                stuck.add(t)
    gains = np.concatenate([np.asarray(f[0]) for f in found], axis=1)
    return sols, gains, log


def join_hours(sols):
    """One solution-like record from the hourly solutions (in hour order)."""
    cat = lambda f: jnp.concatenate([f(s) for s in sols], axis=-1)  # noqa: E731
    k = sols[0].response.shared_mult.shape[0]
    # shared multipliers in the (K, H) layout of DeckGame.grid_constraints
    lam = jnp.stack([s.response.shared_mult for s in sols], axis=1).reshape(-1) if k else (
        jnp.zeros(0))
    worst = int(jnp.argmax(jnp.stack([s.code for s in sols])))
    steps = jnp.stack([s.steps for s in sols])
    gaps = jnp.stack([s.gap_history for s in sols])  # (H, S + 1), NaN after each hour's end
    last = jnp.stack([s.gap for s in sols])
    idx = jnp.arange(gaps.shape[1])[None, :]
    filled = jnp.where(idx <= steps[:, None], gaps, last[:, None])  # a finished hour stays
    history = jnp.where(idx[0] <= jnp.max(steps), jnp.sum(filled, axis=0), jnp.nan)
    iterates = None
    if sols[0].iterates is not None:  # (S + 1, 2I, H): a finished hour keeps its last point
        xs = jnp.concatenate([s.iterates for s in sols], axis=-1)
        stop = jnp.concatenate([jnp.full(s.iterates.shape[-1], s.steps) for s in sols])
        held = jnp.take_along_axis(xs, stop[None, None, :], axis=0)
        iterates = jnp.where(idx[0][:, None, None] <= stop[None, None, :], xs, held)
    return _Joined(
        value=cat(lambda s: s.value), result=sols[worst].result, gap=jnp.sum(last),
        violation=jnp.max(jnp.stack([s.violation for s in sols])), steps=jnp.max(steps),
        gap_history=history, step_sizes=sols[int(jnp.argmax(steps))].step_sizes,
        response=_Multipliers(lam), iterates=iterates)


@dataclasses.dataclass
class _Multipliers:
    shared_mult: jnp.ndarray


@dataclasses.dataclass
class _Joined:
    value: jnp.ndarray
    result: RESULTS
    gap: jnp.ndarray
    violation: jnp.ndarray
    steps: jnp.ndarray
    gap_history: jnp.ndarray
    step_sizes: jnp.ndarray
    response: _Multipliers
    iterates: jnp.ndarray | None


def describe(game: DeckGame, sol, *, certify: bool = True, gains=None,
             restarts=()) -> DeckEquilibrium:
    """A :class:`DeckEquilibrium` from a solver solution ``sol`` of ``game``; ``gains`` (I,)
    the best-response gains if already known (else computed when ``certify``), ``restarts``
    the restart log of :func:`equilibrium`."""
    x = sol.value
    n = customers(game.market, x)
    m = game.market
    width = m.clip_width
    raw_g = np.asarray(n.lsc_fraction_raw)
    has_lsc = np.asarray(m.lsc) > 0
    clipped = {
        "lsc_charging_clipped": int(np.sum((raw_g <= 0) & has_lsc)),
        "lsc_charging_near_clip": int(np.sum((raw_g < 5 * width) & has_lsc)),
    }
    rows = []
    if game.grid is not None:
        c = np.asarray(game.grid_constraints(x))
        lam = np.asarray(sol.response.shared_mult).reshape(c.shape)
        for k, (kind, element) in enumerate(game.grid.labels()):
            for t in range(c.shape[1]):
                rows.append({"kind": kind, "element": element, "hour": t,
                             "value": float(c[k, t]), "slack": float(-c[k, t]),
                             "multiplier": float(lam[k, t]),
                             "binding": bool(-c[k, t] < BINDING_SLACK)})
    p, f = split(np.asarray(x))
    groups = {"lc_park": m.lc_park, "lc_charge": m.lc_charge, "lsc": m.lsc,
              "lsc_charging": n.lsc_charging, "sc": n.sc, "parking": n.parking,
              "charging": n.charging}
    if gains is None:
        gains = best_response_gains(game, x) if certify else np.full(m.n_decks, np.nan)
    steps = int(sol.steps)
    return DeckEquilibrium(
        charging=p, parking=f, customers={k: np.asarray(v) for k, v in groups.items()},
        revenue=np.asarray(game.payoffs(x)), load=np.asarray(game.load(x)), constraints=rows,
        clipped=clipped, ni_gap=float(sol.gap), violation=float(sol.violation), steps=steps,
        step_sizes=np.asarray(sol.step_sizes)[:steps],
        gap_history=np.asarray(sol.gap_history)[: steps + 1], result=int(result_code(sol.result)),
        message=RESULTS[sol.result], gains=np.asarray(gains), x=np.asarray(x),
        elasticity={k: np.asarray(v) for k, v in _elasticities(m, x).items()},
        restarts=list(restarts),
        trace=None if sol.iterates is None else convergence_trace(
            game, sol.iterates, np.asarray(sol.gap_history), steps, x, sol.gap),
    )


# --------------------------------------------------------------------------- certificate


def _hour_profit_and_feasible(game: DeckGame, i, x, p, f):
    """For candidates (G, H) of deck i's prices (same candidate index for every hour):
    deck i's hour profits (G, H) and feasibility (G, H), the other decks at ``x``."""

    def one(pc, fc):
        y = jax.lax.dynamic_update_index_in_dim(x, pc, 2 * i, 0)
        y = jax.lax.dynamic_update_index_in_dim(y, fc, 2 * i + 1, 0)
        parking, charging = revenues(game.market, y)
        profit = parking[i] + charging[i]
        if game.grid is None:
            return profit, jnp.ones_like(profit, bool)
        return profit, jnp.all(game.grid_constraints(y) <= 1e-10, axis=0)

    return jax.lax.map(lambda a: one(*a), (p, f), batch_size=512)


_elasticities = eqx.filter_jit(elasticities)


def best_response_gains(game: DeckGame, x, *, n: int = 101, zooms: int = 12) -> np.ndarray:
    """(I,) each deck's profit gain from its best response to the others' prices ``x``.

    Global per hour: the deck's profit and the grid constraints of hour t involve only hour
    t's prices, so its best response is H independent problems in (charging price, parking
    fee); each is searched on an n x n grid over the box, then ``zooms`` times on a 21 x 21
    grid of +-2 cells around the best feasible point (cells shrink 5x each time), reaching
    about 1e-10 of the box. Grid constraints are respected to 1e-10. (The hourly gains and
    best responses: :func:`best_responses`.)
    """
    return np.asarray(jnp.sum(best_responses(game, x, n=n, zooms=zooms)[0], axis=1))


def best_responses(game: DeckGame, x, *, n: int = 101, zooms: int = 12):
    """(gains (I, H), points (I, 2, H)): each deck's gain in each hour from its global best
    response to the others' prices ``x`` (0 where it cannot gain), and that response (its
    charging price and parking fee per hour). The search of :func:`best_response_gains`."""
    return _best_responses(game, jnp.asarray(x), n=n, zooms=zooms)


@eqx.filter_jit
def _best_responses(game: DeckGame, x, *, n: int = 101, zooms: int = 12):
    lower, upper = game.bounds()
    lo, hi = lower[:2, 0], upper[:2, 0]  # (charging, parking)
    hours = x.shape[1]
    parking, charging = revenues(game.market, x)
    now = parking + charging  # (I, H) hour profits

    def search(i, centre, cell, k):
        """Best feasible value and point per hour on a k x k grid of +-(k-1)/2 cells."""
        offsets = jnp.linspace(-(k - 1) / 2, (k - 1) / 2, k)
        grid = jnp.clip(centre[:, None, :] + offsets[None, :, None] * cell[:, None, None],
                        lo[:, None, None], hi[:, None, None])  # (2, k, H)
        pp = jnp.repeat(grid[0], k, axis=0)
        ff = jnp.tile(grid[1], (k, 1))
        val, ok = _hour_profit_and_feasible(game, i, x, pp, ff)
        val = jnp.where(ok, val, -jnp.inf)
        j = jnp.argmax(val, axis=0)
        pick = lambda a: jnp.take_along_axis(a, j[None], 0)[0]  # noqa: E731
        return pick(val), jnp.stack([pick(pp), pick(ff)])

    def deck(i):
        cell = (hi - lo) / (n - 1)
        centre = jnp.broadcast_to(((lo + hi) / 2)[:, None], (2, hours))
        best, point = search(i, centre, cell, n)

        def zoom(_, carry):
            best, point, cell = carry
            cell = cell / 5
            value, new = search(i, point, cell, 21)
            better = value > best
            return (jnp.where(better, value, best), jnp.where(better[None], new, point),
                    cell)

        best, point, _ = jax.lax.fori_loop(0, zooms, zoom, (best, point, cell * 1.0))
        gain = jnp.where(jnp.isfinite(best), jnp.maximum(best - now[i], 0.0), 0.0)
        own = jnp.stack([x[2 * i], x[2 * i + 1]])
        return gain, jnp.where(gain > 0, point, own)

    return jax.lax.map(deck, jnp.arange(game.market.n_decks))


# ------------------------------------------------------------------------ convergence trace


def convergence_trace(game: DeckGame, iterates, gaps, steps: int, value, gap) -> dict:
    """Fig 3: the path of the solve. ``iterates`` (S, 2I, H), S > ``steps``, holds the
    relaxation's points x_0 .. x_steps (paper eq (27), as :func:`evjax.solvers.solve` took them
    with ``record=True``) and ``gaps`` (S,) their NI gaps; ``value`` and ``gap`` are the
    solution (after the solver's Newton polish) and its NI gap, the path's last point, at
    iteration steps + 1. Returns a dict of ``charging`` and ``parking`` (steps + 2, I) mean
    prices, ``revenue`` (steps + 2, I) daily profits R_i and ``ni_gap`` (steps + 2,)."""
    xs = np.concatenate([np.asarray(iterates), np.asarray(value)[None]])
    path = np.concatenate([xs[: steps + 1], xs[-1:]])
    revenue = np.asarray(_payoff_path(game, jnp.asarray(xs)))  # one shape per game size
    return {"charging": path[:, 0::2].mean(axis=2), "parking": path[:, 1::2].mean(axis=2),
            "revenue": np.concatenate([revenue[: steps + 1], revenue[-1:]]),
            "ni_gap": np.append(np.asarray(gaps)[: steps + 1], float(gap))}


_payoff_path = eqx.filter_jit(lambda game, xs: jax.vmap(game.payoffs)(
    jnp.where(jnp.isfinite(xs), xs, 0.0)))
