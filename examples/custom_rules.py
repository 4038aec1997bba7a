"""The seeds' examples again, each primitive now carrying its own derivative rule.

Every primitive below is a ``@s2sad.custom_vjp`` function with a forward/backward pair, in the
style of a hand-written autograd op: the forward rule returns the output and saves what the
backward rule needs (the input, the output, a mask ...), the backward rule maps the output's
cotangent ``g`` to one cotangent per argument. A small loss calls each primitive; when s2sad
differentiates the loss, the generated code calls the rule instead of differentiating the
primitive's body -- in reverse mode, and in forward mode too (the backward rule with a unit
cotangent, once per output entry).

    python examples/custom_rules.py           # generated code, then the table
    python examples/custom_rules.py --quiet   # the table only
    python examples/custom_rules.py --jit     # derivatives compiled by Numba

Exits with status 1 if any gradient is off finite differences by more than 1e-6.
"""

import argparse
import math
import sys
import time

import numpy as np

import s2sad
from s2sad.check.fd import numerical_grad, rel_error

TOLERANCE = 1e-6


# ---------------------------------------------------------------- square: scalar, saves its input

@s2sad.custom_vjp
def square(x):
    return x * x


def square_fwd(x):
    return x * x, x


def square_bwd(x, g):
    return (2.0 * x * g,)


square.defvjp(square_fwd, square_bwd)


def square_loss(x, y):
    """Least squares of the line through the origin: sum_i (x * i - y)^2."""
    total = 0.0
    for i in range(4):
        total += square(x * i - y)
    return total


# ---------------------------------------------------------------- cube: elementwise on an array

@s2sad.custom_vjp
def cube(x):
    return x * x * x


def cube_fwd(x):
    return x * x * x, x


def cube_bwd(x, g):
    return (3.0 * x * x * g,)


cube.defvjp(cube_fwd, cube_bwd)


def cube_loss(x, w):
    """A weighted sum of cubes; w's gradient does not go through the rule."""
    return np.sum(w * cube(x))


# ---------------------------------------------------------------- exp: scalar, saves its output

@s2sad.custom_vjp
def exp(x):
    return math.exp(x)


def exp_fwd(x):
    y = math.exp(x)
    return y, y


def exp_bwd(y, g):
    return (g * y,)


exp.defvjp(exp_fwd, exp_bwd)


def decay_loss(amp, rate, t, y):
    """Fit of an exponential decay amp * exp(-rate * t) to samples y, one rule call a sample."""
    total = 0.0
    for i in range(t.shape[0]):
        r = amp * exp(-rate * t[i]) - y[i]
        total += r * r
    return total


# ---------------------------------------------------------------- linear layer: three cotangents

@s2sad.custom_vjp
def linear(x, W, b):
    return x @ W.T + b


def linear_fwd(x, W, b):
    return x @ W.T + b, (x, W)


def linear_bwd(res, g):
    x, W = res
    return (g @ W, g.T @ x, np.sum(g, axis=0))


linear.defvjp(linear_fwd, linear_bwd)


def linear_loss(x, W, b):
    """Sum of squares of a batch through y = x @ W.T + b."""
    y = linear(x, W, b)
    return np.sum(y * y)


# ---------------------------------------------------------------- ReLU: saves a mask

@s2sad.custom_vjp
def relu(x):
    return np.maximum(x, 0.0)


def relu_fwd(x):
    mask = np.where(x > 0.0, 1.0, 0.0)
    return x * mask, mask


def relu_bwd(mask, g):
    return (g * mask,)


relu.defvjp(relu_fwd, relu_bwd)


def mlp_loss(x, W, b, v):
    """A one-hidden-layer network v . relu(W @ x + b); v's gradient does not go through the rule."""
    return np.dot(v, relu(W @ x + b))


# ---------------------------------------------------------------- sigmoid: scalar, saves its output

@s2sad.custom_vjp
def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def sigmoid_fwd(z):
    s = 1.0 / (1.0 + math.exp(-z))
    return s, s


def sigmoid_bwd(s, g):
    return (g * s * (1.0 - s),)


sigmoid.defvjp(sigmoid_fwd, sigmoid_bwd)


def logistic_loss(w, X, labels):
    """Cross-entropy of logistic regression, one rule call per sample."""
    total = 0.0
    for i in range(X.shape[0]):
        p = sigmoid(np.dot(X[i], w))
        total -= labels[i] * math.log(p) + (1.0 - labels[i]) * math.log(1.0 - p)
    return total


# ---------------------------------------------------------------- tanh: array, saves its output

@s2sad.custom_vjp
def tanh(x):
    return np.tanh(x)


def tanh_fwd(x):
    y = np.tanh(x)
    return y, y


def tanh_bwd(y, g):
    return (g * (1.0 - y * y),)


tanh.defvjp(tanh_fwd, tanh_bwd)


def rnn_loss(h0, W, xs):
    """A tanh recurrent network h <- tanh(W @ h + xs[t]), unrolled by a loop; sum of squares of
    the final state."""
    h = h0
    for t in range(xs.shape[0]):
        h = tanh(W @ h + xs[t])
    return np.sum(h * h)


# ---------------------------------------------------------------- learnable SiLU: two arguments

@s2sad.custom_vjp
def silu(x, slope):
    return slope * x / (1.0 + np.exp(-x))


def silu_fwd(x, slope):
    s = 1.0 / (1.0 + np.exp(-x))
    return slope * x * s, (x, s, slope)


def silu_bwd(res, g):
    x, s, slope = res
    return (g * slope * s * (1.0 + x * (1.0 - s)), np.sum(g * x * s))


silu.defvjp(silu_fwd, silu_bwd)


def silu_loss(x, slope):
    """Sum of squares of a learnable SiLU slope * x * sigmoid(x)."""
    return np.sum(silu(x, slope) ** 2)


# ---------------------------------------------------------------- the cases

def cases():
    """name -> (loss, args, argnums, rule): each loss at a point away from kinks, with the
    arguments it is differentiated with respect to and the primitive whose rule it calls."""
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 2.0, 6)
    X = rng.standard_normal((8, 3))
    W_mlp = np.array([[0.5, -1.0, 0.25], [1.5, 0.5, -0.5], [-0.75, 0.25, 1.0], [0.3, 0.8, -1.2]])
    return {
        "square": (square_loss, (1.5, 0.7), (0, 1), square),
        "cube": (cube_loss, (np.array([-1.2, 0.4, 2.0]), np.array([0.5, -1.5, 0.25])), (0, 1), cube),
        "exp": (decay_loss, (2.0, 0.8, t, 1.7 * np.exp(-0.6 * t)), (0, 1), exp),
        "linear": (linear_loss, (rng.standard_normal((4, 3)), rng.standard_normal((2, 3)),
                                 rng.standard_normal(2)), (0, 1, 2), linear),
        # pre-activations W @ x + b = [0.2, 1.65, -0.3, 0.42]: each at least 0.2 from the kink
        "relu": (mlp_loss, (np.array([1.0, 0.6, 0.3]), W_mlp, np.array([0.225, 0.0, 0.0, 0.0]),
                            np.array([1.0, -2.0, 0.5, 3.0])), (0, 1, 2, 3), relu),
        "sigmoid": (logistic_loss, (np.array([0.3, -0.5, 0.8]), X,
                                    (X[:, 0] > 0.0).astype(np.float64)), (0,), sigmoid),
        "tanh": (rnn_loss, (np.array([0.1, -0.2, 0.3]), 0.6 * rng.standard_normal((3, 3)),
                            rng.standard_normal((5, 3))), (0, 1, 2), tanh),
        "silu": (silu_loss, (np.array([-2.0, -0.5, 0.3, 1.7, 3.0]), 1.3), (0, 1), silu),
    }


def check(name, mode, jit=False):
    """(max relative error against finite differences, the derivative) for one case."""
    loss, args, argnums, _ = cases()[name]
    dloss = s2sad.grad(loss, argnums=argnums, mode=mode, jit=jit)
    got = dloss(*args)
    want = numerical_grad(loss, args, argnums=argnums)
    return rel_error(got, want), dloss


def main(verbose=True, jit=False):
    """Print each loss's generated derivative (reverse mode) and a table of errors against finite
    differences in both modes; return the largest error."""
    rows = []
    for name, (loss, args, _, rule) in cases().items():
        row = [name, loss.__name__]
        start = time.perf_counter()
        for mode in ("reverse", "forward"):
            err, dloss = check(name, mode, jit)
            row.append(err)
            if verbose and mode == "reverse":
                print(f"==== {loss.__name__} calls {rule.__name__}: rules {rule.fwd.__name__} / "
                      f"{rule.bwd.__name__} ====")
                print(s2sad.source(dloss, *args))
        row.append(time.perf_counter() - start)
        rows.append(row)
    worst = max(max(r[2], r[3]) for r in rows)
    print(f"custom_vjp rules{' (jit)' if jit else ''}: max relative error of the loss's gradient "
          f"against finite differences, tolerance {TOLERANCE:g}")
    print(f"{'primitive':<10}{'loss':<15}{'reverse':>10}{'forward':>10}{'time':>8}  result")
    for name, loss_name, rev, fwd, seconds in rows:
        verdict = "PASS" if max(rev, fwd) < TOLERANCE else "FAIL"
        print(f"{name:<10}{loss_name:<15}{rev:>10.1e}{fwd:>10.1e}{seconds:>7.2f}s  {verdict}")
    print(f"max error {worst:.1e}")
    return worst


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    parser.add_argument("--jit", action="store_true", help="compile the derivatives with Numba")
    opts = parser.parse_args()
    sys.exit(1 if main(verbose=not opts.quiet, jit=opts.jit) >= TOLERANCE else 0)
