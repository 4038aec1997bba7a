"""Applying the rules table to one primal expression, for either mode.

``tangent(...)`` gives the expression of the result's tangent; ``contributions(...)`` gives,
for each differentiated operand, the expression to add to its adjoint.
"""

from __future__ import annotations

from .. import ir
from .. import primitives as R
from ..errors import NonDifferentiableError
from ..ir.types import Array, Tuple
from ..primitives.table import add as _add, inst as _inst, mul as _mul, partial as _partial


def zero_like(e, t):
    """An expression for the zero of type ``t`` (the type of ``e``)."""
    if isinstance(t, Array):
        return ir.Call("np.zeros_like", (e,))
    if isinstance(t, Tuple):
        return ir.TupleMake(tuple(zero_like(ir.TupleGet(e, k), it) for k, it in enumerate(t.items)))
    return ir.Const(0.0)


class Deriver:
    """Derivative expressions of primal expressions inside one function.

    ``typeof(expr)`` gives operand types; ``dvar(name)`` the derivative variable of an active
    primal variable (None when it has none)."""

    def __init__(self, typeof, dvar, loc_of=None):
        self.typeof = typeof
        self.dvar = dvar

    def _ctx(self, call, ans, ans_type, **extra):
        return R.Ctx(call, [self.typeof(a) for a in call.args], ans, ans_type, extra)

    def operand_d(self, e):
        """The derivative expression of an operand (Var, TupleMake of operands), or None."""
        if isinstance(e, ir.Var):
            d = self.dvar(e.name)
            return None if d is None else ir.Var(d)
        if isinstance(e, ir.TupleMake):
            ds = [self.operand_d(x) for x in e.items]
            if all(d is None for d in ds):
                return None
            return ir.TupleMake(tuple(d if d is not None else zero_like(x, self.typeof(x))
                                      for d, x in zip(ds, e.items)))
        return None

    # ------------------------------------------------------------ forward

    def differentiable_call(self, e):
        """(call, rule, tangents of the differentiated arguments) for a primitive application
        with a nonzero tangent, else None."""
        if isinstance(e, ir.Attr) and e.name != "T":
            return None
        if isinstance(e, ir.Call) and e.func == "stop_gradient":
            return None
        call = R.canonical_call(e)
        if call is None:
            return None
        rule = R.RULES.get(call.func)
        if rule is None or rule.kind == "zero":
            return None
        ds = [self.operand_d(a) if k in rule.diff else None for k, a in enumerate(call.args)]
        if all(d is None for d in ds):
            return None
        return call, rule, ds

    def tangent(self, e, ans, ans_type, loc):
        """Tangent of ``ans = e``; None when it is zero."""
        if isinstance(e, ir.Var):
            return self.operand_d(e)
        if isinstance(e, (ir.Const, ir.Global, ir.Compare, ir.BoolOp)):
            return None
        if isinstance(e, ir.TupleMake):
            return self.operand_d(e)
        if isinstance(e, ir.TupleGet):
            d = self.operand_d(e.tuple)
            return None if d is None else ir.TupleGet(d, e.index)
        if isinstance(e, ir.Load):
            d = self.operand_d(e.array)
            return None if d is None else ir.Load(d, e.index)
        prepared = self.differentiable_call(e)
        if prepared is None:
            return None
        call, rule, ds = prepared
        ctx = self._ctx(call, ans, ans_type)
        if rule.kind == "elementwise":
            out = None
            for k, d in enumerate(ds):
                if d is not None:
                    out = _add(out, _mul(d, _partial(rule, ctx, k)))
            if isinstance(ans_type, Array) and not any(
                    isinstance(self.typeof(call.args[k]), Array) and self.typeof(call.args[k]).ndim == ans_type.ndim
                    for k, d in enumerate(ds) if d is not None):
                # only lower-rank operands vary (np.zeros(3) + x): the tangent has the result's shape
                out = ir.BinOp("+", out, ir.Call("np.zeros_like", (ans,)))
            return out
        if rule.kind == "linear":
            out = None
            for k, d in enumerate(ds):
                if d is None:
                    continue
                if k in rule.jvp:
                    term = _inst(rule.jvp[k], ctx, d=d)
                elif call.func in ("astype", "item"):  # array methods, not functions
                    term = ir.Method(d, call.func, tuple(call.args[1:]), call.kwargs)
                else:
                    args = list(call.args)
                    args[k] = d
                    term = ir.Call(call.func, tuple(args), call.kwargs)
                out = _add(out, term)
            return out
        if rule.kind == "bilinear":
            a, b = call.args[0], call.args[1]
            func = rule.jvp_func(ctx) if rule.jvp_func else call.func
            out = None
            if ds[0] is not None:
                out = _add(out, ir.Call(func, (ds[0], b)))
            if ds[1] is not None:
                out = _add(out, ir.Call(func, (a, ds[1])))
            return out
        if rule.kind == "custom":
            out = None
            for k, d in enumerate(ds):
                if d is not None:
                    out = _add(out, _inst(rule.jvp[k], ctx, d=d))
            return out
        raise AssertionError(rule.kind)

    # ------------------------------------------------------------ reverse

    def contributions(self, e, ans, ans_type, g, loc):
        """[(operand expr, contribution expr, contribution type)] for ``ans = e`` with result
        adjoint ``g``. Loads and tuples are handled by the caller."""
        call = R.canonical_call(e)
        if call is None:
            return []
        rule = R.RULES.get(call.func)
        if rule is None or rule.kind == "zero":
            return []
        ctx = self._ctx(call, ans, ans_type, g=g)
        out = []
        for k, a in enumerate(call.args):
            if k not in rule.diff or self.operand_d(a) is None:
                continue
            at = self.typeof(a)
            if rule.kind == "elementwise":
                c = _mul(g, _partial(rule, ctx, k))
                ct = _broadcast_type(ans_type, at)
                # another array operand (not `a` itself, as in x * x) may have broadcast a
                # size-1 axis of `a`, whatever its rank: (3, 1) - (2,) is (3, 2)
                others = [self.typeof(o) for j, o in enumerate(call.args) if j != k and o != a]
                if isinstance(at, Array) and any(isinstance(o, Array) for o in others):
                    ct = MaybeStretched(ct)
                out.append((a, c, ct))
                continue
            if k not in rule.vjp:
                raise NonDifferentiableError(f"`{call.func}` has no derivative with respect to "
                                             f"argument {k + 1}", loc)
            spec = rule.vjp[k]
            try:
                c = spec(ctx) if callable(spec) else ctx.inst(spec)
            except NonDifferentiableError as ex:  # a rule refusing this application: at its line
                if ex.loc is not None or loc is None:
                    raise
                raise NonDifferentiableError(ex.bare_message, loc, ex.hint) from None
            if rule.items:  # one adjoint slice per item of a sequence argument
                out.extend((item, ci, it) for item, ci, it in c if self.operand_d(item) is not None)
                continue
            out.append((a, c, at))
        return out


class MaybeStretched:
    """The type of a contribution to an array that broadcasting may have stretched along a
    size-1 axis (only the run-time shapes tell)."""

    def __init__(self, t):
        self.t = t

    def __eq__(self, other):
        return isinstance(other, MaybeStretched) and other.t == self.t

    def __hash__(self):
        return hash(("MaybeStretched", self.t))


def _broadcast_type(ans_type, arg_type):
    if isinstance(ans_type, Array):
        return ans_type
    return arg_type
