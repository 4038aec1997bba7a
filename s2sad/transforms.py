"""Jacobians and Hessians, composed from the forward and reverse modes (JAX's names)."""

from __future__ import annotations

import numpy as np

from .api import Grad, Transform, forward_sweep, generated_name, reverse_sweep
from .arguments import copy_args, ieee, match_cotangent
from .sweeps import columns, flat, rows
from .backend.assemble import Entry, assemble, jit_decorator
from .backend.entry import jacfwd_entry, jacobian_entry
from .backend.loader import load_module
from .backend.wrappers import jacrev_function
from .errors import NonDifferentiableError
from .ir.types import Array, Scalar


def _size(v):
    return int(np.size(v))


def _flat_batched(d, nb):
    """A batched tangent (leading axis of nb directions) as an (nb, m) matrix."""
    if isinstance(d, tuple):
        return np.concatenate([_flat_batched(x, nb) for x in d], axis=1)
    return np.asarray(d, dtype=np.float64).reshape(nb, -1)


def _shape_jac(J, out, arg):
    """J (flat outputs x flat inputs) in JAX's layout: out.shape + arg.shape, split per output
    item for tuple outputs."""
    if isinstance(out, tuple):
        parts, k = [], 0
        for o in out:
            n = _size(o)
            parts.append(_shape_jac(J[k:k + n], o, arg))
            k += n
        return tuple(parts)
    shape = np.shape(out) + np.shape(arg)
    if shape == ():
        return float(J[0, 0])
    return J.reshape(shape)


def _jacobian_from_columns(cols_by_arg, out, args, nums, single):
    jacs = [_shape_jac(cols_by_arg[k], out, args[k]) for k in nums]
    if single:
        return jacs[0]
    if isinstance(out, tuple):
        # JAX: a tuple output gives a tuple (per output) of tuples (per argument)
        return tuple(tuple(j[i] for j in jacs) for i in range(len(out)))
    return tuple(jacs)


class JacFwd(Transform):
    """The Jacobian by forward mode: one tangent sweep per input entry."""

    kind = "jacfwd"

    def __init__(self, fun, argnums=0, jit=False):
        super().__init__(fun, argnums, mode="forward", jit=jit)

    def _init_args(self):
        return _init_args_without_mode(self)

    def __call__(self, *args, **kwargs):
        args = self.bind(args, kwargs)
        from .primitives.batched import NotBatchable

        if not getattr(self, "_unbatchable", False):
            try:
                c = self.compiled(args, mode="forward-batched")
            except NotBatchable:
                self._unbatchable = True  # a primitive with no batched form: one sweep per input
            else:
                return self._batched(c, args)
        return self._per_direction(args)

    def _batched(self, c, args):
        """Vector forward mode: one sweep whose tangents carry every input direction."""
        sizes = {k: _size(args[k]) for k in self.argnums}
        nb = sum(sizes.values())
        seeds, off = {}, 0
        for k in c.wrt:
            a = args[k]
            t = np.zeros((nb,) + np.shape(a))
            if k in sizes:
                t.reshape(nb, -1)[off:off + sizes[k]] = np.eye(sizes[k])
                off += sizes[k]
            seeds[k] = t
        out, dout = c.func(*ieee(copy_args(args)), *[seeds[j] for j in c.wrt])
        flat = _flat_batched(dout, nb)
        cols, off = {}, 0
        for k in self.argnums:
            cols[k] = flat[off:off + sizes[k]].T
            off += sizes[k]
        return _jacobian_from_columns(cols, out, args, self.argnums, self.single)

    def native_entry(self, types):
        """The @njit function a call inside @njit code with arguments of these types calls."""
        from .primitives.batched import NotBatchable
        try:
            c = self.compiled_types(types, self.argnums, "forward-batched")
        except NotBatchable as e:
            raise NonDifferentiableError(f"inside @njit code, {self.kind} needs the vector "
                                         f"forward mode, which this function has not ({e})") from None
        out_type = c.ret_type
        if not isinstance(out_type, (Scalar, Array)):
            raise NonDifferentiableError(f"inside @njit code, {self.kind} needs a function that "
                                         f"returns a float or an array, not a {out_type}")
        return jacfwd_entry(stem=self.pyfun.__name__ + "_entry", func_name=self.pyfun.__name__,
                            types=types, ks=list(self.argnums), single=self.single, wrt=c.wrt,
                            out_type=out_type, core=c.func.dispatcher, core_name=generated_name(c),
                            core_path=c.path, boundscheck=self.boundscheck)

    def _per_direction(self, args):
        c = self.compiled(args, mode="forward")
        cols = {k: columns(lambda e, k=k: forward_sweep(c, args, k, e)[1], args[k]) for k in self.argnums}
        out = self.fun(*copy_args(args))
        return _jacobian_from_columns(cols, out, args, self.argnums, self.single)


class JacRev(Transform):
    """The Jacobian by reverse mode: one adjoint sweep per output entry."""

    kind = "jacrev"

    def __init__(self, fun, argnums=0, jit=False):
        super().__init__(fun, argnums, mode="reverse", jit=jit)

    def _init_args(self):
        return _init_args_without_mode(self)

    def __call__(self, *args, **kwargs):
        args = self.bind(args, kwargs)
        c = self.compiled(args, mode="reverse")
        out = self.fun(*copy_args(args))
        swept = rows(lambda ct: reverse_sweep(c, args, match_cotangent(ct, out))[1], out)
        cols = {k: np.stack([flat(r[k]) for r in swept], axis=0) for k in self.argnums}
        return _jacobian_from_columns(cols, out, args, self.argnums, self.single)

    def as_function(self, types, jit=False):
        """This Jacobian as a plain generated Python function (a loop of reverse sweeps, one
        per output entry), so that jacfwd(jacrev(f)) can differentiate it again; ``jit``: the
        same as an ``@njit`` function, which a call inside ``@njit`` code calls."""
        if not self.single:
            raise NonDifferentiableError("inside @njit code, jacrev takes one argnums (an int)" if jit
                                         else "differentiating a jacrev taken with several argnums is "
                                         "not supported; take one argument at a time")
        key = ("as_function", types, jit)
        if key in self._cache:
            return self._cache[key]
        c = self.compiled_types(types, self.argnums, "reverse")
        b = c.build
        primal = b.primal(b.root)
        out_t = b.spec(b.root, types, [False] * len(types), "forward").ret_type
        k = self.argnums[0]
        params = list(self.params)
        fname = self.pyfun.__name__ + "_jacrev"
        if jit and not isinstance(out_t, (Scalar, Array)):
            raise NonDifferentiableError(f"inside @njit code, jacrev needs a function that "
                                         f"returns a float or an array, not a {out_t}")
        wrapper = jacrev_function(fname, self.pyfun.__name__, params, types, out_t, k, primal,
                                  generated_name(c), c.inout, c.wrt.index(k) + 1,
                                  jit_decorator=jit_decorator(False, self.boundscheck) if jit else None)
        entry = Entry("reverse", fname, f"the Jacobian d{self.pyfun.__name__}/d{params[k]}", params)
        header = self._header(types, out_t, [params[k]], [entry], b)
        src = assemble(b, header, [fname] + ([primal] if jit else []), wrappers=[wrapper], jit=jit,
                       boundscheck=self.boundscheck)
        mod, _ = load_module(src, fname + ("_jit" if jit else ""), b.module_globals())
        fn = getattr(mod, fname)
        if jit:
            fn.primal = getattr(mod, primal)  # the function itself, compiled (for jacobian)
        self._cache[key] = fn
        return fn

    def native_entry(self, types):
        """The @njit function a call inside @njit code with arguments of these types calls."""
        return self.as_function(types, jit=True)


class Jacobian(Transform):
    """The Jacobian, by forward mode when the inputs are fewer than the outputs and by reverse
    mode otherwise (``mode="auto"``); the choice is written in the generated module's header."""

    kind = "jacobian"

    def __init__(self, fun, argnums=0, mode="auto", jit=False):
        if mode not in ("auto", "forward", "reverse"):
            raise ValueError(f"mode must be 'auto', 'forward' or 'reverse', not {mode!r}")
        super().__init__(fun, argnums, mode="reverse", jit=jit)
        self.requested = mode
        self.chosen = None
        self._fwd = JacFwd(fun, argnums, jit)
        self._rev = JacRev(fun, argnums, jit)

    def _init_args(self):
        fun, argnums, _, jit = super()._init_args()
        return (fun, argnums, self.requested, jit)

    def __call__(self, *args, **kwargs):
        args = self.bind(args, kwargs)
        n_in = sum(_size(args[k]) for k in self.argnums)
        if self.requested == "auto":
            n_out = flat(self.fun(*copy_args(args))).size
            mode = "forward" if n_in < n_out else "reverse"
            why = f"{n_in} input(s) {'<' if mode == 'forward' else '>='} {n_out} output(s)"
        else:
            mode, why = self.requested, "as requested"
        self.chosen = mode
        t = self._fwd if mode == "forward" else self._rev
        t.header_note = f"Jacobian: {mode} mode chosen ({why})."
        result = t(*args)
        self._last = t._last
        return result

    def native_entry(self, types):
        """Inside @njit code: the forward or reverse entry as requested; for "auto", an entry
        that chooses per call as the call from Python does (inputs < outputs: forward)."""
        if self.requested != "auto":
            return (self._fwd if self.requested == "forward" else self._rev).native_entry(types)
        if not self.single:
            raise NonDifferentiableError("inside @njit code, jacobian takes one argnums (an int)")
        fwd, rev = self._fwd.native_entry(types), self._rev.native_entry(types)
        return jacobian_entry(stem=self.pyfun.__name__ + "_entry", func_name=self.pyfun.__name__,
                              types=types, argnums=self.argnums, fwd=fwd, rev=rev,
                              primal=rev.primal, out_is_array=isinstance(
                                  self._rev.compiled_types(types, self.argnums, "reverse").ret_type, Array),
                              boundscheck=self.boundscheck)


class Hessian(Transform):
    """The Hessian of a scalar function: forward mode over the generated reverse-mode gradient
    (forward-over-reverse)."""

    kind = "hessian"

    def __init__(self, fun, argnums=0, jit=False):
        super().__init__(fun, argnums, mode="reverse", jit=jit)
        self._grad = Grad(fun, argnums, mode="reverse", jit=False)
        self._jac = JacFwd(self._grad, argnums, jit)

    def _init_args(self):
        return _init_args_without_mode(self)

    def __call__(self, *args, **kwargs):
        args = self.bind(args, kwargs)
        result = self._jac(*args)
        self._last = self._jac._last
        return result

    def native_entry(self, types):
        return self._jac.native_entry(types)


def _init_args_without_mode(t):
    """What the constructors that take no mode take: (fun, argnums, jit)."""
    fun, argnums, _, jit = Transform._init_args(t)
    return (fun, argnums, jit)


def jacfwd(fun, argnums=0, *, jit=False):
    """The Jacobian of ``fun`` by forward mode, shaped ``out.shape + arg.shape`` (as JAX)."""
    return JacFwd(fun, argnums, jit)


def jacrev(fun, argnums=0, *, jit=False):
    """The Jacobian of ``fun`` by reverse mode, shaped ``out.shape + arg.shape`` (as JAX)."""
    return JacRev(fun, argnums, jit)


def jacobian(fun, argnums=0, mode="auto", *, jit=False):
    """The Jacobian, by forward mode when the inputs are fewer than the outputs, else reverse."""
    return Jacobian(fun, argnums, mode, jit)


def hessian(fun, argnums=0, *, jit=False):
    """The Hessian of a scalar ``fun``: forward mode over reverse mode."""
    if not isinstance(argnums, int):
        raise NonDifferentiableError("hessian takes one argnums (an int); for blocks of several "
                                     "arguments use jacfwd(jacrev(f, argnums), argnums)")
    return Hessian(fun, argnums, jit)
