"""An adversarial review of the CUDA transform (issue 11): `@cuda.jit` kernels of the kinds
scientists write, which the transform's authors never saw, checked by the same harness as
tests/cuda_cases.py (tests/test_cuda_review.py runs them: finite differences of the primal kernel
along random and unit directions, the jvp/vjp dot-product test, the race detector).

A long file, one kernel a probe: ``REVIEW_CASES`` must be differentiated right; ``REVIEW_REFUSALS``
must be refused at the ``# ERR`` line. Each kernel's docstring says what it probes. Grids: <= 64 threads.

A plain write or ``+=`` into one element every thread names alike (``total[0] += v``) is refused
where the guards provably let several threads through; a guarded single writer (``if i == 0``)
is accepted. Not refused, because no analysis before the launch can prove it (documented, not
tested): a primal race through data, ``out[idx[i]] = v`` with repeated indices (the adjoint then
credits every writer, the primal keeps one), or through a data-dependent guard. The permutation
case ``scatter_permutation`` is the race-free use of the same pattern.
"""

import math

import numba
import numpy as np

import s2sad
import cuda_cases as C  # aliases np.row_stack before numba.cuda is imported
from numba import cuda

Case, Refusal = C.Case, C.Refusal
_normal, _uniform = C._normal, C._uniform
_1D = (2, C.THREADS)
f8 = np.float64


def _away(x, edges, gap=0.05):
    """``x`` moved away from each edge by at least ``gap`` (finite differences cross no kink)."""
    for e in edges:
        near = np.abs(x - e) < gap
        x[near] += 2 * gap
    return x


# ---------------------------------------------------------------- pairwise interactions


@cuda.jit
def nbody_forces(pos, mass, eps, force):
    """Softened gravity: each thread loops over all particles reading the others' positions
    (pos's adjoint collides across threads; mass[j] too)."""
    i = cuda.grid(1)
    if i < pos.shape[0]:
        xi = pos[i, 0]
        yi = pos[i, 1]
        zi = pos[i, 2]
        fx = 0.0
        fy = 0.0
        fz = 0.0
        for j in range(pos.shape[0]):
            if j != i:
                dx = pos[j, 0] - xi
                dy = pos[j, 1] - yi
                dz = pos[j, 2] - zi
                r2 = dx * dx + dy * dy + dz * dz + eps[0] * eps[0]
                inv = mass[j] / (r2 * math.sqrt(r2))
                fx += dx * inv
                fy += dy * inv
                fz += dz * inv
        force[i, 0] = mass[i] * fx
        force[i, 1] = mass[i] * fy
        force[i, 2] = mass[i] * fz


def _nbody_args(rng):
    n = 24
    return {"pos": _normal(rng, (n, 3), f8), "mass": _uniform(rng, n, f8, 0.5, 1.5),
            "eps": np.array([0.3]), "force": np.zeros((n, 3))}


@cuda.jit
def sph_density(pos, h, rho):
    """SPH density with a compactly supported cubic kernel: a branch on the distance inside the
    per-thread loop over all particles."""
    i = cuda.grid(1)
    n = pos.shape[0]
    if i < n:
        hh = h[0]
        s = 0.0
        for j in range(n):
            dx = pos[j, 0] - pos[i, 0]
            dy = pos[j, 1] - pos[i, 1]
            q = math.sqrt(dx * dx + dy * dy + 1e-12) / hh
            if q < 1.0:
                s += 1.0 - 1.5 * q * q + 0.75 * q * q * q
            elif q < 2.0:
                t = 2.0 - q
                s += 0.25 * t * t * t
        rho[i] = s / (hh * hh)


def _sph_args(rng):
    n = 30
    # a grid with jitter keeps every pairwise q away from 1 and 2
    while True:
        pos = rng.uniform(0.0, 3.0, (n, 2))
        d = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1) + 1e-12) / 0.9
        if np.min(np.abs(d - 1.0)) > 0.01 and np.min(np.abs(d - 2.0)) > 0.01:
            return {"pos": pos, "h": np.array([0.9]), "rho": np.zeros(n)}


# ---------------------------------------------------------------- atomics


@cuda.jit
def histogram_weighted(x, w, hist):
    """A weighted histogram by atomics: the bin from floor, clamped with min/max."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        b = int(math.floor(x[i] * 4.0))
        b = max(0, min(b, hist.shape[0] - 1))
        cuda.atomic.add(hist, b, w[i] * x[i] * x[i])


def _hist_args(rng):
    n = 60
    x = _uniform(rng, n, f8, -0.3, 2.3)
    x = _away(x, [k / 4.0 for k in range(-2, 12)], gap=0.01)
    return {"x": x, "w": _normal(rng, n, f8), "hist": _normal(rng, 8, f8)}


@cuda.jit
def segment_sums(seg, x, out):
    """Segment sums: out[seg[i]] += f(x[i]) by atomics, segments given by an integer array."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        cuda.atomic.add(out, seg[i], math.exp(-x[i]) * x[i])


def _seg_args(rng):
    n = 50
    return {"seg": np.sort(rng.integers(0, 7, n)).astype(np.int64), "x": _normal(rng, n, f8),
            "out": _normal(rng, 7, f8)}


@cuda.jit
def total_energy(x, k, total):
    """Every thread adds into a by-reference 1-element array."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        e = 0.5 * k[0] * x[i] * x[i] + math.cos(x[i])
        cuda.atomic.add(total, 0, e)


def _energy_args(rng):
    n = 55
    return {"x": _normal(rng, n, f8), "k": np.array([1.7]), "total": np.array([0.25])}


# ---------------------------------------------------------------- linear algebra


@cuda.jit
def matvec_rows(A, x, y):
    """Row-per-thread mat-vec with a nonlinearity: y[r] = tanh(sum_c A[r, c] x[c])."""
    r = cuda.grid(1)
    if r < A.shape[0]:
        s = 0.0
        for c in range(A.shape[1]):
            s += A[r, c] * x[c]
        y[r] = math.tanh(s)


def _matvec_args(rng):
    return {"A": _normal(rng, (40, 17), f8, 0.3), "x": _normal(rng, 17, f8), "y": np.zeros(40)}


@cuda.jit
def matmul2d(A, B, Cm):
    """C = A B with one thread an element of C (2-D grid), no shared memory."""
    i, j = cuda.grid(2)
    if i < Cm.shape[0] and j < Cm.shape[1]:
        s = 0.0
        for k in range(A.shape[1]):
            s += A[i, k] * B[k, j]
        Cm[i, j] = s


def _matmul_args(rng):
    return {"A": _normal(rng, (7, 5), f8), "B": _normal(rng, (5, 8), f8), "Cm": np.zeros((7, 8))}


@cuda.jit
def lower_triangular_solve(L, b, x):
    """Forward substitution per thread on its own system (nested triangular loops): x[t, :] from
    L[t] and b[t]; the inner loop's bound is the outer index."""
    t = cuda.grid(1)
    if t < b.shape[0]:
        n = b.shape[1]
        for r in range(n):
            s = b[t, r]
            for c in range(r):
                s -= L[t, r, c] * x[t, c]
            x[t, r] = s / L[t, r, r]


def _trisolve_args(rng):
    m, n = 20, 5
    L = _normal(rng, (m, n, n), f8, 0.3)
    for r in range(n):
        L[:, r, r] = rng.uniform(1.0, 2.0, m)
    return {"L": L, "b": _normal(rng, (m, n), f8), "x": np.zeros((m, n))}


# ---------------------------------------------------------------- PDE stencils


@cuda.jit
def heat2d(u, alpha, unew):
    """One explicit step of the 2-D heat equation from two buffers; the boundary is copied."""
    i, j = cuda.grid(2)
    nx = u.shape[0]
    ny = u.shape[1]
    if i < nx and j < ny:
        if i == 0 or j == 0 or i == nx - 1 or j == ny - 1:
            unew[i, j] = u[i, j]
        else:
            lap = u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1] - 4.0 * u[i, j]
            unew[i, j] = u[i, j] + alpha[0] * lap + 0.01 * u[i, j] * u[i, j]


def _heat_args(rng):
    return {"u": _normal(rng, (8, 7), f8), "alpha": np.array([0.2]), "unew": np.zeros((8, 7))}


@cuda.jit
def flat_index_stencil(u, out):
    """A 2-D array addressed from a 1-D grid: r = i // w, c = i % w; periodic neighbour."""
    i = cuda.grid(1)
    w = u.shape[1]
    if i < u.shape[0] * w:
        r = i // w
        c = i % w
        cn = (c + 1) % w
        out[r, c] = u[r, c] * u[r, cn] + math.sin(u[r, c])


def _flat_args(rng):
    return {"u": _normal(rng, (6, 9), f8), "out": np.zeros((6, 9))}


# ---------------------------------------------------------------- per-thread ODEs, device functions


@cuda.jit(device=True)
def pendulum_rhs(theta, omega, g, damp):
    return omega, -g * math.sin(theta) - damp * omega


@cuda.jit(device=True)
def rk4_step(theta, omega, g, damp, dt):
    k1a, k1b = pendulum_rhs(theta, omega, g, damp)
    k2a, k2b = pendulum_rhs(theta + 0.5 * dt * k1a, omega + 0.5 * dt * k1b, g, damp)
    k3a, k3b = pendulum_rhs(theta + 0.5 * dt * k2a, omega + 0.5 * dt * k2b, g, damp)
    k4a, k4b = pendulum_rhs(theta + dt * k3a, omega + dt * k3b, g, damp)
    theta_n = theta + dt / 6.0 * (k1a + 2.0 * k2a + 2.0 * k3a + k4a)
    omega_n = omega + dt / 6.0 * (k1b + 2.0 * k2b + 2.0 * k3b + k4b)
    return theta_n, omega_n


@cuda.jit
def rk4_pendulums(theta0, omega0, params, nsteps, dt, out):
    """RK4 per thread through two device functions returning tuples, in a time loop."""
    i = cuda.grid(1)
    if i < theta0.shape[0]:
        th = theta0[i]
        om = omega0[i]
        for s in range(nsteps):
            th, om = rk4_step(th, om, params[0], params[1], dt)
        out[i, 0] = th
        out[i, 1] = om


def _rk4_args(rng):
    n = 30
    return {"theta0": _normal(rng, n, f8), "omega0": _normal(rng, n, f8),
            "params": np.array([9.81, 0.3]), "nsteps": 60, "dt": 0.02, "out": np.zeros((n, 2))}


@cuda.jit(device=True)
def rotate(x, y, c, s):
    return c * x - s * y, s * x + c * y


@cuda.jit
def spiral(x0, y0, theta, nsteps, out):
    """A device function returning a tuple, unpacked in a loop; state shrinks each step."""
    i = cuda.grid(1)
    if i < x0.shape[0]:
        c = math.cos(theta[0])
        s = math.sin(theta[0])
        x = x0[i]
        y = y0[i]
        for k in range(nsteps):
            x, y = rotate(x, y, c, s)
            x = x * 0.99 + 0.01 * math.tanh(y)
        out[i] = x * y


def _spiral_args(rng):
    n = 33
    return {"x0": _normal(rng, n, f8), "y0": _normal(rng, n, f8), "theta": np.array([0.3]),
            "nsteps": 25, "out": np.zeros(n)}


@cuda.jit
def newton_cubic(a, b, tol, out):
    """Per-thread Newton iteration for x^3 + a x = b, a data-dependent while with a tolerance."""
    i = cuda.grid(1)
    if i < a.shape[0]:
        x = 1.0
        it = 0
        f = x * x * x + a[i] * x - b[i]
        while abs(f) > tol and it < 50:
            x = x - f / (3.0 * x * x + a[i])
            f = x * x * x + a[i] * x - b[i]
            it += 1
        out[i] = x


def _newton_args(rng):
    n = 40
    return {"a": _uniform(rng, n, f8, 0.5, 2.0), "b": _normal(rng, n, f8), "tol": 1e-13,
            "out": np.zeros(n)}


@cuda.jit
def long_tape(x, r, nsteps, out):
    """A nonlinear map iterated several hundred times per thread: a long per-thread tape."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        for k in range(nsteps):
            v = v + 0.001 * r[i] * math.sin(v) * math.cos(0.5 * v)
        out[i] = v


def _long_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "r": _normal(rng, n, f8), "nsteps": 600, "out": np.zeros(n)}


# ---------------------------------------------------------------- builtins, casts, literals


@cuda.jit
def clamps_fmod_floor(x, y, out):
    """min/max/abs, a clamp, math.fmod and math.floor (piecewise derivatives)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        u = x[i]
        v = y[i]
        c = min(max(u, -1.0), 1.0)
        m = math.fmod(u * 3.0, 1.3)
        fl = u - math.floor(u)
        out[i] = c * v + abs(u * v) + m * m + fl * v + max(u, v) - min(u * u, v)


def _clamps_args(rng):
    n = 50
    x = _normal(rng, n, f8, 1.2)
    y = _normal(rng, n, f8)
    x = _away(x, [-1.0, 1.0, 0.0] + [k * 1.3 / 3.0 for k in range(-8, 9)] + list(range(-5, 6)), gap=0.02)
    y = _away(y, [0.0], gap=0.02)
    for _ in range(3):
        near = np.abs(x - y) < 0.05
        y[near] += 0.2
        near = np.abs(x * x - y) < 0.05
        y[near] += 0.2
    return {"x": x, "y": y, "out": np.zeros(n)}


@cuda.jit
def float32_literals(x, out):
    """float32 arrays, float64 literals and math on them."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        u = x[i]
        out[i] = 0.1 * u * u + math.exp(-0.5 * u) * 1.0000001 - 3.14159265358979 * math.sin(u) / 7.0


def _f32_args(rng):
    n = 50
    return {"x": _normal(rng, n, np.float32), "out": np.zeros(n, np.float32)}


@cuda.jit
def ternary(x, y, out):
    """Conditional expressions (leaky relu and a selected operand)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        u = x[i]
        a = u if u > 0.0 else 0.1 * u
        b = y[i] * y[i] if y[i] > u else math.sin(y[i])
        out[i] = a * b


def _ternary_args(rng):
    n = 50
    x = _away(_normal(rng, n, f8), [0.0])
    y = _normal(rng, n, f8)
    near = np.abs(x - y) < 0.05
    y[near] += 0.2
    return {"x": x, "y": y, "out": np.zeros(n)}


@cuda.jit
def len_and_size(x, w, out):
    """Bounds from len(x) and x.size; a loop bounded by len(w)."""
    i = cuda.grid(1)
    if i < len(x) and i < out.size:
        s = 0.0
        for k in range(len(w)):
            s += w[k] * math.cos(k * x[i])
        out[i] = s / x.size


def _len_args(rng):
    n = 45
    return {"x": _normal(rng, n, f8), "w": _normal(rng, 4, f8), "out": np.zeros(n)}


@cuda.jit
def integer_power_and_pow(x, y, out):
    """x ** 3, x ** 0.5, x ** y with both active, 1 / x."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        u = x[i]
        out[i] = u ** 3 + u ** 0.5 + u ** y[i] + 1.0 / u - y[i] ** 2


def _pow_args(rng):
    n = 40
    return {"x": _uniform(rng, n, f8, 0.5, 2.0), "y": _normal(rng, n, f8), "out": np.zeros(n)}


# ---------------------------------------------------------------- control flow


@cuda.jit
def grid_stride_gridsize(x, out):
    """A grid-stride loop with cuda.gridsize(1)."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for k in range(start, x.shape[0], stride):
        out[k] = math.sin(x[k]) * x[k]


def _gs_args(rng):
    n = 150
    return {"x": _normal(rng, n, f8), "out": np.zeros(n)}


@cuda.jit
def return_inside_loop(x, c, out):
    """An early return inside a per-thread loop, after writing the output."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        for k in range(30):
            v = v * 0.8 + c[i] * math.sin(v)
            if v > 2.0:
                out[i] = v * k
                return
        out[i] = -v


def _retloop_args(rng):
    n = 50
    return {"x": _normal(rng, n, f8), "c": _uniform(rng, n, f8, 0.0, 1.2), "out": np.zeros(n)}


@cuda.jit
def triangular_pairs(x, out):
    """Nested loops with triangular bounds over a per-thread row."""
    t = cuda.grid(1)
    if t < x.shape[0]:
        n = x.shape[1]
        s = 0.0
        for a in range(n):
            for b in range(a):
                s += x[t, a] * x[t, b] * math.cos(x[t, a] - x[t, b])
        out[t] = s


def _tri_args(rng):
    return {"x": _normal(rng, (30, 6), f8), "out": np.zeros(30)}


@cuda.jit
def two_outputs(x, y, s, p):
    """A kernel writing two outputs."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        s[i] = x[i] + math.sin(y[i])
        p[i] = x[i] * y[i]


def _two_args(rng):
    n = 50
    return {"x": _normal(rng, n, f8), "y": _normal(rng, n, f8), "s": np.zeros(n), "p": np.zeros(n)}


@cuda.jit
def write_then_read_back(x, out):
    """An output read back by the thread that wrote it: out[i] = ..; out[i] = out[i] * ..."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = math.sin(x[i])
        out[i] = out[i] * out[i] + x[i]
        out[i] += 2.0 * out[i]


def _readback_args(rng):
    n = 50
    return {"x": _normal(rng, n, f8), "out": _normal(rng, n, f8)}


@cuda.jit
def accumulate_in_loop(x, w, out):
    """The thread's own output element updated in a loop (its old values needed in reverse)."""
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = 1.0
        for k in range(x.shape[0]):
            out[i] = out[i] * math.cos(w[i] * x[k]) + x[k]


def _accloop_args(rng):
    return {"x": _normal(rng, 12, f8, 0.5), "w": _normal(rng, 40, f8), "out": np.zeros(40)}


@cuda.jit
def inplace_2d(u, c):
    """An in-place update of a 2-D array on a 2-D grid, guards from the shape."""
    i, j = cuda.grid(2)
    if i < u.shape[0] and j < u.shape[1]:
        v = u[i, j]
        u[i, j] = v * math.exp(-c[0] * v * v) + c[1] * v


def _inplace2d_args(rng):
    return {"u": _normal(rng, (7, 8), f8), "c": np.array([0.4, 0.3])}


@cuda.jit
def shared_param_in_loop(x, p, nsteps, out):
    """A parameter read by every thread inside a loop (its adjoint: atomics, once per thread)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        for k in range(nsteps):
            v = v - 0.05 * (p[0] * v * v * v - p[1] * v)
        out[i] = v


def _sharedp_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8, 0.5), "p": np.array([1.0, 0.5]), "nsteps": 30,
            "out": np.zeros(n)}


@cuda.jit
def bisection(lo, hi, c, out):
    """A while loop whose trip count depends on the data, solving cos(x) = c x by bisection: the
    output is piecewise constant in c (zero derivative a.e.) but the midpoint keeps lo, hi's."""
    i = cuda.grid(1)
    if i < lo.shape[0]:
        a = lo[i]
        b = hi[i]
        while b - a > 1e-3:
            m = 0.5 * (a + b)
            if math.cos(m) - c[i] * m > 0.0:
                a = m
            else:
                b = m
        out[i] = 0.5 * (a + b)


def _bisect_args(rng):
    n = 40
    return {"lo": np.zeros(n), "hi": np.full(n, 1.5), "c": _uniform(rng, n, f8, 0.5, 2.0),
            "out": np.zeros(n)}


@cuda.jit
def float_loop_counter(y0, k, nsteps, dt, out):
    """A loop counter used as a float (time t = s * dt) in a forced ODE."""
    i = cuda.grid(1)
    if i < y0.shape[0]:
        y = y0[i]
        for s in range(nsteps):
            t = s * dt
            y = y + dt * (-k[i] * y + math.sin(t + y))
        out[i] = y


def _floatloop_args(rng):
    n = 40
    return {"y0": _normal(rng, n, f8), "k": _uniform(rng, n, f8, 0.5, 2.0), "nsteps": 100,
            "dt": 0.01, "out": np.zeros(n)}


@cuda.jit
def inplace_add(x, y):
    """x[i] += f(y[i]) with x both in wrt and outputs: its adjoint passes through."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        x[i] += y[i] * y[i] * x[i]


def _inplace_add_args(rng):
    n = 50
    return {"x": _normal(rng, n, f8), "y": _normal(rng, n, f8)}


@cuda.jit
def gather_table(x, table, out):
    """An index computed from data with int(): a table lookup plus linear interpolation."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        u = x[i] * 4.0
        k = int(u)
        frac = u - k
        out[i] = table[k] * (1.0 - frac) + table[k + 1] * frac


def _table_args(rng):
    n = 50
    x = _uniform(rng, n, f8, 0.0, 1.9)
    x = _away(x, [k / 4.0 for k in range(0, 9)], gap=0.01)
    return {"x": x, "table": _normal(rng, 10, f8), "out": np.zeros(n)}


@cuda.jit
def erf_lgamma_atan2(x, y, out):
    """Less common math functions."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = math.erf(x[i]) * math.lgamma(2.0 + y[i] * y[i]) + math.atan2(y[i], 1.0 + x[i] * x[i]) \
            + math.log1p(y[i] * y[i]) + math.erfc(y[i])


def _erf_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "y": _normal(rng, n, f8), "out": np.zeros(n)}


# ---------------------------------------------------------------- batch 2: typing, indices, callees


@cuda.jit
def int_accumulator(x, w, out):
    """An accumulator started as the integer 0 and then added floats (Numba unifies it to a
    float: an analysis that kept it an integer would drop its derivative)."""
    i = cuda.grid(1)
    if i < out.shape[0]:
        s = 0
        for k in range(x.shape[0]):
            s += x[k] * w[i]
        t = 1
        t = t * x[i % x.shape[0]]
        out[i] = s + t


def _intacc_args(rng):
    return {"x": _normal(rng, 9, f8), "w": _normal(rng, 40, f8), "out": np.zeros(40)}


@cuda.jit
def periodic_wrap(x, out):
    """A periodic stencil through Python's negative indices: x[i - 1] is x[-1] for i = 0."""
    i = cuda.grid(1)
    n = x.shape[0]
    if i < n:
        out[i] = x[i - 1] * x[i] - math.sin(x[(i + 1) % n])


def _wrap_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "out": np.zeros(n)}


@cuda.jit(device=True)
def lerp_table(table, u):
    k = int(u)
    frac = u - k
    return table[k] * (1.0 - frac) + table[k + 1] * frac


@cuda.jit
def device_reads_array(x, table, out):
    """A device function reading an array argument at a computed index (the array's adjoint is
    accumulated inside the device adjoint: several threads collide)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = lerp_table(table, x[i] * 4.0) * x[i]


@cuda.jit
def output_scaled_in_place(x, out):
    """An output only (not in wrt) read before it is written: its old value matters."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = out[i] * math.sin(x[i]) + x[i]


def _scaled_args(rng):
    n = 50
    return {"x": _normal(rng, n, f8), "out": _normal(rng, n, f8)}


@cuda.jit
def mask_and_copysign(x, y, out):
    """A boolean used as a number, math.copysign, a division by an int."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        n = x.shape[0]
        out[i] = x[i] * (x[i] > 0.0) + math.copysign(y[i] * y[i], x[i]) + x[i] / n


@cuda.jit
def atomic_2d(x, rows, hist):
    """cuda.atomic.add with a tuple index into a 2-D array."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        cuda.atomic.add(hist, (rows[i], i % 3), x[i] * x[i])


def _atomic2d_args(rng):
    n = 50
    return {"x": _normal(rng, n, f8), "rows": rng.integers(0, 4, n).astype(np.int64),
            "hist": _normal(rng, (4, 3), f8)}


@cuda.jit
def while_true_break(x, out):
    """`while True` left by a data-dependent break, a nested for with its own break."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        k = 0
        while True:
            v = v * 0.7 + 0.3 * math.cos(v)
            k += 1
            for j in range(5):
                v += 0.01 * j * v
                if v > 3.0:
                    break
            if k >= 12 or v > 2.5:
                break
        out[i] = v * v


def _wtb_args(rng):
    n = 48
    return {"x": _normal(rng, n, f8, 1.5), "out": np.zeros(n)}


@cuda.jit
def shape_unpack(u, out):
    """`n, m = u.shape` and loops over both."""
    i = cuda.grid(1)
    n, m = u.shape
    if i < n:
        s = 0.0
        for j in range(m):
            s += u[i, j] * u[i, j] * (j + 1)
        out[i] = math.sqrt(s)


def _unpack_args(rng):
    return {"u": _normal(rng, (40, 5), f8), "out": np.zeros(40)}


@cuda.jit
def store_and_add_own(x, out):
    """A plain store and an atomic add, both at the thread's own element (no race)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = x[i] * x[i]
        cuda.atomic.add(out, i, math.sin(x[i]))


def _sao_args(rng):
    n = 50
    return {"x": _normal(rng, n, f8), "out": _normal(rng, n, f8)}


@cuda.jit
def f32_loop_f64_accumulator(x, w, out):
    """float32 arrays, a float64 literal accumulator in a loop."""
    i = cuda.grid(1)
    if i < out.shape[0]:
        s = 0.0
        for k in range(x.shape[0]):
            s += math.tanh(x[k] * w[i]) * 0.5
        out[i] = s


def _f32acc_args(rng):
    return {"x": _normal(rng, 16, np.float32), "w": _normal(rng, 40, np.float32),
            "out": np.zeros(40, np.float32)}


@cuda.jit
def strided_write(x, out):
    """Each thread writes two elements, out[2 i] and out[2 i + 1] (injective, not provably)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[2 * i] = math.cos(x[i])
        out[2 * i + 1] = x[i] * math.sin(x[i])


def _strided_args(rng):
    n = 30
    return {"x": _normal(rng, n, f8), "out": np.zeros(2 * n)}


@cuda.jit(device=True)
def early_exit_device(u, c):
    if u > c:
        return u * u
    for k in range(3):
        u = u + 0.1 * math.sin(u)
    return u


@cuda.jit
def device_early_return(x, c, out):
    """A device function with an early return and a loop."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = early_exit_device(x[i], c[0])


def _der_args(rng):
    n = 50
    x = _away(_normal(rng, n, f8), [0.2], gap=0.05)
    return {"x": x, "c": np.array([0.2]), "out": np.zeros(n)}


@cuda.jit
def loop_var_power(x, out):
    """A power whose exponent is the loop variable (an integer) and a polynomial by Horner."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        s = 0.0
        p = 0.0
        for k in range(6):
            s += x[i] ** k / (k + 1)
            p = p * x[i] + (k - 2.5)
        out[i] = s + p


def _lvp_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "out": np.zeros(n)}


@cuda.jit(device=True)
def cutoff_potential(r, rc):
    if r > rc:
        return 0.0
    q = r / rc
    return (1.0 - q) * (1.0 - q) * math.exp(-q)


@cuda.jit
def pair_cutoff(pos, rc, out):
    """A pair potential with a cutoff: a device function returning early (no loop in it)."""
    i = cuda.grid(1)
    if i < pos.shape[0]:
        e = 0.0
        for j in range(pos.shape[0]):
            if j != i:
                e += cutoff_potential(abs(pos[j] - pos[i]), rc[0])
        out[i] = e


def _cutoff_args(rng):
    n = 30
    while True:
        pos = rng.uniform(0.0, 4.0, n)
        d = np.abs(pos[:, None] - pos[None, :])
        if np.min(np.abs(d - 1.1)) > 0.01 and np.min(d + np.eye(n)) > 0.01:
            return {"pos": pos, "rc": np.array([1.1]), "out": np.zeros(n)}


@cuda.jit
def return_in_loop_shared_param(x, p, out):
    """A shared parameter read in a loop (its adjoint summed in a register) and a return inside
    the loop after the write."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        for k in range(40):
            v = v + 0.05 * p[0] * math.sin(v) + 0.02 * p[1]
            if v > 1.5:
                out[i] = v * p[1]
                return
        out[i] = v


def _rlsp_args(rng):
    n = 50
    return {"x": _normal(rng, n, f8), "p": np.array([1.3, 0.7]), "out": np.zeros(n)}


@cuda.jit
def trip_from_floats(y0, k, tmax, dt, out):
    """A trip count computed from float scalars, int(tmax / dt)."""
    i = cuda.grid(1)
    if i < y0.shape[0]:
        y = y0[i]
        for s in range(int(tmax / dt)):
            y = y - dt * k[0] * y * y * y
        out[i] = y


def _tff_args(rng):
    n = 40
    return {"y0": _normal(rng, n, f8), "k": np.array([0.8]), "tmax": 1.0, "dt": 0.01,
            "out": np.zeros(n)}


@cuda.jit
def data_dependent_nested(x, counts, out):
    """Nested loops, the inner trip count read from an integer array and the outer index."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        for a in range(counts[i]):
            for b in range(a + counts[i] % 3):
                v = v * 0.95 + 0.1 * math.cos(v + b)
        out[i] = v


def _ddn_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "counts": rng.integers(0, 9, n).astype(np.int64),
            "out": np.zeros(n)}


@cuda.jit
def scalar_param_reassigned(x, n, out):
    """A by-value scalar reassigned in the kernel; a float param shadowed by a local."""
    i = cuda.grid(1)
    n = min(n, x.shape[0])
    if i < n:
        v = x[i]
        for k in range(3):
            v = v * v * 0.5 + 0.1
        out[i] = v


def _spr_args(rng):
    m = 50
    return {"x": _normal(rng, m, f8, 0.5), "n": 45, "out": np.zeros(m)}


@cuda.jit
def f32_shared_param(x, p, out):
    """float32: a shared parameter read in a loop (its register sum and atomic in float32)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        for k in range(20):
            v = v - 0.05 * (p[0] * v * v * v - p[1] * v)
        out[i] = v


def _f32sp_args(rng):
    n = 40
    return {"x": _normal(rng, n, np.float32, 0.5), "p": np.array([1.0, 0.5], np.float32),
            "out": np.zeros(n, np.float32)}


@cuda.jit
def blocks_per_row(a, out):
    """blockIdx.x a row, threadIdx.x a column (no cuda.grid): m[blockIdx.x, threadIdx.x]."""
    r = cuda.blockIdx.x
    c = cuda.threadIdx.x
    if r < a.shape[0] and c < a.shape[1]:
        out[r, c] = a[r, c] * a[r, c] * math.exp(-a[r, c])


def _bpr_args(rng):
    return {"a": _normal(rng, (2, 30), f8), "out": np.zeros((2, 30))}


@cuda.jit
def histogram_sub(x, w, hist):
    """cuda.atomic.sub into shared bins (its adjoint: minus the gather)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        cuda.atomic.sub(hist, i % 4, w[i] * math.exp(x[i]))
        cuda.atomic.sub(hist, 0, x[i])


def _hsub_args(rng):
    n = 50
    return {"x": _normal(rng, n, f8), "w": _normal(rng, n, f8), "hist": _normal(rng, 4, f8)}


@cuda.jit(device=True)
def own_smooth(x, i):
    return x[i] * 0.5 + math.sin(x[i])


@cuda.jit
def device_reads_own_element(x, c):
    """An array updated in place, read by a device function at the thread's own element (the
    index passed down): no race, accepted."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        x[i] = own_smooth(x, i) * c[i]


def _droe_args(rng):
    n = 50
    return {"x": _normal(rng, n, f8), "c": _normal(rng, n, f8)}


@cuda.jit
def inplace_loop(x, c, nsteps):
    """The thread's own element updated in place nsteps times (its old values go on the tape)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        for k in range(nsteps):
            x[i] = x[i] + 0.1 * math.sin(c[i] * x[i])


def _inplace_loop_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "c": _normal(rng, n, f8), "nsteps": 30}


@cuda.jit(device=True)
def relax(u, a):
    for k in range(4):
        u = u - 0.2 * (u * u * u - a)
    return u


@cuda.jit
def device_in_while(x, a, out):  # ERR
    """A device function whose adjoint records (a loop) called inside a data-dependent while loop
    of the kernel."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        n = 0
        while v < 2.0 and n < 10:
            v = relax(v, a[i]) + 0.3
            n += 1
        out[i] = v * n


def _diw_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8, 0.5), "a": _uniform(rng, n, f8, 0.5, 1.5), "out": np.zeros(n)}


@cuda.jit
def more_math(x, y, out):
    """asin, acos, atan, sinh, cosh, log10, log2, exp, float % and //."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        u = x[i]
        v = y[i]
        r = math.asin(0.5 * math.tanh(u)) + math.acos(0.3 * math.tanh(v)) + math.atan(u * v)
        r += math.sinh(0.5 * u) * math.cosh(0.2 * v) + math.log10(1.0 + u * u) * math.log2(2.0 + v * v)
        r += (3.0 * u) % 1.7 + (2.0 * v) // 1.3 + math.exp(-v * v)
        out[i] = r


def _mm_args(rng):
    n = 50
    x = _normal(rng, n, f8)
    y = _normal(rng, n, f8)
    x = _away(x, [k * 1.7 / 3.0 for k in range(-10, 11)], gap=0.01)
    y = _away(y, [k * 1.3 / 2.0 for k in range(-10, 11)], gap=0.01)
    return {"x": x, "y": y, "out": np.zeros(n)}


@cuda.jit
def local_tuple(x, out):
    """A tuple built and indexed in the kernel, and a swap by tuple assignment in a loop."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        t = (x[i], 2.0 * x[i])
        a = t[0]
        b = t[1]
        for k in range(5):
            a, b = b, a + 0.1 * b * b
        out[i] = a - b


@cuda.jit
def f32_ode_tape(y0, p, nsteps, dt, out):
    """float32 per-thread ODE with math in the loop (a float32 tape), float64 literals."""
    i = cuda.grid(1)
    if i < y0.shape[0]:
        y = y0[i]
        v = 0.0
        for s in range(nsteps):
            acc = -p[0] * math.sin(y) - 0.1 * v
            v = v + dt * acc
            y = y + dt * v
        out[i] = y


def _f32ode_args(rng):
    n = 40
    return {"y0": _normal(rng, n, np.float32), "p": np.array([2.0], np.float32), "nsteps": 50,
            "dt": 0.05, "out": np.zeros(n, np.float32)}


@cuda.jit
def scatter_permutation(x, perm, out):
    """out[perm[i]] = v with perm a permutation: race-free (a repeated index would be a primal
    race s2sad cannot see, see tests/test_cuda_review.py)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[perm[i]] = math.sin(x[i]) * x[i]


def _perm_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "perm": rng.permutation(n).astype(np.int64), "out": _normal(rng, n, f8)}


@cuda.jit(device=True)
def soft_inverse(u, p):
    return (u * u + 1.0) ** -1.5 + u ** p


@cuda.jit
def device_pow(x, p, out):
    """Fractional and negative powers inside a device function (their derivatives need pow of a
    negative exponent: numba-cuda compiles no NumPy ufunc on numbers)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = soft_inverse(x[i], p[0]) * x[i] ** 0.25


def _dpow_args(rng):
    n = 40
    return {"x": _uniform(rng, n, f8, 0.5, 2.0), "p": np.array([0.7]), "out": np.zeros(n)}


@cuda.jit
def grow_until(x, out, iters):
    """A while loop over the output element itself (its trip count read from what the thread
    wrote), and an integer side output the derivative does not name (iteration counts)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = x[i]
        k = 0
        while out[i] < 5.0:
            out[i] = out[i] * 1.7 + 0.1 * math.sin(out[i])
            k += 1
        iters[i] = k


def _grow_args(rng):
    n = 40
    # keep each trajectory's last value away from the threshold 5
    while True:
        x = rng.uniform(0.2, 2.0, n)
        v = x.copy()
        last = np.zeros(n)
        for _ in range(20):
            m = v < 5.0
            v = np.where(m, v * 1.7 + 0.1 * np.sin(v), v)
            last = np.where(m, np.abs(v - 5.0), last)
        if np.min(np.abs(v - 5.0)) > 0.01 and np.min(last) > 0.01:
            return {"x": x, "out": np.zeros(n), "iters": np.zeros(n, np.int64)}


@cuda.jit
def first_thread_sums(x, total, out):
    """One thread (``i == 0``) writes a shared element; the others write their own: no race."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = x[i] * x[i]
    if i == 0:
        s = 0.0
        for k in range(x.shape[0]):
            s += math.sin(x[k])
        total[0] = s


@cuda.jit
def first_thread_by_order(x, total):
    """One thread (``i < 1``) writes the shared element: no race."""
    i = cuda.grid(1)
    if i < 1:
        total[0] = x[0] * x[1] + math.cos(x[2])


def _first_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "total": _normal(rng, 1, f8), "out": np.zeros(n)}


def _first_order_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "total": _normal(rng, 1, f8)}


@cuda.jit
def checkpointed_device_inplace(x, p, nsteps):
    """A checkpointed time loop calling a device function, the state written back in place."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        w = 0.0
        for s in s2sad.checkpointed(range(nsteps), snapshots=4):
            v, w = rotate(v, w, p[0], p[1])
            v = v + 0.01 * math.sin(w)
        x[i] = v + w


def _ckpt_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "p": np.array([math.cos(0.2), math.sin(0.2)]), "nsteps": 37}


@cuda.jit
def checkpointed_device_inplace_plain(x, p, nsteps):
    """checkpointed_device_inplace without the checkpointing: its finite-difference twin."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        w = 0.0
        for s in range(nsteps):
            v, w = rotate(v, w, p[0], p[1])
            v = v + 0.01 * math.sin(w)
        x[i] = v + w


@cuda.jit
def local_int_scratch(x, out):
    """A cuda.local.array of integers (no derivative) used to pick elements: refused today (every
    local array is), checked like a case if accepted later."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        order = cuda.local.array(3, numba.int64)  # ERR
        order[0] = 2
        order[1] = 0
        order[2] = 1
        s = 0.0
        for k in range(3):
            s += x[i] * (order[k] + 1.0) * math.cos(x[i] * k)
        out[i] = s


@cuda.jit
def mixed_dtypes(x, out):
    """float64 in, float32 out."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = math.sin(x[i]) * x[i]


def _mixed_args(rng):
    n = 40
    return {"x": _normal(rng, n, np.float32), "out": np.zeros(n, np.float64)}


GRAVITY = 9.81
COEFFS = np.array([0.5, -0.25, 0.125])


@cuda.jit(device=True)
def settle_count(v, target):
    k = 0
    for s in range(6):
        if v > target:
            v = 0.5 * (v + target) + 0.01 * v * v
            k += 1
    return v, k


@cuda.jit
def device_tuple_with_int(x, out):
    """A device function returning (float, int), of which only the float is differentiated: its
    adjoint's call is `v_bar = settle_count_vjp(...)[0]`, which the tape size missed (rows = 0,
    the device adjoint wrote past its tape). Module-level constants (a float, an array)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v, k = settle_count(x[i], 0.3)
        out[i] = v * (k + 1) + GRAVITY * COEFFS[k % 3] * x[i]


def _dti_args(rng):
    n = 40
    # keep every intermediate of settle_count away from the target 0.3
    while True:
        x = rng.uniform(-1.0, 3.0, n)
        v = x.copy()
        ok = np.abs(v - 0.3) > 0.02
        for _ in range(6):
            m = v > 0.3
            v = np.where(m, 0.5 * (v + 0.3) + 0.01 * v * v, v)
            ok &= np.abs(v - 0.3) > 0.002
        if ok.all():
            return {"x": x, "out": np.zeros(n)}


@cuda.jit(device=True)
def inner_steps(v, a):
    for s in range(5):
        v = v - 0.1 * (v * v * v - a)
    return v, s


@cuda.jit(device=True)
def outer_steps(v, a):
    for r in range(3):
        w, last = inner_steps(v, a)
        v = 0.5 * (v + w) + 0.01 * last
    return v


@cuda.jit
def nested_device_tapes(x, a, out):
    """A device function whose adjoint records calling another that records (and returns a
    tuple with an integer), called twice in one statement."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = outer_steps(x[i], a[i]) * outer_steps(0.5 * x[i], 1.5 * a[i])


def _nested_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8, 0.5), "a": _uniform(rng, n, f8, 0.5, 1.5), "out": np.zeros(n)}


@cuda.jit
def device_loop_in_time_loop(x, a, nsteps, out):
    """A device function whose adjoint records (a loop in it) called in the kernel's time loop:
    the reverse sweep pops the kernel's value, then the device adjoint pushes and pops its own
    (refused before: the tape size analysis gave up on the guarded loop)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        for k in range(nsteps):
            v = relax(v, a[i]) * 0.9
        out[i] = v


def _dlt_args(rng):
    n = 40
    return {"x": _uniform(rng, n, f8, 0.3, 1.2), "a": _uniform(rng, n, f8, 0.5, 1.5), "nsteps": 7,
            "out": np.zeros(n)}


@cuda.jit
def device_loop_in_data_loop(x, counts, a, out):  # ERR
    """As device_loop_in_time_loop, the kernel's trip count read from data: refused in reverse."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        for k in range(counts[i]):
            v = relax(v, a[i])
        out[i] = v


def _dld_args(rng):
    n = 40
    return {"x": _uniform(rng, n, f8, 0.3, 1.2), "counts": rng.integers(0, 6, n).astype(np.int64),
            "a": _uniform(rng, n, f8, 0.5, 1.5), "out": np.zeros(n)}


REVIEW_CASES = [
    Case("nbody_forces", nbody_forces, _nbody_args, ("pos", "mass", "eps"), ("force",), *_1D,
         colliding=("pos", "mass", "eps")),
    Case("sph_density", sph_density, _sph_args, ("pos", "h"), ("rho",), *_1D, colliding=("pos", "h")),
    Case("histogram_weighted", histogram_weighted, _hist_args, ("x", "w"), ("hist",), *_1D,
         own=("x", "w")),
    Case("segment_sums", segment_sums, _seg_args, ("x",), ("out",), *_1D, own=("x",)),
    Case("total_energy", total_energy, _energy_args, ("x", "k"), ("total",), *_1D, own=("x",),
         colliding=("k",)),
    Case("matvec_rows", matvec_rows, _matvec_args, ("A", "x"), ("y",), *_1D, colliding=("x",)),
    Case("matmul2d", matmul2d, _matmul_args, ("A", "B"), ("Cm",), (2, 2), (4, 4),
         colliding=("A", "B")),
    Case("lower_triangular_solve", lower_triangular_solve, _trisolve_args, ("L", "b"), ("x",), *_1D),
    Case("heat2d", heat2d, _heat_args, ("u", "alpha"), ("unew",), (2, 2), (4, 4),
         colliding=("u", "alpha")),
    Case("flat_index_stencil", flat_index_stencil, _flat_args, ("u",), ("out",), *_1D,
         colliding=("u",)),
    Case("rk4_pendulums", rk4_pendulums, _rk4_args, ("theta0", "omega0", "params"), ("out",), *_1D,
         own=("theta0", "omega0"), colliding=("params",), taped=True),
    Case("spiral", spiral, _spiral_args, ("x0", "y0", "theta"), ("out",), *_1D,
         own=("x0", "y0"), colliding=("theta",), taped=True),
    Case("newton_cubic", newton_cubic, _newton_args, ("a", "b"), ("out",), *_1D, own=("a", "b"),
         taped=True),
    Case("long_tape", long_tape, _long_args, ("x", "r"), ("out",), *_1D, own=("x", "r"), taped=True),
    Case("clamps_fmod_floor", clamps_fmod_floor, _clamps_args, ("x", "y"), ("out",), *_1D,
         own=("x", "y")),
    Case("float32_literals", float32_literals, _f32_args, ("x",), ("out",), *_1D, dtype=np.float32,
         own=("x",)),
    Case("ternary", ternary, _ternary_args, ("x", "y"), ("out",), *_1D, own=("x", "y")),
    Case("len_and_size", len_and_size, _len_args, ("x", "w"), ("out",), *_1D, own=("x",),
         colliding=("w",)),
    Case("integer_power_and_pow", integer_power_and_pow, _pow_args, ("x", "y"), ("out",), *_1D,
         own=("x", "y")),
    Case("grid_stride_gridsize", grid_stride_gridsize, _gs_args, ("x",), ("out",), *_1D),
    Case("return_inside_loop", return_inside_loop, _retloop_args, ("x", "c"), ("out",), *_1D,
         own=("x", "c"), taped=True),
    Case("triangular_pairs", triangular_pairs, _tri_args, ("x",), ("out",), *_1D),
    Case("two_outputs", two_outputs, _two_args, ("x", "y"), ("s", "p"), *_1D, own=("x", "y")),
    Case("write_then_read_back", write_then_read_back, _readback_args, ("x",), ("out",), *_1D,
         own=("x",)),
    Case("accumulate_in_loop", accumulate_in_loop, _accloop_args, ("x", "w"), ("out",), *_1D,
         own=("w",), colliding=("x",), taped=True),
    Case("inplace_2d", inplace_2d, _inplace2d_args, ("u", "c"), ("u",), (2, 2), (4, 4),
         colliding=("c",)),
    Case("shared_param_in_loop", shared_param_in_loop, _sharedp_args, ("x", "p"), ("out",), *_1D,
         own=("x",), colliding=("p",), taped=True),
    Case("bisection", bisection, _bisect_args, ("lo", "hi", "c"), ("out",), *_1D, own=("lo", "hi")),
    Case("float_loop_counter", float_loop_counter, _floatloop_args, ("y0", "k"), ("out",), *_1D,
         own=("y0", "k"), taped=True),
    Case("inplace_add", inplace_add, _inplace_add_args, ("x", "y"), ("x",), *_1D, own=("y",)),
    Case("gather_table", gather_table, _table_args, ("x", "table"), ("out",), *_1D, own=("x",),
         colliding=("table",)),
    Case("erf_lgamma_atan2", erf_lgamma_atan2, _erf_args, ("x", "y"), ("out",), *_1D, own=("x", "y")),
    Case("int_accumulator", int_accumulator, _intacc_args, ("x", "w"), ("out",), *_1D, own=("w",),
         colliding=("x",)),
    Case("periodic_wrap", periodic_wrap, _wrap_args, ("x",), ("out",), *_1D, colliding=("x",)),
    Case("device_reads_array", device_reads_array, _table_args, ("x", "table"), ("out",), *_1D),
    Case("output_scaled_in_place", output_scaled_in_place, _scaled_args, ("x",), ("out",), *_1D,
         own=("x",)),
    Case("mask_and_copysign", mask_and_copysign, _ternary_args, ("x", "y"), ("out",), *_1D,
         own=("x", "y")),
    Case("atomic_2d", atomic_2d, _atomic2d_args, ("x",), ("hist",), *_1D, own=("x",)),
    Case("while_true_break", while_true_break, _wtb_args, ("x",), ("out",), *_1D, own=("x",), taped=True),
    Case("shape_unpack", shape_unpack, _unpack_args, ("u",), ("out",), *_1D, own=("u",)),
    Case("store_and_add_own", store_and_add_own, _sao_args, ("x",), ("out",), *_1D, own=("x",)),
    Case("f32_loop_f64_accumulator", f32_loop_f64_accumulator, _f32acc_args, ("x", "w"), ("out",), *_1D,
         dtype=np.float32, own=("w",), colliding=("x",)),
    Case("strided_write", strided_write, _strided_args, ("x",), ("out",), *_1D, own=("x",)),
    Case("pair_cutoff", pair_cutoff, _cutoff_args, ("pos", "rc"), ("out",), *_1D, colliding=("pos", "rc")),
    Case("return_in_loop_shared_param", return_in_loop_shared_param, _rlsp_args, ("x", "p"), ("out",),
         *_1D, own=("x",), colliding=("p",), taped=True),
    Case("trip_from_floats", trip_from_floats, _tff_args, ("y0", "k"), ("out",), *_1D, own=("y0",),
         colliding=("k",), taped=True),
    Case("data_dependent_nested", data_dependent_nested, _ddn_args, ("x",), ("out",), *_1D, own=("x",),
         taped=True),
    Case("scalar_param_reassigned", scalar_param_reassigned, _spr_args, ("x",), ("out",), *_1D),
    Case("f32_shared_param", f32_shared_param, _f32sp_args, ("x", "p"), ("out",), *_1D, dtype=np.float32,
         own=("x",), colliding=("p",), taped=True),
    Case("blocks_per_row", blocks_per_row, _bpr_args, ("a",), ("out",), 2, 32),
    Case("histogram_sub", histogram_sub, _hsub_args, ("x", "w"), ("hist",), *_1D, own=("x", "w")),
    Case("device_reads_own_element", device_reads_own_element, _droe_args, ("x", "c"), ("x",), *_1D,
         own=("c",)),
    Case("inplace_loop", inplace_loop, _inplace_loop_args, ("x", "c"), ("x",), *_1D, own=("c",), taped=True),
    Case("more_math", more_math, _mm_args, ("x", "y"), ("out",), *_1D, own=("x", "y")),
    Case("local_tuple", local_tuple, _readback_args, ("x",), ("out",), *_1D, own=("x",)),
    Case("f32_ode_tape", f32_ode_tape, _f32ode_args, ("y0", "p"), ("out",), *_1D, dtype=np.float32,
         own=("y0",), colliding=("p",), taped=True),
    Case("scatter_permutation", scatter_permutation, _perm_args, ("x",), ("out",), *_1D, own=("x",)),
    Case("device_pow", device_pow, _dpow_args, ("x", "p"), ("out",), *_1D, own=("x",), colliding=("p",)),
    Case("grow_until", grow_until, _grow_args, ("x",), ("out",), *_1D, own=("x",), taped=True),
    Case("first_thread_sums", first_thread_sums, _first_args, ("x",), ("total", "out"), *_1D,
         colliding=("x",)),
    Case("first_thread_by_order", first_thread_by_order, _first_order_args, ("x",), ("total",), *_1D),
    Case("checkpointed_device_inplace", checkpointed_device_inplace, _ckpt_args, ("x", "p"), ("x",), *_1D,
         reference=checkpointed_device_inplace_plain, colliding=("p",)),
    Case("mixed_dtypes", mixed_dtypes, _mixed_args, ("x",), ("out",), *_1D, dtype=np.float32, own=("x",)),
    Case("device_tuple_with_int", device_tuple_with_int, _dti_args, ("x",), ("out",), *_1D, own=("x",)),
    Case("device_loop_in_time_loop", device_loop_in_time_loop, _dlt_args, ("x", "a"), ("out",), *_1D,
         own=("x", "a"), taped=True),
    Case("loop_var_power", loop_var_power, _lvp_args, ("x",), ("out",), *_1D, own=("x",)),
]



# ---------------------------------------------------------------- refusals


@cuda.jit
def atomic_max(x, out):
    """cuda.atomic.max: not differentiable as an accumulation."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        cuda.atomic.max(out, 0, x[i])  # ERR


def _amax_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "out": np.zeros(1)}


@cuda.jit(device=True)
def left_neighbour(x, i):
    return x[i - 1]


@cuda.jit
def hidden_race(x, out):
    """In-place smoothing whose read of the neighbour (another thread's element, written in the
    same launch) happens inside a device function."""
    i = cuda.grid(1)
    if i >= 1 and i < x.shape[0]:
        x[i] = 0.5 * (left_neighbour(x, i) + x[i])  # ERR
        out[i] = x[i]


@cuda.jit
def row_view(u, out):
    """A row view of a 2-D array, `row = u[i]`, then its elements."""
    i = cuda.grid(1)
    if i < u.shape[0]:
        row = u[i]  # ERR
        out[i] = row[0] * math.sin(row[1]) + row[2]


def _row_args(rng):
    n = 40
    return {"u": _normal(rng, (n, 3), f8), "out": np.zeros(n)}


@cuda.jit
def plain_sum_race(x, total):
    """A sum by a plain ``+=`` from every thread (lost updates on a GPU): cuda.atomic.add was meant."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        total[0] += x[i] * x[i]  # ERR


@cuda.jit
def every_thread_writes_all(x, w, out):
    """Every thread writes every element of out (the last writer wins)."""
    i = cuda.grid(1)
    if i >= 1 and i < w.shape[0]:
        for k in range(out.shape[0]):
            out[k] = x[k] * w[i]  # ERR


def _all_args(rng):
    n = 40
    return {"x": _normal(rng, 5, f8), "w": _normal(rng, n, f8), "out": np.zeros(5)}


def _sum_args(rng):
    n = 40
    return {"x": _normal(rng, n, f8), "total": np.zeros(1)}


@cuda.jit
def rowsum_race(m, out):
    """Row sums on a 2-D grid by a plain ``+=``: threads (i, 0), (i, 1), ... add into out[i]."""
    i, j = cuda.grid(2)
    if i < m.shape[0] and j < m.shape[1]:
        out[i] += m[i, j] * m[i, j]  # ERR


@cuda.jit
def row_first_column(m, out):
    """A 2-D grid where only the threads of column 0 write out[i] (``j == 0``): no race."""
    i, j = cuda.grid(2)
    if i < m.shape[0] and j == 0:
        s = 0.0
        for k in range(m.shape[1]):
            s += m[i, k] * math.sin(m[i, k])
        out[i] = s


def _rows_args(rng):
    return {"m": _normal(rng, (7, 5), f8), "out": np.zeros(7)}


REVIEW_CASES.append(Case("row_first_column", row_first_column, _rows_args, ("m",), ("out",), (2, 2), (4, 4)))

@cuda.jit(device=True)
def ping(u, n):
    if n <= 0:
        return u
    return pong(u * 0.5, n - 1)


@cuda.jit(device=True)
def pong(u, n):
    return ping(math.sin(u), n)  # ERR


@cuda.jit
def mutual_recursion(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = ping(x[i], 3)


# Refused in reverse mode for now (a clear error at the user's line; the tangent kernels work): if
# a later change accepts them, the refusal test checks them like REVIEW_CASES.
MAYBE_DEVICE_IN_WHILE = Case("device_in_while", device_in_while, _diw_args, ("x", "a"), ("out",), *_1D)
MAYBE_ROW_VIEW = Case("row_view", row_view, _row_args, ("u",), ("out",), *_1D)
MAYBE_DEVICE_LOOP_IN_DATA_LOOP = Case("device_loop_in_data_loop", device_loop_in_data_loop, _dld_args,
                                      ("x", "a"), ("out",), *_1D)

# Refused in reverse mode before the review's tape-count fixes, differentiated since.
REVIEW_CASES += [
    Case("device_early_return", device_early_return, _der_args, ("x", "c"), ("out",), *_1D, own=("x",),
         colliding=("c",)),
    Case("nested_device_tapes", nested_device_tapes, _nested_args, ("x", "a"), ("out",), *_1D,
         own=("x", "a")),
]

REVIEW_REFUSALS = [
    Refusal("device_adjoint_in_data_dependent_for", device_loop_in_data_loop, _dld_args, ("x", "a"), ("out",),
            maybe=MAYBE_DEVICE_LOOP_IN_DATA_LOOP),
    Refusal("row_view", row_view, _row_args, ("u",), ("out",), match=r"view", maybe=MAYBE_ROW_VIEW),
    Refusal("device_adjoint_in_data_dependent_while", device_in_while, _diw_args, ("x", "a"), ("out",),
            maybe=MAYBE_DEVICE_IN_WHILE),
    Refusal("race_inside_device_function", hidden_race, C._xo_args, ("x",), ("x", "out"), match=r"race"),
    Refusal("plain_sum_race", plain_sum_race, _sum_args, ("x",), ("total",), match=r"race"),
    Refusal("every_thread_writes_all", every_thread_writes_all, _all_args, ("x", "w"), ("out",), match=r"race"),
    Refusal("local_int_array", local_int_scratch, _readback_args, ("x",), ("out",), match=r"local",
            maybe=Case("local_int_scratch", local_int_scratch, _readback_args, ("x",), ("out",), *_1D)),
    Refusal("rowsum_race_2d", rowsum_race, _rows_args, ("m",), ("out",), match=r"race"),
    Refusal("mutual_recursion", mutual_recursion, C._xo_args, ("x",), ("out",), at=pong, match=r"recurs"),
    Refusal("atomic_max", atomic_max, _amax_args, ("x",), ("out",)),
]

REVIEW_CASE = {c.name: c for c in REVIEW_CASES}
