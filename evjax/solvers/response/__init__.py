"""Optimal-response methods Z(x) = argmax_y Psi(x, y) (paper 003 eq (26)), one per module."""

from ._abstract import AbstractResponse
from .auto import AutoResponse
from .interior_point import InteriorPoint
from .water_filling import WaterFilling, applies, water_filling

__all__ = ["AbstractResponse", "AutoResponse", "InteriorPoint", "WaterFilling", "applies",
           "water_filling"]
