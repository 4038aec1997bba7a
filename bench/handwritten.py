"""Hand-written reverse-mode adjoints of the benchmark problems: the "reference limit".

Plain Python functions; ``HAND`` holds their Numba-compiled versions keyed by problem name.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.extending import register_jitable

from .problems import log_wishart_prior, logsumexp


def rosenbrock_grad(x):
    """Gradient of ``problems.rosenbrock``."""
    n = x.shape[0]
    g = np.empty(n)
    # One pass writing each g[i] once: term i-1 contributes 200 t_{i-1} to g[i], carried in prev.
    prev = 0.0
    for i in range(n - 1):
        t = x[i + 1] - x[i] * x[i]
        g[i] = prev - 400.0 * x[i] * t - 2.0 * (1.0 - x[i])
        prev = 200.0 * t
    g[n - 1] = prev
    return g


def lorenz_grad(state0, params, nsteps, dt):
    """``problems.lorenz`` and its gradient: ``(value, g_state0, g_params)``."""
    sigma = params[0]
    rho = params[1]
    beta = params[2]
    # Forward sweep, keeping the state at the start of every step.
    traj = np.empty((nsteps, 3))
    x = state0[0]
    y = state0[1]
    z = state0[2]
    for s in range(nsteps):
        traj[s, 0] = x
        traj[s, 1] = y
        traj[s, 2] = z
        x, y, z = (x + dt * sigma * (y - x),
                   y + dt * (x * (rho - z) - y),
                   z + dt * (x * y - beta * z))
    value = x * x + y * y + z * z

    # Reverse sweep: (ax, ay, az) is the adjoint of the state after step s.
    ax = 2.0 * x
    ay = 2.0 * y
    az = 2.0 * z
    a_sigma = 0.0
    a_rho = 0.0
    a_beta = 0.0
    for s in range(nsteps - 1, -1, -1):
        x = traj[s, 0]
        y = traj[s, 1]
        z = traj[s, 2]
        a_sigma += dt * ax * (y - x)
        a_rho += dt * ay * x
        a_beta -= dt * az * z
        ax, ay, az = (ax - dt * sigma * ax + dt * (rho - z) * ay + dt * y * az,
                      ay + dt * sigma * ax - dt * ay + dt * x * az,
                      az - dt * x * ay - dt * beta * az)

    g_state0 = np.empty(3)
    g_state0[0] = ax
    g_state0[1] = ay
    g_state0[2] = az
    g_params = np.empty(3)
    g_params[0] = a_sigma
    g_params[1] = a_rho
    g_params[2] = a_beta
    return value, g_state0, g_params


def _tril_index(d, row, col):
    """Position in icf[k] of L[row, col] (row > col): L is packed column by column after the
    d log-diagonal entries."""
    return d + col * (2 * d - col - 1) // 2 + row - col - 1


def _gmm_forward_point(x, i, means, icf, k, d, xc, qx):
    """alpha-free part of the GMM inner term for point i, component k, keeping x_i - mean_k in
    xc[k] and Q_k (x_i - mean_k) in qx[k] for the reverse sweep."""
    for j in range(d):
        xc[k, j] = x[i, j] - means[k, j]
    logdet = 0.0
    sq = 0.0
    for j in range(d):
        logdet += icf[k, j]
        s = math.exp(icf[k, j]) * xc[k, j]
        for c in range(j):
            s += icf[k, _tril_index(d, j, c)] * xc[k, c]
        qx[k, j] = s
        sq += s * s
    return logdet - 0.5 * sq


def _gmm_reverse_point(w, k, d, icf, xc, qx, g_means, g_icf):
    """Accumulate w * d(inner_k)/d(means[k], icf[k]) for one point (w = its softmax weight)."""
    for j in range(d):
        q = math.exp(icf[k, j])
        g_icf[k, j] += w * (1.0 - qx[k, j] * q * xc[k, j])
        # d inner / d mean = Q^T Q (x - mean): the diagonal part, then the L part below.
        g_means[k, j] += w * q * qx[k, j]
        for c in range(j):
            idx = _tril_index(d, j, c)
            g_icf[k, idx] -= w * qx[k, j] * xc[k, c]
            g_means[k, c] += w * icf[k, idx] * qx[k, j]


def _wishart_prior_grad(icf, d, wishart_gamma, wishart_m, g_icf):
    g2 = wishart_gamma * wishart_gamma
    for k in range(icf.shape[0]):
        for j in range(d):
            q = math.exp(icf[k, j])
            g_icf[k, j] += g2 * q * q - wishart_m
        for j in range(d, icf.shape[1]):
            g_icf[k, j] += g2 * icf[k, j]


def gmm_grad(alphas, means, icf, x, wishart_gamma, wishart_m):
    """``problems.gmm_objective`` and its gradient: ``(value, g_alphas, g_means, g_icf)``."""
    n = x.shape[0]
    d = x.shape[1]
    K = alphas.shape[0]
    g_alphas = np.zeros(K)
    g_means = np.zeros((K, d))
    g_icf = np.zeros((K, icf.shape[1]))
    inner = np.empty(K)
    xc = np.empty((K, d))
    qx = np.empty((K, d))

    slse = 0.0
    for i in range(n):
        for k in range(K):
            inner[k] = alphas[k] + _gmm_forward_point(x, i, means, icf, k, d, xc, qx)
        lse = logsumexp(inner)
        slse += lse
        for k in range(K):
            w = math.exp(inner[k] - lse)
            g_alphas[k] += w
            _gmm_reverse_point(w, k, d, icf, xc, qx, g_means, g_icf)

    lse_alphas = logsumexp(alphas)
    for k in range(K):
        g_alphas[k] -= n * math.exp(alphas[k] - lse_alphas)
    _wishart_prior_grad(icf, d, wishart_gamma, wishart_m, g_icf)

    value = (-0.5 * n * d * math.log(2.0 * math.pi) + slse - n * lse_alphas
             + log_wishart_prior(icf, d, wishart_gamma, wishart_m))
    return value, g_alphas, g_means, g_icf


def mlp_grad(x, W1, b1, W2, b2, y):
    """``problems.mlp_loss`` and its gradient: ``(value, gW1, gb1, gW2, gb2)``."""
    h = np.tanh(np.dot(x, W1) + b1)
    r = np.dot(h, W2) + b2 - y
    count = y.shape[0] * y.shape[1]
    value = np.sum(r * r) / count

    d_out = (2.0 / count) * r
    gW2 = np.dot(h.T, d_out)
    gb2 = np.sum(d_out, axis=0)
    d_pre = np.dot(d_out, W2.T) * (1.0 - h * h)
    gW1 = np.dot(x.T, d_pre)
    gb1 = np.sum(d_pre, axis=0)
    return value, gW1, gb1, gW2, gb2


for _helper in (_tril_index, _gmm_forward_point, _gmm_reverse_point, _wishart_prior_grad):
    register_jitable(_helper)

HAND = {
    "rosenbrock": njit(rosenbrock_grad),
    "lorenz": njit(lorenz_grad),
    "gmm": njit(gmm_grad),
    "mlp": njit(mlp_grad),
}


@njit(cache=False)
def tiny_scalar_grad(x):
    return 6.0 * x + math.cos(x)


@njit(cache=False)
def tiny_vec2_grad(x):
    g = np.empty(2)
    g[0] = 2.0 * x[0] * x[1]
    g[1] = x[0] * x[0] + math.cos(x[1])
    return g


TINY_HAND = {"scalar": tiny_scalar_grad, "vec2": tiny_vec2_grad}
