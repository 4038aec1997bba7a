"""The primitive table: one entry per primitive, read by type inference, forward mode (plain
and batched), reverse mode, folding and the SymPy cross-check alike.

Elementwise primitives give their partial derivatives (``partials``); forward mode multiplies
them by the tangents, reverse mode by the adjoint ``g`` and sums over broadcast axes. Other
primitives give a ``vjp`` per differentiable argument, a ``jvp`` (by default, for primitives
linear in that argument, the primitive applied to the tangent) and a ``batched`` JVP
(``batched.py``). ``table.py`` says what each field means.

Template names: the argument names listed in ``args``, ``ans`` (the result), ``g`` (the
adjoint of the result), ``d`` (the tangent of the argument), keyword arguments by name, and
``M.f`` (``math.f`` on scalars, ``np.f`` on arrays).
"""

from __future__ import annotations

from .. import ir
from ..errors import NonDifferentiableError
from ..ir.types import Array, Scalar, F64, I64, BOOL, Opaque
from . import batched as B
from . import table as T
from .table import axis_of, const_value, inverse_permutation, bilinear, custom, dtype_kw, keepdims, linear, zero
from .typerules import (t_alloc, t_alloc_like, t_arange, t_binary, t_binary_float, t_bool, t_concat,
                        t_const, t_diag, t_diff, t_float, t_full, t_int, t_linspace, t_matmul,
                        t_minmax_builtin, t_outer, t_reduce, t_reshape_fn, t_same, t_stack, t_trace,
                        t_transpose, t_astype, t_unary_float, t_vstack, t_where, t_array, broadcast)


def elementwise(name, args, partials, type_fn=None, costly=False):
    return T.elementwise(name, args, partials,
                         type_fn or (t_unary_float if len(args) == 1 else t_binary_float), costly)


# math functions that are one instruction or a few (everything else ``both`` registers is a libm
# call: ``costly``, recorded by reverse mode rather than called again)
CHEAP_MATH = {"sqrt", "fabs", "copysign"}


def both(math_name, np_name, args, partials, np_type=None):
    """The ``math`` scalar function and its NumPy ufunc (``np_name``; None when NumPy has none)."""
    costly = math_name not in CHEAP_MATH
    elementwise("math." + math_name, args, partials, type_fn=lambda ts, c: F64, costly=costly)
    if np_name:
        elementwise("np." + np_name, args, partials, type_fn=np_type, costly=costly)


# ---------------------------------------------------------------- elementwise math

both("sin", "sin", ("x",), {"x": "M.cos(x)"})
both("cos", "cos", ("x",), {"x": "-M.sin(x)"})
both("tan", "tan", ("x",), {"x": "1.0 + ans * ans"})
both("asin", "arcsin", ("x",), {"x": "1.0 / M.sqrt(1.0 - x * x)"})
both("acos", "arccos", ("x",), {"x": "-1.0 / M.sqrt(1.0 - x * x)"})
both("atan", "arctan", ("x",), {"x": "1.0 / (1.0 + x * x)"})
both("sinh", "sinh", ("x",), {"x": "M.cosh(x)"})
both("cosh", "cosh", ("x",), {"x": "M.sinh(x)"})
both("tanh", "tanh", ("x",), {"x": "1.0 - ans * ans"})
both("asinh", "arcsinh", ("x",), {"x": "1.0 / M.sqrt(x * x + 1.0)"})
both("acosh", "arccosh", ("x",), {"x": "1.0 / M.sqrt(x * x - 1.0)"})
both("atanh", "arctanh", ("x",), {"x": "1.0 / (1.0 - x * x)"})
both("exp", "exp", ("x",), {"x": "ans"})
both("expm1", "expm1", ("x",), {"x": "ans + 1.0"})
both("log", "log", ("x",), {"x": "1.0 / x"})
both("log1p", "log1p", ("x",), {"x": "1.0 / (1.0 + x)"})
both("log2", "log2", ("x",), {"x": "1.0 / (x * 0.6931471805599453)"})
both("log10", "log10", ("x",), {"x": "1.0 / (x * 2.302585092994046)"})
# sqrt'(0) = inf (IEEE), as NumPy's: the partial is written with a numpy division on arrays
both("sqrt", "sqrt", ("x",), {"x": "0.5 / ans"})
both("erf", None, ("x",), {"x": "1.1283791670955126 * M.exp(-x * x)"})
both("erfc", None, ("x",), {"x": "-1.1283791670955126 * M.exp(-x * x)"})
# |x|' = sign(x), so abs'(0) = 0
both("fabs", "fabs", ("x",), {"x": "M.sign(x)"})
elementwise("np.abs", ("x",), {"x": "M.sign(x)"}, type_fn=t_same)
elementwise("abs", ("x",), {"x": "M.sign(x)"}, type_fn=t_same)
elementwise("np.negative", ("x",), {"x": "-1.0"}, type_fn=t_same)
elementwise("np.square", ("x",), {"x": "2.0 * x"}, type_fn=t_same)
elementwise("np.cbrt", ("x",), {"x": "1.0 / (3.0 * ans * ans)"}, costly=True)
elementwise("np.exp2", ("x",), {"x": "ans * 0.6931471805599453"}, costly=True)
elementwise("np.reciprocal", ("x",), {"x": "-ans * ans"})
both("atan2", "arctan2", ("y", "x"), {"y": "x / (x * x + y * y)", "x": "-y / (x * x + y * y)"})
both("hypot", "hypot", ("x", "y"), {"x": "x / ans", "y": "y / ans"})
both("copysign", "copysign", ("x", "y"), {"x": "M.copysign(1.0, x) * M.copysign(1.0, y)"})
# x ** y: d/dy is 0 where x == 0 (the limit from x > 0 with y > 0), never log(0) * 0 = nan
elementwise("math.pow", ("x", "y"), {"x": "y * x ** (y - 1.0)", "y": "(ans * math.log(x) if x > 0.0 else 0.0)"},
            type_fn=lambda ts, c: F64, costly=True)
elementwise("np.power", ("x", "y"), {"x": "y * x ** (y - 1.0)", "y": "ans * np.log(np.where(x > 0.0, x, 1.0))"},
            type_fn=t_binary, costly=True)
elementwise("np.logaddexp", ("x", "y"), {"x": "np.exp(x - ans)", "y": "np.exp(y - ans)"}, costly=True)
elementwise("np.add", ("x", "y"), {"x": "1.0", "y": "1.0"}, type_fn=t_binary)
elementwise("np.subtract", ("x", "y"), {"x": "1.0", "y": "-1.0"}, type_fn=t_binary)
elementwise("np.multiply", ("x", "y"), {"x": "y", "y": "x"}, type_fn=t_binary)
elementwise("np.divide", ("x", "y"), {"x": "1.0 / y", "y": "-ans / y"}, type_fn=t_binary_float)
# max/min: the tie goes to the first argument
elementwise("np.maximum", ("x", "y"), {"x": "M.ge(x, y)", "y": "M.lt(x, y)"}, type_fn=t_binary)
elementwise("np.minimum", ("x", "y"), {"x": "M.le(x, y)", "y": "M.gt(x, y)"}, type_fn=t_binary)
def _clip_x(c):
    lo, hi = c.env["lo"], c.env["hi"]
    none = lambda b: isinstance(b, ir.Const) and b.value is None  # noqa: E731
    if none(lo) and none(hi):
        return ir.Const(1.0)
    if none(lo):
        return c.inst("M.le(x, hi)")
    if none(hi):
        return c.inst("M.ge(x, lo)")
    return c.inst("M.inside(x, lo, hi)")


elementwise("np.clip", ("x", "lo", "hi"), {"x": _clip_x, "lo": "M.lt(x, lo)", "hi": "M.gt(x, hi)"},
            type_fn=lambda ts, c: ts[0] if isinstance(ts[0], Array) else broadcast(ts))
elementwise("np.where", ("c", "x", "y"), {"x": "M.mask(c)", "y": "M.notmask(c)"}, type_fn=t_where)
elementwise("np.sinc", ("x",), {"x": "np.where(x == 0.0, 0.0, (np.cos(np.pi * x) - ans) / np.where(x == 0.0, 1.0, x))"},
            costly=True)

for _n in ("floor", "ceil", "trunc"):
    zero("math." + _n, t_int)
for _n in ("floor", "ceil", "sign", "round"):
    zero("np." + _n, t_same)
for _n in ("isnan", "isinf", "isfinite"):
    zero("math." + _n, t_const(BOOL))
    zero("np." + _n, t_bool)
elementwise("math.degrees", ("x",), {"x": "57.29577951308232"}, type_fn=lambda ts, c: F64)
elementwise("math.radians", ("x",), {"x": "0.017453292519943295"}, type_fn=lambda ts, c: F64)
elementwise("math.gamma", ("x",), {"x": "ans * _digamma(x)"}, type_fn=lambda ts, c: F64, costly=True)
elementwise("math.lgamma", ("x",), {"x": "_digamma(x)"}, type_fn=lambda ts, c: F64, costly=True)
zero("int", t_int)
zero("len", t_int)
zero("bool", t_const(BOOL))
zero("round", lambda ts, c: I64 if len(c.args) == 1 else F64)
zero("np.floor_divide", t_binary)
zero("np.logical_and", t_bool, ("x", "y"))
zero("np.logical_or", t_bool, ("x", "y"))
zero("np.logical_not", t_bool)
zero("np.argmax", t_int)
zero("np.argmin", t_int)
zero("np.zeros", t_alloc)
zero("np.ones", t_alloc)
zero("np.empty", t_alloc)
zero("np.zeros_like", t_alloc_like)
zero("np.ones_like", t_alloc_like)
zero("np.empty_like", t_alloc_like)
zero("np.arange", t_arange)
def _lin_weights(c, k):
    """d(linspace)/d(start) (k = 0) or d/d(stop) (k = 1): the fractions of the way along."""
    num = c.env["num"]
    ep = c.call.kw("endpoint")
    if isinstance(ep, ir.Const) and ep.value is False:
        t = ir.BinOp("/", ir.Call("np.arange", (num,)), num)  # endpoint=False: k / num
    elif ep is None or (isinstance(ep, ir.Const) and ep.value is True):
        t = ir.Call("np.linspace", (ir.Const(0.0), ir.Const(1.0), num))
    else:
        raise NonDifferentiableError("np.linspace's endpoint must be a constant to differentiate it")
    return t if k == 1 else ir.BinOp("-", ir.Const(1.0), t)


linear("np.linspace", ("start", "stop", "num"),
       {0: lambda c: ir.Call("np.sum", (ir.BinOp("*", c.env["g"], _lin_weights(c, 0)),)),
        1: lambda c: ir.Call("np.sum", (ir.BinOp("*", c.env["g"], _lin_weights(c, 1)),))},
       t_linspace, diff=(0, 1), batched=B.along(_lin_weights),
       jvp={0: lambda c: ir.BinOp("*", c.env["d"], _lin_weights(c, 0)),
            1: lambda c: ir.BinOp("*", c.env["d"], _lin_weights(c, 1))})
zero("np.eye", lambda ts, c: Array(dtype_kw(c), 2))
zero("np.identity", lambda ts, c: Array(dtype_kw(c), 2))
zero("range", t_const(Opaque("range")))
for _n, _dt in (("float64", "float64"), ("float32", "float32")):
    linear("np." + _n, ("x",), {0: "g"}, lambda ts, c, _dt=_dt: Scalar(_dt), batched=B.scalar_cast)
zero("np.int64", t_int)
zero("np.int32", t_int)
zero("np.bool_", t_const(BOOL))
linear("float", ("x",), {0: "g"}, t_float, batched=B.scalar_cast)
elementwise("np.remainder", ("x", "y"), {"x": "1.0", "y": "-np.floor(x / y)"}, type_fn=t_binary)
elementwise("math.fmod", ("x", "y"), {"x": "1.0", "y": "-float(int(x / y))"}, type_fn=lambda ts, c: F64)

# ---------------------------------------------------------------- structural numpy

linear("np.sum", ("x", "axis"), {0: lambda c: _expand(c, "g")}, lambda ts, c: t_reduce(ts, c),
       batched=B.reduce_sum)
linear("np.mean", ("x", "axis"), {0: lambda c: _expand(c, "g", divide=True)},
       lambda ts, c: t_reduce(ts, c, float_result=True), batched=B.reduce_sum)
linear("np.full", ("shape", "v"), {1: "np.sum(g)"}, t_full, diff=(1,),
       jvp={1: "np.full(shape, d)"}, batched=B.full)
linear("np.full_like", ("x", "v"), {1: "np.sum(g)"}, t_alloc_like, diff=(1,),
       jvp={1: "np.full_like(x, d)"}, batched=B.full)
linear("np.reshape", ("x", "shape"), {0: "np.reshape(g, x.shape)"}, t_reshape_fn, batched=B.reshape)
linear("np.transpose", ("x", "axes"), {0: lambda c: _transpose_vjp(c)}, t_transpose,
       batched=lambda c, ds: B.transpose(c, ds, transpose_axes(c)))
linear("np.copy", ("x",), {0: "g"}, t_same, batched=B.same)
# sequences of operands: one adjoint slice per item
linear("np.array", ("x",), {0: lambda c: _items_vjp(c, "stack", 0)}, t_array, batched=B.array, items=True)
linear("np.concatenate", ("seq", "axis"), {0: lambda c: _items_vjp(c, "split")}, t_concat,
       batched=B.concatenate, items=True)
linear("np.stack", ("seq", "axis"), {0: lambda c: _items_vjp(c, "stack")}, t_stack, batched=B.stack, items=True)
linear("np.vstack", ("seq",), {0: lambda c: _items_vjp(c, "vstack")}, t_vstack,
       batched=B.vstack, items=True)
linear("np.hstack", ("seq",), {0: lambda c: _items_vjp(c, "hstack")}, t_concat, batched=B.hstack, items=True)
def _only_1d_no_options(name, rank_ok=(1,), allowed=()):
    def check(ts, c):
        from ..errors import NonDifferentiableError
        extra = [k for k, _ in c.kwargs if k not in allowed] + (["a second argument"] if len(c.args) > 1 else [])
        if extra or not (isinstance(ts[0], Array) and ts[0].ndim in rank_ok):
            raise NonDifferentiableError(
                f"s2sad differentiates {name} of a {' or '.join(f'{r}-d' for r in rank_ok)} array "
                f"with no other arguments, not {name}({', '.join(map(str, ts))}"
                f"{', ' + ', '.join(extra) if extra else ''})")
    return check


def _checked(type_fn, check):
    def tf(ts, c):
        check(ts, c)
        return type_fn(ts, c)
    return tf


linear("np.trace", ("x",), {0: "g * np.eye(x.shape[0])"}, t_trace, batched=B.trace)
linear("np.diag", ("x",), {0: "np.diag(g)"}, _checked(t_diag, _only_1d_no_options("np.diag", (1, 2))),
       batched=B.diag)
linear("np.cumsum", ("x",), {0: "np.cumsum(g[::-1])[::-1]"},
       _checked(lambda ts, c: Array(ts[0].dtype, 1), _only_1d_no_options("np.cumsum")), batched=B.cumsum)
linear("np.diff", ("x",), {0: "np.concatenate((-g[:1], g[:-1] - g[1:], g[-1:]))"},
       _checked(t_diff, _only_1d_no_options("np.diff")), batched=B.diff)
bilinear("np.dot", ("a", "b"), {0: lambda c: _matmul_vjp(c, 0), 1: lambda c: _matmul_vjp(c, 1)}, t_matmul,
         batched=B.dot)
# np.matmul (and `@`) is np.dot up to two axes (what Numba compiles) and a stack of matrix
# products beyond, broadcasting the stack axes
bilinear("np.matmul", ("a", "b"), {0: lambda c: _matmul_vjp(c, 0), 1: lambda c: _matmul_vjp(c, 1)}, t_matmul,
         batched=lambda c, ds: B.matmul_stack(c, ds) if _stacked(c) else B.dot(c, ds),
         jvp_func=lambda c: "np.matmul" if _stacked(c) else "np.dot")
bilinear("np.outer", ("a", "b"), {0: "np.dot(g, b)", 1: "np.dot(a, g)"}, t_outer, batched=B.outer)
custom("np.prod", ("x", "axis"), lambda ts, c: t_reduce(ts, c), diff=(0,),
       vjp={0: lambda c: _prod_vjp(c)}, jvp={0: lambda c: _prod_jvp(c)},
       batched=lambda c, ds: B.reduce_prod(c, ds, prod_others))
for _name, _vjp, _jvp in (("np.var", lambda c: _var_vjp(c), lambda c: _var_jvp(c)),
                          ("np.std", lambda c: _std_vjp(c), lambda c: _std_jvp(c))):
    custom(_name, ("x", "axis"), lambda ts, c: t_reduce(ts, c, float_result=True), diff=(0,),
           vjp={0: _vjp}, jvp={0: _jvp}, batched=lambda c, ds: B.reduce_centered(c, ds, _centered(c)))
for _name in ("np.max", "np.min"):
    custom(_name, ("x", "axis"), lambda ts, c: t_reduce(ts, c), diff=(0,),
           vjp={0: lambda c: _minmax_vjp(c)}, jvp={0: lambda c: _minmax_jvp(c)}, batched=B.reduce_minmax)
for _name in ("max", "min"):
    custom(_name, ("x", "y", "z", "w"), t_minmax_builtin, diff=(0, 1, 2, 3),
           vjp={k: (lambda c, k=k: _builtin_minmax_vjp(c, k)) for k in range(4)},
           jvp={k: (lambda c, k=k: _builtin_minmax_vjp(c, k, tangent=True)) for k in range(4)},
           batched=B.builtin_minmax(lambda c, k: _first_equal(c, k)))


def _axis(c):
    return axis_of(c.call)


def _expand(c, g_src, divide=False, divide_by_x=False):
    """Adjoint of a reduction: put the reduced axis back so it broadcasts against x."""
    ax = _axis(c)
    x = c.env["x"]
    g = c.inst(g_src)
    xt = c.argtypes[0]
    if keepdims(c.call):
        # the reduced axes are kept with size 1: the adjoint already broadcasts against x
        if divide:
            n = ir.Attr(x, "size") if ax is None else ir.Load(ir.Attr(x, "shape"), (ir.Const(ax),))
            g = ir.BinOp("/", g, n)
        return ir.BinOp("/", g, x) if divide_by_x else g
    if isinstance(ax, tuple) and isinstance(xt, Array):  # np.sum over several axes
        for a in sorted({a % xt.ndim for a in ax}):  # ascending: each lands where it was
            g = ir.Call("np.expand_dims", (g, ir.Const(a)))
    elif ax is not None and isinstance(xt, Array) and xt.ndim > 1:
        axis = ax if ax >= 0 else xt.ndim + ax
        if axis != 0:
            g = ir.Call("np.expand_dims", (g, ir.Const(axis)))
        if divide:
            g = ir.BinOp("/", g, ir.Load(ir.Attr(x, "shape"), (ir.Const(axis),)))
    elif divide:
        g = ir.BinOp("/", g, ir.Attr(x, "size"))
    if divide_by_x:
        g = ir.BinOp("/", g, x)
    return g


def prod_others(x, xt, axis):
    """For each entry of x, the product of the other entries along ``axis`` (None: all), by
    prefix and suffix products (runtime helper ``_prod_others``): exact where x has zeros,
    where ``prod / x`` is 0/0."""
    if axis is None:
        ax = -1
    else:
        ax = axis % xt.ndim
    return ir.Call("_prod_others", (x, ir.Const(ax)))


def _prod_vjp(c):
    if not isinstance(c.argtypes[0], Array):
        return c.inst("g")
    return ir.BinOp("*", _expand(c, "g"), prod_others(c.env["x"], c.argtypes[0], _axis(c)))


def _prod_jvp(c):
    if not isinstance(c.argtypes[0], Array):
        return c.env["d"]
    terms = ir.BinOp("*", c.env["d"], prod_others(c.env["x"], c.argtypes[0], _axis(c)))
    if keepdims(c.call):
        kw = (("keepdims", ir.Const(True)),) + ((("axis", ir.Const(_axis(c))),) if _axis(c) is not None else ())
        return ir.Call("np.sum", (terms,), kw)
    return _sum_like(c, terms)


def _centered(c):
    """(x - mean(x) along the reduced axes, n - ddof) for np.var / np.std."""
    x = c.env["x"]
    ax = _axis(c)
    if ax == "dynamic":
        raise NonDifferentiableError(f"`{c.call.func}` needs a constant axis to be differentiated")
    kw = (("keepdims", ir.Const(True)),) + ((("axis", ir.Const(ax)),) if ax is not None else ())
    n = ir.Attr(x, "size") if ax is None else ir.Load(ir.Attr(x, "shape"), (ir.Const(ax),))
    ddof = c.kw("ddof")
    if ddof is not None and not (isinstance(ddof, ir.Const) and ddof.value == 0):
        n = ir.BinOp("-", n, ddof)
    return ir.BinOp("-", x, ir.Call("np.mean", (x,), kw)), n


def _var_vjp(c):
    centered, n = _centered(c)
    return ir.BinOp("/", ir.BinOp("*", ir.BinOp("*", _expand(c, "g"), ir.Const(2.0)), centered), n)


def _std_vjp(c):
    centered, n = _centered(c)
    return ir.BinOp("/", ir.BinOp("*", _expand(c, "g"), centered), ir.BinOp("*", n, _expand(c, "ans")))


def _var_jvp(c):
    centered, n = _centered(c)
    return ir.BinOp("/", _reduce_like(c, ir.BinOp("*", ir.BinOp("*", ir.Const(2.0), centered), c.env["d"])), n)


def _std_jvp(c):
    centered, n = _centered(c)
    return ir.BinOp("/", _reduce_like(c, ir.BinOp("*", centered, c.env["d"])), ir.BinOp("*", n, c.ans))


def _reduce_like(c, e):
    """np.sum of ``e`` over the axes the reduction ``c`` reduces, keeping them where it does."""
    ax = _axis(c)
    kw = ((("axis", ir.Const(ax)),) if ax is not None else ()) + \
        ((("keepdims", ir.Const(True)),) if keepdims(c.call) else ())
    return ir.Call("np.sum", (e,), kw)


def _sum_like(c, e):
    ax = _axis(c)
    if ax is None:
        return ir.Call("np.sum", (e,))
    return ir.Call("np.sum", (e,), (("axis", ir.Const(ax)),))


def _minmax_vjp(c):
    # the gradient is shared equally between tied extrema
    ax = _axis(c)
    x = c.env["x"]
    if keepdims(c.call):
        mask = ir.Compare("==", x, c.ans)
        kw = (("keepdims", ir.Const(True)),) + ((("axis", ir.Const(ax)),) if ax is not None else ())
        return ir.BinOp("/", ir.BinOp("*", c.env["g"], mask), ir.Call("np.sum", (mask,), kw))
    if ax is None or c.argtypes[0].ndim == 1:
        mask = ir.Compare("==", x, c.ans)
        return ir.BinOp("/", ir.BinOp("*", c.env["g"], mask), ir.Call("np.sum", (mask,)))
    am = _expand(c, "ans")
    mask = ir.Compare("==", x, am)
    cnt = _expand_expr(c, ir.Call("np.sum", (mask,), (("axis", ir.Const(ax)),)))
    return ir.BinOp("/", ir.BinOp("*", _expand(c, "g"), mask), cnt)


def _expand_expr(c, e):
    ax = _axis(c)
    xt = c.argtypes[0]
    axis = ax if ax >= 0 else xt.ndim + ax
    return e if axis == 0 else ir.Call("np.expand_dims", (e, ir.Const(axis)))


def _minmax_jvp(c):
    ax = _axis(c)
    x = c.env["x"]
    d = c.env["d"]
    if keepdims(c.call):
        mask = ir.Compare("==", x, c.ans)
        kw = (("keepdims", ir.Const(True)),) + ((("axis", ir.Const(ax)),) if ax is not None else ())
        return ir.BinOp("/", ir.Call("np.sum", (ir.BinOp("*", d, mask),), kw), ir.Call("np.sum", (mask,), kw))
    if ax is None or c.argtypes[0].ndim == 1:
        mask = ir.Compare("==", x, c.ans)
        return ir.BinOp("/", ir.Call("np.sum", (ir.BinOp("*", d, mask),)), ir.Call("np.sum", (mask,)))
    mask = ir.Compare("==", x, _expand(c, "ans"))
    axk = (("axis", ir.Const(ax)),)
    return ir.BinOp("/", ir.Call("np.sum", (ir.BinOp("*", d, mask),), axk), ir.Call("np.sum", (mask,), axk))


def _builtin_minmax_vjp(c, k, tangent=False):
    """max(a, b, ...): the derivative goes to the first argument equal to the result."""
    args = c.call.args
    w = c.env["d"] if tangent else c.env["g"]
    if len(args) == 1:
        # max(array)
        x = args[0]
        mask = ir.Compare("==", x, c.ans)
        if tangent:
            return ir.BinOp("/", ir.Call("np.sum", (ir.BinOp("*", w, mask),)), ir.Call("np.sum", (mask,)))
        return ir.BinOp("/", ir.BinOp("*", w, mask), ir.Call("np.sum", (mask,)))
    return ir.IfExp(_first_equal(c, k), w, ir.Const(0.0))


def transpose_axes(c):
    """The permutation np.transpose(x, axes) applies, negative axes made positive; None for
    np.transpose(x) / x.T, which reverses the axes."""
    ax = c.call.args[1] if len(c.call.args) > 1 else c.kw("axes")
    perm = None if ax is None else const_value(ax)
    if ax is None or perm is None:
        return None
    if not (isinstance(perm, tuple) and all(isinstance(p, int) for p in perm)):
        raise NonDifferentiableError("np.transpose needs its axes written as constants to be "
                                     "differentiated, as in np.transpose(x, (2, 0, 1))")
    n = len(perm)
    return tuple(int(p) % n for p in perm)


def _transpose_vjp(c):
    perm = transpose_axes(c)
    if perm is None:
        return ir.Call("np.transpose", (c.env["g"],))
    return ir.Call("np.transpose", (c.env["g"], ir.Const(inverse_permutation(perm))))


def _first_equal(c, k):
    """The test that argument ``k`` of max(a, b, ...) is the first equal to the result."""
    args = c.call.args
    conds = [ir.Compare("==", args[k], c.ans)]
    for j in range(k):
        conds.append(ir.Compare("!=", args[j], c.ans))
    return conds[0] if len(conds) == 1 else ir.BoolOp("and", tuple(conds))


def _stacked(c):
    """A matmul of stacks of matrices: an operand with more than two axes."""
    return any(isinstance(t, Array) and t.ndim > 2 for t in c.argtypes)


def _matmul_stack_vjp(c, k):
    """Adjoints of a stacked matmul: g @ b^T and a^T @ g on the last two axes, summed over the
    stack axes the operand did not have or had with size 1 (broadcast)."""
    a, b = c.env["a"], c.env["b"]
    ta, tb = c.argtypes
    if ta.ndim < 2 or tb.ndim < 2 or max(ta.ndim, tb.ndim) > 3:
        raise NonDifferentiableError(
            f"s2sad differentiates matmul of stacks of matrices with 2 or 3 axes each, not of "
            f"{ta} and {tb}")
    swap = lambda x: ir.Call("np.swapaxes", (x, ir.Const(-1), ir.Const(-2)))  # noqa: E731
    g = c.env["g"]
    mine, t = (a, ta) if k == 0 else (b, tb)
    out = ir.Call("np.matmul", (g, swap(b))) if k == 0 else ir.Call("np.matmul", (swap(a), g))
    if t.ndim < c.ans_type.ndim:
        return ir.Call("np.sum", (out,), (("axis", ir.Const(0)),))
    return ir.Call("_unbroadcast3", (out, mine))


def _matmul_vjp(c, k):
    tb = c.argtypes[1]
    if c.call.func == "np.dot" and isinstance(tb, Array) and tb.ndim > 2:
        # np.dot(a, b) contracts b's second-to-last axis and keeps b's stack axes after a's:
        # not matmul's adjoint
        raise NonDifferentiableError(
            f"s2sad differentiates np.dot(a, b) in reverse mode with b of one or two axes, not {tb}: "
            "write np.matmul(a, b) for stacks of matrices, or np.einsum with the axes spelled out")
    if _stacked(c):
        return _matmul_stack_vjp(c, k)
    a, b = c.env["a"], c.env["b"]
    ta, tb = c.argtypes
    g = c.env["g"]
    if isinstance(ta, Scalar) or isinstance(tb, Scalar):
        other = b if k == 0 else a
        mine = ta if k == 0 else tb
        c_ = ir.BinOp("*", g, other)
        return ir.Call("np.sum", (c_,)) if isinstance(mine, Scalar) and isinstance(c.ans_type, Array) else c_
    na, nb = ta.ndim, tb.ndim
    dot = lambda x, y: ir.Call("np.dot", (x, y))  # noqa: E731
    T = lambda x: ir.Attr(x, "T")  # noqa: E731
    if na == 1 and nb == 1:
        return ir.BinOp("*", g, b if k == 0 else a)
    if na == 2 and nb == 1:
        return ir.Call("np.outer", (g, b)) if k == 0 else dot(T(a), g)
    if na == 1 and nb == 2:
        return dot(b, g) if k == 0 else ir.Call("np.outer", (a, g))
    return dot(g, T(b)) if k == 0 else dot(T(a), g)


def _items_vjp(c, kind, axis=None):
    """The adjoints of the items of np.array((a, b, ...)) (nested too), np.concatenate /
    np.stack along an axis, np.vstack and np.hstack: [(item, adjoint slice, item type)]."""
    seq = c.call.args[0]
    g = c.env["g"]
    if not isinstance(seq, ir.TupleMake):
        if c.call.func == "np.array":  # np.array(an array): a copy
            return [(seq, g, c.argtypes[0])]
        raise NonDifferentiableError(f"`{c.call.func}` of a tuple variable: write the tuple out "
                                     "in the call, as in np.concatenate((a, b))")
    items = seq.items
    item_types = c.argtypes[0].items
    rank = item_types[0].ndim if isinstance(item_types[0], Array) else 0
    if axis is None:
        axis = axis_of(c.call)
        if axis == "dynamic":
            raise NonDifferentiableError(f"`{c.call.func}` needs a constant axis to be differentiated")
        axis = axis or 0
    if kind == "vstack":
        kind, axis = ("stack" if rank == 1 else "split"), 0
    elif kind == "hstack":
        kind, axis = "split", (0 if rank == 1 else 1)
    if axis < 0:
        axis += rank + 1 if kind == "stack" else rank
    return _item_slices(kind, axis, items, item_types, g)


def _item_slices(kind, axis, items, item_types, g):
    out = []
    offset = None
    for j, (item, t) in enumerate(zip(items, item_types)):
        if kind == "stack":
            sl = ir.Load(g, tuple([ir.Slice(None, None, None)] * axis + [ir.Const(j)]))
            if isinstance(item, ir.TupleMake):  # a nested literal: np.array([[a, b], [c, d]])
                out.extend(_item_slices("stack", 0, item.items, t.items, sl))
            else:
                out.append((item, sl, t))
            continue
        # concatenate along axis: item j covers [offset, offset + n_j)
        n = ir.Load(ir.Attr(item, "shape"), (ir.Const(axis),)) if isinstance(t, Array) else ir.Const(1)
        hi = n if offset is None else ir.BinOp("+", offset, n)
        idx = tuple([ir.Slice(None, None, None)] * axis + [ir.Slice(offset, hi, None)])
        out.append((item, ir.Load(g, idx), t))
        offset = hi
    return out


# ---------------------------------------------------------------- operators and methods


def _pow_partial_x(c):
    y = c.env["y"]
    x = c.env["x"]
    if isinstance(y, ir.Const) and type(y.value) in (int, float):
        p = y.value
        if p == 2:
            return ir.BinOp("*", ir.Const(2.0), x)
        if p == 1:
            return ir.Const(1.0)
        if p - 1 < 0 and not c.array_mode:
            # np.power gives inf at x = 0, as NumPy does; Python's float ** raises
            return ir.BinOp("*", ir.Const(float(p)), ir.Call("np.power", (x, ir.Const(p - 1))))
        return ir.BinOp("*", ir.Const(float(p)), ir.BinOp("**", x, ir.Const(p - 1)))
    return c.inst("y * x ** (y - 1.0)")


def _pow_partial_y(c):
    if c.array_mode:
        return c.inst("ans * np.log(np.where(x > 0.0, x, 1.0))")
    return c.inst("(ans * math.log(x) if x > 0.0 else 0.0)")


elementwise("**", ("x", "y"), {"x": _pow_partial_x, "y": _pow_partial_y}, type_fn=t_binary)
elementwise("pow", ("x", "y"), {"x": _pow_partial_x, "y": _pow_partial_y}, type_fn=t_binary)
elementwise("%", ("x", "y"), {"x": "1.0", "y": "-M.floor(x / y)"}, type_fn=t_binary)
linear("np.ravel", ("x",), {0: "np.reshape(g, x.shape)"}, lambda ts, c: Array(ts[0].dtype, 1), batched=B.ravel)
linear("astype", ("x", "dtype"), {0: "g"}, t_astype, batched=B.same)
linear("item", ("x",), {0: "g"}, lambda ts, c: Scalar(ts[0].dtype), batched=B.scalar_cast)
linear("stop_gradient", ("x",), {}, t_same, diff=())

BINOP_RULE = {"+": "np.add", "-": "np.subtract", "*": "np.multiply", "/": "np.divide",
              "**": "**", "%": "%", "@": "np.matmul"}
METHOD_RULE = {"sum": "np.sum", "mean": "np.mean", "max": "np.max", "min": "np.min",
               "prod": "np.prod", "var": "np.var", "std": "np.std", "copy": "np.copy", "transpose": "np.transpose",
               "ravel": "np.ravel", "flatten": "np.ravel", "dot": "np.dot", "astype": "astype",
               "item": "item", "reshape": "np.reshape"}


def canonical_call(e):
    """The rule-table view of a primal expression: operators and array methods become calls
    of the primitive they denote. None for expressions with no derivative."""
    if isinstance(e, ir.Call):
        return e
    if isinstance(e, ir.BinOp):
        if e.op == "//":
            return None
        return ir.Call(BINOP_RULE[e.op], (e.left, e.right))
    if isinstance(e, ir.UnaryOp):
        if e.op == "-":
            return ir.Call("np.negative", (e.operand,))
        return None
    if isinstance(e, ir.Attr) and e.name == "T":
        return ir.Call("np.transpose", (e.value,))
    if isinstance(e, ir.Method):
        name = METHOD_RULE.get(e.name)
        if name is None:
            return None
        args = e.args
        if e.name == "reshape" and not (len(args) == 1 and isinstance(args[0], ir.TupleMake)) \
                and not (len(args) == 1 and isinstance(args[0], ir.Var)):
            args = (ir.TupleMake(tuple(args)),)
        if e.name == "transpose" and len(args) > 1:  # x.transpose(2, 0, 1)
            args = (ir.TupleMake(tuple(args)),)
        return ir.Call(name, (e.obj,) + tuple(args), e.kwargs)
    return None
