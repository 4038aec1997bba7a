"""Vector forward mode: one sweep carries many tangent directions at once.

Every tangent gets a leading batch axis: the tangent of a float is a vector of ``nb``
directions, the tangent of an array of shape S an array of shape (nb,) + S. Elementwise rules
are unchanged (a lower-rank operand's tangent gets size-1 axes after the batch axis, so that it
broadcasts); indexing skips the batch axis; reductions and other structural primitives have
batched forms below. A primitive without one raises NotBatchable, and the caller falls back to
one sweep per direction.
"""

from __future__ import annotations

from .. import ir
from ..analysis.types import Array, Scalar, Tuple
from ..errors import CompilerSignal
from . import rules as R
from .derive import Deriver, _add, _mul, _partial, _inst


class NotBatchable(CompilerSignal):
    """A primitive with no batched rule: the caller falls back to one sweep per direction."""


NB = ir.Var("_nb")  # number of directions, set at the top of every batched function
ALL = ir.Slice(None, None, None)


def batched_zero(e, t):
    """The zero tangent of ``e`` (of type ``t``) with the batch axis."""
    if isinstance(t, Array):
        return ir.Call("np.zeros", (ir.BinOp("+", ir.TupleMake((NB,)), ir.Attr(e, "shape")),))
    if isinstance(t, Tuple):
        return ir.TupleMake(tuple(batched_zero(ir.TupleGet(e, k), it) for k, it in enumerate(t.items)))
    return ir.Call("np.zeros", (NB,))


def _rank(t):
    return t.ndim if isinstance(t, Array) else 0


def _expand(d, k):
    """``d`` with ``k`` size-1 axes inserted after the batch axis."""
    for _ in range(k):
        d = ir.Call("np.expand_dims", (d, ir.Const(1)))
    return d


def _sum_rest(d, t):
    """Sum a batched tangent of a value of type ``t`` over everything but the batch axis."""
    n = _rank(t)
    if n == 0:
        return d
    if n == 1:
        return ir.Call("np.sum", (d,), (("axis", ir.Const(1)),))
    flat = ir.Method(d, "reshape", (ir.TupleMake((NB, ir.Const(-1))),))
    return ir.Call("np.sum", (flat,), (("axis", ir.Const(1)),))


class BatchedDeriver(Deriver):
    def __init__(self, typeof, dname, written=frozenset()):
        super().__init__(typeof, dname)
        self.written = written  # arrays written in place somewhere in the function

    def operand_d(self, e):
        if isinstance(e, ir.TupleMake):
            ds = [self.operand_d(x) for x in e.items]
            if all(d is None for d in ds):
                return None
            return ir.TupleMake(tuple(d if d is not None else batched_zero(x, self.typeof(x))
                                      for d, x in zip(ds, e.items)))
        return super().operand_d(e)

    def tangent(self, e, ans, ans_type, loc):
        if isinstance(e, ir.Load):
            d = self.operand_d(e.array)
            if d is None:
                return None
            if isinstance(self.typeof(e.array), Tuple):
                return ir.Load(d, e.index)
            view = ir.Load(d, (ALL,) + tuple(e.index))
            if isinstance(e.array, ir.Var) and e.array.name in self.written:
                return ir.Method(view, "copy", ())
            return view
        if isinstance(e, (ir.Var, ir.Const, ir.Global, ir.Compare, ir.BoolOp, ir.TupleMake, ir.TupleGet)):
            return super().tangent(e, ans, ans_type, loc)
        prepared = self.differentiable_call(e)
        if prepared is None:
            return None
        call, rule, ds = prepared
        ctx = self._ctx(call, ans, ans_type)
        R_ans = _rank(ans_type)
        if rule.kind == "elementwise":
            out = None
            for k, d in enumerate(ds):
                if d is not None:
                    d = _expand(d, R_ans - _rank(self.typeof(call.args[k])))
                    out = _add(out, _mul(d, _partial(rule, ctx, k)))
            if R_ans and not any(_rank(self.typeof(call.args[k])) == R_ans for k, d in enumerate(ds) if d is not None):
                out = ir.BinOp("+", out, batched_zero(ans, ans_type))  # the result's shape
            return out
        handler = BATCHED.get(call.func)
        if handler is None:
            raise NotBatchable(call.func)
        return handler(self, call, ds, ctx, ans_type)


def _axis(call):
    ax = call.kw("axis")
    if ax is None and len(call.args) > 1 and call.func in ("np.sum", "np.mean", "np.max", "np.min", "np.prod"):
        ax = call.args[1]
    if ax is None:
        return None
    if not isinstance(ax, ir.Const):
        raise NotBatchable("dynamic axis")
    return ax.value


def _shift(ax):
    return ax + 1 if ax >= 0 else ax


def _b_sum(self, call, ds, ctx, t):
    d = ds[0]
    xt = self.typeof(call.args[0])
    if R._keepdims(call):
        raise NotBatchable("keepdims")
    ax = _axis(call)
    out = _sum_rest(d, xt) if ax is None else ir.Call("np.sum", (d,), (("axis", ir.Const(_shift(ax))),))
    if call.func == "np.mean":
        x = call.args[0]
        n = ir.Attr(x, "size") if ax is None else ir.Load(ir.Attr(x, "shape"), (ir.Const(ax),))
        out = ir.BinOp("/", out, n)
    return out


def _b_minmax(self, call, ds, ctx, t):
    if R._keepdims(call) or _axis(call) is not None:
        raise NotBatchable("axis")
    x = call.args[0]
    mask = ir.Compare("==", x, ctx.ans)
    xt = self.typeof(x)
    return ir.BinOp("/", _sum_rest(ir.BinOp("*", ds[0], mask), xt), ir.Call("np.sum", (mask,)))


def _b_prod(self, call, ds, ctx, t):
    if _axis(call) is not None:
        raise NotBatchable("axis")
    x = call.args[0]
    xt = self.typeof(x)
    if not isinstance(xt, Array):
        return ds[0]
    return _sum_rest(ir.BinOp("*", ds[0], R.prod_others(x, xt, None)), xt)


def _b_same(self, call, ds, ctx, t):
    """Primitives that act entry by entry without moving entries: apply to the tangent."""
    args = list(call.args)
    args[0] = ds[0]
    return ir.Call(call.func, tuple(args), call.kwargs)


def _b_reshape(self, call, ds, ctx, t):
    shape = call.args[1]
    if not isinstance(shape, ir.TupleMake):
        shape = shape if isinstance(self.typeof(shape), Tuple) else ir.TupleMake((shape,))
    return ir.Call("np.reshape", (ds[0], ir.BinOp("+", ir.TupleMake((NB,)), shape)))


def _b_ravel(self, call, ds, ctx, t):
    return ir.Method(ds[0], "reshape", (ir.TupleMake((NB, ir.Const(-1))),))


def _b_transpose(self, call, ds, ctx, t):
    xt = self.typeof(call.args[0])
    if _rank(xt) <= 1:
        return ds[0]
    if _rank(xt) == 2:
        return ir.Call("np.transpose", (ds[0], ir.Const((0, 2, 1))))
    raise NotBatchable("transpose")


def _b_array(self, call, ds, ctx, t):
    seq = call.args[0]
    if isinstance(seq, ir.TupleMake):
        return ir.Call("np.stack", (ds[0],), (("axis", ir.Const(1)),))
    return ds[0]


def _b_concat(self, call, ds, ctx, t):
    ax = call.kw("axis")
    if ax is None and len(call.args) > 1:
        ax = call.args[1]
    ax = 0 if ax is None else ax.value
    return ir.Call("np.concatenate", (ds[0],), (("axis", ir.Const(_shift(ax))),))


def _b_full(self, call, ds, ctx, t):
    if ds[1] is None:
        return None
    ones = ir.Call("np.ones", (call.args[0],)) if call.func == "np.full" else ir.Call("np.ones_like", (call.args[0],))
    return ir.BinOp("*", _expand(ds[1], _rank(t)), ones)


def _b_linspace(self, call, ds, ctx, t):
    out = None
    num = call.args[2] if len(call.args) > 2 else call.kw("num")
    for k, (d, lo, hi) in enumerate(((ds[0], 1.0, 0.0), (ds[1], 0.0, 1.0))):
        if d is not None:
            out = _add(out, ir.Call("np.outer", (d, ir.Call("np.linspace", (ir.Const(lo), ir.Const(hi), num)))))
    return out


def _b_dot(self, call, ds, ctx, t):
    a, b = call.args[0], call.args[1]
    ta, tb = self.typeof(a), self.typeof(b)
    out = None
    if ds[0] is not None:
        if isinstance(tb, Scalar):
            term = ir.BinOp("*", ds[0], b)
        elif isinstance(ta, Scalar):
            term = ir.BinOp("*", _expand(ds[0], _rank(tb)), b)
        else:  # (nb, ..., m) . b contracts the last axis of the tangent with b
            term = ir.Call("np.dot", (ds[0], b))
        out = _add(out, term)
    if ds[1] is not None:
        if isinstance(ta, Scalar):
            term = ir.BinOp("*", _expand(ds[1], 0), a)
        elif ta.ndim == 1 and tb.ndim == 1:
            term = ir.Call("np.dot", (ds[1], a))
        elif ta.ndim == 2 and tb.ndim == 1:
            term = ir.Call("np.dot", (ds[1], ir.Attr(a, "T")))
        elif ta.ndim == 1 and tb.ndim == 2:
            # a . B_dot[k] for every direction k: contract a with the middle axis
            term = ir.Call("np.sum", (ir.BinOp("*", ir.Call("np.expand_dims", (a, ir.Const(1))), ds[1]),),
                           (("axis", ir.Const(1)),))
        else:
            raise NotBatchable("matrix times batched matrix")
        out = _add(out, term)
    return out


def _b_outer(self, call, ds, ctx, t):
    a, b = call.args
    out = None
    if ds[0] is not None:
        out = _add(out, ir.BinOp("*", ir.Call("np.expand_dims", (ds[0], ir.Const(2))), b))
    if ds[1] is not None:
        out = _add(out, ir.BinOp("*", ir.Call("np.expand_dims", (a, ir.Const(1))),
                                 ir.Call("np.expand_dims", (ds[1], ir.Const(1)))))
    return out


def _b_builtin_minmax(self, call, ds, ctx, t):
    if len(call.args) == 1:
        return _b_minmax(self, call, ds, ctx, t)
    out = None
    for k, d in enumerate(ds):
        if d is None:
            continue
        ctx.env["d"] = d
        sel = R._builtin_minmax_vjp(ctx, k, tangent=True)  # IfExp(test, d, 0.0)
        ind = ir.IfExp(sel.test, ir.Const(1.0), ir.Const(0.0))
        out = _add(out, ir.BinOp("*", d, ind))
    return out


def _b_scalar_cast(self, call, ds, ctx, t):
    return ds[0]


BATCHED = {
    "np.sum": _b_sum, "np.mean": _b_sum, "np.max": _b_minmax, "np.min": _b_minmax,
    "np.prod": _b_prod, "np.copy": _b_same, "astype": _b_same, "np.reshape": _b_reshape,
    "np.ravel": _b_ravel, "np.transpose": _b_transpose, "np.array": _b_array,
    "np.concatenate": _b_concat, "np.hstack": _b_concat, "np.full": _b_full,
    "np.full_like": _b_full, "np.linspace": _b_linspace, "np.dot": _b_dot, "np.matmul": _b_dot,
    "np.outer": _b_outer, "max": _b_builtin_minmax, "min": _b_builtin_minmax,
    "float": _b_scalar_cast, "np.float64": _b_scalar_cast, "np.float32": _b_scalar_cast,
    "item": _b_scalar_cast,
}
