"""``s2sad emit FILE.py:KERNEL --cuda --wrt a,x --outputs out``: the derivative kernel of a
``@cuda.jit`` kernel as a standalone module (it imports numba.cuda, math and numpy only).
``show --cuda`` prints the same text."""

from __future__ import annotations

from .targets import EmitError, resolve_target, set_types


def cuda_module_text(args):
    if len(args.targets) != 1:
        raise EmitError("--cuda takes one kernel (PATH.py:KERNEL)")
    if args.argnums:
        raise EmitError("--cuda takes --wrt NAMES (the arrays to differentiate with respect to), not --argnums")
    if not args.wrt or not args.outputs:
        raise EmitError("--cuda needs --wrt NAMES and --outputs NAMES: the arrays to differentiate with "
                        "respect to, and the arrays the kernel writes")
    if args.mode == "both":
        raise EmitError("--cuda writes one kernel: --mode reverse (the adjoint kernel) or --mode forward")
    target = resolve_target(args.targets[0])
    from .. import cuda
    d = (cuda.vjp_kernel if args.mode == "reverse" else cuda.jvp_kernel)(
        target.obj, args.wrt, args.outputs)
    types = set_types(target, args.types)
    return d.generate(tuple(types), standalone=True).source
