"""The settings of paper 000's Figures 2-4 (Kudva et al. 2024) and their random games.

Each figure is made in two settings (:data:`SETTINGS`): as the paper's text describes it
(``caption``) and as the authors computed the published figure (``published``); see
:mod:`evjax.reproduce.kudva2024`. :func:`draw` makes evjax's draws of a setting and
:func:`replay` the authors' (their notebooks' random stream), both as :class:`Draws`, the
games of every coalition size as numpy arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..charging.examples import TYPE_H_FIG2, TYPE_L_FIG2, two_level_shares

N_STEPS = 10  # T of every figure
PRICE_SLOPE = 0.5  # b of Figures 2-4
PRICE_LEVEL = 0.5  # a^t = 0.5 + delta nu_t
TYPES = {"H": TYPE_H_FIG2, "L": TYPE_L_FIG2}  # (d, mu) of Figures 2-4
AUTHORS_SEED = 42  # numpy.random.seed(42) in the authors' Fig4.ipynb
AUTHORS_RUNS = 100  # n_runs per size in the authors' notebooks (also with --quick: cheap)
AVERAGING = {"caption": "mean_of_ratios", "published": "ratio_of_means"}  # CSV column stems


class Setting(NamedTuple):
    """One setting of Figures 2-4; the coalition is stations 0..k-1 for k = 1..N-1."""

    figure: int
    variant: str  # "caption" or "published"
    n_stations: int
    shares: tuple[float, float]  # T alpha^t for t <= T/2 and after (0.4, 1.6) or (1, 1)
    delta: float  # a^t = 0.5 + delta nu_t
    p_high: float  # probability that a coalition-type station is type H
    outside: str  # type of the stations that do not have the coalition's type
    extra: int  # coalition-type stations beyond the coalition: 0 (caption) or 1
    independent: bool  # d and mu of a coalition-type station drawn independently
    text: str  # one line for the figure's title

    @property
    def name(self) -> str:
        return f"fig{self.figure}_{self.variant}"

    @property
    def random(self) -> bool:
        return self.delta > 0 or 0 < self.p_high < 1

    @property
    def averaging(self) -> str:
        """"mean_of_ratios" (caption) or "ratio_of_means" (published, the authors' average)."""
        return AVERAGING[self.variant]


def _settings() -> dict[str, Setting]:
    fig2 = dict(figure=2, n_stations=5, shares=(0.4, 1.6), delta=0.0, p_high=0.0, outside="H",
                independent=False)
    fig3 = dict(fig2, figure=3, shares=(1.0, 1.0), delta=0.4)
    fig4 = dict(figure=4, n_stations=14, shares=(0.4, 1.6), delta=0.4, p_high=0.2)
    rows = [
        Setting(**fig2, variant="caption", extra=0,
                text="stations 0..k-1 (the coalition) type L, the rest H"),
        Setting(**fig2, variant="published", extra=1,
                text="stations 0..k type L (one more than the coalition), the rest H"),
        Setting(**fig3, variant="caption", extra=0,
                text="stations 0..k-1 (the coalition) type L, the rest H"),
        Setting(**fig3, variant="published", extra=1,
                text="stations 0..k type L (one more than the coalition), the rest H"),
        Setting(**fig4, variant="caption", outside="L", extra=0, independent=False,
                text="stations 0..k-1 type H w.p. 0.2 else L, the rest L"),
        Setting(**fig4, variant="published", outside="H", extra=1, independent=True,
                text="stations 0..k: d, mu each high w.p. 0.2 (independently), the rest H"),
    ]
    return {s.name: s for s in rows}


SETTINGS = _settings()


class Draws(NamedTuple):
    """The games of one setting, K = N - 1 sizes by D draws, as numpy arrays."""

    sizes: np.ndarray  # (K,) coalition sizes k
    typed: np.ndarray  # (K,) number of stations with the coalition's type
    a: np.ndarray  # (K, D, T)
    mu: np.ndarray  # (K, D, N)
    d: np.ndarray  # (K, D, N)
    alpha: np.ndarray  # (T,) shares: xbar_i^t = d_i alpha^t
    masks: np.ndarray  # (K, N) the coalition {0, ..., k-1} of each size


def _games(setting: Setting, nu, high_mu, high_d) -> Draws:
    """Draws from uniforms ``nu`` (K, D, T) and type flags (K, D, N) of coalition-type stations."""
    n = setting.n_stations
    sizes = np.arange(1, n)
    typed = np.minimum(sizes + setting.extra, n)
    coalition_type = np.arange(n) < typed[:, None, None]
    (d_h, mu_h), (d_l, mu_l), (d_out, mu_out) = TYPES["H"], TYPES["L"], TYPES[setting.outside]
    return Draws(
        sizes=sizes,
        typed=typed,
        a=PRICE_LEVEL + setting.delta * nu,
        mu=np.where(coalition_type, np.where(high_mu, mu_h, mu_l), mu_out),
        d=np.where(coalition_type, np.where(high_d, d_h, d_l), d_out),
        alpha=two_level_shares(N_STEPS, setting.shares[0] / N_STEPS, setting.shares[1] / N_STEPS),
        masks=(np.arange(n) < sizes[:, None]).astype(float),
    )


def draw(setting: Setting, n_draws: int, seed: int = 0) -> Draws:
    """evjax's draws of ``setting``: ``n_draws`` per size (one if nothing is random).

    a^t and the types are drawn afresh for every draw and size from
    ``numpy.random.default_rng((seed, setting.figure))``, so both settings of a figure see the
    same random numbers. The ``caption`` variants use these draws.
    """
    n, sizes = setting.n_stations, setting.n_stations - 1
    n_draws = n_draws if setting.random else 1
    rng = np.random.default_rng((seed, setting.figure))
    nu = rng.random((sizes, n_draws, N_STEPS))
    u_mu, u_d = rng.random((2, sizes, n_draws, n))
    high_mu = u_mu < setting.p_high
    high_d = (u_d if setting.independent else u_mu) < setting.p_high
    return _games(setting, nu, high_mu, high_d)


def replay(setting: Setting, n_runs: int = AUTHORS_RUNS, seed: int = AUTHORS_SEED) -> Draws:
    """The authors' games of ``setting``, replayed from ``numpy.random.RandomState(seed)``.

    In their notebooks' order: ``A = 0.5 + delta * rand(T)`` once (shared by every size and
    run), then for k = 1..N-1, run 1..``n_runs``, station i: ``binomial(1, p)`` for mu, then
    for d, index 1 (high: type H's mu, d) or 0. p is 0.2 for a coalition-type station
    (i <= k) of Figure 4, 0 for one of Figures 2-3, and 1 for an outside (type H) station.
    numpy's vectorised legacy binomial draws element by element in that order, as their
    scalar calls do. Runs of a setting without random types are identical: one is kept. With
    the default ``n_runs`` and ``seed`` these are the authors' draws; fewer runs are not a
    subset of them (the stream runs size by size).
    """
    if not isinstance(n_runs, (int, np.integer)) or isinstance(n_runs, bool) or n_runs < 1:
        raise ValueError(f"n_runs must be an integer >= 1, got {n_runs!r}")
    if setting.outside != "H" or (0 < setting.p_high < 1 and not setting.independent):
        raise ValueError(f"{setting.name} is not a setting of the authors' code")
    rs = np.random.RandomState(seed)
    nu = rs.rand(N_STEPS)
    n, sizes = setting.n_stations, np.arange(1, setting.n_stations)
    p = np.where(np.arange(n) <= sizes[:, None], setting.p_high, 1.0)  # (K, N)
    runs = n_runs if 0 < setting.p_high < 1 else 1
    high = rs.binomial(1, np.broadcast_to(p[:, None, :, None], (len(sizes), runs, n, 2))) == 1
    nu = np.broadcast_to(nu, (len(sizes), runs, N_STEPS))
    return _games(setting, nu, high[..., 0], high[..., 1])
