"""Vectorized NumPy (issue 15): both modes against central finite differences, and the jitted
derivative (whose NumPy calls Numba lacks are loop kernels, backend/kernels.py) against the
Python one and against finite differences, on every case.

Numba's in-place array operators do not check shapes (numba/numba#4542), so an adjoint of
the wrong shape that the Python backend refuses with a ValueError can be silently wrong under
``jit=True``: the backends are compared, not only each against the reference."""

from __future__ import annotations

import numpy as np
import pytest

import s2sad
from s2sad.check.fd import numerical_grad, numerical_jacobian, rel_error

import vectorized_cases as V

CASES = list(V.CASES.items())
IDS = [f.__name__ for f, _ in CASES]

def _nums(args):
    return tuple(k for k, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f")


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("f, args", CASES, ids=IDS)
def test_vectorized_matches_finite_differences(f, args, mode):
    nums = _nums(args)
    got = s2sad.grad(f, nums, mode=mode)(*args)
    want = numerical_grad(f, args, nums)
    assert rel_error(got, want) < 1e-6, (f.__name__, mode, got, want)


@pytest.mark.parametrize("f, args", CASES, ids=IDS)
def test_vectorized_jacobians_by_vector_forward_mode(f, args):
    nums = _nums(args)
    j = s2sad.jacfwd(f, nums)
    got = j(*args)
    assert "_jvp_batched" in s2sad.source(j), "jacfwd fell back to one sweep per direction"
    assert rel_error(got, numerical_grad(f, args, nums)) < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("f, args", CASES, ids=IDS)
def test_backends_agree(f, args):
    nums = _nums(args)
    py = s2sad.grad(f, nums)(*args)
    jit = s2sad.grad(f, nums, jit=True)(*args)
    for a, b in zip(py, jit):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    assert rel_error(jit, numerical_grad(f, args, nums)) < 1e-6


# ---------------------------------------------------------------- Jacobians and Hessians


def layer_norm_rows(x, gamma):
    mu = np.mean(x, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(np.var(x, axis=-1, keepdims=True) + 1e-5) * gamma


def softmax_rows(z):
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def heads(x, wq):
    return np.tanh(np.matmul(x[None], wq))


JACOBIAN_CASES = [(layer_norm_rows, (V.X34, 1.0 + 0.1 * np.arange(4.0)), 0),
                  (softmax_rows, (np.sin(np.arange(12.0)).reshape(3, 4),), 0),
                  (heads, (np.cos(np.arange(8.0)).reshape(4, 2), np.sin(np.arange(12.0)).reshape(2, 2, 3)), 1)]


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
@pytest.mark.parametrize("f, args, k", JACOBIAN_CASES, ids=[c[0].__name__ for c in JACOBIAN_CASES])
def test_jacobians_of_array_outputs(f, args, k, transform):
    got = getattr(s2sad, transform)(f, k)(*args)
    want = numerical_jacobian(f, args, k)
    assert got.shape == np.shape(f(*args)) + args[k].shape
    assert rel_error(got.ravel(), np.ravel(want)) < 1e-7


@pytest.mark.slow
@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_jitted_jacobians_of_array_outputs(transform):
    for f, args, k in JACOBIAN_CASES:
        got = getattr(s2sad, transform)(f, k, jit=True)(*args)
        assert rel_error(got, getattr(s2sad, transform)(f, k)(*args)) < 1e-12, f.__name__


def _fd_hessian(f, args, k):
    """Central differences of central differences: no s2sad derivative in the reference."""
    def grad_k(x):
        return numerical_grad(f, args[:k] + (x,) + args[k + 1:], k)
    return numerical_jacobian(grad_k, (args[k],), 0, order=2, eps=1e-4)


HESSIAN_CASES = ["log_softmax_xent", "layer_norm", "mlp_softmax_head", "einsum_forms"]


@pytest.mark.parametrize("name", HESSIAN_CASES)
def test_hessians(name):
    f, args = next((f, a) for f, a in CASES if f.__name__ == name)
    H = s2sad.hessian(f, 0)(*args)
    want = np.reshape(_fd_hessian(f, args, 0), H.shape)
    assert rel_error(H, want) < 1e-5
    assert np.allclose(H.reshape(args[0].size, -1), H.reshape(args[0].size, -1).T, rtol=1e-10, atol=1e-12)


def _max_over_two_axes(t):
    return np.sum(np.max(t, axis=(0, 2)))


def test_reduction_over_a_tuple_of_axes_other_than_sum_is_refused_at_its_line():
    from s2sad.errors import TypeInferenceError
    with pytest.raises(TypeInferenceError, match=r"test_vectorized\.py:\d+:\d+.*one axis at a time"):
        s2sad.grad(_max_over_two_axes)(np.ones((2, 3, 4)))
