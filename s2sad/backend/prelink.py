"""A call from one generated ``@njit`` function to another, already compiled, by its address:
the callee is not linked into the caller.

Numba links a callee's whole LLVM module into each caller and optimizes and compiles the result
again: the entry of a gradient (``entry.py``, a few lines allocating the adjoints) cost as much
to compile as the gradient itself (0.3-2 s more on the first call). Here the entry's module only
declares the callee, under a name of s2sad's own that is registered with LLVM
(``llvmlite.binding.add_symbol``) as the address of the callee's compiled code before the entry
is compiled (a small callee is linked in as before: ``LINK_BELOW``); Numba's cache of the
entry carries a reload hook (``relink``) that compiles or
loads the callee and registers the name again, in every later process, before the entry's
machine code is loaded.

Only for entries that nothing else links in (the entries of calls from Python): a user's
``@njit(cache=True)`` function that calls a derivative must stay self-contained, since a later
process may load it before s2sad has made the derivative's module.
"""

from __future__ import annotations

import functools
import hashlib
import sys

#: a callee whose LLVM bitcode is smaller than this is linked in as Numba links it: optimizing it
#: again costs little, and LLVM may inline it into the entry (a tiny gradient's call: ~20 ns)
LINK_BELOW = 32_000

_by_dispatcher = {}  # id(dispatcher) -> (dispatcher, its Prelinked)
_dispatchers = {}  # (module name, qualname) -> the dispatcher called by that name, latest


def prelinked(dispatcher):
    """The object a generated module calls instead of ``dispatcher`` to call it by address
    (the same object for the same dispatcher, so that a module loaded again is found loaded)."""
    got = _by_dispatcher.get(id(dispatcher))
    if got is not None and got[0] is dispatcher:
        return got[1]
    p = _make(dispatcher)
    _by_dispatcher[id(dispatcher)] = (dispatcher, p)
    return p


def _key(dispatcher):
    f = dispatcher.py_func
    return f.__module__, f.__qualname__


def _symbol(key, argtys):
    digest = hashlib.sha256(repr((key, tuple(map(str, argtys)))).encode()).hexdigest()[:20]
    return f"s2sad.prelinked.{key[1]}.{digest}"


def _register(dispatcher, argtys, symbol):
    """Compile (or load from Numba's cache) ``dispatcher`` for ``argtys`` and make ``symbol``
    its native function's address; the compile result."""
    from llvmlite import binding as ll

    dispatcher.compile(tuple(argtys))
    cres = dispatcher.overloads[tuple(argtys)]
    ll.add_symbol(symbol, cres.library.get_pointer_to_function(cres.fndesc.mangled_name))
    return cres


def relink(module, qualname, argtys, symbol):
    """Numba's reload hook of an entry loaded from its cache: the callee made callable again
    under ``symbol``. Raises (the entry is then compiled again) when the callee's module is not
    loaded."""
    disp = _dispatchers.get((module, qualname))
    if disp is None:
        disp = getattr(sys.modules.get(module), qualname, None)
    if disp is None or not hasattr(disp, "overloads"):
        raise LookupError(f"s2sad: {module}.{qualname} is not loaded")
    _register(disp, argtys, symbol)


def _make(dispatcher):
    from numba.core import cgutils, types
    from numba.core.extending import intrinsic

    key = _key(dispatcher)
    _dispatchers[key] = dispatcher

    @intrinsic
    def call(typingctx, *args):
        argtys = tuple(types.unliteral(a) for a in args)
        cres = _register(dispatcher, argtys, _symbol(key, argtys))
        fndesc = cres.fndesc
        # the arguments arrive as one tuple (the intrinsic's *args)
        sig = fndesc.restype(types.StarArgTuple.from_types(tuple(fndesc.argtypes)))

        linked = len(cres.library._get_module_for_linking().as_bitcode()) < LINK_BELOW

        def codegen(context, builder, sig_, packed):
            llargs = cgutils.unpack_tuple(builder, packed[0], len(fndesc.argtypes))
            fnty = context.call_conv.get_function_type(fndesc.restype, fndesc.argtypes)
            if linked:  # as Numba calls a dispatcher
                context.add_linking_libs([cres.library])
                fn = cgutils.get_or_insert_function(builder.module, fnty, fndesc.mangled_name)
            else:
                symbol = _symbol(key, fndesc.argtypes)
                _register(dispatcher, fndesc.argtypes, symbol)  # this process: before finalizing
                context.active_code_library._reload_init.add(functools.partial(
                    relink, key[0], key[1], tuple(fndesc.argtypes), symbol))
                fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
            status, out = context.call_conv.call_function(builder, fn, fndesc.restype,
                                                          fndesc.argtypes, llargs)
            with cgutils.if_unlikely(builder, status.is_error):
                context.call_conv.return_status_propagate(builder, status)
            return out

        return sig, codegen

    return call
