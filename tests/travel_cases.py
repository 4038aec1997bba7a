"""Functions whose derivative objects are pickled and sent to another process
(tests/test_travel.py): importable there as `travel_cases`."""

import math

import numpy as np

import s2sad


def energy(x, k):
    e = 0.0
    for i in range(x.shape[0] - 1):
        e += k * (x[i + 1] - x[i]) ** 2 + math.sin(x[i])
    return e


def field(x):
    out = np.empty(2)
    out[0] = x[0] * x[1]
    out[1] = math.exp(x[0]) + x[2] ** 2
    return out


@s2sad.grad
def decorated(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] ** 3
    return s


@s2sad.custom_vjp
def soft(x):
    return math.log1p(math.exp(x))


def soft_fwd(x):
    return math.log1p(math.exp(x)), x


def soft_bwd(x, g):
    return (g / (1.0 + math.exp(-x)),)


soft.defvjp(soft_fwd, soft_bwd)


def uses_rule(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += soft(x[i]) * x[i]
    return s
