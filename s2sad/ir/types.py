"""The types of IR values: scalars, numpy arrays (dtype and rank), tuples, opaque values, and
``DType``, a dtype named in user code (``np.float32``) that the IR carries as a constant.

Part of the IR's vocabulary: the primitive table, the analyses, both modes and the backends
read them from here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class DType:
    """A dtype named in user code (``np.float32``): passed through, never differentiated."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"np.{self.name}"

    def __eq__(self, other):
        return isinstance(other, DType) and other.name == self.name

    def __hash__(self):
        return hash(("dtype", self.name))


class Type:
    __slots__ = ()
    differentiable = False
    is_array = False
    is_scalar = False


@dataclass(frozen=True)
class Scalar(Type):
    dtype: str  # float64 float32 int64 bool

    @property
    def differentiable(self):
        return self.dtype in ("float64", "float32")

    @property
    def is_scalar(self):
        return True

    def __str__(self):
        return self.dtype


@dataclass(frozen=True)
class Array(Type):
    dtype: str
    ndim: int

    @property
    def differentiable(self):
        return self.dtype in ("float64", "float32")

    @property
    def is_array(self):
        return True

    def __str__(self):
        return f"{self.dtype}[{', '.join(':' * self.ndim)}]" if self.ndim else f"{self.dtype}[]"


@dataclass(frozen=True)
class Tuple(Type):
    items: tuple

    @property
    def differentiable(self):
        return any(t.differentiable for t in self.items)

    def __str__(self):
        return "(" + ", ".join(map(str, self.items)) + ("," if len(self.items) == 1 else "") + ")"


@dataclass(frozen=True)
class Opaque(Type):
    """A value that is only passed around (a dtype, a module, None, a string)."""

    what: str = "object"

    def __str__(self):
        return self.what


F64 = Scalar("float64")
F32 = Scalar("float32")
I64 = Scalar("int64")
BOOL = Scalar("bool")
NONE = Opaque("None")

_RANK = {"bool": 0, "int64": 1, "float32": 2, "float64": 3}


def promote_dtype(a, b):
    """NumPy-like promotion, specialised to the dtypes s2sad knows. Python float scalars are
    'weak' (like NumPy 2): float32 array op float scalar stays float32."""
    return a if _RANK[a] >= _RANK[b] else b


def dtype_of(t):
    if isinstance(t, (Scalar, Array)):
        return t.dtype
    return None


def unify(a, b):
    """The type of a variable assigned both an ``a`` and a ``b``: the join, as Numba unifies."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return Scalar(promote_dtype(a.dtype, b.dtype))
    if isinstance(a, Array) and isinstance(b, Array) and a.ndim == b.ndim:
        return Array(promote_dtype(a.dtype, b.dtype), a.ndim)
    if isinstance(a, Tuple) and isinstance(b, Tuple) and len(a.items) == len(b.items):
        return Tuple(tuple(unify(x, y) for x, y in zip(a.items, b.items)))
    return None  # caller reports the conflict


def _np_dtype_name(dt):
    dt = np.dtype(dt)
    if dt == np.float64:
        return "float64"
    if dt == np.float32:
        return "float32"
    if dt == np.bool_:
        return "bool"
    if dt.kind in "iu":
        return "int64"
    return None


def typeof_value(v):
    """The s2sad type of a runtime argument value, or None when it is not supported."""
    if isinstance(v, (bool, np.bool_)):
        return BOOL
    if isinstance(v, (int, np.integer)):
        return I64
    if isinstance(v, np.float32):
        return F32
    if isinstance(v, (float, np.floating)):
        return F64
    if isinstance(v, np.ndarray):
        name = _np_dtype_name(v.dtype)
        if name is None:
            return None
        return Array(name, v.ndim)
    if isinstance(v, tuple):
        items = tuple(typeof_value(x) for x in v)
        if any(t is None for t in items):
            return None
        return Tuple(items)
    return None


def zero_value(t):
    """A Python literal for the zero of scalar type ``t``."""
    if t.dtype == "bool":
        return False
    if t.dtype == "int64":
        return 0
    return 0.0


def a_(t):
    """``t`` with its indefinite article, as messages say it: "a float64", "an int64"."""
    text = str(t)
    return f"{'an' if text[:1].lower() in 'aeiou' else 'a'} {text}"
