"""Coalition formation (issue 21): which coalitions of paper 000's charging game are stable,
and how their members can share what they save.

Layers, bottom to top: ``costs`` (per-station costs at C-Nash, batched; the O(N^2) Gram form
for constant b), ``stability`` (cartel stability, d'Aspremont et al. 1983: one coalition,
and every coalition of a game), ``shares`` (savings, Shapley value, splits, core),
``structures`` (several coalitions: Nash stable partitions and the core of the partition
game).
"""

from .costs import (CostTables, coalition_masks, cost_tables, costs_at, nash_costs,
                    station_costs_for)
from .stability import (Stability, StableCoalitions, cartel_stability, stability_margins,
                        stable_coalitions)
from .shares import (SPLITS, Shares, coalition_shares, shapley_monte_carlo, shapley_value)
from .transfers import shapley_table, transfer_stability, transfer_stable_coalitions
from .partitions import StablePartition, partition_costs, stable_partitions
