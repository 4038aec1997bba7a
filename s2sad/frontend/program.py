"""The set of user functions one derivative needs: the differentiated function and every
user function it calls, each lowered once."""

from __future__ import annotations

from .. import ir
from ..errors import RecursionNotSupportedError
from .lower import lower_function


class Program:
    def __init__(self):
        self.funcs = {}  # key -> ir.Function
        self._keys = {}  # id(pyfunc) -> key
        self._objs = {}

    def add(self, pyfn):
        k = self._keys.get(id(pyfn))
        if k is not None:
            return k
        base = pyfn.__name__
        key = base
        n = 1
        while key in self.funcs or key in self._objs:
            n += 1
            key = f"{base}_{n}"
        self._keys[id(pyfn)] = key
        self._objs[key] = pyfn
        self.funcs[key] = None  # placeholder while lowering (recursion guard)
        self.funcs[key] = lower_function(pyfn, self)
        return key

    def check_recursion(self, root):
        """Refuse call cycles: a derivative of a recursive function would need an unbounded tape
        of activation records, which typed storage cannot give."""
        state = {}

        def visit(key, via):
            state[key] = "active"
            fn = self.funcs[key]
            for s in ir.walk_stmts(fn.body):
                for e in _calls_in(s):
                    callee = e.func
                    if state.get(callee) == "active":
                        raise RecursionNotSupportedError(
                            f"`{fn.name}` calls `{self.funcs[callee].name}` recursively; "
                            "recursion is not supported", s.loc,
                            "rewrite the recursion as a loop")
                    if callee not in state:
                        visit(callee, s)
            state[key] = "done"

        visit(root, None)


def _calls_in(s):
    exprs = []
    if isinstance(s, (ir.Assign, ir.ExprStmt, ir.Return)):
        exprs.append(s.value)
    out = []
    while exprs:
        e = exprs.pop()
        if e is None:
            continue
        if isinstance(e, ir.CallUser):
            out.append(e)
        exprs.extend(ir.sub_exprs(e))
    return out
