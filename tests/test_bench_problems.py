"""Checks of the benchmark problems (bench/problems.py) and their hand-written adjoints
(bench/handwritten.py): ADBench reference values, finite differences, Numba agreement."""

import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit

# bench/ lives at the repository root, which plain `pytest` does not put on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import problems  # noqa: E402
from bench.adbench_io import gmm_path, load_gmm  # noqa: E402
from bench.handwritten import HAND  # noqa: E402

NAMES = tuple(problems.PROBLEMS)

GMM_TEST = gmm_path(problems.GMM_TEST_FILE)
needs_gmm_data = pytest.mark.skipif(not GMM_TEST.exists(), reason=f"no ADBench data at {GMM_TEST}")

# ADBench test/python/modules/common/gmm_tests.py, for gmm_d2_K3_test.txt
GMM_REF_OBJECTIVE = 8.07380408004975791
GMM_REF_GRADIENT = np.array([
    1.08662855508652456e-01, -7.41270039523898472e-01, 6.32607184015246071e-01,
    1.11692576532787013e+00, 1.63333013551455269e-01, -2.19989824071193142e-02,
    2.27778292254236098e-01, 1.20963025612832187e+00, -6.06375920733956339e-02,
    2.58529994051162237e+00, 1.12632694524213789e-01, 3.85744309849611777e-01,
    7.35180573182305508e-02, 5.41836362715595232e+00, -3.21494409677446469e-01,
    1.71892309775004937e+00, 8.60091090790866875e-01, -9.94640930466322848e-01,
])


def central_fd(f, args, wrt, rel_step=1e-3):
    """4th-order central differences of scalar f(*args) w.r.t. each array args[p], p in wrt."""
    grads = []
    for p in wrt:
        base = args[p]
        g = np.empty_like(base)
        for idx in np.ndindex(base.shape):
            h = rel_step * max(1.0, abs(base[idx]))
            f_at = [f(*_replace(args, p, _shifted(base, idx, s * h))) for s in (-2, -1, 1, 2)]
            g[idx] = (f_at[0] - 8.0 * f_at[1] + 8.0 * f_at[2] - f_at[3]) / (12.0 * h)
        grads.append(g)
    return grads


def _shifted(a, idx, delta):
    b = a.copy()
    b[idx] += delta
    return b


def _replace(args, p, value):
    return args[:p] + (value,) + args[p + 1:]


def _hand_grads(name, out):
    """The gradient arrays of a HAND result (rosenbrock returns only g, the others lead with
    the value)."""
    return [out] if name == "rosenbrock" else list(out[1:])


@pytest.fixture(scope="module")
def small_inputs():
    return {name: problems.make_inputs(name, seed=1, small=True) for name in NAMES
            if name != "gmm" or GMM_TEST.exists()}


@needs_gmm_data
def test_gmm_objective_matches_adbench_reference():
    value = problems.gmm_objective(*load_gmm(GMM_TEST))
    assert value == pytest.approx(GMM_REF_OBJECTIVE, rel=1e-8, abs=0.0)


@needs_gmm_data
def test_hand_gmm_gradient_matches_adbench_reference():
    value, g_alphas, g_means, g_icf = HAND["gmm"](*load_gmm(GMM_TEST))
    assert value == pytest.approx(GMM_REF_OBJECTIVE, rel=1e-8, abs=0.0)
    flat = np.concatenate([g_alphas.ravel(), g_means.ravel(), g_icf.ravel()])
    np.testing.assert_allclose(flat, GMM_REF_GRADIENT, rtol=1e-8, atol=0.0)


@pytest.mark.parametrize("name", NAMES)
def test_hand_gradient_matches_finite_differences(name, small_inputs):
    if name not in small_inputs:
        pytest.skip("no ADBench data")
    args = small_inputs[name]
    f = problems.PROBLEMS[name]
    out = HAND[name](*args)
    if name != "rosenbrock":
        assert out[0] == pytest.approx(f(*args), rel=1e-12)
    fd = central_fd(f, args, problems.WRT[name])
    for g, g_fd in zip(_hand_grads(name, out), fd, strict=True):
        assert g.shape == g_fd.shape
        scale = np.max(np.abs(g_fd))
        np.testing.assert_allclose(g, g_fd, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("name", NAMES)
def test_problem_compiles_with_numba_and_agrees(name, small_inputs):
    if name not in small_inputs:
        pytest.skip("no ADBench data")
    args = small_inputs[name]
    f = problems.PROBLEMS[name]
    assert njit(f)(*args) == pytest.approx(f(*args), rel=1e-12)


def test_make_inputs_is_deterministic_and_benchmark_sized():
    a, b = problems.make_inputs("mlp", seed=3), problems.make_inputs("mlp", seed=3)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    x, W1, b1, W2, b2, y = a
    assert (x.shape, W1.shape, W2.shape, y.shape) == ((64, 32), (32, 64), (64, 8), (64, 8))
    assert problems.make_inputs("rosenbrock", seed=0)[0].shape == (10**5,)
    assert problems.make_inputs("lorenz", seed=0)[2] == 1000


@needs_gmm_data
def test_load_gmm_benchmark_instance_shapes():
    alphas, means, icf, x, gamma, m = problems.make_inputs("gmm", seed=0)
    assert (alphas.shape, means.shape, icf.shape, x.shape) == ((25,), (25, 10), (25, 55), (1000, 10))
    assert (gamma, m) == (1.0, 0.0)


# ---------------------------------------------------------------- vectorized problems (issue 15)

VECTORIZED = tuple(problems.VECTORIZED)


def _small_vectorized(name):
    if name == "gmm_vec":  # a synthetic instance with several points (the test file has one)
        rng = np.random.default_rng(2)
        n, d, K = 6, 3, 4
        icf = 0.3 * rng.standard_normal((K, d + d * (d - 1) // 2))
        return (rng.standard_normal(K), rng.standard_normal((K, d)), icf, rng.standard_normal((n, d)),
                problems.tril_scatter(d), 1.2, 1.0)
    return problems.make_inputs(name, seed=1, small=True)


def test_vectorized_gmm_is_the_loop_gmm():
    args = _small_vectorized("gmm_vec")
    loop = args[:4] + args[5:]
    assert problems.gmm_vec(*args) == pytest.approx(problems.gmm_objective(*loop), rel=1e-12)
    if GMM_TEST.exists():
        assert problems.gmm_vec(*problems.make_inputs("gmm_vec", small=True)) == \
            pytest.approx(GMM_REF_OBJECTIVE, rel=1e-12)


@pytest.mark.parametrize("name", VECTORIZED)
def test_vectorized_gradient_matches_finite_differences(name):
    import s2sad

    args = _small_vectorized(name)
    f, wrt = problems.VECTORIZED[name], problems.WRT[name]
    got = s2sad.grad(f, wrt)(*args)
    for g, g_fd in zip(got, central_fd(f, args, wrt), strict=True):
        assert g.shape == g_fd.shape
        np.testing.assert_allclose(g, g_fd, rtol=1e-6, atol=1e-6 * np.max(np.abs(g_fd)))


@pytest.mark.parametrize("name", VECTORIZED)
def test_peers_run_the_same_code(name):
    """bench/peers.py gives JAX and autograd the function s2sad differentiates, np rebound:
    over NumPy itself it is the function."""
    from bench.peers import _over

    args = _small_vectorized(name)
    wrt = problems.WRT[name]
    same = _over(problems.VECTORIZED[name], np, args, wrt)
    assert same(*[args[k] for k in wrt]) == problems.VECTORIZED[name](*args)
