"""Every generated kernel of the CUDA corpus (and of test_cuda_transform.py's kernels) compiles
with the real numba-cuda, to PTX for a Hopper GPU (compute capability 9.0), in float32 and float64.

Numba's CUDA simulator (which the other CUDA tests run on) executes kernels as Python and so
accepts device code that numba-cuda's typing rejects; compiling to PTX needs libNVVM
(``pip install "cuda-toolkit[nvrtc,nvvm]==13.*"``, in the ``test`` and ``cuda`` extras on Linux
x86_64) but no GPU. The check runs in a subprocess (tests/cuda_ptx_check.py) because this
process has imported numba.cuda in simulator mode. Skipped, saying why, where libNVVM is not
found."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.slow
def test_every_corpus_kernel_compiles_to_ptx():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    env.pop("NUMBA_BOUNDSCHECK", None)  # numba-cuda compiles no bounds checks
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, os.path.join(HERE, "cuda_ptx_check.py")], env=env,
                         capture_output=True, text=True, timeout=1800, check=False)
    out = run.stdout + run.stderr
    if run.returncode == 3:
        pytest.skip("libNVVM not found, so numba-cuda cannot compile to PTX here "
                    "(pip install 'cuda-toolkit[nvrtc,nvvm]==13.*'): " + out.strip().splitlines()[-1])
    assert run.returncode == 0, out[-20000:]
    assert out.count("\nok ") + out.startswith("ok ") >= 120, out  # the whole corpus and more, both modes and types
