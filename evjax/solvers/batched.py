"""Many games of one structure in one call, vectorised a chunk at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._solution import NISolution
from .game import AbstractNIGame
from .nikaido_isoda import solve


def solve_many(make_game: Callable[[Any], AbstractNIGame], params, *, chunk: int = 25,
               **options) -> NISolution:
    """:func:`solve` for ``make_game(p)`` at every ``p`` along the leading axis of ``params``.

    ``params`` is a pytree of arrays sharing a leading axis (B games); ``make_game`` builds one
    game from one slice (every game must have the same structure: players, shape, which
    constraints). Returns the :class:`NISolution` of every game, stacked along a leading
    axis, with ``throw=False`` semantics: inspect ``result`` (or its integer ``code``, 0 where
    converged).

    The games are ``jax.vmap``-ed ``chunk`` at a time inside one ``jax.lax.map`` (its
    ``batch_size``): on a CPU a chunk's Newton blocks stay in cache and each chunk's loops stop
    at its own slowest game, where one ``vmap`` of every game streams them through memory
    (N = 20, T = 24: 0.71 ms per game in chunks of 25 against 1.33 ms in one ``vmap`` of
    1,000; ``benchmarks/RESULTS.md``). On a GPU, a larger ``chunk`` (or one ``vmap``) fills
    the device better. ``jit`` the call to compile it once per structure.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if "throw" in options:
        raise ValueError("solve_many never throws: read `result` of the returned solutions")
    leaves = jax.tree.leaves(params)
    if not leaves or len({jnp.shape(v)[0] if jnp.ndim(v) else None for v in leaves}) != 1 or (
            jnp.ndim(leaves[0]) == 0):
        raise ValueError("params must be a pytree of arrays with one common leading axis")

    def one(p):
        return solve(make_game(p), throw=False, **options)

    first = jax.tree.map(lambda v: v[0], params)
    shapes, treedef = jax.tree.flatten(jax.eval_shape(one, first))
    sized = [s.size > 0 for s in shapes]

    def mapped(p):  # only leaves with entries: lax.map's batch_size fails on empty ones
        out = jax.tree.leaves(one(p))
        return [v for v, keep in zip(out, sized) if keep]

    results = iter(jax.lax.map(mapped, params, batch_size=chunk))
    count = jnp.shape(leaves[0])[0]
    return jax.tree.unflatten(treedef, [
        next(results) if keep else jnp.zeros((count, *s.shape), s.dtype)
        for s, keep in zip(shapes, sized)])
