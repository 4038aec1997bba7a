"""The IR verifier: structural invariants every pass relies on."""

from __future__ import annotations

from . import nodes as ir


class IRError(AssertionError):
    pass


_OPERANDS = (ir.Var, ir.Const, ir.Global)


def _operand_ok(e):
    if isinstance(e, _OPERANDS) or isinstance(e, ir.NewAxis):
        return True
    if isinstance(e, ir.Slice):
        return all(p is None or isinstance(p, _OPERANDS) for p in (e.lower, e.upper, e.step))
    if isinstance(e, ir.TupleMake):  # tuple literals of operands (shapes, np.array items)
        return all(_operand_ok(x) for x in e.items)
    return False


def verify(fn, three_address=True):
    """Check ``fn``: every statement has a known type and a location, operands of primal
    statements are variables or constants, loops and branches hold lists of statements,
    ``break``/``continue`` sit inside loops; the record of names and regions holds (a
    temporary is a name the compiler made, not a parameter; a region opens at a top-level
    statement, tapes before the forward sweep before the reverse sweep). Raises IRError."""
    _block(fn.body, fn, loop_depth=0, three_address=three_address)
    _names(fn)
    _regions(fn)
    return True


def _names(fn):
    if not fn.temps <= fn.made:
        raise IRError(f"temporaries not recorded as made by the compiler: {sorted(fn.temps - fn.made)}")
    if fn.temps & set(fn.params):
        raise IRError(f"parameters marked as temporaries: {sorted(fn.temps & set(fn.params))}")


_REGION_ORDER = ("tapes", "forward", "reverse")


def _regions(fn):
    starts = []
    for name in fn.regions:
        if name not in _REGION_ORDER:
            raise IRError(f"unknown region {name!r}")
        k = fn.region_start(name)
        if k is None:
            raise IRError(f"the statement opening the {name} region is not in the function's body")
        starts.append((_REGION_ORDER.index(name), k, name))
    for (_, a, first), (_, b, second) in zip(sorted(starts), sorted(starts)[1:]):
        if a >= b:
            raise IRError(f"the {second} region does not start after the {first} region")


def _check_expr(e, s, three_address):
    if not isinstance(e, ir.Expr):
        raise IRError(f"{s!r}: {e!r} is not an IR expression")
    if three_address and not isinstance(e, _OPERANDS + (ir.NewAxis, ir.Slice)):
        for sub in ir.sub_exprs(e):
            if not _operand_ok(sub):
                raise IRError(f"not three-address form: {e!r} in {s!r}")


def _check_test(e, s, three_address):
    """A branch or loop test is an expression, an operand in three-address form."""
    if not isinstance(e, ir.Expr):
        raise IRError(f"{s!r}: its test {e!r} is not an IR expression")
    if three_address and not _operand_ok(e) and not isinstance(e, (ir.Compare, ir.BoolOp, ir.UnaryOp)):
        raise IRError(f"not three-address form: the test {e!r} of {type(s).__name__}")
    if three_address and not _operand_ok(e):
        for sub in ir.sub_exprs(e):
            if not _operand_ok(sub):
                raise IRError(f"not three-address form: the test {e!r} of {type(s).__name__}")


def _block(stmts, fn, loop_depth, three_address):
    if not isinstance(stmts, list):
        raise IRError(f"a block must be a list, got {type(stmts).__name__}")
    for s in stmts:
        if not isinstance(s, ir.Stmt):
            raise IRError(f"{s!r} is not a statement")
        if s.loc is None and not isinstance(s, ir.Comment):
            raise IRError(f"{s!r} has no source location")
        if isinstance(s, ir.Assign):
            if not isinstance(s.target, ir.Var):
                raise IRError(f"assignment target must be a Var: {s!r}")
            _check_expr(s.value, s, three_address)
        elif isinstance(s, ir.TupleAssign):
            if not (isinstance(s.targets, tuple) and len(s.targets) > 1
                    and all(isinstance(t, ir.Var) for t in s.targets)):
                raise IRError(f"tuple assignment targets must be a tuple of Vars: {s!r}")
            if len({t.name for t in s.targets}) != len(s.targets):
                raise IRError(f"a name assigned twice by one tuple assignment: {s!r}")
            _check_expr(s.value, s, three_address)
        elif isinstance(s, (ir.Store, ir.AugStore)):
            if not isinstance(s.array, ir.Var):
                raise IRError(f"store into a non-variable: {s!r}")
            if three_address and not _operand_ok(s.value):
                raise IRError(f"stored value must be an operand: {s!r}")
            for i in s.index:
                if three_address and not _operand_ok(i):
                    raise IRError(f"index must be an operand: {s!r}")
        elif isinstance(s, ir.If):
            _check_test(s.test, s, three_address)
            _block(s.body, fn, loop_depth, three_address)
            _block(s.orelse, fn, loop_depth, three_address)
        elif isinstance(s, ir.ExprStmt):
            _check_expr(s.value, s, three_address)
        elif isinstance(s, ir.For):
            if not isinstance(s.var, ir.Var):
                raise IRError(f"loop variable must be a Var: {s!r}")
            for b in (s.start, s.stop, s.step):
                if not isinstance(b, _OPERANDS if three_address else ir.Expr):
                    raise IRError(f"range bounds must be operands: {s!r}")
            _block(s.body, fn, loop_depth + 1, three_address)
        elif isinstance(s, ir.While):
            _check_test(s.test, s, three_address)
            _block(s.cond, fn, loop_depth, three_address)
            _block(s.body, fn, loop_depth + 1, three_address)
        elif isinstance(s, (ir.Break, ir.Continue)):
            if loop_depth == 0:
                raise IRError(f"{type(s).__name__} outside a loop")
        elif isinstance(s, ir.Return):
            if s.value is not None:
                _check_expr(s.value, s, three_address)
