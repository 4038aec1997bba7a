"""d/dx x^2 = 2x: the smallest derivative there is."""

import s2sad
from s2sad.check.fd import numerical_grad

from _check import report


def square(x):
    return x * x


def main(mode="reverse", verbose=True, jit=False):
    x = 3.0
    dsquare = s2sad.grad(square, mode=mode, jit=jit)
    g = dsquare(x)
    fd = numerical_grad(square, (x,))
    return report(f"square ({mode})", s2sad.source(dsquare, x), g, fd, verbose)


if __name__ == "__main__":
    main()
