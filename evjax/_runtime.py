"""How evjax's compiled code runs: the compiler options that keep sweeps reproducible on a
GPU (``REPRODUCIBLE_JIT``), and why the solver chains its LAPACK calls on jaxlib 0.10.

evjax never changes ``XLA_FLAGS`` or JAX's configuration; this module only holds options
that evjax passes to its own ``jit`` calls.

A deadlock in jaxlib 0.10's CPU runtime, and how the solver avoids it.

The cause (native stacks of hung processes, gdb): jaxlib 0.10's batched LAPACK kernels
(Cholesky, triangular solves, QR, ...) hand the matrices of a batch to XLA's intra-op thread
pool and block a thread until they are done (``jax::ParallelBatchMap``). When as many such
calls run side by side as the pool has threads (2 on a 2-core machine), every pool thread
waits for work that no thread is left to run: all threads asleep, forever. A ``jax.vmap`` of
:func:`evjax.solvers.solve` makes every linear-algebra call batched, and XLA runs
independent calls concurrently. jaxlib 0.11.1 and later do not have this parallel path.

evjax avoids it by construction. The closed form (``evjax.charging.closed_form``, both
methods, constant and time-varying prices) makes no LAPACK call at all: its matrices are
definite and small, and ``evjax._linalg`` eliminates them in plain XLA arithmetic (a
reproduction of paper 000 vmaps 256 games' Nash and C-Nash dense solves in one program,
which hung here on 2 cores with ``jnp.linalg.solve``). In the solver every LAPACK call needs
the result of the previous one (one chain; right-hand sides solved together, explicit inverses of small
blocks where several solves share a factor; see ``evjax/solvers``), so no two run at once.
Code of your own that vmaps several independent LAPACK calls on jaxlib 0.10 can still
deadlock; the fix there is jax >= 0.11.1. (Before the cause was found, evjax set
``--xla_cpu_enable_concurrency_optimized_scheduler=false`` in ``XLA_FLAGS`` at import; the
chained solver does not need it, and the library no longer touches the variable.)
"""

from __future__ import annotations

# XLA picks a GPU's matrix-product algorithms by timing candidates when it compiles, so two
# processes that compile at once, or on a busy GPU, can pick different algorithms that round
# differently. Sweeps promise results identical to the bit across processes (a resumed sweep,
# several hosts), so their compiled functions skip that autotuning and use the libraries'
# default algorithm (an H100 sweeps 2^30 coalitions in 0.51 s instead of 0.44 s). CPUs
# ignore the option.
REPRODUCIBLE_JIT = {"compiler_options": {"xla_gpu_autotune_level": 0}}
"""Keywords for ``jax.jit``/``eqx.filter_jit`` of every sweep kernel: no GPU autotuning."""
