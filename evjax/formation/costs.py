"""Per-station costs at the C-Nash equilibrium of many single coalitions (paper 000, eq (1),
Theorem 4.1), and of each coalition's one-station neighbours.

:func:`station_costs_for` is the general entry point: the closed form
(:func:`evjax.charging.closed_form.solve_membership`) vmapped over B membership masks, any b.

For constant b the costs need no T-vector per coalition at all. With u_i = w_i/mu_i (w the
time-centred drive of Theorem 4.1), q_i = d_i/T - xbar_i + u_i, the Gram matrices
G_ij = <u_i, u_j>, H_ij = <q_i, u_j> and g_i = <u_i, a - mean a>, the deviation of station i
at C-Nash is y_i = u_i - g_i^C/mu_i with g^C = b phi_k + rho_k b c Phi (the Sherman-Morrison
form of ``evjax/charging/structures.py``, blocks C and singletons): phi_C = rho_C sum_{j in C}
u_j, phi_j = alpha_j u_j alone (alpha_j = mu_j/(mu_j + b)), Phi = sum_j r_j u_j with r_j =
rho_C on C and alpha_j off it, rho_C = 1/(1 + b s_C), s_C = sum_{i in C} 1/mu_i,
c = 1/(1 + b (s_C rho_C + sum_{j not in C} alpha_j/mu_j)). Station i's cost (eq (1)) is then

    c_i = K_i - <a_c, g_i>/mu_i + b c <Phi, u_i> - b c <Phi, g_i>/mu_i - <q_i, g_i>
          + |g_i|^2/(2 mu_i),          K_i = d_i (mean a + b D/T) + g_i + mu_i/2 |q_i|^2,

and every inner product is a combination of (G m)_i, (G n)_i, (H m)_i, (H n)_i, m'Gm, m'Gn,
n'Gn, <g, m>, <g, n> with n = alpha (1 - m): :class:`CoalitionStats`, O(N^2) per coalition
(two matrix products for a batch). Toggling station i in or out of C changes each of them by
a rank-one term, so the cost of i at C xor {i} (leave or join) costs O(1) more per station
(:func:`flip_costs`). Against dense KKT solves the costs agree to ~1e-13 relative.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import float_dtype, short
from ..charging.closed_form import solve_membership
from ..charging.coalitions import coalition_lists, mask_of
from ..charging.game import ChargingGame
from ..charging.metrics import station_costs_of

RTOL = 1e-9
"""Default relative tolerance of every formation verdict (times :func:`cost_scale`)."""


def coalition_masks(coalitions, n: int) -> Float[Array, "B N"]:
    """B single coalitions as a checked 0/1 mask array (B, N): index lists (``[[0, 1], [2,
    3, 4]]``, each its own coalition; ``[]`` is the empty coalition, i.e. Nash) or a 0/1
    array of shape (B, N) or (N,). ``ValueError`` naming the bad value otherwise."""
    if isinstance(coalitions, (jax.Array, np.ndarray)):
        m = np.asarray(coalitions, dtype=np.float64)
        if m.ndim == 1:
            m = m[None, :]
        if m.ndim != 2 or m.shape[1] != n:
            raise ValueError(f"coalition masks must have shape (B, {n}) or ({n},), got "
                             f"{tuple(np.shape(coalitions))}")
        if not np.isin(m, (0.0, 1.0)).all():
            raise ValueError(f"coalition masks must be 0/1, got {short(m)}")
        return jnp.asarray(m, float_dtype())
    if isinstance(coalitions, (str, bytes)) or not hasattr(coalitions, "__iter__"):
        raise ValueError(f"coalitions must be index lists or a 0/1 mask array, got "
                         f"{coalitions!r}")
    # each coalition checked alone: two of them may share stations
    rows = [[] if _is_empty(members) else coalition_lists([members], n)[0]
            for members in coalitions]
    return mask_of(rows, n)


def _is_empty(members) -> bool:
    return isinstance(members, (list, tuple, np.ndarray)) and len(members) == 0


def station_costs_for(game: ChargingGame, coalitions, *, method="structured"
                      ) -> Float[Array, "B N"]:
    """c_i (eq (1)) of every station at the C-Nash equilibrium of each of B coalitions.

    ``coalitions``: index lists (``[[0, 1], [1, 2, 3]]``, each one coalition, the others
    alone; ``[]`` gives Nash) or a 0/1 mask array (B, N). Row b of the result (B, N) holds
    the N stations' costs when coalition b forms (Theorem 4.1; any b, constant or not).
    """
    masks = coalition_masks(coalitions, game.n_stations)
    costs = _costs_for(game, masks, method)
    game.check_finite("station costs", costs)
    return costs


@eqx.filter_jit
def _costs_for(game, masks, method):
    def one(m):
        return station_costs_of(game, solve_membership(game, m[None, :], method))
    return jax.vmap(one)(masks)


class CostTables(eqx.Module):
    """Per-game Gram data of the O(N^2) costs (constant b; see the module docstring).

    ``gram`` (N, 2N) is [G | H'] so that ``masks @ gram`` gives (G m, H m) at once.
    """

    gram: Float[Array, "N N2"]
    g_diag: Float[Array, " N"]
    h_diag: Float[Array, " N"]
    g_a: Float[Array, " N"]
    const: Float[Array, " N"]
    alpha: Float[Array, " N"]
    mu: Float[Array, " N"]
    b: Float[Array, ""]


def cost_tables(game: ChargingGame) -> CostTables:
    """:class:`CostTables` of a game with scalar b (``ValueError`` otherwise). Plain jnp:
    differentiable in the game's parameters."""
    if not game.constant_b or game.a.ndim != 1:
        raise ValueError(f"the O(N^2) coalition costs need one game with a scalar b; got b "
                         f"of shape {tuple(game.b.shape)} (use station_costs_for)")
    return _tables(game)


@eqx.filter_jit
def _tables(game):
    a, b, mu, d, xbar = game.a, game.b, game.mu, game.d, game.xbar
    t = game.n_steps
    v = mu[:, None] * xbar - a[None, :]
    u = (v - jnp.mean(v, axis=1, keepdims=True)) / mu[:, None]
    q = d[:, None] / t - xbar + u
    g, h = u @ u.T, q @ u.T
    g_a = u @ (a - jnp.mean(a))
    const = d * (jnp.mean(a) + b * jnp.sum(d) / t) + g_a + 0.5 * mu * jnp.sum(q * q, axis=1)
    return CostTables(gram=jnp.concatenate([g, h.T], axis=1), g_diag=jnp.diag(g),
                      h_diag=jnp.diag(h), g_a=g_a, const=const, alpha=mu / (mu + b), mu=mu,
                      b=b)


class CoalitionStats(eqx.Module):
    """What station i's cost at coalition C depends on: per station (B, N) the products
    (G m)_i, (G n)_i, (H m)_i, (H n)_i and membership m_i; per coalition (B, 1) m'Gm, m'Gn,
    n'Gn, <g, m>, <g, n>, s_C and sum_{j not in C} alpha_j/mu_j."""

    member: Array
    gm: Array
    gn: Array
    hm: Array
    hn: Array
    mgm: Array
    mgn: Array
    ngn: Array
    ga_m: Array
    ga_n: Array
    s: Array
    s_out: Array


def coalition_stats(tab: CostTables, m: Float[Array, "B N"]) -> CoalitionStats:
    """:class:`CoalitionStats` of B checked 0/1 masks: one (2B, N) x (N, 2N) product."""
    n = m.shape[1]
    out = tab.alpha * (1.0 - m)
    prod = jnp.concatenate([m, out], axis=0) @ tab.gram
    gm, hm = prod[: m.shape[0], :n], prod[: m.shape[0], n:]
    gn, hn = prod[m.shape[0]:, :n], prod[m.shape[0]:, n:]
    col = lambda x: x[:, None]  # noqa: E731
    return CoalitionStats(
        member=m, gm=gm, gn=gn, hm=hm, hn=hn,
        mgm=col(jnp.sum(m * gm, axis=1)), mgn=col(jnp.sum(m * gn, axis=1)),
        ngn=col(jnp.sum(out * gn, axis=1)), ga_m=col(m @ tab.g_a), ga_n=col(out @ tab.g_a),
        s=col(m @ (1.0 / tab.mu)), s_out=col((1.0 - m) @ (tab.alpha / tab.mu)))


def flipped_stats(tab: CostTables, st: CoalitionStats) -> CoalitionStats:
    """The stats of C xor {i} as seen by station i, for every i (rank-one updates)."""
    e = 1.0 - 2.0 * st.member  # +1: i joins, -1: i leaves
    al, gd, hd = tab.alpha, tab.g_diag, tab.h_diag
    return CoalitionStats(
        member=1.0 - st.member, gm=st.gm + e * gd, gn=st.gn - e * al * gd,
        hm=st.hm + e * hd, hn=st.hn - e * al * hd,
        mgm=st.mgm + 2.0 * e * st.gm + gd,
        mgn=st.mgn - e * al * st.gm + e * st.gn - al * gd,
        ngn=st.ngn - 2.0 * e * al * st.gn + al * al * gd,
        ga_m=st.ga_m + e * tab.g_a, ga_n=st.ga_n - e * al * tab.g_a,
        s=st.s + e / tab.mu, s_out=st.s_out - e * al / tab.mu)


def costs_from_stats(tab: CostTables, st: CoalitionStats) -> Float[Array, "B N"]:
    """Station i's cost (eq (1)) at the coalition its stats describe, for every (b, i)."""
    b = tab.b
    rho = 1.0 / (1.0 + b * st.s)
    bc = b / (1.0 + b * (st.s * rho + st.s_out))
    phi_u = rho * st.gm + st.gn  # <Phi, u_i>
    phi_phi = rho * rho * st.mgm + 2.0 * rho * st.mgn + st.ngn
    inside = st.member > 0.5
    al = tab.alpha
    products = BlockProducts(
        rho_k=jnp.where(inside, rho, al), bc=bc, phi_a=rho * st.ga_m + st.ga_n, phi_u=phi_u,
        phi_q=rho * st.hm + st.hn, phi_phi=phi_phi,
        k_a=jnp.where(inside, rho * st.ga_m, al * tab.g_a),
        k_phi=jnp.where(inside, rho * (rho * st.mgm + st.mgn), al * phi_u),
        k_q=jnp.where(inside, rho * st.hm, al * tab.h_diag),
        k_k=jnp.where(inside, rho * rho * st.mgm, al * al * tab.g_diag))
    return costs_from_products(tab, products)


class BlockProducts(eqx.Module):
    """The inner products station i's cost needs, each (B, N) (or broadcastable): rho_k of
    i's block k, b c, <a_c, Phi>, <Phi, u_i>, <q_i, Phi>, <Phi, Phi>, and <a_c, phi_k>,
    <Phi, phi_k>, <q_i, phi_k>, <phi_k, phi_k> (module docstring)."""

    rho_k: Array
    bc: Array
    phi_a: Array
    phi_u: Array
    phi_q: Array
    phi_phi: Array
    k_a: Array
    k_phi: Array
    k_q: Array
    k_k: Array


def costs_from_products(tab: CostTables, p: BlockProducts) -> Float[Array, "B N"]:
    """c_i (eq (1)) from the inner products of its block (any coalition structure)."""
    b, mu, rb = tab.b, tab.mu, p.rho_k * p.bc
    g_a = b * p.k_a + rb * p.phi_a
    g_phi = b * p.k_phi + rb * p.phi_phi
    g_q = b * p.k_q + rb * p.phi_q
    g_g = b * b * p.k_k + 2.0 * b * rb * p.k_phi + rb * rb * p.phi_phi
    return (tab.const - g_a / mu + p.bc * p.phi_u - p.bc * g_phi / mu - g_q
            + 0.5 * g_g / mu)


def costs_at(tab: CostTables, m: Float[Array, "B N"]) -> Float[Array, "B N"]:
    """Every station's cost at each of B coalitions (checked 0/1 masks), O(N^2) each."""
    return costs_from_stats(tab, coalition_stats(tab, m))


def costs_and_flips(tab: CostTables, m: Float[Array, "B N"]
                    ) -> tuple[Float[Array, "B N"], Float[Array, "B N"]]:
    """(cost of i at C, cost of i at C xor {i}) for every station i and each of B masks."""
    st = coalition_stats(tab, m)
    return costs_from_stats(tab, st), costs_from_stats(tab, flipped_stats(tab, st))


def bit_masks(index: Array, n: int) -> Float[Array, "B N"]:
    """The 0/1 masks of coalition bit indices (bit i set <=> station i in C), traceable."""
    bits = (index[:, None] >> jnp.arange(n, dtype=index.dtype)[None, :]) & 1
    return bits.astype(float_dtype())


def mask_costs(game: ChargingGame, m: Float[Array, "B N"]) -> Float[Array, "B N"]:
    """Every station's cost at each of B checked 0/1 coalition masks (trusted): the Gram form
    for a scalar b, the vmapped closed form otherwise."""
    if game.constant_b:
        return costs_at(cost_tables(game), m)
    return _costs_for(game, m, "structured")


def cost_scale(nash_costs) -> float:
    """The scale of the tolerances: max_i |c_i(Nash)| (1.0 if every cost is 0)."""
    scale = float(np.max(np.abs(np.asarray(nash_costs))))
    return scale if scale > 0 else 1.0


def check_rtol(rtol) -> float:
    """``rtol`` as a float if finite and >= 0, else ``ValueError``."""
    try:
        value = float(rtol)
    except (TypeError, ValueError):
        raise ValueError(f"rtol must be a number, got {rtol!r}") from None
    if not 0.0 <= value < np.inf:
        raise ValueError(f"rtol must be finite and >= 0, got {rtol!r}")
    return value


def nash_costs(game: ChargingGame) -> np.ndarray:
    """c_i at the Nash equilibrium (no coalition), (N,), as numpy."""
    zero = jnp.zeros((1, game.n_stations), float_dtype())
    return np.asarray(_mask_costs_jit(game, zero)[0])


_mask_costs_jit = eqx.filter_jit(mask_costs)
