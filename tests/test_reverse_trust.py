"""Reverse mode on ordinary data-sized code (issue 9): loops over hundreds of rows, helpers
that write into their arguments, the same array passed twice, array swaps. Every gradient is
compared with central finite differences in float64 or a hand-derived value, in the Python
backend and under Numba (CI runs the jitted ones with NUMBA_BOUNDSCHECK=1)."""

import numpy as np
import pytest

import s2sad
from s2sad.check.fd import numerical_grad, rel_error

import reverse_trust_cases as C

BACKENDS = [pytest.param(False, id="python"), pytest.param(True, id="jit", marks=pytest.mark.slow)]


def _close(got, want, tol=1e-6):
    assert rel_error(got, want) < tol, (got, want)


@pytest.mark.parametrize("jit", BACKENDS)
@pytest.mark.parametrize("n,m", [(64, 3), (65, 3), (300, 3), (515, 4), (520, 4)])
def test_least_squares_over_rows_does_not_overflow_the_tape(n, m, jit):
    rng = np.random.default_rng(n)
    X, y, w = rng.normal(size=(n, m)), rng.normal(size=n), rng.normal(size=m)
    # d/dw sum (Xw - y)^2 = 2 X^T (Xw - y)
    _close(s2sad.grad(C.lsq, jit=jit)(w, X, y), 2.0 * X.T @ (X @ w - y), 1e-10)


@pytest.mark.parametrize("jit", BACKENDS)
def test_value_and_grad_at_a_thousand_rows(jit):
    rng = np.random.default_rng(7)
    X, y, w = rng.normal(size=(1000, 5)), rng.normal(size=1000), rng.normal(size=5)
    val, g = s2sad.value_and_grad(C.lsq, jit=jit)(w, X, y)
    _close(val, float(np.sum((X @ w - y) ** 2)), 1e-12)
    _close(g, 2.0 * X.T @ (X @ w - y), 1e-10)


@pytest.mark.parametrize("jit", BACKENDS)
def test_shape_tuple_read_inside_a_loop(jit):
    w = np.array([0.3, -1.2, 2.0])
    _close(s2sad.grad(C.shape_in_loop, jit=jit)(w, np.ones((4, 2))), 4.0 * (1.0 - np.tanh(w) ** 2), 1e-12)


@pytest.mark.parametrize("jit", BACKENDS)
def test_result_of_a_helper_is_restored_before_the_array_it_wrote(jit):
    assert s2sad.grad(C.restore_order, 1, jit=jit)(2.0, 5.0) == 2.0
    assert s2sad.grad(C.restore_order, 0, jit=jit)(2.0, 5.0) == 5.0


@pytest.mark.parametrize("jit", BACKENDS)
def test_no_recomputation_across_a_helper_that_writes_its_input(jit):
    v = np.array([0.7, -0.3])
    _close(s2sad.grad(C.recompute_after_helper, jit=jit)(v), numerical_grad(C.recompute_after_helper, (v,)))


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("jit", BACKENDS)
def test_same_array_passed_twice_to_a_helper_that_writes_one(jit, mode):
    a = np.array([1.5, 0.0, 2.0])
    # b = a + a**2 elementwise: d sum(b) / da = 1 + 2a
    _close(s2sad.grad(C.same_array_twice, mode=mode, jit=jit)(a), 1.0 + 2.0 * a, 1e-14)
    a = np.linspace(-1.0, 1.0, 7)
    _close(s2sad.grad(C.same_array_twice_carried, mode=mode, jit=jit)(a),
           numerical_grad(C.same_array_twice_carried, (a,)))


@pytest.mark.parametrize("jit", BACKENDS)
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_double_buffered_stencil(jit, mode):
    u0 = np.sin(np.linspace(0.0, 3.0, 50))
    g = s2sad.grad(C.heat, mode=mode, jit=jit)(u0, 0.2)
    _close(g, numerical_grad(C.heat, (u0, 0.2)))
    gk = s2sad.grad(C.heat, 1, mode=mode, jit=jit)(u0, 0.2)
    _close(gk, numerical_grad(C.heat, (u0, 0.2), 1))


@pytest.mark.parametrize("jit", BACKENDS)
def test_rotation_through_a_named_temporary(jit):
    u0 = np.linspace(-1.0, 2.0, 20)
    _close(s2sad.grad(C.rotate_with_temporary, (0, 1), jit=jit)(u0, 0.7),
           numerical_grad(C.rotate_with_temporary, (u0, 0.7), (0, 1)))


def test_swap_records_nothing_and_swaps_the_adjoints():
    src = s2sad.source(s2sad.grad(C.heat), np.ones(6), 0.1)
    body = src.split("def heat_vjp", 1)[1]
    assert "_atape" not in body  # references swapped back, no array contents recorded
    assert "u_bar = " in body and "v_bar = " in body


def test_swapping_parameters_is_refused_with_the_users_line():
    with pytest.raises(s2sad.S2SADError) as e:
        s2sad.grad(C.swap_params)(np.ones(3), np.ones(3))
    assert "reverse_trust_cases.py" in str(e.value) and "parameter" in str(e.value)


@pytest.mark.parametrize("jit", BACKENDS)
def test_gmm_with_per_point_loops_and_scratch_arrays(jit):
    rng = np.random.default_rng(1)
    n, d, k = 40, 3, 4
    args = (rng.normal(size=k), rng.normal(size=(k, d)), 0.3 * rng.normal(size=(k, d + d * (d - 1) // 2)),
            rng.normal(size=(n, d)))
    nums = (0, 1, 2)
    got = s2sad.grad(C.gmm_like, nums, jit=jit)(*args)
    _close(got, numerical_grad(C.gmm_like, args, nums))


@pytest.mark.parametrize("jit", BACKENDS)
def test_while_loop_over_matrix_rows(jit):
    rng = np.random.default_rng(2)
    w, X = rng.normal(size=3), rng.normal(size=(300, 3))
    _close(s2sad.grad(C.rows_while, jit=jit)(w, X), numerical_grad(C.rows_while, (w, X)))


@pytest.mark.parametrize("jit", BACKENDS)
def test_triangular_nest_of_hundreds(jit):
    x = np.random.default_rng(3).uniform(-0.2, 0.2, size=120)
    _close(s2sad.grad(C.triangular, jit=jit)(x), numerical_grad(C.triangular, (x,)))


def test_an_exception_inside_the_compiler_names_the_users_line(monkeypatch, tmp_path):
    from s2sad.ad import reverse

    def broken(self, s, out):
        raise KeyError("boom")

    monkeypatch.setattr(reverse.Reverse, "rev_assign", broken)
    # a cache of its own: the disk cache's key knows s2sad's source, not a method patched at
    # run time, and would load the module an earlier test built
    s2sad.set_cache_dir(tmp_path)
    try:
        with pytest.raises(s2sad.InternalError) as e:
            s2sad.grad(C.triangular)(np.ones(3))
    finally:
        s2sad.set_cache_dir(None)
    msg = str(e.value)
    assert "reverse_trust_cases.py:" in msg and "KeyError" in msg and "bug in s2sad" in msg
    assert isinstance(e.value.__cause__, KeyError)


def test_jit_boundscheck_option_raises_index_error_like_python():
    import reverse_trust_cases as cases
    g = s2sad.grad(cases.oob_sum, jit={"boundscheck": True})
    assert "boundscheck=True" in s2sad.source(g, np.ones(3), 3)
    with pytest.raises(IndexError):
        g(np.ones(3), 5)
    _close(g(np.ones(3), 3), np.full(3, 2.0), 1e-15)
    with pytest.raises(ValueError, match="fastmath"):
        s2sad.grad(cases.oob_sum, jit={"fastmath": True})


def test_tests_run_with_numba_bounds_checks():
    import numba
    assert numba.config.BOUNDSCHECK  # set by tests/conftest.py before Numba is imported


@pytest.mark.parametrize("jit", BACKENDS)
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_tuples_made_in_a_loop(jit, mode):
    """The adjoint of a tuple assigned in every step (a tuple literal, a primitive's tuple result)
    is reset once propagated: it accumulated across steps before (reverse mode off by 10x)."""
    _close(s2sad.grad(C.tuple_in_a_loop, mode=mode, jit=jit)(0.7, 100),
           numerical_grad(C.tuple_in_a_loop, (0.7, 100)))
    a = np.array([[2.0, 0.3, 0.1], [0.2, 1.5, -0.3], [0.0, 0.4, 1.2]])
    _close(s2sad.grad(C.slogdet_in_a_loop, mode=mode, jit=jit)(a, 30),
           numerical_grad(C.slogdet_in_a_loop, (a, 30)))


@pytest.mark.parametrize("f", [C.view_write_after_sum, C.view_write_after_product])
def test_write_through_a_view_after_its_base_was_read_is_refused(f):
    """Gave -0.9 for 0.6 (and a wrong ``x`` derivative for the second) silently: the reverse
    sweep reads the base, or computes ``np.sum(a)`` again, after the write through the view,
    which it does not restore into the base. Refused, naming the user's line."""
    with pytest.raises(s2sad.errors.UnsupportedSyntaxError, match=r"reverse_trust_cases\.py:\d+:\d+.*shares memory"):
        s2sad.grad(f, (0, 1))(0.7, np.array([0.5, 0.3, -0.2]))


def test_write_through_a_view_of_an_unread_base_is_differentiated():
    args = (0.7, np.array([0.5, 0.3, -0.2]))
    _close(s2sad.grad(C.view_write_before_reads, (0, 1))(*args), numerical_grad(C.view_write_before_reads, args, argnums=(0, 1)))


@pytest.mark.parametrize("f", [C.helper_view_write, C.helper_row_write, C.helper_view_write_deep])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_helper_writing_its_parameter_through_a_view_is_refused(f, mode):
    """Gave silently wrong derivatives in both modes (dv[0] 2.94 for 0, dx 9.85 for 18.67): the
    caller's array changes through the view, which the derivative treats as a copy. Refused at
    the write in the helper (the user's file, line and column), naming the call."""
    with pytest.raises(s2sad.errors.UnsupportedSyntaxError,
                       match=r"reverse_trust_cases\.py:\d+:\d+: `_set_head|`_scale_row.*through a view"):
        s2sad.grad(f, (0, 1), mode=mode)(np.array([0.5, -1.2, 2.0]), 0.7)


@pytest.mark.parametrize("jit", BACKENDS)
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_helper_writing_its_parameter_directly_matches_finite_differences(mode, jit):
    args = (np.array([0.5, -1.2, 2.0]), 0.7)
    _close(s2sad.grad(C.helper_direct_write, (0, 1), mode=mode, jit=jit)(*args),
           numerical_grad(C.helper_direct_write, args, argnums=(0, 1)))


@pytest.mark.parametrize("jit", BACKENDS)
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_slice_updated_from_its_old_values(mode, jit):
    """a[1:3] *= x: d/dx = a[1] + a[2] (hand-derived; forward mode gave x times that), and a
    recurrence over the rows of a 200 x 3 matrix against finite differences."""
    v, x = np.array([0.5, -1.2, 2.0]), 0.7
    g = s2sad.grad(C.slice_update, (0, 1), mode=mode, jit=jit)(v, x)
    _close(g[0], np.array([1.0, x, x]), 1e-12)
    _close(g[1], v[1] + v[2], 1e-12)
    rng = np.random.default_rng(5)
    args = (rng.uniform(-1, 1, (200, 3)), 0.6, 4)
    _close(s2sad.grad(C.slice_update_rows, (0, 1), mode=mode, jit=jit)(*args),
           numerical_grad(C.slice_update_rows, args, argnums=(0, 1)))


def test_slice_updated_by_a_call_writing_its_array_says_what_to_do():
    """a[0:2] -= h(a, x), h writing into a: the slice (a view) is open while h runs. Refused, the
    hint says to compute the right-hand side first; done so, it matches finite differences."""
    args = (np.array([0.5, -1.2, 2.0]), 0.7)
    with pytest.raises(s2sad.errors.UnsupportedSyntaxError, match=r"reverse_trust_cases\.py:\d+:\d+") as e:
        s2sad.grad(C.slice_update_by_a_writing_call, (0, 1))(*args)
    assert "compute the right-hand side into a variable first" in str(e.value)
    for mode in ("reverse", "forward"):
        _close(s2sad.grad(C.slice_update_by_a_writing_call_first, (0, 1), mode=mode)(*args),
               numerical_grad(C.slice_update_by_a_writing_call_first, args, argnums=(0, 1)))


@pytest.mark.parametrize("f", [C.chained_view_update, C.ravel_view_update])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_slice_of_a_chained_view_updated_from_its_base(f, mode):
    """Forward mode read B.T[1] (np.ravel(b)[1:3]) after the store into B: folding recomputed
    the sharing on code where the view was already an expression chain."""
    args = (np.array([[0.3, 1.2], [-0.7, 2.1]]) if f is C.chained_view_update
            else np.array([0.3, 1.2, -0.7, 2.1]), 1.3)
    _close(s2sad.grad(f, (0, 1), mode=mode)(*args), numerical_grad(f, args, argnums=(0, 1)))


@pytest.mark.parametrize("f", [C.ravel_view_write, C.returned_view_write])
def test_writes_through_ravel_views_and_returned_views_are_refused(f):
    with pytest.raises(s2sad.errors.UnsupportedSyntaxError, match=r"reverse_trust_cases\.py:\d+:\d+.*shares memory"):
        s2sad.grad(f, (0, 1))(np.array([0.3, 1.2, -0.7, 2.1]), 1.3)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_view_writes_that_carry_no_derivative_are_accepted(mode):
    """A buffer of constants (float or int) filled through a view, and a parameter rebound to a
    fresh array before its view is written: nothing wrong to refuse (hand-derived: d/dx of
    2x + x^2, and finite differences)."""
    for f in (C.const_buffer_filled, C.int_buffer_filled):
        _close(s2sad.grad(f, mode=mode)(1.3), 2.0 + 2 * 1.3, 1e-12)
    args = (np.array([0.3, 1.2, -0.7, 2.1]), 1.3)
    _close(s2sad.grad(C.param_rebound_before_view, (0, 1), mode=mode)(*args),
           numerical_grad(C.param_rebound_before_view, args, argnums=(0, 1)))


@pytest.mark.parametrize("jit", BACKENDS)
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_view_rebound_in_a_loop_after_its_base_was_written(mode, jit):
    a = np.array([0.3, 1.2, -0.7, 2.1, 0.9])
    _close(s2sad.grad(C.view_rebound_in_a_loop, (0, 1), mode=mode, jit=jit)(a, 1.3),
           numerical_grad(C.view_rebound_in_a_loop, (a, 1.3), argnums=(0, 1)))
    rng = np.random.default_rng(8)
    args = (rng.uniform(-1, 1, (200, 3)), 0.9)
    for f in (C.row_view_rebound_in_a_loop, C.row_reversed_in_place):
        _close(s2sad.grad(f, (0, 1), mode=mode, jit=jit)(*args),
               numerical_grad(f, args, argnums=(0, 1)))


def test_views_of_arrays_never_written_are_not_copied():
    """Only views of written arrays become copies: a loop reading rows of a matrix it does not
    write keeps its views (no copy per row in the generated code)."""
    g = s2sad.grad(C.lsq)
    rng = np.random.default_rng(1)
    X, y, w = rng.normal(size=(20, 3)), rng.normal(size=20), rng.normal(size=3)
    g(w, X, y)
    assert "np.copy" not in s2sad.source(g)
    g2 = s2sad.grad(C.row_view_rebound_in_a_loop, (0, 1))
    g2(X, 0.9)
    assert "np.copy" in s2sad.source(g2)
