"""Liveness over structured statements, and the dead stores it finds.

One backward analysis (to a fixed point around loops; ``break``/``continue`` go where they
jump) serves two passes: the backend's tidying drops assignments to names the compiler made
that nothing reads (``backend/tidy.py``), and reverse mode drops the *faint* statements of a
VJP's forward sweep, user variables included: those whose value no reverse-sweep read, no
recorded value and no returned value needs (Tapenade's diff-liveness; a helper's own result
``total += qx * qx`` when its caller already has that result). The two differ only in which
names may be dropped.

What is never dropped: stores into arrays (an array may be a view of another), assignments
whose value has an effect (a call of a user function or of generated code: it may write into
arrays or onto a tape), ``x += e`` on an array, and the array-rebinding copies kept whole for
``analysis/rebind.py``.
"""

from __future__ import annotations

from .. import ir
from ..ir.types import Scalar
from ..primitives import RULES


def pure(e):
    """Whether evaluating ``e`` has no effect but its value: primitives only (a call of a user
    function or of a generated derivative may write into arrays)."""
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ir.CallUser):
            return False
        if isinstance(x, ir.Call) and not (x.func in RULES or x.func.startswith(("np.", "math."))):
            return False
        if x is not None:
            stack.extend(ir.sub_exprs(x))
    return True


class _Loop:
    def __init__(self, after):
        self.after = after  # live after the loop: where a break goes
        self.head = set()  # live at the top of an iteration: where a continue goes


class DeadStores:
    """``block(stmts, live_after, delete)`` -> the names live before ``stmts``; with
    ``delete``, drops (in place) the assignments to names ``droppable(name)`` allows that no
    path reads before they are assigned again. ``types``: name -> type (``x += e`` writes into
    ``x`` when it is an array). ``prune``: loops and branches left without statements go too
    (a ``for`` whose variable is not read after it). ``faint``: a droppable statement's reads
    make names live only if what it assigns is live (strong liveness: ``s = s + x`` in a loop
    keeps neither ``s`` nor ``x`` alive when nothing after the loop reads ``s``)."""

    def __init__(self, types, droppable, prune=False, faint=False):
        self.types = types
        self.droppable = droppable
        self.prune = prune
        self.faint = faint
        self.changed = False

    def removable(self, s, names, live):
        """Whether ``s``, which assigns ``names``, may go: none is read later, each may be
        dropped, and its value has no effect (an array updated in place is an effect)."""
        if any(n in live or not self.droppable(n) for n in names):
            return False
        if isinstance(s, ir.Assign):  # `x += e` on an array writes into it
            return (not s.inplace or isinstance(self.types.get(s.target.name), Scalar)) \
                and pure(s.value) and not self.rebinds_array(s)
        if isinstance(s, ir.TupleAssign):
            return pure(s.value)
        if isinstance(s, ir.AugAssign):  # `x += e` writes into x when x is an array
            return isinstance(s.target, ir.Var) and isinstance(self.types.get(s.target.name), Scalar) \
                and pure(s.value)
        return False

    def rebinds_array(self, s):
        """``a_bar = _swap3``, for all the analysis knows of an array: kept, with the rest of its
        swap, so that generated code differentiated again still shows whole permutations of
        array names (``analysis/rebind.py``) and no partial aliasing."""
        if not isinstance(s.value, ir.Var):
            return False
        return not any(isinstance(self.types.get(n), Scalar) for n in (s.target.name, s.value.name))

    def unread_call(self, s, names, live):
        """Whether ``s`` keeps in droppable names, that nothing reads, the result of a call that
        has effects (a helper's VJP that accumulates into arrays)."""
        return isinstance(s, (ir.Assign, ir.TupleAssign)) and isinstance(s.value, (ir.Call, ir.CallUser)) \
            and not (isinstance(s, ir.Assign) and s.inplace) \
            and all(n not in live and self.droppable(n) for n in names)

    def block(self, stmts, live, loops=(), delete=False):
        """Live names before ``stmts``, given those live after; drops dead stores when asked."""
        loops = list(loops)
        for k in range(len(stmts) - 1, -1, -1):
            s = stmts[k]
            names = ir.stmt_defs(s) if isinstance(s, (ir.Assign, ir.TupleAssign, ir.AugAssign)) else []
            if names and (delete or self.faint) and self.removable(s, names, live):
                if delete:
                    if s.comment and k + 1 < len(stmts) and not stmts[k + 1].comment:
                        stmts[k + 1].comment = s.comment
                    del stmts[k]
                    self.changed = True
                continue  # faint: what it reads is live only for its own sake
            if names and delete and self.unread_call(s, names, live):
                stmts[k] = s = ir.ExprStmt(s.value, loc=s.loc, comment=s.comment)  # the call stays
                self.changed = True
            before = self.stmt(s, live, loops, delete)
            if delete and self.prune and self._empty(s, live):
                del stmts[k]
                self.changed = True
                continue
            live = before
        return live

    def _empty(self, s, live):
        """A branch or a ``for`` loop left with nothing to do (comments aside)."""
        if isinstance(s, ir.If):
            return not _has_code(s.body) and not _has_code(s.orelse) and pure(s.test)
        if isinstance(s, ir.For):
            return not _has_code(s.body) and s.exit_flag is None and s.checkpoint is None \
                and s.var.name not in live and all(pure(b) for b in (s.start, s.stop, s.step))
        return False

    def stmt(self, s, live, loops, delete):
        reads = set(ir.stmt_reads(s))
        if isinstance(s, (ir.Assign, ir.TupleAssign)):
            return (live - set(ir.stmt_defs(s))) | reads
        if isinstance(s, ir.Return):
            return reads
        if isinstance(s, ir.Break):
            return set(loops[-1].after)
        if isinstance(s, ir.Continue):
            return set(loops[-1].head)
        if isinstance(s, ir.If):
            return self.block(s.body, live, loops, delete) | self.block(s.orelse, live, loops, delete) | reads
        if isinstance(s, (ir.For, ir.While)):
            return self.loop(s, live, loops, delete) | reads
        return live | reads  # AugAssign (reads its target), stores, calls, comments

    def loop(self, s, after, loops, delete):
        """Live before the loop: the least fixed point of what an iteration reads before it
        assigns, given what is live at the top of the next iteration and after the loop."""
        ctx = _Loop(after)
        while True:
            top = self.iteration(s, ctx, loops, False)
            if top <= ctx.head:
                break
            ctx.head |= top
        if delete:
            self.iteration(s, ctx, loops, True)
        return ctx.head

    def iteration(self, s, ctx, loops, delete):
        """Live at the top of an iteration, given ``ctx``."""
        end = ctx.head | (ctx.after | {s.exit_flag} if s.exit_flag else set())
        body_in = self.block(s.body, end, loops + [ctx], delete)
        if isinstance(s, ir.For):  # the top either leaves the loop or sets its variable
            return ctx.after | (body_in - {s.var.name})
        test = ctx.after | body_in | set(ir.expr_vars(s.test))
        return self.block(s.cond, test, loops + [ctx], delete)


def live_before(stmts, types):
    """The names some path through ``stmts`` reads before assigning them."""
    return DeadStores(types, lambda name: False).block(stmts, set())


class _LoopExits(DeadStores):
    """Liveness that notes, for the loops asked about, what is live where each one exits."""

    def __init__(self, types, loops):
        super().__init__(types, lambda name: False)
        self.loops = loops
        self.after = {}

    def loop(self, s, after, loops, delete):
        if id(s) in self.loops:  # called again by enclosing loops' fixed points: the union
            self.after.setdefault(id(s), set()).update(after)
        return super().loop(s, after, loops, delete)


def live_after_loops(stmts, types, loops):
    """id(loop) -> the names some path reads after that loop (of ``loops``, anywhere in
    ``stmts``) before assigning them."""
    walker = _LoopExits(types, {id(x) for x in loops})
    walker.block(stmts, set())
    return walker.after


def drop_faint(stmts, live_after, types):
    """Faint-variable elimination, in place: the statements of ``stmts`` (a VJP's forward
    sweep) whose values nothing live after them (``live_after``: what the reverse sweep reads
    before assigning, the values returned) needs, and the loops and branches left empty.
    Returns whether anything was dropped."""
    dropped = False
    for _ in range(10):  # pruning a loop can leave its bounds' temporaries faint in turn
        dse = DeadStores(types, lambda name: True, prune=True, faint=True)
        dse.block(stmts, set(live_after), delete=True)
        if not dse.changed:
            break
        dropped = True
    return dropped


def _has_code(stmts):
    return any(not isinstance(s, (ir.Comment, ir.Pass)) for s in stmts)
