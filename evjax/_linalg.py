"""Small dense linear algebra without LAPACK calls (see ``evjax/_runtime.py`` for why).

Gauss-Jordan elimination without pivoting, for matrices whose symmetric part is definite
(every pivot is then nonzero and elimination is stable, as Cholesky is): every matrix of the
closed form (Q_t = diag(delta_t) + b^t V V', sum_t Q_t^-1, the Woodbury capacitance matrices)
and the NI polish's blocks where the game is monotone (elsewhere a zero pivot gives a
non-finite candidate, which the relaxation rejects).

Pure XLA arithmetic, so a ``vmap`` of it is a batch of fused rank-one updates, never a call
into jaxlib's batched LAPACK kernels; on jaxlib 0.10 two such calls running side by side
(a vmapped Nash and C-Nash closed form) deadlock a 2-core machine (``evjax/_runtime.py``).
At the closed form's sizes (N up to a few tens) it is also faster on CPU than a LAPACK call
per matrix, whose fixed overhead dominates there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

UNROLL_MAX = 16
"""Matrices up to this size are eliminated by an unrolled loop, larger ones by ``fori_loop``
(the same arithmetic; the loop keeps compile time flat in the size)."""


def gauss_jordan_inverse(a):
    """a^-1 for a (batch of) square matrices (..., M, M), in place (no augmented copy)."""
    m = a.shape[-1]
    for k in range(m):
        pivot = 1.0 / a[..., k, k]
        row = (a[..., k, :] * pivot[..., None]).at[..., k].set(pivot)
        col = a[..., :, k].at[..., k].set(0.0)
        a = a.at[..., :, k].set(0.0) - col[..., :, None] * row[..., None, :]
        a = a.at[..., k, :].set(row)
    return a


def _eliminate(k, ab):
    """One Gauss-Jordan step on the augmented matrix ab = [a | b] (..., M, M + S): column k
    becomes the k-th unit vector. ``k`` may be traced (``fori_loop``)."""
    m = ab.shape[-2]
    pivot_row = jax.lax.dynamic_index_in_dim(ab, k, axis=-2, keepdims=False)  # (..., M + S)
    pivot = jax.lax.dynamic_index_in_dim(pivot_row, k, axis=-1, keepdims=False)  # (...)
    row = pivot_row / pivot[..., None]
    is_k = jnp.arange(m) == k
    col = jnp.where(is_k, 0.0, jax.lax.dynamic_index_in_dim(ab, k, axis=-1, keepdims=False))
    ab = ab - col[..., :, None] * row[..., None, :]
    return jnp.where(is_k[:, None], row[..., None, :], ab)


def definite_solve(a, b):
    """x = a^-1 b for a (batch of) matrices a (..., M, M) with a definite symmetric part and
    right-hand sides b (..., M, S), by Gauss-Jordan elimination of [a | b] (no LAPACK)."""
    m = a.shape[-1]
    ab = jnp.concatenate([a, jnp.broadcast_to(b, a.shape[:-2] + b.shape[-2:])], axis=-1)
    if m <= UNROLL_MAX:
        for k in range(m):
            ab = _eliminate(k, ab)
    else:
        ab = jax.lax.fori_loop(0, m, _eliminate, ab)
    return ab[..., m:]
