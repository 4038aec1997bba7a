"""The driver: from a Python function and an argument signature to the functions of a
generated module (``backend.assemble`` prints them into one).

One ``Build`` makes one module: the requested derivative, the derivatives of the user
functions it calls (one per callee and activity pattern, so a helper called twice gets one
derivative helper), the primal versions of callees, and the tape helpers used.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from . import ir
from .ad.forward import BatchedForward, Forward
from .ad.naming import Namer
from .ad.normalize import remove_jumps
from .ad.reverse import CalleeInfo, Reverse
from .ad.split import SplitCall
from .analysis.activity import (Activity, check_aliasing, check_foreign_calls, param_view_writes,
                                returned_views)
from .analysis.typeinfer import TypeInference, operand_type
from .backend.runtime import HELPERS
from .ir.names import fresh_name
from .ir.types import Array, Tuple, I64
from .errors import S2SADError, UnsupportedSyntaxError, reporting_internal_errors
from .frontend.program import Program
from .log import event
from .primitives import RULES


class Spec:
    """One function specialised for argument types, activity and mode."""

    def __init__(self, fn, tres, activity, mutates):
        self.fn = fn
        self.types = tres.types
        self.ret_type = tres.ret
        self.calls = tres.calls
        self.activity = activity
        self.mutates = mutates  # mutates(call, k): the call writes into the array it passes at k


@dataclass
class Derivative:
    """What a derivative's caller needs of it: the generated function's name, the spec it was
    made from (types, activity, the function as differentiated), and for a VJP the positions of
    the array parameters whose adjoints it accumulates into arrays the caller passes."""

    name: str
    spec: Spec
    inout: list


class Build:
    def __init__(self, pyfn, program=None):
        self.program = program or Program()
        self.root = self.program.add(pyfn)
        self.program.check_recursion(self.root)
        self.tcache = {}
        self.ti = TypeInference(self.program, self.tcache)
        self.normalized = {}
        self.names = {}  # (mode, key, argtypes, mask) -> emitted name
        self.functions = []  # (name, ir.Function)
        self.helpers = set()
        self.used_names = set(HELPERS)  # a user function named as a runtime helper is renamed
        self._mutated = {}
        self._view_writes = {}
        self._returned_views = {}
        self.derivatives = {}  # generated name -> Derivative
        self._specs = {}
        self._variants = {}
        self.shared_tapes = {}  # VJP name -> kinds of the caller's tapes it takes
        self.splits = {}  # name of a helper's h_rev -> ad.split.SplitCall (split mode)

    # ------------------------------------------------------------ analysis helpers

    def mutated_params(self, key):
        """Positions of the parameters a user function writes into (directly or through the
        functions it calls)."""
        if key in self._mutated:
            return self._mutated[key]
        self._mutated[key] = ()
        fn = self.program.funcs[key]
        out = set()
        for s in ir.walk_stmts(fn.body):
            if isinstance(s, (ir.Store, ir.AugStore)) and s.array.name in fn.params:
                out.add(fn.params.index(s.array.name))
            if isinstance(s, ir.Assign) and s.inplace and s.target.name in fn.params:
                out.add(fn.params.index(s.target.name))  # `p += e`: writes p when p is an array
            for e in _call_exprs(s):
                for k in self.mutated_params(e.func):
                    a = e.args[k]
                    if isinstance(a, ir.Var) and a.name in fn.params:
                        out.add(fn.params.index(a.name))
        self._mutated[key] = tuple(sorted(out))
        return self._mutated[key]

    def _merge_aliased_arguments(self, fn, types, calls):
        """A call that passes the same array for two parameters, one of which the callee
        writes into, calls a variant of the callee with those parameters merged into one
        (``addsq(b, b)`` -> ``addsq__alias01(b)``): every analysis of the variant then sees the
        writes through one parameter change the other, as they do at run time. Returns ``fn``
        or a copy with such calls rewritten (``calls`` gets their callee keys and types)."""
        sites = []
        for s in ir.walk_stmts(fn.body):
            call = getattr(s, "value", None)
            if not isinstance(s, (ir.Assign, ir.ExprStmt)) or not isinstance(call, ir.CallUser):
                continue
            first, groups = {}, {}
            for k, a in enumerate(call.args):
                if isinstance(a, ir.Var) and isinstance(types.get(a.name), Array):
                    groups.setdefault(first.setdefault(a.name, k), []).append(k)
            mutated = set(self.mutated_params(call.func))
            merge = tuple(tuple(g) for g in groups.values() if len(g) > 1 and mutated & set(g))
            if merge:
                sites.append((s, merge))
        if not sites:
            return fn
        new_values = {}
        for s, merge in sites:
            call = s.value
            key = self._variants.get((call.func, merge))
            if key is None:
                key = self._alias_variant(call.func, merge, s)
                self._variants[(call.func, merge)] = key
            drop = {k for g in merge for k in g[1:]}
            new_call = ir.CallUser(key, tuple(a for k, a in enumerate(call.args) if k not in drop))
            _, cargs = calls[call]
            calls[new_call] = (key, tuple(t for k, t in enumerate(cargs) if k not in drop))
            new_values[id(s)] = new_call
        return ir.copy_with(fn, lambda s: [_replace_value(s, new_values[id(s)])] if id(s) in new_values else None)

    def _alias_variant(self, key, merge, site):
        callee = self.program.funcs[key]
        rebound = {s.target.name for s in ir.walk_stmts(callee.body)
                    if isinstance(s, ir.Assign) and not s.inplace}
        mapping = {}
        for g in merge:
            names = [callee.params[k] for k in g]
            if rebound & set(names):
                p = sorted(rebound & set(names))[0]
                raise S2SADError(
                    f"`{site.value.args[g[0]].name}` is passed to `{callee.name}` as both "
                    + " and ".join(f"`{n}`" for n in names) + f", and `{callee.name}` writes into "
                    f"one of them and rebinds `{p}`; s2sad cannot follow that aliasing",
                    site.loc, f"pass a copy for one of them (`{site.value.args[g[0]].name}.copy()`)")
            mapping.update({n: names[0] for n in names[1:]})
        new = copy.copy(callee)  # globals shared, body and analysis results its own
        new.types = {}
        new.params = [p for p in callee.params if p not in mapping]
        new.body = ir.rename_vars(copy.deepcopy(callee.body), mapping)
        new.temps = {mapping.get(n, n) for n in callee.temps}
        new.made = {mapping.get(n, n) for n in callee.made}
        new_key = f"{key}__alias" + "_".join("".join(map(str, g)) for g in merge)
        self.program.funcs[new_key] = new
        self._mutated.pop(new_key, None)
        return new_key

    def mutates(self, call, k):
        return k in self.mutated_params(call.func)

    def view_writes(self, key, argtypes):
        """``{parameter position: statement}`` where the user function ``key``, called with
        ``argtypes``, writes into that array parameter through a view of it, itself or in a
        function it calls (``analysis.activity.param_view_writes``)."""
        k = (key, tuple(argtypes))
        if k in self._view_writes:
            return self._view_writes[k]
        self._view_writes[k] = {}  # a recursive call: what is found so far
        fn = self.program.funcs[key]
        tres = self.ti.infer(key, argtypes)

        def mutates(call, j):
            a = call.args[j]
            return self.mutates(call, j) and isinstance(a, ir.Var) and isinstance(tres.types.get(a.name), Array)

        def inner(call, j):
            return self.view_writes(*tres.calls[call]).get(j) if call in tres.calls else None

        self._view_writes[k] = param_view_writes(fn, tres.types, mutates, inner,
                                                 self._returns_view_of(tres))
        return self._view_writes[k]

    def returned_views(self, key, argtypes):
        """Positions of the array parameters whose memory the user function ``key`` may return
        a view of (``return a[0:2]``): the caller's result shares the argument's memory."""
        k = (key, tuple(argtypes))
        if k not in self._returned_views:
            self._returned_views[k] = set()  # a recursive call: what is found so far
            tres = self.ti.infer(key, argtypes)
            self._returned_views[k] = returned_views(self.program.funcs[key], tres.types,
                                                     self._returns_view_of(tres))
        return self._returned_views[k]

    def _returns_view_of(self, tres):
        def returns_view(call):
            return self.returned_views(*tres.calls[call]) if call in tres.calls else ()
        return returns_view

    def _check_view_writes_of_callees(self, fn, tres, act):
        """Refuse a call that passes a float array to a function writing into it through a view,
        where the array or another argument carries a derivative (``act.varied``): the caller's
        array changes, but the callee's derivative treats the view as a copy (a silently wrong
        derivative, in both modes). A buffer of constants filled so is no concern."""
        for s in ir.walk_stmts(fn.body):
            for e in _call_exprs(s):
                if e not in tres.calls:
                    continue
                writes = self.view_writes(*tres.calls[e])
                varied = {v for arg in e.args for v in ir.expr_vars(arg)} & act.varied
                for k, w in sorted(writes.items()):
                    a = e.args[k]
                    t = tres.types.get(a.name) if isinstance(a, ir.Var) else None
                    if not (isinstance(t, Array) and t.differentiable) or not varied:
                        continue
                    callee = self.program.funcs[tres.calls[e][0]]
                    p = callee.params[k]
                    at = f"line {s.loc.lineno}" if s.loc is not None else "a call"
                    what = "an array" if a.name in fn.temps else f"the array `{a.name}`"
                    raise UnsupportedSyntaxError(
                        f"`{callee.name}` writes into its parameter `{p}` through a view of it (a "
                        f"name sharing its memory), and {at} passes it {what}: "
                        "s2sad treats views as copies, so the caller's array would change without "
                        "its derivative", w.loc,
                        f"write into `{p}` directly (e.g. `{p}[i] = v`, `{p}[0:2] += v`), or "
                        "return the new values and assign them in the caller")

    def fn_for(self, key, mode):
        fn = self.program.funcs[key]
        if mode != "reverse":
            return fn
        if key not in self.normalized:
            new = copy.copy(fn)
            namer = Namer(fn)
            new.body = remove_jumps(fn, namer.fresh, namer.temp)
            namer.mark(new, fn)
            self.normalized[key] = new
            self.program.funcs[key + "#rev"] = new
        return self.normalized[key]

    def spec(self, key, argtypes, mask, mode, returned=None):
        """``key`` specialised for argument types, activity mask and mode ("forward" or
        "reverse", whose function has its jumps removed); made once per Build."""
        k = (key, tuple(argtypes), tuple(mask), mode, returned)
        if k not in self._specs:
            with reporting_internal_errors(self.program.funcs[key].loc, "analysing this function"):
                self._specs[k] = self._spec(key, argtypes, mask, mode, returned)
        return self._specs[k]

    def _spec(self, key, argtypes, mask, mode, returned=None):
        fn = self.fn_for(key, mode)
        k2 = key + "#rev" if mode == "reverse" else key
        tres = self.ti.infer(k2, argtypes)
        fn = self._merge_aliased_arguments(fn, tres.types, tres.calls)
        fn = _inplace_as_stores(fn, tres.types)
        fn = _through_flat_indices(fn, tres.types)

        def mutates(call, k):  # `p += e` in the callee writes only when p is an array
            a = call.args[k]
            return self.mutates(call, k) and isinstance(a, ir.Var) and isinstance(tres.types.get(a.name), Array)

        check_aliasing(fn, tres.types, mutates, self._returns_view_of(tres))
        fn = _views_copied(fn, tres.types, mutates)
        active = [p for p, m in zip(fn.params, mask) if m]
        written = [fn.params[k] for k in self.mutated_params(key) if isinstance(tres.types.get(fn.params[k]), Array)]
        act = Activity(fn, tres.types, active, RULES, mutates, outputs=written, returned=returned)
        self._check_view_writes_of_callees(fn, tres, act)
        check_foreign_calls(fn, tres.types, act)
        return Spec(fn, tres, act, mutates)

    def unique(self, base):
        return fresh_name(base, self.used_names, sep="_")

    # ------------------------------------------------------------ primal

    def primal(self, key):
        k = ("primal", key)
        if k in self.names:
            return self.names[k]
        fn = self.program.funcs[key]
        name = self.unique(fn.name)
        self.names[k] = name
        callee_names = self._callee_names(fn)
        out = copy.copy(fn)
        out.name = name
        out.types = self._primal_types(key)
        self.functions.append((out, callee_names))
        return name

    def _primal_types(self, key):
        """The types of a primal function's variables that every signature it is called with
        agrees on (the jit backend reads ranks and dtypes from them)."""
        results = [r.types for (k, _), r in self.tcache.items() if k == key]
        if not results:
            return {}
        return {v: t for v, t in results[0].items() if all(r.get(v) == t for r in results[1:])}

    def custom_names(self, key):
        """Names, in generated code, of a custom-rule function's primal and rule functions (each
        emitted once into the module)."""
        info = self.program.customs[key]
        names = {"kind": info.kind, "rule": info.rule.__name__,
                 "primal": self.primal(info.primal) if info.primal else info.primal_global}
        for part in ("fwd", "bwd", "jvp"):
            k = getattr(info, part)
            names[part] = self.primal(k) if k else None
        return names

    def _callee_names(self, fn):
        """Printed names of the user functions and custom-rule primals ``fn`` calls."""
        names = {}
        for s in ir.walk_stmts(fn.body):
            for e in _call_exprs(s):
                names[e.func] = self.primal(e.func)
            for e in _custom_calls(s):
                names[e.func] = self.custom_names(e.func.split(":", 1)[1])["primal"]
        return names

    # ------------------------------------------------------------ forward

    def jvp(self, key, argtypes, mask, batched=False, returned=None):
        """The JVP of ``key``; ``returned``: for a helper returning a tuple, which items its
        caller uses (the tangents of the others are not computed)."""
        k = ("jvp", key, tuple(argtypes), tuple(mask), batched, returned)
        if k in self.names:
            return self.names[k]
        fn = self.program.funcs[key]
        name = self.unique(fn.name + ("_jvp_batched" if batched else "_jvp"))
        self.names[k] = name
        spec = self.spec(key, argtypes, mask, "forward", returned)
        wrt = [p for p, m in zip(fn.params, mask) if m and spec.types[p].differentiable]
        callee_names = {}

        def callee_name(call):
            callee_key, cargs = spec.calls[call]
            cmask = [isinstance(a, ir.Var) and a.name in spec.activity.varied
                     and spec.types[a.name].differentiable for a in call.args]
            if not any(cmask):
                callee_names[call.func] = self.primal(call.func)
                return None, []
            used = _items_used(spec, call)
            return self.jvp(call.func, cargs, cmask, batched, used), [i for i, m in enumerate(cmask) if m]

        callee_names.update(self._callee_names(fn))
        fw = (BatchedForward if batched else Forward)(spec, Namer(spec.fn), callee_name)
        fw.custom_names = self.custom_names
        with reporting_internal_errors(fn.loc, "differentiating this function in forward mode"):
            out = fw.run(name, wrt)
        self.functions.append((out, callee_names))
        self.derivatives[name] = Derivative(name, spec, [])
        return name

    # ------------------------------------------------------------ reverse

    def vjp(self, key, argtypes, mask, shared_tapes=False, kernel=False, joint=False):
        """The VJP of ``key``; ``shared_tapes`` for a helper's, which records on its caller's
        tapes (they are appended to its parameters and to its result); ``kernel`` for a GPU
        kernel's, whose tapes are passed in and whose arrays keep what the primal wrote;
        ``joint``: its helpers are called in joint mode, never split (a GPU kernel's device
        functions: kernelir lays one tape out per thread, and split mode's handed-back tape
        tops do not fit it)."""
        joint = joint or kernel
        k = ("vjp", key, tuple(argtypes), tuple(mask), shared_tapes, kernel, joint)
        if k in self.names:
            return self.names[k]
        fn = self.program.funcs[key]
        name = self.unique(fn.name + "_vjp")
        self.names[k] = name
        spec = self.spec(key, argtypes, mask, "reverse")
        wrt = [p for p, m in zip(fn.params, mask) if m and spec.types[p].differentiable]
        # array adjoints are accumulated in place in the caller's arrays (no allocation per
        # call), unless the function rebinds the parameter, which resets its adjoint
        rebound = {s.target.name for s in ir.walk_stmts(spec.fn.body) if isinstance(s, ir.Assign)}
        inout = [p for p in wrt if isinstance(spec.types[p], Array)
                 and spec.activity.is_active(p) and p not in rebound]
        callee_names = {}
        infos = {}

        def callee_info(call):
            if call in infos:
                return infos[call]
            callee_key, cargs = spec.calls[call]
            cmut = [k for k in range(len(call.args)) if spec.mutates(call, k)]
            cmask = [isinstance(a, ir.Var) and spec.activity.is_active(a.name) for a in call.args]
            callee_names[call.func] = self.primal(call.func)
            ret = self.ti.infer(callee_key, cargs).ret
            if not any(cmask):
                info = CalleeInfo(None, [], [], list(cmut), ret)
            else:
                vname = self.vjp(call.func, cargs, cmask, shared_tapes=True, joint=joint)
                cinout = self.derivatives[vname].inout
                info = CalleeInfo(vname, [i for i, m in enumerate(cmask) if m], cinout, list(cmut), ret,
                                  self.shared_tapes[vname], split=self.splits.get(vname))
            infos[call] = info
            return info

        callee_names.update(self._callee_names(spec.fn))
        positions = [fn.params.index(p) for p in inout]
        if shared_tapes and not joint:
            # a helper: split mode where its reverse sweep needs what its forward sweep computed
            # (ad/split.py), so that the forward sweep runs once, in the caller's forward sweep
            rev = Reverse(spec, Namer(spec.fn), callee_info)
            rev.custom_names = self.custom_names
            names = (self.unique(fn.name + "_fwd"), self.unique(fn.name + "_rev"))
            with reporting_internal_errors(fn.loc, "differentiating this function in reverse mode"):
                made = rev.run(names[1], wrt, inout, shared_tapes, split=names)
            if made is not None:
                h_fwd, h_rev, count = made
                self.names[k] = name = h_rev.name
                self.shared_tapes[name] = rev.shared
                self.splits[name] = SplitCall(h_fwd.name, name, count, list(spec.fn.params), *rev.handed_back)
                self.helpers |= rev.helpers
                self.functions.append((h_fwd, callee_names))
                self.functions.append((h_rev, callee_names))
                self.derivatives[name] = Derivative(name, spec, positions)
                return name
        rev = Reverse(spec, Namer(spec.fn), callee_info)
        rev.record_costly = not joint  # a GPU kernel's: exp again rather than a tape entry
        rev.custom_names = self.custom_names
        with reporting_internal_errors(fn.loc, "differentiating this function in reverse mode"):
            # a kernel's adjoint leaves the arrays it reads as it found them; it writes the
            # others only to drop those writes (kernelir), so nothing of them is recorded
            restore = True if not kernel else {p for p in ir.stored_arrays(spec.fn.body) if p in _loaded(spec.fn)}
            out = rev.run(name, wrt, inout, shared_tapes or kernel, restore_arrays=restore)
        self.shared_tapes[name] = rev.shared
        self.helpers |= rev.helpers
        self.functions.append((out, callee_names))
        self.derivatives[name] = Derivative(name, spec, positions)
        return name

    def derive(self, key, argtypes, mask, mode):
        """The derivative of ``key`` in ``mode`` ("reverse", "forward" or "forward-batched")."""
        event("differentiating", f"{self.program.funcs[key].name} ({mode} mode)")
        if mode == "reverse":
            return self.derivatives[self.vjp(key, argtypes, mask)]
        return self.derivatives[self.jvp(key, argtypes, mask, batched=(mode == "forward-batched"))]

    # ------------------------------------------------------------ module

    def module_globals(self):
        out = {}
        for key, fn in self.program.funcs.items():
            if fn is None:
                continue
            for name, obj in getattr(fn, "globals", {}).items():
                if name in out and out[name] is not obj:
                    raise S2SADError(f"two different module-level objects are both called `{name}`",
                                     fn.loc, "rename one of them")
                out[name] = obj
        return out


def _inplace_as_stores(fn, types):
    """``a += e`` on an array writes into it, as in Python (other names and the caller see the
    change): for these argument types, a copy of ``fn`` with each such assignment a store into
    the whole array, ``_t = a + e; a[:] = _t`` (three-address form; ``types`` gets the new
    temporaries)."""
    namer = Namer(fn)
    namer.used |= set(types)

    def convert(s):
        if not (isinstance(s, ir.Assign) and s.inplace and isinstance(types.get(s.target.name), Array)):
            return None
        t = types[s.target.name]
        tmp = ir.Var(namer.temp("_t"))
        types[tmp.name] = t
        temps.add(tmp.name)
        return [ir.Assign(tmp, s.value, loc=s.loc, comment=s.comment),
                ir.Store(s.target, (ir.Slice(None, None, None),) * t.ndim, tmp, loc=s.loc)]

    temps = set()
    new = ir.copy_with(fn, convert)
    if temps:
        new.temps, new.made = fn.temps | temps, fn.made | temps
    return new


def _views_copied(fn, types, mutates):
    """``v = a[i]`` (a view: ``a[1:3]``, ``a.T``, ``np.ravel(a)``, ...) as ``_t = a[i];
    v = np.copy(_t)`` where ``a`` (or memory it shares) is written in the function and nothing
    writes through ``v``. The derivative treats views as copies; at run time a view's values
    follow the writes into its base, and a view recorded on the tape when its name is bound
    again (``row = B[i]; B[i] = row[::-1] * x`` in a loop) was recorded as those writes left it:
    a silently wrong reverse derivative. ``check_aliasing`` refuses a read of a view after a
    write into its base, so the copy changes no value the function computes. ``types`` gets
    the new temporaries."""
    from .analysis.activity import _view_source, array_writes, sharing

    written = {name for name, _ in array_writes(fn, mutates)}  # `a += e` is a store by now
    if not written:
        return fn
    roots = sharing(fn, types)
    hit = set(written)
    for v, bases in roots.items():
        if v in written:
            hit |= bases  # a write through a view writes its base
    namer = Namer(fn)
    namer.used |= set(types)
    temps = set()

    def rewrite(s):
        if not (isinstance(s, ir.Assign) and not s.inplace and s.target.name in roots
                and s.target.name not in written
                and not isinstance(s.value, ir.Var) and _view_source(s.value, types) in hit):
            return None
        tmp = ir.Var(namer.temp("_t"))
        types[tmp.name] = types[s.target.name]
        temps.add(tmp.name)
        return [ir.Assign(tmp, s.value, loc=s.loc, comment=s.comment),
                ir.Assign(s.target, ir.Call("np.copy", (tmp,)), loc=s.loc)]

    new = ir.copy_with(fn, rewrite)
    if temps:
        new.temps, new.made = fn.temps | temps, fn.made | temps
    return new


def _through_flat_indices(fn, types):
    """Reads and writes through a mask of more than one axis (of x's shape), or through one
    integer array per axis (``m[rows, cols]``), done through the 1-d index they are into the
    flattened array: Numba takes one 1-d advanced index only (an n-d mask fails inside its
    compiler); NumPy gives the same entries in the same (row-major) order.

    - ``y = x[mask]``: ``_t1 = np.ravel(x); _t2 = np.ravel(mask); y = _t1[_t2]``; ``m[rows,
      cols]`` likewise with ``_t2 = rows % m.shape[0] * m.shape[1] + cols % m.shape[1]``;
    - ``x[mask] = v`` (or ``+= v``): into a flat copy, ``_t3 = np.copy(_t1); _t3[_t2] = v``,
      then written back whole, ``x[:, :] = np.reshape(_t3, x.shape)`` (a copy: np.ravel may
      give a view, and a write through a view is aliasing s2sad does not follow).

    ``types`` gets the new temporaries."""
    namer = Namer(fn)
    namer.used |= set(types)

    def mask_of(s):
        if isinstance(s, ir.Assign) and isinstance(s.value, ir.Load):
            arr, index = s.value.array, s.value.index
        elif isinstance(s, (ir.Store, ir.AugStore)):
            arr, index = s.array, s.index
        else:
            return None
        if not (isinstance(arr, ir.Var) and isinstance(types.get(arr.name), Array)
                and all(isinstance(i, (ir.Var, ir.Global)) for i in index)):
            return None
        ms = [operand_type(i, types, fn.globals) for i in index]
        if len(index) == 1 and isinstance(ms[0], Array) and ms[0].dtype == "bool" and ms[0].ndim > 1:
            return arr, index[0]
        if len(index) > 1 and all(isinstance(m, Array) and m.dtype == "int64" for m in ms):
            return arr, index
        return None

    def flat_index(x, index):
        """The expression of the flat (row-major) index of x[index]: raveled mask, or
        the int arrays' multi-index (negative entries wrapped, as NumPy does)."""
        if not isinstance(index, tuple):
            return ir.Call("np.ravel", (index,)), Array("bool", 1)
        dim = lambda k: ir.Load(ir.Attr(x, "shape"), (ir.Const(k),))  # noqa: E731
        flat = None
        for k, i in enumerate(index):
            term = ir.BinOp("%", i, dim(k))
            flat = term if flat is None else ir.BinOp("+", ir.BinOp("*", flat, dim(k)), term)
        return flat, Array("int64", max(operand_type(i, types, fn.globals).ndim for i in index))

    def temp(t, value, out, loc):
        tmp = ir.Var(namer.temp("_t"))
        types[tmp.name] = t
        temps.add(tmp.name)
        out.append(ir.Assign(tmp, value, loc=loc))
        return tmp

    def convert(s):
        found = mask_of(s)
        if found is None:
            return None
        x, index = found
        xt = types[x.name]
        out = []
        flat_x = temp(Array(xt.dtype, 1), ir.Call("np.ravel", (x,)), out, s.loc)
        value, t = flat_index(x, index)
        flat_m = temp(t, value, out, s.loc)
        if isinstance(s, ir.Assign):
            return out + [ir.Assign(s.target, ir.Load(flat_x, (flat_m,)), loc=s.loc, comment=s.comment)]
        copy_ = temp(Array(xt.dtype, 1), ir.Call("np.copy", (flat_x,)), out, s.loc)
        if isinstance(s, ir.Store):
            out.append(ir.Store(copy_, (flat_m,), s.value, loc=s.loc))
        else:
            out.append(ir.AugStore(copy_, (flat_m,), s.op, s.value, loc=s.loc))
        shape = temp(Tuple((I64,) * xt.ndim), ir.Attr(x, "shape"), out, s.loc)
        back = temp(xt, ir.Call("np.reshape", (copy_, shape)), out, s.loc)
        return out + [ir.Store(x, (ir.Slice(None, None, None),) * xt.ndim, back, loc=s.loc, comment=s.comment)]

    temps = set()
    new = ir.copy_with(fn, convert)
    if temps:
        new.temps, new.made = fn.temps | temps, fn.made | temps
    return new


def _items_used(spec, call):
    """For a call whose result is a tuple taken apart item by item (``r = f(...)``, then
    ``a = r[0]``, ...), which items the caller's derivative needs: those assigned to useful
    variables. None when the result is used otherwise (or is no tuple)."""
    target = None
    for s in ir.walk_stmts(spec.fn.body):
        if isinstance(s, ir.Assign) and s.value is call:
            target = s.target.name
    if target is None or not isinstance(spec.types.get(target), Tuple):
        return None
    used = [False] * len(spec.types[target].items)
    for s in ir.walk_stmts(spec.fn.body):
        reads = ir.stmt_reads(s)
        if target not in reads:
            continue
        if not (isinstance(s, ir.Assign) and isinstance(s.value, ir.TupleGet) and isinstance(s.value.tuple, ir.Var)
                and s.value.tuple.name == target and reads.count(target) == 1):
            return None
        if s.target.name in spec.activity.useful:
            used[s.value.index] = True
    return tuple(used)


def _replace_value(s, value):
    new = copy.copy(s)
    new.value = value
    return new




def _loaded(fn):
    """The arrays ``fn`` reads an element or a slice of."""
    return {e.array.name for s in ir.walk_stmts(fn.body) for r in ir.stmt_roots(s) for e in ir.walk_expr(r)
            if isinstance(e, ir.Load) and isinstance(e.array, ir.Var)}


def _custom_calls(s):
    return [e for e in ir.stmt_exprs(s) if isinstance(e, ir.Call) and e.func.startswith("custom:")]


def _call_exprs(s):
    return [e for e in ir.stmt_exprs(s) if isinstance(e, ir.CallUser)]


def check_returns_a_value(fn, what):
    """A function with no ``return`` returns None: nothing to differentiate, said at its def
    (the type error about a None output that would follow says less)."""
    if any(isinstance(s, ir.Return) and not (isinstance(s.value, ir.Const) and s.value.value is None)
           for s in ir.walk_stmts(fn.body)):
        return
    from .errors import NonDifferentiableError
    raise NonDifferentiableError(
        f"{fn.name} has no `return` statement, so it returns None: {what} needs it to return "
        "the value to differentiate", fn.loc,
        f"end {fn.name} with `return` and the value (a float for grad, floats or arrays for "
        "jvp, vjp and the Jacobians)")
