"""Every test run checks the bounds of jitted code and compiles into a cache of its own.

NUMBA_BOUNDSCHECK=1 makes an index past the end of an array (in generated code, or a tape
written past its capacity) an IndexError instead of silent heap corruption. Numba's on-disk
cache does not record whether a function was compiled with bounds checks, so the tests never
share a cache directory with unchecked builds: a fresh one per run unless S2SAD_CACHE_DIR is
set (CI sets a fresh one too). Both must be set before Numba is imported.

NUMBA_ENABLE_CUDASIM=1 (unless set already) runs `@cuda.jit` kernels on Numba's CUDA simulator,
so tests/test_cuda.py runs on any machine; `bench/cuda.py --check` sets it to 0 on a GPU. It must
be set before anything imports numba.cuda."""

import os
import tempfile

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
os.environ.setdefault("NUMBA_BOUNDSCHECK", "1")
if not os.environ.get("S2SAD_CACHE_DIR"):
    os.environ["S2SAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="s2sad-tests-")
