"""Customers and profits of the charging/parking decks (paper 003 eqs 1-10, ../shared/design/decks.md).

Deck i sets, per hour t, a charging price p[i, t] (per kWh) and a parking fee f[i, t] (per
hour), both in normalised units (1.0 = the reference price of that service). Per deck and hour:

* LC (loyal): ``lc_park`` park and ``lc_charge`` charge, whatever the prices;
* LSC (less sensitive): ``lsc`` arrive and park; a fraction g(p_i, q_i) of them charge, with
  paper eq (8) g(p, q) = -p^2 + alpha q - (alpha / 4) q^2 and q_i the mean charging price of
  the other decks;
* SC (sensitive): ``sc`` * h(r_i) arrive, park and charge, h(r) = 1 + kappa r, where
  r_i = (mean total price of the other decks) - (total price p_i + f_i of deck i).

Eq (8) and h go negative at high prices; both are clipped smoothly at zero,
clip(v) = w softplus(v / w) with width w = ``clip_width`` (default 0.01, in units of the
fraction): clip(v) - max(v, 0) lies in (0, w ln 2], is w ln 2 ~ 0.0069 at v = 0 and below
w e^-5 ~ 7e-5 once |v| > 5 w, so the counts are smooth (gradients exist) and the clip is felt
only within a few widths of zero. :func:`customers` reports the raw values, so that a clipped
count at an equilibrium can be found and reported.

Profit of deck i (eqs 1, 2, 9, 10, with eq (10)'s missing bracket restored):
    R_i = sum_t f[i,t] N_pk[i,t] + sum_t (p[i,t] - buy[t]) E N_ch[i,t] - C_i,
    N_pk = lc_park + lsc + SC,  N_ch = lc_charge + g lsc + SC,
with E the energy per charging customer and hour (kWh) and C_i a fixed daily cost.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


class Market(eqx.Module):
    """The customers and prices of I decks over H hours (all array fields differentiable).

    Fields: ``lc_park``, ``lc_charge``, ``lsc``, ``sc`` (I, H) customers per hour; ``buy`` (H,)
    buy-in electricity price (normalised, per kWh); ``cost`` (I,) fixed daily cost; ``alpha``
    (eq (8)), ``kappa`` (SC sensitivity), ``energy`` (kWh per charging customer and hour);
    ``clip_width`` (static) the smoothing width of the clip at zero.
    """

    lc_park: Float[Array, "I H"]
    lc_charge: Float[Array, "I H"]
    lsc: Float[Array, "I H"]
    sc: Float[Array, "I H"]
    buy: Float[Array, " H"]
    cost: Float[Array, " I"]
    alpha: Float[Array, ""]
    kappa: Float[Array, ""]
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

    ``lsc_fraction_raw`` and ``sc_factor_raw`` are g and h before the clip at zero (negative:
    that count is clipped); ``parking`` and ``charging`` are N_pk and N_ch (eqs 3, 4).
    """

    lsc_charging: Float[Array, "I H"]
    sc: Float[Array, "I H"]
    parking: Float[Array, "I H"]
    charging: Float[Array, "I H"]
    lsc_fraction_raw: Float[Array, "I H"]
    sc_factor_raw: Float[Array, "I H"]


def smooth_clip(v, width: float):
    """w softplus(v / w): a smooth max(v, 0), above it by at most w ln 2 (at v = 0)."""
    return width * jax.nn.softplus(v / width)


def lsc_fraction(p, q, alpha):
    """Paper eq (8): g(p, q) = -p^2 + alpha q - (alpha / 4) q^2 (before clipping)."""
    return -(p**2) + alpha * q - 0.25 * alpha * q**2


def others_mean(v: Float[Array, "I H"]) -> Float[Array, "I H"]:
    """The mean over the other decks j != i, per hour (I >= 2)."""
    n = v.shape[0]
    return (jnp.sum(v, axis=0, keepdims=True) - v) / (n - 1)


def split(x: Float[Array, "2I H"]) -> tuple[Float[Array, "I H"], Float[Array, "I H"]]:
    """(charging prices, parking fees) from the joint decision: deck i owns rows 2i, 2i + 1."""
    return x[0::2], x[1::2]


def customers(market: Market, x: Float[Array, "2I H"]) -> Customers:
    """LC, LSC and SC counts per deck and hour at prices ``x`` (eqs 3, 4, 8; decks.md)."""
    p, f = split(x)
    g_raw = lsc_fraction(p, others_mean(p), market.alpha)
    total = p + f
    h_raw = 1.0 + market.kappa * (others_mean(total) - total)
    lsc_charging = market.lsc * smooth_clip(g_raw, market.clip_width)
    sc = market.sc * smooth_clip(h_raw, market.clip_width)
    return Customers(
        lsc_charging=lsc_charging,
        sc=sc,
        parking=market.lc_park + market.lsc + sc,
        charging=market.lc_charge + lsc_charging + sc,
        lsc_fraction_raw=g_raw,
        sc_factor_raw=h_raw,
    )


def revenues(market: Market, x: Float[Array, "2I H"]) -> tuple[Array, Array]:
    """(parking revenue, charging margin) per deck and hour (eq (2) and eqs (9), (10))."""
    p, f = split(x)
    n = customers(market, x)
    return f * n.parking, (p - market.buy[None, :]) * market.energy * n.charging


def profits(market: Market, x: Float[Array, "2I H"]) -> Float[Array, " I"]:
    """Daily net profit R_i = R_p,i + R_c,i - C_i of every deck (eq (1))."""
    parking, charging = revenues(market, x)
    return jnp.sum(parking + charging, axis=1) - market.cost


def charging_load(market: Market, x: Float[Array, "2I H"]) -> Float[Array, "I H"]:
    """Charging energy per deck and hour, E N_ch (kWh in one hour: kW), eq (9)."""
    return market.energy * customers(market, x).charging
