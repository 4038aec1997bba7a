"""Sanity checks of the differentiation corpus (tests/corpus.py).

These do not involve s2sad's compiler: they check that every corpus function runs on random
points from its sampler, returns finite values, that finite differences are finite and stable
there (i.e. the sampled points are away from kinks), and that the corpus as a whole covers the
agreed list of constructs.
"""

import ast
import inspect
import math
import os
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus
from corpus import CORPUS, Case

from s2sad.check.fd import _fresh, numerical_grad, numerical_jacobian, rel_error

N_POINTS = 3


def _rng(c):
    return np.random.default_rng(zlib.crc32(c.name.encode()))


def _all_finite(value):
    if isinstance(value, tuple):
        return len(value) > 0 and all(_all_finite(v) for v in value)
    return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))


def _same(a, b):
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


def _is_float_scalar(v):
    return isinstance(v, (float, np.floating)) and not isinstance(v, (bool, np.bool_))


def test_corpus_size_and_registry():
    assert len(CORPUS) >= 90
    names = [c.name for c in CORPUS]
    assert len(set(names)) == len(names)
    for c in CORPUS:
        assert isinstance(c, Case)
        assert getattr(corpus, c.name) is c.fn, "corpus functions are plain module-level defs"
        assert c.fn.__qualname__ == c.name
        assert c.domain is None or isinstance(c.domain, str)
        assert isinstance(c.argnums, tuple) and c.argnums
        nparams = len(inspect.signature(c.fn).parameters)
        assert all(0 <= k < nparams for k in c.argnums), c.name
        if "no_numba" in c.tags:
            assert c.note, f"{c.name}: say why it does not compile with numba"
    assert sum(c.vector_output for c in CORPUS) >= 5


@pytest.mark.parametrize("c", CORPUS, ids=lambda c: c.name)
def test_case_runs_and_fd_is_stable(c):
    rng = _rng(c)
    nparams = len(inspect.signature(c.fn).parameters)
    for _ in range(N_POINTS):
        args = c.sample(rng)
        assert len(args) == nparams
        for k, a in enumerate(args):
            if isinstance(a, np.ndarray):
                assert a.dtype == np.float64 and 1 <= a.ndim <= 2, (c.name, k)
                assert all(2 <= d <= 6 for d in a.shape), (c.name, k, a.shape)
            if k in c.argnums:
                assert isinstance(a, np.ndarray) or _is_float_scalar(a), (
                    f"{c.name}: differentiable argument {k} must be a float or float64 array, "
                    f"got {type(a).__name__}"
                )
        assert _all_finite(tuple(a for a in args if not isinstance(a, (bool, np.bool_))))

        pristine = _fresh(args)
        call_args = _fresh(args)
        out = c.fn(*call_args)
        if c.vector_output:
            assert isinstance(out, (tuple, np.ndarray)), c.name
            assert not isinstance(out, np.ndarray) or out.ndim >= 1
        else:
            assert _is_float_scalar(out), f"{c.name} returned {type(out).__name__}"
        assert _all_finite(out), c.name

        # deterministic, and input mutation is declared
        mutated = not all(_same(a, b) for a, b in zip(call_args, pristine))
        assert mutated == ("mutates_input" in c.tags), f"{c.name}: mutates_input tag"
        assert _same(c.fn(*_fresh(pristine)), out), c.name

        # finite differences: finite, and stable under a change of step (no kink nearby)
        if c.vector_output:
            d1 = numerical_jacobian(c.fn, pristine, argnums=c.argnums)
            d2 = numerical_jacobian(c.fn, pristine, argnums=c.argnums, eps=2.5e-4)
        else:
            d1 = numerical_grad(c.fn, pristine, argnums=c.argnums)
            d2 = numerical_grad(c.fn, pristine, argnums=c.argnums, eps=2.5e-4)
        assert _all_finite(d1), c.name
        err = rel_error(d1, d2)
        assert err < 1e-6, f"{c.name}: finite differences unstable ({err:.2e}) at {pristine}"


# ----------------------------------------------------------------------------- coverage


def _corpus_functions():
    """AST nodes of the corpus material: module-level defs except samplers and the registry."""
    tree = ast.parse(inspect.getsource(corpus))
    skip = {"case", "get_case", "cases"}
    return [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and not n.name.startswith("_") and n.name not in skip
    ]


def _dotted(node):
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


class _Features(ast.NodeVisitor):
    def __init__(self, module_functions, module_constants):
        self.found = set()
        self.module_functions = module_functions
        self.module_constants = module_constants
        self.loop_depth = 0
        self.max_loop_depth = 0
        self.helper_calls = {}

    def add(self, *names):
        self.found.update(names)

    def visit_FunctionDef(self, node):
        self.add("def")
        self.generic_visit(node)

    def _loop(self, node):
        self.loop_depth += 1
        self.max_loop_depth = max(self.max_loop_depth, self.loop_depth)
        self.generic_visit(node)
        self.loop_depth -= 1

    def visit_For(self, node):
        it = node.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
            self.add(f"range{len(it.args)}")
            if len(it.args) == 3:
                step = it.args[2]
                if isinstance(step, ast.UnaryOp) and isinstance(step.op, ast.USub):
                    self.add("range_negative_step")
            for a in it.args:
                if isinstance(a, ast.Call) and isinstance(a.func, ast.Name) and a.func.id == "int":
                    self.add("range_int_n")
                if (
                    isinstance(a, ast.BinOp)
                    and isinstance(a.left, ast.Subscript)
                    and isinstance(a.left.value, ast.Attribute)
                    and a.left.value.attr == "shape"
                ):
                    self.add("range_shape_minus")
        elif isinstance(it, ast.Name):
            self.add("for_over_array")
        if self.loop_depth >= 1:
            self.add("nested_loop")
        self._loop(node)

    def visit_While(self, node):
        self.add("while")
        self._loop(node)

    def visit_Break(self, node):
        self.add("break")

    def visit_Continue(self, node):
        self.add("continue")

    def visit_Pass(self, node):
        self.add("pass")

    def visit_Return(self, node):
        if self.loop_depth:
            self.add("return_in_loop")
        if isinstance(node.value, ast.Tuple):
            self.add("return_tuple")
        self.generic_visit(node)

    def visit_If(self, node):
        self.add("if")
        if node.orelse:
            if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
                self.add("elif")
            else:
                self.add("else")
        self.generic_visit(node)

    def visit_IfExp(self, node):
        self.add("ifexp")
        self.generic_visit(node)

    def visit_Assign(self, node):
        for t in node.targets:
            if isinstance(t, ast.Tuple):
                self.add("tuple_unpack")
                if isinstance(node.value, ast.Tuple):
                    tn = [e.id for e in t.elts if isinstance(e, ast.Name)]
                    vn = [e.id for e in node.value.elts if isinstance(e, ast.Name)]
                    if len(tn) == 2 and vn == tn[::-1]:
                        self.add("swap")
            if isinstance(t, ast.Subscript):
                self.add("subscript_store")
                if isinstance(t.slice, ast.Tuple):
                    self.add("subscript_store_2d")
        if isinstance(node.value, ast.Tuple):
            self.add("tuple_pack")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        kind = "name" if isinstance(node.target, ast.Name) else "elem"
        self.add(f"aug_{type(node.op).__name__}_{kind}")
        self.generic_visit(node)

    def visit_BinOp(self, node):
        self.add(f"binop_{type(node.op).__name__}")
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        self.add(f"unary_{type(node.op).__name__}")
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        self.add(f"boolop_{type(node.op).__name__}")
        self.generic_visit(node)

    def visit_Compare(self, node):
        for op in node.ops:
            self.add(f"cmp_{type(op).__name__}")
        if len(node.ops) > 1:
            self.add("cmp_chained")
        self.generic_visit(node)

    def visit_Subscript(self, node):
        sl = node.slice
        if isinstance(sl, ast.Tuple):
            self.add("index_2d")
        elif isinstance(sl, ast.Slice):
            if sl.lower is not None and sl.upper is None:
                self.add("slice_lower")
            if sl.lower is None and isinstance(sl.upper, ast.UnaryOp):
                self.add("slice_upper_negative")
        elif isinstance(sl, ast.UnaryOp) and isinstance(sl.op, ast.USub):
            self.add("index_negative")
        elif isinstance(sl, ast.Name) and isinstance(node.value, ast.Name):
            self.add("index_name")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        d = _dotted(node)
        if d and d.split(".")[0] in ("math", "np"):
            self.add(d)
        elif node.attr in ("shape", "T", "reshape"):
            self.add(f".{node.attr}")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in self.module_constants:
            self.add(f"const_{self.module_constants[node.id]}")
        self.generic_visit(node)

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name):
            name = node.func.id
            if name in self.module_functions:
                self.helper_calls[name] = self.helper_calls.get(name, 0) + 1
                self.add("helper_call")
            else:
                self.add(f"builtin_{name}")
        d = _dotted(node.func)
        if d and d.startswith("np."):
            for kw in node.keywords:
                if kw.arg == "axis" and isinstance(kw.value, ast.Constant):
                    self.add(f"{d}_axis{kw.value.value}")
        self.generic_visit(node)


REQUIRED = (
    [
        "range1",
        "range2",
        "range3",
        "range_negative_step",
        "range_int_n",
        "range_shape_minus",
        "for_over_array",
        "nested_loop",
        "while",
        "break",
        "continue",
        "pass",
        "return_in_loop",
        "if",
        "elif",
        "else",
        "ifexp",
        "tuple_pack",
        "tuple_unpack",
        "swap",
        "return_tuple",
        "subscript_store",
        "subscript_store_2d",
        "index_2d",
        "index_negative",
        "slice_lower",
        "slice_upper_negative",
        "index_name",
        ".shape",
        ".T",
        ".reshape",
        "helper_call",
        "const_float",
        "const_array",
        "cmp_chained",
        "unary_USub",
        "unary_Not",
        "boolop_And",
        "boolop_Or",
    ]
    + [f"aug_{op}_{kind}" for op in ("Add", "Sub", "Mult", "Div", "Pow") for kind in ("name", "elem")]
    + [f"binop_{op}" for op in ("Add", "Sub", "Mult", "Div", "Pow", "FloorDiv", "Mod", "MatMult")]
    + [f"cmp_{op}" for op in ("Lt", "LtE", "Gt", "GtE", "Eq", "NotEq")]
    + [f"builtin_{f}" for f in ("abs", "min", "max", "pow", "float", "int", "len", "range")]
    + [
        f"math.{f}"
        for f in [
            "sin",
            "cos",
            "tan",
            "asin",
            "acos",
            "atan",
            "atan2",
            "sinh",
            "cosh",
            "tanh",
            "asinh",
            "acosh",
            "atanh",
            "exp",
            "expm1",
            "log",
            "log1p",
            "log2",
            "log10",
            "sqrt",
            "pow",
            "hypot",
            "erf",
            "erfc",
            "fabs",
            "floor",
            "ceil",
            "copysign",
            "pi",
            "e",
        ]
    ]
    + [
        f"np.{f}"
        for f in [
            "sin",
            "cos",
            "tan",
            "exp",
            "log",
            "sqrt",
            "tanh",
            "abs",
            "maximum",
            "minimum",
            "where",
            "clip",
            "square",
            "power",
            "sum",
            "mean",
            "max",
            "min",
            "prod",
            "dot",
            "outer",
            "zeros",
            "ones",
            "empty",
            "zeros_like",
            "ones_like",
            "empty_like",
            "full",
            "arange",
            "linspace",
            "concatenate",
        ]
    ]
    + [f"np.{f}_axis{a}" for f in ("sum", "mean", "max", "min", "prod") for a in (0, 1)]
)


def test_corpus_covers_constructs():
    funcs = _corpus_functions()
    names = {f.name for f in funcs}
    constants = {}
    for k, v in vars(corpus).items():
        if k.isupper() and k != "CORPUS":
            if isinstance(v, float):
                constants[k] = "float"
            elif isinstance(v, np.ndarray):
                constants[k] = "array"
    visitor = _Features(names, constants)
    for f in funcs:
        visitor.visit(f)
    missing = [r for r in REQUIRED if r not in visitor.found]
    assert not missing, f"corpus lacks: {missing}"
    assert visitor.max_loop_depth >= 3
    # a helper called twice in one function, a helper calling a helper
    assert visitor.helper_calls.get("sq", 0) >= 2
    assert "dot_self" in inspect.getsource(corpus.norm)
    # scalar types of the sampled arguments: floats, ints, bools, 1-D and 2-D arrays
    rng = np.random.default_rng(0)
    kinds = set()
    for c in CORPUS:
        for a in c.sample(rng):
            if isinstance(a, bool):
                kinds.add("bool")
            elif isinstance(a, int):
                kinds.add("int")
            elif isinstance(a, float):
                kinds.add("float")
            elif isinstance(a, np.ndarray):
                kinds.add(f"array{a.ndim}d")
    assert kinds >= {"bool", "int", "float", "array1d", "array2d"}
    assert math.isfinite(len(CORPUS))
