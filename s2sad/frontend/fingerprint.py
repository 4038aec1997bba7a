"""What a derivative of a function depends on, read without lowering it: the disk cache's key.

A derivative module is a function of the user's source and of what its free names denote. So
the fingerprint walks the function's syntax tree (parsed, not lowered), resolves every name it
reads from outside (globals, closure cells, builtins, and ``mod.attr`` chains through
modules) as the lowering would, and describes each: a user function by its own fingerprint
(transitively: a callee's source, file and line), a number or tuple by value, an array by
dtype, shape and contents, a module by name, a library object by module, name and the
library's version. Anything it cannot describe across processes (a custom rule, a derivative
object, an instance of a user class) makes the function uncacheable: ``digest`` is None and
the caller builds the derivative the usual way.

The objects found are kept (``objects``): a module loaded from the cache gets the current
module-level arrays and foreign functions by the place they were found in (function index and
name), and the current values give the ``ValueRead``s that notice a later change in-process.
"""

from __future__ import annotations

import ast
import hashlib
import sys
import types

import numpy as np

from ..errors import S2SADError
from ..ir.parse import parse
from .lower import SourceInfo
from .resolve import Scope, ValueRead, content_digest, known_name, user_function_of

_VALUE_TYPES = (bool, int, float, np.number, np.bool_, tuple, np.ndarray)


class _Uncacheable(Exception):
    pass


class Fingerprint:
    """``digest``: a hex digest of everything the derivative's source depends on (None when
    some of it cannot be described); ``functions``: the user functions reached, the first the
    one given; ``objects[k]``: the names function ``k`` reads from outside -> what they
    denote now."""

    def __init__(self, pyfn):
        self.functions = []
        self.objects = []
        self._scopes = []
        self._index = {}
        self._parts = []
        try:
            self._visit(pyfn)
        except _Uncacheable:
            self.digest = None
        else:
            self.digest = hashlib.sha256(repr(self._parts).encode()).hexdigest()

    # ------------------------------------------------------------ walk

    def _visit(self, fn):
        k = self._index.get(id(fn))
        if k is not None:
            return k
        k = len(self.functions)
        self._index[id(fn)] = k
        self.functions.append(fn)
        self.objects.append({})
        scope = Scope(fn)
        self._scopes.append(scope)
        try:
            src = SourceInfo(fn)
            tree = parse(src.text)
        except (S2SADError, SyntaxError):
            raise _Uncacheable from None
        fdef = next((n for n in tree.body if isinstance(n, ast.FunctionDef)), None)
        if fdef is None:
            raise _Uncacheable
        part = [k, src.filename, src.start, src.text]
        self._parts.append(part)
        local = {a.arg for a in ast.walk(fdef.args) if isinstance(a, ast.arg)}
        local |= {n.id for n in ast.walk(fdef) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        for dotted in sorted(_free_names(fdef, local)):
            obj = _resolve(scope, dotted)
            if obj is _NOT_A_MODULE:
                continue  # `x.shape` of a global array: described by `x`
            self.objects[k][dotted] = obj
            part.append((dotted, self._describe(obj)))
        return k

    def _describe(self, obj):
        if obj is Scope.MISSING:
            return ("missing",)
        if obj is None or isinstance(obj, (str, bytes)):
            return ("value", repr(obj))
        if isinstance(obj, np.ndarray):
            return ("array", obj.dtype.str, obj.shape, content_digest(obj))
        if isinstance(obj, tuple):
            return ("tuple",) + tuple(self._describe(x) for x in obj)
        if isinstance(obj, _VALUE_TYPES):
            return ("value", type(obj).__name__, repr(obj))
        if isinstance(obj, types.ModuleType):
            return ("module", obj.__name__)
        if getattr(obj, "__s2sad_rule__", None) is not None or getattr(obj, "__s2sad_wraps__", False):
            raise _Uncacheable  # a custom rule, a derivative object: not described here
        marker = getattr(obj, "__s2sad_primitive__", None)
        if marker is not None:
            return ("marker", marker)
        name = known_name(obj)
        if name is not None:
            return ("known", name)
        fn = user_function_of(obj)
        if fn is not None:
            return ("function", type(obj).__name__, self._visit(fn))
        return _library_object(obj)

    # ------------------------------------------------------------ use

    def value_reads(self):
        """A ``ValueRead`` for each module-level value the functions read by a plain name."""
        return [ValueRead(self._scopes[k], name, obj)
                for k, names in enumerate(self.objects) for name, obj in names.items()
                if "." not in name and isinstance(obj, _VALUE_TYPES)]

    def locate(self, obj):
        """Where ``obj`` was found, ``[function index, name]``, or None."""
        for k, names in enumerate(self.objects):
            for name, o in names.items():
                if o is obj:
                    return [k, name]
        return None

    def find(self, where):
        k, name = where
        return self.objects[k][name]


_NOT_A_MODULE = object()


def _free_names(fdef, local):
    """The names (``a``, and ``a.b.c`` for attribute chains) ``fdef`` reads from outside."""
    out = set()
    for node in ast.walk(fdef):
        if isinstance(node, ast.Name) and node.id not in local:
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            parts = []
            base = node
            while isinstance(base, ast.Attribute):
                parts.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id not in local:
                out.add(".".join([base.id] + parts[::-1]))
    return out


def _resolve(scope, dotted):
    root, *attrs = dotted.split(".")
    obj = scope.lookup(root)
    for a in attrs:
        if not isinstance(obj, types.ModuleType):
            return _NOT_A_MODULE
        obj = getattr(obj, a, Scope.MISSING)
    return obj


def _library_object(obj):
    """A function or type of an importable module, found again by its module and name."""
    mod = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(mod, str) or not isinstance(qual, str):
        raise _Uncacheable
    found = sys.modules.get(mod)
    for part in qual.split("."):
        found = getattr(found, part, None)
    if found is not obj:
        raise _Uncacheable
    top = sys.modules.get(mod.split(".")[0])
    return ("library", mod, qual, str(getattr(top, "__version__", "")))
