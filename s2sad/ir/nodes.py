"""IR node definitions."""

from __future__ import annotations

import copy

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class Loc:
    """A position in the user's source."""

    filename: str
    lineno: int
    col: int
    source_line: str = ""

    def text(self):
        return self.source_line.strip()

    def provenance(self):
        """``model.py:12: s += x[i]``: where a derivative statement comes from."""
        import os
        return f"{os.path.basename(self.filename)}:{self.lineno}: {self.text()}"


# ---------------------------------------------------------------- expressions


class Expr:
    __slots__ = ()


@dataclass(frozen=True)
class Var(Expr):
    name: str


@dataclass(frozen=True)
class Const(Expr):
    value: Any


@dataclass(frozen=True)
class Global(Expr):
    """A module-level object referenced by name in generated code (a user array, a foreign
    function, a module)."""

    name: str


@dataclass(frozen=True)
class BinOp(Expr):
    op: str  # + - * / // % ** @
    left: Expr
    right: Expr


@dataclass(frozen=True)
class UnaryOp(Expr):
    op: str  # - + not
    operand: Expr


@dataclass(frozen=True)
class Compare(Expr):
    op: str  # < <= > >= == != is
    left: Expr
    right: Expr


@dataclass(frozen=True)
class BoolOp(Expr):
    op: str  # and or  (both operands are already evaluated, no side effects)
    values: tuple


@dataclass(frozen=True)
class IfExp(Expr):
    """Only in derivative code; the frontend lowers conditional expressions to If."""

    test: Expr
    body: Expr
    orelse: Expr


@dataclass(frozen=True)
class Call(Expr):
    """A call of a primitive known to the rules table (``math.sin``, ``np.sum``, ``abs``, ...)
    or of a global foreign function evaluated as is (``func`` then names a Global)."""

    func: str
    args: tuple
    kwargs: tuple = ()  # tuple of (name, Expr)

    def kw(self, name, default=None):
        for k, v in self.kwargs:
            if k == name:
                return v
        return default


@dataclass(frozen=True)
class Method(Expr):
    """A method call on an array: ``x.reshape(...)``, ``x.copy()``, ``x.sum()``."""

    obj: Expr
    name: str
    args: tuple
    kwargs: tuple = ()

    def kw(self, name, default=None):
        for k, v in self.kwargs:
            if k == name:
                return v
        return default


@dataclass(frozen=True)
class CallUser(Expr):
    """A call of another user function, which is differentiated in turn."""

    func: str  # key of the callee in the Program
    args: tuple


@dataclass(frozen=True)
class Slice(Expr):
    lower: Optional[Expr]
    upper: Optional[Expr]
    step: Optional[Expr]


@dataclass(frozen=True)
class NewAxis(Expr):
    pass


@dataclass(frozen=True)
class Load(Expr):
    """``array[index...]``; index entries are operands, Slice or NewAxis."""

    array: Expr
    index: tuple


@dataclass(frozen=True)
class Attr(Expr):
    value: Expr
    name: str  # shape, T, size, ndim, dtype


@dataclass(frozen=True)
class TupleMake(Expr):
    items: tuple


@dataclass(frozen=True)
class TupleGet(Expr):
    tuple: Expr
    index: int


# ---------------------------------------------------------------- statements


@dataclass(eq=False)
class Stmt:
    loc: Optional[Loc] = field(default=None, kw_only=True)
    comment: Optional[str] = field(default=None, kw_only=True)


@dataclass(eq=False)
class Assign(Stmt):
    target: Var
    value: Expr
    # from `x op= e` (value ``x op e``): in place when x is an array, as in Python; the compiler
    # turns it into a whole-array store once types are known (compiler.Build.spec)
    inplace: bool = field(default=False, kw_only=True)


@dataclass(eq=False)
class TupleAssign(Stmt):
    """``a, b = value``: a tuple unpacked into variables. Only in derivative code (a callee's
    JVP returns the value and its tangent, a tape push returns the tape and its top); the
    frontend lowers the user's tuple assignments to ``TupleGet`` reads."""

    targets: tuple  # of Var
    value: Expr


@dataclass(eq=False)
class AugAssign(Stmt):
    """``target op= value``; in derivative code only (adjoint accumulation). ``exact``: the
    value has the target's own shape (no broadcasting), as the reverse sweep knows from the rule
    that made it; a jitted module may then assign the first accumulation into zeros."""

    target: Expr  # Var or Load
    op: str
    value: Expr
    exact: bool = field(default=False, kw_only=True)


@dataclass(eq=False)
class Store(Stmt):
    """``array[index] = value``."""

    array: Var
    index: tuple
    value: Expr


@dataclass(eq=False)
class AugStore(Stmt):
    """``array[index] += value`` / ``-=``: kept whole because its adjoint needs no old value.
    ``atomic``: the user's ``cuda.atomic.add``/``.sub`` (a plain ``+=`` from several threads
    into one element is a race in the primal kernel; an atomic one is not).
    With ``at`` it is ``np.add.at(array, index, value)``: an index repeated in an index array
    adds each of its values (where ``+=`` keeps the last one, as NumPy does)."""

    array: Var
    index: tuple
    op: str
    value: Expr
    atomic: bool = field(default=False, kw_only=True)
    at: bool = field(default=False, kw_only=True)


@dataclass(eq=False)
class ExprStmt(Stmt):
    value: Expr


@dataclass(eq=False)
class If(Stmt):
    test: Expr
    body: list
    orelse: list


@dataclass(eq=False)
class For(Stmt):
    """``for var in range(start, stop, step)``."""

    var: Var
    start: Expr
    stop: Expr
    step: Expr
    body: list
    exit_flag: Optional[str] = None  # set by jump removal: leave the loop after an iteration
    checkpoint: Optional[Expr] = None  # snapshots for binomial checkpointing (reverse mode)
    # a loop of the reverse sweep, run backwards: run forward where its iterations commute
    # (``analysis/commute.py``, done by ``backend/tidy.py`` once the code is tidy)
    reversal: bool = False


@dataclass(eq=False)
class While(Stmt):
    """``while True: <cond>; if not test: break; <body>`` with the condition computed by the
    statements of ``cond`` (which only assign fresh temporaries)."""

    cond: list
    test: Expr
    body: list
    exit_flag: Optional[str] = None


@dataclass(eq=False)
class Break(Stmt):
    pass


@dataclass(eq=False)
class Continue(Stmt):
    pass


@dataclass(eq=False)
class Return(Stmt):
    value: Optional[Expr]


@dataclass(eq=False)
class Pass(Stmt):
    pass


@dataclass(eq=False)
class Comment(Stmt):
    """A comment line in generated code (provenance of the derivative statements below)."""

    text: str = ""


@dataclass(eq=False)
class Function:
    """A function. What passes need to know about its names and its layout is said here, never
    left to be recovered from spellings or comments:

    - ``temps``: the compiler's temporaries (``_t3``, its adjoint ``_t3_bar``, a call's result
      ``_r``): names with no meaning to a reader, which folding substitutes into their one use;
    - ``made``: every name the compiler made (temporaries, adjoints, tangents, jump-removal
      flags, tape tops): a store to one of them that nothing reads is dropped, where the
      user's own variables are kept as written;
    - ``regions``: in a derivative, the top-level statements that open its regions (``tapes``,
      ``forward`` and ``reverse`` sweep), each the header comment printed for readers.
    """

    name: str
    params: list  # list[str]
    body: list
    loc: Optional[Loc] = None
    docstring: Optional[str] = None
    defaults: dict = field(default_factory=dict)  # param -> Expr (derivative signatures)
    types: dict = field(default_factory=dict)  # var name -> Type, where known
    temps: set = field(default_factory=set)
    made: set = field(default_factory=set)
    regions: dict = field(default_factory=dict)  # "forward"/"reverse"/"tapes" -> Stmt

    def region_start(self, name):
        """The index in ``body`` where region ``name`` starts, or None."""
        head = self.regions.get(name)
        return next((k for k, s in enumerate(self.body) if s is head), None) if head is not None else None


# ---------------------------------------------------------------- helpers


def walk_stmts(stmts):
    """Every statement, nested ones included, in program order."""
    for s in stmts:
        yield s
        if isinstance(s, If):
            yield from walk_stmts(s.body)
            yield from walk_stmts(s.orelse)
        elif isinstance(s, For):
            yield from walk_stmts(s.body)
        elif isinstance(s, While):
            yield from walk_stmts(s.cond)
            yield from walk_stmts(s.body)


def sub_exprs(e):
    """Direct children of an expression."""
    if isinstance(e, (BinOp, Compare)):
        return (e.left, e.right)
    if isinstance(e, UnaryOp):
        return (e.operand,)
    if isinstance(e, BoolOp):
        return e.values
    if isinstance(e, IfExp):
        return (e.test, e.body, e.orelse)
    if isinstance(e, Call):
        return tuple(e.args) + tuple(v for _, v in e.kwargs)
    if isinstance(e, Method):
        return (e.obj,) + tuple(e.args) + tuple(v for _, v in e.kwargs)
    if isinstance(e, CallUser):
        return tuple(e.args)
    if isinstance(e, Slice):
        return tuple(x for x in (e.lower, e.upper, e.step) if x is not None)
    if isinstance(e, Load):
        return (e.array,) + tuple(e.index)
    if isinstance(e, Attr):
        return (e.value,)
    if isinstance(e, TupleMake):
        return tuple(e.items)
    if isinstance(e, TupleGet):
        return (e.tuple,)
    return ()


def map_expr(e, f):
    """``e`` with each direct child expression ``c`` replaced by ``f(c)`` (a new node; leaves
    and None as they are)."""
    import dataclasses

    def conv(v):
        if isinstance(v, Expr):
            return f(v)
        if isinstance(v, tuple):
            return tuple(conv(x) for x in v)
        return v

    if not isinstance(e, Expr) or not dataclasses.is_dataclass(e):
        return e
    return dataclasses.replace(e, **{fl.name: conv(getattr(e, fl.name)) for fl in dataclasses.fields(e)})


def walk_expr(e):
    """``e`` and every expression inside it."""
    stack = [e]
    while stack:
        x = stack.pop()
        if x is not None:
            yield x
            stack.extend(sub_exprs(x))


def stmt_exprs(s):
    """Every expression a statement evaluates itself (not those of its nested blocks)."""
    value = getattr(s, "value", None)
    if isinstance(s, (Assign, TupleAssign, ExprStmt, Return)) and value is not None:
        yield from walk_expr(value)


def expr_vars(e):
    """Names of the variables an expression reads."""
    out = []
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, Var):
            out.append(x.name)
        elif x is not None:
            stack.extend(sub_exprs(x))
    return out


def child_blocks(s):
    """The blocks nested directly in a statement."""
    if isinstance(s, If):
        return (s.body, s.orelse)
    if isinstance(s, For):
        return (s.body,)
    if isinstance(s, While):
        return (s.cond, s.body)
    return ()


def stmt_roots(s):
    """The expressions a statement evaluates itself (not those of its nested blocks)."""
    if isinstance(s, (Assign, TupleAssign, ExprStmt, Return)):
        return [s.value] if s.value is not None else []
    if isinstance(s, AugAssign):
        return [s.value, s.target]
    if isinstance(s, (Store, AugStore)):
        return [s.value, *s.index]
    if isinstance(s, (If, While)):
        return [s.test]
    if isinstance(s, For):
        return [s.start, s.stop, s.step]
    return []


def stmt_reads(s):
    """Variables a statement reads (not those of nested blocks); a store reads its array."""
    r = [s.array.name] if isinstance(s, (Store, AugStore)) else []
    for e in stmt_roots(s):
        r += expr_vars(e)
    return r


def stmt_defs(s):
    """Names a statement itself assigns (not those of its nested blocks; a loop its variable)."""
    if isinstance(s, Assign):
        return [s.target.name]
    if isinstance(s, TupleAssign):
        return [t.name for t in s.targets]
    if isinstance(s, AugAssign) and isinstance(s.target, Var):
        return [s.target.name]
    if isinstance(s, For):
        return [s.var.name]
    return []


def assigned_names(stmts):
    """Names assigned anywhere in ``stmts`` (loop variables included); arrays written in place
    are not included (see ``stored_arrays``)."""
    out = set()
    for s in walk_stmts(stmts):
        out.update(stmt_defs(s))
    return out


def stored_arrays(stmts):
    """Arrays written in place anywhere in ``stmts`` by a store."""
    out = set()
    for s in walk_stmts(stmts):
        if isinstance(s, (Store, AugStore)):
            out.add(s.array.name)
        elif isinstance(s, AugAssign) and isinstance(s.target, Load):
            out.add(s.target.array.name)
    return out


def scatter_add(array, index, value):
    """``np.add.at(array, index, value)`` as compiled code writes it: a call of a runtime
    helper (a loop: Numba has no ufunc.at), ``_scatter_add`` on one index array, ``(idx,)``,
    ``_scatter_add_b`` on ``(:, idx)`` (a batched tangent, its directions first)."""
    if len(index) == 2 and isinstance(index[0], Slice) and index[0] == Slice(None, None, None):
        return Call("_scatter_add_b", (array, index[1], value))
    if len(index) != 1:
        raise ValueError(f"np.add.at on the index {index}")
    return Call("_scatter_add", (array, index[0], value))


def rename_vars(node, mapping):
    """``node`` with every variable named in ``mapping`` renamed: a new expression for an
    expression, statements (and lists of them) changed in place and returned."""
    import dataclasses

    def conv(v):
        if isinstance(v, Var):
            return Var(mapping.get(v.name, v.name))
        if isinstance(v, (Expr, Stmt)):
            return rename_vars(v, mapping)
        if isinstance(v, tuple):
            return tuple(conv(x) for x in v)
        if isinstance(v, list):
            v[:] = [conv(x) for x in v]
            return v
        return v

    if isinstance(node, list):
        return conv(node)
    if isinstance(node, Var):
        return conv(node)
    if isinstance(node, Expr):
        return dataclasses.replace(node, **{f.name: conv(getattr(node, f.name))
                                            for f in dataclasses.fields(node)})
    for f in dataclasses.fields(node):
        if f.name not in ("loc", "comment"):
            setattr(node, f.name, conv(getattr(node, f.name)))
    return node


def copy_with(fn, replace):
    """``fn``, or a copy of it where each statement ``s`` for which ``replace(s)`` gives a list
    stands replaced by that list (the blocks around it copied, the rest shared)."""
    changed = [False]

    def block(stmts):
        out = []
        for s in stmts:
            r = replace(s)
            if r is not None:
                changed[0] = True
                out.extend(r)
                continue
            if isinstance(s, (If, For, While)):
                s = copy.copy(s)
                if isinstance(s, If):
                    s.body, s.orelse = block(s.body), block(s.orelse)
                elif isinstance(s, For):
                    s.body = block(s.body)
                else:
                    s.cond, s.body = block(s.cond), block(s.body)
            out.append(s)
        return out

    body = block(fn.body)
    if not changed[0]:
        return fn
    new = copy.copy(fn)
    new.body = body
    return new
