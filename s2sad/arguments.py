"""Values passed to and returned from generated derivatives, as the API and the transforms
(and the CLI's check) hand them over: copies, IEEE scalars, cotangents, results."""

from __future__ import annotations

import numbers

import numpy as np


def copy_args(args):
    """The arguments with every array copied: generated code may write into what it is given."""
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def ieee(args):
    """Python floats as numpy float64 scalars: generated code then divides by zero as NumPy
    does (inf, nan), not as Python does (ZeroDivisionError)."""
    return tuple(np.float64(a) if type(a) is float else a for a in args)


def as_result(x, like):
    """A gradient in the form of its argument: a float for a float, np.float32 for np.float32,
    an array of the argument's shape and dtype for an array."""
    if isinstance(like, np.ndarray):
        return np.asarray(x, dtype=like.dtype).reshape(like.shape)
    if isinstance(like, np.float32):
        return np.float32(x)
    return float(x)


def is_number_like(v):
    if isinstance(v, (int, float, np.number)):
        return True
    return isinstance(v, (np.ndarray, list, tuple)) and np.asarray(v).dtype.kind in "biuf"


def match_cotangent(ct, out):
    """The cotangent ``ct`` checked against the output ``out`` and given its types (float64)."""
    if isinstance(out, tuple):
        if not isinstance(ct, tuple) or len(ct) != len(out):
            raise ValueError(f"vjp: the cotangent must be a tuple of {len(out)} items, like the output")
        return tuple(match_cotangent(c, o) for c, o in zip(ct, out))
    if isinstance(ct, (str, bytes)) or not is_number_like(ct):
        raise TypeError(f"vjp: the cotangent must be a float or a float array, not {type(ct).__name__}")
    if isinstance(out, np.ndarray):
        ct = np.asarray(ct, dtype=np.float64)
        if ct.shape != out.shape:
            raise ValueError(f"vjp: the cotangent has shape {ct.shape}, the output {out.shape}")
        return ct
    if np.ndim(ct) != 0:
        raise ValueError(f"vjp: the output is a scalar, so the cotangent must be a scalar, not an "
                         f"array of shape {np.shape(ct)}")
    return np.float64(ct)


def normalize_argnums(argnums, nargs, fname=None):
    """(single, positions): ``argnums`` an int or a non-empty tuple of ints, each within the
    ``nargs`` arguments (negative ones counted from the end), as JAX takes them."""
    def is_int(a):
        return isinstance(a, numbers.Integral) and not isinstance(a, (bool, np.bool_))
    single = is_int(argnums)
    if not single and not (isinstance(argnums, (tuple, list)) and argnums and all(map(is_int, argnums))):
        raise TypeError(f"argnums must be an int or a non-empty tuple of ints, not {argnums!r}")
    nums = (argnums,) if single else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            where = f"{fname}, which takes" if fname else "a function of"
            raise ValueError(f"argnums={argnums!r} is out of range for {where} {nargs} argument(s)")
    return single, tuple(int(a) % nargs for a in nums)


def bind_arguments(fn, nparams, args, kwargs):
    """``args`` and ``kwargs`` of a call of a derivative of ``fn``, bound to ``fn``'s parameters
    as Python binds them (keywords by name, defaults for the ones left out): the positional
    tuple, one value per parameter. The common call, every parameter given by position, costs
    one comparison."""
    if not kwargs and len(args) == nparams:
        return args
    import inspect

    sig = inspect.signature(fn)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        names = ", ".join(sig.parameters)
        if not kwargs:
            raise TypeError(f"{fn.__name__}() takes {nparams} argument(s) ({names}), {len(args)} "
                            f"given ({e})") from None
        raise TypeError(f"{fn.__name__}(): {e} (its parameters: {names})") from None
    bound.apply_defaults()
    return tuple(bound.arguments[p] for p in sig.parameters)
