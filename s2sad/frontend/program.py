"""The set of user functions one derivative needs: the differentiated function and every
user function it calls, each lowered once."""

from __future__ import annotations

from .. import ir
from ..errors import RecursionNotSupportedError, UnsupportedSyntaxError
from ..log import event
from .lower import lower_function


class CustomInfo:
    """A function with a custom derivative rule, as the program sees it: the keys of its
    primal (None when it has no Python source) and of its rule functions."""

    def __init__(self, rule, primal, fwd=None, bwd=None, jvp=None, primal_global=None):
        self.rule = rule
        self.kind = rule.kind
        self.primal = primal
        self.fwd, self.bwd, self.jvp = fwd, bwd, jvp
        self.primal_global = primal_global


class Program:
    def __init__(self):
        self.funcs = {}  # key -> ir.Function
        self._keys = {}  # id(pyfunc) -> key
        self._objs = {}
        self.customs = {}  # key -> CustomInfo
        self.value_reads = []  # resolve.ValueRead: module-level values built into the code
        self._custom_keys = {}  # id(rule object) -> key

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
        event("lowering", pyfn.__qualname__)
        self._objs[key] = pyfn
        self.funcs[key] = None  # placeholder while lowering (recursion guard)
        self.funcs[key] = lower_function(pyfn, self)
        return key

    def add_custom(self, rule, global_name):
        """Register a function carrying a custom rule; ``global_name(obj)`` names an object the
        generated code reaches as a module global (a primal with no Python source)."""
        from .resolve import user_function_of

        key = self._custom_keys.get(id(rule))
        if key is not None:  # known, or being registered (its rule calls the function itself)
            return key
        rule.ready()
        key = rule.__name__
        while key in self.customs:
            key += "_"
        self._custom_keys[id(rule)] = key
        self.customs[key] = None
        primal, pglobal = None, None
        fn = user_function_of(rule.fun)
        if fn is not None:
            try:
                primal = self.add(fn)
            except UnsupportedSyntaxError:
                primal = None  # no readable source: called as it is
        if primal is None:
            pglobal = global_name(rule.fun)
        if rule.kind == "custom_vjp":
            info = CustomInfo(rule, primal, fwd=self.add(rule.fwd), bwd=self.add(rule.bwd),
                              primal_global=pglobal)
        else:
            info = CustomInfo(rule, primal, jvp=self.add(rule.jvp), primal_global=pglobal)
        self.customs[key] = info
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
    return [e for e in ir.stmt_exprs(s) if isinstance(e, ir.CallUser)]
