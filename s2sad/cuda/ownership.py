"""Which array elements belong to the running thread: the index analysis behind the CUDA
kernels' accumulations (a plain ``+=`` or ``cuda.atomic.add``) and behind the refusal of
primal races.

A variable is a thread index when it has one definition in the whole kernel and that
definition is ``i = cuda.grid(1)``, or an item of ``t = cuda.grid(k)`` (``i, j = cuda.grid(2)``).
An index ``x[i]`` (or ``m[i, j]``, ``m[j, i]``, ``a[i, k]``) that holds every component of one
``cuda.grid`` as a bare entry is injective over the threads of a launch of that many
dimensions: no two threads reach the same element, so no two threads accumulate into it.
"""

from __future__ import annotations

from .. import ir


def thread_indices(fn):
    """``{variable: (grid site, component, ndim)}`` for the thread-index variables of ``fn``."""
    defs = {}
    for s in ir.walk_stmts(fn.body):
        for name in ir.stmt_defs(s):
            defs.setdefault(name, []).append(s)
    single = {n: ss[0] for n, ss in defs.items() if len(ss) == 1 and isinstance(ss[0], ir.Assign)}
    out = {}
    for n, ss in defs.items():  # `i, j = cuda.grid(2)` as printed (a tuple assignment)
        s = ss[0]
        if len(ss) == 1 and isinstance(s, ir.TupleAssign) and _grid_call(s.value) \
                and all(len(defs[t.name]) == 1 for t in s.targets):
            out[n] = (s.targets[0].name, [t.name for t in s.targets].index(n), len(s.targets))
    grids = {n: s.value.args[0].value for n, s in single.items()
             if isinstance(s.value, ir.Call) and s.value.func == "cuda.grid"}
    for n, k in grids.items():
        if k == 1:
            out[n] = (n, 0, 1)
    for n, s in single.items():
        v = s.value
        if isinstance(v, ir.TupleGet) and isinstance(v.tuple, ir.Var) and grids.get(v.tuple.name, 1) > 1:
            out[n] = (v.tuple.name, v.index, grids[v.tuple.name])
    # copies of a thread index (`k = i`) are thread indices too
    changed = True
    while changed:
        changed = False
        for n, s in single.items():
            if n not in out and isinstance(s.value, ir.Var) and s.value.name in out:
                out[n] = out[s.value.name]
                changed = True
    return out


def _grid_call(e):
    return isinstance(e, ir.Call) and e.func == "cuda.grid"


def own_index(index, indices):
    """The grid a thread-own index comes from (its site and its number of dimensions), or None
    when other threads may reach the same element."""
    seen = {}
    for e in index:
        if isinstance(e, ir.Var) and e.name in indices:
            site, comp, k = indices[e.name]
            seen.setdefault((site, k), set()).add(comp)
    for (site, k), comps in seen.items():
        if comps == set(range(k)):
            return site, k
    return None


def grid_dims(fn):
    """The numbers of dimensions of the ``cuda.grid`` calls of ``fn``."""
    return {s.value.args[0].value for s in ir.walk_stmts(fn.body)
            if isinstance(s, ir.Assign) and isinstance(s.value, ir.Call) and s.value.func == "cuda.grid"}


def array_accesses(fn):
    """``{array: [(kind, index, stmt)]}``: every read (``"load"``), store (``"store"``) and
    accumulation (``"add"``) of an array element in ``fn``, in program order."""
    out = {}
    for s in ir.walk_stmts(fn.body):
        if isinstance(s, ir.Store):
            out.setdefault(s.array.name, []).append(("store", s.index, s))
        elif isinstance(s, ir.AugStore):
            out.setdefault(s.array.name, []).append(("add", s.index, s))
        for root in ir.stmt_roots(s):
            for e in ir.walk_expr(root):
                if isinstance(e, ir.Load) and isinstance(e.array, ir.Var):
                    out.setdefault(e.array.name, []).append(("load", e.index, s))
    return out
