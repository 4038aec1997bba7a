"""Type rules of the primitives: ``t_*(argtypes, call)`` gives a primitive's result type,
following NumPy's promotion (Python scalars are weak) specialised to the dtypes s2sad knows."""

from __future__ import annotations

from .. import ir
from ..errors import TypeInferenceError
from ..ir.types import Array, DType, Scalar, Tuple, F64, I64, BOOL, promote_dtype
from .table import axis_of, const_value, dtype_kw, keepdims

def _float_dtype(t):
    d = t.dtype if isinstance(t, (Scalar, Array)) else "float64"
    return d if d in ("float32", "float64") else "float64"


def t_unary_float(ts, call):
    t = ts[0]
    if isinstance(t, Array):
        return Array(_float_dtype(t), t.ndim)
    return Scalar(_float_dtype(t))


def t_same(ts, call):
    return ts[0]


def broadcast(ts, float_result=False):
    arrays = [t for t in ts if isinstance(t, Array)]
    dt = None
    for t in ts:
        if isinstance(t, (Scalar, Array)):
            # Python scalars are weak: they do not widen an array's dtype
            if arrays and isinstance(t, Scalar):
                continue
            dt = t.dtype if dt is None else promote_dtype(dt, t.dtype)
    if dt is None:
        dt = arrays[0].dtype if arrays else "float64"
    if float_result and dt not in ("float32", "float64"):
        dt = "float64"
    if arrays:
        return Array(dt, max(a.ndim for a in arrays))
    return Scalar(dt)


def t_binary_float(ts, call):
    return broadcast(ts, float_result=True)


def t_binary(ts, call):
    return broadcast(ts)


def t_bool(ts, call):
    arrays = [t for t in ts if isinstance(t, Array)]
    return Array("bool", max(a.ndim for a in arrays)) if arrays else BOOL


def t_reduce(ts, call, float_result=False):
    t = ts[0]
    dt = _float_dtype(t) if float_result else (t.dtype if not isinstance(t, Tuple) else "float64")
    if dt == "bool" and not float_result:
        dt = "int64"
    if not isinstance(t, Array):
        return Scalar(dt)
    ax = axis_of(call)
    if isinstance(ax, tuple) and call.func != "np.sum":
        raise TypeInferenceError(
            f"s2sad differentiates {call.func} over one axis at a time, not over the axes {ax}",
            hint=f"reduce one axis after the other, or use np.sum over {ax}")
    if keepdims(call):
        return Array(dt, t.ndim)
    if ax is None or t.ndim == 1:
        return Scalar(dt)
    n = len({a % t.ndim for a in ax}) if isinstance(ax, tuple) else 1
    return Array(dt, t.ndim - n) if n < t.ndim else Scalar(dt)


def _shape_rank(t):
    if isinstance(t, Tuple):
        return len(t.items)
    if isinstance(t, Scalar):
        return 1
    if isinstance(t, Array):
        return 1
    return 1


def t_alloc(ts, call):
    return Array(dtype_kw(call), _shape_rank(ts[0]))


def t_alloc_like(ts, call):
    t = ts[0]
    if isinstance(t, Array):
        return Array(dtype_kw(call, t.dtype), t.ndim)
    return Scalar(dtype_kw(call, t.dtype if isinstance(t, Scalar) else "float64"))


def t_full(ts, call):
    val = ts[1]
    dt = dtype_kw(call, val.dtype if isinstance(val, Scalar) and val.dtype != "bool" else "float64")
    if isinstance(val, Scalar) and val.dtype == "int64" and call.kw("dtype") is None:
        dt = "int64"
    return Array(dt, _shape_rank(ts[0]))


def t_arange(ts, call):
    dt = "int64"
    for t in ts:
        if isinstance(t, Scalar) and t.dtype in ("float32", "float64"):
            dt = "float64"
    return Array(dtype_kw(call, dt), 1)


def t_linspace(ts, call):
    return Array("float64", 1)


def t_matmul(ts, call):
    a, b = ts[0], ts[1]
    dt = promote_dtype(a.dtype, b.dtype)
    if dt in ("int64", "bool"):
        dt = "int64"
    if isinstance(a, Scalar) or isinstance(b, Scalar):
        return broadcast(ts)
    na, nb = a.ndim, b.ndim
    if na == 1 and nb == 1:
        return Scalar(dt)
    if na == 2 and nb == 1:
        return Array(dt, 1)
    if na == 1 and nb == 2:
        return Array(dt, 1)
    if getattr(call, "func", None) == "np.dot":  # every axis of a but its last, of b but its second-to-last
        return Array(dt, na + nb - 2)
    # np.matmul: stacks of matrices broadcast; a vector operand loses its one axis
    return Array(dt, max(na, nb) - (1 if min(na, nb) == 1 else 0))


def t_outer(ts, call):
    return Array(promote_dtype(ts[0].dtype, ts[1].dtype), 2)


def _sequence(ts):
    """(the items' promoted dtype, the first item's rank) of a sequence argument."""
    seq = ts[0]
    items = seq.items if isinstance(seq, Tuple) else (seq,)
    dt = items[0].dtype
    for t in items[1:]:
        dt = promote_dtype(dt, t.dtype)
    return dt, items[0].ndim


def t_concat(ts, call):
    dt, ndim = _sequence(ts)
    return Array(dt, ndim)


def t_stack(ts, call):
    dt, ndim = _sequence(ts)
    return Array(dt, ndim + 1)


def t_array(ts, call):
    t = ts[0]
    if isinstance(t, Array):
        return Array(dtype_kw(call, t.dtype), t.ndim)
    if isinstance(t, Tuple):
        inner = t.items[0]
        dt = "bool"
        if isinstance(inner, Tuple):
            for it in t.items:
                for x in it.items:
                    dt = promote_dtype(dt, x.dtype)
            return Array(dtype_kw(call, dt), 2)
        for it in t.items:
            dt = promote_dtype(dt, it.dtype)
        if isinstance(inner, Array):
            return Array(dtype_kw(call, dt), inner.ndim + 1)
        return Array(dtype_kw(call, dt), 1)
    return Array(dtype_kw(call, t.dtype), 0)


def t_where(ts, call):
    return broadcast(ts[1:])


def t_int(ts, call):
    return I64


def t_float(ts, call):
    return F64


def t_const(t):
    return lambda ts, call: t


def t_minmax_builtin(ts, call):
    if len(ts) == 1 and isinstance(ts[0], Array):
        return Scalar(ts[0].dtype)
    return broadcast(ts)


def t_diag(ts, call):
    t = ts[0]
    return Array(t.dtype, 2 if t.ndim == 1 else 1)


def t_trace(ts, call):
    return Scalar(ts[0].dtype)


def t_astype(ts, call):
    dt = call.args[1] if len(call.args) > 1 else call.kw("dtype")
    if not (isinstance(dt, ir.Const) and isinstance(dt.value, DType)):
        raise TypeInferenceError("astype() needs a dtype such as np.float64")
    return Array(dt.value.name, ts[0].ndim) if isinstance(ts[0], Array) else Scalar(dt.value.name)


def t_transpose(ts, call):
    return ts[0]


def t_reshape_fn(ts, call):
    return Array(ts[0].dtype, _shape_rank(ts[1]))


def t_diff(ts, call):
    return Array(ts[0].dtype, ts[0].ndim)


def t_vstack(ts, call):
    seq = ts[0]
    items = seq.items if isinstance(seq, Tuple) else (seq,)
    return t_stack(ts, call) if items[0].ndim == 1 else t_concat(ts, call)


def einsum_spec(call):
    """(input subscripts, output subscripts) of an np.einsum call; an implicit output is the
    letters that appear once, in alphabetical order (as NumPy takes it)."""
    spec = call.args[0]
    if not (isinstance(spec, ir.Const) and isinstance(spec.value, str)):
        raise TypeInferenceError("np.einsum needs its subscripts written as a string constant")
    text = spec.value.replace(" ", "")
    ins, arrow, out = text.partition("->")
    ins = ins.split(",")
    if not arrow:
        letters = "".join(ins)
        out = "".join(sorted(ch for ch in set(letters) if letters.count(ch) == 1))
    return ins, out


def t_einsum(ts, call):
    _, out = einsum_spec(call)
    dt = "bool"
    for t in ts[1:]:
        dt = promote_dtype(dt, t.dtype)
    return Array(dt, len(out)) if out else Scalar(dt)


def t_tensordot(ts, call):
    a, b = ts[0], ts[1]
    axes = call.args[2] if len(call.args) > 2 else call.kw("axes")
    value = 2 if axes is None else const_value(axes)
    if isinstance(value, int):
        n = value
    elif isinstance(value, tuple) and len(value) == 2:
        n = 1 if isinstance(value[0], int) else len(value[0])
    else:
        raise TypeInferenceError("np.tensordot needs its axes written as constants")
    rank = a.ndim + b.ndim - 2 * n
    dt = promote_dtype(a.dtype, b.dtype)
    return Array(dt, rank) if rank else Scalar(dt)
