"""Where a jitted gradient's time goes, statement by statement.

Numba-compiled code cannot be sampled by a Python profiler (py-spy sees one native frame), so
the generated module is compiled again with a clock read before every top-level statement of
the derivative (``with numba.objmode(): _tick(k)``, one round trip into Python each) and run a
few times: each statement's time is the difference of two reads, less the cost of a read with
nothing between (measured the same way). Statements are grouped by the user's source line the
generated code names in its comments, and by sweep (forward: the primal recomputed and
recorded; reverse: the adjoints).

    profile(s2sad.grad(f, wrt, jit=True), args) -> {"lines": [...], "total_s": ..., ...}
"""

from __future__ import annotations

import ast
import re
import time

import numpy as np

_USER_LINE = re.compile(r"^\s*#\s*(\S+\.py:\d+: .*)$")


def _labels(source, fn):
    """For each top-level statement of ``fn``, (user line it comes from, sweep)."""
    lines = source.split("\n")
    out = []
    for stmt in fn.body:
        user, sweep = "(set-up)", "forward"
        for ln in lines[fn.lineno:stmt.lineno - 1]:
            m = _USER_LINE.match(ln)
            if m:
                user = m.group(1)
            if "-- reverse sweep --" in ln:
                sweep = "reverse"
        out.append((user, sweep))
    return out


def _instrumented(source, name):
    """The module with a clock read before each top-level statement of function ``name``, and
    the statements' labels."""
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant) else fn.body
    fn.body = body
    # a clock read where the user line or the sweep changes (each objmode block costs Numba a
    # compilation of its own), before the return, and twice in a row to time a read alone
    labels, new = [], []
    for stmt, label in zip(body, _labels(source, fn)):
        if not labels or label != labels[-1]:
            new += ast.parse(f"with numba.objmode():\n    _tick({len(labels)})\n").body
            labels.append(label)
        new.append(stmt)
    n = len(labels)
    new[-1:-1] = ast.parse(f"with numba.objmode():\n    _tick({n})\n"
                           f"with numba.objmode():\n    _tick({n + 1})\n").body
    fn.body = new
    text = ast.unparse(tree).replace("cache=True", "cache=False")
    return text, labels


def profile(g, args, repeats=30):
    """Per user line and sweep, the median time the jitted derivative ``g`` (already called
    once with ``args``) spends there, and its share."""
    c = g._last
    disp = getattr(c.func, "dispatcher", c.func)
    name = disp.py_func.__name__
    text, labels = _instrumented(c.source, name)
    n = len(labels)
    stamps = np.zeros(n + 2)

    def tick(k):
        stamps[k] = time.perf_counter()

    glob = {"_tick": tick, **c.build.module_globals()}
    exec(compile(text, f"<instrumented {name}>", "exec"), glob)  # noqa: S102 - s2sad's own output
    timed = glob[name]
    call_args = list(args) + [np.float64(1.0)] + [np.zeros_like(args[k]) for k in c.inout]
    timed(*[np.float64(a) if type(a) is float else a for a in call_args])  # compile
    raw, reads = [], []
    for _ in range(repeats):
        zeros = [np.zeros_like(args[k]) for k in c.inout]
        timed(*[np.float64(a) if type(a) is float else a for a in list(args) + [np.float64(1.0)]], *zeros)
        reads.append(stamps[n + 1] - stamps[n])
        raw.append(np.diff(stamps[:n + 1]))
    raw = np.median(np.array(raw), axis=0)
    # Each interval holds one clock read; take the median read off.  Where every statement is
    # shorter than a read (tiny inputs), that leaves nothing, and the raw intervals are reported.
    per = np.maximum(raw - float(np.median(reads)), 0.0)
    below = not per.sum()
    if below:
        per = raw
    total = float(per.sum())
    groups = {}
    for (user, sweep), t in zip(labels, per):
        groups[(user, sweep)] = groups.get((user, sweep), 0.0) + float(t)
    rows = sorted(({"line": u, "sweep": s, "median_s": t, "share": t / total if total else 0.0}
                   for (u, s), t in groups.items()), key=lambda r: -r["median_s"])
    sweeps = {s: sum(r["median_s"] for r in rows if r["sweep"] == s) for s in ("forward", "reverse")}
    return {"total_s": total, "sweeps": sweeps, "lines": rows, "repeats": repeats,
            "below_clock_resolution": below}


def print_profile(rec, top=8):
    if "error" in rec:
        print(f"where the time goes: ERROR {rec['error']}")
        return
    tot = rec["total_s"]
    sw = rec["sweeps"]
    print(f"where the time goes (clock reads around each statement of the jitted derivative, "
          f"median of {rec['repeats']}): {tot * 1e3:.3f} ms in all, forward sweep "
          f"{sw['forward'] / tot:.0%}, reverse sweep {sw['reverse'] / tot:.0%}"
          + (" (each statement shorter than a clock read: raw intervals)"
             if rec.get("below_clock_resolution") else "") if tot else
          "where the time goes: nothing measured")
    for r in rec["lines"][:top]:
        print(f"  {r['share']:>5.0%} {r['median_s'] * 1e3:8.3f} ms  {r['sweep']:<8} {r['line'][:90]}")
