"""Lowering: a user's Python function (its ``ast``) into the structured three-address IR.

Every IR statement keeps the position of the user's statement, and every refusal points at the
user's own line with a caret.
"""

from __future__ import annotations

import ast
import inspect
import math
import types

import numpy as np

from .. import ir
from ..errors import UnsupportedSyntaxError, NonDifferentiableError
from .resolve import (MATH_CONSTS, NP_CONSTS, NP_DTYPES, Scope, ValueRead, known_name, user_function_of)


class DType:
    """A dtype named in user code (``np.float32``): passed through, never differentiated."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"np.{self.name}"

    def __eq__(self, other):
        return isinstance(other, DType) and other.name == self.name

    def __hash__(self):
        return hash(("dtype", self.name))


def get_user_function(obj):
    fn = user_function_of(obj)
    if fn is None:
        raise NonDifferentiableError(
            f"s2sad can only differentiate Python functions, not {type(obj).__name__!s} {obj!r}",
            hint="pass a function defined with `def` in a .py file")
    return fn


class SourceInfo:
    def __init__(self, fn):
        try:
            lines, start = inspect.getsourcelines(fn)
            self.filename = inspect.getsourcefile(fn) or fn.__code__.co_filename
        except (OSError, TypeError) as e:
            raise UnsupportedSyntaxError(
                f"cannot read the source of {fn.__qualname__}: {e}",
                hint="define the function in a .py file (s2sad reads its source); functions typed "
                     "into an interactive prompt or made by exec() have none") from None
        self.start = start
        first = lines[0]
        self.indent = len(first) - len(first.lstrip())
        text = "".join(ln[self.indent:] if ln[: self.indent].strip() == "" else ln.lstrip()
                       for ln in lines)
        self.text = text
        self.lines = lines

    def loc(self, node):
        lineno = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        idx = lineno - 1
        line = self.lines[idx] if 0 <= idx < len(self.lines) else ""
        return ir.Loc(self.filename, self.start + lineno - 1, col + self.indent, line)


REFUSED = {
    ast.Try: ("`try` blocks are not differentiated", "move the error handling outside the function you differentiate"),
    ast.With: ("`with` blocks are not differentiated", "move the context manager outside the function you differentiate"),
    ast.Global: ("`global` is not supported", "pass the value as an argument and return the new value"),
    ast.Nonlocal: ("`nonlocal` is not supported", "pass the value as an argument and return the new value"),
    ast.ClassDef: ("class definitions are not supported inside a differentiated function", "define the class outside"),
    ast.FunctionDef: ("nested function definitions are not supported", "define the helper at module level and call it"),
    ast.AsyncFunctionDef: ("async functions are not supported", "use a plain function"),
    ast.Raise: ("`raise` is not supported in a differentiated function", "check the input before calling the derivative"),
    ast.Assert: ("`assert` is not supported in a differentiated function", "check the input before calling the derivative"),
    ast.Delete: ("`del` is not supported", "let the variable go out of use instead"),
    ast.Import: ("imports inside a differentiated function are not supported", "import at module level"),
    ast.ImportFrom: ("imports inside a differentiated function are not supported", "import at module level"),
}
if hasattr(ast, "Match"):
    REFUSED[ast.Match] = ("`match` statements are not supported", "use if/elif/else")
if hasattr(ast, "TryStar"):
    REFUSED[ast.TryStar] = REFUSED[ast.Try]

REFUSED_EXPR = {
    ast.Lambda: ("lambdas are not supported", "define a function at module level with `def`"),
    ast.ListComp: ("list comprehensions are not supported", "write a for loop that fills a numpy array"),
    ast.SetComp: ("set comprehensions are not supported", "write a for loop that fills a numpy array"),
    ast.DictComp: ("dict comprehensions are not supported", "write a for loop that fills a numpy array"),
    ast.GeneratorExp: ("generator expressions are not supported", "write a for loop"),
    ast.Dict: ("dicts are not supported", "use separate variables or a numpy array"),
    ast.Set: ("sets are not supported", "use a numpy array"),
    ast.JoinedStr: ("string formatting is not supported in a differentiated function", "format strings outside it"),
    ast.Yield: ("generators (`yield`) are not supported", "return an array of the values instead"),
    ast.YieldFrom: ("generators (`yield from`) are not supported", "return an array of the values instead"),
    ast.Await: ("`await` is not supported", "use a plain function"),
    ast.NamedExpr: ("assignment expressions (`:=`) are not supported", "assign on a line of its own"),
    ast.Starred: ("starred expressions (`*x`) are not supported", "pass the items one by one"),
}

BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
          ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@"}
CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
          ast.Is: "is", ast.IsNot: "is not"}


class Lowering:
    """Lowers one function. ``program`` collects the user callees it finds."""

    def __init__(self, fn, program):
        self.fn = fn
        self.program = program
        self.src = SourceInfo(fn)
        self.scope = Scope(fn)
        try:
            tree = ast.parse(self.src.text)
        except SyntaxError:
            if fn.__name__ == "<lambda>":
                raise UnsupportedSyntaxError("lambdas are not supported",
                                             ir.Loc(self.src.filename, self.src.start, 0, self.src.lines[0]),
                                             "define the function with `def` at module level") from None
            raise
        fdefs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if not fdefs:
            node = next((n for n in ast.walk(tree) if isinstance(n, ast.Lambda)), tree.body[0])
            if isinstance(node, ast.Lambda) or fn.__name__ == "<lambda>":
                raise UnsupportedSyntaxError("lambdas are not supported", self.src.loc(node),
                                             "define the function with `def` at module level")
            raise UnsupportedSyntaxError(f"could not find the definition of {fn.__qualname__}",
                                         self.src.loc(node), "define the function with `def`")
        self.fdef = fdefs[0]
        if isinstance(self.fdef, ast.AsyncFunctionDef):
            raise UnsupportedSyntaxError("async functions are not supported", self.src.loc(self.fdef),
                                         "use a plain `def` function")
        self.names = set()
        for node in ast.walk(self.fdef):
            if isinstance(node, ast.Name):
                self.names.add(node.id)
            elif isinstance(node, ast.arg):
                self.names.add(node.arg)
        self.counter = 0
        self.temps, self.made = set(), set()  # the names fresh() makes (see ir.Function)
        self.globals = {}  # name in generated code -> object
        self.locals = set()
        self.stmt_loc = None
        # pure subexpressions already computed in the current statement (x[i] read twice)
        self.cse = {}

    # ---------------------------------------------------------------- helpers

    def error(self, node, msg, hint=None, cls=UnsupportedSyntaxError):
        raise cls(msg, self.src.loc(node), hint)

    def fresh(self, base="_t"):
        """A new name: ``_t<n>`` a temporary (``fn.temps``), ``_i<n>`` a loop index the lowering
        adds, ``_g_<name><n>`` a module-level object's second name."""
        while True:
            self.counter += 1
            name = f"{base}{self.counter}"
            if name not in self.names:
                self.names.add(name)
                if base == "_t":
                    self.temps.add(name)
                if not base.startswith("_g_"):
                    self.made.add(name)
                return name

    def emit(self, out, stmt):
        stmt.loc = self.stmt_loc
        out.append(stmt)
        return stmt

    def separate_tests(self, stmts):
        """The branch an If took is replayed backwards from its test, so the test must not be
        a variable the branch itself reassigns (as `a and b` lowers to): copy it aside."""
        k = 0
        while k < len(stmts):
            st = stmts[k]
            for blk in ((st.body, st.orelse) if isinstance(st, ir.If) else
                        (st.body,) if isinstance(st, ir.For) else
                        (st.cond, st.body) if isinstance(st, ir.While) else ()):
                self.separate_tests(blk)
            if isinstance(st, ir.If) and isinstance(st.test, ir.Var) \
                    and st.test.name in ir.assigned_names(st.body + st.orelse):
                tmp = ir.Var(self.fresh())
                stmts.insert(k, ir.Assign(tmp, st.test, loc=st.loc))
                st.test = tmp
                k += 1
            k += 1

    # ---------------------------------------------------------------- function

    def lower(self):
        f = self.fdef
        a = f.args
        if a.vararg or a.kwarg:
            self.error(a.vararg or a.kwarg, "`*args` and `**kwargs` are not supported",
                       "list the parameters one by one")
        if a.kwonlyargs:
            self.error(a.kwonlyargs[0], "keyword-only parameters are not supported",
                       "make them ordinary parameters")
        if getattr(a, "posonlyargs", None):
            pass
        params = [p.arg for p in list(getattr(a, "posonlyargs", [])) + list(a.args)]
        self.locals = set(params)
        for node in ast.walk(f):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.locals.add(node.id)
        body = f.body
        doc = ast.get_docstring(f)
        if doc is not None:
            body = body[1:]
        out = self.block(body)
        self.separate_tests(out)
        fn = ir.Function(name=f.name, params=params, body=out, loc=self.src.loc(f),
                         temps=self.temps, made=self.made)
        fn.globals = self.globals
        fn.source_info = self.src
        fn.pyfunc = self.fn
        return fn

    def block(self, stmts):
        out = []
        for s in stmts:
            self.stmt(s, out)
        return out

    # ---------------------------------------------------------------- statements

    def stmt(self, s, out):
        self.stmt_loc = self.src.loc(s)
        self.cse = {}
        t = type(s)
        if t in REFUSED:
            msg, hint = REFUSED[t]
            self.error(s, msg, hint)
        if isinstance(s, ast.Assign):
            if len(s.targets) != 1:
                # a = b = expr
                val = self.operand(s.value, out)
                for tgt in s.targets:
                    self.assign_to(tgt, val, out, s)
                return
            self.assign(s.targets[0], s.value, out)
        elif isinstance(s, ast.AnnAssign):
            if s.value is None:
                return
            self.assign(s.target, s.value, out)
        elif isinstance(s, ast.AugAssign):
            self.augassign(s, out)
        elif isinstance(s, ast.If):
            test = self.operand(s.test, out)
            self.stmt_loc = self.src.loc(s)
            body = self.block(s.body)
            orelse = self.block(s.orelse)
            self.stmt_loc = self.src.loc(s)
            self.emit(out, ir.If(test, body, orelse))
        elif isinstance(s, ast.For):
            self.for_(s, out)
        elif isinstance(s, ast.While):
            if s.orelse:
                self.error(s, "`while ... else` is not supported", "use a flag variable")
            cond = []
            test = self.operand(s.test, cond)
            self.stmt_loc = self.src.loc(s)
            body = self.block(s.body)
            self.stmt_loc = self.src.loc(s)
            self.emit(out, ir.While(cond, test, body))
        elif isinstance(s, ast.Break):
            self.emit(out, ir.Break())
        elif isinstance(s, ast.Continue):
            self.emit(out, ir.Continue())
        elif isinstance(s, ast.Pass):
            self.emit(out, ir.Pass())
        elif isinstance(s, ast.Return):
            val = None if s.value is None else self.operand(s.value, out)
            self.stmt_loc = self.src.loc(s)
            self.emit(out, ir.Return(val))
        elif isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                return  # a stray string: a comment
            if isinstance(s.value, ast.Call):
                val = self.expr(s.value, out)
                if isinstance(val, (ir.CallUser, ir.Call, ir.Method)):
                    self.emit(out, ir.ExprStmt(val))
                return
            self.expr(s.value, out)  # evaluated for its errors only
        else:
            self.error(s, f"`{type(s).__name__}` statements are not supported")

    def for_(self, s, out):
        if s.orelse:
            self.error(s, "`for ... else` is not supported", "use a flag variable")
        if not isinstance(s.target, ast.Name):
            self.error(s.target, "only a plain name can be a loop variable",
                       "write `for i in range(...)` and unpack inside the loop")
        it = s.iter
        target = s.target.id
        snapshots = None
        if isinstance(it, ast.Call) and getattr(self.resolve_callee(it.func), "__s2sad_primitive__",
                                                None) == "checkpointed":
            kws = {k.arg: k.value for k in it.keywords}
            if len(it.args) != 1 or set(kws) - {"snapshots"} or "snapshots" not in kws:
                self.error(it, "write `s2sad.checkpointed(range(...), snapshots=k)`",
                           "give the loop's range and the number of snapshots")
            snapshots = self.operand(kws["snapshots"], out)
            it = it.args[0]
            if not (isinstance(it, ast.Call) and self.resolve_callee(it.func) == "range"):
                self.error(it, "only a range() loop can be checkpointed",
                           "write `for t in s2sad.checkpointed(range(n), snapshots=k)`")
        if isinstance(it, ast.Call) and self.resolve_callee(it.func) == "range":
            if it.keywords or not 1 <= len(it.args) <= 3:
                self.error(it, "range() takes 1 to 3 positional arguments")
            args = [self.operand(a, out) for a in it.args]
            if len(args) == 1:
                start, stop, step = ir.Const(0), args[0], ir.Const(1)
            elif len(args) == 2:
                (start, stop), step = args, ir.Const(1)
            else:
                start, stop, step = args
            # the loop's range is evaluated once: keep a bound the body reassigns in a temp
            assigned = {n.id for n in ast.walk(s) if isinstance(n, ast.Name)
                        and isinstance(n.ctx, ast.Store)}
            fixed = []
            for b in (start, stop, step):
                if isinstance(b, ir.Var) and b.name in assigned:
                    tmp = ir.Var(self.fresh())
                    self.stmt_loc = self.src.loc(s)
                    self.emit(out, ir.Assign(tmp, b))
                    b = tmp
                fixed.append(b)
            start, stop, step = fixed
            self.stmt_loc = self.src.loc(s)
            body = self.block(s.body)
            self.stmt_loc = self.src.loc(s)
            if snapshots is not None and any(isinstance(x, (ir.Break, ir.Return)) for x in ir.walk_stmts(body)):
                self.error(s, "a checkpointed loop cannot `break` or `return`",
                           "checkpointing replays whole iterations: run it to its end")
            self.emit(out, ir.For(ir.Var(target), start, stop, step, body, checkpoint=snapshots))
            return
        if isinstance(it, ast.Call):
            callee = self.resolve_callee(it.func)
            if callee in (enumerate, zip, reversed, sorted, map, filter, iter):
                self.error(it, f"`for ... in {callee.__name__}(...)` is not supported",
                           "loop over `range(len(x))` and index the arrays")
        # for row in array
        arr = self.operand(it, out)
        self.stmt_loc = self.src.loc(s)
        idx = ir.Var(self.fresh("_i"))
        n = ir.Var(self.fresh())
        self.emit(out, ir.Assign(n, ir.Call("len", (arr,))))
        body = []
        self.stmt_loc = self.src.loc(s)
        self.emit(body, ir.Assign(ir.Var(target), ir.Load(arr, (idx,))))
        body += self.block(s.body)
        self.stmt_loc = self.src.loc(s)
        self.emit(out, ir.For(idx, ir.Const(0), n, ir.Const(1), body))

    def assign(self, target, value, out):
        if isinstance(target, ast.Name):
            self.check_target_name(target)
            self.expr_into(value, target.id, out)
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                # a, b = b, a : evaluate every item before assigning any
                vals = []
                for v in value.elts:
                    op = self.operand(v, out)
                    if isinstance(op, ir.Var):
                        tmp = ir.Var(self.fresh())
                        self.emit(out, ir.Assign(tmp, op))
                        op = tmp
                    vals.append(op)
                for t, v in zip(target.elts, vals):
                    self.assign_to(t, v, out, t)
                return
            val = self.operand(value, out)
            self.assign_to(target, val, out, target)
            return
        val = self.operand(value, out)
        self.assign_to(target, val, out, target)

    def check_target_name(self, node):
        if node.id.startswith("_t") and node.id[2:].isdigit():
            pass

    def assign_to(self, target, val, out, node):
        """Assign the already-lowered operand ``val`` to an assignment target."""
        if isinstance(target, ast.Name):
            self.emit(out, ir.Assign(ir.Var(target.id), val))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for k, t in enumerate(target.elts):
                if isinstance(t, ast.Starred):
                    self.error(t, "starred assignment targets are not supported",
                               "unpack the items one by one")
                if isinstance(t, ast.Name):
                    self.emit(out, ir.Assign(ir.Var(t.id), ir.TupleGet(val, k)))
                else:
                    tmp = ir.Var(self.fresh())
                    self.emit(out, ir.Assign(tmp, ir.TupleGet(val, k)))
                    self.assign_to(t, tmp, out, t)
        elif isinstance(target, ast.Subscript):
            arr, index = self.subscript_target(target, out)
            self.emit(out, ir.Store(arr, index, val))
        elif isinstance(target, ast.Attribute):
            self.error(target, "assigning to an attribute is not supported",
                       "use a local variable or an array element")
        else:
            self.error(target, "this kind of assignment target is not supported")

    def subscript_target(self, target, out):
        if not isinstance(target.value, ast.Name):
            self.error(target, "only `name[index] = value` can write into an array",
                       "write `m[i, j] = v` rather than `m[i][j] = v`")
        name = target.value.id
        if name not in self.locals:
            self.error(target, f"cannot write into `{name}`, which is not a local variable or "
                       "parameter", "copy it into a local array first")
        return ir.Var(name), self.index(target.slice, out)

    def augassign(self, s, out):
        op = BINOPS.get(type(s.op))
        if op is None:
            self.error(s, f"augmented assignment `{type(s.op).__name__}=` is not supported",
                       "bitwise operators have no derivative; use logical and/or for conditions")
        t = s.target
        if isinstance(t, ast.Name):
            rhs = self.operand(s.value, out)
            self.stmt_loc = self.src.loc(s)
            self.emit(out, ir.Assign(ir.Var(t.id), ir.BinOp(op, ir.Var(t.id), rhs), inplace=True))
        elif isinstance(t, ast.Subscript):
            arr, index = self.subscript_target(t, out)
            rhs_code = []
            rhs = self.operand(s.value, rhs_code)
            self.stmt_loc = self.src.loc(s)
            if any(_calls_code(x) for x in ir.walk_stmts(rhs_code)):
                # Python reads a[i] before it evaluates the right-hand side, which may write a
                old, new = ir.Var(self.fresh()), ir.Var(self.fresh())
                self.emit(out, ir.Assign(old, ir.Load(arr, index)))
                out.extend(rhs_code)
                self.stmt_loc = self.src.loc(s)
                self.emit(out, ir.Assign(new, ir.BinOp(op, old, rhs)))
                self.emit(out, ir.Store(arr, index, new))
                return
            out.extend(rhs_code)
            if op in ("+", "-"):
                self.emit(out, ir.AugStore(arr, index, op, rhs))
            else:
                old = ir.Var(self.fresh())
                new = ir.Var(self.fresh())
                self.emit(out, ir.Assign(old, ir.Load(arr, index)))
                self.emit(out, ir.Assign(new, ir.BinOp(op, old, rhs)))
                self.emit(out, ir.Store(arr, index, new))
        else:
            self.error(t, "this kind of augmented assignment target is not supported")

    # ---------------------------------------------------------------- expressions

    def operand(self, node, out):
        """Lower ``node`` to a Var or Const, emitting what it needs into ``out``."""
        e = self.expr(node, out)
        if isinstance(e, (ir.Var, ir.Const, ir.Global)):
            return e
        if isinstance(e, (ir.CallUser, ir.Method)) or (isinstance(e, ir.Call) and ":" in e.func):
            self.cse = {}  # a call may write into arrays: forget what was read
        elif _cse_ok(e) and _cse_key(e) in self.cse:
            return self.cse[_cse_key(e)]
        tmp = ir.Var(self.fresh())
        self.emit(out, ir.Assign(tmp, e))
        if _cse_ok(e):
            self.cse[_cse_key(e)] = tmp
        return tmp

    def expr_into(self, node, target, out):
        e = self.expr(node, out, target=target)
        if e is None:
            return  # already assigned (conditional expressions, and/or)
        self.emit(out, ir.Assign(ir.Var(target), e))

    def expr(self, node, out, target=None):
        """Lower ``node`` to one IR expression whose operands are Var/Const (three-address)."""
        t = type(node)
        if t in REFUSED_EXPR:
            msg, hint = REFUSED_EXPR[t]
            self.error(node, msg, hint)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, (bool, int, float)) or v is None:
                return ir.Const(v)
            if isinstance(v, str):
                self.error(node, "strings are not supported in a differentiated function",
                           "keep string work outside the function you differentiate")
            if isinstance(v, complex):
                self.error(node, "complex numbers are not supported",
                           "split the value into real and imaginary float parts")
            self.error(node, f"constants of type {type(v).__name__} are not supported",
                       "keep such values outside the function you differentiate")
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            op = BINOPS.get(type(node.op))
            if op is None:
                self.error(node, f"operator {type(node.op).__name__} is not supported",
                           "bitwise operators have no derivative; use logical and/or for conditions")
            left = self.operand(node.left, out)
            right = self.operand(node.right, out)
            return ir.BinOp(op, left, right)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Invert):
                self.error(node, "the `~` operator is not supported", "use `not`")
            opnd = self.operand(node.operand, out)
            op = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not"}[type(node.op)]
            if op == "+":
                return opnd
            if op == "-" and isinstance(opnd, ir.Const) and isinstance(opnd.value, (int, float)):
                return ir.Const(-opnd.value)
            return ir.UnaryOp(op, opnd)
        if isinstance(node, ast.Compare):
            return self.compare(node, out, target)
        if isinstance(node, ast.BoolOp):
            return self.boolop(node, out, target)
        if isinstance(node, ast.IfExp):
            res = target or self.fresh()
            test = self.operand(node.test, out)
            body, orelse = [], []
            saved = dict(self.cse)
            self.expr_into(node.body, res, body)
            self.cse = dict(saved)
            self.expr_into(node.orelse, res, orelse)
            self.cse = saved
            self.emit(out, ir.If(test, body, orelse))
            return None if target else ir.Var(res)
        if isinstance(node, ast.Call):
            return self.call(node, out)
        if isinstance(node, ast.Attribute):
            return self.attribute(node, out)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, out)
        if isinstance(node, ast.Tuple):
            return ir.TupleMake(tuple(self.operand(e, out) for e in node.elts))
        if isinstance(node, ast.List):
            self.error(node, "lists are not supported", "use a tuple, or np.array([...]) for an array")
        self.error(node, f"`{type(node).__name__}` expressions are not supported")

    def compare(self, node, out, target):
        ops = [CMPOPS.get(type(o)) for o in node.ops]
        for o, n in zip(ops, node.ops):
            if o is None:
                self.error(node, f"comparison `{type(n).__name__}` is not supported",
                           "compare values one by one: `x == a or x == b`")
        left = self.operand(node.left, out)
        if len(ops) == 1:
            return ir.Compare(ops[0], left, self.operand(node.comparators[0], out))
        # a < b < c  ->  short-circuit chain
        res = target or self.fresh()
        cur = out
        prev = left
        saved = dict(self.cse)
        for k, (op, comp) in enumerate(zip(ops, node.comparators)):
            right = self.operand(comp, cur)
            self.emit(cur, ir.Assign(ir.Var(res), ir.Compare(op, prev, right)))
            if k < len(ops) - 1:
                nxt = []
                self.emit(cur, ir.If(ir.Var(res), nxt, []))
                cur = nxt
            prev = right
        self.cse = saved
        return None if target else ir.Var(res)

    def boolop(self, node, out, target):
        is_and = isinstance(node.op, ast.And)
        # both sides simple: a plain `a and b` reads best and has no evaluation order to keep
        simple = []
        before = dict(self.cse)
        for v in node.values:
            tmp = []
            op = self.operand(v, tmp)
            if tmp:
                simple = None
                self.cse = before  # that trial lowering is discarded, and what it cached with it
                break
            simple.append(op)
        if simple is not None:
            return ir.BoolOp("and" if is_and else "or", tuple(simple))
        res = target or self.fresh()
        cur = out
        saved = dict(self.cse)  # what a short-circuited branch computes is not known after it
        for k, v in enumerate(node.values):
            self.expr_into(v, res, cur)
            if k < len(node.values) - 1:
                nxt = []
                test = ir.Var(res) if is_and else ir.UnaryOp("not", ir.Var(res))
                if not is_and:
                    tv = ir.Var(self.fresh())
                    self.emit(cur, ir.Assign(tv, test))
                    test = tv
                self.emit(cur, ir.If(test, nxt, []))
                cur = nxt
        self.cse = saved
        return None if target else ir.Var(res)

    def name(self, node):
        n = node.id
        if n in self.locals:
            return ir.Var(n)
        obj = self.scope.lookup(n)
        if obj is Scope.MISSING:
            self.error(node, f"name `{n}` is not defined", cls=NonDifferentiableError,
                       hint="define it at module level, or pass it as an argument")
        return self.global_value(node, n, obj)

    def global_value(self, node, name, obj):
        if isinstance(obj, (bool, int, float, np.number, np.bool_, tuple, np.ndarray)):
            # built in as a constant or a module global: a later change means a rebuild
            self.program.value_reads.append(ValueRead(self.scope, name, obj))
        if isinstance(obj, (bool, int, float)) and not isinstance(obj, np.ndarray):
            return ir.Const(obj)
        if isinstance(obj, (np.floating, np.integer, np.bool_)):
            return ir.Const(obj.item())
        if obj is None:
            return ir.Const(None)
        if isinstance(obj, tuple) and all(isinstance(x, (bool, int, float)) for x in obj):
            return ir.Const(obj)
        if isinstance(obj, np.ndarray):
            gname = self.global_name(name, obj)
            return ir.Global(gname)
        if isinstance(obj, type) and obj in (float, int, bool):
            return ir.Const(DType({float: "float64", int: "int64", bool: "bool"}[obj]))
        self.error(node, f"`{name}` ({type(obj).__name__}) cannot be used as a value here",
                   "s2sad reads numbers, tuples of numbers and numpy arrays from module level",
                   cls=NonDifferentiableError)

    def global_name(self, name, obj):
        cur = self.globals.get(name)
        if cur is not None and cur is not obj:
            name = self.fresh("_g_" + name)
        self.globals[name] = obj
        return name

    def attribute(self, node, out):
        # module constants: math.pi, np.float32, ...
        mod = self.module_of(node.value)
        if mod is not None:
            if mod is math and node.attr in MATH_CONSTS:
                return ir.Const(MATH_CONSTS[node.attr])
            if mod is np and node.attr in NP_CONSTS:
                v = NP_CONSTS[node.attr]
                return ir.NewAxis() if v is None else ir.Const(v)
            if mod is np and node.attr in NP_DTYPES:
                return ir.Const(DType(NP_DTYPES[node.attr]))
            obj = getattr(mod, node.attr, None)
            if isinstance(obj, (int, float)):
                return ir.Const(obj)
            if obj is None:
                self.error(node, f"module `{mod.__name__}` has no attribute `{node.attr}`",
                           "check the spelling")
            self.error(node, f"`{self.dotted(node)}` cannot be used as a value",
                       f"call it directly, e.g. `{self.dotted(node)}(x)`")
        val = self.operand(node.value, out)
        if node.attr in ("shape", "T", "size", "ndim", "dtype", "real"):
            return ir.Attr(val, node.attr)
        self.error(node, f"attribute `.{node.attr}` is not supported",
                   "supported array attributes: .shape .T .size .ndim .dtype")

    def dotted(self, node):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
        return ".".join(reversed(parts))

    def module_of(self, node):
        """The module a Name/Attribute node denotes (math, numpy), if any."""
        if isinstance(node, ast.Name) and node.id not in self.locals:
            obj = self.scope.lookup(node.id)
            if isinstance(obj, types.ModuleType):
                return obj
        if isinstance(node, ast.Attribute):
            base = self.module_of(node.value)
            if base is not None:
                obj = getattr(base, node.attr, None)
                if isinstance(obj, types.ModuleType):
                    return obj
        return None

    def subscript(self, node, out):
        base = node.value
        # x.shape[0] -> TupleGet
        idx_node = node.slice
        val = self.operand(base, out) if not (isinstance(base, ast.Attribute) and base.attr == "shape") \
            else None
        if val is None:
            arr = self.operand(base.value, out)
            shp = ir.Var(self.fresh())
            self.emit(out, ir.Assign(shp, ir.Attr(arr, "shape")))
            val = shp
        index = self.index(idx_node, out)
        return ir.Load(val, index)

    def index(self, node, out):
        elts = node.elts if isinstance(node, ast.Tuple) else [node]
        out_idx = []
        for e in elts:
            if isinstance(e, ast.Slice):
                lo = None if e.lower is None else self.operand(e.lower, out)
                hi = None if e.upper is None else self.operand(e.upper, out)
                st = None if e.step is None else self.operand(e.step, out)
                out_idx.append(ir.Slice(lo, hi, st))
            elif isinstance(e, ast.Constant) and e.value is None:
                out_idx.append(ir.NewAxis())
            elif isinstance(e, ast.Constant) and e.value is Ellipsis:
                self.error(e, "`...` in an index is not supported", "write the slices out: a[:, i]")
            else:
                op = self.operand(e, out)
                out_idx.append(op)
        return tuple(out_idx)

    # ---------------------------------------------------------------- calls

    def resolve_callee(self, func):
        """What a call's function expression denotes: a canonical primitive name, a Python
        function object (user code), or another object (foreign)."""
        if isinstance(func, ast.Name):
            if func.id in self.locals:
                return None
            obj = self.scope.lookup(func.id)
            if obj is Scope.MISSING:
                return None
        elif isinstance(func, ast.Attribute):
            mod = self.module_of(func.value)
            if mod is None:
                return None
            obj = getattr(mod, func.attr, Scope.MISSING)
            if obj is Scope.MISSING:
                return None
        else:
            return None
        name = known_name(obj)
        if name is not None:
            return name
        return obj

    def call(self, node, out):
        func = node.func
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.error(a, "starred arguments (`*args`) are not supported", "pass the items one by one")
        for k in node.keywords:
            if k.arg is None:
                self.error(k.value, "`**kwargs` arguments are not supported", "pass keywords one by one")
        # methods on arrays: x.reshape(...), x.copy(), x.sum()
        if isinstance(func, ast.Attribute) and self.module_of(func.value) is None:
            callee = None
            base_is_local = not (isinstance(func.value, ast.Name) and func.value.id not in self.locals
                                 and not isinstance(self.scope.lookup(func.value.id), np.ndarray))
            if base_is_local or True:
                obj = self.operand(func.value, out)
                args = tuple(self.call_arg(a, out) for a in node.args)
                kwargs = tuple((k.arg, self.call_arg(k.value, out)) for k in node.keywords)
                return ir.Method(obj, func.attr, args, kwargs)
        callee = self.resolve_callee(func)
        if callee is None:
            name = ast.unparse(func)
            if isinstance(func, ast.Name) and func.id in self.locals:
                self.error(func, f"cannot call `{name}`: it is a local variable",
                           "call module-level functions, math or numpy directly",
                           cls=NonDifferentiableError)
            self.error(func, f"cannot call `{name}`: it is not a function s2sad can see",
                       "call module-level functions, math or numpy by name", cls=NonDifferentiableError)
        if callee in REFUSED_BUILTINS:
            for a in node.args:  # a refused argument (a comprehension) is the first thing to say
                self.call_arg(a, [])
            what, hint = REFUSED_BUILTINS[callee]
            cls = NonDifferentiableError if callee is sum else UnsupportedSyntaxError
            self.error(node, f"`{callee.__name__}(...)` {what}", hint, cls=cls)
        if _is_numpy_or_math(callee) and not hasattr(callee, "__s2sad_rule__"):
            self.error(node, f"`{ast.unparse(func)}` is not supported by s2sad yet (it has no "
                       "derivative rule)", "see the README for the supported math and numpy "
                       "functions, or give it a rule with s2sad.custom_vjp",
                       cls=NonDifferentiableError)
        if callee == "s2sad.stop_gradient":
            pass
        args = tuple(self.call_arg(a, out) for a in node.args)
        kwargs = tuple((k.arg, self.call_arg(k.value, out)) for k in node.keywords)
        if isinstance(callee, str):
            return ir.Call(callee, args, kwargs)
        # s2sad's own markers and rules objects
        marker = getattr(callee, "__s2sad_primitive__", None)
        if marker is not None:
            return ir.Call(marker, args, kwargs)
        rule_obj = getattr(callee, "__s2sad_rule__", None)
        if rule_obj is not None:
            if kwargs:
                self.error(node, "keyword arguments to a function with a custom rule are not "
                           "supported", "pass the arguments by position")
            key = self.program.add_custom(
                rule_obj, lambda obj: self.global_name(getattr(obj, "__name__", "primal"), obj))
            return ir.Call("custom:" + key, args)
        ufn = user_function_of(callee)
        if ufn is not None:
            if kwargs:
                self.error(node, "keyword arguments to user functions are not supported",
                           "pass the arguments by position")
            key = self.program.add(ufn)
            return ir.CallUser(key, args)
        # some other callable: evaluated as is, on values that carry no derivative
        name = getattr(callee, "__name__", "foreign")
        gname = self.global_name(name if name.isidentifier() else "foreign", callee)
        return ir.Call("foreign:" + gname, args, kwargs)

    def call_arg(self, node, out):
        if isinstance(node, ast.List):
            # np.array([a, b, c]) and friends: a list literal becomes a tuple
            return ir.TupleMake(tuple(self.call_arg(e, out) for e in node.elts))
        if isinstance(node, ast.Tuple):
            return ir.TupleMake(tuple(self.call_arg(e, out) for e in node.elts))
        return self.operand(node, out)


REFUSED_BUILTINS = {
    isinstance: ("is not supported: types are fixed when the derivative is built",
                 "branch on values, not on types"),
    issubclass: ("is not supported", "branch on values, not on types"),
    type: ("is not supported: types are fixed when the derivative is built",
           "branch on values, not on types"),
    str: ("is not supported: strings are not supported in a differentiated function",
          "keep string work outside the function you differentiate"),
    repr: ("is not supported: strings are not supported", "keep string work outside"),
    format: ("is not supported: strings are not supported", "keep string work outside"),
    sum: ("is not supported", "use np.sum(a), or a loop"),
    list: ("is not supported: lists are not supported", "use a numpy array"),
    dict: ("is not supported: dicts are not supported", "use separate variables"),
    set: ("is not supported: sets are not supported", "use a numpy array"),
    sorted: ("is not supported", "sort outside the function you differentiate"),
    map: ("is not supported", "write a for loop"),
    filter: ("is not supported", "write a for loop"),
    getattr: ("is not supported", "call the function by name, e.g. math.sin(x)"),
    setattr: ("is not supported", "use local variables"),
    hasattr: ("is not supported", "branch on values"),
    eval: ("is not supported", "write the code out"),
    exec: ("is not supported", "write the code out"),
    open: ("is not supported", "read files outside the function you differentiate"),
    input: ("is not supported", "read input outside the function you differentiate"),
    iter: ("is not supported", "loop with range()"),
    next: ("is not supported", "loop with range()"),
    enumerate: ("is not supported", "loop over range(len(x)) and index the arrays"),
    zip: ("is not supported", "loop over range(len(x)) and index the arrays"),
}


def _is_numpy_or_math(obj):
    mod = getattr(obj, "__module__", None) or ""
    if isinstance(obj, np.ufunc):
        return True
    return mod == "math" or mod == "numpy" or mod.startswith("numpy.")


def _calls_code(s):
    """Whether a statement calls a user or foreign function (which may write into arrays)."""
    if not isinstance(s, (ir.Assign, ir.ExprStmt)):
        return False
    stack = [s.value]
    while stack:
        e = stack.pop()
        if isinstance(e, ir.CallUser) or (isinstance(e, ir.Call) and ":" in e.func):
            return True
        if e is not None:
            stack.extend(ir.sub_exprs(e))
    return False


def _cse_key(e):
    """A key telling expressions apart that == does not: -0.0 from 0.0, 1 from 1.0 and True."""
    consts = tuple((type(x.value).__name__, repr(x.value)) for x in ir.sub_exprs(e) if isinstance(x, ir.Const))
    return (e, consts)


def _cse_ok(e):
    if isinstance(e, (ir.Load, ir.BinOp, ir.UnaryOp, ir.Compare, ir.Attr)):
        return all(isinstance(x, (ir.Var, ir.Const, ir.Global, ir.Slice, ir.NewAxis))
                   for x in ir.sub_exprs(e))
    return isinstance(e, ir.Call) and e.func.startswith("math.")


def lower_function(fn, program):
    return Lowering(fn, program).lower()
