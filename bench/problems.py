"""Benchmark objectives, written the way a scientist writes loop code.

Every objective (and the module-level helpers it calls) sticks to the subset s2sad is meant to
differentiate: float/int scalars, 1-D/2-D float64 arrays, ``for i in range(...)``, ``if/else``,
``math.*`` on scalars, a few numpy calls, element indexing and in-place element writes.
Each objective also compiles unchanged with ``numba.njit``.

Problems (``make_inputs(name, seed)`` builds the benchmark-size arguments):

=============  ===========================================  ===================================
name           function                                     benchmark size
=============  ===========================================  ===================================
rosenbrock     rosenbrock(x)                                n = 10**5
lorenz         lorenz(state0, params, nsteps, dt)           nsteps = 1000, dt = 0.01
gmm            gmm_objective(alphas, means, icf, x, g, m)   ADBench gmm_d10_K25_1k (n = 1000)
mlp            mlp_loss(x, W1, b1, W2, b2, y)               batch 64, in 32, hidden 64, out 8
=============  ===========================================  ===================================

Vectorized problems (``VECTORIZED``; issue 15): NumPy array code as JAX users write it, which
Numba cannot compile as it is (axis reductions, ``keepdims``, stacks of matrices):

=============  ===========================================  ===================================
gmm_vec        gmm_vec(alphas, means, icf, x, tril, g, m)   the gmm data, vectorized
attention      multi_head_attention(x, wq, wk, wv, wo, y)   n 128, model 64, 4 heads of 16
=============  ===========================================  ===================================
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from .adbench_io import gmm_path, load_gmm


def rosenbrock(x):
    """Extended Rosenbrock: sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2."""
    total = 0.0
    for i in range(x.shape[0] - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def lorenz(state0, params, nsteps, dt):
    """Lorenz-63 integrated with explicit Euler; returns the squared norm of the final state.

    state0 = (x, y, z) at t = 0, params = (sigma, rho, beta). The loss is x^2 + y^2 + z^2 after
    ``nsteps`` steps of size ``dt``.
    """
    sigma = params[0]
    rho = params[1]
    beta = params[2]
    x = state0[0]
    y = state0[1]
    z = state0[2]
    for step in range(nsteps):
        dx = sigma * (y - x)
        dy = x * (rho - z) - y
        dz = x * y - beta * z
        x = x + dt * dx
        y = y + dt * dy
        z = z + dt * dz
    return x * x + y * y + z * z


def logsumexp(v):
    """log(sum(exp(v))) of a 1-D array, shifted by the max so that it cannot overflow."""
    vmax = v[0]
    for k in range(1, v.shape[0]):
        if v[k] > vmax:
            vmax = v[k]
    s = 0.0
    for k in range(v.shape[0]):
        s += math.exp(v[k] - vmax)
    return vmax + math.log(s)


def sum_log_diag(icf, k, d):
    """log det Q_k: the sum of the log-diagonal entries icf[k, :d]."""
    s = 0.0
    for j in range(d):
        s += icf[k, j]
    return s


def sq_mahalanobis(x, i, means, icf, k, d):
    """||Q_k (x_i - mean_k)||^2 with Q_k = diag(exp(icf[k, :d])) + L_k, L_k strictly lower."""
    total = 0.0
    for j in range(d):
        qx = math.exp(icf[k, j]) * (x[i, j] - means[k, j])
        for c in range(j):
            # L_k[j, c] sits at icf[k, idx]: L is packed column by column after the diagonal.
            idx = d + c * (2 * d - c - 1) // 2 + j - c - 1
            qx += icf[k, idx] * (x[i, c] - means[k, c])
        total += qx * qx
    return total


def multigammaln(a, p):
    """log of the multivariate gamma function Gamma_p(a)."""
    s = 0.25 * p * (p - 1) * math.log(math.pi)
    for j in range(1, p + 1):
        s += math.lgamma(a + 0.5 * (1 - j))
    return s


def log_wishart_prior(icf, d, wishart_gamma, wishart_m):
    """ADBench's Wishart prior on the precision factors, including its constant."""
    K = icf.shape[0]
    g2 = wishart_gamma * wishart_gamma
    total = 0.0
    for k in range(K):
        for j in range(d):
            q = math.exp(icf[k, j])
            total += 0.5 * g2 * q * q - wishart_m * icf[k, j]
        for j in range(d, icf.shape[1]):
            total += 0.5 * g2 * icf[k, j] * icf[k, j]
    dof = d + wishart_m + 1
    c = dof * d * (math.log(wishart_gamma) - 0.5 * math.log(2.0)) - multigammaln(0.5 * dof, d)
    return total - K * c


def gmm_objective(alphas, means, icf, x, wishart_gamma, wishart_m):
    """The ADBench GMM objective (formula in the data directory's README).

    sum_i logsumexp_k(alpha_k + log det Q_k - ||Q_k (x_i - mean_k)||^2 / 2) - n logsumexp(alpha)
    + Wishart prior + the Gaussian normalisation constant.
    """
    n = x.shape[0]
    d = x.shape[1]
    K = alphas.shape[0]
    inner = np.zeros(K)
    slse = 0.0
    for i in range(n):
        for k in range(K):
            inner[k] = (alphas[k] + sum_log_diag(icf, k, d)
                        - 0.5 * sq_mahalanobis(x, i, means, icf, k, d))
        slse += logsumexp(inner)
    const = -0.5 * n * d * math.log(2.0 * math.pi)
    return (const + slse - n * logsumexp(alphas)
            + log_wishart_prior(icf, d, wishart_gamma, wishart_m))


def mlp_loss(x, W1, b1, W2, b2, y):
    """Mean squared error of a tanh MLP: out = tanh(x W1 + b1) W2 + b2, averaged over all entries."""
    h = np.tanh(np.dot(x, W1) + b1)
    out = np.dot(h, W2) + b2
    r = out - y
    return np.sum(r * r) / (y.shape[0] * y.shape[1])


def gmm_vec(alphas, means, icf, x, tril, wishart_gamma, wishart_m):
    """The ADBench GMM objective of ``gmm_objective``, vectorized over points and components as
    in ADBench's JAX and PyTorch modules: the centred points are a (K, n, d) array, Q_k (x_i -
    mean_k) one batched matmul, the packed lower triangles L_k unpacked by the constant 0/1
    matrix ``tril`` (``tril_scatter(d)``), logsumexp over components shifted by their max."""
    n = x.shape[0]
    d = x.shape[1]
    K = alphas.shape[0]
    logdiag = icf[:, :d]
    qdiag = np.exp(logdiag)
    sum_qs = np.sum(logdiag, axis=1)
    Ls = np.reshape(np.dot(icf[:, d:], tril), (K, d, d))
    xc = x[None, :, :] - means[:, None, :]  # (K, n, d)
    qx = qdiag[:, None, :] * xc + np.matmul(xc, np.transpose(Ls, (0, 2, 1)))
    inner = (alphas + sum_qs)[:, None] - 0.5 * np.sum(qx * qx, axis=2)  # (K, n)
    top = np.max(inner, axis=0, keepdims=True)
    slse = np.sum(top) + np.sum(np.log(np.sum(np.exp(inner - top), axis=0)))
    amax = np.max(alphas)
    lse_alphas = amax + np.log(np.sum(np.exp(alphas - amax)))
    g2 = wishart_gamma * wishart_gamma
    prior = (0.5 * g2 * (np.sum(qdiag * qdiag) + np.sum(icf[:, d:] * icf[:, d:]))
             - wishart_m * np.sum(sum_qs))
    dof = d + wishart_m + 1
    c = dof * d * (math.log(wishart_gamma) - 0.5 * math.log(2.0)) - multigammaln(0.5 * dof, d)
    const = -0.5 * n * d * math.log(2.0 * math.pi)
    return const + slse - n * lse_alphas + prior - K * c


def tril_scatter(d):
    """(d(d-1)/2, d*d) 0/1 matrix S with (icf[k, d:] @ S).reshape(d, d) = L_k (strictly lower,
    packed column by column as in ``sq_mahalanobis``)."""
    S = np.zeros((d * (d - 1) // 2, d * d))
    for c in range(d):
        for j in range(c + 1, d):
            S[c * (2 * d - c - 1) // 2 + j - c - 1, j * d + c] = 1.0
    return S


def multi_head_attention(x, wq, wk, wv, wo, y):
    """Mean squared error of multi-head self-attention: per head (wq, wk, wv: (h, model, head))
    softmax(q k^T / sqrt(head)) v, max-shifted over keepdims, projected back by wo (h, head,
    model) and summed over the heads (a concatenation followed by one projection)."""
    q = np.matmul(x[None], wq)  # (h, n, head)
    k = np.matmul(x[None], wk)
    v = np.matmul(x[None], wv)
    s = np.matmul(q, np.transpose(k, (0, 2, 1))) / np.sqrt(wq.shape[2])  # (h, n, n)
    s = s - np.max(s, axis=-1, keepdims=True)
    p = np.exp(s)
    p = p / np.sum(p, axis=-1, keepdims=True)
    out = np.sum(np.matmul(np.matmul(p, v), wo), axis=0)  # (n, model)
    r = out - y
    return np.sum(r * r) / r.size


# Numba must know the helpers to compile the objectives that call them. register_jitable leaves
# each one a plain Python function (s2sad reads its source), so it is called, not used as a
# decorator.
for _helper in (logsumexp, sum_log_diag, sq_mahalanobis, multigammaln, log_wishart_prior):
    register_jitable(_helper)


PROBLEMS = {
    "rosenbrock": rosenbrock,
    "lorenz": lorenz,
    "gmm": gmm_objective,
    "mlp": mlp_loss,
}

VECTORIZED = {
    "gmm_vec": gmm_vec,
    "attention": multi_head_attention,
}

# Positions of the arguments the gradient is taken with respect to.
WRT = {
    "rosenbrock": (0,),
    "lorenz": (0, 1),
    "gmm": (0, 1, 2),
    "mlp": (1, 2, 3, 4),
    "gmm_vec": (0, 1, 2),
    "attention": (1, 2, 3, 4),
}

GMM_BENCH_FILE = "gmm_d10_K25_1k.txt"
GMM_TEST_FILE = "gmm_d2_K3_test.txt"

MLP_SIZES = {"bench": (64, 32, 64, 8), "small": (5, 3, 4, 2)}  # batch, in, hidden, out
ATTENTION_SIZES = {"bench": (128, 64, 4, 16), "small": (5, 6, 2, 3)}  # tokens, model, heads, head


def make_inputs(name, seed=0, small=False):
    """The argument tuple of problem ``name``, deterministic in ``seed``.

    ``small=True`` gives the tiny instances the tests use (rosenbrock n = 7, lorenz 20 steps, the
    ADBench d=2 K=3 test instance, a 5x3 -> 4 -> 2 MLP). The GMM data come from files, so
    ``seed`` does not change them.
    """
    rng = np.random.default_rng(seed)
    if name == "rosenbrock":
        return (rng.uniform(-1.5, 1.5, 7 if small else 10**5),)
    if name == "lorenz":
        state0 = np.array([1.0, 1.0, 1.0]) + 0.1 * rng.standard_normal(3)
        params = np.array([10.0, 28.0, 8.0 / 3.0])
        return state0, params, 20 if small else 1000, 0.01
    if name == "gmm":
        return load_gmm(gmm_path(GMM_TEST_FILE if small else GMM_BENCH_FILE))
    if name == "mlp":
        return _mlp_inputs(rng, *MLP_SIZES["small" if small else "bench"])
    if name == "gmm_vec":
        alphas, means, icf, x, gamma, m = make_inputs("gmm", seed, small)
        return alphas, means, icf, x, tril_scatter(x.shape[1]), gamma, m
    if name == "attention":
        return _attention_inputs(rng, *ATTENTION_SIZES["small" if small else "bench"])
    raise KeyError(f"unknown problem {name!r}; known: {', '.join([*PROBLEMS, *VECTORIZED])}")


def _mlp_inputs(rng, batch, n_in, hidden, n_out):
    x = rng.standard_normal((batch, n_in))
    W1 = rng.standard_normal((n_in, hidden)) / math.sqrt(n_in)
    b1 = 0.1 * rng.standard_normal(hidden)
    W2 = rng.standard_normal((hidden, n_out)) / math.sqrt(hidden)
    b2 = 0.1 * rng.standard_normal(n_out)
    y = rng.standard_normal((batch, n_out))
    return x, W1, b1, W2, b2, y


def _attention_inputs(rng, n, model, heads, head):
    x = rng.standard_normal((n, model))
    w = [rng.standard_normal((heads, model, head)) / math.sqrt(model) for _ in range(3)]
    wo = rng.standard_normal((heads, head, model)) / math.sqrt(heads * head)
    y = rng.standard_normal((n, model))
    return (x, *w, wo, y)


# ---- tiny functions: the per-call overhead of a derivative called from Python (issue 12)


def tiny_scalar(x):
    return x * x * 3.0 + math.sin(x)


def tiny_vec2(x):
    return x[0] * x[0] * x[1] + math.sin(x[1])


TINY = {"scalar": (tiny_scalar, lambda: (0.7,)),
        "vec2": (tiny_vec2, lambda: (np.array([0.3, 1.2]),))}
