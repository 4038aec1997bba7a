"""A corpus of small plain-Python numeric functions for testing derivatives.

Every function is a plain module-level ``def`` written the way a scientist would write it.
Functions meant to be differentiated are registered with the :func:`case` decorator::

    @case(args=lambda rng: (_sgn(rng), 3), argnums=0, domain="any x; n >= 0")
    def f(x, n):
        ...

Registry API
------------
``case(*, args, argnums=0, domain=None, tags=(), note=None)`` appends a :class:`Case` to
``CORPUS`` and returns the function unchanged:

* ``args``: ``rng -> tuple`` of arguments, given a ``numpy.random.Generator``; it draws a
  random valid point kept away from kinks and branch boundaries (so that 4th-order finite
  differences are accurate to ~1e-6 relative).  Arrays are fresh float64 arrays of 3-6 entries
  (2-D ones up to 4x3), ints are Python ints, bools Python bools.
* ``argnums``: int or tuple of ints, the differentiable arguments (Python floats or float64
  arrays only; never int/bool arguments).  Stored as a tuple.
* ``domain``: human-readable description of the valid input region (None: anything).
* ``tags``: extra labels.  ``"vector_output"``: the function returns a tuple or an array
  instead of a scalar (for jvp/vjp tests).  ``"no_numba"``: the function does not compile with
  ``numba.njit`` (``note`` says why).  ``"mutates_input"``: the function writes into one of
  its array arguments.
  ``"beyond_list"``: uses a construct outside the agreed list (array methods, iterating
  over a 1-D array).
* ``note``: free text.

Helper functions (not registered, called by corpus functions) and module-level constants live
in this module too.  Registered functions may mutate their array arguments: call them with
fresh copies (``Case.sample`` draws fresh arrays every time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CORPUS = []


@dataclass(frozen=True)
class Case:
    name: str  # the function's __name__ (unique in CORPUS)
    fn: object  # the plain Python function
    args: object  # rng -> tuple of arguments
    argnums: tuple  # differentiable argument positions
    domain: object = None  # str or None
    tags: frozenset = frozenset()
    note: object = None  # str or None

    @property
    def vector_output(self):
        return "vector_output" in self.tags

    @property
    def numba_ok(self):
        return "no_numba" not in self.tags

    def sample(self, rng):
        """A fresh random input point (tuple of arguments)."""
        return tuple(self.args(rng))

    def __call__(self, *args):
        return self.fn(*args)


def case(*, args, argnums=0, domain=None, tags=(), note=None):
    """Register the decorated function in CORPUS (see module docstring)."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    def register(fn):
        if any(c.name == fn.__name__ for c in CORPUS):
            raise ValueError(f"duplicate corpus entry {fn.__name__}")
        CORPUS.append(Case(fn.__name__, fn, args, nums, domain, frozenset(tags), note))
        return fn

    return register


def get_case(name):
    for c in CORPUS:
        if c.name == name:
            return c
    raise KeyError(name)


def cases(with_tags=(), without_tags=()):
    """Corpus entries having all of ``with_tags`` and none of ``without_tags``."""
    return [c for c in CORPUS if set(with_tags) <= c.tags and not (set(without_tags) & c.tags)]


# ======================================================================= input samplers
# (the "_" names below are sampling utilities, not corpus material)


def _sgn(rng, lo=0.5, hi=1.5):
    """A float with magnitude in [lo, hi] and random sign (away from 0)."""
    return float(rng.uniform(lo, hi) * rng.choice((-1.0, 1.0)))


def _pos(rng, lo=0.5, hi=1.5):
    return float(rng.uniform(lo, hi))


def _svec(rng, n, lo=0.5, hi=1.5):
    return rng.uniform(lo, hi, n) * rng.choice((-1.0, 1.0), n)


def _pvec(rng, n, lo=0.5, hi=1.5):
    return rng.uniform(lo, hi, n)


def _smat(rng, shape, lo=0.5, hi=1.5):
    return rng.uniform(lo, hi, shape) * rng.choice((-1.0, 1.0), shape)


def _distinct(rng, shape, gap=0.3, center=0.0):
    """Entries with pairwise gaps >= gap (for max/min/sorting kinks), random order."""
    n = int(np.prod(shape))
    vals = np.cumsum(rng.uniform(gap, 2 * gap, n))
    vals = vals - vals.mean() + center
    return rng.permutation(vals).reshape(shape)


def _away(rng, lo, hi, period=1.0, margin=0.1):
    """A float in [lo, hi) whose distance to the nearest multiple of ``period`` is >= margin*period."""
    while True:
        k = rng.integers(math.floor(lo / period), math.ceil(hi / period))
        x = period * (k + rng.uniform(margin, 1.0 - margin))
        if lo <= x < hi:
            return float(x)


def _pieces(rng, *intervals):
    """A float drawn uniformly from one of the intervals (chosen at random)."""
    lo, hi = intervals[rng.integers(len(intervals))]
    return float(rng.uniform(lo, hi))


def _reject(rng, draw, ok):
    for _ in range(10000):
        point = draw(rng)
        if ok(*point):
            return point
    raise RuntimeError("sampler failed")


def _spd(rng, n):
    b = rng.uniform(-1.0, 1.0, (n, n))
    return b @ b.T / n + np.eye(n)


def _sym_gap(rng, eigs):
    """Symmetric matrix with the given (well separated) eigenvalues, random eigenvectors."""
    q, _ = np.linalg.qr(rng.normal(size=(len(eigs), len(eigs))))
    return q @ np.diag(eigs) @ q.T


def _diag_dominant(rng, n):
    a = rng.uniform(-0.5, 0.5, (n, n))
    return a + np.diag(rng.uniform(2.5, 3.5, n))


# ======================================================================= constants

GRAVITY = 9.81
WEIGHTS = np.array([0.5, -1.0, 2.0, 0.25])
COEFFS = np.array([1.0, -0.5, 0.25, 0.125, -0.0625])
N_STEPS = 12
DT = 0.05


# ======================================================================= helpers (not registered)


def sq(t):
    return t * t


def dot_self(v):
    return np.dot(v, v)


def norm(v):
    # a helper calling another helper
    return math.sqrt(dot_self(v))


def to_polar(x, y):
    # a helper returning a tuple
    return math.hypot(x, y), math.atan2(y, x)


def fill_squares(out, x):
    # a helper writing into its array argument, returning nothing
    for i in range(len(x)):
        out[i] = x[i] * x[i]


def scale_inplace(v, s):
    # a helper writing into its array argument and returning it
    for i in range(v.shape[0]):
        v[i] *= s
    return v


def logistic_rhs(y, r, k):
    return r * y * (1.0 - y / k)


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def lj_pair(r2):
    inv6 = 1.0 / (r2 * r2 * r2)
    return 4.0 * (inv6 * inv6 - inv6)


# ======================================================================= scalars, arithmetic


@case(args=lambda r: (_sgn(r),))
def poly3(x):
    return 3.0 * x**3 - 2.0 * x**2 + x - 5.0


@case(args=lambda r: (_sgn(r), _sgn(r)), argnums=(0, 1))
def rational(x, y):
    return (x * y + 1.0) / (x * x + y * y + 1.0)


@case(args=lambda r: (_sgn(r), _sgn(r)), argnums=(0, 1), domain="y != 0")
def arith_ops(x, y):
    a = x + y
    b = x - y
    c = x * y
    d = x / y
    e = x**2
    f = -x
    return a * b + c - d + e * f + (-(a - c))


@case(args=lambda r: (_away(r, -2.0, 2.0, period=0.7),), domain="x not near a multiple of 0.7")
def float_floordiv_mod(x):
    q = x // 0.7
    rem = x % 0.7
    return q * x + rem * rem + 3.0 * rem


@case(args=lambda r: (_sgn(r), int(r.integers(2, 9))), domain="n >= 0 int")
def int_floordiv_mod(x, n):
    half = n // 2
    odd = n % 2
    return x * half + x**2 * odd + float(n % 3) * x


@case(args=lambda r: (_sgn(r),), domain="x != 0")
def int_powers(x):
    return x**4 - 2.0 * x**3 + x**-2 + x**0 + x**1


@case(args=lambda r: (_pos(r), _sgn(r)), argnums=(0, 1), domain="x > 0")
def real_power(x, y):
    return x**y + x**0.5 + 2.0 ** (x * y)


@case(args=lambda r: (_pos(r), _sgn(r)), argnums=(0, 1), domain="x > 0")
def builtin_pow(x, y):
    return pow(x, 3) + pow(x, y) + pow(2.0, y)


@case(args=lambda r: (_sgn(r),))
def unary_minus(x):
    y = -x
    z = -(x * x) + -(y**2)
    return -(y * z) + -1.0


def _g_abs_builtin(rng):
    x = _sgn(rng)
    return x, x + _sgn(rng)


@case(
    args=_g_abs_builtin,
    argnums=(0, 1),
    domain="x, y, x - y away from 0",
)
def abs_builtin(x, y):
    return abs(x) * y + abs(x - y) + abs(-3.0 * x)


@case(
    args=lambda r: tuple(float(v) for v in _distinct(r, 3, gap=0.5)),
    argnums=(0, 1, 2),
    domain="x, y, z pairwise distinct",
)
def min_max_builtin(x, y, z):
    return max(x, y) * min(y, z) + max(x, y, z) - min(x, y, z)


@case(args=lambda r: (_away(r, -3.0, 3.0), int(r.integers(1, 5))), domain="x not near an integer")
def casts(x, n):
    m = int(n)
    f = float(m)
    frac = x - float(int(x))
    return f * x + float(n) * x * x + frac * frac


@case(args=lambda r: (_sgn(r), bool(r.integers(2))))
def bool_flag(x, flag):
    if flag:
        return x * x
    return -x + 1.0


@case(
    args=lambda r: (_sgn(r), _pieces(r, (-1.5, -1.1), (-0.9, -0.5), (0.5, 0.9), (1.1, 1.5))),
    argnums=(0, 1),
    domain="x != 0, |y| != 1",
)
def bool_logic(x, y):
    pos = x > 0.0
    big = abs(y) > 1.0
    if pos and big:
        return x * y
    elif pos or not big:
        return x + y
    else:
        return x - y * y


@case(
    args=lambda r: tuple(float(v) for v in _distinct(r, 2, gap=0.5)),
    argnums=(0, 1),
    domain="x != y, x != 0",
    tags=("no_numba",),
    note="numba: float(bool) is not supported",
)
def bool_arith(x, y):
    c = float(x > y)
    d = (x < 0.0) + 0.0
    flags = (x > 0.0) + (y > 0.0)
    return c * x + (1.0 - c) * y * y + d * x + flags


@case(args=lambda r: tuple(float(v) for v in _distinct(r, 2, gap=0.5)), argnums=(0, 1), domain="x != y")
def comparisons(x, y):
    s = 0.0
    if x < y:
        s += x
    if x <= y:
        s += y
    if x > y:
        s -= x * y
    if x >= y:
        s += 2.0 * x
    if x == y:
        s += 100.0
    if x != y:
        s += x * x
    if -2.0 < x < 2.0:
        s += y
    return s


def _g_cond_expr(rng):
    def ok(x, y):
        a = x * x if x > 0.0 else -x
        return abs(y - a) > 0.2 and abs(x - y) > 0.2

    return _reject(rng, lambda r: (_sgn(r), _sgn(r)), ok)


@case(args=_g_cond_expr, argnums=(0, 1), domain="away from the branch boundaries")
def cond_expr(x, y):
    a = x * x if x > 0.0 else -x
    b = y if y > a else a - y
    return a + b * (x if x > y else y)  # noqa: FURB136 (deliberate conditional expression)


@case(args=lambda r: (_away(r, -2.0, 2.0),), domain="x not near -1, 0, 1")
def piecewise(x):
    if x < -1.0:
        y = -x * x
    elif x < 0.0:
        y = x**3 + 2.0 * x
    elif x < 1.0:
        y = math.sin(x)
    else:
        y = math.log(x) + 1.0
    return y * x


@case(args=lambda r: (_sgn(r), int(r.integers(3, 7))))
def with_pass(x, n):
    s = 0.0
    for i in range(n):
        if i == 2:
            pass
        else:
            s += x**i
    if s > 1e6:
        pass
    return s


# ======================================================================= tuples


@case(args=lambda r: (_sgn(r), _sgn(r)), argnums=(0, 1))
def tuple_pack_unpack(x, y):
    t = (x, y, x * y)
    a, b, c = t
    u = a + b, a - b
    p, q = u
    return p * q + c + t[0] * t[2]


@case(args=lambda r: (_sgn(r), _sgn(r)), argnums=(0, 1))
def tuple_swap_loop(x, y):
    a, b = x, y
    for i in range(5):
        a, b = b, a + 0.5 * b
    return a * b


@case(args=lambda r: tuple(float(v) for v in _distinct(r, 2, gap=0.5)), argnums=(0, 1), domain="x != y")
def swap_to_order(x, y):
    if x < y:
        x, y = y, x
    return x * x - y


@case(args=lambda r: (_sgn(r), _sgn(r), _sgn(r)), argnums=(0, 1, 2))
def nested_unpack(x, y, z):
    (a, b), c = (x, y), z
    return a * b + c * a


# ======================================================================= math module


@case(args=lambda r: (_sgn(r),), domain="|x| < 2")
def math_trig(x):
    return math.sin(x) * math.cos(2.0 * x) + math.tan(0.5 * x)


@case(args=lambda r: (_sgn(r, 0.1, 0.85),), domain="|x| < 0.9")
def math_inverse_trig(x):
    return math.asin(x) + 2.0 * math.acos(x) * x + math.atan(3.0 * x)


@case(args=lambda r: (_sgn(r), _sgn(r)), argnums=(0, 1), domain="y != 0")
def math_atan2(y, x):
    return math.atan2(y, x) * x + math.atan2(x * x + 0.1, y)


@case(args=lambda r: (_sgn(r),))
def math_hyperbolic(x):
    return math.sinh(x) * math.cosh(0.5 * x) - math.tanh(2.0 * x)


@case(
    args=lambda r: (_sgn(r), _pos(r, 1.5, 3.0), _sgn(r, 0.1, 0.85)),
    argnums=(0, 1, 2),
    domain="y > 1, |z| < 1",
)
def math_inverse_hyperbolic(x, y, z):
    return math.asinh(x) + math.acosh(y) * math.atanh(z)


@case(args=lambda r: (_pos(r, 0.3, 2.0),), domain="x > 0")
def math_exp_log(x):
    return math.exp(x) + math.expm1(x) * math.log(x) + math.log1p(x) - math.log2(x) + math.log10(x)


@case(args=lambda r: (_pos(r), _sgn(r)), argnums=(0, 1), domain="x > 0")
def math_sqrt_pow_hypot(x, y):
    return math.sqrt(x) * math.pow(x, y) + math.hypot(x, y)


@case(args=lambda r: (_sgn(r),))
def math_erf(x):
    return math.erf(x) * x + math.erfc(0.5 * x)


@case(args=lambda r: (_sgn(r), _sgn(r)), argnums=(0, 1), domain="x, y != 0")
def math_fabs_copysign(x, y):
    return math.fabs(x) * y + math.copysign(x * x, y) + math.copysign(1.0, x) * y


@case(args=lambda r: (_away(r, -3.0, 3.0),), domain="x not near an integer")
def math_floor_ceil(x):
    return math.floor(x) * x + 0.1 * math.ceil(x) ** 2 + (x - math.floor(x)) ** 2


@case(args=lambda r: (_sgn(r),))
def math_constants(x):
    return math.pi * x * x + math.e**x - math.sin(math.pi * x / 4.0)


@case(args=lambda r: (_sgn(r), _sgn(r, 0.0, 0.5), _pos(r, 0.5, 2.0)), argnums=(0, 1, 2), domain="sigma > 0")
def gaussian_pdf(x, mu, sigma):
    z = (x - mu) / sigma
    return math.exp(-0.5 * z * z) / (sigma * math.sqrt(2.0 * math.pi))


@case(args=lambda r: (_sgn(r, 0.2, 3.0),))
def sigmoid_softplus(x):
    return sigmoid(x) + math.log1p(math.exp(x))


@case(args=lambda r: (_sgn(r, 0.2, 30.0),))
def stable_softplus(x):
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    else:
        return math.log1p(math.exp(x))


@case(
    args=lambda r: (_sgn(r, 0.0, 3.0), _sgn(r, 0.0, 3.0), _sgn(r, 0.0, 3.0)),
    argnums=(0, 1, 2),
    note="smooth everywhere although it uses max",
)
def logsumexp3(a, b, c):
    m = max(a, b, c)
    return m + math.log(math.exp(a - m) + math.exp(b - m) + math.exp(c - m))


def _g_huber(rng):
    delta = _pos(rng, 0.5, 1.5)
    return _sgn(rng, 0.1, 0.9) * delta if rng.integers(2) else _sgn(rng, 1.1, 2.0) * delta, delta


@case(args=_g_huber, argnums=(0, 1), domain="|r| not near delta, delta > 0")
def huber(res, delta):
    if abs(res) <= delta:
        return 0.5 * res * res
    return delta * (abs(res) - 0.5 * delta)


@case(args=lambda r: (_pos(r, 5.0, 40.0), _pos(r, 0.2, 1.3)), argnums=(0, 1), domain="0 < angle < pi/2")
def projectile_range(v, angle):
    # closure over a module-level float constant
    return v * v * math.sin(2.0 * angle) / GRAVITY


@case(args=lambda r: (_pos(r, 0.5, 3.0), _pos(r, 0.1, 1.0)), argnums=(0, 1), domain="v, h > 0")
def projectile_time(v, h):
    disc = v * v + 2.0 * GRAVITY * h
    return (v + math.sqrt(disc)) / GRAVITY


# ======================================================================= for loops


@case(args=lambda r: (_sgn(r),))
def loop_range1(x):
    s = 0.0
    for i in range(6):
        s += math.sin(i * x) / (i + 1)
    return s


@case(args=lambda r: (_sgn(r, 0.5, 2.0),))
def exp_taylor(x):
    term = 1.0
    s = 1.0
    for k in range(1, 18):
        term *= x / k
        s += term
    return s


@case(args=lambda r: (_sgn(r),))
def loop_range3(x):
    s = 0.0
    for i in range(1, 12, 3):
        s += x**i / i
    return s


@case(args=lambda r: (_svec(r, 5), _sgn(r)), argnums=(0, 1))
def horner_reverse(c, x):
    n = len(c)
    acc = 0.0
    for i in range(n - 1, -1, -1):
        acc = acc * x + c[i]
    return acc


@case(args=lambda r: (_sgn(r, 0.5, 1.0),))
def loop_negative_step(x):
    s = 0.0
    for i in range(10, 0, -2):
        s = s * x + i
    return s


@case(args=lambda r: (_smat(r, (3, 3)),))
def nested_loops_2d(m):
    n = m.shape[0]
    s = 0.0
    for i in range(n):
        for j in range(n):
            s += m[i, j] * m[j, i] + 0.1 * (i - j) * m[i, j]
    return s


@case(args=lambda r: (_smat(r, (3, 4)), _smat(r, (4, 2))), argnums=(0, 1))
def triple_loop_matmul(a, b):
    n, k = a.shape
    p = b.shape[1]
    c = np.zeros((n, p))
    for i in range(n):
        for j in range(p):
            for q in range(k):
                c[i, j] += a[i, q] * b[q, j]
    return np.sum(c * c)


@case(args=lambda r: (_sgn(r), int(r.integers(2, 9))), domain="n >= 0")
def data_dependent_range(x, n):
    for i in range(int(n)):
        x = x - 0.1 * math.sin(x) + 0.01 * i
    return x


@case(args=lambda r: (_svec(r, 5),))
def range_shape_minus_one(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += (x[i + 1] - x[i]) ** 2 * (i + 1)
    return s


@case(args=lambda r: (_smat(r, (4, 3)), _svec(r, 3)), argnums=(0, 1))
def iterate_rows(m, v):
    s = 0.0
    for row in m:
        s += np.sum(row * v) ** 2 + row[0]
    return s


@case(args=lambda r: (_smat(r, (3, 4)),), tags=("beyond_list",), note="iterates over a 1-D array")
def iterate_rows_and_values(m):
    s = 0.0
    for row in m:
        for val in row:
            s += val * val * row[-1]
    return s


@case(args=lambda r: (_svec(r, 5),), tags=("beyond_list",), note="iterates over a 1-D array")
def iterate_1d(x):
    s = 0.0
    prev = 0.0
    for xi in x:
        s += xi * prev + math.cos(xi)
        prev = xi
    return s


@case(args=lambda r: (_sgn(r, 0.5, 1.0),))
def reassign_in_loop(x):
    y = x
    for i in range(4):
        y = 0.5 * y * y + 0.1 * i
        y = y - 0.1 * math.sin(y)
    return y


@case(
    args=lambda r: (_pos(r, 0.5, 3.0), _pos(r, 0.5, 3.0), int(2 * r.integers(2, 6))),
    argnums=(0, 1),
    domain="n even > 0",
)
def simpson_sin(a, b, n):
    # integral of sin(a t) over [0, b] by Simpson's rule with n intervals
    h = b / n
    s = math.sin(0.0) + math.sin(a * b)
    for i in range(1, n):
        t = i * h
        if i % 2 == 1:
            s += 4.0 * math.sin(a * t)
        else:
            s += 2.0 * math.sin(a * t)
    return s * h / 3.0


@case(args=lambda r: (_svec(r, 4), _sgn(r)), argnums=(0, 1))
def chebyshev_series(c, x):
    # sum c_k T_k(x/2) with the three-term recurrence
    t = 0.5 * x
    t_prev, t_cur = 1.0, t
    s = c[0] * t_prev + c[1] * t_cur
    for k in range(2, len(c)):
        t_prev, t_cur = t_cur, 2.0 * t * t_cur - t_prev
        s += c[k] * t_cur
    return s


@case(
    args=lambda r: (np.cumsum(_pvec(r, 5, 0.5, 1.0)), _pvec(r, 4, 0.5, 2.0)),
    argnums=(0, 1),
    domain="positions increasing, stiffness > 0",
)
def spring_chain_energy(x, k):
    e = 0.0
    for i in range(len(k)):
        stretch = x[i + 1] - x[i] - 0.75
        e += 0.5 * k[i] * stretch**2
    return e


def _g_lj(rng):
    grid = np.array([[0.0, 0.0], [1.2, 0.0], [0.0, 1.2], [1.2, 1.2]])
    return (grid + rng.uniform(-0.1, 0.1, grid.shape),)


@case(args=_g_lj, domain="particles well separated")
def lennard_jones(pos):
    n = pos.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            e += lj_pair(dx * dx + dy * dy)
    return e


def _g_power_iteration(rng):
    def ok(a, v0):
        _, q = np.linalg.eigh(a)
        return abs(q[:, -1] @ v0) > 0.4 * np.linalg.norm(v0)

    return _reject(rng, lambda r: (_sym_gap(r, [4.0, 2.0, 1.0]), _svec(r, 3)), ok)


@case(
    args=_g_power_iteration,
    argnums=(0, 1),
    domain="a symmetric with a well separated dominant eigenvalue; v0 not near orthogonal to it",
)
def power_iteration(a, v0):
    v = v0 / norm(v0)
    for it in range(25):
        w = a @ v
        v = w / norm(w)
    return v @ (a @ v)


@case(args=lambda r: (_diag_dominant(r, 3), _svec(r, 3)), argnums=(0, 1), domain="a diagonally dominant")
def jacobi_solve(a, b):
    n = b.shape[0]
    x = np.zeros(n)
    for it in range(30):
        x_new = np.zeros(n)
        for i in range(n):
            s = b[i]
            for j in range(n):
                if j != i:
                    s -= a[i, j] * x[j]
            x_new[i] = s / a[i, i]
        x = x_new
    return np.sum(x * x)


@case(args=lambda r: (_svec(r, 5),))
def cumsum_loop(x):
    out = np.empty(len(x))
    out[0] = x[0]
    for i in range(1, len(x)):
        out[i] = out[i - 1] + x[i]
    return np.sum(out * out)


@case(args=lambda r: (_svec(r, 6),))
def moving_average(x):
    avg = (x[:-2] + x[1:-1] + x[2:]) / 3.0
    return np.sum(avg**2)


@case(args=lambda r: (_smat(r, (3, 3)),))
def det3(m):
    return (
        m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
        - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
        + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
    )


# ======================================================================= while loops


@case(args=lambda r: (_pos(r), _sgn(r), _pos(r)), argnums=(0, 1), domain="T > 0 (not differentiated)")
def euler_decay(k, y0, T):
    t = 0.0
    dt = 0.01
    y = y0
    while t < T:
        y += dt * (-k * y)
        t += dt
    return y


@case(
    args=lambda r: (_sgn(r, 0.2, 1.0), _away(r, 0.5, 1.5, period=DT, margin=0.3)),
    argnums=(0, 1),
    domain="T > 0, not near a multiple of DT",
)
def euler_to_final_time(a, T):
    t = 0.0
    y = 1.0
    while t < T:
        h = min(DT, T - t)
        y = y + h * (a * y - y * y * y)
        t = t + h
    return y


@case(
    args=lambda r: (_pos(r, 0.5, 2.0), _pos(r, 2.0, 5.0), _pos(r, 0.2, 1.0)),
    argnums=(0, 1, 2),
    domain="r, K, y0 > 0",
)
def rk4_logistic(rate, k, y0):
    t = 0.0
    y = y0
    h = 0.1
    while t < 1.0 - 1e-9:
        k1 = logistic_rhs(y, rate, k)
        k2 = logistic_rhs(y + 0.5 * h * k1, rate, k)
        k3 = logistic_rhs(y + 0.5 * h * k2, rate, k)
        k4 = logistic_rhs(y + h * k3, rate, k)
        y += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        t += h
    return y


@case(args=lambda r: (_pos(r, 4.5, 7.5),), domain="x not near a power of 2")
def halving_count(x):
    n = 0
    while x > 1.0:
        x = x / 2.0
        n += 1
    return x * n + x * x


@case(args=lambda r: (_pos(r, 0.5, 4.0),), domain="a > 0")
def newton_sqrt(a):
    y = a if a > 1.0 else 1.0  # noqa: FURB136
    it = 0
    while abs(y * y - a) > 1e-13 * a and it < 100:
        y = 0.5 * (y + a / y)
        it += 1
    return y


@case(args=lambda r: (_pos(r, 0.5, 2.0), _sgn(r, 0.5, 3.0)), argnums=(0, 1), domain="a > 0")
def cubic_root_newton(a, b):
    # the real root of y^3 + a y - b (unique since a > 0)
    y = 0.0
    fy = -b
    while abs(fy) > 1e-13:
        y = y - fy / (3.0 * y * y + a)
        fy = y**3 + a * y - b
    return y


@case(args=lambda r: (_sgn(r),))
def while_true_break(x):
    s = 0.0
    k = 0
    term = x
    while True:
        s += term
        k += 1
        if k >= 8:
            break
        term = term * x / (k + 1)
    return s


@case(args=lambda r: (_sgn(r), int(r.integers(1, 8))))
def while_counter(x, n):
    i = 0
    acc = 1.0
    while i < n:
        acc = acc * math.cos(x) + 0.1 * i
        i += 1
    return acc


def _g_while_return(rng):
    def ok(x):
        ks = np.arange(1, 21)
        return np.min(np.abs(ks * math.log(abs(x)) - math.log(4.0))) > 0.1

    return _reject(rng, lambda r: (_sgn(r, 1.1, 1.6),), ok)


@case(args=_g_while_return, domain="|x|**k not near 4")
def while_early_return(x):
    y = 1.0
    k = 0
    while k < 20:
        y = y * x
        if abs(y) > 4.0:
            return y + k
        k += 1
    return -y


# ======================================================================= break / continue / return


def _g_first_crossing(rng):
    x = _pvec(rng, 5)
    cs = np.cumsum(x)
    j = rng.integers(0, 4)
    return x, float(0.5 * (cs[j] + cs[j + 1]))


@case(args=_g_first_crossing, domain="threshold between partial sums")
def first_crossing(x, threshold):
    s = 0.0
    idx = 0
    for i in range(len(x)):
        s += x[i]
        if s > threshold:
            idx = i
            break
    return s * (idx + 1)


@case(args=lambda r: (_svec(r, 6),), domain="entries away from 0")
def sum_positive_continue(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] < 0.0:
            continue
        s += x[i] ** 2
    return s


@case(args=lambda r: (_svec(r, 5), 0.0), domain="entries away from thr")
def early_return_in_loop(x, thr):
    for i in range(len(x)):
        if x[i] > thr:
            return x[i] * (i + 1.0)
    return np.sum(x)


@case(args=lambda r: (_sgn(r),), domain="x != 0")
def early_return_top(x):
    if x < 0.0:
        return -x * x
    y = x**3
    return y + 1.0


@case(args=lambda r: (_smat(r, (3, 3)),), domain="entries away from 0")
def nested_break(m):
    s = 0.0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j] < 0.0:
                break
            s += m[i, j] * (j + 1)
        s *= 1.1
    return s


# ======================================================================= augmented assignment, indexing


@case(args=lambda r: (_sgn(r), _sgn(r)), argnums=(0, 1))
def augassign_names(x, y):
    s = x
    s += y
    s -= 0.5 * x
    s *= y
    s /= 1.0 + x * x
    s **= 2
    n = 3
    n += 1
    return s * n


@case(args=lambda r: (_svec(r, 4), _sgn(r)), argnums=(0, 1), tags=("mutates_input",))
def augassign_elements(x, y):
    x[0] += y
    x[1] -= y * y
    x[2] *= y
    x[3] /= 1.0 + y * y
    x[0] **= 2
    x[-1] += x[0]
    return np.sum(x * x)


@case(args=lambda r: (_smat(r, (2, 3)), _sgn(r)), argnums=(0, 1), tags=("mutates_input",))
def augassign_2d(m, y):
    m[0, 1] += y
    m[1, 0] *= y
    m[-1, -1] -= m[0, 0]
    m[1, 1] /= 2.0
    m[0, 0] **= 3
    m[1, 2] **= 2
    return np.sum(m * m) + m[0, 1]


@case(args=lambda r: (_svec(r, 4), _sgn(r)), argnums=(0, 1))
def augassign_whole_array(x, y):
    a = np.zeros_like(x)
    a += x
    a *= y
    a -= 1.0
    a /= 2.0
    a **= 2
    return np.sum(a)


@case(args=lambda r: (_svec(r, 5),), tags=("mutates_input",))
def overwrite_input(x):
    for i in range(len(x)):
        x[i] = x[i] * x[i] + 1.0
    return np.sum(x) + x[0] * x[-1]


@case(args=lambda r: (_svec(r, 5),))
def negative_indices(x):
    return x[-1] * x[-2] + x[0] * x[-len(x) + 1] - x[-3] ** 2


@case(args=lambda r: (_svec(r, 5),))
def slices(x):
    return np.sum((x[1:] - x[:-1]) ** 2) + np.sum(x[:2] * x[-2:]) + np.sum(x[1:4])


@case(args=lambda r: (_smat(r, (3, 4)), _svec(r, 4)), argnums=(0, 1))
def row_access(m, v):
    s = 0.0
    for i in range(m.shape[0]):
        s += np.dot(m[i], v) * m[i][0]
    return s + np.sum(m[-1] * m[0])


@case(args=lambda r: (_svec(r, 4),))
def write_int_index(x):
    n = len(x)
    y = np.empty(n)
    for i in range(n):
        y[i] = x[i] ** 2 + i
    return np.sum(y * x)


@case(args=lambda r: (_svec(r, 3),))
def write_2d_index(x):
    n = x.shape[0]
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = x[i] * x[j] + (i == j)
    return out[0, 1] * out[1, 2] + np.sum(out)


# ======================================================================= numpy


@case(args=lambda r: (_svec(r, 5),))
def np_trig_exp(x):
    return np.sum(np.sin(x) * np.cos(x) + np.tan(0.5 * x) + np.exp(-x * x))


@case(args=lambda r: (_pvec(r, 5),), domain="x > 0")
def np_log_sqrt_tanh(x):
    return np.sum(np.log(x) * np.sqrt(x) + np.tanh(x))


@case(args=lambda r: (_svec(r, 5),), domain="entries away from 0")
def np_abs(x):
    return np.sum(np.abs(x) * x) + np.sum(np.abs(x - 2.0 * x))


def _g_np_maxmin(rng):
    def ok(x, y):
        return np.min(np.abs(x - y)) > 0.2 and np.min(np.abs(x - 2.0 * y)) > 0.2

    return _reject(rng, lambda r: (_svec(r, 4), _svec(r, 4)), ok)


@case(args=_g_np_maxmin, argnums=(0, 1), domain="x != y, x != 2y entrywise")
def np_maximum_minimum(x, y):
    return np.sum(np.maximum(x, y) * np.minimum(x, 2.0 * y))


@case(args=lambda r: (_svec(r, 5),), domain="entries away from 0")
def np_relu_scalar_broadcast(x):
    return np.sum(np.maximum(x, 0.0) ** 2 + np.minimum(x, 0.0))


@case(args=lambda r: (_svec(r, 5),), domain="entries away from 0")
def np_where(x):
    return np.sum(np.where(x > 0.0, x * x, -0.5 * x))


@case(
    args=lambda r: (
        r.choice((-1.0, 1.0), 5)
        * np.where(r.integers(0, 2, 5) == 1, r.uniform(0.2, 0.8, 5), r.uniform(1.2, 2.0, 5)),
    ),
    domain="entries away from +-1",
)
def np_clip(x):
    return np.sum(np.clip(x, -1.0, 1.0) * x)


@case(args=lambda r: (_pvec(r, 4), _svec(r, 4)), argnums=(0, 1), domain="x > 0")
def np_square_power(x, y):
    return np.sum(np.square(x) + np.power(x, 3) + np.power(x, y))


@case(args=lambda r: (_distinct(r, 5, gap=0.3, center=1.0),), domain="distinct entries")
def np_reductions(x):
    return np.sum(x) * np.mean(x) + np.max(x) - 2.0 * np.min(x) + np.prod(x)


@case(
    args=lambda r: (_distinct(r, 4, gap=0.3, center=1.0),),
    domain="distinct entries",
    tags=("beyond_list",),
    note="array methods .sum() .mean() .max() .min() .prod()",
)
def array_methods(x):
    return x.sum() * x.mean() + x.max() - x.min() + x.prod()


@case(args=lambda r: (_smat(r, (3, 4)),))
def np_sum_axis(m):
    return np.sum(np.sum(m, axis=0) ** 2) + np.sum(np.sum(m, axis=1) ** 3)


@case(args=lambda r: (_smat(r, (3, 4)),), tags=("no_numba",), note="numba: np.mean does not accept axis=")
def np_mean_axis(m):
    return np.sum(np.mean(m, axis=0) ** 2) + np.sum(np.mean(m, axis=1) ** 3)


@case(
    args=lambda r: (_distinct(r, (3, 4), gap=0.2),),
    domain="distinct entries",
    tags=("no_numba",),
    note="numba: np.max/np.min do not accept axis=",
)
def np_max_min_axis(m):
    lo = np.min(m, axis=0)
    hi = np.max(m, axis=0)
    return np.sum(hi**2 - lo) + np.sum(np.min(m, axis=1) * np.max(m, axis=1))


@case(args=lambda r: (_smat(r, (3, 4)),), tags=("no_numba",), note="numba: np.prod does not accept axis=")
def np_prod_axis(m):
    return np.sum(np.prod(m, axis=0)) + np.sum(np.prod(m, axis=1))


@case(args=lambda r: (_svec(r, 4), _svec(r, 4)), argnums=(0, 1))
def np_dot_1d(x, y):
    return np.dot(x, y) ** 2 + x @ y


@case(args=lambda r: (_smat(r, (3, 4)), _svec(r, 4)), argnums=(0, 1))
def np_dot_mat_vec(a, x):
    y = np.dot(a, x)
    return np.sum(y**2)


@case(args=lambda r: (_smat(r, (3, 4)), _smat(r, (4, 2))), argnums=(0, 1))
def matmul_operator(a, b):
    c = a @ b
    return np.sum(c**2) + np.sum(a[0] @ b)


@case(args=lambda r: (_svec(r, 3), _svec(r, 4)), argnums=(0, 1))
def np_outer(x, y):
    o = np.outer(x, y)
    return np.sum(o * o) + o[0, 1]


@case(args=lambda r: (_spd(r, 4), _svec(r, 4)), argnums=(0, 1))
def quadratic_form(a, x):
    return x @ a @ x + 0.5 * x @ x


@case(args=lambda r: (_smat(r, (4, 3)),))
def transpose_gram(a):
    g = a.T @ a
    return np.sum(g * g) + np.sum(a.T[0])


@case(args=lambda r: (_svec(r, 4), int(r.integers(3, 6))), domain="n >= 1")
def constructors_zeros_ones(x, n):
    z = np.zeros(n)
    o = np.ones(n)
    for i in range(n):
        z[i] = x[i % len(x)] * (i + 1)
    m = np.zeros((2, n))
    for j in range(n):
        m[0, j] = z[j]
        m[1, j] = o[j] * x[0]
    return np.sum(z * o) + np.sum(m * m)


@case(args=lambda r: (_svec(r, 4),))
def constructors_like(x):
    z = np.zeros_like(x)
    o = np.ones_like(x)
    e = np.empty_like(x)
    for i in range(len(x)):
        e[i] = x[i] ** 2
        z[i] = o[i] + x[i]
    return np.sum(e * z)


@case(args=lambda r: (_svec(r, 4), _sgn(r)), argnums=(0, 1))
def constructor_full(x, s):
    a = np.full(len(x), 2.0)
    b = np.full(len(x), s)
    c = np.full((2, 3), s * s)
    return np.sum(a * x + b * x) + np.sum(c)


@case(args=lambda r: (_pvec(r, 5, 0.5, 1.2),), domain="x > 0")
def np_arange(x):
    k = np.arange(len(x))
    t = np.arange(0.0, 1.0, 0.25)
    return np.sum(x**k) + np.sum(t * x[:4])


@case(args=lambda r: (_sgn(r), _sgn(r)), argnums=(0, 1))
def np_linspace(a, b):
    t = np.linspace(0.0, 1.0, 6)
    u = np.linspace(a, b, 5)
    return np.sum(np.sin(a * t) * b) + np.sum(u * u)


@case(args=lambda r: (_smat(r, (3, 4)),))
def shape_attr(m):
    n, p = m.shape
    s = 0.0
    for i in range(n):
        s += m[i, p - 1] * m[i, 0] * float(n * p)
    return s + m.shape[0] * np.sum(m)


@case(args=lambda r: (_svec(r, 6),))
def np_reshape(x):
    m = x.reshape((2, 3))
    return np.sum(np.sum(m, axis=0) ** 2) + m[1, 2] * m[0, 0]


@case(args=lambda r: (_svec(r, 3), _svec(r, 2)), argnums=(0, 1))
def np_concatenate(x, y):
    z = np.concatenate((x, y * 2.0))
    return np.sum(z**2 * np.arange(len(z))) + z[-1]


@case(args=lambda r: (_svec(r, 5), _sgn(r)), argnums=(0, 1))
def broadcast_scalar(x, s):
    return np.sum((x * s + s) ** 2 / (1.0 + s * s)) + np.sum(2.0 - x)


@case(args=lambda r: (_smat(r, (3, 4)), _svec(r, 4)), argnums=(0, 1))
def broadcast_row(m, v):
    return np.sum((m - v) ** 2 * v) + np.sum(m * v / (1.0 + v * v))


@case(args=lambda r: (_svec(r, 5), np.cumsum(_pvec(r, 5))), argnums=(0, 1), domain="t increasing")
def trapezoid(y, t):
    return np.sum((y[1:] + y[:-1]) * (t[1:] - t[:-1])) / 2.0


@case(args=lambda r: (_svec(r, 5),))
def variance_std(x):
    m = np.mean(x)
    var = np.sum((x - m) ** 2) / (len(x) - 1)
    return var + math.sqrt(var)


@case(args=lambda r: (_svec(r, 5, 0.1, 2.0),))
def softmax_xent(z):
    m = np.max(z)
    e = np.exp(z - m)
    p = e / np.sum(e)
    return -math.log(p[0]) + np.sum(p * p)


@case(args=lambda r: (_svec(r, 3), _sgn(r), _smat(r, (5, 3)), _svec(r, 5)), argnums=(0, 1, 2))
def linear_regression_mse(w, b, xs, ys):
    pred = xs @ w + b
    res = pred - ys
    return np.mean(res**2)


@case(args=lambda r: (_svec(r, 3), _smat(r, (5, 3)), r.choice((-1.0, 1.0), 5)), argnums=(0, 1))
def logistic_loss(w, xs, ys):
    margins = ys * (xs @ w)
    return np.sum(np.log(1.0 + np.exp(-margins)))


def _g_mlp_relu(rng):
    def ok(w1, b1, w2, x):
        return np.min(np.abs(w1 @ x + b1)) > 0.1

    return _reject(rng, lambda r: (_smat(r, (4, 3)), _svec(r, 4, 0.0, 0.5), _svec(r, 4), _svec(r, 3)), ok)


@case(args=_g_mlp_relu, argnums=(0, 1, 2, 3), domain="pre-activations away from 0")
def mlp_relu(w1, b1, w2, x):
    h = np.maximum(w1 @ x + b1, 0.0)
    return w2 @ h


@case(args=lambda r: (_smat(r, (4, 3)), _svec(r, 4), _smat(r, (2, 4)), _svec(r, 3)), argnums=(0, 1, 2, 3))
def mlp_tanh(w1, b1, w2, x):
    h = np.tanh(w1 @ x + b1)
    out = w2 @ h
    return np.sum(out * out)


@case(args=lambda r: (_pvec(r, 5, 0.5, 1.2),), domain="x > 0")
def poly_eval_arange(x):
    k = np.arange(x.shape[0])
    return np.sum(COEFFS * x**k)


# ======================================================================= helpers, globals


@case(args=lambda r: (_sgn(r), _sgn(r)), argnums=(0, 1))
def helper_called_twice(x, y):
    return sq(x) + 3.0 * sq(x * y)


@case(args=lambda r: (_svec(r, 4),))
def helper_chain(x):
    return norm(x) * norm(2.0 * x + 1.0)


@case(args=lambda r: (_sgn(r), _sgn(r)), argnums=(0, 1), domain="(x, y) away from the negative x-axis")
def helper_tuple(x, y):
    r, th = to_polar(x, y)
    return r * math.cos(2.0 * th) + th


@case(args=lambda r: (_svec(r, 4),))
def helper_inplace(x):
    buf = np.zeros(len(x))
    fill_squares(buf, x)
    return np.sum(buf * x)


@case(args=lambda r: (_svec(r, 4), _sgn(r)), argnums=(0, 1), tags=("mutates_input",))
def helper_inplace_return(v, s):
    w = scale_inplace(v, s)
    return np.sum(w * v) + s


@case(args=lambda r: (_svec(r, 4),))
def global_array_weights(x):
    # closure over a module-level numpy array constant
    return np.sum(WEIGHTS * x**2) + WEIGHTS[0] * x[0]


@case(args=lambda r: (_sgn(r),))
def global_coeff_loop(x):
    s = 0.0
    for i in range(len(COEFFS)):
        s += COEFFS[i] * x**i
    return s


@case(args=lambda r: (_sgn(r, 0.5, 1.0),))
def global_int_steps(x):
    y = x
    for i in range(N_STEPS):
        y = y + DT * math.sin(y)
    return y


@case(args=lambda r: (_svec(r, 5), int(r.integers(3, 9))), domain="n >= 1")
def nondiff_calls(x, n):
    half = math.floor(n / 2)
    m = len(x)
    k = int(n)
    s = 0.0
    for i in range(min(half, m)):
        s += x[i] * k
    return s + float(m) * x[-1] + math.sqrt(n) * x[0]


@case(args=lambda r: (_sgn(r), _svec(r, 2)), argnums=(0, 1))
def rotation2d(theta, v):
    c, s = math.cos(theta), math.sin(theta)
    x, y = v[0], v[1]
    x, y = c * x - s * y, s * x + c * y
    return x * x + 2.0 * y


# ======================================================================= vector outputs


@case(
    args=lambda r: (_sgn(r), _sgn(r)),
    argnums=(0, 1),
    tags=("vector_output",),
    domain="(x, y) away from the negative x-axis",
)
def polar_vec(x, y):
    return to_polar(x, y)


@case(args=lambda r: (_svec(r, 4), _sgn(r)), argnums=(0, 1), tags=("vector_output",))
def elementwise_vec(x, y):
    return np.sin(x) * y + x * x


@case(args=lambda r: (_svec(r, 3), _svec(r, 2)), argnums=(0, 1), tags=("vector_output",))
def outer_vec(x, y):
    return np.outer(x, y) + 1.0


@case(args=lambda r: (_svec(r, 4),), tags=("vector_output",))
def tuple_array_scalar(x):
    return x * 2.0, np.sum(x * x)


@case(args=lambda r: (_pos(r), _sgn(r)), argnums=(0, 1), tags=("vector_output",))
def euler_trajectory(k, y0):
    n = 10
    ys = np.zeros(n + 1)
    ys[0] = y0
    for i in range(n):
        ys[i + 1] = ys[i] + 0.1 * (-k * ys[i] + math.sin(ys[i]))
    return ys


@case(args=lambda r: (_svec(r, 4),), tags=("vector_output",))
def softmax_vec(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


@case(args=lambda r: (_svec(r, 5),), tags=("vector_output",))
def cumsum_vec(x):
    out = np.zeros_like(x)
    acc = 0.0
    for i in range(len(x)):
        acc += x[i]
        out[i] = acc * x[i]
    return out


@case(args=lambda r: (_sgn(r), _svec(r, 2)), argnums=(0, 1), tags=("vector_output",))
def rotate_vec(theta, v):
    c = math.cos(theta)
    s = math.sin(theta)
    out = np.empty(2)
    out[0] = c * v[0] - s * v[1]
    out[1] = s * v[0] + c * v[1]
    return out


@case(args=lambda r: (_smat(r, (3, 3)), _svec(r, 3)), argnums=(0, 1), tags=("vector_output",))
def matvec_tanh_vec(a, x):
    return np.tanh(a @ x) + x


@case(args=lambda r: (_sgn(r), _sgn(r), _sgn(r)), argnums=(0, 1, 2), tags=("vector_output",))
def scalar_triple_vec(x, y, z):
    return x * y, y * z + x, math.exp(0.5 * z)
