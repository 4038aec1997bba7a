"""Jacobians and Hessians (issue 5) against finite differences of lower-order derivatives and
SymPy, and the compositions grad(grad(f)), jvp(grad(f)), jacfwd(jacrev(f))."""

import numpy as np
import pytest
import sympy

import s2sad
from s2sad.check.fd import numerical_grad, numerical_jacobian, rel_error

import transform_cases as T
from corpus import cases

X3 = np.array([0.3, 0.7, 1.1])
X4 = np.array([0.3, 0.7, 1.1, 0.45])


@pytest.mark.parametrize("jac", [s2sad.jacfwd, s2sad.jacrev, s2sad.jacobian])
@pytest.mark.parametrize("case", cases(with_tags=("vector_output",)), ids=lambda c: c.name)
def test_jacobian_matches_finite_differences(jac, case):
    rng = np.random.default_rng(11)
    args = case.sample(rng)
    got = jac(case.fn, case.argnums)(*case.sample(np.random.default_rng(11)))
    want = numerical_jacobian(case.fn, args, case.argnums)
    if isinstance(got, tuple) and got and isinstance(got[0], tuple):
        # JAX's layout is output-major; the finite differences are argument-major
        got = tuple(tuple(got[i][k] for i in range(len(got))) for k in range(len(got[0])))
    assert rel_error(_flatten(got), _flatten(want)) < 1e-6


def _flatten(x):
    if isinstance(x, tuple):
        return np.concatenate([_flatten(v) for v in x])
    return np.ravel(np.asarray(x, dtype=np.float64))


def test_jacobian_auto_picks_the_cheaper_mode():
    j = s2sad.jacobian(T.vec_out)
    j(X3)
    assert j.chosen == "reverse"  # 3 inputs, 3 outputs: not fewer inputs
    assert "reverse mode chosen (3 input(s) >= 3 output(s))" in s2sad.source(j)
    w = s2sad.jacobian(T.wide)
    w(np.array([0.5]))
    assert w.chosen == "forward"  # 1 input < 2 outputs
    assert "forward mode chosen" in s2sad.source(w)


def test_jacobian_layout_is_jax_layout():
    J = s2sad.jacrev(T.tuple_out, (0, 1))(X3, 2.0)
    assert isinstance(J, tuple) and len(J) == 2
    assert np.shape(J[0][0]) == (3,) and np.shape(J[1][0]) == (3, 3) and np.shape(J[1][1]) == (3,)


@pytest.mark.parametrize("f, args", [(T.rosen, (X4,)), (T.branchy, (X4,)), (T.loopy, (0.7,)),
                                     (T.straight, (0.7, 1.3))])
def test_hessian_matches_finite_differences_of_the_gradient(f, args):
    H = s2sad.hessian(f)(*args)
    want = numerical_jacobian(s2sad.grad(f), args)
    assert rel_error(H, want) < 1e-6


def test_hessian_matches_sympy():
    x, y = sympy.symbols("x y")
    expr = sympy.sin(x * y) + x ** 3 * y - sympy.exp(x / 2) / (1 + y * y)
    point = {x: 0.7, y: 1.3}
    for k, v in enumerate((x, y)):
        for j, w in enumerate((x, y)):
            want = float(sympy.diff(expr, v, w).evalf(subs=point))
            got = s2sad.hessian(T.straight, k)(0.7, 1.3) if j == k else \
                s2sad.jacfwd(s2sad.grad(T.straight, k), j)(0.7, 1.3)
            assert abs(got - want) < 1e-9 * max(1.0, abs(want))


def test_grad_of_grad():
    g2 = s2sad.grad(s2sad.grad(T.straight))
    want = numerical_grad(s2sad.grad(T.straight), (0.7, 1.3))
    assert abs(g2(0.7, 1.3) - want) < 1e-6 * max(1, abs(want))
    assert "# Differentiation of grad(straight) (" in s2sad.source(g2)


def test_hessian_vector_product_without_the_hessian():
    v = np.array([1.0, -0.5, 0.25, 2.0])
    _, hv = s2sad.jvp(s2sad.grad(T.rosen), (X4,), (v,))
    assert rel_error(hv, s2sad.hessian(T.rosen)(X4) @ v) < 1e-10


def test_jacfwd_of_jacrev():
    got = s2sad.jacfwd(s2sad.jacrev(T.vec_out))(X3)
    want = numerical_jacobian(s2sad.jacrev(T.vec_out), (X3,))
    assert got.shape == (3, 3, 3) and rel_error(got, want) < 1e-6
    assert rel_error(s2sad.jacfwd(s2sad.jacrev(T.rosen))(X4), s2sad.hessian(T.rosen)(X4)) < 1e-12


@pytest.mark.slow
def test_hessian_under_numba_agrees():
    assert rel_error(s2sad.hessian(T.rosen, jit=True)(X4), s2sad.hessian(T.rosen)(X4)) < 1e-12


# corpus functions whose primitives have no batched form: jacfwd would fall back to one sweep
# per input entry (every differentiable primitive has one now: tests/test_rules.py)
UNBATCHED = set()


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_vector_forward_mode_jacobian(case):
    """jacfwd carries every input direction in one sweep (tangents with a leading batch
    axis) and matches finite differences on the whole corpus."""
    args = case.sample(np.random.default_rng(5))
    j = s2sad.jacfwd(case.fn, case.argnums)
    got = j(*case.sample(np.random.default_rng(5)))
    want = numerical_jacobian(case.fn, args, case.argnums)
    if isinstance(got, tuple) and got and isinstance(got[0], tuple):
        got = tuple(tuple(got[i][k] for i in range(len(got))) for k in range(len(got[0])))
    assert rel_error(_flatten(got), _flatten(want)) < 1e-6
    batched = not getattr(j, "_unbatchable", False)
    assert batched == (case.name not in UNBATCHED)
    if batched:
        assert "_jvp_batched(" in s2sad.source(j)


@pytest.mark.slow
def test_vector_forward_mode_under_numba():
    got = s2sad.jacfwd(T.vec_out, jit=True)(X3)
    assert rel_error(got, s2sad.jacfwd(T.vec_out)(X3)) < 1e-12


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_stop_gradient_blocks_the_derivative(mode):
    gx, gy = s2sad.grad(T.detached, (0, 1), mode=mode)(0.7, 1.3)
    assert abs(gx - 1.3) < 1e-12  # d/dx (x*y) only: the detached x*x contributes nothing
    assert abs(gy - (0.7 + 0.7 * 0.7)) < 1e-12  # the detached value still flows as a value
    v = np.array([0.1, 0.5, -0.3])
    assert rel_error(s2sad.grad(T.detached_array, mode=mode)(v), np.exp(v)) < 1e-12
    assert T.detached(0.7, 1.3) == 0.7 * 1.3 + (0.7 * 0.7) * 1.3  # plain Python: the identity


def test_nested_transforms_keep_the_users_provenance():
    """A derivative of a derivative reads generated code; its comments still name the user's
    file and lines (taken from the provenance comments of the code it reads), not the
    generated module's."""
    import re

    h = s2sad.hessian(T.rosen)
    h(np.array([0.3, 0.5, 0.9]))
    src = s2sad.source(h)
    places = re.findall(r"# (\S+\.py):\d+: ", src)
    body = [p for p in places if p != "transform_cases.py"]
    assert "transform_cases.py" in places
    # only the grad wrapper (generated, with no user line of its own) may name a generated file
    assert len(body) <= 1, places


def test_hessian_module_computes_no_discarded_tangent():
    """The gradient wrapper that a Hessian differentiates throws the value away (``_, x_bar =
    f_vjp(...)``): the forward-mode helper it calls gives that item no tangent."""
    h = s2sad.hessian(T.rosen)
    x = np.array([0.3, -0.2, 0.5])
    got = h(x)
    src = s2sad.source(h)
    assert "_out_dot" not in src, src
    want = numerical_jacobian(s2sad.grad(T.rosen), (x,), 0)
    assert rel_error(got, want) < 1e-6
