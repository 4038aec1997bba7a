"""Reverse mode's reversed loops run forward where their iterations commute
(analysis/commute.py, backend/tidy.run_forward), and costly primitives (exp, log, ...) are
recorded rather than called again in the reverse sweep (Rule.costly). Every gradient is compared
with central finite differences in float64, in the Python backend and under Numba (CI runs the
jitted ones with NUMBA_BOUNDSCHECK=1), at loop sizes of hundreds; the generated source is read
to see which loops run forward."""

import re

import numpy as np
import pytest

import s2sad
from s2sad.check.fd import numerical_grad, rel_error

import order_cases as C

BACKENDS = [pytest.param(False, id="python"), pytest.param(True, id="jit", marks=pytest.mark.slow)]


def _rng(seed):
    return np.random.default_rng(seed)


def _reverse_sweep(src, name):
    """The reverse sweep of the generated function ``name``, comments dropped."""
    body = src.split(f"def {name}(")[1].split("\ndef ")[0]
    rev = body.split("-- reverse sweep --")[1]
    return "\n".join(line for line in rev.splitlines() if not line.strip().startswith("#"))


def _backward_loops(code):
    """The loops of ``code`` that count down."""
    return re.findall(r"for \w+ in range\([^\n]*, -1\):", code)


# (function, arguments, argnums, whether every reversed loop runs forward)
CASES = [
    (C.chained_squares, lambda: (_rng(1).normal(size=300) * 0.5,), 0, False),
    (C.scaled_sum, lambda: (_rng(2).normal(size=250), 0.7), (0, 1), True),
    (C.hinge, lambda: (_rng(3).normal(size=300),), 0, True),
    (C.strided, lambda: (_rng(4).normal(size=301), _rng(9).normal(size=301)), 0, True),
    (C.recurrence, lambda: (_rng(5).normal(size=200) * 0.3,), 0, False),
    (C.prefix_products, lambda: (1.0 + 0.01 * _rng(6).normal(size=200),), 0, False),
]


@pytest.mark.parametrize("jit", BACKENDS)
@pytest.mark.parametrize("f, make, argnums, forward", CASES, ids=[c[0].__name__ for c in CASES])
def test_reversed_loops_against_finite_differences(f, make, argnums, forward, jit):
    args = make()
    g = s2sad.grad(f, argnums=argnums, jit=jit)
    got = g(*args)
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    want = numerical_grad(f, args, nums)
    got = got if isinstance(argnums, tuple) else (got,)
    for a, b in zip(got, want):
        assert rel_error(a, b) < 1e-7
    rev = _reverse_sweep(s2sad.source(g), f.__name__ + "_vjp")
    assert "for " in rev
    assert (not _backward_loops(rev)) == forward, rev


def test_hinge_runs_forward_with_its_branch():
    g = s2sad.grad(C.hinge)
    rev = _reverse_sweep(s2sad.source(g, np.linspace(-1.0, 1.0, 9)), "hinge_vjp")
    assert "for i in range(_n):" in rev and "if " in rev


def test_prefix_products_keeps_the_loop_that_reads_adjoints_backwards():
    """The product loop reads a_bar[i] and adds into a_bar[i - 1]: backwards; the sum of
    squares after it only adds into a_bar: forward."""
    g = s2sad.grad(C.prefix_products)
    rev = _reverse_sweep(s2sad.source(g, np.linspace(0.9, 1.1, 9)), "prefix_products_vjp")
    assert len(_backward_loops(rev)) == 1
    assert re.search(r"for i in range\(_n\w*\):", rev)


@pytest.mark.parametrize("jit", BACKENDS)
def test_exp_and_log_recorded_not_called_again(jit):
    """exp's result is read by the reverse sweep (its own partial, e * e's): recorded; log's
    partial reads only its argument (recomputed from the recorded e)."""
    rng = _rng(7)
    args = (np.array([0.3, -0.4]), rng.normal(size=(300, 2)))
    g = s2sad.grad(C.exp_weights, jit=jit)
    assert rel_error(g(*args), numerical_grad(C.exp_weights, args, (0,))[0]) < 1e-7
    rev = _reverse_sweep(s2sad.source(g), "exp_weights_vjp")
    assert "math.exp" not in rev and "math.log" not in rev


@pytest.mark.parametrize("jit", BACKENDS)
def test_logsumexp_rows(jit):
    X = _rng(8).normal(size=(200, 25)) * 3.0
    g = s2sad.grad(C.lse_rows, jit=jit)
    assert rel_error(g(X), numerical_grad(C.lse_rows, (X,), (0,))[0]) < 1e-7
    rev = _reverse_sweep(s2sad.source(g), "lse_rows_vjp")
    assert "math.exp" not in rev


def test_costly_rules_are_the_transcendentals():
    from s2sad.primitives import RULES

    for name in ("math.exp", "np.exp", "math.log", "math.sin", "math.tanh", "math.lgamma", "math.pow"):
        assert RULES[name].costly, name
    for name in ("math.sqrt", "math.fabs", "abs", "np.add", "np.multiply", "**"):
        assert not RULES[name].costly, name
