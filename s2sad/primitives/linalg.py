"""The primitive table's linear-algebra entries: axes moved (np.swapaxes, np.moveaxis),
triangles (np.tril, np.triu), np.kron, contractions (np.einsum, np.tensordot) and np.linalg
(norm, inv, det, slogdet, solve, cholesky). Like ``rules.py``, each entry gives its type rule,
JVP, batched JVP and VJP."""

from __future__ import annotations

from .. import ir
from ..errors import NonDifferentiableError
from ..ir.types import Array, Scalar, Tuple, F64
from . import batched as B
from . import table as T
from .table import axis_of, bilinear, const_value, custom, inverse_permutation, linear
from .typerules import einsum_spec, t_einsum, t_tensordot

# ---------------------------------------------------------------- axes moved: swapaxes, moveaxis
# Each is a transpose by a permutation known from the rank: the adjoint applies its inverse.


def moved_axes(c):
    n = c.argtypes[0].ndim
    vals = [const_value(x) for x in c.call.args[1:3]]
    if any(not isinstance(v, (int, tuple)) for v in vals):
        raise NonDifferentiableError(f"{c.call.func} needs its axes written as constants")
    if c.call.func == "np.swapaxes":
        a, b = (v % n for v in vals)
        perm = list(range(n))
        perm[a], perm[b] = perm[b], perm[a]
        return tuple(perm)
    src, dst = ((v,) if isinstance(v, int) else v for v in vals)
    src, dst = [v % n for v in src], [v % n for v in dst]
    rest = [k for k in range(n) if k not in src]
    perm = [None] * n
    for s_, d_ in zip(src, dst):
        perm[d_] = s_
    it = iter(rest)
    return tuple(p if p is not None else next(it) for p in perm)


for _name in ("np.swapaxes", "np.moveaxis"):
    linear(_name, ("x", "a", "b"), {0: lambda c: ir.Call("np.transpose", (c.env["g"], ir.Const(inverse_permutation(moved_axes(c)))))},
           lambda ts, c: ts[0],
           jvp={0: lambda c: ir.Call("np.transpose", (c.env["d"], ir.Const(moved_axes(c))))},
           batched=lambda c, ds: B.transpose(c, ds, moved_axes(c)))


# ---------------------------------------------------------------- axes added: np.expand_dims
# (what the adjoints of axis reductions write: a gradient differentiated again meets it)


def _added_axes(call, rank_in):
    """The positions np.expand_dims(x, axis) gives its new size-1 axes in the result, ascending
    and non-negative (``axis`` an int or a tuple of ints written as constants)."""
    ax = axis_of(call)
    if isinstance(ax, bool) or not (isinstance(ax, int) or (isinstance(ax, tuple) and ax)):
        raise NonDifferentiableError("np.expand_dims needs its axis written as a constant int or "
                                     "tuple of ints, as in np.expand_dims(x, 1)")
    axes = (ax,) if isinstance(ax, int) else ax
    out = rank_in + len(axes)
    pos = sorted({a % out for a in axes})
    if len(pos) != len(axes) or any(not -out <= a < out for a in axes):
        raise NonDifferentiableError(f"np.expand_dims: axis {ax} does not fit an array of {rank_in} axes")
    return tuple(pos)


def _t_expand_dims(ts, call):
    rank_in = ts[0].ndim if isinstance(ts[0], Array) else 0
    return Array(ts[0].dtype, rank_in + len(_added_axes(call, rank_in)))


def _insert_axes(e, positions, shift=0):
    for p in positions:  # ascending: each lands where the result has it
        e = ir.Call("np.expand_dims", (e, ir.Const(p + shift)))
    return e


def _squeeze_vjp(c):
    """The adjoint drops the added axes by indexing them at 0 (a view, contiguous or not)."""
    positions = _added_axes(c.call, B.rank(c.argtypes[0]))
    n = B.rank(c.ans_type)
    return ir.Load(c.env["g"], tuple(ir.Const(0) if k in positions else B.ALL for k in range(n)))


linear("np.expand_dims", ("x", "axis"), {0: _squeeze_vjp}, _t_expand_dims,
       jvp={0: lambda c: _insert_axes(c.env["d"], _added_axes(c.call, B.rank(c.argtypes[0])))},
       batched=lambda c, ds: _insert_axes(ds[0], _added_axes(c.call, B.rank(c.argtypes[0])), shift=1))


# ---------------------------------------------------------------- triangles: np.tril, np.triu
# Linear masks on the last two axes (a stack of tangents too): each is its own adjoint.


def _triangle_type(name):
    def tf(ts, c):
        if not (isinstance(ts[0], Array) and ts[0].ndim == 2) or c.kwargs or \
                (len(c.args) > 1 and not isinstance(const_value(c.args[1]), int)):
            raise NonDifferentiableError(f"s2sad differentiates {name}(x) or {name}(x, k) of a matrix "
                                         "with a constant k")
        return ts[0]
    return tf


for _name in ("np.tril", "np.triu"):
    linear(_name, ("x", "k"), {0: lambda c: ir.Call(c.call.func, (c.env["g"],) + tuple(c.call.args[1:]))},
           _triangle_type(_name), batched=B.same)


# ---------------------------------------------------------------- np.kron


def _kron_vjp(c, k):
    a, b = c.env["a"], c.env["b"]
    ta = c.argtypes[0]
    g = c.env["g"]
    shape = lambda x, i: ir.Load(ir.Attr(x, "shape"), (ir.Const(i),))  # noqa: E731
    if ta.ndim == 1:
        G = ir.Method(g, "reshape", (ir.TupleMake((shape(a, 0), shape(b, 0))),))
        return ir.Call("np.dot", (G, b)) if k == 0 else ir.Call("np.dot", (a, G))
    G = ir.Method(g, "reshape", (ir.TupleMake((shape(a, 0), shape(b, 0), shape(a, 1), shape(b, 1))),))
    if k == 0:
        return ir.Call("np.einsum", (ir.Const("ikjl,kl->ij"), G, b))
    return ir.Call("np.einsum", (ir.Const("ikjl,ij->kl"), G, a))


def _kron_batched(c, ds):
    a, b = c.call.args
    ta = c.argtypes[0]
    out = None
    one = ta.ndim == 1
    spec = ("zi,j->zij", "i,zj->zij") if one else ("zij,kl->zikjl", "ij,zkl->zikjl")
    for k, d in enumerate(ds):
        if d is None:
            continue
        ops = (d, b) if k == 0 else (a, d)
        term = ir.Call("np.einsum", (ir.Const(spec[k]),) + ops)
        out = T.add(out, ir.Call("np.reshape", (term, ir.BinOp("+", ir.TupleMake((B.NB,)), ir.Attr(c.ans, "shape")))))
    return out


def _kron_type(ts, c):
    a, b = ts[0], ts[1]
    if not (isinstance(a, Array) and isinstance(b, Array) and a.ndim == b.ndim and a.ndim in (1, 2)):
        raise NonDifferentiableError("s2sad differentiates np.kron of two vectors or two matrices")
    return Array("float64", a.ndim)


bilinear("np.kron", ("a", "b"), {0: lambda c: _kron_vjp(c, 0), 1: lambda c: _kron_vjp(c, 1)}, _kron_type,
         batched=_kron_batched)


# ---------------------------------------------------------------- contractions: einsum, tensordot
#
# Both are multilinear: the JVP in one operand is the same contraction of its tangent, and the
# VJP of an einsum is an einsum (the output's subscripts and the other operands' contracted to
# the operand's own); tensordot is written as the einsum it is.

_OPERANDS = ("x0", "x1", "x2", "x3", "x4", "x5")
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def einsum_subscripts(c):
    """(input subscripts, output subscripts, operands) of an np.einsum or np.tensordot call."""
    if c.call.func == "np.tensordot":
        return _tensordot_as_einsum(c)
    ins, out = einsum_spec(c.call)
    if any("." in s for s in ins + [out]):
        raise NonDifferentiableError("np.einsum with `...` is not differentiated: write the axes out")
    return ins, out, list(c.call.args[1:])


def _tensordot_as_einsum(c):
    a, b = c.call.args[0], c.call.args[1]
    ra, rb = (t.ndim if isinstance(t, Array) else 0 for t in c.argtypes[:2])
    axes = c.call.args[2] if len(c.call.args) > 2 else c.kw("axes", ir.Const(2))
    value = const_value(axes)
    if isinstance(value, int):
        pairs = list(zip(range(ra - value, ra), range(value)))
    elif isinstance(value, tuple) and len(value) == 2:
        xs, ys = ((v,) if isinstance(v, int) else tuple(v) for v in value)
        pairs = [(x % ra, y % rb) for x, y in zip(xs, ys)]
    else:
        raise NonDifferentiableError("np.tensordot needs its axes written as constants")
    la = list(_LETTERS[:ra])
    lb = list(_LETTERS[ra:ra + rb])
    for x, y in pairs:
        lb[y] = la[x]
    contracted = {la[x] for x, _ in pairs}
    out = "".join(ch for ch in la if ch not in contracted) + "".join(ch for ch in lb if ch not in contracted)
    return ["".join(la), "".join(lb)], out, [a, b]




def _einsum(ins, out, operands):
    return ir.Call("np.einsum", (ir.Const(",".join(ins) + "->" + out),) + tuple(operands))


def _operand_index(c, k):
    """The position among the contraction's operands of call argument ``k``."""
    return k if c.call.func == "np.tensordot" else k - 1


def _einsum_jvp(c, k):
    ins, out, ops = einsum_subscripts(c)
    ops[_operand_index(c, k)] = c.env["d"]
    return _einsum(ins, out, ops)


def _einsum_vjp(c, k):
    ins, out, ops = einsum_subscripts(c)
    i = _operand_index(c, k)
    mine = ins[i]
    if len(set(mine)) != len(mine):
        raise NonDifferentiableError(f"np.einsum with a repeated index in one operand ({mine!r}, "
                                     "a diagonal) is not differentiated")
    others = [(s_, o) for j, (s_, o) in enumerate(zip(ins, ops)) if j != i]
    seen = set(out) | {ch for s_, _ in others for ch in s_}
    # an index only this operand has is summed in the primal: its adjoint is broadcast along it
    ones = [(ch, ir.Call("np.ones", (ir.Load(ir.Attr(ops[i], "shape"), (ir.Const(ax),)),)))
            for ax, ch in enumerate(mine) if ch not in seen]
    return _einsum([out] + [s_ for s_, _ in others] + [ch for ch, _ in ones], mine,
                   [c.env["g"]] + [o for _, o in others] + [o for _, o in ones])


def _einsum_batched(c, ds):
    ins, out, ops = einsum_subscripts(c)
    z = next(ch for ch in reversed(_LETTERS) if ch not in "".join(ins) + out)
    total = None
    first = 0 if c.call.func == "np.tensordot" else 1
    for k, d in enumerate(ds):
        if d is None:
            continue
        i = k - first
        sub = list(ins)
        sub[i] = z + sub[i]
        args = list(ops)
        args[i] = d
        total = T.add(total, _einsum(sub, z + out, args))
    return total


custom("np.einsum", ("subscripts",) + _OPERANDS, t_einsum, diff=tuple(range(1, 7)),
       vjp={k: (lambda c, k=k: _einsum_vjp(c, k)) for k in range(1, 7)},
       jvp={k: (lambda c, k=k: _einsum_jvp(c, k)) for k in range(1, 7)}, batched=_einsum_batched,
       strings=(0,))
custom("np.tensordot", ("a", "b", "axes"), t_tensordot, diff=(0, 1),
       vjp={k: (lambda c, k=k: _einsum_vjp(c, k)) for k in range(2)},
       jvp={k: (lambda c, k=k: _einsum_jvp(c, k)) for k in range(2)}, batched=_einsum_batched)


# ---------------------------------------------------------------- np.linalg
#
# The matrix-calculus identities (Giles, "An extended collection of matrix derivative results
# for forward and reverse mode AD", 2008): with C = inv(A), dC = -C dA C and Ā = -Cᵀ C̄ Cᵀ;
# d det(A) = det(A) tr(C dA) and Ā = det(A) ḡ Cᵀ; x = solve(A, b): dx = solve(A, db - dA x),
# b̄ = solve(Aᵀ, x̄), Ā = -b̄ xᵀ; d log|det A| = tr(C dA), so Ā = ḡ Cᵀ (the sign is piecewise
# constant: no derivative).


def _dot(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = ir.Call("np.dot", (out, x))
    return out


def _T(x):
    return ir.Attr(x, "T")


def _norm_check(ts, c):
    if c.kwargs or len(c.args) > 1:
        raise NonDifferentiableError("s2sad differentiates np.linalg.norm(x): the 2-norm of a vector or "
                                     "the Frobenius norm of a matrix, with no ord or axis")
    return Scalar(ts[0].dtype if ts[0].dtype in ("float32", "float64") else "float64")


def _square_check(name, result):
    def tf(ts, c):
        if not (isinstance(ts[0], Array) and ts[0].ndim == 2) or c.kwargs:
            raise NonDifferentiableError(f"s2sad differentiates {name} of a square matrix, not of a {ts[0]}")
        return result(ts, c)
    return tf


def _solve_x(c):
    return c.ans


def _solve_b_bar(c):
    return ir.Call("np.linalg.solve", (_T(c.env["A"]), c.env["g"]))


def _solve_vjp_A(c):
    bb = _solve_b_bar(c)
    x = c.ans
    if c.argtypes[1].ndim == 1:
        return ir.UnaryOp("-", ir.Call("np.outer", (bb, x)))
    return ir.UnaryOp("-", ir.Call("np.dot", (bb, _T(x))))


def _solve_batched(c, ds):
    A, x = c.call.args[0], c.ans
    vec = c.argtypes[1].ndim == 1
    rhs = None
    if ds[1] is not None:
        rhs = ds[1]
    if ds[0] is not None:
        ax = ir.Call("np.matmul", (ds[0], x))  # (nb, n) or (nb, n, m)
        rhs = ir.UnaryOp("-", ax) if rhs is None else ir.BinOp("-", rhs, ax)
    if vec:  # each direction a column: solve(A, rhs.T).T
        return _T(ir.Call("np.linalg.solve", (A, _T(rhs))))
    return ir.Call("np.linalg.solve", (A, rhs))


custom("np.linalg.norm", ("x",), _norm_check, diff=(0,),
       vjp={0: lambda c: ir.BinOp("/", ir.BinOp("*", c.env["g"], c.env["x"]), c.ans)},
       jvp={0: lambda c: ir.BinOp("/", ir.Call("np.sum", (ir.BinOp("*", c.env["x"], c.env["d"]),)), c.ans)},
       batched=lambda c, ds: ir.BinOp("/", B.sum_rest(ir.BinOp("*", ds[0], c.call.args[0]), c.argtypes[0]), c.ans))
custom("np.linalg.inv", ("A",), _square_check("np.linalg.inv", lambda ts, c: Array("float64", 2)), diff=(0,),
       vjp={0: lambda c: ir.UnaryOp("-", _dot(_T(c.ans), c.env["g"], _T(c.ans)))},
       jvp={0: lambda c: ir.UnaryOp("-", _dot(c.ans, c.env["d"], c.ans))},
       batched=lambda c, ds: ir.UnaryOp("-", ir.Call("np.matmul", (ir.Call("np.matmul", (c.ans, ds[0])), c.ans))))
custom("np.linalg.det", ("A",), _square_check("np.linalg.det", lambda ts, c: F64), diff=(0,),
       vjp={0: lambda c: ir.BinOp("*", ir.BinOp("*", c.env["g"], c.ans), _T(ir.Call("np.linalg.inv", (c.env["A"],))))},
       jvp={0: lambda c: ir.BinOp("*", c.ans, ir.Call("np.sum", (ir.BinOp("*", _T(ir.Call("np.linalg.inv", (c.env["A"],))), c.env["d"]),)))},
       batched=lambda c, ds: ir.BinOp("*", c.ans, B.sum_rest(
           ir.BinOp("*", ds[0], _T(ir.Call("np.linalg.inv", (c.call.args[0],)))), c.argtypes[0])))
custom("np.linalg.solve", ("A", "b"), _square_check("np.linalg.solve", lambda ts, c: Array("float64", ts[1].ndim)),
       diff=(0, 1), vjp={0: _solve_vjp_A, 1: _solve_b_bar},
       jvp={0: lambda c: ir.UnaryOp("-", ir.Call("np.linalg.solve", (c.env["A"], ir.Call("np.dot", (c.env["d"], c.ans))))),
            1: lambda c: ir.Call("np.linalg.solve", (c.env["A"], c.env["d"]))},
       batched=_solve_batched)


def _item(g, k):
    """Item ``k`` of a tuple result's adjoint (a TupleMake of the items' adjoints)."""
    return g.items[k] if isinstance(g, ir.TupleMake) else ir.TupleGet(g, k)


def _inv_T(A):
    return _T(ir.Call("np.linalg.inv", (A,)))


custom("np.linalg.slogdet", ("A",), _square_check("np.linalg.slogdet", lambda ts, c: Tuple((F64, F64))), diff=(0,),
       vjp={0: lambda c: ir.BinOp("*", _item(c.env["g"], 1), _inv_T(c.env["A"]))},
       jvp={0: lambda c: ir.TupleMake((ir.Const(0.0), ir.Call("np.sum", (ir.BinOp("*", _inv_T(c.env["A"]), c.env["d"]),))))},
       batched=lambda c, ds: ir.TupleMake((ir.Call("np.zeros", (B.NB,)), B.sum_rest(
           ir.BinOp("*", ds[0], _inv_T(c.call.args[0])), c.argtypes[0]))))


# np.linalg.cholesky: L lower with L Lᵀ = A, computed (by LAPACK, as NumPy and Numba call it)
# from the lower triangle of A alone. So its derivative is that of the symmetric matrix
# S(A) = tril(A) + tril(A, -1)ᵀ: dS = tril(dA) + tril(dA, -1)ᵀ, and (Murray 2016, "Differentiation
# of the Cholesky decomposition"; JAX's cholesky_jvp_rule) dL = L Φ(L⁻¹ dS L⁻ᵀ) with Φ the
# lower triangle with its diagonal halved. Its adjoint: with P = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹ (Φ is
# self-adjoint), S̄ = P, and Ā = Φ(P + Pᵀ): the lower entries get both of S's mirrored ones.
# For a symmetric Y, L⁻¹ Y L⁻ᵀ = solve(L, solve(L, Y)ᵀ) (and likewise with Lᵀ): two solves,
# each operand written once (an expression has no names to share a value).


def _swap(x, stacked):
    return ir.Call("np.swapaxes", (x, ir.Const(-1), ir.Const(-2))) if stacked else _T(x)


def _phi(x):
    """Φ(x): the lower triangle of ``x`` (of a stack too) with its diagonal halved (the runtime
    helper ``_lower_half``)."""
    return ir.Call("_lower_half", (x,))


def _sandwich(L, y, stacked):
    """L⁻¹ y L⁻ᵀ for a symmetric y (a stack of them too)."""
    return ir.Call("np.linalg.solve", (L, _swap(ir.Call("np.linalg.solve", (L, y)), stacked)))


def _cholesky_tangent(c, d, stacked):
    L = c.ans
    sym = ir.BinOp("+", ir.Call("np.tril", (d,)), _swap(ir.Call("np.tril", (d, ir.Const(-1))), stacked))
    mm = "np.matmul" if stacked else "np.dot"
    return ir.Call(mm, (L, _phi(_sandwich(L, sym, stacked))))


def _cholesky_vjp(c):
    L = c.ans
    x = _dot(_T(L), c.env["g"])
    # P + Pᵀ = L⁻ᵀ (Φ(X) + Φ(X)ᵀ) L⁻¹, X = Lᵀ L̄
    return _phi(_sandwich(_T(L), ir.BinOp("+", _phi(x), _T(_phi(x))), False))


custom("np.linalg.cholesky", ("A",), _square_check("np.linalg.cholesky", lambda ts, c: Array("float64", 2)),
       diff=(0,), vjp={0: _cholesky_vjp}, jvp={0: lambda c: _cholesky_tangent(c, c.env["d"], False)},
       batched=lambda c, ds: _cholesky_tangent(c, ds[0], True))
