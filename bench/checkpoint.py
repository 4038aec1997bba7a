"""Binomial checkpointing on a 10^5-step loop (Lorenz, explicit Euler): gradient time under
Numba and memory (floats on the tape, plus snapshots), with and without checkpointing.

    python bench/checkpoint.py [--steps N]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import s2sad  # noqa: E402
import checkpoint_cases as C  # noqa: E402
from test_checkpoint import _tape_high_water  # noqa: E402

S0 = np.array([1.0, 1.1, 0.9])
P = np.array([10.0, 28.0, 8.0 / 3.0])


def median_time(f, *args, repeat=7):
    f(*args)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - t0)
    return sorted(times)[repeat // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=100_000)
    n = ap.parse_args().steps
    dt = 1e-4
    rows = []
    plain = s2sad.grad(C.lorenz_plain, (0, 1))
    plain(S0, P, 10, dt)
    _, tape = _tape_high_water(plain, S0, P, n, dt)
    t = median_time(s2sad.grad(C.lorenz_plain, (0, 1), jit=True), S0, P, n, dt)
    rows.append(("no checkpointing", t, tape, 0))
    for k in (10, 20, 50):
        g = s2sad.grad(C.lorenz_ck, (0, 1))
        g(S0, P, 10, dt, k)
        _, tape = _tape_high_water(g, S0, P, n, dt, k)
        t = median_time(s2sad.grad(C.lorenz_ck, (0, 1), jit=True), S0, P, n, dt, k)
        rows.append((f"checkpointed, {k} snapshots", t, tape, 3 * k))
    base = rows[0][1]
    print(f"Lorenz, {n} explicit-Euler steps, gradient w.r.t. (state0, params), s2sad jit=True")
    print(f"{'variant':28s} {'median time':>12s} {'x plain':>8s} {'tape floats':>12s} {'snapshot floats':>16s}")
    for name, t, tape, snaps in rows:
        print(f"{name:28s} {t * 1e3:10.2f}ms {t / base:8.2f} {tape:12d} {snaps:16d}")


if __name__ == "__main__":
    main()
