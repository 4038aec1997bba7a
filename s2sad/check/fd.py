"""Finite-difference reference derivatives, used to check the derivatives s2sad builds.

This module is deliberately independent of the rest of s2sad: it only calls the user's
function on perturbed inputs, in float64.

Stencils (central differences, step ``h``)::

    order 2:  ( f(x+h) - f(x-h) ) / 2h                                  error ~ h^2 f'''
    order 4:  ( -f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h) ) / 12h        error ~ h^4 f^(5)
    order 6:  ( f(x+3h) - 9 f(x+2h) + 45 f(x+h)
                - 45 f(x-h) + 9 f(x-2h) - f(x-3h) ) / 60h               error ~ h^6 f^(7)

Step choice.  Each entry ``x_i`` of the differentiated argument gets its own step::

    h_i = eps * max(1, |x_i|)

so the step is absolute near zero and relative for large entries.  The default ``eps``
balances truncation error (~h^order) against rounding error (~u/h with u = 2.2e-16); the
optimum is about u^(1/(order+1)):

    order 2: eps = 1e-5    (truncation ~1e-10, rounding ~2e-11)
    order 4: eps = 1e-3    (truncation ~1e-12, rounding ~2e-13)
    order 6: eps = 5e-3    (truncation ~2e-14, rounding ~4e-14)

(both relative to the size of f and its derivatives).  With the default 4th-order stencil a
smooth function's gradient is typically accurate to ~1e-9 relative, comfortably inside the
1e-6 tolerance used in tests.  The step actually used is ``(x_i + h_i) - x_i``, so that
``x_i + h_i`` is exactly representable and no representation error enters the quotient.

Stencil points must stay inside the function's smooth domain: with order 4 (default eps) the
function is evaluated at ``x_i +- 2 h_i``, i.e. within ``2e-3 * max(1, |x_i|)`` of the point;
order 6 with its default eps reaches ``1.5e-2 * max(1, |x_i|)``.

Inputs are never shared with the function: every call receives fresh copies of ALL array
arguments (and of lists/tuples/dicts holding arrays), so functions that write into their
input arrays do not corrupt later evaluations or the caller's data.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..arguments import normalize_argnums

__all__ = ["STENCILS", "default_eps", "numerical_grad", "numerical_jacobian", "rel_error"]

# order -> (offsets k > 0, weights c_k, denominator d):
#   derivative ~ sum_k c_k (f(x + k h) - f(x - k h)) / (d h)
# (differences are taken pairwise, so an output entry that does not depend on x gets an
# exactly zero derivative)
STENCILS = {
    2: ((1,), (1.0,), 2.0),
    4: ((1, 2), (8.0, -1.0), 12.0),
    6: ((1, 2, 3), (45.0, -9.0, 1.0), 60.0),
}

_DEFAULT_EPS = {2: 1e-5, 4: 1e-3, 6: 5e-3}


def default_eps(order=4):
    """The default relative step ``eps`` for a stencil of the given order (see module doc)."""
    _check_order(order)
    return _DEFAULT_EPS[order]


def _check_order(order):
    if order not in STENCILS:
        raise ValueError(f"order must be one of {sorted(STENCILS)}, got {order!r}")


def _fresh(value):
    """A copy of ``value`` that shares no mutable array storage with it."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, tuple):
        fresh = [_fresh(v) for v in value]
        return type(value)(*fresh) if hasattr(value, "_fields") else tuple(fresh)
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def _as_point(value, argnum):
    """The differentiated argument as (float64 array, is_scalar)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"argument {argnum} is a bool; it cannot be differentiated")
    if isinstance(value, numbers.Number) or (isinstance(value, np.ndarray) and value.ndim == 0):
        if isinstance(value, (complex, np.complexfloating)):
            raise TypeError(f"argument {argnum} is complex; only real arguments are supported")
        return np.array(float(value), dtype=np.float64), True
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_ or np.issubdtype(value.dtype, np.complexfloating):
            raise TypeError(f"argument {argnum} has dtype {value.dtype}; it cannot be differentiated")
        return np.array(value, dtype=np.float64, copy=True), False
    raise TypeError(
        f"argument {argnum} has type {type(value).__name__}; only numbers and numpy arrays "
        "can be differentiated"
    )


def _steps(x, eps):
    """Per-entry effective steps h_i = fl(x_i + eps*max(1,|x_i|)) - x_i."""
    h = eps * np.maximum(1.0, np.abs(x))
    return (x + h) - x


def _call(fun, args, argnum, value):
    call_args = [_fresh(a) for a in args]
    call_args[argnum] = value
    return fun(*call_args)


def _scalar_output(out):
    arr = np.asarray(out)
    if arr.ndim != 0 or arr.dtype == object:
        raise ValueError(
            f"numerical_grad needs a scalar-valued function, got output of shape {arr.shape} "
            f"(type {type(out).__name__}); use numerical_jacobian for array/tuple outputs"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError("numerical_grad needs a real-valued function, got a complex output")
    return float(arr)


def _flat_output(out):
    """Flatten an output (number, array, or nested tuple/list of them) into (1-D float64, shape)."""
    if isinstance(out, (tuple, list)):
        parts = [_flat_output(o)[0] for o in out]
        flat = np.concatenate(parts) if parts else np.zeros(0)
        return flat, flat.shape
    arr = np.asarray(out)
    if arr.dtype == object or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"cannot difference an output of type {type(out).__name__}")
    return arr.astype(np.float64).ravel(), arr.shape


def _shifted(x, i, delta, is_scalar):
    """``x`` with flat entry ``i`` moved by ``delta`` (a float for a scalar argument)."""
    flat = x.ravel().copy()
    flat[i] = flat[i] + delta
    return float(flat[0]) if is_scalar else flat.reshape(x.shape)


def _difference(fun, args, argnum, order, eps, evaluate):
    """Generic stencil loop; ``evaluate`` maps a raw output to a float or a 1-D float array."""
    x, is_scalar = _as_point(args[argnum], argnum)
    offsets, weights, denom = STENCILS[order]
    flat_h = _steps(x, eps).ravel()
    cols = []
    for i in range(flat_h.size):
        acc = 0.0
        for k, c in zip(offsets, weights):
            step = k * flat_h[i]
            plus = evaluate(_call(fun, args, argnum, _shifted(x, i, step, is_scalar)))
            minus = evaluate(_call(fun, args, argnum, _shifted(x, i, -step, is_scalar)))
            acc = acc + c * (plus - minus)
        cols.append(acc / (denom * flat_h[i]))
    return x, is_scalar, cols


def numerical_grad(fun, args, argnums=0, order=4, eps=None):
    """Gradient of the scalar-valued ``fun(*args)`` w.r.t. ``args[argnums]`` by central differences.

    Parameters
    ----------
    fun : callable returning a real scalar (Python number, numpy scalar or 0-d array).
    args : tuple of arguments.  Arrays are copied before every call.
    argnums : int or tuple of ints.  The differentiated arguments must be numbers or real
        numpy arrays (integer ones are differentiated as float64 values).
    order : 2, 4 (default) or 6, the accuracy order of the central stencil.
    eps : relative step; entry ``x_i`` uses ``h_i = eps * max(1, |x_i|)``.  Default
        ``default_eps(order)`` (1e-3 for order 4).

    Returns
    -------
    A float for a scalar argument, a float64 ndarray of the argument's shape for an array
    argument; a tuple of those when ``argnums`` is a tuple.
    """
    _check_order(order)
    eps = default_eps(order) if eps is None else float(eps)
    args = tuple(args)
    single, nums = normalize_argnums(argnums, len(args))
    results = []
    for k in nums:
        x, is_scalar, cols = _difference(fun, args, k, order, eps, _scalar_output)
        grad = np.array(cols, dtype=np.float64).reshape(x.shape)
        results.append(float(grad) if is_scalar else grad)
    return results[0] if single else tuple(results)


def numerical_jacobian(fun, args, argnums=0, order=4, eps=None):
    """Jacobian of ``fun(*args)`` w.r.t. ``args[argnums]`` by central differences.

    The output may be a number, an array, or a (nested) tuple/list of numbers and arrays.
    An array output keeps its shape; a tuple output is flattened (each element raveled,
    then concatenated) into a 1-D vector.  The result has shape ``out.shape + arg.shape``
    (``arg.shape`` is ``()`` for a scalar argument); a tuple of such arrays when
    ``argnums`` is a tuple.  Step choice and copying as in :func:`numerical_grad`.
    """
    _check_order(order)
    eps = default_eps(order) if eps is None else float(eps)
    args = tuple(args)
    single, nums = normalize_argnums(argnums, len(args))
    _, out_shape = _flat_output(fun(*[_fresh(a) for a in args]))
    n_out = int(np.prod(out_shape, dtype=np.int64))

    def evaluate(out):
        flat, shape = _flat_output(out)
        if shape != out_shape:
            raise ValueError(f"output shape changed under perturbation: {out_shape} -> {shape}")
        return flat

    results = []
    for k in nums:
        x, _, cols = _difference(fun, args, k, order, eps, evaluate)
        if cols:
            jac = np.stack(cols, axis=-1)  # (n_out, n_in)
        else:
            jac = np.zeros((n_out, 0))
        results.append(jac.reshape(out_shape + x.shape))
    return results[0] if single else tuple(results)


def _leaves(value):
    if isinstance(value, (tuple, list)):
        out = []
        for v in value:
            out.extend(_leaves(v))
        return out
    return [value]


def rel_error(a, b):
    """Mixed absolute/relative error of ``a`` against the reference ``b``.

    ``max_i |a_i - b_i| / max(1, |b_i|)``: relative error for entries with |b_i| > 1,
    absolute error for small ones (so that near-zero reference entries do not blow up the
    measure).  ``a`` and ``b`` may be numbers, arrays (same shape; no broadcasting except
    between a number and a 0-d array) or matching (nested) tuples/lists of those.

    Entries where ``a_i == b_i`` exactly (including equal infinities) count 0; any NaN in
    either input makes the error ``inf``.  Empty inputs give 0.0.  Mismatched shapes or
    structure raise ``ValueError``.
    """
    la, lb = _leaves(a), _leaves(b)
    if len(la) != len(lb) or (isinstance(a, (tuple, list)) != isinstance(b, (tuple, list))):
        raise ValueError("rel_error: a and b have different structure")
    worst = 0.0
    for xa, xb in zip(la, lb):
        xa = np.asarray(xa, dtype=np.float64)
        xb = np.asarray(xb, dtype=np.float64)
        if xa.shape != xb.shape:
            raise ValueError(f"rel_error: shapes differ: {xa.shape} vs {xb.shape}")
        if xa.size == 0:
            continue
        if np.isnan(xa).any() or np.isnan(xb).any():
            return float("inf")
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.where(xa == xb, 0.0, np.abs(xa - xb))
            err = diff / np.maximum(1.0, np.abs(xb))
        err = np.where(np.isnan(err), np.inf, err)  # inf/inf with unequal entries
        worst = max(worst, float(np.max(err)))
    return worst
