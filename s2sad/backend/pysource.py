"""IR -> Python ``ast`` -> source text.

``ast.unparse`` drops comments, so a comment travels as a marked string statement and is
turned back into ``# ...`` once the text is produced.
"""

from __future__ import annotations

import ast
import math
import re

from .. import ir

_MARK = "__s2sad_comment__"
_BIN = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "//": ast.FloorDiv,
        "%": ast.Mod, "**": ast.Pow, "@": ast.MatMult}
_CMP = {"<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE, "==": ast.Eq, "!=": ast.NotEq,
        "is": ast.Is, "is not": ast.IsNot}


def _dotted(name):
    parts = name.split(".")
    node = ast.Name(parts[0], ast.Load())
    for p in parts[1:]:
        node = ast.Attribute(node, p, ast.Load())
    return node


class ToAst:
    def __init__(self, callee_names=None, jit=False):
        self.callee_names = callee_names or {}
        self.jit = jit  # for Numba: np.add.at (no ufunc.at there) as the runtime helper's loop
        self.headers = set()  # ids of the comments that open a function's regions

    # ------------------------------------------------------------ expressions

    def expr(self, e):
        if isinstance(e, ir.Var):
            return ast.Name(e.name, ast.Load())
        if isinstance(e, ir.Global):
            return ast.Name(e.name, ast.Load())
        if isinstance(e, ir.Const):
            return self.const(e.value)
        if isinstance(e, ir.BinOp):
            return ast.BinOp(self.expr(e.left), _BIN[e.op](), self.expr(e.right))
        if isinstance(e, ir.UnaryOp):
            op = {"-": ast.USub, "+": ast.UAdd, "not": ast.Not}[e.op]()
            return ast.UnaryOp(op, self.expr(e.operand))
        if isinstance(e, ir.Compare):
            return ast.Compare(self.expr(e.left), [_CMP[e.op]()], [self.expr(e.right)])
        if isinstance(e, ir.BoolOp):
            op = ast.And() if e.op == "and" else ast.Or()
            return ast.BoolOp(op, [self.expr(v) for v in e.values])
        if isinstance(e, ir.IfExp):
            return ast.IfExp(self.expr(e.test), self.expr(e.body), self.expr(e.orelse))
        if isinstance(e, ir.Call) and e.func == "stop_gradient":
            return self.expr(e.args[0])  # the value itself; no derivative flows through it
        if isinstance(e, ir.Call):
            func = e.func
            if func in self.callee_names:
                func = self.callee_names[func]
            elif ":" in func:
                func = func.split(":", 1)[1]
            return ast.Call(_dotted(func), [self.expr(a) for a in e.args],
                            [ast.keyword(k, self.expr(v)) for k, v in e.kwargs])
        if isinstance(e, ir.Method):
            return ast.Call(ast.Attribute(self.expr(e.obj), e.name, ast.Load()),
                            [self.expr(a) for a in e.args],
                            [ast.keyword(k, self.expr(v)) for k, v in e.kwargs])
        if isinstance(e, ir.CallUser):
            name = self.callee_names.get(e.func, e.func)
            return ast.Call(ast.Name(name, ast.Load()), [self.expr(a) for a in e.args], [])
        if isinstance(e, ir.Load):
            return ast.Subscript(self.expr(e.array), self.index(e.index), ast.Load())
        if isinstance(e, ir.Attr):
            return ast.Attribute(self.expr(e.value), e.name, ast.Load())
        if isinstance(e, ir.TupleMake):
            return ast.Tuple([self.expr(x) for x in e.items], ast.Load())
        if isinstance(e, ir.TupleGet):
            return ast.Subscript(self.expr(e.tuple), ast.Constant(e.index), ast.Load())
        if isinstance(e, ir.NewAxis):
            return ast.Constant(None)
        if isinstance(e, ir.Slice):
            return ast.Slice(*(None if p is None else self.expr(p) for p in (e.lower, e.upper, e.step)))
        raise TypeError(f"cannot print {e!r}")

    def const(self, v):
        if isinstance(v, float):
            if math.isinf(v):
                node = _dotted("math.inf")
                return ast.UnaryOp(ast.USub(), node) if v < 0 else node
            if math.isnan(v):
                return _dotted("math.nan")
            if v < 0 or (v == 0 and math.copysign(1.0, v) < 0):
                return ast.UnaryOp(ast.USub(), ast.Constant(-v))
            return ast.Constant(v)
        if isinstance(v, int) and not isinstance(v, bool) and v < 0:
            return ast.UnaryOp(ast.USub(), ast.Constant(-v))
        if isinstance(v, tuple):
            return ast.Tuple([self.const(x) for x in v], ast.Load())
        if hasattr(v, "name") and type(v).__name__ == "DType":
            return _dotted("np." + {"bool": "bool_"}.get(v.name, v.name))
        return ast.Constant(v)

    def index(self, idx):
        items = [self.expr(i) for i in idx]
        if len(items) == 1:
            return items[0]
        return ast.Tuple(items, ast.Load())

    def target(self, e):
        if isinstance(e, ir.Var):
            return ast.Name(e.name, ast.Store())
        if isinstance(e, ir.Load):
            return ast.Subscript(self.expr(e.array), self.index(e.index), ast.Store())
        raise TypeError(e)

    # ------------------------------------------------------------ statements

    def block(self, stmts):
        out = []
        for k, s in enumerate(stmts):
            if isinstance(s, ir.Comment) and (self._empty_region(stmts, k) if id(s) in self.headers
                                              else _orphan(stmts, k)):
                continue
            out.extend(self.stmt(s))
        return out or [ast.Pass()]

    def _empty_region(self, stmts, k):
        """A region's header with no statement of the region under it."""
        nxt = next((x for x in stmts[k + 1:] if not (isinstance(x, ir.Comment) and id(x) not in self.headers)), None)
        return nxt is None or id(nxt) in self.headers

    def stmt(self, s):
        pre = []
        if s.comment and not isinstance(s, ir.Comment):
            pre.append(self.comment(s.comment))
        return pre + [self._stmt(s)]

    def comment(self, text):
        return ast.Expr(ast.Constant(_MARK + text))

    def _stmt(self, s):
        if isinstance(s, ir.Comment):
            return self.comment(s.text)
        if isinstance(s, ir.Assign):
            v = s.value
            if s.inplace and isinstance(v, ir.BinOp) and v.left == s.target:
                # `x op= e`: in place for an array, as the user wrote it
                return ast.AugAssign(ast.Name(s.target.name, ast.Store()), _BIN[v.op](), self.expr(v.right))
            return ast.Assign([ast.Name(s.target.name, ast.Store())], self.expr(s.value), lineno=0)
        if isinstance(s, ir.TupleAssign):
            targets = ast.Tuple([ast.Name(t.name, ast.Store()) for t in s.targets], ast.Store())
            return ast.Assign([targets], self.expr(s.value), lineno=0)
        if isinstance(s, ir.AugAssign):
            return ast.AugAssign(self.target(s.target), _BIN[s.op](), self.expr(s.value))
        if isinstance(s, ir.Store):
            return ast.Assign([ast.Subscript(self.expr(s.array), self.index(s.index), ast.Store())],
                              self.expr(s.value), lineno=0)
        if isinstance(s, ir.AugStore) and s.at:
            if self.jit:
                return ast.Expr(self.expr(ir.scatter_add(s.array, s.index, s.value)))
            # NumPy's own, which s2sad reads back as this statement
            idx = [ast.Call(ast.Name("slice", ast.Load()), [ast.Constant(None)], []) if isinstance(i, ir.Slice)
                   else self.expr(i) for i in s.index]
            return ast.Expr(ast.Call(_dotted("np.add.at"), [self.expr(s.array), idx[0] if len(idx) == 1 else
                                                            ast.Tuple(idx, ast.Load()), self.expr(s.value)], []))
        if isinstance(s, ir.AugStore):
            return ast.AugAssign(ast.Subscript(self.expr(s.array), self.index(s.index), ast.Store()),
                                 _BIN[s.op](), self.expr(s.value))
        if isinstance(s, ir.ExprStmt):
            return ast.Expr(self.expr(s.value))
        if isinstance(s, ir.If):
            return ast.If(self.expr(s.test), self.block(s.body),
                          self.block(s.orelse) if s.orelse else [])
        if isinstance(s, ir.For):
            return ast.For(ast.Name(s.var.name, ast.Store()), self.range_call(s),
                           self.loop_body(s), [], lineno=0)
        if isinstance(s, ir.While):
            if not s.cond:
                return ast.While(self.expr(s.test), self.loop_body(s), [])
            body = self.block(s.cond) + [ast.If(ast.UnaryOp(ast.Not(), self.expr(s.test)), [ast.Break()], [])]
            body += [x for x in self.loop_body(s) if not isinstance(x, ast.Pass)]
            return ast.While(ast.Constant(True), body, [])
        if isinstance(s, ir.Break):
            return ast.Break()
        if isinstance(s, ir.Continue):
            return ast.Continue()
        if isinstance(s, ir.Pass):
            return ast.Pass()
        if isinstance(s, ir.Return):
            return ast.Return(None if s.value is None else self.expr(s.value))
        raise TypeError(f"cannot print statement {s!r}")

    def loop_body(self, s):
        body = self.block(s.body)
        if s.exit_flag:
            body = [x for x in body if not isinstance(x, ast.Pass)]
            body.append(ast.If(ast.Name(s.exit_flag, ast.Load()), [ast.Break()], []))
        return body

    def range_call(self, s):
        args = []
        start0 = isinstance(s.start, ir.Const) and s.start.value == 0
        step1 = isinstance(s.step, ir.Const) and s.step.value == 1
        if start0 and step1:
            args = [s.stop]
        elif step1:
            args = [s.start, s.stop]
        else:
            args = [s.start, s.stop, s.step]
        return ast.Call(ast.Name("range", ast.Load()), [self.expr(a) for a in args], [])

    # ------------------------------------------------------------ functions

    def function(self, fn):
        self.headers = {id(s) for s in fn.regions.values()}
        params = [ast.arg(p) for p in fn.params]
        defaults = []
        # defaults only for a trailing run of parameters
        trailing = []
        for p in reversed(fn.params):
            if p in fn.defaults:
                trailing.append(self.expr(fn.defaults[p]))
            else:
                break
        defaults = list(reversed(trailing))
        body = []
        if fn.docstring:
            doc = "\n".join(("    " + ln) if ln and k else ln
                            for k, ln in enumerate(fn.docstring.split("\n")))
            if "\n" in doc:
                doc += "\n    "
            body.append(ast.Expr(ast.Constant(doc)))
        body += self.block(fn.body)
        args = ast.arguments(posonlyargs=[], args=params, vararg=None, kwonlyargs=[],
                             kw_defaults=[], kwarg=None, defaults=defaults)
        return ast.FunctionDef(fn.name, args, body, [], None, lineno=0)


def _orphan(stmts, k):
    """A comment with nothing under it (what it headed was folded away): the end of its block,
    another comment, or the return of another line next."""
    nxt = stmts[k + 1] if k + 1 < len(stmts) else None
    return nxt is None or isinstance(nxt, ir.Comment) or (
        isinstance(nxt, ir.Return) and None not in (stmts[k].loc, nxt.loc)
        and nxt.loc.lineno != stmts[k].loc.lineno)


# ast.unparse quotes a text holding ' with ", one holding both (or a first statement, which it
# takes for a docstring) with """ or '''
_COMMENT_RE = re.compile(r"^(\s*)('''|\"\"\"|'|\")" + _MARK + r"(.*)\2$")


def _restore_comments(text):
    out = []
    for line in text.split("\n"):
        m = _COMMENT_RE.match(line)
        if m:
            quote, body = m.group(2), m.group(3)
            try:
                body = ast.literal_eval(quote + body + quote)
            except Exception:
                pass
            out.append(f"{m.group(1)}# {body}")
        else:
            out.append(line)
    return "\n".join(out)


def function_source(fn, callee_names=None, jit=False):
    node = ToAst(callee_names, jit).function(fn)
    mod = ast.Module([node], [])
    ast.fix_missing_locations(mod)
    text = ast.unparse(mod)
    return _restore_comments(text)


def expr_source(e):
    node = ToAst().expr(e)
    return ast.unparse(ast.fix_missing_locations(node))


def format_function(fn, types=None):
    """A readable dump of an IR function: its source form, headed by the inferred types."""
    lines = []
    types = types if types is not None else getattr(fn, "types", {})
    if types:
        lines.append(f"# IR of {fn.name}; inferred types:")
        for name in sorted(types):
            lines.append(f"#   {name}: {types[name]}")
    lines.append(function_source(fn))
    return "\n".join(lines)
