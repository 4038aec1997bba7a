"""The seeds' custom-rule examples, written with custom_vjp / custom_jvp."""

import math

import numpy as np

import s2sad


@s2sad.custom_vjp
def square(x):
    return x * x


def square_fwd(x):
    return x * x, x


def square_bwd(x, g):
    return (2.0 * x * g,)


square.defvjp(square_fwd, square_bwd)


@s2sad.custom_vjp
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_fwd(x):
    s = 1.0 / (1.0 + np.exp(-x))
    return s, s


def sigmoid_bwd(s, g):
    return (g * s * (1.0 - s),)


sigmoid.defvjp(sigmoid_fwd, sigmoid_bwd)


@s2sad.custom_jvp
def softplus(x):
    return math.log1p(math.exp(x))


@softplus.defjvp
def softplus_jvp(primals, tangents):
    x, = primals
    dx, = tangents
    return math.log1p(math.exp(x)), dx / (1.0 + math.exp(-x))


def uses_square(x, y):
    return square(x) * y + square(y)


def uses_sigmoid(v):
    return np.sum(sigmoid(v) * v)


def uses_softplus(x):
    s = 0.0
    for i in range(3):
        s += softplus(x * (i + 1))
    return s


# a routine with no Python source made differentiable by a rule


def _exp_fwd(x):
    y = math.exp(x)
    return y, y


def _exp_bwd(y, g):
    return (g * y,)


compiled_exp = s2sad.defvjp(math.exp, _exp_fwd, _exp_bwd)


def uses_compiled_exp(x):
    return compiled_exp(2.0 * x) + x
