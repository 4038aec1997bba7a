"""Elementwise arithmetic over arrays of 3 or more dimensions, as loop kernels, for ``jit=True``.

An arithmetic expression over float64 arrays of 3 or more dimensions (``_t14_bar * qx +
_t14_bar * qx``, ``x[None, :, :] - m``) is, for Numba, an "array expression": a broadcasting
loop nest that LLVM optimises (and vectorises) for every combination of strides, about 1 s
of CPU per expression on a cold first call (0.04 s at -O0): most of a vectorized GMM
gradient's 20 s. The same expression as a loop kernel of its own compiles in ~0.2 s, and
runs as fast or faster (its innermost loop is contiguous where no operand is stretched along
the last axis). Each kernel is named by a hash of the expression it computes.
"""

from __future__ import annotations

import hashlib
import math

from .. import ir

ELEMENTWISE_MIN_NDIM = 3
_EW_OPS = frozenset({"+", "-", "*", "/", "**"})
_EW_FUNCS = frozenset({"np.exp", "np.log", "np.sin", "np.cos", "np.tan", "np.tanh", "np.sqrt",
                       "np.abs", "np.arctan", "np.log1p", "np.expm1", "np.sinh", "np.cosh"})
ELEMENTWISE = {}  # kernel name -> its source
_EW_COMPARE = frozenset({"==", "!=", "<", "<=", ">", ">="})


def elementwise_template(e, leaf):
    """``(text, kind)``: ``e`` as a scalar expression text with ``{k}`` for its k-th operand
    (``leaf(x)`` gives an operand's ``(k, kind)``, or None to refuse), and the kind of NumPy's
    result ("f" float64, "i" int64, "b" bool); None where ``e`` is not elementwise arithmetic
    whose every step a loop over numbers computes as NumPy does. A comparison only as a factor
    of a float (``g * (x == m) / n``): NumPy's ``b1 + b2`` of bools is a logical or, ``b1 * b2``
    a logical and, ``-b`` an error, where numbers would give 2, 1 and -1."""
    if isinstance(e, ir.BinOp) and e.op in _EW_OPS:
        a, b = elementwise_template(e.left, leaf), elementwise_template(e.right, leaf)
        if a is None or b is None:
            return None
        kinds = {a[1], b[1]}
        text = f"({a[0]} {e.op} {b[0]})"
        if "b" in kinds:  # a mask times a float is that float or 0.0, as in a loop
            return (text, "f") if e.op == "*" and kinds == {"b", "f"} else None
        if e.op == "**":
            # an integer to a negative integer power: NumPy raises, a loop does not
            return (text, "f") if a[1] == "f" and (b[1] == "f" or isinstance(e.right, ir.Const)) else None
        return text, "f" if e.op == "/" or "f" in kinds else "i"
    if isinstance(e, ir.Compare) and e.op in _EW_COMPARE:
        a, b = elementwise_template(e.left, leaf), elementwise_template(e.right, leaf)
        if a is None or b is None or "b" in (a[1], b[1]):
            return None
        return f"({a[0]} {e.op} {b[0]})", "b"
    if isinstance(e, ir.UnaryOp) and e.op == "-":
        a = elementwise_template(e.operand, leaf)
        return None if a is None or a[1] == "b" else (f"(-{a[0]})", a[1])
    if isinstance(e, ir.Call) and e.func in _EW_FUNCS and len(e.args) == 1 and not e.kwargs:
        a = elementwise_template(e.args[0], leaf)
        if a is None or a[1] == "b":
            return None
        return f"{e.func}({a[0]})", a[1] if e.func == "np.abs" else "f"
    if isinstance(e, ir.Const) and type(e.value) is int:
        return repr(e.value), "i"
    if isinstance(e, ir.Const) and type(e.value) is float:
        v = e.value
        text = repr(v) if math.isfinite(v) else "np.nan" if math.isnan(v) else "np.inf" if v > 0 else "(-np.inf)"
        return text, "f"
    found = leaf(e)
    return None if found is None else ("{" + str(found[0]) + "}", found[1])


def elementwise_into_kernel(op, template, kinds, ndim):
    """The name of the loop kernel doing ``t op= template`` in place (``t`` a float64 array of
    ``ndim`` dimensions; the operands, as for ``elementwise_kernel``, broadcast to ``t``'s
    shape, which NumPy checks and Numba's in-place operators do not), its source made."""
    return _kernel(op, template, kinds, ndim)


def elementwise_kernel(template, kinds, ndim):
    """The name of the loop kernel computing ``template`` (operands ``{k}``; ``kinds[k]`` "a"
    for an array of ``ndim`` dimensions, "s" for a number), its source made."""
    return _kernel(None, template, kinds, ndim)


def _kernel(op, template, kinds, ndim):
    """A new float64 array (``op`` None) or ``t op=`` in place: the kernel's name, its source
    made. The operands' rows are taken a dimension at a time (a size-1 axis stays at index 0);
    the innermost loop indexes plainly where no operand is stretched along the last axis."""
    if ndim > 8:
        raise ValueError("elementwise kernels are made for arrays of at most 8 dimensions")
    into = op is not None
    key = f"{ndim}:{op or ''}:{''.join(kinds)}:{template}"
    name = f"_elementwise{ndim}_{'into_' if into else ''}" + hashlib.sha1(key.encode()).hexdigest()[:10]
    if name in ELEMENTWISE:
        return name
    params = [f"x{k}" if kind == "a" else f"s{k}" for k, kind in enumerate(kinds)]
    arrays = [p for p in params if p.startswith("x")]
    last = ndim - 1
    if into:
        size = [f"t.shape[{d}]" for d in range(ndim)]
        lines = [(f'    """t {op}= {template.format(*params)} in place, for arrays of {ndim} dimensions '
                  'broadcast to t\'s shape, as loops."""')]
        message = "an in-place update (a += b) whose right side does not broadcast to the shape of the array updated"
    else:
        size = [f"n{d}" for d in range(ndim)]
        lines = [(f'    """{template.format(*params)} over arrays of {ndim} dimensions, broadcast as NumPy '
                  'does, into a new float64 array, as loops."""')]
        message = "operands could not be broadcast together"
        for d in range(ndim):
            lines.append(f"    n{d} = 1")
            lines += [f"    if {a}.shape[{d}] != 1:\n        n{d} = {a}.shape[{d}]" for a in arrays]
    bad = " or ".join(f"({a}.shape[{d}] != {size[d]} and {a}.shape[{d}] != 1)"
                      for d in range(ndim) for a in arrays)
    if bad:
        lines += [f"    if {bad}:", f'        raise ValueError("{message}")']
    if not into:
        lines.append(f"    out = np.empty(({', '.join(size)}), dtype=np.float64)")
    lines.append(f"    full = {' and '.join(f'{a}.shape[{last}] == {size[last]}' for a in arrays) or 'True'}")
    idx = "ijklmnop"
    ind = "    "
    cur = {a: a for a in arrays}
    for d in range(last):
        lines.append(f"{ind}for {idx[d]} in range({size[d]}):")
        ind += "    "
        for a in arrays:
            sub = f"{a}_{idx[:d + 1]}"
            lines.append(f"{ind}{sub} = {cur[a]}[min({idx[d]}, {a}.shape[{d}] - 1)]")
            cur[a] = sub
    lines.append(f"{ind}o = {'t' if into else 'out'}[{', '.join(idx[:last])}]")
    k = idx[last]
    fast = template.format(*[f"{cur[p]}[{k}]" if p in cur else p for p in params])
    slow = template.format(*[f"{cur[p]}[min({k}, {p}.shape[{last}] - 1)]" if p in cur else p
                             for p in params])
    store = f"o[{k}] {op}= " if into else f"o[{k}] = "
    for test, value in ((f"{ind}if full:", fast), (f"{ind}else:", slow)):
        lines += [test, f"{ind}    for {k} in range({size[last]}):", f"{ind}        {store}{value}"]
    if not into:
        lines.append("    return out")
    head = f"def {name}({'t, ' if into else ''}{', '.join(params)}):"
    ELEMENTWISE[name] = f"\n{head}\n" + "\n".join(lines) + "\n"
    return name
