"""Functions behind tests/test_split_mode.py: helpers called in split mode (their forward sweep
once, in the caller's forward sweep; their reverse sweep in the caller's reverse sweep), as
users write them: helpers writing into array arguments, called in loops and under branches,
the same array passed twice, helpers calling helpers, a helper with a while loop, a helper
that rebinds its parameter."""

import math

import numpy as np

import s2sad


def blend_row(dst, src, c):
    """Writes into ``dst``; its old elements are read first."""
    for j in range(src.shape[0]):
        dst[j] = math.tanh(c * src[j]) + 0.5 * dst[j]
    return dst[0]


def rows_through_writer(w, X):
    buf = np.zeros(w.shape[0])
    total = 0.0
    for i in range(X.shape[0]):
        row = X[i] * w
        total += blend_row(buf, row, 0.7)
        total += np.sum(buf * buf)
    return total


def fill(dst, w, c):
    for j in range(dst.shape[0]):
        dst[j] = math.sin(w[j] * c)


def overwrite_after(w):
    """The caller writes into the array after the helper did: restored before the helper's
    reverse sweep reads it."""
    buf = np.zeros(w.shape[0])
    total = 0.0
    for k in range(40):
        fill(buf, w, 0.05 * k + 1.0)
        total += np.dot(buf, w)
        buf[0] = total * 0.01
        total += buf[0] * buf[1]
    return total


def sin_chain(w, x):
    """Records ``s`` each iteration: its reverse sweep needs the forward sweep's values."""
    s = 0.0
    for j in range(w.shape[0]):
        t = math.sin(w[j] * x[j] + s)
        s = s + t * t
    return s


def branchy(w, X):
    total = 0.0
    for i in range(X.shape[0]):
        if X[i, 0] > 0.0:
            total += sin_chain(w, X[i])
        else:
            total -= 0.5 * sin_chain(w * w, X[i])
    return total


def mix_into(dst, src):
    for j in range(dst.shape[0]):
        dst[j] = 0.5 * dst[j] + math.sin(src[j]) * src[j]


def same_array_twice_in_loop(a):
    b = a.copy()
    for k in range(60):
        mix_into(b, b)
    return np.sum(b * b)


def tanh_chain(w, p):
    t = p
    for j in range(w.shape[0]):
        t = math.tanh(t * w[j] + 0.1)
    return t


def chains(w, x):
    """Calls a helper in a loop, with an argument the loop carries."""
    s = 0.0
    for i in range(x.shape[0]):
        s = s + tanh_chain(w, x[i] + 0.1 * s)
    return s


def nested(w, x):
    return chains(w, x) + chains(0.5 * w, x)


def while_chain(w, p):
    """A while loop: how much its forward sweep records is known only when it has run."""
    t = p
    k = 0
    while k < w.shape[0]:
        t = math.sin(t + w[k])
        k += 1
    return t


def calls_while(w, X):
    total = 0.0
    for i in range(X.shape[0]):
        total += while_chain(w, X[i, 0]) * X[i, 1]
    return total


def rebinds_param(w, p):
    p = 2.0 * p
    for j in range(w.shape[0]):
        p = math.sin(p + w[j])
    return p * p


def calls_rebinder(w, X):
    total = 0.0
    for i in range(X.shape[0]):
        total += rebinds_param(w, X[i, 0])
    return total


def stats(v):
    """A tuple result."""
    m = 0.0
    for j in range(v.shape[0]):
        m = m + v[j]
    m = m / v.shape[0]
    s = 0.0
    for j in range(v.shape[0]):
        s = s + (v[j] - m) ** 2
    return m, math.sqrt(s + 1.0)


def tuple_results(w, X):
    total = 0.0
    for i in range(X.shape[0]):
        m, s = stats(X[i] * w)
        total += m * s
    return total


def shift_slice(dst, src):
    """A slice write: its old contents go on the array tape."""
    dst[1:] = dst[:-1] * 0.5 + np.sin(src[1:])
    return dst[0] * src[0]


def calls_slice_writer(w):
    buf = w.copy()
    total = 0.0
    for k in range(30):
        total += shift_slice(buf, w)
        total += 0.01 * np.sum(buf * buf)
    return total


def checkpointed_calls(w, nsteps, k):
    """A split helper called in a loop reversed by binomial checkpointing: its forward sweep
    runs again, recording, inside the reverse sweep."""
    s = 0.5
    for step in s2sad.checkpointed(range(nsteps), snapshots=k):
        s = 0.9 * s + 0.1 * tanh_chain(w, s)
    return s * s


def feeds_back(w, p):
    """The result is the argument of the next call (``p = h(w, p)``): the old ``p`` is restored
    before the helper's reverse sweep reads it."""
    for i in range(100):
        p = tanh_chain(w, p)
    return p


def set_double(a, v):
    a[0] = 2.0 * v
    return v * v


def reads_what_a_call_wrote(w, p):
    """Joint (its reverse sweep reads an array it made): the call's result is faint in its VJP's
    forward sweep, the call is not (it writes into ``a``)."""
    a = np.zeros(2)
    r = set_double(a, p)
    return w[0] * a[0] + w[1] * math.sin(a[0]) + 0.0 * r


def calls_effectful(w, X):
    total = 0.0
    for i in range(X.shape[0]):
        total += reads_what_a_call_wrote(w, X[i, 0])
    return total


def smooth(v, c):
    """An array result."""
    out = np.empty(v.shape[0])
    acc = 0.0
    for j in range(v.shape[0]):
        acc = c * acc + math.tanh(v[j] + acc)
        out[j] = acc
    return out


def calls_array_result(w, X):
    total = 0.0
    for i in range(X.shape[0]):
        y = smooth(X[i] * w, 0.5)
        total += np.dot(y, y)
    return total


def count_from_contents(w, a):
    """How much it records depends on an array's contents, which its caller changes between
    calls."""
    t = 0.0
    for j in range(int(a[0])):
        t = math.sin(t + w[j % w.shape[0]])
    return t


def calls_with_growing_count(w):
    a = np.zeros(1)
    total = 0.0
    for i in range(40):
        a[0] = float(i * 7)
        total += count_from_contents(w, a)
    return total


def clamp_when_mean_high(w, p):
    """Its branch test reads all of ``w`` (``np.mean``) before the branch writes into ``w``:
    its reverse sweep must take the branch its forward sweep took, not test again what the
    write left (fuzz seed 9800046)."""
    if np.mean(w) > 0.25:
        w[2] = -0.5
    return p


def mean_tested_writes(x, v):
    s = x
    a = np.zeros(3)
    for k in range(2):
        s *= math.cos(x)
        for j in range(4):
            a[1] += v[0]
            clamp_when_mean_high(a, x)
    return s + np.sum(a * v)
