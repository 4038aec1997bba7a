"""Jitted derivatives at Numba's speed (issue 12): after the first call of a signature, a call
from Python is one lookup and one call of a generated @njit entry, which returns exactly what
the Python path returns (checked against hand-derived derivatives, types and dtypes included)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import s2sad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scalar_f(x, k):
    return k * x * x * x + np.sin(x)


def scalar_df(x, k):  # by hand
    return 3.0 * k * x * x + np.cos(x)


def vec_f(x, w):
    s = 0.0
    for i in range(x.shape[0]):
        s += w * x[i] * x[i] + np.exp(0.1 * x[i])
    return s


def vec_df(x, w):
    return 2.0 * w * x + 0.1 * np.exp(0.1 * x)


G_SCALAR = s2sad.grad(scalar_f, jit=True)
G_VEC = s2sad.grad(vec_f, jit=True)
VG_BOTH = s2sad.value_and_grad(vec_f, argnums=(0, 1), jit=True)


def _compiled_entry(g, *args):
    from s2sad.backend.entry import _FirstCall
    e = g._entries.table[g._entries.key(args)][0]
    return not isinstance(e, _FirstCall)


@pytest.mark.parametrize("x", [0.3, np.float64(-1.2)])
def test_scalar(x):
    want = scalar_df(x, 2.0)
    for _ in range(3):
        got = G_SCALAR(x, 2.0)
        assert type(got) is float and got == pytest.approx(want, rel=1e-14)
    assert _compiled_entry(G_SCALAR, x, 2.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_array_shape_dtype(dtype):
    x = np.linspace(-1.0, 1.0, 4).astype(dtype)
    want = vec_df(x.astype(np.float64), 0.5)
    for _ in range(3):
        got = G_VEC(x, 0.5)
        assert type(got) is np.ndarray and got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=1e-14 if dtype == np.float64 else 1e-6)
    assert _compiled_entry(G_VEC, x, 0.5)


def test_value_and_grad_tuple_and_signature_switch():
    x = np.array([0.5, -0.25, 2.0])
    for w in (0.5, 1.5, 0.5):
        v, (gx, gw) = VG_BOTH(x, w)
        assert type(v) is float and v == pytest.approx(vec_f(x, w), rel=1e-14)
        np.testing.assert_allclose(gx, vec_df(x, w), rtol=1e-14)
        assert type(gw) is float and gw == pytest.approx(np.sum(x * x), rel=1e-14)
    assert _compiled_entry(VG_BOTH, x, 0.5)
    # another signature (a non-contiguous array): its own entry, the same answers
    xs = np.array([0.5, 9.0, -0.25, 9.0, 2.0, 9.0])[::2]
    for _ in range(2):
        v, (gx, gw) = VG_BOTH(xs, 0.5)
        np.testing.assert_allclose(gx, vec_df(x, 0.5), rtol=1e-14)
    assert len(VG_BOTH._entries.table) == 2


def test_keywords_use_the_entry():
    x = np.array([0.5, -0.25])
    G_VEC(x, 2.0)
    np.testing.assert_allclose(G_VEC(w=2.0, x=x), vec_df(x, 2.0), rtol=1e-14)
    assert _compiled_entry(G_VEC, x, 2.0)


def test_source_follows_the_last_signature():
    G_SCALAR(0.3, 2.0)
    G_SCALAR(0.3, 2.0)
    assert "scalar_f" in s2sad.source(G_SCALAR)


# ------------------------------------------------------------------ inside @njit code

numba = pytest.importorskip("numba")


def quad_loss(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += (i + 1.0) * (x[i] - 1.0) ** 2 + 0.1 * x[i] ** 4
    return s


def quad_grad(x):  # by hand
    return 2.0 * np.arange(1.0, x.shape[0] + 1.0) * (x - 1.0) + 0.4 * x ** 3


@numba.njit
def cube_njit(x, k):
    return k * np.sum(x ** 3)


G_QUAD = s2sad.grad(quad_loss, jit=True)
VG_QUAD = s2sad.value_and_grad(quad_loss, jit=True)
G_CUBE = s2sad.grad(cube_njit, argnums=(0, 1))  # the derivative of an @njit function


@numba.njit
def descend(x, lr, steps):
    for _ in range(steps):
        x = x - lr * G_QUAD(x)
    return x


@numba.njit
def value_and_grad_inside(x):
    return VG_QUAD(x)


@numba.njit
def grad_of_njit_inside(x, k):
    return G_CUBE(x, k)


@numba.njit
def jvp_inside(x, k, v):
    return s2sad.jvp(cube_njit, (x, k), (v, 0.5))


@numba.njit
def hvp_inside(x, v):  # forward over reverse: a Hessian-vector product
    return s2sad.jvp(G_QUAD, (x,), (v,))


@numba.njit
def passed_in(g, x):
    return g(x)


X4 = np.array([0.5, -1.0, 2.0, 1.5])


def test_grad_in_a_loop_inside_njit():
    x = X4.copy()
    want = X4.copy()
    for _ in range(20):
        want = want - 0.01 * quad_grad(want)
    np.testing.assert_allclose(descend(x, 0.01, 20), want, rtol=1e-13)
    np.testing.assert_array_equal(x, X4)  # not written into
    np.testing.assert_allclose(passed_in(G_QUAD, X4), quad_grad(X4), rtol=1e-14)


def test_value_and_grad_inside_njit_equals_python():
    v, g = value_and_grad_inside(X4)
    pv, pg = VG_QUAD(X4)
    assert v == pv and type(v) is float
    np.testing.assert_array_equal(g, pg)
    np.testing.assert_allclose(g, quad_grad(X4), rtol=1e-14)


def test_derivative_of_an_njit_function_inside_njit():
    gx, gk = grad_of_njit_inside(X4, 2.0)
    px, pk = G_CUBE(X4, 2.0)
    np.testing.assert_array_equal(gx, px)
    assert gk == pk
    np.testing.assert_allclose(gx, 6.0 * X4 ** 2, rtol=1e-14)
    assert gk == pytest.approx(np.sum(X4 ** 3), rel=1e-14)


def test_jvp_inside_njit():
    v = np.array([1.0, 0.0, -1.0, 2.0])
    out, dout = jvp_inside(X4, 2.0, v)
    pout, pdout = s2sad.jvp(cube_njit, (X4, 2.0), (v, 0.5))
    assert (out, dout) == (pout, pdout)
    assert dout == pytest.approx(6.0 * np.sum(X4 ** 2 * v) + 0.5 * np.sum(X4 ** 3), rel=1e-14)


def test_hessian_vector_product_inside_njit():
    v = np.array([1.0, 0.0, -1.0, 2.0])
    g, hv = hvp_inside(X4, v)
    np.testing.assert_allclose(g, quad_grad(X4), rtol=1e-14)
    H = np.diag(2.0 * np.arange(1.0, 5.0) + 1.2 * X4 ** 2)  # by hand
    np.testing.assert_allclose(hv, H @ v, rtol=1e-14)


def test_refusal_inside_njit_is_a_typing_error():
    @numba.njit
    def bad(n):
        return G_QUAD(n)
    with pytest.raises(numba.core.errors.TypingError, match="quad_loss"):
        bad(3)


def field(x, k):
    return k * np.sin(x)


def cubic(x):
    return x ** 3


H_QUAD = s2sad.hessian(quad_loss, jit=True)
H_CUBIC = s2sad.hessian(cubic, jit=True)
J_FIELD = s2sad.jacfwd(field, jit=True)


@numba.njit
def jacobians_inside(x, k, s):
    return H_QUAD(x), J_FIELD(x, k), H_CUBIC(s)


def test_hessian_and_jacfwd_inside_njit():
    h, j, hs = jacobians_inside(X4, 2.0, 1.5)
    np.testing.assert_allclose(h, np.diag(2.0 * np.arange(1.0, 5.0) + 1.2 * X4 ** 2), rtol=1e-14)
    np.testing.assert_allclose(j, np.diag(2.0 * np.cos(X4)), rtol=1e-14)
    assert hs == pytest.approx(9.0, rel=1e-14) and type(hs) is float
    np.testing.assert_array_equal(h, H_QUAD(X4))
    np.testing.assert_array_equal(j, J_FIELD(X4, 2.0))
    assert hs == H_CUBIC(1.5)


CACHED_CALLER = """
import numba, numpy as np, s2sad


def loss(x):
    return np.sum(np.sin(x) * x)


g = s2sad.grad(loss, jit=True)


@numba.njit(cache=True)
def use(x):
    return 2.0 * g(x)
"""


@pytest.mark.slow
def test_cached_njit_caller_loads_in_a_new_process(tmp_path):
    """Numba's cache of a user's @njit(cache=True) function that calls a derivative names the
    generated modules it links; a new process (even with another s2sad cache) loads it."""
    (tmp_path / "user_mod.py").write_text(CACHED_CALLER)
    code = ("import numpy as np, user_mod\n"
            "x = np.array([0.5, 1.0, 2.0])\n"
            "print(','.join(map(repr, user_mod.use(x).tolist())), user_mod.use.stats.cache_hits.total())\n")
    x = np.array([0.5, 1.0, 2.0])
    want = 2.0 * (np.cos(x) * x + np.sin(x))  # by hand
    hits = []
    for cache in ("a", "a", "b"):
        env = {**os.environ, "S2SAD_CACHE_DIR": str(tmp_path / cache),
               "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=False)
        assert p.returncode == 0, p.stderr[-2000:]
        values, hit = p.stdout.split()
        np.testing.assert_allclose([float(v) for v in values.split(",")], want, rtol=1e-14)
        hits.append(hit)
    assert hits == ["0", "1", "1"]  # compiled, then loaded from Numba's cache


# ------------------------------------------------------------------ more derivative objects


def mixed(x, k):
    """An array output: y_i = k * x_i**2 + sin(x_{i+1 mod n}) (Jacobian by hand below)."""
    n = x.shape[0]
    y = np.zeros(n)
    for i in range(n):
        y[i] = k * x[i] * x[i] + np.sin(x[(i + 1) % n])
    return y


def mixed_jac_x(x, k):
    n = x.shape[0]
    J = np.diag(2.0 * k * x)
    for i in range(n):
        J[i, (i + 1) % n] += np.cos(x[(i + 1) % n])
    return J


def mixed_jac_k(x, k):
    return x * x


JR_MIXED = s2sad.jacrev(mixed, jit=True)
JF_BOTH = s2sad.jacfwd(mixed, argnums=(0, 1), jit=True)
JAC_AUTO = s2sad.jacobian(mixed, jit=True)
JAC_REV = s2sad.jacobian(mixed, mode="reverse", jit=True)
JAC_K = s2sad.jacobian(mixed, argnums=1, jit=True)  # 1 input < n outputs: forward mode
JR_QUAD = s2sad.jacrev(quad_loss, jit=True)  # a scalar output: the gradient


@numba.njit
def jacobians_more_inside(x, k):
    return JR_MIXED(x, k), JF_BOTH(x, k), JAC_AUTO(x, k), JAC_REV(x, k), JAC_K(x, k), JR_QUAD(x)


def test_jacrev_jacobian_and_multi_argnums_jacfwd_inside_njit():
    x = np.array([0.3, -0.7, 1.1, 0.5, 2.0])
    jr, (jfx, jfk), ja, jrev, jk, g = jacobians_more_inside(x, 1.5)
    want = mixed_jac_x(x, 1.5)
    for got in (jr, jfx, ja, jrev):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(jfk, mixed_jac_k(x, 1.5), rtol=1e-14)
    np.testing.assert_allclose(jk, mixed_jac_k(x, 1.5), rtol=1e-14)
    np.testing.assert_allclose(g, quad_grad(x), rtol=1e-14)
    # the same as the Python-side calls
    np.testing.assert_array_equal(jr, JR_MIXED(x, 1.5))
    pfx, pfk = JF_BOTH(x, 1.5)
    np.testing.assert_array_equal(jfx, pfx)
    np.testing.assert_array_equal(jfk, pfk)
    np.testing.assert_array_equal(ja, JAC_AUTO(x, 1.5))
    np.testing.assert_array_equal(jrev, JAC_REV(x, 1.5))
    np.testing.assert_array_equal(jk, JAC_K(x, 1.5))
    np.testing.assert_array_equal(g, JR_QUAD(x))


def test_jacobian_auto_chooses_per_call_inside_njit():
    """More inputs than outputs: reverse mode, as from Python (a scalar output)."""
    ja = s2sad.jacobian(quad_loss, jit=True)

    @numba.njit
    def inside(x):
        return ja(x)
    np.testing.assert_allclose(inside(X4), quad_grad(X4), rtol=1e-14)
    np.testing.assert_array_equal(inside(X4), ja(X4))
    assert ja.chosen == "reverse"


X5 = np.array([0.3, -0.7, 1.1, 0.5, 2.0])
_OUT, VJP_MIXED = s2sad.vjp(mixed, X5, 1.5, jit=True)
_, VJP_QUAD = s2sad.vjp(quad_loss, X4, jit=True)


@numba.njit
def vjp_global_inside(ct):
    return VJP_MIXED(ct)


@numba.njit
def vjp_passed_in(f, ct):
    return f(ct)


def test_vjp_function_inside_njit():
    ct = np.array([1.0, -2.0, 0.5, 3.0, 0.25])
    gx, gk = vjp_global_inside(ct)
    px, pk = VJP_MIXED(ct)
    np.testing.assert_array_equal(gx, px)
    assert gk == pk and type(gk) is float
    np.testing.assert_allclose(gx, mixed_jac_x(X5, 1.5).T @ ct, rtol=1e-14)
    assert gk == pytest.approx(mixed_jac_k(X5, 1.5) @ ct, rel=1e-14)
    gx2, gk2 = vjp_passed_in(VJP_MIXED, ct)
    np.testing.assert_array_equal(gx2, px)
    assert gk2 == pk
    (gq,) = vjp_passed_in(VJP_QUAD, 2.0)
    np.testing.assert_allclose(gq, 2.0 * quad_grad(X4), rtol=1e-14)
    np.testing.assert_array_equal(gq, VJP_QUAD(2.0)[0])
    # another vjp function of the same function and types: its own primals
    _, other = s2sad.vjp(mixed, X5 + 1.0, 0.5, jit=True)
    ox, ok = vjp_passed_in(other, ct)
    np.testing.assert_allclose(ox, mixed_jac_x(X5 + 1.0, 0.5).T @ ct, rtol=1e-14)
    assert ok == pytest.approx(mixed_jac_k(X5 + 1.0, 0.5) @ ct, rel=1e-14)
    with pytest.raises(ValueError, match="shape"):
        vjp_passed_in(VJP_MIXED, np.ones(3))


LOSS_MODULE = """
import numpy as np


def loss(x):
    return np.sum({body})
"""

ARG_CALLER = """
import numba, numpy as np, s2sad
import loss_mod


@numba.njit(cache=True)
def use(g, x):
    return 2.0 * g(x){item}


g = s2sad.{make}
"""


@pytest.mark.slow
@pytest.mark.parametrize("make", ["grad(loss_mod.loss, jit=True)",
                                  "vjp(loss_mod.loss, np.array([0.5, 1.0, 2.0]), jit=True)[1]"])
def test_cached_njit_caller_of_a_derivative_argument_is_found_again(tmp_path, make):
    """A user's @njit(cache=True) function taking a derivative as an argument: one cache entry,
    found by every later process; an edited function (in another file) is a new type, so the
    caller is compiled again for it, never loaded with the old derivative compiled in."""
    is_grad = make.startswith("grad")
    (tmp_path / "user_mod.py").write_text(ARG_CALLER.format(make=make, item="" if is_grad else "[0]"))
    call = "user_mod.use(user_mod.g, x)" if is_grad else "user_mod.use(user_mod.g, 1.0)"
    code = ("import numpy as np, user_mod\n"
            "x = np.array([0.5, 1.0, 2.0])\n"
            f"r = {call}\n"
            "s = user_mod.use.stats\n"
            "print(','.join(map(repr, r.tolist())), s.cache_hits.total(), s.cache_misses.total())\n")
    x = np.array([0.5, 1.0, 2.0])
    runs = []
    for body, want in [("np.sin(x) * x", 2.0 * (np.cos(x) * x + np.sin(x))),
                       ("np.sin(x) * x", 2.0 * (np.cos(x) * x + np.sin(x))),
                       ("np.sin(x) * x", 2.0 * (np.cos(x) * x + np.sin(x))),
                       ("x ** 3", 6.0 * x ** 2), ("x ** 3", 6.0 * x ** 2)]:
        (tmp_path / "loss_mod.py").write_text(LOSS_MODULE.format(body=body))
        env = {**os.environ, "S2SAD_CACHE_DIR": str(tmp_path / "cache"), "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=False)
        assert p.returncode == 0, p.stderr[-2000:]
        values, hits, misses = p.stdout.split()
        np.testing.assert_allclose([float(v) for v in values.split(",")], want, rtol=1e-14)
        runs.append((hits, misses))
    assert runs == [("0", "1"), ("1", "0"), ("1", "0"), ("0", "1"), ("1", "0")]
    index = list((tmp_path / "__pycache__").glob("user_mod.use-*.nbi"))
    assert len(index) == 1


# ------------------------------------------------------------------ the form Numba compiles fast


def row_sums(A, w):
    """sum_i w_i * sum(sin(A[i])) + sum(A[0:2, :] ** 2): adjoints accumulated into rows and
    slices of A_bar."""
    s = 0.0
    for i in range(A.shape[0]):
        s += w[i] * np.sum(np.sin(A[i]))
    return s + np.sum(A[0:2, :] ** 2)


def row_sums_grad_A(A, w):  # by hand
    G = w[:, None] * np.cos(A)
    G[0:2, :] += 2.0 * A[0:2, :]
    return G


def test_row_updates_through_views_in_jitted_code_only():
    rng = np.random.default_rng(7)
    A, w = rng.standard_normal((5, 4)), rng.standard_normal(5)
    g_jit = s2sad.grad(row_sums, jit=True)
    g_py = s2sad.grad(row_sums)
    for A_ in (A, A.astype(np.float32)):
        got = g_jit(A_, w)
        np.testing.assert_allclose(got, row_sums_grad_A(A_.astype(np.float64), w),
                                   rtol=1e-13 if A_.dtype == np.float64 else 1e-5)
        assert got.dtype == A_.dtype
        np.testing.assert_allclose(got, g_py(A_, w), rtol=1e-13 if A_.dtype == np.float64 else 1e-5)
    jit_src, py_src = s2sad.source(g_jit, A, w), s2sad.source(g_py, A, w)
    import re
    assert re.search(r"(_row\d*) = A_bar\[i\]\n\s*\1 \+= ", jit_src) and "A_bar[i] +=" not in jit_src
    assert "A_bar[i] +=" in py_src and "_row" not in py_src


def _row_plus(a, b):
    c = a * 1.0
    c[0] += b
    return np.sum(c * c)


def _whole_plus(a, b):
    c = a * 1.0
    c += b * 2.0
    return np.sum(c * c)


def _new_axis_minus(a, b):
    c = a * 1.0
    c[:, None] -= b
    return np.sum(c * c * c)


@pytest.mark.parametrize("f, a_shape, good_b, bad_bs", [
    (_row_plus, (4, 3), (3,), [(4,), (2,), (1, 3), (2, 3)]),
    (_whole_plus, (4, 3), (3,), [(4,), (2, 3), (1, 4)]),
    (_new_axis_minus, (4,), (4, 1), [(4, 2), (3, 1), (2, 4, 1)]),
])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_in_place_updates_of_user_arrays_are_shape_checked_under_jit(f, a_shape, good_b, bad_bs, mode):
    """Numba does not check an in-place update's shapes (numba#4542): `c[0] += b` with b one
    longer than the row reads past what NumPy would refuse. The jitted derivative raises
    ValueError where the function itself (and the Python backend) raises, and matches central
    finite differences where the shapes broadcast."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(good_b)
    d = s2sad.grad(f, jit=True) if mode == "reverse" else s2sad.jacfwd(f, jit=True)
    h = 1e-6
    fd = np.array([(f(a + h * e, b) - f(a - h * e, b)) / (2 * h)
                   for e in np.eye(a.size).reshape((a.size,) + a.shape)]).reshape(a.shape)
    np.testing.assert_allclose(d(a, b), fd, rtol=1e-6, atol=1e-8)
    for shape in bad_bs:
        bad = rng.standard_normal(shape)
        with pytest.raises(ValueError):
            f(a, bad)
        with pytest.raises(ValueError):
            s2sad.grad(f)(a, bad)
        with pytest.raises(ValueError, match="broadcast"):
            d(a, bad)
