"""SciPy (issue 13): s2sad derivatives go straight into scipy.optimize.minimize, jac=True,
hess= and hessp=, on examples/fit_lorenz.py. References: finite differences of the loss (and
the fit SciPy makes on its own finite-difference gradients)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from s2sad.check.fd import numerical_grad, numerical_jacobian

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import fit_lorenz as L

STEPS = 60


@pytest.fixture(scope="module")
def obs():
    return L.observations(STEPS)


@pytest.mark.slow
def test_derivatives_scipy_is_given(obs):
    args = (obs, L.X0, L.DT)
    p = L.START.copy()
    value, g = L.loss_and_grad(p, *args)
    assert value == pytest.approx(L.loss(p, *args), rel=1e-12)
    np.testing.assert_allclose(g, numerical_grad(L.loss, (p, *args)), rtol=1e-6)
    fd_hessian = numerical_jacobian(lambda q: numerical_grad(L.loss, (q, *args), eps=1e-4), (p,),
                                    eps=1e-4)
    np.testing.assert_allclose(L.loss_hessian(p, *args), fd_hessian, rtol=1e-4, atol=1e-4)
    v = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(L.loss_hessp(p, v, *args), fd_hessian @ v, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_minimize_with_jac_hess_and_hessp(obs):
    results = L.main(STEPS, verbose=False)
    reference, _ = results["BFGS, finite differences"]
    assert np.allclose(reference.x, L.TRUE, rtol=0.05)
    for name, (res, _) in results.items():
        assert res.success, (name, res.message)
        np.testing.assert_allclose(res.x, reference.x, rtol=1e-4, err_msg=name)
