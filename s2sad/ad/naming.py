"""Names in generated code: ``x_dot`` is the tangent of ``x``, ``x_bar`` its adjoint; compiler
temporaries start with an underscore. Every name is checked against the function's own names,
so a user's variable called ``x_bar`` is never clobbered."""

from __future__ import annotations

from .. import ir


class Namer:
    def __init__(self, fn):
        self.used = set(fn.params)
        for s in ir.walk_stmts(fn.body):
            self.used |= set(ir.stmt_reads(s))
            if isinstance(s, ir.Assign):
                self.used.add(s.target.name)
            elif isinstance(s, ir.For):
                self.used.add(s.var.name)
        self.derived = {}
        self.counter = {}

    def derived_name(self, name, suffix):
        key = (name, suffix)
        if key in self.derived:
            return self.derived[key]
        base = f"{name}_{suffix}"
        cand = base
        k = 1
        while cand in self.used:
            k += 1
            cand = f"{base}{k}"
        self.used.add(cand)
        self.derived[key] = cand
        return cand

    def fresh(self, base):
        k = self.counter.get(base, 0)
        while True:
            k += 1
            cand = f"{base}{k}" if k > 1 or base[-1].isdigit() else base
            if cand not in self.used:
                self.counter[base] = k
                self.used.add(cand)
                return cand
