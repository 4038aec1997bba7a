"""Fit the parameters (sigma, rho, beta) of the Lorenz system to noisy observations of a
trajectory with scipy.optimize.minimize: the model is an explicit Euler loop, its gradient
``s2sad.value_and_grad(loss, jit=True)`` goes straight in as ``jac=True``, its Hessian
(``s2sad.hessian``) as ``hess=`` and a Hessian-vector product (``s2sad.jvp`` of the gradient)
as ``hessp=``. Compared with the same fit on finite-difference gradients (SciPy's default).

    python examples/fit_lorenz.py            # the fits, their iterations and times
    python examples/fit_lorenz.py --steps 400
"""

import argparse
import time

import numpy as np
from scipy.optimize import minimize

import s2sad

TRUE = np.array([10.0, 28.0, 8.0 / 3.0])  # sigma, rho, beta
START = np.array([8.0, 25.0, 2.0])
X0 = np.array([1.0, 1.0, 20.0])
DT = 0.01


def loss(p, obs, x0, dt):
    """Mean squared distance between the Euler trajectory with parameters p and obs."""
    sigma = p[0]
    rho = p[1]
    beta = p[2]
    x = x0[0]
    y = x0[1]
    z = x0[2]
    total = 0.0
    for t in range(obs.shape[0]):
        dx = sigma * (y - x)
        dy = x * (rho - z) - y
        dz = x * y - beta * z
        x = x + dt * dx
        y = y + dt * dy
        z = z + dt * dz
        total += (x - obs[t, 0]) ** 2 + (y - obs[t, 1]) ** 2 + (z - obs[t, 2]) ** 2
    return total / obs.shape[0]


def trajectory(p, x0, dt, steps):
    out = np.empty((steps, 3))
    x, y, z = x0
    for t in range(steps):
        x, y, z = (x + dt * p[0] * (y - x), y + dt * (x * (p[1] - z) - y),
                   z + dt * (x * y - p[2] * z))
        out[t] = x, y, z
    return out


def observations(steps=150, noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    return trajectory(TRUE, X0, DT, steps) + noise * rng.standard_normal((steps, 3))


loss_and_grad = s2sad.value_and_grad(loss, jit=True)
loss_hessian = s2sad.hessian(loss, jit=True)
loss_grad = s2sad.grad(loss)


def loss_hessp(p, v, obs, x0, dt):
    """H(p) @ v without H: the forward-mode derivative of the gradient in direction v."""
    zeros = (np.zeros_like(obs), np.zeros_like(x0), 0.0)
    return s2sad.jvp(loss_grad, (p, obs, x0, dt), (v, *zeros), jit=True)[1]


def fits(obs):
    """Each way of fitting: {name: (scipy result, seconds)}; the first call of each compiled
    derivative is made before the clock starts (Numba compiles once, then caches; a second
    call builds the @njit entry that later calls go through)."""
    args = (obs, X0, DT)
    for _ in range(2):
        loss_and_grad(START, *args)
        loss_hessian(START, *args)
        loss_hessp(START, np.ones(3), *args)
    plain = _jitted_loss()
    plain(START, *args)
    runs = {
        "BFGS, s2sad gradient (jac=True)":
            lambda: minimize(loss_and_grad, START, args=args, jac=True, method="BFGS"),
        "BFGS, finite differences":
            lambda: minimize(plain, START, args=args, method="BFGS"),
        "trust-exact, s2sad hess=":
            lambda: minimize(loss_and_grad, START, args=args, jac=True, hess=loss_hessian,
                             method="trust-exact"),
        "Newton-CG, s2sad hessp=":
            lambda: minimize(loss_and_grad, START, args=args, jac=True, hessp=loss_hessp,
                             method="Newton-CG"),
    }
    out = {}
    for name, run in runs.items():
        t0 = time.perf_counter()
        res = run()
        out[name] = (res, time.perf_counter() - t0)
    return out


def _jitted_loss():
    """The loss itself under Numba, for the finite-difference fit (fair to it)."""
    import numba
    return numba.njit(cache=False)(loss)


def main(steps=150, verbose=True):
    obs = observations(steps)
    results = fits(obs)
    if verbose:
        print(f"Lorenz parameters from {steps} noisy observations; truth sigma, rho, beta = "
              f"{TRUE.round(4)}, start {START}")
        print(f"{'method':36} {'iterations':>10} {'evaluations':>11} {'time':>9}  result")
        for name, (res, secs) in results.items():
            evals = f"{res.nfev}+{res.njev}" if getattr(res, "njev", 0) else f"{res.nfev}"
            print(f"{name:36} {res.nit:>10} {evals:>11} {secs * 1e3:7.1f} ms  "
                  f"{np.array2string(res.x, precision=4)}  loss {res.fun:.4f}")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=150)
    main(ap.parse_args().steps)
