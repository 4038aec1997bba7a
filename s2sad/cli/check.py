"""``s2sad check``: the emitted module's derivatives against central finite differences
and SymPy, at points given with ``--at`` or drawn at random; a table of relative errors."""

from __future__ import annotations

import ast
import importlib.util
import os
import tempfile

import numpy as np

from ..ir.types import Array, Scalar, Tuple
from ..arguments import copy_args
from ..errors import S2SADError
from ..sweeps import columns, flat, rows
from .module import module_builder
from .targets import (
    EmitError,
    article,
    assign_items,
    check_names_known,
    parse_call_text,
    set_types,
    targets_from_args,
)

EXIT_MISMATCH = 1


def cmd_check(args):
    lo_hi = _parse_range(args.range_)
    targets = targets_from_args(args)
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
    mb = module_builder(args, targets)
    reqs = mb.requests
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
    bad = EmitError(f"--at: `{name}` is {article(t)} {t} (from {_origin_text(origin)}), "
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


def _origin_text(origin):
    return {"--types": "--types", "annotation": "its annotation", "--at": "the first --at",
            "default value": "its default value", "use": "its uses", "assumed": "the default, float64"}.get(origin,
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
        from ..check import sympy_grad
    except ImportError:
        return None
    return sympy_grad


def _shape(v):
    return np.shape(v)


def _fd_jacobians(t, args, wrt):
    from ..check.fd import numerical_jacobian
    # float32 inputs in float64: the reference is then accurate (float32 differences are not)
    args = tuple(a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == np.float32
                 else float(a) if isinstance(a, np.float32) else a for a in args)
    n_out = flat(t.obj(*copy_args(args))).size
    jac = numerical_jacobian(t.obj, copy_args(args), argnums=tuple(wrt))
    return [np.asarray(j, dtype=np.float64).reshape((n_out,) + _shape(args[k]))
            for j, k in zip(jac, wrt)]


def _forward_jacobians(r, mod, args):
    fn = getattr(mod, r.name)

    def jvp(k, e):
        tangents = [e if j == k else (np.zeros_like(args[j]) if isinstance(args[j], np.ndarray) else 0.0)
                    for j in r.wrt_sorted]
        return fn(*copy_args(args), *tangents)[1]

    jacs = [columns(lambda e, k=k: jvp(k, e), args[k]) for k in r.wrt]
    return [jac.reshape((jac.shape[0],) + _shape(args[k])) for jac, k in zip(jacs, r.wrt)]


def _reverse_jacobians(r, mod, args):
    """Rows of the Jacobian: the gradient wrapper for a scalar output, the generated
    vector-Jacobian product with unit cotangents for an array output."""
    if r.out_type is not None and isinstance(r.out_type, Scalar):
        g = getattr(mod, r.name)(*copy_args(args))
        g = (g,) if r.single else g
        return [np.asarray(x, dtype=np.float64).reshape((1,) + _shape(args[k]))
                for x, k in zip(g, r.wrt)]
    if not isinstance(r.out_type, Array):
        return None  # tuple outputs: no cotangent layout to test with
    vjp = getattr(mod, r.core)

    def sweep(ct):
        inout = [np.zeros_like(args[k]) for k in r.inout]
        return dict(zip(r.wrt_sorted, vjp(*copy_args(args), ct, *inout)[1:]))

    swept = rows(sweep, r.target.obj(*copy_args(args)))
    return [np.stack([np.asarray(b[k], dtype=np.float64).reshape(_shape(args[k])) for b in swept])
            if swept else np.zeros((0,) + _shape(args[k])) for k in r.wrt]


def _max_error(jacs, ref):
    from ..check.fd import rel_error
    return max((rel_error(a, b) for a, b in zip(jacs, ref)), default=0.0)


def _sympy_error(sympy_grad, t, args, wrt, jacs):
    """The largest error of the emitted derivatives (``jacs``, one list a mode) against
    SymPy's; None where the bridge does not apply to this function."""
    try:
        want = sympy_grad(t.pyfunc, copy_args(args), argnums=tuple(wrt))
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
