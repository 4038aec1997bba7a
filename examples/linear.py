"""A linear layer y = x @ W.T + b, differentiated with respect to x, W and b.

Twice: the gradient of a scalar loss (sum of squares of y), and the vector-Jacobian product
of the layer itself for a given output cotangent (forward mode: the Jacobian-vector product).
"""

import numpy as np

import s2sad
from s2sad.check.fd import numerical_grad, numerical_jacobian

from _check import report


def linear(x, W, b):
    return x @ W.T + b


def loss(x, W, b):
    y = linear(x, W, b)
    return np.sum(y * y)


def example_args():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))  # a batch of 4 inputs with 3 features
    W = rng.standard_normal((2, 3))  # 3 features -> 2 outputs
    b = rng.standard_normal(2)
    return x, W, b


def main(mode="reverse", verbose=True, jit=False):
    x, W, b = example_args()
    args = (x, W, b)

    # gradient of the scalar loss
    dloss = s2sad.grad(loss, argnums=(0, 1, 2), mode=mode, jit=jit)
    g = dloss(*args)
    fd = numerical_grad(loss, args, argnums=(0, 1, 2))
    err = report(f"linear loss ({mode})", s2sad.source(dloss, *args), g, fd, verbose)

    # the layer itself: vjp with a cotangent, or jvp with tangents
    jac = numerical_jacobian(linear, args, argnums=(0, 1, 2))  # each (4, 2) + arg.shape
    rng = np.random.default_rng(1)
    if mode == "reverse":
        y_bar = rng.standard_normal((4, 2))
        _, linear_vjp = s2sad.vjp(linear, *args, jit=jit)
        got = linear_vjp(y_bar)
        want = tuple(np.tensordot(y_bar, J, axes=2) for J in jac)
        err2 = report("linear layer (vjp)", s2sad.source(linear_vjp), got, want, verbose)
    else:
        tangents = tuple(rng.standard_normal(a.shape) for a in args)
        _, y_dot = s2sad.jvp(linear, args, tangents, jit=jit)
        want = sum(np.tensordot(J, t, axes=t.ndim) for J, t in zip(jac, tangents))
        # s2sad.jvp hands back no derivative object, so there is no source to print here
        err2 = report("linear layer (jvp)", None, y_dot, want, verbose)
    return max(err, err2)


if __name__ == "__main__":
    main()
