"""What a kernel must satisfy to be differentiated, checked when ``vjp_kernel``/``jvp_kernel``
is called (before any launch) and, for what needs the argument types, when a signature is
first built. Each refusal points at the user's line and says what to do."""

from __future__ import annotations

from .. import ir
from ..api import _def_loc
from ..errors import NonDifferentiableError, UnsupportedSyntaxError
from ..ir.types import Array
from .ownership import array_accesses, own_index, thread_indices


def check_names(pyfn, params, wrt, outputs):
    for what, names in (("wrt", wrt), ("outputs", outputs)):
        for n in names:
            if n not in params:
                raise NonDifferentiableError(
                    f"`{n}` in {what} is not a parameter of the kernel {pyfn.__name__}({', '.join(params)})",
                    _def_loc(pyfn), f"name parameters of {pyfn.__name__} in {what}")
    if not outputs:
        raise NonDifferentiableError(f"no outputs given for the kernel {pyfn.__name__}", _def_loc(pyfn),
                                     "name the arrays the kernel writes: outputs=(\"out\",)")


def check_kernel(fn, pyfn, wrt, outputs, program):
    """The checks that need only the kernel's IR (``fn``, lowered from ``pyfn``)."""
    for s in ir.walk_stmts(fn.body):
        if isinstance(s, ir.Return) and not (s.value is None or (isinstance(s.value, ir.Const)
                                                                   and s.value.value is None)):
            raise UnsupportedSyntaxError("a kernel returns nothing: it writes its results into arrays",
                                         s.loc, "write the value into an output array")
        if isinstance(s, ir.For) and s.checkpoint is not None and not (
                isinstance(s.checkpoint, ir.Const) and isinstance(s.checkpoint.value, int)):
            raise UnsupportedSyntaxError(
                "inside a kernel, the number of snapshots of a checkpointed loop must be a constant "
                "(they live in local memory, whose size is fixed when the kernel compiles)", s.loc,
                "write `s2sad.checkpointed(range(n), snapshots=8)` with a number")
    accesses = array_accesses(fn)
    used_as_array = set(accesses) | {e.value.name for s in ir.walk_stmts(fn.body) for r in ir.stmt_roots(s)
                                     for e in ir.walk_expr(r) if isinstance(e, ir.Attr)
                                     and isinstance(e.value, ir.Var)}
    used_as_array |= {a.name for s in ir.walk_stmts(fn.body) for r in ir.stmt_roots(s)
                      for e in ir.walk_expr(r) if isinstance(e, ir.CallUser) for a in e.args
                      if isinstance(a, ir.Var)}
    for p in wrt:
        if p not in used_as_array:
            refuse_scalar(pyfn, p)
    for p in outputs:
        if not any(kind != "load" for kind, _, _ in accesses.get(p, [])):
            raise NonDifferentiableError(
                f"`{p}` is in outputs, but the kernel {pyfn.__name__} never writes into it",
                _def_loc(pyfn, p), "list in outputs the arrays the kernel writes")
    check_races(fn, _with_callee_loads(accesses, fn, program))
    check_shared_plain_writes(fn, set(wrt) | set(outputs))
    for callee in program.funcs.values():
        if callee is None or callee is fn:
            continue
        for s in ir.walk_stmts(callee.body):
            if isinstance(s, (ir.Store, ir.AugStore)) and s.array.name in callee.params:
                raise UnsupportedSyntaxError(
                    f"the device function `{callee.name}` writes into its argument `{s.array.name}`; "
                    "device functions called by a differentiated kernel must return their results",
                    s.loc, "return the value and store it in the kernel")


def refuse_scalar(pyfn, p):
    raise NonDifferentiableError(
        f"`{p}` is passed to the kernel {pyfn.__name__} by value (a scalar): a kernel cannot hand "
        "back the derivative of a by-value argument", _def_loc(pyfn, p),
        f"pass a 1-element array and read `{p}[0]` in the kernel, or leave `{p}` out of wrt")


def _with_callee_loads(accesses, fn, program):
    """``accesses`` and the reads that device functions make of the kernel's arrays passed to
    them, each at the call (a device function reading ``x[i - 1]`` of an ``x`` the kernel
    writes is the same race as the kernel reading it). An index the callee computes from its
    parameters is mapped back through the call's arguments where they are variables; any other
    is one other threads may reach."""
    out = {name: list(acc) for name, acc in accesses.items()}
    for s in ir.walk_stmts(fn.body):
        for root in ir.stmt_roots(s):
            for e in ir.walk_expr(root):
                if isinstance(e, ir.CallUser):
                    for array, index in _callee_loads(e, program, {}, 0):
                        if array in out:  # only arrays the kernel itself also touches can race
                            out[array].append((f"load in {e.func}", index, s))
    return out


def _callee_loads(call, program, bound, depth):
    """``(kernel array, index)`` for each element read inside the callee of ``call`` (and its
    callees) of an array argument; ``bound`` maps the caller's names to the kernel's."""
    callee = program.funcs.get(call.func)
    if callee is None or depth > 8:
        return []
    unknown = ir.Var("_unknown_index")  # no thread index: an element other threads may reach
    env = {}
    for p, a in zip(callee.params, call.args):
        if isinstance(a, ir.Var):  # a callee's own variable is no name of the kernel's
            env[p] = bound.get(a.name, unknown) if depth else a
    found = []
    for s in ir.walk_stmts(callee.body):
        for root in ir.stmt_roots(s):
            for e in ir.walk_expr(root):
                if isinstance(e, ir.Load) and isinstance(e.array, ir.Var) and e.array.name in env:
                    index = tuple(env.get(x.name, unknown) if isinstance(x, ir.Var) else unknown
                                  for x in e.index)
                    found.append((env[e.array.name].name, index))
                elif isinstance(e, ir.CallUser):
                    found += _callee_loads(e, program, env, depth + 1)
    return found


def check_races(fn, accesses):
    """An array the kernel both reads and writes must be read and written only at the thread's
    own elements: another thread's write makes what a read sees depend on the order in which
    threads run (a race in the primal kernel, which no derivative can follow)."""
    indices = thread_indices(fn)
    for name, acc in accesses.items():
        kinds = {"load" if k.startswith("load") else k for k, _, _ in acc}
        if kinds == {"store", "add"}:
            _refuse_store_and_add(name, acc, indices)
        if "load" not in kinds or kinds == {"load"}:
            continue
        for kind, index, s in acc:
            if own_index(index, indices) is None:
                what = {"load": "reads", "store": "writes", "add": "adds into"}.get(kind, "reads")
                where = f" (in the device function `{kind[len('load in '):]}` it calls)" \
                    if kind.startswith("load in ") else ""
                raise NonDifferentiableError(
                    f"the kernel {what} `{name}`{where} at an element other threads may also reach, and "
                    f"`{name}` is both read and written in this launch: the values a thread reads "
                    "depend on the order in which the threads run (a race in the primal kernel)",
                    s.loc, f"read `{name}` only at the thread's own element (`{name}[i]` with "
                    f"`i = cuda.grid(1)`), or write the results into a separate output array")


def _refuse_store_and_add(name, acc, indices):
    """An array written plainly (``out[i] = ...``) and added into (``cuda.atomic.add(out, j,
    ...)``), one of them at an element other threads may reach: a thread's plain write and
    another's addition into one element race (the write may wipe out the addition)."""
    for kind, index, s in acc:
        if own_index(index, indices) is None:
            what = "writes" if kind == "store" else "adds into"
            raise NonDifferentiableError(
                f"the kernel {what} `{name}` at an element other threads may also reach, and `{name}` is "
                "both written plainly and added into in this launch: whether a thread's addition survives "
                "another's plain write to the same element depends on the order in which the threads run "
                "(a race in the primal kernel)", s.loc,
                f"add into `{name}` only (set it before the launch), or write and add only at the thread's "
                f"own element (`{name}[i]` with `i = cuda.grid(1)`)")


def check_types(fn, pyfn, types, wrt, outputs, activity):
    """The checks that need the argument types and the activity analysis."""
    for p, t in zip(fn.params, types):
        if p in wrt and not isinstance(t, Array):
            refuse_scalar(pyfn, p)
        if p in set(wrt) | set(outputs) and isinstance(t, Array) and not t.differentiable:
            raise NonDifferentiableError(
                f"`{p}` is an array of {t.dtype}, which has no derivative", _def_loc(pyfn, p),
                f"pass float32 or float64 values, or leave `{p}` out of wrt and outputs")
    named = set(wrt) | set(outputs)
    for p, t in zip(fn.params, types):
        if isinstance(t, Array) and p not in named and activity.is_active(p):
            raise NonDifferentiableError(
                f"the kernel writes values that depend on {', '.join(wrt)} into `{p}`, which is "
                "not in outputs: its adjoint would have nowhere to live", _def_loc(pyfn, p),
                f"add `{p}` to outputs (and pass a `{p}_bar` array)")


_ORDER = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def check_shared_plain_writes(fn, named):
    """A plain write (``out[0] = v``, ``total[0] += v``: no atomic) into one element that every
    thread names alike, reached by every thread its bounds guards let through: provably a race
    in the primal kernel (the last writer wins, or additions are lost), whose derivative would
    credit an arbitrary thread. Refused only where that is certain: an index of constants, unset
    scalar parameters and variables of such loops; guards that compare a thread index with a
    bound (``i < n``, ``i >= 1``; not ``i < 1``, which lets one thread through); no ``return``
    in the kernel and no ``while`` around the write. Arrays not differentiated are left alone."""
    if any(isinstance(s, ir.Return) for s in ir.walk_stmts(fn.body)):
        return
    indices = thread_indices(fn)
    defs = {}
    for s in ir.walk_stmts(fn.body):
        for name in ir.stmt_defs(s):
            defs.setdefault(name, []).append(s)
    params = set(fn.params)
    loop_vars = set()

    def bound(e, depth=0):
        """Whether ``e`` is the same for every thread: constants, unset parameters, their shapes."""
        if depth > 12:
            return False
        if isinstance(e, ir.Const):
            return True
        if isinstance(e, ir.Var):
            if e.name in loop_vars:
                return True
            if e.name in params and e.name not in defs:
                return True
            ss = defs.get(e.name, [])
            return len(ss) == 1 and isinstance(ss[0], ir.Assign) and not ss[0].inplace \
                and bound(ss[0].value, depth + 1)
        if isinstance(e, ir.Attr):
            return isinstance(e.value, ir.Var) and e.value.name in params and e.name in ("shape", "size")
        if isinstance(e, ir.Load):
            return bound(e.array, depth + 1) and all(bound(x, depth + 1) for x in e.index)
        if isinstance(e, ir.BinOp):
            return bound(e.left, depth + 1) and bound(e.right, depth + 1)
        if isinstance(e, ir.Call) and e.func == "len" and len(e.args) == 1:
            return isinstance(e.args[0], ir.Var) and e.args[0].name in params
        return False

    def many_pass(e):
        """A comparison of a thread index with a bound that lets more than one thread through."""
        if not (isinstance(e, ir.Compare) and e.op in _ORDER):
            return False
        for t, b, op in ((e.left, e.right, e.op), (e.right, e.left, _ORDER[e.op])):
            if isinstance(t, ir.Var) and t.name in indices and bound(b):
                if op in ("<", "<=") and isinstance(b, ir.Const) and b.value <= (1 if op == "<" else 0):
                    return False  # i < 1, i <= 0: one thread
                return True
        return False

    def guard(test, depth=0):
        """Every value the test may hold is such a comparison (``a and b`` lowers to one test
        variable set by each comparison in turn)."""
        if isinstance(test, ir.Compare):
            return many_pass(test)
        if not isinstance(test, ir.Var) or depth > 8:
            return False
        ss = defs.get(test.name, [])
        return bool(ss) and all(isinstance(d, ir.Assign) and not d.inplace and guard(d.value, depth + 1)
                                for d in ss)

    def shared(index):
        """Every entry a bound or a component of one cuda.grid, and some component missing:
        ``out[0]``, or ``out[i]`` with ``i, j = cuda.grid(2)`` (threads (i, 0), (i, 1), ... meet)."""
        comps = {}
        for x in index:
            if isinstance(x, ir.Var) and x.name in indices and x.name not in loop_vars:
                site, comp, k = indices[x.name]
                comps.setdefault((site, k), set()).add(comp)
            elif not bound(x):
                return False
        return len(comps) <= 1 and all(c != set(range(k)) for (_, k), c in comps.items())

    def walk(stmts, reached):
        for s in stmts:
            if isinstance(s, (ir.Store, ir.AugStore)) and reached and s.array.name in named \
                    and not getattr(s, "atomic", False) and shared(s.index):
                plain = isinstance(s, ir.Store)
                if any(isinstance(x, ir.Var) and x.name in indices for x in s.index):
                    who = "threads that differ only in a thread index this index leaves out " + (
                        "write" if plain else "add into (a plain `+=`, not atomic)")
                else:
                    who = "every thread " + ("writes" if plain else "adds into (a plain `+=`, not atomic)")
                raise NonDifferentiableError(
                    f"{who} the same element of `{s.array.name}`: a race in the primal "
                    "kernel (the threads' writes overwrite each other, or their additions are lost), "
                    "so there is no one derivative to take", s.loc,
                    f"add with `cuda.atomic.add({s.array.name}, index, value)`, or let one thread write "
                    "(`if i == 0:`), or write into the thread's own element (`out[i] = ...`)")
            if isinstance(s, ir.If):
                walk(s.body, reached and guard(s.test))
                walk(s.orelse, False)
            elif isinstance(s, ir.For):
                invariant = all(bound(x) for x in (s.start, s.stop, s.step)) and len(defs.get(s.var.name, [])) == 1
                if invariant:
                    loop_vars.add(s.var.name)
                walk(s.body, reached and invariant)
            else:
                for blk in ir.child_blocks(s):
                    walk(blk, False)

    walk(fn.body, True)
