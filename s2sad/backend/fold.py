"""Folding compiler temporaries back into expressions, for readable generated code.

Three-address form gives every intermediate a name (``_t7 = _t6 ** 2``). A temporary (a name
in ``fn.temps``) that is assigned once and read once, later in the same block, with nothing in
between writing what its expression reads, is substituted into its use; temporaries never read
are dropped. User variables are never touched, and neither is anything the tape or the reverse
sweep reads twice.
"""

from __future__ import annotations

import re

from .. import ir
from ..analysis.activity import sharing
from ..analysis.liveness import pure

_TEMP = re.compile(r"^_(t\d+(_bar\d*|_dot\d*)?|g\d*|r\d*|new\d*|live\d*)$")


def is_temp(name):
    """Whether a name in printed code is spelled like a temporary: for tests and readers of
    generated code only; the passes go by ``Function.temps``."""
    return bool(_TEMP.match(name))


def reads_all(stmts):
    """How many times each name is read in ``stmts`` (nested blocks included)."""
    return _count(stmts, ir.stmt_reads)


def _defs_all(stmts):
    return _count(stmts, ir.stmt_defs)


def _count(stmts, names_of):
    counts = {}
    for s in ir.walk_stmts(stmts):
        for n in names_of(s):
            counts[n] = counts.get(n, 0) + 1
    return counts


def _writes(s):
    """Names a statement (with its nested blocks) may change; '*' for any array."""
    out = set()
    for x in ir.walk_stmts([s]):
        out.update(ir.stmt_defs(x))
        if isinstance(x, (ir.Assign, ir.TupleAssign)) and not pure(x.value):
            out.add("*")
        elif isinstance(x, ir.AugAssign) and isinstance(x.target, ir.Load):
            out.add(x.target.array.name)
        elif isinstance(x, (ir.Store, ir.AugStore)):
            out.add(x.array.name)
        elif isinstance(x, ir.ExprStmt):
            out.add("*")
    return out


def _substitute(e, name, value):
    if isinstance(e, ir.Var):
        return value if e.name == name else e
    return ir.map_expr(e, lambda c: _substitute(c, name, value))


def _substitute_in_stmt(s, name, value):
    """Replace ``name`` in the expressions ``s`` itself evaluates (not nested blocks, except an
    If's test and a For's bounds). Returns False when the use is somewhere else."""
    if isinstance(s, (ir.Assign, ir.TupleAssign)):
        s.value = _substitute(s.value, name, value)
    elif isinstance(s, ir.AugAssign):
        s.value = _substitute(s.value, name, value)
        if isinstance(s.target, ir.Load):
            s.target = _substitute(s.target, name, value)
    elif isinstance(s, (ir.Store, ir.AugStore)):
        s.value = _substitute(s.value, name, value)
        s.index = tuple(_substitute(i, name, value) for i in s.index)
    elif isinstance(s, (ir.ExprStmt, ir.Return)):
        s.value = _substitute(s.value, name, value)
    elif isinstance(s, ir.If):
        s.test = _substitute(s.test, name, value)
    elif isinstance(s, ir.For):
        s.start, s.stop, s.step = (_substitute(b, name, value) for b in (s.start, s.stop, s.step))
    else:
        return False
    return True


def _direct_reads(s):
    return ir.stmt_reads(s)


def fold_function(fn):
    """Fold in place. A reverse-mode function is two regions, the forward sweep and the reverse
    sweep (``fn.regions``): the reverse sweep recomputes some temporaries, and there a
    temporary's definition and uses are counted within the reverse sweep alone (it runs after
    the forward sweep)."""
    temps = fn.temps - set(fn.params)
    split = fn.region_start("reverse")
    shares = sharing(fn, fn.types)  # a write into memory a view shares changes what it reads
    for _ in range(200):
        if split is None:
            changed = _fold_block(fn.body, reads_all(fn.body), _defs_all(fn.body), temps, shares)
        else:
            fwd, rev = fn.body[:split], fn.body[split:]
            changed = _fold_block(rev, reads_all(rev), _defs_all(rev), temps, shares)
            changed |= _fold_block(fwd, reads_all(fn.body), _defs_all(fwd), temps, shares)
            fn.body = fwd + rev
            split = len(fwd)
        if not changed:
            break
    return fn


def _fold_block(stmts, reads, defs, temps, shares):
    changed = False
    i = 0
    while i < len(stmts):
        s = stmts[i]
        if isinstance(s, ir.If):
            changed |= _fold_block(s.body, reads, defs, temps, shares)
            changed |= _fold_block(s.orelse, reads, defs, temps, shares)
        elif isinstance(s, (ir.For, ir.While)):
            changed |= _fold_block(s.body, reads, defs, temps, shares)
        if isinstance(s, ir.Assign) and s.target.name in temps \
                and defs.get(s.target.name) == 1 and pure(s.value):
            name = s.target.name
            n = reads.get(name, 0)
            if n == 0:
                comment = s.comment
                del stmts[i]
                if comment and i < len(stmts) and not stmts[i].comment:
                    stmts[i].comment = comment
                changed = True
                continue
            if n == 1 and _fold_into_next_use(stmts, i, name, s.value, shares):
                changed = True
                continue
            if isinstance(s.value, (ir.Var, ir.Const)) and _propagate_copy(stmts, i, name, s.value, n):
                changed = True
                continue
        elif isinstance(s, ir.Assign) and s.target.name in temps and defs.get(s.target.name) == 1 \
                and reads.get(s.target.name) == 1 and _take_item_of_call(stmts, i):
            changed = True
            continue
        i += 1
    return changed


def _take_item_of_call(stmts, i):
    """``_r = f(...)`` (a call with effects) followed at once by the one read of ``_r``,
    ``v = _r[k]`` or ``v += _r[k]``: the call moves into that read, ``v = f(...)[k]``. Nothing
    runs in between, and ``v`` is assigned only after the call returns."""
    s = stmts[i]
    if not isinstance(s.value, (ir.Call, ir.CallUser)):
        return False
    j = i + 1
    while j < len(stmts) and isinstance(stmts[j], ir.Comment):
        j += 1
    u = stmts[j] if j < len(stmts) else None
    if not (isinstance(u, (ir.Assign, ir.AugAssign)) and isinstance(u.target, ir.Var)
            and u.value == ir.TupleGet(s.target, getattr(u.value, "index", None))
            and u.target != s.target):
        return False
    u.value = ir.TupleGet(s.value, u.value.index)
    if u.comment is None and s.comment:
        u.comment = s.comment
    del stmts[i]
    return True


def _fold_into_next_use(stmts, i, name, value, shares):
    """Substitute ``name = value`` into the one read of ``name`` later in the block, unless a
    statement in between writes what ``value`` reads: a name it reads, an array it loads from,
    or memory one of them shares (``_t1 = a[1:3]`` reads ``a``'s elements; forward mode's
    ``a[1:3] = _t2`` then ``_t2_dot = ... * _t1`` read them after the write, and folded past
    it the tangent read the new values)."""
    needs = set(ir.expr_vars(value))
    reads_arrays = _loads_arrays(value)
    for v in list(needs | reads_arrays):
        reads_arrays |= shares.get(v, set())
    for j in range(i + 1, len(stmts)):
        u = stmts[j]
        if isinstance(u, ir.Comment):
            continue
        if name in _direct_reads(u):
            if isinstance(u, ir.While):
                return False
            if not _substitute_in_stmt(u, name, value):
                return False
            if u.comment is None and stmts[i].comment:
                u.comment = stmts[i].comment
            del stmts[i]
            return True
        if any(name in ir.stmt_reads(x) for x in ir.walk_stmts([u])):
            return False  # read inside a nested block: evaluation count would change
        w = _writes(u)
        w |= set().union(*(shares.get(v, set()) for v in w))  # a write through a view
        if w & needs or ("*" in w and (reads_arrays or needs)) or (w & reads_arrays):
            return False
    return False


def _propagate_copy(stmts, i, name, value, n):
    """``name = value`` with value a variable or constant: substitute it into all ``n`` reads,
    when they are all direct reads in later statements of this block before anything writes
    ``value``."""
    src = {value.name} if isinstance(value, ir.Var) else set()
    found = 0
    targets = []
    for j in range(i + 1, len(stmts)):
        u = stmts[j]
        if isinstance(u, ir.Comment):
            continue
        direct = _direct_reads(u).count(name)
        nested = sum(ir.stmt_reads(x).count(name) for x in ir.walk_stmts([u])) - direct
        if nested or (direct and isinstance(u, ir.While)):
            return False
        if direct:
            targets.append(u)
            found += direct
        if found == n:
            break
        if _writes(u) & (src | {name}):
            return False
    if found != n:
        return False
    for u in targets:
        if not _substitute_in_stmt(u, name, value):
            return False
    comment = stmts[i].comment
    del stmts[i]
    if comment and i < len(stmts) and not stmts[i].comment:
        stmts[i].comment = comment
    return True


def _loads_arrays(e):
    out = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ir.Load) and isinstance(x.array, ir.Var):
            out.add(x.array.name)
        if isinstance(x, (ir.Attr, ir.Method)) and isinstance(getattr(x, "value", getattr(x, "obj", None)), ir.Var):
            out.add((x.value if isinstance(x, ir.Attr) else x.obj).name)
        if x is not None:
            stack.extend(ir.sub_exprs(x))
    return out
