"""Standalone derivative modules: what ``s2sad emit`` writes and ``s2sad show`` prints.

From ``PATH.py:FUNC`` targets, argument types and a mode, one Python module holding the
derivative functions, every derivative helper they call, the module-level arrays they read
(as literals) and thin public wrappers (``FUNC_grad``, ``FUNC_jvp``). The module imports only
numpy and math (and numba for ``jit``), so it runs where s2sad is not installed, and the text
is a function of the input alone (no timestamp), so emitting twice gives the same bytes.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import io
import math
import os
import re
import sys
import textwrap
import tokenize
import traceback
import types
from dataclasses import dataclass, field

import numpy as np

from . import __version__, ir
from .ir.types import BOOL, F32, F64, I64, Array, Scalar, Tuple, typeof_value
from .backend.pysource import expr_source
from .compiler import JIT_DECORATOR, Build
from .errors import NonDifferentiableError, S2SADError, TypeInferenceError
from .frontend.lower import get_user_function

LINE_LENGTH = 100


class EmitError(S2SADError):
    """A bad input to the command line: a file, a function, an option value."""


def _loc(filename, lineno, col=0, line=None):
    if line is None:
        line = _source_line(filename, lineno)
    return ir.Loc(filename, lineno, col, line)


def _source_line(filename, lineno):
    import linecache
    return linecache.getline(filename, lineno) if lineno else ""


# ================================================================ loading the user's file


_modules = {}


def load_user_module(path):
    """Import the user's file as a module (its directory first on sys.path, as when it is run
    as a script), so that s2sad can read its source and globals."""
    path = os.path.normpath(path)
    key = os.path.abspath(path)
    if key in _modules:
        return _modules[key]
    if not os.path.exists(path):
        raise EmitError(f"{path}: no such file")
    if os.path.isdir(path):
        raise EmitError(f"{path}: is a directory, not a Python file")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise EmitError(f"{path}: cannot read: {e.strerror or e}") from None
    # compiled under the path as given, so that messages point at `model.py:12:5`, as the
    # user wrote it, not at an absolute path
    try:
        code = compile(data, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:  # ValueError: null bytes
        if isinstance(e, SyntaxError):
            raise _syntax_error(e, path) from None
        raise EmitError(f"{path}: not a Python source file ({e})") from None
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    name = f"_s2sad_user_{len(_modules)}_{stem}"
    mod = types.ModuleType(name)
    mod.__file__ = path
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    sys.modules[name] = mod
    try:
        exec(code, mod.__dict__)  # noqa: S102 -- importing the user's file, as Python would
    except BaseException as e:  # the user's own top-level code failed
        sys.modules.pop(name, None)
        if isinstance(e, (KeyboardInterrupt, S2SADError)):
            raise
        raise _import_error(e, path) from None
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    _modules[key] = mod
    return mod


def _syntax_error(e, path):
    lineno = e.lineno or 0
    col = max((e.offset or 1) - 1, 0)
    line = e.text or _source_line(path, lineno)
    line = line.split("\n")[0] + "\n" if line else ""
    return EmitError(f"syntax error: {e.msg}", _loc(e.filename or path, lineno, col, line))


def _import_error(e, path):
    if isinstance(e, SyntaxError):  # from a module the user's file imports
        return _syntax_error(e, e.filename or path)
    frames = traceback.extract_tb(e.__traceback__)
    here = os.path.abspath(path)
    loc = None
    for fr in frames:
        if os.path.abspath(fr.filename) == here and fr.lineno:
            line = _source_line(path, fr.lineno)
            loc = _loc(path, fr.lineno, len(line) - len(line.lstrip()), line)
    text = str(e).strip().split("\n")[0]
    what = f"{type(e).__name__}: {text}" if text else type(e).__name__
    if isinstance(e, SystemExit):
        what = f"SystemExit({e.code!r})"
    return EmitError(f"importing {path} failed: {what}", loc,
                     "s2sad imports your file to read it: its top-level code must run")


# ================================================================ targets


@dataclass
class Target:
    """One ``PATH.py:FUNC`` of the command line, with everything known about its arguments."""

    spec: str
    path: str
    func_name: str
    obj: object  # what the module holds (a function, or a Numba dispatcher)
    pyfunc: object  # the plain Python function
    params: list
    defaults: dict  # param -> default value
    fdef: ast.FunctionDef
    line0: int  # the line of the function's first source line
    indent: int
    types: list = field(default_factory=list)  # one Type per parameter
    type_origin: list = field(default_factory=list)  # where each type came from

    @property
    def jitted(self):
        return hasattr(self.obj, "py_func")

    @property
    def def_loc(self):
        return self.node_loc(self.fdef)

    def node_loc(self, node):
        lineno = self.line0 + getattr(node, "lineno", 1) - 1
        return _loc(self.pyfunc.__code__.co_filename, lineno,
                    getattr(node, "col_offset", 0) + self.indent)

    def param_loc(self, name):
        for a in _fdef_args(self.fdef):
            if a.arg == name:
                return self.node_loc(a)
        return self.def_loc


def _fdef_args(fdef):
    a = fdef.args
    return list(getattr(a, "posonlyargs", [])) + list(a.args) + list(a.kwonlyargs) + [
        x for x in (a.vararg, a.kwarg) if x is not None]


def split_target(spec):
    path, sep, func = spec.rpartition(":")
    if not sep or not path or not func:
        raise EmitError(f"`{spec}`: expected PATH.py:FUNC, e.g. model.py:loss")
    if not func.isidentifier():
        raise EmitError(f"`{spec}`: `{func}` is not a function name (expected PATH.py:FUNC)")
    return path, func


def resolve_target(spec):
    path, fname = split_target(spec)
    mod = load_user_module(path)
    obj = getattr(mod, fname, None)
    if obj is None:
        defined = sorted(n for n, v in vars(mod).items() if inspect.isfunction(v)
                         and v.__module__ == mod.__name__)
        listing = f" (it defines: {', '.join(defined)})" if defined else ""
        raise EmitError(f"{path}: no function named `{fname}`{listing}")
    try:
        pyfunc = get_user_function(obj)
    except NonDifferentiableError:
        raise EmitError(f"{path}: `{fname}` is a {type(obj).__name__}, not a function defined "
                        "with `def`") from None
    try:
        lines, line0 = inspect.getsourcelines(pyfunc)
    except (OSError, TypeError) as e:
        raise EmitError(f"{path}: cannot read the source of `{fname}`: {e}") from None
    first = lines[0]
    indent = len(first) - len(first.lstrip())
    text = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(text)
    except SyntaxError as e:  # e.g. a lambda bound to a name
        raise EmitError(f"{path}: cannot parse the source of `{fname}`: {e.msg}") from None
    fdefs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not fdefs:
        raise EmitError(f"{path}:{line0}: `{fname}` is not a function defined with `def`")
    sig = inspect.signature(pyfunc)
    params = list(sig.parameters)
    defaults = {p: v.default for p, v in sig.parameters.items()
                if v.default is not inspect.Parameter.empty}
    return Target(spec, path, fname, obj, pyfunc, params, defaults, fdefs[0], line0, indent)


# ================================================================ types

_SCALAR_NAMES = {
    "float": F64, "float64": F64, "double": F64, "float_": F64, "f8": F64,
    "float32": F32, "single": F32, "f4": F32,
    "int": I64, "int64": I64, "int32": I64, "intp": I64, "int_": I64,
    "bool": BOOL, "bool_": BOOL,
}
_ARRAY_NAMES = {"ndarray", "NDArray", "ArrayLike"}
TYPE_SYNTAX = ("float64, float32, int64, bool, float64[:], float64[:, :], "
               "np.ndarray (a float64 1-D array), or a tuple of these")


class _BadType(Exception):
    def __init__(self, node, what):
        self.node = node
        self.what = what


def type_from_node(node):
    """The s2sad type written as ``node`` (an annotation, or a ``--types`` value)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            inner = ast.parse(node.value.strip(), mode="eval").body
        except SyntaxError:
            raise _BadType(node, repr(node.value)) from None
        try:
            return type_from_node(inner)
        except _BadType:
            raise _BadType(node, repr(node.value)) from None
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if name in _SCALAR_NAMES:
            return _SCALAR_NAMES[name]
        if name in _ARRAY_NAMES:
            return Array("float64", 1)
    if isinstance(node, ast.Subscript):
        base = node.value
        name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
        idx = node.slice
        items = idx.elts if isinstance(idx, ast.Tuple) else [idx]
        if name in _SCALAR_NAMES and all(isinstance(i, ast.Slice) and i.lower is None
                                         and i.upper is None and i.step is None for i in items):
            return Array(_SCALAR_NAMES[name].dtype, len(items))
        if name in _ARRAY_NAMES and len(items) == 1:
            # NDArray[np.float64]: the dtype, rank 1
            inner = type_from_node(items[0])
            if isinstance(inner, Scalar):
                return Array(inner.dtype, 1)
        if name in ("tuple", "Tuple"):
            return Tuple(tuple(type_from_node(i) for i in items))
    if isinstance(node, ast.Tuple):
        return Tuple(tuple(type_from_node(i) for i in node.elts))
    raise _BadType(node, ast.unparse(node))


def parse_call_text(text, option):
    """``'x=0.3, y=[1, 2]'`` (or positional items first) parsed as the arguments of a call: a
    list of (name, expression node), name None for a positional item."""
    src = "_(" + text + "\n)"
    try:
        call = ast.parse(src, mode="eval").body
    except SyntaxError as e:
        col = max((e.offset or 3) - 3, 0)
        raise EmitError(f"{option}: {e.msg} at column {col + 1} of `{text}`") from None
    if not isinstance(call, ast.Call) or not (call.args or call.keywords):
        raise EmitError(f"{option}: expected NAME=VALUE, ..., got `{text}`")
    for a in call.args:
        if isinstance(a, ast.Starred):
            raise EmitError(f"{option}: unexpected `*` in `{text}`")
    for k in call.keywords:
        if k.arg is None:
            raise EmitError(f"{option}: unexpected `**` in `{text}`")
    return [(None, a) for a in call.args] + [(k.arg, k.value) for k in call.keywords]


def assign_items(target, items, option, strict=True):
    """Map positional/keyword items onto ``target``'s parameters (``strict=False``: names that
    are not ``target``'s parameters are left out, for options shared by several targets)."""
    out = {}
    seen_kw = False
    for pos, (name, node) in enumerate(items):
        if name is None:
            if seen_kw:
                raise EmitError(f"{option}: a positional value follows NAME=VALUE")
            if pos >= len(target.params):
                raise EmitError(f"{option}: {target.func_name} takes {len(target.params)} "
                                f"argument(s), {pos + 1} given", target.def_loc)
            name = target.params[pos]
        else:
            seen_kw = True
            if name not in target.params and not strict:
                continue
            if name not in target.params:
                raise EmitError(f"{option}: {target.func_name} has no parameter `{name}` "
                                f"(its parameters: {', '.join(target.params)})", target.def_loc)
        if name in out:
            raise EmitError(f"{option}: `{name}` is given twice")
        out[name] = node
    return out


def check_names_known(targets, text, option):
    """With several targets, each NAME= of a shared option must be a parameter of one."""
    known = {p for t in targets for p in t.params}
    for name, _ in parse_call_text(text, option):
        if name is not None and name not in known:
            raise EmitError(f"{option}: no function given has a parameter `{name}`")


def parse_types_option(target, text, strict=True):
    types = {}
    items = parse_call_text(text, "--types")
    for name, node in assign_items(target, items, "--types", strict).items():
        try:
            types[name] = type_from_node(node)
        except _BadType as e:
            raise EmitError(f"--types: `{e.what}` is not a type s2sad knows; write one of "
                            f"{TYPE_SYNTAX}") from None
    return types


def annotation_type(target, name):
    """The type of parameter ``name`` from its annotation, None when it has none."""
    for a in _fdef_args(target.fdef):
        if a.arg == name and a.annotation is not None:
            obj = target.pyfunc.__annotations__.get(name)
            t = _type_of_annotation_object(obj)
            if t is not None:
                return t
            try:
                return type_from_node(a.annotation)
            except _BadType as e:
                raise EmitError(
                    f"cannot read the annotation `{e.what}` of `{name}` as a type",
                    target.node_loc(a.annotation),
                    f"annotate with {TYPE_SYNTAX}, or give the type with --types "
                    f"'{name}=float64[:]'") from None
    return None


def _type_of_annotation_object(obj):
    if obj is float:
        return F64
    if obj is int:
        return I64
    if obj is bool:
        return BOOL
    if obj is np.ndarray:
        return Array("float64", 1)
    if isinstance(obj, type) and issubclass(obj, np.generic):
        return typeof_value(obj(0))
    if type(obj).__module__.split(".")[0] == "numba":  # numba.float64, numba.float64[:, :]
        if hasattr(obj, "ndim") and hasattr(obj, "dtype"):
            inner = _SCALAR_NAMES.get(str(obj.dtype))
            return Array(inner.dtype, obj.ndim) if inner is not None else None
        return _SCALAR_NAMES.get(str(obj))
    return None


def set_types(target, types_text=None, values=None, strict=True):
    """Each parameter's type, in order of priority: ``--types``, the annotation, the value
    given with ``--at``, the default value, float64."""
    given = parse_types_option(target, types_text, strict) if types_text else {}
    values = values or {}
    types, origin = [], []
    for p in target.params:
        if p in given:
            t, o = given[p], "--types"
        else:
            t = annotation_type(target, p)
            o = "annotation"
            if t is None and p in values:
                t, o = typeof_value(values[p]), "--at"
            if t is None and p in target.defaults:
                t, o = typeof_value(target.defaults[p]), "default value"
            if t is None:
                t, o = F64, "assumed"
        types.append(t)
        origin.append(o)
    target.types = types
    target.type_origin = origin
    return types


def differentiable_params(target):
    return [k for k, t in enumerate(target.types) if t.differentiable]


def parse_wrt(target, wrt=None, argnums=None):
    """The differentiated positions and whether one result (not a tuple) is asked for.

    One name or number gives one result, several (or a trailing comma) a tuple, as an int or
    a tuple ``argnums`` does for ``s2sad.grad``. By default: every float parameter."""
    if wrt is not None and argnums is not None:
        raise EmitError("give either --wrt or --argnums, not both")
    if wrt is None and argnums is None:
        nums = differentiable_params(target)
        if not nums:
            raise EmitError(f"{target.func_name} has no float parameter to differentiate with "
                            f"respect to (types: {_sig_text(target)})", target.def_loc,
                            "annotate a parameter `x: float` or give --types 'x=float64'")
        return nums, len(nums) == 1
    text = wrt if wrt is not None else argnums
    option = "--wrt" if wrt is not None else "--argnums"
    items = [s.strip() for s in text.split(",")]
    trailing = len(items) > 1 and items[-1] == ""
    if trailing:
        items = items[:-1]
    if not items or any(not s for s in items):
        raise EmitError(f"{option}: expected a comma-separated list, got `{text}`")
    nums = []
    for s in items:
        if wrt is not None:
            if s not in target.params:
                raise EmitError(f"--wrt: {target.func_name} has no parameter `{s}` (its "
                                f"parameters: {', '.join(target.params)})", target.def_loc)
            k = target.params.index(s)
        else:
            try:
                k = int(s)
            except ValueError:
                raise EmitError(f"--argnums: `{s}` is not an integer") from None
            n = len(target.params)
            if not -n <= k < n:
                raise EmitError(f"--argnums: {k} is out of range for {target.func_name}, which "
                                f"takes {n} argument(s)", target.def_loc)
            k %= n
        t = target.types[k]
        if not t.differentiable:
            p = target.params[k]
            raise EmitError(
                f"cannot differentiate {target.func_name} with respect to `{p}`, which is "
                f"{_a(t)} {t}: only float scalars and float arrays have derivatives",
                target.param_loc(p),
                f"leave `{p}` out of {option}, or make it a float (annotation `{p}: float` or "
                f"--types '{p}=float64')")
        nums.append(k)
    return nums, len(nums) == 1 and not trailing


def _a(t):
    return "an" if str(t)[0] in "aeiou" else "a"


def _sig_text(target):
    return ", ".join(f"{p}: {t}" for p, t in zip(target.params, target.types))


# ================================================================ the module


@dataclass
class Request:
    """One derivative to emit: a target, a mode, the differentiated positions, a name."""

    target: Target
    mode: str  # "reverse" | "forward"
    wrt: list  # positions, as asked (order kept, for the result order)
    single: bool
    name: str  # public name in the module
    key: str = ""  # the function's key in the Build's program
    core: str = ""  # the generated function's name
    inout: list = field(default_factory=list)
    out_type: object = None

    @property
    def mask(self):
        return [k in self.wrt for k in range(len(self.target.params))]

    @property
    def wrt_sorted(self):
        return sorted(set(self.wrt))


def default_name(target, mode):
    return target.func_name + ("_grad" if mode == "reverse" else "_jvp")


class ModuleBuilder:
    """Builds the derivatives of every request into one module (one ``Build``, so helpers
    shared by several targets appear once and generated names never clash)."""

    def __init__(self, requests, jit=False, command=None):
        self.requests = requests
        self.jit = jit
        self.command = command
        self.build = None
        # `check` also tests array outputs in reverse mode, through the generated vjp
        self.vector_reverse = False

    # ------------------------------------------------------------ building

    def run(self):
        reqs = self.requests
        names = [r.name for r in reqs]
        for n in names:
            if names.count(n) > 1:
                raise EmitError(f"two derivatives would both be called `{n}`",
                                hint="name them with --name NAME1,NAME2,...")
            if not n.isidentifier() or n in ("np", "math", "numba"):
                raise EmitError(f"--name: `{n}` cannot be the name of a function")
        b = None
        for r in reqs:
            if b is None:
                b = Build(r.target.pyfunc)
                r.key = b.root
            else:
                r.key = b.program.add(r.target.pyfunc)
                b.program.check_recursion(r.key)
        self.build = b
        glob = b.module_globals()
        self._check_globals(glob)
        # public names and module-level arrays go first: generated helpers get other names
        reserved = set(names) | set(glob) | {"np", "math", "numba"}
        b.used_names |= reserved
        for r in self._callees_first(reqs):
            try:
                self._derive(r)
            except TypeInferenceError as e:
                raise _with_type_hint(e, r.target) from None
        return self

    def _callees_first(self, reqs):
        """The requests, a target that another target calls before that one: its generated
        function is then built as a root and takes the public name (``g_jvp``), not a
        callee's (``g_jvp_2``)."""
        reach = {r.key: self._reachable(r.key) for r in reqs}
        left = list(reqs)
        order = []
        while left:
            leaf = next((r for r in left if not any(o.key != r.key and o.key in reach[r.key]
                                                    for o in left)), left[0])
            order.append(leaf)
            left.remove(leaf)
        return order

    def _reachable(self, key):
        funcs = self.build.program.funcs
        seen, todo = set(), [key]
        while todo:
            k = todo.pop()
            for s in ir.walk_stmts(funcs[k].body):
                for e in _stmt_exprs(s):
                    if isinstance(e, ir.CallUser) and e.func not in seen:
                        seen.add(e.func)
                        todo.append(e.func)
        return seen

    def _derive(self, r):
        b = self.build
        t = r.target
        mask = r.mask
        spec = b.spec(r.key, tuple(t.types), mask, "fwd")
        r.out_type = spec.ret_type
        if r.mode == "reverse":
            rt = spec.ret_type
            if self.vector_reverse and isinstance(rt, (Array, Tuple)):
                r.core = b.vjp(r.key, tuple(t.types), mask)
                r.inout = list(b.inouts[("vjp", r.key, tuple(t.types), tuple(mask))])
                r.name = r.core
                return
            if not (isinstance(rt, Scalar) and rt.differentiable):
                raise NonDifferentiableError(
                    f"reverse mode ({r.name}) needs {t.func_name} to return a float scalar, but "
                    f"it returns {_a(rt)} {rt}", _return_loc(spec.fn) or t.def_loc,
                    "use --mode forward for vector outputs")
            r.core = b.vjp(r.key, tuple(t.types), mask)
            r.inout = list(b.inouts[("vjp", r.key, tuple(t.types), tuple(mask))])
        else:
            # the generated jvp already has the public signature: let it take the public name
            b.used_names.discard(r.name)
            r.core = b.jvp(r.key, tuple(t.types), mask)
            b.used_names.add(r.name)

    def _check_globals(self, glob):
        for name, obj in glob.items():
            if isinstance(obj, np.ndarray):
                if typeof_value(obj) is None:
                    raise EmitError(f"the module-level array `{name}` has dtype {obj.dtype}, "
                                    "which a generated module cannot hold",
                                    self._global_loc(name))
                continue
            if _library_path(obj) is not None:
                continue
            if hasattr(obj, "__s2sad_rule__"):
                kind = "a custom derivative rule"
            else:
                qual = getattr(obj, "__qualname__", None)
                label = f"`{qual}`" if qual else f"a `{type(obj).__name__}` object"
                modname = getattr(obj, "__module__", None) or type(obj).__module__
                where = "" if modname.startswith("_s2sad_user_") else f" from `{modname}`"
                kind = label + where
            raise EmitError(
                f"this calls {kind}, which a standalone module cannot hold: it can only call "
                "numpy, math and the functions of your files", self._global_loc(name),
                "use s2sad.grad at run time for this function, or write the call with numpy")

    def _global_loc(self, name):
        for key, fn in self.build.program.funcs.items():
            if fn is None or key.endswith("#rev"):
                continue
            for s in ir.walk_stmts(fn.body):
                for e in _stmt_exprs(s):
                    if isinstance(e, ir.Global) and e.name == name:
                        return s.loc
                    if isinstance(e, ir.Call) and e.func.split(":", 1)[-1] == name:
                        return s.loc
        return None

    # ------------------------------------------------------------ text

    def source(self):
        b = self.build
        self._number_provenance()
        body = b.module_source("", jit=self.jit)
        body = _strip_imports(body)
        glob = b.module_globals()
        parts = [self.header(), ""]
        parts.append(self._imports_placeholder())
        parts.append("")
        public = sorted({r.name for r in self.requests}, key=_isort_key)
        parts.append("__all__ = [" + ", ".join(f'"{n}"' for n in public) + "]")
        if glob:
            parts.append("")
            parts.append(self._globals_text(glob))
        parts.append("")
        parts.append(body.strip("\n"))
        for r in self.requests:
            w = self.wrapper(r)
            if w:
                parts.append("")
                parts.append(w)
        text = "\n".join(parts) + "\n"
        text = _drop_unreachable(text, public)
        text = _add_shims(text)
        text = layout(text)
        text = text.replace(self._imports_placeholder(), _imports_for(text, self.jit))
        return _blank_lines(text)

    def _number_provenance(self):
        """Provenance comments say where the user's line is: ``# model.py:12: s += x[i]``."""
        if getattr(self, "_numbered", False):
            return
        self._numbered = True
        seen = set()
        for fn, _ in self.build.functions:
            for s in ir.walk_stmts(fn.body):
                if id(s) in seen or s.loc is None:
                    continue
                seen.add(id(s))
                where = f"{os.path.basename(s.loc.filename)}:{s.loc.lineno}: "
                if isinstance(s, ir.Comment):
                    if s.text and not s.text.startswith(("--", where)):
                        s.text = where + s.text
                elif s.comment and not s.comment.startswith(("--", where)):
                    s.comment = where + s.comment

    @staticmethod
    def _imports_placeholder():
        return "#__s2sad_imports__"

    def header(self):
        reqs = self.requests
        paths = list(dict.fromkeys(r.target.path for r in reqs))
        lines = [(f"Generated by s2sad {__version__} (source-to-source automatic "
                  f"differentiation) from {', '.join(paths)}.")]
        need = "numpy, math and numba" if self.jit else "numpy and math"
        lines.append(f"Standalone: needs only {need}, not s2sad.")
        targets = list(dict.fromkeys(id(r.target) for r in reqs))
        for tid in targets:
            treqs = [r for r in reqs if id(r.target) == tid]
            t = treqs[0].target
            lines.append("")
            lines.append(f"Differentiation of {t.func_name} ({t.path}:{t.line0}):")
            sig = ", ".join(f"{p}: {ty}" for p, ty in zip(t.params, t.types))
            lines.append(f"    {t.func_name}({sig}) -> {treqs[0].out_type}")
            wrt = " ".join(t.params[k] for k in treqs[0].wrt_sorted)
            lines.append(f"    with respect to varying inputs: {wrt}")
            lines.append(f"    of the output: the return value of {t.func_name}")
            for r in treqs:
                lines.append("    " + self.signature_line(r))
        out = []
        for ln in lines:
            out.extend(_wrap_comment("# " + ln if ln else "#", LINE_LENGTH))
        if self.command:
            out += ["#", "# Regenerate with:"]
            out += _command_comment(self.command, LINE_LENGTH)
        return "\n".join(out)

    def signature_line(self, r):
        t = r.target
        if r.mode == "reverse":
            grads = [f"d/d{t.params[k]}" for k in r.wrt]
            res = grads[0] if r.single else "(" + ", ".join(grads) + ("," if len(grads) == 1 else "") + ")"
            return f"reverse (adjoint) mode: {r.name}({', '.join(t.params)}) -> {res}"
        params = self._core_params(r)
        return f"forward (tangent) mode: {r.name}({', '.join(params)}) -> (value, tangent)"

    def _core_fn(self, name):
        for fn, _ in self.build.functions:
            if fn.name == name:
                return fn
        raise KeyError(name)

    def _core_params(self, r):
        return list(self._core_fn(r.core).params)

    def _globals_text(self, glob):
        out = ["# Module-level arrays read by the functions below, copied from the source."]
        for name, obj in glob.items():
            if isinstance(obj, np.ndarray):
                out.append(array_literal(name, obj))
            else:
                out.append(f"{name} = {_library_path(obj)}")
        return "\n".join(out)

    def wrapper(self, r):
        t = r.target
        if r.name == r.core:
            return None
        if r.mode == "forward":
            if r.core == r.name:
                return None
            params = self._core_params(r)
            return (f"{self._deco()}def {r.name}({', '.join(params)}):\n"
                    f'    """Forward mode: returns ({t.func_name}(...), its tangent)."""\n'
                    f"    return {r.core}({', '.join(params)})\n")
        taken = set(t.params) | {r.name, r.core}
        bars = {}
        for k in r.wrt_sorted:
            bars[k] = _fresh(t.params[k] + "_bar", taken)
        floats = [k for k, ty in enumerate(t.types) if ty == Scalar("float64")]
        call = [f"np.float64({p})" if k in floats else p for k, p in enumerate(t.params)]
        call.append("np.float64(1.0)")
        call += [f"np.zeros_like({t.params[k]})" for k in r.inout]
        lhs = ["_"] + [bars[k] for k in r.wrt_sorted]
        results = []
        kinds = []
        for k in r.wrt:
            ty = t.types[k]
            v = bars[k]
            if isinstance(ty, Scalar):
                v = f"float({v})"
                kinds.append("a float")
            else:
                if ty.dtype != "float64":
                    v = f"np.asarray({v}, dtype={t.params[k]}.dtype)"
                kinds.append(f"an array shaped like {t.params[k]}")
            results.append(v)
        if r.single:
            ret = results[0]
        else:
            ret = ", ".join(results) + ("," if len(results) == 1 else "")
        argnums = r.wrt[0] if r.single else tuple(r.wrt)
        names = ", ".join(t.params[k] for k in r.wrt)
        same = f"s2sad.grad({t.func_name}, argnums={argnums!r})({', '.join(t.params)})"
        if r.single:
            first = f'"""Gradient of {t.func_name} with respect to {names}, by reverse mode: '
            body = [first + f"{kinds[0]}.", "", f"The same as {same}."]
        else:
            tup = ", ".join(bars[k] for k in r.wrt) + ("," if len(r.wrt) == 1 else "")
            returns = f"Returns ({tup}), each shaped like its argument (a float for a float): "
            body = [f'"""Gradient of {t.func_name} with respect to ({names}), by reverse mode.',
                    "", returns + f"the same as {same}."]
        body.append('"""')
        if floats:
            body.append("# float arguments as numpy scalars: a division by zero gives inf or "
                        "nan, as in NumPy")
        body.append(f"{', '.join(lhs)} = {r.core}({', '.join(call)})")
        body.append(f"return {ret}")
        sig = _signature_with_defaults(t)
        return (f"{self._deco()}def {r.name}({sig}):\n"
                + "".join(f"    {ln}\n" if ln else "\n" for ln in body))

    def _deco(self):
        # jitted wrappers can be called from the user's own @njit code too
        return JIT_DECORATOR + "\n" if self.jit else ""

    # ------------------------------------------------------------ other views

    def ir_text(self):
        b = self.build
        out = []
        seen = set()
        for r in self.requests:
            t = r.target
            if r.key not in seen:
                seen.add(r.key)
                types = b.ti.infer(r.key, tuple(t.types)).types
                out.append(f"# ---- {t.func_name}: the lowered IR ({t.path}:{t.line0}) ----")
                out.append(ir.format_function(b.program.funcs[r.key], types))
                out.append("")
            mode = "reverse-mode" if r.mode == "reverse" else "forward-mode"
            out.append(f"# ---- {r.core}: the {mode} derivative of {t.func_name}, as IR ----")
            out.append(ir.format_function(self._core_fn(r.core), {}))
            out.append("")
        return "\n".join(out)

    def dot_text(self):
        b = self.build
        g = DotGraph()
        seen = set()
        for r in self.requests:
            if r.key not in seen:
                seen.add(r.key)
                fn = b.program.funcs[r.key]
                g.function(fn, f"{r.target.func_name} (primal)")
            mode = "reverse" if r.mode == "reverse" else "forward"
            g.function(self._core_fn(r.core), f"{r.core} ({mode} mode)")
        return g.text()


def _isort_key(name):
    """The order ruff (RUF022) wants in ``__all__``: CONSTANTS, Classes, then the others."""
    group = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return group, name


def _with_type_hint(e, t):
    """A type error, with a hint naming the parameters whose types were only assumed."""
    assumed = [p for p, o in zip(t.params, t.type_origin) if o == "assumed"]
    if not assumed:
        return e
    names = ", ".join(f"`{p}`" for p in assumed)
    hint = (f"{t.func_name}'s {names} have no annotation, so they were taken as float64 "
            f"scalars: annotate them (`{assumed[0]}: np.ndarray`) or give --types "
            f"'{assumed[0]}=float64[:]'")
    return EmitError(e.bare_message, e.loc, hint)


def _return_loc(fn):
    loc = None
    for s in ir.walk_stmts(fn.body):
        if isinstance(s, ir.Return):
            loc = s.loc
    return loc


def _fresh(name, taken):
    n = name
    k = 1
    while n in taken:
        k += 1
        n = f"{name}{k}"
    taken.add(n)
    return n


def _signature_with_defaults(t):
    """The user's parameter list, with its defaults when they are plain literals."""
    parts = []
    for p in t.params:
        if p in t.defaults:
            v = t.defaults[p]
            if _is_literal(v):
                parts.append(f"{p}={v!r}")
                continue
            return ", ".join(t.params)
        parts.append(p)
    return ", ".join(parts)


def _is_literal(v):
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, (bool, int, str)) or v is None:
        return True
    if isinstance(v, tuple):
        return all(_is_literal(x) for x in v)
    return False


def _library_path(obj):
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


def _stmt_exprs(s):
    """Every expression a statement holds (nested sub-expressions included)."""
    roots = []
    if isinstance(s, (ir.Assign, ir.ExprStmt, ir.Return)):
        roots.append(s.value)
    elif isinstance(s, ir.AugAssign):
        roots += [s.target, s.value]
    elif isinstance(s, (ir.Store, ir.AugStore)):
        roots += [s.array, s.value, *s.index]
    elif isinstance(s, (ir.If, ir.While)):
        roots.append(s.test)
    elif isinstance(s, ir.For):
        roots += [s.start, s.stop, s.step]
    out = []
    while roots:
        e = roots.pop()
        if e is None:
            continue
        out.append(e)
        roots.extend(ir.sub_exprs(e))
    return out


def _strip_imports(text):
    keep = []
    for ln in text.split("\n"):
        if re.match(r"^import (math|numpy as np|numba)\s*$", ln):
            continue
        keep.append(ln)
    return "\n".join(keep)


def _blank_lines(text):
    """Two blank lines around top-level functions (PEP 8), one at most elsewhere, one newline
    at the end."""
    lines = text.rstrip("\n").split("\n")
    out = []
    for k, ln in enumerate(lines):
        top_def = ln.startswith(("def ", "@")) and not (out and out[-1].startswith("@"))
        after_def = (ln and not ln[0].isspace() and not ln.startswith(("def ", "@"))
                     and _last_top_is_def(out))
        if top_def or after_def:
            while out and out[-1] == "":
                out.pop()
            if out:
                out += ["", ""]
        elif ln == "" and out and out[-1] == "" and (len(out) < 2 or out[-2] == ""):
            continue
        out.append(ln)
    return "\n".join(out) + "\n"


def _last_top_is_def(lines):
    for ln in reversed(lines):
        if ln and not ln[0].isspace():
            return ln.startswith(("def ", "@"))
    return False


def _drop_unreachable(text, roots):
    """Leave out the module-level functions that no public function reaches (a tape helper the
    generated code ended up not calling)."""
    tree = ast.parse(text)
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    uses = {name: {x.id for x in ast.walk(node) if isinstance(x, ast.Name)}
            for name, node in defs.items()}
    live, todo = set(), [r for r in roots if r in defs]
    # names read at module level (outside functions) keep their functions too
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            todo += [x.id for x in ast.walk(node) if isinstance(x, ast.Name) and x.id in defs]
    while todo:
        name = todo.pop()
        if name in live:
            continue
        live.add(name)
        todo += [u for u in uses[name] if u in defs and u not in live]
    dead = [node for name, node in defs.items() if name not in live]
    if not dead:
        return text
    lines = text.split("\n")
    for node in sorted(dead, key=lambda n: n.lineno, reverse=True):
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        del lines[start - 1: node.end_lineno]
    return "\n".join(lines)


def _module_names_used(text):
    tree = ast.parse(text)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _imports_for(text, jit):
    used = _module_names_used(text.replace(ModuleBuilder._imports_placeholder(), ""))
    lines = []
    if "math" in used:
        lines += ["import math", ""]
    if jit:
        lines.append("import numba")
    if "np" in used:
        lines.append("import numpy as np")
    return "\n".join(lines).strip("\n")


# stand-ins for s2sad's run-time markers, when generated code still calls them
_SHIMS = {
    "stop_gradient": ('def stop_gradient(x):\n'
                      '    """s2sad.stop_gradient: the value, through which no derivative '
                      'flows."""\n'
                      '    return x\n'),
}


def undefined_names(text):
    """Names generated code reads but the module does not define (as pyflakes' F821)."""
    tree = ast.parse(text)
    defined = set(dir(builtins))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            for tgt in node.targets:
                defined |= {n.id for n in ast.walk(tgt) if isinstance(n, ast.Name)}
    out = []
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        local = {a.arg for a in _fdef_args(fn)}
        local |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)
                  and isinstance(n.ctx, ast.Store)}
        for n in ast.walk(fn):
            if (isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                    and n.id not in local and n.id not in defined and n.id not in out):
                out.append(n.id)
    return out


def _add_shims(text):
    missing = [n for n in undefined_names(text) if n not in ("np", "math", "numba")]
    shims = []
    for name in missing:
        if name in _SHIMS:
            shims.append(_SHIMS[name])
        else:
            raise EmitError(f"the generated code calls `{name}`, which a standalone module "
                            "does not define (this is a bug in s2sad)")
    if not shims:
        return text
    # after the imports / module-level arrays: before the first function
    m = re.search(r"^(@|def )", text, re.MULTILINE)
    at = m.start() if m else len(text)
    return text[:at] + "\n\n".join(shims) + "\n\n" + text[at:]


# ================================================================ array literals


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


# ================================================================ layout


def layout(text, limit=LINE_LENGTH):
    """Lay generated code out as hand-written code: PEP 257 docstrings, lines of at most
    ``limit`` characters (long expressions broken inside brackets, aligned with the opening
    bracket; long comments continued on the next comment line)."""
    text = _fix_docstrings(text, limit)
    before = _ast_shape(text)
    out = []
    for line in text.split("\n"):
        if len(line) <= limit:
            out.append(line)
        elif line.lstrip().startswith("#"):
            out.extend(_wrap_comment(line, limit))
        else:
            out.extend(_wrap_code(line, limit))
    new = "\n".join(out)
    if _ast_shape(new) != before:  # never change what the code means
        return text
    return new


def _ast_shape(text):
    return ast.dump(ast.parse(text))


def _wrap_comment(line, limit):
    """A long comment line continued on comment lines indented four more spaces."""
    if len(line) <= limit:
        return [line]
    m = re.match(r"^(\s*)#(\s*)(.*)$", line)
    indent, inner, body = m.group(1), m.group(2) or " ", m.group(3)
    lead = f"{indent}#{inner}"
    first = textwrap.wrap(body, width=max(limit - len(lead), 20), break_long_words=False,
                          break_on_hyphens=False)
    if not first:
        return [line]
    out = [lead + first[0]]
    rest = " ".join(first[1:])
    more = lead + "    "
    for piece in textwrap.wrap(rest, width=max(limit - len(more), 20), break_long_words=False,
                               break_on_hyphens=False):
        out.append(more + piece)
    return out


def _command_comment(command, limit):
    """A shell command as comment lines that can be pasted back (backslash continuations)."""
    import shlex
    words = shlex.split(command)
    lines, cur = [], "#     "
    for w in words:
        q = shlex.quote(w)
        if cur.strip("# ") and len(cur) + 1 + len(q) + 2 > limit:
            lines.append(cur + " \\")
            cur = "#         " + q
        else:
            cur = cur + (" " if cur.strip("# ") else "") + q
    lines.append(cur)
    return lines


def _fix_docstrings(text, limit):
    """Function docstrings indented with their function, wrapped, closing quotes alone on the
    last line of a multi-line docstring (PEP 257)."""
    tree = ast.parse(text)
    lines = text.split("\n")
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.body:
            continue
        first = node.body[0]
        if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            continue
        raw = "\n".join(lines[first.lineno - 1: first.end_lineno])
        if "\\" in raw or raw.count('"""') != 2 or not raw.strip().startswith('"""'):
            continue
        doc = inspect.cleandoc(first.value.value)
        indent = " " * first.col_offset
        edits.append((first.lineno, first.end_lineno, _docstring_lines(doc, indent, limit)))
    for start, end, new in sorted(edits, reverse=True):
        lines[start - 1: end] = new
    return "\n".join(lines)


def _docstring_lines(doc, indent, limit):
    paras = re.split(r"\n\s*\n", doc)
    width = max(limit - len(indent), 30)
    out = []
    for k, p in enumerate(paras):
        plines = p.split("\n")
        first = 3 if k == 0 else 0  # the opening quotes
        if all(len(indent) + len(x) + (first if j == 0 else 0) <= limit
               for j, x in enumerate(plines)):
            wrapped = plines  # keep the author's lines when they fit
        else:
            wrapped = textwrap.wrap(" ".join(x.strip() for x in plines), width=width,
                                    initial_indent=" " * first, break_long_words=False,
                                    break_on_hyphens=False)
            wrapped[0] = wrapped[0][first:]
        if k:
            out.append("")
        out.extend(wrapped)
    if len(out) == 1 and len(indent) + len(out[0]) + 6 <= limit:
        return [f'{indent}"""{out[0]}"""']
    res = [f'{indent}"""{out[0]}']
    res += [f"{indent}{x}" if x else "" for x in out[1:]]
    res.append(f'{indent}"""')
    return res


_OPEN = {"(": ")", "[": "]", "{": "}"}
# binary operators a line may break before, by how loosely they bind
_BINARY = {"if": 1, "else": 1, "or": 2, "and": 3, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6,
           "%": 6, "@": 6, "**": 7}


def _wrap_code(line, limit):
    """Break one long logical line inside its brackets; also try the value of an assignment
    or a return, or the test of an ``if``/``while``, wrapped in parentheses, and keep the
    layout that reads best (within the limit, fewest hanging indents, fewest lines)."""
    tries = [line]
    m = re.match(r"^(\s*)(return |[\w\[\], .]+? (?:[-+*/%@]|//|\*\*)?= )(.*)$", line)
    if m:
        tries.append(f"{m.group(1)}{m.group(2)}({m.group(3)})")
    m = re.match(r"^(\s*)(if |elif |while )(.*):$", line)
    if m:
        tries.append(f"{m.group(1)}{m.group(2)}({m.group(3)}):")
    best = None
    for t in tries:
        res = _break_line(t, limit)
        if res is None:
            continue
        lines, hanging = res
        score = (max(map(len, lines)) > limit, hanging, len(lines))
        if best is None or score < best[0]:
            best = (score, lines)
    return best[1] if best else [line]


def _tokens(line):
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(line.strip("\n") + "\n").readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    return [t for t in toks if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER,
                                               tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT)]


def _break_line(line, limit):
    """Break ``line`` after commas and before binary operators inside brackets, continuation
    lines aligned with the opening bracket; where that is too far right, a hanging indent
    after the opening bracket (four more spaces, eight for a block's header). Returns (lines,
    number of hanging indents), None when there is no place to break."""
    toks = _tokens(line)
    if toks is None:
        return None
    # break candidates: (position in line, bracket depth, position of the open bracket,
    # whether it is the hanging break right after that bracket, how loosely the operator at
    # the break binds: lower is looser, a better place)
    cands = []
    stack = []
    prev = None
    for k, t in enumerate(toks):
        s = t.string
        col = t.start[1]
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if t.type == tokenize.OP and s in _OPEN:
            stack.append(col)
            if nxt is not None and nxt.string not in ")]}":
                cands.append((nxt.start[1], len(stack), col, True, 0))
        elif t.type == tokenize.OP and s in ")]}":
            if stack:
                stack.pop()
        elif stack and s == "," and nxt is not None and nxt.string not in ")]}":
            cands.append((nxt.start[1], len(stack), stack[-1], False, 0))
        elif (stack and s in _BINARY and prev is not None and nxt is not None
              and (prev.type in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING)
                   or prev.string in ")]}") and prev.string not in ("and", "or", "not", "if",
                                                                       "else", "in", "is")):
            cands.append((col, len(stack), stack[-1], False, _BINARY[s]))
        prev = t
    if not cands:
        return None
    indent = len(line) - len(line.lstrip())
    header = line.rstrip().endswith(":") and re.match(r"\s*(if|elif|while|for|def|with)\b", line)
    hang = 8 if header else 4
    out = []
    segs = [(0, 0)]  # (position in ``line`` where an output line starts, its output column)
    override = {}  # bracket -> continuation column (a hanging indent)
    hangs = 0

    def column(pos):
        start, col = [sg for sg in segs if sg[0] <= pos][-1]
        return col + pos - start

    def cont(c):
        return override.get(c[2], column(c[2]) + 1)

    while True:
        seg_start, seg_col = segs[-1]
        prefix = " " * seg_col if len(segs) > 1 else ""
        rest = line[seg_start:]
        if seg_col + len(rest) <= limit:
            out.append(prefix + rest)
            return out, hangs
        later = [c for c in cands if c[0] > seg_start]
        fit = [c for c in later if seg_col + len(line[seg_start:c[0]].rstrip()) <= limit]
        aligned = [c for c in fit if not c[3] and (cont(c) <= limit // 2
                                                   or cont(c) + len(line[c[0]:]) <= limit)]
        hanging = [c for c in fit if c[3]]
        if aligned:
            c = min(aligned, key=lambda c: (c[1], c[4], -c[0]))
            new_col = cont(c)
        elif hanging:
            depth = min(c[1] for c in hanging)
            c = max(c for c in hanging if c[1] == depth)
            base = indent if len(segs) == 1 else seg_col
            new_col = base + hang
            override[c[2]] = new_col
            hangs += 1
        else:
            return None
        out.append(prefix + line[seg_start:c[0]].rstrip())
        segs.append((c[0], new_col))


# ================================================================ the data-flow graph


class DotGraph:
    """The data flow of IR functions as Graphviz DOT text: an ellipse per variable, a box per
    statement (labelled with its operation), edges from what it reads to what it writes; the
    statements of loops and branches inside a cluster for the loop or branch."""

    def __init__(self):
        self.lines = []
        self.n = 0
        self.nclusters = 0

    def _id(self):
        self.n += 1
        return f"n{self.n}"

    def function(self, fn, title):
        self.nclusters += 1
        self.vars = {}
        self.lines.append(f"  subgraph cluster_{self.nclusters} {{")
        self.lines.append(f"    label={_q(title)}; fontname=\"Helvetica-Bold\"; color=gray50;")
        self.indent = "    "
        self.var_lines = []
        for p in fn.params:
            self._var(p, param=True)
        body_lines = []
        saved = self.lines
        self.lines = body_lines
        self._block(fn.body)
        self.lines = saved
        self.lines.extend(self.var_lines)
        self.lines.extend(body_lines)
        self.lines.append("  }")

    def _var(self, name, param=False):
        if name not in self.vars:
            nid = self._id()
            self.vars[name] = nid
            style = ', style=filled, fillcolor="#dde8f5"' if param else ""
            self.var_lines.append(f"    {nid} [label={_q(name)}, shape=ellipse{style}];")
        return self.vars[name]

    def _op(self, label, reads, writes, shape="box"):
        nid = self._id()
        self.lines.append(f"{self.indent}{nid} [label={_q(_short(label))}, shape={shape}];")
        for r in dict.fromkeys(reads):
            self.lines.append(f"{self.indent}{self._var(r)} -> {nid};")
        for w in dict.fromkeys(writes):
            self.lines.append(f"{self.indent}{nid} -> {self._var(w)};")
        return nid

    def _cluster(self, label, stmts_list):
        self.nclusters += 1
        self.lines.append(f"{self.indent}subgraph cluster_{self.nclusters} {{")
        self.lines.append(f"{self.indent}  label={_q(_short(label))}; style=dashed; color=gray60;")
        old = self.indent
        self.indent += "  "
        for stmts in stmts_list:
            self._block(stmts)
        self.indent = old
        self.lines.append(f"{self.indent}}}")

    def _block(self, stmts):
        for s in stmts:
            self._stmt(s)

    def _stmt(self, s):
        if isinstance(s, (ir.Comment, ir.Pass, ir.Break, ir.Continue)):
            return
        if isinstance(s, ir.Assign):
            self._op(f"{s.target.name} = {expr_source(s.value)}", ir.expr_vars(s.value),
                     [s.target.name])
        elif isinstance(s, ir.AugAssign):
            tgt = expr_source(s.target)
            w = s.target.name if isinstance(s.target, ir.Var) else s.target.array.name
            self._op(f"{tgt} {s.op}= {expr_source(s.value)}", ir.stmt_reads(s), [w])
        elif isinstance(s, (ir.Store, ir.AugStore)):
            idx = ", ".join(expr_source(i) for i in s.index)
            op = "=" if isinstance(s, ir.Store) else f"{s.op}="
            reads = [r for r in ir.stmt_reads(s) if r != s.array.name or isinstance(s, ir.AugStore)]
            self._op(f"{s.array.name}[{idx}] {op} {expr_source(s.value)}", reads, [s.array.name])
        elif isinstance(s, ir.ExprStmt):
            self._op(expr_source(s.value), ir.expr_vars(s.value), [])
        elif isinstance(s, ir.Return):
            reads = ir.expr_vars(s.value) if s.value is not None else []
            self._op("return" + (f" {expr_source(s.value)}" if s.value is not None else ""),
                     reads, ["<output>"], shape="doubleoctagon")
        elif isinstance(s, ir.If):
            test = expr_source(s.test)
            self._op(f"if {test}", ir.expr_vars(s.test), [], shape="diamond")
            self._cluster(f"if {test}", [s.body])
            if s.orelse:
                self._cluster(f"else (not {test})", [s.orelse])
        elif isinstance(s, ir.For):
            rng = f"range({expr_source(s.start)}, {expr_source(s.stop)}, {expr_source(s.step)})"
            label = f"for {s.var.name} in {rng}"
            self._op(label, ir.stmt_reads(s), [s.var.name], shape="hexagon")
            self._cluster(label, [s.body])
        elif isinstance(s, ir.While):
            label = f"while {expr_source(s.test)}"
            self._cluster(label, [s.cond])
            self._op(label, ir.expr_vars(s.test), [], shape="hexagon")
            self._cluster(label + " (body)", [s.body])

    def text(self):
        head = ["digraph s2sad {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];',
                '  edge [color="#555555"];']
        return "\n".join(head + self.lines + ["}"]) + "\n"


def _q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short(s, n=60):
    return s if len(s) <= n else s[: n - 3] + "..."
