"""A damped exponential, f(x) = exp(-x / 2) * x, with the product rule on top of exp."""

import math

import s2sad
from s2sad.check.fd import numerical_grad

from _check import report


def damped_exp(x):
    return math.exp(-0.5 * x) * x


def main(mode="reverse", verbose=True, jit=False):
    x = 0.7
    ddamped = s2sad.grad(damped_exp, mode=mode, jit=jit)
    g = ddamped(x)
    fd = numerical_grad(damped_exp, (x,))
    return report(f"exp ({mode})", s2sad.source(ddamped, x), g, fd, verbose)


if __name__ == "__main__":
    main()
