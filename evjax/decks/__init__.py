"""The deck pricing game of paper 003 (charging/parking decks on a shared grid)."""

from .game import DeckGame, hour_game
from .grid import Grid
from .market import Customers, Market, customers, profits
from .report import (DeckEquilibrium, best_response_gains, convergence_trace, describe,
                     equilibrium)
from .scenarios import (EXPERIMENTS, build_game, default_scenario, experiment, hours,
                        load_scenario, without_grid)

__all__ = [
    "EXPERIMENTS", "Customers", "DeckEquilibrium", "DeckGame", "Grid", "Market",
    "best_response_gains", "build_game", "convergence_trace", "customers", "default_scenario",
    "describe", "equilibrium", "experiment", "hour_game", "hours", "load_scenario", "profits",
    "without_grid",
]
