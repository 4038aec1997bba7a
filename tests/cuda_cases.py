"""`@cuda.jit` kernels for the CUDA transform (issue 11): the corpus it must differentiate, and
the kernels it must refuse.

Each corpus case is a :class:`Case`: the kernel, how to build its arguments (small shapes,
seeded; at most 64 threads, since Numba's CUDA simulator runs every thread as a Python thread),
the names of its ``wrt`` and ``outputs`` arrays, and its launch configuration. Its derivatives are
judged against central finite differences of the primal kernel itself (tests/test_cuda.py), so the
kernels here need no hand-derived formula.

Each refusal is a :class:`Refusal`: a kernel holding exactly one ``# ERR`` marker on the line the
error must name (``# ERR col=<text>``: and the column of ``<text>``; ``# ERR-OR`` marks another
line the error may name instead), its arguments, and its wrt/outputs. tests/test_cuda.py finds the markers through ``inspect``, so lines can move.

Kernels use only what Numba compiles for a real GPU, except the checkpointed one, whose primal
calls ``s2sad.checkpointed`` (plain Python under the simulator): it names a plain twin
(``reference``) that the finite differences launch instead.
"""

import math

import numpy as np

if not hasattr(np, "row_stack"):  # numba-cuda 0.30.4 still calls it; NumPy 2.5 removed it
    np.row_stack = np.vstack

import numba
from numba import cuda

import s2sad

THREADS = 32  # threads per block: a warp, and the simulator stays quick


def blocks_for(n, threads=THREADS):
    return (n + threads - 1) // threads


class Case:
    """One kernel to differentiate.

    ``args(rng)`` returns ``{parameter name: value}`` for every parameter of ``kernel``
    (numpy arrays, Python ints and floats); the harness passes them in the kernel's order.
    ``wrt``/``outputs``: names of array parameters (their union gets one shadow array each).
    ``dtype``: the floating type of the active arrays (tolerances follow it).
    ``reference``: a kernel with the same parameters and the same mathematics that the finite
    differences launch instead of ``kernel`` (None: ``kernel`` itself).
    ``own``: shadow names whose adjoint accumulation is provably at the thread's own index
    (the generated adjoint must use a plain ``+=`` there, no atomic; arrays updated in place are
    left out: their adjoint is replaced, not accumulated into); ``colliding``: shadow names
    that several threads update (``cuda.atomic.add`` for every update: a plain ``+=`` at the
    thread's own element would race with the neighbours' atomics on it).
    """

    def __init__(self, name, kernel, args, wrt, outputs, griddim, blockdim, dtype=np.float64,
                 reference=None, own=(), colliding=(), taped=False, note=""):
        self.name = name
        self.kernel = kernel
        self.args = args
        self.wrt = tuple(wrt)
        self.outputs = tuple(outputs)
        self.griddim = griddim
        self.blockdim = blockdim
        self.dtype = np.dtype(dtype)
        self.reference = reference or kernel
        self.own = tuple(own)
        self.colliding = tuple(colliding)
        self.taped = taped  # a per-thread loop whose reverse sweep needs a tape
        self.note = note

    def __repr__(self):
        return f"Case({self.name})"


def _normal(rng, shape, dtype, scale=1.0, shift=0.0):
    return (shift + scale * rng.standard_normal(shape)).astype(dtype)


def _uniform(rng, shape, dtype, lo, hi):
    return rng.uniform(lo, hi, shape).astype(dtype)


# ---------------------------------------------------------------- elementwise, math functions


@cuda.jit
def elementwise(x, y, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        u = x[i]
        v = y[i]
        s = math.sin(u) * math.exp(-u * u) + math.log(1.0 + v * v)
        t = math.sqrt(v * v + 0.5) * math.tanh(u) - math.cos(v) / (2.0 + math.atan(u))
        out[i] = s + t + math.pow(abs(v) + 1.0, 1.5) - math.expm1(0.1 * u)


def _elementwise_args(dtype):
    def make(rng):
        n = 50
        return {"x": _normal(rng, n, dtype), "y": _normal(rng, n, dtype),
                "out": np.zeros(n, dtype)}
    return make


@cuda.jit
def sin_exp(x, out):
    """The benchmark's elementwise kernel: sin(x)·exp(-x²)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        xi = x[i]
        out[i] = math.sin(xi) * math.exp(-xi * xi)


def _sin_exp_args(rng):
    n = 60
    return {"x": _normal(rng, n, np.float64), "out": _normal(rng, n, np.float64)}


# ---------------------------------------------------------------- the issue's own example


@cuda.jit
def step(a, x, y, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = a[0] * math.sin(x[i]) + y[i] * y[i]


def _step_args(rng):
    n = 45
    return {"a": _normal(rng, 1, np.float64, shift=1.0), "x": _normal(rng, n, np.float64),
            "y": _normal(rng, n, np.float64), "out": np.zeros(n)}


# ---------------------------------------------------------------- 3-point stencil


@cuda.jit
def stencil3(x, w, out):
    """Interior points only: out[0] and out[n-1] keep their values (an output only partly
    overwritten), and x[i] feeds out[i-1], out[i], out[i+1] (adjoints of x collide)."""
    i = cuda.grid(1)
    n = x.shape[0]
    if i >= 1 and i < n - 1:
        out[i] = w[0] * x[i - 1] * x[i + 1] + math.sin(x[i]) - w[1] * (x[i + 1] - 2.0 * x[i] + x[i - 1])


def _stencil_args(dtype):
    def make(rng):
        n = 58
        return {"x": _normal(rng, n, dtype), "w": _normal(rng, 2, dtype, shift=0.5),
                "out": _normal(rng, n, dtype)}
    return make


# ---------------------------------------------------------------- 2-D grid


@cuda.jit
def grid2d(m, v, out):
    i, j = cuda.grid(2)
    if i < m.shape[0] and j < m.shape[1]:
        mij = m[i, j]
        out[i, j] = mij * v[j] + math.sin(mij) * math.exp(0.1 * v[j]) + mij * mij * 0.5


def _grid2d_args(rng):
    return {"m": _normal(rng, (7, 6), np.float64), "v": _normal(rng, 6, np.float64),
            "out": np.zeros((7, 6))}


@cuda.jit
def grid3d(u, out):
    i, j, k = cuda.grid(3)
    if i < u.shape[0] and j < u.shape[1] and k < u.shape[2]:
        v = u[i, j, k]
        out[i, j, k] = v * v * math.cos(v) + 0.5 * v


def _grid3d_args(rng):
    return {"u": _normal(rng, (4, 3, 4), np.float64), "out": np.zeros((4, 3, 4))}


# ---------------------------------------------------------------- early return, builtins


@cuda.jit
def early_return(x, y, out):
    """The bounds guard as an early return; abs, min, max and two-argument math functions."""
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    a = x[i]
    b = y[i]
    r = math.hypot(a, b) + math.atan2(b, a + 3.0)
    out[i] = max(r, 0.25 * r) * min(abs(a), 2.0) + math.fabs(b)


def _early_return_args(rng):
    n = 50
    x = _normal(rng, n, np.float64)
    x[np.abs(x) < 0.05] += 0.1
    x[np.abs(np.abs(x) - 2.0) < 0.05] += 0.1  # away from min's kink
    y = _normal(rng, n, np.float64)
    y[np.abs(y) < 0.05] += 0.1
    return {"x": x, "y": y, "out": np.zeros(n)}


# ---------------------------------------------------------------- ragged per-thread loops (CSR)


@cuda.jit
def csr_matvec(indptr, indices, data, x, y):
    """y = A x for a sparse A in CSR form, one row a thread: the trip count of each thread's loop
    comes from the data, and x is read at indices that several rows share (its adjoint collides;
    data's is at k, which only this row reaches, though no simple rule proves it)."""
    row = cuda.grid(1)
    if row < y.shape[0]:
        s = 0.0
        for k in range(indptr[row], indptr[row + 1]):
            s += data[k] * math.tanh(x[indices[k]])
        y[row] = s


def _csr_args(rng):
    rows, cols = 40, 30
    counts = rng.integers(0, 7, rows)  # some rows empty
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.concatenate([rng.choice(cols, c, replace=False) for c in counts]).astype(np.int64)
    return {"indptr": indptr, "indices": indices, "data": _normal(rng, int(indptr[-1]), np.float64),
            "x": _normal(rng, cols, np.float64), "y": np.zeros(rows)}


# ---------------------------------------------------------------- per-thread ODE loops


@cuda.jit
def lorenz_ensemble(params, state0, nsteps, dt, out):
    """Each thread integrates one Lorenz-63 member by explicit Euler; ``state0`` is laid out
    [component, member] so that consecutive threads read consecutive addresses."""
    t = cuda.grid(1)
    if t < state0.shape[1]:
        sigma = params[0]
        rho = params[1]
        beta = params[2]
        x = state0[0, t]
        y = state0[1, t]
        z = state0[2, t]
        for s in range(nsteps):
            dx = sigma * (y - x)
            dy = x * (rho - z) - y
            dz = x * y - beta * z
            x = x + dt * dx
            y = y + dt * dy
            z = z + dt * dz
        out[t] = x * x + y * y + z * z


@cuda.jit
def lorenz_checkpointed(params, state0, nsteps, dt, out):
    """lorenz_ensemble with its time loop marked for checkpointing (recompute instead of a tape)."""
    t = cuda.grid(1)
    if t < state0.shape[1]:
        sigma = params[0]
        rho = params[1]
        beta = params[2]
        x = state0[0, t]
        y = state0[1, t]
        z = state0[2, t]
        for s in s2sad.checkpointed(range(nsteps), snapshots=8):
            dx = sigma * (y - x)
            dy = x * (rho - z) - y
            dz = x * y - beta * z
            x = x + dt * dx
            y = y + dt * dy
            z = z + dt * dz
        out[t] = x * x + y * y + z * z


def _lorenz_args(dtype, nsteps=150):
    def make(rng):
        m = 40
        state0 = np.stack([_normal(rng, m, np.float64, 1.0, 1.0), _normal(rng, m, np.float64, 1.0, 1.0),
                           _normal(rng, m, np.float64, 1.0, 20.0)]).astype(dtype)
        return {"params": np.array([10.0, 28.0, 8.0 / 3.0], dtype), "state0": state0,
                "nsteps": nsteps, "dt": 0.005, "out": np.zeros(m, dtype)}
    return make


@cuda.jit
def damped_oscillators(k, c, pos, vel, nsteps, dt):
    """Semi-implicit Euler per thread, state written back in place at the end."""
    i = cuda.grid(1)
    if i < pos.shape[0]:
        p = pos[i]
        v = vel[i]
        for s in range(nsteps):
            v = v - dt * (k[i] * math.sin(p) + c[0] * v * abs(v))
            p = p + dt * v
        pos[i] = p
        vel[i] = v


def _oscillator_args(rng):
    n = 36
    return {"k": _uniform(rng, n, np.float64, 0.5, 2.0), "c": np.array([0.3]),
            "pos": _normal(rng, n, np.float64), "vel": _normal(rng, n, np.float64),
            "nsteps": 200, "dt": 0.01}


# ---------------------------------------------------------------- device functions


@cuda.jit(device=True)
def soft_clip(u, w):
    return u * w + math.tanh(u) / (1.0 + w * w)


@cuda.jit(device=True)
def twice_clipped(u, w):
    return soft_clip(soft_clip(u, w), 0.5 * w)


@cuda.jit
def device_calls(x, w, out):
    """One device function reached with three activity patterns (both arguments varied, only the
    first, only the second) and through another device function."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        a = soft_clip(x[i], w[i])
        b = soft_clip(x[i], 0.75)
        c = soft_clip(1.5, w[i])
        out[i] = a * b + c + twice_clipped(x[i], w[i])


def _device_args(rng):
    n = 40
    return {"x": _normal(rng, n, np.float64), "w": _normal(rng, n, np.float64),
            "out": np.zeros(n)}


# ---------------------------------------------------------------- in-place, accumulation, atomics


@cuda.jit
def inplace(x, c):
    i = cuda.grid(1)
    if i < x.shape[0]:
        x[i] = math.sin(x[i]) * c[i] + x[i] * x[i]


def _inplace_args(rng):
    n = 50
    return {"x": _normal(rng, n, np.float64), "c": _normal(rng, n, np.float64)}


@cuda.jit
def accumulate(x, y, a, acc, out):
    """``out[i] += ...`` at the thread's own index, and ``cuda.atomic.add`` into 3 bins that
    every thread shares (the primal's atomic: its adjoint is a gather)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] += a[0] * x[i] * y[i]
        cuda.atomic.add(acc, i % 3, x[i] * math.sin(y[i]))


def _accumulate_args(rng):
    n = 50
    return {"x": _normal(rng, n, np.float64), "y": _normal(rng, n, np.float64),
            "a": _normal(rng, 1, np.float64, shift=1.0), "acc": _normal(rng, 3, np.float64),
            "out": _normal(rng, n, np.float64)}


@cuda.jit
def computed_indices(x, y, idx, out):
    """Indices computed from the thread's: a reversed write ``out[n-1-i] += ...`` (injective, but
    not the plain ``i = cuda.grid(1)`` pattern) and a gather ``x[idx[i]]`` through an integer
    array with repeats (its adjoint collides: atomics). y is read at i and at n-1-i: each index is
    injective, but thread i's y[n-1-i] is thread n-1-i's y[i], so y_bar's updates collide too."""
    i = cuda.grid(1)
    n = out.shape[0]
    if i < n:
        j = n - 1 - i
        g = x[idx[i]]
        out[j] += g * g * y[i] + math.sin(g) * y[j]


def _computed_args(rng):
    n = 44
    return {"x": _normal(rng, 10, np.float64), "y": _normal(rng, n, np.float64),
            "idx": rng.integers(0, 10, n).astype(np.int64), "out": _normal(rng, n, np.float64)}


# ---------------------------------------------------------------- loops and branches


@cuda.jit
def while_break_continue(x, c, limit, out):
    """A data-dependent while loop: its trip count depends on x and limit; ``continue`` skips
    every third step's sum, ``break`` leaves once the sum passes the thread's limit."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = x[i]
        s = 0.0
        k = 0
        while k < 40:
            k += 1
            v = 0.9 * v + 0.2 * math.sin(v) + 0.1
            if k % 3 == 0:
                continue
            s = s + c[i] * v * v
            if s > limit[i]:
                break
        out[i] = s + v * k


def _while_args(rng):
    n = 48
    return {"x": _normal(rng, n, np.float64), "c": _uniform(rng, n, np.float64, 0.5, 1.5),
            "limit": _uniform(rng, n, np.float64, 0.2, 3.0), "out": np.zeros(n)}


@cuda.jit
def branches(x, y, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        u = x[i]
        if u > 1.0:
            r = u * y[i] + math.log(u)
        elif u > -0.5:
            r = math.sin(u) * y[i] * y[i]
        elif y[i] > 0.0:
            r = math.exp(u) + y[i]
        else:
            r = u * u * u - y[i]
        out[i] = r


def _branch_args(rng):
    n = 56
    x = _normal(rng, n, np.float64, scale=1.5)
    # keep every value well away from the branch boundaries (finite differences cross none)
    for edge in (1.0, -0.5):
        near = np.abs(x - edge) < 0.05
        x[near] += 0.1
    y = _normal(rng, n, np.float64)
    y[np.abs(y) < 0.05] += 0.1
    return {"x": x, "y": y, "out": np.zeros(n)}


@cuda.jit
def thread_indexing(x, w, out):
    """Indices from threadIdx/blockIdx/blockDim, and a grid-stride loop over gridDim (each
    thread handles several elements)."""
    start = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    stride = cuda.blockDim.x * cuda.gridDim.x
    for k in range(start, x.shape[0], stride):
        out[k] = w[cuda.threadIdx.x % 4] * math.cos(x[k]) + x[k] * x[k] * w[0]


def _indexing_args(rng):
    n = 150  # 64 threads, up to 3 elements each
    return {"x": _normal(rng, n, np.float64), "w": _normal(rng, 4, np.float64),
            "out": np.zeros(n)}


@cuda.jit
def partial_output(x, out):
    """Writes out[i] only where x[i] > 0 (a data-dependent set): the adjoint of out is consumed
    there and nowhere else."""
    i = cuda.grid(1)
    if i < x.shape[0]:  # noqa: SIM102 - nested as users write it: a bounds guard, then a data test
        if x[i] > 0.0:
            out[i] = math.sqrt(x[i]) * math.sin(3.0 * x[i])


def _partial_args(rng):
    n = 52
    x = _normal(rng, n, np.float64)
    x[np.abs(x) < 0.05] += 0.1
    return {"x": x, "out": _normal(rng, n, np.float64)}


# ---------------------------------------------------------------- local arrays (may be refused)


@cuda.jit
def local_buffer(x, out):
    """A per-thread local array written with differentiated values. The issue allows refusing it
    (then the error names the first write of a differentiated value, or the allocation); if the
    transform supports it, its derivatives must pass the finite-difference tests like any other
    case."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        buf = cuda.local.array(3, numba.float64)  # ERR-OR
        buf[0] = x[i] * 2.0  # ERR
        buf[1] = buf[0] * buf[0]
        buf[2] = math.sin(buf[1])
        out[i] = buf[0] + buf[2]


def _local_args(rng):
    n = 40
    return {"x": _normal(rng, n, np.float64), "out": np.zeros(n)}


# ---------------------------------------------------------------- the corpus

_1D = (2, THREADS)

CASES = [
    Case("elementwise", elementwise, _elementwise_args(np.float64), ("x", "y"), ("out",), *_1D,
         own=("x", "y")),
    Case("elementwise_f32", elementwise, _elementwise_args(np.float32), ("x", "y"), ("out",), *_1D,
         dtype=np.float32, own=("x", "y")),
    Case("sin_exp", sin_exp, _sin_exp_args, ("x",), ("out",), *_1D, own=("x",)),
    Case("step", step, _step_args, ("a", "x", "y"), ("out",), *_1D, own=("x", "y"),
         colliding=("a",)),
    Case("stencil3", stencil3, _stencil_args(np.float64), ("x", "w"), ("out",), *_1D,
         colliding=("x", "w")),
    Case("stencil3_x", stencil3, _stencil_args(np.float64), ("x",), ("out",), *_1D,
         colliding=("x",)),
    Case("stencil3_f32", stencil3, _stencil_args(np.float32), ("x", "w"), ("out",), *_1D,
         dtype=np.float32, colliding=("x", "w")),
    Case("grid2d", grid2d, _grid2d_args, ("m", "v"), ("out",), (2, 2), (4, 4), own=("m",),
         colliding=("v",)),
    Case("grid3d", grid3d, _grid3d_args, ("u",), ("out",), (1, 1, 2), (4, 4, 2), own=("u",)),
    Case("early_return", early_return, _early_return_args, ("x", "y"), ("out",), *_1D,
         own=("x", "y")),
    Case("csr_matvec", csr_matvec, _csr_args, ("data", "x"), ("y",), *_1D, colliding=("x",)),
    Case("lorenz_ensemble", lorenz_ensemble, _lorenz_args(np.float64), ("params", "state0"),
         ("out",), *_1D, own=("state0",), colliding=("params",), taped=True),
    Case("lorenz_ensemble_f32", lorenz_ensemble, _lorenz_args(np.float32, nsteps=40),
         ("params", "state0"), ("out",), *_1D, dtype=np.float32, own=("state0",), colliding=("params",),
         taped=True),
    Case("lorenz_checkpointed", lorenz_checkpointed, _lorenz_args(np.float64), ("params", "state0"),
         ("out",), *_1D, reference=lorenz_ensemble, colliding=("params",)),
    Case("damped_oscillators", damped_oscillators, _oscillator_args, ("k", "c", "pos", "vel"),
         ("pos", "vel"), *_1D, own=("k",), colliding=("c",), taped=True),
    Case("device_calls", device_calls, _device_args, ("x", "w"), ("out",), *_1D, own=("x", "w")),
    Case("inplace", inplace, _inplace_args, ("x", "c"), ("x",), *_1D, own=("c",)),
    Case("accumulate", accumulate, _accumulate_args, ("x", "y", "a"), ("acc", "out"), *_1D,
         own=("x", "y"), colliding=("a",)),
    Case("computed_indices", computed_indices, _computed_args, ("x", "y"), ("out",), *_1D,
         colliding=("x", "y")),
    Case("while_break_continue", while_break_continue, _while_args, ("x", "c", "limit"), ("out",),
         *_1D, own=("x", "c"), taped=True),
    Case("branches", branches, _branch_args, ("x", "y"), ("out",), *_1D, own=("x", "y")),
    Case("thread_indexing", thread_indexing, _indexing_args, ("x", "w"), ("out",), *_1D,
         colliding=("w",)),
    Case("partial_output", partial_output, _partial_args, ("x",), ("out",), *_1D, own=("x",)),
]

CASE = {c.name: c for c in CASES}

# A case the issue lets the transform refuse; if it is accepted, it is checked like CASES.
MAYBE_REFUSED = Case("local_buffer", local_buffer, _local_args, ("x",), ("out",), *_1D)


# ---------------------------------------------------------------- refusals


class Refusal:
    """A kernel s2sad must refuse, in both modes, at the ``# ERR`` line of ``at`` (default:
    ``kernel`` itself; a device function for errors inside one), before any launch."""

    def __init__(self, name, kernel, args, wrt, outputs, at=None, match=None, maybe=None):
        self.name = name
        self.kernel = kernel
        self.args = args
        self.wrt = tuple(wrt)
        self.outputs = tuple(outputs)
        self.at = at or kernel
        self.match = match  # a regex the first line of the message must contain
        self.maybe = maybe  # a Case to check instead if the transform accepts the kernel

    def __repr__(self):
        return f"Refusal({self.name})"


@cuda.jit
def uses_shared(x, out):
    i = cuda.grid(1)
    tile = cuda.shared.array(32, numba.float64)  # ERR
    if i < x.shape[0]:
        tile[cuda.threadIdx.x] = x[i]
        out[i] = tile[cuda.threadIdx.x] * 2.0


@cuda.jit
def uses_syncthreads(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = x[i] * x[i]
    cuda.syncthreads()  # ERR


@cuda.jit
def primal_race(x, out):
    i = cuda.grid(1)
    if i < x.shape[0] - 1:
        out[i] = math.sin(x[i])
        out[i] = out[i] * out[i + 1]  # ERR


@cuda.jit
def inplace_smoothing(x, out):
    """In-place Jacobi smoothing: thread i reads x[i - 1] and x[i + 1], which threads i - 1 and
    i + 1 overwrite in the same launch."""
    i = cuda.grid(1)
    if i >= 1 and i < x.shape[0] - 1:
        x[i] = 0.5 * (x[i - 1] + x[i + 1])  # ERR
        out[i] = x[i] * x[i]


@cuda.jit
def store_and_neighbour_adds(x, out):
    """out[i] written plainly by thread i, and added into atomically by thread i - 1: whether
    the addition survives the write depends on the order in which the threads run."""
    i = cuda.grid(1)
    if i < x.shape[0] - 1:
        out[i] = math.sin(x[i])
        cuda.atomic.add(out, i + 1, x[i] * x[i])  # ERR


@cuda.jit(device=True)
def power_recursive(u, n):
    if n == 0:
        return 1.0
    return u * power_recursive(u, n - 1)  # ERR


@cuda.jit
def calls_recursive(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = power_recursive(x[i], 3)


@cuda.jit
def scalar_by_value(x, alpha, out):  # ERR col=alpha
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = alpha * x[i]


@cuda.jit
def uses_try(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        try:  # ERR
            out[i] = math.log(x[i])
        except ValueError:
            out[i] = 0.0


def _xo_args(rng):
    n = 40
    return {"x": _uniform(rng, n, np.float64, 0.5, 1.5), "out": np.zeros(n)}


def _scalar_args(rng):
    n = 40
    return {"x": _normal(rng, n, np.float64), "alpha": 1.5, "out": np.zeros(n)}


REFUSALS = [
    Refusal("shared_array", uses_shared, _xo_args, ("x",), ("out",), match=r"shared"),
    Refusal("syncthreads", uses_syncthreads, _xo_args, ("x",), ("out",), match=r"syncthreads"),
    Refusal("primal_race", primal_race, _xo_args, ("x",), ("out",)),
    Refusal("inplace_stencil_race", inplace_smoothing, _xo_args, ("x",), ("x", "out")),
    Refusal("store_and_atomic_race", store_and_neighbour_adds, _xo_args, ("x",), ("out",),
            match=r"both written plainly and added into"),
    Refusal("recursion", calls_recursive, _xo_args, ("x",), ("out",), at=power_recursive,
            match=r"recurs"),
    Refusal("scalar_in_wrt", scalar_by_value, _scalar_args, ("x", "alpha"), ("out",),
            match=r"alpha"),
    Refusal("try_block", uses_try, _xo_args, ("x",), ("out",)),
    Refusal("local_array_active", local_buffer, _local_args, ("x",), ("out",),
            maybe=MAYBE_REFUSED),
]
