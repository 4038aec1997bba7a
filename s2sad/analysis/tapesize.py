"""The tape-size analysis: how many entries a region of generated code pushes on each tape.

A region is a run of consecutive statements of one block. Its count is a sum over the pushes
it contains: a loop contributes its trip count times its body's count, a branch the larger of
its two counts, a ``while`` loop is unknown (unless its body pushes nothing). The count is an
expression of names the region does not assign, so it can be evaluated just before the region
starts: that is where room is made on the tapes, once, for every push inside. A count that
would need a name the region assigns (a triangular ``range(i)`` under a loop over ``i``) is
unknown for the whole region; the planner then makes room at the start of each iteration of
the outer loop instead (see ``ad/tape.py``).

Shared by the CPU tapes (room made before the region, then unchecked stores) and meant for
per-thread GPU tapes, whose size must be known before the kernel runs.
"""

from __future__ import annotations

from .. import ir

ZERO = {}


def trip_count(s):
    """Number of iterations of ``for v in range(start, stop, step)``, as an expression."""
    if _is_const(s.step, 1):
        if _is_const(s.start, 0):
            return ir.Call("max", (s.stop, ir.Const(0)))
        return ir.Call("max", (ir.BinOp("-", s.stop, s.start), ir.Const(0)))
    return ir.Call("len", (ir.Call("range", (s.start, s.stop, s.step)),))


class Counter:
    """``count(stmts)`` -> {tape kind: (peak, net)}, or None when unknown: ``net`` is how much
    the region moves the tape's top, ``peak`` the most it raises it above where it started (an
    upper bound; exact for straight pushes); each an int or an expression. ``push_kind(stmt)``
    and ``pop_kind(stmt)`` say which tape a statement pushes one entry on or pops one from."""

    def __init__(self, push_kind, pop_kind, calls=None):
        self.push_kind = push_kind
        self.pop_kind = pop_kind
        # id(stmt) -> (stmt, the count of that call, which pushes or pops; None: unknown)
        self.calls = calls or {}

    def count(self, stmts):
        total = {}
        for s in stmts:
            c = self.stmt_count(s)
            if c is None:
                return None
            total = add_counts(total, c)
        return total

    def stmt_count(self, s):
        call = self.calls.get(id(s))
        if call is not None and call[0] is s:  # a split helper's sweep, pushing or popping
            return call[1]
        kind = self.push_kind(s)
        if kind is not None:
            return {kind: (1, 1)}
        kind = self.pop_kind(s)
        if kind is not None:
            return {kind: (0, -1)}
        if isinstance(s, ir.If):
            a, b = self.count(s.body), self.count(s.orelse)
            if a is None or b is None:
                return None
            out = {}
            for k in set(a) | set(b):
                (pa, na), (pb, nb) = a.get(k, (0, 0)), b.get(k, (0, 0))
                if na == nb:
                    net = na
                elif isinstance(na, int) and isinstance(nb, int):
                    net = max(na, nb)  # an upper bound is enough for the peaks after it
                else:
                    return None
                out[k] = (_max(pa, pb), net)
            return out
        if isinstance(s, ir.For):
            body = self.count(s.body)
            if body is None:
                return None
            if not body:
                return ZERO
            if free_names(body) & (ir.assigned_names(s.body) | {s.var.name}):
                return None  # the body's count changes from one iteration to the next
            out = {}
            trips = trip_count(s)
            for k, (peak, net) in body.items():
                if net == 0:
                    out[k] = (peak, 0)  # what an iteration pushes, it pops
                elif peak == 0:
                    out[k] = (0, _mul(net, trips))  # pops only
                elif peak == net:
                    out[k] = (_mul(net, trips), _mul(net, trips))  # pushes only
                else:
                    return None
            return out
        if isinstance(s, ir.While):
            body = self.count(s.cond + s.body)
            return ZERO if body == ZERO else None
        return ZERO

    def region(self, stmts):
        """The count of ``stmts`` if it can be evaluated before they run, else None."""
        c = self.count(stmts)
        if c is None or free_names(c) & assigned(stmts):
            return None
        return c


def assigned(stmts):
    """Names a run of statements may assign (loop variables included)."""
    return ir.assigned_names(stmts)


def free_names(count):
    out = set()
    for pair in count.values():
        for e in pair:
            if isinstance(e, ir.Expr):
                out.update(ir.expr_vars(e))
    return out


def add_counts(a, b):
    """The count of region ``a`` followed by region ``b``."""
    out = dict(a)
    for k, (pb, nb) in b.items():
        pa, na = out.get(k, (0, 0))
        if pb == 0:
            peak = pa  # b only pops (pa >= na)
        elif pa == na:
            peak = _add(na, pb)  # a only pushes: b's peak starts from a's top
        elif all(isinstance(v, int) for v in (pa, na, pb)):
            peak = max(pa, na + pb)
        else:
            peak = _max(pa, _add(na, pb))
        out[k] = (peak, _add(na, nb))
    return out


def substitute(n, mapping):
    """A count written in a callee's parameters, written in the arguments of a call
    (``mapping``: parameter -> argument expression)."""
    if isinstance(n, int):
        return n
    if isinstance(n, ir.Var):
        return mapping.get(n.name, n)
    return ir.map_expr(n, lambda c: substitute(c, mapping))


def peak(count, kind):
    return count.get(kind, (0, 0))[0]


def as_expr(n):
    return ir.Const(n) if isinstance(n, int) else n


def _add(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if a == 0:
        return b
    if b == 0:
        return a
    return ir.BinOp("+", as_expr(a), as_expr(b))


def _mul(a, trips):
    if a == 1:
        return trips
    if a == -1:
        return ir.UnaryOp("-", trips)
    return ir.BinOp("*", as_expr(a), trips)


def _max(x, y):
    """The larger of two peaks (never negative)."""
    if isinstance(x, int) and isinstance(y, int):
        return max(x, y)
    if x == 0 or y == 0:
        return y if x == 0 else x
    return ir.Call("max", (as_expr(x), as_expr(y)))


def _is_const(e, v):
    return isinstance(e, ir.Const) and e.value == v and not isinstance(e.value, bool)


def push_bound(stmts, push_kind):
    """An upper bound of the entries a region that only pushes (a GPU kernel's forward sweep)
    puts on each tape: ``{kind: count}``, the larger branch of each ``if``; None when a count
    is not known before the region runs (a ``while`` loop that pushes, a loop whose body's
    count changes from one iteration to the next)."""
    total = {}
    for s in stmts:
        kind = push_kind(s)
        if kind is not None:
            c = {kind: 1}
        elif isinstance(s, ir.If):
            a, b = push_bound(s.body, push_kind), push_bound(s.orelse, push_kind)
            if a is None or b is None:
                return None
            c = {k: _max(a.get(k, 0), b.get(k, 0)) for k in set(a) | set(b)}
        elif isinstance(s, ir.For):
            body = push_bound(s.body, push_kind)
            if body is None:
                return None
            if body and {v for n in body.values() if isinstance(n, ir.Expr) for v in ir.expr_vars(n)} \
                    & (ir.assigned_names(s.body) | {s.var.name}):
                return None
            c = {k: _mul(n, trip_count(s)) for k, n in body.items()}
        elif isinstance(s, ir.While):
            if push_bound(s.cond + s.body, push_kind):
                return None
            c = {}
        else:
            c = {}
        for k, n in c.items():
            total[k] = _add(total.get(k, 0), n)
    return total
