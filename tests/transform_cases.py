"""Functions for the transform tests (s2sad reads source, so they live in a file)."""

import math

import numpy as np

import s2sad


def rosen(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def straight(x, y):
    return math.sin(x * y) + x ** 3 * y - math.exp(0.5 * x) / (1.0 + y * y)


def loopy(x):
    t = 0.0
    k = 0
    while t < 3.0:
        t = t + x * x + 0.1
        k += 1
    return t * math.exp(-x) + k


def branchy(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.5:
            s += math.log(x[i]) * x[i] ** 2
        else:
            s -= math.tanh(x[i] * s + 1.0)
    return s


def vec_out(x):
    y = np.zeros(3)
    for i in range(3):
        y[i] = math.sin(x[i]) * x[(i + 1) % 3] + x[0] * x[2]
    return y


def tuple_out(x, a):
    return np.sum(x * x) * a, x * a


def wide(x):
    return np.array([np.sum(x ** 2), np.prod(x)])


def detached(x, y):
    return x * y + s2sad.stop_gradient(x * x) * y


def detached_array(v):
    w = s2sad.stop_gradient(np.exp(v))
    return np.sum(w * v)
