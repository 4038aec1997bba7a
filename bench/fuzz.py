"""Random-program differential testing, the long run.

Runs N generated programs (``tests/progen.py``; program k is ``progen.from_seed(start + k)``,
checked at the point ``program.args(seed)``) through :func:`progen.check_program`: s2sad's
forward and reverse gradients against each other, SymPy and finite differences. Prints the
counts of passes, failures and skips (and the reasons), and writes every failing program's
source, with what disagreed, to the output directory; ``--minimize`` also shrinks each failing
program (deleting statements, unwrapping branches, shortening loops, simplifying expressions
while the same kind of failure remains) and writes the result next to it.

    python bench/fuzz.py --n 10000 --out fuzz_failures
    python bench/fuzz.py --n 2000 --jit --out fuzz_jit
    python bench/fuzz.py --n 2000 --data --out fuzz_data   # matrices of hundreds of rows
    python bench/fuzz.py --n 2000 --slices --out fuzz_sl   # slices read, stored, updated
    python bench/fuzz.py --n 2000 --transforms --out fuzz_tr   # Hessians, jacfwd/jacrev(grad)
    python bench/fuzz.py --n 300 --minimize --out fuzz_min
    python bench/fuzz.py --seed 1234 --minimize        # one program
    python bench/fuzz.py --file prog.py --minimize     # a program from a file (`# seed N` line)
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import progen


def run_one(seed, jit=False, avoid=(), data=False, sympy_seconds=None, transforms=None, slices=False):
    program = progen.from_seed(seed, avoid=avoid, data=data, slices=slices)
    try:
        if transforms:
            outcome = progen.check_transforms(program, seed=seed, transforms=transforms)
        else:
            outcome = progen.check_program(program, seed=seed, jit=jit, sympy_seconds=sympy_seconds)
    except Exception as e:  # noqa: BLE001 - a crash of the harness itself is reported
        outcome = progen.Outcome("fail", f"harness crashed: {type(e).__name__}",
                                 traceback.format_exc())
    return program, outcome


def failure_kind(outcome):
    """The class of a failure kept while minimizing: its reason, first line of the error."""
    return outcome.reason


# ======================================================================= minimizing


class _Edits(ast.NodeTransformer):
    """Enumerates single simplifications of a module; ``apply(tree, k)`` makes the k-th."""

    def __init__(self, target):
        self.target = target
        self.count = 0
        self.done = False

    def _hit(self):
        hit = self.count == self.target
        self.count += 1
        if hit:
            self.done = True
        return hit

    def _block(self, stmts):
        out = []
        for s in stmts:
            if self.done:
                out.append(s)
                continue
            # 1. delete the statement
            if not isinstance(s, (ast.Return, ast.Import, ast.ImportFrom)) and self._hit():
                continue
            # 2. an if by its body or by its else branch
            if isinstance(s, ast.If):
                if self._hit():
                    out.extend(s.body)
                    continue
                if s.orelse and self._hit():
                    out.extend(s.orelse)
                    continue
                if s.orelse and self._hit():
                    s.orelse = []
                    out.append(s)
                    continue
            # 3. a for loop with a shorter range
            if isinstance(s, ast.For) and isinstance(s.iter, ast.Call) and self._hit():
                s.iter = ast.Call(ast.Name("range", ast.Load()), [ast.Constant(1)], [])
                out.append(s)
                continue
            if isinstance(s, ast.FunctionDef):
                s.body = self._block(s.body) or [ast.Pass()]
            elif isinstance(s, (ast.If, ast.For, ast.While)):
                s.body = self._block(s.body) or [ast.Pass()]
                if s.orelse:
                    s.orelse = self._block(s.orelse) or [ast.Pass()]
                if not self.done:
                    self._exprs(s)
            else:
                self._exprs(s)
            out.append(s)
        return out

    def _exprs(self, s):
        """4. an expression by one of its operands, or by a constant."""
        for field, value in ast.iter_fields(s):
            if field in ("body", "orelse", "target", "targets"):
                continue
            if isinstance(value, ast.expr):
                setattr(s, field, self._expr(value))
            if self.done:
                return

    def _expr(self, e):
        if self.done:
            return e
        if _is_anchor_term(e):
            e.left = self._expr(e.left)
            return e
        if isinstance(e, (ast.BinOp, ast.Call, ast.UnaryOp, ast.BoolOp, ast.Compare)):
            kids = []
            if isinstance(e, ast.BinOp):
                kids = [e.left, e.right]
            elif isinstance(e, ast.Call):
                kids = list(e.args)
            elif isinstance(e, ast.UnaryOp):
                kids = [e.operand]
            elif isinstance(e, ast.BoolOp):
                kids = list(e.values)
            for kid in kids:
                if isinstance(e, ast.Call) and isinstance(kid, ast.Name) and kid.id in ("a", "v", "w"):
                    continue  # an array where a float is expected
                if isinstance(e, ast.Call) and not isinstance(e.func, ast.Attribute) and False:
                    continue
                if self._hit():
                    return kid
            if not isinstance(e, (ast.BoolOp, ast.Compare)) and self._hit():
                return ast.Constant(0.5)
            for k, kid in enumerate(kids):
                new = self._expr(kid)
                if new is not kid:
                    if isinstance(e, ast.BinOp):
                        if k == 0:
                            e.left = new
                        else:
                            e.right = new
                    elif isinstance(e, ast.Call):
                        e.args[k] = new
                    elif isinstance(e, ast.UnaryOp):
                        e.operand = new
                    elif isinstance(e, ast.BoolOp):
                        e.values[k] = new
                    return e
        return e

    def apply(self, tree):
        tree.body = self._block(tree.body)
        return tree


def _is_anchor_term(e):
    """``X + 0.001 * name``: the generator's anchor (``--avoid inactive_overwrite``); removing it
    would let the minimizer slide into that bug class."""
    if not (isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add)):
        return False
    r = e.right
    while isinstance(r, ast.BinOp) and isinstance(r.op, ast.Mult):
        r = r.left
    return isinstance(r, ast.Constant) and r.value == 0.001


def _edit(source, k):
    tree = ast.parse(source)
    ed = _Edits(k)
    tree = ed.apply(tree)
    if not ed.done:
        return None
    try:
        return ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    except Exception:  # noqa: BLE001 - an edit that does not unparse is simply not taken
        return ""


def _unused_helpers(source):
    """Remove helper functions the rest of the module does not call."""
    tree = ast.parse(source)
    changed = True
    while changed:
        changed = False
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        keep = []
        for s in tree.body:
            if isinstance(s, ast.FunctionDef) and s.name != "f" and s.name not in names:
                changed = True
                continue
            keep.append(s)
        tree.body = keep
    return ast.unparse(tree) + "\n"


class _Timeout(Exception):
    pass


class _time_limit:
    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        import signal

        def handler(signum, frame):
            raise _Timeout()

        self.old = signal.signal(signal.SIGALRM, handler)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        import signal

        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)
        return False


def minimize(source, seed, kind, jit=False, budget=2000):
    """The smallest program found from ``source`` that still fails with the same ``kind``."""

    def fails(src):
        try:
            compile(src, "<min>", "exec")
        except SyntaxError:
            return False
        try:
            with _time_limit(10):  # a deleted counter increment makes a loop endless
                o = progen.check_program(progen.GenProgram(src), seed=seed, jit=jit)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            return False
        return o.status == "fail" and failure_kind(o) == kind

    best = source
    cand = _unused_helpers(best)
    if cand != best and fails(cand):
        best = cand
    tries = 0
    progress = True
    while progress and tries < budget:
        progress = False
        k = 0
        while tries < budget:
            cand = _edit(best, k)
            if cand is None:
                break
            tries += 1
            if cand and cand != best and fails(cand):
                best = cand
                c2 = _unused_helpers(best)
                if c2 != best and fails(c2):
                    best = c2
                progress = True
                continue  # the same edit index now names the next candidate
            k += 1
    return best


# ======================================================================= the run


def _one_file(a):
    import re

    with open(a.file) as fh:
        text = fh.read()
    m = re.search(r"^# seed (\d+)", text, re.MULTILINE)
    seed = int(m.group(1)) if m else 0
    src = "\n".join(ln for ln in text.splitlines() if not ln.startswith("# ")) + "\n"
    program = progen.GenProgram(src)
    o = progen.check_program(program, seed=seed, jit=a.jit)
    print(f"{o.status}: {o.reason}\n{o.details}")
    if o.status == "fail" and a.minimize:
        small = minimize(src, seed, failure_kind(o), a.jit)
        o2 = progen.check_program(progen.GenProgram(small), seed=seed, jit=a.jit)
        print(f"minimized (point {progen._fmt(program.args(seed))}):\n{small}\n{o2.reason}\n"
              f"{o2.details}")
    return 1 if o.status == "fail" else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="number of programs (default 10000)")
    ap.add_argument("--start", type=int, default=0, help="first program seed")
    ap.add_argument("--seed", type=int, default=None, help="run only this program seed")
    ap.add_argument("--file", default=None,
                    help="check (and with --minimize shrink) the program in this file instead; "
                         "a line `# seed N` in it gives the point (default 0)")
    ap.add_argument("--out", default="fuzz_failures", help="directory for failing programs")
    ap.add_argument("--jit", action="store_true", help="check the Numba-compiled derivatives")
    ap.add_argument("--minimize", action="store_true", help="shrink each failing program")
    ap.add_argument("--avoid", default="",
                    help="comma-separated generator features to leave out, so that a known bug "
                         "does not mask the others: " + ", ".join(sorted(progen.FEATURES)))
    ap.add_argument("--data", action="store_true",
                    help="data-sized programs: loops over the rows of a matrix of hundreds of "
                         "rows, row copies, .shape in loops, triangular nests, array swaps")
    ap.add_argument("--slices", action="store_true",
                    help="programs that also read, store into and update slices of arrays "
                         "(a[1:3] *= x, a[0:2] += a[1:3] * y, np.dot(a[:2], v[1:])): another "
                         "program for each seed")
    ap.add_argument("--sympy-seconds", type=float, default=20.0,
                    help="time limit of a program's SymPy reference (then finite differences "
                         "are the reference); 0 for none")
    ap.add_argument("--transforms", nargs="?", const=",".join(progen.TRANSFORMS), default=None,
                    help="check second derivatives instead: hessian, jacfwd(grad), jacrev(grad), "
                         "jvp(grad) against finite differences of the gradient and each other "
                         "(a comma-separated subset may follow)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)

    avoid = tuple(x for x in a.avoid.split(",") if x)
    if a.file:
        return _one_file(a)
    seeds = [a.seed] if a.seed is not None else range(a.start, a.start + a.n)
    os.makedirs(a.out, exist_ok=True)
    counts = collections.Counter()
    reasons = collections.Counter()
    extra = collections.Counter()
    t0 = time.time()
    failures = []
    for k, seed in enumerate(seeds):
        transforms = tuple(a.transforms.split(",")) if a.transforms else None
        program, o = run_one(seed, a.jit, avoid, a.data, a.sympy_seconds, transforms, a.slices)
        counts[o.status] += 1
        reasons[(o.status, o.reason)] += 1
        if o.status == "pass":
            extra["sympy reference"] += o.sympy_used
            extra["fd checked"] += o.fd_used
            extra["sympy reference timed out (fd reference)"] += o.sympy_timed_out
        if o.status == "fail":
            base = os.path.join(a.out, f"prog_{seed}")
            with open(base + ".py", "w") as fh:
                fh.write(f"# seed {seed}; point {progen._fmt(program.args(seed))}\n"
                         f"# {o.reason}\n" + "".join(f"# {ln}\n" for ln in o.details.splitlines())
                         + program.source)
            rec = {"seed": seed, "reason": o.reason, "details": o.details}
            if a.minimize:
                small = minimize(program.source, seed, failure_kind(o), a.jit)
                o2 = progen.check_program(progen.GenProgram(small), seed=seed, jit=a.jit)
                with open(base + "_min.py", "w") as fh:
                    fh.write(f"# seed {seed}; point {progen._fmt(program.args(seed))}\n"
                             f"# {o2.reason}\n" + "".join(f"# {ln}\n" for ln in o2.details.splitlines())
                             + small)
                rec["minimized"] = small
            failures.append(rec)
            if not a.quiet:
                print(f"FAIL seed {seed}: {o.reason}", flush=True)
        if not a.quiet and (k + 1) % 500 == 0:
            print(f"... {k + 1} programs, {dict(counts)}, {time.time() - t0:.0f} s", flush=True)
    dt = time.time() - t0
    with open(os.path.join(a.out, "summary.json"), "w") as fh:
        json.dump({"counts": dict(counts), "reasons": {f"{s}: {r}": n for (s, r), n in reasons.items()},
                   "passes_with": dict(extra), "seconds": dt, "jit": a.jit,
                   "failures": failures}, fh, indent=1)
    print(f"\n{sum(counts.values())} programs in {dt:.0f} s: {counts['pass']} passed, "
          f"{counts['fail']} failed, {counts['skip']} skipped")
    print(f"passes checked against sympy: {extra['sympy reference']}, against finite differences: "
          f"{extra['fd checked']} (of which the SymPy reference timed out: "
          f"{extra['sympy reference timed out (fd reference)']})")
    for (status, reason), n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        if status != "pass" or reason:
            print(f"  {n:6d}  {status}: {reason}")
    if failures:
        print(f"failing programs written to {os.path.abspath(a.out)}")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
