"""Batched JVPs: a primitive's tangent when every tangent carries a leading axis of ``_nb``
directions (vector forward mode, what ``jacfwd`` runs).

The tangent of a float is a vector of ``nb`` directions, the tangent of an array of shape S an
array of shape (nb,) + S. Elementwise primitives need no entry here (their partials broadcast
against a tangent given size-1 axes after the batch axis: ``expand``); indexing skips the batch
axis; the structural primitives below move the batch axis out of their way. Each function
takes the rule's ``Ctx`` and the batched tangents of the arguments (None where zero) and is
attached to its primitive in ``rules.py``.
"""

from __future__ import annotations

from .. import ir
from ..errors import CompilerSignal
from ..ir.types import Array, Scalar, Tuple
from .table import add, axis_of, keepdims

NB = ir.Var("_nb")  # number of directions, set at the top of every batched function
ALL = ir.Slice(None, None, None)


class NotBatchable(CompilerSignal):
    """A primitive application with no batched form: the caller falls back to one sweep per
    direction."""


def batched_zero(e, t):
    """The zero tangent of ``e`` (of type ``t``) with the batch axis."""
    if isinstance(t, Array):
        return ir.Call("np.zeros", (ir.BinOp("+", ir.TupleMake((NB,)), ir.Attr(e, "shape")),))
    if isinstance(t, Tuple):
        return ir.TupleMake(tuple(batched_zero(ir.TupleGet(e, k), it) for k, it in enumerate(t.items)))
    return ir.Call("np.zeros", (NB,))


def rank(t):
    return t.ndim if isinstance(t, Array) else 0


def expand(d, k):
    """``d`` with ``k`` size-1 axes inserted after the batch axis."""
    for _ in range(k):
        d = ir.Call("np.expand_dims", (d, ir.Const(1)))
    return d


def sum_rest(d, t):
    """Sum a batched tangent of a value of type ``t`` over everything but the batch axis."""
    n = rank(t)
    if n == 0:
        return d
    if n == 1:
        return ir.Call("np.sum", (d,), (("axis", ir.Const(1)),))
    flat = ir.Method(d, "reshape", (ir.TupleMake((NB, ir.Const(-1))),))
    return ir.Call("np.sum", (flat,), (("axis", ir.Const(1)),))


def _const_axis(c):
    ax = axis_of(c.call)
    if ax == "dynamic":
        raise NotBatchable("dynamic axis")
    return ax


def _shift(ax):
    if isinstance(ax, tuple):
        return tuple(_shift(a) for a in ax)
    return ax + 1 if ax >= 0 else ax


def _reduce(c, terms):
    """Sum a batched array over the axis the reduction ``c`` reduces (every axis but the batch
    axis when it has none), keeping the reduced axes where the call keeps them."""
    ax = _const_axis(c)
    xt = c.argtypes[0]
    if ax is None:
        out = sum_rest(terms, xt)
        if keepdims(c.call) and rank(xt):
            out = ir.Call("np.reshape", (out, ir.TupleMake((NB,) + (ir.Const(1),) * rank(xt))))
        return out
    kw = (("axis", ir.Const(_shift(ax))),) + ((("keepdims", ir.Const(True)),) if keepdims(c.call) else ())
    return ir.Call("np.sum", (terms,), kw)


def reduce_sum(c, ds):
    """np.sum and np.mean: the batch axis is never reduced."""
    out = _reduce(c, ds[0])
    if c.call.func == "np.mean":
        x = c.call.args[0]
        ax = _const_axis(c)
        n = ir.Attr(x, "size") if ax is None else ir.Load(ir.Attr(x, "shape"), (ir.Const(ax),))
        out = ir.BinOp("/", out, n)
    return out


def reduce_minmax(c, ds):
    """np.max / np.min: the tangent is shared between tied extrema."""
    x = c.call.args[0]
    ax = _const_axis(c)
    ans = c.ans
    if ax is not None and not keepdims(c.call) and rank(c.argtypes[0]) > 1:
        ans = ir.Call("np.expand_dims", (ans, ir.Const(ax % rank(c.argtypes[0]))))
    mask = ir.Compare("==", x, ans)
    if ax is None:
        count = ir.Call("np.sum", (mask,))
    else:
        kw = (("axis", ir.Const(ax)),) + ((("keepdims", ir.Const(True)),) if keepdims(c.call) else ())
        count = ir.Call("np.sum", (mask,), kw)
    return ir.BinOp("/", _reduce(c, ir.BinOp("*", ds[0], mask)), count)


def reduce_centered(c, ds, centered):
    """np.var / np.std: ``centered`` is (x - mean, n - ddof)."""
    x_c, n = centered
    var = ir.BinOp("/", _reduce(c, ir.BinOp("*", ir.BinOp("*", ir.Const(2.0), x_c), ds[0])), n)
    if c.call.func == "np.std":
        return ir.BinOp("/", var, ir.BinOp("*", ir.Const(2.0), c.ans))
    return var


def reduce_prod(c, ds, prod_others):
    xt = c.argtypes[0]
    if not isinstance(xt, Array):
        return ds[0]
    return _reduce(c, ir.BinOp("*", ds[0], prod_others(c.call.args[0], xt, _const_axis(c))))


def same(c, ds):
    """Primitives that act entry by entry without moving entries: apply to the tangent."""
    args = list(c.call.args)
    args[0] = ds[0]
    if c.call.func in ("astype",):
        return ir.Method(ds[0], c.call.func, tuple(args[1:]), c.call.kwargs)
    return ir.Call(c.call.func, tuple(args), c.call.kwargs)


def scalar_cast(c, ds):
    """float(x), np.float64(x), x.item(): a scalar (or a one-entry array) to a scalar."""
    return sum_rest(ds[0], c.argtypes[0])


def reshape(c, ds):
    shape = c.call.args[1]
    if not isinstance(shape, ir.TupleMake):
        shape = shape if isinstance(c.argtypes[1], Tuple) else ir.TupleMake((shape,))
    return ir.Call("np.reshape", (ds[0], ir.BinOp("+", ir.TupleMake((NB,)), shape)))


def ravel(c, ds):
    return ir.Method(ds[0], "reshape", (ir.TupleMake((NB, ir.Const(-1))),))


def transpose(c, ds, perm):
    """np.transpose(x, perm) of every direction (``perm`` None: the axes reversed)."""
    n = rank(c.argtypes[0])
    if n <= 1:
        return ds[0]
    perm = tuple(range(n - 1, -1, -1)) if perm is None else perm
    return ir.Call("np.transpose", (ds[0], ir.Const((0,) + tuple(k + 1 for k in perm))))


def array(c, ds):
    """np.array((a, b, ...)), nested too: stack each level after the batch axis."""
    def stacked(d):
        if isinstance(d, ir.TupleMake):
            return ir.Call("np.stack", (ir.TupleMake(tuple(stacked(x) for x in d.items)),),
                           (("axis", ir.Const(1)),))
        return d
    return stacked(ds[0])


def _items_rank(c):
    seq = c.argtypes[0]
    first = seq.items[0] if isinstance(seq, Tuple) else seq
    return rank(first)


def concatenate(c, ds):
    ax = _const_axis(c)
    ax = 0 if ax is None else ax
    return ir.Call("np.concatenate", (ds[0],), (("axis", ir.Const(_shift(ax))),))


def hstack(c, ds):
    return ir.Call("np.concatenate", (ds[0],), (("axis", ir.Const(1 if _items_rank(c) == 1 else 2)),))


def stack(c, ds):
    ax = _const_axis(c)
    ax = 0 if ax is None else ax
    if ax < 0:
        ax += _items_rank(c) + 1
    return ir.Call("np.stack", (ds[0],), (("axis", ir.Const(ax + 1)),))


def vstack(c, ds):
    if _items_rank(c) == 1:
        return ir.Call("np.stack", (ds[0],), (("axis", ir.Const(1)),))
    return ir.Call("np.concatenate", (ds[0],), (("axis", ir.Const(1)),))


def full(c, ds):
    if ds[1] is None:
        return None
    x = c.call.args[0]
    ones = ir.Call("np.ones", (x,)) if c.call.func == "np.full" else ir.Call("np.ones_like", (x,))
    return ir.BinOp("*", expand(ds[1], rank(c.ans_type)), ones)


def along(weights):
    """Primitives linear in scalar arguments, ``d * weights(c, k)`` for a weight array of the
    result's shape (np.linspace): each direction scales the weights."""
    def rule(c, ds):
        out = None
        for k, d in enumerate(ds):
            if d is not None:
                out = add(out, ir.Call("np.outer", (d, weights(c, k))))
        return out
    return rule


def dot(c, ds):
    a, b = c.call.args[0], c.call.args[1]
    ta, tb = c.argtypes[0], c.argtypes[1]
    out = None
    if ds[0] is not None:
        if isinstance(tb, Scalar):
            term = ir.BinOp("*", ds[0], b)
        elif isinstance(ta, Scalar):
            term = ir.BinOp("*", expand(ds[0], rank(tb)), b)
        else:  # (nb, ..., m) . b contracts the last axis of the tangent with b
            term = ir.Call("np.dot", (ds[0], b))
        out = add(out, term)
    if ds[1] is not None:
        if isinstance(ta, Scalar):
            term = ir.BinOp("*", expand(ds[1], 0), a)
        elif isinstance(tb, Scalar):
            term = ir.BinOp("*", expand(ds[1], rank(ta)), a)
        elif ta.ndim == 1 and tb.ndim == 1:
            term = ir.Call("np.dot", (ds[1], a))
        elif ta.ndim == 2 and tb.ndim == 1:
            term = ir.Call("np.dot", (ds[1], ir.Attr(a, "T")))
        elif ta.ndim == 1 and tb.ndim == 2:
            # a . B_dot[k] for every direction k: contract a with the middle axis
            term = ir.Call("np.sum", (ir.BinOp("*", ir.Call("np.expand_dims", (a, ir.Const(1))), ds[1]),),
                           (("axis", ir.Const(1)),))
        elif ta.ndim == 2 and tb.ndim == 2:
            # A . B_dot[k] for every direction k: np.dot gives (n, nb, p), directions first
            term = ir.Call("np.transpose", (ir.Call("np.dot", (a, ds[1])), ir.Const((1, 0, 2))))
        else:
            raise NotBatchable("a product of arrays of more than two axes")
        out = add(out, term)
    return out


def matmul_stack(c, ds):
    """np.matmul of stacks: the directions become one more stack axis, in front; an operand
    with fewer axes than the result gets size-1 axes after the directions."""
    a, b = c.call.args[0], c.call.args[1]
    n = rank(c.ans_type)
    out = None
    if ds[0] is not None:
        out = add(out, ir.Call("np.matmul", (expand(ds[0], n - rank(c.argtypes[0])), b)))
    if ds[1] is not None:
        out = add(out, ir.Call("np.matmul", (a, expand(ds[1], n - rank(c.argtypes[1])))))
    return out


def outer(c, ds):
    a, b = c.call.args
    out = None
    if ds[0] is not None:
        out = add(out, ir.BinOp("*", ir.Call("np.expand_dims", (ds[0], ir.Const(2))), b))
    if ds[1] is not None:
        out = add(out, ir.BinOp("*", ir.Call("np.expand_dims", (a, ir.Const(1))),
                                ir.Call("np.expand_dims", (ds[1], ir.Const(1)))))
    return out


def _eye_of(x):
    shape = ir.Attr(x, "shape")
    return ir.Call("np.eye", (ir.Load(shape, (ir.Const(0),)), ir.Load(shape, (ir.Const(1),))))


def trace(c, ds):
    x = c.call.args[0]
    return sum_rest(ir.BinOp("*", ds[0], _eye_of(x)), c.argtypes[0])


def diag(c, ds):
    x = c.call.args[0]
    if rank(c.argtypes[0]) == 2:  # each direction's diagonal, min(m, n) long
        shape = ir.Attr(x, "shape")
        n = ir.Call("min", (ir.Load(shape, (ir.Const(0),)), ir.Load(shape, (ir.Const(1),))))
        rows = ir.Call("np.sum", (ir.BinOp("*", ds[0], _eye_of(x)),), (("axis", ir.Const(2)),))
        return ir.Load(rows, (ALL, ir.Slice(None, n, None)))
    # a vector onto the diagonal of a square matrix, for each direction
    eye = ir.Call("np.eye", (ir.Load(ir.Attr(x, "shape"), (ir.Const(0),)),))
    return ir.BinOp("*", ir.Call("np.expand_dims", (ds[0], ir.Const(2))), eye)


def cumsum(c, ds):
    """Running sums along each direction: a product with the upper triangle of ones (Numba's
    np.cumsum has no axis)."""
    n = ir.Load(ir.Attr(c.call.args[0], "shape"), (ir.Const(0),))
    upper = ir.Call("np.triu", (ir.Call("np.ones", (ir.TupleMake((n, n)),)),))
    return ir.Call("np.dot", (ds[0], upper))


def diff(c, ds):
    return ir.BinOp("-", ir.Load(ds[0], (ALL, ir.Slice(ir.Const(1), None, None))),
                    ir.Load(ds[0], (ALL, ir.Slice(None, ir.Const(-1), None))))


def builtin_minmax(select):
    """max(a, b, ...) / min(...): the tangent of the first argument equal to the result
    (``select(c, k)`` is the test that picks argument k); max(array) as np.max."""
    def rule(c, ds):
        if len(c.call.args) == 1:
            return reduce_minmax(c, ds)
        out = None
        for k, d in enumerate(ds):
            if d is not None:
                ind = ir.IfExp(select(c, k), ir.Const(1.0), ir.Const(0.0))
                out = add(out, ir.BinOp("*", d, ind))
        return out
    return rule
