"""The loop kernels that stand in for NumPy calls Numba lacks (s2sad/backend/kernels.py),
compiled by Numba on their own and compared with NumPy itself: values and exact shapes, over
shapes and axes drawn by hypothesis (Numba's in-place operators do not check shapes, so a
kernel of the wrong shape would be silently wrong in a derivative)."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2sad.backend.kernels import einsum_kernel_name, kernel_source
from s2sad.backend.runtime import JIT_HELPERS

_COMPILED = {}


def jitted(name):
    if name not in _COMPILED:
        text = JIT_HELPERS[name] if name in JIT_HELPERS else kernel_source(name)
        ns = {"np": np}
        exec(text, ns)  # noqa: S102 - s2sad's own kernel text
        # as generated modules compile them (a float division by zero gives inf, not an error)
        _COMPILED[name] = numba.njit(boundscheck=True, error_model="numpy")(ns[name])
    return _COMPILED[name]


shapes = st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple)


@pytest.mark.slow  # Numba compiles each kernel for each rank drawn
@settings(max_examples=25, deadline=None)
@given(shape=shapes, data=st.data())
def test_axis_reductions_match_numpy(shape, data):
    x = np.random.default_rng(len(shape)).normal(size=shape) + 1.5
    axis = data.draw(st.integers(0, len(shape) - 1))
    ddof = data.draw(st.integers(0, 1)) if shape[axis] > 1 else 0
    for name, want in (("_max_axis", np.max(x, axis=axis)), ("_min_axis", np.min(x, axis=axis)),
                       ("_prod_axis", np.prod(x, axis=axis)), ("_mean_axis", np.mean(x, axis=axis)),
                       ("_var_axis", np.var(x, axis=axis, ddof=ddof))):
        got = jitted(name)(x, axis, ddof) if name == "_var_axis" else jitted(name)(x, axis)
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14, err_msg=name)
    # a non-contiguous view reads the same
    got = jitted("_max_axis")(np.swapaxes(x, 0, -1), axis)
    np.testing.assert_array_equal(got, np.max(np.swapaxes(x, 0, -1), axis=axis))


def test_var_of_everything_with_ddof():
    x = np.sin(np.arange(12.0)).reshape(3, 4)
    assert jitted("_var_all")(x, 1) == pytest.approx(np.var(x, ddof=1), rel=1e-14)


@pytest.mark.slow  # Numba compiles each kernel for each rank drawn
@settings(max_examples=25, deadline=None)
@given(s=st.integers(1, 3), n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4),
       one_a=st.booleans(), one_b=st.booleans())
def test_stacked_matmul_matches_numpy(s, n, k, m, one_a, one_b):
    rng = np.random.default_rng(s * 100 + n * 10 + k)
    a = rng.normal(size=(1 if one_a else s, n, k))
    b = rng.normal(size=(1 if one_b else s, k, m))
    want = np.matmul(a, b)
    got = jitted("_matmul3")(a, b)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    got4 = jitted("_matmul4")(a[None], b[None])
    np.testing.assert_allclose(got4, want[None], rtol=1e-13, atol=1e-13)


@pytest.mark.slow  # Numba compiles each kernel for each layout drawn
@settings(max_examples=25, deadline=None)
@given(s=st.integers(1, 3), n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4),
       one_a=st.booleans(), one_b=st.booleans(), strided=st.booleans())
def test_stacked_matmul_with_a_swapped_operand_matches_numpy(s, n, k, m, one_a, one_b, strided):
    """_matmul3_tn(a, b) is np.matmul(np.swapaxes(a, -1, -2), b) and _matmul3_nt(a, b) is
    np.matmul(a, np.swapaxes(b, -1, -2)) (matmul's adjoints), on contiguous stacks and on
    views with steps."""
    rng = np.random.default_rng(s * 1000 + n * 100 + k * 10 + m)
    step = 2 if strided else 1
    a = rng.normal(size=(1 if one_a else s, k, n * step))[:, :, ::step]
    b = rng.normal(size=(1 if one_b else s, k, m))
    got = jitted("_matmul3_tn")(a, b)
    want = np.matmul(np.swapaxes(a, -1, -2), b)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    c = rng.normal(size=(1 if one_a else s, n, k))
    d = rng.normal(size=(1 if one_b else s, m * step, k))[:, ::step]
    got = jitted("_matmul3_nt")(c, d)
    want = np.matmul(c, np.swapaxes(d, -1, -2))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.slow  # Numba compiles the kernel for each layout drawn
@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=3, max_size=3).map(tuple), data=st.data())
def test_product_summed_back_matches_numpy(shape, data):
    """_unbroadcast3_mul(a, b, like) is _unbroadcast3(a * b, like): a and b broadcast against
    each other (either may have size-1 axes), the product summed over the axes where `like` has
    size 1; views with steps too."""
    one = lambda: tuple(1 if data.draw(st.booleans()) else n for n in shape)
    rng = np.random.default_rng(sum(shape))
    a = rng.normal(size=one())
    b = rng.normal(size=one() + (2,))[..., 1]  # a view with a step
    full = np.broadcast_shapes(a.shape, b.shape)
    like_shape = tuple(1 if data.draw(st.booleans()) else n for n in full)
    axes = tuple(k for k in range(3) if like_shape[k] == 1 and full[k] != 1)
    want = np.sum(a * b, axis=axes, keepdims=True)
    got = jitted("_unbroadcast3_mul")(a, b, np.zeros(like_shape))
    assert got.shape == like_shape
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_product_of_operands_that_do_not_broadcast_is_refused():
    with pytest.raises(ValueError, match="broadcast"):
        jitted("_unbroadcast3_mul")(np.ones((2, 3, 4)), np.ones((3, 3, 4)), np.ones((1, 3, 4)))


@pytest.mark.slow  # Numba compiles each kernel (and _dot_stack_left for 3-d and 4-d stacks)
@settings(max_examples=25, deadline=None)
@given(s=st.integers(1, 3), n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4),
       transposed=st.booleans())
def test_products_and_solves_with_a_stack_match_numpy(s, n, k, m, transposed):
    """np.dot / np.matmul of a stack and a vector or matrix, np.dot of a matrix and a stack (the
    stack axis in the middle), np.linalg.solve against a stack: exact shapes, non-contiguous
    views (vector forward mode's tangents are often transposed views) read the same."""
    rng = np.random.default_rng(s * 100 + n * 10 + k)
    stack = rng.normal(size=(s, n, k))
    if transposed:
        stack = np.ascontiguousarray(np.swapaxes(stack, 1, 2)).swapaxes(1, 2)
    mat, vec = rng.normal(size=(k, m)), rng.normal(size=k)
    left, row = rng.normal(size=(m, n)), rng.normal(size=n)
    cases = (("_dot_stack_left", (stack, mat), np.dot(stack, mat)),
             ("_dot_stack_left", (stack, vec), np.matmul(stack, vec)),
             ("_dot_stack_left", (stack[None], mat), np.dot(stack[None], mat)),
             ("_dot_vec_stack", (row, stack), np.matmul(row, stack)),
             ("_dot_mat_stack", (left, stack), np.dot(left, stack)))
    for name, args, want in cases:
        got = jitted(name)(*args)
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13, err_msg=name)
    a = rng.normal(size=(n, n)) + 3.0 * np.eye(n)
    got = jitted("_solve_stack")(a, stack)
    want = np.linalg.solve(a, stack)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_stacks_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="different lengths"):
        jitted("_matmul3")(np.ones((2, 3, 3)), np.ones((3, 3, 3)))
    for name in ("_matmul3_tn", "_matmul3_nt"):
        with pytest.raises(ValueError, match="different lengths"):
            jitted(name)(np.ones((2, 3, 3)), np.ones((3, 3, 3)))


@pytest.mark.slow  # Numba compiles each kernel for each rank drawn
@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=5).map(tuple), data=st.data())
def test_unbroadcastn_sums_back_like_numpy(shape, data):
    like_shape = tuple(1 if data.draw(st.booleans()) else n for n in shape)
    g = np.random.default_rng(len(shape)).normal(size=shape)
    like = np.zeros(like_shape)
    axes = tuple(k for k in range(g.ndim) if like_shape[k] == 1 and shape[k] != 1)
    want = np.sum(g, axis=axes, keepdims=True)
    got = jitted("_unbroadcastn")(g, like)
    assert got.shape == like_shape
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.slow  # Numba compiles each helper for each layout drawn
@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=3).map(tuple), data=st.data())
def test_unbroadcast2_and_3_sum_back_like_numpy(shape, data):
    """The compiled _unbroadcast2/_unbroadcast3 (a row summed in a register when the last axis
    was stretched) against NumPy's sum over the stretched axes, on contiguous arrays and views
    with steps."""
    like_shape = tuple(1 if data.draw(st.booleans()) else n for n in shape)
    g = np.random.default_rng(sum(shape)).normal(size=shape + (2,))[..., 0]  # a view with a step
    if data.draw(st.booleans()):
        g = g.copy()
    like = np.zeros(like_shape)
    axes = tuple(k for k in range(g.ndim) if like_shape[k] == 1 and shape[k] != 1)
    want = np.sum(g, axis=axes, keepdims=True)
    got = jitted(f"_unbroadcast{g.ndim}")(g, like)
    assert got.shape == like_shape
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


EINSUMS = ["ij,jk->ik", "i,ij,j->", "ij,j->i", "bij,bjk->bik", "i,j->ij", "abe,abc->ce", "ii->", "ij->ji"]


@pytest.mark.parametrize("spec", EINSUMS)
def test_einsum_kernels_match_numpy(spec):
    ins, out = spec.split("->")
    ins = ins.split(",")
    sizes = {ch: 2 + k for k, ch in enumerate(dict.fromkeys("".join(ins)))}
    if "ii" in ins:
        sizes["i"] = 3
    rng = np.random.default_rng(7)
    ops = [rng.normal(size=tuple(sizes[ch] for ch in s)) for s in ins]
    want = np.einsum(spec, *ops)
    got = jitted(einsum_kernel_name(ins, out))(*ops)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_einsum_operands_that_disagree_are_refused():
    f = jitted(einsum_kernel_name(["ij", "jk"], "ik"))
    with pytest.raises(ValueError, match="disagree on the length of j"):
        f(np.ones((2, 3)), np.ones((4, 2)))


# ------------------------------------------------------------------ the forms Numba compiles fast


@pytest.mark.slow  # Numba compiles a kernel for each permutation drawn
@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple), data=st.data())
def test_permute_views_match_numpy_transpose(shape, data):
    from s2sad.backend.kernels import permute_kernel_name

    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    x = np.random.default_rng(3).normal(size=shape)
    for arr in (x, np.swapaxes(x, 0, -1)):  # contiguous, and a view with other strides
        got = jitted(permute_kernel_name(perm))(arr)
        want = np.transpose(arr, perm)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    # a view: a write through it reaches the array
    y = x.copy()
    jitted(permute_kernel_name(perm))(y)[(0,) * len(shape)] = 7.0
    assert y[(0,) * len(shape)] == 7.0


@pytest.mark.parametrize("op", ["max", "min", "prod", "sum"])
def test_last_axis_reductions_match_numpy(op):
    x = np.random.default_rng(4).normal(size=(3, 2, 5)) + 1.5
    x[1, 1, 2] = np.nan  # NumPy's max and min propagate a NaN
    for arr in (x, x[:, :, ::2], x[0]):
        got = jitted(f"_{op}_last")(arr)
        want = getattr(np, op)(arr, axis=-1)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)  # NaN where NumPy has NaN


def test_count_of_a_bool_array_matches_numpy():
    x = np.random.default_rng(5).normal(size=(3, 2, 5)) > 0.0
    for arr in (x, x[:, :, ::2]):
        got, want = jitted("_count_last")(arr), np.sum(arr, axis=-1)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_record_copies_and_refuses_past_the_end():
    tape = np.zeros(10)
    v = np.arange(6.0).reshape(2, 3)
    jitted("_record")(tape, 2, v[:, ::-1])  # a non-contiguous array: its elements in C order
    np.testing.assert_array_equal(tape, [0, 0, 2, 1, 0, 5, 4, 3, 0, 0])
    with pytest.raises(ValueError, match="past the end"):
        jitted("_record")(tape, 5, v)


# ------------------------------------------------ elementwise arithmetic on 3-d and 4-d arrays

_leaf = st.sampled_from(["{0}", "{1}", "{2}", "{3}", "0.5", "2"])
_expr = st.recursive(_leaf, lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    inner.map(lambda a: f"(-{a})"),
    st.tuples(st.sampled_from(["np.tanh", "np.sin", "np.exp", "np.abs"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
), max_leaves=5)


@pytest.mark.slow  # Numba compiles each kernel drawn
@settings(max_examples=25, deadline=None)
@given(template=_expr, ndim=st.sampled_from([3, 4]), data=st.data())
def test_elementwise_kernels_match_numpy(template, ndim, data):
    """An arithmetic expression over float64 arrays of 3 or 4 dimensions and a float, as the loop
    kernel ``use_kernels`` gives it: NumPy's values and exact broadcast shape, operands with
    size-1 (and size-0) axes, a view with a step, a Fortran-ordered one."""
    from s2sad.backend.elementwise import elementwise_kernel
    if not any(f"{{{k}}}" in template for k in (0, 1, 3)):
        template = f"({template} * {{0}})"
    full = tuple(data.draw(st.integers(0 if k == 0 else 1, 4)) for k in range(ndim))
    one = lambda: tuple(1 if data.draw(st.booleans()) else n for n in full)
    rng = np.random.default_rng(sum(full) + ndim)
    x0 = rng.normal(size=one())
    x1 = rng.normal(size=one() + (2,))[..., 1]  # a view with a step
    x3 = np.asfortranarray(rng.normal(size=one()))
    s2 = float(rng.normal())
    args = (x0, x1, s2, x3)
    name = elementwise_kernel(template, ["a", "a", "s", "a"], ndim)
    with np.errstate(all="ignore"):
        want = eval(template.format("x0", "x1", "s2", "x3"), {"np": np, "x0": x0, "x1": x1, "s2": s2, "x3": x3})
        got = jitted(name)(*args)
    want = np.broadcast_to(want, np.broadcast_shapes(x0.shape, x1.shape, x3.shape))
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_elementwise_kernel_refuses_operands_that_do_not_broadcast():
    from s2sad.backend.elementwise import elementwise_kernel
    name = elementwise_kernel("({0} * {1})", ["a", "a"], 3)
    with pytest.raises(ValueError, match="broadcast"):
        jitted(name)(np.ones((2, 3, 4)), np.ones((3, 3, 4)))
    assert jitted(name)(np.ones((0, 3, 4)), np.ones((1, 3, 4))).shape == (0, 3, 4)


def _pairwise_energy(a, b, c):
    """3-d broadcasting as vectorized code writes it: every pair of rows, then a sum."""
    d = a[:, None, :] - b[None, :, :]
    e = np.tanh(d * c[None, None, :]) ** 2 + 0.5 * np.exp(-d * d)
    return np.sum(e * d)


@pytest.mark.slow
def test_gradient_through_elementwise_kernels_matches_finite_differences():
    """The jitted gradient of a function of 3-d broadcast arithmetic, whose expressions (the
    primal's and the adjoints') become loop kernels, against central finite differences, at 60
    x 40 rows."""
    import s2sad
    from s2sad.check.fd import numerical_grad, rel_error
    rng = np.random.default_rng(3)
    args = (rng.normal(size=(60, 5)) * 0.5, rng.normal(size=(40, 5)) * 0.5, rng.normal(size=5))
    g = s2sad.grad(_pairwise_energy, (0, 1, 2), jit=True)
    got = g(*args)
    assert "_elementwise3_" in s2sad.source(g)
    want = numerical_grad(_pairwise_energy, args, argnums=(0, 1, 2))
    assert rel_error(got, want) < 1e-7


@pytest.mark.slow  # Numba compiles each kernel drawn
@settings(max_examples=20, deadline=None)
@given(template=_expr, op=st.sampled_from(["+", "-", "*", "/"]), ndim=st.sampled_from([3, 4]),
       data=st.data())
def test_elementwise_in_place_kernels_match_numpy(template, op, ndim, data):
    """``t op= expression`` as the in-place loop kernel: NumPy's values in ``t`` (a view with a
    step too), operands broadcast to ``t``'s shape, and the shape NumPy refuses refused."""
    from s2sad.backend.elementwise import elementwise_into_kernel
    full = tuple(data.draw(st.integers(1, 4)) for _ in range(ndim))
    one = lambda: tuple(1 if data.draw(st.booleans()) else n for n in full)
    rng = np.random.default_rng(sum(full) + ndim + len(template))
    x0, x1 = rng.normal(size=one()), rng.normal(size=one() + (2,))[..., 1]
    x3, s2 = rng.normal(size=one()), float(rng.normal())
    base = rng.normal(size=full + (2,))
    t = base[..., 0]  # a view with a step
    want = t.copy()
    name = elementwise_into_kernel(op, template, ["a", "a", "s", "a"], ndim)
    with np.errstate(all="ignore"):
        value = eval(template.format("x0", "x1", "s2", "x3"), {"np": np, "x0": x0, "x1": x1, "s2": s2, "x3": x3})
        exec(f"want {op}= value", {"want": want, "value": value})  # noqa: S102 - the test's own text
        jitted(name)(t, x0, x1, s2, x3)
    np.testing.assert_allclose(base[..., 0], want, rtol=1e-12, atol=1e-12, equal_nan=True)
    bigger = tuple(n + 1 for n in full)
    with pytest.raises(ValueError, match="broadcast"):
        jitted(name)(np.zeros(full), rng.normal(size=bigger), x1, s2, x3)


def test_elementwise_kernel_with_a_mask_and_integer_counts_matches_numpy():
    """A max's adjoint as vectorized code gives it, ``g * (x == m) / count``: a comparison as a
    factor and an integer array as a divisor, NumPy's float64 values."""
    from s2sad.backend.elementwise import elementwise_kernel
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=(4, 3, 5)), 1)
    m = np.max(x, axis=2, keepdims=True)
    g = rng.normal(size=(4, 3, 1))
    count = np.sum(x == m, axis=2, keepdims=True)
    name = elementwise_kernel("(({0} * ({1} == {2})) / {3})", ["a", "a", "a", "a"], 3)
    got = jitted(name)(g, x, m, count)
    np.testing.assert_allclose(got, g * (x == m) / count, rtol=1e-15)


def test_integer_and_comparison_expressions_stay_numpy_where_a_loop_would_differ():
    """What the kernels refuse: a comparison that is not a factor (NumPy's bool + bool is a
    logical or), an integer-only result (NumPy's is an integer array), an integer power."""
    import s2sad.backend.kernels as K
    from s2sad import ir
    from s2sad.ir.types import Array
    fn = ir.Function("f", ["a", "b", "i"], [], types={"a": Array("float64", 3), "b": Array("float64", 3),
                                                    "i": Array("int64", 3)})
    rw = K._Rewrite(fn, {})
    a, b, i = ir.Var("a"), ir.Var("b"), ir.Var("i")
    lt, eq = ir.Compare("<", a, b), ir.Compare("==", a, b)
    assert rw.elementwise(ir.BinOp("*", a, eq)) is not None
    assert rw.elementwise(ir.BinOp("/", ir.BinOp("*", a, eq), i)) is not None
    assert rw.elementwise(ir.BinOp("+", eq, lt)) is None
    assert rw.elementwise(lt) is None
    # a product of masks is a bool array (a logical and); added, a logical or, not 2
    assert rw.elementwise(ir.BinOp("*", a, ir.BinOp("+", ir.BinOp("*", eq, lt), ir.BinOp("*", lt, lt)))) is None
    assert rw.elementwise(ir.BinOp("*", ir.UnaryOp("-", eq), a)) is None  # NumPy raises
    assert rw.elementwise(ir.BinOp("*", lt, ir.Const(1))) is None  # an int64 array in NumPy
    assert rw.elementwise(ir.BinOp("*", a, ir.BinOp("*", lt, ir.Const(1)))) is None
    assert rw.elementwise(ir.BinOp("+", i, i)) is None
    assert rw.elementwise(ir.BinOp("*", a, ir.BinOp("**", i, i))) is None
    assert rw.elementwise(ir.BinOp("*", a, ir.BinOp("**", a, i))) is None
    assert rw.elementwise(ir.BinOp("*", a, ir.BinOp("+", i, i))) is not None
    assert rw.elementwise(ir.BinOp("+", a, ir.Const(float("inf")))) is not None
    fn.types["h"] = Array("float64", 9)
    assert rw.elementwise(ir.BinOp("*", ir.Var("h"), ir.Var("h"))) is None  # more axes than kernels have


def _masked(x, a, b):
    return np.sum(x * ((a > 0) * (b > 0) + (a > -0.5) * (b > -0.5)))


def _mask_twice(x, a, b):
    m = (a > 0) * (b > 0)
    return np.sum(x * (m + m))


def _infinite_shift(a, b):
    return np.sum(np.exp(a * b - np.inf) + a * b)


@pytest.mark.slow
@pytest.mark.parametrize("f", [_masked, _mask_twice, _infinite_shift])
def test_masks_and_infinities_in_3d_arithmetic_match_numpy(f):
    """Found by review: a product of masks is a bool array in NumPy (the jitted gradient had
    2.0 where NumPy's logical or gives 1), and ``np.inf`` in a kernel's expression; the jitted
    gradient against the hand-derived one (the masks themselves, or ``b``) and the Python backend."""
    import s2sad
    rng = np.random.default_rng(0)
    x, a, b = (rng.normal(size=(2, 3, 4)) for _ in range(3))
    if f is _infinite_shift:
        args, want = (a, b), b
    else:
        args = (x, a, b)
        m = (a > 0) * (b > 0)
        want = ((m + (a > -0.5) * (b > -0.5)) if f is _masked else (m + m)).astype(np.float64)
    got = s2sad.grad(f, 0, jit=True)(*args)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    np.testing.assert_allclose(got, s2sad.grad(f, 0)(*args), rtol=1e-15, atol=0)


# ------------------------------------------------ generated programs of 3-d broadcasting

_safe = st.recursive(
    st.sampled_from(["x", "y", "z", "0.5", "1.5"]),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} / (1.5 + {t[1]} * {t[1]}))"),
        inner.map(lambda a: f"(-{a})"),
        st.tuples(st.sampled_from(["np.tanh", "np.sin", "np.cos"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
        inner.map(lambda a: f"np.exp(np.tanh({a}))"),
    ), max_leaves=6)


@pytest.mark.slow  # Numba compiles each program drawn (a few kernels each)
@settings(max_examples=8, deadline=None)
@given(e1=_safe, e2=_safe, update=st.sampled_from(["+=", "-=", "*="]))
def test_generated_broadcasting_programs_jitted_gradients_match_finite_differences(e1, e2, update):
    """Programs of 3-d broadcasting drawn by hypothesis: pairs of rows (``a[:, None, :]`` against
    ``b[None, :, :]``) and a weight row, an expression and an in-place update of an array the
    function made; the jitted gradient, where the expressions and the adjoints' accumulations are
    loop kernels, against central finite differences and the Python backend."""
    import progen
    import s2sad
    from s2sad.check.fd import numerical_grad, rel_error
    src = ("import numpy as np\n\n\ndef f(a, b, w):\n"
           "    x = a[:, None, :]\n    y = b[None, :, :]\n    z = w[None, None, :]\n"
           f"    e = {e1}\n    g = np.ones((a.shape[0], b.shape[0], a.shape[1]))\n"
           f"    g {update} {e2}\n    return np.sum(e * g)\n")
    f = progen.load(src)
    rng = np.random.default_rng(len(src))
    args = (rng.normal(size=(7, 4)) * 0.6, rng.normal(size=(5, 4)) * 0.6, rng.normal(size=4) * 0.6)
    got = s2sad.grad(f, (0, 1, 2), jit=True)(*args)
    want = numerical_grad(f, args, argnums=(0, 1, 2))
    assert rel_error(got, want) < 1e-6, src
    assert rel_error(got, s2sad.grad(f, (0, 1, 2))(*args)) < 1e-11, src


def _bilinear(x, W, y):
    return np.sum(np.transpose(W) @ x * y) + np.sum(W.T * W.T)


def test_transpose_without_axes_is_the_T_attribute_in_jitted_code():
    """np.transpose(W) and the adjoint of W.T are printed as .T in a jitted module (Numba's
    np.transpose compiles an axes check on a cold first call); the gradient matches the
    hand-derived one: d/dx = W @ y, d/dW = x y^T + 2 W, d/dy = W^T x."""
    import s2sad
    rng = np.random.default_rng(4)
    x, W, y = rng.normal(size=5), rng.normal(size=(5, 3)), rng.normal(size=3)
    g = s2sad.grad(_bilinear, (0, 1, 2), jit=True)
    got = g(x, W, y)
    src = s2sad.source(g)
    code = [ln for ln in src.split("def _bilinear_vjp")[1].splitlines() if not ln.strip().startswith("#")]
    assert not any("np.transpose(" in ln for ln in code) and any("_bar.T" in ln for ln in code)
    np.testing.assert_allclose(got[0], W @ y, rtol=1e-13)
    np.testing.assert_allclose(got[1], np.outer(x, y) + 2 * W, rtol=1e-13)
    np.testing.assert_allclose(got[2], W.T @ x, rtol=1e-13)
