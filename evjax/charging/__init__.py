"""Paper 000: the coalition charging game (Kudva, Kulkarni, Maheshwari, Aswani, Sastry 2024)."""

from .certify import Certificate, certify
from .closed_form import equilibrium
from .coalitions import Coalitions, coalition_lists, membership, players
from .game import ChargingGame
from .metrics import GroupCosts, Ratios, cost_ratios, group_cost, group_costs, station_costs
from .theorems import TheoremCondition, theorem_4_7, theorem_4_11
