"""Customers and profits of the charging/parking decks (paper 003 eqs 1-10, ../shared/design/decks.md).

Deck i sets, per hour t, a charging price p[i, t] (per kWh) and a parking fee f[i, t] (per
hour), both in normalised units (1.0 = the reference price of that service); the joint
decision x stacks them as M = 2I rows (shape name ``"M H"``): row 2i holds deck i's charging
prices, row 2i + 1 its parking fees. Per deck and hour:

* LC (loyal): ``lc_park`` park and ``lc_charge`` charge, whatever the prices;
* LSC (less sensitive): ``lsc`` arrive and park; a fraction g(p_i, q_i) of them charge, with
  paper eq (8) g(p, q) = -p^2 + alpha q - (alpha / 4) q^2 and q_i the mean charging price of
  the other decks;
* SC (sensitive): a logit choice among the n decks and an outside option by the bill of one
  hour of parking with charging, in reference units, r_i = (E p_i + f_i) / (E + 1) (1 at the
  reference prices), against m_i, the mean bill of the other decks:

      c_i = s_i (n + W) / (1 + (n - 1) exp(beta (r_i - m_i)) + W exp(beta (r_i - 1))),

  beta = ``sc_beta`` (default 4) the price sensitivity, W = ``sc_outside`` (default 1) the
  weight of the outside option (passing customers can go elsewhere; it is worth W decks at the
  reference bill). c_i = s_i when every bill is 1; dc/dr_i < 0 and dc/dm_i > 0 (the analogues
  of eqs (5)-(6)); 0 < c_i < s_i (n + W); smooth, so SC need no clip. SC are the most
  price-elastic group (:func:`elasticities`): at the reference prices the elasticity of c in
  the bill is beta (n - 1 + W) / (n + W) ~ 3.4, LSC charging's in the charging price 1.

Eq (8) goes negative at high prices; LSC charging is clipped smoothly at zero,
clip(v) = w softplus(v / w) with width w = ``clip_width`` (default 0.01, in units of the
fraction): clip(v) - max(v, 0) lies in (0, w ln 2], is w ln 2 ~ 0.0069 at v = 0 and below
w e^-5 ~ 7e-5 once |v| > 5 w, so the counts are smooth (gradients exist) and the clip is felt
only within a few widths of zero. :func:`customers` reports the raw value of g, so that a
clipped count at an equilibrium can be found and reported.

Profit of deck i (eqs 1, 2, 9, 10, with eq (10)'s missing bracket restored):
    R_i = sum_t f[i,t] N_pk[i,t] + sum_t (p[i,t] - buy[t]) E N_ch[i,t] - C_i,
    N_pk = lc_park + lsc + SC,  N_ch = lc_charge + g lsc + SC,
with E the energy per charging customer and hour (kWh) and C_i a fixed daily cost.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


class Market(eqx.Module):
    """The customers and prices of I decks over H hours (all array fields differentiable).

    Fields: ``lc_park``, ``lc_charge``, ``lsc``, ``sc`` (I, H) customers per hour (``sc``: SC at
    the reference prices); ``buy`` (H,) buy-in electricity price (normalised, per kWh);
    ``cost`` (I,) fixed daily cost; ``alpha`` (eq (8)), ``sc_beta`` (SC price sensitivity
    beta), ``sc_outside`` (weight W of SC's outside option), ``energy`` (kWh per charging
    customer and hour); ``clip_width`` (static) the smoothing width of LSC charging's clip.
    """

    lc_park: Float[Array, "I H"]
    lc_charge: Float[Array, "I H"]
    lsc: Float[Array, "I H"]
    sc: Float[Array, "I H"]
    buy: Float[Array, " H"]
    cost: Float[Array, " I"]
    alpha: Float[Array, ""]
    sc_beta: Float[Array, ""]
    sc_outside: Float[Array, ""]
    energy: Float[Array, ""]
    clip_width: float = eqx.field(static=True, default=0.01)

    @property
    def n_decks(self) -> int:
        return self.lsc.shape[0]

    @property
    def n_hours(self) -> int:
        return self.lsc.shape[1]


class Customers(eqx.Module):
    """Customers per deck and hour at given prices, (I, H) each.

    ``lsc_fraction_raw`` is g before the clip at zero (negative: that count is clipped);
    ``sc_share`` is c / s, the SC logit's multiplier of the reference count (positive);
    ``parking`` and ``charging`` are N_pk and N_ch (eqs 3, 4).
    """

    lsc_charging: Float[Array, "I H"]
    sc: Float[Array, "I H"]
    parking: Float[Array, "I H"]
    charging: Float[Array, "I H"]
    lsc_fraction_raw: Float[Array, "I H"]
    sc_share: Float[Array, "I H"]


def smooth_clip(v, width: float):
    """w softplus(v / w): a smooth max(v, 0), above it by at most w ln 2 (at v = 0)."""
    return width * jax.nn.softplus(v / width)


def lsc_fraction(p, q, alpha):
    """Paper eq (8): g(p, q) = -p^2 + alpha q - (alpha / 4) q^2 (before clipping)."""
    return -(p**2) + alpha * q - 0.25 * alpha * q**2


def bill(p, f, energy):
    """The bill of one hour of parking with charging in reference units, (E p + f) / (E + 1)."""
    return (energy * p + f) / (energy + 1.0)


def sc_share(r_own, r_others, beta, outside, n: int):
    """The SC logit's multiplier c / s of the reference count (decks.md, "Customers"):
    (n + W) / (1 + (n - 1) exp(beta (r_i - m_i)) + W exp(beta (r_i - 1))), with r_own = r_i
    and r_others = m_i, the mean bill of the other decks; positive and below n + W.

    The denominator is summed as a log-sum-exp of the log terms (0, log(n - 1) + beta (r_i -
    m_i), log W + beta (r_i - 1)), so that it cannot overflow; W = 0 (no outside option)
    drops the last term."""
    r_own, r_others = jnp.broadcast_arrays(r_own, r_others)
    has_outside = outside > 0
    log_w = jnp.log(jnp.where(has_outside, outside, 1.0))
    logits = jnp.stack([
        jnp.zeros_like(r_own), jnp.log(n - 1.0) + beta * (r_own - r_others),
        jnp.where(has_outside, log_w + beta * (r_own - 1.0), -jnp.inf)])
    return (n + outside) * jnp.exp(-jax.nn.logsumexp(logits, axis=0))


def others_mean(v: Float[Array, "I H"]) -> Float[Array, "I H"]:
    """The mean over the other decks j != i, per hour (I >= 2)."""
    n = v.shape[0]
    return (jnp.sum(v, axis=0, keepdims=True) - v) / (n - 1)


def split(x: Float[Array | np.ndarray, "M H"]) -> tuple[Float[Array | np.ndarray, "I H"],
                                                         Float[Array | np.ndarray, "I H"]]:
    """(charging prices, parking fees) from the joint decision (JAX or numpy, M = 2I rows):
    deck i owns rows 2i, 2i + 1."""
    return x[0::2], x[1::2]


def multipliers(market: Market, p: Float[Array, "I H"], f: Float[Array, "I H"]):
    """(g raw, g clipped, SC share c / s) per deck and hour at charging prices ``p`` and
    parking fees ``f``: the only price-dependent parts of the customer counts."""
    g_raw = lsc_fraction(p, others_mean(p), market.alpha)
    r = bill(p, f, market.energy)
    share = sc_share(r, others_mean(r), market.sc_beta, market.sc_outside, market.n_decks)
    return g_raw, smooth_clip(g_raw, market.clip_width), share


def customers(market: Market, x: Float[Array, "M H"]) -> Customers:
    """LC, LSC and SC counts per deck and hour at prices ``x`` (eqs 3, 4, 8; decks.md)."""
    p, f = split(x)
    g_raw, g, share = multipliers(market, p, f)
    lsc_charging = market.lsc * g
    sc = market.sc * share
    return Customers(
        lsc_charging=lsc_charging,
        sc=sc,
        parking=market.lc_park + market.lsc + sc,
        charging=market.lc_charge + lsc_charging + sc,
        lsc_fraction_raw=g_raw,
        sc_share=share,
    )


def elasticities(market: Market, x: Float[Array, "M H"]) -> dict:
    """Each group's own-price elasticity of its charging count, per deck and hour, at ``x``.

    The elasticity of a count N[i, t] is -d ln N[i, t] / d ln p[i, t] = -(p / N) dN / dp, the
    derivative taken in deck i's own charging price p[i, t] with every other price held (its
    own parking fee and all the other decks' prices), by forward-mode autodiff (one JVP per
    deck; the hours do not interact). Returns a dict of (I, H) arrays:

    * ``"sc"``: of the SC count c (the logit of decks.md; parking with charging, so its bill
      moves with p by E / (E + 1));
    * ``"lsc_charging"``: of the LSC charging count g b (eq (8), after the smooth clip);
    * ``"lc"``: of the LC charging count, 0 (LC react to no price).

    Where a group has no customers at (i, t) its count is 0 at every price and the elasticity
    is undefined: NaN there. Positive values mean demand falls as the price rises."""
    p, f = split(x)

    def own(i):
        tangent = jnp.zeros_like(p).at[i].set(1.0)
        (_, g, c), (_, dg, dc) = jax.jvp(lambda q: multipliers(market, q, f), (p,), (tangent,))
        return dg[i], dc[i], g[i], c[i]

    dg, dc, g, c = jax.vmap(own)(jnp.arange(market.n_decks))
    undefined = jnp.asarray(jnp.nan, p.dtype)
    return {
        "sc": jnp.where(market.sc > 0, -p * dc / c, undefined),
        "lsc_charging": jnp.where(market.lsc > 0, -p * dg / g, undefined),
        "lc": jnp.where(market.lc_charge > 0, jnp.zeros_like(p), undefined),
    }


def revenues(market: Market, x: Float[Array, "M H"]) -> tuple[Array, Array]:
    """(parking revenue, charging margin) per deck and hour (eq (2) and eqs (9), (10))."""
    p, f = split(x)
    n = customers(market, x)
    return f * n.parking, (p - market.buy[None, :]) * market.energy * n.charging


def profits(market: Market, x: Float[Array, "M H"]) -> Float[Array, " I"]:
    """Daily net profit R_i = R_p,i + R_c,i - C_i of every deck (eq (1))."""
    parking, charging = revenues(market, x)
    return jnp.sum(parking + charging, axis=1) - market.cost


def charging_load(market: Market, x: Float[Array, "M H"]) -> Float[Array, "I H"]:
    """Charging energy per deck and hour, E N_ch (kWh in one hour: kW), eq (9)."""
    return market.energy * customers(market, x).charging
