"""Functions for tests/test_reverse_order.py: reversed loops that may run forward (their
iterations only add into adjoints), loops that must stay reversed (they pop, or carry an
adjoint from one iteration to the next), and costly primitives recorded rather than called
again in the reverse sweep."""

import math

import numpy as np


def chained_squares(x):
    """Rosenbrock's sum: the reversed loop only adds into x_bar, but at i and i + 1, which
    consecutive iterations share (backwards: it pays, backend/tidy.py)."""
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def scaled_sum(x, y):
    """y_bar accumulates across iterations (an accumulator: forward)."""
    s = 0.0
    for i in range(2, x.shape[0]):
        s += x[i] * y + math.cos(y)
    return s * y


def hinge(x):
    """A branch in the reversed loop (forward)."""
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.1:
            s += x[i] * x[i]
        else:
            s += 0.5 * x[i]
    return s


def strided(x, c):
    """A loop with step 3 (its reversal runs a counter: forward)."""
    s = 0.0
    for i in range(1, x.shape[0], 3):
        s += x[i] * x[i] * c[i - 1]
    return s


def recurrence(x):
    """s carries from one iteration to the next: s_bar too (reversed)."""
    s = 1.0
    for i in range(x.shape[0]):
        s = s * math.cos(x[i]) + 0.1 * x[i]
    return s


def prefix_products(w):
    """a[i] reads a[i - 1]: the reversed loop reads a_bar where it writes it (reversed)."""
    n = w.shape[0]
    a = np.ones(n)
    for i in range(1, n):
        a[i] = a[i - 1] * w[i]
    t = 0.0
    for i in range(n):
        t += a[i] * a[i]
    return t


def exp_weights(w, X):
    """exp in a loop whose reverse sweep reads its result: recorded, not called again."""
    s = 0.0
    for i in range(X.shape[0]):
        e = math.exp(w[0] * X[i, 0] + w[1] * X[i, 1] - 1.0)
        s += e * e + math.log(1.0 + e)
    return s


def lse_rows(X):
    """A logsumexp per row (GMM's inner loop): exp recorded, the rows' loops forward."""
    n = X.shape[0]
    m = X.shape[1]
    total = 0.0
    for i in range(n):
        vmax = X[i, 0]
        for k in range(1, m):
            if X[i, k] > vmax:
                vmax = X[i, k]
        s = 0.0
        for k in range(m):
            s += math.exp(X[i, k] - vmax)
        total += vmax + math.log(s)
    return total
