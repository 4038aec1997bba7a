"""``s2sad emit`` / ``show`` / ``check``: the derivatives of several targets built into one
standalone module (one ``Build``, so helpers shared by several targets appear once and
generated names never clash), printed by the module assembler, or shown as IR or DOT."""

from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass, field

import numpy as np

from .. import ir
from ..ir.types import F64, Array, Scalar, Tuple, typeof_value
from ..backend.assemble import (
    JIT_DECORATOR,
    Differentiated,
    Entry,
    Header,
    assemble,
    generated_function,
    generated_params,
)
from ..backend.dot import DotGraph
from ..backend.literals import library_path
from ..backend.pysource import format_function
from ..backend.wrappers import GradWrapper, forward_wrapper, grad_wrapper
from ..compiler import Build, check_returns_a_value
from ..errors import NonDifferentiableError, TypeInferenceError
from .targets import EmitError, Target, article, parse_wrt


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


def module_builder(args, targets):
    """The module the options ask for, its targets' types already set."""
    jit = args.jit or any(t.jitted for t in targets)
    return ModuleBuilder(requests_from_args(args, targets), jit=jit, command=command_line(args))


def requests_from_args(args, targets):
    modes = ["reverse", "forward"] if args.mode == "both" else [args.mode]
    reqs = []
    for t in targets:
        nums, single = parse_wrt(t, args.wrt, args.argnums)
        for m in modes:
            reqs.append(Request(t, m, nums, single, default_name(t, m)))
    if args.name:
        names = [n.strip() for n in args.name.split(",")]
        if len(names) != len(reqs):
            what = ", ".join(r.name for r in reqs)
            raise EmitError(f"--name: {len(reqs)} derivative(s) to name ({what}), "
                            f"{len(names)} name(s) given")
        for r, n in zip(reqs, names):
            if not n.isidentifier():
                raise EmitError(f"--name: `{n}` is not a valid Python name")
            r.name = n
    return reqs


def command_line(args):
    """The emit command that regenerates a module (for its header): the options that change
    the output, in a fixed order."""
    parts = ["s2sad", "emit", *args.targets]
    if args.wrt is not None:
        parts += ["--wrt", args.wrt]
    if args.argnums is not None:
        parts += ["--argnums", args.argnums]
    if args.types:
        parts += ["--types", args.types]
    if args.mode != "reverse":
        parts += ["--mode", args.mode]
    if args.jit:
        parts.append("--jit")
    if args.name:
        parts += ["--name", args.name]
    return " ".join(shlex.quote(p) for p in parts)


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
                for e in _exprs(s):
                    if isinstance(e, ir.CallUser) and e.func not in seen:
                        seen.add(e.func)
                        todo.append(e.func)
        return seen

    def _derive(self, r):
        b = self.build
        t = r.target
        mask = r.mask
        check_returns_a_value(b.program.funcs[r.key], r.name)
        spec = b.spec(r.key, tuple(t.types), mask, "forward")
        r.out_type = spec.ret_type
        if r.mode == "reverse":
            rt = spec.ret_type
            if self.vector_reverse and isinstance(rt, (Array, Tuple)):
                d = b.derive(r.key, tuple(t.types), mask, "reverse")
                r.core, r.inout = d.name, list(d.inout)
                r.name = r.core
                return
            if not (isinstance(rt, Scalar) and rt.differentiable):
                raise NonDifferentiableError(
                    f"reverse mode ({r.name}) needs {t.func_name} to return a float scalar, but "
                    f"it returns {article(rt)} {rt}", _return_loc(spec.fn) or t.def_loc,
                    "use --mode forward for vector outputs")
            d = b.derive(r.key, tuple(t.types), mask, "reverse")
            r.core, r.inout = d.name, list(d.inout)
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
            if library_path(obj) is not None:
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
                for e in _exprs(s):
                    if isinstance(e, ir.Global) and e.name == name:
                        return s.loc
                    if isinstance(e, ir.Call) and e.func.split(":", 1)[-1] == name:
                        return s.loc
        return None

    # ------------------------------------------------------------ text

    def source(self):
        public = [r.name for r in self.requests]
        deco = JIT_DECORATOR if self.jit else None
        wrappers = [w for w in (self.wrapper(r, deco) for r in self.requests) if w]
        return assemble(self.build, self.header(), public, wrappers=wrappers, jit=self.jit,
                        standalone=True, public=public)

    def header(self):
        items = {}
        for r in self.requests:
            t = r.target
            d = items.get(id(t))
            if d is None:
                d = items[id(t)] = Differentiated(t.func_name, t.path, t.line0, t.params, t.types,
                                                  r.out_type, [t.params[k] for k in r.wrt_sorted])
            if r.mode == "reverse" and r.name != r.core:
                d.entries.append(Entry("reverse", r.name, self.grad_wrapper(r).result_text(),
                                       t.params))
            elif r.mode == "reverse":  # check's VJP of an array output
                bars = ", ".join(t.params[k] + "_bar" for k in r.wrt_sorted)
                d.entries.append(Entry("reverse", r.name, f"(value, {bars})"))
            else:
                d.entries.append(Entry("forward", r.name, "(value, tangent)",
                                       self._core_params(r)))
        return Header(list(items.values()), command=self.command)

    def _core_params(self, r):
        return generated_params(self.build, r.core)

    def grad_wrapper(self, r):
        """The gradient wrapper of a reverse-mode request."""
        t = r.target
        return GradWrapper(r.name, t.func_name, t.params, t.types, r.wrt, r.single, r.core,
                           r.inout, defaults=t.defaults)

    def wrapper(self, r, deco):
        if r.name == r.core:
            return None
        if r.mode == "forward":
            return forward_wrapper(r.name, r.target.func_name, self._core_params(r), r.core, deco)
        return grad_wrapper(self.grad_wrapper(r), standalone=True, jit_decorator=deco)

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
                out.append(format_function(b.program.funcs[r.key], types))
                out.append("")
            mode = "reverse-mode" if r.mode == "reverse" else "forward-mode"
            out.append(f"# ---- {r.core}: the {mode} derivative of {t.func_name}, as IR ----")
            out.append(format_function(generated_function(self.build, r.core), {}))
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
            g.function(generated_function(self.build, r.core), f"{r.core} ({mode} mode)")
        return g.text()


def _with_type_hint(e, t):
    """A type error, with a hint naming the parameters whose types were only assumed, and the
    caret on the first use of one of them on the line (the expression that needs its type)."""
    assumed = [p for p, o, ty in zip(t.params, t.type_origin, t.types)
               if o == "assumed" or (o == "use" and ty == F64)]
    if not assumed:
        return e
    names = ", ".join(f"`{p}`" for p in assumed)
    hint = (f"{t.func_name}'s {names} have no annotation and their uses do not tell an array, "
            f"so they were taken as float64 scalars: annotate them "
            f"(`{assumed[0]}: np.ndarray`) or give --types '{assumed[0]}=float64[:]'")
    loc = e.loc
    if loc is not None:
        uses = sorted((n.lineno, n.col_offset, n) for n in ast.walk(t.fdef)
                      if isinstance(n, ast.Name) and n.id in assumed)
        for _, _, n in uses:
            at = t.node_loc(n)
            if at.lineno == loc.lineno and at.filename == loc.filename:
                loc = ir.Loc(loc.filename, loc.lineno, at.col, loc.source_line)
                break
    return EmitError(e.bare_message, loc, hint)


def _return_loc(fn):
    loc = None
    for s in ir.walk_stmts(fn.body):
        if isinstance(s, ir.Return):
            loc = s.loc
    return loc


def _exprs(s):
    """Every expression a statement evaluates itself, nested ones included."""
    return [e for root in ir.stmt_roots(s) for e in ir.walk_expr(root)]
