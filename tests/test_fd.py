"""Tests of the finite-difference reference (s2sad/check/fd.py) against hand-derived derivatives."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2sad.check.fd import (
    STENCILS,
    default_eps,
    numerical_grad,
    numerical_jacobian,
    rel_error,
)

TOL = 1e-9


# ---------------------------------------------------------------- scalar arguments


@pytest.mark.parametrize("x", [-2.5, -1.0, 0.0, 0.3, 2.0, 37.0, 1e4])
def test_cube(x):
    g = numerical_grad(lambda t: t**3, (x,))
    assert isinstance(g, float)
    assert rel_error(g, 3 * x**2) < TOL


@pytest.mark.parametrize("x", [-3.0, -0.7, 0.0, 0.4, 1.5, 10.0])
def test_sin(x):
    assert rel_error(numerical_grad(math.sin, (x,)), math.cos(x)) < TOL


def test_int_scalar_is_differentiated_as_float():
    g = numerical_grad(lambda t: t**3, (2,))
    assert isinstance(g, float)
    assert rel_error(g, 12.0) < TOL


def test_large_magnitude_uses_relative_step():
    x = 1e6
    assert rel_error(numerical_grad(lambda t: t * t, (x,)), 2 * x) < 1e-12
    assert rel_error(numerical_grad(math.log, (x,)), 1 / x) < TOL


@pytest.mark.parametrize("order", sorted(STENCILS))
def test_orders(order):
    x = 0.8
    err = abs(numerical_grad(math.exp, (x,), order=order) - math.exp(x))
    assert err < {2: 1e-9, 4: 1e-11, 6: 1e-11}[order]


def test_explicit_eps_and_bad_order():
    # order 2 with a large step has the predicted h^2/6 f''' truncation error
    x, h = 0.3, 1e-2
    g = numerical_grad(math.exp, (x,), order=2, eps=h)
    assert abs(g - math.exp(x) - h * h / 6 * math.exp(x)) < 1e-8
    assert default_eps(4) == 1e-3
    with pytest.raises(ValueError):
        numerical_grad(math.exp, (x,), order=3)


def test_exact_for_quartic():
    # the 4th-order stencil is exact (up to rounding) on polynomials of degree <= 4
    f = lambda t: 3 * t**4 - 2 * t**3 + t - 5
    x = 1.3
    assert rel_error(numerical_grad(f, (x,), eps=0.1), 12 * x**3 - 6 * x**2 + 1) < 1e-12


@settings(max_examples=50, deadline=None)
@given(
    st.floats(-3, 3),
    st.floats(-3, 3),
    st.floats(-3, 3),
    st.floats(-10, 10),
)
def test_cubic_polynomials(a, b, c, x):
    f = lambda t: a * t**3 + b * t**2 + c * t
    expected = 3 * a * x**2 + 2 * b * x + c
    # rounding error of f(x+kh) is ~ 1e-16 * |f| / h
    scale = 1.0 + abs(a) * abs(x) ** 3 + abs(b) * x * x + abs(c * x)
    assert abs(numerical_grad(f, (x,)) - expected) < 1e-11 * scale * max(1.0, abs(x))


# ---------------------------------------------------------------- array arguments


def test_sin_sum_array():
    x = np.array([-1.2, 0.1, 0.7, 2.5])
    g = numerical_grad(lambda v: np.sum(np.sin(v)), (x,))
    assert isinstance(g, np.ndarray) and g.shape == x.shape and g.dtype == np.float64
    assert rel_error(g, np.cos(x)) < TOL


def test_2d_array_shape():
    m = np.arange(6.0).reshape(2, 3) / 7.0
    g = numerical_grad(lambda a: np.sum(a**3), (m,))
    assert g.shape == (2, 3)
    assert rel_error(g, 3 * m**2) < TOL


def test_float32_array_is_differenced_in_float64():
    x = np.array([0.5, 1.5], dtype=np.float32)
    g = numerical_grad(lambda v: float(np.sum(np.asarray(v, np.float64) ** 2)), (x,))
    assert g.dtype == np.float64
    assert rel_error(g, 2 * x.astype(np.float64)) < TOL


def test_dot_tuple_argnums():
    x = np.array([1.0, -2.0, 0.5])
    y = np.array([0.3, 4.0, -1.5])
    gx, gy = numerical_grad(lambda a, b: np.dot(a, b), (x, y), argnums=(0, 1))
    assert rel_error(gx, y) < TOL
    assert rel_error(gy, x) < TOL
    # a one-element tuple still gives a tuple; negative argnums count from the end
    (gy2,) = numerical_grad(lambda a, b: a @ b, (x, y), argnums=(-1,))
    assert rel_error(gy2, x) < TOL


def test_mixed_scalar_array_argnums():
    def f(s, v, n):
        return s * np.sum(v**2) + n

    s, v = 1.7, np.array([1.0, 2.0, -0.5])
    gs, gv = numerical_grad(f, (s, v, 3), argnums=(0, 1))
    assert isinstance(gs, float)
    assert rel_error(gs, np.sum(v**2)) < TOL
    assert rel_error(gv, 2 * s * v) < TOL


def test_function_mutating_its_input():
    def f(x):
        x[0] = x[0] * 2.0  # writes into the argument
        x *= x  # in place, whole array
        return np.sum(x)  # = 4 x0^2 + x1^2 + x2^2

    x = np.array([0.5, -1.0, 2.0])
    before = x.copy()
    g = numerical_grad(f, (x,))
    assert rel_error(g, np.array([8 * x[0], 2 * x[1], 2 * x[2]])) < TOL
    assert np.array_equal(x, before), "caller's array must not be modified"


def test_function_mutating_a_non_differentiated_array_argument():
    # buf is accumulated into; if it were shared between calls the result would drift
    def f(x, buf):
        buf += x * x
        return np.sum(buf)

    x = np.array([1.0, 2.0])
    buf = np.array([10.0, 20.0])
    g = numerical_grad(f, (x, buf))
    assert rel_error(g, 2 * x) < TOL
    assert np.array_equal(buf, [10.0, 20.0])
    jac = numerical_jacobian(lambda a, b: (f(a, b), b), (x, buf))
    assert rel_error(jac, np.array([2 * x, [2 * x[0], 0], [0, 2 * x[1]]])) < TOL


def test_arrays_inside_lists_are_copied():
    def f(x, bufs):
        bufs[0][0] += x
        return bufs[0][0] * x

    g = numerical_grad(f, (1.5, [np.array([2.0])]))
    assert rel_error(g, 2.0 + 2 * 1.5) < TOL


def test_vector_output_rejected_by_grad():
    with pytest.raises(ValueError):
        numerical_grad(lambda v: v * 2, (np.ones(3),))
    with pytest.raises(ValueError):
        numerical_grad(lambda v: (v[0], v[1]), (np.ones(3),))


@pytest.mark.parametrize("bad", [True, "x", [1.0, 2.0], np.array([True, False])])
def test_bad_argument_types(bad):
    with pytest.raises(TypeError):
        numerical_grad(lambda v: 1.0, (bad,))


def test_argnum_out_of_range():
    with pytest.raises(ValueError):
        numerical_grad(lambda a: a, (1.0,), argnums=1)


# ---------------------------------------------------------------- jacobians


def test_jacobian_array_output():
    x = np.array([0.2, -0.4, 1.1])
    jac = numerical_jacobian(np.sin, (x,))
    assert jac.shape == (3, 3)
    assert rel_error(jac, np.diag(np.cos(x))) < TOL
    # entries not depending on the input are exactly zero
    assert np.all(jac[~np.eye(3, dtype=bool)] == 0.0)


def test_jacobian_2d_output_2d_input():
    a = np.array([[1.0, 2.0], [0.5, -1.0]])
    jac = numerical_jacobian(lambda m: m.T @ m, (a,))
    assert jac.shape == (2, 2, 2, 2)
    expected = np.zeros((2, 2, 2, 2))
    for i in range(2):
        for j in range(2):
            for k in range(2):
                for l in range(2):
                    # d(sum_r a[r,i] a[r,j]) / d a[k,l]
                    expected[i, j, k, l] = (l == i) * a[k, j] + (l == j) * a[k, i]
    assert rel_error(jac, expected) < TOL


def test_jacobian_tuple_output_scalar_input():
    jac = numerical_jacobian(lambda t: (t * t, np.array([math.sin(t), 3 * t])), (0.7,))
    assert jac.shape == (3,)
    assert rel_error(jac, np.array([1.4, math.cos(0.7), 3.0])) < TOL


def test_jacobian_tuple_argnums_and_scalar_output():
    def f(a, b):
        return np.array([a[0] * b, a[1] + b * b])

    a, b = np.array([2.0, 3.0]), 0.5
    ja, jb = numerical_jacobian(f, (a, b), argnums=(0, 1))
    assert ja.shape == (2, 2) and jb.shape == (2,)
    assert rel_error(ja, np.array([[b, 0.0], [0.0, 1.0]])) < TOL
    assert rel_error(jb, np.array([a[0], 2 * b])) < TOL
    # scalar output, array input: shape () + (2,)
    assert numerical_jacobian(lambda v: v[0] * v[1], (a,)).shape == (2,)


def test_jacobian_output_shape_change_detected():
    def f(x):
        return np.ones(3) if x > 0.0 else np.ones(2)

    with pytest.raises(ValueError):
        numerical_jacobian(f, (0.0,))


# ---------------------------------------------------------------- rel_error


def test_rel_error():
    assert rel_error(1.0, 1.0) == 0.0
    assert rel_error(1.5, 1.0) == pytest.approx(0.5)  # absolute below 1
    assert rel_error(0.001, 0.0) == pytest.approx(0.001)
    assert rel_error(110.0, 100.0) == pytest.approx(0.1)  # relative above 1
    assert rel_error(np.array([1.0, 101.0]), np.array([1.0, 100.0])) == pytest.approx(0.01)
    assert rel_error((1.0, np.array([2.0, 3.5])), (1.0, np.array([2.0, 3.0]))) == pytest.approx(0.5 / 3)
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0
    assert rel_error(np.inf, np.inf) == 0.0
    assert rel_error(1.0, np.inf) == np.inf
    assert rel_error(np.nan, 1.0) == np.inf
    assert rel_error(np.array([1.0, np.nan]), np.array([1.0, np.nan])) == np.inf
    with pytest.raises(ValueError):
        rel_error(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError):
        rel_error((1.0, 2.0), 1.0)
