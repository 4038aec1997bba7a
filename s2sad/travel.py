"""Derivative objects that travel: pickled (with ``pickle`` or ``cloudpickle``) as the user's
function, the options and the argnums that made them, never as the generated modules they hold.
Unpickled, they are made again: their code comes back from the cache directory (the generated
files are named by content) or is generated anew on the first call.

The user's function goes by reference (its module and name), as pickle sends functions; where
the module's name for it is the derivative object itself (``@s2sad.grad def loss``), by that
name. A function of ``__main__`` goes as cloudpickle sends it (by value), with the lines of its
file, so that a process where that file does not exist (a worker on another machine) can still
read its source."""

from __future__ import annotations

import linecache
import os
import sys
import types


def function_for_pickle(fun):
    """What to pickle for ``fun`` (a function, a Numba dispatcher, a derivative or rule
    object): ``fun`` itself, or a reference to the object its module holds under its name when
    that object wraps it (a decorator's result, which pickle cannot pass by reference as
    ``fun``)."""
    module = getattr(fun, "__module__", None)
    qualname = getattr(fun, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<locals>" in qualname:
        return fun
    held = _lookup(module, qualname)
    if held is fun or held is None:
        return fun
    if _unwrap(held) is fun:
        return _Wrapped(module, qualname)
    return fun


class _Wrapped:
    """A reference to the function that the object ``module.qualname`` wraps."""

    def __init__(self, module, qualname):
        self.module, self.qualname = module, qualname

    def __reduce__(self):
        return (resolve_wrapped, (self.module, self.qualname))


def resolve_wrapped(module, qualname):
    __import__(module)
    return _unwrap(_lookup(module, qualname))


def _lookup(module, qualname):
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _unwrap(obj):
    """The function a derivative or rule object was made from (``.fun``, repeatedly)."""
    seen = 0
    while hasattr(obj, "fun") and seen < 16 and getattr(obj, "__s2sad_wraps__", False):
        obj = obj.fun
        seen += 1
    return obj


def global_name_for_pickle(obj):
    """``obj``'s name in its module when the module holds ``obj`` itself under it (a decorated
    function): pickled by that reference, as pickle sends a function. None otherwise."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<locals>" in qualname:
        return None
    return qualname if _lookup(module, qualname) is obj else None


def source_for_pickle(fun):
    """(file name, lines) of a function that goes by value (of ``__main__``), else None."""
    fn = getattr(fun, "py_func", fun)
    if getattr(fn, "__module__", None) != "__main__":
        return None
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    lines = linecache.getlines(code.co_filename)
    return (code.co_filename, lines) if lines else None


def restore_source(source, fun=None):
    """Make the file's lines readable to ``inspect`` where the file itself is not, and give
    ``fun`` and the functions of its globals back their file name where cloudpickle's copy of
    them has lost it (``<dynamic-code>``)."""
    if source is None:
        return
    filename, lines = source
    if not os.path.exists(filename) and not linecache.getlines(filename):
        linecache.cache[filename] = (sum(map(len, lines)), None, list(lines), filename)
    fn = getattr(fun, "py_func", fun)
    if not isinstance(fn, types.FunctionType):
        return
    for f in [fn, *fn.__globals__.values()]:
        f = getattr(f, "py_func", f)
        if (isinstance(f, types.FunctionType) and f.__module__ == "__main__"
                and f.__code__.co_filename.startswith("<")):
            f.__code__ = f.__code__.replace(co_filename=filename)


def rebuild(cls, args, source=None):
    """The derivative object ``cls(*args)``, made again in this process."""
    restore_source(source, args[0])
    return cls(*args)
