"""Test configuration: float64 everywhere (the library itself never touches JAX's config)."""

import os
import sys
from pathlib import Path

# The numpy references solve many small dense systems; BLAS threads only add contention there
# (tens of times slower on a busy 2-core machine). Must precede the first import of numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

# `import helpers` from any test module, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))
