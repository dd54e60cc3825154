"""Coalition formation (issue 21): which coalitions of paper 000's charging game are stable,
and how their members can share what they save.

Layers, bottom to top: ``costs`` (per-station costs at C-Nash, batched; the O(N^2) Gram form
for constant b), ``stability`` (cartel stability, d'Aspremont et al. 1983: one coalition,
every coalition of a game, differentiable margins), ``shares`` (savings, Shapley value,
splits, core), ``transfers`` (stability when members are paid Shapley shares),
``partitions`` (several coalitions: Nash stable structures and the core of the partition
game), ``plot`` (the picture of the CLI). Every verdict counts a gain within
``rtol`` (default 1e-9) times the largest Nash cost as a tie: no reason to move.
"""

from .costs import (CostTables, coalition_masks, cost_tables, costs_at, nash_costs,
                    station_costs_for)
from .stability import (Stability, StableCoalitions, cartel_stability, stability_margins,
                        stable_coalitions)
from .shares import (SPLITS, Shares, coalition_shares, shapley_monte_carlo, shapley_value)
from .transfers import shapley_table, transfer_stability, transfer_stable_coalitions
from .partitions import StablePartition, partition_costs, stable_partitions
