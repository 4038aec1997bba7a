"""The thread-index intrinsics of ``numba.cuda`` kernels, as zero-derivative primitives.

``cuda.grid(k)``, ``cuda.gridsize(k)`` and ``cuda.threadIdx.x`` (``blockIdx``, ``blockDim``,
``gridDim``; ``.x .y .z``) are integers that say which thread runs: index sources with no
derivative. The frontend lowers them to calls of these names only inside ``@cuda.jit`` code
(``frontend/lower.py``); ``cuda.atomic.add`` is no primitive but an accumulating store
(``ir.AugStore``), whose adjoint needs no old value. They exist only inside a kernel, so the
CPU rule tests do not run them; ``tests/test_cuda_transform.py`` does, on Numba's simulator.
"""

from __future__ import annotations

from ..errors import TypeInferenceError
from ..ir.types import I64, Tuple
from .table import const_value, zero

#: the thread-index attributes, ``cuda.<name>.<axis>``
THREAD_ATTRS = tuple(f"{v}.{a}" for v in ("threadIdx", "blockIdx", "blockDim", "gridDim") for a in "xyz")


def _t_grid(ts, call):
    k = const_value(call.args[0]) if call.args else None
    if k not in (1, 2, 3):
        raise TypeInferenceError(f"`{call.func}` takes the number of dimensions, 1, 2 or 3, as a constant")
    return I64 if k == 1 else Tuple((I64,) * k)


for _name in ("grid", "gridsize"):
    zero("cuda." + _name, _t_grid, args=("ndim",))
for _name in THREAD_ATTRS + ("warpsize", "laneid"):
    zero("cuda." + _name, lambda ts, c: I64, args=())

#: the rules that exist only inside kernels: no CPU finite-difference case, no SymPy value
KERNEL_ONLY = frozenset("cuda." + n for n in ("grid", "gridsize", "warpsize", "laneid") + THREAD_ATTRS)
