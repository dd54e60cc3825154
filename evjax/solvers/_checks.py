"""The solvers' checks of numeric options, at the public boundary (ValueError naming the value)."""

from __future__ import annotations

import math
import numbers


def check_tol(name: str, value) -> None:
    """ValueError unless ``value`` is a finite number > 0 (``name`` is how the caller spells it)."""
    if not (isinstance(value, numbers.Real) and 0.0 < value < math.inf):  # False for NaN too
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def check_steps(name: str, value) -> None:
    """ValueError unless ``value`` is an int >= 1."""
    if not (isinstance(value, numbers.Integral) and value >= 1):
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
