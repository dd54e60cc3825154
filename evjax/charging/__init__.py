"""Paper 000: the coalition charging game (Kudva, Kulkarni, Maheshwari, Aswani, Sastry 2024)."""

from .certify import Certificate, certify
from .closed_form import equilibrium
from .coalitions import Coalitions, coalition_lists, membership, players
from .eval_metric import cost_ratios
from .game import ChargingGame
from .metrics import group_cost, group_costs, station_costs
from .ratios import GROUPS, GroupCosts, Ratios, ratio_reasons
from .theorems import TheoremCondition, theorem_4_7, theorem_4_11
