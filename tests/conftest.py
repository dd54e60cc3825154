"""Test configuration: float64 everywhere (the library itself never touches JAX's config)."""

import ctypes
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# One thread per XLA op: the tests gain nothing from intra-op threads on 2 cores. (No flag is
# needed against jaxlib 0.10's batched-LAPACK deadlock: the closed form makes no LAPACK call and
# the solver chains its LAPACK calls so that none run side by side; see evjax/_runtime.py.)
#
# Compiling is most of the suite's time, so the tests compile for speed: machine code at LLVM
# optimisation level 0, and XLA's classic CPU loop emitters instead of its newer fusion emitters
# (measured on 2 cores: a constrained NI solve compiles in 2.1 s instead of 7.2 s, the suite
# runs in 372 s instead of 556 s). XLA's own optimisations (fusion, simplification, layout)
# still run, so the tests exercise the same optimised programs; only code generation is
# plainer, which can move a result by an ulp. Every test compares with an independent
# reference within a tolerance, and every bit-identity test compares evjax with itself under
# these same flags (subprocesses inherit them). A jaxlib that does not know a flag aborts at
# start-up, so they are tried once, in a subprocess, and left out if refused; the xdist workers
# and the tests' subprocesses inherit the outcome.
_COMPILE_FAST = " --xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"


def _test_xla_flags() -> None:
    if os.environ.get("EVJAX_TESTS_XLA_FLAGS") == os.environ.get("XLA_FLAGS", ""):
        return  # settled by this session's first process (the xdist controller)
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    probe = subprocess.run(
        [sys.executable, "-c", "import jax.numpy as jnp; jnp.zeros(1).block_until_ready()"],
        env=os.environ | {"XLA_FLAGS": flags + _COMPILE_FAST, "JAX_PLATFORMS": "cpu"},
        capture_output=True, timeout=300)
    if probe.returncode == 0:
        flags += _COMPILE_FAST
    os.environ["XLA_FLAGS"] = os.environ["EVJAX_TESTS_XLA_FLAGS"] = flags


_test_xla_flags()

# One persistent compilation cache for the whole test session: the two xdist workers and the
# tests' subprocesses (CLI, resumed sweeps, benchmarks) load what another already compiled
# (keys cover the program, the options and the JAX version, so results cannot change).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(
    Path(tempfile.gettempdir()) / f"evjax-tests-jax-cache-{os.getuid()}"))
# Every program goes in it, not only those compiling for over a second (JAX's default): the
# many sub-second compiles are most of what a subprocess or the other worker would redo.
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

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


# The two xdist workers take whole files (`--dist loadfile`), each the next file in collection
# order when it runs out of tests. Collecting the costliest files first (longest processing
# time first) keeps a long file from starting last on one worker while the other idles; newer
# xdist (3.7+) would reorder the files by their number of tests, whatever they cost, so that is
# turned off. The weights are the files' cold-cache seconds on a 2-core machine, roughly; a file
# not listed (a new one) counts as a middling one. Order only: every test still runs.
_FILE_SECONDS = {
    "test_nikaido_isoda.py": 300, "test_design.py": 110, "test_decks.py": 120,
    "test_notebooks.py": 110, "test_benchmarks.py": 100, "test_gradients.py": 85,
    "test_response_robustness.py": 75, "test_cli.py": 65, "test_reduced.py": 65,
    "test_sweep_io.py": 60, "test_sweep.py": 60, "test_partitions.py": 55,
    "test_formation.py": 60, "test_equilibrium.py": 40, "test_distributed.py": 40,
    "test_scenarios_real.py": 35,
}


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist >= 3.7
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """Order the test files by decreasing cost (a stable sort: a file's tests keep theirs)."""
    items.sort(key=lambda item: -_FILE_SECONDS.get(item.path.name, 30))
