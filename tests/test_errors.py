"""Refusals and bad inputs: every one must be a clear error that points at the user's own line.

Part 1 is a catalogue of refused constructs (tests/error_cases.py). Each one, in both modes,
must raise an ``S2SADError`` subclass when the derivative is built (the first call of
``s2sad.grad(f)(*args)``, since s2sad specialises on argument types there), never from inside
generated code at run time, with

* ``.filename`` tests/error_cases.py, ``.lineno`` the line marked ``# ERR`` there, ``.col_offset``
  the column that marker names;
* a message ``file.py:LINE:COL: what is wrong`` (COL 1-based, as compilers print it), then the
  source line, a caret under the column, and a ``hint:`` line saying what to write instead;
* no compiler-internal names (``_ret``, ``_t3``) in the message.

Part 2 is bad input at run time (wrong arguments, wrong cotangents and tangents): a TypeError or
ValueError (or NonDifferentiableError) that names the argument.

Cases marked ``xfail(strict=True)`` are known gaps in the compiler; the reason says what happens
today. Remove the mark when the compiler is fixed.
"""

import inspect
import linecache
import math
import os
import re
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import error_cases as E

import s2sad
from s2sad.backend.loader import cache_dir
from s2sad.errors import (
    NonDifferentiableError,
    RecursionNotSupportedError,
    S2SADError,
    TypeInferenceError,
    UnsupportedSyntaxError,
)

MODES = ("reverse", "forward")
INTERNAL_NAME = re.compile(r"`_(?:ret|returned|live|out|t\d+|i\d+)`")


def vec():
    return np.array([1.0, 2.0, 3.0])


def mat():
    return np.arange(6.0).reshape(2, 3) + 1.0


# ---------------------------------------------------------------- the table

_NO_HINT = "the error has no hint line"


def case(name, cls, args=(1.5,), argnums=0, at=None, match=None, xfail=None, reverse=None,
         forward=None):
    """One catalogue row -> one pytest.param per mode. ``xfail`` marks both modes; ``reverse``
    and ``forward`` mark one mode. ``at`` names the function holding the ``# ERR`` marker (the
    case function by default); ``match``: a regex the first message line must contain."""
    out = []
    for mode in MODES:
        reason = {"reverse": reverse, "forward": forward}[mode] or xfail
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(name, cls, args, argnums, at or name, match, mode,
                                id=f"{name}-{mode}", marks=marks))
    return out


USS, NDE, TIE, REC = (UnsupportedSyntaxError, NonDifferentiableError, TypeInferenceError,
                      RecursionNotSupportedError)

CATALOGUE = [
    # statements
    *case("try_block", USS),
    *case("with_block", USS),
    *case("generator_yield", USS),
    *case("generator_yield_from", USS),
    *case("global_stmt", USS),
    *case("nonlocal_stmt", USS),
    *case("class_inside", USS),
    *case("nested_def", USS),
    *case("raise_stmt", USS),
    *case("assert_stmt", USS),
    *case("del_stmt", USS),
    *case("import_inside", USS),
    *case("import_from_inside", USS),
    *case("match_stmt", USS),
    *case("while_else", USS),
    *case("for_else", USS),
    *case("for_zip", USS, args=(vec(), vec()), match=r"zip"),
    *case("for_enumerate", USS, args=(vec(),), match=r"enumerate"),
    *case("for_reversed", USS, args=(vec(),), match=r"reversed"),
    *case("for_tuple_target", USS, args=(mat(),)),
    *case("async_def", USS, at="async_helper"),
    # expressions
    *case("lambda_root", USS, match=r"lambda"),
    *case("lambda_expr", USS),
    *case("list_comp", USS, args=(vec(),)),
    *case("set_comp", USS, args=(vec(),)),
    *case("dict_comp", USS, args=(vec(),)),
    *case("generator_expr", USS, args=(vec(),)),
    *case("dict_literal", USS),
    *case("set_literal", USS),
    *case("list_literal", USS),
    *case("string_concat", USS),
    *case("string_method", USS),
    *case("str_call", USS, match=r"str"),
    *case("fstring", USS),
    *case("bytes_constant", USS),
    *case("complex_constant", USS),
    *case("walrus", USS),
    *case("starred_call", USS),
    *case("starred_target", USS, args=(vec(),)),
    *case("starred_tuple", USS),
    *case("in_operator", USS),
    *case("ellipsis_index", USS, args=(vec(),)),
    *case("bitwise_and", USS),
    *case("bitwise_or", USS),
    *case("bitwise_xor", USS),
    *case("left_shift", USS),
    *case("invert", USS),
    *case("bitwise_augassign", USS),
    # writes and aliasing
    *case("write_into_view", USS, args=(mat(), 2.0)),
    *case("write_into_slice_view", USS, args=(mat(), 2.0)),
    *case("write_into_alias", USS, args=(mat(), 2.0)),
    *case("write_into_transpose", USS, args=(mat(), 2.0)),
    *case("view_into_writing_helper", USS, args=(mat(), 2.0), argnums=1),
    *case("view_passed_to_writing_helper", USS, args=(mat(), 2.0), argnums=1),
    *case("write_base_under_view", USS, args=(mat(), 2.0), argnums=1),
    *case("swap_rows_through_views", USS, args=(mat(), 2.0)),
    *case("write_double_index", USS, args=(mat(), 2.0)),
    *case("write_attribute", USS),
    *case("write_global_array", USS),
    *case("write_into_float", TIE, args=(1.5, 2.0)),
    # names, calls, attributes
    *case("undefined_name", NDE),
    *case("undefined_function", NDE),
    *case("call_local_value", NDE),
    *case("function_as_value", USS),
    *case("global_dict_value", NDE),
    *case("unknown_module_attr", USS),
    *case("unsupported_attribute", USS, args=(vec(),)),
    *case("unsupported_method", TIE, args=(vec(),)),
    *case("unsupported_sort_method", TIE, args=(vec(),)),
    *case("getattr_call", NDE, match=r"getattr"),
    *case("isinstance_test", USS, args=(1.5, 3), match=r"isinstance"),
    *case("user_call_keywords", USS),
    *case("calls_helper_with_try", USS, at="helper_with_try"),
    *case("foreign_operator_mul", NDE),
    *case("foreign_fft", NDE, args=(vec(),)),
    *case("foreign_numpy_sort", NDE, args=(vec(),)),
    *case("builtin_sum", NDE, args=(vec(),)),
    *case("foreign_linalg_pinv", NDE, args=(np.eye(2) + 0.1,)),
    *case("no_rule_on_active", NDE, match=r"`math\.nextafter` is not supported by s2sad yet \(it "
                                          r"has no derivative rule\), and it is called with the "
                                          r"differentiated value `x`"),
    *case("no_return", NDE, match=r"no_return has no `return` statement, so it returns None"),
    *case("recursion_direct", REC, args=(1.5, 3)),
    *case("recursion_mutual_a", REC, args=(1.5, 3), at="recursion_mutual_b"),
    # types
    *case("type_conflict", TIE),
    *case("return_type_conflict", TIE, match=r"return"),
    *case("fancy_two_arrays", TIE, args=(np.ones((2, 3, 4)),), match=r"several arrays at once"),
    *case("fancy_and_newaxis", TIE, args=(vec(),), match=r"np.newaxis"),
    *case("fancy_float_array", TIE, args=(vec(),), match=r"ints or bools"),
    *case("mask_after_slice", TIE, args=(mat(),), match=r"boolean mask"),
    *case("add_at_scalar_index", TIE, args=(vec(),), match=r"np.add.at takes an array"),
    *case("float_index", TIE, args=(vec(), 1.0)),
    *case("index_a_float", TIE),
    *case("range_of_float", TIE),
    *case("too_many_indices", TIE, args=(vec(),)),
    *case("wrong_arity_helper", TIE),
    *case("unpack_float", TIE),
    # signatures and results
    *case("star_args", USS),
    *case("star_kwargs", USS),
    *case("keyword_only", USS),
    *case("int_param", NDE, args=(1.5, 2), argnums=1),
    *case("bool_param", NDE, args=(1.5, True), argnums=1),
    *case("vector_result", NDE, args=(vec(),)),
    *case("tuple_result", NDE),
    *case("int_result", NDE),
    *case("no_result", NDE),
]


def expected_position(fn):
    """(filename, lineno, col) of the ``# ERR`` marker in ``fn``'s source."""
    filename = inspect.getsourcefile(fn)
    lines, start = inspect.getsourcelines(fn)
    hits = [k for k, ln in enumerate(lines) if "# ERR" in ln]
    assert len(hits) == 1, f"{fn.__name__}: expected one `# ERR` marker, found {len(hits)}"
    lineno = start + hits[0]
    line = linecache.getline(filename, lineno)
    code, marker = line.split("# ERR", 1)
    m = re.match(r"\s*col=(.+?)\s*$", marker)
    if m:
        col = code.index(m.group(1))
    else:
        col = len(code) - len(code.lstrip())
    return filename, lineno, col


def _generated_frames(exc):
    root = os.path.realpath(cache_dir())
    return [f for f in traceback.extract_tb(exc.__traceback__)
            if os.path.realpath(f.filename).startswith(root)]


@pytest.mark.parametrize("name,cls,args,argnums,at,match,mode", CATALOGUE)
def test_refusal(name, cls, args, argnums, at, match, mode):
    fn = getattr(E, name)
    filename, lineno, col = expected_position(getattr(E, at))
    args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    with pytest.raises(S2SADError) as info:
        s2sad.grad(fn, argnums, mode=mode)(*args)
    e = info.value
    # raised while building, not by generated code
    assert not _generated_frames(e), f"raised from generated code: {e!r}"
    assert type(e) is cls, f"{type(e).__name__} instead of {cls.__name__}: {e}"
    assert e.filename is not None and os.path.samefile(e.filename, filename)
    assert (e.lineno, e.col_offset) == (lineno, col), str(e)
    text = str(e).split("\n")
    assert text[0].startswith(f"{e.filename}:{lineno}:{col + 1}: ")
    assert len(text[0]) > len(f"{e.filename}:{lineno}:{col + 1}: ") + 10
    assert text[1] == "    " + linecache.getline(filename, lineno).rstrip("\n")
    assert text[2] == "    " + " " * col + "^"
    hints = [t for t in text[3:] if t.startswith("hint: ")]
    assert hints and len(hints[0]) > len("hint: ") + 5, f"no hint in:\n{e}"
    assert not INTERNAL_NAME.search(str(e)), f"internal name in: {e}"
    if match:
        assert re.search(match, text[0]), f"{match!r} not in {text[0]!r}"


def test_catalogue_size():
    names = {p.values[0] for p in CATALOGUE}
    assert len(names) >= 45
    markers = {n for n, f in vars(E).items() if inspect.isfunction(f) and f.__module__ == E.__name__
               and not n.startswith("make_") and "# ERR" in inspect.getsource(f)}
    # every marked function is either a case or the `at=` of one
    assert markers <= names | {p.values[4] for p in CATALOGUE}


# ---------------------------------------------------------------- accepted on purpose


def test_print_of_a_differentiated_value(capsys):
    """print() is a foreign call, but its result is unused: it is evaluated on the primal
    value (useful for debugging) and the derivative is unaffected."""
    for mode in MODES:
        g = s2sad.grad(E.print_active, mode=mode)(1.5)
        assert g == pytest.approx(8 * 1.5)
        assert "3.0" in capsys.readouterr().out


@pytest.mark.parametrize("mode", MODES)
def test_calls_with_no_differentiated_value_are_evaluated(mode, capsys):
    """Python as written: math.factorial of the int loop index is evaluated (the rule table
    is consulted only for calls that receive differentiated values), np.sort of a constant
    array too, print with string constants prints. References by hand."""
    x, n = 0.7, 8
    g = s2sad.grad(E.factorial_series, mode=mode)(x, n)
    assert g == pytest.approx(sum(i * x ** (i - 1) / math.factorial(i) for i in range(1, n)),
                              rel=1e-12)
    assert s2sad.grad(E.sorted_constant, mode=mode)(3.0) == 2.0
    assert s2sad.grad(E.prints_a_label, mode=mode)(3.0) == 6.0
    assert "y = 9.0" in capsys.readouterr().out


def test_a_call_numba_cannot_compile_is_refused_clearly():
    """Under jit, math.factorial (which Numba does not compile) is a JitError naming the
    user's line, not a Numba traceback."""
    from s2sad.errors import JitError
    with pytest.raises(JitError, match=r"math\.factorial\(i\)") as info:
        s2sad.grad(E.factorial_series, jit=True)(0.7, 8)
    assert info.value.hint


@pytest.mark.slow
def test_print_with_strings_under_jit(capfd):
    assert s2sad.grad(E.prints_a_label, jit=True)(3.0) == 6.0
    assert "y = 9.0" in capfd.readouterr().out


# ---------------------------------------------------------------- what cannot be differentiated at all


@pytest.mark.parametrize("obj", [math.sin, np.sin, abs, len], ids=["math.sin", "np.sin", "abs", "len"])
def test_grad_of_a_non_python_function(obj):
    with pytest.raises(NonDifferentiableError) as info:
        s2sad.grad(obj)(1.0)
    e = info.value
    assert e.hint and "def" in e.hint
    assert "only differentiate Python functions" in str(e)


def test_grad_of_a_function_without_source():
    ns = {}
    exec("def made_by_exec(x):\n    return x * x\n", ns)  # noqa: S102
    with pytest.raises(UnsupportedSyntaxError) as info:
        s2sad.grad(ns["made_by_exec"])(1.0)
    assert "made_by_exec" in str(info.value)
    assert info.value.hint and ".py file" in info.value.hint


@pytest.mark.parametrize("argnums", [2, -3, (0, 5), "a", 1.0])
def test_bad_argnums(argnums):
    with pytest.raises((TypeError, ValueError), match="argnums"):
        s2sad.grad(E.dot2, argnums)


def test_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        s2sad.grad(E.dot2, mode="sideways")


# ---------------------------------------------------------------- bad input at run time


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nargs", [1, 3])
def test_wrong_number_of_arguments(mode, nargs):
    args = (vec(), vec(), vec())[:nargs]
    with pytest.raises(TypeError, match=rf"dot2\(\) takes 2 argument\(s\) \(a, b\), {nargs} given"):
        s2sad.grad(E.dot2, mode=mode)(*args)


@pytest.mark.parametrize("bad,what", [
    ([1.0, 2.0, 3.0], r"argument `a` is a list \(pass a numpy array\)"),
    ("abc", r"argument `a` is a str"),
    (None, r"argument `a` is a NoneType"),
    ((1.0, "x"), r"argument `a` is a tuple"),
])
@pytest.mark.parametrize("mode", MODES)
def test_unsupported_argument_type(bad, what, mode):
    with pytest.raises(TypeError, match=what):
        s2sad.grad(E.dot2, mode=mode)(bad, vec())


def test_complex_array_argument():
    with pytest.raises(TypeError, match=r"argument `a` is .*complex128"):
        s2sad.grad(E.dot2)(vec() + 1j, vec())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype,shown", [(np.int64, "int64"), (np.int32, "int64"), (bool, "bool")])
def test_gradient_wrt_an_int_array_after_a_float_one(mode, dtype, shown):
    """The float derivative is cached for float64[:]; an int array is a new signature, and
    asking for the gradient with respect to it is a clear NonDifferentiableError."""
    g = s2sad.grad(E.dot2, mode=mode)
    np.testing.assert_allclose(g(vec(), vec()), vec())
    with pytest.raises(NonDifferentiableError,
                       match=rf"with respect to `a`, which is an? {shown}\[:\]") as info:
        g(np.array([1, 2, 3], dtype=dtype), vec())
    assert info.value.hint


@pytest.mark.parametrize("mode", MODES)
def test_int_array_not_differentiated_recompiles(mode):
    """An int array that is not differentiated is a new signature: a new derivative is built."""
    g = s2sad.grad(E.dot2, 1, mode=mode)
    np.testing.assert_allclose(g(vec(), vec()), vec())
    ia = np.array([4, 5, 6])
    r = g(ia, vec())
    assert r.dtype == np.float64
    np.testing.assert_allclose(r, [4.0, 5.0, 6.0])
    np.testing.assert_allclose(g(vec() * 2.0, vec()), vec() * 2.0)


@pytest.mark.parametrize("mode", MODES)
def test_int_scalar_after_a_float_one(mode):
    g = s2sad.grad(E.square, mode=mode)
    assert g(3.0) == 6.0
    with pytest.raises(NonDifferentiableError, match=r"`x`, which is an int64"):
        g(3)


@pytest.mark.parametrize("mode", MODES)
def test_mismatched_shapes(mode):
    """numpy's own ValueError, raised by the generated code: not a crash inside s2sad."""
    g = s2sad.grad(E.dot2, mode=mode)
    with pytest.raises(ValueError,
                       match=r"could not be broadcast together with shapes \(3,\) \(4,\)") as info:
        g(vec(), np.ones(4))
    assert _generated_frames(info.value), "expected the error from the generated module"
    assert not isinstance(info.value, S2SADError)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_mismatched_shapes_traceback_leads_to_the_user_line(mode):
    """The failing line of the generated module is preceded by a comment quoting the user's
    line (DESIGN.md: 'Each derivative statement carries a comment with the user's source line')."""
    g = s2sad.grad(E.dot2, mode=mode)
    with pytest.raises(ValueError) as info:
        g(vec(), np.ones(4))
    frame = _generated_frames(info.value)[-1]
    lines = Path(frame.filename).read_text().split("\n")[: frame.lineno]
    comments = [ln.strip() for ln in lines
                if ln.strip().startswith("#") and not ln.strip().startswith("# --")]
    assert comments and "np.sum(a * b)" in comments[-1]


def test_vjp_wrong_shape_cotangent():
    _out, f = s2sad.vjp(E.scale2, vec())
    np.testing.assert_allclose(f(np.ones(3))[0], [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match=r"cotangent has shape \(2,\), the output \(3,\)"):
        f(np.ones(2))
    with pytest.raises(ValueError, match=r"cotangent has shape \(\), the output \(3,\)"):
        f(1.0)


def test_vjp_tuple_output_needs_tuple_cotangent():
    _out, f = s2sad.vjp(E.pair, 1.5)
    assert f((1.0, 1.0)) == (5.0,)
    with pytest.raises(ValueError, match=r"cotangent must be a tuple of 2 items"):
        f(1.0)
    with pytest.raises(ValueError, match=r"cotangent must be a tuple of 2 items"):
        f((1.0, 1.0, 1.0))


def test_vjp_array_cotangent_for_a_scalar_output():
    _out, f = s2sad.vjp(E.square, 1.5)
    assert f(1.0) == (3.0,)
    with pytest.raises(ValueError, match=r"the output is a scalar, so the cotangent must be a "
                                         r"scalar, not an array of shape \(3,\)"):
        f(np.ones(3))


def test_vjp_string_cotangent():
    _out, f = s2sad.vjp(E.scale2, vec())
    with pytest.raises((TypeError, ValueError), match=r"cotangent"):
        f("a")


def test_vjp_bad_primals():
    with pytest.raises(TypeError, match=r"scale2\(\) takes 1 argument\(s\) \(a\), 0 given"):
        s2sad.vjp(E.scale2)
    with pytest.raises(TypeError, match=r"argument `a` is a str"):
        s2sad.vjp(E.scale2, "abc")


def test_jvp_wrong_shape_tangent():
    _out, d = s2sad.jvp(E.scale2, (vec(),), (np.ones(3),))
    np.testing.assert_allclose(d, [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match=r"the tangent of `a` has shape \(2,\), its primal \(3,\)"):
        s2sad.jvp(E.scale2, (vec(),), (np.ones(2),))
    with pytest.raises(ValueError, match=r"the tangent of `a` has shape \(\), its primal \(3,\)"):
        s2sad.jvp(E.scale2, (vec(),), (1.0,))


def test_jvp_wrong_number_of_tangents():
    with pytest.raises(ValueError, match=r"primals and tangents must have the same length"):
        s2sad.jvp(E.scale2, (vec(),), ())


def test_jvp_array_tangent_for_a_scalar_primal():
    with pytest.raises((TypeError, ValueError), match=r"the tangent of `x`"):
        s2sad.jvp(E.square, (1.5,), (np.ones(3),))


def test_jvp_string_tangent():
    with pytest.raises((TypeError, ValueError), match=r"tangent of `x`"):
        s2sad.jvp(E.square, (1.5,), ("a",))
