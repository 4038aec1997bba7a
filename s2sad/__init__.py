"""s2sad: source-to-source automatic differentiation for Python.

Differentiates ordinary Python functions over floats, ints and numpy arrays (loops, branches,
in-place writes, helper calls, math and numpy) into new, readable Python source.
"""

from .version import __version__
from .errors import (S2SADError, UnsupportedSyntaxError, NonDifferentiableError,  # noqa: E402
                     TypeInferenceError, DerivativeMismatch, InternalError, UnsafeCacheError)
from .api import grad, value_and_grad, jvp, vjp, source, stop_gradient, checkpointed  # noqa: E402
from .transforms import jacfwd, jacrev, jacobian, hessian  # noqa: E402
from .custom import custom_jvp, custom_vjp, defvjp  # noqa: E402
from .backend.loader import cache_dir, clear_cache, set_cache_dir  # noqa: E402
from .check import check_grads, check_sympy  # noqa: E402

__all__ = ["grad", "value_and_grad", "jvp", "vjp", "source", "stop_gradient", "checkpointed", "jacfwd", "jacrev",
           "jacobian", "hessian", "custom_jvp", "custom_vjp", "defvjp",
           "cache_dir", "clear_cache", "set_cache_dir", "S2SADError",
           "UnsupportedSyntaxError", "NonDifferentiableError", "TypeInferenceError",
           "DerivativeMismatch", "InternalError", "UnsafeCacheError", "check_grads", "check_sympy", "__version__"]


def __getattr__(name):
    """``s2sad.cuda`` is imported on first use: importing s2sad does not import numba.cuda."""
    if name == "cuda":
        import importlib
        return importlib.import_module(".cuda", __name__)
    raise AttributeError(f"module 's2sad' has no attribute {name!r}")
