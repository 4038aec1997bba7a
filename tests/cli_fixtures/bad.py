"""CLI fixtures: functions the command line must refuse, with a message pointing at the line."""

# ruff: noqa: F821 -- string annotations such as "float64[:]" are s2sad types, not names

import numpy as np


class Scale:
    """A callable object: neither numpy, nor math, nor a function s2sad can read."""

    def __call__(self, v):
        return 2.0 * v


SCALE = Scale()


def uses_try(x: float) -> float:
    try:
        y = x * 2.0
    except ValueError:
        y = x
    return y


def uses_foreign(x: float) -> float:
    return SCALE(x) * x


def vector(x: np.ndarray):
    return x * 2.0


def bad_annotation(x: "complex128") -> float:
    return x * 2.0
