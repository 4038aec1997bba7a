#!/usr/bin/env python
"""Gathers, scatter-adds and the Cholesky rules, timed: s2sad's gradient (Python and ``jit=True``)
against hand-written gradients of the same functions, single-threaded. Prints a table.

    python bench/gathers.py            # about a minute (Numba compiles first)
    python bench/gathers.py --quick    # smaller sizes, fewer samples

- ``embedding``: ``np.sum(np.tanh(table[tokens]) * c)`` with 4096 Zipf-distributed tokens into
  a 10000 x 64 table (many repeated indices): the gradient is a scatter-add of the rows
  (``np.add.at`` under Python, the ``_scatter_add`` loop under Numba). Hand-written: NumPy
  with ``np.add.at``, and a Numba loop.
- ``gaussian``: the log-likelihood of ``x`` under N(mu, f fᵀ + I/2) through
  ``np.linalg.cholesky``, ``solve`` and ``log(diag(L))``, n = 200, f of rank 10. Hand-written:
  the closed form (Σ⁻¹ r rᵀ Σ⁻¹ - Σ⁻¹) f with NumPy.

Each time is the median of samples; a sample repeats the call until it lasts a few ms.
"""

from __future__ import annotations

import os
import sys

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numba  # noqa: E402
import numpy as np  # noqa: E402

import s2sad  # noqa: E402

QUICK = "--quick" in sys.argv
V, D, N = (2000, 32, 1024) if QUICK else (10000, 64, 4096)
_R = np.random.default_rng(0)
TOKENS = np.minimum(_R.zipf(1.3, size=N), V) - 1
C = _R.normal(size=(N, D))


def embedding(table):
    return np.sum(np.tanh(table[TOKENS]) * C)


def embedding_grad_numpy(table):
    t = np.tanh(table[TOKENS])
    g = np.zeros_like(table)
    np.add.at(g, TOKENS, C * (1.0 - t * t))
    return g


@numba.njit(cache=True)
def embedding_grad_numba(table, tokens, c):
    g = np.zeros_like(table)
    for k in range(tokens.shape[0]):
        i = tokens[k]
        for j in range(table.shape[1]):
            t = np.tanh(table[i, j])
            g[i, j] += c[k, j] * (1.0 - t * t)
    return g


NG = 60 if QUICK else 200
X = _R.normal(size=NG)
MU = 0.1 * _R.normal(size=NG)


def gaussian(f):
    cov = f @ f.T + 0.5 * np.eye(NG)
    L = np.linalg.cholesky(cov)
    r = np.linalg.solve(L, X - MU)
    return -0.5 * np.sum(r * r) - np.sum(np.log(np.diag(L)))


def gaussian_grad_numpy(f):
    si = np.linalg.inv(f @ f.T + 0.5 * np.eye(NG))
    a = si @ (X - MU)
    return (np.outer(a, a) - si) @ f


def median_time(fn, *args):
    fn(*args)
    reps, samples = 1, []
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn(*args)
        dt = time.perf_counter() - t0
        if dt > 0.005:
            break
        reps *= 2
    for _ in range(5 if QUICK else 15):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn(*args)
        samples.append((time.perf_counter() - t0) / reps)
    return statistics.median(samples)


def main():
    table = 0.3 * _R.normal(size=(V, D))
    f = _R.normal(size=(NG, 10)) / np.sqrt(10)
    rows = []
    g_py, g_jit = s2sad.grad(embedding), s2sad.grad(embedding, jit=True)
    ref = embedding_grad_numpy(table)
    for g in (g_py(table), g_jit(table), embedding_grad_numba(table, TOKENS, C)):
        assert np.allclose(g, ref, rtol=1e-10, atol=1e-12)
    rows.append((f"embedding V={V} d={D} n={N}", [
        ("s2sad", median_time(g_py, table)), ("s2sad jit", median_time(g_jit, table)),
        ("NumPy by hand", median_time(embedding_grad_numpy, table)),
        ("Numba by hand", median_time(embedding_grad_numba, table, TOKENS, C))]))
    g_py, g_jit = s2sad.grad(gaussian), s2sad.grad(gaussian, jit=True)
    ref = gaussian_grad_numpy(f)
    for g in (g_py(f), g_jit(f)):
        assert np.allclose(g, ref, rtol=1e-8, atol=1e-10)
    rows.append((f"gaussian cholesky n={NG}", [
        ("s2sad", median_time(g_py, f)), ("s2sad jit", median_time(g_jit, f)),
        ("NumPy by hand", median_time(gaussian_grad_numpy, f))]))
    print(f"{'problem':32s} {'gradient':16s} {'median':>10s} {'vs NumPy by hand':>17s}")
    for name, times in rows:
        base = dict(times)["NumPy by hand"]
        for label, t in times:
            print(f"{name:32s} {label:16s} {t * 1e3:8.3f} ms {t / base:16.2f}x")


if __name__ == "__main__":
    main()
