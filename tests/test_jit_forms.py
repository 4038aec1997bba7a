"""The forms jitted reverse-mode derivatives of vectorized code take for speed (issue 15), and
that they keep the derivative right:

- the first accumulation into a zeroed adjoint is an assignment (``backend/jitform.py``,
  ``adjoints_assigned_first``), sharing an adjoint array only where neither is written after;
- matmul's adjoints multiply by swapped stacks in place (``_matmul3_tn``/``_matmul3_nt``) and a
  product's adjoint summed back to a broadcast operand is not stored whole (``_unbroadcast3_mul``);
- ``x * x`` gives one accumulation, not two;
- an array rebound at the top of a function that writes into no array keeps its old value by a
  second name rather than on the tape (``ad/reverse.py``), and one that is written into does not.

The source checks read the generated text (no compilation); the numbers compare the jitted
gradient with central finite differences and with the Python backend."""

from __future__ import annotations

import numpy as np
import pytest

import s2sad


def stacked_layer(x, w, b):
    """A batched matmul, a broadcast add of b over the stack, a max-shifted softmax (array
    rebinding), a square."""
    h = np.matmul(x, np.transpose(w, (0, 2, 1))) + b[:, None, :]  # (s, n, m)
    h = h - np.max(h, axis=-1, keepdims=True)
    p = np.exp(h)
    p = p / np.sum(p, axis=-1, keepdims=True)
    q = p * h
    return np.sum(q * q) + np.sum(np.matmul(p, w))


def shared_adjoints(x, w):
    """u's adjoint is first v's (u + x), then written again (u used earlier): the two must not
    share one array; x's adjoint collects from four places."""
    u = x * w
    t = u * 3.0 - x
    v = u + x
    r = v * t
    return np.sum(r * r) + np.sum(v * x)


def rebound_and_written(x, w):
    """An array rebound (its old value read by the reverse sweep) in a function that also writes
    into an array: the old value goes on the tape."""
    s = x * w
    s = np.exp(s - np.max(s))
    s[0, 0] = 2.0 * s[0, 1]
    return np.sum(s * s * w)


def _args(name, rng):
    if name == "stacked_layer":
        return (rng.normal(size=(3, 7, 4)), rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5)))
    return (rng.normal(size=(6, 5)), rng.normal(size=(6, 5)))


FUNCS = {"stacked_layer": (stacked_layer, (0, 1, 2)), "shared_adjoints": (shared_adjoints, (0, 1)),
         "rebound_and_written": (rebound_and_written, (0, 1))}


def _fd(f, args, k, h=1e-6):
    out = np.zeros_like(args[k])
    for idx in np.ndindex(args[k].shape):
        plus = [a.copy() for a in args]
        minus = [a.copy() for a in args]
        plus[k][idx] += h
        minus[k][idx] -= h
        out[idx] = (f(*plus) - f(*minus)) / (2 * h)
    return out


def test_stacked_layer_source_takes_the_fast_forms():
    args = _args("stacked_layer", np.random.default_rng(0))
    src = s2sad.source(s2sad.grad(stacked_layer, argnums=(0, 1, 2), jit=True), *args)
    body = src[src.index("def stacked_layer_vjp"):]
    assert "_matmul3_tn(" in body and "_matmul3_nt(" in body  # no swapped stack copied
    assert "np.swapaxes" not in body
    assert "h_old = h" in body and "p_old = p" in body and "_atape" not in body  # no tape copies
    # q * q: one accumulation of the two contributions
    assert len([ln for ln in body.splitlines() if ln.strip().startswith("q_bar")]) == 1
    # the first accumulations are assignments: these adjoints are never zero-filled
    for name in ("q_bar", "p_bar", "h_bar"):
        assert f"{name} = np.zeros_like" not in body
    # the Python form is left as it was: what s2sad differentiates again
    py = s2sad.source(s2sad.grad(stacked_layer, argnums=(0, 1, 2)), *args)
    assert "_matmul3_tn" not in py and "np.zeros_like" in py


def test_shared_adjoint_is_not_shared_when_written_after():
    args = _args("shared_adjoints", np.random.default_rng(1))
    src = s2sad.source(s2sad.grad(shared_adjoints, argnums=(0, 1), jit=True), *args)
    body = src[src.index("def shared_adjoints_vjp"):]
    lines = [ln.strip() for ln in body.splitlines()]
    # u_bar starts from v_bar and is added to again: it has an array of its own
    assert "u_bar = np.zeros_like(u)" in lines, body


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_jitted_gradient_matches_finite_differences_and_the_python_backend(name):
    f, wrt = FUNCS[name]
    args = _args(name, np.random.default_rng(2))
    got = s2sad.grad(f, argnums=wrt, jit=True)(*[a.copy() for a in args])
    py = s2sad.grad(f, argnums=wrt)(*[a.copy() for a in args])
    for k, g, p in zip(wrt, got, py):
        fd = _fd(f, args, k)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(g, p, rtol=1e-12, atol=1e-12)
