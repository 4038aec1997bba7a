"""The adversarial review's kernels (tests/cuda_review_cases.py) through tests/test_cuda.py's
harness: tangent and adjoint kernels against central finite differences of the primal kernel,
jvp against vjp, the atomics in the generated source, the race detector, and the refusals at
the user's line. Runs on Numba's CUDA simulator like tests/test_cuda.py."""

import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cuda_review_cases as RC  # noqa: E402 - after the path
import test_cuda as T  # noqa: E402

CASES = RC.REVIEW_CASES
IDS = [c.name for c in CASES]


@pytest.fixture(scope="module")
def scuda():
    return pytest.importorskip("s2sad.cuda")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jvp_matches_finite_differences(scuda, case):
    T.check_jvp(case, T.generated(scuda, case, "jvp"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vjp_matches_finite_differences(scuda, case):
    T.check_vjp(case, T.generated(scuda, case, "vjp"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jvp_and_vjp_agree(scuda, case):
    T.check_dot_product(case, T.generated(scuda, case, "jvp"), T.generated(scuda, case, "vjp"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_atomics_where_threads_collide(scuda, case):
    T.test_source_shows_the_kernels(scuda, case)


@T.needs_simulator
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("mode", ["vjp", "jvp"])
def test_generated_kernels_have_no_races(scuda, case, mode, monkeypatch):
    races = T.races_of(case, T.generated(scuda, case, mode), monkeypatch,
                       suffix="_bar" if mode == "vjp" else "_dot")
    assert not races, f"{case.name} {mode}: races in the generated kernel:\n{T.R.describe(races)}"


@T.needs_simulator
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_primal_kernels_have_no_races(case, monkeypatch):
    races = T.races_of(case, case.reference, monkeypatch, kernel_only=True)
    assert not races, f"{case.name}: races in the primal kernel:\n{T.R.describe(races)}"


@pytest.mark.parametrize("refusal,mode", [pytest.param(r, m, id=f"{r.name}-{m}") for r in RC.REVIEW_REFUSALS
                                          for m in ("vjp", "jvp")])
def test_refusal(scuda, refusal, mode):
    T.test_refusal(scuda, refusal, mode)


def test_review_covers_enough_kernels():
    assert len(CASES) >= 25
    for c in CASES:
        g = np.prod(np.atleast_1d(c.griddim)) * np.prod(np.atleast_1d(c.blockdim))
        assert g <= 64, c.name


def test_manual_thread_index_refuses_a_2d_launch(scuda):
    """``i = threadIdx.x + blockIdx.x * blockDim.x`` tells threads apart along x only: with 2-D
    blocks two threads share ``i``, and the adjoint's plain ``x_bar[i] +=`` (the thread's own
    element) would race and count twice. Refused before anything is launched; a 1-D launch runs."""
    from numba import cuda

    @cuda.jit
    def manual(x, out):
        i = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
        if i < x.shape[0]:
            out[i] = math.sin(x[i])

    n = 16
    x = np.linspace(0.1, 1.0, n)
    for make in (scuda.vjp_kernel, scuda.jvp_kernel):
        d = make(manual, wrt=("x",), outputs=("out",))
        shadows = [np.ones(n), np.ones(n)]
        with pytest.raises(ValueError, match=r"threadIdx\.x \+ blockIdx\.x \* blockDim\.x"):
            d[1, (16, 2)](x, np.zeros(n), *shadows)
        np.testing.assert_array_equal(shadows[0], np.ones(n))  # nothing launched
        d[1, 16](x, np.zeros(n), *shadows)
    x_bar = np.zeros(n)
    scuda.vjp_kernel(manual, wrt=("x",), outputs=("out",))[1, 16](x, np.zeros(n), x_bar, np.ones(n))
    np.testing.assert_allclose(x_bar, np.cos(x), rtol=1e-12)  # d sin = cos, by hand


if T.given is not None:
    @T.settings(max_examples=6, deadline=None, suppress_health_check=list(T.HealthCheck))
    @T.given(name=T.st.sampled_from(["clamps_fmod_floor", "ternary", "gather_table", "histogram_weighted",
                                     "sph_density", "grow_until", "mask_and_copysign", "pair_cutoff"]),
             seed=T.st.integers(0, 2**31 - 1))
    def test_random_inputs(scuda, name, seed):
        """Fresh inputs for the review's kernels with kinks and data-dependent control flow (their
        argument makers keep the inputs off the kinks, so finite differences stay stable)."""
        case = RC.REVIEW_CASE[name]
        T.check_jvp(case, T.generated(scuda, case, "jvp"), seed=seed)
        T.check_vjp(case, T.generated(scuda, case, "vjp"), seed=seed)
