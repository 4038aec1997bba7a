"""The ``s2sad`` command line: emit standalone derivative modules, show them, check them.

    s2sad emit  model.py:loss [--wrt x,y] [--mode reverse|forward|both] [--jit] [-o OUT.py]
    s2sad emit  kernels.py:step --cuda --wrt a,x --outputs out [--mode forward] [-o OUT.py]
    s2sad show  model.py:loss [--ir | --dot]
    s2sad check model.py:loss --at 'x=0.3, y=[1, 2, 3]'   (or --random N)

Every bad input is one ``s2sad: error: ...`` line (``file:line:col:`` first where there is a
place to point at, the source line and a caret after it) and exit status 2; ``--debug``
shows the Python traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import S2SADError
from ..version import __version__
from .check import cmd_check
from .cudaemit import cuda_module_text
from .module import module_builder
from .targets import EmitError, set_types, targets_from_args

EXIT_ERROR = 2
EXIT_INTERNAL = 3

EMIT_EXAMPLES = """examples:
  s2sad emit model.py:loss                      loss_grad: w.r.t. every float argument
  s2sad emit model.py:loss --wrt x -o dloss.py  loss_grad(...) returns d loss / d x
  s2sad emit model.py:loss --argnums 0,1 --mode both
  s2sad emit model.py:loss --types 'x=float64[:], n=int64' --jit -o dloss.py
  s2sad emit model.py:loss model.py:energy -o derivatives.py
  s2sad emit kernels.py:step --cuda --wrt a,x --outputs out -o step_vjp.py

The derivative of FUNC is FUNC_grad in reverse mode (FUNC's arguments in, exactly what
s2sad.grad(FUNC, argnums) returns out) and FUNC_jvp in forward mode (the primals, then the
tangents of the differentiated arguments in; (value, tangent) out).

Argument types come from --types, else from FUNC's annotations (float, int, np.ndarray,
"float64[:, :]"), else from default values, else from how FUNC uses them (indexed
with k indices, .shape[k], len(), `for row in`: a float64 array of that rank; a range()
bound or an index: an int64; only a number: a float64)."""

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
    common.add_argument("--cuda", action="store_true",
                        help="FUNC is a @cuda.jit kernel: write its derivative kernel (--wrt and "
                             "--outputs name arrays)")
    common.add_argument("--outputs", metavar="NAMES",
                        help="with --cuda: the arrays the kernel writes (comma-separated)")
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


def _builder(args):
    targets = targets_from_args(args)
    for t in targets:
        set_types(t, args.types, strict=len(targets) == 1)
    return module_builder(args, targets)


# ================================================================ emit / show


def cmd_emit(args):
    if args.cuda:
        mb, text = None, cuda_module_text(args)
    else:
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
        names = ", ".join(r.name for r in mb.requests) if mb else args.targets[0].rpartition(":")[2] + (
            "_vjp" if args.mode == "reverse" else "_jvp")
        print(f"s2sad: wrote {out} ({names})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _check_overwrite(out, mb, force):
    """Never write over the user's source; over another file only when it is a module s2sad
    generated, or with --force."""
    if not os.path.exists(out):
        return
    for r in (mb.requests if mb else ()):
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
    if args.cuda:
        text = cuda_module_text(args)
        sys.stdout.write(_highlight(text) if _use_color(args.color) else text)
        return 0
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


__all__ = ["build_parser", "main"]
