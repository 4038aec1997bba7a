"""Hand-written tangent and adjoint kernels for a few cases of tests/cuda_cases.py.

They follow the contract of issue 11 exactly (the kernel's own parameters, then one shadow array
per name in wrt ∪ outputs, in parameter order; shadow-memory semantics: a ``_bar`` holds dL/d(the
array after the launch) on entry and dL/d(the array before) on exit, a ``_dot`` the tangent before
on entry and after on exit). They serve twice:

* tests/test_cuda.py runs its harness on them to show that it passes correct kernels, and on the
  deliberately wrong ones in ``WRONG`` to show that it catches each mistake;
* bench/cuda.py times them against the generated kernels (they are the reference: keep them
  plain and readable).

``HAND_VJP``/``HAND_JVP`` map a case name to a launchable (``obj[griddim, blockdim](*args)``,
with an optional stream, as a kernel is). ``WRONG`` maps a label to (case name, mode, launchable).
"""

import math

import numpy as np

if not hasattr(np, "row_stack"):  # numba-cuda 0.30.4 still calls it; NumPy 2.5 removed it
    np.row_stack = np.vstack

from numba import cuda

# ---------------------------------------------------------------- sin(x)·exp(-x²)


@cuda.jit
def sin_exp_vjp(x, out, x_bar, out_bar):
    i = cuda.grid(1)
    if i < x.shape[0]:
        xi = x[i]
        e = math.exp(-xi * xi)
        ob = out_bar[i]
        out_bar[i] = 0.0  # out is overwritten: its old value does not matter
        x_bar[i] += ob * e * (math.cos(xi) - 2.0 * xi * math.sin(xi))  # i is this thread's own


@cuda.jit
def sin_exp_jvp(x, out, x_dot, out_dot):
    i = cuda.grid(1)
    if i < x.shape[0]:
        xi = x[i]
        e = math.exp(-xi * xi)
        out[i] = math.sin(xi) * e
        out_dot[i] = e * (math.cos(xi) - 2.0 * xi * math.sin(xi)) * x_dot[i]


# ---------------------------------------------------------------- 3-point stencil, wrt x only
#   out[i] = w0 x[i-1] x[i+1] + sin(x[i]) - w1 (x[i+1] - 2 x[i] + x[i-1]),  1 <= i < n-1
#   d out[i]/d x[i-1] = w0 x[i+1] - w1,  d/d x[i] = cos(x[i]) + 2 w1,  d/d x[i+1] = w0 x[i-1] - w1


@cuda.jit
def stencil3_vjp_atomic(x, w, out, x_bar, out_bar):
    """Scatter: thread i sends out_bar[i] to x[i-1], x[i], x[i+1]; neighbours collide, hence
    the atomics."""
    i = cuda.grid(1)
    n = x.shape[0]
    if i >= 1 and i < n - 1:
        ob = out_bar[i]
        out_bar[i] = 0.0
        cuda.atomic.add(x_bar, i - 1, ob * (w[0] * x[i + 1] - w[1]))
        cuda.atomic.add(x_bar, i, ob * (math.cos(x[i]) + 2.0 * w[1]))
        cuda.atomic.add(x_bar, i + 1, ob * (w[0] * x[i - 1] - w[1]))


@cuda.jit
def _stencil3_gather(x, w, out, x_bar, out_bar):
    """Gather: thread j collects what out[j-1], out[j], out[j+1] owe x[j]; no atomics. It cannot
    zero out_bar itself (a neighbour may not have read it yet): _zero_interior does, after."""
    j = cuda.grid(1)
    n = x.shape[0]
    if j < n:
        acc = 0.0
        if j >= 2:  # out[j-1] reads x[j] as its x[i+1]
            acc += out_bar[j - 1] * (w[0] * x[j - 2] - w[1])
        if j >= 1 and j < n - 1:
            acc += out_bar[j] * (math.cos(x[j]) + 2.0 * w[1])
        if j < n - 2:  # out[j+1] reads x[j] as its x[i-1]
            acc += out_bar[j + 1] * (w[0] * x[j + 2] - w[1])
        x_bar[j] += acc


@cuda.jit
def _zero_interior(out_bar):
    i = cuda.grid(1)
    if i >= 1 and i < out_bar.shape[0] - 1:
        out_bar[i] = 0.0


class _Launcher:
    """``obj[griddim, blockdim(, stream)](*args)`` as a kernel launches, for hand-written
    adjoints made of several kernels or needing a tape."""

    def __init__(self, run):
        self._run = run

    def __getitem__(self, config):
        config = tuple(config)
        griddim, blockdim = config[0], config[1]
        stream = config[2] if len(config) > 2 else 0
        return lambda *args: self._run(griddim, blockdim, stream, args)


def _gather_run(griddim, blockdim, stream, args):
    x, w, out, x_bar, out_bar = args
    _stencil3_gather[griddim, blockdim, stream](x, w, out, x_bar, out_bar)
    _zero_interior[griddim, blockdim, stream](out_bar)


stencil3_vjp_gather = _Launcher(_gather_run)


@cuda.jit
def stencil3_jvp(x, w, out, x_dot, out_dot):
    i = cuda.grid(1)
    n = x.shape[0]
    if i >= 1 and i < n - 1:
        out[i] = w[0] * x[i - 1] * x[i + 1] + math.sin(x[i]) - w[1] * (x[i + 1] - 2.0 * x[i] + x[i - 1])
        out_dot[i] = ((w[0] * x[i + 1] - w[1]) * x_dot[i - 1] + (math.cos(x[i]) + 2.0 * w[1]) * x_dot[i]
                      + (w[0] * x[i - 1] - w[1]) * x_dot[i + 1])


# ---------------------------------------------------------------- ensemble Lorenz, tape in global memory


@cuda.jit
def _lorenz_vjp_taped(params, state0, nsteps, dt, out, params_bar, state0_bar, out_bar, tape):
    """Forward sweep: record (x, y, z) before each step in tape[3 s + c, t] (consecutive threads,
    consecutive addresses). Reverse sweep: read them back, last step first."""
    t = cuda.grid(1)
    if t < state0.shape[1]:
        sigma = params[0]
        rho = params[1]
        beta = params[2]
        x = state0[0, t]
        y = state0[1, t]
        z = state0[2, t]
        for s in range(nsteps):
            tape[3 * s, t] = x
            tape[3 * s + 1, t] = y
            tape[3 * s + 2, t] = z
            dx = sigma * (y - x)
            dy = x * (rho - z) - y
            dz = x * y - beta * z
            x = x + dt * dx
            y = y + dt * dy
            z = z + dt * dz
        ob = out_bar[t]
        out_bar[t] = 0.0
        xb = 2.0 * x * ob
        yb = 2.0 * y * ob
        zb = 2.0 * z * ob
        sigma_b = 0.0
        rho_b = 0.0
        beta_b = 0.0
        for s in range(nsteps - 1, -1, -1):
            x = tape[3 * s, t]
            y = tape[3 * s + 1, t]
            z = tape[3 * s + 2, t]
            sigma_b += xb * dt * (y - x)
            rho_b += yb * dt * x
            beta_b -= zb * dt * z
            xb, yb, zb = (xb * (1.0 - dt * sigma) + yb * dt * (rho - z) + zb * dt * y,
                          xb * dt * sigma + yb * (1.0 - dt) + zb * dt * x,
                          -yb * dt * x + zb * (1.0 - dt * beta))
        state0_bar[0, t] += xb
        state0_bar[1, t] += yb
        state0_bar[2, t] += zb
        cuda.atomic.add(params_bar, 0, sigma_b)  # every thread shares the parameters
        cuda.atomic.add(params_bar, 1, rho_b)
        cuda.atomic.add(params_bar, 2, beta_b)


class _LorenzTaped(_Launcher):
    """Allocates the tape (3·nsteps rows × members, the launch's dtype) on the first launch and
    reuses it while it is big enough."""

    def __init__(self):
        super().__init__(self._launch)
        self.tape = None
        self.allocations = 0

    def _launch(self, griddim, blockdim, stream, args):
        state0, nsteps = args[1], args[2]
        shape = (3 * nsteps, state0.shape[1])
        if (self.tape is None or self.tape.dtype != state0.dtype or self.tape.shape[0] < shape[0]
                or self.tape.shape[1] != shape[1]):
            self.tape = cuda.device_array(shape, dtype=state0.dtype)
            self.allocations += 1
        _lorenz_vjp_taped[griddim, blockdim, stream](*args, self.tape)


lorenz_vjp = _LorenzTaped()


@cuda.jit
def lorenz_jvp(params, state0, nsteps, dt, out, params_dot, state0_dot, out_dot):
    t = cuda.grid(1)
    if t < state0.shape[1]:
        sigma = params[0]
        rho = params[1]
        beta = params[2]
        sigma_d = params_dot[0]
        rho_d = params_dot[1]
        beta_d = params_dot[2]
        x = state0[0, t]
        y = state0[1, t]
        z = state0[2, t]
        xd = state0_dot[0, t]
        yd = state0_dot[1, t]
        zd = state0_dot[2, t]
        for s in range(nsteps):
            dxd = sigma_d * (y - x) + sigma * (yd - xd)
            dyd = xd * (rho - z) + x * (rho_d - zd) - yd
            dzd = xd * y + x * yd - beta_d * z - beta * zd
            dx = sigma * (y - x)
            dy = x * (rho - z) - y
            dz = x * y - beta * z
            x = x + dt * dx
            y = y + dt * dy
            z = z + dt * dz
            xd = xd + dt * dxd
            yd = yd + dt * dyd
            zd = zd + dt * dzd
        out[t] = x * x + y * y + z * z
        out_dot[t] = 2.0 * (x * xd + y * yd + z * zd)


# ---------------------------------------------------------------- in-place, accumulation, partial writes


@cuda.jit
def inplace_vjp(x, c, x_bar, c_bar):
    """x[i] = sin(x[i]) c[i] + x[i]²: on exit x_bar holds dL/d(old x), so it is replaced, not
    accumulated into."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        xi = x[i]
        xb = x_bar[i]
        c_bar[i] += xb * math.sin(xi)
        x_bar[i] = xb * (math.cos(xi) * c[i] + 2.0 * xi)


@cuda.jit
def inplace_jvp(x, c, x_dot, c_dot):
    i = cuda.grid(1)
    if i < x.shape[0]:
        xi = x[i]
        x[i] = math.sin(xi) * c[i] + xi * xi
        x_dot[i] = (math.cos(xi) * c[i] + 2.0 * xi) * x_dot[i] + math.sin(xi) * c_dot[i]


@cuda.jit
def accumulate_vjp(x, y, a, acc, out, x_bar, y_bar, a_bar, acc_bar, out_bar):
    """out[i] += ... and atomic adds into acc: both pass their adjoints through unchanged; the
    primal atomic's adjoint is a gather from acc_bar."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        ob = out_bar[i]
        ab = acc_bar[i % 3]
        x_bar[i] += ob * a[0] * y[i] + ab * math.sin(y[i])
        y_bar[i] += ob * a[0] * x[i] + ab * x[i] * math.cos(y[i])
        cuda.atomic.add(a_bar, 0, ob * x[i] * y[i])


@cuda.jit
def accumulate_jvp(x, y, a, acc, out, x_dot, y_dot, a_dot, acc_dot, out_dot):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] += a[0] * x[i] * y[i]
        out_dot[i] += a_dot[0] * x[i] * y[i] + a[0] * (x_dot[i] * y[i] + x[i] * y_dot[i])
        cuda.atomic.add(acc, i % 3, x[i] * math.sin(y[i]))
        cuda.atomic.add(acc_dot, i % 3, x_dot[i] * math.sin(y[i]) + x[i] * math.cos(y[i]) * y_dot[i])


@cuda.jit
def partial_output_vjp(x, out, x_bar, out_bar):
    i = cuda.grid(1)
    if i < x.shape[0] and x[i] > 0.0:
        xi = x[i]
        ob = out_bar[i]
        out_bar[i] = 0.0  # consumed only where the primal wrote
        x_bar[i] += ob * (0.5 / math.sqrt(xi) * math.sin(3.0 * xi) + 3.0 * math.sqrt(xi) * math.cos(3.0 * xi))


@cuda.jit
def partial_output_jvp(x, out, x_dot, out_dot):
    i = cuda.grid(1)
    if i < x.shape[0] and x[i] > 0.0:
        xi = x[i]
        out[i] = math.sqrt(xi) * math.sin(3.0 * xi)
        out_dot[i] = (0.5 / math.sqrt(xi) * math.sin(3.0 * xi)
                      + 3.0 * math.sqrt(xi) * math.cos(3.0 * xi)) * x_dot[i]


HAND_VJP = {
    "sin_exp": sin_exp_vjp,
    "stencil3_x": stencil3_vjp_atomic,
    "lorenz_ensemble": lorenz_vjp,
    "inplace": inplace_vjp,
    "accumulate": accumulate_vjp,
    "partial_output": partial_output_vjp,
}
HAND_VJP_GATHER = {"stencil3_x": stencil3_vjp_gather}
HAND_JVP = {
    "sin_exp": sin_exp_jvp,
    "stencil3_x": stencil3_jvp,
    "lorenz_ensemble": lorenz_jvp,
    "inplace": inplace_jvp,
    "accumulate": accumulate_jvp,
    "partial_output": partial_output_jvp,
}


# ---------------------------------------------------------------- deliberately wrong (the harness must fail them)


@cuda.jit
def _sin_exp_vjp_keeps_out_bar(x, out, x_bar, out_bar):
    """Forgets to zero the adjoint of the overwritten output."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        xi = x[i]
        x_bar[i] += out_bar[i] * math.exp(-xi * xi) * (math.cos(xi) - 2.0 * xi * math.sin(xi))


@cuda.jit
def _sin_exp_jvp_drops_a_term(x, out, x_dot, out_dot):
    """d/dx of exp(-x²) forgotten."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        xi = x[i]
        out_dot[i] = math.exp(-xi * xi) * math.cos(xi) * x_dot[i]


@cuda.jit
def _inplace_vjp_accumulates(x, c, x_bar, c_bar):
    """Treats the in-place update as if x were input only: x_bar keeps dL/d(new x)."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        xi = x[i]
        xb = x_bar[i]
        c_bar[i] += xb * math.sin(xi)
        x_bar[i] += xb * (math.cos(xi) * c[i] + 2.0 * xi)


@cuda.jit
def _accumulate_vjp_consumes(x, y, a, acc, out, x_bar, y_bar, a_bar, acc_bar, out_bar):
    """Treats out[i] += ... as an overwrite: zeroes out_bar instead of passing it through."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        ob = out_bar[i]
        out_bar[i] = 0.0
        ab = acc_bar[i % 3]
        x_bar[i] += ob * a[0] * y[i] + ab * math.sin(y[i])
        y_bar[i] += ob * a[0] * x[i] + ab * x[i] * math.cos(y[i])
        cuda.atomic.add(a_bar, 0, ob * x[i] * y[i])


@cuda.jit
def _partial_output_vjp_zeroes_all(x, out, x_bar, out_bar):
    """Zeroes out_bar also where the primal did not write out."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        ob = out_bar[i]
        out_bar[i] = 0.0
        if x[i] > 0.0:
            xi = x[i]
            x_bar[i] += ob * (0.5 / math.sqrt(xi) * math.sin(3.0 * xi) + 3.0 * math.sqrt(xi) * math.cos(3.0 * xi))


@cuda.jit
def _stencil3_vjp_own_only(x, w, out, x_bar, out_bar):
    """Sends each thread's adjoint to x[i] alone, as if the stencil were elementwise."""
    i = cuda.grid(1)
    n = x.shape[0]
    if i >= 1 and i < n - 1:
        ob = out_bar[i]
        out_bar[i] = 0.0
        x_bar[i] += ob * (math.cos(x[i]) + 2.0 * w[1])


@cuda.jit
def _lorenz_jvp_forgets_params(params, state0, nsteps, dt, out, params_dot, state0_dot, out_dot):
    """Propagates the tangent of the initial state but not of the parameters."""
    t = cuda.grid(1)
    if t < state0.shape[1]:
        sigma = params[0]
        rho = params[1]
        beta = params[2]
        x = state0[0, t]
        y = state0[1, t]
        z = state0[2, t]
        xd = state0_dot[0, t]
        yd = state0_dot[1, t]
        zd = state0_dot[2, t]
        for s in range(nsteps):
            dxd = sigma * (yd - xd)
            dyd = xd * (rho - z) - x * zd - yd
            dzd = xd * y + x * yd - beta * zd
            x, y, z = x + dt * sigma * (y - x), y + dt * (x * (rho - z) - y), z + dt * (x * y - beta * z)
            xd = xd + dt * dxd
            yd = yd + dt * dyd
            zd = zd + dt * dzd
        out_dot[t] = 2.0 * (x * xd + y * yd + z * zd)


@cuda.jit
def _stencil3_vjp_no_atomics(x, w, out, x_bar, out_bar):
    """Scatters to the neighbours with plain +=: threads i-1, i, i+1 race on x_bar[i]."""
    i = cuda.grid(1)
    n = x.shape[0]
    if i >= 1 and i < n - 1:
        ob = out_bar[i]
        out_bar[i] = 0.0
        x_bar[i - 1] += ob * (w[0] * x[i + 1] - w[1])
        x_bar[i] += ob * (math.cos(x[i]) + 2.0 * w[1])
        x_bar[i + 1] += ob * (w[0] * x[i - 1] - w[1])


@cuda.jit
def _stencil3_vjp_own_plain(x, w, out, x_bar, out_bar):
    """Atomics for the neighbours, but a plain += at the thread's own x_bar[i], which the
    neighbours' atomics also update: an atomic is atomic only against other atomics."""
    i = cuda.grid(1)
    n = x.shape[0]
    if i >= 1 and i < n - 1:
        ob = out_bar[i]
        out_bar[i] = 0.0
        cuda.atomic.add(x_bar, i - 1, ob * (w[0] * x[i + 1] - w[1]))
        x_bar[i] += ob * (math.cos(x[i]) + 2.0 * w[1])
        cuda.atomic.add(x_bar, i + 1, ob * (w[0] * x[i - 1] - w[1]))


# Right values (most of the time), wrong kernels: only tests/cuda_races.py sees them.
RACY = {
    "vjp scatters without atomics": ("stencil3_x", _stencil3_vjp_no_atomics),
    "vjp mixes a plain += with atomics on one array": ("stencil3_x", _stencil3_vjp_own_plain),
}

WRONG = {
    "vjp keeps an overwritten output's adjoint": ("sin_exp", "vjp", _sin_exp_vjp_keeps_out_bar),
    "jvp drops a term": ("sin_exp", "jvp", _sin_exp_jvp_drops_a_term),
    "vjp accumulates into an in-place array": ("inplace", "vjp", _inplace_vjp_accumulates),
    "vjp consumes an accumulated output": ("accumulate", "vjp", _accumulate_vjp_consumes),
    "vjp zeroes where nothing was written": ("partial_output", "vjp", _partial_output_vjp_zeroes_all),
    "vjp misses the neighbours of a stencil": ("stencil3_x", "vjp", _stencil3_vjp_own_only),
    "jvp forgets the parameters' tangent": ("lorenz_ensemble", "jvp", _lorenz_jvp_forgets_params),
}
