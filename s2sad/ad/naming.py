"""Names in generated code: ``x_dot`` is the tangent of ``x``, ``x_bar`` its adjoint; compiler
temporaries start with an underscore. Every name is checked against the function's own names,
so a user's variable called ``x_bar`` is never clobbered.

The namer also keeps the record ``ir.Function`` carries: which names it made (``made``) and
which of those are temporaries (``temps``: the adjoint or tangent of a temporary, and the names
asked for with ``temp``)."""

from __future__ import annotations

from .. import ir
from ..ir.names import fresh_name


class Namer:
    def __init__(self, fn):
        self.used = set(fn.params)
        for s in ir.walk_stmts(fn.body):
            self.used |= set(ir.stmt_reads(s))
            self.used.update(ir.stmt_defs(s))
        self.derived = {}
        self.counter = {}
        self.fn_temps = fn.temps
        self.temps, self.made = set(), set()

    def derived_name(self, name, suffix):
        key = (name, suffix)
        if key in self.derived:
            return self.derived[key]
        cand = fresh_name(f"{name}_{suffix}", set(self.used))
        self._take(cand, temp=name in self.fn_temps)
        self.derived[key] = cand
        return cand

    def fresh(self, base):
        k = self.counter.get(base, 0)
        while True:
            k += 1
            cand = f"{base}{k}" if k > 1 or base[-1].isdigit() else base
            if cand not in self.used:
                self.counter[base] = k
                self._take(cand)
                return cand

    def temp(self, base):
        """A fresh name for a temporary: folding may substitute it into its one use."""
        name = self.fresh(base)
        self.temps.add(name)
        return name

    def _take(self, name, temp=False):
        self.used.add(name)
        self.made.add(name)
        if temp:
            self.temps.add(name)

    def mark(self, out, fn):
        """Give the generated function ``out`` the record of ``fn``'s names and of those made
        here: ``fn``'s statements are copied into ``out``, with their temporaries."""
        out.temps = set(fn.temps) | self.temps
        out.made = set(fn.made) | self.made | out.temps
        return out
