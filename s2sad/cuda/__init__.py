"""Derivatives of ``numba.cuda`` kernels: ``vjp_kernel`` (adjoint) and ``jvp_kernel``
(tangent) make, from a user's ``@cuda.jit`` kernel, kernels launched like it, whose source
``s2sad.source()`` shows.

Importing ``s2sad`` does not import this package (nor ``numba.cuda``): ``s2sad.cuda`` is
imported on first use. numba-cuda 0.30 calls ``np.row_stack``, which NumPy 2.5 removed; the
alias to ``np.vstack`` (the same function) is set here before ``numba.cuda`` is imported.
"""

import numpy as _np

if not hasattr(_np, "row_stack"):
    _np.row_stack = _np.vstack

from numba import cuda as _cuda  # noqa: F401  (imported after the alias above)

from .transform import KernelDerivative, jvp_kernel, vjp_kernel

__all__ = ["KernelDerivative", "jvp_kernel", "vjp_kernel"]
