"""Jacobians from sweeps, for every place that builds one from a JVP or a VJP function (the API's
forward-mode gradient, jacfwd's and jacrev's fallbacks, the CLI's check): one forward sweep per
input entry gives a column, one reverse sweep per output entry gives a row."""

from __future__ import annotations

import numpy as np


def flat(v):
    """A value (a number, an array, or a tuple of them) as one flat float64 vector."""
    if isinstance(v, (tuple, list)):
        return np.concatenate([flat(x) for x in v]) if v else np.zeros(0)
    return np.atleast_1d(np.asarray(v, dtype=np.float64)).ravel()


def unflat(v, like):
    """The flat vector ``v`` in the shape of ``like`` (tuples item by item, scalars as float64)."""
    if isinstance(like, tuple):
        items, k = [], 0
        for o in like:
            n = int(np.size(o))
            items.append(unflat(v[k:k + n], o))
            k += n
        return tuple(items)
    if isinstance(like, np.ndarray):
        return v.reshape(like.shape)
    return np.float64(v[0])


def unit_tangents(like):
    """One unit tangent per entry of an argument, in C order (np.float64(1.0) for a scalar)."""
    if not isinstance(like, np.ndarray):
        yield np.float64(1.0)
        return
    dtype = like.dtype if like.dtype.kind == "f" else np.float64
    for idx in np.ndindex(like.shape):
        e = np.zeros(like.shape, dtype=dtype)
        e[idx] = 1.0
        yield e


def columns(jvp, like):
    """The Jacobian columns for an argument shaped like ``like``: ``flat(jvp(e))`` for each unit
    tangent e, as an (outputs, entries) matrix."""
    cols = [flat(jvp(e)) for e in unit_tangents(like)]
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


def rows(vjp, out):
    """``vjp(ct)`` for a unit cotangent ``ct`` of each entry of the output ``out`` (shaped like
    it, tuples item by item), in order."""
    m = flat(out).size
    eye = np.eye(m)
    return [vjp(unflat(eye[i], out)) for i in range(m)]
