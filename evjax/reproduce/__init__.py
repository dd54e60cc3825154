"""Reproduce the papers' figures with one call each (``evjax reproduce NAME --out DIR``).

``PAPERS`` maps a paper's name to the module that reproduces it; modules are imported only
when asked for (:func:`load`). Every module exposes

    reproduce(out: pathlib.Path, *, quick: bool = False, seed: int = 0,
              progress: bool = True) -> list[pathlib.Path]

which writes the paper's figures (PNG) and the numbers they plot (CSV) under ``out`` and
returns the files written. ``quick=True`` is a seconds-long run with fewer random draws, for
tests and notebooks. The reproductions compute in float64: :func:`load` refuses (ValueError)
while JAX runs in float32, before anything is computed or written (enable
``jax_enable_x64`` first; the ``evjax`` command does).
"""

from __future__ import annotations

import importlib
from types import ModuleType

PAPERS = {
    "kudva2024": "evjax.reproduce.kudva2024",  # paper 000: coalitions of charging stations
    "jiang2023": "evjax.reproduce.jiang2023",  # paper 003: charging/parking deck pricing
}


def load(name: str) -> ModuleType:
    """The module reproducing paper ``name`` (a key of ``PAPERS``), imported now.

    ``ValueError`` for an unknown name, or while JAX runs in float32 (every reproduction
    needs float64, and would otherwise write float32 figures before failing)."""
    if name not in PAPERS:
        raise ValueError(f"unknown paper {name!r}; choose from {', '.join(PAPERS)}")
    # Imported here, not above, so that PAPERS costs no JAX import (`evjax reproduce --help`).
    from .._validation import require_float64

    require_float64(f"reproducing {name}")
    return importlib.import_module(PAPERS[name])


__all__ = ["PAPERS", "load"]
