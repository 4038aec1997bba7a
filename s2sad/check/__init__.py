"""Derivative checks: finite differences (``fd``), ``check_grads`` (s2sad against finite
differences) and the SymPy cross-check (``sympy_bridge``; SymPy is imported on first use, so
``import s2sad`` stays fast)."""

from .grads import ArgCheck, CheckReport, check_grads

__all__ = ["ArgCheck", "CheckReport", "check_grads", "check_sympy", "sympy_grad", "to_sympy"]


def check_sympy(fun, args, argnums=0, modes=("forward", "reverse"), jit=False, rtol=1e-6,
                max_steps=200_000, max_size=20_000):
    """Check s2sad's derivatives of ``fun`` at ``args`` against ``sympy.diff`` of the function
    translated into SymPy at that point (loops unrolled with the trip counts they have there,
    branches resolved there). Returns a report; raises ``DerivativeMismatch`` above ``rtol`` and
    ``UnsupportedSyntaxError`` for what it cannot translate. See
    :func:`s2sad.check.sympy_bridge.check_sympy`."""
    from .sympy_bridge import check_sympy as impl
    return impl(fun, args, argnums, modes=modes, jit=jit, rtol=rtol, max_steps=max_steps,
                max_size=max_size)


def sympy_grad(fun, args, argnums=0, **kw):
    """The derivative of ``fun`` at ``args`` by SymPy: see :func:`s2sad.check.sympy_bridge.sympy_grad`."""
    from .sympy_bridge import sympy_grad as impl
    return impl(fun, args, argnums, **kw)


def to_sympy(fun, args, argnums=0, **kw):
    """``fun`` at ``args`` as SymPy expressions: see :func:`s2sad.check.sympy_bridge.to_sympy`."""
    from .sympy_bridge import to_sympy as impl
    return impl(fun, args, argnums, **kw)
