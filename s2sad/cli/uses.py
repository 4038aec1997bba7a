"""Parameter types from how a function uses its parameters, for the command line when there is
no ``--types``, annotation or ``--at`` value.

Indexed with k indices (``x[i, j]``, ``x[i][j]``), ``.shape[k]``, ``len(x)``, ``for row in x``
(and the rows so named, indexed in turn): a float64 array of the rank the uses need. Used as a
``range()`` bound or inside an index: an int. Used only as a number: a float64. Passed to
another function of the user's file: what that function's uses of its parameter say. Uses that
disagree (indexed here, a range bound there) are an error at the use that disagrees."""

from __future__ import annotations

import ast
import inspect
import textwrap

from ..ir.parse import parse
from ..ir.types import F64, I64, Array

ARRAY, INT, NUMBER = "array", "int", "number"

# attributes and methods only arrays have (one axis at least)
_ARRAY_ATTRS = {"shape", "T", "size", "ndim", "sum", "mean", "copy", "reshape", "dot", "max",
                "min", "prod", "ravel", "flatten", "transpose", "std", "var", "cumsum", "argmax",
                "argmin", "fill", "astype"}
# numpy functions whose arguments are arrays (one axis at least)
_ARRAY_FUNCS = {"sum", "mean", "max", "min", "prod", "dot", "outer", "var", "std", "cumsum",
                "zeros_like", "ones_like", "empty_like", "full_like", "norm", "argmax", "argmin",
                "diff", "concatenate", "matmul", "vdot", "inner"}
_ARITH = (ast.BinOp, ast.UnaryOp)


class Conflict(Exception):
    """Uses of a parameter that no one type satisfies: ``node`` is the later use, ``other``
    the earlier one it disagrees with; ``indexed``: ``node`` indexes the parameter."""

    def __init__(self, param, node, other, indexed):
        super().__init__(param)
        self.param, self.node, self.other, self.indexed = param, node, other, indexed


def types_from_use(fdef, params, globals_=None, _depth=0):
    """{param: (type, node of the use that decided it)} for the parameters whose uses say
    something; a parameter with no telling use is left out. Raises ``Conflict``."""
    evidence = {p: [] for p in params}
    parents = {}
    for node in ast.walk(fdef):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    aliases = _aliases(fdef, set(params), parents)

    def resolve(node):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in evidence:
                return node.id, 0
            return aliases.get(node.id)
        return None

    for node in ast.walk(fdef):
        r = resolve(node)
        if r is None:
            continue
        p, off = r
        evidence[p].extend(_use(node, off, parents, globals_, _depth))
    return {p: _decide(p, ev) for p, ev in evidence.items() if ev}


def _aliases(fdef, params, parents):
    """Names that stand for part of a parameter: ``for row in x`` and ``r = x[i]`` (assigned
    once) make ``row`` and ``r`` x's rows, one axis down."""
    stores = {}
    for node in ast.walk(fdef):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            stores[node.id] = stores.get(node.id, 0) + 1
    aliases = {}
    for _ in range(4):  # rows of rows
        for node in ast.walk(fdef):
            if isinstance(node, ast.For):
                target, source, extra = node.target, node.iter, 1
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, source = node.targets[0], node.value
                extra = 0
                while isinstance(source, ast.Subscript):
                    items = _index_items(source)
                    if any(isinstance(i, ast.Slice) for i in items):
                        break
                    extra += len(items)
                    source = source.value
                if extra == 0 and not isinstance(source, ast.Name):
                    continue
            else:
                continue
            if not (isinstance(target, ast.Name) and isinstance(source, ast.Name)):
                continue
            if target.id in params or stores.get(target.id, 0) != 1:
                continue
            base = (source.id, 0) if source.id in params else aliases.get(source.id)
            if base is not None:
                aliases[target.id] = (base[0], base[1] + extra)
    return aliases


def _index_items(sub):
    idx = sub.slice
    items = idx.elts if isinstance(idx, ast.Tuple) else [idx]
    return [i for i in items if not (isinstance(i, ast.Constant) and i.value in (None, Ellipsis))]


def _use(node, off, parents, globals_, depth):
    """The evidence one use of a parameter (or of its rows, ``off`` axes down) gives."""
    parent = parents.get(node)
    if isinstance(parent, ast.Subscript) and parent.value is node:
        k, cur = 0, node
        while isinstance(parents.get(cur), ast.Subscript) and parents[cur].value is cur:
            cur = parents[cur]
            k += len(_index_items(cur))
        return [(ARRAY, off + k, node)]
    if isinstance(parent, ast.Attribute) and parent.value is node and parent.attr in _ARRAY_ATTRS:
        rank = off + 1
        up = parents.get(parent)
        if parent.attr == "shape":
            if (isinstance(up, ast.Subscript) and isinstance(up.slice, ast.Constant)
                    and isinstance(up.slice.value, int) and up.slice.value >= 0):
                rank = off + up.slice.value + 1
            elif isinstance(up, ast.Assign) and isinstance(up.targets[0], ast.Tuple):
                rank = off + len(up.targets[0].elts)
        elif parent.attr == "T":
            rank = max(rank, off + 2) if off == 0 else rank
        return [(ARRAY, rank, node)]
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.MatMult):
        return [(ARRAY, off + 1, node)]
    if isinstance(parent, ast.Call) and node in parent.args:
        if isinstance(parent.func, ast.Name) and parent.func.id == "len":
            return [(ARRAY, off + 1, node)]
        if isinstance(parent.func, ast.Attribute) and parent.func.attr in _ARRAY_FUNCS:
            return [(ARRAY, off + 1, node)]
        if off == 0 and not (isinstance(parent.func, ast.Name) and parent.func.id == "range"):
            callee = _callee(parent, globals_, depth)
            if callee is not None:
                fdef, cparams, cglobals = callee
                k = parent.args.index(node)
                if k < len(cparams):
                    try:
                        found = types_from_use(fdef, cparams, cglobals, depth + 1)
                    except Conflict:
                        found = {}
                    if cparams[k] in found:
                        t = found[cparams[k]][0]
                        if isinstance(t, Array):
                            return [(ARRAY, t.ndim, node)]
                        return [(INT if t == I64 else NUMBER, 0, node)]
    if isinstance(parent, ast.For) and parent.iter is node:
        return [(ARRAY, off + 1, node)]
    if off == 0 and _in_int_context(node, parents):
        return [(INT, 0, node)]
    if off == 0 and _as_number(node, parent):
        return [(NUMBER, 0, node)]
    return []


def _as_number(node, parent):
    """Used in arithmetic, a comparison, or as an argument of math.* or a number builtin."""
    if isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Compare)):
        return True
    if isinstance(parent, ast.AugAssign) and parent.value is node:
        return True
    if isinstance(parent, ast.Call) and node in parent.args:
        f = parent.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "math":
            return True
        return isinstance(f, ast.Name) and f.id in ("float", "abs", "min", "max", "pow", "round")
    return False


def _in_int_context(node, parents):
    """Whether ``node``, through arithmetic only, is an index or a ``range()`` argument."""
    cur = node
    while isinstance(parents.get(cur), _ARITH):
        cur = parents[cur]
    up = parents.get(cur)
    if isinstance(up, ast.Tuple) and isinstance(parents.get(up), ast.Subscript):
        cur, up = up, parents[up]
    if isinstance(up, ast.Slice):
        return True
    if isinstance(up, ast.Subscript) and up.slice is cur:
        return True
    return (isinstance(up, ast.Call) and isinstance(up.func, ast.Name) and up.func.id == "range"
            and cur in up.args)


def _callee(call, globals_, depth):
    """(def node, parameters, globals) of a function of the user's own file called by name."""
    if depth >= 3 or globals_ is None or not isinstance(call.func, ast.Name):
        return None
    fn = globals_.get(call.func.id)
    fn = getattr(fn, "py_func", fn)
    if not inspect.isfunction(fn):
        return None
    try:
        tree = parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    fdef = next((n for n in tree.body if isinstance(n, ast.FunctionDef)), None)
    if fdef is None:
        return None
    return fdef, list(inspect.signature(fn).parameters), fn.__globals__


def _decide(p, ev):
    arrays = [e for e in ev if e[0] == ARRAY]
    ints = [e for e in ev if e[0] == INT]
    if arrays and ints:
        a, i = arrays[0][2], ints[0][2]
        later = max((a, i), key=lambda n: (n.lineno, n.col_offset))
        raise Conflict(p, later, i if later is a else a, later is a)
    if arrays:
        best = max(arrays, key=lambda e: e[1])
        return Array("float64", best[1]), best[2]
    if ints:
        return I64, ints[0][2]
    return F64, ev[0][2]
