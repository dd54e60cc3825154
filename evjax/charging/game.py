"""The coalition charging game of paper 000 (Kudva et al., CDC 2024), as a pytree."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import (
    as_float_array,
    check_shape,
    check_values,
    concrete,
    require_float64,
    short,
)


class ChargingGame(eqx.Module):
    """N charging stations over T steps under the reactive price p^t = a^t + b^t sum_j x_j^t.

    Station i pays c_i(x) = sum_t p^t x_i^t + mu_i/2 ||x_i - xbar_i||^2 (paper eq (1)) and must
    deliver sum_t x_i^t = d_i.

    Arguments:
        a: shape (T,), the exogenous price level a^t.
        b: scalar or shape (T,), the price slope b^t > 0 (the paper fixes b; a time-varying
            tariff is allowed).
        mu: shape (N,), sensitivities mu_i > 0 to deviating from the nominal profile.
        d: shape (N,), total demands d_i > 0 (the charge station i must buy over the day:
            paper 000, Section 3; a station with nothing to charge is not a player of the
            model, and its cost could be negative, which leaves the cost ratios meaningless).
        xbar: shape (N, T), nominal profiles xbar_i^t.

    The game is an equinox Module: ``jit``, ``vmap`` and ``grad`` pass through it. To build a
    batch of games, construct under ``jax.vmap`` (``jax.vmap(ChargingGame)(a, b, mu, d, xbar)``
    with a leading batch axis on each argument), so that the shape checks see one game.
    Shapes are checked before any computation (``ValueError``); values (finite, mu > 0,
    b > 0, d > 0) are checked eagerly when concrete and through ``eqx.error_if`` under tracing.
    """

    a: Float[Array, " T"]
    b: Float[Array, ""] | Float[Array, " T"]
    mu: Float[Array, " N"]
    d: Float[Array, " N"]
    xbar: Float[Array, "N T"]

    def __init__(self, a, b, mu, d, xbar):
        a = as_float_array("a", a, (1,))
        b = as_float_array("b", b, (0, 1))
        mu = as_float_array("mu", mu, (1,))
        d = as_float_array("d", d, (1,))
        xbar = as_float_array("xbar", xbar, (2,))
        n, t = mu.shape[0], a.shape[0]
        if n == 0:
            raise ValueError("mu must name at least one station (N >= 1), got N = 0")
        if t == 0:
            raise ValueError("a must cover at least one time step (T >= 1), got T = 0")
        if b.ndim == 1:
            check_shape("b", b, (t,))
        check_shape("d", d, (n,))
        check_shape("xbar", xbar, (n, t))
        self.a = check_values("a", a)
        self.b = check_values("b", b, positive=True)
        self.mu = check_values("mu", mu, positive=True)
        self.d = check_values("d", d, positive=True)
        self.xbar = check_values("xbar", xbar)

    @classmethod
    def from_shares(cls, a, b, mu, d, alpha) -> "ChargingGame":
        """A game under the paper's Assumption 4.1: xbar_i^t = d_i alpha^t.

        ``alpha`` has shape (T,), entries >= 0 summing to 1 (checked when concrete).
        """
        alpha = as_float_array("alpha", alpha, (1,))
        d = as_float_array("d", d, (1,))
        a_arr = as_float_array("a", a, (1,))
        check_shape("alpha", alpha, a_arr.shape)
        known = concrete(alpha)
        if known is not None:
            if not np.isfinite(known).all():
                raise ValueError(f"alpha must be finite, got {short(known)}")
            if (known < 0).any() or abs(known.sum() - 1.0) > 1e-9:
                if abs(known.sum() - 1.0) < 1e-5:  # float32 rounding, when x64 is off
                    require_float64(f"alpha (it sums to {float(known.sum())!r}, which must be 1 to "
                                    f"within 1e-9)")
                raise ValueError(
                    f"alpha must be >= 0 and sum to 1, got {short(known)} (sum {known.sum()!r})"
                )
        return cls(a_arr, b, mu, d, d[:, None] * alpha[None, :])

    def check_finite(self, name: str, value) -> None:
        """``ValueError`` ("non-finite {name} ...") if ``value``, a result computed from this
        game, is concrete and not finite. The inputs are finite, so float64 overflowed on the
        way (b = 1e300, d = 1e200, ...); the message names the game's largest magnitudes."""
        known = concrete(value)
        if known is None or np.isfinite(known).all():
            return
        scale = ", ".join(
            f"|{k}| {float(np.max(np.abs(concrete(v)))):.3g}"
            for k, v in (("a", self.a), ("b", self.b), ("mu", self.mu), ("d", self.d),
                         ("xbar", self.xbar)) if concrete(v) is not None
        )
        raise ValueError(f"non-finite {name} ({short(known)}): float64 overflowed, the "
                         f"game's numbers are too large (largest {scale}); rescale its units")

    @property
    def n_stations(self) -> int:
        return self.mu.shape[-1]

    @property
    def n_steps(self) -> int:
        return self.a.shape[-1]

    @property
    def b_t(self) -> Float[Array, " T"]:
        """b as a length-T array (a constant b repeated)."""
        return jnp.broadcast_to(self.b, self.a.shape)

    @property
    def constant_b(self) -> bool:
        """Whether b was given as a scalar (a static property of the game's structure)."""
        return self.b.ndim == 0

    def price(self, x: Float[Array, "N T"]) -> Float[Array, " T"]:
        """The price p^t = a^t + b^t sum_j x_j^t under the joint profile ``x``."""
        return self.a + self.b * jnp.sum(x, axis=0)

    def to_dict(self) -> dict:
        """The game as a JSON-ready dict (the game-file format of ``evjax solve``)."""
        b = np.asarray(self.b)
        return {
            "a": np.asarray(self.a).tolist(),
            "b": b.item() if b.ndim == 0 else b.tolist(),
            "mu": np.asarray(self.mu).tolist(),
            "d": np.asarray(self.d).tolist(),
            "xbar": np.asarray(self.xbar).tolist(),
        }
