"""What the command line is given: ``PATH.py:FUNC`` targets (the user's file imported as a
module, the function and its source), the argument types (``--types``, annotations, ``--at``
values, defaults) and the differentiated arguments (``--wrt``, ``--argnums``)."""

from __future__ import annotations

import ast
import contextlib
import inspect
import os
import re
import sys
import textwrap
import traceback
import types
from dataclasses import dataclass, field

import numpy as np

from ..ir.parse import parse
from .. import ir
from ..ir.types import a_, BOOL, F32, F64, I64, Array, Scalar, Tuple, typeof_value
from ..errors import NonDifferentiableError, S2SADError
from ..api import Transform
from ..frontend.lower import get_user_function
from .uses import Conflict, types_from_use


class EmitError(S2SADError):
    """A bad input to the command line: a file, a function, an option value."""


def _loc(filename, lineno, col=0, line=None):
    if line is None:
        line = _source_line(filename, lineno)
    return ir.Loc(filename, lineno, col, line)


def _source_line(filename, lineno):
    import linecache
    return linecache.getline(filename, lineno) if lineno else ""


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
        # what the file prints when imported goes to stderr: stdout is the command's output
        with contextlib.redirect_stdout(sys.stderr):
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


def targets_from_args(args):
    targets = [resolve_target(s) for s in args.targets]
    if len(targets) > 1 and args.types:
        check_names_known(targets, args.types, "--types")
    return targets


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
    if isinstance(obj, Transform) and obj.inner is None:
        obj = obj.fun  # `@s2sad.grad def loss(...)`: loss itself is differentiated
    try:
        pyfunc = get_user_function(obj)
    except NonDifferentiableError:
        raise EmitError(f"{path}: `{fname}` is {a_(type(obj).__name__)}, not a function defined "
                        "with `def`") from None
    try:
        lines, line0 = inspect.getsourcelines(pyfunc)
    except (OSError, TypeError) as e:
        raise EmitError(f"{path}: cannot read the source of `{fname}`: {e}") from None
    first = lines[0]
    indent = len(first) - len(first.lstrip())
    text = textwrap.dedent("".join(lines))
    try:
        tree = parse(text)
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
            inner = parse(node.value.strip(), mode="eval").body
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
        call = parse(src, mode="eval").body
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
    given with ``--at``, the default value, the function's uses of it, float64."""
    given = parse_types_option(target, types_text, strict) if types_text else {}
    values = values or {}
    used = _types_from_use(target)
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
            if t is None and p in used:
                t, o = used[p], "use"
            if t is None:
                t, o = F64, "assumed"
        types.append(t)
        origin.append(o)
    target.types = types
    target.type_origin = origin
    return types


def _types_from_use(target):
    try:
        found = types_from_use(target.fdef, target.params, target.pyfunc.__globals__)
    except Conflict as c:
        other = target.node_loc(c.other)
        if c.indexed:
            what = (f"`{c.param}` is indexed here, but used as an integer (a range() bound or "
                    f"an index) on line {other.lineno}")
        else:
            what = (f"`{c.param}` is used as an integer (a range() bound or an index) here, but "
                    f"indexed on line {other.lineno}")
        raise EmitError(f"{what}: s2sad cannot tell its type from its uses",
                        target.node_loc(c.node),
                        f"annotate it (`{c.param}: np.ndarray` or `{c.param}: int`) or give "
                        f"--types '{c.param}=float64[:]'") from None
    return {p: t for p, (t, _) in found.items()}


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
                f"{article(t)} {t}: only float scalars and float arrays have derivatives",
                target.param_loc(p),
                f"leave `{p}` out of {option}, or make it a float (annotation `{p}: float` or "
                f"--types '{p}=float64')")
        nums.append(k)
    return nums, len(nums) == 1 and not trailing


def article(t):
    return "an" if str(t)[0] in "aeiou" else "a"


def _sig_text(target):
    return ", ".join(f"{p}: {t}" for p, t in zip(target.params, target.types))
