"""Coalition sweeps: every single coalition of a charging game, summarised on the device."""

from .api import sweep
from .engine import SweepPlan, make_plan
from .result import SweepResult
from .summary import Summary
