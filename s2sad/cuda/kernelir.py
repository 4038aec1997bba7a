"""From derivative IR (what ``ad/forward.py`` and ``ad/reverse.py`` make of a kernel) to the IR
of a CUDA kernel:

- the thread-index intrinsics printed as ``cuda.threadIdx.x`` (not calls);
- each accumulation into an array element a plain ``+=`` where the index is the thread's own
  (``ownership.py``) and ``cuda.atomic.add`` where threads may collide, with a comment saying
  which and why;
- the reverse sweep's tapes per thread in global memory, ``tape[slot, thread]`` (consecutive
  threads touch consecutive addresses), passed in by the launcher; their tops start at zero
  in each thread, and no room is made while the kernel runs (the launcher sized them);
- the number of tape slots a thread needs, as an expression of the kernel's parameters
  evaluated at launch (``tape_rows``), from the tape-size analysis of ``analysis/tapesize.py``.
"""

from __future__ import annotations

from .. import ir
from ..analysis.tapesize import Counter, _max, _mul, add_counts, as_expr, free_names, peak, push_bound, trip_count
from ..errors import NonDifferentiableError
from ..ir.types import Array
from ..primitives.cudarules import THREAD_ATTRS
from .ownership import own_index, thread_indices

THREAD = "_thread"  # the thread's number in the launch: its column of the tapes
THREAD_FN = "_thread_number"
INTRINSIC_ATTRS = {"cuda." + a for a in THREAD_ATTRS + ("warpsize", "laneid")}


def kernel_ir(fn, tapes=(), types=None, unwritten=()):
    """``fn`` (a derivative, tidied) made a kernel, in place. ``tapes``: (tape, top) names of
    the tapes it records on, passed in as parameters. ``unwritten``: arrays whose stores are
    dropped where nothing in ``fn`` reads them (an adjoint kernel leaves the primal's arrays
    as it found them)."""
    fn.body = _drop_tape_room(fn.body)
    loaded = {e.array.name for s in ir.walk_stmts(fn.body) for r in ir.stmt_roots(s) for e in ir.walk_expr(r)
              if isinstance(e, ir.Load) and isinstance(e.array, ir.Var)}
    fn.body = _drop_stores(fn.body, set(unwritten) - loaded)
    # the value a kernel returns is None: a copy of it kept by the forward sweep is unread
    reads = {v for s in ir.walk_stmts(fn.body) for v in ir.stmt_reads(s)}
    fn.body = [s for s in fn.body if not (isinstance(s, ir.Assign) and s.target.name not in reads
                                          and s.target.name in fn.made and isinstance(s.value, (ir.Var, ir.Const)))]
    if fn.body and isinstance(fn.body[-1], ir.Return):
        fn.body.pop()
    for s in ir.walk_stmts(fn.body):  # an early return: a kernel returns nothing (numba-cuda insists)
        if isinstance(s, ir.Return):
            s.value = None
    tops = {top for _, top in tapes}
    fn.params = [p for p in fn.params if p not in tops]
    if tapes:
        fn.body[:0] = ([ir.Assign(ir.Var(THREAD), ir.Call(THREAD_FN, ()), loc=fn.loc,
                                  comment="-- per-thread tapes: column `_thread` of each, filled from row 0 --")]
                       + [ir.Assign(ir.Var(top), ir.Const(0), loc=fn.loc) for _, top in tapes])
        _index_tapes(fn.body, {t for t, _ in tapes})
    fn.body = _local_arrays(fn.body, {})
    indices = thread_indices(fn)
    fn.body = _kernel_block(fn.body, indices, _shared_arrays(fn.body, indices), types or {})
    _accumulate_in_registers(fn)
    return fn


def _atomic_site(s):
    """``(array, constant index)`` of ``cuda.atomic.add(a, <constants>, v)``, else None."""
    if not (isinstance(s, ir.ExprStmt) and isinstance(s.value, ir.Call) and s.value.func == "cuda.atomic.add"):
        return None
    arr, idx, _ = s.value.args
    items = idx.items if isinstance(idx, ir.TupleMake) else (idx,)
    if not all(isinstance(x, ir.Const) and isinstance(x.value, int) for x in items):
        return None
    return arr.name, tuple(x.value for x in items)


def _accumulate_in_registers(fn):
    """Atomic additions into one element every thread shares (``p_bar[0]``, a parameter's
    adjoint), repeated in a loop or several times: summed in a register, added atomically once
    at the end of the kernel, instead of once per iteration (atomics to one address serialise
    the threads). Only for arrays the kernel never reads."""
    loaded = {e.array.name for s in ir.walk_stmts(fn.body) for r in ir.stmt_roots(s) for e in ir.walk_expr(r)
              if isinstance(e, ir.Load) and isinstance(e.array, ir.Var)}
    sites = {}

    def find(stmts, in_loop):
        for s in stmts:
            site = _atomic_site(s)
            if site is not None and site[0] not in loaded:
                sites.setdefault(site, []).append(in_loop)
            for blk in ir.child_blocks(s):
                find(blk, in_loop or isinstance(s, (ir.For, ir.While)))

    find(fn.body, False)
    hoisted = {site: f"_acc_{site[0]}_{'_'.join(map(str, site[1]))}" for site, where in sorted(sites.items())
               if any(where) or len(where) > 1}
    if not hoisted:
        return

    def flush(loc, why):
        out = []
        for (arr, idx), acc in hoisted.items():
            index = ir.Const(idx[0]) if len(idx) == 1 else ir.TupleMake(tuple(ir.Const(k) for k in idx))
            out.append(ir.ExprStmt(ir.Call("cuda.atomic.add", (ir.Var(arr), index, ir.Var(acc))), loc=loc,
                                   comment=f"atomic, once per thread{why}: all threads add into "
                                   f"{arr}[{', '.join(map(str, idx))}]"))
        return out

    def rewrite(stmts):
        out = []
        for s in stmts:
            site = _atomic_site(s)
            if site in hoisted:
                out.append(ir.AugAssign(ir.Var(hoisted[site]), "+", s.value.args[2], loc=s.loc))
                continue
            if isinstance(s, ir.Return):  # a thread leaving early adds its sums first
                out += flush(s.loc, ", before it returns")
            for blk in ir.child_blocks(s):
                blk[:] = rewrite(blk)
            out.append(s)
        return out

    fn.body = rewrite(fn.body)
    init = [ir.Assign(ir.Var(acc), ir.Const(0.0), loc=fn.loc) for acc in hoisted.values()]
    init[0].comment = "sums into elements all threads share, added atomically once at the end"
    fn.body[:0] = init
    fn.body += flush(fn.loc, "")
    fn.made |= set(hoisted.values())


_ALLOC = ("np.empty", "np.zeros")


def _local_arrays(stmts, consts):
    """The arrays a checkpointed loop allocates (its snapshots, the schedule's stack) in local
    memory: ``cuda.local.array`` of a size known when the kernel compiles (``snapshots=k`` a
    constant), set to zero by a loop where NumPy's was ``np.zeros``."""
    out = []
    for s in stmts:
        if isinstance(s, ir.Assign) and not s.inplace:
            v = _const_eval(s.value, consts)
            if v is not None:
                consts[s.target.name] = v
        if isinstance(s, ir.Assign) and isinstance(s.value, ir.Call) and s.value.func in _ALLOC:
            shape = _const_eval(s.value.args[0], consts)
            if shape is None:
                raise NonDifferentiableError(
                    "inside a kernel, the adjoint needs a local array here whose size is not known when "
                    "the kernel compiles (the adjoint of an array view such as a row `u[i]`, or the "
                    "snapshots of a checkpointed loop)", s.loc,
                    "read the elements directly (`u[i, 0]`, `u[i, k]`) instead of taking a view; for a "
                    "checkpointed loop write `s2sad.checkpointed(range(n), snapshots=8)` with a number")
            dtype = s.value.kw("dtype")
            out.append(ir.Assign(s.target, ir.Call("cuda.local.array", (ir.Const(shape), dtype)), loc=s.loc,
                                 comment=s.comment))
            if s.value.func == "np.zeros":
                z = ir.Var(s.target.name + "_k")
                dims = shape if isinstance(shape, tuple) else (shape,)
                if len(dims) != 1:
                    raise NonDifferentiableError("a zeroed local array of more than one axis", s.loc)
                out.append(ir.For(z, ir.Const(0), ir.Const(dims[0]), ir.Const(1),
                                  [ir.Store(s.target, (z,), ir.Const(0), loc=s.loc)], loc=s.loc))
            continue
        for blk in ir.child_blocks(s):
            blk[:] = _local_arrays(blk, consts)
        out.append(s)
    return out


def _const_eval(e, consts):
    """The value of an integer expression of constants, or None."""
    if isinstance(e, ir.Const) and isinstance(e.value, int) and not isinstance(e.value, bool):
        return e.value
    if isinstance(e, ir.Var):
        return consts.get(e.name)
    if isinstance(e, ir.TupleMake):
        items = [_const_eval(x, consts) for x in e.items]
        return None if None in items else tuple(items)
    if isinstance(e, ir.BinOp) and e.op in ("+", "-", "*"):
        a, b = _const_eval(e.left, consts), _const_eval(e.right, consts)
        if isinstance(a, int) and isinstance(b, int):
            return a + b if e.op == "+" else a - b if e.op == "-" else a * b
        if e.op == "+" and isinstance(a, tuple) and isinstance(b, tuple):
            return a + b
        return None
    if isinstance(e, ir.Call) and e.func in ("max", "min") and not e.kwargs:
        vals = [_const_eval(x, consts) for x in e.args]
        if all(isinstance(v, int) for v in vals) and vals:
            return max(vals) if e.func == "max" else min(vals)
    return None


def device_ir(fn, tapes=(), callee_kinds=None):
    """A derivative device function made ready for CUDA, in place: its thread-index intrinsics
    printed as such; when its adjoint records on the kernel's tapes (``tapes``: the (tape,
    top) parameters it is passed), those indexed by the thread and no longer handed back."""
    detach_callee_tapes(fn, callee_kinds or {}, {t for t, _ in tapes})
    if tapes:
        fn.body = _drop_tape_room(fn.body)
        ret = fn.body[-1] if fn.body and isinstance(fn.body[-1], ir.Return) else None
        if ret is not None and isinstance(ret.value, ir.TupleMake):
            items = ret.value.items[:len(ret.value.items) - len(tapes)]
            if items:
                ret.value = ir.TupleMake(items)
            else:
                fn.body.pop()
        fn.body[:0] = [ir.Assign(ir.Var(THREAD), ir.Call(THREAD_FN, ()), loc=fn.loc)]
        _index_tapes(fn.body, {t for t, _ in tapes})
        if fn.docstring:
            for t, _ in tapes:
                fn.docstring = fn.docstring.replace(f", {t})", ")").replace(f"({t},)", "nothing")
    fn.body = _kernel_block(fn.body, {}, {}, fn.types)
    return fn


def detach_callee_tapes(fn, callee_kinds, own_tapes):
    """In ``fn``, the calls of device adjoints that record on the kernel's tapes no longer take
    the tape arrays back (no device function grows or replaces them): ``_ftape = _r[k]`` goes."""
    drop, calls = [], {}
    for s in ir.walk_stmts(fn.body):
        if isinstance(s, ir.Assign) and isinstance(s.value, ir.Call) and s.value.func in callee_kinds:
            calls[s.target.name] = (s, len(callee_kinds[s.value.func]))
    for s in ir.walk_stmts(fn.body):
        if isinstance(s, ir.Assign) and s.target.name in own_tapes and isinstance(s.value, ir.TupleGet) \
                and isinstance(s.value.tuple, ir.Var) and s.value.tuple.name in calls:
            drop.append(s)
    if not calls:
        return
    ids = {id(s) for s in drop}
    reads = set()

    def strip(stmts):
        out = []
        for s in stmts:
            if id(s) in ids:
                continue
            for blk in ir.child_blocks(s):
                blk[:] = strip(blk)
            out.append(s)
        return out

    fn.body = strip(fn.body)
    for s in ir.walk_stmts(fn.body):
        reads.update(ir.stmt_reads(s))
    for r, (s, n) in calls.items():
        t = fn.types.get(r)
        if t is not None and hasattr(t, "items"):
            fn.types[r] = type(t)(t.items[:len(t.items) - n])
        if r not in reads:
            _replace_stmt(fn.body, s, ir.ExprStmt(s.value, loc=s.loc))


def _replace_stmt(stmts, old, new):
    for k, s in enumerate(stmts):
        if s is old:
            stmts[k] = new
            return True
        if any(_replace_stmt(blk, old, new) for blk in ir.child_blocks(s)):
            return True
    return False


def callee_peaks(fn, tapes, kinds, types, calls):
    """``(params, {kind: peak})`` of a device adjoint recording on the kernel's tapes
    (``tapes``: its (tape, top) parameters, of ``kinds``): what one call raises each tape's top
    by, as an expression of its parameters."""
    by_top = {top: k for k, (_, top) in zip(kinds, tapes)}

    def push_kind(s):
        if isinstance(s, ir.AugAssign) and s.op == "+" and isinstance(s.target, ir.Var) \
                and s.target.name in by_top and isinstance(s.value, ir.Const) and s.value.value == 1:
            return by_top[s.target.name]
        return None

    def pop_kind(s):
        if isinstance(s, ir.AugAssign) and s.op == "-" and isinstance(s.target, ir.Var) and s.target.name in by_top:
            return by_top[s.target.name]
        return None

    count = _NetZeroLoops(push_kind, pop_kind, calls, {k: k for k in kinds}).count(fn.body)
    peaks = {}
    for k in kinds:
        n = None if count is None else peak(count, k)
        e = launch_expr(as_expr(n), fn, types) if n is not None else None
        if e is None:
            raise NonDifferentiableError(
                f"s2sad cannot tell how many values the adjoint of the device function `{fn.name}` "
                "records before the kernel runs", fn.loc, "give its loops trip counts that its "
                "arguments determine, or move the loop into the kernel")
        peaks[k] = e
    return list(fn.params), peaks


def _substitute(e, mapping):
    if isinstance(e, int):
        return e
    if isinstance(e, ir.Var) and e.name in mapping:
        return mapping[e.name]
    return ir.map_expr(e, lambda x: _substitute(x, mapping))


def _drop_tape_room(stmts):
    out = []
    for s in stmts:
        if isinstance(s, ir.Assign) and isinstance(s.value, ir.Call) and s.value.func.startswith("_reserve_"):
            continue
        for blk in ir.child_blocks(s):
            blk[:] = _drop_tape_room(blk)
        out.append(s)
    return out


def _drop_stores(stmts, arrays):
    out = []
    for s in stmts:
        if isinstance(s, (ir.Store, ir.AugStore)) and s.array.name in arrays:
            continue
        for blk in ir.child_blocks(s):
            blk[:] = _drop_stores(blk, arrays)
        out.append(s)
    return out


def _index_tapes(stmts, tapes):
    """``tape[top]`` -> ``tape[top, _thread]`` in every statement and expression."""
    def expr(e):
        if isinstance(e, ir.Load) and isinstance(e.array, ir.Var) and e.array.name in tapes:
            return ir.Load(e.array, tuple(map(expr, e.index)) + (ir.Var(THREAD),))
        return ir.map_expr(e, expr)

    for s in stmts:
        for f in ("value", "test", "start", "stop", "step"):
            v = getattr(s, f, None)
            if isinstance(v, ir.Expr):
                setattr(s, f, expr(v))
        if isinstance(s, (ir.Store, ir.AugStore)):
            s.index = tuple(map(expr, s.index))
            if s.array.name in tapes:
                s.index = s.index + (ir.Var(THREAD),)
        if isinstance(s, ir.AugAssign) and isinstance(s.target, ir.Load):
            s.target = expr(s.target)
        for blk in ir.child_blocks(s):
            _index_tapes(blk, tapes)


def _intrinsics(e, types=None):
    """``e`` in what numba-cuda compiles: thread-index intrinsics as attributes, a loop's trip
    count in integer arithmetic, ``np.sign`` of a number (no ufunc in device code) by ``_sign``,
    ``np.power`` of numbers by ``**``."""
    if isinstance(e, ir.Call) and e.func in INTRINSIC_ATTRS:
        return ir.Global(e.func)
    if isinstance(e, ir.Call) and e.func == "len" and len(e.args) == 1 and isinstance(e.args[0], ir.Call) \
            and e.args[0].func == "range" and len(e.args[0].args) == 3:
        # a loop's trip count in integer arithmetic (no range object in device code)
        return ir.Call(RANGE_LEN, tuple(_intrinsics(a, types) for a in e.args[0].args))
    if isinstance(e, ir.Call) and e.func == "np.power" and len(e.args) == 2 and not e.kwargs:
        # the rules' x ** (p - 1) for p < 1 (np.power: inf at 0 on the CPU, where Python's ** raises);
        # numba-cuda has no ufunc on numbers in device code, and its ** is CUDA's pow (inf at 0)
        return ir.BinOp("**", *(_intrinsics(a, types) for a in e.args))
    if isinstance(e, ir.Call) and e.func == "np.sign" and len(e.args) == 1:
        sign = ir.Call(SIGN, (_intrinsics(e.args[0], types),))
        return ir.Call("np.float32", (sign,)) if _dtype_of(e.args[0], types or {}) == "float32" else sign
    return ir.map_expr(e, lambda x: _intrinsics(x, types))


SIGN = "_sign"
SIGN_SOURCE = f'''@cuda.jit(device=True)
def {SIGN}(x):
    """np.sign of a number, as a float64: 1, -1, 0 at 0 (so that |x|' = 0 there), nan at nan."""
    return 1.0 if x > 0 else (-1.0 if x < 0 else x * 0.0)
'''


RANGE_LEN = "_range_len"
RANGE_LEN_SOURCE = f'''@cuda.jit(device=True)
def {RANGE_LEN}(start, stop, step):
    """len(range(start, stop, step)), in integer arithmetic."""
    if step > 0:
        return max(0, (stop - start + step - 1) // step)
    return max(0, (start - stop - step - 1) // -step)
'''


def _accumulations(stmts):
    """``(array, index)`` of every accumulation ``a[k] += v`` in ``stmts``."""
    for s in ir.walk_stmts(stmts):
        if isinstance(s, ir.AugAssign) and isinstance(s.target, ir.Load) and isinstance(s.target.array, ir.Var):
            yield s.target.array.name, s.target.index
        elif isinstance(s, ir.AugStore):
            yield s.array.name, s.index


def _shared_arrays(stmts, indices):
    """``{array: an index other threads may reach}`` for the arrays some accumulation reaches
    at an element that is not the thread's own. Every accumulation into such an array is made
    atomic, at the thread's own element too: an atomic is atomic only against other atomics, so
    a plain ``+=`` (load, add, store) at ``x_bar[i]`` would lose a neighbour's concurrent
    ``cuda.atomic.add(x_bar, i, ...)`` made at its ``x_bar[i - 1]``."""
    out = {}
    for name, index in _accumulations(stmts):
        if own_index(index, indices) is None:
            out.setdefault(name, index)
    return out


def _kernel_block(stmts, indices, shared, types):
    out = []
    for s in stmts:
        for f in ("value", "test", "start", "stop", "step"):
            v = getattr(s, f, None)
            if isinstance(v, ir.Expr):
                setattr(s, f, _intrinsics(v, types))
        if isinstance(s, (ir.Store, ir.AugStore)):
            s.index = tuple(_intrinsics(x, types) for x in s.index)
        for blk in ir.child_blocks(s):
            blk[:] = _kernel_block(blk, indices, shared, types)
        if isinstance(s, ir.AugAssign) and isinstance(s.target, ir.Load):
            s.target = _intrinsics(s.target, types)
            out.append(_accumulation(s, s.target.array, s.target.index, indices, shared))
            continue
        if isinstance(s, ir.AugStore):
            out.append(_accumulation(s, s.array, s.index, indices, shared))
            continue
        out.append(s)
    return out


def _accumulation(s, array, index, indices, shared):
    """``a[k] += v``: plain where ``k`` is the thread's own element and every other
    accumulation into ``a`` is at its thread's own element too, else atomic."""
    if s.op not in ("+", "-"):
        raise NonDifferentiableError(f"`{array.name}[...] {s.op}= ...` cannot be made atomic", s.loc,
                                     "write the update as `a[k] = a[k] * v`")
    own = own_index(index, indices)
    target = f"{array.name}[{', '.join(_text(x) for x in index)}]"
    if own is not None and array.name in shared:
        other = f"{array.name}[{', '.join(_text(_intrinsics(x)) for x in shared[array.name])}]"
        why = (f"atomic: {target} is this thread's own element, but other threads add atomically into "
               f"{other}, which may be this one: a plain += would lose their additions")
    elif own is not None:
        site, k = own
        comps = [n for n, (st, _, _) in indices.items() if st == site]
        why = f"{', '.join(sorted(comps))} = cuda.grid({k})" if k > 1 else f"{site} = cuda.grid(1)"
        s.comment = f"plain +=: {target} belongs to this thread alone ({why})"
        return s
    else:
        why = f"atomic: other threads may add into {target} too"
    value = s.value if s.op == "+" else ir.UnaryOp("-", s.value)
    idx = index[0] if len(index) == 1 else ir.TupleMake(tuple(index))
    return ir.ExprStmt(ir.Call("cuda.atomic.add", (array, idx, value)), loc=s.loc, comment=why)


def _text(e):
    from ..backend.pysource import expr_source
    return expr_source(e)


def tape_dtypes(fn, tapes, types, shared=False):
    """``{tape: dtype}``: the float tape holds float32 when every value recorded on it is one (a
    float32 kernel moves half the bytes), else float64; the int tape int64. A float32 tape's
    values need no cast back when popped. ``shared``: device functions record on the tapes too
    (float64 then)."""
    out = {}
    for tape, _ in tapes:
        vals = [s.value for s in ir.walk_stmts(fn.body) if isinstance(s, ir.Store) and s.array.name == tape]
        if not tape.startswith("_ftape"):
            out[tape] = "int64"
        elif vals and not shared and all(_dtype_of(v, types) == "float32" for v in vals):
            out[tape] = "float32"
            _uncast(fn.body, tape)
        else:
            out[tape] = "float64"
    return out


def _dtype_of(e, types):
    if isinstance(e, ir.Var):
        t = types.get(e.name)
        return getattr(t, "dtype", None)
    if isinstance(e, ir.Load) and isinstance(e.array, ir.Var) and isinstance(types.get(e.array.name), Array):
        return types[e.array.name].dtype
    return None


def _uncast(stmts, tape):
    def expr(e):
        if isinstance(e, ir.Call) and e.func == "np.float32" and len(e.args) == 1 \
                and isinstance(e.args[0], ir.Load) and getattr(e.args[0].array, "name", None) == tape:
            return e.args[0]
        return ir.map_expr(e, expr)

    for s in stmts:
        if isinstance(getattr(s, "value", None), ir.Expr):
            s.value = expr(s.value)
        for blk in ir.child_blocks(s):
            _uncast(blk, tape)


# ---------------------------------------------------------------- tape sizes


def tape_rows(fn, tapes, types, calls=None, kinds=()):
    """``{tape: expression of the kernel's parameters, or None}``: the slots one thread fills
    on each tape, or None when that is known only once the threads have run (a data-dependent
    ``while`` loop that records). The forward sweep only pushes and the reverse sweep only
    pops, so the forward sweep's pushes are the peak. ``calls``: for the device functions whose
    adjoints record on the kernel's tapes, ``{name: (params, {kind: peak})}``; ``kinds``: the
    kind of each tape."""
    by_top = {top: tape for tape, top in tapes}
    calls = calls or {}

    def push_kind(s):
        if isinstance(s, ir.AugAssign) and s.op == "+" and isinstance(s.target, ir.Var) \
                and s.target.name in by_top and isinstance(s.value, ir.Const) and s.value.value == 1:
            return by_top[s.target.name]
        return None

    def pop_kind(s):
        if isinstance(s, ir.AugAssign) and s.op == "-" and isinstance(s.target, ir.Var) \
                and s.target.name in by_top:
            return by_top[s.target.name]
        return None

    split = fn.region_start("reverse")
    in_reverse = push_bound(fn.body[split:], push_kind)
    calling = any(isinstance(e, ir.Call) and e.func in calls for st in ir.walk_stmts(fn.body[split:])
                  for r in ir.stmt_roots(st) for e in ir.walk_expr(r))
    if in_reverse is None or in_reverse or calling:
        # the reverse sweep records too (one iteration of a checkpointed loop at a time): the
        # peak of the whole kernel, known before it runs, or the kernel is refused
        whole = _NetZeroLoops(push_kind, pop_kind, calls, {k: t for k, (t, _) in zip(kinds, tapes)}).count(fn.body)
        count = None if whole is None else {k: peak(whole, k) for k in whole}
        if count is None or any(launch_expr(as_expr(n), fn, types) is None for n in count.values()):
            raise NonDifferentiableError(
                "s2sad cannot tell before the launch how many values a thread of this kernel's "
                "adjoint records", fn.loc, "give the loops that overwrite values trip counts "
                "known at launch (scalar arguments, array shapes)")
    else:
        count = push_bound(fn.body[:split], push_kind)
    out = {}
    for tape, _ in tapes:
        n = None if count is None else count.get(tape, 0)
        out[tape] = ir.Const(n) if isinstance(n, int) else (launch_expr(n, fn, types) if n is not None else None)
    return out


class _NetZeroLoops(Counter):
    """The tape-size analysis, where a ``while`` loop whose iterations pop what they push (the
    schedule of a checkpointed loop) raises the top by one iteration's peak at most, and the
    call of a device function's adjoint raises it by that function's peak."""

    def __init__(self, push_kind, pop_kind, calls=None, key_of_kind=None):
        super().__init__(push_kind, pop_kind)
        self.calls, self.key_of_kind = calls or {}, key_of_kind or {}

    def stmt_count(self, s):
        if not ir.child_blocks(s):
            # a device adjoint's call anywhere in the statement: `v_bar = f_vjp(...)[0]` (the
            # callee returns a tuple of which one item is active) records as much as a bare call
            calls = [e for r in ir.stmt_roots(s) for e in ir.walk_expr(r)
                     if isinstance(e, ir.Call) and e.func in self.calls]
            total = {}
            for call in calls:
                params, peaks = self.calls[call.func]
                args = dict(zip(params, call.args))
                total = add_counts(total, {self.key_of_kind[k]: (_substitute(n, args), 0)
                                           for k, n in peaks.items()})
            if calls:
                return total
        if isinstance(s, ir.While):
            body = self.count(s.cond + s.body)
            if body is not None and all(net == 0 for _, net in body.values()):
                return {k: (p, 0) for k, (p, _) in body.items()}
        if isinstance(s, ir.For):
            popping = self._popping_loop(s)
            if popping is not None:
                return popping
        if isinstance(s, ir.If):
            # the whole kernel is counted here (forward and reverse sweeps): a guarded loop
            # pushes a number only known at launch in one branch and nothing in the other, so
            # the nets differ; the larger one bounds every peak after it (rows to allocate)
            a, b = self.count(s.body), self.count(s.orelse)
            if a is None or b is None:
                return None
            out = {}
            for k in set(a) | set(b):
                (pa, na), (pb, nb) = a.get(k, (0, 0)), b.get(k, (0, 0))
                if na == nb:
                    net = na
                elif isinstance(na, int) and isinstance(nb, int):
                    net = max(na, nb)
                else:  # (tapesize._max takes 0 for the smaller, which a net below 0 is not)
                    net = ir.Call("max", (as_expr(na), as_expr(nb)))
                out[k] = (_max(pa, pb), net)
            return out
        return super().stmt_count(s)

    def _popping_loop(self, s):
        """A reverse-sweep loop whose iterations pop a value and then call a device adjoint
        that pushes and pops its own (net < 0, peak > 0): each iteration starts lower than the
        one before, so the first one's peak is the loop's. None: the general rule decides."""
        body = self.count(s.body)
        if not body or free_names(body) & (ir.assigned_names(s.body) | {s.var.name}):
            return None
        if not any(isinstance(net, int) and net < 0 and pk != 0 for pk, net in body.values()):
            return None
        out = {}
        for k, (pk, net) in body.items():
            if net == 0:
                out[k] = (pk, 0)
            elif isinstance(net, int) and net < 0:
                out[k] = (pk, _mul(net, trip_count(s)))
            else:
                return None
        return out


def launch_expr(e, fn, types):
    """``e`` as an expression of the kernel's scalar parameters and array shapes (each name
    that the kernel assigns once from such values substituted), or None when it depends on
    anything a thread computes."""
    defs = {}
    for s in ir.walk_stmts(fn.body):
        for n in ir.stmt_defs(s):
            defs.setdefault(n, []).append(s)

    def sub(x, depth=0):
        if depth > 50:
            return None
        if isinstance(x, ir.Var):
            if x.name in fn.params:
                return x
            d = defs.get(x.name, [])
            if len(d) != 1 or not isinstance(d[0], ir.Assign) or d[0].inplace:
                return None
            return sub(d[0].value, depth + 1)
        if isinstance(x, ir.Const):
            return x
        arithmetic = isinstance(x, (ir.BinOp, ir.UnaryOp, ir.TupleGet, ir.TupleMake))
        if arithmetic or (isinstance(x, ir.Call) and x.func in ("max", "min", "len", "range", "int", "abs")):
            pass
        elif isinstance(x, ir.Attr) and x.name in ("shape", "size", "ndim") and isinstance(x.value, ir.Var) \
                and isinstance(types.get(x.value.name), Array):
            return x if x.value.name in fn.params else None
        elif isinstance(x, ir.Load) and not isinstance(types.get(getattr(x.array, "name", None)), Array):
            pass
        else:
            return None
        bad = []

        def conv(c):
            r = sub(c, depth + 1)
            if r is None:
                bad.append(c)
                return c
            return r
        new = ir.map_expr(x, conv)
        return None if bad else new

    return sub(e)


def refuse_array_tapes(kinds, loc):
    if set(kinds) - {"f", "i"}:
        raise NonDifferentiableError(
            "the adjoint of this kernel would record whole arrays per thread", loc,
            "keep per-thread values in scalar variables")
