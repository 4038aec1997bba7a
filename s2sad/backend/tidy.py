"""Tidying generated code: dead stores, accumulations into a known zero, folding.

Derivative code is written one statement at a time, without looking ahead: an adjoint starts
at zero and is accumulated into, and is set back to zero where its variable is overwritten,
whether or not anything reads it afterwards; jump removal sets flags that only some paths
read. Correct, and noisy (``_t5_bar = s_bar; _g2 = _t5_bar; _t5_bar = 0.0``). Three passes,
run in turn until none changes anything:

- ``accumulate_into_zero``: ``x_bar += e`` where ``x_bar`` surely holds the ``0.0`` it was
  set to becomes ``x_bar = e``, which leaves that ``0.0`` unread;
- ``remove_dead_stores``: an assignment to a name the compiler made (``fn.made``) that no
  path reads before it is assigned again is dropped, when evaluating its value does nothing
  else (the user's own variables are kept as written);
- ``unpack_results``: ``_r = f(...)`` whose items are each read once, at once, becomes
  ``a, b = f(...)``;
- ``fold.fold_function``: temporaries substituted into their one use.

Then the reverse sweep's loops whose iterations commute run forward (``run_forward``).

None changes a value the function returns or writes into an array (``0.0 + e`` is ``e`` for a
float64 ``e``, but for the sign of a zero; see ``float64_only`` for why float32 code is left
alone).
"""

from __future__ import annotations

from .. import ir
from ..ir.types import Array, Scalar, Tuple
from ..analysis.commute import forward_pays, order_free
from ..analysis.liveness import DeadStores, live_after_loops
from .fold import fold_function, reads_all


def tidy(fn):
    """Tidy ``fn`` in place; returns it."""
    for _ in range(50):
        before = _size(fn)
        changed = accumulate_into_zero(fn)
        changed |= remove_dead_stores(fn)
        changed |= unpack_results(fn)
        fold_function(fn)
        if not changed and _size(fn) == before:
            break
    run_forward(fn)
    return fn


# ---------------------------------------------------------------- loops run forward


def run_forward(fn):
    """The reversed loops of the reverse sweep (``For.reversal``) whose iterations commute
    (``analysis/commute.py``) run forward where that pays, in place: ``range(n - 1, -1, -1)``
    becomes ``range(n)``. Returns whether any did."""
    loops = [s for s in ir.walk_stmts(fn.body) if isinstance(s, ir.For) and s.reversal
             and isinstance(s.step, ir.Const) and s.step.value == -1]
    if not loops:
        return False
    after = live_after_loops(fn.body, fn.types, loops)
    changed = False
    for s in loops:
        if id(s) in after and forward_pays(s) and order_free(s, after[id(s)], fn.types, fn.made):
            s.start, s.stop, s.step = _plus_one(s.stop), _plus_one(s.start), ir.Const(1)
            s.reversal = False
            changed = True
    return changed


def _plus_one(e):
    """``e + 1``, written plainly where ``e`` is a number, ``a - 1`` or ``a + (b - 1)``."""
    def minus_one(x):
        return isinstance(x, ir.BinOp) and x.op == "-" and x.right == ir.Const(1)

    if isinstance(e, ir.Const) and type(e.value) is int:
        return ir.Const(e.value + 1)
    if minus_one(e):
        return e.left
    if isinstance(e, ir.BinOp) and e.op == "+" and minus_one(e.right):
        return ir.BinOp("+", e.left, e.right.left)
    return ir.BinOp("+", e, ir.Const(1))


def _size(fn):
    return sum(1 for _ in ir.walk_stmts(fn.body))


def _scalar_f64(fn, name):
    t = fn.types.get(name)
    return isinstance(t, Scalar) and t.dtype == "float64"


# ---------------------------------------------------------------- dead stores


def remove_dead_stores(fn):
    """Drop, in place, the assignments to compiler-made names that nothing reads (the
    liveness of ``analysis/liveness.py``). Returns whether anything was dropped."""
    dse = DeadStores(fn.types, fn.made.__contains__)
    dse.block(fn.body, set(), delete=True)
    return dse.changed


# ---------------------------------------------------------------- accumulation into zero


def accumulate_into_zero(fn):
    """``x += e`` (or ``-=``) where ``x`` surely holds ``0.0`` becomes ``x = e``: a forward
    analysis of the float64 scalar variables the compiler made that hold zero. Returns whether
    anything changed."""
    if not float64_only(fn):
        return False
    z = _Zeros(fn)
    z.block(fn.body, frozenset(), rewrite=True)
    return z.changed


def float64_only(fn):
    """Whether no value of ``fn`` is float32: ``0.0 + e`` is float64 where ``e`` may be
    float32, so there ``x = e`` would change a type, and with it the rounding downstream."""
    def f32(t):
        if isinstance(t, Tuple):
            return any(f32(x) for x in t.items)
        return isinstance(t, (Scalar, Array)) and t.dtype == "float32"

    if any(f32(t) for t in fn.types.values()):
        return False
    for s in ir.walk_stmts(fn.body):
        for e in ir.stmt_exprs(s):
            if isinstance(e, ir.Call) and e.func == "np.float32" or isinstance(e, ir.Method) and e.name == "astype":
                return False
    return True


class _Zeros:
    def __init__(self, fn):
        self.fn = fn
        self.changed = False

    def block(self, stmts, zero, rewrite):
        """The names surely zero after ``stmts``, given those before."""
        for k, s in enumerate(stmts):
            if isinstance(s, ir.AugAssign) and isinstance(s.target, ir.Var) and s.op in "+-" \
                    and s.target.name in zero and rewrite:
                value = s.value if s.op == "+" else ir.UnaryOp("-", s.value)
                stmts[k] = s = ir.Assign(s.target, value, loc=s.loc, comment=s.comment)
                self.changed = True
            zero = self.stmt(s, zero, rewrite)
        return zero

    def stmt(self, s, zero, rewrite):
        if isinstance(s, ir.Assign):
            name = s.target.name
            is_zero = isinstance(s.value, ir.Const) and type(s.value.value) is float and s.value.value == 0.0
            if is_zero and name in self.fn.made and _scalar_f64(self.fn, name):
                return zero | {name}
            return zero - {name}
        if isinstance(s, (ir.TupleAssign, ir.AugAssign)):
            return zero - set(ir.stmt_defs(s))
        if isinstance(s, ir.If):
            return self.block(s.body, zero, rewrite) & self.block(s.orelse, zero, rewrite)
        if isinstance(s, (ir.For, ir.While)):
            return self.loop(s, zero, rewrite)
        return zero

    def loop(self, s, before, rewrite):
        changed = set(ir.assigned_names([s]))
        if any(isinstance(x, (ir.Break, ir.Continue, ir.Return)) for x in ir.walk_stmts(s.body)):
            head = before - changed  # jumps: what the loop assigns is not known to be zero
        else:
            head = before
            while True:
                end = self.iteration(s, head, False)[1]
                if head <= end:
                    break
                head = head & end
        after_test, _ = self.iteration(s, head, rewrite)
        return after_test - ({s.var.name} if isinstance(s, ir.For) else set())

    def iteration(self, s, head, rewrite):
        """(zero where the loop may exit, zero at the end of the body) for ``head`` at the top."""
        if isinstance(s, ir.For):
            return head, self.block(s.body, head - {s.var.name}, rewrite)
        after_cond = self.block(s.cond, head, rewrite)
        return after_cond, self.block(s.body, after_cond, rewrite)


# ---------------------------------------------------------------- unpacking results


def unpack_results(fn):
    """``_r = f(...)`` (a temporary holding a tuple of ``n`` items) followed at once by the ``n``
    reads of it, ``a = _r[0]``, ``b = _r[1]``, ..., becomes ``a, b = f(...)``. Returns whether
    anything changed."""
    reads = reads_all(fn.body)
    changed = False
    for blk in [fn.body] + [b for s in ir.walk_stmts(fn.body) for b in ir.child_blocks(s)]:
        i = 0
        while i < len(blk):
            n = _unpackable(fn, blk, i, reads)
            if n:
                s, items = blk[i], blk[i + 1:i + 1 + n]
                targets = tuple(u.target for u in sorted(items, key=lambda u: u.value.index))
                blk[i:i + 1 + n] = [ir.TupleAssign(targets, s.value, loc=s.loc, comment=s.comment)]
                changed = True
            i += 1
    return changed


def _unpackable(fn, blk, i, reads):
    """The number of items of the tuple ``blk[i]`` assigns, when the statements after it read
    each once into distinct variables and nothing else reads it; else 0."""
    s = blk[i]
    if not (isinstance(s, ir.Assign) and s.target.name in fn.temps and isinstance(s.value, (ir.Call, ir.CallUser))):
        return 0
    t = fn.types.get(s.target.name)
    n = len(t.items) if isinstance(t, Tuple) else 0
    items = blk[i + 1:i + 1 + n]
    if n < 2 or len(items) < n or reads.get(s.target.name) != n:
        return 0
    if not all(isinstance(u, ir.Assign) and isinstance(u.value, ir.TupleGet) and u.value.tuple == s.target
               and not u.inplace for u in items):
        return 0
    if {u.value.index for u in items} != set(range(n)) or len({u.target.name for u in items} | {s.target.name}) != n + 1:
        return 0
    return n
