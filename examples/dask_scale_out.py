"""When one machine is not enough: s2sad derivatives on a Dask cluster.

(a) Data-parallel gradient of a sum: the data set is split into partitions that stay on the
    workers; each step maps the jitted gradient of the per-partition loss over them and sums the
    partition gradients (the gradient of a sum is the sum of the gradients).
(b) A parameter sweep: value_and_grad mapped over a batch of parameter vectors (an ensemble of
    Lorenz fits started from different points).

Derivative objects pickle as the function, options and argnums that made them, so Dask sends
them as they are; each worker generates (or finds in the cache directory) and compiles the code
once. The same code runs against a real scheduler:

    python examples/dask_scale_out.py                        # a LocalCluster, 1 then 2 workers
    python examples/dask_scale_out.py --address tcp://scheduler:8786

Needs ``pip install 's2sad[dask]'``.
"""

import argparse
import itertools
import math
import time

import numpy as np

import s2sad


def partition_loss(w, X, y):
    """Logistic loss of the rows of one partition: sum_i log(1 + exp(-y_i <x_i, w>))."""
    total = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j] * w[j]
        total += math.log1p(math.exp(-y[i] * z))
    return total


partition_grad = s2sad.grad(partition_loss, jit=True)


def make_data(rows, features, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    w_true = rng.standard_normal(features)
    y = np.where(X @ w_true + 0.3 * rng.standard_normal(rows) > 0.0, 1.0, -1.0)
    return X, y


def scatter_partitions(client, X, y, parts):
    """The partitions, sent to the workers once (futures): each step ships only w."""
    bounds = np.linspace(0, X.shape[0], parts + 1).astype(int)
    return [client.scatter((X[a:b], y[a:b])) for a, b in itertools.pairwise(bounds)]


def _grad_of(part, w):
    X, y = part
    return partition_grad(w, X, y)


def full_gradient(client, partitions, w):
    """(a) the gradient of the whole data set's loss: mapped, then summed on the workers."""
    grads = client.map(_grad_of, partitions, w=w, pure=False)
    return client.submit(_sum, grads).result()


def _sum(arrays):
    return np.sum(arrays, axis=0)


def gradient_descent(client, partitions, w, steps, rate):
    for _ in range(steps):
        w = w - rate * full_gradient(client, partitions, w)
    return w


def sweep(client, loss, starts, *args):
    """(b) value_and_grad of ``loss`` at each parameter vector of ``starts``, on the workers."""
    vg = s2sad.value_and_grad(loss, jit=True)
    return client.gather(client.map(vg, list(starts), *[[a] * len(starts) for a in args],
                                    pure=False))


def timed_descent(client, X, y, parts, steps):
    partitions = scatter_partitions(client, X, y, parts)
    w0 = np.zeros(X.shape[1])
    gradient_descent(client, partitions, w0, 2, 0.0)  # each worker compiles (or loads) once
    t0 = time.perf_counter()
    w = gradient_descent(client, partitions, w0, steps, 1.0 / X.shape[0])
    return w, time.perf_counter() - t0


def ensemble(client, count=16, steps=150, seed=1):
    """(b) the Lorenz fit's loss and gradient at ``count`` random parameter vectors."""
    from fit_lorenz import DT, START, X0, loss, observations

    rng = np.random.default_rng(seed)
    starts = START * rng.uniform(0.7, 1.3, size=(count, 3))
    return starts, sweep(client, loss, starts, observations(steps), X0, DT)


def main(address=None, rows=2_000_000, features=8, parts=8, steps=10, verbose=True):
    from dask.distributed import Client, LocalCluster

    X, y = make_data(rows, features)
    times = {}

    def run(client, key):
        w, times[key] = timed_descent(client, X, y, parts, steps)
        return w, ensemble(client)

    if address is not None:
        with Client(address) as client:
            w, (starts, results) = run(client, "cluster")
    else:
        for n in (1, 2):
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                w, (starts, results) = run(client, n)
    if verbose:
        print(f"(a) {steps} gradient-descent steps, logistic loss, {rows} rows x {features} "
              f"features in {parts} partitions:")
        for n, secs in times.items():
            print(f"    {n} worker(s): {secs:.3f} s ({secs / steps * 1e3:.1f} ms a step)")
        if 1 in times and 2 in times:
            print(f"    speed-up, 2 workers vs 1: {times[1] / times[2]:.2f}x")
        best = min(range(len(starts)), key=lambda k: results[k][0])
        print(f"(b) value_and_grad at {len(starts)} Lorenz parameter vectors: the lowest loss "
              f"{results[best][0]:.3f} at {np.array2string(starts[best], precision=3)}, gradient "
              f"{np.array2string(results[best][1], precision=3)}")
    return w, times


if __name__ == "__main__":
    import os
    import sys

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--address", help="a Dask scheduler's address (default: a LocalCluster)")
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    # the workers import this file as a module (and fit_lorenz next to it): the tasks then name
    # the functions instead of carrying them by value, and each worker builds a derivative once.
    # (Functions of __main__ travel by value too, but are made again for every task.)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dask_scale_out

    dask_scale_out.main(a.address, rows=a.rows, steps=a.steps)
