"""Array rebinding: runs of ``a = b`` between array variables that only permute which array
object each name refers to — ``u, v = v, u`` (lowered through two temporaries), or
``t = u; u = v; v = t``.

Such a run creates no sharing once it has finished: each array object is still referenced by
one name. So it is not a view for the aliasing check, and the adjoints follow the objects:
the reverse sweep undoes the run by the inverse permutation of both the primal names and
their adjoints (Tapenade's treatment of pointer swaps), with nothing recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ir
from ..ir.types import Array


@dataclass(eq=False)
class Rebinding:
    stmts: list  # the consecutive ``a = b`` statements of the run
    perm: dict  # name -> the name whose array object it refers to after the run
    temps: frozenset  # names assigned in the run and read nowhere else

    @property
    def names(self):
        return sorted(self.perm)


def rebindings(fn, types):
    """The permuting runs of array rebinding in ``fn``, each mapped from ``id`` of every
    statement it contains."""
    reads, sites = {}, {}
    for s in ir.walk_stmts(fn.body):
        for v in ir.stmt_reads(s):
            reads.setdefault(v, []).append(s)
        if isinstance(s, ir.Assign):
            sites.setdefault(s.target.name, []).append(s)
        elif isinstance(s, ir.For):
            sites.setdefault(s.var.name, []).append(s)
    out = {}

    def is_rebind(s):
        return (isinstance(s, ir.Assign) and isinstance(s.value, ir.Var)
                and isinstance(types.get(s.target.name), Array)
                and isinstance(types.get(s.value.name), Array))

    def visit(stmts):
        k = 0
        while k < len(stmts):
            if not is_rebind(stmts[k]):
                for blk in ir.child_blocks(stmts[k]):
                    visit(blk)
                k += 1
                continue
            j = k
            while j < len(stmts) and is_rebind(stmts[j]):
                j += 1
            group = _permutation(stmts[k:j], reads, sites, fn.params)
            if group is not None:
                for s in group.stmts:
                    out[id(s)] = group
            k = j

    visit(fn.body)
    return out


def _permutation(run, reads, sites, params):
    inside = {id(s) for s in run}
    assigned = [s.target.name for s in run]
    temps = {v for v in assigned
             if v not in params
             and all(id(s) in inside for s in sites.get(v, []))
             and all(id(s) in inside for s in reads.get(v, []))}
    env = {}
    for s in run:
        env[s.target.name] = env.get(s.value.name, s.value.name)
    kept = {v: env[v] for v in set(assigned) - temps}
    if not kept or sorted(kept.values()) != sorted(kept):
        return None
    return Rebinding(list(run), kept, frozenset(temps))
