"""How evjax's compiled code runs: a workaround for jaxlib 0.10's CPU runtime, and the
compiler options that keep sweeps reproducible on a GPU (``REPRODUCIBLE_JIT``, at the end).

A deadlock in jaxlib 0.10's CPU runtime.

The cause (native stacks of hung processes, gdb): jaxlib 0.10's batched LAPACK kernels
(Cholesky, triangular solves, QR, ...) hand the matrices of a batch to XLA's intra-op thread
pool and block a thread until they are done (``jax::ParallelBatchMap``). When as many such
calls run side by side as the pool has threads (2 on a 2-core machine), every pool thread
waits for work that no thread is left to run: all threads asleep, forever. A ``jax.vmap`` of
:func:`evjax.solvers.solve` makes every linear-algebra call batched, and XLA runs
independent calls concurrently. jaxlib 0.11.1 and later do not have this parallel path.

evjax avoids it by construction: in the solver every LAPACK call needs the result of the
previous one (one chain; right-hand sides solved together, explicit inverses of small
blocks where several solves share a factor; see ``evjax/solvers``), so no two run at once.
Code of your own that vmaps several independent LAPACK calls on jaxlib 0.10 can still
deadlock; the fix there is jax >= 0.11.1.

Before the cause was found, XLA's concurrency-optimised scheduler looked like the trigger,
and on jaxlib 0.10 importing evjax still adds
``--xla_cpu_enable_concurrency_optimized_scheduler=false`` to ``XLA_FLAGS`` (it orders
independent work so that less of it overlaps). XLA reads the variable when its first
backend starts, so this works when evjax is imported before the first JAX computation. It
never overrides a value you set, and ``EVJAX_KEEP_XLA_FLAGS=1`` turns it off.
"""

from __future__ import annotations

import os

FLAG = "xla_cpu_enable_concurrency_optimized_scheduler"


def _affected(version: str) -> bool:
    major_minor = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    return major_minor == (0, 10)


def apply_cpu_workaround() -> bool:
    """Add the scheduler flag to ``XLA_FLAGS`` on jaxlib 0.10; True if it was added."""
    from jaxlib import version as jaxlib_version

    flags = os.environ.get("XLA_FLAGS", "")
    if (os.environ.get("EVJAX_KEEP_XLA_FLAGS") or FLAG in flags
            or not _affected(jaxlib_version.__version__)):
        return False
    os.environ["XLA_FLAGS"] = f"{flags} --{FLAG}=false".strip()
    return True


# XLA picks a GPU's matrix-product algorithms by timing candidates when it compiles, so two
# processes that compile at once, or on a busy GPU, can pick different algorithms that round
# differently. Sweeps promise results identical to the bit across processes (a resumed sweep,
# several hosts), so their compiled functions skip that autotuning and use the libraries'
# default algorithm (an H100 sweeps 2^30 coalitions in 0.51 s instead of 0.44 s). CPUs
# ignore the option.
REPRODUCIBLE_JIT = {"compiler_options": {"xla_gpu_autotune_level": 0}}
