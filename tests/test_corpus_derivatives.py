"""Every corpus function, differentiated in reverse and forward mode, against 4th-order
central finite differences in float64 at random points drawn by hypothesis."""

import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

import s2sad
from s2sad.check.fd import numerical_grad, rel_error

from corpus import cases

SCALAR = [c for c in cases(without_tags=("vector_output",))]

# Derivative objects are shared across examples: each specialises once per signature.
_derivs = {}


def derivative(case, mode):
    key = (case.name, mode)
    if key not in _derivs:
        _derivs[key] = s2sad.grad(case.fn, case.argnums, mode=mode)
    return _derivs[key]


def check_case(case, mode, seed):
    rng = np.random.default_rng(seed)
    args = case.sample(rng)
    got = derivative(case, mode)(*case.sample(np.random.default_rng(seed)))
    want = numerical_grad(case.fn, args, case.argnums)
    err = rel_error(tuple(got), tuple(want))
    assert err < 1e-6, f"{case.name} ({mode}): rel error {err:.2e}\n got {got}\nwant {want}"


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("case", SCALAR, ids=lambda c: c.name)
@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_gradient_matches_finite_differences(case, mode, seed):
    check_case(case, mode, seed)


VECTOR = [c for c in cases(with_tags=("vector_output",))]


def _flat(x):
    if isinstance(x, tuple):
        return np.concatenate([_flat(v) for v in x])
    return np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel()


def _unflat(v, like):
    if isinstance(like, tuple):
        out, k = [], 0
        for item in like:
            n = np.size(item)
            out.append(_unflat(v[k:k + n], item))
            k += n
        return tuple(out)
    if isinstance(like, np.ndarray):
        return v.reshape(like.shape)
    return float(v[0])


@pytest.mark.parametrize("case", VECTOR, ids=lambda c: c.name)
def test_jvp_and_vjp_match_jacobian(case):
    from s2sad.check.fd import numerical_jacobian
    rng = np.random.default_rng(7)
    args = case.sample(rng)
    nums = case.argnums
    out = case.fn(*case.sample(np.random.default_rng(7)))
    jacs = numerical_jacobian(case.fn, args, nums)
    jacs = jacs if isinstance(jacs, tuple) and len(nums) > 1 else (jacs,)
    m = _flat(out).size
    J = np.concatenate([np.asarray(j).reshape(m, -1) for j in jacs], axis=1)
    # jvp: tangents on the differentiated arguments, zero elsewhere
    tangents = []
    tvec = []
    for k, a in enumerate(args):
        if k in nums:
            t = rng.standard_normal(np.shape(a)) if isinstance(a, np.ndarray) else float(rng.standard_normal())
            tvec.append(np.ravel(t))
        else:
            t = np.zeros_like(a) if isinstance(a, np.ndarray) else 0.0
        tangents.append(t)
    primals = case.sample(np.random.default_rng(7))
    y, ydot = s2sad.jvp(case.fn, primals, tuple(tangents))
    assert rel_error(_flat(ydot), J @ np.concatenate(tvec)) < 1e-6
    # vjp: a random cotangent
    ct_vec = rng.standard_normal(m)
    y2, f_vjp = s2sad.vjp(case.fn, *case.sample(np.random.default_rng(7)))
    cts = f_vjp(_unflat(ct_vec, y2))
    got = np.concatenate([np.ravel(cts[k]) for k in nums])
    assert rel_error(got, ct_vec @ J) < 1e-6
