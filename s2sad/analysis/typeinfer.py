"""Type and rank inference, specialised per argument signature (as Numba does).

Flow-insensitive: a variable has one type, the join of everything assigned to it, iterated to
a fixed point so that ``s = 0`` then ``s += x[i]`` makes ``s`` a float.
"""

from __future__ import annotations

from .. import ir
from ..errors import TypeInferenceError, NonDifferentiableError
from ..ir.types import (a_, DType, Array, Scalar, Tuple, Opaque, F64, I64, BOOL, NONE, promote_dtype, unify,
                    typeof_value)
from ..primitives import RULES, canonical_call
from ..primitives.typerules import t_matmul

_ARITH = {"+", "-", "*", "/", "//", "%", "**"}


class TypeResult:
    def __init__(self, fn, argtypes):
        self.fn = fn
        self.argtypes = tuple(argtypes)
        self.types = {}
        self.ret = None
        self.calls = {}  # CallUser expr -> (callee key, argtypes)


class TypeInference:
    def __init__(self, program, cache):
        self.program = program
        self.cache = cache  # (key, argtypes) -> TypeResult
        self.stack = []

    def infer(self, key, argtypes):
        ck = (key, tuple(argtypes))
        if ck in self.cache:
            return self.cache[ck]
        fn = self.program.funcs[key]
        res = TypeResult(fn, argtypes)
        for p, t in zip(fn.params, argtypes):
            res.types[p] = t
        self.stack.append(key)
        saved = getattr(self, "res", None), getattr(self, "changed", False)
        for _ in range(30):
            self.changed = False
            self.res = res
            self.block(fn.body)
            if not self.changed:
                break
        self.res, self.changed = saved
        self.stack.pop()
        self.cache[ck] = res
        return res

    # ------------------------------------------------------------ helpers

    def set(self, name, t, s):
        if t is None:
            return
        cur = self.res.types.get(name)
        new = unify(cur, t)
        if new is None and name == _joined_return(self.res.fn):
            raise TypeInferenceError(f"this return gives {a_(t)}, another return gives {a_(cur)}", s.loc,
                                     "return values of one type")
        if new is None:
            raise TypeInferenceError(
                f"`{name}` is {a_(t)} here but was {a_(cur)} elsewhere; s2sad (like Numba) needs one "
                "type per variable", s.loc, "use a different name for the other value")
        if new != cur:
            self.res.types[name] = new
            self.changed = True

    def typeof(self, e, s):
        if isinstance(e, ir.Var):
            return self.res.types.get(e.name)
        if isinstance(e, ir.Const):
            return const_type(e.value)
        if isinstance(e, ir.Global):
            return typeof_value(self.res.fn.globals[e.name])
        return self.expr(e, s)

    # ------------------------------------------------------------ statements

    def block(self, stmts):
        for s in stmts:
            self.stmt(s)

    def stmt(self, s):
        if isinstance(s, ir.Assign):
            self.set(s.target.name, self.expr(s.value, s), s)
        elif isinstance(s, (ir.Store, ir.AugStore)):
            at = self.typeof(s.array, s)
            self.typeof(s.value, s)
            if at is not None and not isinstance(at, Array):
                raise TypeInferenceError(f"`{s.array.name}` is {a_(at)}, not an array: it cannot be "
                                         "written by index", s.loc,
                                         "only numpy arrays can be written by index")
            for i in s.index:
                if isinstance(i, ir.Slice):
                    for p in (i.lower, i.upper, i.step):
                        if p is not None:
                            self.typeof(p, s)
                elif not isinstance(i, ir.NewAxis):
                    self.typeof(i, s)
            if isinstance(s, ir.AugStore) and s.at:
                it = self.typeof(s.index[0], s)
                if it is not None and not (isinstance(it, Array) and it.dtype == "int64"):
                    raise TypeInferenceError(f"np.add.at takes an array of integer indices here, not {a_(it)}",
                                             s.loc, "for one index write x[i] += v")
        elif isinstance(s, ir.If):
            self.typeof(s.test, s)
            self.block(s.body)
            self.block(s.orelse)
        elif isinstance(s, ir.For):
            for b in (s.start, s.stop, s.step):
                t = self.typeof(b, s)
                if t is not None and not (isinstance(t, Scalar) and t.dtype in ("int64", "bool")):
                    raise TypeInferenceError(f"range() needs integers, got {a_(t)}", s.loc,
                                             "convert with int(...)")
            self.set(s.var.name, I64, s)
            self.block(s.body)
        elif isinstance(s, ir.While):
            self.block(s.cond)
            self.typeof(s.test, s)
            self.block(s.body)
        elif isinstance(s, ir.ExprStmt):
            self.expr(s.value, s)
        elif isinstance(s, ir.Return):
            t = NONE if s.value is None else self.typeof(s.value, s)
            if t is not None:
                new = unify(self.res.ret, t)
                if new is None:
                    raise TypeInferenceError(
                        f"this return gives {a_(t)}, another return gives {a_(self.res.ret)}", s.loc,
                        "return values of one type")
                self.res.ret = new

    # ------------------------------------------------------------ expressions

    def expr(self, e, s):
        if isinstance(e, (ir.Var, ir.Const, ir.Global)):
            return self.typeof(e, s)
        if isinstance(e, ir.BinOp):
            a, b = self.typeof(e.left, s), self.typeof(e.right, s)
            if a is None or b is None:
                return None
            return binop_type(e.op, a, b, s)
        if isinstance(e, ir.UnaryOp):
            t = self.typeof(e.operand, s)
            if t is None:
                return None
            if e.op == "not":
                return BOOL
            if isinstance(t, Scalar) and t.dtype == "bool":
                return I64
            return t
        if isinstance(e, ir.Compare):
            a, b = self.typeof(e.left, s), self.typeof(e.right, s)
            if isinstance(a, Array) or isinstance(b, Array):
                nd = max(x.ndim for x in (a, b) if isinstance(x, Array))
                return Array("bool", nd)
            return BOOL
        if isinstance(e, ir.BoolOp):
            ts = [self.typeof(v, s) for v in e.values]
            out = None
            for t in ts:
                if t is None:
                    return None
                out = unify(out, t) or BOOL
            return out
        if isinstance(e, ir.IfExp):
            self.typeof(e.test, s)
            return unify(self.typeof(e.body, s), self.typeof(e.orelse, s))
        if isinstance(e, ir.TupleMake):
            ts = tuple(self.typeof(x, s) for x in e.items)
            if any(t is None for t in ts):
                return None
            return Tuple(ts)
        if isinstance(e, ir.TupleGet):
            t = self.typeof(e.tuple, s)
            if t is None:
                return None
            if not isinstance(t, Tuple):
                raise TypeInferenceError(f"cannot unpack {a_(t)}", s.loc,
                                         "only tuples can be unpacked (a, b = t)")
            if e.index >= len(t.items):
                raise TypeInferenceError(f"cannot unpack {len(t.items)} values into more names", s.loc,
                                         "unpack as many names as the tuple has items")
            return t.items[e.index]
        if isinstance(e, ir.Attr):
            t = self.typeof(e.value, s)
            if t is None:
                return None
            return attr_type(t, e.name, s)
        if isinstance(e, ir.Load):
            t = self.typeof(e.array, s)
            idx = [self.typeof(i, s) if not isinstance(i, (ir.Slice, ir.NewAxis)) else i for i in e.index]
            for i in e.index:
                if isinstance(i, ir.Slice):
                    for p in (i.lower, i.upper, i.step):
                        if p is not None:
                            self.typeof(p, s)
            if t is None or any(x is None for x in idx):
                return None
            return load_type(t, e, idx, s)
        if isinstance(e, ir.Call):
            return self.call(e, s)
        if isinstance(e, ir.Method):
            return self.method(e, s)
        if isinstance(e, ir.CallUser):
            ts = [self.typeof(a, s) for a in e.args]
            if any(t is None for t in ts):
                return None
            callee = self.program.funcs[e.func]
            if len(ts) != len(callee.params):
                raise TypeInferenceError(
                    f"`{callee.name}` takes {len(callee.params)} arguments, {len(ts)} given", s.loc,
                    f"call it with {len(callee.params)} arguments ({', '.join(callee.params)})")
            if e.func in self.stack:
                return None
            r = self.infer(e.func, ts)
            self.res.calls[e] = (e.func, tuple(ts))
            return r.ret
        raise TypeInferenceError(f"cannot type {e!r}", s.loc)

    def call(self, e, s):

        ts = [self.typeof(a, s) for a in e.args]
        for _, v in e.kwargs:
            self.typeof(v, s)
        if any(t is None for t in ts):
            return None
        if e.func.startswith("foreign:"):
            obj = self.res.fn.globals[e.func.split(":", 1)[1]]
            return foreign_type(obj, ts, e, s)
        if e.func.startswith("custom:"):
            info = self.program.customs[e.func.split(":", 1)[1]]
            if info.primal is not None:
                return self.infer(info.primal, ts).ret
            if info.fwd is not None:
                r = self.infer(info.fwd, ts).ret
                if not isinstance(r, Tuple) or len(r.items) != 2:
                    raise TypeInferenceError(f"the forward rule of `{info.rule.__name__}` must return "
                                             "(output, residuals)", s.loc)
                return r.items[0]
            tans = tuple(t if t.differentiable else F64 for t in ts)
            r = self.infer(info.jvp, (Tuple(tuple(ts)), Tuple(tans))).ret
            if not isinstance(r, Tuple) or len(r.items) != 2:
                raise TypeInferenceError(f"the jvp rule of `{info.rule.__name__}` must return "
                                         "(output, tangent of the output)", s.loc)
            return r.items[0]
        if e.func == "stop_gradient":
            return ts[0]
        rule = RULES.get(e.func)
        if rule is None:
            raise NonDifferentiableError(f"`{e.func}` is not supported by s2sad", s.loc,
                                         "see the README for the supported math and numpy functions")
        return self.apply_rule(rule, e, ts, s)

    def apply_rule(self, rule, call, ts, s):
        """The result type of a primitive application, by its rule's type function."""
        try:
            return rule.type_fn(ts, call)
        except TypeInferenceError as ex:
            if ex.loc is None:
                raise TypeInferenceError(ex.bare_message, s.loc, ex.hint) from None
            raise
        except Exception as ex:  # a rule's type function met arguments it does not take
            raise TypeInferenceError(
                f"`{call.func}` cannot take arguments of types ({', '.join(map(str, ts))}): {ex}",
                s.loc) from None

    def method(self, e, s):
        t = self.typeof(e.obj, s)
        ts = [self.typeof(a, s) for a in e.args]
        for _, v in e.kwargs:
            self.typeof(v, s)
        if t is None or any(x is None for x in ts):
            return None
        if not isinstance(t, Array):
            raise TypeInferenceError(f"`.{e.name}()` is called on {a_(t)}, not an array", s.loc)
        call = canonical_call(e)
        rule = RULES.get(call.func) if call is not None else None
        if rule is None:
            raise TypeInferenceError(f"array method `.{e.name}()` is not supported", s.loc,
                                     "supported: .copy() .reshape() .ravel() .flatten() .sum() .mean() "
                                     ".max() .min() .prod() .dot() .astype() .transpose() .item()")
        return self.apply_rule(rule, call, [t] + [self.typeof(a, s) for a in call.args[1:]], s)


def _joined_return(fn):
    """The variable that jump removal made to carry every ``return``'s value to the one return
    at the end (None when there is none)."""
    last = fn.body[-1] if fn.body else None
    if isinstance(last, ir.Return) and isinstance(last.value, ir.Var) and last.value.name in fn.made:
        return last.value.name
    return None


def operand_type(e, types, module_globals):
    """The type of an operand of a derivative expression: a variable (by ``types``), a
    constant, a module-level value, or a tuple of these; None for anything else."""
    if isinstance(e, ir.Var):
        return types.get(e.name)
    if isinstance(e, ir.Const):
        return const_type(e.value)
    if isinstance(e, ir.Global):
        return typeof_value(module_globals[e.name])
    if isinstance(e, ir.TupleMake):
        return Tuple(tuple(operand_type(x, types, module_globals) for x in e.items))
    return None


def const_type(v):

    if isinstance(v, bool):
        return BOOL
    if isinstance(v, int):
        return I64
    if isinstance(v, float):
        return F64
    if v is None:
        return NONE
    if isinstance(v, tuple):
        return Tuple(tuple(const_type(x) for x in v))
    if isinstance(v, DType):
        return Opaque("dtype")
    return Opaque(type(v).__name__)


def binop_type(op, a, b, s):
    if isinstance(a, Tuple) or isinstance(b, Tuple):
        if op == "+" and isinstance(a, Tuple) and isinstance(b, Tuple):
            return Tuple(a.items + b.items)
        raise TypeInferenceError(f"operator {op} on tuples is not supported", s.loc)
    if isinstance(a, Opaque) or isinstance(b, Opaque):
        raise TypeInferenceError(f"operator {op} cannot take {a_(a)} and {a_(b)}", s.loc)
    if op == "@":
        return t_matmul([a, b], None)
    arrays = [t for t in (a, b) if isinstance(t, Array)]
    if arrays:
        dts = [t.dtype for t in arrays]
        dt = dts[0] if len(dts) == 1 else promote_dtype(*dts)
        # a float scalar with an int array gives a float array
        for t in (a, b):
            if isinstance(t, Scalar) and t.dtype in ("float64", "float32") and dt in ("int64", "bool"):
                dt = "float64"
        if op == "/" and dt in ("int64", "bool"):
            dt = "float64"
        if dt == "bool" and op in _ARITH:
            dt = "int64"
        return Array(dt, max(t.ndim for t in arrays))
    dt = promote_dtype(a.dtype, b.dtype)
    if op == "/" and dt in ("int64", "bool"):
        dt = "float64"
    if dt == "bool":
        dt = "int64"
    return Scalar(dt)


def attr_type(t, name, s):
    if name == "shape":
        if isinstance(t, Array):
            return Tuple((I64,) * t.ndim)
        raise TypeInferenceError(f"`.shape` of {a_(t)}", s.loc)
    if name == "T":
        return t
    if name in ("size", "ndim"):
        return I64
    if name == "dtype":
        return Opaque("dtype")
    if name == "real":
        return t
    raise TypeInferenceError(f"attribute .{name}", s.loc)


def load_type(t, e, idx, s):
    if isinstance(t, Tuple):
        if len(e.index) != 1:
            raise TypeInferenceError("a tuple takes one index", s.loc)
        i = e.index[0]
        if isinstance(i, ir.Const) and isinstance(i.value, int):
            try:
                return t.items[i.value]
            except IndexError:
                raise TypeInferenceError(f"tuple index {i.value} out of range", s.loc) from None
        if isinstance(i, ir.Slice):
            raise TypeInferenceError("slicing a tuple is not supported", s.loc)
        items = set(t.items)
        if len(items) == 1:
            return t.items[0]
        raise TypeInferenceError("indexing a tuple of mixed types needs a constant index", s.loc)
    if not isinstance(t, Array):
        raise TypeInferenceError(f"{a_(t)} cannot be indexed", s.loc,
                                 "only numpy arrays and tuples can be indexed")
    fancy = advanced_index(t, e.index, idx, s.loc if s is not None else None)
    if fancy is not None:
        return fancy.result
    nd = t.ndim
    used = 0
    for i, it in zip(e.index, idx):
        if isinstance(i, ir.NewAxis):
            nd += 1
            continue
        used += 1
        if isinstance(i, ir.Slice):
            continue
        if isinstance(it, Scalar) and it.dtype in ("int64", "bool"):
            nd -= 1
        else:
            raise TypeInferenceError(f"an index must be an int or a slice, got {a_(it)}", s.loc,
                                     "convert with int(...)")
    if used > t.ndim:
        raise TypeInferenceError(f"too many indices ({used}) for a {t.ndim}-d array", s.loc,
                                 f"index a {t.ndim}-d array with at most {t.ndim} indices")
    if nd == 0:
        return Scalar(t.dtype)
    return Array(t.dtype, nd)


class AdvancedIndex:
    """An index with one integer or boolean array in it (NumPy's advanced indexing), in the
    forms s2sad differentiates:

    - ``x[idx]``, ``x[idx, j]``, ``x[idx, 1:3]``: an int array ``idx`` (any rank) first, then
      ints and slices (``pos`` 0, ``rest`` the entries after it): rows gathered, the result's
      leading axes those of ``idx``; ``x[idx, rest] == x[:, rest][idx]``;
    - ``x[:, idx]``: a 1-d int array after one ``:`` of a matrix (``pos`` 1): columns gathered;
    - ``x[mask]``: a boolean array over the leading axes of ``x`` (``mask`` True): a 1-d array of
      the entries (rows) where it is true.

    Reading one gathers; the adjoint scatters back with repeated indices summed (``np.add.at``).
    """

    def __init__(self, pos, array, rest, mask, result):
        self.pos = pos
        self.array = array  # the index array's operand
        self.rest = rest  # the entries after it
        self.mask = mask
        self.result = result


def advanced_index(t, index, idx_types, loc):
    """The ``AdvancedIndex`` of ``t[index]`` (``idx_types``: each entry's type, or the Slice /
    NewAxis itself), None for basic indexing (ints, slices, newaxis); refuses the forms it does
    not differentiate."""
    arrays = [k for k, it in enumerate(idx_types) if isinstance(it, Array)]
    if not arrays:
        return None
    hint = ("index with one integer (or boolean) array, first (x[idx], x[idx, j]) or after one "
            "`:` (x[:, idx]), or with one integer array per axis (m[rows, cols]); for the others, "
            "index in two steps or loop over the indices")
    if len(arrays) > 1:
        if len(arrays) == len(index) == t.ndim and all(idx_types[k].dtype == "int64" for k in arrays):
            # one entry per index tuple (m[rows, cols]): read through flat indices (compiler.py)
            return AdvancedIndex(0, None, (), False, Array(t.dtype, max(idx_types[k].ndim for k in arrays)))
        raise TypeInferenceError("indexing with several arrays at once is supported as one integer "
                                 "array per axis (m[rows, cols]), not this way", loc, hint)
    k = arrays[0]
    it = idx_types[k]
    if it.dtype not in ("int64", "bool"):
        raise TypeInferenceError(f"an index array must hold ints or bools, not {it.dtype}", loc,
                                 "convert with .astype(np.int64)")
    if any(isinstance(i, ir.NewAxis) for i in index):
        raise TypeInferenceError("`None`/`np.newaxis` in an index with an index array is not "
                                 "supported", loc, "add the axis in a second step: y = x[idx]; y[:, None]")
    rest = tuple(index[k + 1:])
    for i, rt in zip(rest, idx_types[k + 1:]):
        if not isinstance(i, ir.Slice) and not (isinstance(rt, Scalar) and rt.dtype in ("int64", "bool")):
            raise TypeInferenceError(f"an index must be an int or a slice, got {a_(rt)}", loc,
                                     "convert with int(...)")
    if len(index) > t.ndim:
        raise TypeInferenceError(f"too many indices ({len(index)}) for a {t.ndim}-d array", loc,
                                 f"index a {t.ndim}-d array with at most {t.ndim} indices")
    full = lambda i: isinstance(i, ir.Slice) and i.lower is None and i.upper is None and i.step is None  # noqa: E731
    if it.dtype == "bool":
        if k != 0 or rest or it.ndim not in (1, t.ndim):
            raise TypeInferenceError("a boolean mask is differentiated as the only index, over the "
                                     "leading axes of the array: x[mask]", loc,
                                     "write x[mask] with a mask of x's shape or over its first axis")
        return AdvancedIndex(0, index[0], (), True, Array(t.dtype, t.ndim - it.ndim + 1))
    if k == 0:
        ints = sum(1 for i in rest if not isinstance(i, ir.Slice))
        return AdvancedIndex(0, index[0], rest, False, Array(t.dtype, t.ndim - 1 - ints + it.ndim)
                             if t.ndim - 1 - ints + it.ndim else Scalar(t.dtype))
    if k == 1 and full(index[0]) and not rest and t.ndim == 2 and it.ndim == 1:
        return AdvancedIndex(1, index[1], (), False, Array(t.dtype, 2))
    raise TypeInferenceError("this form of indexing with an array is not supported", loc, hint)


def foreign_type(obj, ts, e, s):
    """A call of a function s2sad has no source or rule for: it is evaluated as is (it must not
    get differentiated values; activity analysis checks that). A math or numpy function is pure,
    so its result type is that of a call on representative values (ones of the argument types);
    for any other function, whose calls may have effects, ints are assumed for int inputs and
    floats otherwise."""
    if _pure(obj) and all(isinstance(v, ir.Const) for _, v in e.kwargs):
        try:
            import numpy as np
            with np.errstate(all="ignore"):
                res = obj(*(_representative(t) for t in ts),
                          **{k: v.value for k, v in e.kwargs})
            t = typeof_value(res)
        except Exception:  # noqa: BLE001 -- any failure: fall back to the guess below
            t = None
        if t is not None:
            return t
    if all(isinstance(t, Scalar) and t.dtype in ("int64", "bool") for t in ts):
        return I64
    return F64


def _pure(obj):
    import numpy as np
    mod = getattr(obj, "__module__", None) or ""
    return isinstance(obj, np.ufunc) or mod == "math" or mod == "numpy" or mod.startswith("numpy.")


def _representative(t):
    import numpy as np
    if isinstance(t, Scalar):
        return {"float64": 1.0, "float32": np.float32(1.0), "int64": 1, "bool": True}[t.dtype]
    if isinstance(t, Array):
        return np.ones((2,) * t.ndim, dtype=t.dtype)
    if isinstance(t, Tuple):
        return tuple(_representative(x) for x in t.items)
    raise TypeError(t)
