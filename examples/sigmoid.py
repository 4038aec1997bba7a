"""The logistic sigmoid, numpy-vectorised, in a binary cross-entropy loss of a linear model."""

import numpy as np

import s2sad
from s2sad.check.fd import numerical_grad

from _check import report


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def logistic_loss(w, X, labels):
    p = sigmoid(X @ w)
    return -np.mean(labels * np.log(p) + (1.0 - labels) * np.log(1.0 - p))


def example_args():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((8, 3))
    labels = (rng.random(8) < 0.5).astype(np.float64)
    w = rng.standard_normal(3)
    return w, X, labels


def main(mode="reverse", verbose=True, jit=False):
    args = example_args()
    dloss = s2sad.grad(logistic_loss, mode=mode, jit=jit)
    g = dloss(*args)
    fd = numerical_grad(logistic_loss, args)
    return report(f"sigmoid ({mode})", s2sad.source(dloss, *args), g, fd, verbose)


if __name__ == "__main__":
    main()
