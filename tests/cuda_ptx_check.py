"""Compile every generated kernel of the CUDA corpus to PTX with the real numba-cuda (not a
pytest module: tests/test_cuda_ptx.py runs it in a subprocess with NUMBA_ENABLE_CUDASIM=0).

    NUMBA_ENABLE_CUDASIM=0 python tests/cuda_ptx_check.py [case ...]

Numba's CUDA simulator runs kernels as Python, so it accepts device code that numba-cuda's
typing rejects (a ``range`` object's ``len``, a cast numba cannot type, a tuple it cannot
unify). Compiling to PTX needs libNVVM but no GPU. Each corpus case (tests/cuda_cases.py, the kernels of tests/test_cuda_transform.py the
corpus lacks, and the review's tests/cuda_review_cases.py) is built in both modes, for its own float type and for the other one (float32 <-> float64), and
its kernel (and counting kernel, when it has one) goes through ``numba.cuda.compile_ptx`` for
compute capability 9.0. Prints one line per kernel and exits 1 if any fails; exits 3 when
libNVVM cannot be loaded (nothing was checked)."""

import os
import re
import sys
import traceback

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "0")
os.environ.pop("NUMBA_BOUNDSCHECK", None)  # numba-cuda refuses bounds checks

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cuda_cases as C  # aliases np.row_stack before numba.cuda is imported
import numpy as np

NO_NVVM = 3
CC = (9, 0)


def nvvm_missing():
    """Why libNVVM cannot compile here, or None."""
    from numba import cuda

    def probe(x):
        x[0] = 1.0

    try:
        from numba import float64
        cuda.compile_ptx(probe, (float64[:],), cc=CC)
    except Exception as e:
        text = f"{type(e).__name__}: {str(e).strip()}"
        if re.search(r"nvvm|nvrtc|DynamicLibNotFound|cannot open shared object", text, re.IGNORECASE):
            return text.splitlines()[0]  # the library is missing or cannot load: nothing to check
        raise
    return None


def retyped(args, dtype):
    """The arguments with every float array of another float type cast to ``dtype``."""
    return {k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
            for k, v in args.items()}


def argtypes(build, values):
    """numba types of the generated kernel's parameters: the values passed, then the tapes."""
    import numba
    from numba import types

    out = [numba.typeof(v) for v in values]
    out += [types.Array(numba.from_dtype(np.dtype(dt)), 2, "C") for _, dt in build.tapes]
    return tuple(out)


def compile_case(case, mode, dtype):
    """Build ``case``'s derivative kernel in ``mode`` for float type ``dtype`` and compile it
    (and its counting kernel) to PTX."""
    from numba import cuda
    from numba import types as nt

    import s2sad.cuda as scuda

    make = scuda.vjp_kernel if mode == "vjp" else scuda.jvp_kernel
    d = make(case.kernel, wrt=case.wrt, outputs=case.outputs)
    params = list(d.params)
    args = retyped(case.args(np.random.default_rng(0)), dtype)
    values = [args[p] for p in params] + [np.zeros_like(args[p]) for p in d.named]
    build = d.build(values)
    cuda.compile_ptx(build.kernel.py_func, argtypes(build, values), cc=CC)
    if build.counter is not None:
        counts = nt.Array(nt.int64, 2, "C")
        cuda.compile_ptx(build.counter.py_func, argtypes(build, values[:len(params)])[:len(params)] + (counts,),
                         cc=CC)
    return build


class _Device:
    """What numba-cuda asks of the current device when it compiles a device function called by
    a kernel: its compute capability (there is no GPU here)."""
    compute_capability = CC


def without_a_gpu():
    """Compile device functions for ``CC`` instead of asking the (absent) driver."""
    from numba.cuda import dispatcher
    dispatcher.get_current_device = _Device


def transform_cases():
    """The kernels of tests/test_cuda_transform.py that the corpus lacks: device functions whose
    adjoints record on the kernel's tape (with a for or a while loop), a device function
    returning a tuple, a checkpointed loop, data-dependent while loops, jumps, primal atomics."""
    import test_cuda_transform as T

    f = np.float64

    def case(name, kernel, args, wrt, outputs):
        return C.Case(name, kernel, lambda rng: dict(args), wrt, outputs, 1, 32)

    n = 8
    return [
        case("calls_integrate", T.calls_integrate, {"x": np.ones(n), "c": np.ones(1), "out": np.zeros(n), "n": 6},
             ("x", "c"), ("out",)),
        case("calls_settle", T.calls_settle, {"x": np.ones(n), "out": np.zeros(n)}, ("x",), ("out",)),
        case("lorenz_tuple", T.lorenz, {"u0": np.ones((n, 3)), "p": np.ones(3), "out": np.zeros((n, 3)),
                                        "nsteps": 4, "dt": 0.01}, ("u0", "p"), ("out",)),
        case("euler_checkpointed", T.euler_checkpointed, {"y0": np.ones(n), "p": np.ones(2), "out": np.zeros(n),
                                                          "nsteps": 5, "dt": 0.1}, ("y0", "p"), ("out",)),
        case("halving", T.halving, {"x": np.ones(n), "c": np.ones(1), "out": np.zeros(n)}, ("x", "c"), ("out",)),
        case("jumps", T.jumps, {"x": np.ones(n), "out": np.zeros(n), "n": 9}, ("x",), ("out",)),
        case("atomics", T.atomics, {"x": np.ones(n), "w": np.ones(n), "idx": np.zeros(n, np.int64),
                                    "total": np.zeros(1), "hist": np.zeros(5)}, ("x", "w"), ("total", "hist")),
        case("sums_then_returns", T.sums_then_returns, {"x": np.ones(n), "total": np.zeros(1), "out": np.zeros(n)},
             ("x",), ("total", "out")),
        case("grid_stride", T.grid_stride, {"x": np.ones(n), "out": np.zeros(n)}, ("x",), ("out",)),
        case("inplace_manual_index", T.inplace_manual_index, {"x": np.ones(n), "c": np.ones(1)}, ("x", "c"),
             ("x",)),
        case("logistic", T.logistic, {"y0": np.ones(n, f), "p": np.ones(1, f), "out": np.zeros(n, f),
                                      "nsteps": 5, "dt": 0.1}, ("y0", "p"), ("out",)),
    ]


def source_from_the_kernels_signature():
    """``s2sad.source(d)`` before any launch reads the signature the real dispatcher has compiled
    (its ``overloads``, keyed by numba-cuda's types; one is put there by hand, since compiling
    the primal kernel for real needs a GPU)."""
    from numba.cuda.typing.typeof import typeof

    import s2sad
    import s2sad.cuda as scuda

    case = C.CASE["step"]
    args = retyped(case.args(np.random.default_rng(0)), np.float32)
    values = [args[p] for p in ("a", "x", "y", "out")]
    key = tuple(typeof(v) for v in values)
    case.kernel.overloads[key] = None
    try:
        src = s2sad.source(scuda.vjp_kernel(case.kernel, wrt=case.wrt, outputs=case.outputs))
    finally:
        del case.kernel.overloads[key]
    assert "step(a: float32[:], x: float32[:], y: float32[:], out: float32[:])" in src, src[:800]


REFUSED = {("calls_settle", "vjp"),  # its device adjoint records an unknown number of values
           ("device_in_while", "vjp"), ("device_loop_in_data_loop", "vjp"),  # refused likewise
           ("row_view", "vjp")}  # a row view's adjoint: a local array of unknown size


def main(names):
    without_a_gpu()
    why = nvvm_missing()
    if why is not None:
        print(f"libNVVM not usable, nothing compiled: {why}")
        return NO_NVVM
    import cuda_review_cases as RC  # the adversarial review's kernels (tests/test_cuda_review.py)

    review = RC.REVIEW_CASES + [RC.MAYBE_DEVICE_IN_WHILE, RC.MAYBE_ROW_VIEW, RC.MAYBE_DEVICE_LOOP_IN_DATA_LOOP]
    cases = [c for c in C.CASES + transform_cases() + review if not names or c.name in names]
    failed = 0
    for case in cases:
        for dtype in (np.float64, np.float32):
            if dtype != case.dtype and case.name.endswith("_f32"):
                continue  # the float64 twin covers it
            for mode in ("vjp", "jvp"):
                if (case.name, mode) in REFUSED:
                    continue
                label = f"{case.name} {mode} {np.dtype(dtype).name}"
                try:
                    compile_case(case, mode, dtype)
                except Exception:  # noqa: BLE001 - every failure is reported, the others still run
                    failed += 1
                    print(f"FAIL {label}\n" + "".join("    " + ln for ln in
                                                     traceback.format_exc().splitlines(True)[-60:]))
                else:
                    print(f"ok   {label}")
    if not names:
        try:
            source_from_the_kernels_signature()
        except Exception:  # noqa: BLE001
            failed += 1
            print("FAIL s2sad.source from the kernel's compiled signature\n" + traceback.format_exc())
        else:
            print("ok   s2sad.source from the kernel's compiled signature")
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
