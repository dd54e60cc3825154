"""Input checks shared by the games: shapes before tracing, values when concrete.

Two tiers (see ``../shared/design/style.md``): shapes are static, so a wrong shape is a Python
``ValueError`` raised before any computation. Values are checked eagerly when the data are
concrete; under ``jit``/``vmap``/``grad`` they go through ``eqx.error_if`` instead.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


FLOAT64_HINT = "call jax.config.update('jax_enable_x64', True) before creating any array"


def float_dtype():
    """The default floating dtype: float64 when x64 is enabled, else float32."""
    return jnp.result_type(float)


def require_float64(what: str) -> None:
    """``ValueError`` unless JAX's x64 mode is on (evjax never switches it on itself)."""
    if float_dtype() != np.float64:
        raise ValueError(f"{what} needs float64, but JAX runs in float32: {FLOAT64_HINT}")


def concrete(x) -> np.ndarray | None:
    """``x`` as a numpy array if its value is known now, ``None`` under tracing."""
    if isinstance(x, jax.core.Tracer):
        return None
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def short(value, limit: int = 60) -> str:
    """A one-line rendering of a value for an error message."""
    text = np.array2string(np.asarray(value), threshold=8, max_line_width=10_000)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_float_array(name: str, value, ndim: tuple[int, ...]) -> jax.Array:
    """Convert ``value`` to a float array whose rank is one of ``ndim``; never broadcast."""
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} must be numeric, got {value!r}")
    if not isinstance(value, jax.Array):
        try:
            value = np.asarray(value)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name} must be a rectangular array of numbers") from exc
    try:
        dtype = jnp.result_type(value)
    except TypeError:  # strings, objects: not a JAX type at all
        raise ValueError(f"{name} must be numeric, got {short(value)} "
                         f"(dtype {np.asarray(value).dtype})") from None
    if dtype == jnp.bool_ or not jnp.issubdtype(dtype, jnp.number):
        raise ValueError(f"{name} must be numeric, got dtype {dtype} ({short(value)})")
    if jnp.ndim(value) not in ndim:
        ranks = " or ".join(str(n) for n in ndim)
        raise ValueError(
            f"{name} must have rank {ranks}, got shape {tuple(jnp.shape(value))}"
        )
    return jnp.asarray(value, dtype=float_dtype())


def check_shape(name: str, value: jax.Array, shape: tuple[int, ...]) -> None:
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(value.shape)}")


def check_values(name: str, value: jax.Array, *, positive: bool = False) -> jax.Array:
    """Finite (and optionally > 0) values: eager ``ValueError`` or traced ``error_if``."""
    known = concrete(value)
    if known is not None:
        for bad, need in ((~np.isfinite(known), "finite"),
                          ((known <= 0) if positive else None, "> 0")):
            if bad is not None and bad.any():
                where = tuple(int(i) for i in np.argwhere(bad)[0])
                at = f" at index {where}" if where else ""
                raise ValueError(
                    f"{name} must be {need}, got {float(known[where])!r}{at} (in {short(known)})"
                )
        return value
    bad = ~jnp.isfinite(value)
    if positive:
        bad = bad | (value <= 0)
        return eqx.error_if(value, bad, f"{name} must be finite and > 0")
    return eqx.error_if(value, bad, f"{name} must be finite")

