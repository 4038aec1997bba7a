"""Composed transforms exact on code that writes arrays (issue 10): jacfwd (vector forward
mode), hessian (forward over reverse), jacrev(grad) (reverse over reverse), grad(grad); np.prod
at zeros; float32 under Numba; in-place `+=` on arrays; module-level values that change.
References: hand-derived formulas and central finite differences of the reverse gradient."""

import os
import subprocess
import sys

import numpy as np
import pytest

import s2sad
from s2sad.check.fd import numerical_grad, numerical_jacobian, rel_error

import reverse_trust_cases as R
import transform_trust_cases as C

HERE = os.path.dirname(os.path.abspath(__file__))


def _close(got, want, tol=1e-7):
    assert rel_error(got, want) < tol, (got, want)


def fd_hessian(f, x, *rest):
    """Finite differences of the reverse gradient (an independent first-order check)."""
    g = s2sad.grad(f)
    return numerical_jacobian(lambda z: g(z, *rest), (x,), 0)


JIT = [False, pytest.param(True, marks=pytest.mark.slow)]


@pytest.mark.parametrize("jit", JIT)
def test_jacfwd_tangents_are_values_not_views(jit):
    x = np.array([0.6, 1.5])
    _close(s2sad.jacfwd(C.swap2, jit=jit)(x), np.array([[0.0, 1.0], [1.0, 0.0]]), 1e-15)
    _close(s2sad.jacobian(C.swap2, jit=jit)(x), np.array([[0.0, 1.0], [1.0, 0.0]]), 1e-15)
    _close(s2sad.jacfwd(C.zero_after_read, jit=jit)(x), np.array([2 * 0.6, 1.0]), 1e-15)


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("transform", ["hessian", "jacrev_grad", "jacfwd_grad"])
def test_second_derivatives_through_element_writes(transform, jit):
    make = {"hessian": lambda f: s2sad.hessian(f, jit=jit),
            "jacrev_grad": lambda f: s2sad.jacrev(s2sad.grad(f, jit=jit), jit=jit),
            "jacfwd_grad": lambda f: s2sad.jacfwd(s2sad.grad(f, jit=jit), jit=jit)}[transform]
    x = np.array([0.7, 1.5])
    # f = x0^2 x1: H = [[2 x1, 2 x0], [2 x0, 0]]
    want = np.array([[2 * 1.5, 2 * 0.7], [2 * 0.7, 0.0]])
    _close(make(C.sq_first)(x), want, 1e-14)
    _close(make(C.inplace_param)(x.copy()), want, 1e-14)
    # f = x1^2 + x0^2: H = 2 I
    _close(make(C.copy_first)(x), 2.0 * np.eye(2), 1e-14)
    # f = sum(b^3) through a helper: H = diag(6 b)
    _close(make(C.calls_inner)(x), np.diag(6.0 * x), 1e-14)


@pytest.mark.parametrize("name", ["tridiag", "bubble", "stencil"])
def test_hessian_of_solvers_sorts_and_stencils(name):
    rng = np.random.default_rng(4)
    if name == "tridiag":
        n = 6
        a, b, c, d = rng.uniform(0, .5, n), rng.uniform(2, 3, n), rng.uniform(0, .5, n), rng.normal(size=n)
        H = s2sad.hessian(C.tridiag, 3)(a, b, c, d)
        want = numerical_jacobian(lambda z: s2sad.grad(C.tridiag, 3)(a, b, c, z), (d,), 0)
    elif name == "bubble":
        x = rng.normal(size=6)
        H, want = s2sad.hessian(C.bubble)(x), fd_hessian(C.bubble, x)
    else:
        u = np.linspace(0.0, 1.0, 7)
        H, want = s2sad.hessian(C.stencil)(u, 0.1), fd_hessian(C.stencil, u, 0.1)
    _close(H, want, 1e-6)
    _close(H, H.T, 1e-10)


def test_grad_of_grad_of_a_slice_stencil():
    u = np.linspace(0.0, 1.0, 6)
    g = s2sad.grad(C.stencil, 1)
    _close(s2sad.grad(s2sad.grad(C.stencil, 1), 1)(u, 0.1), numerical_grad(lambda k: g(u, k), (0.1,)), 1e-7)
    _close(s2sad.jacrev(s2sad.grad(C.stencil))(u, 0.1), fd_hessian(C.stencil, u, 0.1), 1e-6)


def test_jvp_of_grad_matches_hessian_vector_product():
    x = np.random.default_rng(5).normal(size=6)
    v = np.linspace(-1.0, 1.0, 6)
    _, hv = s2sad.jvp(s2sad.grad(C.bubble), (x,), (v,))
    _close(hv, s2sad.hessian(C.bubble)(x) @ v, 1e-10)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_prod_at_a_zero_entry(mode, jit):
    x = np.array([2.0, 0.0, 3.0])
    _close(s2sad.grad(C.prod, mode=mode, jit=jit)(x), np.array([0.0, 6.0, 0.0]), 1e-15)
    x = np.array([0.0, 0.0, 3.0])
    _close(s2sad.grad(C.prod, mode=mode, jit=jit)(x), np.zeros(3), 1e-15)


def test_prod_second_derivatives_and_axes_at_zeros():
    x = np.array([2.0, 0.0, 3.0])
    want = np.array([[0.0, 3.0, 0.0], [3.0, 0.0, 2.0], [0.0, 2.0, 0.0]])  # d2 (x0 x1 x2)
    _close(s2sad.hessian(C.prod)(x), want, 1e-15)
    _close(s2sad.jacfwd(C.prod)(x), np.array([0.0, 6.0, 0.0]), 1e-15)
    m = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 0.5]])
    for mode in ("reverse", "forward"):
        _close(s2sad.grad(C.prod_axes, mode=mode)(m), numerical_grad(C.prod_axes, (m,)), 1e-8)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_float32_stays_float32(mode, jit):
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    g = s2sad.grad(C.sumsq, mode=mode, jit=jit)(x)
    assert g.dtype == np.float32
    _close(g, 2.0 * x, 1e-7)
    g = s2sad.grad(C.f32_loop, mode=mode, jit=jit)(x)
    assert g.dtype == np.float32
    xd = x.astype(np.float64)
    _close(g, 4.0 * xd + np.tanh(xd) + xd * (1 - np.tanh(xd) ** 2), 1e-6)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_augmented_assignment_writes_arrays_in_place(mode, jit):
    x = np.array([0.5, 1.0, -2.0])
    val, g = s2sad.value_and_grad(C.user_inplace, mode=mode, jit=jit)(x)
    assert val == C.user_inplace(x) == np.sum(x ** 4)
    _close(g, 4.0 * x ** 3, 1e-14)
    _close(s2sad.grad(C.rk_helper_loop, mode=mode, jit=jit)(x), numerical_grad(C.rk_helper_loop, (x,)))


def test_grad_of_grad_of_a_helper_with_inplace_accumulation():
    x = np.array([0.5, 1.0, -2.0])
    # d/dx sum(x^4) = 4 x^3; its derivative w.r.t. x along the diagonal: 12 x^2
    _close(s2sad.hessian(C.user_inplace)(x), np.diag(12.0 * x ** 2), 1e-12)
    _close(s2sad.jacrev(s2sad.grad(C.user_inplace))(x), np.diag(12.0 * x ** 2), 1e-12)


@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_module_level_values_are_read_as_they_are_now(jit):
    import gl_module as G
    x = np.ones(3)
    g = s2sad.grad(G.loss, jit=jit)
    G.W, G.SCALE = np.array([1.0, 2.0, 3.0]), 2.0
    _close(g(x), 2 * 2.0 * np.array([1.0, 2.0, 3.0]), 1e-15)
    G.W[0] = 10.0  # in place
    _close(g(x), 2 * 2.0 * np.array([10.0, 2.0, 3.0]), 1e-15)
    G.W = np.array([5.0, 5.0, 5.0])  # rebound
    _close(g(x), np.full(3, 20.0), 1e-15)
    G.SCALE = 3.0  # a scalar, built in as a constant
    _close(g(x), np.full(3, 30.0), 1e-15)
    _close(np.diag(s2sad.hessian(G.loss)(x)), np.full(3, 30.0), 1e-15)
    G.W, G.SCALE = np.array([1.0, 2.0, 3.0]), 2.0


@pytest.mark.slow
def test_module_level_arrays_across_processes(tmp_path):
    """Two processes, one cache directory, different module-level arrays: each gets its own
    gradient (Numba compiles module-level arrays in as constants)."""
    code = ("import sys, numpy as np, s2sad, gl_module as G\n"
            "G.W = np.array([float(v) for v in sys.argv[1].split(',')])\n"
            "print(repr(s2sad.grad(G.loss, jit=True)(np.ones(3)).tolist()))\n")
    env = {**os.environ, "S2SAD_CACHE_DIR": str(tmp_path), "PYTHONPATH": HERE}
    outs = []
    for w in ("1,2,3", "4,5,6"):
        p = subprocess.run([sys.executable, "-c", code, w], env=env, capture_output=True, text=True,
                           check=True)
        outs.append(eval(p.stdout.strip().splitlines()[-1]))
    assert outs == [[4.0, 8.0, 12.0], [16.0, 20.0, 24.0]]


# Every construct reverse mode emits, each found in the generated gradient of one of these
# functions, is itself differentiated exactly by forward mode (hessian) and by reverse mode
# (jacrev of the gradient).
CONSTRUCTS = [
    ("scalar tape, reservation", R.running_tanh, lambda r: (r.normal(size=3), r.normal(size=(6, 3))),
     ("_reserve_f(", "_ftape[_ft] = ", "_ft -= 1")),
    ("array contents on the tape", C.stencil, lambda r: (np.linspace(0.0, 1.0, 6), 0.1),
     ("_atape = _reserve_f(", ".ravel()", ".reshape(")),
    ("element restores", C.bubble, lambda r: (r.normal(size=5),), ("_ftape[_ft] = y[",)),
    ("array swap undone", R.heat, lambda r: (np.sin(np.linspace(0.0, 3.0, 7)), 0.2), ("_swap",)),
    ("shapes recorded", C.varying_slices, lambda r: (np.linspace(0.1, 1.0, 5),), ("np.zeros((_d",)),
    ("helper in split mode on the caller's tapes", C.calls_looping_helper, lambda r: (r.normal(size=4) * 0.3,),
     ("= sq_helper_fwd(", "= sq_helper_rev(", "_ftape, _ft)")),
    ("in-place accumulation into a caller's array", C.user_inplace, lambda r: (r.normal(size=3),),
     ("a_bar[:] = 0.0",)),
    ("product of the others", C.prod, lambda r: (np.array([2.0, 0.0, 3.0, 0.5]),), ("_prod_others(",)),
]


@pytest.mark.parametrize("what, f, make_args, marks", CONSTRUCTS, ids=[c[0] for c in CONSTRUCTS])
def test_every_emitted_construct_is_differentiated_again(what, f, make_args, marks):
    args = make_args(np.random.default_rng(8))
    src = s2sad.source(s2sad.grad(f), *args)
    for m in marks:
        assert m in src, (what, m)
    want = fd_hessian(f, *args)
    _close(s2sad.hessian(f)(*args), want, 1e-6)
    _close(s2sad.jacrev(s2sad.grad(f))(*args), want, 1e-6)


def test_reverse_over_reverse_makes_room_after_a_split_helper_hands_back_its_tapes():
    """Fuzz seed 9890200: in jacrev(grad), the pushes after a split helper's forward sweep had
    their room made before the helper's tapes were taken back (in the tape it then replaced,
    counted from the old top): an IndexError at entry 256 in Python, an overflow under Numba.
    Against jacfwd(grad) and central finite differences of the reverse gradient. Python
    backend only: Numba takes minutes over this reverse-over-reverse module, and the tapes are
    planned once for both backends."""
    args = (-0.19205248444286394, -0.08425776441588972,
            np.array([1.104940206950399, -0.265961630705047, 0.436631566779311]), 3)
    g = s2sad.grad(C.tape_handback, 2)
    got = s2sad.jacrev(g, 2)(*args)
    _close(got, s2sad.jacfwd(g, 2)(*args), 1e-10)
    fd = numerical_jacobian(lambda z: g(args[0], args[1], z, args[3]), (args[2].copy(),), 0)
    _close(got, fd, 1e-6)
