"""Independent numpy references for the deck game (paper 003, ../shared/design/decks.md).

Reads a scenario dict directly (not through evjax) and re-implements customers, profits and
the grid constraints (eqs 14-19, downstream voltage drop) in numpy. A deck's best response to
the others' prices separates by hour (profit and constraints of hour t involve only hour t's
prices), so it is found globally per hour by a dense grid over its (charging price, parking
fee) box followed by repeated zooms around the best feasible point: no local method, no
concavity assumed.
"""

from __future__ import annotations

import numpy as np

PHASES = ("A", "B", "C")


def _softclip(v, w):
    return w * np.logaddexp(0.0, v / w)


def sc_count(s, r_own, r_others, beta, outside, n):
    """decks.md's SC logit, written out: s (n + W) / (1 + (n - 1) e^(beta (r_i - m_i)) +
    W e^(beta (r_i - 1))), r_own = r_i the deck's bill, r_others = m_i the others' mean."""
    den = 1.0 + (n - 1) * np.exp(beta * (r_own - r_others)) + outside * np.exp(
        beta * (r_own - 1.0))
    return s * (n + outside) / den


def bill(p, f, energy):
    """One hour of parking with charging in reference units: (E p + f) / (E + 1)."""
    return (energy * p + f) / (energy + 1.0)


class DeckReference:
    def __init__(self, scenario: dict, grid: bool = True):
        s = scenario
        d = s["decks"]
        self.n, self.h = len(d), s["hours"]
        arr = lambda f: np.array([deck[f] for deck in d], float)  # noqa: E731
        self.lc_park, self.lc_charge = arr("lc_park"), arr("lc_charge")
        self.lsc, self.sc, self.base = arr("lsc"), arr("sc"), arr("base_kw")
        self.cost = np.array([deck.get("cost", 0.0) for deck in d], float)
        self.buy = np.asarray(s["buy_in"], float)
        self.alpha = float(s["alpha"])
        self.beta, self.outside = float(s["sc_beta"]), float(s["sc_outside"])
        self.energy, self.width = float(s["energy_kwh"]), float(s["clip_width"])
        self.ch_box, self.pk_box = s["charging_box"], s["parking_box"]
        self.phase = np.array([PHASES.index(deck["phase"]) for deck in d])
        self.grid = s["grid"] if grid else None

    # ---------------------------------------------------------------- model, per hour t
    def hour_profit(self, i, t, p, f, x):
        """Deck i's hour-t profit at its prices (p, f) (arrays) with the others at x."""
        others = [j for j in range(self.n) if j != i]
        q = x[0::2, t][others].mean()
        m = bill(x[0::2, t], x[1::2, t], self.energy)[others].mean()
        g = _softclip(-p**2 + self.alpha * q - self.alpha / 4 * q**2, self.width)
        c = sc_count(self.sc[i, t], bill(p, f, self.energy), m, self.beta, self.outside, self.n)
        park = self.lc_park[i, t] + self.lsc[i, t] + c
        charge = self.lc_charge[i, t] + g * self.lsc[i, t] + c
        return f * park + (p - self.buy[t]) * self.energy * charge

    def loads(self, pt, ft, t):
        """(n, G) loads in kW at hour t for G candidate price columns pt, ft (n, G)."""
        n = self.n
        q = (pt.sum(0) - pt) / (n - 1)
        r = bill(pt, ft, self.energy)
        m = (r.sum(0) - r) / (n - 1)
        g = _softclip(-pt**2 + self.alpha * q - self.alpha / 4 * q**2, self.width)
        c = sc_count(self.sc[:, t, None], r, m, self.beta, self.outside, n)
        nch = self.lc_charge[:, t, None] + g * self.lsc[:, t, None] + c
        return self.energy * nch + self.base[:, t, None]

    def constraints(self, load):
        """(K, G) grid constraint values (<= 0 feasible) from (n, G) loads, eqs 14-19."""
        gr = self.grid
        if gr is None:
            return np.zeros((0, load.shape[1]))
        v = gr["v_phase"]
        cur = 1000 * load / v
        onph = np.stack([self.phase == k for k in range(3)]).astype(float)
        xph = onph @ cur
        out = []
        if gr.get("transformer_kw") is not None:
            out.append(onph @ load / (1.3 * gr["transformer_kw"] / 3) - 1)
        if gr.get("backbone_a") is not None:
            out.append(xph / np.broadcast_to(np.asarray(gr["backbone_a"], float), (3,))[:, None] - 1)
        if gr.get("service_a") is not None:
            out.append(cur / np.broadcast_to(np.asarray(gr["service_a"], float), (self.n,))[:, None] - 1)
        if gr.get("impedance_ohm") is not None:
            z = np.asarray(gr["impedance_ohm"], float)
            drop = np.zeros_like(cur)
            for hnode in range(self.n):
                for k in range(hnode + 1):  # segments 1..h on the way to node h
                    through = sum(cur[j] for j in range(k, self.n)
                                  if self.phase[j] == self.phase[hnode])
                    drop[hnode] += z[k] * through
            out.append(drop / (v - gr["v_min"]) - 1)
        if gr.get("imbalance") is not None:
            p = gr["imbalance"]
            scale = 1000 * gr["transformer_kw"] / 3 / v
            mean = xph.mean(0)
            out.append((xph - (1 + p) * mean) / scale)
            out.append(((1 - p) * mean - xph) / scale)
        return np.concatenate(out)

    def counts(self, x):
        """(SC, LSC charging) counts (n, H) at prices x (2n, H)."""
        x = np.asarray(x, float)
        p, f = x[0::2], x[1::2]
        q = (p.sum(0) - p) / (self.n - 1)
        r = bill(p, f, self.energy)
        m = (r.sum(0) - r) / (self.n - 1)
        g = _softclip(-p**2 + self.alpha * q - self.alpha / 4 * q**2, self.width)
        return sc_count(self.sc, r, m, self.beta, self.outside, self.n), g * self.lsc

    def profits(self, x):
        x = np.asarray(x, float)
        return np.array([sum(self.hour_profit(i, t, x[2 * i, t], x[2 * i + 1, t], x)
                             for t in range(self.h)) for i in range(self.n)]) - self.cost

    # ---------------------------------------------------------------- best response
    def hour_best(self, i, t, x, n=121, zooms=12, feas_tol=1e-10):
        """Best (profit, p, f) of deck i in hour t, others at x, constraints respected."""
        (plo, phi), (flo, fhi) = self.ch_box, self.pk_box
        pc, fc = np.linspace(plo, phi, n), np.linspace(flo, fhi, n)
        best = None
        hp, hf = (phi - plo) / (n - 1), (fhi - flo) / (n - 1)
        for _ in range(zooms + 1):
            P, F = (a.ravel() for a in np.meshgrid(pc, fc, indexing="ij"))
            val = self.hour_profit(i, t, P, F, x)
            if self.grid is not None:
                pt = np.repeat(x[0::2, t][:, None], P.size, 1)
                ft = np.repeat(x[1::2, t][:, None], P.size, 1)
                pt[i], ft[i] = P, F
                feas = np.all(self.constraints(self.loads(pt, ft, t)) <= feas_tol, axis=0)
                val = np.where(feas, val, -np.inf)
            k = int(np.argmax(val))
            if not np.isfinite(val[k]):
                break
            best = (float(val[k]), float(P[k]), float(F[k]))
            pc = np.clip(np.linspace(P[k] - 2 * hp, P[k] + 2 * hp, 21), plo, phi)
            fc = np.clip(np.linspace(F[k] - 2 * hf, F[k] + 2 * hf, 21), flo, fhi)
            hp, hf = hp / 5, hf / 5
        return best

    def best_response_gains(self, x):
        """(n,) each deck's gain from its own best response to the others' x (global)."""
        x = np.asarray(x, float)
        gains = np.zeros(self.n)
        for i in range(self.n):
            for t in range(self.h):
                cur = self.hour_profit(i, t, x[2 * i, t], x[2 * i + 1, t], x)
                best = self.hour_best(i, t, x)
                if best is not None:
                    gains[i] += max(best[0] - cur, 0.0)
        return gains
