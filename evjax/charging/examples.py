"""Built-in games in the settings of paper 000's figures."""

from __future__ import annotations

import numpy as np

from .game import ChargingGame

#: Station types of Section 4.3 (Figures 2-3): (d, mu).
TYPE_H_FIG2 = (5.0, 1.0)
TYPE_L_FIG2 = (1.0, 0.1)
#: Station types of Section 5 (Figure 5): (d, mu).
TYPE_H_FIG5 = (5.0, 5.0)
TYPE_L_FIG5 = (1.0, 1.0)


def two_level_shares(n_steps: int, low: float, high: float) -> np.ndarray:
    """alpha^t = low for t <= T/2 and high afterwards (Section 4.3), e.g. 0.4/T and 1.6/T."""
    t = np.arange(1, n_steps + 1)
    return np.where(t <= n_steps / 2, low, high)


def figure2_game(coalition_size: int = 2, n_stations: int = 5, n_steps: int = 10) -> ChargingGame:
    """The Figure 2 setting: b = 0.5, a^t = 0.5, alpha = (0.4/T, 1.6/T) halves.

    Stations 0..k-1 (the coalition, k = ``coalition_size``) are type L (d = 1, mu = 0.1); the
    rest are type H (d = 5, mu = 1), as the caption describes.
    """
    if not 0 <= coalition_size <= n_stations:
        raise ValueError(f"coalition_size must lie in [0, {n_stations}], got {coalition_size}")
    types = [TYPE_L_FIG2] * coalition_size + [TYPE_H_FIG2] * (n_stations - coalition_size)
    d, mu = (np.array(v) for v in zip(*types, strict=True))
    alpha = two_level_shares(n_steps, 0.4 / n_steps, 1.6 / n_steps)
    return ChargingGame.from_shares(np.full(n_steps, 0.5), 0.5, mu, d, alpha)


def figure5_game(coalition_types: str, outside_type: str, n_steps: int = 10) -> ChargingGame:
    """The Figure 5 setting: N = 3, b = 1, a^t = 10; stations 0, 1 form the coalition.

    ``coalition_types`` is one of "HH", "HL", "LL"; ``outside_type`` "H" or "L" (type H:
    d = 5, mu = 5; type L: d = 1, mu = 1). alpha is non-uniform (0.4/T then 1.6/T): the
    verdicts depend only on (mu, d, b) once alpha is non-uniform.
    """
    kinds = {"H": TYPE_H_FIG5, "L": TYPE_L_FIG5}
    code = coalition_types + outside_type
    if len(code) != 3 or any(c not in kinds for c in code):
        raise ValueError(f"types must be two of H/L and one of H/L, got {coalition_types!r}, "
                         f"{outside_type!r}")
    d, mu = (np.array(v) for v in zip(*(kinds[c] for c in code), strict=True))
    alpha = two_level_shares(n_steps, 0.4 / n_steps, 1.6 / n_steps)
    return ChargingGame.from_shares(np.full(n_steps, 10.0), 1.0, mu, d, alpha)


def figure4_game(n_stations: int = 16, n_steps: int = 10, seed: int = 0, p_high: float = 0.2):
    """A Figure 4 style game: each station type H with probability ``p_high`` (seeded), else L.

    Section 4.3 types (H: d = 5, mu = 1; L: d = 1, mu = 0.1), b = 0.5, non-uniform a^t =
    0.5 + 0.4 nu_t with nu_t ~ U[0, 1], alpha = 0.4/T then 1.6/T. The paper draws types for
    the coalition members only; for a sweep over every coalition the draw is per station.
    """
    rng = np.random.default_rng(seed)
    high = rng.random(n_stations) < p_high
    d = np.where(high, TYPE_H_FIG2[0], TYPE_L_FIG2[0])
    mu = np.where(high, TYPE_H_FIG2[1], TYPE_L_FIG2[1])
    a = 0.5 + 0.4 * rng.random(n_steps)
    alpha = two_level_shares(n_steps, 0.4 / n_steps, 1.6 / n_steps)
    return ChargingGame.from_shares(a, 0.5, mu, d, alpha)
