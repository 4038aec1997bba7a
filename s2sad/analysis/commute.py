"""Loops whose iterations commute: reversed loops of the reverse sweep that may run forward.

The reverse sweep runs a loop's adjoint backwards (``for c in range(n - 1, -1, -1)``) because
its iterations pop what the forward sweep pushed, in the opposite order, and because adjoints
flow from later iterations to earlier ones. Many reversed loops do neither: they read primal
values (recomputed or unchanged), and only add into adjoints (GMM's
``means_bar[k, c] += -(qx_bar * icf[k, idx])`` over ``c``). Such a loop gives the same sums in
either order (up to the rounding of a sum's order), and a loop running forward is what the CPU
prefetches and what LLVM compiles best: GMM's gradient took 6-9% longer with its inner loop
over ``c`` backwards. ``order_free`` says whether a loop is one of them; ``backend/tidy.py`` runs the
reversed loops (``For.reversal``) that are forward, once the code is tidy (an adjoint set to
zero at the end of each iteration and added into at the next is then a plain assignment),
where ``forward_pays``.

An iteration of an order-free loop
- pops nothing, calls nothing with effects (user functions, generated VJPs), jumps nowhere;
- writes arrays only by ``+=``/``-=`` (``a_bar[i] += e``), into arrays the compiler made
  (adjoints), and reads no array the compiler made: the arrays it reads (the user's) and those
  it writes (adjoints, perhaps views of one another) are then never the same memory;
- assigns scalars only: accumulators (``s_bar += e``, read nowhere else in the loop), or
  temporaries assigned before they are read in the iteration and not read after the loop
  (their last value would be another iteration's); its variable is not read after it either.
"""

from __future__ import annotations

from .. import ir
from ..ir.types import Array, Scalar
from .liveness import live_before, pure

_JUMPS = (ir.Break, ir.Continue, ir.Return, ir.While)


def order_free(loop, live_after, types, made):
    """Whether ``loop``'s iterations may run in any order. ``live_after``: the names read after
    the loop before they are assigned; ``made``: the names the compiler made (``fn.made``)."""
    body = loop.body
    stmts = list(ir.walk_stmts(body))
    written, read = set(), set()
    accum_uses, other_reads = {}, set()
    for s in stmts:
        if isinstance(s, _JUMPS) or isinstance(s, (ir.Store, ir.ExprStmt)):
            return False  # an expression evaluated for its effect may write anywhere
        if isinstance(s, ir.For) and (s.exit_flag is not None or s.checkpoint is not None):
            return False
        roots = ir.stmt_roots(s)
        if not all(pure(e) for e in roots):
            return False
        if any(isinstance(x, ir.Method) or (isinstance(x, ir.Call) and x.kwargs)
               for e in roots for x in ir.walk_expr(e)):
            return False  # a method (``a.fill``) or ``out=`` may write into an array
        if isinstance(s, ir.AugStore):
            if s.op not in "+-":
                return False
            written.add(s.array.name)
            roots = [s.value, *s.index]
        elif isinstance(s, ir.AugAssign):
            if s.op not in "+-":
                return False
            t = s.target
            if isinstance(t, ir.Load):
                if not isinstance(t.array, ir.Var):
                    return False
                written.add(t.array.name)
                roots = [s.value, *t.index]
            elif isinstance(types.get(t.name), Array):
                written.add(t.name)
                roots = [s.value]
            else:
                accum_uses[t.name] = accum_uses.get(t.name, 0) + 1
                roots = [s.value]
        for e in roots:
            for x in ir.walk_expr(e):
                if isinstance(x, ir.Var):
                    other_reads.add(x.name)
                    if isinstance(types.get(x.name), Array):
                        read.add(x.name)
    if not written <= set(made) or read & set(made):
        return False  # an adjoint read (perhaps a view of one written here), a user array written
    assigned = ir.assigned_names(body)
    if any(not isinstance(types.get(v), Scalar) for v in assigned):
        return False  # an array (a view) made in the loop
    if written & assigned:
        return False
    accumulators = {v for v in accum_uses if v not in other_reads
                    and not any(v in ir.stmt_defs(s) for s in stmts if not isinstance(s, ir.AugAssign))}
    local = (assigned - accumulators) | {loop.var.name}
    if local & set(live_after):
        return False
    return not ((local - {loop.var.name}) & live_before(body, types))


def forward_pays(loop):
    """Whether running ``loop`` forward is worth it: on every path through an iteration, each
    array is added into by one statement (and not in an inner loop). An array added into at two
    places (Rosenbrock's ``x_bar[i] += a``, ``x_bar[i + 1] += b``) may have an element added
    into by consecutive iterations; backwards, the reverse sweep mirrors the forward sweep's
    order of accesses, which keeps the store of that element and its next load apart, where
    forward they come back to back (Rosenbrock's reverse sweep took 1.5 times as long
    forward)."""
    return all(n <= 1 for n in _adds_per_path(loop.body).values())


def _adds_per_path(stmts):
    """array -> the most statements adding into it on one path through ``stmts`` (2 for any
    inside a loop)."""
    out = {}

    def add(counts):
        for k, n in counts.items():
            out[k] = out.get(k, 0) + n

    for s in stmts:
        if isinstance(s, ir.AugStore):
            add({s.array.name: 1})
        elif isinstance(s, ir.AugAssign) and isinstance(s.target, ir.Load) and isinstance(s.target.array, ir.Var):
            add({s.target.array.name: 1})
        elif isinstance(s, ir.If):
            a, b = _adds_per_path(s.body), _adds_per_path(s.orelse)
            add({k: max(a.get(k, 0), b.get(k, 0)) for k in set(a) | set(b)})
        elif isinstance(s, (ir.For, ir.While)):
            add({k: 2 for k in _adds_per_path(list(ir.walk_stmts(s.body)))})
    return out
