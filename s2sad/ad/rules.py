"""The derivative rules: one entry per primitive, used by forward and reverse mode alike.

Elementwise primitives give their partial derivatives (``partials``); forward mode multiplies
them by the tangents, reverse mode by the adjoint ``g`` and sums over broadcast axes. Other
primitives give a ``vjp`` per differentiable argument, and a ``jvp`` (by default, for
primitives linear in that argument, the primitive applied to the tangent).

Template names: the argument names listed in ``args``, ``ans`` (the result), ``g`` (the
adjoint of the result), ``d`` (the tangent of the argument), keyword arguments by name, and
``M.f`` (``math.f`` on scalars, ``np.f`` on arrays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import ir
from ..analysis.types import (Array, Scalar, Tuple, Opaque, F64, I64, BOOL, promote_dtype)
from . import template

RULES = {}


@dataclass
class Rule:
    name: str
    args: tuple
    type_fn: Callable
    kind: str = "zero"  # elementwise | linear | bilinear | custom | zero
    partials: dict = field(default_factory=dict)
    vjp: dict = field(default_factory=dict)
    jvp: dict = field(default_factory=dict)
    diff: tuple = ()

    def differentiable_args(self):
        return self.diff


class Ctx:
    """What a rule sees of one primitive application."""

    def __init__(self, call, argtypes, ans, ans_type, env_extra=None):
        self.call = call
        self.argtypes = argtypes
        self.ans = ans
        self.ans_type = ans_type
        self.array_mode = any(isinstance(t, Array) for t in argtypes) or isinstance(ans_type, Array)
        self.env = {}
        rule = RULES.get(call.func)
        names = rule.args if rule else ()
        for n, a in zip(names, call.args):
            self.env[n] = a
        for k, v in call.kwargs:
            self.env[k] = v
        self.env["ans"] = ans
        if env_extra:
            self.env.update(env_extra)

    def kw(self, name, default=None):
        return self.call.kw(name, default)

    def inst(self, src, **extra):
        env = dict(self.env)
        env.update(extra)
        return template.instantiate(src, env, self.array_mode)


def _reg(rule):
    RULES[rule.name] = rule
    return rule


# ---------------------------------------------------------------- type functions


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


def _axis_value(call):
    ax = call.kw("axis")
    if ax is None and len(call.args) > 1:
        ax = call.args[1]
    if ax is None:
        return None
    if isinstance(ax, ir.Const):
        return ax.value
    return "dynamic"


def t_reduce(ts, call, float_result=False):
    t = ts[0]
    dt = _float_dtype(t) if float_result else (t.dtype if not isinstance(t, Tuple) else "float64")
    if dt == "bool" and not float_result:
        dt = "int64"
    if not isinstance(t, Array):
        return Scalar(dt)
    if _keepdims(call):
        return Array(dt, t.ndim)
    ax = _axis_value(call)
    if ax is None or t.ndim == 1:
        return Scalar(dt)
    return Array(dt, t.ndim - 1)


def _keepdims(call):
    k = call.kw("keepdims") if call is not None else None
    return isinstance(k, ir.Const) and bool(k.value)


def _shape_rank(t):
    if isinstance(t, Tuple):
        return len(t.items)
    if isinstance(t, Scalar):
        return 1
    if isinstance(t, Array):
        return 1
    return 1


def _dtype_kw(call, default="float64"):
    dt = call.kw("dtype")
    if dt is None:
        return default
    from ..frontend.lower import DType
    if isinstance(dt, ir.Const) and isinstance(dt.value, DType):
        return dt.value.name
    return default


def t_alloc(ts, call):
    return Array(_dtype_kw(call), _shape_rank(ts[0]))


def t_alloc_like(ts, call):
    t = ts[0]
    if isinstance(t, Array):
        return Array(_dtype_kw(call, t.dtype), t.ndim)
    return Scalar(_dtype_kw(call, t.dtype if isinstance(t, Scalar) else "float64"))


def t_full(ts, call):
    val = ts[1]
    dt = _dtype_kw(call, val.dtype if isinstance(val, Scalar) and val.dtype != "bool" else "float64")
    if isinstance(val, Scalar) and val.dtype == "int64" and call.kw("dtype") is None:
        dt = "int64"
    return Array(dt, _shape_rank(ts[0]))


def t_arange(ts, call):
    dt = "int64"
    for t in ts:
        if isinstance(t, Scalar) and t.dtype in ("float32", "float64"):
            dt = "float64"
    return Array(_dtype_kw(call, dt), 1)


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
    return Array(dt, max(na, nb))


def t_outer(ts, call):
    return Array(promote_dtype(ts[0].dtype, ts[1].dtype), 2)


def t_concat(ts, call):
    seq = ts[0]
    items = seq.items if isinstance(seq, Tuple) else (seq,)
    dt = items[0].dtype
    for t in items[1:]:
        dt = promote_dtype(dt, t.dtype)
    return Array(dt, items[0].ndim)


def t_stack(ts, call):
    seq = ts[0]
    items = seq.items if isinstance(seq, Tuple) else (seq,)
    dt = items[0].dtype
    for t in items[1:]:
        dt = promote_dtype(dt, t.dtype)
    return Array(dt, items[0].ndim + 1)


def t_array(ts, call):
    t = ts[0]
    if isinstance(t, Array):
        return Array(_dtype_kw(call, t.dtype), t.ndim)
    if isinstance(t, Tuple):
        inner = t.items[0]
        dt = "bool"
        if isinstance(inner, Tuple):
            for it in t.items:
                for x in it.items:
                    dt = promote_dtype(dt, x.dtype)
            return Array(_dtype_kw(call, dt), 2)
        for it in t.items:
            dt = promote_dtype(dt, it.dtype)
        if isinstance(inner, Array):
            return Array(_dtype_kw(call, dt), inner.ndim + 1)
        return Array(_dtype_kw(call, dt), 1)
    return Array(_dtype_kw(call, t.dtype), 0)


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


def t_transpose(ts, call):
    return ts[0]


def t_reshape_fn(ts, call):
    return Array(ts[0].dtype, _shape_rank(ts[1]))


def t_diff(ts, call):
    return Array(ts[0].dtype, ts[0].ndim)


# ---------------------------------------------------------------- constructors


def elementwise(name, args, partials, type_fn=None):
    diff = tuple(i for i, a in enumerate(args) if a in partials)
    tf = type_fn or (t_unary_float if len(args) == 1 else t_binary_float)
    return _reg(Rule(name, tuple(args), tf, "elementwise",
                     partials={args.index(k): v for k, v in partials.items()}, diff=diff))


def linear(name, args, vjp, type_fn, jvp=None, diff=(0,)):
    return _reg(Rule(name, tuple(args), type_fn, "linear", vjp=vjp, jvp=jvp or {}, diff=diff))


def bilinear(name, args, vjp, type_fn):
    return _reg(Rule(name, tuple(args), type_fn, "bilinear", vjp=vjp, diff=(0, 1)))


def zero(name, type_fn, args=("x",)):
    return _reg(Rule(name, tuple(args), type_fn, "zero"))


def both(math_name, np_name, args, partials, np_type=None):
    elementwise("math." + math_name, args, partials,
                type_fn=(lambda ts, c: F64) if len(args) > 0 else None)
    if np_name:
        elementwise("np." + np_name, args, partials, type_fn=np_type)


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
both("erf", "erf", ("x",), {"x": "1.1283791670955126 * M.exp(-x * x)"})
both("erfc", None, ("x",), {"x": "-1.1283791670955126 * M.exp(-x * x)"})
# |x|' = sign(x), so abs'(0) = 0
both("fabs", "fabs", ("x",), {"x": "M.sign(x)"})
elementwise("np.abs", ("x",), {"x": "M.sign(x)"}, type_fn=t_same)
elementwise("abs", ("x",), {"x": "M.sign(x)"}, type_fn=t_same)
elementwise("np.negative", ("x",), {"x": "-1.0"}, type_fn=t_same)
elementwise("np.square", ("x",), {"x": "2.0 * x"}, type_fn=t_same)
elementwise("np.cbrt", ("x",), {"x": "1.0 / (3.0 * ans * ans)"})
elementwise("np.exp2", ("x",), {"x": "ans * 0.6931471805599453"})
elementwise("np.reciprocal", ("x",), {"x": "-ans * ans"})
both("atan2", "arctan2", ("y", "x"), {"y": "x / (x * x + y * y)", "x": "-y / (x * x + y * y)"})
both("hypot", "hypot", ("x", "y"), {"x": "x / ans", "y": "y / ans"})
both("copysign", "copysign", ("x", "y"), {"x": "M.copysign(1.0, x) * M.copysign(1.0, y)"})
# x ** y: d/dy is 0 where x == 0 (the limit from x > 0 with y > 0), never log(0) * 0 = nan
elementwise("math.pow", ("x", "y"), {"x": "y * x ** (y - 1.0)", "y": "(ans * math.log(x) if x > 0.0 else 0.0)"},
            type_fn=lambda ts, c: F64)
elementwise("np.power", ("x", "y"), {"x": "y * x ** (y - 1.0)", "y": "ans * np.log(np.where(x > 0.0, x, 1.0))"},
            type_fn=t_binary)
elementwise("np.logaddexp", ("x", "y"), {"x": "np.exp(x - ans)", "y": "np.exp(y - ans)"})
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
elementwise("np.sinc", ("x",), {"x": "np.where(x == 0.0, 0.0, (np.cos(np.pi * x) - ans) / np.where(x == 0.0, 1.0, x))"})

for _n in ("floor", "ceil", "trunc"):
    zero("math." + _n, t_int)
for _n in ("floor", "ceil", "sign", "round"):
    zero("np." + _n, t_same)
for _n in ("isnan", "isinf", "isfinite"):
    zero("math." + _n, t_const(BOOL))
    zero("np." + _n, t_bool)
zero("math.degrees", t_unary_float)
zero("math.radians", t_unary_float)
elementwise("math.degrees", ("x",), {"x": "57.29577951308232"}, type_fn=lambda ts, c: F64)
elementwise("math.radians", ("x",), {"x": "0.017453292519943295"}, type_fn=lambda ts, c: F64)
elementwise("math.gamma", ("x",), {"x": "ans * _digamma(x)"}, type_fn=lambda ts, c: F64)
elementwise("math.lgamma", ("x",), {"x": "_digamma(x)"}, type_fn=lambda ts, c: F64)
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
        from ..errors import NonDifferentiableError
        raise NonDifferentiableError("np.linspace's endpoint must be a constant to differentiate it")
    return t if k == 1 else ir.BinOp("-", ir.Const(1.0), t)


linear("np.linspace", ("start", "stop", "num"),
       {0: lambda c: ir.Call("np.sum", (ir.BinOp("*", c.env["g"], _lin_weights(c, 0)),)),
        1: lambda c: ir.Call("np.sum", (ir.BinOp("*", c.env["g"], _lin_weights(c, 1)),))},
       t_linspace, diff=(0, 1),
       jvp={0: lambda c: ir.BinOp("*", c.env["d"], _lin_weights(c, 0)),
            1: lambda c: ir.BinOp("*", c.env["d"], _lin_weights(c, 1))})
zero("np.eye", lambda ts, c: Array(_dtype_kw(c), 2))
zero("np.identity", lambda ts, c: Array(_dtype_kw(c), 2))
zero("range", t_const(Opaque("range")))
for _n, _dt in (("float64", "float64"), ("float32", "float32")):
    linear("np." + _n, ("x",), {0: "g"}, lambda ts, c, _dt=_dt: Scalar(_dt))
zero("np.int64", t_int)
zero("np.int32", t_int)
zero("np.bool_", t_const(BOOL))
linear("float", ("x",), {0: "g"}, t_float)
elementwise("np.remainder", ("x", "y"), {"x": "1.0", "y": "-np.floor(x / y)"}, type_fn=t_binary)
elementwise("math.fmod", ("x", "y"), {"x": "1.0", "y": "-float(int(x / y))"}, type_fn=lambda ts, c: F64)

# ---------------------------------------------------------------- structural numpy

linear("np.sum", ("x", "axis"), {0: lambda c: _expand(c, "g")}, lambda ts, c: t_reduce(ts, c))
linear("np.mean", ("x", "axis"), {0: lambda c: _expand(c, "g", divide=True)},
       lambda ts, c: t_reduce(ts, c, float_result=True))
linear("np.full", ("shape", "v"), {1: "np.sum(g)"}, t_full, diff=(1,),
       jvp={1: "np.full(shape, d)"})
linear("np.full_like", ("x", "v"), {1: "np.sum(g)"}, t_alloc_like, diff=(1,),
       jvp={1: "np.full_like(x, d)"})
linear("np.reshape", ("x", "shape"), {0: "np.reshape(g, x.shape)"}, t_reshape_fn)
linear("np.transpose", ("x",), {0: "np.transpose(g)"}, t_transpose)
linear("np.copy", ("x",), {0: "g"}, t_same)
linear("np.array", ("x",), {0: lambda c: _array_vjp(c)}, t_array)
linear("np.concatenate", ("seq", "axis"), {0: lambda c: _concat_vjp(c)}, t_concat)
linear("np.stack", ("seq", "axis"), {0: lambda c: _stack_vjp(c)}, t_stack)
linear("np.vstack", ("seq",), {0: lambda c: "tuple-vstack"}, lambda ts, c: _t_vstack(ts, c))
linear("np.hstack", ("seq",), {0: lambda c: "tuple-hstack"}, t_concat)
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


linear("np.trace", ("x",), {0: "g * np.eye(x.shape[0])"}, t_trace)
linear("np.diag", ("x",), {0: "np.diag(g)"}, _checked(t_diag, _only_1d_no_options("np.diag", (1, 2))))
linear("np.cumsum", ("x",), {0: "np.cumsum(g[::-1])[::-1]"},
       _checked(lambda ts, c: Array(ts[0].dtype, 1), _only_1d_no_options("np.cumsum")))
linear("np.diff", ("x",), {0: "np.concatenate((-g[:1], g[:-1] - g[1:], g[-1:]))"},
       _checked(t_diff, _only_1d_no_options("np.diff")))
bilinear("np.dot", ("a", "b"), {0: lambda c: _matmul_vjp(c, 0), 1: lambda c: _matmul_vjp(c, 1)}, t_matmul)
bilinear("np.matmul", ("a", "b"), {0: lambda c: _matmul_vjp(c, 0), 1: lambda c: _matmul_vjp(c, 1)}, t_matmul)
RULES["np.matmul"].jvp_func = "np.dot"
bilinear("np.outer", ("a", "b"), {0: "np.dot(g, b)", 1: "np.dot(a, g)"}, t_outer)


def _reduce_vjp_choice(c):
    return c


_reg(Rule("np.prod", ("x", "axis"), lambda ts, c: t_reduce(ts, c), "custom",
          vjp={0: lambda c: _prod_vjp(c)},
          jvp={0: lambda c: _prod_jvp(c)}, diff=(0,)))
for _name in ("np.max", "np.min"):
    _reg(Rule(_name, ("x", "axis"), lambda ts, c: t_reduce(ts, c), "custom",
              vjp={0: lambda c: _minmax_vjp(c)}, jvp={0: lambda c: _minmax_jvp(c)}, diff=(0,)))


def _minmax_builtin_type(ts, c):
    return t_minmax_builtin(ts, c)


for _name in ("max", "min"):
    _reg(Rule(_name, ("x", "y", "z", "w"), _minmax_builtin_type, "custom",
              vjp={k: (lambda c, k=k: _builtin_minmax_vjp(c, k)) for k in range(4)},
              jvp={k: (lambda c, k=k: _builtin_minmax_vjp(c, k, tangent=True)) for k in range(4)},
              diff=(0, 1, 2, 3)))


def _axis(c):
    return _axis_value(c.call)


def _expand(c, g_src, divide=False, divide_by_x=False):
    """Adjoint of a reduction: put the reduced axis back so it broadcasts against x."""
    ax = _axis(c)
    x = c.env["x"]
    g = c.inst(g_src)
    xt = c.argtypes[0]
    if _keepdims(c.call):
        # the reduced axes are kept with size 1: the adjoint already broadcasts against x
        if divide:
            n = ir.Attr(x, "size") if ax is None else ir.Load(ir.Attr(x, "shape"), (ir.Const(ax),))
            g = ir.BinOp("/", g, n)
        return ir.BinOp("/", g, x) if divide_by_x else g
    if ax is not None and isinstance(xt, Array) and xt.ndim > 1:
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
    if _keepdims(c.call):
        kw = (("keepdims", ir.Const(True)),) + ((("axis", ir.Const(_axis(c))),) if _axis(c) is not None else ())
        return ir.Call("np.sum", (terms,), kw)
    return _sum_like(c, terms)


def _sum_like(c, e):
    ax = _axis(c)
    if ax is None:
        return ir.Call("np.sum", (e,))
    return ir.Call("np.sum", (e,), (("axis", ir.Const(ax)),))


def _minmax_vjp(c):
    # the gradient is shared equally between tied extrema
    ax = _axis(c)
    x = c.env["x"]
    if _keepdims(c.call):
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
    if _keepdims(c.call):
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
    conds = [ir.Compare("==", args[k], c.ans)]
    for j in range(k):
        conds.append(ir.Compare("!=", args[j], c.ans))
    test = conds[0] if len(conds) == 1 else ir.BoolOp("and", tuple(conds))
    return ir.IfExp(test, w, ir.Const(0.0))


def _matmul_vjp(c, k):
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


def _t_vstack(ts, c):
    seq = ts[0]
    items = seq.items if isinstance(seq, Tuple) else (seq,)
    return t_stack(ts, c) if items[0].ndim == 1 else t_concat(ts, c)


def _array_vjp(c):
    t = c.argtypes[0]
    if isinstance(t, Tuple):
        return "tuple-scatter"
    return c.env["g"]


def _concat_vjp(c):
    return "tuple-split"


def _stack_vjp(c):
    return "tuple-stack"


def rule_for(name):
    return RULES.get(name)


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


_reg(Rule("**", ("x", "y"), t_binary, "elementwise",
          partials={0: _pow_partial_x, 1: _pow_partial_y}, diff=(0, 1)))
_reg(Rule("pow", ("x", "y"), t_binary, "elementwise",
          partials={0: _pow_partial_x, 1: _pow_partial_y}, diff=(0, 1)))
elementwise("%", ("x", "y"), {"x": "1.0", "y": "-M.floor(x / y)"}, type_fn=t_binary)
linear("np.ravel", ("x",), {0: "np.reshape(g, x.shape)"}, lambda ts, c: Array(ts[0].dtype, 1))
linear("astype", ("x", "dtype"), {0: "g"}, lambda ts, c: ts[0])
linear("item", ("x",), {0: "g"}, lambda ts, c: Scalar(ts[0].dtype))
linear("stop_gradient", ("x",), {}, t_same, diff=())

BINOP_RULE = {"+": "np.add", "-": "np.subtract", "*": "np.multiply", "/": "np.divide",
              "**": "**", "%": "%", "@": "np.dot"}  # np.dot: the same for rank <= 2, and Numba has it
METHOD_RULE = {"sum": "np.sum", "mean": "np.mean", "max": "np.max", "min": "np.min",
               "prod": "np.prod", "copy": "np.copy", "transpose": "np.transpose",
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
        return ir.Call(name, (e.obj,) + tuple(args), e.kwargs)
    return None
