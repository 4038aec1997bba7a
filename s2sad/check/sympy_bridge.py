"""The SymPy cross-check: the user's function, as s2sad lowered it, turned into SymPy
expressions, differentiated by ``sympy.diff`` and compared with s2sad's derivatives.

The translation is a small abstract interpreter over the lowered IR (the same IR the
derivatives are built from), run at one point ``args``:

* the differentiated arguments become SymPy symbols (``x``; an array ``a`` becomes a numpy
  object array of symbols ``a_0``, ``a_1_2``, ...); every other argument keeps its value;
* ints, bools, shapes and indices stay concrete Python values: loops run with the trip counts
  they have at the point (they are unrolled), ``while`` conditions and ``if`` tests are
  evaluated numerically at the point (float64, as the program does) and only the branch taken
  is translated; ``break``/``continue``/``return`` act as in Python;
* float values become SymPy expressions (floats that do not depend on a symbol stay floats);
  float arrays are numpy object arrays, so in-place writes, slices, views, ``sum``, ``dot``
  and ``@`` work as numpy has them;
* smooth functions map to SymPy (``sin exp log sqrt tanh erf atan2 ...``); piecewise ones are
  resolved at the point, like branches (``abs`` becomes ``x`` or ``-x``; ``max``/``min``/
  ``np.maximum``/``np.where``/``np.clip`` pick the argument they pick at the point); functions
  whose derivative is zero almost everywhere (``floor``, ``int``, ``round``, ``sign``, ``//``,
  comparisons, ``stop_gradient``) are evaluated numerically and give constants.

So the SymPy expression is the function restricted to the piece of its domain the point lies
in; its derivative is s2sad's, provided the point is away from branch boundaries and kinks (as
any finite-difference check also needs). Calls of other user functions are interpreted in turn.
A construct the interpreter does not know raises :class:`s2sad.errors.UnsupportedSyntaxError`,
as do programs that run too long (``max_steps``) or build too large an expression
(``max_size`` nodes, counted as a tree) to differentiate in reasonable time.

The derivative expressions are evaluated at the point in 30-digit arithmetic (mpmath), with a
memo per subexpression, so shared subexpressions cost once; ``sympy.simplify`` is never used.
"""

from __future__ import annotations

import math
import numbers
import operator

import mpmath
import numpy as np
import sympy as sp

from .. import ir
from ..arguments import normalize_argnums
from ..errors import UnsupportedSyntaxError
from .grads import (
    CheckReport,
    _check_modes,
    _fresh_args,
    _name,
    compare,
    is_scalar_output,
    s2sad_derivative,
)

__all__ = ["SympyTranslation", "check_sympy", "sympy_grad", "to_sympy"]


# ======================================================================= numeric evaluation


def _mp_const(e, dps):
    return mpmath.mpf(sp.Float(e.evalf(dps + 10), dps + 10)._mpf_) if not e.is_Float else mpmath.mpf(e._mpf_)


def _pow_float(b, x):
    try:
        if b < 0 and float(x) != int(x):
            return math.nan
        return b ** x
    except ZeroDivisionError:
        return math.inf
    except OverflowError:
        return math.inf


def _safe(f):
    def g(*a):
        try:
            return f(*a)
        except (ValueError, ZeroDivisionError):
            return math.nan
        except OverflowError:
            return math.inf
    return g


_FLOAT_FUNCS = {
    sp.sin: math.sin, sp.cos: math.cos, sp.tan: math.tan, sp.asin: math.asin,
    sp.acos: math.acos, sp.atan: math.atan, sp.sinh: math.sinh, sp.cosh: math.cosh,
    sp.tanh: math.tanh, sp.asinh: math.asinh, sp.acosh: math.acosh, sp.atanh: math.atanh,
    sp.exp: math.exp, sp.log: math.log, sp.erf: math.erf, sp.erfc: math.erfc,
    sp.atan2: math.atan2, sp.Abs: abs, sp.floor: math.floor, sp.ceiling: math.ceil,
    sp.gamma: math.gamma, sp.loggamma: math.lgamma, sp.Max: max, sp.Min: min,
    sp.sign: lambda v: float(np.sign(v)),
}
_FLOAT_FUNCS = {k: _safe(v) for k, v in _FLOAT_FUNCS.items()}

_MP_FUNCS = {
    sp.sin: mpmath.sin, sp.cos: mpmath.cos, sp.tan: mpmath.tan, sp.asin: mpmath.asin,
    sp.acos: mpmath.acos, sp.atan: mpmath.atan, sp.sinh: mpmath.sinh, sp.cosh: mpmath.cosh,
    sp.tanh: mpmath.tanh, sp.asinh: mpmath.asinh, sp.acosh: mpmath.acosh, sp.atanh: mpmath.atanh,
    sp.exp: mpmath.exp, sp.log: mpmath.log, sp.erf: mpmath.erf, sp.erfc: mpmath.erfc,
    sp.atan2: mpmath.atan2, sp.Abs: abs, sp.floor: mpmath.floor, sp.ceiling: mpmath.ceil,
    sp.gamma: mpmath.gamma, sp.loggamma: mpmath.loggamma, sp.Max: max, sp.Min: min,
    sp.sign: mpmath.sign,
}


class Evaluator:
    """Evaluates SymPy expressions at a point, memoised per subexpression (so a DAG with shared
    subexpressions costs its number of distinct nodes, not its tree size).

    ``precise=False``: float64 (used to resolve branches as the program does);
    ``precise=True``: mpmath with ``dps`` digits (used for the reference derivatives)."""

    def __init__(self, point, precise=False, dps=30):
        self.precise = precise
        self.dps = dps
        self.memo = {}
        if precise:
            self.point = {s: mpmath.mpf(float(v)) for s, v in point.items()}
        else:
            self.point = {s: float(v) for s, v in point.items()}

    def __call__(self, e):
        if not isinstance(e, sp.Basic):
            return e
        if self.precise:
            with mpmath.workdps(self.dps):
                return self._eval(e)
        return self._eval(e)

    def _eval(self, e):
        return _bottom_up(e, self.memo, lambda node, vals: self._apply(node, vals))

    def _apply(self, node, vals):
        if node.is_Symbol:
            try:
                return self.point[node]
            except KeyError:
                raise UnsupportedSyntaxError(f"check_sympy: no value for the symbol {node}") from None
        if node.is_Number or node.is_NumberSymbol:
            return _mp_const(node, self.dps) if self.precise else float(node)
        if node.is_Add:
            acc = vals[0]
            for v in vals[1:]:
                acc = acc + v
            return acc
        if node.is_Mul:
            acc = vals[0]
            for v in vals[1:]:
                acc = acc * v
            return acc
        if node.is_Pow:
            if self.precise:
                b, x = vals
                if b < 0 and not mpmath.isint(x):
                    return mpmath.nan
                if b == 0 and x < 0:
                    return mpmath.inf
                return b ** x
            return _pow_float(*vals)
        table = _MP_FUNCS if self.precise else _FLOAT_FUNCS
        f = table.get(type(node))
        if f is not None:
            return f(*vals)
        # anything else: SymPy's own numeric evaluation of the node on numeric arguments
        args = [sp.Float(str(v) if self.precise else v, self.dps) for v in vals]
        r = node.func(*args).evalf(self.dps)
        return _mp_const(r, self.dps) if self.precise else float(r)


def tree_size(e, limit=None, memo=None):
    """Number of nodes of ``e`` counted as a tree (shared subexpressions counted each time);
    stops early with a number above ``limit`` once it is exceeded. ``memo`` may be kept across
    calls (sizes of subexpressions)."""
    memo = {} if memo is None else memo

    def size(node, vals):
        n = 1 + sum(vals)
        if limit is not None and n > limit:
            raise _TooBig(n)
        return n

    try:
        return _bottom_up(e, memo, size)
    except _TooBig as big:
        return big.args[0]


class _TooBig(Exception):
    pass


def _bottom_up(e, memo, combine):
    """``combine(node, values of its args)`` for every node of ``e`` below up, without
    recursion (SymPy trees of unrolled loops are deep), memoised in ``memo``."""
    if e in memo:
        return memo[e]
    stack = [e]
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        pending = [a for a in node.args if a not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        memo[node] = combine(node, [memo[a] for a in node.args])
    return memo[e]


# ======================================================================= the interpreter


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Return(Exception):
    def __init__(self, value):
        self.value = value


def _is_sym(v):
    return isinstance(v, sp.Basic)


def _is_float_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind in "fO"


def _norm(v):
    """Plain Python scalars for numpy scalars; object arrays for float arrays."""
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "f":
            return v.astype(object)
        if v.ndim == 0 and v.dtype == object:
            return _norm(v.item())
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _obj_full(shape, value):
    a = np.empty(shape, dtype=object)
    a.fill(value)
    return a


def _dtype_name(d):
    """'float', 'int', 'bool' for a dtype given in user code, None when none is given."""
    from ..ir.types import DType

    if d is None:
        return None
    if isinstance(d, DType):
        n = d.name
    elif d in (float, int, bool):
        n = {float: "float64", int: "int64", bool: "bool"}[d]
    else:
        n = str(np.dtype(d))
    if n.startswith("float"):
        return "float"
    if n.startswith(("int", "uint")):
        return "int"
    if n == "bool":
        return "bool"
    raise UnsupportedSyntaxError(f"check_sympy: dtype {d!r} is not supported")


def _alloc(shape, value, kind):
    if kind in (None, "float"):
        return _obj_full(shape, float(value))
    return np.full(shape, value, dtype=np.int64 if kind == "int" else bool)


def _like_kind(x):
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "fO":
            return "float"
        return "bool" if x.dtype.kind == "b" else "int"
    return "float"


class Interpreter:
    """Runs the IR of a :class:`Program` on SymPy values (see the module docstring)."""

    def __init__(self, program, num, max_steps=200_000, max_size=None):
        self.program = program
        self.num_scalar = num  # float64 Evaluator
        self.max_steps = max_steps
        self.max_size = max_size
        self._sizes = {}
        self.steps = 0
        self.loc = None
        self._globals = {}
        self.fn = None
        # the smallest distance, at the point, between a symbolic value and a decision boundary
        # (a comparison's other side, a kink of abs/max/min, a jump of floor/int/round/%):
        # how far the point is from the piece of the domain the translation describes
        self.margin = math.inf

    def note(self, dist):
        """Record the distance of a symbolic value to a boundary (arrays: the smallest)."""
        d = np.min(np.abs(np.asarray(dist, dtype=float))) if np.size(dist) else math.inf
        if not d >= self.margin:
            self.margin = float(d)

    def note_int(self, v, half=False):
        """``v`` is rounded (to an integer, or with ``half`` at half-integers)."""
        v = np.asarray(v, dtype=float)
        off = 0.5 if half else 0.0
        self.note(np.abs(v - off - np.round(v - off)) if half else np.abs(v - np.round(v)))

    # ------------------------------------------------------------ errors and numbers

    def fail(self, msg):
        raise UnsupportedSyntaxError("check_sympy: " + msg, self.loc)

    def num(self, v):
        """The float64 value of ``v`` at the point (arrays elementwise)."""
        if isinstance(v, np.ndarray):
            if v.dtype == object:
                return np.array([self.num(x) for x in v.flat], dtype=float).reshape(v.shape)
            return v
        if isinstance(v, tuple):
            return tuple(self.num(x) for x in v)
        if _is_sym(v):
            r = self.num_scalar(v)
            return float(r)
        return v

    def truth(self, v):
        if isinstance(v, np.ndarray):
            if v.size != 1:
                self.fail("the truth value of an array with more than one element is ambiguous")
            return self.truth(v.reshape(-1)[0])
        if _is_sym(v):
            n = self.num(v)
            self.note(n)
            return bool(n != 0)
        return bool(v)

    def as_int(self, v):
        v = self.num(v)
        if isinstance(v, (bool, np.bool_)):
            return int(v)
        if isinstance(v, numbers.Integral):
            return int(v)
        self.fail(f"expected an integer, got {v!r}")

    def concrete(self, v):
        """``v`` with every symbolic part replaced by its value (a constant: zero derivative)."""
        if isinstance(v, np.ndarray) and v.dtype == object:
            return self.num(v).astype(object)
        if isinstance(v, tuple):
            return tuple(self.concrete(x) for x in v)
        if _is_sym(v):
            return self.num(v)
        return v

    def tick(self):
        self.steps += 1
        if self.steps > self.max_steps:
            self.fail(f"the program runs more than {self.max_steps} statements at this point; "
                      "too long to unroll (raise max_steps)")

    # ------------------------------------------------------------ functions

    def call(self, key, args):
        fn = self.program.funcs[key]
        if len(args) != len(fn.params):
            self.fail(f"{fn.name} takes {len(fn.params)} arguments, {len(args)} given")
        saved = self.fn
        self.fn = fn
        env = dict(zip(fn.params, args))
        try:
            self.block(fn.body, env)
        except _Return as r:
            return r.value
        finally:
            self.fn = saved
        return None

    # ------------------------------------------------------------ statements

    def block(self, stmts, env):
        for s in stmts:
            self.stmt(s, env)

    def stmt(self, s, env):
        self.tick()
        if s.loc is not None:
            self.loc = s.loc
        if isinstance(s, ir.Assign):
            v = self.expr(s.value, env)
            old = env.get(s.target.name)
            if s.inplace and isinstance(old, np.ndarray):  # `a += e` on an array: in place
                self.store(old, Ellipsis, v)
                v = old
            env[s.target.name] = v
            if self.max_size is not None:
                self.check_size(v)
        elif isinstance(s, ir.Store):
            arr = self.expr(s.array, env)
            self.store(arr, self.index(s.index, env), self.expr(s.value, env))
        elif isinstance(s, ir.AugStore) and s.at:  # np.add.at: one addition per index
            arr = self.expr(s.array, env)
            idx = np.asarray(self.index(s.index, env)[0])
            val = np.broadcast_to(np.asarray(self.expr(s.value, env), dtype=object), idx.shape + arr.shape[1:])
            for k, i in enumerate(idx.ravel()):
                self.store(arr, int(i), arr[int(i)] + val.reshape((idx.size,) + arr.shape[1:])[k])
        elif isinstance(s, ir.AugStore):
            arr = self.expr(s.array, env)
            idx = self.index(s.index, env)
            val = self.expr(s.value, env)
            old = arr[idx]
            self.store(arr, idx, old + val if s.op == "+" else old - val)
        elif isinstance(s, ir.AugAssign):
            op = _BINOPS[s.op]
            if isinstance(s.target, ir.Var):
                env[s.target.name] = op(self.expr(s.target, env), self.expr(s.value, env))
            else:
                arr = self.expr(s.target.array, env)
                idx = self.index(s.target.index, env)
                self.store(arr, idx, op(arr[idx], self.expr(s.value, env)))
        elif isinstance(s, ir.ExprStmt):
            self.expr(s.value, env)
        elif isinstance(s, ir.If):
            if self.truth(self.expr(s.test, env)):
                self.block(s.body, env)
            else:
                self.block(s.orelse, env)
        elif isinstance(s, ir.For):
            start, stop, step = (self.as_int(self.expr(b, env)) for b in (s.start, s.stop, s.step))
            for i in range(start, stop, step):
                env[s.var.name] = i
                if not self.iteration(s, env):
                    break
        elif isinstance(s, ir.While):
            while True:
                self.tick()
                self.block(s.cond, env)
                if not self.truth(self.expr(s.test, env)) or not self.iteration(s, env):
                    break
        elif isinstance(s, ir.Return):
            raise _Return(None if s.value is None else self.expr(s.value, env))
        elif isinstance(s, ir.Break):
            raise _Break()
        elif isinstance(s, ir.Continue):
            raise _Continue()
        elif isinstance(s, (ir.Pass, ir.Comment)):
            pass
        else:
            self.fail(f"statement {type(s).__name__} is not supported")

    def iteration(self, loop, env):
        """Run one iteration of a loop's body; False when the loop ends there (break, or its
        exit flag set)."""
        try:
            self.block(loop.body, env)
        except _Break:
            return False
        except _Continue:
            pass
        return not (loop.exit_flag is not None and self.truth(env.get(loop.exit_flag, False)))

    def check_size(self, v):
        """Stop as soon as a value's expression outgrows ``max_size`` (loops that double it)."""
        if _is_sym(v):
            n = tree_size(v, self.max_size, self._sizes)
            if n > self.max_size:
                self.fail(f"an expression grows past {self.max_size} nodes (as a tree); too large "
                          "to differentiate symbolically (raise max_size)")
        elif isinstance(v, np.ndarray) and v.dtype == object:
            for x in v.flat:
                self.check_size(x)
        elif isinstance(v, tuple):
            for x in v:
                self.check_size(x)

    def store(self, arr, idx, val):
        if self.max_size is not None:
            self.check_size(val)
        if not isinstance(arr, np.ndarray):
            self.fail(f"cannot write into a {type(arr).__name__}")
        if arr.dtype != object:
            if _is_sym(val) or (isinstance(val, np.ndarray) and val.dtype == object):
                self.fail("a float value is written into a non-float array")
            arr[idx] = val
            return
        if isinstance(val, np.ndarray) and val.dtype != object:
            val = val.astype(object) if val.dtype.kind == "f" else val.astype(float).astype(object)
        elif isinstance(val, (bool, np.bool_, numbers.Integral)) and not isinstance(val, sp.Basic):
            val = float(val)
        arr[idx] = val

    def index(self, index, env):
        out = []
        for i in index:
            if isinstance(i, ir.Slice):
                out.append(slice(*(None if p is None else self.as_int(self.expr(p, env))
                                   for p in (i.lower, i.upper, i.step))))
            elif isinstance(i, ir.NewAxis):
                out.append(None)
            else:
                v = self.expr(i, env)
                if isinstance(v, np.ndarray) and v.dtype.kind in "iub":  # a gather or a mask
                    out.append(v)
                    continue
                if isinstance(v, np.ndarray):
                    self.fail("indexing with an array of floats is not supported")
                out.append(self.as_int(v))
        return tuple(out)

    # ------------------------------------------------------------ expressions

    def expr(self, e, env):
        if isinstance(e, ir.Var):
            try:
                return env[e.name]
            except KeyError:
                self.fail(f"`{e.name}` is read before it is assigned")
        if isinstance(e, ir.Const):
            return e.value
        if isinstance(e, ir.Global):
            return self.global_value(e.name)
        if isinstance(e, ir.BinOp):
            return _norm(self.binop(e.op, self.expr(e.left, env), self.expr(e.right, env)))
        if isinstance(e, ir.UnaryOp):
            v = self.expr(e.operand, env)
            if e.op == "not":
                return not self.truth(v)
            if e.op == "-":
                if isinstance(v, bool):
                    return -int(v)
                return _norm(-v)
            return v
        if isinstance(e, ir.Compare):
            return self.compare(e.op, self.expr(e.left, env), self.expr(e.right, env))
        if isinstance(e, ir.BoolOp):
            vals = [self.expr(v, env) for v in e.values]
            if e.op == "and":
                for v in vals[:-1]:
                    if not self.truth(v):
                        return v
                return vals[-1]
            for v in vals[:-1]:
                if self.truth(v):
                    return v
            return vals[-1]
        if isinstance(e, ir.IfExp):
            if self.truth(self.expr(e.test, env)):
                return self.expr(e.body, env)
            return self.expr(e.orelse, env)
        if isinstance(e, ir.Call):
            args = [self.expr(a, env) for a in e.args]
            kwargs = {k: self.expr(v, env) for k, v in e.kwargs}
            return _norm(self.call_prim(e.func, args, kwargs))
        if isinstance(e, ir.Method):
            obj = self.expr(e.obj, env)
            args = [self.expr(a, env) for a in e.args]
            kwargs = {k: self.expr(v, env) for k, v in e.kwargs}
            return _norm(self.method(obj, e.name, args, kwargs))
        if isinstance(e, ir.CallUser):
            args = [self.expr(a, env) for a in e.args]
            return self.call(e.func, args)
        if isinstance(e, ir.Load):
            base = self.expr(e.array, env)
            idx = self.index(e.index, env)
            if isinstance(base, tuple):
                if len(idx) != 1:
                    self.fail("a tuple takes one index")
                return base[idx[0]]
            if not isinstance(base, np.ndarray):
                self.fail(f"a {type(base).__name__} cannot be indexed")
            return _norm(base[idx])
        if isinstance(e, ir.Attr):
            return self.attr(self.expr(e.value, env), e.name)
        if isinstance(e, ir.TupleMake):
            return tuple(self.expr(x, env) for x in e.items)
        if isinstance(e, ir.TupleGet):
            return self.expr(e.tuple, env)[e.index]
        if isinstance(e, ir.Slice):
            return slice(*(None if p is None else self.as_int(self.expr(p, env))
                           for p in (e.lower, e.upper, e.step)))
        self.fail(f"expression {type(e).__name__} is not supported")

    def global_value(self, name):
        obj = self.fn.globals[name]
        if isinstance(obj, np.ndarray) and obj.dtype.kind == "f":
            key = id(obj)
            if key not in self._globals:
                self._globals[key] = (obj, obj.astype(object))
            return self._globals[key][1]
        return obj

    def attr(self, v, name):
        if not isinstance(v, np.ndarray):
            if name == "real":
                return v
            self.fail(f"attribute .{name} of a {type(v).__name__}")
        if name == "shape":
            return tuple(int(n) for n in v.shape)
        if name == "T":
            return v.T
        if name == "size":
            return int(v.size)
        if name == "ndim":
            return int(v.ndim)
        if name == "dtype":
            from ..ir.types import DType
            if v.dtype == object:
                return DType("float64")
            return DType({"i": "int64", "u": "int64", "b": "bool"}.get(v.dtype.kind, "float64"))
        if name == "real":
            return v
        self.fail(f"attribute .{name}")

    def compare(self, op, a, b):
        if op == "is":
            return a is b
        if op == "is not":
            return a is not b
        f = _CMPOPS[op]
        if _has_sym(a) or _has_sym(b):
            self.note(np.asarray(self.num(a), dtype=float) - np.asarray(self.num(b), dtype=float))
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.asarray(f(np.asarray(self.num(a), dtype=float) if _is_float_array(a) else self.num(a),
                                np.asarray(self.num(b), dtype=float) if _is_float_array(b) else self.num(b)))
        return bool(f(self.num(a), self.num(b)))

    def binop(self, op, a, b):
        if op in ("+", "-", "*", "/", "**"):
            if isinstance(a, bool):
                a = int(a)
            if isinstance(b, bool):
                b = int(b)
            if op == "/" and not _is_sym(b) and not isinstance(b, np.ndarray) and b == 0:
                self.fail("division by zero at this point")
            return _BINOPS[op](a, b)
        if op == "@":
            return self.matmul(a, b)
        if op in ("//", "%") and (_has_sym(a) or _has_sym(b)):
            self.note_int(np.asarray(self.num(a), dtype=float) / np.asarray(self.num(b), dtype=float))
        if op == "//":
            return _norm(np.floor_divide(self.num(a), self.num(b))) if _arr(a, b) \
                else self.num(a) // self.num(b)
        if op == "%":
            if not (_has_sym(a) or _has_sym(b)):
                return a % b
            q = np.floor_divide(self.num(a), self.num(b))
            return _norm(a - _norm(q) * b)
        self.fail(f"operator {op} is not supported")

    def matmul(self, a, b):
        if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
            return a * b
        return np.dot(a, b)

    # ------------------------------------------------------------ primitives

    def call_prim(self, name, args, kwargs):
        if name.startswith("foreign:"):
            obj = self.fn.globals[name.split(":", 1)[1]]
            return obj(*[self.concrete_num(a) for a in args],
                       **{k: self.concrete_num(v) for k, v in kwargs.items()})
        if name.startswith("custom:"):
            # a function with a custom rule: its body is translated (so the rule is checked
            # against the function it stands for) when s2sad could read it
            info = getattr(self.program, "customs", {}).get(name[7:])
            primal = getattr(info, "primal", None)
            if primal is None:
                self.fail(f"`{name[7:]}` has a custom rule and no Python source to translate")
            return self.call(primal, list(args))
        f = _PRIMS.get(name)
        if f is None:
            self.fail(f"`{name}` is not translated to SymPy")
        return f(self, *args, **kwargs)

    def concrete_num(self, v):
        if isinstance(v, np.ndarray) and v.dtype == object:
            return self.num(v)
        if isinstance(v, tuple):
            return tuple(self.concrete_num(x) for x in v)
        return self.num(v)

    def method(self, obj, name, args, kwargs):
        if not isinstance(obj, np.ndarray):
            self.fail(f"method .{name}() of a {type(obj).__name__}")
        if name == "copy":
            return obj.copy()
        if name in ("ravel", "flatten"):
            return obj.ravel() if name == "ravel" else obj.flatten()
        if name == "reshape":
            shape = args[0] if len(args) == 1 else tuple(args)
            return obj.reshape(shape)
        if name == "transpose":
            return obj.transpose(*args)
        if name in ("sum", "mean", "prod", "max", "min"):
            if args:
                kwargs = dict(kwargs, axis=args[0])
            return _PRIMS["np." + name](self, obj, **kwargs)
        if name == "dot":
            return self.matmul(obj, args[0])
        if name == "astype":
            return _PRIMS["np.array"](self, obj, dtype=args[0] if args else kwargs.get("dtype"))
        if name == "item":
            return obj.reshape(-1)[0] if not args else obj[args]
        self.fail(f"array method .{name}() is not translated")

    # elementwise application on scalars or arrays
    def ew(self, f, *args):
        if any(isinstance(a, np.ndarray) for a in args):
            out = np.frompyfunc(f, len(args), 1)(*[np.asarray(a, dtype=object) if isinstance(a, np.ndarray)
                                                   else a for a in args])
            return _norm(out) if isinstance(out, np.ndarray) else out
        return f(*args)


def _has_sym(v):
    if _is_sym(v):
        return True
    if isinstance(v, np.ndarray) and v.dtype == object:
        return any(_is_sym(x) for x in v.flat)
    if isinstance(v, tuple):
        return any(_has_sym(x) for x in v)
    return False


def _arr(*vals):
    return any(isinstance(v, np.ndarray) for v in vals)


_BINOPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
           "**": operator.pow, "//": operator.floordiv, "%": operator.mod}
_CMPOPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
           "==": operator.eq, "!=": operator.ne}


# ---------------------------------------------------------------- primitive table

_PRIMS = {}
_METHODS = ("copy", "ravel", "flatten", "reshape", "transpose", "sum", "mean", "prod", "max", "min",
            "dot", "astype", "item")  # what Interpreter.method translates


def translates(name):
    """Whether the interpreter gives a symbolic value to the primitive ``name`` (a rule name of
    ``s2sad.primitives.RULES``: a function, an operator, or an array method)."""
    return name in _PRIMS or name in _BINOPS or name in _METHODS


def _prim(*names):
    def reg(f):
        for n in names:
            _PRIMS[n] = f
        return f
    return reg


def _smooth(sym_f, float_f):
    """A smooth scalar function: SymPy on symbolic values, float arithmetic otherwise."""
    def scalar(v):
        if _is_sym(v):
            return sym_f(v)
        try:
            return float(float_f(float(v)))
        except (ValueError, ZeroDivisionError):
            return math.nan
        except OverflowError:
            return math.inf
    return lambda it, x: it.ew(scalar, x)


def _smooth2(sym_f, float_f):
    def scalar(a, b):
        if _is_sym(a) or _is_sym(b):
            return sym_f(a, b)
        try:
            return float(float_f(float(a), float(b)))
        except (ValueError, ZeroDivisionError):
            return math.nan
        except OverflowError:
            return math.inf
    return lambda it, x, y: it.ew(scalar, x, y)


_LOG2 = sp.log(2)
_LOG10 = sp.log(10)

for _names, _sym, _flt in [
    (("math.sin", "np.sin"), sp.sin, math.sin),
    (("math.cos", "np.cos"), sp.cos, math.cos),
    (("math.tan", "np.tan"), sp.tan, math.tan),
    (("math.asin", "np.arcsin"), sp.asin, math.asin),
    (("math.acos", "np.arccos"), sp.acos, math.acos),
    (("math.atan", "np.arctan"), sp.atan, math.atan),
    (("math.sinh", "np.sinh"), sp.sinh, math.sinh),
    (("math.cosh", "np.cosh"), sp.cosh, math.cosh),
    (("math.tanh", "np.tanh"), sp.tanh, math.tanh),
    (("math.asinh", "np.arcsinh"), sp.asinh, math.asinh),
    (("math.acosh", "np.arccosh"), sp.acosh, math.acosh),
    (("math.atanh", "np.arctanh"), sp.atanh, math.atanh),
    (("math.exp", "np.exp"), sp.exp, math.exp),
    (("math.expm1", "np.expm1"), lambda v: sp.exp(v) - 1, math.expm1),
    (("math.log1p", "np.log1p"), lambda v: sp.log(1 + v), math.log1p),
    (("math.log2", "np.log2"), lambda v: sp.log(v) / _LOG2, math.log2),
    (("math.log10", "np.log10"), lambda v: sp.log(v) / _LOG10, math.log10),
    (("math.sqrt", "np.sqrt"), sp.sqrt, math.sqrt),
    (("math.erf",), sp.erf, math.erf),
    (("math.erfc",), sp.erfc, math.erfc),
    (("math.gamma",), sp.gamma, math.gamma),
    (("math.lgamma",), sp.loggamma, math.lgamma),
    (("np.negative",), lambda v: -v, lambda v: -v),
    (("np.square",), lambda v: v ** 2, lambda v: v * v),
    (("np.exp2",), lambda v: 2 ** v, lambda v: 2.0 ** v),
    (("np.reciprocal",), lambda v: 1 / v, lambda v: 1.0 / v),
    (("math.degrees",), lambda v: v * (180 / sp.pi), math.degrees),
    (("math.radians",), lambda v: v * (sp.pi / 180), math.radians),
    (("np.sinc",), lambda v: sp.sin(sp.pi * v) / (sp.pi * v), lambda v: float(np.sinc(v))),
]:
    _prim(*_names)(_smooth(_sym, _flt))

for _names, _sym, _flt in [
    (("math.atan2", "np.arctan2"), sp.atan2, math.atan2),
    (("math.pow", "pow", "np.power"), lambda a, b: a ** b, lambda a, b: a ** b),
    (("np.logaddexp",), lambda a, b: sp.log(sp.exp(a) + sp.exp(b)), np.logaddexp),
    (("np.add",), operator.add, operator.add),
    (("np.subtract",), operator.sub, operator.sub),
    (("np.multiply",), operator.mul, operator.mul),
    (("np.divide",), operator.truediv, operator.truediv),
]:
    _prim(*_names)(_smooth2(_sym, _flt))


@_prim("math.log", "np.log")
def _log(it, x, base=None):
    f = _smooth(sp.log, math.log)
    r = f(it, x)
    if base is not None:
        r = r / f(it, base)
    return r


@_prim("math.hypot", "np.hypot")
def _hypot(it, *xs):
    if not _arr(*xs) and not any(_is_sym(x) for x in xs):
        return math.hypot(*[float(x) for x in xs])
    acc = 0
    for x in xs:
        acc = acc + x * x
    return it.ew(lambda v: sp.sqrt(v) if _is_sym(v) else math.sqrt(float(v)), acc)


def _resolved_abs(it, v):
    if not _is_sym(v):
        return abs(v)
    n = it.num(v)
    it.note(n)
    return v if n >= 0 else -v


@_prim("abs", "np.abs", "math.fabs", "np.fabs")
def _abs(it, x):
    return it.ew(lambda v: _resolved_abs(it, v), x)


@_prim("math.copysign", "np.copysign")
def _copysign(it, x, y):
    def scalar(a, b):
        if _is_sym(b):
            it.note(it.num(b))
        s = math.copysign(1.0, float(it.num(b)))
        return s * _resolved_abs(it, a) if _is_sym(a) else math.copysign(float(a), float(it.num(b)))
    return it.ew(scalar, x, y)


@_prim("np.cbrt")
def _cbrt(it, x):
    def scalar(v):
        if not _is_sym(v):
            return float(np.cbrt(v))
        return (v ** sp.Rational(1, 3)) if it.num(v) >= 0 else -((-v) ** sp.Rational(1, 3))
    return it.ew(scalar, x)


def _pick(it, ge):
    """Elementwise selection resolved at the point; ``ge(a, b)``: keep the first argument."""
    def scalar(a, b):
        na, nb = it.num(a), it.num(b)
        if _is_sym(a) or _is_sym(b):
            it.note(na - nb)
        return a if ge(na, nb) else b
    return scalar


@_prim("np.maximum")
def _maximum(it, x, y):
    return _as_float_obj(it.ew(_pick(it, operator.ge), x, y))


@_prim("np.minimum")
def _minimum(it, x, y):
    return _as_float_obj(it.ew(_pick(it, operator.le), x, y))


def _as_float_obj(v):
    if isinstance(v, np.ndarray) and v.dtype == object:
        return np.frompyfunc(lambda e: e if _is_sym(e) else float(e), 1, 1)(v)
    if isinstance(v, (numbers.Integral,)) and not isinstance(v, bool):
        return v
    return v


@_prim("np.clip")
def _clip(it, x, lo, hi):
    def scalar(v, a, b):
        nv = it.num(v)
        if _is_sym(v) or _is_sym(a) or _is_sym(b):
            it.note([nv - it.num(a), nv - it.num(b)])
        if nv < it.num(a):
            return a
        if nv > it.num(b):
            return b
        return v
    return it.ew(scalar, x, lo, hi)


@_prim("np.where")
def _where(it, c, x, y):
    c = np.asarray(c, dtype=bool) if isinstance(c, np.ndarray) else it.truth(c)
    if not isinstance(c, np.ndarray):
        return x if c else y
    return it.ew(lambda cc, a, b: a if cc else b, c, x, y)


def _builtin(kind):
    better = operator.gt if kind == "max" else operator.lt

    def f(it, *xs):
        if len(xs) == 1:
            seq = xs[0]
            items = list(seq.flat) if isinstance(seq, np.ndarray) else list(seq)
        else:
            items = list(xs)
        best = items[0]
        nb = it.num(best)
        sym = any(_is_sym(v) for v in items)
        for v in items[1:]:
            nv = it.num(v)
            if sym:
                it.note(nv - nb)
            if better(nv, nb):
                best, nb = v, nv
        return best
    return f


_PRIMS["max"] = _builtin("max")
_PRIMS["min"] = _builtin("min")


def _axis_kw(args, kwargs):
    ax = kwargs.get("axis")
    if ax is None and args:
        ax = args[0]
    return ax


@_prim("np.sum")
def _sum(it, x, *args, **kwargs):
    ax = _axis_kw(args, kwargs)
    if not isinstance(x, np.ndarray):
        x = np.array(x, dtype=object) if isinstance(x, tuple) else x
        if not isinstance(x, np.ndarray):
            return x
    if x.size == 0:
        return 0.0 if ax is None else _obj_full(np.sum(np.zeros(x.shape), axis=ax).shape, 0.0)
    r = np.sum(x, axis=ax)
    return r


@_prim("np.mean")
def _mean(it, x, *args, **kwargs):
    ax = _axis_kw(args, kwargs)
    if not isinstance(x, np.ndarray):
        return x
    s = np.sum(x, axis=ax)
    n = x.size if ax is None else x.shape[ax]
    return s / n


def _matrix(A):
    return sp.Matrix(np.asarray(A, dtype=object).tolist())


def _from_matrix(M, shape):
    return _norm(np.array(M.tolist(), dtype=object).reshape(shape))


@_prim("np.linalg.norm")
def _linalg_norm(it, x):
    x = np.asarray(x, dtype=object)
    return _PRIMS["np.sqrt"](it, np.sum(x * x))


@_prim("np.linalg.inv")
def _linalg_inv(it, A):
    if not _has_sym(A):
        return np.linalg.inv(np.asarray(A, dtype=np.float64))
    return _from_matrix(_matrix(A).inv(), np.shape(A))


@_prim("np.linalg.det")
def _linalg_det(it, A):
    if not _has_sym(A):
        return float(np.linalg.det(np.asarray(A, dtype=np.float64)))
    return _matrix(A).det()


@_prim("np.linalg.solve")
def _linalg_solve(it, A, b):
    if not (_has_sym(A) or _has_sym(b)):
        return np.linalg.solve(np.asarray(A, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return _from_matrix(_matrix(A).LUsolve(_matrix(b)), np.shape(b))


@_prim("np.linalg.slogdet")
def _linalg_slogdet(it, A):
    if not _has_sym(A):
        sign, logdet = np.linalg.slogdet(np.asarray(A, dtype=np.float64))
        return float(sign), float(logdet)
    det = _matrix(A).det()
    sign = float(np.sign(float(it.num(det))))
    it.note(it.num(det))  # the sign is piecewise constant: resolved at the point, as abs is
    return sign, sp.log(sign * det)


@_prim("np.linalg.cholesky")
def _linalg_cholesky(it, A):
    if not _has_sym(A):
        return np.linalg.cholesky(np.asarray(A, dtype=np.float64))
    # as LAPACK computes it: from the lower triangle alone
    a = np.asarray(A, dtype=object)
    low = np.tril(a)
    return _from_matrix(_matrix(low + np.tril(a, -1).T).cholesky(hermitian=False), np.shape(A))


def _on_objects(f):
    """A NumPy function that only moves or multiplies entries, applied to object arrays."""
    return lambda it, *args, **kwargs: _norm(f(*[np.asarray(a, dtype=object) if isinstance(a, np.ndarray)
                                                 else a for a in args], **kwargs))


_PRIMS["np.swapaxes"] = _on_objects(np.swapaxes)
_PRIMS["np.tril"] = _on_objects(np.tril)
_PRIMS["np.triu"] = _on_objects(np.triu)
_PRIMS["np.moveaxis"] = _on_objects(np.moveaxis)
_PRIMS["np.kron"] = _on_objects(np.kron)


@_prim("np.einsum")
def _einsum(it, subscripts, *operands, **kwargs):
    return _norm(np.einsum(subscripts, *[np.asarray(o, dtype=object) for o in operands]))


@_prim("np.tensordot")
def _tensordot(it, a, b, axes=2):
    return _norm(np.tensordot(np.asarray(a, dtype=object), np.asarray(b, dtype=object), axes))


@_prim("np.var")
def _var(it, x, *args, ddof=0, **kwargs):
    ax = _axis_kw(args, kwargs)
    if not isinstance(x, np.ndarray):
        return 0.0
    n = x.size if ax is None else x.shape[ax]
    mean = np.sum(x, axis=ax, keepdims=True) / n
    return np.sum((x - mean) * (x - mean), axis=ax, keepdims=bool(kwargs.get("keepdims"))) / (n - ddof)


@_prim("np.std")
def _std(it, x, *args, **kwargs):
    return _PRIMS["np.sqrt"](it, _var(it, x, *args, **kwargs))


@_prim("np.prod")
def _prod(it, x, *args, **kwargs):
    ax = _axis_kw(args, kwargs)
    if not isinstance(x, np.ndarray):
        return x
    return np.prod(x, axis=ax)


def _reduce_pick(kind):
    argf = np.argmax if kind == "max" else np.argmin

    def f(it, x, *args, **kwargs):
        ax = _axis_kw(args, kwargs)
        if not isinstance(x, np.ndarray):
            return x
        nx = it.num(x)
        if _has_sym(x) and nx.size > 1:
            # the gap between the extremum and the runner-up: a kink where they meet
            srt = np.sort(nx.reshape(-1) if ax is None else np.moveaxis(nx, ax, -1), axis=-1)
            if srt.shape[-1] > 1:
                it.note(srt[..., -1] - srt[..., -2] if kind == "max" else srt[..., 1] - srt[..., 0])
        if ax is None:
            return x.reshape(-1)[int(argf(nx.reshape(-1)))]
        idx = np.expand_dims(argf(nx, axis=ax), ax)
        return np.squeeze(np.take_along_axis(x, idx, axis=ax), axis=ax)
    return f


_PRIMS["np.max"] = _reduce_pick("max")
_PRIMS["np.min"] = _reduce_pick("min")


_PRIMS["np.argmax"] = lambda it, x, *a, **k: np.argmax(it.num(x), *a, **k)
_PRIMS["np.argmin"] = lambda it, x, *a, **k: np.argmin(it.num(x), *a, **k)


@_prim("np.dot", "np.matmul")
def _dot(it, a, b):
    return it.matmul(a, b)


@_prim("np.outer")
def _outer(it, a, b):
    return np.outer(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


def _shape_arg(shape):
    if isinstance(shape, tuple):
        return tuple(int(n) for n in shape)
    return int(shape)


@_prim("np.zeros", "np.empty")
def _zeros(it, shape, dtype=None):
    return _alloc(_shape_arg(shape), 0, _dtype_name(dtype))


@_prim("np.ones")
def _ones(it, shape, dtype=None):
    return _alloc(_shape_arg(shape), 1, _dtype_name(dtype))


@_prim("np.zeros_like", "np.empty_like")
def _zeros_like(it, x, dtype=None):
    return _alloc(np.shape(x), 0, _dtype_name(dtype) or _like_kind(x))


@_prim("np.ones_like")
def _ones_like(it, x, dtype=None):
    return _alloc(np.shape(x), 1, _dtype_name(dtype) or _like_kind(x))


@_prim("np.full")
def _full(it, shape, v, dtype=None):
    kind = _dtype_name(dtype)
    if kind in ("int", "bool"):
        return np.full(_shape_arg(shape), it.num(v), dtype=np.int64 if kind == "int" else bool)
    a = _obj_full(_shape_arg(shape), v if _is_sym(v) else float(v))
    return a


@_prim("np.full_like")
def _full_like(it, x, v, dtype=None):
    return _full(it, np.shape(x), v, dtype if dtype is not None else
                 (None if _like_kind(x) == "float" else _like_kind(x)))


@_prim("np.eye", "np.identity")
def _eye(it, n, m=None, dtype=None):
    kind = _dtype_name(dtype)
    e = np.eye(int(n), None if m is None else int(m))
    return e.astype(object) if kind in (None, "float") else e.astype(np.int64 if kind == "int" else bool)


@_prim("np.arange")
def _arange(it, *args, dtype=None):
    if not any(_is_sym(a) for a in args):
        r = np.arange(*args)
        kind = _dtype_name(dtype)
        if kind == "float":
            r = r.astype(float)
        return r
    nums = [it.num(a) for a in args]
    n = len(np.arange(*nums))
    if len(args) == 1:
        start, step = 0.0, 1.0
    else:
        start = args[0]
        step = args[2] if len(args) > 2 else 1.0
    return np.array([start + i * step for i in range(n)], dtype=object)


@_prim("np.linspace")
def _linspace(it, start, stop, num=50, endpoint=True):
    n = int(num)
    div = (n - 1) if endpoint else n
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    step = (stop - start) / div if div > 0 else 0.0
    for i in range(n):
        out[i] = start + i * step
    if endpoint and n > 1:
        out[-1] = stop
    return _as_float_obj(out)


@_prim("np.array")
def _array(it, x, dtype=None):
    kind = _dtype_name(dtype)
    if isinstance(x, np.ndarray):
        src = x
    else:
        src = np.array(_nested_list(x), dtype=object)
    if kind == "float" or (kind is None and (src.dtype.kind in "fO")):
        if src.dtype == object:
            out = np.frompyfunc(lambda e: e if _is_sym(e) else float(e), 1, 1)(src)
            if not isinstance(out, np.ndarray):
                out = np.array(out, dtype=object)
            if kind is None and all(isinstance(e, (bool, numbers.Integral)) and not _is_sym(e)
                                    for e in src.flat):
                return np.array(src.tolist())  # all ints/bools: numpy infers the dtype
            return out
        return src.astype(object)
    if kind in ("int", "bool"):
        return np.array(it.num(src) if src.dtype == object else src,
                        dtype=np.int64 if kind == "int" else bool)
    return src.copy()


def _nested_list(x):
    if isinstance(x, tuple):
        return [_nested_list(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


@_prim("np.copy")
def _copy(it, x):
    return x.copy() if isinstance(x, np.ndarray) else x


@_prim("np.reshape")
def _reshape(it, x, shape):
    return np.reshape(x, shape)


@_prim("np.transpose")
def _transpose(it, x, *axes):
    return np.transpose(x, *axes)


@_prim("np.ravel")
def _ravel(it, x):
    return np.ravel(x)


@_prim("np.concatenate")
def _concatenate(it, seq, axis=0):
    return np.concatenate([np.asarray(s, dtype=object) if _is_float_array(s) else s for s in seq],
                          axis=axis)


@_prim("np.stack")
def _stack(it, seq, axis=0):
    return np.stack([np.asarray(s, dtype=object) for s in seq], axis=axis)


@_prim("np.vstack")
def _vstack(it, seq):
    return np.vstack([np.asarray(s, dtype=object) for s in seq])


@_prim("np.hstack")
def _hstack(it, seq):
    return np.hstack([np.asarray(s, dtype=object) for s in seq])


_prim("np.trace")(lambda it, x: np.trace(x))
_prim("np.diag")(lambda it, x: np.diag(x))
_prim("np.cumsum")(lambda it, x: np.cumsum(np.asarray(x, dtype=object)))
_prim("np.diff")(lambda it, x: np.diff(np.asarray(x, dtype=object)))
_prim("np.expand_dims")(lambda it, x, ax: np.expand_dims(x, ax))


# conversions
@_prim("float", "np.float64", "np.float32")
def _float(it, x):
    if _is_sym(x):
        return x
    if isinstance(x, np.ndarray):
        return x.astype(float).astype(object) if x.dtype != object else x
    return float(x)


@_prim("int", "np.int64", "np.int32")
def _int(it, x):
    if _has_sym(x):
        it.note_int(it.num(x))
    return int(it.num(x))


@_prim("bool", "np.bool_")
def _bool(it, x):
    return it.truth(x)


@_prim("len")
def _len(it, x):
    return len(x)


@_prim("range")
def _range(it, *args):
    return range(*[it.as_int(a) for a in args])


@_prim("round", "np.round")
def _round(it, x, nd=None):
    v = it.num(x)
    if _has_sym(x):
        it.note_int(np.asarray(v, dtype=float) * 10.0 ** (0 if nd is None else it.as_int(nd)), half=True)
    if isinstance(v, np.ndarray):
        return np.round(v, nd or 0)
    return round(v) if nd is None else round(v, it.as_int(nd))


@_prim("stop_gradient")
def _stop_gradient(it, x):
    return it.concrete(x)


# zero-derivative functions: evaluated at the point, constants
_ZERO_MATH_INT = {"math.floor": math.floor, "math.ceil": math.ceil, "math.trunc": math.trunc}
def _zero_int(f):
    def g(it, x):
        if _has_sym(x):
            it.note_int(it.num(x))
        return int(f(it.num(x)))
    return g


for _n, _f in _ZERO_MATH_INT.items():
    _PRIMS[_n] = _zero_int(_f)
def _zero_float(f, rounding):
    def g(it, x):
        if _has_sym(x):
            if rounding:
                it.note_int(it.num(x))
            elif f is np.sign:
                it.note(it.num(x))
        return _norm(f(it.num(x)))
    return g


for _n, _f in {"np.floor": np.floor, "np.ceil": np.ceil, "np.trunc": np.trunc}.items():
    _PRIMS[_n] = _zero_float(_f, True)
_PRIMS["np.sign"] = _zero_float(np.sign, False)


def _concrete1(f):
    return lambda it, x: _norm(f(it.num(x)))


def _concrete2(f):
    return lambda it, x, y: _norm(f(it.num(x), it.num(y)))


for _n, _f in {
               "np.isnan": np.isnan, "np.isinf": np.isinf, "np.isfinite": np.isfinite,
               "math.isnan": np.isnan, "math.isinf": np.isinf, "math.isfinite": np.isfinite,
               "np.logical_not": np.logical_not}.items():
    _PRIMS[_n] = _concrete1(_f)
for _n, _f in {"np.floor_divide": np.floor_divide, "np.logical_and": np.logical_and,
               "np.logical_or": np.logical_or}.items():
    _PRIMS[_n] = _concrete2(_f)


@_prim("np.remainder", "%")
def _remainder(it, x, y):
    return it.binop("%", x, y)


@_prim("math.fmod")
def _fmod(it, x, y):
    r = np.asarray(it.num(x), dtype=float) / np.asarray(it.num(y), dtype=float)
    if _has_sym(x) or _has_sym(y):
        it.note_int(r)
    q = np.trunc(r)
    return _norm(x - _norm(q) * y)


# ======================================================================= translation


class SympyTranslation:
    """The result of :func:`to_sympy`.

    ``outputs``: the flattened output, a list of SymPy expressions (or numbers);
    ``out_shape``: its shape as :func:`numerical_jacobian` lays it out (``()`` for a scalar);
    ``symbols``: per differentiated argument, a SymPy symbol or an object array of them;
    ``point``: symbol -> float, the values of the arguments; ``value``: the raw output;
    ``margin``: the smallest distance, at the point, from a value that depends on the arguments
    to a decision boundary met on the way (the other side of a comparison, a kink of abs/max/
    min, a jump of floor/int/round/%); ``inf`` when no decision depended on them. A small
    margin means the point is close to another piece of a piecewise function: finite
    differences there are unreliable, the SymPy derivative (of the piece) is not."""

    def __init__(self, outputs, out_shape, symbols, point, value, nums, scalar, margin=math.inf):
        self.margin = margin
        self.outputs = outputs
        self.out_shape = out_shape
        self.symbols = symbols
        self.point = point
        self.value = value
        self.argnums = nums
        self.scalar = scalar

    @property
    def expr(self):
        """The output expression (scalar outputs)."""
        return self.outputs[0] if self.scalar else self.outputs

    def derivative(self, dps=30):
        """Per differentiated argument, d output / d argument from ``sympy.diff``, evaluated at the
        point: the gradient (argument's shape) for a scalar output, the Jacobian
        (``out_shape + arg_shape``) otherwise."""
        try:
            return self._derivative(dps)
        except RecursionError:
            raise _too_deep("the function") from None

    def _derivative(self, dps):
        ev = Evaluator(self.point, precise=True, dps=dps)
        res = []
        for syms in self.symbols:
            flat_syms = list(syms.flat) if isinstance(syms, np.ndarray) else [syms]
            shape = syms.shape if isinstance(syms, np.ndarray) else ()
            jac = np.zeros((len(self.outputs), len(flat_syms)))
            for i, out in enumerate(self.outputs):
                if not _is_sym(out):
                    continue
                free = out.free_symbols
                for j, s in enumerate(flat_syms):
                    if s not in free:
                        continue
                    d = sp.diff(out, s)
                    jac[i, j] = float(ev(d)) if _is_sym(d) else float(d)
            if self.scalar:
                g = jac[0].reshape(shape)
                res.append(float(g) if shape == () else g)
            else:
                res.append(jac.reshape(tuple(self.out_shape) + shape))
        return res


def _symbolize(name, value, k):
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "f":
            raise TypeError(f"argument {k} ({name}) has dtype {value.dtype}; only float arguments "
                            "are differentiated")
        syms = np.empty(value.shape, dtype=object)
        point = {}
        for idx in np.ndindex(*value.shape):
            s = sp.Symbol(f"{name}_" + "_".join(map(str, idx)))
            syms[idx] = s
            point[s] = float(value[idx])
        return syms, syms.copy(), point
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or isinstance(value, numbers.Integral):
        raise TypeError(f"argument {k} ({name}) is a {type(value).__name__}; only floats and "
                        "float arrays are differentiated")
    s = sp.Symbol(name)
    return s, s, {s: float(value)}


def _concrete_arg(v):
    if isinstance(v, np.ndarray):
        return v.astype(object) if v.dtype.kind == "f" else v.copy()
    if isinstance(v, tuple):
        return tuple(_concrete_arg(x) for x in v)
    return _norm(v)


def _flat_leaves(v):
    if isinstance(v, tuple):
        out = []
        for x in v:
            out.extend(_flat_leaves(x))
        return out
    if isinstance(v, np.ndarray):
        return list(v.flat)
    return [v]


def _too_deep(name):
    """SymPy walks expressions recursively: one nested deeper than Python's recursion limit (a
    long loop that feeds each value into the next) cannot be translated or differentiated."""
    return UnsupportedSyntaxError(
        f"check_sympy: an expression of {name} is nested deeper than Python's recursion limit; "
        "too large to differentiate symbolically (check it with finite differences, or on "
        "fewer loop iterations)")


def to_sympy(fun, args, argnums=0, max_steps=200_000, max_size=20_000):
    """Translate ``fun`` at the point ``args`` into SymPy expressions of the differentiated
    arguments (see the module docstring for what is translated and how)."""
    from ..frontend.lower import get_user_function
    from ..frontend.program import Program

    args = tuple(args)
    _, nums = normalize_argnums(argnums, len(args))
    pyfn = get_user_function(fun)
    program = Program()
    key = program.add(pyfn)
    program.check_recursion(key)
    params = program.funcs[key].params
    call_args = []
    symbols = []
    point = {}
    for k, a in enumerate(args):
        if k in nums:
            syms, arg, pt = _symbolize(params[k] if k < len(params) else f"arg{k}", a, k)
            symbols.append(syms)
            call_args.append(arg)
            point.update(pt)
        else:
            call_args.append(_concrete_arg(a))
    interp = Interpreter(program, Evaluator(point), max_steps=max_steps, max_size=max_size)
    try:
        value = interp.call(key, call_args)
        leaves = _flat_leaves(value)
        for leaf in leaves:
            if _is_sym(leaf) and max_size is not None:
                n = tree_size(leaf, limit=max_size)
                if n > max_size:
                    raise UnsupportedSyntaxError(
                        f"check_sympy: the output expression of {pyfn.__name__} has more than "
                        f"{max_size} nodes (as a tree); too large to differentiate symbolically "
                        "(raise max_size)")
    except RecursionError:
        raise _too_deep(pyfn.__name__) from None
    out = value
    scalar = not isinstance(out, (tuple, np.ndarray))
    if scalar:
        out_shape = ()
    elif isinstance(out, np.ndarray):
        out_shape = out.shape
    else:
        out_shape = (len(leaves),)
    outputs = [leaf if _is_sym(leaf) else float(leaf) for leaf in leaves]
    return SympyTranslation(outputs, out_shape, symbols, point, value, nums, scalar, interp.margin)


def sympy_grad(fun, args, argnums=0, **kw):
    """The derivative of ``fun`` at ``args`` by SymPy (see :func:`to_sympy`): a gradient for a
    scalar output, a Jacobian (``out_shape + arg_shape``) otherwise; a tuple when ``argnums`` is
    a tuple."""
    single, _ = normalize_argnums(argnums, len(tuple(args)))
    res = to_sympy(fun, args, argnums, **kw).derivative()
    return res[0] if single else tuple(res)


def check_sympy(fun, args, argnums=0, modes=("forward", "reverse"), jit=False, rtol=1e-6,
                max_steps=200_000, max_size=20_000):
    """Check s2sad's derivatives of ``fun`` at ``args`` against SymPy's.

    The function's IR is translated into SymPy expressions at the point (straight-line code;
    loops with the trip counts they have at the point; branches resolved at the point; see the
    module docstring), differentiated with ``sympy.diff`` w.r.t. every entry of the arguments
    ``argnums``, and evaluated at the point. s2sad's derivatives in each of ``modes`` are
    compared with those (``s2sad.grad`` for a scalar output, Jacobians from ``jvp``/``vjp``
    otherwise), with the error measure of :func:`check_grads`.

    Returns a :class:`CheckReport` (``report.extra["expr"]`` holds the translation); raises
    :class:`s2sad.errors.DerivativeMismatch` above ``rtol``, and
    :class:`s2sad.errors.UnsupportedSyntaxError` for a construct it cannot translate.
    """
    args = tuple(args)
    modes = _check_modes(modes)
    _, nums = normalize_argnums(argnums, len(args))
    tr = to_sympy(fun, args, nums, max_steps=max_steps, max_size=max_size)
    want = tr.derivative()
    out = fun(*_fresh_args(args))
    report = CheckReport(_name(fun), "sympy", rtol, "gradient" if is_scalar_output(out) else "jacobian")
    report.extra["translation"] = tr
    for mode in modes:
        _, got = s2sad_derivative(fun, args, nums, mode, jit=jit, out=out)
        compare(report, mode, nums, got, want)
    return report.raise_if_failed()
