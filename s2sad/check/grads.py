"""``check_grads``: s2sad's derivatives, in each mode, against finite differences.

Like ``jax.test_util.check_grads``: it differentiates ``fun`` at ``args`` with s2sad and compares
with 4th-order central finite differences (:mod:`s2sad.check.fd`).

* A scalar (float) output: ``s2sad.grad`` in each mode against ``numerical_grad``.
* Any other output (array, tuple): the Jacobian by ``s2sad.jacfwd`` (forward mode) and
  ``s2sad.jacrev`` (reverse mode), s2sad's one Jacobian driver, against ``numerical_jacobian``.

The error measure is :func:`s2sad.check.fd.rel_error`, ``max |got - want| / max(1, |want|)``:
relative for entries larger than 1, absolute for small ones, so near-zero reference entries do
not blow it up. A check passes when that measure is at most ``rtol`` for every mode and every
differentiated argument; otherwise it raises :class:`s2sad.errors.DerivativeMismatch`, whose
message holds the whole report.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..arguments import normalize_argnums

from ..api import grad
from ..errors import DerivativeMismatch
from ..transforms import jacfwd, jacrev
from .fd import _flat_output, _fresh, numerical_grad, numerical_jacobian, rel_error

__all__ = ["ArgCheck", "CheckReport", "check_grads", "is_scalar_output", "s2sad_derivative"]

MODES = ("forward", "reverse")


@dataclass
class ArgCheck:
    """The comparison for one mode and one differentiated argument."""

    mode: str
    argnum: int
    abs_err: float  # max |got - want|
    rel_err: float  # max |got - want| / max(1, |want|)
    got: Any = field(repr=False, default=None)
    want: Any = field(repr=False, default=None)


@dataclass
class CheckReport:
    """What a derivative check found: one :class:`ArgCheck` per (mode, argument)."""

    fun_name: str
    reference: str  # "finite differences" or "sympy"
    rtol: float
    kind: str  # "gradient" (scalar output) or "jacobian"
    checks: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def ok(self):
        return all(c.rel_err <= self.rtol for c in self.checks)

    @property
    def max_abs_err(self):
        return max((c.abs_err for c in self.checks), default=0.0)

    @property
    def max_rel_err(self):
        return max((c.rel_err for c in self.checks), default=0.0)

    @property
    def failures(self):
        return [c for c in self.checks if not c.rel_err <= self.rtol]

    def __getitem__(self, key):
        """``report["reverse", 0]``: the check of one mode and argument."""
        mode, argnum = key
        for c in self.checks:
            if c.mode == mode and c.argnum == argnum:
                return c
        raise KeyError(key)

    def summary(self):
        lines = [f"{self.kind} of {self.fun_name} against {self.reference} (rtol={self.rtol:g}):",
                 f"  {'mode':<8} {'arg':>3} {'max abs err':>12} {'max rel err':>12}"]
        for c in self.checks:
            flag = "" if c.rel_err <= self.rtol else "   <-- FAIL"
            lines.append(f"  {c.mode:<8} {c.argnum:>3} {c.abs_err:>12.3e} {c.rel_err:>12.3e}{flag}")
        return "\n".join(lines)

    def details(self):
        out = []
        with np.printoptions(precision=12, threshold=50):
            for c in self.failures:
                out.append(f"  {c.mode} mode, argument {c.argnum}:\n"
                           f"    s2sad: {c.got!r}\n    {self.reference}: {c.want!r}")
        return "\n".join(out)

    def __str__(self):
        return self.summary()

    def raise_if_failed(self):
        if not self.ok:
            raise DerivativeMismatch(self.summary() + "\n" + self.details(), None)
        return self


# ---------------------------------------------------------------- helpers


def _fresh_args(args):
    return tuple(_fresh(a) for a in args)


def _name(fun):
    return getattr(fun, "__name__", repr(fun))


def is_scalar_output(out):
    """A derivative of this output is a gradient (s2sad.grad), not a Jacobian."""
    if isinstance(out, (bool, np.bool_)):
        return False
    if isinstance(out, numbers.Real):
        return True
    return isinstance(out, np.ndarray) and out.ndim == 0


def _arg_shape(a):
    return a.shape if isinstance(a, np.ndarray) else ()


def s2sad_derivative(fun, args, nums, mode, jit=False, out=None):
    """s2sad's derivative of ``fun`` at ``args`` w.r.t. the arguments ``nums`` (a tuple).

    Returns ``(kind, [d_k for k in nums])``: for a scalar output kind is ``"gradient"`` and
    ``d_k`` has the shape of argument k (a float for a scalar argument); otherwise kind is
    ``"jacobian"`` and ``d_k`` has shape ``out_shape + arg_shape`` laid out as
    :func:`numerical_jacobian` does (a tuple output is flattened)."""
    if out is None:
        out = fun(*_fresh_args(args))
    if is_scalar_output(out):
        g = grad(fun, tuple(nums), mode=mode, jit=jit)(*_fresh_args(args))
        return "gradient", [g[i] for i in range(len(nums))]
    if mode not in ("forward", "reverse"):
        raise ValueError(f"mode must be 'forward' or 'reverse', not {mode!r}")
    _, out_shape = _flat_output(out)
    transform = jacfwd if mode == "forward" else jacrev
    jac = transform(fun, tuple(nums), jit=jit)(*_fresh_args(args))
    jacs = []
    for i, k in enumerate(nums):
        if isinstance(out, tuple):  # JAX's layout: per output item, then per argument
            rows = np.concatenate([_rows(jac[j][i], o) for j, o in enumerate(out)], axis=0)
        else:
            rows = _rows(jac[i], out)
        jacs.append(rows.reshape(out_shape + _arg_shape(args[k])))
    return "jacobian", jacs


def _rows(jac, out):
    """A Jacobian block of the output (part) ``out`` as (flat output entries, flat argument)."""
    if isinstance(out, (tuple, list)):
        return np.concatenate([_rows(j, o) for j, o in zip(jac, out)], axis=0)
    return np.asarray(jac, dtype=np.float64).reshape(np.size(out), -1)


def compare(report, mode, nums, got, want):
    """Append one :class:`ArgCheck` per argument to ``report``."""
    for k, a, b in zip(nums, got, want):
        a_arr = np.asarray(a, dtype=np.float64)
        b_arr = np.asarray(b, dtype=np.float64)
        if a_arr.shape != b_arr.shape:
            report.checks.append(ArgCheck(mode, k, float("inf"), float("inf"), a, b))
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.where(a_arr == b_arr, 0.0, np.abs(a_arr - b_arr))
        abs_err = float(np.max(diff)) if diff.size else 0.0
        if np.isnan(abs_err):
            abs_err = float("inf")
        report.checks.append(ArgCheck(mode, k, abs_err, rel_error(a_arr, b_arr), a, b))


def _check_modes(modes):
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    for m in modes:
        if m not in MODES:
            raise ValueError(f"modes must be a subset of {MODES}, got {m!r}")
    return modes


# ---------------------------------------------------------------- the check


def check_grads(fun, args, argnums=0, modes=MODES, jit=False, rtol=1e-6):
    """Check s2sad's derivatives of ``fun`` at ``args`` against finite differences.

    ``argnums`` (an int or a tuple of ints) names the differentiated arguments (floats or float
    arrays); ``modes`` the s2sad modes checked (``"forward"``, ``"reverse"``); ``jit=True``
    checks the Numba-compiled derivatives. A scalar output is checked with ``s2sad.grad``; an
    array or tuple output with ``s2sad.jvp`` (basis tangents) and ``s2sad.vjp`` (basis
    cotangents) against the finite-difference Jacobian.

    Returns a :class:`CheckReport` (per mode and argument: max abs and rel error); raises
    :class:`s2sad.errors.DerivativeMismatch` when an error is above ``rtol`` (the measure is
    ``max |got - want| / max(1, |want|)``). Arrays in ``args`` are never written to.
    """
    args = tuple(args)
    modes = _check_modes(modes)
    _, nums = normalize_argnums(argnums, len(args))
    out = fun(*_fresh_args(args))
    scalar = is_scalar_output(out)
    if scalar:
        want = numerical_grad(fun, args, nums)
    else:
        want = numerical_jacobian(fun, args, nums)
    report = CheckReport(_name(fun), "finite differences", rtol,
                         "gradient" if scalar else "jacobian")
    for mode in modes:
        _, got = s2sad_derivative(fun, args, nums, mode, jit=jit, out=out)
        compare(report, mode, nums, got, want)
    return report.raise_if_failed()
