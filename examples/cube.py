"""d/dx x^3 = 3x^2, written with a power."""

import s2sad
from s2sad.check.fd import numerical_grad

from _check import report


def cube(x):
    return x ** 3


def main(mode="reverse", verbose=True, jit=False):
    x = -1.5
    dcube = s2sad.grad(cube, mode=mode, jit=jit)
    g = dcube(x)
    fd = numerical_grad(cube, (x,))
    return report(f"cube ({mode})", s2sad.source(dcube, x), g, fd, verbose)


if __name__ == "__main__":
    main()
