"""Deliberately bad user functions: constructs s2sad refuses, and misuses it must report.

s2sad reads a function's source from its .py file, so these live in a real module. The line of
each function that the error must point at carries a marker comment::

    # ERR                 the caret goes under the first character of the statement
    # ERR col=<text>      the caret goes under the first occurrence of <text> on that line

tests/test_errors.py finds the markers (through inspect/linecache), so adding or moving lines
here never breaks the expected positions. Keep exactly one marker per function, except in
helpers whose own line is the expected position (``at=`` in the table of test_errors.py).
"""

# ruff: noqa
import math
import operator

import numpy as np

G_ARRAY = np.ones(3)
CONFIG = {"scale": 2.0}
_counter = 0.0


# ---------------------------------------------------------------- statements


def try_block(x):
    try:  # ERR
        y = x * 2.0
    except ValueError:
        y = x
    return y


def with_block(x):
    with np.errstate(all="ignore"):  # ERR
        y = x / 0.0
    return y


def generator_yield(x):
    yield x * 2.0  # ERR col=yield


def generator_yield_from(x):
    yield from range(3)  # ERR col=yield


def global_stmt(x):
    global _counter  # ERR
    _counter = x
    return x * 2.0


def make_nonlocal():
    c = 1.0

    def nonlocal_stmt(x):
        nonlocal c  # ERR
        c = c + x
        return c * x

    return nonlocal_stmt


nonlocal_stmt = make_nonlocal()


def class_inside(x):
    class Point:  # ERR
        pass

    return x * 2.0


def nested_def(x):
    def helper(t):  # ERR
        return t * t

    return helper(x)


def raise_stmt(x):
    if x < 0.0:
        raise ValueError("negative")  # ERR
    return x * 2.0


def assert_stmt(x):
    assert x > 0.0  # ERR
    return x * 2.0


def del_stmt(x):
    y = x * 2.0
    del y  # ERR
    return x


def import_inside(x):
    import cmath  # ERR
    return x * 2.0


def import_from_inside(x):
    from math import sin  # ERR
    return sin(x)


def match_stmt(x):
    match x:  # ERR
        case 1.0:
            return x
        case _:
            return x * 2.0


def while_else(x):
    i = 0
    while i < 3:  # ERR
        x = x * 2.0
        i += 1
    else:
        x = x + 1.0
    return x


def for_else(x):
    for i in range(3):  # ERR
        x = x * 2.0
    else:
        x = x + 1.0
    return x


def for_zip(a, b):
    s = 0.0
    for p in zip(a, b):  # ERR col=zip
        s += p[0] * p[1]
    return s


def for_enumerate(a):
    s = 0.0
    for k in enumerate(a):  # ERR col=enumerate
        s += k[1]
    return s


def for_reversed(a):
    s = 0.0
    for v in reversed(a):  # ERR col=reversed
        s += v
    return s


def for_tuple_target(m):
    s = 0.0
    for a, b in m:  # ERR col=a, b
        s += a * b
    return s


def async_def(x):  # a plain def whose helper is async
    return async_helper(x)


async def async_helper(x):  # ERR
    return x * 2.0


# ---------------------------------------------------------------- expressions


lambda_root = lambda x: x * x  # ERR col=lambda x


def lambda_expr(x):
    sq = lambda t: t * t  # ERR col=lambda
    return sq(x)


def list_comp(a):
    return sum([v * v for v in a])  # ERR col=[v


def set_comp(a):
    s = {v for v in a}  # ERR col={
    return a[0]


def dict_comp(a):
    d = {k: a[k] for k in range(3)}  # ERR col={
    return a[0]


def generator_expr(a):
    return sum(v * v for v in a)  # ERR col=(v


def dict_literal(x):
    d = {"x": x}  # ERR col={
    return x


def set_literal(x):
    s = {x, 2.0}  # ERR col={
    return x


def list_literal(x):
    v = [x, 2.0 * x]  # ERR col=[
    return v[0] + v[1]


def string_concat(x):
    label = "value" + "s"  # ERR col="value"
    return x * 2.0


def string_method(x):
    if "abc".startswith("a"):  # ERR col="abc"
        return x
    return x * 2.0


def str_call(x):
    s = str(x)  # ERR col=str(
    return x * len(s)


def fstring(x):
    msg = f"x = {x}"  # ERR col=f"
    return x * 2.0


def bytes_constant(x):
    b = b"raw"  # ERR col=b"
    return x


def complex_constant(x):
    z = x * 1j  # ERR col=1j
    return x


def walrus(x):
    if (y := x * 2.0) > 1.0:  # ERR col=y :=
        return y
    return x


def starred_call(x):
    t = (x, 2.0)
    return math.hypot(*t)  # ERR col=*t


def starred_target(v):
    a, *rest = v  # ERR col=*rest
    return a


def starred_tuple(x):
    t = (*(x, x), 1.0)  # ERR col=*(x
    return t[0]


def in_operator(x):
    if x in (1.0, 2.0):  # ERR col=x in
        return x
    return x * 2.0


def ellipsis_index(a):
    return np.sum(a[...])  # ERR col=...


def bitwise_and(x):
    n = int(x)
    return x * (n & 1)  # ERR col=n & 1


def bitwise_or(x):
    n = int(x) | 2  # ERR col=int(x) | 2
    return x * n


def bitwise_xor(x):
    n = int(x) ^ 3  # ERR col=int(x) ^ 3
    return x * n


def left_shift(x):
    n = 1 << 3  # ERR col=1 << 3
    return x * n


def invert(x):
    n = ~int(x)  # ERR col=~
    return x * n


def bitwise_augassign(x):
    n = int(x)
    n |= 1  # ERR
    return x * n


# ---------------------------------------------------------------- writes and aliasing


def write_into_view(m, v):
    r = m[0]
    r[1] = v  # ERR
    return np.sum(m)


def write_into_slice_view(m, v):
    r = m[:, 0]
    r[1] = v  # ERR
    return np.sum(m)


def write_into_alias(m, v):
    r = m
    r[1] = v  # ERR
    return np.sum(m)


def write_into_transpose(m, v):
    r = m.T
    r[0, 1] = v  # ERR
    return np.sum(m)


def write_double_index(m, v):
    m[0][1] = v  # ERR col=m[0][1]
    return np.sum(m)


def write_attribute(x):
    x.foo = 2.0  # ERR col=x.foo
    return x * 2.0


def write_global_array(x):
    G_ARRAY[0] = x  # ERR col=G_ARRAY
    return np.sum(G_ARRAY)


def write_into_float(x, v):
    x[0] = v  # ERR
    return x * v


def helper_write(r, v):
    r[1] = v


def view_into_writing_helper(m, v):
    helper_write(m[0], v)  # ERR
    return np.sum(m)


def view_passed_to_writing_helper(m, v):
    r = m[0]
    helper_write(r, v)  # ERR
    return np.sum(m)


def write_base_under_view(m, v):
    r = m[0]
    m[0, 1] = v  # ERR
    return np.sum(r)


def swap_rows_through_views(m, v):
    m[0], m[1] = m[1], m[0]  # ERR
    m[0, 0] = v
    return np.sum(m * m)


# ---------------------------------------------------------------- names, calls, attributes


def undefined_name(x):
    return x * not_defined_anywhere  # ERR col=not_defined


def undefined_function(x):
    return x * no_such_function(x)  # ERR col=no_such


def call_local_value(x):
    h = x
    return h(x)  # ERR col=h(x)


def function_as_value(x):
    fn = math.sin  # ERR col=math.sin
    return fn(x)


def global_dict_value(x):
    return x * CONFIG["scale"]  # ERR col=CONFIG


def unknown_module_attr(x):
    return x * math.no_such_constant  # ERR col=math.no_such


def unsupported_attribute(a):
    return np.sum(a.imag)  # ERR col=a.imag


def unsupported_method(a):
    b = a.cumprod()  # ERR
    return np.sum(b)


def unsupported_sort_method(a):
    a.sort()  # ERR
    return a[0]


def foreign_operator_mul(x):
    y = operator.mul(x, 3.0)  # ERR col=operator.mul
    return y * x


def foreign_fft(a):
    f = np.fft.fft(a)  # ERR col=np.fft
    return np.sum(f.real)


def foreign_numpy_sort(a):
    b = np.sort(a)  # ERR col=np.sort
    return b[0] * 2.0


def builtin_sum(a):
    return sum(a) * 2.0  # ERR col=sum(


def foreign_linalg_pinv(a):
    n = np.linalg.pinv(a)  # ERR col=np.linalg
    return np.sum(n * n)


def getattr_call(x):
    return getattr(math, "sin")(x)  # ERR col=getattr


def isinstance_test(x, n):
    if isinstance(n, int):  # ERR col=isinstance
        return x * n
    return x


def print_active(x):
    y = x * 2.0
    print(y)  # not an error: see test_print_of_a_differentiated_value
    return y * y


def user_call_keywords(x):
    return helper_two(x, b=2.0)  # ERR col=helper_two


def helper_two(a, b):
    return a * b


def calls_helper_with_try(x):
    return helper_with_try(x) * 2.0


def helper_with_try(x):
    try:  # ERR
        return x * x
    finally:
        pass


def recursion_direct(x, n):
    if n == 0:
        return x
    return recursion_direct(x * 2.0, n - 1)  # ERR


def recursion_mutual_a(x, n):
    if n == 0:
        return x
    return recursion_mutual_b(x * 2.0, n - 1)


def recursion_mutual_b(x, n):
    return recursion_mutual_a(x + 1.0, n)  # ERR


# ---------------------------------------------------------------- types


def type_conflict(x):
    y = x * 2.0
    if x > 0.0:
        y = np.zeros(3)  # ERR
    return x


def return_type_conflict(x):
    if x > 0.0:
        return x
    return np.zeros(3)  # ERR


def fancy_two_arrays(t):
    rows = np.array([0, 1])
    cols = np.array([2, 0])
    b = t[rows, cols]  # ERR (t has 3 axes: an array for each is read, not two)
    return np.sum(b)


def fancy_and_newaxis(a):
    idx = np.array([0, 2])
    b = a[idx, None]  # ERR
    return np.sum(b)


def fancy_float_array(a):
    w = a * 0.5
    b = a[w]  # ERR
    return np.sum(b)


def mask_after_slice(m):
    keep = m[0] > 1.5
    b = m[:, keep]  # ERR
    return np.sum(b)


def float_index(a, x):
    return a[x]  # ERR


def index_a_float(x):
    return x[0]  # ERR


def range_of_float(x):
    s = 0.0
    for i in range(x):  # ERR
        s += 1.0
    return s * x


def too_many_indices(a):
    return a[0, 1]  # ERR


def wrong_arity_helper(x):
    return helper_two(x)  # ERR


def unpack_float(x):
    a, b = x  # ERR
    return a * b


# ---------------------------------------------------------------- signatures and results


def star_args(x, *rest):  # ERR col=rest
    return x * 2.0


def star_kwargs(x, **options):  # ERR col=options
    return x * 2.0


def keyword_only(x, *, scale):  # ERR col=scale
    return x * scale


def int_param(x, n):  # ERR col=n)
    return x * n


def bool_param(x, flag):  # ERR col=flag
    return x * 2.0 if flag else x


def vector_result(a):
    b = a * 2.0
    return b  # ERR


def tuple_result(x):
    return x, x * 2.0  # ERR


def int_result(x):
    return int(x)  # ERR


def no_result(x):
    y = x * 2.0
    return  # ERR


# ---------------------------------------------------------------- well-formed functions, bad inputs
# (no ERR markers: these are called with wrong arguments at run time)


def dot2(a, b):
    return np.sum(a * b)


def scale2(a):
    return a * 2.0


def square(x):
    return x * x


def pair(x):
    return x * 2.0, x * 3.0


# ---------------------------------------------------------------- Python as written (issue 13)


def factorial_series(x, n):
    s = 0.0
    for i in range(n):
        s += x ** i / math.factorial(i)  # evaluated: i carries no derivative
    return s


def prints_a_label(x):
    y = x * x
    print("y =", y)
    return y


def sorted_constant(a):
    b = np.sort(np.arange(4.0))  # evaluated: no differentiated value reaches it
    return a * b[2]


def no_rule_on_active(x):
    return 2.0 * math.nextafter(x, 3.0)  # ERR col=math.nextafter


def no_return(x):  # ERR
    y = x * 2.0


def add_at_scalar_index(a):
    b = a * 1.0
    np.add.at(b, 1, a[0])  # ERR
    return np.sum(b)
