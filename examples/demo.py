"""Differentiate every example with s2sad, print the generated code and check each derivative
against finite differences.

    python examples/demo.py            # generated code and results, then the summary table
    python examples/demo.py --quiet    # the summary table only
    python examples/demo.py --jit      # the same, with the derivatives compiled by Numba

Exits with status 1 if any derivative is off by more than the tolerance (or fails to build).
"""

import argparse
import importlib
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

EXAMPLES = ["square", "cube", "exp", "linear", "relu", "sigmoid", "tanh", "silu",
            "softmax_xent", "euler_ode"]
MODES = ["reverse", "forward"]
TOLERANCE = 1e-6


def run(name, mode, verbose, jit):
    """(error, seconds, note) for one example in one mode; error is None if it raised."""
    start = time.perf_counter()
    try:
        module = importlib.import_module(name)
        err = module.main(mode=mode, verbose=verbose, jit=jit)
        note = ""
    except Exception as e:  # noqa: BLE001 -- the demo reports every failure and carries on
        if verbose:
            traceback.print_exc()
        err = None
        note = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return err, time.perf_counter() - start, note


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="print only the summary table")
    parser.add_argument("--jit", action="store_true", help="compile the derivatives with Numba")
    parser.add_argument("names", nargs="*", metavar="EXAMPLE",
                        help=f"examples to run (default: all of {', '.join(EXAMPLES)})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in EXAMPLES]
    if unknown:
        parser.error(f"unknown example(s): {', '.join(unknown)}")

    rows = []
    total = time.perf_counter()
    for name in args.names or EXAMPLES:
        for mode in MODES:
            err, seconds, note = run(name, mode, not args.quiet, args.jit)
            ok = err is not None and err < TOLERANCE
            rows.append((name, mode, err, seconds, ok, note))
    total = time.perf_counter() - total

    jit = " (jit)" if args.jit else ""
    print(f"s2sad examples{jit}: max relative error against finite differences, tolerance {TOLERANCE:g}")
    print(f"{'example':<14}{'mode':<9}{'rel. error':>11}{'time':>8}  result")
    for name, mode, err, seconds, ok, note in rows:
        shown = "error" if err is None else f"{err:.1e}"
        verdict = "PASS" if ok else "FAIL"
        print(f"{name:<14}{mode:<9}{shown:>11}{seconds:>7.2f}s  {verdict}"
              + (f"  {note}" if note else ""))
    failed = sum(not ok for *_, ok, _ in rows)
    print(f"{len(rows) - failed} passed, {failed} failed in {total:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
