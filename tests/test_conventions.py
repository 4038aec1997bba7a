"""Derivatives at non-smooth and non-finite points follow one documented convention, the same
in reverse and forward mode, for math scalars and numpy arrays alike:

* ``abs'(0) = 0`` (the derivative is ``sign(x)``), for ``abs``, ``math.fabs``, ``np.abs``.
* ``max(a, b)`` with ``a == b``: the whole derivative goes to the *first* argument equal to the
  result (builtin ``max`` with any number of arguments, ``np.maximum`` elementwise);
  ``min``/``np.minimum`` likewise.
* Reductions ``np.max``/``np.min`` (and builtin ``max(array)``): the derivative is shared
  *equally* among the tied extrema (``[1, 3, 3]`` -> ``[0, 0.5, 0.5]``), along an axis too.
* ``np.clip(x, lo, hi)``: ``x`` gets the derivative on the *closed* interval
  ``lo <= x <= hi``; below it goes to ``lo``, above to ``hi``.
* ``sqrt'(0) = +inf``, and ``x ** p`` with ``p < 1`` at 0 likewise: IEEE arithmetic as in
  NumPy, never a ``ZeroDivisionError`` from Python floats.
* ``floor``, ``ceil``, ``trunc``, ``round``, ``sign``, ``int()`` and ``//`` have derivative 0
  everywhere, at the jumps too.
* ``x ** y`` at ``x = 0``: the derivative with respect to ``y`` is 0 (the limit from
  ``x > 0``), not ``0 * log(0) = nan``.
* A NaN input gives a NaN in the gradient of that input: never swallowed into 0. Entries that
  do not depend on it stay finite.
* ``inf`` is handled as NumPy does (``exp'(inf) = inf``, ``atan'(inf) = 0``,
  ``log'(0) = inf``, ``sqrt'(inf) = 0``).

Cases marked ``xfail(strict=True)`` are known gaps; the reason says what happens today.
"""

import math

import numpy as np
import pytest

import s2sad

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's divide-by-zero

nan, inf = math.nan, math.inf
MODES = ("reverse", "forward")


def d(f, *args, argnums=0, mode="reverse"):
    args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    return s2sad.grad(f, argnums, mode=mode)(*args)


def same(got, want):
    """Exact equality, NaN equal to NaN, for floats, arrays and tuples of them."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            same(g, w)
        return
    np.testing.assert_array_equal(np.asarray(got, dtype=float), np.asarray(want, dtype=float))


def xfail(reason):
    return pytest.mark.xfail(strict=True, reason=reason)


def modes(reverse=None, forward=None, both=None):
    """The two modes as params, each marked xfail with its reason when given."""
    out = []
    for m, r in (("reverse", reverse or both), ("forward", forward or both)):
        out.append(pytest.param(m, marks=[xfail(r)] if r else [], id=m))
    return out


FWD_ZERO_TIMES_INF = ("forward mode multiplies every partial by its tangent, also where the "
                      "tangent is 0 (other array entries, other scalar inputs): 0 * inf or "
                      "0 * nan = nan poisons the sum, so derivatives that do not depend on the "
                      "inf/nan value become nan (reverse mode gets them right)")


# ---------------------------------------------------------------- the functions


def abs_builtin(x):
    return abs(x)


def abs_fabs(x):
    return math.fabs(x)


def abs_np(x):
    return np.abs(x)


def abs_np_array(a):
    return np.sum(np.abs(a))


def abs_builtin_array(a):
    return np.sum(abs(a))


def max2(x, y):
    return max(x, y)


def min2(x, y):
    return min(x, y)


def max3(x, y, z):
    return max(x, y, z)


def min3(x, y, z):
    return min(x, y, z)


def maximum_scalar(x, y):
    return np.maximum(x, y)


def minimum_scalar(x, y):
    return np.minimum(x, y)


def maximum_array(a, b):
    return np.sum(np.maximum(a, b))


def minimum_array(a, b):
    return np.sum(np.minimum(a, b))


def reduce_max(a):
    return np.max(a)


def reduce_min(a):
    return np.min(a)


def reduce_amax(a):
    return np.amax(a)


def builtin_max_of_array(a):
    return max(a)


def method_max(a):
    return a.max()


def reduce_max_axis0(m):
    return np.sum(np.max(m, axis=0))


def reduce_min_axis1(m):
    return np.sum(np.min(m, axis=1))


def clip_scalar(x, lo, hi):
    return np.clip(x, lo, hi)


def clip_array(a, lo, hi):
    return np.sum(np.clip(a, lo, hi))


def sqrt_math(x):
    return math.sqrt(x)


def sqrt_np(x):
    return np.sqrt(x)


def sqrt_np_array(a):
    return np.sum(np.sqrt(a))


def pow_half(x):
    return x ** 0.5


def math_pow_half(x):
    return math.pow(x, 0.5)


def floor_math(x):
    return x + math.floor(x)


def ceil_math(x):
    return x + math.ceil(x)


def trunc_math(x):
    return x + math.trunc(x)


def round_builtin(x):
    return x + round(x)


def int_builtin(x):
    return x + int(x)


def floordiv(x):
    return x + x // 1.0


def floor_ceil_np(a):
    return np.sum(a + np.floor(a) + np.ceil(a))


def round_sign_np(a):
    return np.sum(a + np.round(a) + np.sign(a))


def pow_op(x, y):
    return x ** y


def pow_math(x, y):
    return math.pow(x, y)


def pow_np(a, b):
    return np.sum(np.power(a, b))


def pow_op_array(a, b):
    return np.sum(a ** b)


def square(x):
    return x * x


def sin_math(x):
    return math.sin(x)


def exp_math(x):
    return math.exp(x)


def atan_math(x):
    return math.atan(x)


def tanh_math(x):
    return math.tanh(x)


def reciprocal(x):
    return 1.0 / x


def product(x, y):
    return x * y


def sin_np_array(a):
    return np.sum(np.sin(a))


def exp_np_array(a):
    return np.sum(np.exp(a))


def log_np_array(a):
    return np.sum(np.log(a))


def dot_self(a):
    return np.dot(a, a)


# ---------------------------------------------------------------- abs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [abs_builtin, abs_fabs, abs_np], ids=lambda f: f.__name__)
@pytest.mark.parametrize("x,want", [(0.0, 0.0), (-0.0, 0.0), (-2.0, -1.0), (3.0, 1.0)])
def test_abs(f, x, want, mode):
    same(d(f, x, mode=mode), want)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [abs_np_array, abs_builtin_array], ids=lambda f: f.__name__)
def test_abs_array(f, mode):
    same(d(f, np.array([0.0, -1.0, 2.0, -0.0]), mode=mode), [0.0, -1.0, 1.0, 0.0])


# ---------------------------------------------------------------- max / min of arguments


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [max2, min2, maximum_scalar, minimum_scalar], ids=lambda f: f.__name__)
def test_tie_goes_to_the_first_argument(f, mode):
    same(d(f, 1.5, 1.5, argnums=(0, 1), mode=mode), (1.0, 0.0))


@pytest.mark.parametrize("mode", MODES)
def test_max_min_away_from_ties(mode):
    same(d(max2, 1.0, 2.0, argnums=(0, 1), mode=mode), (0.0, 1.0))
    same(d(min2, 1.0, 2.0, argnums=(0, 1), mode=mode), (1.0, 0.0))
    same(d(maximum_scalar, 3.0, 2.0, argnums=(0, 1), mode=mode), (1.0, 0.0))
    same(d(minimum_scalar, 3.0, 2.0, argnums=(0, 1), mode=mode), (0.0, 1.0))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [max3, min3], ids=lambda f: f.__name__)
@pytest.mark.parametrize("args,want", [
    ((2.0, 2.0, 2.0), (1.0, 0.0, 0.0)),
    ((1.0, 1.0, 1.0), (1.0, 0.0, 0.0)),
])
def test_three_way_tie(f, args, want, mode):
    same(d(f, *args, argnums=(0, 1, 2), mode=mode), want)


@pytest.mark.parametrize("mode", MODES)
def test_three_argument_tie_after_the_first(mode):
    same(d(max3, 1.0, 2.0, 2.0, argnums=(0, 1, 2), mode=mode), (0.0, 1.0, 0.0))
    same(d(min3, 3.0, 2.0, 2.0, argnums=(0, 1, 2), mode=mode), (0.0, 1.0, 0.0))


@pytest.mark.parametrize("mode", MODES)
def test_maximum_minimum_arrays(mode):
    a = np.array([1.0, 2.0, 5.0])
    b = np.array([1.0, 3.0, 4.0])
    same(d(maximum_array, a, b, argnums=(0, 1), mode=mode), ([1.0, 0.0, 1.0], [0.0, 1.0, 0.0]))
    same(d(minimum_array, a, b, argnums=(0, 1), mode=mode), ([1.0, 1.0, 0.0], [0.0, 0.0, 1.0]))


# ---------------------------------------------------------------- reductions with ties


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [
    reduce_max, reduce_amax, builtin_max_of_array, method_max,
], ids=lambda f: f.__name__)
def test_reduction_max_shares_ties_equally(f, mode):
    same(d(f, np.array([1.0, 3.0, 3.0]), mode=mode), [0.0, 0.5, 0.5])
    same(d(f, np.array([2.0, 2.0, 2.0, 2.0]), mode=mode), [0.25, 0.25, 0.25, 0.25])
    same(d(f, np.array([4.0, 3.0, 1.0]), mode=mode), [1.0, 0.0, 0.0])


@pytest.mark.parametrize("mode", MODES)
def test_reduction_min_shares_ties_equally(mode):
    same(d(reduce_min, np.array([1.0, 1.0, 3.0]), mode=mode), [0.5, 0.5, 0.0])


@pytest.mark.parametrize("mode", MODES)
def test_reduction_along_an_axis_shares_ties(mode):
    m = np.array([[1.0, 5.0, 2.0], [1.0, 2.0, 2.0], [0.0, 5.0, 2.0]])
    same(d(reduce_max_axis0, m, mode=mode),
         [[0.5, 0.5, 1 / 3], [0.5, 0.0, 1 / 3], [0.0, 0.5, 1 / 3]])
    m = np.array([[1.0, 5.0, 1.0], [3.0, 2.0, 2.0], [0.0, 5.0, 2.0]])
    same(d(reduce_min_axis1, m, mode=mode),
         [[0.5, 0.0, 0.5], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


# ---------------------------------------------------------------- clip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("x", [1.0, 1.5, 2.0], ids=["at-lo", "inside", "at-hi"])
def test_clip_closed_interval(x, mode):
    same(d(clip_scalar, x, 1.0, 2.0, argnums=0, mode=mode), 1.0)


@pytest.mark.parametrize("mode", MODES)
def test_clip_bounds_get_the_derivative_outside(mode):
    same(d(clip_scalar, 1.0, 1.0, 2.0, argnums=(0, 1, 2), mode=mode), (1.0, 0.0, 0.0))
    same(d(clip_scalar, 2.0, 1.0, 2.0, argnums=(0, 1, 2), mode=mode), (1.0, 0.0, 0.0))
    same(d(clip_scalar, 0.5, 1.0, 2.0, argnums=(0, 1, 2), mode=mode), (0.0, 1.0, 0.0))
    same(d(clip_scalar, 3.0, 1.0, 2.0, argnums=(0, 1, 2), mode=mode), (0.0, 0.0, 1.0))
    a = np.array([0.5, 1.0, 1.5, 2.0, 3.0])
    same(d(clip_array, a, 1.0, 2.0, argnums=(0, 1, 2), mode=mode),
         ([0.0, 1.0, 1.0, 1.0, 0.0], 1.0, 1.0))


@pytest.mark.parametrize("mode", MODES)
def test_clip_array_closed_interval(mode):
    a = np.array([0.5, 1.0, 1.5, 2.0, 3.0])
    same(d(clip_array, a, 1.0, 2.0, mode=mode), [0.0, 1.0, 1.0, 1.0, 0.0])


# ---------------------------------------------------------------- sqrt and fractional powers at 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [sqrt_math, sqrt_np, pow_half, math_pow_half], ids=lambda f: f.__name__)
def test_sqrt_at_zero_is_inf(f, mode):
    same(d(f, 0.0, mode=mode), inf)
    same(d(f, 4.0, mode=mode), 0.25)


@pytest.mark.parametrize("mode", modes(forward=FWD_ZERO_TIMES_INF))
def test_sqrt_array_at_zero_is_inf(mode):
    same(d(sqrt_np_array, np.array([0.0, 4.0]), mode=mode), [inf, 0.25])


# ---------------------------------------------------------------- piecewise constant functions


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [floor_math, ceil_math, trunc_math, round_builtin, int_builtin, floordiv],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("x", [2.0, 2.5, -1.0, -1.5, 0.0])
def test_piecewise_constant_scalar(f, x, mode):
    # f(x) = x + step(x): only the identity contributes, at the jumps too
    same(d(f, x, mode=mode), 1.0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [floor_ceil_np, round_sign_np], ids=lambda f: f.__name__)
def test_piecewise_constant_array(f, mode):
    same(d(f, np.array([2.0, 2.5, -1.0, -1.5, 0.0]), mode=mode), [1.0] * 5)


# ---------------------------------------------------------------- x ** y at x = 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [pow_op, pow_math], ids=lambda f: f.__name__)
@pytest.mark.parametrize("y,dx", [(2.0, 0.0), (3.0, 0.0), (1.0, 1.0)])
def test_pow_zero_base(f, y, dx, mode):
    same(d(f, 0.0, y, argnums=(0, 1), mode=mode), (dx, 0.0))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [pow_np, pow_op_array], ids=lambda f: f.__name__)
def test_pow_zero_base_array(f, mode):
    a = np.array([0.0, 0.0, 2.0])
    b = np.array([2.0, 1.0, 3.0])
    same(d(f, a, b, argnums=(0, 1), mode=mode), ([0.0, 1.0, 12.0], [0.0, 0.0, 8.0 * math.log(2.0)]))


# ---------------------------------------------------------------- NaN propagates


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", [square, sin_math, exp_math, sqrt_math, abs_builtin, abs_fabs, abs_np,
                               sqrt_np, reciprocal], ids=lambda f: f.__name__)
def test_nan_input_gives_nan_gradient(f, mode):
    assert math.isnan(d(f, nan, mode=mode))


@pytest.mark.parametrize("mode", MODES)
def test_nan_in_pow(mode):
    gx, _gy = d(pow_op, nan, 2.0, argnums=(0, 1), mode=mode)
    assert math.isnan(gx)
    gx, gy = d(pow_op, 2.0, nan, argnums=(0, 1), mode=mode)
    assert math.isnan(gx) and math.isnan(gy)


@pytest.mark.parametrize("mode", modes(forward=FWD_ZERO_TIMES_INF))
@pytest.mark.parametrize("f,other", [
    (sin_np_array, math.cos(1.0)),
    (abs_np_array, 1.0),
    (exp_np_array, math.exp(1.0)),
    (sqrt_np_array, 0.5),
], ids=["sin", "abs", "exp", "sqrt"])
def test_nan_entry_stays_in_its_place(f, other, mode):
    same(d(f, np.array([nan, 1.0]), mode=mode), [nan, other])


@pytest.mark.parametrize("mode", modes(forward=FWD_ZERO_TIMES_INF))
def test_nan_reaches_every_entry_it_touches(mode):
    # d/da (a . a) = 2a: only the NaN entry is NaN
    same(d(dot_self, np.array([nan, 1.0]), mode=mode), [nan, 2.0])


NAN_SWALLOWED = ("the max/maximum rule compares with ==, which is False for NaN, so the NaN "
                 "argument gets derivative 0")


@pytest.mark.parametrize("mode", modes(both=NAN_SWALLOWED))
def test_nan_through_max(mode):
    gx, _ = d(max2, nan, 1.0, argnums=(0, 1), mode=mode)
    assert math.isnan(gx)
    gx, _ = d(maximum_scalar, nan, 1.0, argnums=(0, 1), mode=mode)
    assert math.isnan(gx)
    ga, gb = d(maximum_array, np.array([nan, 1.0]), np.array([1.0, nan]), argnums=(0, 1), mode=mode)
    assert math.isnan(ga[0]) and math.isnan(gb[1])


@pytest.mark.parametrize("mode", MODES)
def test_nan_through_reduction_max(mode):
    g = d(reduce_max, np.array([nan, 1.0, 2.0]), mode=mode)
    assert math.isnan(g[0])


# ---------------------------------------------------------------- inf as in NumPy


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f,x,want", [
    (square, inf, inf),
    (square, -inf, -inf),
    (exp_math, inf, inf),
    (exp_math, -inf, 0.0),
    (atan_math, inf, 0.0),
    (tanh_math, inf, 0.0),
    (reciprocal, inf, -0.0),
    (sqrt_np, inf, 0.0),
    (abs_builtin, -inf, -1.0),
], ids=lambda v: getattr(v, "__name__", repr(v)))
def test_inf_scalar(f, x, want, mode):
    same(d(f, x, mode=mode), want)


@pytest.mark.parametrize("mode", modes(forward=FWD_ZERO_TIMES_INF))
def test_inf_times_zero(mode):
    same(d(product, inf, 0.0, argnums=(0, 1), mode=mode), (0.0, inf))


@pytest.mark.parametrize("mode", modes(forward=FWD_ZERO_TIMES_INF))
@pytest.mark.parametrize("f,a,want", [
    (log_np_array, [0.0, 1.0], [inf, 1.0]),
    (exp_np_array, [inf, 0.0], [inf, 1.0]),
], ids=["log-at-0", "exp-at-inf"])
def test_inf_array(f, a, want, mode):
    same(d(f, np.array(a), mode=mode), want)


@pytest.mark.parametrize("mode", MODES)
def test_inf_array_finite_partials(mode):
    same(d(sqrt_np_array, np.array([inf, 1.0]), mode=mode), [0.0, 0.5])
