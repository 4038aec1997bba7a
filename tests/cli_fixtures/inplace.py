"""CLI fixtures: in-place writes into arrays, the arguments' included."""

import math

import numpy as np


def smooth(u: np.ndarray, steps: int, nu: float) -> float:
    n = u.shape[0]
    for _ in range(steps):
        for i in range(1, n - 1):
            u[i] = u[i] + nu * (u[i - 1] - 2.0 * u[i] + u[i + 1])  # Gauss-Seidel sweep
    return np.sum(u * u)


def recurrence(x: np.ndarray) -> float:
    y = np.zeros_like(x)
    y[0] = x[0]
    for i in range(1, x.shape[0]):
        y[i] = 0.9 * y[i - 1] + x[i]
        y[i] += math.sin(x[i - 1])
    return y[x.shape[0] - 1] * y[0]
