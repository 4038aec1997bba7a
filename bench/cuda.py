"""GPU benchmark of issue 11: primal vs generated adjoint vs hand-written adjoint kernels.

    python bench/cuda.py                 # on a GPU: the table and the targets
    python bench/cuda.py --check         # first tests/test_cuda.py on the GPU (NUMBA_ENABLE_CUDASIM=0),
                                         # then the benchmark; under 8 minutes on an H200
    python bench/cuda.py --sim           # tiny sizes on Numba's CUDA simulator (CI smoke test)

Run from the checkout with PYTHONPATH=. (no install needed). Everything printed also goes to
``--out`` (default ``$OUT/cuda_bench.txt`` when $OUT is set).

Rows are medians of ``--repeats`` launches of one kernel (or the kernels of one adjoint) on
arrays already on the device, each timed by CUDA events around the launch (the simulator: the
wall clock around launch + synchronize). Repeated launches reuse their arrays: an adjoint
consumes ``out_bar`` on its first launch and later launches accumulate zeros, which costs the
same (no kernel here branches on adjoint values). GB/s is the least traffic the contract
requires of each variant (every array read or written once, a tape written and read once)
divided by the median; it is a rate, not a measured count of bytes.

Problems (float64): elementwise ``sin(x)·exp(-x²)`` (n = 2²⁶); a 3-point stencil whose adjoint
collides (hand-written by atomics and by gather, n = 2²⁶); an ensemble of Lorenz-63 members
(131072 threads × 1000 explicit Euler steps, its tape in global memory, and the
``s2sad.checkpointed`` variant that recomputes instead), against JAX ``jit(vmap(grad))`` of a
``lax.scan`` and PyTorch eager when they are importable. Targets (issue 11): each generated
adjoint within 1.2× of the hand-written one; the ensemble gradient ≥ 8× faster than JAX.

The kernels are tests/cuda_cases.py's (the same the tests differentiate) and the hand-written
adjoints tests/cuda_hand.py's; without ``s2sad.cuda`` the generated rows say so.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINES = []

# Run as a script, this file's folder heads sys.path and this file would hide the `cuda` package
# (cuda-python's `cuda.bindings`, which numba.cuda looks for): drop it.
if sys.path and sys.path[0] and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)


def log(text=""):
    print(text, flush=True)
    LINES.append(text)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sim", action="store_true", help="Numba's CUDA simulator, tiny sizes")
    p.add_argument("--check", action="store_true", help="run tests/test_cuda.py on the GPU first")
    p.add_argument("--n", type=int, help="elements of the elementwise and stencil problems (2**26)")
    p.add_argument("--members", type=int, help="Lorenz ensemble members, one a thread (131072)")
    p.add_argument("--steps", type=int, help="Euler steps per member (1000)")
    p.add_argument("--repeats", type=int, help="timed launches per row (20; 3 with --sim)")
    p.add_argument("--threads", type=int, help="threads per block (256; 32 with --sim)")
    p.add_argument("--no-peers", action="store_true", help="skip JAX and PyTorch")
    p.add_argument("--out", help="also write the report here (default $OUT/cuda_bench.txt)")
    a = p.parse_args(argv)
    small = a.sim
    a.n = a.n or (128 if small else 2 ** 26)
    a.members = a.members or (64 if small else 131072)
    a.steps = a.steps or (20 if small else 1000)
    a.repeats = a.repeats or (3 if small else 20)
    a.threads = a.threads or (32 if small else 256)
    if a.out is None and os.environ.get("OUT"):
        a.out = os.path.join(os.environ["OUT"], "cuda_bench.txt")
    return a


def run_gpu_tests(out_path):
    """tests/test_cuda.py on the real GPU, in a child process (it holds no GPU memory after); its
    whole output goes to cuda_tests.txt beside the report."""
    log("== tests/test_cuda.py on the GPU (NUMBA_ENABLE_CUDASIM=0)")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    import importlib.util
    if importlib.util.find_spec("pytest") is None:
        log("  pytest is not installed here: carry it (a wheel) to run the GPU tests")
        log()
        return False
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=short", "-rfE",
           "tests/test_cuda.py"]
    try:
        p = subprocess.run(cmd, check=False, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=330)
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        rc = "timeout (330 s)"
    if out_path:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        (Path(out_path).parent / "cuda_tests.txt").write_text(out)
    lines = out.strip().splitlines()
    summary = [k for k, line in enumerate(lines) if "short test summary info" in line]
    for line in lines[summary[-1]:] if summary else lines[-40:]:
        log("  " + line)
    log(f"  exit status {rc}, {time.perf_counter() - t0:.0f} s")
    log()
    return rc == 0


# ---------------------------------------------------------------- timing


class Clock:
    def __init__(self, cuda, sim):
        self.cuda, self.sim = cuda, sim

    def median_ms(self, launch, repeats, warmup=2):
        import statistics
        cuda = self.cuda
        for _ in range(warmup):
            launch()
        cuda.synchronize()
        samples = []
        for _ in range(repeats):
            if self.sim:
                t0 = time.perf_counter()
                launch()
                cuda.synchronize()
                samples.append((time.perf_counter() - t0) * 1e3)
            else:
                start, end = cuda.event(), cuda.event()
                start.record()
                launch()
                end.record()
                end.synchronize()
                samples.append(start.elapsed_time(end))
        return statistics.median(samples)


class Table:
    def __init__(self, title):
        self.title = title
        self.rows = []  # (label, ms or None, bytes, note)

    def add(self, label, ms, nbytes=None, note=""):
        self.rows.append((label, ms, nbytes, note))
        return ms

    def print(self, primal_label, hand_label):
        ms_of = {r[0]: r[1] for r in self.rows}
        primal, hand = ms_of.get(primal_label), ms_of.get(hand_label)
        log(f"== {self.title}")
        log(f"{'variant':44s} {'median ms':>10s} {'GB/s':>8s} {'x primal':>9s} {'x hand':>8s}  note")
        for label, ms, nbytes, note in self.rows:
            if ms is None:
                log(f"{label:44s} {'-':>10s} {'-':>8s} {'-':>9s} {'-':>8s}  {note}")
                continue
            gbs = f"{nbytes / ms / 1e6:8.0f}" if nbytes else f"{'-':>8s}"
            xp = f"{ms / primal:9.2f}" if primal else f"{'-':>9s}"
            xh = f"{ms / hand:8.2f}" if hand else f"{'-':>8s}"
            log(f"{label:44s} {ms:10.3f} {gbs} {xp} {xh}  {note}")
        log()


def max_rel_err(a, b):
    import numpy as np
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ---------------------------------------------------------------- the problems


def load(sim):
    """Import numba.cuda (after NUMBA_ENABLE_CUDASIM is settled), the kernels, the hand-written
    adjoints and, when present, s2sad.cuda."""
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1" if sim else os.environ.get("NUMBA_ENABLE_CUDASIM", "0")
    import numpy as np
    if not hasattr(np, "row_stack"):  # numba-cuda 0.30.4 still calls it; NumPy 2.5 removed it
        np.row_stack = np.vstack
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests"))
    import cuda_cases  # aliases np.row_stack, then imports numba.cuda
    import cuda_hand
    from numba import cuda
    try:
        import s2sad.cuda as scuda
        why = ""
    except ImportError as e:
        scuda, why = None, f"s2sad.cuda not importable ({e})"
    return np, cuda, cuda_cases, cuda_hand, scuda, why


def make_generated(scuda, why, case, mode="vjp"):
    """(launchable or None, note)."""
    if scuda is None:
        return None, why
    make = scuda.vjp_kernel if mode == "vjp" else scuda.jvp_kernel
    try:
        return make(case.kernel, wrt=case.wrt, outputs=case.outputs), ""
    except Exception as e:  # noqa: BLE001 - reported in the table, the other rows still run
        return None, f"{type(e).__name__}: {str(e).splitlines()[0][:90]}"


def run_launch(label, fn):
    """Call fn once (compiles); None and a note if it raises."""
    try:
        fn()
        return ""
    except Exception as e:  # noqa: BLE001
        msg = f"{type(e).__name__}: {str(e).splitlines()[0][:90] if str(e) else ''}"
        log(f"  {label}: {msg}")
        return msg


def elementwise(a, np, cuda, C, H, scuda, why, clock):
    n, T = a.n, a.threads
    log(f"-- elementwise: n = {n}", )
    rng = np.random.default_rng(0)
    x = cuda.to_device(rng.standard_normal(n))
    out = cuda.device_array(n)
    x_bar = cuda.to_device(np.zeros(n))
    out_bar = cuda.to_device(np.ones(n))
    grid = (n + T - 1) // T
    case = C.CASE["sin_exp"]
    t = Table(f"elementwise sin(x)·exp(-x²), n = {n}, float64, {T} threads/block")
    t.add("primal", clock.median_ms(lambda: case.kernel[grid, T](x, out), a.repeats), 16 * n)

    gen, note = make_generated(scuda, why, case)
    checks = {}

    def fresh_adjoint(k):
        xb, ob = cuda.to_device(np.zeros(n)), cuda.to_device(np.ones(n))
        k[grid, T](x, out, xb, ob)
        return xb.copy_to_host()

    hand_result = fresh_adjoint(H.sin_exp_vjp)
    if gen is not None:
        note = run_launch("generated", lambda: checks.setdefault("gen", fresh_adjoint(gen)))
    if gen is not None and not note:
        err = max_rel_err(checks["gen"], hand_result)
        t.add("generated adjoint (s2sad.cuda.vjp_kernel)",
              clock.median_ms(lambda: gen[grid, T](x, out, x_bar, out_bar), a.repeats), 40 * n,
              f"max rel err vs hand {err:.1e}" + (" MISMATCH" if err > 1e-12 else ""))
    else:
        t.add("generated adjoint (s2sad.cuda.vjp_kernel)", None, note=note)
    t.add("hand-written adjoint", clock.median_ms(lambda: H.sin_exp_vjp[grid, T](x, out, x_bar, out_bar),
                                                  a.repeats), 40 * n)
    t.print("primal", "hand-written adjoint")
    return t


def stencil(a, np, cuda, C, H, scuda, why, clock):
    n, T = a.n, a.threads
    log(f"-- stencil: n = {n}")
    rng = np.random.default_rng(1)
    x = cuda.to_device(rng.standard_normal(n))
    w = cuda.to_device(np.array([0.7, 0.3]))
    out = cuda.to_device(np.zeros(n))
    x_bar = cuda.to_device(np.zeros(n))
    out_bar = cuda.to_device(np.ones(n))
    grid = (n + T - 1) // T
    case = C.CASE["stencil3_x"]
    t = Table(f"3-point stencil (adjoints collide), n = {n}, float64, {T} threads/block")
    t.add("primal", clock.median_ms(lambda: case.kernel[grid, T](x, w, out), a.repeats), 16 * n)

    def fresh_adjoint(k):
        xb, ob = cuda.to_device(np.zeros(n)), cuda.to_device(np.ones(n))
        k[grid, T](x, w, out, xb, ob)
        return xb.copy_to_host()

    hand = fresh_adjoint(H.stencil3_vjp_atomic)
    gather = fresh_adjoint(H.stencil3_vjp_gather)
    gen, note = make_generated(scuda, why, case)
    got = {}
    if gen is not None:
        note = run_launch("generated", lambda: got.setdefault("gen", fresh_adjoint(gen)))
    if gen is not None and not note:
        err = max_rel_err(got["gen"], hand)
        t.add("generated adjoint (s2sad.cuda.vjp_kernel)",
              clock.median_ms(lambda: gen[grid, T](x, w, out, x_bar, out_bar), a.repeats), 40 * n,
              f"max rel err vs hand {err:.1e}" + (" MISMATCH" if err > 1e-12 else ""))
    else:
        t.add("generated adjoint (s2sad.cuda.vjp_kernel)", None, note=note)
    t.add("hand-written adjoint, atomics", clock.median_ms(
        lambda: H.stencil3_vjp_atomic[grid, T](x, w, out, x_bar, out_bar), a.repeats), 40 * n)
    err = max_rel_err(gather, hand)
    t.add("hand-written adjoint, gather (2 kernels)", clock.median_ms(
        lambda: H.stencil3_vjp_gather[grid, T](x, w, out, x_bar, out_bar), a.repeats), 40 * n,
        f"max rel err vs atomics {err:.1e}" + (" MISMATCH" if err > 1e-12 else ""))
    t.print("primal", "hand-written adjoint, atomics")
    return t


def lorenz(a, np, cuda, C, H, scuda, why, clock):
    m, steps, T = a.members, a.steps, a.threads
    log(f"-- ensemble Lorenz: {m} members x {steps} steps")
    rng = np.random.default_rng(2)
    params_h = np.array([10.0, 28.0, 8.0 / 3.0])
    state0_h = np.stack([1.0 + rng.standard_normal(m), 1.0 + rng.standard_normal(m),
                         20.0 + rng.standard_normal(m)])
    dt = 0.001  # 1000 steps: one time unit, as the figures
    params, state0 = cuda.to_device(params_h), cuda.to_device(state0_h)
    out = cuda.device_array(m)
    params_bar = cuda.to_device(np.zeros(3))
    state0_bar = cuda.to_device(np.zeros((3, m)))
    out_bar = cuda.to_device(np.ones(m))
    grid = (m + T - 1) // T
    case, ck = C.CASE["lorenz_ensemble"], C.CASE["lorenz_checkpointed"]
    tape_bytes = 2 * 3 * 8 * steps * m  # written once, read once
    io_bytes = 8 * (3 * m + 6 * m + 2 * m + 6)  # state0 read, state0_bar r/w, out_bar r/w, params
    t = Table(f"ensemble Lorenz, {m} threads x {steps} Euler steps, float64, {T} threads/block "
              f"(tape {3 * 8 * steps * m / 1e9:.2f} GB)")
    t.add("primal", clock.median_ms(lambda: case.kernel[grid, T](params, state0, steps, dt, out),
                                    a.repeats), 8 * (3 * m + m))

    def fresh_adjoint(k):
        pb, sb, ob = cuda.to_device(np.zeros(3)), cuda.to_device(np.zeros((3, m))), cuda.to_device(np.ones(m))
        k[grid, T](params, state0, steps, dt, out, pb, sb, ob)
        return pb.copy_to_host(), sb.copy_to_host()

    hand = fresh_adjoint(H.lorenz_vjp)
    results = {"hand": hand}
    for label, c in (("generated adjoint, tape in global memory", case),
                     ("generated adjoint, s2sad.checkpointed", ck)):
        gen, note = make_generated(scuda, why, c)
        if gen is not None:
            note = run_launch(label, lambda gen=gen, label=label: results.setdefault(label, fresh_adjoint(gen)))
        if gen is None or note:
            t.add(label, None, note=note)
            continue
        err = max(max_rel_err(results[label][0], hand[0]), max_rel_err(results[label][1], hand[1]))
        nbytes = io_bytes + (tape_bytes if c is case else 0)
        t.add(label, clock.median_ms(
            lambda gen=gen: gen[grid, T](params, state0, steps, dt, out, params_bar, state0_bar, out_bar),
            a.repeats), nbytes, f"max rel err vs hand {err:.1e}" + (" MISMATCH" if err > 1e-9 else ""))
    t.add("hand-written adjoint, tape in global memory", clock.median_ms(
        lambda: H.lorenz_vjp[grid, T](params, state0, steps, dt, out, params_bar, state0_bar, out_bar),
        a.repeats), io_bytes + tape_bytes)
    if a.sim or a.no_peers:
        t.add("JAX jit(vmap(grad(lax.scan)))", None, note="skipped (--sim)" if a.sim else "skipped")
        t.add("PyTorch eager", None, note="skipped (--sim)" if a.sim else "skipped")
    else:
        jax_peer(a, np, t, params_h, state0_h, steps, dt, hand)
        torch_peer(a, np, t, params_h, state0_h, steps, dt, hand)
    t.print("primal", "hand-written adjoint, tape in global memory")
    return t


def jax_peer(a, np, t, params_h, state0_h, steps, dt, hand):
    label = "JAX jit(vmap(grad(lax.scan)))"
    log("   JAX ...")
    try:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave Numba its memory
        import jax
        import jax.numpy as jnp
        from jax import lax
    except ImportError:
        t.add(label, None, note="not installed")
        return
    try:
        jax.config.update("jax_enable_x64", True)

        def member_loss(params, s0):
            sigma, rho, beta = params[0], params[1], params[2]

            def step(state, _):
                x, y, z = state
                return (x + dt * sigma * (y - x), y + dt * (x * (rho - z) - y),
                        z + dt * (x * y - beta * z)), None

            (x, y, z), _ = lax.scan(step, (s0[0], s0[1], s0[2]), None, length=steps)
            return x * x + y * y + z * z

        grads = jax.jit(jax.vmap(jax.grad(member_loss, argnums=(0, 1)), in_axes=(None, 1)))
        p, s = jnp.asarray(params_h), jnp.asarray(state0_h)
        gp, gs = grads(p, s)
        gp.block_until_ready()
        err = max(max_rel_err(np.asarray(gp).sum(axis=0), hand[0]), max_rel_err(np.asarray(gs).T, hand[1]))
        samples = []
        for _ in range(max(3, a.repeats // 2)):
            t0 = time.perf_counter()
            gp, gs = grads(p, s)
            gs.block_until_ready()
            samples.append((time.perf_counter() - t0) * 1e3)
        samples.sort()
        t.add(label, samples[len(samples) // 2], None, f"{jax.devices()[0].platform}; max rel err vs hand {err:.1e}"
              + (" MISMATCH" if err > 1e-9 else ""))
    except Exception as e:  # noqa: BLE001
        t.add(label, None, note=f"{type(e).__name__}: {str(e).splitlines()[0][:80]}")


def torch_peer(a, np, t, params_h, state0_h, steps, dt, hand):
    label = "PyTorch eager"
    log("   PyTorch ...")
    try:
        import torch
    except ImportError:
        t.add(label, None, note="not installed")
        return
    try:
        dev = "cuda" if torch.cuda.is_available() else "cpu"

        def gradient():
            p = torch.tensor(params_h, dtype=torch.float64, device=dev, requires_grad=True)
            s = torch.tensor(state0_h, dtype=torch.float64, device=dev, requires_grad=True)
            x, y, z = s[0], s[1], s[2]
            for _ in range(steps):
                x, y, z = (x + dt * p[0] * (y - x), y + dt * (x * (p[1] - z) - y),
                           z + dt * (x * y - p[2] * z))
            loss = (x * x + y * y + z * z).sum()  # out_bar = ones
            gp, gs = torch.autograd.grad(loss, (p, s))
            if dev == "cuda":
                torch.cuda.synchronize()
            return gp, gs

        gp, gs = gradient()
        err = max(max_rel_err(gp.cpu().numpy(), hand[0]), max_rel_err(gs.cpu().numpy(), hand[1]))
        samples = []
        for _ in range(3):
            t0 = time.perf_counter()
            gradient()
            samples.append((time.perf_counter() - t0) * 1e3)
        samples.sort()
        t.add(label, samples[1], None, f"{dev}; max rel err vs hand {err:.1e}" + (" MISMATCH" if err > 1e-9 else ""))
    except Exception as e:  # noqa: BLE001
        t.add(label, None, note=f"{type(e).__name__}: {str(e).splitlines()[0][:80]}")


def targets(tables, sim):
    """Issue 11's targets, MET / NOT MET (NOT MEASURED where a row is missing)."""
    def ms(table, label):
        return {r[0]: r[1] for r in table.rows}.get(label)

    el, st, lo = tables
    gen = "generated adjoint (s2sad.cuda.vjp_kernel)"
    rows = [
        ("elementwise: generated <= 1.2x hand", ms(el, gen), ms(el, "hand-written adjoint"), 1.2, "le"),
        ("stencil: generated <= 1.2x hand (atomics)", ms(st, gen), ms(st, "hand-written adjoint, atomics"),
         1.2, "le"),
        ("stencil: generated <= 1.2x hand (gather; information)", ms(st, gen),
         ms(st, "hand-written adjoint, gather (2 kernels)"), 1.2, "le"),
        ("Lorenz: generated (tape) <= 1.2x hand", ms(lo, "generated adjoint, tape in global memory"),
         ms(lo, "hand-written adjoint, tape in global memory"), 1.2, "le"),
        ("Lorenz: generated (checkpointed) <= 1.2x hand (information)",
         ms(lo, "generated adjoint, s2sad.checkpointed"), ms(lo, "hand-written adjoint, tape in global memory"),
         1.2, "le"),
        ("Lorenz: generated (tape) >= 8x faster than JAX", ms(lo, "JAX jit(vmap(grad(lax.scan)))"),
         ms(lo, "generated adjoint, tape in global memory"), 8.0, "ge"),
    ]
    log("== targets (issue 11)" + (": the simulator's times mean nothing, this only exercises the code"
                                   if sim else ""))
    for label, num, den, bound, how in rows:
        if num is None or den is None:
            log(f"{label:62s} {'-':>8s}  NOT MEASURED")
            continue
        ratio = num / den
        met = ratio <= bound if how == "le" else ratio >= bound
        log(f"{label:62s} {ratio:8.2f}  {'MET' if met else 'NOT MET'}")
    log()


def main(argv=None):
    a = parse(argv)
    t0 = time.perf_counter()
    tests_ok = None
    if a.check:
        tests_ok = run_gpu_tests(a.out)
    np, cuda, C, H, scuda, why = load(a.sim)
    name = "CUDA simulator" if a.sim else cuda.get_current_device().name
    name = name.decode() if isinstance(name, bytes) else name
    log(f"== machine: {name}; "
        f"numpy {np.__version__}; repeats {a.repeats}")
    if why:
        log(f"   {why}")
    clock = Clock(cuda, a.sim)
    tables = [elementwise(a, np, cuda, C, H, scuda, why, clock), stencil(a, np, cuda, C, H, scuda, why, clock),
              lorenz(a, np, cuda, C, H, scuda, why, clock)]
    targets(tables, a.sim)
    if tests_ok is not None:
        log(f"GPU tests: {'passed' if tests_ok else 'FAILED'}")
    log(f"total {time.perf_counter() - t0:.0f} s")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text("\n".join(LINES) + "\n")
    return 0 if tests_ok in (None, True) else 1


if __name__ == "__main__":
    sys.exit(main())
