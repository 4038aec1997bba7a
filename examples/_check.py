"""Shared reporting for the examples: print the generated code, the derivative, the finite-
difference reference and the error between them.

The error is ``s2sad.check.fd.rel_error``: max_i |a_i - b_i| / max(1, |b_i|), i.e. relative for
entries larger than 1 and absolute for small ones.
"""

import numpy as np

from s2sad.check.fd import rel_error


def report(title, source, derivative, reference, verbose=True):
    """Print one example's result and return its max relative error against ``reference``."""
    err = rel_error(derivative, reference)
    if verbose:
        if source is not None:
            print(f"==== {title}: generated derivative ====")
            print(source)
        print(f"---- {title}: result ----")
        with np.printoptions(precision=6, suppress=True):
            print("s2sad:             ", _fmt(derivative))
            print("finite differences:", _fmt(reference))
        print(f"max relative error: {err:.2e}")
        print()
    return err


def _fmt(value):
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    if isinstance(value, np.ndarray):
        return np.array2string(value, separator=", ").replace("\n", " ")
    return f"{value:.10g}"
