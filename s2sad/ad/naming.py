"""Names in generated code: ``x_dot`` is the tangent of ``x``, ``x_bar`` its adjoint; compiler
temporaries start with an underscore. Every name is checked against the function's own names,
so a user's variable called ``x_bar`` is never clobbered."""

from __future__ import annotations

from .. import ir
from ..ir.names import fresh_name


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
        self.derived[key] = fresh_name(f"{name}_{suffix}", self.used)
        return self.derived[key]

    def fresh(self, base):
        k = self.counter.get(base, 0)
        while True:
            k += 1
            cand = f"{base}{k}" if k > 1 or base[-1].isdigit() else base
            if cand not in self.used:
                self.counter[base] = k
                self.used.add(cand)
                return cand
