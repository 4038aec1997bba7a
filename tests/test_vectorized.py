"""Vectorized NumPy (issue 15): both modes against central finite differences, and the jitted
derivative against the Python one where Numba compiles the function itself.

Numba's in-place array operators do not check shapes (numba/numba#4542), so an adjoint of
the wrong shape that the Python backend refuses with a ValueError can be silently wrong under
``jit=True``: the backends are compared, not only each against the reference."""

from __future__ import annotations

import numpy as np
import pytest

import s2sad
from s2sad.check.fd import numerical_grad, rel_error

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


@pytest.mark.parametrize("f, args", CASES, ids=IDS)
def test_backends_agree(f, args):
    nums = _nums(args)
    py = s2sad.grad(f, nums)(*args)
    jit = s2sad.grad(f, nums, jit=True)(*args)
    for a, b in zip(py, jit):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
