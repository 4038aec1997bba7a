"""The primitive table's shape: a ``Rule`` per primitive, what a rule sees (``Ctx``), and the
constructors the entries in ``rules.py`` are written with.

A rule holds everything the compiler knows of one primitive:

- ``type_fn(argtypes, call)``: its result type (type inference reads it);
- ``kind``: JAX's vocabulary — ``elementwise`` (``partials``, one per differentiable argument:
  forward mode multiplies them by the tangents, reverse mode by the adjoint), ``linear`` (by
  default the JVP applies the primitive to the tangent), ``bilinear`` (the product rule over
  ``jvp_func``), ``custom`` (explicit ``jvp`` and ``vjp``) and ``zero`` (no derivative);
- ``jvp[k]`` / ``vjp[k]``: templates (strings, see ``template.py``) or functions of a ``Ctx``;
- ``batched(ctx, ds)``: the JVP with a leading axis of directions on every tangent (vector
  forward mode). Elementwise rules need none (their partials broadcast); every other
  differentiable rule has one (where an application has no batched form, the rule raises
  ``NotBatchable`` and the caller runs one
  sweep per direction);
- ``costly``: its evaluation is a library call many times dearer than a multiplication (``exp``,
  ``log``, the trigonometric and gamma functions): reverse mode records its scalar result where
  the reverse sweep reads it in a loop, rather than calling it again there;
- ``items``: the primitive's first argument is a tuple of operands (``np.concatenate((a, b))``)
  and ``vjp[0]`` gives one contribution per item, ``[(item, contribution, type)]``.

A primitive's evaluation is its name: ``np.sin`` is the NumPy function, under Python and under
Numba alike; ``check/sympy_bridge.py`` interprets each one symbolically (a test holds the two
tables to the same names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import ir
from ..ir.types import Array, DType
from . import template

RULES = {}


@dataclass
class Rule:
    name: str
    args: tuple
    type_fn: Callable
    kind: str = "zero"  # elementwise | linear | bilinear | custom | zero
    partials: dict = field(default_factory=dict)
    vjp: dict = field(default_factory=dict)
    jvp: dict = field(default_factory=dict)
    diff: tuple = ()
    batched: Optional[Callable] = None
    jvp_func: Optional[Callable] = None  # bilinear: ctx -> the primitive the product rule applies
    items: bool = False
    strings: tuple = ()  # positions of arguments written as string constants (einsum's subscripts)
    costly: bool = False  # a transcendental: recorded rather than evaluated again by reverse mode


class Ctx:
    """What a rule sees of one primitive application: the call, its argument types, the
    result (``ans``) and its type, and the names a template may use."""

    def __init__(self, call, argtypes, ans, ans_type, env_extra=None):
        self.call = call
        self.argtypes = argtypes
        self.ans = ans
        self.ans_type = ans_type
        self.array_mode = any(isinstance(t, Array) for t in argtypes) or isinstance(ans_type, Array)
        self.env = {}
        rule = RULES.get(call.func)
        names = rule.args if rule else ()
        for n, a in zip(names, call.args):
            self.env[n] = a
        for k, v in call.kwargs:
            self.env[k] = v
        self.env["ans"] = ans
        if env_extra:
            self.env.update(env_extra)

    def kw(self, name, default=None):
        return self.call.kw(name, default)

    def inst(self, src, **extra):
        env = dict(self.env)
        env.update(extra)
        return template.instantiate(src, env, self.array_mode)


# ---------------------------------------------------------------- reading a call


REDUCTIONS = ("np.sum", "np.mean", "np.max", "np.min", "np.prod")


def axis_of(call):
    """The ``axis`` of a reduction or a sequence primitive: ``axis=`` or the second positional
    argument; None when absent, the int (or tuple of ints) when constant, ``"dynamic"``
    otherwise."""
    ax = call.kw("axis")
    if ax is None and len(call.args) > 1:
        ax = call.args[1]
    if ax is None or (isinstance(ax, ir.Const) and ax.value is None):
        return None
    if isinstance(ax, ir.Const):
        return ax.value
    value = const_value(ax)  # a tuple of axes written out: np.sum(x, axis=(0, 2))
    if isinstance(value, tuple) and value and all(type(v) is int for v in value):
        return value
    return "dynamic"


def const_value(e):
    """The Python value of a constant argument (a number, or a tuple of them written out),
    else None."""
    if isinstance(e, ir.Const):
        return e.value
    if isinstance(e, ir.TupleMake) and all(isinstance(x, (ir.Const, ir.TupleMake)) for x in e.items):
        return tuple(const_value(x) for x in e.items)
    return None


def inverse_permutation(perm):
    """The permutation that undoes ``perm`` (what transposes an adjoint back)."""
    return tuple(sorted(range(len(perm)), key=lambda k: perm[k]))


def keepdims(call):
    k = call.kw("keepdims") if call is not None else None
    return isinstance(k, ir.Const) and bool(k.value)


def dtype_kw(call, default="float64"):
    dt = call.kw("dtype")
    if isinstance(dt, ir.Const) and isinstance(dt.value, DType):
        return dt.value.name
    return default


# ---------------------------------------------------------------- building expressions


def add(a, b):
    """a + b, either may be None (zero)."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(b, ir.UnaryOp) and b.op == "-":
        return ir.BinOp("-", a, b.operand)
    return ir.BinOp("+", a, b)


def mul(a, b):
    """a * b, with a division in b done last: g * (0.5 / y) becomes (g * 0.5) / y, so that
    with a numpy scalar g a zero y gives inf as in NumPy instead of Python's ZeroDivisionError."""
    if isinstance(b, ir.BinOp) and b.op == "/":
        return ir.BinOp("/", mul(a, b.left), b.right)
    if isinstance(b, ir.UnaryOp) and b.op == "-":
        return ir.UnaryOp("-", mul(a, b.operand))
    return template.simplify(ir.BinOp("*", a, b))


def partial(rule, ctx, k):
    """The partial derivative of an elementwise primitive in its argument ``k``."""
    p = rule.partials[k]
    return p(ctx) if callable(p) else ctx.inst(p)


def inst(spec, ctx, **extra):
    """A rule's template or function, instantiated for ``ctx`` with ``extra`` names bound."""
    if callable(spec):
        ctx.env.update(extra)
        return spec(ctx)
    return ctx.inst(spec, **extra)


# ---------------------------------------------------------------- constructors


def _reg(rule):
    RULES[rule.name] = rule
    return rule


def elementwise(name, args, partials, type_fn, costly=False):
    diff = tuple(i for i, a in enumerate(args) if a in partials)
    return _reg(Rule(name, tuple(args), type_fn, "elementwise",
                     partials={args.index(k): v for k, v in partials.items()}, diff=diff,
                     costly=costly))


def linear(name, args, vjp, type_fn, jvp=None, diff=(0,), batched=None, items=False):
    return _reg(Rule(name, tuple(args), type_fn, "linear", vjp=vjp, jvp=jvp or {}, diff=diff,
                     batched=batched, items=items))


def bilinear(name, args, vjp, type_fn, batched=None, jvp_func=None):
    return _reg(Rule(name, tuple(args), type_fn, "bilinear", vjp=vjp, diff=(0, 1), batched=batched,
                     jvp_func=jvp_func))


def custom(name, args, type_fn, vjp, jvp, diff, batched=None, strings=()):
    return _reg(Rule(name, tuple(args), type_fn, "custom", vjp=vjp, jvp=jvp, diff=diff,
                     batched=batched, strings=strings))


def zero(name, type_fn, args=("x",)):
    return _reg(Rule(name, tuple(args), type_fn, "zero"))
