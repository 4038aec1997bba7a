"""check_grads (s2sad against finite differences) and check_sympy (against SymPy): they pass on
corpus functions, and they FAIL when a derivative is wrong."""

import math
import os
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corpus import CORPUS, get_case

import s2sad
from s2sad.primitives import RULES
from s2sad.check import CheckReport, check_grads, check_sympy, sympy_grad, to_sympy
from s2sad.check.fd import numerical_grad, numerical_jacobian, rel_error
from s2sad.errors import DerivativeMismatch, S2SADError, UnsupportedSyntaxError

# a spread of the corpus: arithmetic, math, loops, while, break/continue/return, in-place
# writes, numpy, helpers, globals, and vector outputs (checked through jvp and vjp)
CHECKED = [
    "poly3", "rational", "math_trig", "math_atan2", "gaussian_pdf", "huber", "piecewise",
    "comparisons", "tuple_swap_loop", "exp_taylor", "horner_reverse", "nested_loops_2d",
    "while_counter", "while_true_break", "first_crossing", "sum_positive_continue",
    "early_return_in_loop", "augassign_elements", "cumsum_loop", "np_maximum_minimum",
    "np_sum_axis", "quadratic_form", "softmax_xent", "mlp_tanh", "helper_chain",
    "helper_tuple", "global_array_weights", "rotation2d",
    # vector outputs
    "polar_vec", "elementwise_vec", "tuple_array_scalar", "cumsum_vec", "matvec_tanh_vec",
]


def _point(c, k=0):
    return c.sample(np.random.default_rng(zlib.crc32(c.name.encode()) + k))


# ======================================================================= they pass


@pytest.mark.parametrize("name", CHECKED)
def test_check_grads_passes_on_corpus(name):
    c = get_case(name)
    rep = check_grads(c.fn, _point(c), c.argnums)
    assert isinstance(rep, CheckReport) and rep.ok
    assert rep.kind == ("jacobian" if c.vector_output else "gradient")
    assert {(ch.mode, ch.argnum) for ch in rep.checks} == \
        {(m, k) for m in ("forward", "reverse") for k in c.argnums}
    assert rep.max_rel_err <= 1e-6


@pytest.mark.parametrize("name", CHECKED)
def test_check_sympy_passes_on_corpus(name):
    c = get_case(name)
    rep = check_sympy(c.fn, _point(c), c.argnums)
    assert rep.ok and rep.reference == "sympy"
    assert rep.max_rel_err <= 1e-6


@pytest.mark.parametrize("c", CORPUS, ids=lambda c: c.name)
def test_sympy_bridge_matches_finite_differences(c):
    """The SymPy translation on its own (no s2sad derivative involved): its derivative agrees
    with finite differences on every corpus function it can translate."""
    args = _point(c, 1)
    try:
        got = sympy_grad(c.fn, args, c.argnums, max_size=3000)
    except UnsupportedSyntaxError as e:
        assert "too large" in str(e)  # long unrolled loops (ODE solvers, Newton iterations)
        pytest.skip("expression too large for sympy.diff")
    ref = (numerical_jacobian if c.vector_output else numerical_grad)(c.fn, args, c.argnums)
    assert rel_error(tuple(got), tuple(ref)) <= 1e-6


# ======================================================================= the report


def two_args(x, v):
    return x * np.sum(v * v) + math.sin(x)


def test_report_contents():
    x, v = 0.3, np.array([1.0, -2.0, 0.5])
    rep = check_grads(two_args, (x, v), argnums=(0, 1), modes=("reverse",))
    assert [(c.mode, c.argnum) for c in rep.checks] == [("reverse", 0), ("reverse", 1)]
    c0 = rep["reverse", 0]
    assert c0.abs_err < 1e-8 and c0.rel_err < 1e-8
    assert abs(c0.want - (np.sum(v * v) + math.cos(x))) < 1e-8
    np.testing.assert_allclose(rep["reverse", 1].got, 2 * x * v)
    assert "reverse" in str(rep) and "max rel err" in str(rep)
    rep = check_sympy(two_args, (x, v), argnums=1, modes="forward")
    assert [(c.mode, c.argnum) for c in rep.checks] == [("forward", 1)]
    np.testing.assert_allclose(rep["forward", 1].want, 2 * x * v, rtol=1e-14)


def test_arguments_are_not_mutated():
    c = get_case("overwrite_input")
    args = _point(c)
    before = args[0].copy()
    check_grads(c.fn, args, c.argnums)
    check_sympy(c.fn, args, c.argnums)
    np.testing.assert_array_equal(args[0], before)


# ======================================================================= they fail


def sin_twice(x):
    return 2.0 * math.sin(x) + x


def make_sin_vec():
    # a new function object each time: s2sad.jvp/vjp keep the derivative of a function they
    # have seen, so a patched rule needs a function they have not
    def sin_vec(x, y):
        return np.sin(x) * y, y * y
    return sin_vec


class wrong_rule:
    """Temporarily replace a partial derivative in the rules table."""

    def __init__(self, name, arg, template):
        self.rule, self.arg, self.template = RULES[name], arg, template

    def __enter__(self):
        self.saved = self.rule.partials[self.arg]
        self.rule.partials[self.arg] = self.template

    def __exit__(self, *exc):
        self.rule.partials[self.arg] = self.saved


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_check_grads_catches_a_wrong_rule(mode):
    with wrong_rule("math.sin", 0, "M.sin(x)"), pytest.raises(DerivativeMismatch) as ei:
        check_grads(sin_twice, (0.7,), modes=(mode,))  # d sin = sin: wrong
    assert isinstance(ei.value, S2SADError) and isinstance(ei.value, AssertionError)
    msg = str(ei.value)
    assert "FAIL" in msg and mode in msg and "finite differences" in msg
    # and with the rule restored, the same check passes
    check_grads(sin_twice, (0.7,), modes=(mode,))


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_check_sympy_catches_a_wrong_rule(mode):
    with wrong_rule("math.sin", 0, "M.sin(x)"), pytest.raises(DerivativeMismatch, match="sympy"):
        check_sympy(sin_twice, (0.7,), modes=(mode,))
    check_sympy(sin_twice, (0.7,), modes=(mode,))


def test_wrong_rule_in_a_jacobian_is_caught():
    x, y = np.array([0.1, 0.2, -0.4]), 1.3
    check_grads(make_sin_vec(), (x, y), argnums=(0, 1))
    with wrong_rule("np.sin", 0, "M.cos(x) * 1.001"):
        for mode in ("forward", "reverse"):
            with pytest.raises(DerivativeMismatch):
                check_grads(make_sin_vec(), (x, y), argnums=(0, 1), modes=(mode,))
            with pytest.raises(DerivativeMismatch):
                check_sympy(make_sin_vec(), (x, y), argnums=(0, 1), modes=(mode,))


def detached(x):
    # s2sad's derivative treats the second factor as a constant; finite differences do not
    return x * s2sad.stop_gradient(x)


def test_check_grads_fails_on_a_different_gradient():
    with pytest.raises(DerivativeMismatch) as ei:
        check_grads(detached, (1.5,))
    assert "max abs err" in str(ei.value)


def test_tolerance():
    # 4th-order finite differences of a smooth function are good to ~1e-10: rtol decides
    rep = check_grads(sin_twice, (0.7,), rtol=1e-6)
    assert 0 < rep.max_rel_err < 1e-6
    with pytest.raises(DerivativeMismatch):
        check_grads(sin_twice, (0.7,), rtol=1e-16)


# ======================================================================= the translation


def branches(x, y, n):
    s = 0.0
    for i in range(n):
        if x > 0.5:
            s += x * y
        else:
            s -= math.exp(y)
    k = 0
    while k < 10 and s < 3.0:
        s = s + 1.0
        k += 1
    return s + abs(y) + max(x, y)


def test_translation_is_the_piece_of_the_point():
    tr = to_sympy(branches, (0.6, -0.25, 3), argnums=(0, 1))
    x, y = tr.symbols
    # 3 iterations of s += x*y, then the while loop runs while s < 3 (4 times at this point)
    assert tr.expr.equals(3 * x * y + 4 - y + x)
    assert tr.margin == pytest.approx(0.1)  # x = 0.6 is 0.1 from the test x > 0.5
    tr = to_sympy(branches, (0.2, -0.25, 2), argnums=0)
    assert tr.expr.equals(-2 * math.exp(-0.25) + 5 + 0.25 + tr.symbols[0])


def long_loop(x):
    s = x
    for i in range(1000):
        s = s * 0.999 + 0.001 * math.sin(s)
    return s


def counting(x):
    k = 0
    for i in range(1000):
        k = k + i
    return x * k


def test_untranslatable_raises_clearly():
    with pytest.raises(UnsupportedSyntaxError, match="too large") as ei:
        check_sympy(long_loop, (0.3,))
    assert ei.value.lineno == long_loop.__code__.co_firstlineno + 3  # points at the user's line
    with pytest.raises(UnsupportedSyntaxError, match="more than 100 statements"):
        check_sympy(counting, (0.3,), max_steps=100)
    check_sympy(counting, (0.3,))


def int_arg(x, n):
    return x ** n


def test_int_arguments_stay_concrete():
    tr = to_sympy(int_arg, (1.5, 3), argnums=0)
    assert tr.expr == tr.symbols[0] ** 3
    with pytest.raises(S2SADError):
        check_grads(int_arg, (1.5, 3), argnums=1)  # an int has no derivative


@pytest.mark.slow
@pytest.mark.parametrize("name", ["exp_taylor", "while_counter", "cumsum_loop", "polar_vec"])
def test_checks_with_jit(name):
    c = get_case(name)
    check_grads(c.fn, _point(c), c.argnums, jit=True)
    check_sympy(c.fn, _point(c), c.argnums, jit=True)


# ======================================================================= custom rules


@s2sad.custom_vjp
def softplus(x):
    return math.log1p(math.exp(x))


def _softplus_fwd(x):
    return math.log1p(math.exp(x)), x


def _softplus_bwd(x, g):
    return (g / (1.0 + math.exp(-x)),)


softplus.defvjp(_softplus_fwd, _softplus_bwd)


@s2sad.custom_vjp
def badplus(x):
    return math.log1p(math.exp(x))


def _badplus_bwd(x, g):
    return (g / (1.0 + math.exp(x)),)  # sigmoid(-x): the wrong rule


badplus.defvjp(_softplus_fwd, _badplus_bwd)


def uses_softplus(x):
    return softplus(2.0 * x) * x


def uses_badplus(x):
    return badplus(2.0 * x) * x


def test_custom_rules_are_checked_against_the_body():
    """SymPy translates the body of a function with a custom rule, so the rule itself is
    checked, as finite differences check it."""
    check_sympy(uses_softplus, (0.3,))
    check_grads(uses_softplus, (0.3,))
    with pytest.raises(DerivativeMismatch):
        check_sympy(uses_badplus, (0.3,))
    with pytest.raises(DerivativeMismatch):
        check_grads(uses_badplus, (0.3,))
