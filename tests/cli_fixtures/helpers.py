"""CLI fixtures: calls of helper functions, a 2-D module-level constant, a vector output."""

# ruff: noqa: F821 -- string annotations such as "float64[:]" are s2sad types, not names

import math

import numpy as np

A = np.array([[2.0, 0.5], [0.25, 1.5], [1.0 / 3.0, -0.1]])


def _sq(t):
    return t * t


def norm2(v: np.ndarray) -> float:
    s = 0.0
    for i in range(v.shape[0]):
        s += _sq(v[i])
    return s


def model(p: "float64[:]", x: "float64[:, :]") -> float:
    r = 0.0
    for k in range(x.shape[0]):
        pred = A[k % 3, 0] * p[0] + A[k % 3, 1] * math.tanh(p[1] * x[k, 0]) + x[k, 1]
        r += _sq(pred)
    return r + 0.01 * norm2(p)


def field(x: "float64[:]", c: float):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = c * x[i] ** 2 + _sq(math.sin(x[i]))
    return out
