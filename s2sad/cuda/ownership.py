"""Which array elements belong to the running thread: the index analysis behind the CUDA
kernels' accumulations (a plain ``+=`` or ``cuda.atomic.add``) and behind the refusal of
primal races.

A variable is a thread index when it has one definition in the whole kernel and that
definition is ``i = cuda.grid(1)`` (or ``threadIdx.x + blockIdx.x * blockDim.x``), or an item of ``t = cuda.grid(k)`` (``i, j = cuda.grid(2)``),
or it is the variable of a grid-stride loop ``for k in range(i, n, cuda.gridsize(1))``.
An index ``x[i]`` (or ``m[i, j]``, ``m[j, i]``, ``a[i, k]``) that holds every component of one
``cuda.grid`` as a bare entry is injective over the threads of a launch of that many
dimensions: no two threads reach the same element, so no two threads accumulate into it.
"""

from __future__ import annotations

from .. import ir


def thread_indices(fn):
    """``{variable: (grid site, component, ndim)}`` for the thread-index variables of ``fn``.
    A variable defined more than once (the reverse sweep recomputes ``i = cuda.grid(1)`` and
    replays a loop's variable) qualifies when every definition gives the same thread index."""
    defs = {}
    for s in ir.walk_stmts(fn.body):
        for name in ir.stmt_defs(s):
            defs.setdefault(name, []).append(s)

    def all_defs(n, ok):
        ss = defs.get(n, [])
        return bool(ss) and all(ok(s) for s in ss)

    def resolve(e, depth=0):
        """``e`` with the temporaries it reads replaced by their one definition."""
        if isinstance(e, ir.Var) and depth < 8:
            d = defs.get(e.name, [])
            if len(d) == 1 and isinstance(d[0], ir.Assign) and not d[0].inplace:
                return resolve(d[0].value, depth + 1)
            return e
        return ir.map_expr(e, lambda x: resolve(x, depth + 1))

    def dims(s):
        """k for ``v = cuda.grid(k)``, 1 for ``v = threadIdx.x + blockIdx.x * blockDim.x``."""
        if not isinstance(s, ir.Assign) or s.inplace:
            return None
        if _grid_call(s.value):
            return s.value.args[0].value
        return 1 if _manual_grid1(resolve(s.value)) else None

    grids = {n: dims(ss[0]) for n, ss in defs.items()
             if all_defs(n, lambda s: dims(s) is not None) and len({dims(s) for s in ss}) == 1}
    out = {n: (n, 0, 1) for n, k in grids.items() if k == 1}
    for n, ss in defs.items():
        first = ss[0]
        if isinstance(first, ir.Assign) and isinstance(first.value, ir.TupleGet) \
                and isinstance(first.value.tuple, ir.Var) and grids.get(first.value.tuple.name, 1) > 1 \
                and all_defs(n, lambda s, first=first: isinstance(s, ir.Assign) and s.value == first.value):
            out[n] = (first.value.tuple.name, first.value.index, grids[first.value.tuple.name])
        elif isinstance(first, ir.TupleAssign) and _grid_call(first.value):  # `i, j = cuda.grid(2)`
            names = [t.name for t in first.targets]
            if all_defs(n, lambda s, names=names: isinstance(s, ir.TupleAssign) and _grid_call(s.value)
                        and [t.name for t in s.targets] == names) and len(names) > 1:
                out[n] = (names[0], names.index(n), len(names))
    # a grid-stride loop, `for k in range(i, n, cuda.gridsize(1))` with `i = cuda.grid(1)`:
    # no two threads meet at the same `k` (the reverse sweep replays it as `k = i + j * stride`)
    strides = {n for n in defs if all_defs(n, lambda s: isinstance(s, ir.Assign) and isinstance(s.value, ir.Call)
                                            and s.value.func == "cuda.gridsize" and s.value.args[0].value == 1)}

    def own1(e):
        return isinstance(e, ir.Var) and out.get(e.name, (None, None, 0))[2] == 1

    def stride_def(n):
        def ok(s):
            if isinstance(s, ir.For):
                return s.var.name == n and own1(s.start) and isinstance(s.step, ir.Var) and s.step.name in strides
            v = getattr(s, "value", None)
            return (isinstance(s, ir.Assign) and isinstance(v, ir.BinOp) and v.op == "+" and own1(v.left)
                    and isinstance(v.right, ir.BinOp) and v.right.op == "*"
                    and isinstance(v.right.right, ir.Var) and v.right.right.name in strides)
        return ok

    for n in defs:
        if n not in out and any(isinstance(s, ir.For) for s in defs[n]) and all_defs(n, stride_def(n)):
            f = next(s for s in defs[n] if isinstance(s, ir.For))
            out[n] = out[f.start.name]
    # copies of a thread index (`k = i`) are thread indices too
    changed = True
    while changed:
        changed = False
        for n, ss in defs.items():
            if n not in out and all_defs(n, lambda s: isinstance(s, ir.Assign) and isinstance(s.value, ir.Var)
                                         and s.value.name in out) \
                    and len({out[s.value.name] for s in ss}) == 1:
                out[n] = out[ss[0].value.name]
                changed = True
    return out


def _intrinsic(e, name):
    return isinstance(e, ir.Call) and e.func == "cuda." + name


def _manual_grid1(e):
    """``cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x`` (either order): cuda.grid(1)."""
    if not (isinstance(e, ir.BinOp) and e.op == "+"):
        return False
    for a, b in ((e.left, e.right), (e.right, e.left)):
        if _intrinsic(a, "threadIdx.x") and isinstance(b, ir.BinOp) and b.op == "*" and (
                (_intrinsic(b.left, "blockIdx.x") and _intrinsic(b.right, "blockDim.x"))
                or (_intrinsic(b.left, "blockDim.x") and _intrinsic(b.right, "blockIdx.x"))):
            return True
    return False


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
    """The numbers of dimensions of the ``cuda.grid`` calls of ``fn``, and 1 for a thread index
    written out as ``threadIdx.x + blockIdx.x * blockDim.x`` (its threads are told apart only
    along x: a launch with 2-D blocks gives two threads the same index)."""
    calls = {s.value.args[0].value for s in ir.walk_stmts(fn.body)
             if isinstance(s, ir.Assign) and isinstance(s.value, ir.Call) and s.value.func == "cuda.grid"}
    return calls | {k for _, _, k in thread_indices(fn).values()}


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
