"""ReLU as a loop with a branch, inside a least-squares loss on its output.

The derivative keeps the loop and the branch: d relu(x_i) / dx_i is 1 where x_i > 0, else 0.
"""

import numpy as np

import s2sad
from s2sad.check.fd import numerical_grad

from _check import report


def relu(x):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            y[i] = x[i]
    return y


def relu_loss(x, target):
    err = relu(x) - target
    return 0.5 * np.sum(err * err)


def main(mode="reverse", verbose=True, jit=False):
    x = np.array([-1.3, 0.4, 2.1, -0.2, 0.9, -2.5])  # away from the kink at 0
    target = np.array([0.5, -0.1, 1.0, 0.3, 1.2, 0.0])
    drelu = s2sad.grad(relu_loss, mode=mode, jit=jit)
    g = drelu(x, target)
    fd = numerical_grad(relu_loss, (x, target))
    return report(f"relu ({mode})", s2sad.source(drelu, x, target), g, fd, verbose)


if __name__ == "__main__":
    main()
