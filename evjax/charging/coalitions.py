"""Coalition structures: index lists for people, membership arrays for batched code.

A *coalition structure* is a set of disjoint coalitions; stations in none act alone. It is
given either as a sequence of disjoint sequences of station indices (``[[0, 1, 2]]``,
``[[0, 1], [3, 4, 5]]``; ``()`` is plain Nash), or as a membership array: shape (K, N) with
row k the 0/1 indicator m_k of coalition k, or shape (N,) for a single coalition. Membership
arrays may be traced (``vmap`` over coalitions) and may hold fractions in [0, 1] (a continuous
relaxation: Q stays positive definite while every column sums to at most 1). A concrete array
is checked like index lists are: entries in [0, 1], no station in more than one coalition in
total, and no row of zeros (an empty coalition).

Every public entry point of evjax that takes a structure or a coalition normalises it here,
once (:func:`membership`, :func:`single_coalition`, or :func:`coalition_lists` where static
index lists are needed), and hands the checked form down; the functions below the boundary
(``*_of``, ``solve_membership``, ...) trust it. The boundary's arguments are annotated
loosely (not at all): they accept any value and refuse a bad one with a ``ValueError``
naming it.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import concrete, float_dtype, short

#: The two forms of a coalition structure (for readers and type hints; the entry points
#: check the value themselves).
Coalitions = Sequence[Sequence[int]] | Array | np.ndarray


def _index(value, n: int, where: str) -> int:
    if isinstance(value, jax.core.Tracer):
        raise ValueError(
            f"{where} holds a traced value: index lists are static Python data; under jit "
            "close over them or pass a membership array instead"
        )
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where} must hold station indices, got the boolean {value!r}")
    try:
        i = operator.index(value)
    except TypeError:
        raise ValueError(f"{where} must hold integer station indices, got {value!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"{where} names station {i}, out of range for N = {n}")
    return i


def stations(values, n: int, where: str) -> list[int]:
    """Distinct station indices in [0, n), in the order given (``where`` names them in the
    ``ValueError``). The check of every set of stations: a coalition's members, a search's
    or a sweep's must-include and must-exclude stations."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise ValueError(f"{where} must be a sequence of station indices, got {values!r}")
    where = f"{where} ({list(values)!r})"
    idx = [_index(v, n, where) for v in values]
    seen: set[int] = set()
    for i in idx:
        if i in seen:
            raise ValueError(f"{where} repeats station {i}")
        seen.add(i)
    return idx


def include_exclude(include, exclude, n: int) -> tuple[list[int], list[int]]:
    """The must-include and must-exclude stations of a search or sweep, checked: each distinct
    indices in [0, n) (:func:`stations`), and no station in both."""
    inc, exc = stations(include, n, "include"), stations(exclude, n, "exclude")
    both = sorted(set(inc) & set(exc))
    if both:
        raise ValueError(f"stations {both} are both included and excluded")
    return inc, exc


def coalition_members(coalition, n: int) -> list[int]:
    """One coalition given as station indices (a sequence, or a 1-d array of integers),
    checked like a coalition of :func:`coalition_lists`; the indices in the order given."""
    if isinstance(coalition, (jax.Array, np.ndarray)) and jnp.ndim(coalition) == 1:
        coalition = list(coalition)
    return coalition_lists([coalition], n)[0]


def coalition_lists(coalitions, n: int) -> list[list[int]]:
    """Validate a structure given as index lists; return it as a list of lists of ints."""
    if isinstance(coalitions, (str, bytes)) or not isinstance(coalitions, Sequence):
        raise ValueError(
            f"coalitions must be a sequence of sequences of station indices, got {coalitions!r}"
        )
    out: list[list[int]] = []
    owner: dict[int, int] = {}
    for k, members in enumerate(coalitions):
        if isinstance(members, (str, bytes)) or not isinstance(members, Sequence | np.ndarray):
            raise ValueError(
                "coalitions must be a sequence of sequences of station indices, e.g. "
                f"[[0, 1, 2]]; got {list(coalitions)!r}"
            )
        if len(members) == 0:
            raise ValueError(f"coalition {k} ({list(members)!r}) is empty")
        idx = stations(members, n, f"coalition {k}")
        for i in idx:
            if i in owner:
                raise ValueError(
                    f"coalitions overlap: station {i} is in coalition {owner[i]} and {k}"
                )
            owner[i] = k
        out.append(idx)
    return out


def membership(coalitions, n: int) -> Float[Array, "K N"]:
    """The membership matrix (K, N) of a coalition structure, in either input form, checked.

    The one normalisation of a structure at the public boundary: index lists are checked by
    :func:`coalition_lists`, a concrete membership array by :func:`_check_membership`
    (entries in [0, 1], no overlap, no empty row); a traced array passes on its shape alone.
    Code below the boundary takes the result as given. ``()`` gives shape (0, N): every
    station alone, the Nash equilibrium.
    """
    if isinstance(coalitions, (jax.Array, np.ndarray)):
        m = jnp.asarray(coalitions, dtype=float_dtype())
        if m.ndim == 1:
            m = m[None, :]
        if m.ndim != 2 or m.shape[1] != n:
            raise ValueError(
                f"a membership array must have shape (K, {n}) or ({n},), got {coalitions.shape}"
            )
        known = concrete(m)
        if known is not None:
            _check_membership(known, n)
        return m
    return mask_of(coalition_lists(coalitions, n), n)


def _check_membership(known: np.ndarray, n: int) -> None:
    if not np.isfinite(known).all() or (known < 0).any() or (known > 1).any():
        raise ValueError(f"membership entries must lie in [0, 1], got {short(known)}")
    empty = np.flatnonzero(~known.any(axis=1))
    if len(empty):
        raise ValueError(
            f"coalition {int(empty[0])} of the membership array has no member (a row of "
            f"zeros), like an empty coalition list; give () or shape (0, {n}) for Nash"
        )
    load = known.sum(axis=0)
    if (load > 1 + 1e-12).any():
        i = int(np.argmax(load))
        raise ValueError(
            f"coalitions overlap: station {i} has total membership {float(load[i])} > 1"
        )


def mask_of(lists: Sequence[Sequence[int]], n: int) -> Float[Array, "K N"]:
    """The 0/1 membership matrix of checked index lists (trusted: no check)."""
    m = np.zeros((len(lists), n))
    for k, members in enumerate(lists):
        m[k, list(members)] = 1.0
    return jnp.asarray(m, dtype=float_dtype())


def single_coalition(coalition, n: int) -> Float[Array, " N"]:
    """A single coalition, as indices (``[0, 1, 2]``) or a mask of shape (N,), as a checked
    mask (:func:`membership` of that one coalition)."""
    if isinstance(coalition, (jax.Array, np.ndarray)):
        if jnp.ndim(coalition) != 1:
            raise ValueError(
                f"a coalition mask must have shape ({n},), got {tuple(jnp.shape(coalition))}"
            )
        return membership(coalition, n)[0]
    return membership([coalition], n)[0]


def players(coalitions, n: int) -> list[list[int]]:
    """The players of a structure: each coalition, then each station acting alone."""
    return players_of(coalition_lists(coalitions, n), n)


def players_of(lists: list[list[int]], n: int) -> list[list[int]]:
    """:func:`players` of checked index lists (trusted: no check)."""
    taken = {i for members in lists for i in members}
    return lists + [[i] for i in range(n) if i not in taken]


def structure_lists(coalitions, n: int) -> list[list[int]]:
    """A structure in either input form as checked index lists; a membership array must be
    concrete and 0/1 (certificates and reports name their players)."""
    if not isinstance(coalitions, (jax.Array, np.ndarray)):
        return coalition_lists(coalitions, n)
    return lists_of(membership(coalitions, n))


def structure_from_membership(m, n: int) -> list[list[int]]:
    """Index lists of a concrete 0/1 membership array (for reporting and certificates)."""
    return lists_of(membership(m, n))


def lists_of(m: Float[Array, "K N"]) -> list[list[int]]:
    """Index lists of a checked membership array, which must be concrete and 0/1."""
    known = concrete(m)
    if known is None:
        raise ValueError("a traced membership array has no index-list form")
    if not np.isin(known, (0.0, 1.0)).all():
        raise ValueError(f"membership must be 0/1 to list members, got {short(known)}")
    return [np.flatnonzero(row).tolist() for row in known if row.any()]
