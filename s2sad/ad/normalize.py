"""Jump removal for reverse mode: ``break``, ``continue`` and early ``return`` become flags.

Reverse mode replays control flow backwards from recorded branch outcomes and trip counts; it
needs loops whose iterations run their bodies to the end and a single return at the end of the
function. So:

* ``return v`` becomes ``_ret = v; _returned = True``, and every loop around it is left;
* ``break`` sets the loop's ``_brk`` and ``_skip`` flags, ``continue`` sets ``_skip``;
* statements after one that may jump run under ``if not <flag>:``;
* a loop with a ``break`` ends its iteration with ``if _brk: break`` (``exit_flag``), so the
  only way out of a loop is at the end of a whole iteration.

Forward mode does not need this and keeps the user's jumps as written.
"""

from __future__ import annotations

from .. import ir


def has_jumps(fn):
    body = fn.body
    for s in ir.walk_stmts(body):
        if isinstance(s, (ir.Break, ir.Continue)):
            return True
        if isinstance(s, ir.Return) and s is not body[-1]:
            return True
    return False


class _Loop:
    def __init__(self, skip, brk):
        self.skip = skip  # leave this iteration
        self.brk = brk  # leave the loop


class RemoveJumps:
    def __init__(self, fn, fresh, temp=None):
        self.fn = fn
        self.fresh = fresh
        self.temp = temp or fresh  # for the `_live` guards, read once: temporaries
        self.ret_var = None
        self.ret_flag = None

    def run(self):
        fn = self.fn
        if not has_jumps(fn):
            return fn.body
        self.ret_var = self.fresh("_ret")
        self.ret_flag = self.fresh("_returned")
        loc = fn.body[0].loc if fn.body else fn.loc
        body = [ir.Assign(ir.Var(self.ret_flag), ir.Const(False), loc=loc)]
        body += self.block(fn.body, loops=[])
        body.append(ir.Return(ir.Var(self.ret_var), loc=fn.body[-1].loc if fn.body else loc))
        return body

    def guard_flag(self, loops):
        return loops[-1].skip if loops else self.ret_flag

    def block(self, stmts, loops):
        out = []
        for k, s in enumerate(stmts):
            new, may_jump = self.stmt(s, loops)
            out.extend(new)
            rest = stmts[k + 1:]
            if may_jump and rest:
                flag = self.guard_flag(loops)
                live = ir.Var(self.temp("_live"))
                out.append(ir.Assign(live, ir.UnaryOp("not", ir.Var(flag)), loc=s.loc))
                out.append(ir.If(live, self.block(rest, loops), [], loc=rest[0].loc))
                return out
        return out

    def stmt(self, s, loops):
        """Returns (statements, whether they may jump out of the enclosing block)."""
        if isinstance(s, ir.Return):
            out = []
            if s.value is not None:
                out.append(ir.Assign(ir.Var(self.ret_var), s.value, loc=s.loc))
            out.append(ir.Assign(ir.Var(self.ret_flag), ir.Const(True), loc=s.loc))
            for lp in loops:
                out.append(ir.Assign(ir.Var(lp.brk), ir.Const(True), loc=s.loc))
                out.append(ir.Assign(ir.Var(lp.skip), ir.Const(True), loc=s.loc))
            return out, True
        if isinstance(s, ir.Break):
            lp = loops[-1]
            return [ir.Assign(ir.Var(lp.brk), ir.Const(True), loc=s.loc),
                    ir.Assign(ir.Var(lp.skip), ir.Const(True), loc=s.loc)], True
        if isinstance(s, ir.Continue):
            return [ir.Assign(ir.Var(loops[-1].skip), ir.Const(True), loc=s.loc)], True
        if isinstance(s, ir.If):
            body = self.block(s.body, loops)
            orelse = self.block(s.orelse, loops)
            jumps = _may_jump(s.body) or _may_jump(s.orelse)
            return [ir.If(s.test, body, orelse, loc=s.loc, comment=s.comment)], jumps
        if isinstance(s, (ir.For, ir.While)):
            if not _contains_jump(s.body):
                return [s], False
            lp = _Loop(self.fresh("_skip"), self.fresh("_brk"))
            inner = loops + [lp]
            body = [ir.Assign(ir.Var(lp.skip), ir.Const(False), loc=s.loc)]
            body += self.block(s.body, inner)
            pre = [ir.Assign(ir.Var(lp.brk), ir.Const(False), loc=s.loc)]
            if isinstance(s, ir.For):
                new = ir.For(s.var, s.start, s.stop, s.step, body, exit_flag=lp.brk, loc=s.loc)
            else:
                new = ir.While(s.cond, s.test, body, exit_flag=lp.brk, loc=s.loc)
            has_return = any(isinstance(x, ir.Return) for x in ir.walk_stmts(s.body))
            return pre + [new], has_return
        return [s], False


def _may_jump(stmts):
    """Whether running ``stmts`` may leave the enclosing block early: a jump not captured by a
    loop inside ``stmts`` (returns always escape)."""
    for s in stmts:
        if isinstance(s, (ir.Break, ir.Continue, ir.Return)):
            return True
        if isinstance(s, ir.If) and (_may_jump(s.body) or _may_jump(s.orelse)):
            return True
        if isinstance(s, (ir.For, ir.While)) and any(isinstance(x, ir.Return)
                                                      for x in ir.walk_stmts(s.body)):
            return True
    return False


def _contains_jump(stmts):
    return any(isinstance(x, (ir.Break, ir.Continue, ir.Return)) for x in ir.walk_stmts(stmts))


def remove_jumps(fn, fresh, temp=None):
    """The body of ``fn`` without jumps; new names come from ``fresh`` (``temp`` for the
    temporaries among them)."""
    return RemoveJumps(fn, fresh, temp).run()
