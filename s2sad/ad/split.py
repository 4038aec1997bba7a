"""Split mode for helper calls (Tapenade's split vs joint).

In joint mode a helper's VJP runs the helper's whole forward sweep again inside its caller's
reverse sweep, then its reverse sweep: the helper's work is done twice (once by the primal call
of the caller's forward sweep). In split mode the helper's derivative is two functions made from
one reverse-mode transformation:

- ``h_fwd(args..., tapes and tops)`` runs the forward sweep once, in the caller's forward sweep
  in place of the primal call: it computes ``h(args)`` and records on the caller's tapes what
  its reverse sweep reads (the values about to be overwritten, as in joint mode, and at its end
  the values its reverse sweep reads first: ``qx``'s last value, the last branch flag). It
  returns ``(h(args...), tape, top, ...)``;
- ``h_rev(args..., out_bar, adjoints..., tapes and tops)`` runs in the caller's reverse sweep,
  pops what ``h_fwd`` pushed, and propagates the adjoints. Values its reverse sweep reads that
  are computed from unchanged parameters alone (``_n = max(d, 0)``) are computed again rather
  than recorded.

Arrays the helper writes into are left, by ``h_rev``, as ``h_fwd`` found them (their element
writes are recorded, as in joint mode), so the caller neither records nor restores their whole
contents around the call: at that point of its reverse sweep they hold what the call left.

The caller sizes its tapes with what ``h_fwd`` records (``analysis/tapesize.py``'s count of
``h_fwd``'s pushes, in its parameters, with the call's arguments substituted); where that count
is not known before the call, the caller makes room after it instead. A helper whose reverse
sweep needs nothing from its forward sweep stays joint (its faint forward sweep is dropped).
"""

from __future__ import annotations

from .. import ir
from ..analysis.activity import value_reads
from ..analysis.liveness import drop_faint, live_before, pure
from ..analysis.recording import RECOMPUTE_EXPR, cheap
from ..analysis.tapesize import Counter, assigned, free_names, substitute
from ..ir.types import Array, Scalar, Tuple
from .derive import zero_like
from .tape import KINDS, placeholder


class SplitCall:
    """What a caller needs to call a helper in split mode."""

    def __init__(self, fwd, rev, count, params, fwd_back=(), rev_back=()):
        self.fwd = fwd
        self.rev = rev
        # what each hands back after its value (h_fwd) or adjoints (h_rev): (kind, 0) a tape it
        # grew, (kind, 1) a tape's top
        self.fwd_back = list(fwd_back)
        self.rev_back = list(rev_back)
        self.count = count  # {kind: (peak, net)} of h_fwd in its parameters, or None (unknown)
        self.params = params  # the helper's parameters, which ``count`` is written in


class SplitSweeps:
    """The split-mode half of ``ad.reverse.Reverse``: assembling ``h_fwd``/``h_rev`` from the
    sweeps of one transformation, and calling them from a caller's sweeps."""

    # ------------------------------------------------------------ the helper's two functions

    def assemble_split(self, names, fwd, init, rev):
        """``(h_fwd, h_rev, count)`` from the sweeps, or None when joint mode is the better
        (or the only) choice."""
        fn = self.fn
        if any(isinstance(s, ir.For) and s.checkpoint is not None for s in ir.walk_stmts(fn.body)):
            return None  # a checkpointed loop's reversal replays its forward sweep anyway
        fwd_name, rev_name = names
        epilogue = self.split_epilogue(dry=True)
        live = live_before(init + rev + epilogue, self.types)
        self.shared = list(KINDS)  # every tape is the caller's
        fwd_assigned = assigned(fwd) | {s.target.name for s in self.prologue() if isinstance(s, ir.Assign)}
        passed = {p for p in fn.params if p not in fwd_assigned} | {self.out_bar} \
            | {self.bname(p) for p in self.inout} | {n for pair in self.tapes.names.values() for n in pair}
        carried = sorted(v for v in live - passed if not self._is_adjoint_name(v))
        if any(self._is_adjoint_name(v) for v in live - passed):
            return None
        recipes = self.recomputable_at_entry(fwd, carried)
        kept = [v for v in carried if v not in recipes]
        if any(not _recordable(self.types.get(v)) for v in kept):
            return None  # an array (perhaps a view of an argument) is not copied across: joint
        if not kept and not self.tapes.used:
            return None  # nothing to carry from one sweep to the other: joint costs the same
        loc = fn.loc
        pushes = [x for v in kept for x in self.push_stmts(v, loc)]
        pops = [x for v in reversed(kept) for x in self.pop_stmts(v, loc)]
        self.shared = sorted(self.tapes.used)
        tapes = [ir.Var(n) for k in self.shared for n in self.tapes.names[k]]
        names_of = {n: (k, m) for k in self.shared for m, n in enumerate(self.tapes.names[k])}
        out_val = ir.Var(self.out_var) if self.out_var else ir.Const(0.0)

        # h_fwd: the forward sweep, what the reverse sweep reads first, the value
        head = ir.Comment(text="-- forward sweep (split mode: its reverse sweep is "
                               f"{rev_name}) --")
        before = {s.target.name for s in self.prologue() if isinstance(s, ir.Assign)}
        top = [ir.Assign(ir.Var(v), _placeholder_of(self, v), loc=loc) for v in kept
               if not self._assigned_at_top(fwd, v) and v not in fn.params and v not in before]
        fbody = [head] + top + fwd + pushes
        drop_faint(fbody, live_before([ir.Return(ir.TupleMake((out_val,) + tuple(tapes)))], self.types),
                   self.types)
        count = self._entry_count(fbody, fwd)
        # its caller makes room for what it pushes where that is known before the call: then it
        # neither grows the tapes nor hands them back (no array passed back per call)
        fbody = self.prologue() + self.tapes.make_room(fbody, reserved=count is not None)
        fback = self._handed_back(fbody, tapes)
        fret = ir.Return(ir.TupleMake((out_val,) + tuple(fback)), loc=loc)
        fbody.append(fret)
        fdoc = (f"Forward sweep of the reverse-mode derivative of {fn.name} (split mode). Generated "
                f"by s2sad.\n\nCalled by generated code in its forward sweep: computes "
                f"{fn.name}(...) and records on its caller's tapes what {rev_name} reads"
                + (" (its caller made room for it)" if count is not None else "") + ". Returns "
                f"({fn.name}(...), " + ", ".join(t.name for t in fback) + ").")
        fparams = list(fn.params) + [t.name for t in tapes]
        h_fwd = ir.Function(fwd_name, fparams, fbody, loc=loc, docstring=fdoc, regions={"forward": head})

        # h_rev: what h_fwd recorded last, the cheap values again, the reverse sweep
        rhead = ir.Comment(text=f"-- reverse sweep (split mode: its forward sweep is {fwd_name}) --")
        again = [ir.Assign(ir.Var(v), d.value, loc=d.loc) for v, d in recipes.items()]
        again.sort(key=lambda s: self._fwd_order(fwd, s.target.name))
        rbody = [rhead] + pops + again + init + rev
        rbody = self.tapes.make_room(rbody)
        rback = self._handed_back(rbody, tapes)
        rbody += self.split_epilogue(back=rback)
        wrt_txt = ", ".join(self.wrt)
        acc = [self.bname(p) for p in self.inout]
        back = [self.bname(p) or p + "_bar" for p in self.wrt if p not in self.inout] + [t.name for t in rback]
        rdoc = (f"Reverse sweep of the reverse-mode derivative of {fn.name} with respect to "
                f"({wrt_txt}) (split mode). Generated by s2sad.\n\nCalled by generated code in its "
                f"reverse sweep for the output adjoint {self.out_bar}: pops what {fwd_name} "
                f"recorded" + (f"; accumulates into {', '.join(acc)} in place" if acc else "")
                + (f". Returns ({', '.join(back)}{',' if len(back) == 1 else ''})." if back else "."))
        rparams = list(fn.params) + [self.out_bar] + [self.bname(p) for p in self.inout] + [t.name for t in tapes]
        h_rev = ir.Function(rev_name, rparams, rbody, loc=loc, docstring=rdoc, regions={"reverse": rhead})
        types = self.derived_types()
        h_fwd.types, h_rev.types = types, dict(types)
        self.handed_back = ([names_of[t.name] for t in fback], [names_of[t.name] for t in rback])
        return self.namer.mark(h_fwd, fn), self.namer.mark(h_rev, fn), count

    def _handed_back(self, body, tapes):
        """The tapes' tops, and the tapes a body may grow (assigns)."""
        grown = assigned(body)
        return [t for k, t in enumerate(tapes) if k % 2 == 1 or t.name in grown]

    def split_epilogue(self, dry=False, back=None):
        """``h_rev``'s return: the adjoints it does not accumulate in place, the tapes it grew
        and the tops (``dry``: all tapes used so far, before the set is final)."""
        items = []
        for p in self.wrt:
            if p in self.inout:
                continue
            b = self.bname(p)
            items.append(ir.Var(b) if b is not None else _zero(self, p))
        if back is None:
            back = [ir.Var(n) for k in sorted(self.tapes.used) for n in self.tapes.names[k]]
        items += back
        return [ir.Return(ir.TupleMake(tuple(items)), loc=self.fn.loc)] if items else []

    def stable_values(self, fwd):
        """Top-level assignments of the forward sweep computing, from parameters it never
        changes (or from such values), a number the reverse sweep can compute again anywhere:
        name -> assignment."""
        defs = {}
        for s in ir.walk_stmts(fwd):
            for n in ir.stmt_defs(s):
                defs[n] = defs.get(n, 0) + 1
        writes = ir.stored_arrays(fwd) | set(self.stored)
        stable = {p for p in self.fn.params if p not in defs}
        recipes = {}
        for s in fwd:
            if not isinstance(s, ir.Assign) or defs.get(s.target.name) != 1 or s.inplace:
                continue
            v = s.target.name
            if not isinstance(s.value, RECOMPUTE_EXPR + (ir.Const,)) or not pure(s.value):
                continue
            if not cheap(self.types.get(v), s.value) and self.types.get(v) is not None:
                continue
            if not set(ir.expr_vars(s.value)) <= stable:
                continue
            if _reads_contents(s.value, writes):
                continue  # ``np.mean(w) > 0.25`` where the helper writes into ``w``: h_rev
                # would read what the helper left there, not what it read
            stable.add(v)
            recipes[v] = s
        return recipes

    def recomputable_at_entry(self, fwd, carried):
        """Of the values ``h_rev`` reads first, those ``stable_values`` gives: computed again at
        its start (with the values they read), not recorded. Returns name -> assignment."""
        recipes = self.stable_values(fwd)
        out, todo = {}, [v for v in carried if v in recipes]
        while todo:
            v = todo.pop()
            if v not in out:
                out[v] = recipes[v]
                todo.extend(w for w in ir.expr_vars(recipes[v].value) if w in recipes)
        return out

    def _assigned_at_top(self, fwd, v):
        return any(isinstance(s, (ir.Assign, ir.TupleAssign)) and v in ir.stmt_defs(s) for s in fwd)

    def _fwd_order(self, fwd, v):
        for k, s in enumerate(fwd):
            if isinstance(s, ir.Assign) and s.target.name == v:
                return k
        return len(fwd)

    def _entry_count(self, body, fwd):
        """What ``h_fwd`` pushes, in its parameters, or None when that is not known at entry
        (values computed from unchanged parameters, ``_t2 = v.shape[0]``, are written out)."""
        c = Counter(self.tapes.push_kind, self.tapes.pop_kind, self.tapes.calls).count(body)
        if c is None:
            return None
        stable = self.stable_values(fwd)
        for _ in range(len(stable) + 1):
            names = free_names(c) & set(stable)
            if not names:
                break
            mapping = {n: stable[n].value for n in names}
            c = {k: (substitute(p, mapping), substitute(n, mapping)) for k, (p, n) in c.items()}
        if free_names(c) & assigned(body) or not free_names(c) <= set(self.fn.params):
            return None
        # a count that reads an array's contents could change before the call, after the
        # caller made room (a caller's store is no assignment): only shapes and numbers
        for pair in c.values():
            for n in pair:
                if isinstance(n, ir.Expr) and _reads_contents(n, {
                        v for v in ir.expr_vars(n) if isinstance(self.types.get(v), Array)}):
                    return None
        return {k: v for k, v in c.items() if k in ("f", "i")}

    # ------------------------------------------------------------ calling a helper in split mode

    def split_tapes(self, info):
        out = []
        for kind in info.tapes:
            self.tapes.used.add(kind)
            out += [ir.Var(n) for n in self.tapes.names[kind]]
        return out

    def take_tapes(self, back, r, first, loc):
        """``tape = r[first]; top = r[first + 1]; ...``: the tapes and tops a split helper hands
        back (``back``: (kind, 0) for a tape, (kind, 1) for a top)."""
        return [ir.Assign(ir.Var(self.tapes.names[kind][m]), ir.TupleGet(r, first + j), loc=loc)
                for j, (kind, m) in enumerate(back)]

    def back_types(self, back):
        return [Array(KINDS[kind][2], 1) if m == 0 else Scalar("int64") for kind, m in back]

    def _call_count(self, info, call, sign):
        c = info.split.count
        if c is None:
            return None
        mapping = dict(zip(info.split.params, call.args))
        out = {}
        for k, (peak, net) in c.items():
            net = substitute(net, mapping)
            out[k] = (substitute(peak, mapping), net) if sign > 0 else (0, _neg(net))
        return out

    def fwd_split_call(self, s, call, info, out):
        """The forward sweep of ``t = h(args)`` (or of ``h(args)``) in split mode: ``h_fwd``
        computes the value and records; the old value of ``t`` is recorded after it (so that it
        is restored before ``h_rev`` reads the arguments)."""
        r = ir.Var(self.namer.temp("_r"))
        stmt = ir.Assign(r, ir.Call(info.split.fwd, tuple(call.args) + tuple(self.split_tapes(info))), loc=s.loc)
        self.tapes.count_call(stmt, self._call_count(info, call, +1))
        out.append(stmt)
        out.extend(self.take_tapes(info.split.fwd_back, r, 1, s.loc))
        self.result_types[r.name] = Tuple((info.ret,) + tuple(self.back_types(info.split.fwd_back)))
        return ir.TupleGet(r, 0)

    def rev_split_call(self, s, call, info, g, inout_bars, out):
        returned = [k for k in info.active if k not in info.inout]
        r = ir.Var(self.namer.temp("_r"))
        stmt = ir.Assign(r, ir.Call(info.split.rev, tuple(call.args) + (g,) + tuple(inout_bars)
                                    + tuple(self.split_tapes(info))), loc=s.loc)
        self.tapes.count_call(stmt, self._call_count(info, call, -1))
        out.append(stmt)
        out.extend(self.take_tapes(info.split.rev_back, r, len(returned), s.loc))
        for j, k in enumerate(returned):
            a = call.args[k]
            out.append(self.accumulate(a, ir.TupleGet(r, j), self.types[a.name], s.loc))
        self.result_types[r.name] = Tuple(tuple(self.types[call.args[k].name] for k in returned)
                                          + tuple(self.back_types(info.split.rev_back)))


def _reads_contents(e, arrays):
    """Whether evaluating ``e`` reads the elements of an array in ``arrays`` (``w[i]``,
    ``np.mean(w)``, ``w @ w``), not only its shape (``w.shape``, ``len(w)``,
    ``np.zeros_like(w)``, which element writes leave as they are): ``activity.value_reads``."""
    return not arrays.isdisjoint(value_reads(ir.ExprStmt(e)))


def _recordable(t):
    """Numbers and tuples of numbers."""
    if isinstance(t, Tuple):
        return all(_recordable(x) for x in t.items)
    return t is None or isinstance(t, Scalar)


def _placeholder_of(rev, v):
    return placeholder(rev.types.get(v))


def _zero(rev, p):
    return zero_like(ir.Var(p), rev.types[p])


def _neg(e):
    if isinstance(e, int):
        return -e
    return ir.UnaryOp("-", e)
