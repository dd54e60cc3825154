"""A workaround for a deadlock in jaxlib 0.10's CPU runtime, applied when evjax is imported.

A ``jax.vmap`` of :func:`evjax.solvers.solve` over five or more games (nested while loops
with batched linear algebra) can stop forever on jaxlib 0.10's CPU backend: every thread
asleep, the main thread waiting for the executable to finish. Reproduced on 2 cores; the
trigger is XLA's concurrency-optimised scheduler (with it off, 1,000 batched solves finish;
passing the option per executable through ``compiler_options`` does not help). So on jaxlib
0.10, importing evjax adds ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` to
``XLA_FLAGS``. XLA reads the variable when its first backend starts, so this works when evjax
is imported before the first JAX computation, and changes nothing else. It never overrides a
value you set, and ``EVJAX_KEEP_XLA_FLAGS=1`` turns it off.
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
