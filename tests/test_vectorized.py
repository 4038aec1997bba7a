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
    return tuple(k for k, a in enumerate(args)
                 if isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype.kind == "f"))


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


# ---------------------------------------------------------------- gathers, scatters, slogdet, cholesky

GATHERS = [(f, V.CASES[f]) for f in V.GATHERS_AND_LINALG]
GATHER_IDS = [f.__name__ for f, _ in GATHERS]


@pytest.mark.parametrize("f, args", [c for c in GATHERS if c[0] is not V.gathers_in_a_loop],
                         ids=[i for i in GATHER_IDS if i != "gathers_in_a_loop"])  # 200 steps: too big a tree
def test_gathers_and_linalg_against_sympy(f, args):
    """An independent reference: SymPy differentiates the function as written (gathers and
    repeated writes as NumPy does them, Cholesky from the lower triangle as LAPACK does)."""
    from s2sad.check import check_sympy
    report = check_sympy(f, args, _nums(args))
    assert report.ok, str(report)


@pytest.mark.slow
@pytest.mark.parametrize("f, args", GATHERS, ids=GATHER_IDS)
def test_vector_forward_mode_backends_agree(f, args):
    """Batched tangents written through index arrays and np.add.at (the ``_scatter_add_b``
    loop under Numba), masks read from flattened arrays, and (slogdet, Cholesky) matrix
    products and solves against stacks of tangents (``_dot_stack_left``, ``_solve_stack``):
    jacfwd under both backends."""
    nums = _nums(args)
    py = s2sad.jacfwd(f, nums)(*args)
    jit = s2sad.jacfwd(f, nums, jit=True)(*args)
    for a, b in zip(py, jit):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("f", [V.embedding_softmax, V.gather_columns, V.add_at_rows, V.gaussian_loglik_cholesky],
                         ids=lambda f: f.__name__)
def test_hessians_through_gathers_and_cholesky(f):
    """Forward mode over the generated gradient: the scatter-adds (np.add.at) and the Cholesky
    adjoint are themselves differentiated. Against central differences of the gradient."""
    from s2sad.check.fd import numerical_jacobian
    args = V.CASES[f]
    h = s2sad.hessian(f, 0)(*args)
    g = s2sad.grad(f, 0)
    want = np.asarray(numerical_jacobian(lambda a: g(a, *args[1:]), (args[0],), 0))
    assert rel_error(h, want.reshape(h.shape)) < 1e-6


def test_repeated_indices_are_summed_not_overwritten():
    """The adjoint of y = x[idx] with idx repeating 2 three times: x_bar[2] is the sum of the
    three (np.add.at), where x_bar[idx] += g would keep one; hand-derived."""
    x = np.array([0.5, -1.0, 2.0, 0.25, 1.5])
    got = s2sad.grad(V.gather_repeated)(x)
    w = np.arange(1.0, 7.0)
    want = np.zeros(5)
    for k, i in enumerate([0, 2, 2, 2, -1, 0]):
        want[i] += 2.0 * x[i] * w[k] + np.cos(x[i])
    np.testing.assert_allclose(got, want, rtol=1e-13)
    np.testing.assert_allclose(s2sad.grad(V.gather_repeated, jit=True)(x), want, rtol=1e-13)


def test_last_write_wins_in_the_adjoint():
    """y[SLOTS] = v * v with slot 1 written by v[0] and v[2], slot 3 by v[1] and v[4]: NumPy
    keeps v[2]'s and v[4]'s, so v[0] and v[1] have no effect (derivative exactly 0)."""
    x, v = V.CASES[V.scatter_assign_repeated]
    for jit in (False, True):
        gv = s2sad.grad(V.scatter_assign_repeated, 1, jit=jit)(x, v)
        assert gv[0] == 0.0 and gv[1] == 0.0 and gv[2] != 0.0 and gv[4] != 0.0
        gx = s2sad.grad(V.scatter_assign_repeated, 0, jit=jit)(x, v)
        assert gx[0] == 0.0 and gx[1] == 0.0 and gx[3] == 0.0 and gx[2] != 0.0 and gx[4] != 0.0


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


# softmax_xent_pairs and axis_reductions: their gradients expand reduced axes back (np.expand_dims)
HESSIAN_CASES = ["log_softmax_xent", "layer_norm", "mlp_softmax_head", "einsum_forms", "softmax_xent_pairs",
                 "axis_reductions", "batch_norm", "attention"]


@pytest.mark.parametrize("name", HESSIAN_CASES)
def test_hessians(name):
    f, args = next((f, a) for f, a in CASES if f.__name__ == name)
    H = s2sad.hessian(f, 0)(*args)
    want = np.reshape(_fd_hessian(f, args, 0), H.shape)
    assert rel_error(H, want) < 1e-5
    assert np.allclose(H.reshape(args[0].size, -1), H.reshape(args[0].size, -1).T, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("f, args", [pytest.param(f, a, marks=pytest.mark.slow) if f is V.gathers_in_a_loop
                                     else (f, a) for f, a in CASES], ids=IDS)  # (40 s of differences)
def test_every_case_has_a_hessian(f, args):
    """hessian (forward over the generated gradient, which reads np.expand_dims, _unbroadcastn,
    np.add.at, ...) in the first float argument, against central differences of central
    differences."""
    k = _nums(args)[0]
    H = s2sad.hessian(f, k)(*args)
    assert rel_error(H, np.reshape(_fd_hessian(f, args, k), H.shape)) < 1e-5


W2345 = V.W2345


def _stretched_4d(a, b):
    # a (2, 1, 4, 1) stretched along two axes: the gradient sums back through _unbroadcastn,
    # which the Hessian differentiates in turn
    return np.sum((a * b) ** 2 * W2345) + np.sum(np.sin(a) * b)


def test_hessian_through_the_sum_over_stretched_axes():
    rng = np.random.default_rng(4)
    args = (rng.normal(size=(2, 1, 4, 1)), rng.normal(size=(2, 3, 4, 5)))
    for k in (0, 1):
        H = s2sad.hessian(_stretched_4d, k)(*args)
        assert rel_error(H, np.reshape(_fd_hessian(_stretched_4d, args, k), H.shape)) < 1e-6, k


W345 = np.sin(np.arange(60.0)).reshape(3, 4, 5)


def _dot_matrix_stack(a, b):
    return np.sum(np.dot(a, b) * W345)  # (3, 2) . (4, 2, 5) -> (3, 4, 5): b's stack axis in the middle


def test_dot_with_a_stack_differentiates_forward_and_is_refused_in_reverse_at_its_line():
    """np.dot(a, b) with a 3-d b is not a stacked matmul (its result is (3, 4, 5), matmul's
    would be (4, 3, 5)): forward mode against central differences; reverse mode, which has
    no rule for it, refuses at the user's line instead of running matmul's adjoint."""
    from s2sad.errors import NonDifferentiableError
    rng = np.random.default_rng(3)
    args = (rng.normal(size=(3, 2)), rng.normal(size=(4, 2, 5)))
    got = s2sad.grad(_dot_matrix_stack, (0, 1), mode="forward")(*args)
    assert rel_error(got, numerical_grad(_dot_matrix_stack, args, (0, 1))) < 1e-8
    with pytest.raises(NonDifferentiableError, match=r"test_vectorized\.py:\d+:\d+.*np\.matmul"):
        s2sad.grad(_dot_matrix_stack, (0, 1))(*args)


def _max_over_two_axes(t):
    return np.sum(np.max(t, axis=(0, 2)))


def test_reduction_over_a_tuple_of_axes_other_than_sum_is_refused_at_its_line():
    from s2sad.errors import TypeInferenceError
    with pytest.raises(TypeInferenceError, match=r"test_vectorized\.py:\d+:\d+.*one axis at a time"):
        s2sad.grad(_max_over_two_axes)(np.ones((2, 3, 4)))


# ---------------------------------------------------------------- the README's section


def test_readme_vectorized_section_runs_and_prints_as_shown(tmp_path, monkeypatch, capsys):
    """The README's "Vectorized code" example runs as printed, the gradients it computes match
    central finite differences (both backends), and the derivative it shows is what
    s2sad.source prints."""
    import pathlib
    import re
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Vectorized code", 1)[1].split("\n## ", 1)[0]
    module, usage, shown = re.findall(r"```python\n(.*?)```", section, re.DOTALL)[:3]
    (tmp_path / "attention.py").write_text(module)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "attention", raising=False)
    ns = {}
    exec(compile(usage, str(tmp_path / "usage.py"), "exec"), ns)  # noqa: S102 - the README's own example
    assert shown.strip() in capsys.readouterr().out
    args = (ns["q"], ns["k"], ns["v"])
    want = numerical_grad(ns["attention"], args, (0, 1, 2))
    assert rel_error((ns["gq"], ns["gk"], ns["gv"]), want) < 1e-7
    for a, b in zip((ns["gq"], ns["gk"], ns["gv"]), (ns["gq_jit"], ns["gk_jit"], ns["gv_jit"])):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
