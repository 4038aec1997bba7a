"""``vjp_kernel`` and ``jvp_kernel``: derivative kernels of a user's ``@cuda.jit`` kernel.

The kernel's ``py_func`` goes through the CPU pipeline unchanged: the frontend (which knows
the thread-index intrinsics and ``cuda.atomic.add``), type and activity analysis, the rules
table, and the forward or reverse transform, which already differentiates functions that
write into their array arguments. The reverse transform runs in its kernel flavour
(``Build.vjp(kernel=True)``: tapes passed in, only the arrays the kernel reads restored;
``kernelir`` drops the writes nothing reads, so the adjoint kernel leaves the primal's arrays
as they were passed), and ``kernelir.py`` turns either derivative into a kernel. Differentiation is with respect to the
names in ``wrt`` and ``outputs`` both: an output's value before the launch is an input of
the launch, whose adjoint is what its ``_bar`` array holds on exit (shadow memory).
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import weakref

import numpy as np

from .. import ir
from ..api import _def_loc
from ..backend import pysource
from ..backend.loader import load_module
from ..backend.tidy import tidy
from ..compiler import Build
from ..errors import NonDifferentiableError, reporting_internal_errors
from ..frontend.lower import get_user_function
from ..frontend.program import Program
from ..ir.types import typeof_value
from .checks import check_kernel, check_names, check_types
from .kernelir import (
    THREAD,
    callee_peaks,
    detach_callee_tapes,
    device_ir,
    kernel_ir,
    refuse_array_tapes,
    tape_dtypes,
    tape_rows,
)
from .module import module_text
from .ownership import grid_dims


class KernelBuild:
    """One signature's generated module: source, the compiled kernel, what its tapes need."""

    def __init__(self, source, path, kernel, params, tapes, rows, counter, written, dims):
        self.source = source
        self.path = path
        self.kernel = kernel
        self.params = params  # the generated kernel's parameters, tapes last
        self.tapes = tapes  # [(name, dtype)]
        self.rows = rows  # {tape: ir expression of the parameters, or None}
        self.counter = counter  # the counting kernel, when some rows are known only at run time
        self.written = written  # positions of the arrays the primal writes (copied for counting)
        self.dims = dims  # numbers of dimensions of its cuda.grid calls


class Generated:
    """A generated module's text and what launching its kernel needs."""

    def __init__(self, source, name, params, tapes, rows, counter, written, dims, module_globals):
        self.source, self.name, self.params, self.tapes, self.rows = source, name, params, tapes, rows
        self.counter, self.written, self.dims, self.module_globals = counter, written, dims, module_globals


class KernelDerivative:
    """A derivative kernel: launch it like the kernel, ``d[griddim, blockdim](*args)`` or
    ``d[griddim, blockdim, stream](*args)``. Built once per argument signature; its tapes are
    allocated by this object and reused across launches."""

    def __init__(self, kernel, wrt, outputs, mode):
        self.kernel = kernel
        self.pyfun = get_user_function(kernel)
        self.params = list(inspect.signature(self.pyfun).parameters)
        wrt, outputs = _names(wrt), _names(outputs)
        check_names(self.pyfun, self.params, wrt, outputs)
        self.wrt = [p for p in self.params if p in wrt]
        self.outputs = [p for p in self.params if p in outputs]
        self.named = [p for p in self.params if p in wrt or p in outputs]
        self.mode = mode
        self.suffix = "_bar" if mode == "reverse" else "_dot"
        self.program = Program()
        root = self.program.add(self.pyfun)
        self.program.check_recursion(root)
        check_kernel(self.program.funcs[root], self.pyfun, self.wrt, self.outputs, self.program)
        self._cache = {}
        self._last = None
        self._tapes = {}  # the tapes of launches on the default stream: {(name, dtype): device array}
        self._stream_tapes = weakref.WeakKeyDictionary()  # {stream: its own tapes}

    def __repr__(self):
        kind = "vjp_kernel" if self.mode == "reverse" else "jvp_kernel"
        return f"<s2sad.cuda.{kind} of {self.pyfun.__name__} wrt {self.wrt} outputs {self.outputs}>"

    # ------------------------------------------------------------ building

    def arg_names(self):
        return self.params + [p + self.suffix for p in self.named]

    def _types(self, args):
        n = len(self.params) + len(self.named)
        if len(args) != n:
            raise TypeError(f"{self.pyfun.__name__}{'_vjp' if self.mode == 'reverse' else '_jvp'} takes "
                            f"{n} arguments ({', '.join(self.arg_names())}), {len(args)} given")
        types = []
        for p, a in zip(self.params, args):
            t = _arg_type(a)
            if t is None:
                raise TypeError(f"argument `{p}` of {self.pyfun.__name__} is {type(a).__name__}; kernels "
                                "take numbers and arrays of float64/float32/int/bool")
            types.append(t)
        for p, a in zip(self.named, args[len(self.params):]):
            k = self.params.index(p)
            t = _arg_type(a)
            if t != types[k] or getattr(a, "shape", None) != getattr(args[k], "shape", None):
                raise TypeError(f"`{p}{self.suffix}` must have the shape and dtype of `{p}` "
                                f"({getattr(args[k], 'shape', None)}, {types[k]}); got "
                                f"{getattr(a, 'shape', None)}, {t}")
        return tuple(types)

    def build(self, args):
        return self._built(self._types(args))

    def _built(self, types):
        self._check_values()
        c = self._cache.get(types)
        if c is None:
            c = self._build(types)
            self._cache[types] = c
        self._last = c
        return c

    def _check_values(self):
        """Refuse to go on once a module-level value the kernel reads has changed since this
        object lowered it. numba-cuda compiles such values into a kernel as constants, when the
        kernel is first compiled for a signature: a kernel compiled before the change keeps the
        old value, one compiled after sees the new one, and which of them the user's primal
        launches ran is not known here. A derivative built for either could be the derivative
        of another function than the one launched, so there is none."""
        reads = {(id(r.scope.globals), r.name): r for r in self.program.value_reads}  # once each
        for r in reads.values():
            if r.stale():
                raise NonDifferentiableError(
                    f"`{r.name}`, a module-level value the kernel {self.pyfun.__name__} reads, has changed "
                    "since this derivative kernel was made: numba-cuda compiles it into a kernel as a "
                    "constant, so a kernel compiled before the change still uses the old value, and s2sad "
                    "cannot tell which value your launches of the kernel used", r.loc or _def_loc(self.pyfun),
                    f"pass `{r.name}` to the kernel as an argument, or make the derivative kernel again "
                    f"(s2sad.cuda.{'vjp' if self.mode == 'reverse' else 'jvp'}_kernel) once the kernel is "
                    "compiled anew with the new value")

    def source_for(self, *args):
        """The generated module for these arguments: the kernel's own (the ``_bar``/``_dot``
        arrays have their types), or all those of a launch."""
        if len(args) == len(self.params):
            args = (*args, *(args[self.params.index(p)] for p in self.named))
        return self.build(args).source

    @property
    def compiled(self):
        """The last signature built (what ``s2sad.source`` shows); before any launch, the one
        signature the kernel itself has been compiled for (``kernel.overloads``: launched, or
        declared with a signature)."""
        if self._last is None:
            sigs = self.primal_signatures()
            if len(sigs) != 1:
                name = self.pyfun.__name__
                listed = "; ".join(_sig_text(t[:len(self.params)]) for t in sigs)
                seen = (f"{name} has been compiled for {len(sigs)} signatures ({listed})" if sigs
                        else f"{name} has not been compiled for any signature yet")
                raise ValueError(
                    f"{self!r} has not been launched yet and {seen}, so the types of its arguments are "
                    f"unknown: launch it once, or pass the kernel's arguments (arrays of the dtypes and "
                    f"numbers of dimensions you will launch it with): s2sad.source(d, "
                    f"{', '.join(self.params)})")
            return self._built(sigs[0])
        return self._last

    def primal_signatures(self):
        """The argument types of the signatures the kernel's dispatcher has compiled (none
        under Numba's CUDA simulator, which compiles nothing), in s2sad's types, as a launch of
        this derivative passes them; a signature s2sad cannot take is left out."""
        out = []
        for sig in list(getattr(self.kernel, "overloads", None) or ()):
            types = tuple(_from_numba(t) for t in sig)
            if len(types) == len(self.params) and None not in types:
                out.append(types + tuple(types[self.params.index(p)] for p in self.named))
        return out

    def _build(self, types):
        g = self.generate(types)
        mod, path = load_module(g.source, g.name + "_cuda", g.module_globals)
        return KernelBuild(g.source, path, getattr(mod, g.name), g.params, g.tapes, g.rows,
                           getattr(mod, g.counter) if g.counter is not None else None, g.written, g.dims)

    def generate(self, types, standalone=False):
        """The generated module for argument ``types``, not loaded: its source and what the
        launcher needs of it. ``standalone``: the user's module-level values written out."""
        b = Build(self.pyfun, self.program)
        mask = [p in self.named for p in self.params]
        fn0 = self.program.funcs[b.root]
        mode = "reverse" if self.mode == "reverse" else "forward"
        spec = b.spec(b.root, types, mask, mode)
        check_types(fn0, self.pyfun, types, self.wrt, self.outputs, spec.activity)
        with reporting_internal_errors(fn0.loc, "making the derivative kernel of this function"):
            if self.mode == "reverse":
                name = b.vjp(b.root, types, mask, kernel=True)
            else:
                name = b.jvp(b.root, types, mask)
            fn, names = next((f, n) for f, n in b.functions if f.name == name)
            fn = copy.deepcopy(fn)
            kinds = b.shared_tapes.get(name, [])
            refuse_array_tapes(kinds, fn.loc)
            devices, peaks = self._devices(b, name)
            tapes = self._signature(fn, b, name, kinds)
            detach_callee_tapes(fn, {f: k for f, (k, _) in peaks.items()}, {t for t, _ in tapes})
            tidy(fn)
            kernel_ir(fn, tapes, fn.types, unwritten=self.params if self.mode == "reverse" else ())
            fn.docstring = self._docstring(fn)
            rows = tape_rows(fn, tapes, fn.types, {f: p for f, (_, p) in peaks.items()}, kinds)
            dtypes = tape_dtypes(fn, tapes, fn.types, shared=bool(peaks))
            counter = _counting_kernel(fn, tapes, len(self.params)) if any(r is None for r in rows.values()) else None
        header = self._header(types, fn, fn0, tapes, rows, dtypes)
        src = module_text(header, (fn, names), devices, b.module_globals(), standalone)
        if counter is not None:
            src = src.rstrip("\n") + "\n\n\n@cuda.jit\n" + pysource.function_source(counter, names) + "\n"
        tape_list = [(t, dtypes[t]) for t, _ in tapes]
        written = [k for k, p in enumerate(self.params) if p in _written(fn0)]
        return Generated(src, fn.name, list(fn.params), tape_list, rows,
                         counter.name if counter is not None else None, written, grid_dims(fn0),
                         b.module_globals())

    def _devices(self, b, name):
        """The device functions the kernel's derivative calls, made ready for CUDA, and for
        each device adjoint recording on the kernel's tapes its tape kinds and peaks."""
        callee_kinds = {f.name: b.shared_tapes[f.name] for f, _ in b.functions
                        if f.name != name and b.shared_tapes.get(f.name)}
        devices, peaks = [], {}
        for f, names in b.functions:  # callees come before their callers
            if f.name == name:
                continue
            f = copy.deepcopy(f)
            kinds = callee_kinds.get(f.name, [])
            refuse_array_tapes(kinds, f.loc)
            first = len(f.params) - 2 * len(kinds)
            ftapes = [(f.params[first + 2 * j], f.params[first + 2 * j + 1]) for j in range(len(kinds))]
            device_ir(f, ftapes, callee_kinds)
            if kinds:
                peaks[f.name] = (kinds, callee_peaks(f, ftapes, kinds, f.types,
                                                     {g: p for g, (_, p) in peaks.items()}))
            devices.append((f, names))
        return devices, peaks

    def _signature(self, fn, b, name, kinds):
        """The generated kernel's parameters: the kernel's, one ``_bar``/``_dot`` array per
        name of wrt and outputs in parameter order, then the tapes. Returns the tapes'
        (array, top) names."""
        n = len(self.params)
        d = b.derivatives[name]
        if self.mode == "reverse":
            ret_bar = fn.params[n]
            inout = [self.params[k] for k in d.inout]
            derived = fn.params[n + 1:n + 1 + len(inout)]
            rest = fn.params[n + 1 + len(inout):]
            have = dict(zip(inout, derived))
        else:
            ret_bar = None
            have = dict(zip(self.named, fn.params[n:n + len(self.named)]))
            rest = fn.params[n + len(self.named):]
        used = {v for s in ir.walk_stmts(fn.body) for v in ir.stmt_reads(s) + ir.stmt_defs(s)} | set(self.params)
        mapping, bars = {}, []
        for p in self.named:
            want = p + self.suffix
            cur = have.get(p)
            if cur is None:
                cur = want if want not in used else b.unique(want)
            elif cur != want and (want not in used or want == ret_bar):
                mapping[cur] = want
                cur = want
            bars.append(cur)
        if mapping:
            ir.rename_vars(fn.body, mapping)
            fn.types = {mapping.get(k, k): v for k, v in fn.types.items()}
            fn.made = {mapping.get(k, k) for k in fn.made}
            fn.temps = {mapping.get(k, k) for k in fn.temps}
        tapes = [(rest[2 * k], rest[2 * k + 1]) for k in range(len(kinds))]
        fn.params = list(self.params) + bars + [t for pair in tapes for t in pair]
        return tapes

    def _docstring(self, fn):
        kind = "Reverse-mode (adjoint)" if self.mode == "reverse" else "Forward-mode (tangent)"
        doc = (f"{kind} kernel of {self.pyfun.__name__} with respect to ({', '.join(self.wrt)}), "
               f"outputs ({', '.join(self.outputs)}). Generated by s2sad.\n\n")
        if self.mode == "reverse":
            doc += ("Each _bar array holds dL/d(array after the launch) on entry and dL/d(array "
                    "before the launch) on exit; the primal arrays are passed as they were before "
                    "the primal launch, and left so.")
        else:
            doc += ("Each _dot array holds the tangent of its array before the launch on entry "
                    "and after the launch on exit.")
        return doc

    def _header(self, types, fn, fn0, tapes, rows, dtypes):
        loc = fn0.loc
        sig = ", ".join(f"{p}: {t}" for p, t in zip(self.params, types))
        kind = "reverse (adjoint) kernel" if self.mode == "reverse" else "forward (tangent) kernel"
        where = f"{os.path.basename(loc.filename)}:{loc.lineno}"
        lines = ["", f"Differentiation of the kernel {self.pyfun.__name__} ({where}):", f"    {self.pyfun.__name__}({sig})",
                 f"    with respect to: {' '.join(self.wrt)}; outputs: {' '.join(self.outputs)}",
                 f"    {kind}: {fn.name}[griddim, blockdim]({', '.join(fn.params)})"]
        for tape, _ in tapes:
            r, dt = rows[tape], dtypes[tape]
            n = pysource.expr_source(r) if r is not None else "counted by a launch of " + fn.name + "_count"
            lines.append(f"    {tape}: {dt}[rows, threads], rows = {n}, threads = all threads of the launch")
        if tapes:
            lines.append("    (s2sad.cuda allocates the tapes; a standalone caller passes them)")
        return lines

    # ------------------------------------------------------------ launching

    def __getitem__(self, config):
        if not isinstance(config, tuple) or len(config) not in (2, 3, 4):
            raise TypeError("launch a derivative kernel as d[griddim, blockdim](...) or "
                            "d[griddim, blockdim, stream](...)")
        return _Launch(self, config)

    def launch(self, config, args):
        c = self.build(args)
        griddim, blockdim = _dim3(config[0]), _dim3(config[1])
        extra = tuple(config[2:])
        # the fewest dimensions any of its thread indices tells apart (cuda.grid(1) next to
        # cuda.grid(2): a 2-D launch gives two threads one cuda.grid(1) index)
        used = min(c.dims) if c.dims else 3
        if any(d != 1 for d in (griddim[used:] + blockdim[used:])):
            how = f"cuda.grid({used})" + (" or threadIdx.x + blockIdx.x * blockDim.x" if used == 1 else "")
            raise ValueError(f"{self.pyfun.__name__} numbers its threads with {how}; launch "
                             f"it with at most {used}-dimensional grid and blocks (got {config[0]}, "
                             f"{config[1]}): the derivative relies on every thread having its own index")
        threads = math.prod(griddim) * math.prod(blockdim)
        stream = extra[0] if extra else 0
        tapes = []
        if c.tapes:
            rows = self._rows(c, args, config, threads, stream)
            for (name, dt), n in zip(c.tapes, rows):
                tapes.append(self._tape(name, dt, n, threads, stream))
        c.kernel[(config[0], config[1]) + extra](*args, *tapes)

    def _rows(self, c, args, config, threads, stream):
        env = dict(zip(self.params, args))
        env.update({"max": max, "min": min, "len": len, "range": range, "int": int, "abs": abs})
        out = []
        counted = None
        for name, _ in c.tapes:
            r = c.rows[name]
            if r is None:
                if counted is None:
                    counted = self._count(c, args, config, threads, stream)
                out.append(counted[[t for t, _ in c.tapes].index(name)])
            else:
                out.append(int(eval(pysource.expr_source(r), {"__builtins__": {}}, env)))
        return [max(n, 1) for n in out]

    def _count(self, c, args, config, threads, stream):
        """Run the counting kernel (the forward sweep, recording nothing) on copies of the
        arrays the kernel writes: each thread's number of tape slots."""
        from numba import cuda
        prim = list(args[:len(self.params)])
        for k in c.written:
            prim[k] = _copy(prim[k], stream)
        counts = cuda.device_array((len(c.tapes), threads), dtype=np.int64, stream=stream)
        c.counter[tuple(config)](*prim, counts)
        host = counts.copy_to_host(stream=stream)
        if stream:
            stream.synchronize()
        return [int(host[k].max()) if threads else 0 for k in range(len(c.tapes))]

    def _tape(self, name, dtype, rows, threads, stream=0):
        """The tape ``name`` for a launch on ``stream``, reused from the last launch on that
        stream: launches on one stream run one after the other, launches on different streams
        may overlap, so each stream has tapes of its own (kept while the stream lives)."""
        from numba import cuda
        tapes = self._tapes if not stream else self._stream_tapes.setdefault(stream, {})
        key = (name, dtype)
        t = tapes.get(key)
        if t is None or t.shape[0] < rows or t.shape[1] != threads:
            t = cuda.device_array((rows, threads), dtype=np.dtype(dtype), stream=stream)
            tapes[key] = t
        return t


class _Launch:
    def __init__(self, d, config):
        self.d, self.config = d, config

    def __call__(self, *args):
        return self.d.launch(self.config, args)


def vjp_kernel(kernel, wrt, outputs):
    """The adjoint kernel of a ``@cuda.jit`` kernel, launched as
    ``k_bar[griddim, blockdim](*args, *bars)`` with one ``_bar`` array per name in ``wrt`` and
    ``outputs`` (in the kernel's parameter order): on entry dL/d(array after the launch), on
    exit dL/d(array before it). Inputs accumulate (``x_bar += Jᵀ out_bar``), an overwritten
    output's adjoint is consumed, ``out[k] += ...`` and ``cuda.atomic.add`` pass it through."""
    return KernelDerivative(kernel, wrt, outputs, "reverse")


def jvp_kernel(kernel, wrt, outputs):
    """The tangent kernel of a ``@cuda.jit`` kernel, launched as
    ``k_dot[griddim, blockdim](*args, *dots)``: each ``_dot`` array holds the tangent of its
    array before the launch on entry, after the launch on exit."""
    return KernelDerivative(kernel, wrt, outputs, "forward")


# ---------------------------------------------------------------- helpers


def _names(names):
    if isinstance(names, str):
        return [n.strip() for n in names.split(",") if n.strip()]
    return list(names)


def _arg_type(a):
    t = typeof_value(a)
    if t is not None or isinstance(a, np.ndarray):
        return t
    dtype, shape = getattr(a, "dtype", None), getattr(a, "shape", None)
    if dtype is not None and shape is not None:  # a device array
        return typeof_value(np.empty((0,) * len(shape), dtype=dtype))
    return None


def _from_numba(t):
    """s2sad's type of an argument of numba type ``t`` (an array: its dtype and number of
    dimensions; a number), or None."""
    try:
        if hasattr(t, "ndim") and hasattr(t, "dtype"):
            return _arg_type(np.empty((0,) * t.ndim, dtype=np.dtype(str(t.dtype))))
        return typeof_value(np.dtype(str(t)).type(0))
    except TypeError:
        return None


def _sig_text(types):
    return "(" + ", ".join(map(str, types)) + ")"


def _dim3(d):
    d = (d,) if isinstance(d, int) else tuple(d)
    return tuple(d) + (1,) * (3 - len(d))


def _copy(a, stream=0):
    if isinstance(a, np.ndarray):
        return a.copy()
    from numba import cuda
    out = cuda.device_array_like(a, stream=stream)
    out.copy_to_device(a, stream=stream)
    return out


def _written(fn):
    return ir.stored_arrays(fn.body)


def _counting_kernel(fn, tapes, nparams):
    """The forward sweep of the adjoint kernel ``fn`` recording nothing: each thread counts the
    slots it would fill and writes the counts into ``_counts[tape, thread]``."""
    start = fn.region_start("reverse")
    tape_names = {t for t, _ in tapes}
    body = copy.deepcopy(fn.body[:start])

    def strip(stmts):
        out = []
        for s in stmts:
            if isinstance(s, ir.Store) and s.array.name in tape_names:
                continue
            for blk in ir.child_blocks(s):
                blk[:] = strip(blk)
            out.append(s)
        return out

    body = strip(body)
    counts = "_counts"
    for k, (_, top) in enumerate(tapes):
        body.append(ir.Store(ir.Var(counts), (ir.Const(k), ir.Var(THREAD)), ir.Var(top), loc=fn.loc))
    out = ir.Function(fn.name + "_count", list(fn.params[:nparams]) + [counts], body, loc=fn.loc,
                      docstring="How many tape slots each thread of " + fn.name + " fills (the forward "
                      "sweep, recording nothing), into _counts[tape, thread].")
    return out
