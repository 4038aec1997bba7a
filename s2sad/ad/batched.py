"""Vector forward mode: one sweep carries many tangent directions at once.

Every tangent gets a leading batch axis: the tangent of a float is a vector of ``nb``
directions, the tangent of an array of shape S an array of shape (nb,) + S. Elementwise rules
are unchanged (a lower-rank operand's tangent gets size-1 axes after the batch axis, so that it
broadcasts); indexing skips the batch axis; every other primitive's batched form is its rule's
``batched`` (``primitives/batched.py``). Where a primitive application has none, NotBatchable
is raised and the caller falls back to one sweep per direction.
"""

from __future__ import annotations

from .. import ir
from ..ir.types import Tuple
from ..primitives.batched import ALL, NotBatchable, batched_zero, expand, rank
from ..primitives.table import add, mul, partial
from .derive import Deriver


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
        R_ans = rank(ans_type)
        if rule.kind == "elementwise":
            out = None
            for k, d in enumerate(ds):
                if d is not None:
                    d = expand(d, R_ans - rank(self.typeof(call.args[k])))
                    out = add(out, mul(d, partial(rule, ctx, k)))
            if R_ans and not any(rank(self.typeof(call.args[k])) == R_ans for k, d in enumerate(ds) if d is not None):
                out = ir.BinOp("+", out, batched_zero(ans, ans_type))  # the result's shape
            return out
        if rule.batched is None:
            raise NotBatchable(call.func)
        return rule.batched(ctx, ds)
