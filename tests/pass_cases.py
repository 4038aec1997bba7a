"""Small functions for the unit tests of the compiler passes (tests/test_passes.py).

Comments of the form ``# @name`` mark lines the tests look up by name (to check the source
positions the IR keeps). ``SIGS`` gives each function's argument kinds, for random inputs:
``f`` float, ``i`` small int (0..3), ``n`` int 0..5, ``v`` float vector of 5, ``m`` 3x4 float
matrix.
"""

import math

import numpy as np

import s2sad

W5 = np.array([0.7, -1.3, 0.4, 0.9, -0.2])


def _identity(f):
    return f


# ---------------------------------------------------------------- lowering


def range_abc(x, a, b, c):
    s = 0.0
    for i in range(a, b, c):  # @range_abc_for
        s += x[i]  # @range_abc_acc
    return s


def range_n(x, n):
    s = 0.0
    for i in range(n):
        s += x[i] * i
    return s


def range_expr(x, n):
    s = 0.0
    for i in range(1, n - 1):
        s += x[i] - x[i - 1]
    return s


def range_shrinking(x, n):
    s = 0.0
    for i in range(n):  # the range is evaluated once, though n changes
        n = n - 1
        s += x[i] * n
    return s


def rows(m):
    s = 0.0
    for row in m:  # @rows_for
        s += row[0] * row[1] - row[3]
    return s


def swap(a, b):
    a, b = b, a  # @swap
    return a - 2.0 * b


def swap_elems(x):
    y = x.copy()
    y[0], y[1] = y[1], y[0]
    return y[0] - 2.0 * y[1] + y[2]


def fib(x, n):
    a, b = 0.0, x
    for _ in range(n):
        a, b = b, a + b
    return a


def aug_store(x, v, i):
    a = x.copy()
    a[i] += v  # @aug_add
    a[i + 1] -= v  # @aug_sub
    a[0] *= v  # @aug_mul
    a[1] /= 1.0 + v * v
    return np.sum(a * W5)


def aug_matrix(m, v):
    a = m.copy()
    for i in range(3):
        a[i, i] += v * i
        a[i, 0] *= v
    return np.sum(a)


def shape0(x):
    n = x.shape[0]  # @shape0
    return x[n - 1] * n


def shape2(m):
    r, c = m.shape
    return m[r - 1, c - 1] * r + m[0, c - 2]


def and_guard(x, i, n):
    c = 0.0
    if i < n and x[i] > 0.0:  # @and_guard
        c = x[i]
    return c


def or_guard(x, i):
    c = 1.0
    if i >= x.shape[0] or x[i] < 0.0:
        c = -1.0
    return c


def ifexp(x, y):
    z = x * 2.0 if x > y else y - x  # @ifexp
    return z * z


def ifexp_guard(x, i):
    v = x[i] if i < x.shape[0] else -1.0
    return v


def elif_chain(x):
    if x < -1.0:
        r = -x
    elif x < 1.0:  # @elif
        r = x * x
    else:
        r = x
    return r


def chain_cmp(x, lo, hi):
    r = 0.0
    if lo < x < hi:
        r = x - lo
    return r


def bool_value(x, y):
    b = x > 0.0 and y > 0.0 or x < -1.0
    return 1.0 if b else 0.0


def simple_bool(x, y):
    c = x > 0.0
    d = y > 0.0
    r = c and d
    return 1.0 if r else 0.0


def cse_load(x, i):
    return x[i] * x[i] + x[i]  # @cse_load


def bump(x, i):
    x[i] += 1.0
    return 0.0


def cse_call(x, i):
    y = x.copy()
    return y[i] + bump(y, i) + y[i]


def leak_or(x, i):
    return (i > 0 and x[i] > 0.0) or x[i] < -1.0


def leak_and_or(x, i):
    r = 0.0
    if (i > 0 and x[i] > 0.0) or x[i] < -1.0:
        r = 1.0
    return r


def leak_chain(x, i, j):
    r = (x[i] < 0.0 < x[j]) + x[j]
    return r


def leak_stale(x):
    c = 0.0
    for i in range(1, 4):
        if (i % 2 == 1 and x[i] > 0.0) or x[i] < -1.0:
            c += x[i]
    return c


def signed_zero(x):
    return math.atan2(x * 0.0, -1.0) + math.atan2(x * -0.0, -1.0)


def bump_ret(a, i):
    a[i] += 10.0
    return 2.0


def aug_order_add(x):
    a = x.copy()
    a[0] += bump_ret(a, 0)  # Python loads a[0] before it calls bump_ret
    return a[0] * x[0]


def aug_order_mul(x):
    a = x.copy()
    a[0] *= bump_ret(a, 0)
    return a[0] * x[0]


def multiline(x, y):
    z = (x * y +  # @multiline
         math.sin(x))
    return z


@_identity
def decorated(x, y):
    z = x * y  # @decorated
    return z + 1.0


def helper(x, y):
    return x * y + 1.0


def tuple_helper(x, y):
    return x + y, x - y


def ihelper(a, b):
    return a * b + 1


def poly_calls(x, n):
    a = ihelper(n, n)
    b = ihelper(x, n)
    return a * b


def calls(x, y):
    p = helper(x, y)
    s, d = tuple_helper(p, x)
    return s * d + helper(d, 2.0)


def nested_loops(m):
    s = 0.0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j] > 0.0:
                s += m[i, j] * (i + 1)
            else:
                s -= m[i, j] * j
    return s


def while_loop(x, n):
    k = 0
    s = 0.0
    while k < n and s < 3.0:
        s += x * x + 0.5
        k += 1
    return s


def slices(x, m):
    a = x[1:4]
    b = x[::2]
    c = m[:, 1]
    d = m[1:3]
    e = x[None, :]
    return np.sum(a) + np.sum(b) + np.sum(c) + np.sum(d) + np.sum(e)


def reductions(x, m):
    return np.sum(m, axis=0)[1] + np.max(x) - np.mean(m) + m.sum() * x.min()


def unary_math(x, y):
    return math.sin(x) * math.exp(-y * y) + abs(x - y) + max(x, y) - min(x, 0.5)


# ---------------------------------------------------------------- jumps (normalize.remove_jumps)


def brk(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] < -0.5:
            break
        s += x[i] * x[i]
    return s


def cont(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] < 0.0:
            continue
        s += math.sqrt(x[i])
    return s


def early_ret(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i]
        if s > 1.0:
            return s * 2.0
    return s


def nested_ret(m):
    s = 0.0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            s += m[i, j]
            if s > 2.0:
                return s - i
            if m[i, j] < -0.5:
                break
    return -s


def while_brk(x, n):
    k = 0
    s = 0.0
    while k < n:
        k += 1
        if x * k > 2.0:
            break
        if k == 2:
            continue
        s += x * k
    return s


def ret_branches(x, y):
    if x > y:
        return x - y
    else:
        if x < 0.0:
            return -x
    return y


# ---------------------------------------------------------------- analyses


def promote(x):
    s = 0
    for i in range(x.shape[0]):
        s += x[i]
    return s


def int_float(x, n):
    k = 0
    k = k + n
    t = n / 2
    b = x > 0.0
    return x * k + t + b


def conflict(x):
    y = 1.0
    y = np.zeros(3)  # @conflict
    return x + y[0]


def ret_conflict(x):
    if x > 0.0:
        return x
    return np.zeros(2)  # @ret_conflict


def act(x, n):
    k = n * 2               # ints only
    m = float(n) * 3.0      # a float that depends on ints only
    junk = x * 5.0          # depends on x, never reaches the output  # noqa: F841
    y = x * m               # on the path from x to the output
    z = y + 1.0
    return z + m + k


def act_store(x, v):
    a = np.zeros(3)
    a[0] = x
    b = np.ones(3)
    b[1] = v
    return np.sum(a) + b[1]


def act_stop(x, y):
    c = s2sad.stop_gradient(x * y)
    d = c * y
    return d + x


def act_int_index(x, n):
    j = n - 1
    i = int(x)
    return x * x + j + i


def fill(a, v):
    a[0] = v
    return 0.0


def act_mutate(x):
    a = np.zeros(2)
    fill(a, x)
    return a[0] * 2.0


# ---------------------------------------------------------------- folding


def fold_me(x, y):
    unused = x * 3.0  # noqa: F841
    t = x * y
    return math.sin(t) + t * y


# functions whose printed lowered IR (and folded IR) must behave as the originals
EQUIVALENCE = [
    "range_n", "range_expr", "range_shrinking", "rows", "swap", "swap_elems", "fib", "aug_store",
    "aug_matrix", "shape0", "shape2", "and_guard", "or_guard", "ifexp", "ifexp_guard",
    "chain_cmp", "bool_value", "cse_load", "cse_call", "calls", "nested_loops", "while_loop",
    "slices", "reductions", "unary_math", "brk", "cont", "early_ret", "nested_ret", "while_brk",
    "ret_branches", "elif_chain", "simple_bool", "range_abc", "multiline", "decorated", "poly_calls", "act",
    "act_store", "act_stop", "int_float", "promote", "fold_me",
]

SIGS = {
    "range_abc": "v i i i", "range_n": "v n", "range_expr": "v n", "range_shrinking": "v n",
    "rows": "m", "swap": "f f", "swap_elems": "v", "fib": "f n", "aug_store": "v f i",
    "aug_matrix": "m f", "shape0": "v", "shape2": "m", "and_guard": "v n n", "or_guard": "v n",
    "ifexp": "f f", "elif_chain": "f", "simple_bool": "f f", "ifexp_guard": "v n", "chain_cmp": "f f f", "bool_value": "f f",
    "cse_load": "v i", "cse_call": "v i", "multiline": "f f", "decorated": "f f",
    "calls": "f f", "nested_loops": "m", "while_loop": "f n", "slices": "v m",
    "reductions": "v m", "unary_math": "f f", "brk": "v", "cont": "v", "early_ret": "v",
    "nested_ret": "m", "while_brk": "f n", "ret_branches": "f f", "promote": "v",
    "int_float": "f n", "act": "f n", "act_store": "f f", "act_stop": "f f",
    "act_int_index": "f n", "fold_me": "f f", "poly_calls": "f n", "leak_or": "v i",
    "leak_and_or": "v i", "leak_chain": "v i i", "leak_stale": "v", "signed_zero": "f",
    "aug_order_add": "v", "aug_order_mul": "v", "act_mutate": "f",
}
