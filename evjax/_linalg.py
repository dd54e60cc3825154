"""Small dense linear algebra without LAPACK calls (see ``evjax/_runtime.py`` for why)."""

from __future__ import annotations


def gauss_jordan_inverse(a):
    """a^-1 for a (batch of) square matrices by Gauss-Jordan elimination without pivoting.

    Stable without pivoting for matrices with a definite symmetric part (every pivot is
    then nonzero): the closed form's Woodbury capacitance matrices I / b + V' D^-1 V
    (symmetric positive definite), and the NI polish's blocks where the game is monotone
    (elsewhere a zero pivot gives a non-finite candidate, which the relaxation rejects).

    A static loop of rank-one updates over the whole batch: XLA fuses each into one pass,
    several times faster on CPU than jaxlib's batched LAPACK QR at these sizes (M ~ 20,
    where the per-matrix overhead of a LAPACK call dominates), and with no LAPACK call it
    cannot meet jaxlib 0.10's batched-LAPACK deadlock (``evjax/_runtime.py``): a vmapped
    closed form runs its Nash and C-Nash solves side by side, and two batched LAPACK
    solves at once hung that runtime.
    """
    m = a.shape[-1]
    for k in range(m):
        pivot = 1.0 / a[..., k, k]
        row = (a[..., k, :] * pivot[..., None]).at[..., k].set(pivot)
        col = a[..., :, k].at[..., k].set(0.0)
        a = a.at[..., :, k].set(0.0) - col[..., :, None] * row[..., None, :]
        a = a.at[..., k, :].set(row)
    return a
