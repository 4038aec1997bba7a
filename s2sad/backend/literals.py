"""Module-level values of the user's code written out as Python text, for a standalone module:
arrays as exact ``np.array([...])`` literals laid out to the line length, numpy and math
callables by their dotted names."""

from __future__ import annotations

import math

import numpy as np

from .layout import LINE_LENGTH


def globals_text(glob):
    """The module-level names the generated functions read, as assignments."""
    out = ["# Module-level arrays read by the functions below, copied from the source."]
    for name, obj in glob.items():
        if isinstance(obj, np.ndarray):
            out.append(array_literal(name, obj))
        else:
            out.append(f"{name} = {library_path(obj)}")
    return "\n".join(out)


def library_path(obj):
    """``np.linalg.norm``-like spelling of a numpy or math callable, None for others."""
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str) or not callable(obj):
        return None
    if getattr(math, name, None) is obj:
        return "math." + name
    for prefix, mod in (("np", np), ("np.linalg", np.linalg), ("np.fft", np.fft)):
        if getattr(mod, name, None) is obj:
            return f"{prefix}.{name}"
    return None


def array_literal(name, arr):
    """``NAME = np.array([...], dtype=np.float64)`` with every value exact (shortest repr)."""
    dtype = {"float64": "np.float64", "float32": "np.float32", "bool": "np.bool_"}.get(
        str(arr.dtype), f"np.{arr.dtype}")
    if arr.size == 0 or arr.ndim == 0:
        if arr.ndim == 0:
            return f"{name} = np.array({_scalar_text(arr.item())}, dtype={dtype})"
        return f"{name} = np.zeros({arr.shape!r}, dtype={dtype})"
    head = f"{name} = np.array("
    tail = f", dtype={dtype})"
    values = arr.tolist()
    if arr.dtype == np.float32:  # the shortest texts that give the same float32 values
        values = _map_nested(values, lambda v: _Float32Text(str(np.float32(v))))
    body = _nested_text(values, len(head), len(tail))
    return head + body + tail


class _Float32Text(str):
    pass


def _map_nested(values, f):
    if isinstance(values, list):
        return [_map_nested(v, f) for v in values]
    return f(values)


def _scalar_text(v):
    if isinstance(v, _Float32Text):
        return {"nan": "math.nan", "inf": "math.inf", "-inf": "-math.inf"}.get(str(v), str(v))
    if isinstance(v, float):
        if math.isnan(v):
            return "math.nan"
        if math.isinf(v):
            return "math.inf" if v > 0 else "-math.inf"
    return repr(v)


def _nested_text(value, col, tail):
    """A (nested) list laid out as a person would: on one line when it fits, else one row a
    line (rows of numbers filled up to the line length), aligned after the bracket."""
    flat = _flat_text(value)
    if col + len(flat) + tail <= LINE_LENGTH:
        return flat
    if value and isinstance(value[0], list):
        rows = []
        for k, row in enumerate(value):
            last = k == len(value) - 1
            rows.append(_nested_text(row, col + 1, (tail + 1) if last else 1))
        return "[" + (",\n" + " " * (col + 1)).join(rows) + "]"
    items = [_scalar_text(v) for v in value]
    lines, cur = [], ""
    width = LINE_LENGTH - col - 1
    for k, it in enumerate(items):
        piece = it + ("," if k < len(items) - 1 else "")
        extra = (tail + 1) if k == len(items) - 1 else 0
        if cur and len(cur) + 1 + len(piece) + extra > width:
            lines.append(cur)
            cur = piece
        else:
            cur = f"{cur} {piece}" if cur else piece
    lines.append(cur)
    return "[" + ("\n" + " " * (col + 1)).join(lines) + "]"


def _flat_text(value):
    if isinstance(value, list):
        return "[" + ", ".join(_flat_text(v) for v in value) + "]"
    return _scalar_text(value)
