"""Test configuration: float64 everywhere (the library itself never touches JAX's config)."""

import ctypes
import os
import sys
import tempfile
from pathlib import Path

# One thread per XLA op: the tests gain nothing from intra-op threads on 2 cores. (No flag is
# needed against jaxlib 0.10's batched-LAPACK deadlock: the solver chains its LAPACK calls so
# that none run side by side; see evjax/_runtime.py.)
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_cpu_multi_thread_eigen=false").strip()

# One persistent compilation cache for the whole test session: the two xdist workers and the
# tests' subprocesses (CLI, resumed sweeps, benchmarks) load what another already compiled
# (keys cover the program, the options and the JAX version, so results cannot change).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(
    Path(tempfile.gettempdir()) / f"evjax-tests-jax-cache-{os.getuid()}"))

import jax  # noqa: E402
import numpy as np

jax.config.update("jax_enable_x64", True)

# `import helpers` from any test module, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))


def _single_threaded_blas() -> bool:
    """Run numpy's OpenBLAS on one thread.

    The numpy references solve thousands of small dense systems (up to a few hundred unknowns);
    there BLAS threads only contend, which on a busy 2-core machine makes them ten times slower.
    numpy is already imported when this file runs (pytest plugins import it), so the
    OPENBLAS_NUM_THREADS variable would come too late; call OpenBLAS's own setter instead.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # for subprocesses
    libs = Path(np.__file__).parent.parent / "numpy.libs"
    names = (
        "scipy_openblas_set_num_threads64_",
        "scipy_openblas_set_num_threads",
        "openblas_set_num_threads64_",
        "openblas_set_num_threads",
    )
    for path in sorted(libs.glob("*openblas*")) if libs.is_dir() else ():
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            continue
        for name in names:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(1)
                return True
    return False


_single_threaded_blas()
