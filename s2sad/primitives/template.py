"""Derivative rules are written as Python expression strings (``"g * M.cos(x)"``); this module
turns them into IR expression trees and substitutes operands for their names.

``M.f`` means the scalar function ``math.f`` when every operand is a scalar and ``np.f``
otherwise, so one rule serves floats (fast ``math`` calls) and arrays.
"""

from __future__ import annotations

import ast
import functools

from ..ir.parse import parse as parse_python
from .. import ir

_BIN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
        ast.MatMult: "@", ast.FloorDiv: "//", ast.Mod: "%"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}

# math spelling -> numpy spelling, for M.f
NP_NAME = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2",
           "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh", "fabs": "abs",
           "pow": "power"}
MATH_ONLY_TO_NP = {"sign"}  # no math spelling: always numpy


def _dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    raise ValueError(ast.dump(node))


def _conv(node):
    if isinstance(node, ast.Expression):
        return _conv(node.body)
    if isinstance(node, ast.Name):
        return ir.Var(node.id)
    if isinstance(node, ast.Constant):
        return ir.Const(node.value)
    if isinstance(node, ast.BinOp):
        return ir.BinOp(_BIN[type(node.op)], _conv(node.left), _conv(node.right))
    if isinstance(node, ast.UnaryOp):
        op = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not"}[type(node.op)]
        inner = _conv(node.operand)
        if op == "-" and isinstance(inner, ir.Const):
            return ir.Const(-inner.value)
        return ir.UnaryOp(op, inner)
    if isinstance(node, ast.Compare):
        return ir.Compare(_CMP[type(node.ops[0])], _conv(node.left), _conv(node.comparators[0]))
    if isinstance(node, ast.BoolOp):
        return ir.BoolOp("and" if isinstance(node.op, ast.And) else "or",
                         tuple(_conv(v) for v in node.values))
    if isinstance(node, ast.IfExp):
        return ir.IfExp(_conv(node.test), _conv(node.body), _conv(node.orelse))
    if isinstance(node, ast.Call):
        args = tuple(_conv(a) for a in node.args)
        kwargs = tuple((k.arg, _conv(k.value)) for k in node.keywords)
        if isinstance(node.func, ast.Attribute) and not isinstance(node.func.value, ast.Name) \
                or (isinstance(node.func, ast.Attribute) and node.func.value.id not in ("M", "np", "math")):
            return ir.Method(_conv(node.func.value), node.func.attr, args, kwargs)
        return ir.Call(_dotted(node.func), args, kwargs)
    if isinstance(node, ast.Attribute):
        return ir.Attr(_conv(node.value), node.attr)
    if isinstance(node, ast.Subscript):
        sl = node.slice
        elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
        idx = []
        for e in elts:
            if isinstance(e, ast.Slice):
                idx.append(ir.Slice(*(None if p is None else _conv(p) for p in (e.lower, e.upper, e.step))))
            elif isinstance(e, ast.Constant) and e.value is None:
                idx.append(ir.NewAxis())
            else:
                idx.append(_conv(e))
        return ir.Load(_conv(node.value), tuple(idx))
    if isinstance(node, ast.Tuple):
        return ir.TupleMake(tuple(_conv(e) for e in node.elts))
    raise ValueError(f"unsupported template node {ast.dump(node)}")


@functools.lru_cache(maxsize=None)
def parse(src):
    return _conv(parse_python(src, mode="eval"))


def substitute(e, env, array_mode):
    """Replace template names by the expressions in ``env``; resolve ``M.f``."""
    if isinstance(e, ir.Var):
        return env.get(e.name, e)

    def sub(x):
        return substitute(x, env, array_mode)

    if isinstance(e, ir.BinOp):
        return simplify(ir.BinOp(e.op, sub(e.left), sub(e.right)))
    if isinstance(e, ir.UnaryOp):
        inner = sub(e.operand)
        if e.op == "-" and isinstance(inner, ir.UnaryOp) and inner.op == "-":
            return inner.operand
        return ir.UnaryOp(e.op, inner)
    if isinstance(e, ir.Call):
        func = e.func
        if func in PSEUDO:
            return PSEUDO[func](array_mode, *(sub(a) for a in e.args))
        if func.startswith("M."):
            base = func[2:]
            if array_mode or base in MATH_ONLY_TO_NP:
                func = "np." + NP_NAME.get(base, base)
            else:
                func = "math." + base
        return ir.Call(func, tuple(sub(a) for a in e.args), tuple((k, sub(v)) for k, v in e.kwargs))
    return ir.map_expr(e, sub)


def _indicator(array_mode, test):
    """1.0 where ``test`` holds, else 0.0: a bool array on arrays, a conditional on scalars."""
    if array_mode:
        return test
    return ir.IfExp(test, ir.Const(1.0), ir.Const(0.0))


PSEUDO = {
    "M.ge": lambda am, a, b: _indicator(am, ir.Compare(">=", a, b)),
    "M.gt": lambda am, a, b: _indicator(am, ir.Compare(">", a, b)),
    "M.le": lambda am, a, b: _indicator(am, ir.Compare("<=", a, b)),
    "M.lt": lambda am, a, b: _indicator(am, ir.Compare("<", a, b)),
    "M.mask": lambda am, c: c if am else ir.IfExp(c, ir.Const(1.0), ir.Const(0.0)),
    "M.notmask": lambda am, c: (ir.Call("np.logical_not", (c,)) if am
                                else ir.IfExp(c, ir.Const(0.0), ir.Const(1.0))),
    "M.inside": lambda am, x, lo, hi: (
        ir.Call("np.logical_and", (ir.Compare(">=", x, lo), ir.Compare("<=", x, hi))) if am
        else ir.IfExp(ir.BoolOp("and", (ir.Compare(">=", x, lo), ir.Compare("<=", x, hi))),
                      ir.Const(1.0), ir.Const(0.0))),
}


def instantiate(src, env, array_mode=False):
    return substitute(parse(src), env, array_mode)


def _is(c, v):
    return isinstance(c, ir.Const) and type(c.value) in (int, float) and c.value == v


def simplify(e):
    """Algebraic identities that keep generated code readable (no value changes: x*1 -> x,
    x+0 -> x, x**1 -> x; zero *products* are kept, because 0*inf is nan)."""
    if not isinstance(e, ir.BinOp):
        return e
    a, b, op = e.left, e.right, e.op
    if isinstance(a, ir.Const) and isinstance(b, ir.Const) and type(a.value) in (int, float) \
            and type(b.value) in (int, float) and op in "+-*":
        return ir.Const({"+": a.value + b.value, "-": a.value - b.value, "*": a.value * b.value}[op])
    if op == "*":
        if _is(a, 1):
            return b
        if _is(b, 1):
            return a
        if _is(a, -1):
            return ir.UnaryOp("-", b)
        if _is(b, -1):
            return ir.UnaryOp("-", a)
    if op == "/" and _is(b, 1):
        return a
    if op == "+":
        if _is(a, 0):
            return b
        if _is(b, 0):
            return a
    if op == "-" and _is(b, 0):
        return a
    if op == "**" and _is(b, 1):
        return a
    return e
