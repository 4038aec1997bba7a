"""CLI fixtures: loops (for, nested for, while) and a module-level array constant."""

# ruff: noqa: F821 -- string annotations such as "float64[:]" are s2sad types, not names

import math

import numpy as np

WEIGHTS = np.array([0.5, -1.25, 2.0, 0.1])


def weighted_energy(x: np.ndarray, k: float) -> float:
    e = 0.0
    for i in range(x.shape[0]):
        e += WEIGHTS[i % 4] * math.sin(k * x[i]) ** 2
    return e


def pairwise(x: "float64[:]", n: int):
    s = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            d = x[i] - x[j]
            s += math.exp(-d * d)
    return s


def newton_sqrt(a: float) -> float:
    y = a
    it = 0
    while abs(y * y - a) > 1e-12 and it < 50:
        y = 0.5 * (y + a / y)
        it += 1
    return y


def unannotated(x, y):
    return x * math.cos(y) + y**3
