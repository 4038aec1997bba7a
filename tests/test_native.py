"""Jitted derivatives at Numba's speed (issue 12): after the first call of a signature, a call
from Python is one lookup and one call of a generated @njit entry, which returns exactly what
the Python path returns (checked against hand-derived derivatives, types and dtypes included)."""

import numpy as np
import pytest

import s2sad


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
