"""The benchmark problems written for the peer AD tools: JAX, PyTorch (eager) and HIPS autograd.

Each peer gets the form it runs best, not a transliteration of the loop code in problems.py:

- Rosenbrock and the MLP are vectorized array code (no loop over x[i]).
- Lorenz is a time-stepping loop that no tool can vectorize. JAX gets ``lax.fori_loop`` and
  ``lax.scan`` (with and without unrolling); PyTorch and autograd run the Python loop over
  scalars, which is how a user of those tools writes it.
- gmm_vec and attention (bench/problems.py's VECTORIZED) are already NumPy array code: JAX
  runs the same function, ``np`` standing for ``jax.numpy``.
- GMM is vectorized over points and components, as in ADBench's JAX/PyTorch modules: the
  centred points are a (K, n, d) array, Q_k x is one batched matmul, and the packed lower
  triangle L_k is unpacked by a constant 0/1 matrix (no in-place writes, so autograd can
  differentiate it too).

``make_peer(tool, name, args, wrt)`` returns a list of ``PeerForm`` (one per form measured), or
raises ``PeerSkipped`` with the reason (tool not installed, ...). Every ``PeerForm.grad()`` returns
the gradients as numpy arrays, in ``wrt`` order, so the runner can check them against the
hand-written adjoint; ``PeerForm.call`` is what is timed (it waits for the result).

All peers compute in float64, single-threaded (the runner sets the thread counts before any
import; ``setup_threads`` below does the per-library part).
"""

from __future__ import annotations

import math

import numpy as np

from .problems import VECTORIZED


class PeerSkipped(Exception):
    """The peer cannot be measured here; the message says why."""


class PeerForm:
    def __init__(self, label, call, grad, note="", setup_s=None):
        self.label = label  # e.g. "lax.scan, unroll=8"
        self.call = call  # timed: computes the gradient and waits for it
        self.grad = grad  # returns the gradient as a tuple of numpy arrays (wrt order)
        self.note = note
        self.setup_s = setup_s  # tracing + compilation time of the first call, where there is one


TOOLS = ("jax", "torch", "autograd")
LABELS = {"jax": "JAX jit(grad)", "torch": "PyTorch eager", "autograd": "autograd"}


def versions():
    out = {}
    for mod in ("jax", "jaxlib", "torch", "autograd"):
        try:
            from importlib.metadata import version
            out[mod] = version(mod)
        except Exception:  # noqa: BLE001 - not installed
            out[mod] = None
    return out


def make_peer(tool, name, args, wrt):
    try:
        maker = {"jax": _jax_forms, "torch": _torch_forms, "autograd": _autograd_forms}[tool]
    except KeyError:
        raise PeerSkipped(f"unknown tool {tool!r}") from None
    try:
        return maker(name, args, wrt)
    except ImportError as e:
        raise PeerSkipped(f"skipped: {tool} not installed ({e.name or e}); "
                          "pip install -e '.[bench]'") from None


# ---------------------------------------------------------------- shared pieces


def _tril_scatter(d):
    """(d(d-1)/2, d*d) 0/1 matrix S with (icf[k, d:] @ S).reshape(d, d) = L_k (strictly lower,
    packed column by column as in problems.sq_mahalanobis)."""
    S = np.zeros((d * (d - 1) // 2, d * d))
    for c in range(d):
        for j in range(c + 1, d):
            idx = c * (2 * d - c - 1) // 2 + j - c - 1
            S[idx, j * d + c] = 1.0
    return S


def _wishart_const(d, K, gamma, m):
    """The constant part of log_wishart_prior (no parameters in it)."""
    dof = d + m + 1
    mgl = 0.25 * d * (d - 1) * math.log(math.pi)
    for j in range(1, d + 1):
        mgl += math.lgamma(0.5 * dof + 0.5 * (1 - j))
    c = dof * d * (math.log(gamma) - 0.5 * math.log(2.0)) - mgl
    return K * c


def _gmm_static(args):
    alphas, _, _, x, gamma, m = args
    n, d = x.shape
    K = alphas.shape[0]
    return {"n": n, "d": d, "K": K, "gamma": gamma, "m": m, "S": _tril_scatter(d),
            "const": -0.5 * n * d * math.log(2.0 * math.pi) - _wishart_const(d, K, gamma, m)}


def _gmm_vectorized(xp, logsumexp, alphas, means, icf, x, st):
    """The GMM objective over numpy-like ``xp`` (jax.numpy or autograd.numpy)."""
    d, K, n = st["d"], st["K"], st["n"]
    diag = icf[:, :d]
    Qdiag = xp.exp(diag)
    sum_qs = xp.sum(diag, axis=1)
    Ls = xp.reshape(xp.dot(icf[:, d:], st["S"]), (K, d, d))
    xc = x[None, :, :] - means[:, None, :]  # (K, n, d)
    Qx = Qdiag[:, None, :] * xc + xp.matmul(xc, xp.transpose(Ls, (0, 2, 1)))
    inner = (alphas + sum_qs)[:, None] - 0.5 * xp.sum(Qx * Qx, axis=2)  # (K, n)
    slse = xp.sum(logsumexp(inner, axis=0))
    g2 = st["gamma"] ** 2
    prior = (0.5 * g2 * (xp.sum(Qdiag * Qdiag) + xp.sum(icf[:, d:] * icf[:, d:]))
             - st["m"] * xp.sum(sum_qs))
    return st["const"] + slse - n * logsumexp(alphas, axis=0) + prior


def _rosenbrock_vectorized(xp, x):
    a = x[:-1]
    return xp.sum(100.0 * (x[1:] - a * a) ** 2 + (1.0 - a) ** 2)


def _mlp_vectorized(xp, x, W1, b1, W2, b2, y):
    h = xp.tanh(xp.dot(x, W1) + b1)
    r = xp.dot(h, W2) + b2 - y
    return xp.sum(r * r) / (y.shape[0] * y.shape[1])


def _lorenz_step(sigma, rho, beta, dt, x, y, z):
    dx = sigma * (y - x)
    dy = x * (rho - z) - y
    dz = x * y - beta * z
    return x + dt * dx, y + dt * dy, z + dt * dz


def _over(f, xnp, args, wrt):
    """``f`` (a bench/problems.py function written with ``np``) with ``np`` standing for
    ``xnp`` (jax.numpy), as a function of the differentiated arguments only: the same code,
    line for line, the other arguments fixed."""
    import types

    same = types.FunctionType(f.__code__, {**f.__globals__, "np": xnp}, f.__name__)
    _, full = _split(f.__name__, args, wrt)
    return lambda *d: same(*full(*d))


def _split(name, args, wrt):
    """(the differentiated arguments, a function rebuilding the full argument tuple)."""
    diff = [args[k] for k in wrt]

    def full(*d):
        out = list(args)
        for k, v in zip(wrt, d):
            out[k] = v
        return out

    return diff, full


# ---------------------------------------------------------------- JAX


def _jax_forms(name, args, wrt):
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.scipy.special import logsumexp

    jax.config.update("jax_enable_x64", True)
    import time

    if name in VECTORIZED:  # the very function s2sad differentiates, over jax.numpy
        forms = {"the same code over jax.numpy": _over(VECTORIZED[name], jnp, args, wrt)}
    elif name == "rosenbrock":
        forms = {"vectorized jnp": lambda x: _rosenbrock_vectorized(jnp, x)}
    elif name == "mlp":
        x, _, _, _, _, y = args

        def mlp(W1, b1, W2, b2):
            return _mlp_vectorized(jnp, x, W1, b1, W2, b2, y)

        forms = {"vectorized jnp": mlp}
    elif name == "gmm":
        st = _gmm_static(args)
        st["S"] = jnp.asarray(st["S"])
        xj = jnp.asarray(args[3])

        def gmm(alphas, means, icf):
            return _gmm_vectorized(jnp, logsumexp, alphas, means, icf, xj, st)

        forms = {"vectorized over points and components (ADBench style)": gmm}
    elif name == "lorenz":
        _, _, nsteps, dt = args

        def lorenz_fori(state0, params):
            sigma, rho, beta = params[0], params[1], params[2]

            def body(_, s):
                return _lorenz_step(sigma, rho, beta, dt, *s)

            x, y, z = lax.fori_loop(0, nsteps, body, (state0[0], state0[1], state0[2]))
            return x * x + y * y + z * z

        def lorenz_scan(unroll):
            def f(state0, params):
                sigma, rho, beta = params[0], params[1], params[2]

                def body(s, _):
                    return _lorenz_step(sigma, rho, beta, dt, *s), None

                (x, y, z), _ = lax.scan(body, (state0[0], state0[1], state0[2]), None,
                                        length=nsteps, unroll=unroll)
                return x * x + y * y + z * z
            return f

        forms = {"lax.fori_loop": lorenz_fori, "lax.scan": lorenz_scan(1),
                 "lax.scan, unroll=10": lorenz_scan(10)}
    else:
        raise PeerSkipped(f"no JAX form for {name}")

    nums = tuple(range(len(wrt)))
    diff = [jnp.asarray(args[k]) for k in wrt]
    out = []
    for label, f in forms.items():
        gf = jax.jit(jax.grad(f, argnums=nums))
        t0 = time.perf_counter()
        jax.block_until_ready(gf(*diff))
        setup = time.perf_counter() - t0

        def call(gf=gf):
            return jax.block_until_ready(gf(*diff))

        def grad(gf=gf):
            return tuple(np.asarray(g) for g in gf(*diff))

        out.append(PeerForm(label, call, grad, setup_s=setup))
    return out


# ---------------------------------------------------------------- PyTorch


def _torch_forms(name, args, wrt):
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started
        pass
    note = ""
    if name == "rosenbrock":
        def f(x):
            return _rosenbrock_vectorized(torch, x)
        note = "vectorized (slices, no loop over x[i])"
    elif name == "mlp":
        x, _, _, _, _, y = (torch.from_numpy(np.asarray(a)) if isinstance(a, np.ndarray) else a
                            for a in args)

        def f(W1, b1, W2, b2):
            h = torch.tanh(x @ W1 + b1)
            r = h @ W2 + b2 - y
            return torch.sum(r * r) / (y.shape[0] * y.shape[1])
    elif name == "gmm":
        st = _gmm_static(args)
        S = torch.from_numpy(st["S"])
        xt = torch.from_numpy(args[3])
        d, K, n = st["d"], st["K"], st["n"]
        g2 = st["gamma"] ** 2

        def f(alphas, means, icf):
            diag = icf[:, :d]
            Qdiag = torch.exp(diag)
            sum_qs = torch.sum(diag, dim=1)
            Ls = (icf[:, d:] @ S).reshape(K, d, d)
            xc = xt[None, :, :] - means[:, None, :]
            Qx = Qdiag[:, None, :] * xc + torch.matmul(xc, Ls.transpose(1, 2))
            inner = (alphas + sum_qs)[:, None] - 0.5 * torch.sum(Qx * Qx, dim=2)
            slse = torch.sum(torch.logsumexp(inner, dim=0))
            prior = (0.5 * g2 * (torch.sum(Qdiag * Qdiag) + torch.sum(icf[:, d:] * icf[:, d:]))
                     - st["m"] * torch.sum(sum_qs))
            return st["const"] + slse - n * torch.logsumexp(alphas, dim=0) + prior
        note = "vectorized over points and components"
    elif name == "lorenz":
        _, _, nsteps, dt = args

        def f(state0, params):
            sigma, rho, beta = params[0], params[1], params[2]
            x, y, z = state0[0], state0[1], state0[2]
            for _ in range(nsteps):
                x, y, z = _lorenz_step(sigma, rho, beta, dt, x, y, z)
            return x * x + y * y + z * z
        note = "Python loop over 0-d tensors (no loop-free form)"
    else:
        raise PeerSkipped(f"no PyTorch form for {name}")

    diff = [torch.from_numpy(np.array(args[k])).requires_grad_(True) for k in wrt]

    def call():
        return torch.autograd.grad(f(*diff), diff)

    def grad():
        return tuple(g.detach().numpy().copy() for g in call())

    return [PeerForm("eager, torch.autograd.grad", call, grad, note=note)]


# ---------------------------------------------------------------- HIPS autograd


def _autograd_forms(name, args, wrt):
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    note = ""
    if name in VECTORIZED:
        f = _over(VECTORIZED[name], anp, args, wrt)
        note = "the same code over autograd.numpy"
    elif name == "rosenbrock":
        def f(x):
            return _rosenbrock_vectorized(anp, x)
        note = "vectorized (slices, no loop over x[i])"
    elif name == "mlp":
        x, _, _, _, _, y = args

        def f(W1, b1, W2, b2):
            return _mlp_vectorized(anp, x, W1, b1, W2, b2, y)
    elif name == "gmm":
        st = _gmm_static(args)
        x = args[3]

        def f(alphas, means, icf):
            return _gmm_vectorized(anp, logsumexp, alphas, means, icf, x, st)
        note = "vectorized over points and components"
    elif name == "lorenz":
        _, _, nsteps, dt = args

        def f(state0, params):
            sigma, rho, beta = params[0], params[1], params[2]
            x, y, z = state0[0], state0[1], state0[2]
            for _ in range(nsteps):
                x, y, z = _lorenz_step(sigma, rho, beta, dt, x, y, z)
            return x * x + y * y + z * z
        note = "Python loop over boxed scalars (no loop-free form)"
    else:
        raise PeerSkipped(f"no autograd form for {name}")

    gf = autograd.grad(f, tuple(range(len(wrt))))  # a tuple argnum gives a tuple of gradients
    diff = [np.array(args[k]) for k in wrt]

    def call():
        return gf(*diff)

    def grad():
        return tuple(np.asarray(g) for g in call())

    return [PeerForm("autograd.grad", call, grad, note=note)]
