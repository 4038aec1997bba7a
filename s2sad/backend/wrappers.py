"""The thin functions a generated module adds around its derivatives, all built here: the
gradient with the user function's signature (``f_grad``: what ``s2sad.grad`` returns), the
public forward-mode name, and the Jacobian by a loop of reverse sweeps.

A wrapper is written as Python text, like the helpers of ``runtime``: it is the same few lines
for every function, and its plain form (``standalone=False``) keeps to the subset s2sad
differentiates, so ``grad(grad(f))`` and ``jacfwd(jacrev(f))`` differentiate it again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir.names import fresh_name
from ..ir.types import Array, Scalar


@dataclass
class GradWrapper:
    """``name(params) -> gradient(s)``: calls the VJP ``core`` with the output adjoint 1."""

    name: str
    func_name: str  # the user function differentiated
    params: list
    types: list
    wrt: list  # positions, in the order of the results
    single: bool  # one result, not a tuple of them
    core: str  # the generated VJP: (params, out_bar, *inout adjoints) -> (value, *adjoints)
    inout: list  # positions of the array adjoints the VJP accumulates into
    with_value: bool = False
    defaults: dict = None  # param -> default value (standalone: kept when a plain literal)

    def result_text(self):
        """What it returns, as the module header says it: ``d/dx``, ``(d/dx, d/dk)``."""
        grads = [f"d/d{self.params[k]}" for k in self.wrt]
        res = grads[0] if self.single else "(" + ", ".join(grads) + ("," if len(grads) == 1 else "") + ")"
        return f"(value, {res})" if self.with_value else res


def decorator_line(jit_decorator):
    return jit_decorator + "\n" if jit_decorator else ""


def grad_wrapper(w, standalone=False, jit_decorator=None):
    """The gradient of ``w.func_name`` as ``s2sad.grad`` returns it. ``standalone``: the
    module's public function, with a docstring saying what it returns, floats passed on as
    numpy scalars (division by zero as NumPy does it) and results in the form of the
    arguments; otherwise the plain form that s2sad can differentiate again."""
    taken = set(w.params) | {w.name, w.core}
    wrt_sorted = sorted(set(w.wrt))
    bars = {k: fresh_name(w.params[k] + "_bar", taken) for k in wrt_sorted}
    value = fresh_name("value", taken) if w.with_value else "_"
    floats = [k for k, ty in enumerate(w.types) if ty == Scalar("float64")] if standalone else []
    call = [f"np.float64({p})" if k in floats else p for k, p in enumerate(w.params)]
    call.append("np.float64(1.0)" if standalone else "1.0")
    call += [f"np.zeros_like({w.params[k]})" for k in w.inout]
    results = []
    for k in w.wrt:
        v = bars[k]
        if standalone and isinstance(w.types[k], Scalar):
            v = f"float({v})"
        elif standalone and w.types[k].dtype != "float64":
            v = f"np.asarray({v}, dtype={w.params[k]}.dtype)"
        results.append(v)
    ret = results[0] if w.single else ", ".join(results) + ("," if len(results) == 1 else "")
    if w.with_value:
        ret = f"{value}, ({ret})" if not w.single else f"{value}, {ret}"
    body = [_grad_docstring(w, bars, standalone)]
    if floats:
        body.append("# float arguments as numpy scalars: a division by zero gives inf or "
                    "nan, as in NumPy")
    body.append(f"{', '.join([value] + [bars[k] for k in wrt_sorted])} = "
                f"{w.core}({', '.join(call)})")
    body.append(f"return {ret}")
    sig = _signature_with_defaults(w.params, w.defaults or {}) if standalone else ", ".join(w.params)
    return _function(w.name, sig, body, jit_decorator)


def _grad_docstring(w, bars, standalone):
    names = ", ".join(w.params[k] for k in w.wrt)
    if not standalone:
        what = "value_and_grad" if w.with_value else "grad"
        return f'"""The gradient of {w.func_name}, as returned by s2sad.{what}."""'
    argnums = w.wrt[0] if w.single else tuple(w.wrt)
    same = f"s2sad.grad({w.func_name}, argnums={argnums!r})({', '.join(w.params)})"
    if w.single:
        ty = w.types[w.wrt[0]]
        kind = "a float" if isinstance(ty, Scalar) else f"an array shaped like {names}"
        return (f'"""Gradient of {w.func_name} with respect to {names}, by reverse mode: {kind}.'
                f'\n\nThe same as {same}.\n"""')
    tup = ", ".join(bars[k] for k in w.wrt) + ("," if len(w.wrt) == 1 else "")
    return (f'"""Gradient of {w.func_name} with respect to ({names}), by reverse mode.\n\n'
            f"Returns ({tup}), each shaped like its argument (a float for a float): the same as "
            f'{same}.\n"""')


def forward_wrapper(name, func_name, params, core, jit_decorator=None):
    """The forward-mode derivative under its public name."""
    return _function(name, ", ".join(params), [
        f'"""Forward mode: returns ({func_name}(...), its tangent)."""',
        f"return {core}({', '.join(params)})"], jit_decorator)


def jacrev_function(name, func_name, params, types, out_type, k, primal, core, inout, pos,
                    jit_decorator=None):
    """The Jacobian of ``func_name`` with respect to parameter ``k`` as a function: one sweep
    of the VJP ``core`` per output entry (its adjoint of parameter ``k`` is result ``pos``);
    with a ``jit_decorator``, the ``@njit`` entry of ``s2sad.jacrev`` inside ``@njit`` code."""
    sig = ", ".join(params)
    arg_shape = f"{params[k]}.shape" if isinstance(types[k], Array) else "()"
    extra = "".join(f", np.zeros_like({params[j]})" for j in inout)
    doc = (f'"""The Jacobian of {func_name} w.r.t. {params[k]}, one reverse sweep per output '
           f'entry."""')
    if isinstance(out_type, Array):
        body = [doc,
                f"_y = {primal}({sig})",
                "_m = _y.size",
                f"_J = np.zeros((_m,) + {arg_shape})",
                "for _i in range(_m):",
                "    _e = np.zeros(_m)",
                "    _e[_i] = 1.0",
                f"    _r = {core}({sig}, _e.reshape(_y.shape){extra})",
                f"    _J[_i] = _r[{pos}]",
                f"return _J.reshape(_y.shape + {arg_shape})"]
    else:
        body = [doc, f"_r = {core}({sig}, 1.0{extra})", f"return _r[{pos}]"]
    return _function(name, sig, body, jit_decorator)


def _function(name, sig, body, jit_decorator=None):
    lines = "".join(f"    {ln}\n" if ln else "\n" for b in body for ln in b.split("\n"))
    return f"{decorator_line(jit_decorator)}def {name}({sig}):\n{lines}"


def _signature_with_defaults(params, defaults):
    """The user's parameter list, with its defaults when they are plain literals."""
    parts = []
    for p in params:
        if p in defaults:
            if not _is_literal(defaults[p]):
                return ", ".join(params)
            parts.append(f"{p}={defaults[p]!r}")
        else:
            parts.append(p)
    return ", ".join(parts)


def _is_literal(v):
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, (bool, int, str)) or v is None:
        return True
    if isinstance(v, tuple):
        return all(_is_literal(x) for x in v)
    return False
