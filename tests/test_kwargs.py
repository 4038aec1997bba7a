"""Keyword arguments in calls of derivative objects (issue 12), bound as Python binds them:
by name, defaults for the parameters left out; checked against hand-derived derivatives."""

import numpy as np
import pytest

import s2sad


def energy(x, scale=2.0, shift=0.5):
    s = 0.0
    for i in range(x.shape[0]):
        s += scale * (x[i] - shift) ** 2
    return s


def energy_grad(x, scale=2.0, shift=0.5):  # by hand
    return 2.0 * scale * (x - shift)


def field(x, scale=2.0):
    return scale * np.sin(x)


X = np.array([0.3, -1.2, 2.0])


@pytest.mark.parametrize("call,args,kwargs", [
    ("keyword", (X,), {"scale": 3.0}),
    ("all keywords, any order", (), {"shift": -1.0, "x": X, "scale": 3.0}),
    ("defaults", (X,), {}),
    ("one default", (X, 3.0), {}),
    ("positional and keyword", (X, 3.0), {"shift": 1.5}),
])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_grad_binds_like_python(call, args, kwargs, mode):
    got = s2sad.grad(energy, mode=mode)(*args, **kwargs)
    np.testing.assert_allclose(got, energy_grad(*args, **kwargs), rtol=1e-13)


def test_argnums_given_by_keyword():
    kw = {"scale": 3.0, "shift": 0.25}
    v, (gx, gscale, gshift) = s2sad.value_and_grad(energy, argnums=(0, 1, 2))(X, **kw)
    assert v == pytest.approx(energy(X, **kw), rel=1e-14)
    np.testing.assert_allclose(gx, energy_grad(X, **kw), rtol=1e-13)
    assert gscale == pytest.approx(np.sum((X - 0.25) ** 2), rel=1e-13)
    assert gshift == pytest.approx(-2.0 * 3.0 * np.sum(X - 0.25), rel=1e-13)


def test_jit_grad_keyword():
    g = s2sad.grad(energy, jit=True)
    np.testing.assert_allclose(g(X, shift=1.0), energy_grad(X, shift=1.0), rtol=1e-13)
    np.testing.assert_allclose(g(x=X), energy_grad(X), rtol=1e-13)


def test_transforms_take_keywords():
    J = np.diag(3.0 * np.cos(X))
    np.testing.assert_allclose(s2sad.jacfwd(field)(X, scale=3.0), J, rtol=1e-13)
    np.testing.assert_allclose(s2sad.jacrev(field)(x=X, scale=3.0), J, rtol=1e-13)
    np.testing.assert_allclose(s2sad.jacobian(field)(X, scale=3.0), J, rtol=1e-13)
    np.testing.assert_allclose(s2sad.hessian(energy)(X, shift=2.0, scale=3.0), 6.0 * np.eye(3),
                               rtol=1e-13)
    np.testing.assert_allclose(s2sad.grad(s2sad.grad(energy, argnums=1), argnums=1)(X, scale=3.0),
                               0.0, atol=0)


@pytest.mark.parametrize("args,kwargs,match", [
    ((X,), {"scael": 3.0}, "energy\\(\\): got an unexpected keyword argument 'scael'"),
    ((X, 3.0), {"scale": 3.0}, "energy\\(\\): multiple values for argument 'scale'"),
    ((), {"scale": 3.0}, "energy\\(\\): missing a required argument: 'x'"),
    ((X, 1.0, 2.0, 3.0), {}, "energy\\(\\) takes 3 argument\\(s\\) \\(x, scale, shift\\), 4 given"),
])
def test_bad_calls_say_what(args, kwargs, match):
    with pytest.raises(TypeError, match=match):
        s2sad.grad(energy)(*args, **kwargs)
