"""Coalition sweeps: every single coalition of a charging game, summarised on the device."""

from .api import sweep, sweep_batch
from .plot import plot_by_size
from .table import read_table
from .engine import SweepPlan, make_plan
from .result import SweepResult
from .summary import Summary
