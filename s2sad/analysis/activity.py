"""Activity analysis: which variables carry derivatives.

A variable is *varied* when it depends differentiably on a differentiated input, and *useful*
when the differentiated output depends differentiably on it. Only variables that are both (and
of a float type) get derivative code. Flow-insensitive, over the whole function, to a fixed
point: simple and safe (a variable that is active somewhere is active everywhere).
"""

from __future__ import annotations

from .. import ir
from ..errors import UnsupportedSyntaxError
from .types import Array, Tuple


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
    if isinstance(e, ir.TupleMake):
        out = []
        for x in e.items:
            out += diff_operands(x, types, rules)
        return out
    if isinstance(e, ir.TupleGet):
        return diff_operands(e.tuple, types, rules)
    if isinstance(e, ir.Method):
        if e.name in ("astype",):
            return diff_operands(e.obj, types, rules)
        if e.name == "dot":
            return diff_operands(e.obj, types, rules) + diff_operands(e.args[0], types, rules)
        if e.name in ("item",):
            return diff_operands(e.obj, types, rules)
        return diff_operands(e.obj, types, rules)
    if isinstance(e, ir.CallUser):
        out = []
        for a in e.args:
            out += diff_operands(a, types, rules)
        return out
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
    def __init__(self, fn, types, active_params, rules, mutates=None):
        self.fn = fn
        self.types = types
        self.rules = rules
        self.mutates = mutates or (lambda callee, k: False)
        self.varied = set(p for p in active_params if self._diff(p))
        self.useful = set()
        self._run()

    def _diff(self, name):
        t = self.types.get(name)
        return t is not None and t.differentiable

    def is_active(self, name):
        return name in self.varied and name in self.useful and self._diff(name)

    def _edges(self):
        """(target, sources) pairs: target depends differentiably on sources."""
        edges = []
        for s in ir.walk_stmts(self.fn.body):
            if isinstance(s, ir.Assign):
                edges.append((s.target.name, diff_operands(s.value, self.types, self.rules), s))
                self._call_mutations(s.value, edges, s)
            elif isinstance(s, (ir.Store, ir.AugStore)):
                srcs = diff_operands(s.value, self.types, self.rules)
                edges.append((s.array.name, srcs + [s.array.name], s))
            elif isinstance(s, ir.ExprStmt):
                self._call_mutations(s.value, edges, s)
            elif isinstance(s, ir.Return) and s.value is not None:
                edges.append(("<return>", diff_operands(s.value, self.types, self.rules), s))
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


VIEW_METHODS = ("reshape", "ravel", "transpose")


def check_aliasing(fn, types, mutates=None):
    """Refuse in-place writes through a name that may share memory with another array: the
    derivative would have to track the aliasing, and silently wrong derivatives are worse than
    a clear refusal."""
    views = {}
    for s in ir.walk_stmts(fn.body):
        if isinstance(s, ir.Assign) and isinstance(types.get(s.target.name), Array):
            src = _view_source(s.value, types)
            if src is not None:
                views[s.target.name] = (src, s)
    for s in ir.walk_stmts(fn.body):
        written = None
        if isinstance(s, (ir.Store, ir.AugStore)):
            written = s.array.name
        if written in views:
            src, vs = views[written]
            raise UnsupportedSyntaxError(
                f"in-place write into `{written}`, which shares memory with `{src}` "
                f"(line {vs.loc.lineno}); s2sad does not differentiate writes through aliases",
                s.loc, f"write into `{src}` directly, or make a copy: `{written} = ....copy()`")
        if written is not None and written in fn.params:
            pass


def _view_source(e, types):
    if isinstance(e, ir.Var) and isinstance(types.get(e.name), Array):
        return e.name
    if isinstance(e, ir.Load) and isinstance(e.array, ir.Var) and isinstance(types.get(e.array.name), Array):
        return e.array.name
    if isinstance(e, ir.Attr) and e.name == "T" and isinstance(e.value, ir.Var):
        return e.value.name
    if isinstance(e, ir.Method) and e.name in VIEW_METHODS and isinstance(e.obj, ir.Var):
        return e.obj.name
    if isinstance(e, ir.Call) and e.func in ("np.reshape", "np.transpose") and isinstance(e.args[0], ir.Var):
        return e.args[0].name
    return None
