"""The form of a generated function that Numba compiles fastest, for jitted modules only (the
plain Python form is what s2sad differentiates again, and what NumPy runs fastest).

Numba compiles a store of an array into part of an array (``x_bar[i] += row``) through its
general slice assignment, whose shape-mismatch message it formats with its string machinery:
about 2 s of CPU on a cold first call, once per process. Through a view (``_row = x_bar[i];
_row += row``) the same elements are updated in place by an in-place ufunc, compiled in a
fraction of that. Only where ``x_bar[i]`` is a view (basic indexing: integers, slices and new
axes, fewer integers than axes or a new axis); an element (``x_bar[i, j] += v``) is a scalar store already.

Numba does not check an in-place update's shapes (numba#4542): ``a += b`` with ``b`` of shape
(4,) into ``a`` of shape (3,) reads three of ``b``'s values where NumPy raises ValueError. An
update of an array the user's code made or was given (not an adjoint, whose shapes agree by
construction) is therefore checked first, by ``_fits`` (NumPy's rule: ``b`` broadcasts to the
shape updated), so that a jitted derivative raises where the user's own code raises.

For the same reason an array's contents recorded on a tape (``_atape[_at:_at + s.size] =
s.ravel()``) are copied by ``_record``, a loop (~2 s of CPU less on a cold first call of a
vectorized derivative).
"""

from __future__ import annotations

from .. import ir
from ..ir.names import fresh_name
from ..ir.types import Array, Scalar
from .tidy import float64_only


def row_updates_through_views(fn):
    """``fn``, or a copy with its in-place updates of array parts made through views, and each
    in-place update of a user's array by an array checked by ``_fits`` first."""
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

    def scalar(e):
        return isinstance(e, ir.Const) or (isinstance(e, ir.Var) and isinstance(types.get(e.name), Scalar))

    def update(target, s, user):
        """``target op= value``; where ``target`` is (part of) a user's array and the value may
        be an array, ``_fits(target, value)`` first (the value named once)."""
        if not user or scalar(s.value):
            return [ir.AugAssign(target, s.op, s.value, loc=s.loc)]
        value, out = s.value, []
        if not isinstance(value, ir.Var):
            value = ir.Var(fresh_name("_v", taken))
            out.append(ir.Assign(value, s.value, loc=s.loc))
        return out + [ir.ExprStmt(ir.Call(FITS, (target, value)), loc=s.loc),
                      ir.AugAssign(target, s.op, value, loc=s.loc)]

    def through_view(s):
        if isinstance(s, ir.AugStore):
            part = (s.array, s.index)
        elif isinstance(s, ir.AugAssign) and isinstance(s.target, ir.Load):
            part = (s.target.array, s.target.index)
        elif isinstance(s, ir.AugAssign) and isinstance(types.get(s.target.name), Array) \
                and s.target.name not in fn.made and not scalar(s.value):
            out = update(s.target, s, True)
            out[0].comment = s.comment
            return out
        else:
            return None
        if not is_view(*part):
            return None
        row = fresh_name("_row", taken)
        return [ir.Assign(ir.Var(row), ir.Load(*part), loc=s.loc, comment=s.comment),
                *update(ir.Var(row), s, part[0].name not in fn.made)]

    return ir.copy_with(fn, through_view)


FITS = "_fits"


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


# ---------------------------------------------------------------- adjoints first assigned

# calls that return a new array (never one of their arguments, never a view)
_NEW_ARRAY = frozenset({"np.matmul", "np.dot", "np.einsum", "np.tensordot", "np.outer", "np.exp",
                        "np.log", "np.sqrt", "np.where"})
_UNBROADCAST = frozenset({"_unbroadcast1", "_unbroadcast2", "_unbroadcast3", "_unbroadcastn"})


def adjoints_assigned_first(fn):
    """``x_bar = np.zeros_like(x)`` followed, at the top level of the body and before any other
    read of ``x_bar``, by ``x_bar += _unbroadcast3(c, x_bar)``: the zeros are never allocated,
    filled and read again, the accumulation becomes ``x_bar = _unbroadcast3(c, x)`` (a pass
    over each large adjoint saved, for jitted modules only: the plain form is what s2sad
    differentiates again). ``_unbroadcastN`` gives the result ``x``'s exact shape; ``c`` is
    either a new array (an arithmetic expression, a product), or an array variable that
    neither it nor ``x_bar`` is written into afterwards, which ``x_bar`` then shares.
    Only where ``fn`` has no float32 value (``0.0 + c`` may change a dtype otherwise). Changes
    ``fn`` in place; returns whether anything changed."""
    if not float64_only(fn):
        return False
    types = getattr(fn, "types", None) or {}
    body = fn.body
    zeros = {}  # x_bar -> (position of its np.zeros_like, x)
    dropped = set()
    for k, s in enumerate(body):
        new = _first_value(s, zeros, types, body[k + 1:])
        if new is not None:
            dropped.add(zeros.pop(s.target.name)[0])
            body[k] = s = ir.Assign(s.target, new, loc=s.loc, comment=s.comment)
        inner = list(ir.walk_stmts([s]))
        reads = {v for x in inner for v in ir.stmt_reads(x)}
        defs = {v for x in inner for v in ir.stmt_defs(x)}
        for b in [b for b, (_, x) in zeros.items() if b in reads or b in defs or x in defs]:
            del zeros[b]
        b = _zeros_like_of(s, fn, types)
        if b is not None and new is None:
            zeros[b] = (k, s.value.args[0].name)
    if dropped:
        fn.body[:] = [s for k, s in enumerate(body) if k not in dropped]
    return bool(dropped)


def _zeros_like_of(s, fn, types):
    """``x_bar`` for ``x_bar = np.zeros_like(x)`` of a float64 array the compiler made."""
    if isinstance(s, ir.Assign) and not s.inplace and isinstance(s.value, ir.Call) \
            and s.value.func == "np.zeros_like" and len(s.value.args) == 1 and not s.value.kwargs \
            and isinstance(s.value.args[0], ir.Var) and s.target.name in fn.made:
        t = types.get(s.target.name)
        if isinstance(t, Array) and t.dtype == "float64":
            return s.target.name
    return None


def _first_value(s, zeros, types, rest):
    """The value ``s`` assigns instead, or None: ``s`` is ``x_bar += _unbroadcastN(c, x_bar)``
    (or ``(c, x)``), or an accumulation the reverse sweep marked ``exact``, into the zeros of
    ``x_bar = np.zeros_like(x)``."""
    if not (isinstance(s, ir.AugAssign) and isinstance(s.target, ir.Var) and s.target.name in zeros
            and s.op in ("+", "-")):
        return None
    b = s.target.name
    x = ir.Var(zeros[b][1])
    e = s.value
    if isinstance(e, ir.Call) and e.func in _UNBROADCAST and len(e.args) == 2 and not e.kwargs \
            and e.args[1] in (ir.Var(b), x):
        c = e.args[0]
        value = ir.Call(e.func, (c, x))  # x_bar's shape, x's
    elif s.exact:
        c = value = e
    else:
        return None
    if b in ir.expr_vars(c):
        return None
    if s.op == "+" and not _new_array(c, types):
        if not (isinstance(c, ir.Var) and isinstance(types.get(c.name), Array)
                and types[c.name].dtype == "float64" and _never_written(rest, {b, c.name})):
            return None
    return value if s.op == "+" else ir.UnaryOp("-", value)


def _new_array(e, types):
    """Whether ``e`` surely evaluates to a new float64 array (NumPy's arithmetic on arrays)."""
    if isinstance(e, (ir.BinOp, ir.UnaryOp)):
        return any(isinstance(types.get(v), Array) for v in ir.expr_vars(e))
    return isinstance(e, ir.Call) and e.func in _NEW_ARRAY


def _never_written(stmts, names):
    """Whether no statement of ``stmts`` (nested ones included) may write into the arrays
    ``names`` hold, or hand them on to something that may: no in-place update, store or
    accumulation into them, no call of generated code with them, no other name made to refer
    to them."""
    for s in ir.walk_stmts(stmts):
        if isinstance(s, (ir.Store, ir.AugStore)) and s.array.name in names:
            return False
        if isinstance(s, ir.AugAssign):
            t = s.target.array if isinstance(s.target, ir.Load) else s.target
            if isinstance(t, ir.Var) and t.name in names:
                return False
        if isinstance(s, ir.Assign) and s.inplace and s.target.name in names:
            return False
        if isinstance(s, (ir.Assign, ir.TupleAssign, ir.Return)) and s.value is not None:
            # `y = x_bar`, `y = x_bar[1:]`, (y, z) = ..., a call of a helper's VJP
            if _hands_on(s.value, names):
                return False
        if isinstance(s, ir.ExprStmt) and names & set(ir.expr_vars(s.value)):
            return False
    return True


def _hands_on(e, names):
    """Whether evaluating ``e`` may give a reference to (part of) an array in ``names`` or let
    generated code write into one."""
    if isinstance(e, ir.Var):
        return e.name in names
    if isinstance(e, (ir.Load, ir.Attr)):
        return _hands_on(e.array if isinstance(e, ir.Load) else e.value, names)
    if isinstance(e, ir.TupleMake):
        return any(_hands_on(x, names) for x in e.items)
    if isinstance(e, ir.CallUser):
        return bool(names & set(ir.expr_vars(e)))
    if isinstance(e, ir.Method):  # x_bar.reshape(...), a view
        return _hands_on(e.obj, names)
    if isinstance(e, ir.Call):  # np.reshape, np.transpose, _unbroadcast3, ...: views, or an argument
        return e.func not in _NEW_ARRAY and any(_hands_on(a, names) for a in [*e.args, *(v for _, v in e.kwargs)])
    return False


def negations_outside_sums(fn):
    """``_unbroadcast3(-c, like)`` becomes ``-_unbroadcast3(c, like)``: the sum is taken over
    ``c`` as it is and the negation applied to the (smaller) sum, one array pass fewer; exact
    (negating is exact, the order of the additions is the same). Changes ``fn`` in place."""
    def hoist(e):
        e = ir.map_expr(e, hoist)
        if isinstance(e, ir.Call) and e.func in _UNBROADCAST and len(e.args) == 2 and not e.kwargs \
                and isinstance(e.args[0], ir.UnaryOp) and e.args[0].op == "-":
            return ir.UnaryOp("-", ir.Call(e.func, (e.args[0].operand, e.args[1])))
        return e

    for s in ir.walk_stmts(fn.body):
        if isinstance(s, (ir.Assign, ir.AugAssign)):
            s.value = hoist(s.value)
