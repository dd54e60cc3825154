"""evjax: equilibria of EV-charging games in JAX, exact, differentiable and batched.

The library never changes JAX's global configuration; enable float64 in your own program
(the ``jax_enable_x64`` option) before creating arrays, as the CLI, tests, notebooks and
benchmarks do.
"""

import importlib.metadata

from .sweeps import SweepResult, sweep, sweep_batch
from .charging import (
    Certificate,
    ChargingGame,
    Coalitions,
    GroupCosts,
    PartitionSweep,
    Ratios,
    Structure,
    TheoremCondition,
    certify,
    coalition_lists,
    cost_ratios,
    equilibrium,
    group_cost,
    group_costs,
    membership,
    partitions,
    players,
    station_costs,
    theorem_4_7,
    theorem_4_11,
)

from .charging.constrained import ConstrainedChargingGame
from .decks import DeckGame, build_game as build_deck_game, default_scenario as default_deck_scenario
from . import decks, design, io, reproduce, solvers

__version__ = importlib.metadata.version("evjax")

__all__ = [
    "Certificate",
    "ChargingGame",
    "ConstrainedChargingGame",
    "DeckGame",
    "Coalitions",
    "GroupCosts",
    "PartitionSweep",
    "Ratios",
    "Structure",
    "TheoremCondition",
    "build_deck_game",
    "certify",
    "coalition_lists",
    "cost_ratios",
    "default_deck_scenario",
    "equilibrium",
    "group_cost",
    "group_costs",
    "membership",
    "partitions",
    "players",
    "station_costs",
    "sweep",
    "sweep_batch",
    "SweepResult",
    "theorem_4_7",
    "theorem_4_11",
]
