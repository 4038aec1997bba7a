"""A learnable SiLU (swish) activation, slope * x * sigmoid(x), differentiated with respect to
both its input x and its parameter slope."""

import numpy as np

import s2sad
from s2sad.check.fd import numerical_grad

from _check import report


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def silu(x, slope):
    return slope * x * sigmoid(x)


def silu_loss(x, slope):
    return np.sum(silu(x, slope) ** 2)


def main(mode="reverse", verbose=True, jit=False):
    x = np.array([-2.0, -0.5, 0.3, 1.7, 3.0])
    slope = 1.3
    dsilu = s2sad.grad(silu_loss, argnums=(0, 1), mode=mode, jit=jit)
    g = dsilu(x, slope)
    fd = numerical_grad(silu_loss, (x, slope), argnums=(0, 1))
    return report(f"silu ({mode})", s2sad.source(dsilu, x, slope), g, fd, verbose)


if __name__ == "__main__":
    main()
