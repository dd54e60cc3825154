"""PNG plots of deck equilibria (paper 003 Figs 3-10), matplotlib with the Agg backend."""

from __future__ import annotations

import numpy as np

from .._plotting import pyplot, save




def prices(r, deck_names, path, title="") -> None:
    """Charging price and parking fee by hour, one line per deck."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for i, name in enumerate(deck_names):
        axes[0].plot(r.charging[i], marker=".", label=name)
        axes[1].plot(r.parking[i], marker=".", label=name)
    axes[0].set(title="charging price", xlabel="hour", ylabel="normalised price")
    axes[1].set(title="parking fee", xlabel="hour")
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    save(fig, path, dpi=100)


def convergence(trace, deck_names, path, title="") -> None:
    """Mean charging price, mean parking fee and revenue per deck over iterations (Fig 3)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    labels = ("mean charging price", "mean parking fee", "revenue")
    for ax, values, label in zip(axes, trace, labels, strict=True):
        for i, name in enumerate(deck_names):
            ax.plot(np.arange(values.shape[0]), values[:, i], label=name)
        ax.set(title=label, xlabel="relaxation iteration")
    axes[2].legend(fontsize=8)
    fig.suptitle(title)
    save(fig, path, dpi=100)


def comparison(base, r, deck_names, path, title="") -> None:
    """Per deck: mean charging price, mean fee and revenue, baseline vs experiment (Figs 4-10)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    idx = np.arange(len(deck_names))
    pairs = ((base.charging.mean(1), r.charging.mean(1), "mean charging price"),
             (base.parking.mean(1), r.parking.mean(1), "mean parking fee"),
             (base.revenue, r.revenue, "revenue"))
    for ax, (b, e, label) in zip(axes, pairs, strict=True):
        ax.bar(idx - 0.2, b, 0.4, label="baseline")
        ax.bar(idx + 0.2, e, 0.4, label="experiment")
        ax.set_xticks(idx, [str(i + 1) for i in idx])
        ax.set(title=label, xlabel="deck")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    save(fig, path, dpi=100)
