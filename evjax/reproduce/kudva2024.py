"""Paper 000 (Kudva et al. 2024): Figures 2, 3 and 4, each in two settings, and Figure 5.

Figures 2-4 plot the Eval-Metric ratios M_[N], M_C, M_[N]\\C (cost at Nash over cost at
C-Nash) against the size k of the coalition C = {0, ..., k-1}, k = 1, ..., N-1. Each is made

* as the paper's text describes it (``caption``): the k coalition stations have the
  coalition's type (Section 4.3: type L; Section 5: type H with probability 0.2, else L) and
  the others the outside type (Section 4.3: H; Section 5: L);
* as the published figure was computed (``published``; the authors' code,
  github.com/kkulk/coalition-ev): stations 0..k have the coalition's type, one more than the
  coalition (see the seeds README). For Figure 4 that code also makes the outside stations
  type H and draws d and mu of a coalition-type station independently, and uses N = 14
  stations, which the text does not state; the published variant follows it in all of this.

Random parts (a^t = 0.5 + delta nu_t, nu_t ~ U[0, 1]; the Figure 4 types) are drawn afresh for
every draw and size from ``numpy.random.default_rng((seed, figure))``, so both settings of a
figure see the same random numbers. A point is the mean of the per-draw ratios, its error bar
one standard error over the draws (Figure 2 has nothing random: one draw). Figure 5 is the
three-station grid of all three ratios, with the verdicts of the paper's tables.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._plotting import pyplot, save
from ..charging.examples import TYPE_H_FIG2, TYPE_L_FIG2, figure5_game, two_level_shares
from ..charging.game import ChargingGame
from ..charging.metrics import cost_ratios
from ..sweeps.plot import LABELS

GROUPS = tuple(LABELS)  # "all", "coalition", "outside": the order of evjax.Ratios
N_STEPS = 10  # T of every figure
PRICE_SLOPE = 0.5  # b of Figures 2-4
PRICE_LEVEL = 0.5  # a^t = 0.5 + delta nu_t
TYPES = {"H": TYPE_H_FIG2, "L": TYPE_L_FIG2}  # (d, mu) of Figures 2-4
DRAWS = {False: 1000, True: 4}  # draws per size of a random setting: full, quick
BLOCK = 256  # games per compiled call (padded): one compilation per number of stations


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


def draw(setting: Setting, n_draws: int, seed: int = 0) -> Draws:
    """The games of ``setting``: ``n_draws`` per coalition size (one if nothing is random)."""
    n, t = setting.n_stations, N_STEPS
    n_draws = n_draws if setting.random else 1
    rng = np.random.default_rng((seed, setting.figure))
    sizes = np.arange(1, n)
    nu = rng.random((len(sizes), n_draws, t))
    u_mu, u_d = rng.random((2, len(sizes), n_draws, n))
    high_mu = u_mu < setting.p_high
    high_d = (u_d if setting.independent else u_mu) < setting.p_high
    typed = np.minimum(sizes + setting.extra, n)
    coalition_type = np.arange(n) < typed[:, None, None]
    (d_h, mu_h), (d_l, mu_l), (d_out, mu_out) = TYPES["H"], TYPES["L"], TYPES[setting.outside]
    return Draws(
        sizes=sizes,
        typed=typed,
        a=PRICE_LEVEL + setting.delta * nu,
        mu=np.where(coalition_type, np.where(high_mu, mu_h, mu_l), mu_out),
        d=np.where(coalition_type, np.where(high_d, d_h, d_l), d_out),
        alpha=two_level_shares(t, setting.shares[0] / t, setting.shares[1] / t),
        masks=(np.arange(n) < sizes[:, None]).astype(float),
    )


@jax.jit
def _ratios_block(a, b, mu, d, xbar, masks):
    def one(a, mu, d, xbar, m):
        return jnp.stack(cost_ratios(ChargingGame(a, b, mu, d, xbar), m, method="dense"))

    return jax.vmap(one)(a, mu, d, xbar, masks)


def batch_ratios(a, b, mu, d, xbar, masks) -> np.ndarray:
    """(M_[N], M_C, M_[N]\\C) of a batch of games, shape (B, 3).

    a (B, T), b scalar, mu and d (B, N), xbar (B, N, T), masks (B, N) the coalitions. Runs in
    padded blocks of ``BLOCK`` games, so one compilation serves every batch of N stations.
    """
    arrays = [np.asarray(v, float) for v in (a, mu, d, xbar, masks)]
    count = arrays[0].shape[0]
    pad = -count % BLOCK  # padded with copies of the first game, dropped at the end
    arrays = [np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for v in arrays]
    a, mu, d, xbar, masks = arrays
    out = [_ratios_block(a[i:i + BLOCK], float(b), mu[i:i + BLOCK], d[i:i + BLOCK],
                         xbar[i:i + BLOCK], masks[i:i + BLOCK])
           for i in range(0, count + pad, BLOCK)]
    return np.concatenate([np.asarray(r) for r in out])[:count]


def ratios(draws: Draws) -> np.ndarray:
    """Every draw's three ratios, shape (K, D, 3) (groups in the order of ``GROUPS``)."""
    k, n_draws, n = draws.mu.shape
    flat = lambda v: v.reshape(k * n_draws, *v.shape[2:])
    masks = np.repeat(draws.masks, n_draws, axis=0)
    xbar = draws.d[..., None] * draws.alpha
    r = batch_ratios(flat(draws.a), PRICE_SLOPE, flat(draws.mu), flat(draws.d), flat(xbar),
                     masks)
    return r.reshape(k, n_draws, 3)


def size_statistics(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per size, the mean over draws and its standard error, each (K, 3), of (K, D, 3) ratios.

    The standard error is std / sqrt(D) with the sample std (ddof 1); zero for one draw of a
    setting with nothing random.
    """
    n_draws = r.shape[1]
    se = r.std(axis=1, ddof=1) / np.sqrt(n_draws) if n_draws > 1 else np.zeros_like(r[:, 0])
    return r.mean(axis=1), se


class Figure5Cell(NamedTuple):
    """One cell of a Figure 5 table: a ratio of the three-station game and its verdict."""

    group: str  # "all", "coalition", "outside"
    outside: str  # type of station 2
    inside: str  # types of stations 0, 1 (the coalition)
    ratio: float

    @property
    def verdict(self) -> str:
        """The paper's wording: "Coalition" better when M_S > 1, else "Nash"."""
        return "Coalition" if self.ratio > 1.0 else "Nash"


def figure5() -> list[Figure5Cell]:
    """The three Figure 5 tables (N = 3, b = 1, a^t = 10, coalition {0, 1}), 18 cells."""
    cells = [(o, i) for o in ("H", "L") for i in ("HH", "HL", "LL")]
    games = [figure5_game(i, o, n_steps=N_STEPS) for o, i in cells]
    stack = lambda field: np.stack([np.asarray(getattr(g, field)) for g in games])
    r = batch_ratios(stack("a"), 1.0, stack("mu"), stack("d"), stack("xbar"),
                     np.tile([1.0, 1.0, 0.0], (len(games), 1)))
    return [Figure5Cell(g, o, i, float(r[c, j]))
            for j, g in enumerate(GROUPS) for c, (o, i) in enumerate(cells)]


def _write_csv(path: Path, header, rows) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _plot_sizes(setting: Setting, draws: Draws, mean, se, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    n_draws = draws.a.shape[1]
    for g, group in enumerate(GROUPS):
        ax.errorbar(draws.sizes, mean[:, g], yerr=se[:, g], marker="o", ms=4, capsize=3,
                    label=LABELS[group])
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(draws.sizes)
    ax.set_xlabel("coalition size k (coalition = stations 0..k-1)")
    ax.set_ylabel("cost at Nash / cost at C-Nash")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    spread = (f"mean of {n_draws} draws per size, bars: 1 standard error" if setting.random
              else "deterministic (1 draw)")
    ax.set_title(f"Figure {setting.figure}, {setting.variant} setting: N = "
                 f"{setting.n_stations}\n{setting.text}\n{spread}", fontsize=9)
    return save(fig, path)


def _plot_figure5(cells: list[Figure5Cell], path: Path) -> Path:
    plt = pyplot()
    titles = {"all": r"$M_{[N]}$ (not printed in the paper)",
              "coalition": r"$M_{\mathcal{C}}$ (the paper's first table)",
              "outside": r"$M_{[N]\setminus\mathcal{C}}$ (the paper's second table)"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    for ax, group in zip(axes, GROUPS, strict=True):
        grid = [c for c in cells if c.group == group]
        side = np.sign(np.array([c.ratio for c in grid]) - 1.0).reshape(2, 3)
        ax.imshow(side, cmap="RdBu", vmin=-2.5, vmax=2.5)  # light blue: M > 1, light red: M < 1
        for c, cell in enumerate(grid):
            ax.text(c % 3, c // 3, f"M = {cell.ratio:.6f}\n{cell.verdict} better",
                    ha="center", va="center", fontsize=9)
        ax.set_xticks(range(3), ["HH", "HL", "LL"])
        ax.set_yticks(range(2), ["H", "L"])
        ax.set_xlabel("types within the coalition {0, 1}")
        ax.set_ylabel("type outside (station 2)")
        ax.set_title(titles[group], fontsize=10)
    fig.suptitle("Figure 5: N = 3, T = 10, b = 1, a = 10; H: d = 5, mu = 5; L: d = 1, mu = 1 "
                 "(blue: M > 1, the coalition lowers that group's cost)", fontsize=10)
    return save(fig, path)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="kudva2024", unit="figure",
                disable=not (enabled and sys.stderr.isatty()))


def reproduce(out: Path, *, quick: bool = False, seed: int = 0,
              progress: bool = True) -> list[Path]:
    """Write paper 000's Figures 2-4 (both settings) and Figure 5 under ``out``.

    Files: ``figN_caption.{csv,png}`` and ``figN_published.{csv,png}`` for N = 2, 3, 4 (per
    coalition size: the stations with the coalition's type, the number of draws, and the mean
    and standard error of each ratio), ``fig5.csv`` (group, outside type, coalition types,
    ratio, verdict) and ``fig5.png``. ``quick`` uses 4 draws per size instead of 1000;
    ``seed`` (>= 0) fixes the random draws. Returns the paths written.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    header = ["size", "typed_stations", "n_draws",
              *(f"{s}_{g}" for g in GROUPS for s in ("mean", "se"))]
    with _progress(len(SETTINGS) + 1, progress) as bar:
        for name, setting in SETTINGS.items():
            draws = draw(setting, DRAWS[quick], seed)
            mean, se = size_statistics(ratios(draws))
            n_draws = draws.a.shape[1]
            rows = [[int(k), int(typed), n_draws,
                     *(v for g in range(3) for v in (mean[j, g], se[j, g]))]
                    for j, (k, typed) in enumerate(zip(draws.sizes, draws.typed, strict=True))]
            written.append(_write_csv(out / f"{name}.csv", header, rows))
            written.append(_plot_sizes(setting, draws, mean, se, out / f"{name}.png"))
            bar.update()
        cells = figure5()
        written.append(_write_csv(out / "fig5.csv",
                                  ["group", "outside", "inside", "ratio", "verdict"],
                                  [[c.group, c.outside, c.inside, c.ratio, c.verdict]
                                   for c in cells]))
        written.append(_plot_figure5(cells, out / "fig5.png"))
        bar.update()
    return written
