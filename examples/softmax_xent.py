"""Softmax cross-entropy of a batch of logits against integer class labels, with the
log-sum-exp trick: log sum_j exp(z_j) = m + log sum_j exp(z_j - m), m = max_j z_j, so that
exp never overflows. The max is only a shift: its derivative contributions cancel."""

import numpy as np

import s2sad
from s2sad.check.fd import numerical_grad

from _check import report


def logsumexp(z):
    m = np.max(z)
    return m + np.log(np.sum(np.exp(z - m)))


def softmax_cross_entropy(logits, labels):
    n = logits.shape[0]
    loss = 0.0
    for i in range(n):
        loss += logsumexp(logits[i]) - logits[i, labels[i]]
    return loss / n


def example_args():
    rng = np.random.default_rng(3)
    logits = 3.0 * rng.standard_normal((5, 4))  # 5 samples, 4 classes
    labels = np.array([0, 3, 1, 1, 2])
    return logits, labels


def main(mode="reverse", verbose=True, jit=False):
    args = example_args()
    dxent = s2sad.grad(softmax_cross_entropy, mode=mode, jit=jit)
    g = dxent(*args)
    fd = numerical_grad(softmax_cross_entropy, args)
    return report(f"softmax_xent ({mode})", s2sad.source(dxent, *args), g, fd, verbose)


if __name__ == "__main__":
    main()
