"""Functions for tests/test_custom_rules.py (s2sad reads source, so they live in a .py file).

* ``*_x2``: a deliberately wrong twin of each custom_vjp primitive in examples/custom_rules.py --
  the same primal and forward rule, a backward rule that returns twice the right cotangents --
  and a twin of its loss calling it. Where the twin's gradient differs from the loss's by exactly
  the factor the doubled rule predicts, the generated code called the rule.
* custom_jvp primitives (scalar softplus, two-argument logaddexp, vector softmax) and their
  doubled twins.
* ``s2sad.defvjp`` on routines with no Python source (math.exp, np.tanh).
"""

import math
import os
import sys

import numpy as np

import s2sad

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))

from custom_rules import (
    cube,
    cube_bwd,
    cube_fwd,
    exp,
    exp_bwd,
    exp_fwd,
    linear,
    linear_bwd,
    linear_fwd,
    relu,
    relu_bwd,
    relu_fwd,
    sigmoid,
    sigmoid_bwd,
    sigmoid_fwd,
    silu,
    silu_bwd,
    silu_fwd,
    square,
    square_bwd,
    square_fwd,
    tanh,
    tanh_bwd,
    tanh_fwd,
)

# ---------------------------------------------------------------- doubled custom_vjp twins
# each backward rule is the right one called with a doubled cotangent (backward rules are linear
# in g), so its cotangents are exactly twice the right ones

def square_bwd_x2(x, g):
    return square_bwd(x, 2.0 * g)


def cube_bwd_x2(x, g):
    return cube_bwd(x, 2.0 * g)


def exp_bwd_x2(y, g):
    return exp_bwd(y, 2.0 * g)


def linear_bwd_x2(res, g):
    return linear_bwd(res, 2.0 * g)


def relu_bwd_x2(mask, g):
    return relu_bwd(mask, 2.0 * g)


def sigmoid_bwd_x2(s, g):
    return sigmoid_bwd(s, 2.0 * g)


def tanh_bwd_x2(y, g):
    return tanh_bwd(y, 2.0 * g)


def silu_bwd_x2(res, g):
    return silu_bwd(res, 2.0 * g)


square_x2 = s2sad.defvjp(square.fun, square_fwd, square_bwd_x2)
cube_x2 = s2sad.defvjp(cube.fun, cube_fwd, cube_bwd_x2)
exp_x2 = s2sad.defvjp(exp.fun, exp_fwd, exp_bwd_x2)
linear_x2 = s2sad.defvjp(linear.fun, linear_fwd, linear_bwd_x2)
relu_x2 = s2sad.defvjp(relu.fun, relu_fwd, relu_bwd_x2)
sigmoid_x2 = s2sad.defvjp(sigmoid.fun, sigmoid_fwd, sigmoid_bwd_x2)
tanh_x2 = s2sad.defvjp(tanh.fun, tanh_fwd, tanh_bwd_x2)
silu_x2 = s2sad.defvjp(silu.fun, silu_fwd, silu_bwd_x2)


# the losses of examples/custom_rules.py, calling the twins

def square_loss_x2(x, y):
    total = 0.0
    for i in range(4):
        total += square_x2(x * i - y)
    return total


def cube_loss_x2(x, w):
    return np.sum(w * cube_x2(x))


def decay_loss_x2(amp, rate, t, y):
    total = 0.0
    for i in range(t.shape[0]):
        r = amp * exp_x2(-rate * t[i]) - y[i]
        total += r * r
    return total


def linear_loss_x2(x, W, b):
    y = linear_x2(x, W, b)
    return np.sum(y * y)


def mlp_loss_x2(x, W, b, v):
    return np.dot(v, relu_x2(W @ x + b))


def logistic_loss_x2(w, X, labels):
    total = 0.0
    for i in range(X.shape[0]):
        p = sigmoid_x2(np.dot(X[i], w))
        total -= labels[i] * math.log(p) + (1.0 - labels[i]) * math.log(1.0 - p)
    return total


def rnn_loss_x2(h0, W, xs):
    h = h0
    for t in range(xs.shape[0]):
        h = tanh_x2(W @ h + xs[t])
    return np.sum(h * h)


def silu_loss_x2(x, slope):
    return np.sum(silu_x2(x, slope) ** 2)


# ---------------------------------------------------------------- custom_jvp

@s2sad.custom_jvp
def softplus(x):
    return math.log1p(math.exp(x))


@softplus.defjvp
def softplus_jvp(primals, tangents):
    x, = primals
    dx, = tangents
    return math.log1p(math.exp(x)), dx / (1.0 + math.exp(-x))


def softplus_loss(a, b):
    """A softplus regression residual, one rule call per sample."""
    total = 0.0
    for i in range(5):
        r = softplus(a * (i - 2.0) + b) - 0.5 * i
        total += r * r
    return total


@s2sad.custom_jvp
def softplus_x2(x):
    return math.log1p(math.exp(x))


@softplus_x2.defjvp
def softplus_jvp_x2(primals, tangents):
    x, = primals
    dx, = tangents
    return math.log1p(math.exp(x)), 2.0 * dx / (1.0 + math.exp(-x))


def softplus_loss_x2(a, b):
    total = 0.0
    for i in range(5):
        r = softplus_x2(a * (i - 2.0) + b) - 0.5 * i
        total += r * r
    return total


@s2sad.custom_jvp
def logaddexp(x, y):
    m = max(x, y)
    return m + math.log(math.exp(x - m) + math.exp(y - m))


@logaddexp.defjvp
def logaddexp_jvp(primals, tangents):
    x, y = primals
    dx, dy = tangents
    m = max(x, y)
    ex = math.exp(x - m)
    ey = math.exp(y - m)
    return m + math.log(ex + ey), (ex * dx + ey * dy) / (ex + ey)


def logaddexp_loss(x, y):
    """A two-argument scalar rule: a smooth maximum, called in a loop."""
    total = 0.0
    for i in range(3):
        total += logaddexp(x * i, y - i) * (i + 1.0)
    return total


@s2sad.custom_jvp
def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


@softmax.defjvp
def softmax_jvp(primals, tangents):
    x, = primals
    dx, = tangents
    e = np.exp(x - np.max(x))
    p = e / np.sum(e)
    return p, p * (dx - np.sum(p * dx))


def softmax_loss(x, w):
    """Expected score of a softmax policy: a vector in, a vector out."""
    return np.sum(w * softmax(x))


@s2sad.custom_jvp
def softmax_x2(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


@softmax_x2.defjvp
def softmax_jvp_x2(primals, tangents):
    x, = primals
    dx, = tangents
    e = np.exp(x - np.max(x))
    p = e / np.sum(e)
    return p, 2.0 * p * (dx - np.sum(p * dx))


def softmax_loss_x2(x, w):
    return np.sum(w * softmax_x2(x))


# ---------------------------------------------------------------- defvjp: no Python source

def exp_compiled_fwd(x):
    y = math.exp(x)
    return y, y


def exp_compiled_bwd(y, g):
    return (g * y,)


def exp_compiled_bwd_x2(y, g):
    return (2.0 * g * y,)


exp_compiled = s2sad.defvjp(math.exp, exp_compiled_fwd, exp_compiled_bwd)
exp_compiled_x2 = s2sad.defvjp(math.exp, exp_compiled_fwd, exp_compiled_bwd_x2)


def uses_exp_compiled(x, y):
    total = 0.0
    for i in range(3):
        total += exp_compiled(x * i - y) * y
    return total


def uses_exp_compiled_x2(x, y):
    total = 0.0
    for i in range(3):
        total += exp_compiled_x2(x * i - y) * y
    return total


def tanh_compiled_fwd(x):
    y = np.tanh(x)
    return y, y


def tanh_compiled_bwd(y, g):
    return (g * (1.0 - y * y),)


def tanh_compiled_bwd_x2(y, g):
    return (2.0 * g * (1.0 - y * y),)


tanh_compiled = s2sad.defvjp(np.tanh, tanh_compiled_fwd, tanh_compiled_bwd)
tanh_compiled_x2 = s2sad.defvjp(np.tanh, tanh_compiled_fwd, tanh_compiled_bwd_x2)


def uses_tanh_compiled(x, w):
    return np.sum(w * tanh_compiled(x))


def uses_tanh_compiled_x2(x, w):
    return np.sum(w * tanh_compiled_x2(x))


# ---------------------------------------------------------------- no rules

def cubes(x):
    return np.sum(x * x * x)


# ---------------------------------------------------------------- a vector-valued function

def tanh_layer(x, W):
    return tanh(W @ x)


def tanh_layer_x2(x, W):
    return tanh_x2(W @ x)
