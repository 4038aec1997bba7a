"""s2sad.cuda's kernel transform on Numba's CUDA simulator (tests/conftest.py sets
NUMBA_ENABLE_CUDASIM=1 unless told otherwise): each derivative kernel against central finite
differences of the primal kernel itself, in float64, along random directions; the refusals.

Launches are tiny (the simulator runs each thread as a Python thread)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import cuda

import s2sad
from s2sad.errors import S2SADError

# ---------------------------------------------------------------- kernels


@cuda.jit
def elementwise(a, x, y, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = a[0] * math.sin(x[i]) * math.exp(-x[i] * x[i]) + y[i] * y[i]


@cuda.jit
def stencil(x, out):
    i = cuda.grid(1)
    n = x.shape[0]
    if i >= 1 and i < n - 1:
        out[i] = x[i - 1] * x[i] - 2.0 * math.cos(x[i]) + x[i + 1] * x[i + 1]


@cuda.jit
def grid2d(m, w, out):
    i, j = cuda.grid(2)
    if i < m.shape[0] and j < m.shape[1]:
        out[i, j] = m[i, j] * math.exp(-m[i, j]) * w[j] + m[i, j] * w[j] * w[j]


@cuda.jit
def euler(y0, p, out, nsteps, dt):
    i = cuda.grid(1)
    if i < y0.shape[0]:
        y = y0[i]
        for k in range(nsteps):
            y = y + dt * (p[0] * math.sin(y) - y * y * p[1])
        out[i] = y


@cuda.jit(device=True)
def smooth(u, c):
    return c * u * u + math.tanh(u)


@cuda.jit
def calls_device(a, x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = smooth(x[i], a[0]) * smooth(a[0], x[i])


@cuda.jit(device=True)
def lorenz_rhs(x, y, z, s, r, b):
    return s * (y - x), x * (r - z) - y, x * y - b * z


@cuda.jit
def lorenz(u0, p, out, nsteps, dt):
    i = cuda.grid(1)
    if i < u0.shape[0]:
        x = u0[i, 0]
        y = u0[i, 1]
        z = u0[i, 2]
        for k in range(nsteps):
            dx, dy, dz = lorenz_rhs(x, y, z, p[0], p[1], p[2])
            x = x + dt * dx
            y = y + dt * dy
            z = z + dt * dz
        out[i, 0] = x
        out[i, 1] = y
        out[i, 2] = z


@cuda.jit(device=True)
def integrate(y, c, n):
    for k in range(n):
        y = y + 0.1 * math.sin(y * c)
    return y


@cuda.jit
def calls_integrate(x, c, out, n):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = integrate(x[i], c[0], n) ** 2


@cuda.jit(device=True)
def settle(y):
    while y > 0.1:
        y = y * 0.5 + 0.01 * math.sin(y)
    return y


@cuda.jit
def calls_settle(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = settle(x[i])


@cuda.jit
def inplace(x, c):
    i = cuda.grid(1)
    if i < x.shape[0]:
        x[i] = x[i] * math.exp(c[0] * x[i])


@cuda.jit
def inplace_manual_index(x, c):
    i = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    if i < x.shape[0]:
        x[i] = x[i] * math.exp(c[0] * x[i])


@cuda.jit
def atomics(x, w, idx, total, hist):
    i = cuda.grid(1)
    if i < x.shape[0]:
        cuda.atomic.add(total, 0, x[i] * x[i] * w[i])
        cuda.atomic.add(hist, idx[i], w[i] * math.sin(x[i]))


@cuda.jit
def sums_then_returns(x, total, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        for k in range(3):
            cuda.atomic.add(total, 0, x[i] * x[i] * (k + 1))
            if x[i] > 0.3 * k:
                return
        out[i] = math.sin(x[i])


_GAIN = np.array([1.5, -0.5])
_SHIFT = 0.25


@cuda.jit
def reads_globals(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = _GAIN[0] * math.sin(x[i]) + _GAIN[1] * x[i] * x[i] * _SHIFT


@cuda.jit
def accumulate(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] += x[i] * x[i]


@cuda.jit
def halving(x, c, out):
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    y = x[i]
    k = 0
    while y > 0.05 and k < 40:
        y = y * c[0] - 0.01 * math.sin(y)
        k += 1
    out[i] = y


@cuda.jit
def logistic(y0, p, out, nsteps, dt):
    i = cuda.grid(1)
    if i < y0.shape[0]:
        y = y0[i]
        for k in range(nsteps):
            y = y + dt * y * (p[0] - y)
        out[i] = y


@cuda.jit
def euler_checkpointed(y0, p, out, nsteps, dt):
    i = cuda.grid(1)
    if i < y0.shape[0]:
        y = y0[i]
        v = 0.0
        for k in s2sad.checkpointed(range(nsteps), snapshots=4):
            y = y + dt * (p[0] * math.sin(y) - y * v * p[1])
            v = v + dt * y
        out[i] = y + v


@cuda.jit
def jumps(x, out, n):
    i = cuda.grid(1)
    if i < x.shape[0]:
        s = 0.0
        for k in range(n):
            if k % 3 == 1:
                continue
            s = s + math.sin(s + x[i] * k)
            if s > 2.5:
                break
        out[i] = s


@cuda.jit
def grid_stride(x, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for k in range(start, x.shape[0], stride):
        out[k] = math.exp(-x[k]) * x[k]


@cuda.jit
def branchy(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        if v > 0.0:
            out[i] = math.sqrt(v) * v
        elif v > -0.5:
            out[i] = -v * v
        else:
            out[i] = math.sin(v)


# ---------------------------------------------------------------- the reference


def run(kernel, config, args):
    """The primal kernel on copies of ``args``: the arrays after the launch."""
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    kernel[config](*copies)
    return copies


def fd_directional(kernel, config, args, names, params, dirs, h=1e-6):
    """Central differences, in float64, of every array after the launch along ``dirs`` (one
    direction per name in ``names``)."""
    def shifted(sign):
        out = []
        for p, a in zip(params, args):
            if isinstance(a, np.ndarray):
                a = a.astype(np.float64) if a.dtype.kind == "f" else a
                if p in names:
                    a = a + sign * h * dirs[p]
            out.append(a)
        return run(kernel, config, out)

    plus, minus = shifted(1.0), shifted(-1.0)
    return {p: (u - v) / (2 * h) for p, u, v in zip(params, plus, minus) if isinstance(u, np.ndarray)}


def check_kernel(kernel, config, args, wrt, outputs, seed=0, rtol=1e-5, atol=1e-7):
    """vjp and jvp of ``kernel`` against finite differences of it: the jvp's tangents after the
    launch, and the vjp's adjoints before it paired with the same directions (L = Σ <w, out>)."""
    import inspect
    params = list(inspect.signature(kernel.py_func).parameters)
    named = [p for p in params if p in wrt or p in outputs]
    rng = np.random.default_rng(seed)
    byname = dict(zip(params, args))
    dirs = {p: rng.standard_normal(byname[p].shape) for p in named}
    fd = fd_directional(kernel, config, args, named, params, dirs)
    dt = {p: byname[p].dtype for p in named}

    # forward: the tangents after the launch
    dots = [dirs[p].astype(dt[p]) for p in named]
    prim = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    s2sad.cuda.jvp_kernel(kernel, wrt, outputs)[config](*prim, *dots)
    for p, d in zip(named, dots):
        np.testing.assert_allclose(d, fd[p], rtol=rtol, atol=atol, err_msg=f"tangent of {p}")
    # the primal results are the primal kernel's
    ref = run(kernel, config, args)
    for a, r in zip(prim, ref):
        if isinstance(a, np.ndarray):
            np.testing.assert_allclose(a, r, rtol=1e-12)

    # reverse: L = sum over outputs of <w, array after>; the bars before the launch, paired with
    # the directions, give dL along them
    w = {p: rng.standard_normal(byname[p].shape) for p in outputs}
    bars = [(w[p] if p in outputs else np.zeros(byname[p].shape)).astype(dt[p]) for p in named]
    prim = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    s2sad.cuda.vjp_kernel(kernel, wrt, outputs)[config](*prim, *bars)
    for a, orig in zip(prim, args):  # the primal arrays are left as they were passed
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, orig)
    got = sum(float(np.sum(b.astype(np.float64) * dirs[p])) for p, b in zip(named, bars))
    want = sum(float(np.sum(w[p] * fd[p])) for p in outputs)
    # the inputs that are not outputs keep their values: their part of L is <0, x>
    assert got == pytest.approx(want, rel=max(rtol, 1e-6) * 10, abs=atol * 100)
    return bars


# ---------------------------------------------------------------- derivatives


def test_elementwise_both_modes():
    rng = np.random.default_rng(1)
    n = 40
    args = [np.array([1.3]), rng.standard_normal(n), rng.standard_normal(n), np.zeros(n)]
    check_kernel(elementwise, (2, 32), args, ("a", "x", "y"), ("out",))


def test_elementwise_adjoint_semantics():
    """x_bar accumulates, out_bar is consumed where the kernel overwrote it, and the formula
    by hand."""
    rng = np.random.default_rng(2)
    n = 20
    a, x, y = np.array([0.7]), rng.standard_normal(n), rng.standard_normal(n)
    out = np.zeros(n + 4)  # the kernel writes only the first n elements
    ab, xb, yb = np.array([0.5]), np.ones(n), np.zeros(n)
    ob = rng.standard_normal(n + 4)
    ob0 = ob.copy()
    s2sad.cuda.vjp_kernel(elementwise, ("a", "x", "y"), ("out",))[1, 32](a, x, y, out, ab, xb, yb, ob)
    g = ob0[:n]
    dsin = np.cos(x) * np.exp(-x * x) - 2 * x * np.sin(x) * np.exp(-x * x)
    np.testing.assert_allclose(xb, 1.0 + g * a[0] * dsin, rtol=1e-12)
    np.testing.assert_allclose(yb, 2 * y * g, rtol=1e-12)
    np.testing.assert_allclose(ab, 0.5 + np.sum(g * np.sin(x) * np.exp(-x * x)), rtol=1e-12)
    assert np.all(ob[:n] == 0.0) and np.all(ob[n:] == ob0[n:])


def test_elementwise_float32():
    rng = np.random.default_rng(3)
    n = 32
    args = [np.array([1.3], np.float32), rng.standard_normal(n).astype(np.float32),
            rng.standard_normal(n).astype(np.float32), np.zeros(n, np.float32)]
    check_kernel(elementwise, (1, 32), args, ("a", "x", "y"), ("out",), rtol=2e-3, atol=2e-4)


def test_stencil_adjoint_collides_into_atomics():
    rng = np.random.default_rng(4)
    n = 48
    args = [rng.standard_normal(n), np.zeros(n)]
    check_kernel(stencil, (2, 32), args, ("x",), ("out",))
    src = s2sad.source(s2sad.cuda.vjp_kernel(stencil, ("x",), ("out",)), *args, np.zeros(n), np.zeros(n))
    assert "cuda.atomic.add(x_bar, i - 1" in src and "cuda.atomic.add(x_bar, i + 1" in src
    assert "# atomic: other threads may add into x_bar" in src
    # x_bar[i] is the thread's own, but the neighbours' atomics reach it: atomic too, and why
    assert "cuda.atomic.add(x_bar, i," in src and not re.search(r"x_bar\[[^\]]*\]\s*\+=", src)
    assert re.search(r"# atomic: x_bar\[i\] is this thread's own element, but other threads add\s+"
                     r"atomically into\s+#?\s*x_bar\[i [+-] 1\]", src), src


def test_2d_grid_plain_accumulation_where_own():
    rng = np.random.default_rng(5)
    m = rng.standard_normal((6, 7))
    args = [m, rng.standard_normal(7), np.zeros((6, 7))]
    check_kernel(grid2d, ((2, 2), (4, 4)), args, ("m", "w"), ("out",))
    d = s2sad.cuda.vjp_kernel(grid2d, ("m", "w"), ("out",))
    src = s2sad.source(d, *args, np.zeros((6, 7)), np.zeros(7), np.zeros((6, 7)))
    assert "m_bar[i, j] +=" in src and "cuda.atomic.add(w_bar, j" in src
    assert "belongs to this thread alone (i, j = cuda.grid(2))" in src


def test_2d_kernel_launched_in_3d_is_refused():
    m = np.zeros((2, 2))
    d = s2sad.cuda.vjp_kernel(grid2d, ("m",), ("out",))
    with pytest.raises(ValueError, match="cuda.grid"):
        d[(1, 1, 2), (2, 2)](m, np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)))


def test_euler_loop_records_a_per_thread_tape():
    rng = np.random.default_rng(6)
    n = 24
    args = [rng.uniform(0.1, 1.0, n), np.array([0.8, 0.3]), np.zeros(n), 60, 0.02]
    check_kernel(euler, (1, 32), args, ("y0", "p"), ("out",))
    d = s2sad.cuda.vjp_kernel(euler, ("y0", "p"), ("out",))
    d[1, 32](*args, np.zeros(n), np.zeros(2), np.ones(n))
    src = s2sad.source(d)
    assert "_ftape[_ft, _thread] = y" in src
    assert "rows = max(nsteps, 0)" in src
    # p_bar, shared by all threads, is summed in registers over the steps, added atomically once
    assert src.count("cuda.atomic.add(p_bar") == 2 and "_acc_p_bar_0 += " in src
    (tape,) = d._tapes.values()
    assert tape.shape == (60, 32)  # [slot, thread]: a slot per step, a column per thread


def test_device_function_gets_a_derivative_device_function():
    rng = np.random.default_rng(7)
    n = 20
    args = [np.array([0.6]), rng.standard_normal(n), np.zeros(n)]
    check_kernel(calls_device, (1, 32), args, ("a", "x"), ("out",))
    src = s2sad.source(s2sad.cuda.vjp_kernel(calls_device, ("a", "x"), ("out",)), *args, np.zeros(1),
                       np.zeros(n), np.zeros(n))
    assert src.count("@cuda.jit(device=True)") >= 1
    assert "def smooth_vjp" in src


def test_lorenz_ensemble_with_a_device_function_returning_a_tuple():
    rng = np.random.default_rng(16)
    n = 12
    args = [rng.standard_normal((n, 3)), np.array([10.0, 28.0, 8.0 / 3.0]), np.zeros((n, 3)), 40, 0.004]
    check_kernel(lorenz, (1, 16), args, ("u0", "p"), ("out",), rtol=1e-5, atol=1e-6)
    d = s2sad.cuda.vjp_kernel(lorenz, ("u0", "p"), ("out",))
    d[1, 16](*args, np.zeros((n, 3)), np.zeros(3), np.ones((n, 3)))
    assert d._tapes[("_ftape", "float64")].shape == (120, 16)  # x, y, z a step, a column a thread


def test_device_function_with_a_loop_records_on_the_kernels_tape():
    x = np.linspace(0.2, 1.2, 10)
    args = [x, np.array([0.7]), np.zeros(10), 6]
    check_kernel(calls_integrate, (1, 16), args, ("x", "c"), ("out",))
    d = s2sad.cuda.vjp_kernel(calls_integrate, ("x", "c"), ("out",))
    d[1, 16](*args, np.zeros(10), np.zeros(1), np.ones(10))
    assert d._tapes[("_ftape", "float64")].shape == (6, 16)  # the device adjoint's n values
    src = s2sad.source(d)
    assert "def integrate_vjp(y, c, n, out_bar, _ftape, _ft):" in src and "_ftape[_ft, _thread] = y" in src


def test_device_function_recording_an_unknown_number_of_values_is_refused():
    x = np.linspace(0.2, 1.2, 4)
    d = s2sad.cuda.vjp_kernel(calls_settle, ("x",), ("out",))
    with pytest.raises(S2SADError, match="settle") as e:
        d[1, 4](x, np.zeros(4), np.zeros(4), np.ones(4))
    assert "test_cuda_transform.py" in str(e.value)


def test_inplace_update_leaves_the_adjoint_of_the_old_values():
    rng = np.random.default_rng(8)
    n = 30
    x = rng.standard_normal(n) * 0.5
    c = np.array([0.4])
    check_kernel(inplace, (1, 32), [x, c], ("x", "c"), ("x",))
    xb = np.ones(n)
    cb = np.zeros(1)
    x2 = x.copy()
    s2sad.cuda.vjp_kernel(inplace, ("x", "c"), ("x",))[1, 32](x2, c, xb, cb)
    np.testing.assert_allclose(xb, np.exp(c[0] * x) * (1 + c[0] * x), rtol=1e-12)
    np.testing.assert_array_equal(x2, x)  # left as it was passed


def test_thread_index_written_out_by_hand_is_the_threads_own():
    rng = np.random.default_rng(17)
    n = 30
    check_kernel(inplace_manual_index, (2, 16), [rng.standard_normal(n) * 0.5, np.array([0.4])], ("x", "c"), ("x",))
    src = s2sad.source(s2sad.cuda.vjp_kernel(inplace_manual_index, ("x", "c"), ("x",)),
                       np.zeros(n), np.zeros(1), np.zeros(n), np.zeros(1))
    assert "x_bar[i] +=" in src


def test_primal_atomic_add_adjoint_is_a_gather():
    rng = np.random.default_rng(9)
    n = 40
    idx = rng.integers(0, 5, n)
    args = [rng.standard_normal(n), rng.standard_normal(n), idx, np.zeros(1), np.zeros(5)]
    check_kernel(atomics, (2, 32), args, ("x", "w"), ("total", "hist"))
    more = [np.zeros(n), np.zeros(n), np.zeros(1), np.zeros(5)]
    fwd = s2sad.source(s2sad.cuda.jvp_kernel(atomics, ("x", "w"), ("total", "hist")), *args, *more)
    assert "cuda.atomic.add(total_dot, 0," in fwd and re.search(r"cuda\.atomic\.add\(hist_dot, \w+,", fwd)
    rev = s2sad.source(s2sad.cuda.vjp_kernel(atomics, ("x", "w"), ("total", "hist")), *args, *more)
    assert "total_bar[0]" in rev and "hist_bar[idx[i]]" in rev  # the gather
    # total and hist are accumulated into: their adjoints pass through unchanged
    tb, hb = np.array([0.3]), np.arange(5.0)
    s2sad.cuda.vjp_kernel(atomics, ("x", "w"), ("total", "hist"))[2, 32](*args, np.zeros(n), np.zeros(n), tb, hb)
    assert tb[0] == 0.3 and np.array_equal(hb, np.arange(5.0))


def test_sums_kept_in_a_register_are_added_before_an_early_return():
    """total[0] += ... in a loop is summed in a register and added atomically once per thread:
    a thread that returns early adds its sum before it leaves (else the primal sum and its
    tangent lose it)."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal(40)
    x[np.abs(x) < 0.05] += 0.1
    x[np.abs(x - 0.3) < 0.05] += 0.1
    x[np.abs(x - 0.6) < 0.05] += 0.1
    check_kernel(sums_then_returns, (2, 32), [x, np.zeros(1), np.zeros(40)], ("x",), ("total", "out"))
    src = s2sad.source(s2sad.cuda.jvp_kernel(sums_then_returns, ("x",), ("total", "out")), x, np.zeros(1),
                       np.zeros(40))
    assert re.search(r"before it returns: all threads add into total_dot\[0\]\n\s+cuda\.atomic\.add\("
                     r"total_dot, 0, _acc_total_dot_0\)\n\s+(# .*\n\s+)?(cuda\.atomic.*\n\s+)?return", src), src


def test_a_changed_module_level_value_is_refused_at_the_line_reading_it(monkeypatch):
    """numba-cuda compiles module-level values into a kernel as constants (a kernel compiled
    before a change keeps the old value): once one changes, the derivative kernel refuses to
    launch, pointing at the read, until it is made again."""
    import sys
    module = sys.modules[__name__]
    rng = np.random.default_rng(22)
    x = rng.standard_normal(20)
    args = [x, np.zeros(20)]
    check_kernel(reads_globals, (1, 32), args, ("x",), ("out",))
    for d in (s2sad.cuda.vjp_kernel(reads_globals, ("x",), ("out",)),
              s2sad.cuda.jvp_kernel(reads_globals, ("x",), ("out",))):
        d[1, 32](*args, np.zeros(20), np.ones(20))
        monkeypatch.setattr(module, "_SHIFT", 0.75)  # a rebound name
        with pytest.raises(S2SADError, match="`_SHIFT`, a module-level value the kernel reads_globals reads, "
                                             "has changed") as e:
            d[1, 32](*args, np.zeros(20), np.ones(20))
        assert e.value.lineno == reads_globals.py_func.__code__.co_firstlineno + 4
        assert "hint: pass `_SHIFT` to the kernel as an argument" in str(e.value)
        monkeypatch.setattr(module, "_SHIFT", 0.25)
        d[1, 32](*args, np.zeros(20), np.ones(20))  # the value it was made with: launches again
        _GAIN[1] = 0.5  # an array changed in place
        try:
            with pytest.raises(S2SADError, match="`_GAIN`"):
                d[1, 32](*args, np.zeros(20), np.ones(20))
        finally:
            _GAIN[1] = -0.5
    # made again after the change: the derivative of the kernel with the new value
    monkeypatch.setattr(module, "_SHIFT", 0.75)
    check_kernel(reads_globals, (1, 32), args, ("x",), ("out",))


def test_accumulate_passes_the_adjoint_through():
    rng = np.random.default_rng(10)
    n = 16
    x = rng.standard_normal(n)
    ob = rng.standard_normal(n)
    xb = np.zeros(n)
    ob2 = ob.copy()
    s2sad.cuda.vjp_kernel(accumulate, ("x",), ("out",))[1, 16](x, np.zeros(n), xb, ob2)
    np.testing.assert_array_equal(ob2, ob)
    np.testing.assert_allclose(xb, 2 * x * ob, rtol=1e-12)
    check_kernel(accumulate, (1, 16), [x, rng.standard_normal(n)], ("x",), ("out",))


def test_while_loop_with_data_dependent_trip_count():
    rng = np.random.default_rng(11)
    n = 20
    args = [rng.uniform(0.2, 3.0, n), np.array([0.7]), np.zeros(n)]
    check_kernel(halving, (1, 32), args, ("x", "c"), ("out",), rtol=1e-4)
    src = s2sad.source(s2sad.cuda.vjp_kernel(halving, ("x", "c"), ("out",)), *args, np.zeros(n),
                       np.zeros(1), np.zeros(n))
    assert "def halving_vjp_count" in src  # the slots are counted by a launch first


def test_checkpointed_loop_keeps_snapshots_in_local_memory():
    rng = np.random.default_rng(13)
    n = 16
    args = [rng.uniform(0.1, 1.0, n), np.array([0.7, 0.4]), np.zeros(n), 25, 0.05]
    check_kernel(euler_checkpointed, (1, 16), args, ("y0", "p"), ("out",))
    d = s2sad.cuda.vjp_kernel(euler_checkpointed, ("y0", "p"), ("out",))
    src = s2sad.source(d, *args, np.zeros(n), np.zeros(2), np.zeros(n))
    assert "cuda.local.array(4, np.float64)" in src and "@cuda.jit(device=True)\ndef _revolve_split" in src
    d[1, 16](*args, np.zeros(n), np.zeros(2), np.ones(n))
    (tape,) = d._tapes.values()
    assert tape.shape == (2, 16)  # one iteration's values at a time, not 25 iterations'


def test_break_and_continue_in_a_per_thread_loop():
    x = np.linspace(-1.0, 1.3, 20)
    check_kernel(jumps, (1, 32), [x, np.zeros(20), 9], ("x",), ("out",))


def test_float32_per_thread_loop():
    rng = np.random.default_rng(14)
    n = 16
    args = [rng.uniform(0.1, 1.0, n).astype(np.float32), np.array([0.8, 0.3], np.float32),
            np.zeros(n, np.float32), 20, 0.02]
    check_kernel(euler, (1, 16), args, ("y0", "p"), ("out",), rtol=2e-3, atol=2e-4)
    # math functions are typed float64 (as Python computes them): euler's state is float64;
    # in logistic every value is float32, and so is its tape
    args = [rng.uniform(0.1, 1.0, n).astype(np.float32), np.array([1.5], np.float32),
            np.zeros(n, np.float32), 30, np.float32(0.05)]
    check_kernel(logistic, (1, 16), args, ("y0", "p"), ("out",), rtol=2e-3, atol=2e-4)
    d = s2sad.cuda.vjp_kernel(logistic, ("y0", "p"), ("out",))
    d[1, 16](*args, np.zeros(n, np.float32), np.zeros(1, np.float32), np.ones(n, np.float32))
    assert list(d._tapes) == [("_ftape", "float32")]  # float32 values on a float32 tape
    assert "np.float32(" not in s2sad.source(d)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=24), st.floats(-1.5, 1.5))
def test_elementwise_adjoint_matches_the_formula_for_any_input(xs, a0):
    x = np.array(xs)
    n = len(xs)
    y = np.cos(x)
    ob = np.sin(3 * x) + 0.5
    xb, yb, ab = np.zeros(n), np.zeros(n), np.zeros(1)
    s2sad.cuda.vjp_kernel(elementwise, ("a", "x", "y"), ("out",))[1, 32](
        np.array([a0]), x, y, np.zeros(n), ab, xb, yb, ob.copy())
    e = np.exp(-x * x)
    np.testing.assert_allclose(xb, ob * a0 * (np.cos(x) * e - 2 * x * np.sin(x) * e), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(yb, 2 * y * ob, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ab, [np.sum(ob * np.sin(x) * e)], rtol=1e-10, atol=1e-13)


def test_grid_stride_loop_elements_belong_to_one_thread():
    rng = np.random.default_rng(15)
    n = 50  # more elements than threads: each thread strides over several
    args = [rng.standard_normal(n), np.zeros(n)]
    check_kernel(grid_stride, (2, 8), args, ("x",), ("out",))
    src = s2sad.source(s2sad.cuda.vjp_kernel(grid_stride, ("x",), ("out",)), *args, np.zeros(n), np.zeros(n))
    assert "x_bar[k] +=" in src and "cuda.atomic" not in src
    assert "_range_len(start, " in src  # the trip count without a range object


def test_branches():
    x = np.linspace(-1.5, 1.5, 30) + 0.013
    check_kernel(branchy, (1, 32), [x, np.zeros(30)], ("x",), ("out",))


def test_tapes_are_reused_across_launches():
    n = 8
    d = s2sad.cuda.vjp_kernel(euler, ("y0", "p"), ("out",))
    args = [np.full(n, 0.5), np.array([0.8, 0.3]), np.zeros(n), 5, 0.1]
    d[1, 8](*args, np.zeros(n), np.zeros(2), np.ones(n))
    t1 = d._tapes[("_ftape", "float64")]
    d[1, 8](*args, np.zeros(n), np.zeros(2), np.ones(n))
    assert d._tapes[("_ftape", "float64")] is t1


def test_each_stream_has_tapes_of_its_own():
    """Launches on different streams may overlap: they never share a tape. Launches on one
    stream run in order: they reuse its tape. The adjoints are those of a plain launch."""
    n = 8
    d = s2sad.cuda.vjp_kernel(euler, ("y0", "p"), ("out",))
    args = [np.linspace(0.2, 0.9, n), np.array([0.8, 0.3]), np.zeros(n), 5, 0.1]
    plain = [np.zeros(n), np.zeros(2), np.ones(n)]
    d[1, 8](*args, *plain)
    s1, s2 = cuda.stream(), cuda.stream()
    got = []
    for stream in (s1, s2, s1):
        bars = [np.zeros(n), np.zeros(2), np.ones(n)]
        d[1, 8, stream](*args, *bars)
        stream.synchronize()
        got.append(bars)
    tape = ("_ftape", "float64")
    t1, t2, t0 = d._stream_tapes[s1][tape], d._stream_tapes[s2][tape], d._tapes[tape]
    assert t1 is not t2 and t0 is not t1 and t0 is not t2
    d[1, 8, s1](*args, np.zeros(n), np.zeros(2), np.ones(n))
    assert d._stream_tapes[s1][tape] is t1
    for bars in got:
        for b, p in zip(bars, plain):
            np.testing.assert_allclose(b, p, rtol=1e-12)


def _elementwise_example(dtype=np.float64):
    n = 8
    return [np.array([0.9], dtype), np.linspace(-1, 1, n).astype(dtype), np.ones(n, dtype), np.zeros(n, dtype)]


def test_source_before_any_launch_from_the_kernels_arguments():
    """``s2sad.source(d, *kernel_args)``: the kernel's own arguments are enough (the shadows
    have their types), and give the module a launch with the shadows builds."""
    args = _elementwise_example()
    d = s2sad.cuda.vjp_kernel(elementwise, ("a", "x", "y"), ("out",))
    src = s2sad.source(d, *args)
    assert "def elementwise_vjp(a, x, y, out, a_bar, x_bar, y_bar, out_bar)" in src
    assert "elementwise(a: float64[:], x: float64[:], y: float64[:], out: float64[:])" in src
    full = s2sad.source(d, *args, *(np.zeros_like(a) for a in args))
    assert full == src
    f32 = s2sad.source(s2sad.cuda.jvp_kernel(elementwise, ("x",), ("out",)), *_elementwise_example(np.float32))
    assert "def elementwise_jvp(a, x, y, out, x_dot, out_dot)" in f32 and "x: float32[:]" in f32


def test_source_before_any_launch_without_arguments_says_what_to_pass():
    d = s2sad.cuda.vjp_kernel(elementwise, ("a", "x", "y"), ("out",))
    with pytest.raises(ValueError, match="elementwise has not been compiled for any signature") as e:
        s2sad.source(d)
    assert "s2sad.source(d, a, x, y, out)" in str(e.value)


class _CompiledKernel:
    """What a real numba-cuda dispatcher shows once it has compiled signatures (the simulator
    compiles nothing): ``overloads`` keyed by the numba types of the arguments."""

    def __init__(self, kernel, *signatures):
        import numba
        self.py_func = kernel.py_func
        self.overloads = {tuple(numba.typeof(a) for a in sig): None for sig in signatures}


def test_source_before_any_launch_from_the_signature_the_kernel_was_compiled_for():
    args32 = _elementwise_example(np.float32)
    d = s2sad.cuda.vjp_kernel(elementwise, ("a", "x", "y"), ("out",))
    d.kernel = _CompiledKernel(elementwise, args32)
    src = s2sad.source(d)
    assert src == s2sad.source(s2sad.cuda.vjp_kernel(elementwise, ("a", "x", "y"), ("out",)), *args32)
    assert "elementwise(a: float32[:], x: float32[:], y: float32[:], out: float32[:])" in src
    # two signatures: which one is meant is the user's to say
    d2 = s2sad.cuda.vjp_kernel(elementwise, ("a", "x", "y"), ("out",))
    d2.kernel = _CompiledKernel(elementwise, args32, _elementwise_example())
    with pytest.raises(ValueError, match="compiled for 2 signatures") as e:
        s2sad.source(d2)
    assert "float32[:]" in str(e.value) and "float64[:]" in str(e.value)
    assert "s2sad.source(d, a, x, y, out)" in str(e.value)


def test_launch_on_a_stream_with_device_arrays():
    rng = np.random.default_rng(18)
    n = 16
    x, y = rng.standard_normal(n), rng.standard_normal(n)
    stream = cuda.stream()
    dev = [cuda.to_device(v) for v in (np.array([0.9]), x, y, np.zeros(n), np.zeros(1), np.zeros(n),
                                       np.zeros(n), np.ones(n))]
    s2sad.cuda.vjp_kernel(elementwise, ("a", "x", "y"), ("out",))[1, 16, stream](*dev)
    stream.synchronize()
    np.testing.assert_allclose(dev[6].copy_to_host(), 2 * y, rtol=1e-12)


def test_importing_s2sad_does_not_import_numba_cuda():
    import subprocess
    import sys
    code = "import sys, s2sad; assert 'numba.cuda' not in sys.modules; s2sad.cuda; assert 'numba.cuda' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- refusals


def _refused(kernel, wrt, outputs, match, line_text):
    with pytest.raises(S2SADError, match=match) as e:
        s2sad.cuda.vjp_kernel(kernel, wrt, outputs)
    msg = str(e.value)
    assert "test_cuda_transform.py" in msg and line_text in msg, msg
    return msg


@cuda.jit
def uses_shared(x, out):
    buf = cuda.shared.array(32, dtype=np.float64)
    i = cuda.grid(1)
    out[i] = x[i] + buf[0]


@cuda.jit
def uses_sync(x, out):
    i = cuda.grid(1)
    cuda.syncthreads()
    out[i] = x[i]


@cuda.jit
def uses_local(x, out):
    i = cuda.grid(1)
    buf = cuda.local.array(4, dtype=np.float64)
    out[i] = x[i] + buf[0]


@cuda.jit
def racy(x, out):
    i = cuda.grid(1)
    if i < x.shape[0] - 1:
        out[i] = x[i]
        out[i] = out[i + 1] * 2.0


@cuda.jit
def scalar_wrt(s, x, out):
    i = cuda.grid(1)
    out[i] = s * x[i]


@cuda.jit(device=True)
def recursive(u, k):
    if k <= 0:
        return u
    return recursive(u * u, k - 1)


@cuda.jit
def calls_recursive(x, out):
    i = cuda.grid(1)
    out[i] = recursive(x[i], 3)


@cuda.jit
def uses_try(x, out):
    i = cuda.grid(1)
    try:
        out[i] = x[i]
    except Exception:
        pass


@cuda.jit
def scratch(x, tmp, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        tmp[i] = x[i] * 2.0
        out[i] = tmp[i] * tmp[i]


@cuda.jit
def snapshots_not_constant(x, out, k):
    i = cuda.grid(1)
    s = x[i]
    for t in s2sad.checkpointed(range(5), snapshots=k):
        s = math.sin(s)
    out[i] = s


def test_refuses_snapshots_not_known_when_the_kernel_compiles():
    _refused(snapshots_not_constant, ("x",), ("out",), "snapshots", "s2sad.checkpointed(range(5)")


def test_refuses_shared_memory():
    _refused(uses_shared, ("x",), ("out",), "shared.array", "cuda.shared.array(32")


def test_refuses_syncthreads():
    _refused(uses_sync, ("x",), ("out",), "syncthreads", "cuda.syncthreads()")


def test_refuses_local_arrays():
    _refused(uses_local, ("x",), ("out",), "local.array", "cuda.local.array(4")


def test_refuses_a_primal_race():
    msg = _refused(racy, ("x",), ("out",), "race", "out[i + 1]")
    assert "hint" in msg.lower() or "separate output array" in msg


def test_refuses_a_by_value_scalar_in_wrt():
    msg = _refused(scalar_wrt, ("s", "x"), ("out",), "by value", "def scalar_wrt(s, x, out)")
    assert "1-element array" in msg


def test_refuses_recursion():
    _refused(calls_recursive, ("x",), ("out",), "recursi", "recursive(u * u")


def test_refuses_what_the_cpu_frontend_refuses():
    _refused(uses_try, ("x",), ("out",), "try", "try:")


def test_refuses_an_output_never_written():
    _refused(elementwise, ("x",), ("x",), "never writes", "def elementwise(")


def test_refuses_a_differentiated_scratch_array_not_in_outputs():
    n = 4
    d = s2sad.cuda.vjp_kernel(scratch, ("x",), ("out",))
    with pytest.raises(S2SADError, match="tmp") as e:
        d[1, 4](np.ones(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n))
    assert "test_cuda_transform.py" in str(e.value)


# ---------------------------------------------------------------- the command line


KERNEL_FILE = '''import math
from numba import cuda


@cuda.jit
def euler(y0, p, out, nsteps, dt):
    i = cuda.grid(1)
    if i < y0.shape[0]:
        y = y0[i]
        for k in range(nsteps):
            y = y + dt * (p[0] * math.sin(y) - y * y * p[1])
        out[i] = y


@cuda.jit
def bump(x, w, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = w[0] * abs(x[i]) * math.exp(-x[i] * x[i])
'''


def _imports(text):
    import ast
    tree = ast.parse(text)
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    return names


def _load(path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_emits_a_standalone_tangent_kernel_with_its_helpers(tmp_path, monkeypatch):
    """``s2sad emit kernels.py:bump --cuda --mode forward``: a module importing numba.cuda, math
    and numpy only, its device helpers (``_sign`` for abs) written in, whose kernel's tangents
    match central finite differences of the primal kernel and the hand-derived formula."""
    from s2sad.cli import main
    (tmp_path / "kernels.py").write_text(KERNEL_FILE)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bump_jvp_mod.py"
    assert main(["emit", "kernels.py:bump", "--cuda", "--mode", "forward", "--wrt", "x,w", "--outputs", "out",
                 "--types", "x=float64[:],w=float64[:],out=float64[:]", "-o", str(out)]) == 0
    text = out.read_text()
    assert _imports(text) <= {"math", "numpy", "numba.cuda"}, _imports(text)
    assert "def _sign(x):" in text
    mod = _load(out)
    rng = np.random.default_rng(13)
    n = 24
    x, w = rng.standard_normal(n), np.array([1.7])
    x[np.abs(x) < 0.05] += 0.1
    xd, wd = rng.standard_normal(n), np.array([0.3])
    od = np.zeros(n)
    mod.bump_jvp[1, 32](x, w, np.zeros(n), xd, wd, od)
    g = np.exp(-x * x)
    want = wd[0] * np.abs(x) * g + w[0] * xd * (np.sign(x) * g - 2 * x * np.abs(x) * g)
    np.testing.assert_allclose(od, want, rtol=1e-12)
    primal = _load(tmp_path / "kernels.py").bump  # the user's kernel, by finite differences
    fd = fd_directional(primal, (1, 32), [x, w, np.zeros(n)], ("x", "w"), ["x", "w", "out"],
                        {"x": xd, "w": wd})
    np.testing.assert_allclose(od, fd["out"], rtol=1e-6, atol=1e-8)


def test_cli_emits_a_standalone_kernel_module(tmp_path, monkeypatch):
    import ast
    import importlib.util

    from s2sad.cli import main
    (tmp_path / "kernels.py").write_text(KERNEL_FILE)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "euler_vjp_mod.py"
    assert main(["emit", "kernels.py:euler", "--cuda", "--wrt", "y0,p", "--outputs", "out", "-o", str(out)]) == 0
    text = out.read_text()
    imported = {a.name for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(ast.parse(text)) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"math", "numpy", "numba"}
    assert "rows = max(nsteps, 0)" in text
    spec = importlib.util.spec_from_file_location("euler_vjp_mod", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    n, steps = 8, 7
    rng = np.random.default_rng(12)
    y0, p = rng.uniform(0.2, 0.9, n), np.array([0.8, 0.3])
    yb, pb, ob = np.zeros(n), np.zeros(2), rng.standard_normal(n)
    tape = np.zeros((steps, n))  # [slot, thread], passed by the caller of a standalone module
    mod.euler_vjp[1, n](y0, p, np.zeros(n), steps, 0.05, yb, pb, ob.copy(), tape)
    # the same as through s2sad.cuda
    yb2, pb2 = np.zeros(n), np.zeros(2)
    s2sad.cuda.vjp_kernel(euler, ("y0", "p"), ("out",))[1, n](y0, p, np.zeros(n), steps, 0.05, yb2, pb2, ob.copy())
    np.testing.assert_allclose(yb, yb2, rtol=1e-14)
    np.testing.assert_allclose(pb, pb2, rtol=1e-14)
    # and the adjoint of the user's kernel: <ob, J v> by central finite differences
    v = {"y0": rng.standard_normal(n), "p": rng.standard_normal(2)}
    fd = fd_directional(euler, (1, n), [y0, p, np.zeros(n), steps, 0.05], ("y0", "p"),
                        ["y0", "p", "out", "nsteps", "dt"], v)
    assert float(yb @ v["y0"] + pb @ v["p"]) == pytest.approx(float(ob @ fd["out"]), rel=1e-7)
    assert _imports(text) <= {"math", "numpy", "numba.cuda"}, _imports(text)


def test_cli_refuses_a_scalar_in_wrt(tmp_path, monkeypatch, capsys):
    from s2sad.cli import main
    (tmp_path / "kernels.py").write_text(KERNEL_FILE)
    monkeypatch.chdir(tmp_path)
    assert main(["emit", "kernels.py:euler", "--cuda", "--wrt", "y0,dt", "--outputs", "out"]) == 2
    err = capsys.readouterr().err
    assert "kernels.py:6:" in err and "1-element array" in err


@given(st.one_of(st.floats(allow_nan=True), st.integers(-3, 3)))
def test_sign_device_helper_is_np_sign(x):
    from s2sad.cuda.kernelir import SIGN, SIGN_SOURCE
    ns = {"cuda": cuda}
    exec(SIGN_SOURCE, ns)  # noqa: S102 - s2sad's own helper text
    np.testing.assert_array_equal(ns[SIGN](x), np.sign(float(x)))


@given(st.integers(-40, 40), st.integers(-40, 40), st.integers(-7, 7).filter(bool))
def test_range_len_device_helper_is_len_of_range(start, stop, step):
    from s2sad.cuda.kernelir import RANGE_LEN, RANGE_LEN_SOURCE
    ns = {"cuda": cuda}
    exec(RANGE_LEN_SOURCE, ns)  # noqa: S102 - s2sad's own helper text
    assert ns[RANGE_LEN](start, stop, step) == len(range(start, stop, step))


# ---------------------------------------------------------------- the README's GPU section


def _gpu_section():
    """The README's GPU section."""
    import pathlib
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "## GPU kernels" in readme
    return readme.split("## GPU kernels", 1)[1].split("\n## ", 1)[0]


def test_gpu_section_runs_and_prints_as_shown(tmp_path, monkeypatch, capsys):
    """The section's kernels.py and its usage run as printed (on the simulator), what its
    comments claim holds (by the hand-derived formulas), and the adjoint kernel it shows is the
    one s2sad.source prints."""
    blocks = re.findall(r"```python\n(.*?)```", _gpu_section(), re.DOTALL)
    kernels, usage, shown = blocks[0], blocks[1], blocks[2]
    (tmp_path / "kernels.py").write_text(kernels)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "kernels", raising=False)
    ns = {}
    exec(compile(usage, str(tmp_path / "usage.py"), "exec"), ns)  # noqa: S102 - the README's own example
    printed = capsys.readouterr().out
    assert shown.strip() in printed, printed
    x, y = ns["x"], ns["y"]
    assert ns["a_bar"][0] == pytest.approx(np.sum(np.sin(x)), rel=1e-12)
    np.testing.assert_allclose(ns["x_bar"], 1.5 * np.cos(x), rtol=1e-12)
    np.testing.assert_allclose(ns["y_bar"], 2 * y, rtol=1e-12)
    assert np.all(ns["out_bar"] == 0.0)
    np.testing.assert_allclose(ns["out_dot"], np.sin(x), rtol=1e-12)
    np.testing.assert_allclose(ns["out"], 1.5 * np.sin(x) + y * y, rtol=1e-12)
