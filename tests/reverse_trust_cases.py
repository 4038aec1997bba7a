"""Functions behind tests/test_reverse_trust.py: the faults found on ordinary data-sized code
(tape overflow, helpers writing into arrays, array swaps), as users write them."""

import math

import numpy as np


def lsq(w, X, y):
    total = 0.0
    for i in range(X.shape[0]):
        r = np.dot(X[i], w) - y[i]
        total += r * r
    return total


def shape_in_loop(w, X):
    s = 0.0
    for k in range(w.shape[0]):
        s += math.tanh(w[k]) * X.shape[0]
    return s


def set_first(w, p):
    w[0] = 1.0
    return p


def restore_order(x, y):
    s = x * y
    a = np.zeros(2)
    x = set_first(a, 0.3)
    return s + x


def set_tanh(w, p):
    w[0] = math.tanh(p)


def recompute_after_helper(v):
    a = np.array([0.0, 1.0])
    set_tanh(a, np.dot(v, a))
    return np.dot(v, a)


def addsq(dst, src):
    for i in range(dst.shape[0]):
        dst[i] = dst[i] + src[i] * src[i]


def same_array_twice(a):
    b = a.copy()
    addsq(b, b)
    return np.sum(b)


def cumulate(dst, src):
    for i in range(1, dst.shape[0]):
        dst[i] = dst[i - 1] * 0.5 + src[i] * src[i - 1]


def same_array_twice_carried(a):
    b = a * 1.0
    for k in range(3):
        cumulate(b, b)
    return np.sum(b * b)


def heat(u0, k):
    u = u0.copy()
    v = np.zeros_like(u0)
    for t in range(40):
        for i in range(1, u.shape[0] - 1):
            v[i] = u[i] + k * (u[i + 1] - 2.0 * u[i] + u[i - 1])
        v[0] = u[0]
        v[u.shape[0] - 1] = u[u.shape[0] - 1]
        u, v = v, u
    return np.sum(u * u)


def rotate_with_temporary(u0, k):
    u = u0.copy()
    v = u0 * 0.5
    for t in range(30):
        for i in range(u.shape[0]):
            v[i] = math.sin(u[i]) * k + v[i] * 0.5
        tmp = u
        u = v
        v = tmp
    return np.sum(u) + 2.0 * np.sum(v)


def swap_params(u, v):
    u, v = v, u
    u[0] = 1.0
    return np.sum(u * v)


def gmm_like(alphas, means, icf, x):
    """The ADBench GMM objective with per-point loops, scratch arrays overwritten each
    iteration, and a triangular inner loop with a running index."""
    n = x.shape[0]
    d = x.shape[1]
    k = alphas.shape[0]
    z = np.zeros(d)
    y = np.zeros(d)
    lse = np.zeros(k)
    total = 0.0
    for i in range(n):
        for c in range(k):
            for j in range(d):
                z[j] = x[i, j] - means[c, j]
            for j in range(d):
                y[j] = math.exp(icf[c, j]) * z[j]
            p = d
            for col in range(d):
                for j in range(col + 1, d):
                    y[j] += icf[c, p] * z[col]
                    p += 1
            sq = 0.0
            for j in range(d):
                sq += y[j] * y[j]
            sumq = 0.0
            for j in range(d):
                sumq += icf[c, j]
            lse[c] = alphas[c] + sumq - 0.5 * sq
        m = lse[0]
        for c in range(1, k):
            if lse[c] > m:
                m = lse[c]
        s = 0.0
        for c in range(k):
            s += math.exp(lse[c] - m)
        total += m + math.log(s)
    return total


def rows_while(w, X):
    i = 0
    acc = 0.0
    while i < X.shape[0]:
        row = X[i]
        acc += math.sin(np.dot(row, w)) * row[0]
        i += 1
    return acc


def triangular(x):
    s = 0.0
    for i in range(x.shape[0]):
        t = 0.0
        for j in range(i):
            t = t * 0.9 + x[j] * x[i]
        s += math.tanh(t)
    return s


def oob_sum(x, n):
    s = 0.0
    for i in range(n):
        s += x[i] * x[i]
    return s


def running_tanh(w, X):
    total = 0.0
    for i in range(X.shape[0]):
        total = math.tanh(total + np.dot(X[i], w))
    return total


def tuple_in_a_loop(x, n):
    # a tuple made anew each step: its items' adjoints start again at zero each step
    s = 0.0
    for k in range(n):
        t = (x * x, x + 1.0)
        s += t[0] * t[1]
        x = x * 0.9 + 0.1 * t[1]
    return s


def slogdet_in_a_loop(a, n):
    # a primitive with a tuple result (sign, log|det|) inside a loop
    s = 0.0
    b = a * 1.0
    for k in range(n):
        sign, logdet = np.linalg.slogdet(b)
        s += sign * logdet
        b = b + 0.01 * (b @ b)
    return s


# writes through a view after its base was read (found by review): the reverse sweep read (or
# computed again) the base as the write left it; refused now
def view_write_after_sum(x, v):
    a = v * 1.0
    m = np.sum(a)
    u = a[0:2]
    u[0] = -1.0
    return x * m


def view_write_after_product(x, v):
    a = v * x
    y = np.sum(np.sin(a))
    u = a[0:2]
    u[1] = 3.0
    return y


def view_write_before_reads(x, v):
    """Allowed: the base is neither read before the write through the view nor after it."""
    a = v * x
    u = a[0:2]
    u[1] = 3.0
    return x * x


# helpers writing into their parameter through a view (found this session): the caller's array
# changed, but neither mode saw it (dv0 2.94 for 0, dx 9.85 for 18.67); refused now
def _set_head(a, x):
    u = a[0:2]
    u[0] = x * 3.0
    return 0.0


def helper_view_write(v, x):
    a = v * 1.0
    _set_head(a, x)
    return np.sum(a * a * x)


def _scale_row(M, i, x):
    r = M[i]
    r *= x
    return 0.0


def helper_row_write(v, x):
    M = np.outer(v, v)
    _scale_row(M, 1, x)
    return np.sum(M * M)


def _set_head_deep(a, x):
    u = a[0:2]
    _set_head(u, x)  # the view passed on to a helper that writes through a view of it
    return 0.0


def helper_view_write_deep(v, x):
    a = v * 1.0
    _set_head_deep(a, x)
    return np.sum(a * x)


# what the refusal suggests instead: writes into the parameter itself
def _set_head_direct(a, x):
    a[0] = x * 3.0
    a[1:3] *= x
    return 0.0


def helper_direct_write(v, x):
    a = v * 1.0
    s = np.sum(a * a)
    _set_head_direct(a, x)
    return np.sum(a * a * x) + s * np.sum(a)


# a slice updated from its own old values (found this session): forward mode folded the
# tangent `x_dot * a[1:3]` past the store, so it read the new values (dx 0.56 for 0.8)
def slice_update(v, x):
    a = v * 1.0
    a[1:3] *= x
    return np.sum(a)


def slice_update_rows(X, w, n):
    A = X * 1.0
    for k in range(n):
        A[1:, :] = A[1:, :] * w + A[:-1, :] * 0.5
        A[0] = np.sin(A[0] * w)
    return np.sum(A * A)


def _bump(w, p):
    w[2] += p
    return p * w[0]


def slice_update_by_a_writing_call(v, x):
    a = v * 1.0
    a[0:2] -= _bump(a, x)
    return np.sum(a * a)


def slice_update_by_a_writing_call_first(v, x):
    a = v * 1.0
    d = _bump(a, x)
    a[0:2] -= d
    return np.sum(a * a)


# found by review: forward mode read a view made by a chain (B.T[1], np.ravel(b)[1:3]) after
# the store into its base; writes through np.ravel / np.swapaxes views, and into the view a
# helper returns, were neither followed nor refused
def chained_view_update(M, x):
    B = M * 1.0
    B[0] = B.T[1] * x
    return np.sum(B * B * M)


def ravel_view_update(a, x):
    b = a * 1.0
    b[0:2] = np.ravel(b)[1:3] * x
    return np.sum(b * b * a)


def ravel_view_write(a, x):
    b = a * 1.0
    c = np.ravel(b)
    c[0] = x * c[1]
    return np.sum(b * b * a)


def _first_two(a):
    return a[0:2]


def returned_view_write(a, x):
    b = a * 1.0
    v = _first_two(b)
    v[0] = x
    return np.sum(b * b * a)


# accepted again (review): buffers of constants, an int buffer, a parameter or view name rebound
# to a fresh array before the write
def _fill(buf, v):
    u = buf[0:2]
    u[0] = v
    return 0.0


def const_buffer_filled(x):
    buf = np.zeros(3)
    _fill(buf, 2.0)
    return x * buf[0] + x * x


def int_buffer_filled(x):
    buf = np.zeros(3, dtype=np.int64)
    _fill(buf, 2)
    return x * buf[0] + x * x


def _fresh_then_view(a, x):
    a = x * np.ones(4)
    u = a[0:2]
    u[0] = x * x
    return u[0] * 2.0 + u[1]


def param_rebound_before_view(a, x):
    b = a * 1.0
    t = _fresh_then_view(b, x)
    return np.sum(b * b) * t


# a named view rebound in a loop after its base was written (found by review): the reverse
# sweep recorded the old view when its name was bound again, as the write had left it
# (dx -2.4156 for -1.0260); such views are copies now where their base is written
def view_rebound_in_a_loop(a, x):
    b = a * 1.0
    for i in range(3):
        v = b[i:i + 2]
        b[i:i + 2] = v[::-1] * x
    return np.sum(b * b * a)


def row_view_rebound_in_a_loop(M, x):
    B = M * 1.0
    for i in range(B.shape[0]):
        row = B[i]
        B[i] = row[::-1] * x
    return np.sum(B * B * M)


def row_reversed_in_place(M, x):
    """The same without a name for the view: B[i][::-1] is a compiler temporary."""
    B = M * 1.0
    for i in range(B.shape[0]):
        B[i] = B[i][::-1] * x
    return np.sum(B * B * M)
