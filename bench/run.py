#!/usr/bin/env python
"""The s2sad benchmark suite: one table per problem, a summary of the targets, and JSON.

    python bench/run.py                       # everything (several minutes)
    python bench/run.py --quick --problems lorenz --no-peers --no-subprocess   # CI smoke
    python bench/run.py --json out.json --problems rosenbrock,gmm

Everything runs single-threaded (thread counts are set below, before numpy, Numba, JAX or
PyTorch is imported). Each time is the median of repeated samples; each sample repeats the call
until it lasts at least a few milliseconds. See bench/README.md for what each row measures.
"""

from __future__ import annotations

import os
import sys

# ---- single-threaded, before any numerical library is imported ----
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
_XLA_SINGLE = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _XLA_SINGLE).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse
import gc
import json
import math
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tune_malloc():
    """Keep freed memory in glibc's heap: no mmap per large array, no trimming back to the OS.

    Otherwise every call that allocates a large array (the 800 KB gradient of Rosenbrock, in
    every variant: Numba, s2sad, JAX, PyTorch) may pay fresh page faults, or not, depending on
    the allocator's history -- a swing of several hundred microseconds per call seen here."""
    if "--no-malloc-tuning" in sys.argv or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's maximum
        ok &= libc.mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024)
        return bool(ok)
    except OSError:
        return False


MALLOC_TUNED = _tune_malloc()
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np

DESCRIPTIONS = {
    "rosenbrock": "Extended Rosenbrock, a Python for loop over x[i], n = 100000",
    "lorenz": "Lorenz-63, explicit Euler, 1000 steps; gradient w.r.t. initial state and parameters",
    "gmm": "ADBench GMM d=10 K=25 n=1000 (gmm_d10_K25_1k), loops over points and components",
    "mlp": "MLP loss, two dense layers + tanh, vectorized numpy (batch 64, 32 -> 64 -> 8)",
}
DESCRIPTIONS.update({
    "gmm_vec": "the GMM data, vectorized NumPy (batched matmul, [:, None], axis reductions, "
               "logsumexp); not Numba-compilable as written",
    "attention": "multi-head self-attention, 128 tokens, model 64, 4 heads of 16 "
                 "((h, n, d) stacks, softmax over keepdims), mean squared error",
})
TARGET_PROBLEMS = ("rosenbrock", "lorenz", "gmm")  # the speed targets are for problems 1-3


# ================================================================= timing


def _fmt_time(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.2f} us"
    if s < 1.0:
        return f"{s * 1e3:.3f} ms"
    return f"{s:.3f} s"


def _fmt_ratio(r):
    if r is None:
        return "-"
    if r < 10:
        return f"{r:.2f}"
    if r < 1000:
        return f"{r:.1f}"
    return f"{r:.0f}"


def _fmt_bytes(b):
    if b < 1024:
        return f"{b} B"
    if b < 1024 ** 2:
        return f"{b / 1024:.1f} KiB"
    return f"{b / 1024 ** 2:.2f} MiB"


class Timer:
    """Medians over repeated samples, the variants of a problem interleaved.

    Each variant is calibrated alone: a sample repeats its call ``reps`` times, ``reps`` chosen so
    that a sample lasts at least ``min_sample_s``; a call so long that ``samples`` samples would
    pass ``budget_s`` gets fewer samples (at least 3). Then the samples are taken round-robin,
    one sample of each variant in turn, so that a change in the machine's load (other processes
    on a shared machine) shifts all the variants alike instead of skewing their ratios.
    """

    def __init__(self, samples, min_sample_s, budget_s, clock="cpu"):
        self.clock = clock
        self.samples = samples
        self.min_sample_s = min_sample_s
        self.budget_s = budget_s

    def _calibrate(self, call):
        call()  # warm-up (JIT dispatch caches, allocator)
        one = float("inf")
        for _ in range(3):  # the fastest of three calls, unless a call is long
            t0 = time.perf_counter()
            call()
            one = min(one, time.perf_counter() - t0)
            if one > 0.1:
                break
        one = max(one, 1e-9)
        reps = max(1, math.ceil(self.min_sample_s / one))
        samples = self.samples
        if one * reps * samples > self.budget_s:
            samples = max(3, int(self.budget_s / (one * reps)))
        return reps, samples

    def run_all(self, calls):
        """``calls``: {key: zero-argument callable}. Returns {key: stats or {"error": ...}}."""
        plan, out = {}, {}
        for key, call in calls.items():
            try:
                plan[key] = self._calibrate(call)
            except Exception as e:  # noqa: BLE001 - a failing variant is reported, not fatal
                out[key] = {"error": f"{type(e).__name__}: {e}"}
        times = {key: [] for key in plan}
        gc_was = gc.isenabled()
        try:
            for s in range(max((n for _, n in plan.values()), default=0)):
                for key, (reps, n) in plan.items():
                    if s >= n:
                        continue
                    call = calls[key]
                    gc.collect()
                    gc.disable()
                    c0 = time.process_time()
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        call()
                    t1 = time.perf_counter()
                    c1 = time.process_time()
                    times[key].append(((t1 - t0) / reps, (c1 - c0) / reps))
                    gc.enable()
        finally:
            if gc_was:
                gc.enable()
        for key, ts in times.items():
            wall = [w for w, _ in ts]
            cpu = [c for _, c in ts]
            main = cpu if self.clock == "cpu" else wall
            q = statistics.quantiles(main, n=4) if len(main) >= 2 else [main[0]] * 3
            out[key] = {"median_s": statistics.median(main), "min_s": min(main), "q1_s": q[0],
                        "q3_s": q[2], "samples": len(ts), "reps": plan[key][0],
                        "clock": self.clock, "median_wall_s": statistics.median(wall),
                        "median_cpu_s": statistics.median(cpu), "wall_s": wall, "cpu_s": cpu}
        return out


# ================================================================= helpers


def _flat(parts):
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts])


def _rel_err(got, ref):
    a, b = _flat(got), _flat(ref)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _hand_grads(name, res):
    # handwritten.rosenbrock_grad returns the gradient alone; the others (value, *grads)
    return (res,) if name == "rosenbrock" else tuple(res[1:])


def _n_inputs(args, wrt):
    return int(sum(np.size(args[k]) for k in wrt))


def _ieee(args):
    return tuple(np.float64(a) if type(a) is float else a for a in args)


# ================================================================= the variants


def _function_alone(name, args):
    import numba

    from bench.problems import PROBLEMS

    f = numba.njit(cache=False)(PROBLEMS[name])
    f(*args)
    return lambda: f(*args)


def _njit_caller(disp, nargs, inout):
    """A Numba function calling the generated f_vjp with out_bar = 1.0 and freshly zeroed adjoint
    arrays: the gradient as compiled code calls it, allocations made by Numba (as in the
    hand-written adjoints), no Python between."""
    import numba

    params = [f"a{i}" for i in range(nargs)]
    zeros = [f"np.zeros_like(a{k})" for k in inout]
    src = f"def caller({', '.join(params)}):\n    return f_vjp({', '.join(params + ['1.0'] + zeros)})\n"
    ns = {"f_vjp": disp, "np": np}
    exec(src, ns)  # noqa: S102 - a two-line wrapper generated just above
    return numba.njit(ns["caller"])


def _s2sad_reverse(name, args, wrt):
    """s2sad's reverse mode with jit=True, called three ways: from compiled code, the generated
    function from Python, and through grad(). Returns ({way: call}, gradients, Compiled)."""
    import s2sad
    from bench.problems import PROBLEMS

    g = s2sad.grad(PROBLEMS[name], wrt, jit=True)
    api_grads = g(*args)
    c = g._last
    disp = getattr(c.func, "dispatcher", c.func)
    inout = list(getattr(c, "inout", []) or [])
    iargs = _ieee(args)
    one = np.float64(1.0)

    # f_vjp(*args, out_bar, *adjoint arrays it accumulates into), returns (value, *adjoints)
    def raw():
        return disp(*iargs, one, *[np.zeros_like(args[k]) for k in inout])

    caller = _njit_caller(disp, len(args), inout)
    caller(*iargs)

    res = caller(*iargs)
    by_pos = dict(zip(c.wrt, res[1:]))
    grads = {"compiled": tuple(by_pos[k] for k in wrt)}
    res = raw()
    by_pos = dict(zip(c.wrt, res[1:]))
    grads["raw"] = tuple(by_pos[k] for k in wrt)
    grads["api"] = api_grads if isinstance(api_grads, tuple) else (api_grads,)
    calls = {"compiled": lambda: caller(*iargs), "raw": raw, "api": lambda: g(*args)}
    return calls, grads, c


def _rosenbrock_value_and_grad(x):
    """handwritten.rosenbrock_grad plus the value in the same loop: s2sad's gradient also
    returns the value, and its running sum is a serial chain that the gradient alone lacks."""
    n = x.shape[0]
    g = np.empty(n)
    prev = 0.0
    total = 0.0
    for i in range(n - 1):
        t = x[i + 1] - x[i] * x[i]
        u = 1.0 - x[i]
        total += 100.0 * t * t + u * u
        g[i] = prev - 400.0 * x[i] * t - 2.0 * u
        prev = 200.0 * t
    g[n - 1] = prev
    return total, g


def _s2sad_forward(name, args, wrt):
    """(one JVP sweep, full gradient through grad(mode='forward'), gradient fn) with jit=True."""
    import s2sad
    from bench.problems import PROBLEMS

    gf = s2sad.grad(PROBLEMS[name], wrt, mode="forward", jit=True)
    small_first = None
    # compile (and learn the generated function) on the benchmark argument types; a full
    # gradient at benchmark size may be far too slow, so a one-sweep call is made by hand
    c = gf.compiled(args) if hasattr(gf, "compiled") else None
    if c is None:
        raise RuntimeError("s2sad.grad(...).compiled is gone: the runner needs updating")
    disp = getattr(c.func, "dispatcher", c.func)
    iargs = _ieee(args)
    tangents = []
    first = True
    for k in c.wrt:
        a = args[k]
        if isinstance(a, np.ndarray):
            t = np.zeros_like(a)
            if first:
                t.flat[0] = 1.0
        else:
            t = np.float64(1.0 if first else 0.0)
        first = False
        tangents.append(t)

    def sweep():
        # the generated code does not write into its arguments for these problems, so no copies
        return disp(*iargs, *tangents)

    sweep()
    return sweep, (lambda: gf(*args)), gf, small_first


# ================================================================= source generation


def _gen_source(fn, args, wrt, mode):
    from s2sad.ir.types import typeof_value
    from s2sad.backend.assemble import Header, assemble
    from s2sad.compiler import Build

    types = tuple(typeof_value(a) for a in args)
    mask = [k in wrt for k in range(len(args))]
    b = Build(fn)
    if mode == "reverse":
        name = b.vjp(b.root, types, mask)
    else:
        name = b.jvp(b.root, types, mask)
    return assemble(b, Header([]), [name], jit=True)


def measure_source_generation(name, args, wrt, repeats, clock):
    from bench.problems import PROBLEMS

    out = {}
    for mode in ("reverse", "forward"):
        wall, cpu = [], []
        try:
            for _ in range(repeats):
                c0 = time.process_time()
                t0 = time.perf_counter()
                src = _gen_source(PROBLEMS[name], args, wrt, mode)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        except Exception as e:  # noqa: BLE001 - report, keep going
            out[mode] = {"error": f"{type(e).__name__}: {e}"}
            continue
        main = cpu if clock == "cpu" else wall
        out[mode] = {"median_s": statistics.median(main), "min_s": min(main), "samples": repeats,
                     "clock": clock, "median_wall_s": statistics.median(wall),
                     "median_cpu_s": statistics.median(cpu), "source_lines": src.count("\n")}
    return out


# ================================================================= per-call overhead


def measure_call_overhead(opts):
    """A tiny function's gradient called from Python: the hand-written @njit gradient, s2sad's
    grad(f, jit=True) (after its first call: a lookup and the generated @njit entry), and the
    path every call took before issue 12 (signature lookup, adjoints allocated and results
    converted in Python; still the first call's path)."""
    import s2sad
    from bench.handwritten import TINY_HAND
    from bench.problems import TINY

    timer = Timer(opts.samples, opts.min_sample_s, min(opts.budget_s, 5.0), opts.clock)
    out = {}
    for name, (fn, make) in TINY.items():
        args = make()
        hand = TINY_HAND[name]
        g = s2sad.grad(fn, jit=True)
        ref = np.asarray(hand(*args), dtype=np.float64)
        got = {"api": g(*args), "api2": g(*args), "wrapper": g._call(args)}
        errs = {k: _rel_err((v,), (ref,)) for k, v in got.items()}
        stats = timer.run_all({"hand": lambda hand=hand, args=args: hand(*args),
                               "api": lambda g=g, args=args: g(*args),
                               "wrapper": lambda g=g, args=args: g._call(args)})
        out[name] = {"max_rel_err_vs_hand": max(errs.values()), **stats}
    return out


def print_call_overhead(rec):
    print()
    print("== per-call overhead from Python (tiny functions, after the first call) ==")
    print(f"{'function':<10}{'hand @njit grad':>17}{'grad(jit) call':>16}{'x hand':>8}"
          f"{'wrapper path':>14}{'x hand':>8}  notes")
    for name, r in rec.items():
        h, a, w = (r.get(k, {}).get("median_s") for k in ("hand", "api", "wrapper"))
        note = f"MISMATCH vs hand: rel err {r['max_rel_err_vs_hand']:.1e}" \
            if r["max_rel_err_vs_hand"] > 1e-12 else ""
        print(f"{name:<10}{_fmt_time(h):>17}{_fmt_time(a):>16}{_fmt_ratio(a / h if a and h else None):>8}"
              f"{_fmt_time(w):>14}{_fmt_ratio(w / h if w and h else None):>8}  {note}")
    print("(wrapper path: the Python-side conversion every call paid before issue 12, now only "
          "the first call of a signature)")


# ================================================================= first call, in fresh processes


_PROBE = """import numba
import numpy as np


@numba.njit(cache=True)
def probe(a):
    return np.sum(a * 2.0)
"""


def _call_probe():
    """Call a trivial cached Numba function kept in the s2sad cache directory: what any cached
    Numba code costs on its first call in a process (Numba's lazy start-up + a cache load)."""
    import importlib.util

    from s2sad.backend.loader import cache_dir

    path = cache_dir() / "_bench_probe.py"
    if not path.exists():
        path.write_text(_PROBE)
    spec = importlib.util.spec_from_file_location("_bench_probe", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_bench_probe"] = mod
    spec.loader.exec_module(mod)
    t0 = time.perf_counter()
    mod.probe(np.ones(3))
    return time.perf_counter() - t0


def _child_first_call(name, probe_first):
    """Run in a fresh process: time the imports, then the first and second call of the jitted
    reverse-mode gradient. With ``probe_first``, a trivial cached Numba function is called
    first, so that the first call of the gradient no longer pays Numba's own start-up. Prints
    one JSON line."""
    t0 = time.perf_counter()
    import numba  # noqa: F401

    t1 = time.perf_counter()
    import s2sad

    t2 = time.perf_counter()
    from bench.problems import PROBLEMS, WRT, make_inputs

    args = make_inputs(name)
    out = {"import_numba_s": t1 - t0, "import_s2sad_s": t2 - t1}
    if probe_first:
        c0 = time.process_time()
        out["numba_probe_first_call_s"] = _call_probe()
        out["numba_probe_first_call_cpu_s"] = time.process_time() - c0
    from s2sad.log import COUNTS

    # the first call's clock includes making the derivative (which lowers the function unless
    # the disk cache has seen it) and the second call (which compiles or loads the @njit entry)
    c4 = time.process_time()
    t4 = time.perf_counter()
    g = s2sad.grad(PROBLEMS[name], WRT[name], jit=True)
    g.compiled(args)  # s2sad's own work: lowering and AD, or finding the module on disk
    own, own_cpu = time.perf_counter() - t4, time.process_time() - c4
    g(*args)
    t5 = time.perf_counter()
    c5 = time.process_time()
    g(*args)
    t6 = time.perf_counter()
    c6 = time.process_time()
    g(*args)
    t7 = time.perf_counter()
    if not probe_first:
        _call_probe()  # compiles and caches the probe for the next process
    out.update(first_call_s=t6 - t4, first_call_cpu_s=c6 - c4, vjp_first_call_s=t5 - t4,
               s2sad_own_s=own, s2sad_own_cpu_s=own_cpu,
               entry_first_call_s=t6 - t5, second_call_s=t7 - t6,
               generated_file=str(g._last.path), lowered=COUNTS["lowering"],
               differentiated=COUNTS["differentiating"], loaded=COUNTS["loaded"])
    print(json.dumps(out))


def _child_hand_first_call(name):
    """Run in a fresh process: the first call of bench/handwritten.py's @njit gradient, which
    is what Numba itself needs to compile the same derivative written by hand (its start-up
    included, as in s2sad's cold first call). Prints one JSON line."""
    import numba  # noqa: F401

    from bench.handwritten import HAND
    from bench.problems import make_inputs

    args = make_inputs(name)
    c0, t0 = time.process_time(), time.perf_counter()
    HAND[name](*args)
    print(json.dumps({"first_call_s": time.perf_counter() - t0,
                      "first_call_cpu_s": time.process_time() - c0}))


def _run_child(cmd, env):
    """The last JSON line a child process prints, with its wall time; or {"error": ...}."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, cwd=str(REPO))
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"error": ((p.stderr or p.stdout).strip().splitlines() or ["?"])[-1]}
    rec = json.loads(p.stdout.strip().splitlines()[-1])
    rec["process_wall_s"] = wall
    return rec


def _child_examples(names=None):
    """Run in a fresh process with empty caches: examples/demo.py --jit, one row at a time
    (an example in one mode). Each derivative's first call is timed on its own: s2sad making
    its module, then the first call of the generated @njit function (Numba's compilation of it
    and of the helpers it calls). Prints one JSON line."""
    import numba  # noqa: F401

    from s2sad import api

    firsts = []  # (module path, seconds, cpu seconds) of each derivative's first call
    build, guard = api.Transform._build, api._jit_guard

    def timed_build(self, *a, **k):
        c0, t0 = time.process_time(), time.perf_counter()
        c = build(self, *a, **k)
        c.bench_made = (time.perf_counter() - t0, time.process_time() - c0)
        return c

    def timed_guard(func, path, src, fn):
        call = guard(func, path, src, fn)
        first = []

        def timed(*a):
            if first:
                return call(*a)
            c0, t0 = time.process_time(), time.perf_counter()
            try:
                return call(*a)
            finally:
                first.append(1)
                firsts.append((str(path), time.perf_counter() - t0, time.process_time() - c0))
        timed.dispatcher = call.dispatcher
        return timed

    api.Transform._build, api._jit_guard = timed_build, timed_guard
    made = {}
    real_compiled = api.Transform.compiled_types

    def compiled_types(self, *a, **k):
        c = real_compiled(self, *a, **k)
        if hasattr(c, "bench_made"):
            made[str(c.path)] = c.bench_made
        return c

    api.Transform.compiled_types = compiled_types
    sys.path.insert(0, str(REPO / "examples"))
    import demo

    rows = []
    c_all, t_all = time.process_time(), time.perf_counter()
    for name in names or demo.EXAMPLES:
        for mode in demo.MODES:
            n0 = len(firsts)
            c0, t0 = time.process_time(), time.perf_counter()
            err, _, note = demo.run(name, mode, False, True)
            each = [{"module": Path(p).name, "s": s + made.get(p, (0.0, 0.0))[0],
                     "cpu_s": c + made.get(p, (0.0, 0.0))[1]} for p, s, c in firsts[n0:]]
            rows.append({"example": name, "mode": mode, "s": time.perf_counter() - t0,
                         "cpu_s": time.process_time() - c0, "derivatives": each,
                         "ok": err is not None and err < demo.TOLERANCE, "note": note})
    print(json.dumps({"rows": rows, "total_s": time.perf_counter() - t_all,
                      "total_cpu_s": time.process_time() - c_all}))


def measure_examples(names=None):
    """examples/demo.py --jit in a fresh process with empty caches (issue 12's "cold" demo);
    ``names``: some of the examples only."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-examples"]
    with tempfile.TemporaryDirectory(prefix="s2sad-bench-") as cache:
        return _run_child(cmd + ([",".join(names)] if names else []),
                          dict(os.environ, S2SAD_CACHE_DIR=cache, NUMBA_CACHE_DIR=cache))


def print_examples(rec, clock):
    print()
    print("== examples/demo.py --jit, a fresh process with empty caches: each row's first calls ==")
    if "error" in rec:
        print(f"ERROR {rec['error']}")
        return
    key = "cpu_s" if clock == "cpu" else "s"
    print(f"{'example':<14}{'mode':<9}{'row':>11}  each derivative's first call (making it + Numba "
          f"compiling it)")
    for r in rec["rows"]:
        each = ", ".join(f"{d['module'].split('_jit_')[0]} {_fmt_time(d[key])}" for d in r["derivatives"])
        print(f"{r['example']:<14}{r['mode']:<9}{_fmt_time(r[key]):>11}  {each or '-'}"
              f"{'' if r['ok'] else '  FAIL'}{'  ' + r['note'] if r['note'] else ''}")
    print(f"all rows: {_fmt_time(rec['total_' + key])} ({clock}), the finite-difference checks "
          f"included; the first derivative's first call includes Numba's own start-up")


def measure_first_calls(name):
    """cold: a fresh process with an empty S2SAD_CACHE_DIR. warm: another fresh process with the
    same directory, so the generated module and Numba's on-disk cache are found. warm_after_init:
    a third, where a trivial cached Numba function is called before the gradient, which splits
    the warm first call into Numba's own per-process start-up and the rest."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="s2sad-bench-") as cache:
        env = dict(os.environ, S2SAD_CACHE_DIR=cache)
        for which in ("cold", "warm", "warm_after_init"):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child-first-call", name]
            if which == "warm_after_init":
                cmd.append("--probe-first")
            out[which] = _run_child(cmd, env)
        out["cache_files"] = sorted(str(q.relative_to(cache)) for q in Path(cache).rglob("*")
                                    if q.is_file())
    from bench.handwritten import HAND
    if name in HAND:  # the floor: Numba compiling the same gradient written by hand
        with tempfile.TemporaryDirectory(prefix="s2sad-bench-") as cache:
            out["hand_cold"] = _run_child([sys.executable, str(Path(__file__).resolve()),
                                           "--child-hand-first-call", name],
                                          dict(os.environ, S2SAD_CACHE_DIR=cache, NUMBA_CACHE_DIR=cache))
    return out


# ================================================================= tape memory


TAPE_SIZES = {
    # problem: (what one loop iteration is, benchmark count, two smaller counts to trace)
    "rosenbrock": ("element x[i]", 10 ** 5 - 1, (200, 400)),
    "lorenz": ("Euler step", 1000, (500, 1000)),
    "gmm": ("data point", 1000, (2, 4)),
    "mlp": (None, None, (None,)),
}


def _tape_inputs(name, count):
    from bench.problems import make_inputs

    args = make_inputs(name)
    if name == "rosenbrock":
        return (args[0][: count + 1].copy(),)
    if name == "lorenz":
        return (args[0], args[1], count, args[3])
    if name == "gmm":
        a = list(args)
        a[3] = args[3][:count].copy()
        return tuple(a)
    return args


class _TapeTracer:
    """Line-traces the pure-Python (jit=False) generated module and keeps the high-water mark of
    the tape counters _ft+_at / _it+_ait (entries in use; a helper's VJP records on its
    caller's tapes, so the largest over the live generated frames), and of the tapes'
    allocated lengths."""

    def __init__(self, path):
        self.path = str(path)
        self.live = {}
        self.peak_used = (0, 0)
        self.peak_used_total = -1
        self.peak_alloc_bytes = 0

    def _sample(self, frame):
        loc = frame.f_locals
        # scalar tapes and array-contents tapes (ad/tape.py); a helper's VJP works on its
        # caller's tapes (its tops continue the caller's), so the deepest frame's tops count
        ft = loc.get("_ft", 0) + loc.get("_at", 0)
        it = loc.get("_it", 0) + loc.get("_ait", 0)
        tapes = {id(a): a.nbytes for a in (loc.get(t) for t in ("_ftape", "_itape", "_atape", "_aitape"))
                 if a is not None}
        self.live[id(frame)] = (int(ft), int(it), tapes)
        f_used = max(v[0] for v in self.live.values())
        i_used = max(v[1] for v in self.live.values())
        if f_used + i_used > self.peak_used_total:
            self.peak_used_total = f_used + i_used
            self.peak_used = (f_used, i_used)
        alloc = {}
        for v in self.live.values():
            alloc.update(v[2])
        self.peak_alloc_bytes = max(self.peak_alloc_bytes, sum(alloc.values()))

    def _local(self, frame, event, arg):
        if event in ("line", "return"):
            self._sample(frame)
            if event == "return":
                self.live.pop(id(frame), None)
        return self._local

    def _global(self, frame, event, arg):
        if frame.f_code.co_filename == self.path:
            return self._local
        return None

    def run(self, call):
        sys.settrace(self._global)
        try:
            call()
        finally:
            sys.settrace(None)


def measure_tape(name, wrt):
    import s2sad
    from bench.problems import PROBLEMS

    what, bench_count, counts = TAPE_SIZES[name]
    g = s2sad.grad(PROBLEMS[name], wrt)  # the pure-Python backend: its locals can be read
    runs = []
    for count in counts:
        args = _tape_inputs(name, count)
        g(*args)  # generate and import outside the trace
        tr = _TapeTracer(g._last.path)
        t0 = time.perf_counter()
        tr.run(lambda args=args: g(*args))
        runs.append({"count": count, "floats": tr.peak_used[0], "ints": tr.peak_used[1],
                     "bytes": 8 * (tr.peak_used[0] + tr.peak_used[1]),
                     "allocated_bytes": tr.peak_alloc_bytes, "trace_s": time.perf_counter() - t0})
    out = {"per": what, "traced": runs, "method": "sys.settrace over the jit=False module; "
           "max over lines of the sum of _ft/_it of live generated frames"}
    if what is None:
        r = runs[0]
        out.update(bench_floats=r["floats"], bench_ints=r["ints"], bench_bytes=r["bytes"],
                   bench_allocated_bytes=r["allocated_bytes"], extrapolated=False)
        return out
    (c1, r1), (c2, r2) = [(r["count"], r) for r in runs]
    f_per = (r2["floats"] - r1["floats"]) / (c2 - c1)
    i_per = (r2["ints"] - r1["ints"]) / (c2 - c1)
    bf = r2["floats"] + f_per * (bench_count - c2)
    bi = r2["ints"] + i_per * (bench_count - c2)
    out.update(floats_per_iter=f_per, ints_per_iter=i_per, bench_count=bench_count,
               bench_floats=round(bf), bench_ints=round(bi),
               bench_bytes=round(8 * (bf + bi)), extrapolated=c2 != bench_count)
    return out


# ================================================================= one problem


def run_vectorized(name, opts, peers_wanted):
    """A vectorized problem (bench/problems.py's VECTORIZED, issue 15): the NumPy function
    itself, s2sad's jitted gradient through the public call grad(f, jit=True)(...), its Python
    backend, JAX's jit(grad) of the same code; where the jitted gradient's time goes
    (bench/where.py). The gradients are checked against the loop GMM's hand-written adjoint on
    the same data (gmm_vec), or the Python backend's (attention)."""
    import s2sad
    from bench import where
    from bench.handwritten import HAND
    from bench.problems import VECTORIZED, WRT, make_inputs

    f, wrt = VECTORIZED[name], WRT[name]
    args = make_inputs(name)
    timer = Timer(opts.samples, opts.min_sample_s, opts.budget_s, opts.clock)
    rec = {"description": DESCRIPTIONS.get(name, name), "n_inputs": _n_inputs(args, wrt),
           "wrt": list(wrt), "clock": opts.clock, "variants": {}}
    V = rec["variants"]
    groups = {"core": {}}
    py = s2sad.grad(f, wrt)
    ref = py(*args)
    ref_label = "the s2sad Python backend"
    if name == "gmm_vec":
        loop_args = make_inputs("gmm")
        ref, ref_label = tuple(HAND["gmm"](*loop_args)[1:]), "the loop GMM's hand-written adjoint"
        V["hand"] = {"label": "hand-written loop adjoint of gmm (Numba)", "status": "measured",
                     "note": "bench/handwritten.py on the loop form, same data"}
        groups["core"]["hand"] = lambda: HAND["gmm"](*loop_args)

    def add(key, label, call, grads=None, note="", group="core"):
        V[key] = {"label": label, "status": "measured", "note": note}
        if grads is not None:
            V[key]["max_rel_err_vs_hand"] = _rel_err(grads, ref)
        groups.setdefault(group, {})[key] = call

    _progress(f"  {name}: compiling ...")
    add("function", "function itself (NumPy)", lambda: f(*args))
    g = s2sad.grad(f, wrt, jit=True)
    t0 = time.perf_counter()
    got = g(*args)
    compile_s = time.perf_counter() - t0
    add("s2sad_reverse_api", "s2sad grad(f, jit=True)(...)", lambda: g(*args), got,
        note=f"first call (generation + Numba compilation) {compile_s:.1f} s; checked against "
             f"{ref_label}")
    add("s2sad_python", "s2sad grad(f) (Python backend)", lambda: py(*args),
        py(*args) if name == "gmm_vec" else None, group="python")
    for tool in peers_wanted:
        from bench import peers
        try:
            forms = peers.make_peer(tool, name, args, wrt)
        except peers.PeerSkipped as e:
            V[tool] = {"label": peers.LABELS[tool], "status": "skipped", "note": str(e)}
            continue
        except Exception as e:  # noqa: BLE001
            V[tool] = {"label": peers.LABELS[tool], "status": "failed", "note": f"{type(e).__name__}: {e}"}
            continue
        for form in forms:
            add(tool, f"{peers.LABELS[tool]} [{form.label}]", form.call, form.grad(),
                note=f"trace+compile {form.setup_s:.2f} s" if form.setup_s is not None else "", group=tool)
    for gname, calls in groups.items():
        _progress(f"  {name}: timing {', '.join(V[k]['label'] for k in calls)} ...")
        for key, stats in timer.run_all(calls).items():
            V[key]["timing_group"] = gname
            V[key].update(stats) if "error" not in stats else V[key].update(status="failed", note=stats["error"])
    base_t, hand_t = V["function"].get("median_s"), V.get("hand", {}).get("median_s")
    for v in V.values():
        t = v.get("median_s")
        if t is not None:
            v["x_function"] = t / base_t if base_t else None
            v["x_hand"] = t / hand_t if hand_t else None
    if opts.no_where:
        return rec
    _progress(f"  {name}: where the time goes ...")
    try:
        rec["where"] = where.profile(g, args, repeats=5 if opts.quick else 30)
    except Exception as e:  # noqa: BLE001
        rec["where"] = {"error": f"{type(e).__name__}: {e}"}
    return rec


def run_problem(name, opts, peers_wanted):
    from bench.handwritten import HAND
    from bench.problems import VECTORIZED, WRT, make_inputs

    if name in VECTORIZED:
        return run_vectorized(name, opts, peers_wanted)

    wrt = WRT[name]
    args = make_inputs(name)
    n_in = _n_inputs(args, wrt)
    timer = Timer(opts.samples, opts.min_sample_s, opts.budget_s, opts.clock)
    rec = {"description": DESCRIPTIONS.get(name, name), "n_inputs": n_in, "wrt": list(wrt),
           "clock": opts.clock, "variants": {}}
    V = rec["variants"]
    groups = {"core": {}}  # timed group by group, interleaved within a group
    group = "core"

    # the hand-written adjoint is the reference every gradient is checked against
    hand = HAND[name]
    ref = _hand_grads(name, hand(*args))

    def add(key, label, call, grads=None, note=""):
        V[key] = {"label": label, "status": "measured", "note": note}
        if grads is not None:
            V[key]["max_rel_err_vs_hand"] = _rel_err(grads, ref)
        groups.setdefault(group, {})[key] = call

    def fail(key, label, e, status="failed"):
        V[key] = {"label": label, "status": status,
                  "note": e if isinstance(e, str) else f"{type(e).__name__}: {e}"}
        _progress(f"  {name}: {label}: {V[key]['note']}")

    _progress(f"  {name}: compiling ...")
    add("function", "function alone (Numba)", _function_alone(name, args))

    try:
        rcalls, rgrads, comp = _s2sad_reverse(name, args, wrt)
        add("s2sad_reverse", "s2sad reverse (jit)", rcalls["compiled"], rgrads["compiled"],
            note="f_vjp called from a Numba function that allocates the zeroed adjoints")
        add("s2sad_reverse_raw", "  same, f_vjp called from Python", rcalls["raw"], rgrads["raw"],
            note="adjoint arrays zeroed by numpy in Python, Numba dispatch")
        add("s2sad_reverse_api", "  same, through grad()", rcalls["api"], rgrads["api"],
            note="the public call: a lookup, then the generated @njit entry")
        rec["generated_source"] = comp.source
        rec["generated_file"] = str(comp.path)
    except Exception as e:  # noqa: BLE001
        fail("s2sad_reverse", "s2sad reverse (jit)", e)

    forward_estimate = False
    try:
        sweep, full, gf, _ = _s2sad_forward(name, args, wrt)
        add("s2sad_forward_sweep", "s2sad forward (jit), one JVP sweep", sweep,
            note=f"a full gradient needs {n_in} sweeps")
        if n_in <= opts.forward_limit:
            fg = gf(*args)
            group = "forward"  # a Python loop over sweeps: kept apart from the compiled calls
            add("s2sad_forward", f"s2sad forward (jit), full gradient ({n_in} sweeps)", full,
                fg if isinstance(fg, tuple) else (fg,), note="through grad(mode='forward')")
        else:
            forward_estimate = True
        group = "core"
    except Exception as e:  # noqa: BLE001
        fail("s2sad_forward", "s2sad forward (jit)", e)

    add("hand", "hand-written adjoint (Numba)", lambda: hand(*args), ref,
        note="gradient only, no value" if name == "rosenbrock" else "")
    if name == "rosenbrock":
        import numba
        vg = numba.njit(_rosenbrock_value_and_grad)
        add("hand_value", "  hand-written, value + gradient (Numba)", lambda: vg(*args),
            (vg(*args)[1],), note="bench/run.py: one loop computing both, as s2sad does")

    for tool in peers_wanted:
        from bench import peers
        group = tool
        base = peers.LABELS[tool]
        try:
            _progress(f"  {name}: setting up {base} ...")
            forms = peers.make_peer(tool, name, args, wrt)
        except peers.PeerSkipped as e:
            fail(tool, base, str(e), status="skipped")
            continue
        except Exception as e:  # noqa: BLE001
            fail(tool, base, e)
            continue
        for form in forms:
            key = tool if len(forms) == 1 else f"{tool}:{form.label}"
            label = base if len(forms) == 1 else f"{base} [{form.label}]"
            note = "; ".join(x for x in (form.note, f"trace+compile {form.setup_s:.2f} s"
                                         if form.setup_s is not None else "") if x)
            try:
                add(key, label, form.call, form.grad(), note=note)
            except Exception as e:  # noqa: BLE001
                fail(key, label, e)

    # The groups are timed one after the other: right after a sample of a Python-heavy peer
    # (PyTorch eager, autograd) the compiled variants ran up to 1.6x slower in a test here,
    # so interleaving them would bias the ratios that the targets are about.
    for gname, calls in groups.items():
        _progress(f"  {name}: timing {', '.join(V[k]['label'].strip() for k in calls)} ...")
        for key, stats in timer.run_all(calls).items():
            V[key]["timing_group"] = gname
            if "error" in stats:
                V[key].update(status="failed", note=stats["error"])
            else:
                V[key].update(stats)
    if forward_estimate and "median_s" in V.get("s2sad_forward_sweep", {}):
        V["s2sad_forward"] = {
            "label": f"s2sad forward (jit), full gradient ({n_in} sweeps)", "status": "estimate",
            "median_s": V["s2sad_forward_sweep"]["median_s"] * n_in,
            "note": f"NOT RUN: one sweep x {n_in} (more inputs than --forward-limit "
                    f"{opts.forward_limit})"}

    # ratios
    base_t = V.get("function", {}).get("median_s")
    hand_t = V.get("hand", {}).get("median_s")
    for v in V.values():
        t = v.get("median_s")
        if t is not None:
            v["x_function"] = t / base_t if base_t else None
            v["x_hand"] = t / hand_t if hand_t else None

    if opts.source_gen:
        rec["source_generation"] = measure_source_generation(name, args, wrt, opts.gen_repeats, opts.clock)
    if opts.subprocess:
        _progress(f"  {name}: first calls in fresh processes ...")
        rec["first_call"] = measure_first_calls(name)
    if opts.tape:
        _progress(f"  {name}: tracing the tape ...")
        try:
            rec["tape"] = measure_tape(name, wrt)
        except Exception as e:  # noqa: BLE001
            rec["tape"] = {"error": f"{type(e).__name__}: {e}"}
    return rec


# ================================================================= report


def _progress(msg):
    print(msg, file=sys.stderr, flush=True)


def _fc(rec, key, clock):
    """A first-call time in the chosen clock."""
    return rec.get(f"{key}_cpu_s" if clock == "cpu" else f"{key}_s")


def print_problem(name, rec):
    head = f"== {name}: {rec['description']} ({rec['n_inputs']} inputs) =="
    print()
    print(head)
    w = max([len(v["label"]) for v in rec["variants"].values()] + [20]) + 2
    clock = next((v["clock"] for v in rec["variants"].values() if "clock" in v), "cpu")
    other = "wall" if clock == "cpu" else "cpu"
    print(f"{'variant':<{w}}{'median ' + clock:>13}{'x function':>12}{'x hand':>10}"
          f"{'(' + other + ')':>13}  notes")
    print("-" * (w + 48 + 20))
    order = ("function", "s2sad_reverse", "s2sad_reverse_raw", "s2sad_reverse_api", "s2sad_forward",
             "s2sad_forward_sweep", "hand", "hand_value")
    keys = sorted(rec["variants"], key=lambda k: order.index(k) if k in order else len(order))
    for v in (rec["variants"][k] for k in keys):
        t = v.get("median_s")
        xf = v.get("x_function")
        xh = v.get("x_hand")
        notes = []
        if v["status"] == "estimate":
            notes.append("ESTIMATE")
        if v["status"] in ("skipped", "failed"):
            notes.append(v["status"].upper())
        if v.get("note"):
            notes.append(v["note"])
        err = v.get("max_rel_err_vs_hand")
        if err is not None and err > 1e-8:
            notes.append(f"MISMATCH vs hand: rel err {err:.1e}")
        if "samples" in v:
            notes.append(f"{v['samples']}x{v['reps']}")
        shown = ("~" if v["status"] == "estimate" else "") + _fmt_time(t)
        alt = _fmt_time(v.get(f"median_{other}_s")) if f"median_{other}_s" in v else "-"
        print(f"{v['label']:<{w}}{shown:>13}{_fmt_ratio(xf):>12}{_fmt_ratio(xh):>10}"
              f"{'(' + alt + ')':>13}  {'; '.join(notes)}")
    sg = rec.get("source_generation")
    if sg:
        parts = [f"{m} {_fmt_time(s['median_s'])} ({s['source_lines']} lines)" if "median_s" in s
                 else f"{m} ERROR {s.get('error')}" for m, s in sg.items()]
        print(f"source generation (no compilation): {', '.join(parts)}")
    fc = rec.get("first_call")
    if fc:
        cold, warm = fc.get("cold", {}), fc.get("warm", {})
        after = fc.get("warm_after_init", {})
        clock = rec.get("clock", "cpu")
        if "first_call_s" in cold and "first_call_s" in warm:
            imp = warm["import_numba_s"] + warm["import_s2sad_s"]
            line = (f"first call ({clock}), fresh process, empty cache: "
                    f"{_fmt_time(_fc(cold, 'first_call', clock))} (generation + Numba "
                    f"compilation); warm cache, 2nd process: "
                    f"{_fmt_time(_fc(warm, 'first_call', clock))}")
            if "first_call_s" in after:
                line += (f" (a 3rd process: Numba's own start-up, the first call of any cached "
                         f"njit function, {_fmt_time(_fc(after, 'numba_probe_first_call', clock))};"
                         f" then the gradient's first call "
                         f"{_fmt_time(_fc(after, 'first_call', clock))})")
            if "lowered" in warm:
                line += (f"; the 2nd process lowered {warm['lowered']} and differentiated "
                         f"{warm['differentiated']} function(s), loaded {warm['loaded']} module(s), "
                         f"s2sad's own time {_fmt_time(_fc(warm, 's2sad_own', clock))} (cold: "
                         f"{_fmt_time(_fc(cold, 's2sad_own', clock))})")
            hand = fc.get("hand_cold", {})
            if "first_call_s" in hand:
                c, h = _fc(cold, "first_call", clock), _fc(hand, "first_call", clock)
                line += (f"; the hand-written @njit gradient's first call in a fresh process (Numba "
                         f"alone, its start-up included): {_fmt_time(h)}, s2sad cold {c / h:.2f}x that")
            print(line + f"; import numba + s2sad {_fmt_time(imp)} (wall) not counted "
                  "(a first call here: making the derivative, its first call and the entry's)")
        else:
            print(f"first call: ERROR {cold.get('error') or warm.get('error')}")
    if rec.get("where"):
        from bench import where
        where.print_profile(rec["where"])
    tp = rec.get("tape")
    if tp:
        if "error" in tp:
            print(f"peak tape: ERROR {tp['error']}")
        else:
            line = (f"peak tape: {tp['bench_floats']} floats + {tp['bench_ints']} ints = "
                    f"{_fmt_bytes(tp['bench_bytes'])}")
            if tp.get("per"):
                line += (f"; per {tp['per']}: {tp['floats_per_iter']:.2f} floats + "
                         f"{tp['ints_per_iter']:.2f} ints")
                if tp.get("extrapolated"):
                    counts = ", ".join(str(r["count"]) for r in tp["traced"])
                    line += f" (traced at {counts}, extrapolated to {tp['bench_count']})"
            print(line)


def evaluate_targets(results, overhead=None, examples=None, clock="cpu"):
    out = []

    def target(what, problem, value, limit, unit=""):
        met = None if value is None else value <= limit
        out.append({"target": what, "problem": problem, "value": value, "limit": limit,
                    "unit": unit, "met": met})

    for name in ("gmm_vec", "attention"):
        V = results.get(name, {}).get("variants", {})
        ours = V.get("s2sad_reverse_api", {}).get("median_s")
        jax_t = [v["median_s"] for k, v in V.items() if k.startswith("jax") and "median_s" in v]
        target("grad(jit) within 1.5x of JAX jit(grad), same code", name,
               ours / min(jax_t) if ours and jax_t else None, 1.5, "x JAX")
    for name in TARGET_PROBLEMS:
        rec = results.get(name)
        if rec is None:
            continue
        V = rec["variants"]
        rev = V.get("s2sad_reverse", {})
        target("s2sad reverse <= 3x function alone", name, rev.get("x_function"), 3.0, "x")
        target("s2sad reverse <= 1.5x hand-written", name, rev.get("x_hand"), 1.5, "x")
        jax_t = [v["median_s"] for k, v in V.items() if k.startswith("jax") and "median_s" in v]
        if rev.get("median_s") is not None and jax_t:
            target("s2sad reverse faster than JAX jit(grad) (best form)", name,
                   rev["median_s"] / min(jax_t), 1.0, "x JAX")
        else:
            target("s2sad reverse faster than JAX jit(grad) (best form)", name, None, 1.0, "x JAX")
    for name, rec in results.items():
        if not isinstance(rec, dict) or "variants" not in rec:
            continue
        V = rec["variants"]
        api, comp = V.get("s2sad_reverse_api", {}), V.get("s2sad_reverse", {})
        if "median_s" in api and "median_s" in comp:
            target("through grad() within 10% of called from Numba", name,
                   api["median_s"] / comp["median_s"], 1.10, "x")
    for name, rec in (overhead or {}).items():
        h, a = rec.get("hand", {}).get("median_s"), rec.get("api", {}).get("median_s")
        target("tiny grad(jit) call <= 3x hand-written @njit call", name,
               a / h if a and h else None, 3.0, "x")
    for name, rec in results.items():
        sg = rec.get("source_generation", {}).get("reverse", {})
        if sg:
            target("derivative source generation < 100 ms", name, sg.get("median_s"), 0.1, "s")
        fc = rec.get("first_call", {}).get("warm", {})
        if fc:
            target("second-process first call < 0.5 s (warm cache)", name,
                   _fc(fc, "first_call", rec.get("clock", "cpu")), 0.5, "s")
        cold = rec.get("first_call", {}).get("cold", {})
        if cold:
            target("cold first call <= 2 s", name,
                   _fc(cold, "first_call", rec.get("clock", "cpu")), 2.0, "s")
        if "s2sad_own_s" in fc:
            target("s2sad's own time, warm 2nd process <= 50 ms", name,
                   _fc(fc, "s2sad_own", rec.get("clock", "cpu")), 0.05, "s")
        after = rec.get("first_call", {}).get("warm_after_init", {})
        if after:
            target("warm 1st call after Numba's start-up <= 50 ms", name,
                   _fc(after, "first_call", rec.get("clock", "cpu")), 0.05, "s")
    for name, rec in results.items():
        fc = rec.get("first_call", {})
        cold, hand = fc.get("cold", {}), fc.get("hand_cold", {})
        if "first_call_s" in cold and "first_call_s" in hand:
            target("cold first call <= 1.5x the hand-written @njit's", name,
                   _fc(cold, "first_call", clock) / _fc(hand, "first_call", clock), 1.5, "x")
    if examples and "rows" in examples:
        key = "cpu_s" if clock == "cpu" else "s"
        for r in examples["rows"]:
            for d in r["derivatives"]:
                target("cold first call <= 2 s per derivative of the examples",
                       f"{d['module'].split('_jit_')[0]}/{r['mode'][:3]}", d[key], 2.0, "s")
        target("examples/demo.py --jit cold <= 10 s", "demo", examples["total_" + key], 10.0, "s")
    tp = results.get("lorenz", {}).get("tape")
    if tp and "floats_per_iter" in tp:
        target("Lorenz tape <= 3 floats per step", "lorenz",
               tp["floats_per_iter"] + tp["ints_per_iter"], 3.0, "entries/step")
    return out


def print_targets(targets):
    print()
    print("== targets (issues 4, 12 and 15) ==")
    for t in targets:
        v = t["value"]
        if v is None:
            status, val = "NOT MEASURED", "-"
        else:
            status = "MET" if t["met"] else "NOT MET"
            val = _fmt_time(v) if t["unit"] == "s" else f"{v:.2f} {t['unit']}"
        lim = _fmt_time(t["limit"]) if t["unit"] == "s" else f"{t['limit']:g} {t['unit']}"
        print(f"{status:<13}{t['target']:<55}{t['problem']:<17}{val:>14}  (limit {lim})")


def machine_info():
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor(), "cpu_count": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    import numba

    import s2sad
    info["malloc_tuned"] = MALLOC_TUNED
    try:
        info["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    info["numpy"] = np.__version__
    info["numba"] = numba.__version__
    info["s2sad"] = getattr(s2sad, "__version__", "?")
    info["threads"] = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                                      "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                      "XLA_FLAGS")}
    return info


# ================================================================= main


def parse(argv):
    from bench.problems import PROBLEMS as LOOPS, VECTORIZED

    PROBLEMS = [*LOOPS, *VECTORIZED]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problems", default=",".join(PROBLEMS),
                   help="comma-separated subset of: " + ", ".join(PROBLEMS))
    p.add_argument("--quick", action="store_true", help="few short samples (CI smoke test)")
    p.add_argument("--no-peers", action="store_true", help="skip JAX, PyTorch, autograd")
    p.add_argument("--no-where", action="store_true",
                   help="skip where the vectorized problems' time goes (it compiles the derivative "
                        "again with a clock read at each line: slow on a cold cache)")
    p.add_argument("--peers", default="jax,torch,autograd",
                   help="comma-separated peers to try")
    p.add_argument("--no-subprocess", action="store_true",
                   help="skip the first-call measurements in fresh processes")
    p.add_argument("--no-examples", action="store_true",
                   help="skip examples/demo.py --jit in a fresh process with empty caches")
    p.add_argument("--no-tape", action="store_true", help="skip the tape high-water trace")
    p.add_argument("--no-overhead", action="store_true",
                   help="skip the per-call overhead of tiny functions' gradients")
    p.add_argument("--no-source-gen", action="store_true", help="skip timing source generation")
    p.add_argument("--samples", type=int, default=None, help="samples per variant (default 15)")
    p.add_argument("--forward-limit", type=int, default=3000,
                   help="run the forward-mode full gradient only up to this many inputs; "
                        "beyond, report one sweep x n as an estimate")
    p.add_argument("--json", default=str(REPO / "bench" / "results.json"), help="JSON output path")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="what the medians are of: the process's CPU time (default; steady on a "
                        "shared machine) or wall-clock time; both are kept in the JSON")
    p.add_argument("--no-malloc-tuning", action="store_true",
                   help="leave glibc malloc's mmap/trim thresholds at their defaults")
    p.add_argument("--plot", metavar="OUT.png",
                   help="draw the time ratios (against the function, the hand-written adjoint, "
                        "each peer) into OUT.png with matplotlib (bench/plot.py)")
    p.add_argument("--child-first-call", metavar="PROBLEM", help=argparse.SUPPRESS)
    opts = p.parse_args(argv)
    opts.problems = [s.strip() for s in opts.problems.split(",") if s.strip()]
    unknown = [s for s in opts.problems if s not in PROBLEMS]
    if unknown:
        p.error(f"unknown problem(s) {unknown}; known: {', '.join(PROBLEMS)}")
    opts.samples = opts.samples or (3 if opts.quick else 15)
    opts.min_sample_s = 0.002 if opts.quick else 0.02
    opts.budget_s = 2.0 if opts.quick else 30.0
    opts.gen_repeats = 3 if opts.quick else 7
    opts.subprocess = not opts.no_subprocess
    opts.tape = not opts.no_tape
    opts.examples = opts.subprocess and not opts.no_examples
    opts.overhead = not opts.no_overhead
    opts.source_gen = not opts.no_source_gen
    return opts


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--child-first-call" in argv:
        _child_first_call(argv[argv.index("--child-first-call") + 1], "--probe-first" in argv)
        return 0
    if "--child-examples" in argv:
        rest = argv[argv.index("--child-examples") + 1:]
        _child_examples(rest[0].split(",") if rest and not rest[0].startswith("-") else None)
        return 0
    if "--child-hand-first-call" in argv:
        _child_hand_first_call(argv[argv.index("--child-hand-first-call") + 1])
        return 0
    opts = parse(argv)
    peers_wanted = [] if opts.no_peers else [s.strip() for s in opts.peers.split(",") if s.strip()]
    t_start = time.perf_counter()
    machine = machine_info()
    if peers_wanted:
        from bench import peers
        machine["peers"] = peers.versions()
    results = {}
    for name in opts.problems:
        _progress(f"{name} ...")
        results[name] = run_problem(name, opts, peers_wanted)
    overhead = None
    if opts.overhead:
        _progress("per-call overhead ...")
        overhead = measure_call_overhead(opts)
    examples = None
    if opts.examples:
        _progress("examples/demo.py --jit in a fresh process ...")
        examples = measure_examples()
    targets = evaluate_targets(results, overhead, examples, opts.clock)

    print(f"s2sad benchmark: {machine.get('cpu_model', machine['processor'])}, "
          f"{machine['cpu_count']} CPUs, single-threaded; Python {machine['python']}, "
          f"numpy {machine['numpy']}, Numba {machine['numba']}"
          + (", " + ", ".join(f"{k} {v or 'not installed'}" for k, v in machine["peers"].items())
             if "peers" in machine else ""))
    clock = ("CPU time of the process" if opts.clock == "cpu" else "wall-clock time")
    print(f"medians of {opts.samples} samples of {clock} (each sample >= "
          f"{opts.min_sample_s * 1e3:g} ms, fewer samples for long calls); x function / x hand = "
          f"time / time of that row")
    load = machine.get("load_average_at_start")
    if load and load[0] > 0.5:
        print(f"note: load average {load[0]:.1f} at start on {machine['cpu_count']} CPUs: other "
              f"processes were running; see bench/README.md on measuring on a shared machine")
    for name, rec in results.items():
        print_problem(name, rec)
    if overhead:
        print_call_overhead(overhead)
    if examples:
        print_examples(examples, opts.clock)
    print_targets(targets)

    out = {"machine": machine, "options": {k: getattr(opts, k) for k in (
        "problems", "quick", "samples", "min_sample_s", "budget_s", "forward_limit", "clock")},
        "peers": peers_wanted, "problems": results, "call_overhead": overhead, "examples": examples,
        "targets": targets,
        "elapsed_s": time.perf_counter() - t_start}
    Path(opts.json).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.json).write_text(json.dumps(out, indent=1, default=str))
    print(f"\nJSON: {opts.json}  ({time.perf_counter() - t_start:.0f} s in all)")
    if opts.plot:
        from bench.plot import plot
        if plot(results, opts.plot):
            print(f"picture: {opts.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
