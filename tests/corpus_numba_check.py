"""Check which corpus functions compile with numba.njit (not a pytest module: run it directly).

    python tests/corpus_numba_check.py [name ...]

Every module-level function of tests/corpus.py is re-created with a private copy of the module
globals in which all functions are replaced by their ``numba.njit`` versions, so that corpus
functions call jitted helpers.  Each case is compiled, run on a random point and compared with
the plain-Python result.  Prints one line per failure and checks the "no_numba" tags agree.
Exit status 1 if a case without the tag fails or a tagged case compiles.
"""

import os
import re
import sys
import types
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import corpus

from s2sad.check.fd import _fresh, rel_error


def jitted_namespace():
    import numba

    ns = dict(vars(corpus))
    for name, obj in vars(corpus).items():
        if isinstance(obj, types.FunctionType) and obj.__module__ == corpus.__name__:
            fn = types.FunctionType(obj.__code__, ns, obj.__name__, obj.__defaults__, obj.__closure__)
            ns[name] = numba.njit(fn)
    return ns


def check(names=None):
    ns = jitted_namespace()
    rng = np.random.default_rng(1234)
    failures = {}
    for c in corpus.CORPUS:
        if names and c.name not in names:
            continue
        args = c.sample(rng)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = ns[c.name](*_fresh(args))
            want = c.fn(*_fresh(args))
            err = rel_error(got, want)
            if not err < 1e-10:
                failures[c.name] = f"result differs from Python (rel_error {err:.2e})"
        except Exception as e:  # noqa: BLE001
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            detail = next(
                (
                    ln
                    for ln in lines
                    if "No implementation" in ln
                    or "Unknown attribute" in ln
                    or "Use of unsupported" in ln
                    or "Cannot" in ln
                ),
                lines[0] if lines else "",
            )
            failures[c.name] = f"{type(e).__name__}: {detail[:200]}"
    return failures


def main(argv):
    names = set(argv[1:])
    failures = check(names)
    bad = 0
    for c in corpus.CORPUS:
        if names and c.name not in names:
            continue
        tagged = not c.numba_ok
        if c.name in failures:
            print(f"{'(tagged) ' if tagged else 'UNTAGGED '}{c.name}: {failures[c.name]}")
            bad += not tagged
        elif tagged:
            print(f"TAGGED BUT COMPILES {c.name}")
            bad += 1
    total = len(names) if names else len(corpus.CORPUS)
    print(f"{total - len(failures)}/{total} compile and agree with Python")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
