"""Derivatives called inside ``@numba.njit`` code (issue 12).

A derivative object (``s2sad.grad(f, jit=True)``, ...) gets a Numba type, ``DerivativeType``,
like Numba's own dispatchers: a global or an argument of an ``@njit`` function. Typing a call
of it converts the argument types Numba sees to s2sad's, builds the derivative for them (the
same generated module as a call from Python) and its ``@njit`` entry (``entry.py``), and
types the call as a call of that entry, which Numba compiles and links into the caller like
any ``@njit`` function it calls. So a call inside ``@njit`` code returns what the call from
Python returns, computed by the same generated code.

Which entry a kind of derivative has is the derivative object's business: it answers
``native_entry(types)`` with a Numba dispatcher (or raises an ``S2SADError`` saying why not).
Module-level values the derivative reads are built in when the caller is compiled, as Numba
builds in the globals of its own functions.
"""

from __future__ import annotations

import weakref

from numba.core import cgutils, types as nt
from numba.core.errors import TypingError
from numba.core.imputils import lower_builtin, lower_constant
from numba.core.typing.typeof import typeof_impl as _typeof_value
from numba.extending import (NativeValue, make_attribute_wrapper, models, overload, overload_method,
                             register_model, typeof_impl, unbox)
from numba.np.numpy_support import as_dtype

from ..errors import S2SADError
from ..ir.types import BOOL, F32, F64, I64, Array, Tuple, _np_dtype_name

_registered = set()


def s2sad_type(t):
    """The s2sad type of a value Numba types as ``t``."""
    t = nt.unliteral(t)
    if isinstance(t, nt.Boolean):
        return BOOL
    if isinstance(t, nt.Integer):
        return I64
    if isinstance(t, nt.Float):
        return F32 if t.bitwidth == 32 else F64
    if isinstance(t, nt.Array):
        name = _np_dtype_name(as_dtype(t.dtype))
        if name is not None:
            return Array(name, t.ndim)
    if isinstance(t, nt.BaseTuple):
        return Tuple(tuple(s2sad_type(x) for x in t.types))
    raise TypingError(f"s2sad derivatives take floats, ints, bools, arrays of these and tuples, "
                      f"not {t}")


_types = weakref.WeakValueDictionary()  # name -> the type of that name made in this process


def stable_id(obj):
    """What distinguishes the derivative ``obj`` in a type's name: a digest of its function's
    fingerprint, its options and s2sad's version (``obj.native_type_key()``), the same in every
    process that makes the same derivative, so that Numba's cache of a user's
    ``@njit(cache=True)`` function taking it as an argument is found again; its id where it has
    none. Computed once per object, when Numba first types it (as Numba freezes the globals of
    its own functions when it compiles them)."""
    k = getattr(obj, "_native_type_id", None)
    if k is None:
        key = getattr(obj, "native_type_key", None)
        k = (key() if key is not None else None) or f"{id(obj):x}"
        try:
            obj._native_type_id = k
        except AttributeError:
            pass
    return k


def _from_cache(name):
    """A type Numba unpickles from its cache index: the type of that name made in this
    process (so the cached caller of a derivative passed as an argument is found), else a
    placeholder equal to no type."""
    t = _types.get(name)
    return t if t is not None else nt.Opaque(f"{name} (in a cached caller)")


class DerivativeType(nt.Callable, nt.Dummy):
    """The Numba type of one derivative object; a call is typed as a call of the ``@njit``
    entry generated for the argument types. Derivatives that are the same (function,
    options, s2sad) have the same type."""

    def __init__(self, obj):
        self.obj = obj
        self.entries = {}  # argument types -> the entry's dispatcher
        fn = getattr(obj, "pyfun", None)
        super().__init__(f"s2sad.{getattr(obj, 'kind', 'derivative')}"
                         f"({getattr(fn, '__qualname__', '?')})#{stable_id(obj)}")
        _types.setdefault(self.name, self)

    def get_call_type(self, context, args, kws):
        if kws:
            import inspect
            try:
                bound = inspect.signature(self.obj.pyfun).bind(*args, **kws)
            except TypeError as e:
                raise TypingError(f"{self.obj.pyfun.__name__}(): {e}") from None
            args = tuple(bound.arguments.values())  # defaults need the call from Python
            kws = {}
        try:
            entry = self.obj.native_entry(tuple(s2sad_type(a) for a in args))
        except S2SADError as e:
            raise TypingError(str(e)) from None
        sig = nt.Dispatcher(entry).get_call_type(context, tuple(args), kws)
        if sig is not None:
            self.entries[sig.args] = entry
        return sig

    def get_call_signatures(self):
        return [], True

    def get_impl_key(self, sig):
        return self.entries[sig.args].get_overload(sig.args)

    def __reduce__(self):
        # Numba pickles the types of a caller it caches (cache=True); the derivative object and
        # its modules stay behind: the cached code has the derivative compiled in
        return (_from_cache, (self.name,))


register_model(DerivativeType)(models.OpaqueModel)


@lower_constant(DerivativeType)
def _constant(context, builder, ty, pyval):
    return context.get_dummy_value()  # never read: a call is resolved from the type


@unbox(DerivativeType)
def _unbox(typ, obj, c):
    return NativeValue(c.context.get_dummy_value())


def register(cls, jvp, jvp_transform):
    """Let Numba type instances of ``cls`` (and of its subclasses) as derivatives, and type
    ``jvp(fun, primals, tangents)`` inside @njit code for an @njit ``fun`` or a derivative
    (``jvp_transform(fun)``: its forward-mode transform, whose ``native_entry`` is called)."""
    if cls in _registered:
        return
    _registered.add(cls)

    @typeof_impl.register(cls)
    def _typeof(val, c):
        t = getattr(val, "_native_type", None)
        if t is None:
            t = val._native_type = DerivativeType(val)
        return t

    @overload(jvp, prefer_literal=False)
    def _jvp(fun, primals, tangents, jit=False):
        if isinstance(fun, nt.Dispatcher):
            obj = fun.dispatcher
        elif isinstance(fun, DerivativeType):
            obj = fun.obj
        else:
            raise TypingError(f"s2sad.jvp inside @njit code takes an @njit function or an s2sad "
                              f"derivative, not {fun}")
        if not isinstance(primals, nt.BaseTuple) or not isinstance(tangents, nt.BaseTuple):
            raise TypingError("s2sad.jvp: primals and tangents must be tuples")
        if len(primals) != len(tangents):
            raise TypingError("s2sad.jvp: primals and tangents must have the same length")
        try:
            entry = jvp_transform(obj).native_entry(tuple(s2sad_type(p) for p in primals.types))
        except S2SADError as e:
            raise TypingError(str(e)) from None

        def impl(fun, primals, tangents, jit=False):
            return entry(primals, tangents)
        return impl


# ------------------------------------------------------------------ vjp's function


class VJPFunctionType(nt.Type):
    """The Numba type of the function ``s2sad.vjp(f, *primals)`` returns: it carries the primals
    and the output (copies, made by vjp) as data; a call ``vjp_fun(ct)`` is typed as a call of
    the ``@njit`` entry generated for the primals' types."""

    def __init__(self, transform, primals, out):
        self.transform, self.primals, self.out = transform, primals, out
        super().__init__(f"s2sad.vjp_fun({transform.pyfun.__qualname__}, {primals}, {out})"
                         f"#{stable_id(transform)}")
        _types.setdefault(self.name, self)

    def __reduce__(self):
        return (_from_cache, (self.name,))


@register_model(VJPFunctionType)
class _VJPFunctionModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, [("primals", fe_type.primals), ("out", fe_type.out)])


make_attribute_wrapper(VJPFunctionType, "primals", "primals")
make_attribute_wrapper(VJPFunctionType, "out", "out")


@unbox(VJPFunctionType)
def _unbox_vjp_function(typ, obj, c):
    st = cgutils.create_struct_proxy(typ)(c.context, c.builder)
    failed = cgutils.alloca_once_value(c.builder, cgutils.false_bit)
    for field in ("primals", "out"):
        attr = c.pyapi.object_getattr_string(obj, field)
        native = c.unbox(getattr(typ, field), attr)
        c.pyapi.decref(attr)
        setattr(st, field, native.value)
        with c.builder.if_then(native.is_error):
            c.builder.store(cgutils.true_bit, failed)
    return NativeValue(st._getvalue(), is_error=c.builder.load(failed))


@lower_constant(VJPFunctionType)
def _vjp_function_constant(context, builder, ty, pyval):
    st = cgutils.create_struct_proxy(ty)(context, builder)
    st.primals = context.get_constant_generic(builder, ty.primals, pyval.primals)
    st.out = context.get_constant_generic(builder, ty.out, pyval.out)
    return st._getvalue()


def register_vjp_function(cls):
    """Let Numba type instances of ``cls`` (api.VJPFunction: ``transform``, ``primals``,
    ``out``; its transform's ``native_vjp_entry(types)`` gives the entry)."""
    if cls in _registered:
        return
    _registered.add(cls)

    @typeof_impl.register(cls)
    def _typeof(val, c):
        return VJPFunctionType(val.transform, _typeof_value(val.primals, c), _typeof_value(val.out, c))

    @overload_method(VJPFunctionType, "__call__", prefer_literal=False)
    def _call(fun, ct):  # typing: Numba types a call of a value as a call of its __call__
        return _vjp_call_impl(fun)


def _vjp_call_impl(fun):
    try:
        entry = fun.transform.native_vjp_entry(tuple(s2sad_type(p) for p in fun.primals.types))
    except S2SADError as e:
        raise TypingError(str(e)) from None

    def impl(fun, ct):
        return entry(fun.primals, fun.out, ct)
    return impl


@lower_builtin(VJPFunctionType, VJPFunctionType, nt.Any)
def _lower_vjp_call(context, builder, sig, args):
    """The call's code (Numba lowers a call of a value by the value's type, not by the
    __call__ that typed it): the same impl, compiled into the caller."""
    return context.compile_internal(builder, _vjp_call_impl(sig.args[0]), sig, args)
