"""The deck pricing game of paper 003 (charging/parking decks on a shared grid)."""

from .game import DeckGame
from .grid import Grid
from .market import Customers, Market, customers, profits
from .scenarios import (EXPERIMENTS, build_game, default_scenario, experiment, hours,
                        load_scenario, without_grid)
