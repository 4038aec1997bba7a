"""CLI fixtures with no annotations: the types come from how each function uses its parameters."""

import math

import numpy as np


def rows_times(m, k, c):  # m: float64[:, :] (rows, each indexed), k: int (a range bound), c: float
    s = 0.0
    for row in m:
        for j in range(k):
            s += c * row[j] ** 2
    return s


def shaped(a, b):  # a: float64[:, :, :] from .shape[2], b: float64[:] from len()
    s = 0.0
    for i in range(a.shape[2]):
        s += a[0, 0, i] * b[i % len(b)]
    return s


def calls_helper(x, n):  # x: float64[:, :] through the helper's use of it, n: int (an index)
    return _first_rows(x) + x[n - 1, 0] + np.sum(x)


def _first_rows(q):
    return q[0, 0] * math.cos(q[1][1])


def conflict(n, w):
    s = 0.0
    for i in range(n):
        s += w
    return s * n[0]


def aliased(a, k):  # a: float64[:] through its other name b; k: float (arithmetic)
    b = a
    return b[0] * k + b[1]
