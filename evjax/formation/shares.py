"""How a coalition's members can share what it saves: the savings game, the Shapley value
(exact and Monte Carlo), proportional and equal splits, individual rationality and the core.

The savings of a group S (the transferable-utility game of a coalition C, restricted to the
subsets S of C) are v(S) = sum_{i in S} (c_i(Nash) - c_i(S-Nash)), the others alone
(paper 000, eq (5) at the two equilibria); v of a single station is 0, since one station
alone is Nash. Subsets of C are indexed by *local* bits: bit j set <=> station members[j] in S,
members ascending.

The Shapley value of member j is sum_{S not containing j} |S|! (k - |S| - 1)! / k!
(v(S + j) - v(S)) over the 2^k subsets (exact for k <= ``MAX_EXACT`` = 20), or the mean of
v(prefix + j) - v(prefix) over random orders of C with its standard error. Everything here is
plain jnp through the closed form: ``jax.grad`` of a share in the game's parameters works.
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._validation import float_dtype
from ..charging.coalitions import coalition_members
from ..charging.game import ChargingGame
from .costs import (RTOL, _mask_costs_jit, bit_masks, check_rtol, cost_scale, mask_costs,
                    nash_costs)

MAX_EXACT = 20
SPLITS = ("shapley", "proportional", "equal")
_CHUNK = 1 << 13


def savings_of(game: ChargingGame, members: Int[Array, " k"], index: Int[Array, " M"]
               ) -> Float[Array, " M"]:
    """v(S) for the subsets S of ``members`` (k,) given by local bit indices ``index`` (M,)."""
    n, k = game.n_stations, members.shape[0]
    pick = jax.nn.one_hot(members, n, dtype=float_dtype())
    nash = mask_costs(game, jnp.zeros((1, n), float_dtype()))[0]
    index = jnp.asarray(index, jnp.int64)
    size = index.shape[0]
    rows = min(_CHUNK, size)
    pad = -size % rows
    blocks = jnp.concatenate([index, jnp.zeros(pad, index.dtype)]).reshape(-1, rows)

    def chunk(ix):
        m = bit_masks(ix, k) @ pick
        return jnp.sum(m * (nash - mask_costs(game, m)), axis=1)

    if blocks.shape[0] == 1:  # one chunk: no loop (a simpler program to compile and grad)
        return chunk(blocks[0])[:size]
    return jax.lax.map(chunk, blocks).reshape(-1)[:size]


def shapley_from_savings(v: Float[Array, " S"], k: int) -> Float[Array, " k"]:
    """The exact Shapley value (k,) of the game with savings ``v`` (2^k,) over local bits."""
    s = jnp.arange(k, dtype=float_dtype())
    lg = jax.scipy.special.gammaln
    weight = jnp.exp(lg(s + 1) + lg(k - s) - lg(k + 1.0))  # |S|! (k-|S|-1)! / k!
    rest = jnp.arange(1 << (k - 1), dtype=jnp.int64)[None, :]
    j = jnp.arange(k, dtype=jnp.int64)[:, None]
    lo = ((rest >> j) << (j + 1)) | (rest & ((1 << j) - 1))  # (k, 2^(k-1)): subsets without j
    size = jax.lax.population_count(lo)
    return jnp.sum(weight[size] * (v[lo | (1 << j)] - v[lo]), axis=1)


@eqx.filter_jit
def batched_shapley(v: Float[Array, "M S"], k: int) -> Float[Array, "M k"]:
    """:func:`shapley_from_savings` of M games at once (rows of ``v``), compiled."""
    return jax.vmap(lambda row: shapley_from_savings(row, k))(v)


def _members(game, coalition) -> tuple[int, ...]:
    return tuple(sorted(coalition_members(coalition, game.n_stations)))


def _ids(members) -> Int[Array, " k"]:
    return jnp.asarray(members, jnp.int64)


@eqx.filter_jit
def _exact(game, members):
    k = members.shape[0]
    return shapley_from_savings(savings_of(game, members, jnp.arange(1 << k)), k)


def shapley_value(game: ChargingGame, coalition) -> Float[Array, " k"]:
    """The exact Shapley value of the members of ``coalition`` (ascending) in its savings game
    (|C| <= 20; ``ValueError`` beyond: use :func:`shapley_monte_carlo`). Sums to v(C).
    Differentiable in the game (``eqx.filter_grad``)."""
    members = _members(game, coalition)
    if len(members) > MAX_EXACT:
        raise ValueError(f"the exact Shapley value needs 2^{len(members)} savings; |C| = "
                         f"{len(members)} > {MAX_EXACT}: use shapley_monte_carlo")
    return _exact(game, _ids(members))


def shapley_monte_carlo(game: ChargingGame, coalition, *, samples: int = 1000, seed: int = 0
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(estimate, standard error) of the Shapley value from ``samples`` random orders of the
    members: each order's marginal savings v(prefix + j) - v(prefix), averaged."""
    members = _members(game, coalition)
    if not (isinstance(samples, int) and samples >= 2):
        raise ValueError(f"samples must be an integer >= 2, got {samples!r}")
    k = len(members)
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((samples, k)), axis=1)  # (samples, k) local members
    prefix = np.zeros((samples, k + 1), np.int64)
    prefix[:, 1:] = np.cumsum(np.left_shift(np.int64(1), order), axis=1)
    v = np.asarray(_mc_savings(game, _ids(members), jnp.asarray(prefix.reshape(-1))))
    v = v.reshape(samples, k + 1)
    marginal = np.empty((samples, k))
    np.put_along_axis(marginal, order, np.diff(v, axis=1), axis=1)
    return marginal.mean(axis=0), marginal.std(axis=0, ddof=1) / math.sqrt(samples)


_mc_savings = eqx.filter_jit(savings_of)


def subset_sums(x: np.ndarray) -> np.ndarray:
    """x(S) = sum_{j in S} x_j for all 2^k subsets (local bits), in O(2^k)."""
    sums = np.zeros(1)
    for value in np.asarray(x, np.float64):
        sums = np.concatenate([sums, sums + value])
    return sums


def core_excess(v: np.ndarray, x: np.ndarray) -> tuple[float, int]:
    """(max over proper non-empty S of v(S) - x(S), the local bit index of that S): > tol
    means S saves more alone than its shares, so ``x`` is not in the core."""
    k = len(x)
    if k < 2:
        return -math.inf, 0
    excess = np.asarray(v)[: (1 << k) - 1] - subset_sums(x)[: (1 << k) - 1]
    excess[0] = -math.inf
    worst = int(np.argmax(excess))
    return float(excess[worst]), worst


@dataclasses.dataclass(frozen=True)
class Shares:
    """A split of a coalition's saving v(C) among its ``members`` (ascending).

    ``shares[j]`` goes to members[j] (sums to ``saving``); ``own[j]`` is what the member
    saves at C-Nash without transfers; ``rational``: every share >= v({i}) - tol = -tol;
    ``in_core``: no proper subset S has v(S) > x(S) + tol (``worst`` is the most
    violated S as members, ``excess`` its v(S) - x(S)). ``stderr`` only for Monte Carlo.
    """

    members: list[int]
    split: str
    shares: np.ndarray
    own: np.ndarray
    saving: float
    rational: bool
    in_core: bool | None
    excess: float
    worst: list[int]
    tol: float
    stderr: np.ndarray | None = None


def split_saving(kind: str, saving: float, nash: np.ndarray, v: np.ndarray | None,
                 k: int) -> np.ndarray:
    """The ``kind`` split of ``saving`` among k members: 'shapley' (from ``v``, 2^k savings),
    'proportional' (to the members' Nash costs ``nash``: each cost cut by the same fraction),
    'equal'."""
    if kind == "shapley":
        return np.asarray(batched_shapley(jnp.asarray(v)[None, :], k))[0]
    if kind == "proportional":
        return saving * nash / np.sum(nash)
    if kind == "equal":
        return np.full(k, saving / k)
    raise ValueError(f"split must be one of {SPLITS}, got {kind!r}")


def savings_table(game: ChargingGame, members: tuple[int, ...]) -> np.ndarray:
    """v(S) for all 2^k subsets of ``members`` (local bits), as numpy (k <= 20)."""
    return np.asarray(_exact_savings(game, _ids(members)))


@eqx.filter_jit
def _exact_savings(game, members):
    return savings_of(game, members, jnp.arange(1 << members.shape[0]))


def coalition_shares(game: ChargingGame, coalition, split: str = "shapley", *, rtol=RTOL,
                     samples: int = 2000, seed: int = 0) -> Shares:
    """The ``split`` ('shapley', 'proportional', 'equal') of coalition C's saving v(C), with
    individual rationality and core membership in the game restricted to C.

    Exact over the 2^|C| subsets for |C| <= 20; beyond, the Shapley value is estimated from
    ``samples`` random orders (``stderr`` set) and the core is not checked (``in_core`` None).
    The tolerance is ``rtol`` times the largest Nash cost (:func:`.costs.cost_scale`).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    members = _members(game, coalition)
    rtol = check_rtol(rtol)
    k = len(members)
    nash = nash_costs(game)
    tol = rtol * cost_scale(nash)
    mask = np.zeros((1, game.n_stations))
    mask[0, list(members)] = 1.0
    own = (nash - np.asarray(_mask_costs_jit(game, jnp.asarray(mask, float_dtype())))[0])
    own = own[list(members)]
    v, stderr = None, None
    if k <= MAX_EXACT:
        v = savings_table(game, members)
        saving = float(v[-1])
    else:
        saving = float(np.sum(own))
    if split == "shapley" and v is None:
        shares, stderr = shapley_monte_carlo(game, members, samples=samples, seed=seed)
    else:
        shares = split_saving(split, saving, nash[list(members)], v, k)
    excess, worst = core_excess(v, shares) if v is not None else (math.nan, 0)
    return Shares(members=list(members), split=split, shares=shares, own=own, saving=saving,
                  rational=bool(np.all(shares >= -tol)),
                  in_core=None if v is None else bool(excess <= tol), excess=excess,
                  worst=[members[j] for j in range(k) if worst >> j & 1], tol=tol,
                  stderr=stderr)
