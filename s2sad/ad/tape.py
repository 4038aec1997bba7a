"""The tapes of one generated VJP, and the pass that makes every push safe.

Four typed stacks (numpy arrays with a top index), created only when used:

- ``_ftape``/``_ft``: float scalars; ``_itape``/``_it``: ints, bools, trip counts, array shapes.
  Their pushes are counted by ``analysis/tapesize.py``: before each region whose count is
  known, one ``_reserve_f(_ftape, _ft + count)`` makes room for all of it, and the pushes
  inside are plain stores (``_ftape[_ft] = x; _ft += 1``). Every push lies in such a region:
  a push is a region of one, and a loop whose count is unknown gets its room made at the
  start of each iteration. So no store can pass the end of a tape, by construction.
- ``_atape``/``_at`` (float arrays) and ``_aitape``/``_ait`` (int and bool arrays): array
  contents, whose sizes are known only when pushed; each push checks capacity and grows the
  tape (an O(n) copy is paid anyway).
"""

from __future__ import annotations

from .. import ir
from ..ir.types import Array, DType, Tuple
from ..analysis.tapesize import Counter, add_counts, as_expr, assigned, free_names, peak

#: kind -> (tape base name, top base name, dtype, push helper, reserve helper)
KINDS = {
    "f": ("_ftape", "_ft", "float64", "_push_f", "_reserve_f"),
    "i": ("_itape", "_it", "int64", "_push_i", "_reserve_i"),
    "a": ("_atape", "_at", "float64", None, "_reserve_f"),
    "ai": ("_aitape", "_ait", "int64", None, "_reserve_i"),
}
_BY_HELPER = {v[3]: k for k, v in KINDS.items()}


class Tapes:
    def __init__(self, fresh, dtype_const):
        self.names = {k: (fresh(t), fresh(top)) for k, (t, top, *_rest) in KINDS.items()}
        self.dtype_const = dtype_const
        self.used = set()
        self.header = None  # the comment opening the allocations, once made
        self.calls = {}  # id(call of a split helper's sweep) -> (that call, its count or None)

    # ------------------------------------------------------------ pushes and pops

    def push(self, kind, value, loc):
        """Statements that push ``value``. A scalar: ``tape, top = _push_x(tape, top, value)``,
        which ``make_room`` turns into a plain store covered by a reservation. An array's
        contents: room for them, a slice store, the top moved (no tuple, so that generated code
        differentiated again sees plain array operations)."""
        tape, top = self.names[kind]
        self.used.add(kind)
        if kind in ("f", "i"):
            return [ir.TupleAssign((ir.Var(tape), ir.Var(top)),
                                   ir.Call(KINDS[kind][3], (ir.Var(tape), ir.Var(top), value)), loc=loc)]
        n = ir.Attr(value, "size")
        end = ir.BinOp("+", ir.Var(top), n)
        return [ir.Assign(ir.Var(tape), ir.Call(KINDS[kind][4], (ir.Var(tape), end)), loc=loc),
                ir.Store(ir.Var(tape), (ir.Slice(ir.Var(top), end, None),), ir.Method(value, "ravel", ()), loc=loc),
                ir.AugAssign(ir.Var(top), "+", n, loc=loc)]

    def pop(self, kind, loc):
        """Statements that pop one scalar entry, and the expression of its value."""
        tape, top = self.names[kind]
        return [ir.AugAssign(ir.Var(top), "-", ir.Const(1), loc=loc)], ir.Load(ir.Var(tape), (ir.Var(top),))

    def pop_flat(self, kind, size, loc):
        """Statements that pop ``size`` entries, and the expression of them as a flat array."""
        tape, top = self.names[kind]
        flat = ir.Load(ir.Var(tape), (ir.Slice(ir.Var(top), ir.BinOp("+", ir.Var(top), size), None),))
        return [ir.AugAssign(ir.Var(top), "-", size, loc=loc)], flat

    def array_kind(self, dtype):
        return "ai" if dtype in ("int64", "bool") else "a"

    # ------------------------------------------------------------ allocation

    def prologue(self, loc, passed=()):
        """Allocate the tapes used, but those ``passed`` in by the caller."""
        out = []
        for kind in KINDS:
            if kind not in self.used or kind in passed:
                continue
            tape, top = self.names[kind]
            dtype = self.dtype_const(KINDS[kind][2])
            out.append(ir.Assign(ir.Var(tape), ir.Call("np.empty", (ir.Const(256 if kind in ("f", "i") else 0),),
                                                       (("dtype", ir.Const(dtype)),)), loc=loc))
            out.append(ir.Assign(ir.Var(top), ir.Const(0), loc=loc))
        if out:
            self.header = ir.Comment(text="-- tapes: values the reverse sweep reads after they are overwritten --")
            out.insert(0, self.header)
        return out

    # ------------------------------------------------------------ making room

    def count_call(self, stmt, count):
        """``stmt`` (a call) pushes or pops ``count`` ({kind: (peak, net)}, None: unknown)."""
        self.calls[id(stmt)] = (stmt, count)

    def push_kind(self, s):
        """Which counted tape (f or i) a statement pushes one entry on."""
        if isinstance(s, ir.TupleAssign) and isinstance(s.value, ir.Call):
            kind = _BY_HELPER.get(s.value.func)
            if kind in ("f", "i") and tuple(t.name for t in s.targets) == self.names[kind]:
                return kind
        return None

    def pop_kind(self, s):
        """Which counted tape a statement pops one entry from (``_ft -= 1``)."""
        if isinstance(s, ir.AugAssign) and s.op == "-" and isinstance(s.target, ir.Var) \
                and isinstance(s.value, ir.Const) and s.value.value == 1:
            for kind in ("f", "i"):
                if s.target.name == self.names[kind][1]:
                    return kind
        return None

    def make_room(self, stmts, reserved=False):
        """The pass: cover every scalar push of ``stmts`` (a whole function body) by one
        reservation, placed as early as its count can be evaluated. ``reserved``: the caller
        made room for all of it before the call (a split helper's forward sweep whose count
        is known at entry, ``ad/split.py``): the pushes are plain stores."""
        if reserved:
            return self._unchecked(stmts)
        return self._plan(stmts, Counter(self.push_kind, self.pop_kind, self.calls))

    def _plan(self, stmts, counter):
        out, run = [], []
        count, names = {}, set()  # the run's count, the names it assigns

        def flush():
            if run:
                out.extend(self._reserve(count, next((x.loc for x in run if x.loc), None)))
                out.extend(self._unchecked(run))
                run.clear()

        rebound = {n for kind in ("f", "i") for n in self.names[kind]}
        for s in stmts:
            if not ir.child_blocks(s) and id(s) not in self.calls and self.push_kind(s) is None \
                    and self.pop_kind(s) is None and assigned([s]) & rebound:
                # a split helper's forward sweep hands back the tapes it grew and their tops
                # (``_ftape = _r[1]``): room made before this would be made in the tape it
                # replaces, counted from the top it replaces
                flush()
                count, names = {}, set()
                out.append(s)
                continue
            c = counter.stmt_count(s)
            if c is not None:
                grown, grown_names = add_counts(count, c), names | assigned([s])
                if not free_names(grown) & grown_names:
                    run.append(s)
                    count, names = grown, grown_names
                    continue
                flush()
                count, names = c, assigned([s])
                if not free_names(c) & names:
                    run.append(s)
                    continue
                # only a compound statement's count can need what it assigns itself
                assert ir.child_blocks(s), "a push whose room cannot be made before it"
            flush()
            count, names = {}, set()
            # a statement whose count is unknown before it runs: make room inside it
            for blk in ir.child_blocks(s):
                blk[:] = self._plan(blk, counter)
            out.append(s)
        flush()
        return out

    def _reserve(self, count, loc):
        out = []
        for kind in ("f", "i"):
            n = peak(count, kind)
            if n == 0:
                continue
            tape, top = self.names[kind]
            grow = KINDS[kind][4]
            need = ir.BinOp("+", ir.Var(top), as_expr(n))
            out.append(ir.Assign(ir.Var(tape), ir.Call(grow, (ir.Var(tape), need)), loc=loc))
        return out

    def _unchecked(self, stmts):
        """The pushes inside a reserved region as plain stores."""
        out = []
        for s in stmts:
            kind = self.push_kind(s)
            if kind is not None:
                tape, top = self.names[kind]
                out.append(ir.Store(ir.Var(tape), (ir.Var(top),), s.value.args[2], loc=s.loc))
                out.append(ir.AugAssign(ir.Var(top), "+", ir.Const(1), loc=s.loc))
                continue
            for blk in ir.child_blocks(s):
                blk[:] = self._unchecked(blk)
            out.append(s)
        return out


def placeholder(t):
    """A value of type ``t`` for a recorded variable before its first assignment."""
    if isinstance(t, Tuple):
        return ir.TupleMake(tuple(placeholder(x) for x in t.items))
    if isinstance(t, Array):
        return ir.Call("np.empty", (ir.Const((0,) * t.ndim),), (("dtype", ir.Const(DType(t.dtype))),))
    return ir.Const({"bool": False, "int64": 0}.get(getattr(t, "dtype", "int64"), 0.0))
