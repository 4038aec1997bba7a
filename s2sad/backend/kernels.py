"""Loop kernels for the NumPy calls Numba does not compile, for ``jit=True``.

Numba lacks some NumPy signatures that vectorized code and its derivatives use: ``keepdims``,
``mean``/``max``/``min``/``prod``/``var``/``std`` over an axis, ``ddof``, ``np.matmul`` (and
``@`` on stacks of matrices), ``np.dot`` and ``np.linalg.solve`` with a stack (vector forward
mode's tangents of matrix products), ``np.einsum``, ``np.tensordot``. Before a jitted module is
printed, ``use_kernels`` rewrites each such call, in the primal code and the derivative code
alike, into calls Numba has or small loop kernels copied into the module (like the runtime
helpers, by ``runtime.helper_source``): ``np.max(x, axis=1, keepdims=True)`` becomes
``np.expand_dims(_max_axis(x, 1), 1)``, ``np.einsum("ij,jk->ik", a, b)`` a function
``_einsum_ij_jk_to_ik(a, b)`` of three loops. The rewrite reads the argument types (ranks,
constant axes), so each kernel gives exactly NumPy's shape: Numba's in-place operators do not
check shapes (numba/numba#4542), a result of the wrong shape would be silently wrong.
"""

from __future__ import annotations

from types import SimpleNamespace

from .. import ir
from ..analysis.typeinfer import TypeInference
from ..errors import S2SADError
from ..ir.types import F64, I64, Array
from ..primitives import RULES, canonical_call
from ..primitives.linalg import einsum_subscripts, moved_axes
from ..primitives.table import axis_of, const_value, keepdims
from .elementwise import (
    ELEMENTWISE,
    ELEMENTWISE_MIN_NDIM,
    elementwise_into_kernel,
    elementwise_kernel,
    elementwise_template,
)

# _COPY_LOOPS: a kernel stores a matrix into part of an array element by element, not by slice
# assignment (out[s] = m), which Numba compiles with the string formatting of its shape-mismatch
# message: ~2-3 s of CPU on a cold first call, once per process (the shapes agree by
# construction here)

_ROWS = '''
def _{op}_axis(x, axis):
    """np.{op}(x, axis=axis) for an array of any rank: the axis moved last, then each row's
    {what}."""
    rows = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    flat = rows.reshape((-1, rows.shape[-1]))
    out = np.empty(flat.shape[0], dtype=x.dtype)
    for i in range(flat.shape[0]):
        out[i] = np.{op}(flat[i])
    return out.reshape(rows.shape[:-1])
'''

# for an axis known from the rank: the axis put last by a _permute_ kernel where it is not
# (Numba compiles np.moveaxis through x.transpose(axes), with its string machinery: ~3 s of CPU
# on a cold first call)
_LAST = '''
def _{op}_last(x):
    """np.{op}(x, axis=-1) for an array of any rank: each row's {what}."""
    rows = np.ascontiguousarray(x)
    flat = rows.reshape((-1, rows.shape[-1]))
    out = np.empty(flat.shape[0], dtype=x.dtype)
    for i in range(flat.shape[0]):
        out[i] = np.{op}(flat[i])
    return out.reshape(rows.shape[:-1])
'''

# (sum: for float and int64 arrays, whose sums keep their dtype, and _count_last for bool;
# Numba's np.sum(x, axis=k) formats its axis-bounds message with its string machinery, ~1.5 s
# of CPU on a cold first call)
_ROW_OPS = (("max", "maximum"), ("min", "minimum"), ("prod", "product"), ("sum", "sum"))

_LAST_OPS = {op for op, _ in _ROW_OPS} | {"count"}


# np.matmul of stacks of matrices, and the two products matmul's adjoints take with a swapped
# stack: BLAS reads each matrix of the swapped stack transposed, so it is never copied
_MATMUL3 = '''
def {name}(a, b):
    """{doc}:
    a stack of one matrix is broadcast against the other."""
    if a.shape[0] != b.shape[0] and a.shape[0] != 1 and b.shape[0] != 1:
        raise ValueError("matmul: the stacks of matrices have different lengths")
    a = np.ascontiguousarray(a)  # (np.dot is fastest on contiguous matrices)
    b = np.ascontiguousarray(b)
    out = np.empty((max(a.shape[0], b.shape[0]), {n}, {m}), dtype=np.float64)
    for s in range(out.shape[0]):
        m = np.dot(a[min(s, a.shape[0] - 1)]{left}, b[min(s, b.shape[0] - 1)]{right})
        for i in range(m.shape[0]):  # (not out[s] = m: see _COPY_LOOPS)
            for j in range(m.shape[1]):
                out[s, i, j] = m[i, j]
    return out
'''
_MATMUL3_FORMS = (
    ("_matmul3", "np.matmul of two stacks of matrices, (s, n, k) @ (s, k, m) -> (s, n, m)",
     "a.shape[1]", "b.shape[2]", "", ""),
    ("_matmul3_tn", "np.matmul(np.swapaxes(a, -1, -2), b), (s, k, n) and (s, k, m) -> (s, n, m)",
     "a.shape[2]", "b.shape[2]", ".T", ""),
    ("_matmul3_nt", "np.matmul(a, np.swapaxes(b, -1, -2)), (s, n, k) and (s, m, k) -> (s, n, m)",
     "a.shape[1]", "b.shape[1]", "", ".T"),
)

KERNELS = {
    **{f"_{op}_axis": _ROWS.format(op=op, what=what) for op, what in _ROW_OPS if op != "sum"},
    **{f"_{op}_last": _LAST.format(op=op, what=what) for op, what in _ROW_OPS},
    "_count_last": '''
def _count_last(x):
    """np.sum(x, axis=-1) for a bool array of any rank: each row's count of True, an int64."""
    rows = np.ascontiguousarray(x)
    flat = rows.reshape((-1, rows.shape[-1]))
    out = np.empty(flat.shape[0], dtype=np.int64)
    for i in range(flat.shape[0]):
        out[i] = np.sum(flat[i])
    return out.reshape(rows.shape[:-1])
''',
    "_mean_axis": '''
def _mean_axis(x, axis):
    """np.mean(x, axis=axis) for an array of any rank."""
    return np.sum(x, axis=axis) / x.shape[axis]
''',
    "_var_axis": '''
def _var_axis(x, axis, ddof):
    """np.var(x, axis=axis, ddof=ddof) for an array of any rank: the axis moved last, then
    each row's sum of squared deviations from its mean over (its length - ddof)."""
    rows = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    flat = rows.reshape((-1, rows.shape[-1]))
    out = np.empty(flat.shape[0], dtype=np.float64)
    for i in range(flat.shape[0]):
        m = np.mean(flat[i])
        acc = 0.0
        for j in range(flat.shape[1]):
            acc += (flat[i, j] - m) ** 2
        out[i] = acc / (flat.shape[1] - ddof)
    return out.reshape(rows.shape[:-1])
''',
    "_var_all": '''
def _var_all(x, ddof):
    """np.var(x, ddof=ddof): the sum of squared deviations from the mean over (size - ddof)."""
    return np.sum((x - np.mean(x)) ** 2) / (x.size - ddof)
''',
    **{name: _MATMUL3.format(name=name, doc=doc, n=n, m=m, left=left, right=right)
       for name, doc, n, m, left, right in _MATMUL3_FORMS},
    "_unbroadcast3_mul": '''
def _unbroadcast3_mul(a, b, like):
    """_unbroadcast3(a * b, like) for 3-d a and b: the product summed back to the shape of
    `like` over the size-1 axes broadcasting stretched, entry by entry, never stored whole."""
    n0 = max(a.shape[0], b.shape[0])
    n1 = max(a.shape[1], b.shape[1])
    n2 = max(a.shape[2], b.shape[2])
    if (a.shape[0] != n0 and a.shape[0] != 1) or (b.shape[0] != n0 and b.shape[0] != 1) \
            or (a.shape[1] != n1 and a.shape[1] != 1) or (b.shape[1] != n1 and b.shape[1] != 1) \
            or (a.shape[2] != n2 and a.shape[2] != 1) or (b.shape[2] != n2 and b.shape[2] != 1):
        raise ValueError("operands could not be broadcast together")
    if like.shape[0] == n0 and like.shape[1] == n1 and like.shape[2] == n2:
        # nothing to sum: the product, as loops (Numba's `a * b` on 3-d arrays costs ~1 s
        # of LLVM on a cold first call, these ~0.2 s, and run faster)
        full = np.empty((n0, n1, n2), dtype=np.float64)
        for i in range(n0):
            a_i = a[min(i, a.shape[0] - 1)]
            b_i = b[min(i, b.shape[0] - 1)]
            for j in range(n1):
                a_ij = a_i[min(j, a.shape[1] - 1)]
                b_ij = b_i[min(j, b.shape[1] - 1)]
                o = full[i, j]
                if a.shape[2] == n2 and b.shape[2] == n2:
                    for k in range(n2):
                        o[k] = a_ij[k] * b_ij[k]
                else:
                    for k in range(n2):
                        o[k] = a_ij[min(k, a.shape[2] - 1)] * b_ij[min(k, b.shape[2] - 1)]
        return full
    if (like.shape[0] != n0 and like.shape[0] != 1) or (like.shape[1] != n1 and like.shape[1] != 1) \
            or (like.shape[2] != n2 and like.shape[2] != 1):
        raise ValueError("a product summed back to a shape it was not broadcast from")
    out = np.zeros((like.shape[0], like.shape[1], like.shape[2]), dtype=np.float64)
    last = like.shape[2] - 1
    for i in range(n0):
        plane = out[min(i, like.shape[0] - 1)]
        a_i = a[min(i, a.shape[0] - 1)]
        b_i = b[min(i, b.shape[0] - 1)]
        for j in range(n1):
            row = plane[min(j, like.shape[1] - 1)]
            a_ij = a_i[min(j, a.shape[1] - 1)]
            b_ij = b_i[min(j, b.shape[1] - 1)]
            if last == 0:
                acc = row[0]
                for k in range(n2):
                    acc += a_ij[min(k, a.shape[2] - 1)] * b_ij[min(k, b.shape[2] - 1)]
                row[0] = acc
            else:
                for k in range(n2):
                    row[k] += a_ij[min(k, a.shape[2] - 1)] * b_ij[min(k, b.shape[2] - 1)]
    return out
''',
    "_matmul4": '''
def _matmul4(a, b):
    """np.matmul of two 4-d stacks of matrices, (r, s, n, k) @ (r, s, k, m) -> (r, s, n, m);
    stack axes of length one are broadcast."""
    for k in range(2):
        if a.shape[k] != b.shape[k] and a.shape[k] != 1 and b.shape[k] != 1:
            raise ValueError("matmul: the stacks of matrices have different lengths")
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    out = np.empty((max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1]), a.shape[2], b.shape[3]),
                   dtype=np.float64)
    for r in range(out.shape[0]):
        for s in range(out.shape[1]):
            m = np.dot(a[min(r, a.shape[0] - 1), min(s, a.shape[1] - 1)],
                       b[min(r, b.shape[0] - 1), min(s, b.shape[1] - 1)])
            for i in range(m.shape[0]):
                for j in range(m.shape[1]):
                    out[r, s, i, j] = m[i, j]
    return out
''',
    "_dot_stack_left": '''
def _dot_stack_left(a, b):
    """np.dot(a, b) (and np.matmul) for a stack a of 3 or more axes and b a vector or a matrix:
    a's last axis contracted with b's first, as one matrix product of a's rows."""
    rows = np.ascontiguousarray(a).reshape((-1, a.shape[-1]))
    return np.dot(rows, np.ascontiguousarray(b)).reshape(a.shape[:-1] + b.shape[1:])
''',
    "_dot_vec_stack": '''
def _dot_vec_stack(a, b):
    """np.dot(a, b) (and np.matmul) for a vector a and a 3-d stack b: out[k, l] is the sum
    over j of a[j] * b[k, j, l]."""
    out = np.empty((b.shape[0], b.shape[2]), dtype=np.float64)
    for k in range(b.shape[0]):
        m = np.dot(a, np.ascontiguousarray(b[k]))
        for j in range(m.shape[0]):
            out[k, j] = m[j]
    return out
''',
    "_dot_mat_stack": '''
def _dot_mat_stack(a, b):
    """np.dot(a, b) for a matrix a and a 3-d stack b: out[i, k, l] is the sum over j of
    a[i, j] * b[k, j, l] (NumPy's np.dot, not np.matmul: the stack axis lands in the middle)."""
    a = np.ascontiguousarray(a)
    out = np.empty((a.shape[0], b.shape[0], b.shape[2]), dtype=np.float64)
    for k in range(b.shape[0]):
        m = np.dot(a, np.ascontiguousarray(b[k]))
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                out[i, k, j] = m[i, j]
    return out
''',
    "_solve_stack": '''
def _solve_stack(a, b):
    """np.linalg.solve(a, b) for a matrix a and a 3-d stack b of right-hand sides: a solved
    against each b[k] (NumPy broadcasts a over the stack)."""
    out = np.empty(b.shape, dtype=np.float64)
    for k in range(b.shape[0]):
        m = np.linalg.solve(a, np.ascontiguousarray(b[k]))
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                out[k, i, j] = m[i, j]
    return out
''',
}


def is_kernel(name):
    return name in KERNELS or name.startswith(("_einsum_", "_permute_", "_elementwise"))


def kernel_source(name):
    if name in KERNELS:
        return KERNELS[name]
    if name.startswith("_permute_"):
        return _permute_kernel(name)
    if name.startswith("_elementwise"):
        return ELEMENTWISE[name]
    return _einsum_kernel(name)


# ================================================================ axes permuted, as a view


def permute_kernel_name(perm):
    """``(0, 2, 1)`` -> ``_permute_0_2_1``."""
    return "_permute_" + "_".join(map(str, perm))


def _permute_kernel(name):
    """np.transpose(x, perm) as the view of x's data with its shape and strides permuted:
    Numba compiles x.transpose(axes) (np.transpose, np.swapaxes, np.moveaxis) with its
    set and sorting and string machinery, ~3 s of CPU on a cold first call, once per process."""
    perm = [int(k) for k in name[len("_permute_"):].split("_")]
    shape = ", ".join(f"x.shape[{k}]" for k in perm) + ("," if len(perm) == 1 else "")
    strides = ", ".join(f"x.strides[{k}]" for k in perm) + ("," if len(perm) == 1 else "")
    return (f"\ndef {name}(x):\n"
            f'    """np.transpose(x, {tuple(perm)}): a view of the same elements, axes permuted."""\n'
            f"    return np.lib.stride_tricks.as_strided(x, ({shape}), ({strides}))\n")


# ================================================================ einsum as loops


def einsum_kernel_name(ins, out):
    """``["ij", "jk"], "ik"`` -> ``_einsum_ij_jk_to_ik`` (subscripts are letters, so the name
    says them unambiguously)."""
    return "_einsum_" + "_".join(ins) + "_to_" + out


def _einsum_kernel(name):
    spec = name[len("_einsum_"):]
    head, out = spec.rsplit("_to_", 1)
    ins = head.split("_")
    ops = [f"x{k}" for k in range(len(ins))]
    text = f"np.einsum('{','.join(ins)}->{out}'"
    sizes, lines = {}, []
    for op, sub in zip(ops, ins):
        for ax, ch in enumerate(sub):
            if ch not in sizes:
                sizes[ch] = f"n_{ch}"
                lines.append(f"    n_{ch} = {op}.shape[{ax}]")
            else:
                lines.append(f"    if {op}.shape[{ax}] != n_{ch}:")
                lines.append(f"        raise ValueError(\"{text}): the operands disagree on the length of {ch}\")")
    summed = [ch for ch in dict.fromkeys("".join(ins)) if ch not in out]
    product = " * ".join(f"{op}[{', '.join(sub)}]" if sub else op for op, sub in zip(ops, ins))
    ind = "    "
    if out:
        lines.append(f"    out = np.zeros(({', '.join(sizes[ch] for ch in out)}{',' if len(out) == 1 else ''}),"
                     " dtype=np.float64)")
    else:
        lines.append("    acc = 0.0")
    for ch in out:
        lines.append(f"{ind}for {ch} in range(n_{ch}):")
        ind += "    "
    if out and summed:
        lines.append(f"{ind}acc = 0.0")
    inner = ind
    for ch in summed:
        lines.append(f"{inner}for {ch} in range(n_{ch}):")
        inner += "    "
    target = f"out[{', '.join(out)}]" if out else "acc"
    if summed or not out:
        lines.append(f"{inner}acc += {product}")
        if out:
            lines.append(f"{ind}{target} = acc")
    else:
        lines.append(f"{inner}{target} = {product}")
    lines.append(f"    return {'out' if out else 'acc'}")
    doc = f'    """{text}, {", ".join(ops)}) as loops."""'
    return f"\ndef {name}({', '.join(ops)}):\n{doc}\n" + "\n".join(lines) + "\n"


# ================================================================ the rewrite


def use_kernels(fn, module_globals):
    """Rewrite ``fn`` (in place; its ``types`` say its variables' types) so that Numba
    compiles every NumPy call in it. Returns the names of the kernels it calls."""
    rw = _Rewrite(fn, module_globals)
    done = set()

    def updates(block):
        for k, s in enumerate(block):
            for b in ir.child_blocks(s):
                updates(b)
            new = rw.elementwise_into(s)
            if new is not None:
                block[k] = new
                done.add(id(new))

    updates(fn.body)
    for s in ir.walk_stmts(fn.body):
        if id(s) not in done:
            _map_stmt(s, rw.expr)
    # those still called (no kernel calls another): a swapped stack's view made for an operand
    # and then read in place by _matmul3_tn/_nt is not printed unused
    return {e.func for s in ir.walk_stmts(fn.body) for r in ir.stmt_roots(s) for e in ir.walk_expr(r)
            if isinstance(e, ir.Call) and e.func in rw.used}


def _map_stmt(s, f):
    if isinstance(s, (ir.Assign, ir.TupleAssign, ir.ExprStmt, ir.Return)):
        if s.value is not None:
            s.value = f(s.value)
    elif isinstance(s, ir.AugAssign):
        s.value = f(s.value)
        if isinstance(s.target, ir.Load):
            s.target = f(s.target)
    elif isinstance(s, (ir.Store, ir.AugStore)):
        s.value = f(s.value)
        s.index = tuple(f(i) for i in s.index)
    elif isinstance(s, (ir.If, ir.While)):
        s.test = f(s.test)
    elif isinstance(s, ir.For):
        s.start, s.stop, s.step = (f(b) for b in (s.start, s.stop, s.step))


# result types of the runtime helpers generated code calls (the rest are not typed), and of
# the triangles of batched tangents (stacks, which the table's rule for a user's call refuses)
_HELPER_TYPES = {"_unbroadcast1": 1, "_unbroadcast2": 1, "_unbroadcast3": 1, "_unbroadcastn": 1,
                 "_prod_others": 0, "_lower_half": 0, "np.tril": 0, "np.triu": 0}


class _Types(TypeInference):
    """Types of the expressions of one generated function, by the primitive table's type
    rules over the function's variable types; None where unknown."""

    def __init__(self, fn, module_globals):
        super().__init__(None, {})
        self.res = SimpleNamespace(types=fn.types, fn=SimpleNamespace(globals=module_globals),
                                   calls={})
        self.changed = False

    def call(self, e, s):
        if e.func in _HELPER_TYPES:
            return self.typeof(e.args[_HELPER_TYPES[e.func]], s)
        if e.func == "_digamma":
            return F64
        if e.func not in RULES:
            return None
        return super().call(e, s)

    def of(self, e):
        try:
            return self.expr(e, _NOWHERE)
        except Exception:  # noqa: BLE001 - an expression the table does not type (a helper's result)
            return None


_NOWHERE = ir.Pass()

_REDUCE = ("np.sum", "np.mean", "np.max", "np.min", "np.prod", "np.var", "np.std")
_HANDLERS = {**{f: "reduction" for f in _REDUCE}, "np.matmul": "matmul", "np.dot": "dot",
             "_unbroadcast3": "unbroadcast",
             "np.einsum": "einsum", "np.tensordot": "einsum", "np.linalg.solve": "solve",
             "np.transpose": "transpose", "np.swapaxes": "transpose", "np.moveaxis": "transpose"}


def _unswapped(e, t):
    """``x`` for ``np.swapaxes(x, -1, -2)`` (or ``(1, 2)``, ``(2, 1)``) of a 3-d stack ``x``,
    or for the view that stands for it (``_permute_0_2_1(x)``: the operands are rewritten
    before the product), else None."""
    if isinstance(e, ir.Call) and e.func == permute_kernel_name((0, 2, 1)) and len(e.args) == 1 \
            and isinstance(t, Array) and t.ndim == 3:
        return e.args[0]
    if not (isinstance(e, ir.Call) and e.func == "np.swapaxes" and len(e.args) == 3 and not e.kwargs
            and isinstance(t, Array) and t.ndim == 3):
        return None
    axes = {const_value(e.args[1]), const_value(e.args[2])}
    if None in axes or {a % 3 for a in axes if isinstance(a, int)} != {1, 2} or len(axes) != 2:
        return None
    return e.args[0]


class _Rewrite:
    def __init__(self, fn, module_globals):
        self.types = _Types(fn, module_globals)
        self.used = set()

    def expr(self, e):
        if isinstance(e, (ir.BinOp, ir.UnaryOp, ir.Call)):
            out = self.elementwise(e)
            if out is not None:
                return out
        call = canonical_call(e) if isinstance(e, (ir.Method, ir.BinOp)) else e
        handler = _HANDLERS.get(call.func) if isinstance(call, ir.Call) else None
        if handler is not None:
            ts = [self.types.of(a) for a in call.args]  # of the expressions as they were
            if all(t is not None for t in ts):
                # the unbroadcast of a product reads the product as written (not yet a kernel's call)
                out = self.unbroadcast(call, ts) if handler == "unbroadcast" else \
                    getattr(self, handler)(ir.map_expr(call, self.expr), ts)
                if out is not None:
                    return out
        return ir.map_expr(e, self.expr)

    def elementwise(self, e):
        """``e``, elementwise arithmetic over float64 or int64 arrays of one rank >= 3 and numbers
        whose NumPy result is a float64 array, as a call of a loop kernel (see
        ``elementwise.elementwise_template`` for what is accepted), or None."""
        found = self._elementwise_operands(e)
        if found is None or not found[0].startswith(("(", "np.")):
            return None
        template, leaves, kinds, ndim = found
        name = elementwise_kernel(template, kinds, ndim)
        return self.kernel(name, *(self.expr(x) for x in leaves))

    def elementwise_into(self, s):
        """``t += e`` (or ``-=``, ``*=``, ``/=``) of a float64 array ``t`` of rank >= 3 and an
        elementwise ``e`` of the same rank, as a statement calling a loop kernel that updates
        ``t`` in place (see ``elementwise_into_kernel``), or None."""
        if not (isinstance(s, ir.AugAssign) and isinstance(s.target, ir.Var) and s.op in ("+", "-", "*", "/")):
            return None
        t = self.types.of(s.target)
        if not (isinstance(t, Array) and t.dtype == "float64" and t.ndim >= ELEMENTWISE_MIN_NDIM):
            return None
        found = self._elementwise_operands(s.value)
        if found is None or found[3] != t.ndim:
            return None
        template, leaves, kinds, ndim = found
        name = elementwise_into_kernel(s.op, template, kinds, ndim)
        self.used.add(name)
        return ir.ExprStmt(ir.Call(name, (s.target,) + tuple(self.expr(x) for x in leaves)), loc=s.loc)

    def _elementwise_operands(self, e):
        """(template, operands, their kinds, rank) of ``e`` as elementwise arithmetic over
        float64 or int64 arrays of one rank in 3..8 and numbers, with a float64 result (``e``
        itself may be one such array), or None."""
        leaves, kinds, numbers, ndims = [], [], [], set()

        def leaf(x):
            if x in leaves:
                k = leaves.index(x)
                return k, numbers[k]
            t = self.types.of(x)
            if isinstance(t, Array) and t.dtype in ("float64", "int64"):
                kinds.append("a")
                ndims.add(t.ndim)
            elif t in (F64, I64):
                kinds.append("s")
            else:
                return None
            leaves.append(x)
            numbers.append("f" if t.dtype == "float64" else "i")
            return len(leaves) - 1, numbers[-1]

        found = elementwise_template(e, leaf)
        if found is None or found[1] != "f" or len(ndims) != 1 \
                or not ELEMENTWISE_MIN_NDIM <= min(ndims) <= 8:
            return None  # NumPy's result is not a float64 array of one rank, or no kernel
        return found[0], leaves, kinds, ndims.pop()

    def kernel(self, name, *args):
        self.used.add(name)
        return ir.Call(name, tuple(args))

    # ------------------------------------------------------------ reductions

    def reduction(self, call, ts):
        x, xt = call.args[0], ts[0]
        if not isinstance(xt, Array):
            return None
        ax = axis_of(call)
        keep = keepdims(call)
        ddof = call.kw("ddof")
        if ddof is not None and isinstance(ddof, ir.Const) and ddof.value == 0:
            ddof = None
        if ax == "dynamic":
            axis = call.kw("axis") or call.args[1]
            if const_value(axis) is not None or isinstance(axis, ir.TupleMake):
                return None  # a tuple of axes not written as constants: left to Numba
            axis = ir.BinOp("%", axis, ir.Const(xt.ndim))
            out = self.reduce_one(call.func, x, axis, ddof)
            return ir.Call("np.expand_dims", (out, axis)) if keep else out
        if ax is not None and xt.ndim > 1:
            axes = sorted({a % xt.ndim for a in (ax if isinstance(ax, tuple) else (ax,))})
            if len(axes) > 1 and call.func in ("np.var", "np.std"):
                return None
            out = x
            for k, a in enumerate(reversed(axes)):  # the highest first: the lower axes keep their numbers
                out = self.reduce_one(call.func, out, ir.Const(a), ddof, xt.ndim - k, xt.dtype)
            for a in axes if keep else ():
                out = ir.Call("np.expand_dims", (out, ir.Const(a)))
            return out
        if not keep and ddof is None and ax is None:
            return None  # Numba has np.sum(x), np.mean(x), ...
        out = self.reduce_all(call.func, x, ddof)
        if keep:
            out = ir.Call("np.full", (ir.Const((1,) * xt.ndim), out))
        return out

    def reduce_one(self, func, x, axis, ddof, ndim=None, dtype=None):
        op = func[3:]
        if op == "sum" and not (ndim is not None and isinstance(axis, ir.Const)
                                and dtype in ("float64", "float32", "int64", "bool")):
            return ir.Call("np.sum", (x,), (("axis", axis),))
        if op == "sum" and dtype == "bool":  # a count: int64, as NumPy's
            op = "count"
        if op in ("var", "std"):
            v = self.kernel("_var_axis", x, axis, ddof if ddof is not None else ir.Const(0))
            return v if op == "var" else ir.Call("np.sqrt", (v,))
        if ndim is not None and isinstance(axis, ir.Const) and op in _LAST_OPS:
            # the axis moved last by a view
            a = axis.value
            if a != ndim - 1:
                x = self.kernel(permute_kernel_name([k for k in range(ndim) if k != a] + [a]), x)
            return self.kernel(f"_{op}_last", x)
        return self.kernel(f"_{op}_axis", x, axis)

    def reduce_all(self, func, x, ddof):
        if func in ("np.var", "np.std") and ddof is not None:
            v = self.kernel("_var_all", x, ddof)
            return v if func == "np.var" else ir.Call("np.sqrt", (v,))
        return ir.Call(func, (x,))

    # ------------------------------------------------------------ contractions

    def matmul(self, call, ts):
        a, b = call.args
        ta, tb = ts
        if not (isinstance(ta, Array) and isinstance(tb, Array)):
            return None
        if max(ta.ndim, tb.ndim) <= 2:
            return ir.Call("np.dot", (a, b))
        n = max(ta.ndim, tb.ndim)
        if min(ta.ndim, tb.ndim) == 1:  # a vector against a stack: np.dot's contraction
            return self.dot(call, ts)
        if min(ta.ndim, tb.ndim) < 1 or n > 4:
            return None
        lift = lambda x, t: ir.Load(x, (ir.NewAxis(),) * (n - t.ndim)) if t.ndim < n else x
        if n == 3:
            # matmul's adjoints multiply by swapped stacks: BLAS reads those transposed in place
            ua, ub = _unswapped(a, ta), _unswapped(b, tb)
            if ua is not None and ub is None:
                return self.kernel("_matmul3_tn", ua, lift(b, tb))
            if ub is not None and ua is None:
                return self.kernel("_matmul3_nt", lift(a, ta), ub)
        return self.kernel(f"_matmul{n}", lift(a, ta), lift(b, tb))

    def dot(self, call, ts):
        """np.dot with a stack of 3 or more axes (batched tangents of matrix products)."""
        a, b = call.args
        ta, tb = ts
        if not (isinstance(ta, Array) and isinstance(tb, Array)) or max(ta.ndim, tb.ndim) <= 2:
            return None
        if ta.ndim >= 3 and tb.ndim <= 2:
            return self.kernel("_dot_stack_left", a, b)
        if tb.ndim == 3 and ta.ndim <= 2:
            return self.kernel("_dot_vec_stack" if ta.ndim == 1 else "_dot_mat_stack", a, b)
        return None

    def unbroadcast(self, call, ts):
        """_unbroadcast3(a * b, like) of two 3-d float64 arrays (a product's adjoint summed back
        to a broadcast operand): summed as it is multiplied, without the product's array."""
        g, like = call.args
        if not (isinstance(g, ir.BinOp) and g.op == "*"):
            return None
        ta, tb = self.types.of(g.left), self.types.of(g.right)
        if all(isinstance(t, Array) and t.ndim == 3 and t.dtype == "float64" for t in (ta, tb)):
            return self.kernel("_unbroadcast3_mul", self.expr(g.left), self.expr(g.right), self.expr(like))
        return None

    def solve(self, call, ts):
        """np.linalg.solve of a matrix against a stack of right-hand sides."""
        ta, tb = ts[:2]
        if isinstance(ta, Array) and isinstance(tb, Array) and ta.ndim == 2 and tb.ndim == 3:
            return self.kernel("_solve_stack", *call.args[:2])
        return None

    # ------------------------------------------------------------ axes moved

    def transpose(self, call, ts):
        """np.transpose with its axes written out, np.swapaxes, np.moveaxis: a _permute_ view;
        np.transpose(x) without axes: x.T (Numba's attribute, where its np.transpose compiles
        an axes check, ~0.1 s of a cold first call)."""
        xt = ts[0]
        if not isinstance(xt, Array) or xt.ndim < 2:
            return None
        if call.func == "np.transpose":
            axes = call.kw("axes") or (call.args[1] if len(call.args) > 1 else None)
            if axes is None and len(call.args) == 1 and not call.kwargs:
                return ir.Attr(call.args[0], "T")
            perm = const_value(axes) if axes is not None else None
            if not (isinstance(perm, tuple) and len(perm) == xt.ndim
                    and all(type(k) is int for k in perm)):
                return None
            perm = tuple(k % xt.ndim for k in perm)
            if sorted(perm) != list(range(xt.ndim)):
                return None  # Numba's own message for a repeated axis
        else:
            try:
                perm = moved_axes(SimpleNamespace(call=call, argtypes=ts))
            except S2SADError:
                return None
        return self.kernel(permute_kernel_name(perm), call.args[0])

    def einsum(self, call, ts):
        ctx = SimpleNamespace(call=call, argtypes=ts, kw=call.kw)
        if call.func == "np.einsum" and not isinstance(call.args[0], ir.Const):
            return None
        if call.func == "np.tensordot":
            ctx.argtypes = ts[:2]
        try:
            ins, out, ops = einsum_subscripts(ctx)
        except S2SADError:  # subscripts s2sad does not differentiate either: left to Numba
            return None
        return self.kernel(einsum_kernel_name(ins, out), *ops)
