"""Activity analysis: which variables carry derivatives.

A variable is *varied* when it depends differentiably on a differentiated input, and *useful*
when the differentiated output depends differentiably on it. Only variables that are both (and
of a float type) get derivative code. Flow-insensitive, over the whole function, to a fixed
point: simple and safe (a variable that is active somewhere is active everywhere).
"""

from __future__ import annotations

from .. import ir
from ..errors import NonDifferentiableError, UnsupportedSyntaxError
from .rebind import rebindings
from ..ir.types import Array


def diff_operands(e, types, rules):
    """Variables ``e``'s value depends on differentiably."""
    if isinstance(e, ir.Var):
        return [e.name]
    if isinstance(e, (ir.Const, ir.Global, ir.NewAxis)) or e is None:
        return []
    if isinstance(e, ir.BinOp):
        if e.op == "//":
            return []
        if e.op == "%":
            return diff_operands(e.left, types, rules) + diff_operands(e.right, types, rules)
        return diff_operands(e.left, types, rules) + diff_operands(e.right, types, rules)
    if isinstance(e, ir.UnaryOp):
        return [] if e.op == "not" else diff_operands(e.operand, types, rules)
    if isinstance(e, (ir.Compare, ir.BoolOp)):
        return []
    if isinstance(e, ir.IfExp):
        return diff_operands(e.body, types, rules) + diff_operands(e.orelse, types, rules)
    if isinstance(e, ir.Load):
        return diff_operands(e.array, types, rules)
    if isinstance(e, ir.Attr):
        return diff_operands(e.value, types, rules) if e.name in ("T", "real") else []
    if isinstance(e, (ir.TupleMake, ir.CallUser)):
        return [v for x in (e.items if isinstance(e, ir.TupleMake) else e.args)
                for v in diff_operands(x, types, rules)]
    if isinstance(e, ir.TupleGet):
        return diff_operands(e.tuple, types, rules)
    if isinstance(e, ir.Method):
        extra = diff_operands(e.args[0], types, rules) if e.name == "dot" else []
        return diff_operands(e.obj, types, rules) + extra
    if isinstance(e, ir.Call):
        if e.func == "stop_gradient" or e.func.startswith("foreign:"):
            return [] if e.func == "stop_gradient" else _all_vars(e)
        if e.func.startswith("custom:"):
            return _all_vars(e)
        rule = rules.get(e.func)
        if rule is None or rule.kind == "zero":
            return []
        out = []
        for k in rule.diff:
            if k < len(e.args):
                out += diff_operands(e.args[k], types, rules)
        for name, v in e.kwargs:
            if name in rule.args and rule.args.index(name) in rule.diff:
                out += diff_operands(v, types, rules)
        return out
    return []


def _all_vars(e):
    return ir.expr_vars(e)


class Activity:
    """``outputs``: what the caller sees besides the return value (the array parameters the
    function writes into): useful from the start. ``returned``: for a function returning a
    tuple, which of its items the caller uses (None: all); the others need no derivative."""

    def __init__(self, fn, types, active_params, rules, mutates=None, outputs=(), returned=None):
        self.returned = returned
        self.fn = fn
        self.types = types
        self.rules = rules
        self.mutates = mutates or (lambda callee, k: False)
        self.varied = set(p for p in active_params if self._diff(p))
        self.useful = set(outputs)
        self._run()

    def _diff(self, name):
        t = self.types.get(name)
        return t is not None and t.differentiable

    def is_active(self, name):
        return name in self.varied and name in self.useful and self._diff(name)

    def _used_items(self, v):
        """A returned tuple with only the items the caller uses (all when it says nothing)."""
        if self.returned is not None and isinstance(v, ir.TupleMake) and len(v.items) == len(self.returned):
            return ir.TupleMake(tuple(x for x, used in zip(v.items, self.returned) if used))
        return v

    def _edges(self):
        """(target, sources) pairs: target depends differentiably on sources."""
        edges = []
        # a variable holding the returned tuple, read by nothing but the returns: its items
        # count only where the caller uses them
        returned_vars = set()
        if self.returned:
            returns = [x.value.name for x in ir.walk_stmts(self.fn.body)
                       if isinstance(x, ir.Return) and isinstance(x.value, ir.Var)]
            reads = [v for x in ir.walk_stmts(self.fn.body) for v in ir.stmt_reads(x)]
            returned_vars = {v for v in set(returns) if reads.count(v) == returns.count(v)}
        for s in ir.walk_stmts(self.fn.body):
            if isinstance(s, ir.Assign):
                v = self._used_items(s.value) if s.target.name in returned_vars else s.value
                edges.append((s.target.name, diff_operands(v, self.types, self.rules), s))
                self._call_mutations(s.value, edges, s)
            elif isinstance(s, (ir.Store, ir.AugStore)):
                srcs = diff_operands(s.value, self.types, self.rules)
                edges.append((s.array.name, srcs + [s.array.name], s))
            elif isinstance(s, ir.ExprStmt):
                self._call_mutations(s.value, edges, s)
            elif isinstance(s, ir.Return) and s.value is not None:
                edges.append(("<return>", diff_operands(self._used_items(s.value), self.types, self.rules), s))
        return edges

    def _call_mutations(self, e, edges, s):
        if isinstance(e, ir.CallUser):
            srcs = []
            for a in e.args:
                srcs += diff_operands(a, self.types, self.rules)
            for k, a in enumerate(e.args):
                if isinstance(a, ir.Var) and self.mutates(e, k):
                    edges.append((a.name, srcs, s))

    def _run(self):
        edges = self._edges()
        changed = True
        while changed:
            changed = False
            for tgt, srcs, _ in edges:
                if tgt not in self.varied and tgt != "<return>" and self._diff(tgt) \
                        and any(x in self.varied for x in srcs):
                    self.varied.add(tgt)
                    changed = True
        self.useful.add("<return>")
        changed = True
        while changed:
            changed = False
            for tgt, srcs, _ in edges:
                if tgt in self.useful:
                    for x in srcs:
                        if x not in self.useful and self._diff(x):
                            self.useful.add(x)
                            changed = True
        self.returns_varied = any(tgt == "<return>" and any(x in self.varied for x in srcs)
                                  for tgt, srcs, _ in edges)


VIEW_METHODS = ("reshape", "ravel", "transpose", "swapaxes", "squeeze", "view")
VIEW_CALLS = ("np.reshape", "np.transpose", "np.ravel", "np.swapaxes", "np.moveaxis",
              "np.expand_dims", "np.squeeze", "np.atleast_1d", "np.atleast_2d", "np.atleast_3d",
              "np.asarray", "np.broadcast_to")


def check_aliasing(fn, types, mutates=None, returns_view=None):
    """Refuse what would need aliasing tracked: an in-place write through a name that shares
    memory with another array (a view, or a view passed to a function that writes into it), and
    a write into an array while a view of it is still used. The derivative treats a view as a
    copy; a silently wrong derivative is worse than a clear refusal."""
    mutates = mutates or (lambda call, k: False)
    returns_view = returns_view or (lambda call: ())
    order, loops_of, path_of = {}, {}, {}

    def visit(stmts, loops, path):
        for s in stmts:
            order[id(s)] = len(order)
            loops_of[id(s)] = loops
            path_of[id(s)] = path
            for blk in ((s.body, s.orelse) if isinstance(s, ir.If) else
                        (s.body,) if isinstance(s, ir.For) else
                        (s.cond, s.body) if isinstance(s, ir.While) else ()):
                visit(blk, loops + ((s,) if isinstance(s, (ir.For, ir.While)) else ()),
                      path + (id(blk),))

    visit(fn.body, (), ())

    def alias_dead(base, d, m):
        """Whether `base` is bound to a fresh array on every path from the view's creation `d`
        to the write `m`: a rebinding that dominates `m`, after `d`, or inside a loop holding
        both (so each iteration rebinds it before the write)."""
        common = [L for L in loops_of[id(d)] if L in loops_of[id(m)]]
        for r in ir.walk_stmts(fn.body):
            if isinstance(r, ir.Assign) and r.target.name == base \
                    and _view_source(r.value, types) is None \
                    and path_of[id(m)][:len(path_of[id(r)])] == path_of[id(r)] \
                    and order[id(r)] < order[id(m)] \
                    and (order[id(r)] > order[id(d)] or (common and common[-1] in loops_of[id(r)])):
                return True
        return False

    views = {}
    # np.ravel's result: a view or a copy. Writes through it are refused like a view's; a read
    # of it after its base is written is not (the lowering of a masked store gathers from one)
    flat = set()
    permuting = rebindings(fn, types)  # swaps leave no sharing behind
    for s in ir.walk_stmts(fn.body):
        src = _view_made(s, types, returns_view) if id(s) not in permuting else None
        if src and src != s.target.name:  # not `t = grow(t)`: t itself
            views[s.target.name] = (views.get(src, (src, None))[0], s)
            if isinstance(s.value, ir.Call) and s.value.func == "np.ravel":
                flat.add(s.target.name)
    for g in {id(g): g for g in permuting.values()}.values():
        for v in g.names:
            src = fn.params and v in fn.params and v or (views[v][0] if v in views else None)
            if src is not None:
                raise UnsupportedSyntaxError(
                    f"`{v}` is rebound here to another array, but it "
                    + ("is a parameter: the caller's arrays would be swapped" if src == v else
                       f"shares memory with `{src}`") + "; s2sad follows rebinding only between "
                    "arrays the function owns", g.stmts[0].loc,
                    f"take a copy first (`{v} = {v}.copy()`)")
    writes = array_writes(fn, mutates)

    def desc(v):
        return f"`{v}`" if v not in fn.temps else "a view"

    uses = {}
    for s in ir.walk_stmts(fn.body):
        for v in value_reads(s):
            uses.setdefault(v, []).append(s)

    def read_after(name, d, m):
        """Whether `name` is read after the write `m` (later, or on a later iteration of a loop
        around `m` that does not also redefine the alias at `d`)."""
        for u in uses.get(name, []):
            if u is m:
                continue
            if order[id(d)] < order[id(m)] < order[id(u)]:
                return True
            if any(L in loops_of[id(u)] and L not in loops_of[id(d)] for L in loops_of[id(m)]):
                return True
        return False

    made = {id(d) for _, d in views.values()}

    def read_before(name, m):
        """A statement before the write ``m`` (not one that only makes a view) that reads the
        values of ``name``: the reverse sweep reads them there, or computes them again, and
        a write through a view is not restored into its base."""
        return any(order[id(u)] < order[id(m)] and id(u) not in made and not _only_stored_into(u, name)
                   for u in uses.get(name, []))

    for v, (base, d) in views.items():
        for name, m in writes:
            if name not in (v, base) or order[id(m)] < order[id(d)] and not loops_of[id(m)]:
                continue
            if name == base and alias_dead(base, d, m):
                continue
            if name == v and read_before(base, m):
                raise UnsupportedSyntaxError(
                    f"in-place write into {desc(v)}, which shares memory with `{base}` (line "
                    f"{d.loc.lineno}), after `{base}` was read; the derivative would read `{base}` "
                    "as this write left it: s2sad does not differentiate writes through aliases",
                    m.loc, f"write into `{base}` directly (e.g. `{base}[i, j] = v`), or make a copy "
                    "with .copy()")
            other = base if name == v else v
            if name == base and v in flat:
                continue
            if read_after(other, d, m):
                if name == v:
                    raise UnsupportedSyntaxError(
                        f"in-place write into {desc(v)}, which shares memory with `{base}` "
                        f"(line {d.loc.lineno}), and `{base}` is used afterwards; s2sad does not "
                        "differentiate writes through aliases", m.loc,
                        f"write into `{base}` directly (e.g. `{base}[i, j] = v`), or make a copy "
                        "with .copy()")
                implicit = v in fn.temps  # `a[0:2] -= h(a)`: the slice is read before h runs
                raise UnsupportedSyntaxError(
                    f"`{base}` is written here while {desc(v)} of it made on line "
                    f"{d.loc.lineno} is still used; s2sad treats views as copies and does not "
                    "track this aliasing", m.loc,
                    "compute the right-hand side into a variable first (`d = ...` on its own "
                    f"line, then `{base}[...] -= d`): it writes into `{base}` while the slice "
                    "being updated is open" if implicit else
                    f"take a copy for the view: `... = {base}[...].copy()`")


def array_writes(fn, mutates):
    """``[(array name, statement)]``: the stores into arrays (``a[i] = v``, ``a[1:3] += v``) and
    the calls that write into an array they are passed (``mutates(call, k)``)."""
    out = []
    for s in ir.walk_stmts(fn.body):
        if isinstance(s, (ir.Store, ir.AugStore)):
            out.append((s.array.name, s))
        for e in ir.stmt_exprs(s):
            if isinstance(e, ir.CallUser):
                out += [(a.name, s) for k, a in enumerate(e.args) if isinstance(a, ir.Var) and mutates(e, k)]
    return out


def sharing(fn, types):
    """For each array name bound to a view of another (``_t1 = a[1:3]``, ``r = M[i]``,
    ``u = a.T``, ``b = a``, transitively): the arrays whose memory it shares, whose writes
    change what it reads."""
    shares = {}
    for s in ir.walk_stmts(fn.body):
        src = _view_made(s, types, lambda call: ())
        if src and src != s.target.name:
            shares.setdefault(s.target.name, set()).update({src} | shares.get(src, set()))
    for _ in range(len(shares)):  # a view made before its base's own base was known
        grown = False
        for v, bases in shares.items():
            more = set().union(*(shares.get(b, set()) for b in bases)) - bases - {v}
            if more:
                bases |= more
                grown = True
        if not grown:
            break
    return shares


def _view_made(s, types, returns_view, among=None):
    """For ``v = e`` binding an array name: the array whose memory ``e`` may share (a view of
    it, or the view a called function returns of an argument; with ``among``, only one of
    those), None for a fresh array; False when ``s`` binds no array name."""
    if not (isinstance(s, ir.Assign) and not s.inplace and isinstance(s.target, ir.Var)
            and isinstance(types.get(s.target.name), Array)):
        return False
    src = _view_source(s.value, types)
    if src is None and isinstance(s.value, ir.CallUser):  # `v = first_two(b)`
        src = next((x for j in returns_view(s.value)
                    if (x := _view_source(s.value.args[j], types)) is not None
                    and (among is None or x in among)), None)
    return src


def param_view_writes(fn, types, mutates, callee_view_writes, returns_view=lambda call: ()):
    """Where ``fn`` writes into one of its array parameters through another name that shares
    its memory (``u = a[0:2]; u[0] = v``, ``r = a[i]; r += v``, ``u = a; u[0] = v``, or such a
    view passed to a function that writes into it): ``{parameter position: the statement}``.
    Its caller's array changes there, but the derivative treats the view as a copy (only writes
    into the parameter itself are followed into the caller). ``mutates(call, k)``: the call
    writes into its argument ``k``; ``callee_view_writes(call, k)``: it does so through a view
    (a statement of the callee, or None).

    In order of execution: a name bound to a fresh array at the function's top level (not in a
    branch or loop) no longer shares the parameter's memory after it (``a = a * 2.0``, a view
    name rebound); a loop's body is followed twice (a view made late in one iteration is written
    early in the next)."""
    root = {p: p for p in fn.params if isinstance(types.get(p), Array)}
    out = {}

    def found(name, s):
        if name in root:
            out.setdefault(fn.params.index(root[name]), s)

    def visit(stmts, top):
        for s in stmts:
            src = _view_made(s, types, returns_view, root)
            if src in root and src != s.target.name:
                root[s.target.name] = root[src]
            elif top and src is None:
                root.pop(s.target.name, None)  # a fresh array from here on
            if isinstance(s, (ir.Store, ir.AugStore)) and s.array.name in root \
                    and s.array.name not in fn.params:
                found(s.array.name, s)
            if isinstance(s, ir.Assign) and s.inplace and s.target.name in root \
                    and s.target.name not in fn.params and isinstance(types.get(s.target.name), Array):
                found(s.target.name, s)
            for e in ir.stmt_exprs(s):
                if isinstance(e, ir.CallUser):
                    for k, a in enumerate(e.args):
                        if not (isinstance(a, ir.Var) and a.name in root):
                            continue
                        inner = callee_view_writes(e, k)
                        if inner is not None or (a.name not in fn.params and mutates(e, k)):
                            found(a.name, inner if inner is not None else s)
            if isinstance(s, ir.If):
                visit(s.body, False)
                visit(s.orelse, False)
            elif isinstance(s, (ir.For, ir.While)):
                for _ in range(2):
                    if isinstance(s, ir.While):
                        visit(s.cond, False)
                    visit(s.body, False)

    visit(fn.body, True)
    return out


def returned_views(fn, types, returns_view=lambda call: ()):
    """Positions of the array parameters of ``fn`` whose memory the array it returns may share
    (``return a[0:2]``, ``u = a.T; return u``)."""
    root = {p: p for p in fn.params if isinstance(types.get(p), Array)}
    out = set()
    for s in ir.walk_stmts(fn.body):
        src = _view_made(s, types, returns_view, root)
        if src in root and src != s.target.name:
            root[s.target.name] = root[src]
        if isinstance(s, ir.Return) and s.value is not None:
            src = _view_source(s.value, types)
            if src in root:
                out.add(fn.params.index(root[src]))
    return out


def _only_stored_into(s, name):
    """Whether ``s`` uses the array ``name`` only as the target of a store (``name[:n] = x``;
    its reverse restores the elements, it reads none of them)."""
    if not (isinstance(s, (ir.Store, ir.AugStore)) and s.array.name == name):
        return False
    return name not in {v for e in (s.value, *s.index) for v in ir.expr_vars(e)}


_SHAPE_ONLY_CALLS = {"np.zeros_like": (0,), "np.ones_like": (0,), "np.empty_like": (0,), "len": (0,),
                     "_unbroadcast1": (1,), "_unbroadcast2": (1,), "_unbroadcast3": (1,)}


def value_reads(s):
    """The variables whose values a statement reads: like ``ir.stmt_reads``, less the uses
    that read only a shape (``np.zeros_like(v)``, ``v.shape``, ``len(v)``; adjoint code
    allocates its arrays this way), which a later write into ``v``'s memory cannot change."""
    shape_only = []

    def visit(e):
        if isinstance(e, ir.Attr) and e.name in ("shape", "size", "ndim") and isinstance(e.value, ir.Var):
            shape_only.append(e.value.name)
            return
        func = getattr(e, "func", None)
        if isinstance(e, ir.CallUser) and func.startswith("_unbroadcast"):
            func = func[:len("_unbroadcast") + 1]  # a runtime helper, differentiated again
        if isinstance(e, (ir.Call, ir.CallUser)) and func in _SHAPE_ONLY_CALLS:
            for k, a in enumerate(e.args):
                if k in _SHAPE_ONLY_CALLS[func] and isinstance(a, ir.Var):
                    shape_only.append(a.name)
                else:
                    visit(a)
            return
        for x in ir.sub_exprs(e):
            visit(x)

    reads = ir.stmt_reads(s)
    for e in ir.stmt_roots(s):
        visit(e)
    out = list(reads)
    for v in shape_only:
        out.remove(v)
    return out


def check_foreign_calls(fn, types, activity):
    """A function s2sad has neither source nor rule for may only see values that carry no
    derivative; refused, in both modes, when a differentiated value reaches it."""
    for s in ir.walk_stmts(fn.body):
        if not isinstance(s, (ir.Assign, ir.Return)):
            continue
        target_useful = isinstance(s, ir.Return) or s.target.name in activity.useful
        if not target_useful:
            continue
        for e in ir.stmt_exprs(s):
            if isinstance(e, ir.Call) and e.func.startswith("foreign:"):
                active = [v for v in ir.expr_vars(e) if v in activity.varied
                          and types.get(v) is not None and types[v].differentiable]
                if active:
                    name = e.func.split(":", 1)[1]
                    calls = getattr(fn, "foreign_calls", {}).get(name, [])
                    call = next((c for c in calls if s.loc is not None and c.loc is not None
                                 and c.loc.lineno == s.loc.lineno), calls[0] if calls else None)
                    if call is not None and call.no_rule:
                        raise NonDifferentiableError(
                            f"`{call.text}` is not supported by s2sad yet (it has no derivative "
                            f"rule), and it is called with the differentiated value "
                            f"`{active[0]}`", call.loc,
                            "see the README for the supported math and numpy functions, give it "
                            "a rule with s2sad.custom_vjp, or wrap the argument in "
                            "s2sad.stop_gradient(...) (with no differentiated value it is simply "
                            "evaluated)")
                    raise NonDifferentiableError(
                        f"`{call.text if call else name}` is called with the differentiated value "
                        f"`{active[0]}`, but s2sad has neither its source nor a derivative rule "
                        "for it", call.loc if call else s.loc,
                        "write it in Python in a .py file, give it a rule with s2sad.custom_vjp, "
                        "or wrap the argument in s2sad.stop_gradient(...)")


def _view_source(e, types):
    """The array whose memory the array value of ``e`` may share: ``a`` for ``a``, ``a[1:3]``,
    ``a[i]``, ``a.T``, ``a.reshape(...)``, ``np.ravel(a)``, ``np.swapaxes(a, 0, 1)``, ... and for
    chains of them (``a.T[1]``, ``np.ravel(a)[1:3]``, ``a[None, 0:2][0]``); None for a fresh
    array. Conservative: a fancy index or a ravel that copies counts as a view too."""
    while True:
        if isinstance(e, ir.Var):
            return e.name if isinstance(types.get(e.name), Array) else None
        if isinstance(e, ir.Load):
            e = e.array
        elif isinstance(e, ir.Attr) and e.name == "T":
            e = e.value
        elif isinstance(e, ir.Method) and e.name in VIEW_METHODS:
            e = e.obj
        elif isinstance(e, ir.Call) and e.func in VIEW_CALLS and e.args:
            e = e.args[0]
        else:
            return None
