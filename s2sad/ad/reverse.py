"""Reverse mode: IR -> IR, in the shape of Tapenade's adjoint code.

The forward sweep runs the primal code and records, on typed tapes (a float64 and an int64
numpy array), only what the reverse sweep reads after it is overwritten: a variable's old value
just before it is reassigned, an array element before it is written. Branch outcomes and trip
counts are ordinary variables that get the same treatment. The reverse sweep walks the
statements backwards; popping restores each recorded variable, so every primal value an adjoint
statement reads is the one it had at that point of the forward sweep.

Cheap loop temporaries (``t = x[i] ** 2`` inside a loop) are recomputed at the start of the
reversed iteration rather than recorded, when everything they read is unchanged by the loop:
inputs that are never written are read again, not copied.

A helper whose reverse sweep needs values of its forward sweep is called in split mode
(``ad/split.py``: its forward sweep once, in this function's forward sweep, its reverse sweep
in this function's reverse sweep); otherwise its VJP is joint, and the statements of that VJP's
forward sweep that no reverse-sweep read needs are dropped (``analysis/liveness.py``).

What to record is decided by ``analysis/recording.py`` (the to-be-recorded analysis, which
this class inherits) and how much by ``analysis/tapesize.py``. This module is long because it
is the one place that writes both sweeps for every construct the IR has (assignments, stores,
branches, for and while loops, checkpointed loops, calls of helpers and of custom rules,
returns): each construct's forward-sweep recording and its reverse-sweep adjoint sit side by
side, so that the order in which one pushes is visibly the order in which the other pops.
"""

from __future__ import annotations

from .. import ir
from ..analysis.typeinfer import operand_type
from ..analysis.liveness import drop_faint, live_before
from ..analysis.recording import RecordingAnalysis
from ..analysis.tapesize import trip_count
from ..ir.types import Array, Scalar, Tuple
from ..errors import NonDifferentiableError, reporting_internal_errors
from ..primitives import RULES, canonical_call
from .derive import Deriver, MaybeStretched, zero_like
from .split import SplitSweeps
from .tape import KINDS, Tapes, placeholder



class Reverse(RecordingAnalysis, SplitSweeps):
    def __init__(self, spec, namer, callee_info):
        """``spec``: the specialisation (normalised function, types, activity).
        ``callee_info(call)`` -> (vjp name, active arg positions, in-out arg positions,
        mutated arg positions, primal name)."""
        self.spec = spec
        self.fn = spec.fn
        self.types = spec.types
        self.act = spec.activity
        self.namer = namer
        self.callee_info = callee_info
        self.deriver = Deriver(self.typeof, self.bname)
        self.helpers = set()
        self.result_types = {}  # helper VJPs' results
        self._analyse()

    # ------------------------------------------------------------ queries

    def typeof(self, e):
        return operand_type(e, self.types, self.fn.globals)

    def active(self, name):
        return self.act.is_active(name)

    def bname(self, name):
        if not self.active(name):
            return None
        return self.namer.derived_name(name, "bar")

    def bar_parts(self, name):
        """Adjoint variables of a tuple-typed variable, one per item."""
        t = self.types[name]
        return [self.namer.derived_name(name, f"bar{k}") if t.items[k].differentiable else None
                for k in range(len(t.items))]

    # ------------------------------------------------------------ structure analysis


    # ------------------------------------------------------------ recomputation


    # ------------------------------------------------------------ driver

    def run(self, name, wrt, inout, shared_tapes=False, restore_arrays=True, split=None):
        """``shared_tapes``: a helper's VJP records on its caller's tapes, passed in (array and
        top) and handed back (the array, grown or not), instead of allocating its own per call.
        ``restore_arrays``: which of the arrays it writes into it leaves as it found them (True:
        all); the others keep what the forward sweep wrote (a GPU kernel's adjoint restores
        only the arrays it reads, and records no element only to put it back).
        ``split``: the names of a helper's two split-mode functions (``ad/split.py``); then the
        result is ``(h_fwd, h_rev, count)``, or None where the helper is better joint."""
        fn = self.fn
        self.wrt = wrt
        self.inout = inout
        self.ret_stmt = fn.body[-1] if fn.body and isinstance(fn.body[-1], ir.Return) else None
        self.out_var = None
        self.out_bar = self.namer.fresh("out_bar")
        self.tapes = Tapes(self.namer.fresh, _dt)
        self.trip = {}  # id(loop) -> trip count var
        self._snapshots = {}
        self.counter = {}
        for s in ir.walk_stmts(fn.body):
            if isinstance(s, (ir.For, ir.While)):
                self.trip[id(s)] = self.namer.fresh("_n")
                if s.exit_flag or isinstance(s, ir.While):
                    self.counter[id(s)] = self.namer.fresh("_count")
        # phase 1: which primal values does the reverse sweep read, and where?
        self.needed = set()
        self.reads_at = {}  # id(stmt) -> names its adjoint code reads
        self._reading = []
        self.unrecorded, self.old_shapes = set(), set()
        self.push = set()
        self.push_arrays = set()
        self.rc = {}
        self.ru = {}
        self.ru_at = {}
        self.phase = 1
        self.rev_block(fn.body)
        # a VJP leaves the arrays it writes into as it found them (its caller reads them after)
        self.needed |= {p for p in fn.params if p in self.stored and (restore_arrays is True or p in restore_arrays)}
        self.rc = self._recomputable()
        self._close_needed()
        self.ru = self._recompute_at_use()
        self._close_needed()
        # names that swap array objects share what the reverse sweep reads of those objects
        for g in self.rebind.values():
            if self.needed & set(g.perm):
                self.needed |= set(g.perm)
        for v in self.needed:
            if v in self.rc or v in self.ru:
                continue
            if self.overwritten(v):
                self.push.add(v)
            if isinstance(self.types.get(v), Array) and v in self.stored:
                self.push_arrays.add(v)
        # loop variables are set by the reversed loops themselves
        for v in list(self.push):
            if all(isinstance(st, ir.For) for st, _ in self.sites.get(v, [])):
                self.push.discard(v)
        self.unrecorded = self._unobserved_sites()
        self.old_shapes = self._old_shape_sites()
        self.kept = self._kept_by_reference(shared_tapes or split is not None)
        # a trip count inside another loop is recorded after its loop runs and popped
        # just before the reversed loop needs it
        self.recorded_trips = {self.trip[id(s)] for s in ir.walk_stmts(fn.body)
                               if isinstance(s, (ir.For, ir.While)) and self.loops_of[id(s)]
                               and not self._trip_recomputable(s)}
        # phase 2: emit
        self.phase = 2
        self.last_line = None
        fwd = self.fwd_block(fn.body)
        self.last_line = None
        rev = self.rev_block(fn.body, top=True)
        init = self.adjoint_init()
        if split is not None:
            return self.assemble_split(split, fwd, init, rev)
        if shared_tapes:
            # a helper's caller already has its value (from the primal call of its forward
            # sweep): what the reverse sweep does not read is not computed again
            drop_faint(fwd, live_before(init + rev + self.epilogue(helper=True, dry=True), self.types),
                       self.types)
        regions = {"forward": ir.Comment(text="-- forward sweep --"),
                   "reverse": ir.Comment(text="-- reverse sweep --")}
        body = [regions["forward"]] + fwd
        body += [regions["reverse"]] + init + rev
        self.shared = sorted(self.tapes.used) if shared_tapes else []
        body += self.epilogue(helper=shared_tapes)
        body = self.prologue() + self.tapes.make_room(body)
        if self.tapes.header is not None:
            regions["tapes"] = self.tapes.header
        params = list(fn.params) + [self.out_bar] + [self.bname(p) for p in inout]
        params += [n for k in self.shared for n in self.tapes.names[k]]
        wrt_txt = ", ".join(wrt)
        doc = (f"Reverse-mode derivative (VJP) of {fn.name} with respect to ({wrt_txt}). "
               f"Generated by s2sad.\n\n")
        if not shared_tapes:
            doc += (f"Returns ({fn.name}(...), " + ", ".join(p + "_bar" for p in wrt)
                    + f") for the output adjoint {self.out_bar}.")
        else:
            doc += self.helper_doc(inout)
        out = ir.Function(name, params, body, loc=fn.loc, docstring=doc, regions=regions)
        out.types = self.derived_types()
        return self.namer.mark(out, fn)

    def derived_types(self):
        """The types of the primal variables, of their adjoints and of helpers' results."""
        types = dict(self.types) | self.result_types
        for (v, suffix), name in self.namer.derived.items():
            t = self.types.get(v)
            if suffix == "bar":
                types[name] = t
            elif suffix.startswith("bar") and isinstance(t, Tuple):
                types[name] = t.items[int(suffix[3:])]
        return {k: t for k, t in types.items() if t is not None}


    def _kept_by_reference(self, split):
        """id -> name, for the assignments at the top of the body (each runs once) that rebind
        an array the reverse sweep reads the old value of, when nothing writes into any array:
        the old array object is then kept by a second name (``s_old = s``) rather than copied
        onto the tape and back. Not in split mode, whose two sweeps are two functions that
        share only the tapes, nor where arrays swap names (``a, b = b, a``): a name bound to a
        second name of an array is not an array the function owns to the rebinding analysis,
        so a derivative of the VJP (reverse over reverse, a Hessian) would refuse the swap."""
        if split or self.stored or self.rebind:
            return {}
        out = {}
        for s in self.fn.body:
            if isinstance(s, ir.Assign) and not s.inplace and s.target.name in self.push \
                    and isinstance(self.types.get(s.target.name), Array) and not self.first_def(s) \
                    and id(s) not in self.unrecorded and id(s) not in self.rebind:
                out[id(s)] = name = self.namer.fresh(s.target.name + "_old")
                self.result_types[name] = self.types[s.target.name]
        return out

    def push_old_shape(self, s):
        return self.push_shape(s.target, self.types[s.target.name].ndim, s.loc)


    def need(self, e):
        if self.phase == 1 and e is not None:
            for v in ir.expr_vars(e):
                if not self._is_adjoint_name(v):
                    self.needed.add(v)
                    if self._reading:  # where, in forward order, the reverse sweep reads it
                        self.reads_at.setdefault(id(self._reading[-1]), set()).add(v)

    def _is_adjoint_name(self, v):
        return v in self.namer.derived.values() or v == self.out_bar

    # ------------------------------------------------------------ prologue / epilogue

    def prologue(self):
        out = self.tapes.prologue(self.fn.loc, passed=self.shared)
        loc = self.fn.loc
        # arrays defined only inside branches get a value, for the shape their adjoint is
        # allocated with where the reverse sweep starts (zero-sized when the branch never ran)
        for v, scope in sorted(self._array_scopes().items()):
            if scope == () and v not in self.push and self.active(v) \
                    and not any(self.first_def(s) for s, _ in self.sites.get(v, []) if isinstance(s, ir.Assign)):
                out.append(ir.Assign(ir.Var(v), placeholder(self.types[v]), loc=loc))
        # so do arrays whose old shape is recorded
        for v in sorted({s.target.name for s in ir.walk_stmts(self.fn.body) if id(s) in self.old_shapes}):
            sites = self.sites.get(v, [])
            if v not in self.fn.params and not (sites and isinstance(sites[0][0], ir.Assign)
                                                and self.first_def(sites[0][0])):
                out.append(ir.Assign(ir.Var(v), placeholder(self.types[v]), loc=loc))
        # recorded variables need a value before their first recording
        for v in sorted(self.push):
            if v in self.fn.params or self.first_def(self.sites[v][0][0]) \
                    if v in self.sites and isinstance(self.sites[v][0][0], ir.Assign) else v in self.fn.params:
                continue
            out.append(ir.Assign(ir.Var(v), placeholder(self.types.get(v)), loc=loc))
        return out

    def adjoint_init(self):
        out = []
        loc = self.fn.loc
        scoped = self._array_scopes()
        for v in sorted(self.act.varied & self.act.useful):
            if not self.active(v) or v in self.inout or self.single_use(v) or v in self.rebind_temps:
                continue
            t = self.types[v]
            if isinstance(t, Tuple):
                if scoped.get(v, ()) == ():
                    out.extend(self.zero_tuple_adjoint(v, loc))
                continue
            if isinstance(t, Array):
                if scoped.get(v, ()) != ():
                    continue
                if v not in self.fn.params and v not in self.sites:
                    continue
                out.append(ir.Assign(ir.Var(self.bname(v)), ir.Call("np.zeros_like", (ir.Var(v),)), loc=loc))
            else:
                out.append(ir.Assign(ir.Var(self.bname(v)), ir.Const(0.0), loc=loc))
        return out

    def zero_tuple_adjoint(self, v, loc):
        t = self.types[v]
        return [ir.Assign(ir.Var(b), zero_like(ir.TupleGet(ir.Var(v), k), t.items[k]), loc=loc)
                for k, b in enumerate(self.bar_parts(v)) if b is not None]


    def epilogue(self, helper=False, dry=False):
        """The return: ``(value, adjoints...)``. A helper's VJP, which only generated code
        calls, returns what its caller reads: the adjoints of the arguments it does not
        accumulate in place, and its caller's tapes (grown or not); nothing when that is
        nothing (its caller has the value from the primal call of the forward sweep)."""
        items = [] if helper else [ir.Var(self.out_var) if self.out_var else ir.Const(0.0)]
        for p in self.wrt:
            b = self.bname(p)
            if helper and p in self.inout:
                continue
            items.append(ir.Var(b) if b is not None else zero_like(ir.Var(p), self.types[p]))
        items += [ir.Var(self.tapes.names[k][0]) for k in (sorted(self.tapes.used) if dry else self.shared)]
        if not items:
            return []
        return [ir.Return(ir.TupleMake(tuple(items)), loc=self.fn.loc)]

    def helper_doc(self, inout):
        parts = [p + "_bar" for p in self.wrt if p not in inout] + [self.tapes.names[k][0] for k in self.shared]
        acc = [p + "_bar" for p in inout]
        doc = f"Called by generated code for the output adjoint {self.out_bar}"
        doc += f"; accumulates into {', '.join(acc)} in place" if acc else ""
        return doc + (f". Returns ({', '.join(parts)}{',' if len(parts) == 1 else ''})." if parts else ".")

    # ------------------------------------------------------------ tape operations

    def push_stmts(self, v, loc):
        """Record variable ``v`` (any type the tapes can hold) before it is overwritten."""
        return self._push_value(ir.Var(v), self.types.get(v), loc)

    def _push_value(self, e, t, loc):
        if isinstance(t, Tuple):  # item by item; popped in the reverse order
            out = []
            for k, item in enumerate(t.items):
                out.extend(self._push_value(ir.TupleGet(e, k), item, loc))
            return out
        if isinstance(t, Array):
            return self.tapes.push(self.tapes.array_kind(t.dtype), e, loc) + self.push_shape(e, t.ndim, loc)
        if not isinstance(t, (Scalar, type(None))):
            raise NonDifferentiableError(f"s2sad cannot record a value of type {t} on its tape", loc,
                                         "keep values overwritten inside loops to numbers, arrays "
                                         "and tuples of them")
        return self.tapes.push("i" if t is None or t.dtype in ("int64", "bool") else "f", e, loc)

    def restore_stmts(self, s):
        """Restore the variable assignment ``s`` overwrote: from its second name, or the tape."""
        if id(s) in self.kept:
            return [ir.Assign(s.target, ir.Var(self.kept[id(s)]), loc=s.loc)]
        return self.pop_stmts(s.target.name, s.loc)

    def pop_stmts(self, v, loc):
        """Restore variable ``v`` from the tape (the mirror of ``push_stmts``)."""
        out, val = self._pop_value(self.types.get(v), loc)
        return out + [ir.Assign(ir.Var(v), val, loc=loc)]

    def _pop_value(self, t, loc):
        """Statements that pop one value of type ``t`` and the expression that rebuilds it."""
        if isinstance(t, Tuple):
            out, items = [], [None] * len(t.items)
            for k in reversed(range(len(t.items))):
                code, val = self._pop_value(t.items[k], loc)
                tmp = ir.Var(self.namer.fresh("_item"))
                out.extend(code + [ir.Assign(tmp, val, loc=loc)])
                items[k] = tmp
            return out, ir.TupleMake(tuple(items))
        if isinstance(t, Array):
            out, dims = self.pop_shape(t.ndim, loc)  # the shape was pushed after the contents
            size = _product(dims) if dims else ir.Const(1)
            code, flat = self.tapes.pop_flat(self.tapes.array_kind(t.dtype), size, loc)
            out += code
            val = ir.Method(flat, "reshape", (ir.TupleMake(tuple(dims)),)) if t.ndim != 1 else flat
            val = ir.Method(val, "copy", ())
            if t.dtype not in ("float64", "int64"):
                val = ir.Method(val, "astype", (ir.Const(_dt(t.dtype)),))
            return out, val
        kind = "i" if t is None or t.dtype in ("int64", "bool") else "f"
        out, val = self.tapes.pop(kind, loc)
        if t is not None and t.dtype == "bool":
            val = ir.Compare("!=", val, ir.Const(0))
        elif t is not None and t.dtype == "float32":
            val = ir.Call("np.float32", (val,))
        return out, val

    def push_shape(self, e, ndim, loc):
        """Record the shape of array ``e`` (``ndim`` ints)."""
        return [x for k in range(ndim) for x in self.tapes.push("i", ir.Load(ir.Attr(e, "shape"), (ir.Const(k),)), loc)]

    def pop_shape(self, ndim, loc):
        """The mirror of ``push_shape``: statements, and a variable per dimension."""
        out, dims = [], []
        for _ in range(ndim):
            code, val = self.tapes.pop("i", loc)
            d = ir.Var(self.namer.fresh("_d"))
            out += code + [ir.Assign(d, val, loc=loc)]
            dims.insert(0, d)
        return out, dims

    def zeros_of_shape(self, dims, dtype):
        return ir.Call("np.zeros", (ir.TupleMake(tuple(dims)),), (("dtype", ir.Const(_dt(dtype))),))

    def push_element(self, s):
        """Record ``a[index]`` before a store overwrites it."""
        t = self.types[s.array.name]
        elem = ir.Load(s.array, s.index)
        if _index_is_scalar(s.index, t.ndim, self.typeof):
            return self.tapes.push("i" if t.dtype in ("int64", "bool") else "f", elem, s.loc)
        return self.tapes.push(self.tapes.array_kind(t.dtype), elem, s.loc)

    def pop_element(self, s):
        t = self.types[s.array.name]
        if _index_is_scalar(s.index, t.ndim, self.typeof):
            code, val = self.tapes.pop("i" if t.dtype in ("int64", "bool") else "f", s.loc)
            return code + [ir.Store(s.array, s.index, val, loc=s.loc)]
        elem = ir.Load(s.array, s.index)
        n = ir.Var(self.namer.fresh("_size"))
        code, flat = self.tapes.pop_flat(self.tapes.array_kind(t.dtype), n, s.loc)
        return [ir.Assign(n, ir.Attr(elem, "size"), loc=s.loc)] + code + [
            ir.Store(s.array, s.index, ir.Method(flat, "reshape", (ir.Attr(elem, "shape"),)), loc=s.loc)]

    # ------------------------------------------------------------ forward sweep

    def fwd_block(self, stmts):
        out = []
        for s in stmts:
            if isinstance(s, (ir.Assign, ir.Store, ir.AugStore, ir.ExprStmt, ir.If, ir.For, ir.While)):
                self.comment(s, out)  # so a traceback in the forward sweep leads to the user's line
            with reporting_internal_errors(s.loc, "differentiating this line in reverse mode"):
                self.fwd_stmt(s, out)
        if stmts:
            for v in self._shape_recorded().get(self.block_of[id(stmts[0])], []):
                out += self.push_shape(ir.Var(v), self.types[v].ndim, stmts[-1].loc)
        return out


    def fwd_stmt(self, s, out):
        if id(s) in self.rebind:
            out.append(s)  # undone by the inverse permutation, nothing recorded
        elif isinstance(s, ir.Assign):
            v = s.target.name
            out.extend(self.fwd_call_saves(s.value, s))
            info = self.split_info(s.value)
            value = self.fwd_split_call(s, s.value, info, out) if info else None
            if id(s) in self.kept:
                out.append(ir.Assign(ir.Var(self.kept[id(s)]), ir.Var(v), loc=s.loc))
            elif v in self.push and not self.first_def(s) and id(s) not in self.unrecorded:
                out.extend(self.push_stmts(v, s.loc))
            if id(s) in self.old_shapes:
                out.extend(self.push_old_shape(s))
            out.append(s if value is None else ir.Assign(s.target, value, loc=s.loc))
        elif isinstance(s, (ir.Store, ir.AugStore)):
            if s.array.name in self.push_arrays:
                out.extend(self.push_element(s))
            out.append(s)
        elif isinstance(s, ir.ExprStmt):
            out.extend(self.fwd_call_saves(s.value, s))
            kept = self.discarded_result(s)
            info = self.split_info(s.value)
            if info:
                value = self.fwd_split_call(s, s.value, info, out)
                if kept:
                    out.append(ir.Assign(ir.Var(kept), value, loc=s.loc))
            else:
                out.append(ir.Assign(ir.Var(kept), s.value, loc=s.loc) if kept else s)
        elif isinstance(s, ir.If):
            out.append(ir.If(s.test, self.fwd_block(s.body), self.fwd_block(s.orelse), loc=s.loc))
        elif isinstance(s, ir.For) and s.checkpoint is not None:
            out.extend(self.checkpoint_forward(s))
        elif isinstance(s, ir.For):
            n = self.trip[id(s)]
            body = self.fwd_block(s.body)
            cnt = self.counter.get(id(s))
            if cnt:
                out.append(ir.Assign(ir.Var(cnt), ir.Const(0), loc=s.loc))
                body = [ir.AugAssign(ir.Var(cnt), "+", ir.Const(1), loc=s.loc)] + body
            out.append(ir.For(s.var, s.start, s.stop, s.step, body, loc=s.loc, exit_flag=s.exit_flag))
            if cnt:
                out.append(ir.Assign(ir.Var(n), ir.Var(cnt), loc=s.loc))
            else:
                out.append(ir.Assign(ir.Var(n), trip_count(s), loc=s.loc))
            if n in self.recorded_trips:
                out.extend(self.push_stmts(n, s.loc))
        elif isinstance(s, ir.While):
            n = self.trip[id(s)]
            cnt = self.counter[id(s)]
            out.append(ir.Assign(ir.Var(cnt), ir.Const(0), loc=s.loc))
            body = [ir.AugAssign(ir.Var(cnt), "+", ir.Const(1), loc=s.loc)] + self.fwd_block(s.body)
            out.append(ir.While(s.cond, s.test, body, loc=s.loc, exit_flag=s.exit_flag))
            out.append(ir.Assign(ir.Var(n), ir.Var(cnt), loc=s.loc))
            if n in self.recorded_trips:
                out.extend(self.push_stmts(n, s.loc))
        elif isinstance(s, ir.Return):
            self.out_var = self.namer.fresh("_out")
            v = s.value if s.value is not None else ir.Const(0.0)
            t = self.typeof(v) if not isinstance(v, ir.Var) else self.types.get(v.name)
            if isinstance(v, ir.Var) and isinstance(t, Array) and (v.name in self.push_arrays or v.name in self.push):
                v = ir.Method(v, "copy", ())
            out.append(ir.Assign(ir.Var(self.out_var), v, loc=s.loc))
        elif isinstance(s, (ir.Pass, ir.Comment)):
            pass
        elif isinstance(s, (ir.Break, ir.Continue)):
            raise AssertionError("jumps must be removed before reverse mode")
        else:
            out.append(s)

    # ------------------------------------------------------------ binomial checkpointing

    def checkpoint_state(self, s):
        """The loop's state: variables an iteration reads before it assigns them (carried from
        the previous iteration) and arrays it writes into."""
        order = {id(x): k for k, x in enumerate(ir.walk_stmts(s.body))}
        first_def, state = {}, []
        for x in ir.walk_stmts(s.body):
            if isinstance(x, ir.Assign):
                first_def.setdefault(x.target.name, order[id(x)])
        for x in ir.walk_stmts(s.body):
            for v in ir.stmt_reads(x):
                if v in first_def and order[id(x)] <= first_def[v] and v not in state:
                    state.append(v)
            if isinstance(x, (ir.Store, ir.AugStore)) and x.array.name not in state:
                state.append(x.array.name)
        state = [v for v in state if v != s.var.name]
        for v in state:
            if isinstance(self.types.get(v), Tuple):
                raise NonDifferentiableError(f"checkpointing a loop whose state `{v}` is a tuple is "
                                             "not supported", s.loc, "keep the state in floats or arrays")
        return sorted(state)

    def snapshot_names(self, s):
        if id(s) not in self._snapshots:
            k = self.namer.fresh("_K")
            slots = {v: self.namer.fresh(f"_snap_{v.lstrip('_')}") for v in self.checkpoint_state(s)}
            self._snapshots[id(s)] = (k, slots, self.namer.fresh("_snap_step"))
        return self._snapshots[id(s)]

    def save_state(self, s, slot, loc):
        k, slots, steps = self.snapshot_names(s)
        out = []
        for v, sv in slots.items():
            out.append(ir.Store(ir.Var(sv), (slot,), ir.Var(v), loc=loc))
        return out

    def restore_state(self, s, slot, loc):
        k, slots, steps = self.snapshot_names(s)
        out = []
        for v, sv in slots.items():
            t = self.types[v]
            val = ir.Load(ir.Var(sv), (slot,))
            if isinstance(t, Array):  # the same array object, its contents restored
                out.append(ir.Store(ir.Var(v), (ir.Slice(None, None, None),) * t.ndim, val, loc=loc))
            else:
                if t.dtype == "bool":
                    val = ir.Compare("!=", val, ir.Const(0))
                elif t.dtype == "float32":
                    val = ir.Call("np.float32", (val,))
                out.append(ir.Assign(ir.Var(v), val, loc=loc))
        return out

    def checkpoint_forward(self, s):
        """Snapshot slot 0 holds the state before the loop; the loop then runs plainly."""
        import copy as _copy

        loc = s.loc
        k, slots, steps = self.snapshot_names(s)
        out = [ir.Comment(text="-- checkpointed loop: snapshots of its state, not a tape of "
                               "every iteration --", loc=loc),
               ir.Assign(ir.Var(k), ir.Call("max", (s.checkpoint, ir.Const(1))), loc=loc)]
        for v, sv in slots.items():
            t = self.types[v]
            if isinstance(t, Array):
                shape = ir.BinOp("+", ir.TupleMake((ir.Var(k),)), ir.Attr(ir.Var(v), "shape"))
                dt = t.dtype
            else:
                shape, dt = ir.Var(k), ("float64" if t.dtype in ("float64", "float32") else "int64")
            out.append(ir.Assign(ir.Var(sv), ir.Call("np.empty", (shape,), (("dtype", ir.Const(_dt(dt))),)), loc=loc))
        out.append(ir.Assign(ir.Var(steps), ir.Call("np.zeros", (ir.Var(k),), (("dtype", ir.Const(_dt("int64"))),)), loc=loc))
        out.extend(self.save_state(s, ir.Const(0), loc))
        out.append(ir.For(s.var, s.start, s.stop, s.step, _copy.deepcopy(s.body), loc=loc))
        n = self.trip[id(s)]
        out.append(ir.Assign(ir.Var(n), trip_count(s), loc=loc))
        if n in self.recorded_trips:
            out.extend(self.push_stmts(n, loc))
        return out

    def checkpoint_reverse(self, s):
        """Reverse the loop by Griewank's binomial schedule: restore a snapshot, advance
        plainly, take a snapshot, and for each step in turn from the last: record it and
        reverse it. The tape holds one iteration at a time."""
        import copy as _copy

        loc = s.loc
        k, slots, steps = self.snapshot_names(s)
        n = ir.Var(self.trip[id(s)])
        V = lambda name: ir.Var(self.namer.fresh(name))  # noqa: E731
        stack, top, a, b, slot, free, cur, j, m = (V("_stack"), V("_top"), V("_a"), V("_b"), V("_slot"),
                                                   V("_free"), V("_cur"), V("_j"), V("_m"))
        self.helpers.add("_revolve_split")

        def set_var(step_expr):
            return ir.Assign(s.var, ir.BinOp("+", s.start, ir.BinOp("*", step_expr, s.step)), loc=loc)

        def advance(to):
            body = [set_var(cur)] + _copy.deepcopy(s.body) + [ir.AugAssign(cur, "+", ir.Const(1), loc=loc)]
            return ir.While([], ir.Compare("<", cur, to), body, loc=loc)

        def restore():
            return self.restore_state(s, slot, loc) + [ir.Assign(cur, ir.Load(ir.Var(steps), (slot,)), loc=loc)]

        saved_line = self.last_line
        record = self.fwd_block(s.body)
        self.last_line = saved_line
        reverse = self.rev_block(s.body)
        leaf = ir.For(j, ir.BinOp("-", b, ir.Const(1)), ir.BinOp("-", a, ir.Const(1)), ir.Const(-1),
                      restore() + [advance(j), set_var(j)] + record + reverse, loc=loc)
        row = lambda i: (top, ir.Const(i))  # noqa: E731
        push = []
        for vals in ((a, m, slot, free), (m, b, ir.BinOp("+", slot, ir.Const(1)), ir.BinOp("-", free, ir.Const(1)))):
            for c, val in enumerate(vals):
                push.append(ir.Store(stack, row(c), val, loc=loc))
            push.append(ir.AugAssign(top, "+", ir.Const(1), loc=loc))
        split = [ir.Assign(m, ir.BinOp("-", b, ir.Call("_revolve_split", (ir.BinOp("-", b, a), free))), loc=loc)]
        split += restore() + [advance(m)]
        split += self.save_state(s, ir.BinOp("+", slot, ir.Const(1)), loc)
        split.append(ir.Store(ir.Var(steps), (ir.BinOp("+", slot, ir.Const(1)),), m, loc=loc))
        split += push
        pop = [ir.AugAssign(top, "-", ir.Const(1), loc=loc)]
        for c, var in enumerate((a, b, slot, free)):
            pop.append(ir.Assign(var, ir.Load(stack, row(c)), loc=loc))
        is_leaf = ir.Var(self.namer.fresh("_leaf"))
        pop.append(ir.Assign(is_leaf, ir.BoolOp("or", (ir.Compare("==", ir.BinOp("-", b, a), ir.Const(1)),
                                                        ir.Compare("==", free, ir.Const(0)))), loc=loc))
        many = ir.Var(self.namer.fresh("_many"))
        pop.append(ir.Assign(many, ir.Compare(">", ir.BinOp("-", b, a), ir.Const(1)), loc=loc))
        body = pop + [ir.If(is_leaf, [leaf], [ir.If(many, split, [], loc=loc)], loc=loc)]
        out = [ir.Comment(text="-- binomial checkpointing (revolve): replay from snapshots, "
                               "reverse one iteration at a time --", loc=loc),
               ir.Assign(stack, ir.Call("np.empty", (ir.TupleMake((ir.BinOp("*", ir.Const(2), ir.BinOp("+", ir.Var(k), ir.Const(64))), ir.Const(4))),),
                                        (("dtype", ir.Const(_dt("int64"))),)), loc=loc),
               ir.Store(stack, (ir.Const(0), ir.Const(0)), ir.Const(0), loc=loc),
               ir.Store(stack, (ir.Const(0), ir.Const(1)), n, loc=loc),
               ir.Store(stack, (ir.Const(0), ir.Const(2)), ir.Const(0), loc=loc),
               ir.Store(stack, (ir.Const(0), ir.Const(3)), ir.BinOp("-", ir.Var(k), ir.Const(1)), loc=loc),
               ir.Assign(top, ir.Const(1), loc=loc),
               ir.While([], ir.Compare(">", top, ir.Const(0)), body, loc=loc)]
        return out

    def call_saves(self, e):
        """The arrays a user callee writes in place that are recorded before the call, in
        push order (each once, however many parameters it is passed to)."""
        out = []
        if isinstance(e, ir.CallUser) and not self.split_info(e):  # split: h_rev restores them
            for k in self.callee_info(e).mutated:
                a = e.args[k]
                if isinstance(a, ir.Var) and a.name in self.needed and a.name not in out:
                    out.append(a.name)
        return out

    def fwd_call_saves(self, e, s):
        """Arrays a user callee writes in place are recorded before the call."""
        out = []
        for v in self.call_saves(e):
            out.extend(self.push_whole_contents(v, s.loc))
        return out

    def split_info(self, e):
        """The callee's info where ``e`` calls a helper in split mode, else None."""
        if isinstance(e, ir.CallUser):
            info = self.callee_info(e)
            if info.split is not None:
                return info
        return None

    def restored_at(self, s):
        """Whether the reverse sweep restores the variable an assignment overwrote."""
        return (self.phase == 2 and s.target.name in self.push and not self.first_def(s)
                and id(s) not in self.unrecorded)

    def discarded_result(self, s):
        """For ``f(...)`` as a statement whose result holds arrays and whose VJP is called: the
        variable the forward sweep keeps the result in."""
        if not isinstance(s.value, ir.CallUser):
            return None
        info = self.callee_info(s.value)
        ret = info.ret
        if info.vjp is None or isinstance(ret, Scalar) or ret is None or not ret.differentiable:
            return None
        if id(s) not in self._kept:
            name = self.namer.fresh("_unused")
            self.types[name] = ret
            self._kept[id(s)] = name
        return self._kept[id(s)]

    def restore_call(self, s, t, call):
        """The mirror of the forward sweep around a call: the result variable was recorded
        last, so it is popped first, then the arrays the callee wrote, in reverse order."""
        if self.phase != 2:
            return []
        out = []
        if t is not None and self.restored_at(s):
            out.extend(self.restore_stmts(s))
        for v in reversed(self.call_saves(call)):
            out.extend(self.pop_whole_contents(v, s.loc))
        return out

    def push_whole_contents(self, v, loc):
        self.push_arrays.add(v)
        return self.tapes.push(self.tapes.array_kind(self.types[v].dtype), ir.Var(v), loc)

    def pop_whole_contents(self, v, loc):
        t = self.types[v]
        code, flat = self.tapes.pop_flat(self.tapes.array_kind(t.dtype), ir.Attr(ir.Var(v), "size"), loc)
        val = ir.Method(flat, "reshape", (ir.Attr(ir.Var(v), "shape"),))
        return code + [ir.Store(ir.Var(v), (ir.Slice(None, None, None),) * max(t.ndim, 1), val, loc=loc)]

    # ------------------------------------------------------------ reverse sweep

    def comment(self, s, out):
        if self.phase == 2 and s.loc is not None and s.loc.lineno != self.last_line:
            self.last_line = s.loc.lineno
            out.append(ir.Comment(text=s.loc.provenance(), loc=s.loc))

    def rev_block(self, stmts, top=False):
        out = []
        if self.phase == 2:
            out.extend(self.block_prelude(stmts, top))
        for s in reversed(stmts):
            g = self.rebind.get(id(s))
            if g is not None:
                if s is g.stmts[-1] and self.phase == 2:
                    self.unpermute(g, out)
                continue
            with reporting_internal_errors(s.loc, "differentiating this line in reverse mode"):
                self._reading.append(s)
                try:
                    self.rev_stmt(s, out)
                finally:
                    self._reading.pop()
        return out

    def block_prelude(self, stmts, top):
        """At the start of a reversed block: recompute its cheap temporaries, allocate the
        adjoints of arrays local to it."""
        out = []
        if not stmts:
            return out
        for s in stmts:
            if isinstance(s, ir.Assign) and self.rc.get(s.target.name) is s and s.target.name in self.needed:
                out.append(ir.Assign(s.target, s.value, loc=s.loc))
        if out:
            out.insert(0, ir.Comment(text="-- recomputed, not recorded --"))
        if not top:
            loc = stmts[0].loc
            path = self.block_of[id(stmts[0])]
            shapes = self._shape_recorded().get(path, [])
            dims = {}
            for v in reversed(shapes):  # the shapes recorded at the end of the forward block
                code, dims[v] = self.pop_shape(self.types[v].ndim, loc)
                out += code
            if dims:
                out.insert(0, ir.Comment(text="-- shapes of this block's arrays, for their adjoints --"))
            for v, scope in sorted(self._array_scopes().items()):
                if scope == path and scope != () and self.active(v) and isinstance(self.types[v], Tuple):
                    out.extend(self.zero_tuple_adjoint(v, loc))
                elif scope == path and scope != () and self.active(v):
                    zero = ir.Call("np.zeros_like", (ir.Var(v),)) if v not in dims else \
                        self.zeros_of_shape(dims[v], self.types[v].dtype)
                    out.append(ir.Assign(ir.Var(self.bname(v)), zero, loc=loc))
        return out


    def unpermute(self, g, out):
        """Undo a swap of array references: each name gets back the array it referred to
        before, and its adjoint the adjoint of that array."""
        self.comment(g.stmts[0], out)
        loc = g.stmts[0].loc
        pairs = [(v, g.perm[v]) for v in g.names]  # v now holds what g.perm[v] held before
        for names in ([(v, w) for v, w in pairs],
                      [(self.bname(v), self.bname(w)) for v, w in pairs] if self.active(pairs[0][0]) else []):
            if not names:
                continue
            held = [ir.Var(self.namer.fresh("_swap")) for _ in names]
            out.extend(ir.Assign(h, ir.Var(v), loc=loc) for h, (v, _) in zip(held, names))
            out.extend(ir.Assign(ir.Var(w), h, loc=loc) for h, (_, w) in zip(held, names))

    def rev_stmt(self, s, out):
        if self.phase == 2 and id(s) in self.ru_at:
            for d in sorted(self.ru_at[id(s)], key=lambda d: self._order(d)):
                out.append(ir.Assign(d.target, d.value, loc=d.loc))
        if isinstance(s, ir.Assign):
            self.rev_assign(s, out)
        elif isinstance(s, ir.Store):
            self.rev_store(s, out)
        elif isinstance(s, ir.AugStore):
            self.need_index(s.index)
            a = self.bname(s.array.name)
            vb = self.bname(s.value.name) if isinstance(s.value, ir.Var) else None
            if a is not None and vb is not None:
                self.comment(s, out)
                self.need_index(s.index)
                g = ir.Load(ir.Var(a), s.index) if s.at else self.written_adjoint(s, a)
                out.append(self.accumulate(s.value, g, self._load_type(s.array.name, s.index),
                                           s.loc, sign=s.op))
            if s.array.name in self.push_arrays and self.phase == 2:
                out.extend(self.pop_element(s))
        elif isinstance(s, ir.ExprStmt):
            if isinstance(s.value, ir.CallUser):
                self.rev_call(s, None, s.value, out)
        elif isinstance(s, ir.If):
            self.need(s.test)
            body = self.rev_block(s.body)
            orelse = self.rev_block(s.orelse)
            if _has_code(body) or _has_code(orelse):
                if not _has_code(body):
                    out.append(ir.If(ir.UnaryOp("not", s.test), orelse, [], loc=s.loc))
                else:
                    out.append(ir.If(s.test, body, orelse if _has_code(orelse) else [], loc=s.loc))
        elif isinstance(s, ir.For):
            self.rev_for(s, out)
        elif isinstance(s, ir.While):
            self.rev_while(s, out)
        elif isinstance(s, ir.Return):
            self.rev_return(s, out)

    def rev_return(self, s, out):
        v = s.value
        if v is None:
            return
        ob = ir.Var(self.out_bar)
        if isinstance(v, ir.Var) and self.active(v.name):
            t = self.types[v.name]
            if isinstance(t, Tuple):
                for k, b in enumerate(self.bar_parts(v.name)):
                    if b is not None:
                        out.append(ir.AugAssign(ir.Var(b), "+", ir.TupleGet(ob, k), loc=s.loc))
            else:
                out.append(self.accumulate(v, ob, t, s.loc))
        elif isinstance(v, ir.TupleMake):
            for k, item in enumerate(v.items):
                if isinstance(item, ir.Var) and self.active(item.name):
                    out.append(self.accumulate(item, ir.TupleGet(ob, k), self.types[item.name], s.loc))
        if out:
            out.insert(0, ir.Comment(text=s.loc.provenance() if s.loc else "return", loc=s.loc))
            self.last_line = s.loc.lineno if s.loc else None


    def rev_for(self, s, out):
        n = self.trip[id(s)]
        if self.phase == 2 and n in self.recorded_trips:
            out.extend(self.pop_stmts(n, s.loc))
        elif self.phase == 2 and self.loops_of[id(s)] and s.checkpoint is None:
            out.append(ir.Assign(ir.Var(n), trip_count(s), loc=s.loc))  # computed again
        if s.checkpoint is not None:
            self.need(s.start)
            self.need(s.step)
            self.need(s.checkpoint)
            if self.phase == 1:
                self.rev_block(s.body)
                return
            self.comment(s, out)
            out.extend(self.checkpoint_reverse(s))
            return
        body = self.rev_block(s.body)
        self.need(s.start)
        self.need(s.step)
        if _has_code(body) or self.phase == 1:
            start, step = s.start, s.step
            if _is_const(step, 1):
                first = ir.BinOp("+", start, ir.BinOp("-", ir.Var(n), ir.Const(1)))
                if _is_const(start, 0):
                    first = ir.BinOp("-", ir.Var(n), ir.Const(1))
                stop = ir.BinOp("-", start, ir.Const(1)) if not _is_const(start, 0) else ir.Const(-1)
                loop = ir.For(s.var, first, stop, ir.Const(-1), body, loc=s.loc, reversal=True)
            else:
                k = ir.Var(self.namer.fresh("_k"))
                setv = ir.Assign(s.var, ir.BinOp("+", start, ir.BinOp("*", k, step)), loc=s.loc)
                loop = ir.For(k, ir.BinOp("-", ir.Var(n), ir.Const(1)), ir.Const(-1), ir.Const(-1),
                              [setv] + body, loc=s.loc, reversal=True)
            self.comment(s, out)
            out.append(loop)

    def rev_while(self, s, out):
        n = self.trip[id(s)]
        if self.phase == 2 and n in self.recorded_trips:
            out.extend(self.pop_stmts(n, s.loc))
        body = self.rev_block(s.body)
        if _has_code(body):
            k = ir.Var(self.namer.fresh("_k"))
            self.comment(s, out)
            out.append(ir.For(k, ir.Const(0), ir.Var(n), ir.Const(1), body, loc=s.loc))

    def need_index(self, index):
        for i in index:
            self.need(i) if not isinstance(i, ir.Slice) else [self.need(p) for p in (i.lower, i.upper, i.step)]

    def scatter(self, ab, fancy, g, loc):
        """``ab[fancy] += g`` with repeated indices summed (``np.add.at``), the adjoint of a
        gather. ``x[idx, rest]`` is ``x[:, rest][idx]`` and ``x[:, idx]`` is ``x.T[idx].T``:
        those are summed into a new array, then added to the view, so that no call writes
        through a view (generated code stays inside what s2sad differentiates again)."""
        x = ir.Var(ab)
        if fancy.pos == 0 and not fancy.rest:
            return [ir.ExprStmt(ir.scatter_add(x, (fancy.array,), g), loc=loc)]
        tmp = ir.Var(self.namer.temp("_s"))
        if fancy.pos == 1:
            view, g, back = ir.Attr(x, "T"), ir.Attr(g, "T"), ir.Attr(tmp, "T")
        else:
            view, back = ir.Load(x, (ir.Slice(None, None, None),) + tuple(fancy.rest)), tmp
        target = x if fancy.pos == 1 else view
        return [ir.Assign(tmp, ir.Call("np.zeros_like", (view,)), loc=loc),
                ir.ExprStmt(ir.scatter_add(tmp, (fancy.array,), g), loc=loc),
                ir.AugAssign(target, "+", back, loc=loc)]

    def written_adjoint(self, s, a):
        """What the value ``v`` of ``x[index] = v`` (or ``+= v``) gets of x's adjoint ``a``:
        ``a[index]``, but where an index array repeats an index only its last occurrence gets
        it (NumPy keeps the value written last), by the mask ``_last_mask`` of the indices."""
        g = ir.Load(ir.Var(a), s.index)
        fancy = self._advanced(s.array.name, s.index)
        if fancy is None or fancy.mask:
            return g
        n = ir.Load(ir.Attr(ir.Var(a), "shape"), (ir.Const(fancy.pos),))
        mask = ir.Call("_last_mask", (fancy.array, n))
        k = self.typeof(fancy.array).ndim
        trailing = self._load_type(s.array.name, s.index)
        r = (trailing.ndim if isinstance(trailing, Array) else 0) - k
        if fancy.pos == 0 and r > 0:  # over the entries' trailing axes
            mask = ir.Load(mask, (ir.Slice(None, None, None),) * k + (ir.NewAxis(),) * r)
        return ir.BinOp("*", g, mask)

    def _advanced(self, arr, index):
        """The ``AdvancedIndex`` of ``arr[index]`` (None for basic indexing)."""
        from ..analysis.typeinfer import advanced_index
        idx = [self.typeof(i) if not isinstance(i, (ir.Slice, ir.NewAxis)) else i for i in index]
        return advanced_index(self.types[arr], index, idx, None)

    def _load_type(self, arr, index):
        from ..analysis.typeinfer import load_type
        t = self.types[arr]
        idx = [self.typeof(i) if not isinstance(i, (ir.Slice, ir.NewAxis)) else i for i in index]
        return load_type(t, ir.Load(ir.Var(arr), index), idx, None)

    def rev_store(self, s, out):
        self.need_index(s.index)  # restoring a recorded element reads the index too
        a = self.bname(s.array.name)
        if a is not None:
            self.comment(s, out)
            self.need_index(s.index)
            g = self.written_adjoint(s, a)
            if isinstance(s.value, ir.Var) and self.active(s.value.name):
                out.append(self.accumulate(s.value, g, self._load_type(s.array.name, s.index), s.loc))
            out.append(ir.Store(ir.Var(a), s.index, ir.Const(0.0), loc=s.loc))
        if s.array.name in self.push_arrays and self.phase == 2:
            out.extend(self.pop_element(s))

    def accumulate(self, target, contrib, ctype, loc, sign="+", exact=False):
        """``target_bar += contrib``, summing over the axes broadcasting added. ``exact``: the
        caller knows ``contrib`` has the target's shape (an elementwise rule's contribution to
        an operand no other array was broadcast against)."""
        name = target.name
        tt = self.types[name]
        c = contrib
        exact = exact and isinstance(tt, Array) and isinstance(ctype, Array) and ctype.ndim == tt.ndim
        if isinstance(ctype, MaybeStretched):
            ctype = ctype.t
            if isinstance(tt, Array) and isinstance(ctype, Array) and ctype.ndim == tt.ndim:
                helper = f"_unbroadcast{tt.ndim}" if tt.ndim <= 3 else "_unbroadcastn"
                self.helpers.add(helper)
                # summed to the shape of the adjoint it goes into (the primal value may not be
                # restored there: only its adjoint is sure to have the shape)
                c = ir.Call(helper, (c, ir.Var(self.bname(name))))
                exact = True
        if isinstance(tt, Scalar) and isinstance(ctype, Array):
            c = ir.Call("np.sum", (c,))
        elif isinstance(tt, Array) and isinstance(ctype, Array) and ctype.ndim > tt.ndim:
            self.helpers.add("_sum0")
            for _ in range(ctype.ndim - tt.ndim):
                c = ir.Call("_sum0", (c,))
        if self.single_use(name):
            return ir.Assign(ir.Var(self.bname(name)), c if sign == "+" else ir.UnaryOp("-", c), loc=loc)
        return ir.AugAssign(ir.Var(self.bname(name)), sign, c, loc=loc, exact=exact)

    def reset(self, name, loc, site=None):
        """Statements that start the adjoint of ``name`` anew (for the value an assignment
        overwrote: of the shape recorded before ``site`` when that value is not restored)."""
        t = self.types[name]
        if isinstance(t, Tuple):  # one adjoint per item
            return self.zero_tuple_adjoint(name, loc)
        b = self.bname(name)
        if isinstance(t, Array) and site is not None and id(site) in self.old_shapes and self.phase == 2:
            out, dims = self.pop_shape(t.ndim, loc)
            return out + [ir.Assign(ir.Var(b), self.zeros_of_shape(dims, t.dtype), loc=loc)]
        if isinstance(t, Array):
            return [ir.Assign(ir.Var(b), ir.Call("np.zeros_like", (ir.Var(name),)), loc=loc)]
        return [ir.Assign(ir.Var(b), ir.Const(0.0), loc=loc)]

    def rev_assign(self, s, out):
        t = s.target.name
        e = s.value
        code = []
        if isinstance(e, ir.CallUser):
            # even when its result carries no derivative, the call may write into arrays that do
            self.rev_call(s, t, e, out)
            return
        if self.active(t):
            code = self.adjoint_of_assign(s)
            if not code:
                # a value that does not depend on the inputs: the old value's adjoint ends here
                self.comment(s, out)
                if self.restored_at(s):
                    out.extend(self.restore_stmts(s))
                if self.overwritten(t) or t in self.fn.params:
                    out.extend(self.reset(t, s.loc, s))  # after the restore: the old value's shape
                return
        pop = self.restore_stmts(s) if self.restored_at(s) else []
        if code and code[0] == "in-place":
            # t = t op x where the derivative reads no value: nothing to reset or restore
            self.comment(s, out)
            out.extend(code[1])
            out.extend(pop)
            return
        if code:
            self.comment(s, out)
            reads_target = t in ir.expr_vars(e)
            redefined = (self.overwritten(t) or t in self.fn.params) and not self.single_use(t)
            if not reads_target:
                out.extend(code)
                out.extend(pop)
                if redefined:
                    out.extend(self.reset(t, s.loc, s))
            else:
                # t = f(t, ...): take t's adjoint aside, restore t, then propagate
                tb = ir.Var(self.namer.temp("_g"))
                out.append(ir.Assign(tb, ir.Var(self.bname(t)), loc=s.loc))
                ans = None
                probe = self.adjoint_of_assign(s, g=tb, ans=ir.Var("__ans__"))
                if any("__ans__" in ir.stmt_reads(c) for c in probe if isinstance(c, ir.Stmt)):
                    # the derivative reads the new value: keep it before restoring the old one
                    ans = ir.Var(self.namer.fresh("_ans"))
                    out.append(ir.Assign(ans, ir.Var(t), loc=s.loc))
                out.extend(pop)
                out.extend(self.reset(t, s.loc, s))
                out.extend(self.adjoint_of_assign(s, g=tb, ans=ans))
        else:
            out.extend(pop)

    def adjoint_of_assign(self, s, g=None, ans=None):
        t = s.target.name
        e = s.value
        tt = self.types[t]
        g = g or ir.Var(self.bname(t)) if not isinstance(tt, Tuple) else g
        loc = s.loc
        out = []
        if isinstance(e, ir.Var):
            if self.active(e.name):
                if isinstance(tt, Tuple):
                    for k, (b, src) in enumerate(zip(self.bar_parts(t), self.bar_parts(e.name))):
                        if b is not None and src is not None:
                            out.append(ir.AugAssign(ir.Var(src), "+", ir.Var(b), loc=loc))
                    return out
                out.append(self.accumulate(e, g, tt, loc, exact=True))  # x = y: the same shape
            return out
        if isinstance(e, ir.TupleMake):
            for k, (item, b) in enumerate(zip(e.items, self.bar_parts(t))):
                if b is not None and isinstance(item, ir.Var) and self.active(item.name):
                    out.append(self.accumulate(item, ir.Var(b), tt.items[k], loc))
            return out
        if isinstance(e, ir.TupleGet):
            if isinstance(e.tuple, ir.Var) and self.active(e.tuple.name):
                parts = self.bar_parts(e.tuple.name)
                if parts[e.index] is not None:
                    out.append(ir.AugAssign(ir.Var(parts[e.index]), "+", g, loc=loc))
            return out
        if isinstance(e, ir.Load) and isinstance(self.typeof(e.array), Tuple):
            if len(e.index) == 1 and isinstance(e.index[0], ir.Const):
                return self.adjoint_of_assign(
                    ir.Assign(s.target, ir.TupleGet(e.array, e.index[0].value), loc=loc), g=g, ans=ans)
            raise NonDifferentiableError("indexing a tuple of differentiated values needs a "
                                         "constant index", loc)
        if isinstance(e, ir.Load):
            if isinstance(e.array, ir.Var) and self.active(e.array.name):
                self.need_index(e.index)
                ab = self.bname(e.array.name)
                fancy = self._advanced(e.array.name, e.index)
                if fancy is not None and not fancy.mask:
                    out.extend(self.scatter(ab, fancy, g, loc))
                else:  # basic indexing, or a mask (no entry twice): a plain accumulation
                    out.append(ir.AugAssign(ir.Load(ir.Var(ab), e.index), "+", g, loc=loc))
            return out
        if isinstance(e, ir.Call) and (e.func.startswith("foreign:")):
            active = [a for a in ir.expr_vars(e) if self.active(a)]
            if active:
                raise NonDifferentiableError(
                    f"`{e.func.split(':', 1)[1]}` is called with the differentiated value "
                    f"`{active[0]}`, but s2sad has neither its source nor a derivative rule",
                    loc, "define it in Python, or give it a rule with s2sad.custom_vjp")
            return out
        if isinstance(e, ir.Call) and e.func.startswith("custom:"):
            return self.custom_vjp(s, g)
        # simple accumulation: s = s + x / s = s - x reads no value
        if isinstance(e, ir.BinOp) and e.op in "+-" and isinstance(e.left, ir.Var) \
                and e.left.name == t and not (isinstance(e.right, ir.Var) and e.right.name == t) \
                and ans is None and g is not None and g.name == self.bname(t):
            code = []
            if isinstance(e.right, ir.Var) and self.active(e.right.name):
                # s = s - m with m of shape (3, 1) and s (3, 5): summed back to m's shape
                ct = MaybeStretched(tt) if isinstance(self.types[e.right.name], Array) else tt
                code.append(self.accumulate(e.right, g, ct, loc, sign=e.op))
            return ["in-place", code]
        if isinstance(tt, Tuple) and g is None:  # a primitive with a tuple result (np.linalg.slogdet)
            g = ir.TupleMake(tuple(ir.Var(b) if b is not None else ir.Const(0.0) for b in self.bar_parts(t)))
        contribs = self.deriver.contributions(e, ans if ans is not None else s.target, tt, g, loc)
        call = canonical_call(e)
        rule = RULES.get(call.func) if isinstance(call, ir.Call) else None
        # an elementwise rule's contribution has its result's shape: the operand's own, unless
        # broadcasting stretched the operand (then typed MaybeStretched and summed back)
        elementwise = rule is not None and rule.kind == "elementwise"
        merged = []  # x * x: x's two contributions summed first, one accumulation (one pass over an array)
        for operand, c, ctype in contribs:
            self.need(c)
            if not isinstance(operand, ir.Var):
                raise NonDifferentiableError("cannot take the adjoint of a composite operand", loc)
            same = [k for k, (o, _, ct) in enumerate(merged) if o == operand and ct == ctype]
            if same:
                o, c0, ct = merged[same[0]]
                merged[same[0]] = (o, ir.BinOp("+", c0, c), ct)
            else:
                merged.append((operand, c, ctype))
        for operand, c, ctype in merged:
            out.append(self.accumulate(operand, c, ctype, loc, exact=elementwise))
        return out

    def custom_vjp(self, s, g):
        """``t = f(args)`` for f with a custom rule. custom_vjp: replay the forward rule for its
        residuals (the arguments are restored), then the backward rule. custom_jvp: the jvp rule
        with unit tangents, one call per scalar input entry."""
        call = s.value
        names = self.custom_names(call.func.split(":", 1)[1])
        self.need(call)
        loc = s.loc
        out = []
        active = [(k, a) for k, a in enumerate(call.args) if isinstance(a, ir.Var) and self.active(a.name)]
        if names["kind"] == "custom_vjp":
            res = ir.Var(self.namer.fresh("_res"))
            ct = ir.Var(self.namer.fresh("_ct"))
            out.append(ir.Assign(res, ir.Call(names["fwd"], tuple(call.args)), loc=loc))
            out.append(ir.Assign(ct, ir.Call(names["bwd"], (ir.TupleGet(res, 1), g)), loc=loc))
            for k, a in active:
                out.append(self.accumulate(a, ir.TupleGet(ct, k), self.types[a.name], loc))
            return out
        for k, a in active:
            t = self.types[a.name]
            zeros = [zero_like(b, self.typeof(b)) if j != k else None for j, b in enumerate(call.args)]
            if isinstance(t, Array):
                if t.ndim != 1:
                    raise NonDifferentiableError(
                        f"reverse mode through `{names['rule']}`'s custom_jvp rule takes 1-d array "
                        f"arguments, `{a.name}` is {t.ndim}-d", loc, "give it a custom_vjp rule")
                i = ir.Var(self.namer.fresh("_i"))
                e = ir.Var(self.namer.fresh("_e"))
                zeros[k] = e
                body = [ir.Assign(e, ir.Call("np.zeros", (ir.Load(ir.Attr(a, "shape"), (ir.Const(0),)),)), loc=loc),
                        ir.Store(e, (i,), ir.Const(1.0), loc=loc)]
                jv = ir.TupleGet(ir.Call(names["jvp"], (ir.TupleMake(tuple(call.args)), ir.TupleMake(tuple(zeros)))), 1)
                body.append(ir.AugAssign(ir.Load(ir.Var(self.bname(a.name)), (i,)), "+",
                                         ir.Call("np.sum", (ir.BinOp("*", g, jv),)), loc=loc))
                out.append(ir.For(i, ir.Const(0), ir.Load(ir.Attr(a, "shape"), (ir.Const(0),)), ir.Const(1), body, loc=loc))
            else:
                zeros[k] = ir.Const(1.0)
                jv = ir.TupleGet(ir.Call(names["jvp"], (ir.TupleMake(tuple(call.args)), ir.TupleMake(tuple(zeros)))), 1)
                out.append(self.accumulate(a, ir.Call("np.sum", (ir.BinOp("*", g, jv),)), t, loc))
        return out

    def rev_call(self, s, t, call, out):
        info = self.callee_info(call)
        for a in call.args:
            self.need(a)
        if info.vjp is None:
            reset = self.reset(t, s.loc, s) if t is not None and self.active(t) and \
                (self.overwritten(t) or t in self.fn.params) else []  # a result that does not depend on the inputs
            if id(s) in self.old_shapes:  # its old shape was recorded after the saves: popped first
                out.extend(reset + self.restore_call(s, t, call))
            else:
                out.extend(self.restore_call(s, t, call) + reset)
            return
        self.comment(s, out)
        tt = self.types.get(t) if t is not None else None
        if t is not None and self.active(t):
            if isinstance(tt, Tuple):
                g = ir.TupleMake(tuple(ir.Var(b) if b is not None else ir.Const(0.0) for b in self.bar_parts(t)))
            else:
                g = ir.Var(self.bname(t))
        elif t is None and self.discarded_result(s):
            kept = self.discarded_result(s)  # the callee's VJP takes a zero of its result's shape
            g = zero_like(ir.Var(kept), self.types[kept])
        else:
            g = zero_like(ir.Var(t), tt) if t is not None and tt is not None and tt.differentiable else ir.Const(0.0)
        resets = []
        if t is not None and self.active(t):
            gv = ir.Var(self.namer.temp("_g"))
            out.append(ir.Assign(gv, g, loc=s.loc))
            if isinstance(tt, Tuple):
                for b, it in zip(self.bar_parts(t), tt.items):
                    if b is not None:
                        resets.append(ir.Assign(ir.Var(b), ir.Call("np.zeros_like", (ir.Var(b),))
                                                if isinstance(it, Array) else ir.Const(0.0), loc=s.loc))
            elif id(s) in self.old_shapes:
                out.extend(self.reset(t, s.loc, s))  # its shape was recorded after the saves
            else:
                resets.extend(self.reset(t, s.loc, s))
            g = gv
        out.extend(self.restore_call(s, t, call))  # the VJP replays the call on its inputs
        out.extend(resets)  # after the restore: the adjoint of the old value, of its shape
        inout_bars = [ir.Var(self.bname(call.args[k].name)) for k in info.inout]
        if info.split is not None:
            self.rev_split_call(s, call, info, g, inout_bars, out)
            return
        tapes = []
        for kind in info.tapes:  # the callee records on this function's tapes
            self.tapes.used.add(kind)
            tapes += [ir.Var(n) for n in self.tapes.names[kind]]
        vcall = ir.Call(info.vjp, tuple(call.args) + (g,) + tuple(inout_bars) + tuple(tapes))
        returned = [k for k in info.active if k not in info.inout]  # see epilogue(helper=True)
        if not returned and not info.tapes:
            out.append(ir.ExprStmt(vcall, loc=s.loc))  # every adjoint accumulates in place
            return
        r = ir.Var(self.namer.temp("_r"))
        out.append(ir.Assign(r, vcall, loc=s.loc))
        for j, kind in enumerate(info.tapes):  # a tape the callee grew is another array
            out.append(ir.Assign(ir.Var(self.tapes.names[kind][0]),
                                 ir.TupleGet(r, len(returned) + j), loc=s.loc))
        for j, k in enumerate(returned):
            a = call.args[k]
            out.append(self.accumulate(a, ir.TupleGet(r, j), self.types[a.name], s.loc))
        # the result's type, for unpacking it (backend/tidy.py)
        tapes = [Array(KINDS[kind][2], 1) for kind in info.tapes]
        self.result_types[r.name] = Tuple(tuple(self.types[call.args[k].name] for k in returned) + tuple(tapes))


class CalleeInfo:
    def __init__(self, vjp, active, inout, mutated, ret=None, tapes=(), split=None):
        self.split = split  # ad.split.SplitCall where the callee is called in split mode
        self.tapes = list(tapes)  # the kinds of tape the callee's VJP records on (passed in)
        self.vjp = vjp
        self.active = active
        self.inout = inout
        self.mutated = mutated
        self.ret = ret  # the callee's return type


def _dt(name):
    from ..ir.types import DType
    return DType(name)


def _product(dims):
    e = dims[0]
    for d in dims[1:]:
        e = ir.BinOp("*", e, d)
    return e


def _index_is_scalar(index, ndim, typeof):
    ints = 0
    for i in index:
        if isinstance(i, (ir.Slice, ir.NewAxis)) or isinstance(typeof(i), Array):
            return False
        ints += 1
    return ints == ndim


def _is_const(e, v):
    return isinstance(e, ir.Const) and e.value == v and not isinstance(e.value, bool)


def _has_code(stmts):
    return any(not isinstance(s, (ir.Comment, ir.Pass)) for s in stmts)
