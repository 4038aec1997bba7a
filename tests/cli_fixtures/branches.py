"""CLI fixtures: branches, early returns, break and continue."""

import math

import numpy as np


def piecewise(x: float, y: float) -> float:
    if x > y:
        return x * x - y
    elif x > 0.0:
        return math.log(x) + y * y
    return math.exp(x) * y


def clipped_sum(x: np.ndarray, lo: float, hi: float) -> float:
    s = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if v < lo:
            continue
        if v > hi:
            break
        s += v * v * hi - lo
    return s
