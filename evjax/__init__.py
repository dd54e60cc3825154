"""evjax: equilibria of EV-charging games in JAX, exact, differentiable and batched.

The library never changes JAX's global configuration; enable float64 in your own program
(the ``jax_enable_x64`` option) before creating arrays, as the CLI, tests, notebooks and
benchmarks do.

The public names below are imported on first use (PEP 562), so that ``import evjax`` itself
is cheap: the ``evjax`` command prints its help without loading JAX. ``evjax.NAME`` and
``from evjax import NAME`` work as for any module.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING

__version__ = importlib.metadata.version("evjax")

# Where each public name lives: {public name: (module, name there)}.
_EXPORTS = {
    **{n: ("evjax.sweeps", n) for n in (
        "PartitionSweep", "Structure", "SweepResult", "partitions", "sweep", "sweep_batch")},
    **{n: ("evjax.charging", n) for n in (
        "Certificate", "ChargingGame", "Coalitions", "GroupCosts", "Ratios",
        "TheoremCondition", "certify", "coalition_lists", "cost_ratios",
        "equilibrium", "group_cost", "group_costs", "membership", "players",
        "station_costs", "theorem_4_7", "theorem_4_11")},
    "ConstrainedChargingGame": ("evjax.charging.constrained", "ConstrainedChargingGame"),
    "station_costs_for": ("evjax.formation", "station_costs_for"),
    "DeckGame": ("evjax.decks", "DeckGame"),
    "build_deck_game": ("evjax.decks", "build_game"),
    "default_deck_scenario": ("evjax.decks", "default_scenario"),
}
_SUBPACKAGES = ("charging", "decks", "design", "formation", "io", "reproduce", "scenarios",
                "solvers", "sweeps")

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBPACKAGES})


if TYPE_CHECKING:  # the same names, for type checkers and editors
    from . import charging, decks, design, formation, io, reproduce, scenarios, solvers, sweeps
    from .charging import (Certificate, ChargingGame, Coalitions, GroupCosts, Ratios,
                           TheoremCondition, certify, coalition_lists, cost_ratios, equilibrium,
                           group_cost, group_costs, membership, players, station_costs,
                           theorem_4_7, theorem_4_11)
    from .charging.constrained import ConstrainedChargingGame
    from .decks import DeckGame
    from .formation import station_costs_for
    from .decks import build_game as build_deck_game
    from .decks import default_scenario as default_deck_scenario
    from .sweeps import PartitionSweep, Structure, SweepResult, partitions, sweep, sweep_batch
