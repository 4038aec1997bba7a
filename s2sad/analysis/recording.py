"""The to-be-recorded analysis of reverse mode: which primal values the reverse sweep reads,
which of them are overwritten before it reads them (and so must be recorded), which can be
computed again instead, and where a recording can be skipped because no reverse-sweep read can
see it.

``RecordingAnalysis`` is the analysis half of ``ad.reverse.Reverse`` (which inherits it): the
reverse sweep's generator fills ``needed`` (what adjoint code reads) and ``reads_at`` (where)
in a first pass; these methods then decide ``push`` (variables recorded before they are
overwritten), ``rc`` (loop temporaries recomputed at the top of the reversed iteration),
``ru`` (cheap values recomputed where they are read), the sites whose recording no read can
observe, the trip counts the reverse sweep can compute again, the arrays whose shapes are
recorded. What it reads of the generator: ``fn``, ``types``, ``act``/``active(name)``,
``callee_info(call)``, ``counter``, ``ret_stmt``, and the first pass's ``needed``/``reads_at``.

Its sizes (how much each loop nest records) are ``analysis/tapesize.py``'s, shared with the
CUDA backend's per-thread tapes.
"""

from __future__ import annotations

from .. import ir
from ..ir.types import Array, Scalar, Tuple
from ..primitives import RULES
from .rebind import rebindings

# expressions cheap enough to compute again in the reverse sweep instead of recording them
RECOMPUTE_EXPR = (ir.BinOp, ir.UnaryOp, ir.Load, ir.Compare, ir.Call, ir.Attr, ir.TupleGet)


class RecordingAnalysis:
    """What the reverse sweep needs of the primal, and what must be recorded for it."""

    # the results of costly primitives are recorded rather than computed again: on the CPU
    # (a GPU computes exp faster than it stores and loads a value per thread)
    record_costly = True

    def _analyse(self):
        """Assignment sites, loop nesting and block nesting of every statement."""
        self.sites = {}  # var -> list of (stmt, loops tuple)
        self.stored = {}  # array -> list of (stmt, loops)
        self.block_of = {}  # id(stmt) -> block path (tuple of block ids)
        self.loops_of = {}  # id(stmt) -> tuple of loop stmts
        self.reads = {}  # var -> list of block paths where read
        self.def_blocks = {}
        self.mutating_calls = []

        def visit(stmts, loops, path):
            for s in stmts:
                self.block_of[id(s)] = path
                self.loops_of[id(s)] = loops
                for v in ir.stmt_reads(s):
                    self.reads.setdefault(v, []).append(path)
                if isinstance(s, ir.Assign):
                    self.sites.setdefault(s.target.name, []).append((s, loops))
                    self._note_call(s.value, s, loops)
                elif isinstance(s, ir.ExprStmt):
                    self._note_call(s.value, s, loops)
                elif isinstance(s, (ir.Store, ir.AugStore)):
                    self.stored.setdefault(s.array.name, []).append((s, loops))
                elif isinstance(s, ir.If):
                    visit(s.body, loops, path + (id(s.body),))
                    visit(s.orelse, loops, path + (id(s.orelse),))
                elif isinstance(s, ir.For):
                    self.sites.setdefault(s.var.name, []).append((s, loops))
                    visit(s.body, loops + (s,), path + (id(s.body),))
                elif isinstance(s, ir.While):
                    visit(s.cond, loops + (s,), path + (id(s.cond),))
                    visit(s.body, loops + (s,), path + (id(s.body),))

        visit(self.fn.body, (), ())
        self._single = {}
        self._kept = {}
        # swaps of array references whose adjoints can follow the same way (all active or none)
        self.rebind = {k: g for k, g in rebindings(self.fn, self.types).items()
                       if len({self.active(v) for v in g.perm}) == 1}
        self.rebind_temps = {v for g in self.rebind.values() for v in g.temps}

    def _note_call(self, e, s, loops):
        if isinstance(e, ir.CallUser):
            info = self.callee_info(e)
            for k in info.mutated:
                a = e.args[k]
                if isinstance(a, ir.Var):
                    self.stored.setdefault(a.name, []).append((s, loops))

    def single_use(self, name):
        """A compiler temporary defined once and read once, in the same block: its adjoint is
        the one contribution of that read, assigned rather than accumulated."""
        if name in self._single:
            return self._single[name]
        ok = False
        if name in self.fn.temps and isinstance(self.types.get(name), Scalar):
            sites = self.sites.get(name, [])
            if len(sites) == 1 and isinstance(sites[0][0], ir.Assign):
                reads = self.reads.get(name, [])
                ok = (len(reads) == 1 and reads[0] == self.block_of[id(sites[0][0])]
                      and self._occurrences(name) == 1)
        self._single[name] = ok
        return ok

    def _occurrences(self, name):
        n = 0
        for s in ir.walk_stmts(self.fn.body):
            n += ir.stmt_reads(s).count(name)
        return n

    def overwritten(self, name):
        sites = self.sites.get(name, [])
        if name in self.fn.params:
            return len(sites) > 0
        return len(sites) > 1 or any(loops for _, loops in sites)

    def assigned_in(self, name, loop):
        for s, loops in self.sites.get(name, []):
            if loop in loops or s is loop:
                return True
        return False

    def stored_in(self, name, loop):
        return any(loop in loops for _, loops in self.stored.get(name, []))

    def _recomputable(self):
        """Assignments whose value the reverse sweep recomputes instead of recording."""
        rc = {}
        for name, sites in self.sites.items():
            if len(sites) != 1 or name in self.fn.params:
                continue
            s, loops = sites[0]
            if not isinstance(s, ir.Assign) or not loops:
                continue
            if not cheap(self.types.get(name), s.value, self.record_costly):
                continue
            if not isinstance(s.value, RECOMPUTE_EXPR):
                continue
            if isinstance(s.value, ir.Call) and (s.value.func.startswith(("foreign:", "custom:"))):
                continue
            rc[name] = s
        # operands must be unchanged over the innermost loop, or recomputable themselves
        changed = True
        while changed:
            changed = False
            for name, s in list(rc.items()):
                loop = self.loops_of[id(s)][-1]
                ok = True
                for v in ir.expr_vars(s.value):
                    if v in rc and self._dominates(rc[v], s):
                        continue
                    if any(isinstance(L, ir.For) and L.var.name == v for L in self.loops_of[id(s)]):
                        continue
                    if self.assigned_in(v, loop):
                        ok = False
                        break
                    if isinstance(self.types.get(v), Array) and self.stored_in(v, loop):
                        ok = False
                        break
                if ok and isinstance(s.value, ir.Load) and isinstance(s.value.array, ir.Global):
                    ok = True
                if not ok:
                    del rc[name]
                    changed = True
        return rc

    def _order(self, stmt):
        for k, x in enumerate(ir.walk_stmts(self.fn.body)):
            if x is stmt:
                return k
        return 0

    def _dominates(self, a, b):
        """Whether a's block encloses b's (a is at the top level of an enclosing block, before)."""
        pa, pb = self.block_of[id(a)], self.block_of[id(b)]
        return pb[: len(pa)] == pa and self.loops_of[id(a)] == self.loops_of[id(b)][: len(self.loops_of[id(a)])] \
            and self.loops_of[id(a)] == self.loops_of[id(b)]

    def _old_shape_sites(self):
        """Assignments of an array whose old value the reverse sweep does not restore, but
        whose adjoint it starts anew after them: the old value's shape is recorded before the
        assignment, for that fresh adjoint (``tape = grown``: the old tape was smaller)."""
        out = set()
        scopes = self._array_scopes()
        for v, sites in self.sites.items():
            if not isinstance(self.types.get(v), Array) or not self.active(v) or v in self.push:
                continue
            if not (self.overwritten(v) or v in self.fn.params):
                continue
            assigns = [s for s, _ in sites if isinstance(s, ir.Assign) and id(s) not in self.rebind
                       and not self.first_def(s)]
            scope = scopes.get(v, ())
            if scope != () and len(sites) == 1:
                continue  # its block allocates its adjoint afresh each time, of the right shape
            out.update(id(s) for s in assigns)
        return out

    def _unobserved_sites(self):
        """To-be-recorded, per assignment: the number a scalar held before an assignment is
        recorded only if some reverse-sweep read can see it, that is, if the adjoint code of a
        statement between an earlier assignment of the variable and this one (on some path of
        the forward sweep) reads it. An accumulation ``s = s + e`` inside a loop whose old
        values no adjoint reads (GMM's ``qx += ...``) records nothing. Returns the ids of the
        assignments whose push and pop are left out."""
        for name, s in self.rc.items():  # recomputations read their operands where they stand
            self.reads_at.setdefault(id(s), set()).update(ir.expr_vars(s.value))
        for name, (d, _) in self.ru.items():
            self.reads_at.setdefault(id(d), set()).update(ir.expr_vars(d.value))
        preds = predecessors(self.fn.body)
        out = set()
        for v in self.push:
            if not isinstance(self.types.get(v), Scalar):
                continue
            for s, _ in self.sites.get(v, []):
                if not isinstance(s, ir.Assign) or self.first_def(s) or id(s) in self.rebind:
                    continue
                if v in self.reads_at.get(id(s), ()) and v in ir.expr_vars(s.value):
                    continue  # its own adjoint reads the old value
                if not self._old_value_read(v, s, preds):
                    out.add(id(s))
        return out

    def _old_value_read(self, v, site, preds):
        seen, stack = set(), list(preds.get(id(site), ()))
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            if v in self.reads_at.get(id(n), ()):
                return True
            if defines(n, v):
                continue
            stack.extend(preds.get(id(n), ()))
        return False

    def _recompute_at_use(self):
        """Temporaries recomputed in the reverse sweep just before the adjoint of their last
        use, rather than recorded: defined once, read only later in the same block, and
        nothing between the definition and the last use writes what they read. (Lorenz's
        ``y - x`` inside the time loop: only the state is recorded.)"""
        ru = {}
        order = {id(x): k for k, x in enumerate(ir.walk_stmts(self.fn.body))}
        cands = [n for n in self.needed if len(self.sites.get(n, [])) == 1]
        for name in sorted(cands, key=lambda n: order[id(self.sites[n][0][0])]):
            if name in self.rc or name in self.fn.params:
                continue
            sites = self.sites.get(name, [])
            if len(sites) != 1 or not isinstance(sites[0][0], ir.Assign):
                continue
            d = sites[0][0]
            if not cheap(self.types.get(name), d.value, self.record_costly) or not isinstance(d.value, RECOMPUTE_EXPR):
                continue
            if isinstance(d.value, ir.Call) and d.value.func.startswith(("foreign:", "custom:")):
                continue
            path = self.block_of[id(d)]
            if any(p != path for p in self.reads.get(name, [])):
                continue
            block = self._block_list(path)
            if block is None:
                continue
            k = next(i for i, x in enumerate(block) if x is d)
            last = None
            for j in range(k + 1, len(block)):
                if name in ir.stmt_reads(block[j]):
                    last = j
            if last is None:
                continue
            reads = set(ir.expr_vars(d.value))
            if reads & set(ru):
                continue  # its inputs are recomputed later in the reverse sweep than it is
            clean = True
            for x in block[k + 1:last + 1]:
                if self.writes_of(x) & (reads | {name}):
                    clean = False
                    break
            if clean:
                ru[name] = (d, block[last])
        for name, (d, last) in ru.items():
            self.ru_at.setdefault(id(last), []).append(d)
        return ru

    def writes_of(self, s):
        """Names a statement (with its nested blocks) may write: variables it assigns, arrays
        it stores into, and the arrays the user functions it calls write into."""
        out = set()
        for x in ir.walk_stmts([s]):
            if isinstance(x, ir.Assign):
                out.add(x.target.name)
            elif isinstance(x, (ir.Store, ir.AugStore)):
                out.add(x.array.name)
            elif isinstance(x, ir.For):
                out.add(x.var.name)
            for e in ir.stmt_exprs(x):
                if isinstance(e, ir.CallUser):
                    out.update(e.args[k].name for k in self.callee_info(e).mutated
                               if isinstance(e.args[k], ir.Var))
        return out

    def _block_list(self, path):
        if not path:
            return self.fn.body
        target = path[-1]
        for s in ir.walk_stmts(self.fn.body):
            for blk in ir.child_blocks(s):
                if id(blk) == target:
                    return blk
        return None

    def _close_needed(self):
        changed = True
        while changed:
            changed = False
            for v in list(self.needed):
                s = self.rc.get(v) or (self.ru.get(v) or (None,))[0]
                if s is None:
                    continue
                for w in ir.expr_vars(s.value):
                    if w not in self.needed:
                        self.needed.add(w)
                        changed = True

    def _array_scopes(self):
        """For each active array variable (or tuple holding arrays), the innermost block
        holding all its uses and definitions: its adjoint is allocated at the start of that
        block's reversal, where the variable has a value of the right shape."""
        if hasattr(self, "_scopes"):
            return self._scopes
        scopes = {}
        for v in self.act.varied & self.act.useful:
            t = self.types.get(v)
            holds_arrays = isinstance(t, Array) or (isinstance(t, Tuple) and any(isinstance(i, Array) for i in t.items))
            if not holds_arrays or v in self.fn.params or v in self.rebind_temps:
                continue
            paths = [self.block_of[id(s)] for s, _ in self.sites.get(v, [])]
            paths += self.reads.get(v, [])
            if self.ret_stmt is not None and v in ir.stmt_reads(self.ret_stmt):
                paths.append(())
            if not paths:
                continue
            common = paths[0]
            for p in paths[1:]:
                n = 0
                while n < min(len(common), len(p)) and common[n] == p[n]:
                    n += 1
                common = common[:n]
            scopes[v] = common
        self._scopes = scopes
        return scopes

    def first_def(self, s):
        """The first assignment of a variable, at the top level of the function: before it
        the variable has no value to record."""
        v = s.target.name
        sites = self.sites.get(v, [])
        return (v not in self.fn.params and sites and sites[0][0] is s and not sites[0][1]
                and self.block_of[id(s)] == ())

    def _shape_recorded(self):
        """Arrays local to a block that is run again and again (a loop body, a branch in a
        loop) whose values the reverse sweep does not restore: the shape each had at the end of
        the block's forward run is recorded there, and read back at the start of its reversal
        to allocate its adjoint (``x[i:]`` in a loop over i has another shape every time)."""
        if hasattr(self, "_shapes"):
            return self._shapes
        out = {}
        for v, path in sorted(self._array_scopes().items()):
            if path == () or not self.active(v) or v in self.push or not isinstance(self.types[v], Array):
                continue
            block = self._block_list(path)
            if block is not None and any(isinstance(s, ir.Assign) and s.target.name == v for s in block):
                out.setdefault(path, []).append(v)
        self._shapes = out
        return out

    def _trip_recomputable(self, s):
        """A nested ``for`` loop's trip count the reverse sweep can compute again instead of
        recording it: its bounds read only enclosing loops' variables (which the reversed loops
        set again) and values assigned once, outside any loop (``range(j)`` under a loop over
        ``j``, ``range(K)`` with ``K`` fixed)."""
        if not isinstance(s, ir.For) or id(s) in self.counter or s.checkpoint is not None:
            return False
        enclosing = {id(x) for x in self.loops_of[id(s)] if isinstance(x, ir.For)}
        for v in ir.expr_vars(ir.TupleMake((s.start, s.stop, s.step))):
            sites = self.sites.get(v, [])
            loop_var = len(sites) == 1 and id(sites[0][0]) in enclosing
            if not loop_var and self.overwritten(v):
                return False
        return True


def defines(s, v):
    return (isinstance(s, ir.Assign) and s.target.name == v) or (isinstance(s, ir.For) and s.var.name == v)


def predecessors(body):
    """The forward sweep's control flow over structured statements: id(stmt) -> the
    statements that can run just before it (a compound statement stands for its test or loop
    head; a loop head follows the end of its body)."""
    preds = {}

    def visit(stmts, before):
        for s in stmts:
            preds[id(s)] = list(before)
            if isinstance(s, ir.If):
                ends = visit(s.body, [s]) + (visit(s.orelse, [s]) if s.orelse else [s])
                before = ends
            elif isinstance(s, ir.For):
                preds[id(s)] += visit(s.body, [s])
                before = [s]
            elif isinstance(s, ir.While):
                cond_ends = visit(s.cond, [s]) if s.cond else [s]
                preds[id(s)] += visit(s.body, cond_ends)
                before = cond_ends
            else:
                before = [s]
        return before

    visit(body, [])
    return preds


def cheap(t, value, record_costly=True):
    """Values cheap enough to recompute rather than record: numbers, shape tuples, and rows or
    slices of arrays (``X[i]``: a view, nothing copied). Not, with ``record_costly``, the
    result of a costly primitive (``math.exp``, ``math.log``, ...: on the CPU a library call
    costs more than a tape entry's store and load; GMM's reverse sweep spent a fifth of its
    time calling ``exp`` again)."""
    if record_costly and isinstance(value, ir.Call):
        rule = RULES.get(value.func)
        if rule is not None and rule.costly:
            return False
    return isinstance(t, Scalar) or (isinstance(t, Tuple) and all(isinstance(x, Scalar) for x in t.items)) \
        or (isinstance(t, Array) and isinstance(value, ir.Load))
