"""Random programs in the subset s2sad differentiates, for differential testing.

:func:`programs` is a hypothesis strategy giving :class:`GenProgram` objects: the Python source
of a module with a few helper functions and a main function

    def f(x, y, v, n):      # x, y: floats, v: float array of 3 entries, n: int in 1..3
        ...
        return <float>

built from straight-line math (``+ - * /`` with safe denominators ``1.0 + e * e``, sin, cos,
tanh, atan, exp of bounded arguments, ``sqrt(1 + e*e)``, ``log(1 + e*e)``, powers), ``for``
loops that overwrite variables, ``while`` loops with a counter bound (``while k < K and
s < 3.0``), nested ``if``/``elif``/``else`` on float or int conditions, ``break``/
``continue``, early ``return``, arrays with in-place reads and writes (``a[i] = ...``,
``a[i] += ...``, ``a = np.zeros(3)``, writes into the argument ``v``), numpy reductions, and
calls of generated helpers (defined before, called by the main function or by later helpers;
some write into their array argument).

Values are kept bounded by construction (bounded functions, bounded multiplicative updates,
short loops); the test drops the few points where they still grow too large. Float conditions
compare with constants, so a point can land near a branch boundary: the SymPy translation
reports how far the point is from one (``margin``), and finite differences are only trusted
away from them.

s2sad reads source, so :func:`load` writes the module to a file (named by the hash of its
source) and imports it.

Choices are drawn as small integers, simplest first, so hypothesis shrinks a failing program
towards a short one with plain statements.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

ARGNUMS = (0, 1, 2)
ARRAY_LEN = 3

_CONSTS = ("0.5", "1.0", "2.0", "-0.5", "0.25", "1.5", "-1.0", "0.75")
_CMP_CONSTS = ("0.0", "0.5", "-0.5", "1.0", "0.25")


# Features the generator can leave out (``avoid``), so that a known bug does not hide others:
FEATURES = {
    "inactive_overwrite": "a variable that depends on the inputs overwritten by a value that does "
                          "not (every assignment gets a `+ 0.001 * x` term instead)",
    "and_or": "`and`/`or` in if and while conditions",
    "mutating_helpers": "helpers that write into their array argument",
    "write_args": "writes into the argument array v",
    "inactive_array_plus_scalar": "`np.zeros(3) + <float that depends on the inputs>` (in "
                                  "anchored assignments)",
    "array_times_one": "`a * 1.0` (a copy whose tangent may be an alias)",
    "computed_index_store": "writes `a[(i + 1) % 3] = ...` with an index computed from the loop "
                            "variable (constant indices only)",
}


@dataclass(frozen=True)
class GenProgram:
    source: str
    main: str = "f"
    rows: int = 0  # data-sized programs: f(x, y, v, n, X) with X of `rows` rows (not differentiated)

    def args(self, seed):
        """A point: (x, y, v, n), and X for a data-sized program, deterministic in ``seed``."""
        rng = np.random.default_rng(seed)
        x = float(rng.uniform(-1.5, 1.5))
        y = float(rng.uniform(-1.5, 1.5))
        v = rng.uniform(-1.5, 1.5, ARRAY_LEN)
        n = int(rng.integers(1, 4))
        if self.rows:
            return (x, y, v, n, rng.uniform(-1.0, 1.0, (self.rows, ARRAY_LEN)))
        return (x, y, v, n)

    def __str__(self):
        return self.source


# ======================================================================= the generator


class _Gen:
    """Writes one module. ``randint(lo, hi)`` makes every choice (an int in [lo, hi])."""

    def __init__(self, randint, max_stmts=5, avoid=(), data=False, slices=False):
        self.randint = randint
        self.data = data
        self.slices = slices  # slices of arrays: read, stored into, updated in place
        self.rows = 0
        self.avoid = frozenset(avoid)
        unknown = self.avoid - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {sorted(FEATURES)}")
        self.anchored = "inactive_overwrite" in self.avoid
        self.max_stmts = max_stmts
        self.helpers = []  # (name, kind): kind "scalar" (p, q) -> float, "array" (w, p) -> float
        self.counter = 0

    # ------------------------------------------------------------ choices

    def int(self, lo, hi):
        return self.randint(lo, hi)

    def pick(self, options):
        return options[self.int(0, len(options) - 1)]

    def coin(self, p_true_weight=1, total=4):
        """True with probability about p_true_weight/total (False shrinks first)."""
        return self.int(0, total - 1) >= total - p_true_weight

    def fresh(self, base):
        self.counter += 1
        return f"{base}{self.counter}"

    # ------------------------------------------------------------ expressions

    def leaf(self, sc):
        opts = ["var", "const"]
        if sc.arrays:
            opts.append("elem")
        if sc.ints:
            opts.append("int")
        if sc.rowexprs:
            opts += ["row", "row"]
        kind = self.pick(opts)
        if kind == "row":
            return self.pick(sc.rowexprs)
        if kind == "var":
            return self.pick(sc.floats)
        if kind == "const":
            return self.pick(_CONSTS)
        if kind == "elem":
            return f"{self.pick(sc.arrays)}[{self.index(sc)}]"
        i = self.pick(sc.ints)
        return self.pick((f"(0.5 * {i})", f"float({i})"))

    def index(self, sc, store=False):
        opts = ["const"]
        if sc.loop_ints and not (store and "computed_index_store" in self.avoid):
            opts.append("loop")
        if self.pick(opts) == "const":
            return str(self.pick((0, 1, 2, -1)))
        i = self.pick(sc.loop_ints)
        c = self.int(0, 2)
        return f"{i} % {ARRAY_LEN}" if c == 0 else f"({i} + {c}) % {ARRAY_LEN}"

    def fexpr(self, sc, depth=2):
        """A float expression."""
        if depth <= 0 or self.coin(1, 3):
            return self.leaf(sc)
        d = depth - 1
        ops = ["add", "sub", "mul", "div", "neg", "sin", "cos", "tanh", "exp", "sqrt", "log",
               "sq", "atan", "div2", "cube", "atan2"]
        if sc.arrays:
            ops += ["reduce", "reduce"]
        if sc.kinks:
            ops += ["abs", "max", "min"]
        if sc.helpers:
            ops += ["call", "call"]
        op = self.pick(ops)
        if op == "add":
            return f"({self.fexpr(sc, d)} + {self.fexpr(sc, d)})"
        if op == "sub":
            return f"({self.fexpr(sc, d)} - {self.fexpr(sc, d)})"
        if op == "mul":
            return f"({self.fexpr(sc, d)} * {self.fexpr(sc, d)})"
        if op == "div":
            b = self.fexpr(sc, d)
            return f"({self.fexpr(sc, d)} / (1.0 + {b} * {b}))"
        if op == "div2":
            return f"({self.fexpr(sc, d)} / (2.0 + math.cos({self.fexpr(sc, d)})))"
        if op == "neg":
            return f"(-{self.fexpr(sc, d)})"
        if op in ("sin", "cos", "tanh", "atan"):
            return f"math.{op}({self.fexpr(sc, d)})"
        if op == "exp":
            inner = self.pick(("math.sin", "math.cos", "math.tanh"))
            return f"math.exp({inner}({self.fexpr(sc, d)}))"
        if op == "sqrt":
            a = self.fexpr(sc, d)
            return f"math.sqrt(1.0 + {a} * {a})"
        if op == "log":
            a = self.fexpr(sc, d)
            return f"math.log(1.0 + {a} * {a})"
        if op == "sq":
            return f"({self.fexpr(sc, d)} ** 2)"
        if op == "cube":
            return f"(math.tanh({self.fexpr(sc, d)}) ** 3)"
        if op == "atan2":
            return f"math.atan2({self.fexpr(sc, d)}, 1.5 + math.cos({self.fexpr(sc, d)}))"
        if op == "abs":
            return f"abs({self.fexpr(sc, d)})"
        if op in ("max", "min"):
            return f"{op}({self.fexpr(sc, d)}, {self.fexpr(sc, d)})"
        if op == "reduce":
            return self.reduction(sc, d)
        name, kind = self.pick(sc.helpers)
        if kind == "scalar":
            return f"{name}({self.fexpr(sc, d)}, {self.fexpr(sc, d)})"
        return f"{name}({self.pick(sc.arrays)}, {self.fexpr(sc, d)})"

    def aexpr(self, sc, depth=1):
        """An array expression (a fresh array or an array variable)."""
        a = self.pick(sc.arrays)
        if depth <= 0:
            return a
        k = self.int(0, 5)
        if k == 0:
            return a
        if k == 1:
            if "array_times_one" in self.avoid:
                return f"({a} * {self.pick([c for c in _CONSTS if c != '1.0'])})"
            return f"({a} * {self.fexpr(sc, 0)})"
        if k == 2:
            return f"({a} + {self.pick(sc.arrays)})"
        if k == 3:
            return f"np.sin({a})"
        if k == 4:
            return f"np.tanh({a} * {self.pick(sc.arrays)})"
        return f"({a} / (1.0 + {a} * {a}))"

    def reduction(self, sc, depth):
        k = self.int(0, 6 if self.slices else 4)
        if k == 5:
            n = self.int(1, ARRAY_LEN)
            return f"np.sum({self.slice_expr(sc, n)})"
        if k == 6:
            n = self.int(1, ARRAY_LEN)
            return f"np.dot({self.slice_expr(sc, n)}, {self.pick(sc.arrays)}[{self.slice_of(n)}])"
        if k == 0:
            return f"np.sum({self.aexpr(sc)})"
        if k == 1:
            return f"np.dot({self.aexpr(sc)}, {self.pick(sc.arrays)})"
        if k == 2:
            return f"({self.aexpr(sc)} @ {self.pick(sc.arrays)})"
        if k == 3:
            return f"np.mean({self.aexpr(sc)})"
        if sc.kinks:
            return f"np.{self.pick(('max', 'min'))}({self.aexpr(sc)})"
        return f"np.sum({self.aexpr(sc)})"

    def slice_of(self, n):
        """The text of a slice of an array of ARRAY_LEN entries that has ``n`` of them."""
        opts = [f"{lo}:{lo + n}" for lo in range(ARRAY_LEN - n + 1)]
        if n < ARRAY_LEN:
            opts += [f":{n}", f"-{n}:", f":{n - ARRAY_LEN}", f"{ARRAY_LEN - n}:"]
        else:
            opts += [":", "::-1"]
        return self.pick(opts)

    def slice_expr(self, sc, n):
        """An array expression of ``n`` entries over slices of the arrays in scope."""
        a = f"{self.pick(sc.arrays)}[{self.slice_of(n)}]"
        k = self.int(0, 4)
        if k == 0:
            return a
        if k == 1:
            return f"({a} * {self.fexpr(sc, 0)})"
        if k == 2:
            return f"np.sin({a})"
        if k == 3:
            return f"({a} + {self.pick(sc.arrays)}[{self.slice_of(n)}])"
        return f"np.tanh({a} * {self.pick(sc.arrays)}[{self.slice_of(n)}])"

    def bounded(self, sc):
        """A bounded factor for multiplicative updates."""
        k = self.int(0, 3)
        if k == 0:
            return "0.5"
        if k == 1:
            return f"math.cos({self.fexpr(sc, 1)})"
        if k == 2:
            return f"math.tanh({self.fexpr(sc, 1)})"
        a = self.fexpr(sc, 1)
        return f"(1.0 / (1.0 + {a} * {a}))"

    def cond(self, sc):
        opts = ["float"]
        if sc.ints:
            opts.append("int")
        kind = self.pick(opts)
        if kind == "int":
            i = self.pick(sc.ints)
            return self.pick((f"{i} % 2 == 0", f"{i} > 0", f"{i} == 1", f"{i} < 2"))
        c = self.int(0, 2)
        if c == 0:
            return f"{self.fexpr(sc, 1)} {self.pick(('>', '<'))} {self.pick(_CMP_CONSTS)}"
        if c == 1 and len(sc.floats) > 1:
            a = self.pick(sc.floats)
            b = self.pick([f for f in sc.floats if f != a])
            return f"{a} {self.pick(('>', '<', '>=', '<='))} {b}"
        a = f"{self.pick(sc.floats)} > {self.pick(_CMP_CONSTS)}"
        if "and_or" in self.avoid:
            return a
        b = f"{self.pick(sc.floats)} < {self.pick(_CMP_CONSTS)}"
        return f"{a} {self.pick(('and', 'or'))} {b}"

    # ------------------------------------------------------------ statements

    def block(self, sc, out, indent, depth, n_max):
        n = self.int(1, n_max)
        for _ in range(n):
            self.stmt(sc, out, indent, depth)

    def anchor(self, sc, rhs):
        """In anchored mode every assigned value depends on an argument that is never
        reassigned, so no variable goes from depending on the inputs to not depending on them
        (a class of reverse-mode bugs that would otherwise mask all others)."""
        if not self.anchored or sc.anchor is None:
            return rhs
        if rhs.startswith("np.zeros(") and "inactive_array_plus_scalar" in self.avoid:
            return f"{rhs} + 0.001 * {sc.anchor} * np.ones({ARRAY_LEN})"
        return f"{rhs} + 0.001 * {sc.anchor}"

    def stmt(self, sc, out, indent, depth):
        pad = "    " * indent
        kinds = ["assign", "assign", "aug"]
        if sc.stores:
            kinds += ["store", "augstore"]
            if self.slices:
                kinds += ["slicestore", "sliceaug", "sliceaug"]
        if depth < 2:
            kinds += ["for", "if"]
            if sc.allow_while:
                kinds.append("while")
        if depth < 3:
            kinds.append("if")
        if sc.loop_depth > 0:
            kinds += ["jump"]
        if sc.allow_return and depth > 0:
            kinds.append("return")
        if sc.writable_arrays and sc.arrays:
            kinds += ["array_assign"]
        if sc.mutating_helpers and sc.stores:
            kinds.append("mutcall")
        if sc.matrix and depth == 0:
            kinds += ["rowloop", "rowloop", "rowwhile"]
        if sc.row and depth < 3:
            kinds.append("triangle")
        if len(sc.owned) == 2:
            kinds.append("swap")
        kind = self.pick(kinds)
        if sc.contract and kind in ("assign", "aug", "store", "augstore", "array_assign",
                                    "slicestore", "sliceaug"):
            self.contracting(kind, sc, out, pad)
        elif kind in ("rowloop", "rowwhile", "triangle", "swap"):
            self.data_stmt(kind, sc, out, indent, depth)
        elif kind == "assign":
            out.append(f"{pad}{self.pick(sc.assignable)} = {self.anchor(sc, self.fexpr(sc))}")
        elif kind == "aug":
            t = self.pick(sc.assignable)
            op = self.pick(("+=", "-=", "*="))
            rhs = self.bounded(sc) if op == "*=" else self.fexpr(sc)
            out.append(f"{pad}{t} {op} {rhs}")
        elif kind == "store":
            a = self.pick(sc.stores)
            out.append(f"{pad}{a}[{self.index(sc, True)}] = {self.anchor(sc, self.fexpr(sc))}")
        elif kind == "augstore":
            a = self.pick(sc.stores)
            op = self.pick(("+=", "-=", "*="))
            rhs = self.bounded(sc) if op == "*=" else self.fexpr(sc)
            out.append(f"{pad}{a}[{self.index(sc, True)}] {op} {rhs}")
        elif kind == "slicestore":
            n = self.int(1, ARRAY_LEN)
            out.append(f"{pad}{self.pick(sc.stores)}[{self.slice_of(n)}] = "
                       f"{self.anchor(sc, self.slice_expr(sc, n))}")
        elif kind == "sliceaug":
            n = self.int(1, ARRAY_LEN)
            op = self.pick(("+=", "-=", "*="))
            if op == "*=":
                rhs = self.bounded(sc) if self.coin(1, 2) else f"np.cos({self.slice_expr(sc, n)})"
            else:
                # no helper that writes into arrays on the right: the slice updated is a view,
                # open while it runs (refused, with a hint to compute the right side first)
                pure = copy.copy(sc)
                pure.helpers = [h for h in sc.helpers if h[0] not in sc.mutating_helpers]
                rhs = self.fexpr(pure, 1) if self.coin(1, 2) else self.slice_expr(pure, n)
            out.append(f"{pad}{self.pick(sc.stores)}[{self.slice_of(n)}] {op} {rhs}")
        elif kind == "array_assign":
            a = self.pick(sc.writable_arrays)
            k = self.int(0, 3)
            if k == 0:
                out.append(f"{pad}{a} = {self.anchor(sc, f'np.zeros({ARRAY_LEN})')}")
            elif k == 1:
                out.append(f"{pad}{a} = {self.aexpr(sc)} * 0.5")
            elif k == 2:
                out.append(f"{pad}{a} = np.sin({self.aexpr(sc)}) + {self.fexpr(sc, 1)}")
            else:
                out.append(f"{pad}{a} = np.tanh({self.pick(sc.arrays)})")
        elif kind == "mutcall":
            name = self.pick(sc.mutating_helpers)
            out.append(f"{pad}{name}({self.pick(sc.stores)}, {self.fexpr(sc, 1)})")
        elif kind == "for":
            var = "ij"[min(sc.loop_depth, 1)] if sc.loop_depth < 2 else self.fresh("i")
            bounds = ["2", "3", "4"] + (["n"] if "n" in sc.ints else []) + \
                [f"len({a})" for a in sc.arrays[:1]]
            bound = self.pick(bounds)
            if self.coin(1, 4):
                head = f"for {var} in range(1, {bound}):"
            else:
                head = f"for {var} in range({bound}):"
            out.append(pad + head)
            inner = sc.enter_loop(var)
            self.block(inner, out, indent + 1, depth + 1, 3)
        elif kind == "while":
            k = self.fresh("k")
            bound = self.pick(["2", "3", "4"] + (["n"] if "n" in sc.ints else []))
            cnd = ""
            if self.coin(2, 4):
                cnd = f"{self.pick(sc.floats)} < {self.pick(('3.0', '1.0', '0.5', '2.0'))}"
            out.append(f"{pad}{k} = 0")
            if cnd and "and_or" not in self.avoid:
                out.append(f"{pad}while {k} < {bound} and {cnd}:")
                out.append(f"{pad}    {k} += 1")
            else:
                out.append(f"{pad}while {k} < {bound}:")
                out.append(f"{pad}    {k} += 1")
                if cnd:
                    out.append(f"{pad}    if not {cnd}:")
                    out.append(f"{pad}        break")
            inner = sc.enter_loop(k)
            self.block(inner, out, indent + 1, depth + 1, 3)
        elif kind == "if":
            out.append(f"{pad}if {self.cond(sc)}:")
            self.block(sc, out, indent + 1, depth + 1, 2)
            k = self.int(0, 2)
            if k >= 1:
                if k == 2:
                    out.append(f"{pad}elif {self.cond(sc)}:")
                    self.block(sc, out, indent + 1, depth + 1, 2)
                out.append(f"{pad}else:")
                self.block(sc, out, indent + 1, depth + 1, 2)
        elif kind == "jump":
            out.append(f"{pad}if {self.cond(sc)}:")
            out.append(f"{pad}    {self.pick(('break', 'continue'))}")
        elif kind == "return":
            out.append(f"{pad}if {self.cond(sc)}:")
            out.append(f"{pad}    return {sc.result_expr(self)}")

    def contracting(self, kind, sc, out, pad):
        """Inside loops over data rows (hundreds of iterations): updates that stay bounded
        however often they run."""
        if kind == "assign":
            t = self.pick(sc.assignable)
            out.append(f"{pad}{t} = 0.5 * {t} + 0.5 * math.tanh({self.fexpr(sc)})")
        elif kind == "aug":
            out.append(f"{pad}{self.pick(sc.assignable)} {self.pick(('+=', '-='))} "
                       f"0.01 * math.tanh({self.fexpr(sc)})")
        elif kind == "store":
            a, i = self.pick(sc.stores), self.index(sc, True)
            out.append(f"{pad}{a}[{i}] = 0.5 * {a}[{i}] + 0.5 * math.tanh({self.fexpr(sc)})")
        elif kind == "augstore":
            out.append(f"{pad}{self.pick(sc.stores)}[{self.index(sc, True)}] += "
                       f"0.01 * math.sin({self.fexpr(sc)})")
        elif kind == "slicestore":
            a, n = self.pick(sc.stores), self.int(1, ARRAY_LEN)
            s = self.slice_of(n)
            out.append(f"{pad}{a}[{s}] = 0.5 * {a}[{s}] + 0.5 * np.tanh({self.slice_expr(sc, n)})")
        elif kind == "sliceaug":
            n = self.int(1, ARRAY_LEN)
            out.append(f"{pad}{self.pick(sc.stores)}[{self.slice_of(n)}] += "
                       f"0.01 * np.sin({self.slice_expr(sc, n)})")
        else:
            a = self.pick(sc.writable_arrays)
            out.append(f"{pad}{a} = np.tanh({self.aexpr(sc)})")

    def data_stmt(self, kind, sc, out, indent, depth):
        """Loops over the rows of the data matrix X (a row copy `X[r]`, `.shape` inside the
        loop), triangular nests under them, and swaps of two owned arrays."""
        pad = "    " * indent
        if kind == "swap":
            a, b = sc.owned
            if self.coin(3, 4):
                out.append(f"{pad}{a}, {b} = {b}, {a}")
            else:
                t = self.fresh("tmp")
                out += [f"{pad}{t} = {a}", f"{pad}{a} = {b}", f"{pad}{b} = {t}"]
            return
        if kind == "triangle":
            j = self.fresh("j")
            out.append(f"{pad}for {j} in range({sc.row} % 4):")
            inner = sc.enter_loop(j)
            inner.rowexprs = sc.rowexprs + [f"X[{sc.row}, {j} % {ARRAY_LEN}]"]
            self.block(inner, out, indent + 1, depth + 1, 2)
            return
        r = self.fresh("r")
        body = []
        if kind == "rowloop":
            start = "1, " if self.coin(1, 4) else ""
            out.append(f"{pad}for {r} in range({start}X.shape[0]):")
        else:
            q = self.fresh("q")
            out.append(f"{pad}{q} = 0")
            out.append(f"{pad}while {q} < X.shape[0]:")
            body += [f"{pad}    {r} = {q}", f"{pad}    {q} += 1"]
        inner = sc.enter_loop(r)
        inner.ints = list(sc.ints)  # the row number is not a value (hundreds)
        inner.contract = True
        inner.row = r
        if self.coin(2, 4):
            row = self.fresh("row")
            body.append(f"{pad}    {row} = X[{r}]")
            inner.rowexprs = [f"{row}[{self.int(0, ARRAY_LEN - 1)}]", f"np.dot({row}, v)",
                              f"{row}[{r} % {ARRAY_LEN}] * X.shape[1]"]
        else:
            inner.rowexprs = [f"X[{r}, {self.int(0, ARRAY_LEN - 1)}]", f"np.dot(X[{r}], a)",
                              f"X[{r}, 0] / X.shape[0]"]
        out.extend(body)
        self.block(inner, out, indent + 1, depth + 1, 3)

    # ------------------------------------------------------------ functions

    def helper(self, k):
        """A helper function; helpers may call the earlier ones."""
        kind = self.pick(("scalar", "array"))
        name = f"h{k}"
        lines = []
        if kind == "scalar":
            lines.append(f"def {name}(p, q):")
            sc = _Scope(floats=["p", "q", "t"], assignable=["t", "p"], arrays=[], stores=[],
                        ints=[], helpers=[h for h in self.helpers if h[1] == "scalar"],
                        kinks=self.coin(1, 3), allow_while=False, allow_return=self.coin(1, 3),
                        result=("t", "p", "q"), anchor="q")
            lines.append("    t = p * q")
        else:
            lines.append(f"def {name}(w, p):")
            sc = _Scope(floats=["p", "t"], assignable=["t"], arrays=["w"],
                        stores=["w"] if self.coin(2, 4) and "mutating_helpers" not in self.avoid
                        else [], ints=[],
                        helpers=[h for h in self.helpers if h[1] == "scalar"],
                        kinks=self.coin(1, 3), allow_while=False, allow_return=False,
                        result=("t", "p"), anchor="p")
            lines.append("    t = p")
        body = []
        self.block(sc, body, 1, 1, 3)
        lines += body
        lines.append(f"    return {sc.result_expr(self)}")
        self.helpers.append((name, kind))
        mutating = kind == "array" and bool(sc.stores)
        return lines, (name, kind, mutating)

    def module(self):
        lines = ["import math", "", "import numpy as np", "", ""]
        n_helpers = self.int(0, 2)
        infos = []
        for k in range(n_helpers):
            hl, info = self.helper(k)
            infos.append(info)
            lines += hl + ["", ""]
        write_v = self.coin(1, 4) and "write_args" not in self.avoid
        owned = ["a", "b"] if self.data else ["a"]
        sc = _Scope(floats=["x", "y", "s0", "s1"],
                    assignable=["s0", "s1", "y"] + ([] if self.anchored else ["x"]),
                    arrays=["v"] + owned, stores=owned + (["v"] if write_v else []), ints=["n"],
                    helpers=[(nm, kd) for nm, kd, _ in infos],
                    mutating_helpers=[nm for nm, _, mut in infos if mut],
                    kinks=self.coin(1, 3), allow_while=True, allow_return=self.coin(1, 3),
                    writable_arrays=owned, result=("s0", "s1", "x", "y"), anchor="x",
                    matrix="X" if self.data else None, owned=owned if self.data else ())
        if self.data:
            self.rows = self.pick((64, 65, 130, 257, 300))
        lines.append("def f(x, y, v, n, X):" if self.data else "def f(x, y, v, n):")
        init = self.int(0, 2)
        lines.append("    s0 = x" if init == 0 else ("    s0 = 0.0" if init == 1 else "    s0 = x * y"))
        lines.append("    s1 = y")
        lines.append("    a = np.zeros(3)" if self.coin(2, 4) else "    a = v * 0.5")
        if self.data:
            lines.append("    b = v * 0.25")
        body = []
        self.block(sc, body, 1, 0, self.max_stmts)
        lines += body
        tail = " + np.sum(a * v)" + (" + 0.5 * np.sum(b * v)" if self.data else "")
        lines.append(f"    return {sc.result_expr(self)}{tail}")
        return "\n".join(lines) + "\n"


class _Scope:
    def __init__(self, floats, assignable, arrays, stores, ints, helpers, kinks, allow_while,
                 allow_return, result, mutating_helpers=(), writable_arrays=(), loop_ints=(),
                 loop_depth=0, anchor=None, matrix=None, owned=()):
        self.anchor = anchor
        self.matrix = matrix  # the data matrix (data-sized programs)
        self.owned = list(owned)  # two arrays the function owns, which it may swap
        self.row = None  # the row loop's variable, inside one
        self.rowexprs = []  # expressions reading the current row
        self.contract = False  # bounded updates only (inside loops over rows)
        self.floats = list(floats)
        self.assignable = list(assignable)
        self.arrays = list(arrays)
        self.stores = list(stores)
        self.ints = list(ints)
        self.helpers = list(helpers)
        self.mutating_helpers = list(mutating_helpers)
        self.kinks = kinks
        self.allow_while = allow_while
        self.allow_return = allow_return
        self.writable_arrays = list(writable_arrays)
        self.loop_ints = list(loop_ints)
        self.loop_depth = loop_depth
        self.result = result

    def enter_loop(self, var):
        new = copy.copy(self)
        new.ints = self.ints + [var]
        new.loop_ints = self.loop_ints + [var]
        new.loop_depth = self.loop_depth + 1
        return new

    def result_expr(self, gen):
        """What a function returns: its variables combined, plus a random expression."""
        parts = [self.result[0]]
        for r in self.result[1:]:
            parts.append(f"{gen.pick(('0.5', '1.0', '-0.25'))} * {r}")
        if gen.coin(1, 2):
            parts.append(gen.fexpr(self, 1))
        return " + ".join(parts)


@st.composite
def programs(draw, max_stmts=5, avoid=(), data=False, slices=False):
    """A hypothesis strategy of :class:`GenProgram`; ``avoid``: features (see ``FEATURES``) the
    programs do without; ``data``: data-sized programs (a matrix of hundreds of rows);
    ``slices``: slices of arrays read, stored into and updated in place (``a[1:3] *= x``,
    ``a[0:2] += a[1:3] * y``, ``np.dot(a[:2], v[1:])``)."""
    return _program(_Gen(lambda lo, hi: draw(st.integers(lo, hi)), max_stmts, avoid, data, slices))


def _program(gen):
    src = gen.module()
    return GenProgram(src, rows=gen.rows)


# ======================================================================= loading

_DIR = None
_MODULES = {}


def program_dir():
    global _DIR
    if _DIR is None:
        _DIR = os.environ.get("S2SAD_PROGEN_DIR") or tempfile.mkdtemp(prefix="s2sad_progen_")
        os.makedirs(_DIR, exist_ok=True)
    return _DIR


def load(program):
    """Write the program's module to a file and import it; returns its main function."""
    src = program.source if isinstance(program, GenProgram) else program
    main = program.main if isinstance(program, GenProgram) else "f"
    digest = hashlib.sha256(src.encode()).hexdigest()[:16]
    name = f"s2sad_prog_{digest}"
    mod = _MODULES.get(name)
    if mod is None:
        path = os.path.join(program_dir(), name + ".py")
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as fh:
                fh.write(src)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        _MODULES[name] = mod
    return getattr(mod, main)


def from_seed(seed, max_stmts=5, avoid=(), data=False, slices=False):
    """The program for an integer seed, without hypothesis (Python's ``random``): the same seed
    always gives the same program (``bench/fuzz.py`` names programs by seed); ``slices`` draws
    from a larger program space (the same seed, another program)."""
    import random

    rnd = random.Random(seed)
    return _program(_Gen(rnd.randint, max_stmts, avoid, data, slices))


# ======================================================================= the differential check


@dataclass
class Outcome:
    """What :func:`check_program` found: ``status`` is "pass", "fail" or "skip"."""

    status: str
    reason: str = ""
    details: str = ""
    sympy_used: bool = False
    fd_used: bool = False
    sympy_timed_out: bool = False  # the SymPy reference ran out of time: finite differences only

    def __bool__(self):
        return self.status != "fail"


def _fresh(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def _fmt(vals):
    with np.printoptions(precision=15):
        return "(" + ", ".join(repr(np.asarray(v)) if isinstance(v, np.ndarray) else repr(v)
                               for v in vals) + ")"


MAX_VALUE = 1e6  # points where the program's value is larger are dropped (overflow-prone)
FD_MARGIN = 2e-2  # finite differences are trusted when the point is this far from a boundary
SYMPY_MAX_SIZE = 4000  # larger SymPy expressions are not differentiated (time)


def _evaluate(program, seed):
    """(function, point, value) of a program, the value an Outcome("skip") where the program
    raises at the point or its value is too large."""
    import math

    f = load(program)
    args = program.args(seed)
    try:
        value = f(*_fresh(args))
    except (OverflowError, ZeroDivisionError, ValueError) as e:
        return f, args, Outcome("skip", f"the program raises {type(e).__name__} at this point")
    if not (isinstance(value, float) and math.isfinite(value) and abs(value) < MAX_VALUE):
        return f, args, Outcome("skip", f"value {value!r} too large or not finite")
    return f, args, value


class _Timeout(BaseException):
    """Not an Exception: SymPy's internals catch those, and would swallow the time limit."""


def _with_time_limit(seconds, fun):
    """``fun()``, or _Timeout after ``seconds`` (wall clock; only in the main thread of a Unix
    process, elsewhere without a limit)."""
    import signal
    import threading

    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return fun()

    def on_alarm(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)  # and again every 0.5 s until it stops
    try:
        return fun()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_program(program, seed=0, jit=False, rtol=1e-6, sympy_max_size=SYMPY_MAX_SIZE,
                  sympy_seconds=None):
    """Differential check of one program at the point ``program.args(seed)``.

    The reference derivative is SymPy's (where the translation is small enough) or else 4th-order
    finite differences (where the point is away from branch boundaries and kinks, and they are
    stable); when SymPy is used, finite differences must agree with it too (away from boundaries)
    so that the SymPy bridge is checked as well. s2sad's forward and reverse gradients must
    match the reference, and each other; the value returned with the gradient must be the
    program's value. The outcome's ``reason`` names what disagreed."""

    import s2sad
    from s2sad.check.fd import numerical_grad, rel_error
    from s2sad.check.sympy_bridge import to_sympy, tree_size
    from s2sad.errors import UnsupportedSyntaxError

    f, args, value = _evaluate(program, seed)
    if isinstance(value, Outcome):
        return value

    grads, errors = {}, []
    for mode in ("forward", "reverse"):
        try:
            val, g = s2sad.value_and_grad(f, ARGNUMS, mode=mode, jit=jit)(*_fresh(args))
        except Exception as e:  # noqa: BLE001 - any error on a program of the subset is a bug
            errors.append((mode, f"raised {type(e).__name__}", f"{type(e).__name__}: {e}"))
            continue
        if not rel_error(val, value) <= 1e-9:
            errors.append((mode, "wrong primal value",
                           f"value {val!r}, the program gives {value!r}"))
            continue
        grads[mode] = tuple(g)
    if errors:
        return Outcome("fail", f"s2sad {errors[0][0]} {errors[0][1]}",
                       "\n".join(f"{m}: {e}" for m, _, e in errors))

    sym = None
    margin = None

    def reference():
        tr = to_sympy(f, args, ARGNUMS, max_size=50 * sympy_max_size)
        derivative = None
        if all(not hasattr(o, "args") or tree_size(o, sympy_max_size) <= sympy_max_size
               for o in tr.outputs):
            derivative = tuple(tr.derivative())
        return tr.margin, derivative

    timed_out = False
    try:
        margin, sym = _with_time_limit(sympy_seconds, reference)
    except _Timeout:
        margin, sym = None, None  # SymPy took too long: finite differences are the reference
        timed_out = True
    except UnsupportedSyntaxError as e:
        if "runs more than" not in str(e) and "too large" not in str(e):
            return Outcome("fail", "sympy translation failed", str(e))
    except Exception as e:  # noqa: BLE001 - reported as a failure of the bridge
        return Outcome("fail", f"sympy translation crashed: {type(e).__name__}", repr(e))

    fd = None
    if margin is None or margin >= FD_MARGIN:
        fd = numerical_grad(f, args, ARGNUMS)
        if sym is None and not rel_error(fd, numerical_grad(f, args, ARGNUMS, order=6)) <= rtol:
            fd = None  # unstable: no reference from finite differences
    fwd, rev = grads["forward"], grads["reverse"]
    report = (f"forward {_fmt(fwd)}\nreverse {_fmt(rev)}\n" +
              (f"sympy   {_fmt(sym)}\n" if sym is not None else "") +
              (f"fd      {_fmt(fd)}\n" if fd is not None else ""))
    ref, ref_name = (sym, "sympy") if sym is not None else (fd, "fd")
    if ref is None:
        if not rel_error(fwd, rev) <= rtol:
            return Outcome("fail", "forward != reverse (no reference)", report)
        return Outcome("skip", "near a branch boundary and no sympy reference")
    bad = [m for m, g in (("forward", fwd), ("reverse", rev)) if not rel_error(g, ref) <= rtol]
    if bad:
        return Outcome("fail", f"{' and '.join(bad)} != {ref_name}", report,
                       sympy_used=sym is not None, fd_used=fd is not None)
    if sym is not None and fd is not None and not rel_error(fd, sym) <= rtol:
        fd6 = numerical_grad(f, args, ARGNUMS, order=6)
        if rel_error(fd, fd6) <= rtol:  # stable finite differences that disagree with SymPy
            return Outcome("fail", "sympy != fd (sympy bridge?)", report, sympy_used=True,
                           fd_used=True)
    return Outcome("pass", sympy_used=sym is not None, fd_used=fd is not None, sympy_timed_out=timed_out)


# ======================================================================= transforms


TRANSFORMS = ("hessian", "jacfwd(grad)", "jacrev(grad)", "jvp(grad)")


def check_transforms(program, seed=0, rtol=1e-6, transforms=TRANSFORMS):
    """Second derivatives of one program with respect to its array argument ``v``, at the point
    ``program.args(seed)``, by every composed transform: ``hessian`` (forward over reverse),
    ``jacfwd(grad)``, ``jacrev(grad)`` (reverse over reverse) and ``jvp(grad)`` along a direction,
    each against central finite differences of the reverse gradient (where they are stable:
    4th and 6th order agree) and against each other."""
    import s2sad
    from s2sad.check.fd import numerical_jacobian, rel_error

    f, args, value = _evaluate(program, seed)
    if isinstance(value, Outcome):
        return value
    V = 2  # the array argument

    def with_v(z):
        a = list(_fresh(args))
        a[V] = z
        return tuple(a)

    grad = s2sad.grad(f, V)
    results, errors = {}, []
    for name in transforms:
        try:
            if name == "hessian":
                results[name] = s2sad.hessian(f, V)(*_fresh(args))
            elif name == "jacfwd(grad)":
                results[name] = s2sad.jacfwd(grad, V)(*_fresh(args))
            elif name == "jacrev(grad)":
                results[name] = s2sad.jacrev(grad, V)(*_fresh(args))
            else:
                d = np.linspace(-1.0, 1.0, ARRAY_LEN)
                tangents = tuple(d if k == V else np.zeros_like(a) if isinstance(a, np.ndarray) else 0.0
                                 for k, a in enumerate(args))
                results[name] = (d, s2sad.jvp(grad, _fresh(args), tangents)[1])
        except Exception as e:  # noqa: BLE001 - any error on a program of the subset is a bug
            errors.append(f"{name}: {type(e).__name__}: {e}")
    if errors:
        return Outcome("fail", f"s2sad {errors[0].split(':')[0]} raised", "\n".join(errors))
    fd = numerical_jacobian(lambda z: grad(*with_v(z)), (args[V].copy(),), 0)
    fd6 = numerical_jacobian(lambda z: grad(*with_v(z)), (args[V].copy(),), 0, order=6)
    ref = fd if rel_error(fd, fd6) <= rtol else None
    hs = {k: v for k, v in results.items() if k != "jvp(grad)"}
    report = "".join(f"{k:13s} {np.array2string(np.asarray(v), precision=12)}\n" for k, v in hs.items())
    if ref is not None:
        report += f"fd            {np.array2string(ref, precision=12)}\n"
    first = next(iter(hs.values()), None)
    for k, h in hs.items():
        other = ref if ref is not None else first
        if not rel_error(h, other) <= rtol:
            return Outcome("fail", f"{k} != {'fd' if ref is not None else 'the other transforms'}", report)
    if "jvp(grad)" in results and first is not None:
        d, hv = results["jvp(grad)"]
        if not rel_error(hv, first @ d) <= rtol:
            return Outcome("fail", "jvp(grad) != hessian @ v", report + f"jvp(grad)     {hv}\n")
    return Outcome("pass" if ref is not None else "skip", "" if ref is not None else
                   "finite differences unstable here (a kink nearby): transforms agree with each other",
                   fd_used=ref is not None)
