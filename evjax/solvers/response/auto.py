"""The default response method: water filling where the game allows it, else interior point."""

from __future__ import annotations

import equinox as eqx

from .._solution import Response
from .._checks import check_steps, check_tol
from ._abstract import AbstractResponse
from .interior_point import InteriorPoint
from .water_filling import WaterFilling, applies


class AutoResponse(AbstractResponse):
    """:class:`WaterFilling` (exact, one pass) where it :func:`applies` to the game (the
    charging game's Nash and membership-mode C-Nash games with bounds), else
    :class:`InteriorPoint` with ``tol`` and ``max_steps``."""

    tol: float = eqx.field(default=1e-10, static=True)
    max_steps: int = eqx.field(default=100, static=True)

    def __check_init__(self):
        check_tol("AutoResponse.tol", self.tol)
        check_steps("AutoResponse.max_steps", self.max_steps)

    def respond(self, game, x, *, unrolled=False) -> Response:
        if applies(game, x):
            return WaterFilling(self.tol).respond(game, x, unrolled=unrolled)
        return InteriorPoint(self.tol, self.max_steps).respond(game, x, unrolled=unrolled)
