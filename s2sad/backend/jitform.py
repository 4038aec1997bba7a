"""The form of a generated function that Numba compiles fastest, for jitted modules only (the
plain Python form is what s2sad differentiates again, and what NumPy runs fastest).

Numba compiles a store of an array into part of an array (``x_bar[i] += row``) through its
general slice assignment, whose shape-mismatch message it formats with its string machinery:
about 2 s of CPU on a cold first call, once per process. Through a view (``_row = x_bar[i];
_row += row``) the same elements are updated in place by an in-place ufunc, compiled in a
fraction of that. Only where ``x_bar[i]`` is a view (basic indexing: integers, slices and new
axes, fewer integers than axes or a new axis); an element (``x_bar[i, j] += v``) is a scalar store already.

For the same reason an array's contents recorded on a tape (``_atape[_at:_at + s.size] =
s.ravel()``) are copied by ``_record``, a loop (~2 s of CPU less on a cold first call of a
vectorized derivative).
"""

from __future__ import annotations

from .. import ir
from ..ir.names import fresh_name
from ..ir.types import Array, Scalar


def row_updates_through_views(fn):
    """``fn``, or a copy with its in-place updates of array parts made through views."""
    types = getattr(fn, "types", None) or {}
    taken = set(types) | set(fn.params) | {n for s in ir.walk_stmts(fn.body) for n in ir.assigned_names([s])}

    def is_view(array, index):
        t = types.get(array.name) if isinstance(array, ir.Var) else None
        if not isinstance(t, Array):
            return False
        ints = new = 0
        for e in index:
            if isinstance(e, ir.Slice):
                continue
            if isinstance(e, ir.NewAxis):  # a view with an axis of length one more
                new += 1
                continue
            if (isinstance(e, ir.Const) and type(e.value) is int) or \
                    (isinstance(e, ir.Var) and types.get(e.name) == Scalar("int64")):
                ints += 1
            else:
                return False  # an array index (a copy, not a view), ...
        return ints < t.ndim or new > 0

    def through_view(s):
        if isinstance(s, ir.AugStore):
            part = (s.array, s.index)
        elif isinstance(s, ir.AugAssign) and isinstance(s.target, ir.Load):
            part = (s.target.array, s.target.index)
        else:
            return None
        if not is_view(*part):
            return None
        row = fresh_name("_row", taken)
        return [ir.Assign(ir.Var(row), ir.Load(*part), loc=s.loc, comment=s.comment),
                ir.AugAssign(ir.Var(row), s.op, s.value, loc=s.loc)]

    return ir.copy_with(fn, through_view)


RECORD = "_record"


def records_by_loops(fn):
    """``fn``, or a copy with each store ``tape[top:top + v.size] = v.ravel()`` (an array
    recorded on a tape: the sizes agree by construction) made a call ``_record(tape, top, v)``
    (the helper checks them again)."""

    def as_call(s):
        if not (isinstance(s, ir.Store) and len(s.index) == 1 and isinstance(s.index[0], ir.Slice)
                and isinstance(s.value, ir.Method) and s.value.name == "ravel" and not s.value.args):
            return None
        sl, v = s.index[0], s.value.obj
        top = sl.lower
        if not (isinstance(top, ir.Var) and sl.step is None and isinstance(sl.upper, ir.BinOp)
                and sl.upper.op == "+" and sl.upper.left == top
                and sl.upper.right == ir.Attr(v, "size")):
            return None
        return [ir.ExprStmt(ir.Call(RECORD, (s.array, top, v)), loc=s.loc, comment=s.comment)]

    return ir.copy_with(fn, as_call)
