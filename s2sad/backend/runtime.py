"""Small helper functions copied into generated modules that use them (a generated module
imports nothing but math and numpy, so it runs where s2sad is not installed).

They are plain numpy code inside s2sad's differentiable subset, so generated code can itself
be differentiated again, and Numba compiles them in nopython mode.
"""

from .kernels import kernel_source

HELPERS = {
    "_digamma": '''
def _digamma(x):
    """The digamma function (d/dx log gamma) for x > 0: recurrence up to 6, then the
    asymptotic series (error below 1e-13)."""
    r = 0.0
    while x < 6.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return r + math.log(x) - 0.5 / x - f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f / 132.0))))
''',
    "_revolve_split": '''
def _revolve_split(t, free):
    """Binomial checkpointing: how many of t steps to reverse first (from a new snapshot),
    with `free` snapshots left: no more than the binomial bound for one snapshot fewer, so the
    recomputation stays within Griewank's revolve bound."""
    r = 1
    while True:
        c = 1.0
        for j in range(free):
            c = c * (free + r - j) / (j + 1)
        if c >= t:
            break
        r += 1
    c = 1.0
    for j in range(free - 1):
        c = c * (free - 1 + r - j) / (j + 1)
    return min(int(c), t - 1)
''',
    "_unbroadcast1": '''
def _unbroadcast1(g, like):
    """g summed back to the shape of 1-d `like` when broadcasting stretched a size-1 axis."""
    if g.shape[0] == like.shape[0]:
        return g
    out = np.zeros(like.shape[0], dtype=g.dtype)
    for i in range(g.shape[0]):
        out[0] += g[i]
    return out
''',
    "_unbroadcast2": '''
def _unbroadcast2(g, like):
    """g summed back to the shape of 2-d `like` over the size-1 axes broadcasting stretched."""
    if g.shape[0] == like.shape[0] and g.shape[1] == like.shape[1]:
        return g
    out = np.zeros((like.shape[0], like.shape[1]), dtype=g.dtype)
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            out[min(i, like.shape[0] - 1), min(j, like.shape[1] - 1)] += g[i, j]
    return out
''',
    "_unbroadcast3": '''
def _unbroadcast3(g, like):
    """g summed back to the shape of 3-d `like` over the size-1 axes broadcasting stretched."""
    if g.shape[0] == like.shape[0] and g.shape[1] == like.shape[1] and g.shape[2] == like.shape[2]:
        return g
    out = np.zeros((like.shape[0], like.shape[1], like.shape[2]), dtype=g.dtype)
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            for k in range(g.shape[2]):
                out[min(i, like.shape[0] - 1), min(j, like.shape[1] - 1), min(k, like.shape[2] - 1)] += g[i, j, k]
    return out
''',
    "_unbroadcastn": '''
def _unbroadcastn(g, like):
    """g summed back to the shape of `like` (any rank) over the size-1 axes broadcasting
    stretched (one axis at a time, in the subset s2sad differentiates: a Hessian differentiates
    this helper too)."""
    out = g
    for k in range(g.ndim):
        if like.shape[k] == 1 and g.shape[k] != 1:
            out = np.sum(out, axis=k, keepdims=True)
    return out
''',
    "_sum0": '''
def _sum0(g):
    """g summed over its first axis (the adjoint of a broadcast that added that axis)."""
    return np.sum(g, axis=0)
''',
    "_prod_others": '''
def _prod_others(x, axis):
    """For each entry of x, the product of the other entries along `axis` (-1: all entries),
    from prefix and suffix products: no division, so exact where x has zeros."""
    a = x.copy()  # row-major, whatever the layout of x
    pre = 1
    n = a.size
    post = 1
    if axis >= 0:
        n = a.shape[axis]
        for k in range(axis):
            pre *= a.shape[k]
        for k in range(axis + 1, a.ndim):
            post *= a.shape[k]
    v = a.reshape((pre, n, post))
    out = np.zeros_like(v)
    for i in range(pre):
        for j in range(post):
            acc = 1.0
            for k in range(n):
                out[i, k, j] = acc
                acc = acc * v[i, k, j]
            acc = 1.0
            for k in range(n - 1, -1, -1):
                out[i, k, j] = out[i, k, j] * acc
                acc = acc * v[i, k, j]
    return out.reshape(a.shape)
''',
    "_reserve_f": '''
def _reserve_f(tape, need):
    """The float tape, grown to hold at least `need` values."""
    if need > tape.shape[0]:
        grown = np.empty(max(need, 2 * tape.shape[0]), dtype=np.float64)
        grown[:tape.shape[0]] = tape
        tape = grown
    return tape
''',
    "_reserve_i": '''
def _reserve_i(tape, need):
    """The int tape, grown to hold at least `need` values."""
    if need > tape.shape[0]:
        grown = np.empty(max(need, 2 * tape.shape[0]), dtype=np.int64)
        grown[:tape.shape[0]] = tape
        tape = grown
    return tape
''',
    "_push_f": '''
def _push_f(tape, top, x):
    """Push float x on the tape, growing it when full; returns (tape, top)."""
    if top == tape.shape[0]:
        grown = np.empty(2 * tape.shape[0] + 64, dtype=np.float64)
        grown[:top] = tape[:top]
        tape = grown
    tape[top] = x
    return tape, top + 1
''',
    "_push_i": '''
def _push_i(tape, top, x):
    """Push int x on the int tape, growing it when full; returns (tape, top)."""
    if top == tape.shape[0]:
        grown = np.empty(2 * tape.shape[0] + 64, dtype=np.int64)
        grown[:top] = tape[:top]
        tape = grown
    tape[top] = x
    return tape, top + 1
''',
}


# Compiled by Numba, the reserving helpers copy a grown tape element by element: Numba types
# and compiles a slice assignment (``grown[:n] = tape``) through its general broadcasting
# setitem, which took 1.8 s of Lorenz's 2.6 s cold first call (with the loop: 0.7 s; GMM 5.7 ->
# 3.5 s). The pushes keep the slice: inlined at every push site, the loop cost GMM's gradient
# 2% per call. The plain Python form keeps the slices: NumPy copies them faster, and s2sad
# differentiates it again (the loop's write into ``grown`` before ``tape = grown`` is aliasing
# it refuses).
_SLICE_COPIES = {"        grown[:tape.shape[0]] = tape\n": "tape.shape[0]"}


def _copy_loops(text):
    for copy, n in _SLICE_COPIES.items():
        text = text.replace(copy, f"        for k in range({n}):\n            grown[k] = tape[k]\n")
    return text


# Indexed accumulation: NumPy's np.add.at under Python; Numba has no ufunc.at, so compiled, a
# loop over the indices does it (the index array of any rank flattened, ``g`` one row per index).
HELPERS["_scatter_add"] = '''
def _scatter_add(out, idx, g):
    """out[idx] += g with the rows of repeated indices summed (np.add.at): the adjoint of a
    gather out[idx], written into `out`."""
    np.add.at(out, idx, g)
'''
_SCATTER_ADD_LOOP = '''
def _scatter_add(out, idx, g):
    """out[idx] += g with the rows of repeated indices summed (np.add.at): the adjoint of a
    gather out[idx], written into `out`."""
    flat = idx.ravel()
    rows = (np.zeros(idx.shape + out.shape[1:], dtype=out.dtype) + g).reshape((flat.size,) + out.shape[1:])
    for k in range(flat.size):
        out[flat[k]] += rows[k]
'''
_SCATTER_ADD_B = '''
def _scatter_add_b(out, idx, g):
    """np.add.at(out, (slice(None), idx), g): _scatter_add for each direction (the first axis)
    of a batched tangent."""
    flat = idx.ravel()
    rows = (np.zeros(out.shape[:1] + idx.shape + out.shape[2:], dtype=out.dtype) + g).reshape(
        (out.shape[0], flat.size) + out.shape[2:])
    for b in range(out.shape[0]):
        for k in range(flat.size):
            out[b, flat[k]] += rows[b, k]
'''
HELPERS["_scatter_add_b"] = '''
def _scatter_add_b(out, idx, g):
    """np.add.at(out, (slice(None), idx), g): _scatter_add for each direction (the first axis)
    of a batched tangent."""
    np.add.at(out, (slice(None), idx), g)
'''
HELPERS["_lower_half"] = '''
def _lower_half(x):
    """The lower triangle of x (of each matrix of a stack) with its diagonal halved: the Φ of
    the derivative of the Cholesky factor."""
    return np.tril(x) - 0.5 * x * np.eye(x.shape[-1])
'''
HELPERS["_last_mask"] = '''
def _last_mask(idx, n):
    """1.0 at each entry of the index array `idx` (into an axis of length n) that is the last
    occurrence of its index, 0.0 at the earlier ones: where NumPy writes x[idx] = v, the value
    written last to a repeated index is the one kept."""
    flat = idx.ravel()
    seen = np.zeros(n)
    keep = np.zeros(flat.size)
    for k in range(flat.size - 1, -1, -1):
        i = flat[k] % n
        if seen[i] == 0.0:
            seen[i] = 1.0
            keep[k] = 1.0
    return keep.reshape(idx.shape)
'''

# Numba has no tuple-axis np.sum with keepdims: compiled, _unbroadcastn is one loop over g.
# _unbroadcast2/3 compiled: each output index found once per row rather than once per entry,
# and a row summed to one entry in a register (the Python forms are what a Hessian
# differentiates, so they stay plain)
_JIT_FORMS = {
    "_unbroadcast2": '''
def _unbroadcast2(g, like):
    """g summed back to the shape of 2-d `like` over the size-1 axes broadcasting stretched."""
    if g.shape[0] == like.shape[0] and g.shape[1] == like.shape[1]:
        return g
    out = np.zeros((like.shape[0], like.shape[1]), dtype=g.dtype)
    last = like.shape[1] - 1
    for i in range(g.shape[0]):
        row = out[min(i, like.shape[0] - 1)]
        if last == 0:
            acc = row[0]
            for j in range(g.shape[1]):
                acc += g[i, j]
            row[0] = acc
        else:
            for j in range(g.shape[1]):
                row[min(j, last)] += g[i, j]
    return out
''',
    "_unbroadcast3": '''
def _unbroadcast3(g, like):
    """g summed back to the shape of 3-d `like` over the size-1 axes broadcasting stretched."""
    if g.shape[0] == like.shape[0] and g.shape[1] == like.shape[1] and g.shape[2] == like.shape[2]:
        return g
    out = np.zeros((like.shape[0], like.shape[1], like.shape[2]), dtype=g.dtype)
    last = like.shape[2] - 1
    for i in range(g.shape[0]):
        plane = out[min(i, like.shape[0] - 1)]
        for j in range(g.shape[1]):
            row = plane[min(j, like.shape[1] - 1)]
            if last == 0:
                acc = row[0]
                for k in range(g.shape[2]):
                    acc += g[i, j, k]
                row[0] = acc
            else:
                for k in range(g.shape[2]):
                    row[min(k, last)] += g[i, j, k]
    return out
''',
    "_unbroadcastn": '''
def _unbroadcastn(g, like):
    """g summed back to the shape of `like` (any rank) over the size-1 axes broadcasting
    stretched: each entry of g added to the entry of the result its index maps to."""
    if g.shape == like.shape:
        return g
    out = np.zeros(like.shape, dtype=g.dtype)
    flat_out = out.reshape(-1)
    flat_g = np.ascontiguousarray(g).reshape(-1)
    for i in range(flat_g.size):
        rest = i
        at = 0
        stride = 1
        for k in range(g.ndim - 1, -1, -1):
            j = rest % g.shape[k]
            rest //= g.shape[k]
            if like.shape[k] != 1:
                at += j * stride
            stride *= like.shape[k]
        flat_out[at] += flat_g[i]
    return out
''',
}

JIT_HELPERS = {n: _copy_loops(t) for n, t in HELPERS.items()} | _JIT_FORMS
# Numba compiles np.sum(g, axis=0) with the string formatting of its axis-bounds error message
# (its unicode machinery): 2.1 s of CPU on a cold first call, against 0.1 s for this loop (MLP's
# gradient: 7.0 -> s)
JIT_HELPERS["_sum0"] = '''
def _sum0(g):
    """g summed over its first axis, a row at a time."""
    out = np.zeros(g.shape[1:], dtype=g.dtype)
    for i in range(g.shape[0]):
        out += g[i]
    return out
'''
# an array recorded on a tape (backend/jitform.py): a slice assignment costs Numba ~2 s of CPU
# on a cold first call (its shape-mismatch message formatted by its string machinery)
JIT_HELPERS["_record"] = '''
def _record(tape, at, values):
    """tape[at:at + values.size] = values.ravel(), a value at a time."""
    flat = values.ravel()
    if at < 0 or at + flat.shape[0] > tape.shape[0]:
        raise ValueError("s2sad: an array recorded past the end of its tape")
    for k in range(flat.shape[0]):
        tape[at + k] = flat[k]
'''
# Numba does not check an in-place update's shapes (numba#4542); NumPy does (backend/jitform.py)
JIT_HELPERS["_fits"] = '''
def _fits(out, v):
    """Raise NumPy's ValueError where ``out op= v`` would: ``v`` does not broadcast to
    ``out``'s shape."""
    vs, outs = np.shape(v), np.shape(out)
    if len(vs) > len(outs):
        raise ValueError("s2sad: an in-place update (a += b) whose right side does not broadcast to the shape of the array updated: NumPy raises here too; check the shapes of the arrays passed")
    for k in range(1, len(vs) + 1):
        n = vs[len(vs) - k]
        if n != 1 and n != outs[len(outs) - k]:
            raise ValueError("s2sad: an in-place update (a += b) whose right side does not broadcast to the shape of the array updated: NumPy raises here too; check the shapes of the arrays passed")
'''
JIT_HELPERS["_scatter_add"] = _SCATTER_ADD_LOOP
JIT_HELPERS["_scatter_add_b"] = _SCATTER_ADD_B


# compiled once and called, like the loop kernels, not inlined where called: Numba types an
# inlined function again at each call site, and a vectorized derivative calls these at dozens
CALLED = {"_unbroadcast1", "_unbroadcast2", "_unbroadcast3", "_unbroadcastn", "_sum0"}


def helper_source(names, decorator="", kernel_decorator=None):
    """The helpers' text; with a Numba ``decorator``, in the form Numba compiles fastest, and
    the loop kernels (``kernels.py``) that stand in for NumPy calls Numba lacks, each under
    ``kernel_decorator`` (default: ``decorator``)."""
    table = JIT_HELPERS if decorator else HELPERS
    kdeco = decorator if kernel_decorator is None else kernel_decorator
    return "\n".join(((kdeco if n in CALLED else decorator) + table[n].lstrip("\n") if n in table
                      else kdeco + kernel_source(n).lstrip("\n")).strip() + "\n\n"
                     for n in sorted(names))
