"""Every test run checks the bounds of jitted code and compiles into a cache of its own.

NUMBA_BOUNDSCHECK=1 makes an index past the end of an array (in generated code, or a tape
written past its capacity) an IndexError instead of silent heap corruption. Numba's on-disk
cache does not record whether a function was compiled with bounds checks, so the tests never
share a cache directory with unchecked builds: a fresh one per run unless S2SAD_CACHE_DIR is
set (CI sets a fresh one too). Both must be set before Numba is imported, as must NUMBA_ENABLE_CUDASIM."""

import os
import tempfile

os.environ.setdefault("NUMBA_BOUNDSCHECK", "1")
# CI has no GPU: numba.cuda kernels run on Numba's simulator (a GPU machine sets this to 0)
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
if not os.environ.get("S2SAD_CACHE_DIR"):
    os.environ["S2SAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="s2sad-tests-")
