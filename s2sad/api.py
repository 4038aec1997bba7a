"""The public surface: JAX's names and conventions (grad, value_and_grad, jvp, vjp)."""

from __future__ import annotations

import functools
import os
import inspect
import sys

import numpy as np

from .ir.parse import parse
from .ir.types import a_, Array, Scalar, typeof_value
from .arguments import (normalize_argnums, as_result, bind_arguments, copy_args, ieee, is_number_like,
                        match_cotangent)
from .backend import entry as _entry
from .backend import diskindex as _disk
from .backend.assemble import Differentiated, Entry, Header, assemble
from .backend.display import source_html, source_markdown
from .backend.entry import MISSES as _ENTRY_MISSES
from .backend.loader import load_module
from .backend.wrappers import GradWrapper, grad_wrapper
from .compiler import Build, check_returns_a_value
from .errors import NonDifferentiableError, S2SADError
from .frontend.lower import get_user_function
from .frontend.program import Program
from .sweeps import columns
from .travel import (function_for_pickle, global_name_for_pickle, rebuild, restore_source,
                     source_for_pickle)


class Compiled:
    """One generated module for one argument signature. One loaded by the disk cache's key
    has no ``spec`` and ``build`` until they are asked for (``rebuild`` makes them: lowering
    and differentiating, as a cold cache does)."""

    def __init__(self, module, path, source, func, spec, build, wrt, inout, value_reads=(),
                 ret_type=None, rebuild=None):
        self.module = module
        self.value_reads = list(value_reads)  # module-level values the code was built with
        self.path = path
        self.source = source
        self.func = func
        self._spec, self._build = spec, build
        self.ret_type = spec.ret_type if spec is not None else ret_type
        self._rebuild = rebuild
        self.wrt = wrt  # parameter positions differentiated, in parameter order
        self.inout = inout

    @property
    def spec(self):
        if self._spec is None:
            self._spec, self._build = self._rebuild()
        return self._spec

    @property
    def build(self):
        if self._build is None:
            self._spec, self._build = self._rebuild()
        return self._build

    def stale(self):
        """Whether a module-level value built into this code has changed since (a rebound
        name, an array changed in place): the derivative must be built again."""
        return any(r.stale() for r in self.value_reads)


class Transform:
    """Base of every derivative object: specialises and caches per argument signature."""

    kind = "grad"

    def __init__(self, fun, argnums=0, mode="reverse", jit=False):
        if mode not in ("reverse", "forward"):
            raise ValueError(f"mode must be 'reverse' or 'forward', not {mode!r}")
        self.fun = fun
        self.inner = fun if isinstance(fun, Transform) else None
        if self.inner is not None:
            # a derivative of a derivative: differentiate the generated code of the inner one
            self.pyfun = self.inner.pyfun
            self.params = list(self.inner.params)
        else:
            if hasattr(fun, "__s2sad_rule__"):
                from .custom import entry_function
                fun = entry_function(fun.__s2sad_rule__)
            self.pyfun = get_user_function(fun)
            # lowered now, once: unsupported Python is refused when the derivative is made, and
            # every signature's Build starts from this program; not when this very source (and
            # what it reads) lowered before, as the disk cache remembers (then lowered if built)
            self._program = None
            marker = _disk.lowered_key(self.pyfun)
            if marker is None or not _disk.seen(marker):
                self._program = Program()
                self._program.check_recursion(self._program.add(self.pyfun))
                if marker is not None:
                    _disk.mark(marker)
            self.params = list(inspect.signature(self.pyfun).parameters)
        self.single, self.argnums = normalize_argnums(argnums, len(self.params), self.pyfun.__name__)
        self.mode = mode
        # a function that is already @numba.njit gets an @njit derivative
        self.jit_arg = jit
        self.boundscheck = _jit_options(jit)
        self.jit = bool(jit) or hasattr(fun, "py_func")
        if self.jit:
            _native_register()
        self._cache = {}
        self._last = None
        functools.update_wrapper(self, fun, updated=())

    # ------------------------------------------------------------ arguments

    def bind(self, args, kwargs):
        """A call's arguments as one positional tuple, bound as Python binds them."""
        return bind_arguments(self.pyfun, len(self.params), args, kwargs)

    def _argtypes(self, args):
        name = self.pyfun.__name__
        if len(args) != len(self.params):
            raise TypeError(f"{name}() takes {len(self.params)} argument(s) "
                            f"({', '.join(self.params)}), {len(args)} given")
        types = []
        for p, a in zip(self.params, args):
            t = typeof_value(a)
            if t is None:
                what = type(a).__name__
                if isinstance(a, np.ndarray):
                    what = f"numpy array of dtype {a.dtype}"
                hint = " (pass a numpy array)" if isinstance(a, list) else ""
                raise TypeError(f"{name}(): argument `{p}` is {a_(what)}{hint}; s2sad takes floats, "
                                "ints, bools, numpy arrays of float64/float32/int/bool, and tuples "
                                "of these")
            types.append(t)
        return tuple(types)

    def _mask(self, types, nums):
        mask = [False] * len(self.params)
        for k in nums:
            t = types[k]
            if not t.differentiable:
                fn = self.pyfun
                raise NonDifferentiableError(
                    f"cannot differentiate {fn.__name__} with respect to `{self.params[k]}`, which "
                    f"is {a_(t)}: only float scalars and float arrays have derivatives",
                    _def_loc(fn, self.params[k]),
                    "pass a float (e.g. 2.0, not 2), or leave it out of argnums")
            mask[k] = True
        return mask

    def compiled(self, args, nums=None, mode=None):
        return self.compiled_types(self._argtypes(args), nums, mode)

    def compiled_types(self, types, nums=None, mode=None):
        nums = self.argnums if nums is None else nums
        mode = mode or self.mode
        key = (types, nums, mode)
        c = self._cache.get(key)
        if c is not None and c.value_reads and c.stale():
            self._cache.clear()
            self._program = None  # a module-level value changed: lower the function again
            c = None
        if c is None:
            disk = _disk.DiskKey(self, types, nums, mode)
            c = disk.load(Compiled, lambda: self._build(types, nums, mode)) if disk.key else None
            if c is None:
                c = self._build(types, nums, mode)
                if disk.key:
                    disk.record(c, generated_name(c))
            self._cache[key] = c
        self._last = c
        return c

    def source_function(self, types):
        """The function this transform differentiates, for these argument types: the user's
        function, or for a derivative of a derivative the inner derivative as generated code."""
        if self.inner is None:
            return self.pyfun
        return self.inner.as_function(types)

    def _build(self, types, nums, mode):
        mask = self._mask(types, nums)
        if self.inner is not None:
            b = Build(self.source_function(types))
        else:
            if getattr(self, "_program", None) is None:
                self._program = Program()
            b = Build(self.pyfun, self._program)
        if self.inner is None:
            check_returns_a_value(b.program.funcs[b.root], self.kind)
        spec = b.spec(b.root, types, mask, "reverse" if mode == "reverse" else "forward")
        self._check_output(spec, mode)
        d = b.derive(b.root, types, mask, mode)
        name, inout = d.name, d.inout
        reads = list(b.program.value_reads)
        if self.inner is not None:
            reads += self.inner.compiled_types(types, self.inner.argnums, "reverse").value_reads
        wrt = [self.params[k] for k in sorted(nums)]
        if mode == "reverse":
            entry = Entry("reverse", name, "(value, " + ", ".join(p + "_bar" for p in wrt) + ")")
        else:
            entry = Entry("forward", name, "(value, tangent)")
        header = self._header(types, spec.ret_type, wrt, [entry], b)
        src = assemble(b, header, [name], jit=self.jit, boundscheck=self.boundscheck)
        mod, path = load_module(src, self.module_stem(), b.module_globals())
        func = getattr(mod, name)
        if self.jit:
            func = self.guard(func, path, src)
        return Compiled(mod, path, src, func, spec, b, sorted(nums), inout, reads)

    def guard(self, func, path, src):
        return _jit_guard(func, path, src, self.pyfun) if self.jit else func

    def module_stem(self):
        return self.pyfun.__name__ + ("_jit" if self.jit else "")

    def native_type_key(self):
        """The same for the same derivative in any process (backend/native.py names its Numba
        type by it); None when the function has no fingerprint."""
        from .frontend.fingerprint import Fingerprint
        fp = Fingerprint(self.pyfun)
        if fp.digest is None:
            return None
        return _disk.key("native type", fp.digest, self.disk_options(), tuple(self.argnums),
                         self.single, self.mode)[:16]

    def disk_options(self):
        """What, besides the function, the signature and the mode, this transform's module
        depends on (the disk cache's key holds it)."""
        inner = self.inner
        return (type(self).__qualname__, self.jit, self.boundscheck,
                getattr(self, "header_note", None), getattr(self, "requested", None),
                None if inner is None else inner.disk_options() + (inner.argnums, inner.single))

    def _header(self, types, out_type, wrt, entries, build):
        """What the module's header says: this transform's function, its types, the
        derivative's entries, and the module-level arrays built in."""
        fn = self.pyfun
        try:
            path = inspect.getsourcefile(fn)
            line = inspect.getsourcelines(fn)[1]
        except (OSError, TypeError):
            path, line = "<unknown>", 0
        what = fn.__name__ if self.inner is None else f"{self.inner.kind}({fn.__name__})"
        item = Differentiated(what, path, line, self.params, list(types), out_type, wrt, entries)
        return Header([item], _header_notes(getattr(self, "header_note", None),
                                            build.module_globals()))

    def _check_output(self, spec, mode):
        pass

    def __repr__(self):
        return f"<s2sad.{self.kind} of {self.pyfun.__qualname__}>"

    # ------------------------------------------------------------ notebooks

    def _repr_html_(self):
        """Jupyter shows the generated source, highlighted, once a call has specialised it."""
        return None if self._last is None else source_html(repr(self), self._last.source)

    def _repr_markdown_(self):
        return None if self._last is None else source_markdown(repr(self), self._last.source)

    # ------------------------------------------------------------ pickling (s2sad/travel.py)

    __s2sad_wraps__ = True  # what it wraps is `self.fun`

    def __reduce__(self):
        name = global_name_for_pickle(self)  # `@s2sad.grad def loss`: by the module's name
        if name is not None:
            return name
        return (rebuild, (type(self), self._init_args(), source_for_pickle(self.pyfun)))

    def _init_args(self):
        """What ``type(self)(...)`` takes to make this object again (never its generated code)."""
        return (function_for_pickle(self.fun), self._argnums_arg(), self.mode, self.jit_arg)

    def _argnums_arg(self):
        return self.argnums[0] if self.single else tuple(self.argnums)


def _jit_options(jit):
    """``jit`` is True, False, or a dict of Numba options: ``{"boundscheck": True}`` checks
    every index of the compiled derivative (an IndexError, as in Python, instead of reading or
    writing past the end of an array). Returns whether bounds are checked."""
    if isinstance(jit, dict):
        unknown = set(jit) - {"boundscheck"}
        if unknown:
            raise ValueError(f"jit options: {', '.join(sorted(map(repr, unknown)))} unknown; "
                             "s2sad passes on {'boundscheck': True}")
        return bool(jit.get("boundscheck", False))
    if not isinstance(jit, (bool, int)):
        raise TypeError(f"jit must be True, False or a dict of Numba options, not {jit!r}")
    return False


def _jit_guard(func, path, src, fn):
    """Numba's typing errors, restated against the generated file and the user's line."""

    def call(*args):
        try:
            return func(*args)
        except Exception as e:
            import numba
            if not isinstance(e, (numba.core.errors.TypingError, numba.core.errors.UnsupportedError,
                                  numba.core.errors.LoweringError)):
                raise
            raise _jit_error(e, path, src, fn) from None

    call.dispatcher = func
    return call


def _jit_error(e, path, src, fn):
    import re
    from .errors import JitError
    msg = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    line = None
    # Numba writes the file relative to the working directory when it can ("../tmp.x/f.py")
    for m in re.finditer(r'[/"]' + re.escape(os.path.basename(str(path))) + r'", line (\d+)', msg):
        line = int(m.group(1))
    origin = ""
    if line is not None:
        lines = src.split("\n")
        for k in range(min(line, len(lines)) - 1, -1, -1):
            t = lines[k].strip()
            if t.startswith("#") and not t.startswith("# --"):
                parts = [t[1:].strip()]
                while t.startswith("#     ") and k > 0 and lines[k - 1].strip().startswith("#"):
                    k -= 1  # a provenance comment continued on this line (the layout's wrap)
                    t = lines[k].strip()
                    parts.insert(0, t[1:].strip())
                origin = f"; it comes from your line `{' '.join(parts)}`"
                break
    first = next((ln for ln in msg.splitlines() if ln.strip() and "Failed in" not in ln), msg)
    return JitError(f"Numba could not compile the derivative of {fn.__name__} "
                    f"(generated file {path}, line {line}){origin}: {first.strip()}", _def_loc(fn),
                    "run with jit=False to get the pure-Python derivative, or keep to the "
                    "Numba-supported subset of numpy")


def _def_loc(fn, param=None):
    """Where ``fn`` is defined (at ``param`` when given) in the user's file."""
    import ast
    from .frontend.lower import SourceInfo
    try:
        src = SourceInfo(fn)
        tree = parse(src.text)
    except (S2SADError, SyntaxError):
        return None
    node = tree.body[0]
    if param is not None and isinstance(node, ast.FunctionDef):
        for a in node.args.posonlyargs + node.args.args:
            if a.arg == param:
                return src.loc(a)
    return src.loc(node)


def _header_notes(note, module_globals):
    """The header names the contents of the module-level arrays built in, so that a change of
    them gives another module file (and Numba, which compiles them in as constants, another
    cache entry)."""
    from .frontend.resolve import content_digest

    notes = [note] if note else []
    arrays = sorted((k, v) for k, v in module_globals.items() if isinstance(v, np.ndarray))
    if arrays:
        notes.append("Module-level arrays built in: " + ", ".join(
            f"{k} {v.dtype}{list(v.shape)} #{content_digest(v)}" for k, v in arrays) + ".")
    return notes


def _scalar_output_check(spec, fn, what):
    rt = spec.ret_type
    if not (isinstance(rt, Scalar) and rt.differentiable):
        loc = None
        from . import ir
        for s in ir.walk_stmts(spec.fn.body):
            if isinstance(s, ir.Return):
                loc = s.loc
        raise NonDifferentiableError(
            f"{what} needs {fn.__name__} to return a float scalar, but it returns {a_(rt)}", loc,
            "use s2sad.vjp or s2sad.jacrev for vector outputs")


class Grad(Transform):
    kind = "grad"
    with_value = False

    def _check_output(self, spec, mode):
        _scalar_output_check(spec, self.pyfun, "grad")

    _entries = None  # jit=True, reverse mode: the compiled entries (backend/entry.py)

    def __call__(self, *args, **kwargs):
        if kwargs:
            args = self.bind(args, kwargs)
        e = self._entries
        if e is not None:  # after the first call: one lookup, then compiled code
            try:
                entry, c = e.table[e.fingerprint(args)]
                out = entry(*args)
            except _ENTRY_MISSES:
                pass
            else:
                self._last = c
                return out
        return self._call(self.bind(args, {}))

    def _call(self, args):
        c = self.compiled(args)
        if self.mode == "reverse":
            value, grads = self._reverse(c, args)
        else:
            value, grads = self._forward(c, args)
        out = grads[0] if self.single else tuple(grads)
        if self.jit and self.mode == "reverse" and not c.value_reads:
            if self._entries is None:
                self._entries = _entry.Entries()
            self._entries.learn(args, c, lambda: self._make_entry(c, self._argtypes(args), True))
        return (value, out) if self.with_value else out

    def _make_entry(self, c, types, python):
        return _entry.grad_entry(
            stem=self.pyfun.__name__ + "_entry", func_name=self.pyfun.__name__,
            params=self.params, types=types, argnums=self.argnums, single=self.single,
            with_value=self.with_value, core=c.func.dispatcher, core_name=generated_name(c),
            core_path=c.path, inout=c.inout, boundscheck=self.boundscheck, python=python)

    def native_entry(self, types):
        """The @njit function a call inside @njit code with arguments of these types calls."""
        c = self.compiled_types(types, self.argnums, "reverse")
        return self._make_entry(c, types, False)

    def _reverse(self, c, args):
        value, by_param = reverse_sweep(c, args, np.float64(1.0), copy=False)
        return float(value), [as_result(by_param[k], args[k]) for k in self.argnums]

    def _forward(self, c, args):
        """One forward sweep per entry of each differentiated argument (a gradient is a row
        of the Jacobian: its columns are numbers)."""
        value = []

        def sweep(k, e):
            v, d = forward_sweep(c, args, k, e)
            value[:] = [v]
            return d

        grads = [as_result(columns(lambda e, k=k: sweep(k, e), args[k]).reshape(np.shape(args[k])), args[k])
                 for k in self.argnums]
        return float(value[0] if value else self.pyfun(*copy_args(args))), grads

    def as_function(self, types):
        """This gradient as a plain Python function in a generated module (the reverse-mode
        code plus a wrapper with the signature of the original function), so that other
        transforms can differentiate it again: grad(grad(f)), jacfwd(grad(f)), ..."""
        c = self.compiled_types(types, self.argnums, "reverse")
        key = ("as_function", types, id(c))
        if key in self._cache:
            return self._cache[key]
        params = list(self.params)
        fname = self.pyfun.__name__ + ("_value_and_grad" if self.with_value else "_grad")
        w = GradWrapper(fname, self.pyfun.__name__, params, list(types), list(self.argnums),
                        self.single, generated_name(c), c.inout, self.with_value)
        entry = Entry("reverse", fname, w.result_text(), params)
        header = self._header(types, c.ret_type, [params[k] for k in c.wrt], [entry], c.build)
        src = assemble(c.build, header, [fname], wrappers=[grad_wrapper(w)])
        mod, _ = load_module(src, fname, c.build.module_globals())
        fn = getattr(mod, fname)
        self._cache[key] = fn
        return fn


def forward_sweep(c, args, k, tangent):
    """Run the compiled JVP ``c`` with ``tangent`` for argument ``k`` and zero tangents for the
    other differentiated arguments: (value, output tangent)."""
    tangents = [tangent if j == k else (np.zeros_like(args[j]) if isinstance(args[j], np.ndarray)
                                        else np.float64(0.0)) for j in c.wrt]
    return c.func(*ieee(copy_args(args)), *tangents)


def reverse_sweep(c, args, cotangent, copy=True):
    """Run the compiled VJP ``c`` for an output cotangent: (value, {argument position: its
    cotangent}). The arguments are copied unless the caller's may be written into."""
    inout = [np.zeros_like(args[k]) for k in c.inout]
    res = c.func(*ieee(copy_args(args) if copy else args), cotangent, *inout)
    return res[0], dict(zip(c.wrt, res[1:]))


def generated_name(c):
    """The name of the generated function a compiled derivative calls."""
    return getattr(c.func, "dispatcher", c.func).__name__


class ValueAndGrad(Grad):
    kind = "value_and_grad"
    with_value = True


def _decorator(cls):
    def make(fun=None, argnums=0, *, mode="reverse", jit=False):
        if fun is None:
            return lambda f: cls(f, argnums, mode=mode, jit=jit)
        if isinstance(fun, (int, tuple)) and not callable(fun):
            nums = fun
            return lambda f: cls(f, nums, mode=mode, jit=jit)
        return cls(fun, argnums, mode=mode, jit=jit)
    make.__name__ = cls.kind
    return make


grad = _decorator(Grad)
grad.__doc__ = """grad(fun, argnums=0, *, mode="reverse", jit=False)

The gradient of a scalar-valued ``fun`` with respect to the argument(s) ``argnums``. An int
``argnums`` gives one gradient, a tuple a tuple of them. Usable as ``@grad`` and
``@grad(argnums=(0, 1))``."""
value_and_grad = _decorator(ValueAndGrad)
value_and_grad.__doc__ = """value_and_grad(fun, argnums=0, *, mode="reverse", jit=False) -> (value, grad)"""


_transforms = {}


class _JVP(Transform):
    kind = "jvp"

    def native_entry(self, types):
        """The @njit function that s2sad.jvp inside @njit code calls, for primals of these types."""
        nums = tuple(k for k, ty in enumerate(types) if ty.differentiable)
        c = self.compiled_types(types, nums, "forward")
        return _entry.jvp_entry(stem=self.pyfun.__name__ + "_entry", func_name=self.pyfun.__name__,
                                types=types, wrt=c.wrt, core=c.func.dispatcher,
                                core_name=generated_name(c), core_path=c.path,
                                boundscheck=self.boundscheck)


def jvp(fun, primals, tangents, *, jit=False):
    """Forward mode: ``(fun(*primals), J @ tangents)``, as ``jax.jvp``."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError("jvp: primals and tangents must have the same length")
    t = _transform(_JVP, fun, jit)
    types = t._argtypes(primals)
    nums = tuple(k for k, ty in enumerate(types) if ty.differentiable)
    c = t.compiled(primals, nums=nums, mode="forward")
    tans = []
    for k in c.wrt:
        d = tangents[k]
        p = primals[k]
        if isinstance(p, np.ndarray):
            if not is_number_like(d):
                raise TypeError(f"jvp: the tangent of `{t.params[k]}` must be a float array, not "
                                f"{type(d).__name__}")
            d = np.array(d, dtype=p.dtype)  # a copy: the derivative may write into it
            if d.shape != p.shape:
                raise ValueError(f"jvp: the tangent of `{t.params[k]}` has shape {d.shape}, "
                                 f"its primal {p.shape}")
        else:
            if not is_number_like(d) or np.ndim(d) != 0:
                raise TypeError(f"jvp: the tangent of `{t.params[k]}` must be a float like its "
                                f"primal, not {type(d).__name__} {np.shape(d) if np.ndim(d) else ''}")
            d = np.float64(d)
        tans.append(d)
    out, dout = c.func(*ieee(copy_args(primals)), *tans)
    return out, dout


class _VJP(Transform):
    kind = "vjp"

    def native_vjp_entry(self, types):
        """The @njit function a call of vjp's function inside @njit code calls, for primals of
        these types."""
        if not self.jit:
            raise NonDifferentiableError(
                "the function s2sad.vjp returns is called inside @njit code, but it was made "
                "with jit=False", _def_loc(self.pyfun),
                f"make it with s2sad.vjp({self.pyfun.__name__}, ..., jit=True)")
        nums = tuple(k for k, ty in enumerate(types) if ty.differentiable)
        c = self.compiled_types(types, nums, "reverse")
        if not isinstance(c.ret_type, (Scalar, Array)):
            raise NonDifferentiableError(
                f"inside @njit code, the function s2sad.vjp returns needs {self.pyfun.__name__} to "
                f"return a float or an array, not {a_(c.ret_type)}", _def_loc(self.pyfun))
        return _entry.vjp_entry(stem=self.pyfun.__name__ + "_entry", func_name=self.pyfun.__name__,
                                types=types, wrt=c.wrt, inout=c.inout, out_type=c.ret_type,
                                core=c.func.dispatcher, core_name=generated_name(c),
                                core_path=c.path, boundscheck=self.boundscheck)


def vjp(fun, *primals, jit=False):
    """Reverse mode: ``(fun(*primals), vjp_fun)`` where ``vjp_fun(cotangent)`` returns a tuple
    with the cotangent of each primal (None for integer ones), as ``jax.vjp``."""
    t = _transform(_VJP, fun, jit)
    types = t._argtypes(primals)
    nums = tuple(k for k, ty in enumerate(types) if ty.differentiable)
    c = t.compiled(primals, nums=nums, mode="reverse")
    primals = copy_args(primals)
    out = fun(*copy_args(primals))
    return out, VJPFunction(t, c, primals, out)


class VJPFunction:
    """``vjp_fun`` of ``vjp(fun, *primals)``: ``vjp_fun(cotangent)`` gives one cotangent per
    primal. Pickled as ``fun``, the primals and ``jit``, made again by ``vjp`` when unpickled."""

    def __init__(self, transform, compiled, primals, out):
        self.transform, self.compiled, self.primals, self.out = transform, compiled, primals, out

    def __call__(self, ct):
        primals = self.primals
        _, by_param = reverse_sweep(self.compiled, primals, match_cotangent(ct, self.out))
        return tuple(as_result(by_param[k], primals[k]) if k in by_param else None
                     for k in range(len(primals)))

    def __reduce__(self):
        t = self.transform
        return (_vjp_function, (function_for_pickle(t.fun), self.primals, t.jit_arg,
                                source_for_pickle(t.pyfun)))


def _vjp_function(fun, primals, jit, source=None):
    restore_source(source, fun)
    return vjp(fun, *primals, jit=jit)[1]


def _transform(cls, fun, jit):
    key = (cls, id(fun), bool(jit), _jit_options(jit))
    t = _transforms.get(key)
    if t is None or t.fun is not fun:
        t = cls(fun, 0, mode="forward" if cls is _JVP else "reverse", jit=jit)
        _transforms[key] = t
    return t


def source(derivative, *example_args):
    """The generated Python source of a derivative made by s2sad (the whole module: the
    derivative, the derivative helpers of the functions it calls, the tape helpers).

    The source depends on the argument types, so pass example arguments unless the derivative
    has already been called."""
    t = derivative if isinstance(derivative, Transform) else None
    if t is None:
        if example_args and hasattr(derivative, "source_for"):  # a CUDA derivative kernel
            return derivative.source_for(*example_args)
        c = getattr(derivative, "compiled", None)
        if c is not None:
            return c.source
        raise TypeError("s2sad.source() takes a derivative made by s2sad (grad, value_and_grad, "
                        "the vjp function from vjp, ...)")
    if example_args:
        return t.compiled(example_args).source
    if t._last is None:
        raise ValueError(f"{t!r} has not been called yet, so its argument types are unknown: "
                         "call it once, or pass example arguments: s2sad.source(df, *args)")
    return t._last.source


def stop_gradient(x):
    """The value of ``x``, through which no derivative flows (a detach / no-grad)."""
    return x


stop_gradient.__s2sad_primitive__ = "stop_gradient"


def checkpointed(iterable, snapshots):
    """Mark a ``for`` loop for binomial checkpointing in reverse mode:
    ``for t in s2sad.checkpointed(range(n), snapshots=k):``. Run as plain Python it is just the
    range. Reverse mode then keeps at most ``k`` copies of the loop's state instead of a tape of
    every iteration, and recomputes iterations from them (Griewank's binomial schedule)."""
    return iterable


checkpointed.__s2sad_primitive__ = "checkpointed"


def _native_register():
    """Derivative objects, and s2sad.jvp, callable inside @njit code (backend/native.py)."""
    from .backend.native import register, register_vjp_function
    register(Transform, jvp, lambda fun: _transform(_JVP, fun, True))
    register_vjp_function(VJPFunction)


if "numba" in sys.modules:  # else when the first jitted derivative is made
    _native_register()
