"""A tanh unit fitted to data, with the mean squared error summed in a loop over samples."""

import math

import numpy as np

import s2sad
from s2sad.check.fd import numerical_grad

from _check import report


def tanh_mse(w, xs, ys):
    n = xs.shape[0]
    total = 0.0
    for i in range(n):
        pred = math.tanh(w[0] * xs[i] + w[1])
        total += (pred - ys[i]) ** 2
    return total / n


def example_args():
    xs = np.linspace(-2.0, 2.0, 7)
    ys = np.tanh(0.8 * xs - 0.3) + 0.05 * np.cos(5.0 * xs)
    w = np.array([0.5, 0.1])
    return w, xs, ys


def main(mode="reverse", verbose=True, jit=False):
    args = example_args()
    dmse = s2sad.grad(tanh_mse, mode=mode, jit=jit)
    g = dmse(*args)
    fd = numerical_grad(tanh_mse, args)
    return report(f"tanh ({mode})", s2sad.source(dmse, *args), g, fd, verbose)


if __name__ == "__main__":
    main()
