"""Scale-out on Dask (issue 13): a real LocalCluster of worker processes runs
examples/dask_scale_out.py's (a) data-parallel gradient of a sum and (b) value_and_grad over a
batch of parameter vectors. References: finite differences of the user's loss on all the data."""

import sys
from pathlib import Path

import numpy as np
import pytest
from dask import distributed

from s2sad.check.fd import numerical_grad

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import dask_scale_out as D
import fit_lorenz as L


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.mark.slow
def test_data_parallel_gradient_of_a_sum(client):
    X, y = D.make_data(600, 3)
    w = np.array([0.3, -0.2, 0.5])
    partitions = D.scatter_partitions(client, X, y, 4)
    g = D.full_gradient(client, partitions, w)
    np.testing.assert_allclose(g, numerical_grad(D.partition_loss, (w, X, y)), rtol=1e-7)
    workers = client.run(lambda: 1)
    assert len(workers) == 2  # two worker processes


@pytest.mark.slow
def test_value_and_grad_over_a_batch_of_parameters(client):
    obs = L.observations(40)
    starts = L.START * np.array([[1.0, 1.0, 1.0], [0.9, 1.1, 1.2], [1.2, 0.8, 0.9]])
    results = D.sweep(client, L.loss, starts, obs, L.X0, L.DT)
    for p, (value, g) in zip(starts, results):
        assert value == pytest.approx(L.loss(p, obs, L.X0, L.DT), rel=1e-12)
        np.testing.assert_allclose(g, numerical_grad(L.loss, (p, obs, L.X0, L.DT)), rtol=1e-6)
