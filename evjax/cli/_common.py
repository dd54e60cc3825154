"""What every ``evjax`` command shares: the usage error (exit status 2), reading a game,
parsing station lists, checking output folders, and printing ratios and JSON."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from pathlib import Path

from .._paths import check_writable

EXIT_BAD_INPUT = 2

# The printed name of each group's ratio, keyed by the library's group names (in their order).
RATIO_NAMES = {"all": "M_[N]", "coalition": "M_C", "outside": "M_[N]\\C"}

FIGURE4_SOURCE = "built-in default (16 stations, Figure 4 type mix, seed 0)"


class UsageError(ValueError):
    """Bad input from the command line or a file: exit status 2, one line on stderr."""


@contextlib.contextmanager
def bad_input():
    """Turn the library's ``ValueError`` (its bad-input error) into a :class:`UsageError`."""
    try:
        yield
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def positive_number(value: float, flag: str) -> float:
    """``value`` if it is a finite number > 0, else a :class:`UsageError` naming ``flag``."""
    if not 0.0 < value < math.inf:  # False for NaN too
        raise UsageError(f"{flag} must be a finite number > 0, got {value!r}")
    return value


def stations(text: str, flag: str = "--coalition") -> list[int]:
    """The station indices of a comma-separated list such as ``0,1,2`` (at least one)."""
    try:
        members = [int(v) for v in text.split(",") if v.strip() != ""]
    except ValueError:
        raise UsageError(
            f"{flag} takes comma-separated station indices such as 0,1,2; got {text!r}"
        ) from None
    if not members:
        raise UsageError(f"{flag} needs at least one station index, got {text!r}")
    return members


def optional_stations(text: str | None, flag: str) -> list[int]:
    """:func:`stations`, or no station for an option not given (or given empty)."""
    return stations(text, flag) if text else []


def writable_folder(path, flag: str = "--out") -> Path:
    """The folder ``path``, checked writable (:func:`evjax._paths.check_writable`) and created,
    before any computation (a :class:`UsageError` naming ``flag`` otherwise)."""
    try:
        folder = check_writable(path, directory=True, name=flag)
        folder.mkdir(parents=True, exist_ok=True)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write there ({exc.strerror})") from None
    return folder


def load_game(path: str | None, *, default: str = "figure2"):
    """(game, the file's coalitions, where it came from) of a game file (JSON, :mod:`evjax.io`).

    Without a file: the Figure 2 setting of paper 000 with its coalition [0, 1]
    (``default="figure2"``), or 16 stations of the Figure 4 type mix and no coalition
    (``default="figure4"``)."""
    from ..charging.examples import figure2_game, figure4_game
    from ..io import load_game as read_game

    if path is None and default == "figure4":
        return figure4_game(), None, FIGURE4_SOURCE
    if path is None:
        return figure2_game(coalition_size=2), [[0, 1]], "built-in example (Figure 2 setting)"
    try:
        game, coalitions = read_game(path)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return game, coalitions, path


def finite_or_none(value) -> float | None:
    """``value`` as a float, or None where it is not finite (JSON has no NaN)."""
    value = float(value)
    return value if math.isfinite(value) else None


def ratio_report(game, coalition, nash_x, cnash_x):
    """(ratios as floats or None, reasons as str or None) of one coalition, from the Nash
    and C-Nash profiles (:func:`evjax.charging.metrics.group_ratios`, ``ratio_reasons``)."""
    from ..charging.metrics import group_costs, group_ratios, ratio_reasons

    nash, cnash = group_costs(game, nash_x, coalition), group_costs(game, cnash_x, coalition)
    ratios = [finite_or_none(r) for r in group_ratios(nash, cnash)]
    return ratios, list(ratio_reasons(nash, cnash, coalition, game.n_stations))


def print_ratios(ratios, reasons, heading: str) -> None:
    """The three ratios under ``heading``, one a line, each a number or why it is undefined."""
    print(f"\n{heading}")
    for name, r, why in zip(RATIO_NAMES.values(), ratios, reasons, strict=True):
        print(f"  {name} = {r:.10g}" if r is not None else f"  {name}: {why}")


def print_profile(x) -> None:
    """The charging profile ``x`` (N x T), one row a station."""
    import numpy as np

    print("\nEquilibrium x (row i: station i, columns: steps):")
    with np.printoptions(precision=6, suppress=True, linewidth=120):
        print(np.asarray(x))


def print_json(data, **options) -> int:
    """``data`` as one JSON document on stdout; exit status 0."""
    json.dump(data, sys.stdout, **options)
    sys.stdout.write("\n")
    return 0
