"""Functions behind tests/test_transform_trust.py: composed transforms (vector forward mode,
Hessians, reverse over reverse) on code that writes arrays, as issue 10 measured them."""

import math

import numpy as np


def swap2(x):
    y = x.copy()
    t = y[0]
    y[0] = y[1]
    y[1] = t
    return y


def zero_after_read(x):
    y = x.copy()
    t = y[0]
    y[0] = 0.0
    return t * t + y[1]


def sq_first(x):
    y = x.copy()
    y[0] = y[0] * y[0]
    return y[0] * y[1]


def copy_first(x):
    y = x.copy()
    y[0] = y[1]
    return y[0] ** 2 + x[0] ** 2


def inplace_param(x):
    x[0] = x[0] * x[0]
    return x[0] * x[1]


def inner(b):
    return np.sum(b * b * b)


def calls_inner(b):
    return inner(b)


def stencil(u, k):
    u = u.copy()
    for t in range(3):
        u[1:-1] = u[1:-1] + k * (u[2:] + u[:-2])
    return np.sum(u * u)


def prod(x):
    return np.prod(x)


def sumsq(x):
    return np.sum(x * x)


def tridiag(a, b, c, d):
    n = d.shape[0]
    cp = np.zeros(n)
    dp = np.zeros(n)
    cp[0] = c[0] / b[0]
    dp[0] = d[0] / b[0]
    for i in range(1, n):
        m = b[i] - a[i] * cp[i - 1]
        cp[i] = c[i] / m
        dp[i] = (d[i] - a[i] * dp[i - 1]) / m
    x = np.zeros(n)
    x[n - 1] = dp[n - 1]
    for i in range(n - 2, -1, -1):
        x[i] = dp[i] - cp[i] * x[i + 1]
    return np.sum(x * x * d)


def bubble(x):
    y = x.copy()
    n = y.shape[0]
    for i in range(n):
        for j in range(n - 1 - i):
            if y[j] > y[j + 1]:
                t = y[j]
                y[j] = y[j + 1]
                y[j + 1] = t
    s = 0.0
    for i in range(n):
        s += (i + 1.0) * y[i] * y[i] * y[i]
    return s


def add_to(a, b):
    a += b


def user_inplace(x):
    a = np.zeros(3)
    add_to(a, x * x)
    return np.sum(a * a)


def prod_axes(m):
    return np.sum(np.prod(m, axis=0)) + np.sum(np.prod(m, axis=1) ** 2) \
        + np.sum(np.prod(m, axis=-1, keepdims=True))


def f32_loop(x):
    s = np.float32(0.0)
    y = x * np.float32(2.0)
    for i in range(x.shape[0]):
        s += y[i] * x[i]
    return s + np.sum(np.tanh(x) * x)


def rk_helper_loop(x):
    """A helper called in a loop that writes its argument with `+=`."""
    acc = np.zeros_like(x)
    for k in range(4):
        add_to(acc, np.sin(x * (k + 1.0)))
    return np.sum(acc * acc * x)


def varying_slices(x):
    s = 0.0
    for i in range(x.shape[0]):
        t = x[i:] * 2.0
        u = t * t
        s += np.sum(u) * (i + 1.0)
    return s


def sq_helper(w, p):
    t = 0.0
    for i in range(w.shape[0]):
        t = math.sin(t + w[i] * p)
    return t


def calls_looping_helper(x):
    s = 0.0
    for k in range(3):
        s += sq_helper(x, s + 1.0)
    return s


# fuzz seed 9890200 (--transforms): jacrev(grad) overflowed its tape (IndexError at 256 in the
# Python backend; heap corruption under Numba without bounds checks): a split helper handed
# back its tapes after the room for the pushes that follow was made in the tapes it replaced
def tape_handback_h0(p, q):
    t = p * q
    p = math.atan2(math.sqrt(1.0 + -0.5 * -0.5), 1.5 + math.cos(math.sqrt(1.0 + 0.75 * 0.75)))
    t -= (-p)
    for i in range(1, 4):
        if math.cos(q) > 0.25:
            continue
        p = math.log(1.0 + t * t)
    return t + 0.5 * p + 1.0 * q


def tape_handback(x, y, v, n):
    s0 = x * y
    s1 = y
    a = np.zeros(3)
    a[1] -= v[0]
    k1 = 0
    while k1 < 2:
        k1 += 1
        k2 = 0
        while k2 < 4:
            k2 += 1
            a = (a * s0) * 0.5
            x = tape_handback_h0(float(k2), (2.0 ** 2))
            x = v[(k2 + 2) % 3]
    a[-1] += tape_handback_h0(abs(s0), tape_handback_h0(a[0], float(n)))
    if x > 0.5 and y < 0.5:
        if x > 0.5 or s1 < 0.25:
            s0 = 0.25
            a[1] = math.cos(s0)
        x *= (1.0 / (1.0 + math.exp(math.sin(1.0)) * math.exp(math.sin(1.0))))
    return s0 + -0.25 * s1 + -0.25 * x + 0.5 * y + v[1] + np.sum(a * v)
