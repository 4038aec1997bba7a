"""Binomial checkpointing of marked loops: correct gradients, tape memory O(k * state)."""

import numpy as np
import pytest

import s2sad
from s2sad.check.fd import numerical_grad, rel_error

import checkpoint_cases as C

S0 = np.array([1.0, 1.1, 0.9])
P = np.array([10.0, 28.0, 8.0 / 3.0])


@pytest.mark.parametrize("k", [1, 2, 3, 7, 40])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_checkpointed_gradient_matches_finite_differences(k, mode):
    args = (S0, P, 40, 0.01, k)
    got = s2sad.grad(C.lorenz_ck, (0, 1), mode=mode)(*args)
    want = numerical_grad(C.lorenz_ck, args, (0, 1))
    assert rel_error(got, want) < 1e-6


@pytest.mark.parametrize("k", [1, 3, 5])
def test_checkpointed_array_state(k):
    u0 = np.linspace(0.1, 1.0, 7)
    got = s2sad.grad(C.heat_ck)(u0, 25, k)
    assert rel_error(got, numerical_grad(C.heat_ck, (u0, 25, k))) < 1e-6


def test_the_loop_runs_plainly_when_not_differentiated():
    assert C.lorenz_ck(S0, P, 30, 0.01, 3) == C.lorenz_plain(S0, P, 30, 0.01)


def _tape_high_water(derivative, *args):
    """Run ``derivative`` (pure-Python backend) with its module's tape helpers wrapped to
    record the most floats the tape ever holds."""
    mod = derivative._last.module
    high = [0]
    push, reserve = getattr(mod, "_push_f", None), getattr(mod, "_reserve_f", None)

    def push_f(tape, top, x):
        high[0] = max(high[0], top + 1)
        return push(tape, top, x)

    def reserve_f(tape, need):
        high[0] = max(high[0], need)
        return reserve(tape, need)

    if push:
        mod._push_f = push_f
    if reserve:
        mod._reserve_f = reserve_f
    try:
        out = derivative(*args)
    finally:
        if push:
            mod._push_f = push
        if reserve:
            mod._reserve_f = reserve
    return out, high[0]


def test_tape_memory_of_a_100000_step_loop():
    """The plain reverse sweep records 3 floats per step (3 * 10^5 floats); with 20 snapshots
    the tape holds one iteration (3 floats) and the snapshots 20 states of 3 floats."""
    n, k = 100_000, 20
    g_ck = s2sad.grad(C.lorenz_ck, (0, 1))
    g_plain = s2sad.grad(C.lorenz_plain, (0, 1))
    g_ck(S0, P, 10, 1e-4, k)  # build both derivatives first
    g_plain(S0, P, 10, 1e-4)
    (gx, gp), tape_ck = _tape_high_water(g_ck, S0, P, n, 1e-4, k)
    (hx, hp), tape_plain = _tape_high_water(g_plain, S0, P, n, 1e-4)
    assert rel_error((gx, gp), (hx, hp)) < 1e-10
    assert tape_plain >= 3 * n
    assert tape_ck <= 3
    src = s2sad.source(g_ck)
    assert src.count("= np.empty(_K, dtype=np.float64)") == 3  # one snapshot slot per state float


@pytest.mark.slow
def test_checkpointed_loop_under_numba():
    args = (S0, P, 200, 0.01, 5)
    jit = s2sad.grad(C.lorenz_ck, (0, 1), jit=True)(*args)
    assert rel_error(jit, s2sad.grad(C.lorenz_ck, (0, 1))(*args)) < 1e-12
