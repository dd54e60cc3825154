"""Charging sessions drawn from the ElaadNL statistics, and their uncontrolled profile.

A session arrives in a 15-minute slot drawn from the kind's arrival shares (uniformly inside
the slot), needs an energy E drawn from the kind's energy-demand distribution and stays a
connection time D drawn from the connection-time distribution (the source gives the two as
separate distributions: they are drawn independently). Uncontrolled, it charges at its port's
power P from its arrival until it has E, or until it leaves: it receives min(E, P D).

The day is periodic: charging that runs past the day's last hour continues at its first hour
(it stands for the previous day's late sessions, as in a run of identical days). The day is
the real local day of :func:`evjax.scenarios.real_data.day_prices`: a real hour whose clock
hour is h takes the arrival shares of clock hour h (so the spring clock change has no
arrivals at 02:00-03:00, the autumn one has them twice) and the shares are renormalised to
the day's real hours.
"""

from __future__ import annotations

import numpy as np

from .real_data import arrival_shares, quantiles


def arrival_weights(kind: str, weekend: bool, clock: np.ndarray) -> np.ndarray:
    """Shape (4 H,): the share of the day's arrivals in each real quarter-hour of a day whose
    H real hours have clock hours ``clock`` (sums to 1)."""
    share = arrival_shares(kind, weekend).reshape(24, 4)[np.asarray(clock)].ravel()
    return share / share.sum()


def _draw(table: str, kind: str, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws: a share p % of sessions needs more than q(p), so u % -> q(u)."""
    p, q = quantiles(table, kind)
    return np.interp(u, p, q)


def draw_sessions(kind: str, n: int, weights: np.ndarray, rng: np.random.Generator):
    """(start h, energy kWh, connection h) of ``n`` sessions on the real quarter-hours
    weighted by ``weights`` (shape (4 H,)); each array has shape (n,)."""
    slot = rng.choice(weights.size, size=n, p=weights)
    start = 0.25 * (slot + rng.random(n))
    energy = _draw("energy_demand", kind, 100.0 * rng.random(n))
    connection = _draw("connection_time", kind, 100.0 * rng.random(n))
    return start, energy, connection


def uncontrolled_profile(start, energy, connection, power: float, hours: int,
                         steps: int) -> np.ndarray:
    """Shape (steps,): kWh per step of sessions charging at ``power`` kW from ``start`` (h)
    for min(energy / power, connection) hours, on a periodic day of ``hours`` real hours cut
    into ``steps`` equal steps. Its sum is the energy delivered, sum min(energy, power
    connection)."""
    duration = np.minimum(np.asarray(energy) / power, np.asarray(connection))
    start = np.asarray(start)
    end = start + duration
    edges = np.linspace(0.0, float(hours), steps + 1)
    out = np.zeros(steps)
    wraps = int(np.ceil(end.max() / hours)) if end.size else 0
    for k in range(wraps + 1):  # the day repeated: charging past its end comes back
        lo, hi = edges[:-1] + k * hours, edges[1:] + k * hours
        overlap = (np.minimum(hi[None, :], end[:, None])
                   - np.maximum(lo[None, :], start[:, None]))
        out += power * np.clip(overlap, 0.0, None).sum(axis=0)
    return out
