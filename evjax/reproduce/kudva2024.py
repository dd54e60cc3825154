"""Paper 000 (Kudva et al. 2024): Figures 2, 3 and 4, each in two settings, and Figure 5.

Figures 2-4 plot the Eval-Metric ratios M_[N], M_C, M_[N]\\C (cost at Nash over cost at
C-Nash) against the size k of the coalition C = {0, ..., k-1}, k = 1, ..., N-1. Each is made

* as the paper's text describes it (``caption``): the k coalition stations have the
  coalition's type (Section 4.3: type L; Section 5: type H with probability 0.2, else L) and
  the others the outside type (Section 4.3: H; Section 5: L). Random parts (a^t = 0.5 +
  delta nu_t, nu_t ~ U[0, 1]; the Figure 4 types) are drawn afresh for every draw and size
  from ``numpy.random.default_rng((seed, figure))``; a point is the mean of the per-draw
  ratios over 1000 draws, its error bar one standard error of that mean;
* as the authors computed the published figure (``published``; their notebooks,
  github.com/kkulk/coalition-ev): stations 0..k have the coalition's type, one more than the
  coalition (see the seeds README); for Figure 4 the outside stations are type H, d and mu of
  a coalition-type station are drawn independently (each high with probability 0.2), and
  N = 14, none of which the text states. Their random numbers are replayed: one a^t per
  figure, shared by every size and run, then per size, run and station a binomial draw for
  mu and one for d, from ``numpy.random.RandomState(42)`` (their Figure 4 notebook calls
  ``numpy.random.seed(42)``; the legacy stream is the same). A point is mean(cost at Nash) /
  mean(cost at C-Nash) over their 100 runs per size, a ratio of means; the error bar is the
  authors' (std of the per-run ratios / 10), and the CSV adds a standard error of the ratio
  of means (delta method). In Figures 2 and 3 the authors' 100 runs per size are identical
  games (their types are drawn with probability 0 or 1), so one game per size is their
  average; their Figure 3 notebook sets no seed, so its a^t cannot be replayed and the
  published variant takes the first T uniforms of seed 42 (the a^t of their Figure 4).

Figure 5 is the three-station grid of all three ratios, with the verdicts of the paper's
tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float

from .._csv import write_csv
from .._plotting import save, subplots
from .._progress import progress_bar
from ..charging.closed_form import equilibrium
from ..charging.examples import figure5_game
from ..charging.game import ChargingGame
from ..charging.metrics import group_costs
from ..charging.ratios import GROUPS
from ..sweeps.plot import LABELS
from .kudva2024_settings import (AUTHORS_RUNS, AUTHORS_SEED, N_STEPS, PRICE_SLOPE, SETTINGS,
                                 TYPES, Draws, Setting, draw, replay)

__all__ = [  # the settings and draws are re-exported: this module is the paper's one face
    "AUTHORS_RUNS", "AUTHORS_SEED", "BLOCK", "DRAWS", "GROUPS", "N_STEPS", "PRICE_SLOPE",
    "SETTINGS", "TYPES", "Draws", "Figure5Cell", "Setting", "SizeTable", "batch_costs",
    "batch_ratios", "costs", "draw", "figure5", "ratio_of_means", "ratios", "replay",
    "reproduce", "size_statistics", "size_table",
]

DRAWS = {False: 1000, True: 4}  # caption draws per size of a random setting: full, quick
BLOCK = 256  # games per compiled call (padded): one compilation per number of stations


@jax.jit
def _costs_block(a, b, mu, d, xbar, masks):
    def one(a, mu, d, xbar, m):
        game = ChargingGame(a, b, mu, d, xbar)
        nash = group_costs(game, equilibrium(game, (), method="dense"), m)
        cnash = group_costs(game, equilibrium(game, m, method="dense"), m)
        return jnp.stack([jnp.stack(nash), jnp.stack(cnash)])

    return jax.vmap(one)(a, mu, d, xbar, masks)


def batch_costs(a, b, mu, d, xbar, masks) -> Float[np.ndarray, "B 2 3"]:
    """Group costs (c_[N], c_C, c_[N]\\C) at Nash ([:, 0]) and at C-Nash ([:, 1]) of a batch.

    a (B, T), b scalar, mu and d (B, N), xbar (B, N, T), masks (B, N) the coalitions. Runs in
    padded blocks of ``BLOCK`` games, so one compilation serves every batch of N stations.
    """
    arrays = [np.asarray(v, float) for v in (a, mu, d, xbar, masks)]
    count = arrays[0].shape[0]
    pad = -count % BLOCK  # padded with copies of the first game, dropped at the end
    arrays = [np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for v in arrays]
    a, mu, d, xbar, masks = arrays
    out = [_costs_block(a[i:i + BLOCK], float(b), mu[i:i + BLOCK], d[i:i + BLOCK],
                        xbar[i:i + BLOCK], masks[i:i + BLOCK])
           for i in range(0, count + pad, BLOCK)]
    return np.concatenate([np.asarray(r) for r in out])[:count]


def batch_ratios(a, b, mu, d, xbar, masks) -> Float[np.ndarray, "B 3"]:
    """(M_[N], M_C, M_[N]\\C) of a batch of games (arguments as :func:`batch_costs`)."""
    c = batch_costs(a, b, mu, d, xbar, masks)
    return c[:, 0] / c[:, 1]


def costs(draws: Draws) -> Float[np.ndarray, "K D 2 3"]:
    """Every draw's group costs at Nash ([..., 0, :]) and C-Nash ([..., 1, :])."""
    k, n_draws, n = draws.mu.shape
    flat = lambda v: v.reshape(k * n_draws, *v.shape[2:])
    masks = np.repeat(draws.masks, n_draws, axis=0)
    xbar = draws.d[..., None] * draws.alpha
    c = batch_costs(flat(draws.a), PRICE_SLOPE, flat(draws.mu), flat(draws.d), flat(xbar),
                    masks)
    return c.reshape(k, n_draws, 2, 3)


def ratios(draws: Draws) -> Float[np.ndarray, "K D 3"]:
    """Every draw's three ratios (groups in the order of ``GROUPS``)."""
    c = costs(draws)
    return c[..., 0, :] / c[..., 1, :]


def size_statistics(r: Float[np.ndarray, "K D 3"]) -> tuple[np.ndarray, np.ndarray]:
    """Per size, the mean of the per-draw ratios and its standard error, each (K, 3).

    The standard error is std / sqrt(D) with the sample std (ddof 1); zero for one draw of a
    setting with nothing random. The ``caption`` average.
    """
    n_draws = r.shape[1]
    se = r.std(axis=1, ddof=1) / np.sqrt(n_draws) if n_draws > 1 else np.zeros_like(r[:, 0])
    return r.mean(axis=1), se


def ratio_of_means(c: Float[np.ndarray, "K D 2 3"]) -> tuple[np.ndarray, ...]:
    """The authors' average: per size mean(cost at Nash) / mean(cost at C-Nash), each (K, 3).

    Returns (ratio, se, bar): ``se`` is the delta-method standard error of the ratio of means,
    sqrt(var(c* - R c-dagger) / D) / mean(c-dagger) with ddof 1; ``bar`` the authors' error
    bar, std(per-run ratios) / sqrt(D) with ddof 0. Both are zero for one draw.
    """
    nash, cnash = c[..., 0, :], c[..., 1, :]
    ratio = nash.mean(axis=1) / cnash.mean(axis=1)
    n_draws = c.shape[1]
    if n_draws == 1:
        return ratio, np.zeros_like(ratio), np.zeros_like(ratio)
    residual = nash - ratio[:, None] * cnash
    se = residual.std(axis=1, ddof=1) / np.sqrt(n_draws) / cnash.mean(axis=1)
    bar = (nash / cnash).std(axis=1) / np.sqrt(n_draws)
    return ratio, se, bar


class SizeTable(NamedTuple):
    """One figure of Figures 2-4 as computed: per size k the plotted point and its bars."""

    setting: Setting
    draws: Draws
    value: np.ndarray  # (K, 3) the plotted ratios (averaged as ``setting.averaging``)
    se: np.ndarray  # (K, 3) standard error of ``value``
    bar: np.ndarray  # (K, 3) the plotted error bar: ``se`` (caption), the authors' (published)

    @property
    def n_draws(self) -> int:
        return self.draws.a.shape[1]


def size_table(setting: Setting, *, quick: bool = False, seed: int = 0) -> SizeTable:
    """One of Figures 2-4 as plotted and written (values, standard errors, bars per size).

    ``caption``: :func:`draw` seeded by ``seed`` (1000 draws per size, 4 when ``quick``), mean
    of the per-draw ratios. ``published``: :func:`replay` of the authors' seed and 100 runs
    (also when ``quick``; ``seed`` is not used), ratio of the mean costs.
    """
    if setting.variant == "published":
        draws = replay(setting)
        value, se, bar = ratio_of_means(costs(draws))
        return SizeTable(setting, draws, value, se, bar)
    draws = draw(setting, DRAWS[quick], seed)
    value, se = size_statistics(ratios(draws))
    return SizeTable(setting, draws, value, se, se)


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


def _write_table(table: SizeTable, path: Path) -> Path:
    """Per size: size, typed_stations, n_draws, then per group the value (its column named
    after the averaging), se and, published, the authors' bar."""
    stem, published = table.setting.averaging, table.setting.variant == "published"
    header = ["size", "typed_stations", "n_draws"]
    for g in GROUPS:
        header += [f"{stem}_{g}", f"se_{g}"] + ([f"authors_bar_{g}"] if published else [])
    rows = []
    for j, (k, typed) in enumerate(zip(table.draws.sizes, table.draws.typed, strict=True)):
        row = [int(k), int(typed), table.n_draws]
        for g in range(3):
            row += [table.value[j, g], table.se[j, g]] + ([table.bar[j, g]] if published else [])
        rows.append(row)
    return write_csv(path, header, rows)


def _plot_sizes(table: SizeTable, path: Path) -> Path:
    setting, sizes = table.setting, table.draws.sizes
    fig, ax = subplots(figsize=(6.4, 4.4))
    for g, group in enumerate(GROUPS):
        ax.errorbar(sizes, table.value[:, g], yerr=table.bar[:, g], marker="o", ms=4,
                    capsize=3, label=LABELS[group])
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(sizes)
    ax.set_xlabel("coalition size k (coalition = stations 0..k-1)")
    ax.set_ylabel("cost at Nash / cost at C-Nash")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if not setting.random:
        spread = "deterministic (1 draw)"
    elif setting.variant == "caption":
        spread = f"mean of the ratios of {table.n_draws} draws per size, bars: 1 standard error"
    elif table.n_draws == 1:
        spread = f"one a^t (RandomState({AUTHORS_SEED})), the authors' runs are identical"
    else:
        spread = (f"ratio of mean costs over {table.n_draws} runs (RandomState({AUTHORS_SEED})),"
                  f" bars: the authors' std(ratios)/{np.sqrt(table.n_draws):g}")
    ax.set_title(f"Figure {setting.figure}, {setting.variant} setting: N = "
                 f"{setting.n_stations}\n{setting.text}\n{spread}", fontsize=9)
    return save(fig, path)


def _plot_figure5(cells: list[Figure5Cell], path: Path) -> Path:
    titles = {"all": r"$M_{[N]}$ (not printed in the paper)",
              "coalition": r"$M_{\mathcal{C}}$ (the paper's first table)",
              "outside": r"$M_{[N]\setminus\mathcal{C}}$ (the paper's second table)"}
    fig, axes = subplots(1, 3, figsize=(13, 3.9))
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


def reproduce(out: Path, *, quick: bool = False, seed: int = 0,
              progress: bool = True) -> list[Path]:
    """Write paper 000's Figures 2-4 (both settings) and Figure 5 under ``out``.

    Files: ``figN_caption.{csv,png}`` and ``figN_published.{csv,png}`` for N = 2, 3, 4 (per
    coalition size: the stations with the coalition's type, the number of draws, and each
    ratio with its standard error: ``mean_of_ratios_*`` in the caption files,
    ``ratio_of_means_*`` and ``authors_bar_*`` in the published ones), ``fig5.csv`` (group,
    outside type, coalition types, ratio, verdict) and ``fig5.png``. ``quick`` uses 4 caption
    draws per size instead of 1000 (the published variants keep the authors' 100 runs);
    ``seed`` (>= 0) fixes the caption draws, the published ones replay the authors' seed 42.
    Returns the paths written.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with progress_bar(len(SETTINGS) + 1, enabled=None if progress else False, desc="kudva2024",
                      unit="figure") as bar:
        for name, setting in SETTINGS.items():
            table = size_table(setting, quick=quick, seed=seed)
            written.append(_write_table(table, out / f"{name}.csv"))
            written.append(_plot_sizes(table, out / f"{name}.png"))
            bar.update()
        cells = figure5()
        written.append(write_csv(out / "fig5.csv",
                                  ["group", "outside", "inside", "ratio", "verdict"],
                                  [[c.group, c.outside, c.inside, c.ratio, c.verdict]
                                   for c in cells]))
        written.append(_plot_figure5(cells, out / "fig5.png"))
        bar.update()
    return written
