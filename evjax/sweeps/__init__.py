"""Sweeps: every single coalition of a charging game, summarised on the device, and every
coalition structure (set partition) of a small one.

Layers, bottom to top: ``folds`` (compiled folds over the reduced form's costs), ``topk``,
``summary``, ``reduce`` and ``tally`` (the on-device reductions), ``pilot`` and ``plan`` (what
is enumerated), ``engine`` (blocks on devices), ``distributed``, ``table`` and
``checkpoint`` (outputs), ``result``, ``constrained`` (the NI path), ``api`` (``sweep``);
``partitions`` (all Bell(N) structures) beside them.
"""

from .api import sweep, sweep_batch
from .partitions import PartitionSweep, Structure, partitions
from .plan import SweepPlan, make_plan, sweep_tables
from .plot import plot_by_size
from .result import SweepResult
from .summary import Summary
from .table import read_table
