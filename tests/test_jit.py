"""jit=True: the same generated derivatives compiled by Numba in nopython mode agree with the
pure-Python backend to 1e-12 on every corpus function Numba can compile, and on those it
cannot compile for want of NumPy signatures (axis reductions)."""

import numpy as np
import pytest

import s2sad
from s2sad.check.fd import rel_error

from corpus import cases

JIT_CASES = [c for c in cases(without_tags=("vector_output", "no_numba"))]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("case", JIT_CASES, ids=lambda c: c.name)
def test_jit_agrees_with_python(case, mode):
    py = s2sad.grad(case.fn, case.argnums, mode=mode)(*case.sample(np.random.default_rng(3)))
    jt = s2sad.grad(case.fn, case.argnums, mode=mode, jit=True)(*case.sample(np.random.default_rng(3)))
    assert rel_error(tuple(jt), tuple(py)) < 1e-12


# functions Numba cannot compile as written (reductions over an axis): their jitted derivatives
# use loop kernels in place of the NumPy calls Numba lacks (backend/kernels.py); float(bool) has
# no kernel
KERNEL_CASES = [c for c in cases(without_tags=("vector_output",)) if not c.numba_ok and c.name != "bool_arith"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("case", KERNEL_CASES, ids=lambda c: c.name)
def test_jit_derivative_of_a_function_numba_cannot_compile(case, mode):
    args = case.sample(np.random.default_rng(4))
    py = s2sad.grad(case.fn, case.argnums, mode=mode)(*args)
    jt = s2sad.grad(case.fn, case.argnums, mode=mode, jit=True)(*args)
    assert rel_error(tuple(jt), tuple(py)) < 1e-12
