"""The ``s2sad`` command line: emit standalone derivative modules, show them, check them.

    s2sad emit  model.py:loss [--wrt x,y] [--mode reverse|forward|both] [--jit] [-o OUT.py]
    s2sad show  model.py:loss [--ir | --dot]
    s2sad check model.py:loss --at 'x=0.3, y=[1, 2, 3]'   (or --random N)

Every bad input is one ``s2sad: error: ...`` line (``file:line:col:`` first where there is a
place to point at, the source line and a caret after it) and exit status 2; ``--debug``
shows the Python traceback instead.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import shlex
import sys
import tempfile

import numpy as np

from . import __version__
from .ir.types import Array, Scalar, Tuple
from .emit import (
    EmitError,
    ModuleBuilder,
    Request,
    assign_items,
    check_names_known,
    default_name,
    parse_call_text,
    parse_wrt,
    resolve_target,
    set_types,
)
from .errors import S2SADError

EXIT_MISMATCH = 1
EXIT_ERROR = 2
EXIT_INTERNAL = 3

EMIT_EXAMPLES = """examples:
  s2sad emit model.py:loss                      loss_grad: w.r.t. every float argument
  s2sad emit model.py:loss --wrt x -o dloss.py  loss_grad(...) returns d loss / d x
  s2sad emit model.py:loss --argnums 0,1 --mode both
  s2sad emit model.py:loss --types 'x=float64[:], n=int64' --jit -o dloss.py
  s2sad emit model.py:loss model.py:energy -o derivatives.py

The derivative of FUNC is FUNC_grad in reverse mode (FUNC's arguments in, exactly what
s2sad.grad(FUNC, argnums) returns out) and FUNC_jvp in forward mode (the primals, then the
tangents of the differentiated arguments in; (value, tangent) out).

Argument types come from --types, else from FUNC's annotations (float, int, np.ndarray,
"float64[:, :]"), else from default values, else float64 scalars."""

SHOW_EXAMPLES = """examples:
  s2sad show model.py:loss                  the generated source (what emit writes)
  s2sad show model.py:loss --mode forward
  s2sad show model.py:loss --ir             the lowered IR with inferred types
  s2sad show model.py:loss --dot | dot -Tsvg > loss.svg"""

CHECK_EXAMPLES = """examples:
  s2sad check model.py:loss --at 'x=0.3, y=[1, 2, 3]'
  s2sad check model.py:loss --at '0.3, [1.0, 2.0]' --at '-1.0, [0.5, 0.1]'
  s2sad check model.py:loss --random 5 --seed 1 --range -2,2
  s2sad check model.py:loss --random 3 --at 'n=10'  (n fixed, the others drawn)

Compares both modes (reverse: FUNC_grad, or vector-Jacobian products for array outputs;
forward: FUNC_jvp) of the emitted module against 4th-order central finite differences, and
against SymPy where s2sad.check_sympy is available. Exit status 1 on a mismatch."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"s2sad: error: {message}", file=sys.stderr)
        sys.exit(EXIT_ERROR)


def build_parser():
    p = _Parser(prog="s2sad", description="s2sad: source-to-source automatic differentiation "
                "for Python. Writes derivative modules you can read, commit and ship.",
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="run `s2sad COMMAND --help` for the options and examples of a command")
    p.add_argument("--version", action="version", version=f"s2sad {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    common = _Parser(add_help=False)
    common.add_argument("targets", nargs="+", metavar="PATH.py:FUNC",
                        help="the function(s) to differentiate")
    g = common.add_mutually_exclusive_group()
    g.add_argument("--wrt", metavar="NAMES",
                   help="differentiate with respect to these parameters (comma-separated; "
                        "several, or a trailing comma, give a tuple of gradients). Default: "
                        "every float parameter")
    g.add_argument("--argnums", metavar="N,...",
                   help="the same, by position (as s2sad.grad's argnums)")
    common.add_argument("--types", metavar="'x=float64[:], n=int64'",
                        help="argument types: float64, float32, int64, bool, float64[:], "
                             "float64[:, :] (overrides annotations)")
    common.add_argument("--jit", action="store_true",
                        help="decorate the derivatives with @numba.njit")
    common.add_argument("--name", metavar="NAME[,NAME...]",
                        help="names of the emitted derivatives, one per function and mode "
                             "(default FUNC_grad, FUNC_jvp)")
    common.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error")

    def add(name, help, epilog, mode_default):
        sp = sub.add_parser(name, parents=[common], help=help, description=help,
                            epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.add_argument("--mode", choices=["reverse", "forward", "both"], default=mode_default,
                        help=f"reverse (FUNC_grad), forward (FUNC_jvp) or both (default "
                             f"{mode_default})")
        return sp

    e = add("emit", "write a standalone module holding the derivatives", EMIT_EXAMPLES, "reverse")
    e.add_argument("-o", "--output", metavar="OUT.py",
                   help="write the module here (default: standard output)")
    e.add_argument("--force", action="store_true",
                   help="with -o: replace OUT.py even when s2sad did not generate it")

    s = add("show", "print the generated source, its IR, or its data-flow graph",
            SHOW_EXAMPLES, "reverse")
    v = s.add_mutually_exclusive_group()
    v.add_argument("--ir", action="store_true",
                   help="print the lowered IR (with inferred types) and the derivative's IR")
    v.add_argument("--dot", action="store_true",
                   help="print the data-flow graph of the function and its derivative as "
                        "Graphviz DOT text")
    s.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                   help="highlight the source (auto: when printing to a terminal)")

    c = add("check", "compare the derivatives with finite differences (and SymPy)",
            CHECK_EXAMPLES, "both")
    c.add_argument("--at", action="append", metavar="'x=0.3, y=[1, 2]'", default=[],
                   help="a point to check at (Python literals; lists are float64 arrays); "
                        "repeat for several points")
    c.add_argument("--random", type=_positive_int, metavar="N",
                   help="check at N random points (default 3 when no --at is given); values "
                        "given with --at stay fixed")
    c.add_argument("--seed", type=int, default=0, help="seed of the random points (default 0)")
    c.add_argument("--range", dest="range_", metavar="LO,HI", default="0.5,1.5",
                   help="random floats are drawn uniformly from [LO, HI] (default 0.5,1.5)")
    c.add_argument("--size", type=_positive_int, default=4, metavar="N",
                   help="random arrays have N entries per axis (default 4)")
    c.add_argument("--tol", type=float, default=1e-6,
                   help="the largest relative error accepted (default 1e-6)")
    return p


def _positive_int(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def main(argv=None):
    sys.dont_write_bytecode = True  # do not leave __pycache__ next to the user's files
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return {"emit": cmd_emit, "show": cmd_show, "check": cmd_check}[args.command](args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("s2sad: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `s2sad show ... | head`
        # silence the flush at exit as well
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except S2SADError as e:
        if args.debug:
            raise
        _report(str(e))
        return EXIT_ERROR
    except Exception as e:
        if args.debug:
            raise
        msg = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        first = msg.splitlines()[0] if msg.strip() else type(e).__name__
        _report(f"internal error: {first} (a bug in s2sad: please report it, with the output "
                "of --debug)")
        return EXIT_INTERNAL


def _report(text):
    lines = text.rstrip("\n").split("\n")
    print(f"s2sad: error: {lines[0]}", file=sys.stderr)
    for ln in lines[1:]:
        print(ln, file=sys.stderr)


# ================================================================ building


def _requests(args, targets):
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


def _command_line(args):
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


def _targets(args):
    targets = [resolve_target(s) for s in args.targets]
    if len(targets) > 1 and args.types:
        check_names_known(targets, args.types, "--types")
    return targets


def _builder(args):
    targets = _targets(args)
    for t in targets:
        set_types(t, args.types, strict=len(targets) == 1)
    jit = args.jit or any(t.jitted for t in targets)
    return ModuleBuilder(_requests(args, targets), jit=jit, command=_command_line(args))


# ================================================================ emit / show


def cmd_emit(args):
    mb = _builder(args).run()
    text = mb.source()
    if args.output:
        out = args.output
        folder = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(folder):
            raise EmitError(f"-o {out}: no such directory: {folder}")
        _check_overwrite(out, mb, args.force)
        tmp = f"{out}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, out)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise EmitError(f"-o {out}: cannot write: {e.strerror or e}") from None
        names = ", ".join(r.name for r in mb.requests)
        print(f"s2sad: wrote {out} ({names})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _check_overwrite(out, mb, force):
    """Never write over the user's source; over another file only when it is a module s2sad
    generated, or with --force."""
    if not os.path.exists(out):
        return
    for r in mb.requests:
        if os.path.samefile(out, r.target.path):
            raise EmitError(f"-o {out}: that is the source file of {r.target.func_name}; "
                            "write the derivatives to another file")
    try:
        with open(out, encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
    except OSError as e:
        raise EmitError(f"-o {out}: cannot read: {e.strerror or e}") from None
    if not first.startswith("# Generated by s2sad") and not force:
        raise EmitError(f"-o {out}: the file exists and was not generated by s2sad; "
                        "use --force to replace it")


def cmd_show(args):
    mb = _builder(args).run()
    if args.dot:
        sys.stdout.write(mb.dot_text())
        return 0
    text = mb.ir_text() if args.ir else mb.source()
    if _use_color(args.color):
        text = _highlight(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _use_color(choice):
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _highlight(text):
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return text
    return highlight(text, PythonLexer(), TerminalFormatter())


# ================================================================ check


def cmd_check(args):
    lo_hi = _parse_range(args.range_)
    targets = _targets(args)
    strict = len(targets) == 1
    fixed = {}  # per target: the points given with --at, as {param: value} dicts
    for text in args.at if not strict else ():
        check_names_known(targets, text, "--at")
    for t in targets:
        pts = [_parse_at(t, text, strict) for text in args.at]
        fixed[id(t)] = pts
        # the first --at point's values give the types of unannotated parameters
        set_types(t, args.types, pts[0] if pts else None, strict)
    n_random = args.random if args.random is not None else (0 if args.at else 3)
    reqs = _requests(args, targets)
    mb = ModuleBuilder(reqs, jit=args.jit or any(t.jitted for t in targets),
                       command=_command_line(args))
    mb.vector_reverse = True
    mb.run()
    sympy_check = _sympy_checker()
    failed = False
    with tempfile.TemporaryDirectory(prefix="s2sad_check_") as folder:
        mod = _load_emitted(mb.source(), folder)
        for t in targets:
            treqs = [r for r in reqs if r.target is t]
            points = _points(t, fixed[id(t)], n_random, args.seed, lo_hi, args.size)
            failed |= _check_target(t, treqs, mod, points, args.tol, sympy_check)
    return EXIT_MISMATCH if failed else 0


def _parse_range(text):
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise EmitError(f"--range: expected LO,HI (two numbers), got `{text}`") from None
    if not lo < hi:
        raise EmitError(f"--range: LO must be less than HI, got `{text}`")
    return lo, hi


def _parse_at(target, text, strict=True):
    nodes = assign_items(target, parse_call_text(text, "--at"), "--at", strict)
    out = {}
    for name, node in nodes.items():
        try:
            v = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise EmitError(f"--at: the value of `{name}` is not a number or a list of numbers: "
                            f"`{ast.unparse(node)}`") from None
        out[name] = _as_value(v, name)
    return out


def _as_value(v, name):
    if isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, list):
        try:
            arr = np.array(v, dtype=np.float64)
        except (ValueError, TypeError):
            raise EmitError(f"--at: `{name}` must be a list of numbers (or of equal-length "
                            f"lists of numbers), got {v!r}") from None
        return arr
    if isinstance(v, tuple):
        return tuple(_as_value(x, name) for x in v)
    raise EmitError(f"--at: `{name}` must be a number or a list of numbers, got "
                    f"{type(v).__name__} {v!r}")


def _coerce(target, name, v, t):
    """``v`` as a value of type ``t`` (an int literal for a float parameter is fine)."""
    origin = target.type_origin[target.params.index(name)]
    bad = EmitError(f"--at: `{name}` is {_a(t)} {t} (from {_origin_text(origin)}), "
                    f"but the value given is {_describe(v)}")
    if isinstance(t, Scalar):
        if isinstance(v, (np.ndarray, tuple)):
            raise bad
        if t.dtype in ("float64", "float32"):
            return float(v) if t.dtype == "float64" else np.float32(v)
        if t.dtype == "int64":
            if isinstance(v, (float, bool)):
                raise bad
            return int(v)
        return bool(v)
    if isinstance(t, Array):
        if not isinstance(v, np.ndarray) or v.ndim != t.ndim:
            raise bad
        if t.dtype == "int64":
            if not np.all(v == np.round(v)):
                raise bad
            return v.astype(np.int64)
        return v.astype({"float64": np.float64, "float32": np.float32, "bool": np.bool_}[t.dtype])
    if isinstance(t, Tuple):
        if not isinstance(v, tuple) or len(v) != len(t.items):
            raise bad
        return tuple(_coerce(target, name, x, it) for x, it in zip(v, t.items))
    raise bad


def _a(t):
    return "an" if str(t)[0] in "aeiou" else "a"


def _origin_text(origin):
    return {"--types": "--types", "annotation": "its annotation", "--at": "the first --at",
            "default value": "its default value", "assumed": "the default, float64"}.get(origin,
                                                                                     origin)


def _describe(v):
    if isinstance(v, np.ndarray):
        return f"a {v.ndim}-D array" if v.ndim else "a 0-D array"
    if isinstance(v, tuple):
        return f"a tuple of {len(v)}"
    return f"{type(v).__name__} {v!r}"


def _points(t, fixed_points, n_random, seed, lo_hi, size):
    rng = np.random.default_rng(seed)
    points = []
    for p in fixed_points:
        missing = [q for q in t.params if q not in p and q not in t.defaults]
        if missing and not n_random:
            raise EmitError(f"--at: no value for {', '.join(f'`{q}`' for q in missing)} "
                            f"(parameters of {t.func_name}: {', '.join(t.params)})",
                            hint="give every parameter, or add --random N to draw the others")
    bases = fixed_points or [{}]
    for base in bases:
        if n_random:
            for _ in range(n_random):
                points.append(_draw(t, base, rng, lo_hi, size))
        else:
            points.append(_complete(t, base))
    return points


def _complete(t, given):
    vals = []
    for p, ty in zip(t.params, t.types):
        v = given[p] if p in given else t.defaults[p]
        vals.append(_coerce(t, p, v, ty))
    return tuple(vals)


def _draw(t, given, rng, lo_hi, size):
    lo, hi = lo_hi
    vals = []
    for p, ty in zip(t.params, t.types):
        if p in given:
            vals.append(_coerce(t, p, given[p], ty))
            continue
        if p in t.defaults and not ty.differentiable:
            vals.append(t.defaults[p])
            continue
        vals.append(_random_value(ty, rng, lo, hi, size, p, t))
    return tuple(vals)


def _random_value(ty, rng, lo, hi, size, p, t):
    # rounded to 4 decimals, so that the printed point is the point checked
    if isinstance(ty, Scalar):
        if ty.differentiable:
            v = round(float(rng.uniform(lo, hi)), 4)
            return v if ty.dtype == "float64" else np.float32(v)
        if ty.dtype == "int64":
            return 3
        return False
    if isinstance(ty, Array):
        shape = (size,) * ty.ndim
        if ty.dtype in ("float64", "float32"):
            return np.round(rng.uniform(lo, hi, size=shape), 4).astype(ty.dtype)
        if ty.dtype == "int64":
            return rng.integers(0, size, size=shape).astype(np.int64)
        return np.zeros(shape, dtype=bool)
    if isinstance(ty, Tuple):
        return tuple(_random_value(it, rng, lo, hi, size, p, t) for it in ty.items)
    raise EmitError(f"cannot draw a random value for `{p}` of type {ty}",
                    t.param_loc(p), "give it with --at")


def _load_emitted(text, folder):
    """The emitted module, imported from a file (what is checked is what emit writes)."""
    path = os.path.join(folder, "s2sad_check_module.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    spec = importlib.util.spec_from_file_location("_s2sad_check_module", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sympy_checker():
    """SymPy's derivative at a point (the correctness bridge), None where it is not here."""
    try:
        from .check import sympy_grad
    except ImportError:
        return None
    return sympy_grad


def _copy(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def _flat(out):
    if isinstance(out, (tuple, list)):
        parts = [_flat(o) for o in out]
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.asarray(out, dtype=np.float64).ravel()


def _shape(v):
    return np.shape(v)


def _fd_jacobians(t, args, wrt):
    from .check.fd import numerical_jacobian
    # float32 inputs in float64: the reference is then accurate (float32 differences are not)
    args = tuple(a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == np.float32
                 else float(a) if isinstance(a, np.float32) else a for a in args)
    n_out = _flat(t.obj(*_copy(args))).size
    jac = numerical_jacobian(t.obj, _copy(args), argnums=tuple(wrt))
    return [np.asarray(j, dtype=np.float64).reshape((n_out,) + _shape(args[k]))
            for j, k in zip(jac, wrt)]


def _forward_jacobians(r, mod, args):
    fn = getattr(mod, r.name)
    wrt_sorted = r.wrt_sorted
    zeros = {k: (np.zeros_like(args[k]) if isinstance(args[k], np.ndarray) else 0.0)
             for k in wrt_sorted}
    out = []
    for k in r.wrt:
        a = args[k]
        cols = []
        for idx in np.ndindex(_shape(a)):
            tang = dict(zeros)
            if isinstance(a, np.ndarray):
                e = np.zeros_like(a)
                e[idx] = 1.0
                tang[k] = e
            else:
                tang[k] = 1.0
            _, d = fn(*_copy(args), *_copy([tang[j] for j in wrt_sorted]))
            cols.append(_flat(d))
        jac = np.stack(cols, axis=-1) if cols else np.zeros((0, 0))
        out.append(jac.reshape((jac.shape[0],) + _shape(a)))
    return out


def _reverse_jacobians(r, mod, args):
    """Rows of the Jacobian: the gradient wrapper for a scalar output, the generated
    vector-Jacobian product with unit cotangents for an array output."""
    if r.out_type is not None and isinstance(r.out_type, Scalar):
        g = getattr(mod, r.name)(*_copy(args))
        g = (g,) if r.single else g
        return [np.asarray(x, dtype=np.float64).reshape((1,) + _shape(args[k]))
                for x, k in zip(g, r.wrt)]
    if not isinstance(r.out_type, Array):
        return None  # tuple outputs: no cotangent layout to test with
    vjp = getattr(mod, r.core)
    ref = r.target.obj(*_copy(args))
    rows = {k: [] for k in r.wrt}
    for idx in np.ndindex(ref.shape):
        ct = np.zeros(ref.shape, dtype=np.float64)
        ct[idx] = 1.0
        inout = [np.zeros_like(args[k]) for k in r.inout]
        res = vjp(*_copy(args), ct, *inout)
        by_param = dict(zip(r.wrt_sorted, res[1:]))
        for k in r.wrt:
            rows[k].append(np.asarray(by_param[k], dtype=np.float64).reshape(_shape(args[k])))
    return [np.stack(rows[k]) if rows[k] else np.zeros((0,) + _shape(args[k])) for k in r.wrt]


def _max_error(jacs, ref):
    from .check.fd import rel_error
    return max((rel_error(a, b) for a, b in zip(jacs, ref)), default=0.0)


def _sympy_error(sympy_grad, t, args, wrt, jacs):
    """The largest error of the emitted derivatives (``jacs``, one list a mode) against
    SymPy's; None where the bridge does not apply to this function."""
    try:
        want = sympy_grad(t.pyfunc, _copy(args), argnums=tuple(wrt))
    except S2SADError:
        return None
    errs = []
    for jac in jacs:
        ref = [np.asarray(w, dtype=np.float64).reshape(j.shape) for w, j in zip(want, jac)]
        errs.append(_max_error(jac, ref))
    return max(errs, default=None)


def _check_target(t, reqs, mod, points, tol, sympy_check):
    wrt = reqs[0].wrt
    wrt_names = ", ".join(t.params[k] for k in wrt)
    modes = ", ".join(dict.fromkeys(r.mode for r in reqs))
    print(f"{t.func_name} ({t.path}:{t.line0}) with respect to {wrt_names}: max relative error "
          f"of the emitted derivatives (tolerance {tol:g})")
    print(f"  {modes}: against central finite differences"
          + ("; sympy: both against SymPy's derivative" if sympy_check is not None else ""))
    cols = [("reverse" if r.mode == "reverse" else "forward") for r in reqs]
    cols.append("sympy")
    rows = []
    notes = []
    failed = False
    with np.errstate(all="ignore"):
        for n, args in enumerate(points, 1):
            cells = []
            ok = True
            errored = False
            try:
                ref = _fd_jacobians(t, args, wrt)
            except Exception as e:  # noqa: BLE001 -- the user's function may raise anything
                notes.append(f"point {n}: {t.func_name} failed: {type(e).__name__}: {e}")
                rows.append((n, ["-"] * len(cols), "error"))
                failed = True
                continue
            got = []
            for r in reqs:
                try:
                    jac = (_reverse_jacobians if r.mode == "reverse" else _forward_jacobians)(
                        r, mod, args)
                except Exception as e:  # noqa: BLE001 -- reported in the table
                    notes.append(f"point {n}: {r.name} failed: {type(e).__name__}: {e}")
                    cells.append("error")
                    errored = True
                    continue
                if jac is None:
                    cells.append("n/a")
                    continue
                got.append(jac)
                err = _max_error(jac, ref)
                cells.append(f"{err:.1e}")
                ok &= err <= tol
            if sympy_check is None:
                cells.append("-")
            else:
                err = _sympy_error(sympy_check, t, args, wrt, got)
                cells.append("n/a" if err is None else f"{err:.1e}")
                if err is not None:
                    ok &= err <= tol
            rows.append((n, cells, "error" if errored else "ok" if ok else "MISMATCH"))
            failed |= errored or not ok
    header = ["point"] + cols + ["result"]
    table = [header] + [[str(n)] + cells + [res] for n, cells, res in rows]
    widths = [max(len(row[k]) for row in table) for k in range(len(header))]
    print()
    for row in table:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print()
    for n, args in enumerate(points, 1):
        print(f"  {n}: --at '{_point_text(t, args)}'")
    for note in notes:
        print(f"  {note}")
    print()
    if any(res == "MISMATCH" for _, _, res in rows):
        print(f"MISMATCH: a derivative of {t.func_name} disagrees with the reference "
              f"(tolerance {tol:g})")
    elif failed:
        print(f"ERROR: {t.func_name} or a derivative of it failed at a point (see above)")
    else:
        modes = " and ".join(dict.fromkeys(r.mode for r in reqs))
        refs = "finite differences" + (" and SymPy" if sympy_check is not None else "")
        print(f"ok: {t.func_name}, {modes} mode, agrees with {refs} at {len(points)} point(s)")
    return failed


def _point_text(t, args):
    return ", ".join(f"{p}={_value_text(v)}" for p, v in zip(t.params, args))


def _value_text(v):
    if isinstance(v, np.ndarray):
        if v.dtype == np.float32 and v.ndim:  # the shortest text that gives the same float32
            return "[" + ", ".join(_value_text(x) for x in v) + "]"
        return repr(v.tolist())
    if isinstance(v, np.float32):
        return str(v)
    if isinstance(v, np.floating):
        return repr(float(v))
    if isinstance(v, tuple):
        return "(" + ", ".join(_value_text(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


__all__ = ["build_parser", "main"]
