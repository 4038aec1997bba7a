"""Name resolution: which object a name in the user's function denotes."""

from __future__ import annotations

import builtins
import hashlib
import math
import types

import numpy as np

from ..primitives import RULES

# Canonical names of the primitives the table knows (the functions s2sad knows are the primitive
# table's: np.X, math.X and builtins by name), keyed by the object's id.
_KNOWN = {}

# numpy aliases collapse onto one canonical spelling
NP_ALIASES = {
    "absolute": "abs",
    "amax": "max",
    "amin": "min",
    "true_divide": "divide",
    "asarray": "array",
    "mod": "remainder",
}

_MODULES = {"np": np, "np.linalg": np.linalg, "math": math, "": builtins}
for _name in RULES:
    _mod, _, _attr = _name.rpartition(".")
    _obj = getattr(_MODULES[_mod], _attr, None) if _mod in _MODULES else None
    if callable(_obj):
        _KNOWN.setdefault(id(_obj), _name)
for _alias, _name in NP_ALIASES.items():
    _KNOWN.setdefault(id(getattr(np, _alias)), "np." + _name)

MATH_CONSTS = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf, "nan": math.nan}
NP_CONSTS = {"pi": np.pi, "e": np.e, "inf": np.inf, "nan": np.nan, "newaxis": None}
NP_DTYPES = {"float64": "float64", "float32": "float32", "int64": "int64", "int32": "int64",
             "bool_": "bool", "double": "float64", "single": "float32", "intp": "int64"}


def known_name(obj):
    """The canonical primitive name of ``obj`` (``'math.sin'``, ``'np.sum'``, ``'abs'``)."""
    try:
        return _KNOWN.get(id(obj))
    except TypeError:
        return None


def is_module(obj, mod):
    return isinstance(obj, types.ModuleType) and obj is mod


def user_function_of(obj):
    """The plain Python function behind ``obj`` when it is user code s2sad can read: a plain
    function, or a Numba dispatcher's ``py_func``. None otherwise."""
    if isinstance(obj, types.FunctionType):
        mod = getattr(obj, "__module__", "") or ""
        if mod.split(".")[0] in ("numpy", "math", "numba", "sympy"):
            return None
        return obj
    py = getattr(obj, "py_func", None)
    if isinstance(py, types.FunctionType):
        return py
    return None


def snapshot(obj):
    """What a derivative built from a module-level value depends on: a number by value, an
    array by identity and contents."""
    if isinstance(obj, np.ndarray):
        return ("array", id(obj), obj.shape, obj.dtype.str, content_digest(obj))
    return ("value", type(obj).__name__, repr(obj))


def content_digest(a):
    return hashlib.blake2b(np.ascontiguousarray(a).view(np.uint8).reshape(-1), digest_size=8).hexdigest()


class ValueRead:
    """A module-level (or closure) value a generated derivative was built with."""

    def __init__(self, scope, name, obj, loc=None):
        self.scope, self.name, self.snap = scope, name, snapshot(obj)
        self.loc = loc  # where the user's code reads it

    def stale(self):
        return snapshot(self.scope.lookup(self.name)) != self.snap


class Scope:
    """What the free names of a user function mean: its globals, closure cells, builtins."""

    def __init__(self, fn):
        self.fn = fn
        self.globals = fn.__globals__
        self.cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))

    MISSING = object()

    def lookup(self, name):
        """What ``name`` means now (read anew at every call: module-level values can change)."""
        if name in self.cells:
            try:
                return self.cells[name].cell_contents
            except ValueError:  # an empty cell
                pass
        if name in self.globals:
            return self.globals[name]
        b = self.globals.get("__builtins__", builtins)
        if isinstance(b, dict):
            return b.get(name, Scope.MISSING)
        return getattr(b, name, Scope.MISSING)
