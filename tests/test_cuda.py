"""Tangent and adjoint `@cuda.jit` kernels (issue 11), judged against the primal kernel itself.

Runs on Numba's CUDA simulator (tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1 unless it is set
already; tiny grids, at most 64 threads) and unchanged on a real GPU (``bench/cuda.py --check``
runs it there with NUMBA_ENABLE_CUDASIM=0).

The reference is the map F: (every wrt ∪ outputs array before the launch) → (the same arrays
after it), all other arguments fixed. Under the issue's shadow-memory semantics a tangent kernel
turns the ``_dot`` arrays from v into J·v and an adjoint kernel turns the ``_bar`` arrays from ȳ
into Jᵀ·ȳ, where J is F's Jacobian: an input-only array maps to itself (its adjoint accumulates),
an overwritten element's old value does not matter (its adjoint is consumed), ``out[k] += ...``
passes its adjoint through, an in-place update leaves dL/d(old x). So one reference serves every
case: central finite differences of F in float64 (the primal kernel launched at x ± h·v on copies;
float32 cases launch the same kernel on float64 copies), along random directions v, and along unit
directions at a few indices of every array for the adjoint. A finite difference that changes with
h (a branch or a trip count crossed) fails the test as a harness problem, never passes silently.

(a) jvp and vjp against those finite differences, (b) ⟨ȳ, J·v⟩ = ⟨Jᵀ·ȳ, v⟩ between the two
modes, (c) every refusal of tests/cuda_cases.py raises s2sad's error at the user's ``# ERR`` line
before anything is launched, (d) ``s2sad.source`` shows the kernel, with a plain ``+=`` at a
thread's own index and ``cuda.atomic.add`` where threads collide, (e) launches on a stream and
repeated launches (the tape allocated once).

The harness itself is validated on the hand-written kernels of tests/cuda_hand.py: it passes
them and fails each deliberately wrong one. What it cannot see: a missing atomic (the simulator
runs threads as Python threads and rarely interleaves a read-modify-write; a small GPU grid in
lockstep rarely does either), which is why (d) checks the generated source for the atomics.

Tests that need the transform skip (``pytest.importorskip("s2sad.cuda")``) until it exists.
"""

import inspect
import linecache
import os
import re
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cuda_cases as C  # aliases np.row_stack before numba.cuda is imported
import cuda_hand as H
import cuda_races as R
from numba import cuda

from s2sad.errors import InternalError, S2SADError

try:  # the GPU machine may lack hypothesis: only the property test needs it
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

H_STEP = 1e-6
N_DIRECTIONS = 2
N_UNIT_INDICES = 3  # per array, besides the first and the last element


# ---------------------------------------------------------------- the harness


def params_of(kernel):
    return list(inspect.signature(kernel.py_func).parameters)


def active_names(case):
    """The shadowed arrays: wrt ∪ outputs, in the kernel's parameter order."""
    return [p for p in params_of(case.kernel) if p in case.wrt or p in case.outputs]


def tolerances(case):
    """(jvp/vjp vs finite differences, jvp vs vjp), relative."""
    if case.dtype == np.float32:
        return 2e-3, 1e-4
    return 1e-6, 1e-10


def make_args(case, seed, override=None):
    args = case.args(np.random.default_rng(seed))
    args.update(override or {})
    assert set(args) == set(params_of(case.kernel)), f"{case.name}: arguments {sorted(args)}"
    return args


def _copy(value, dtype=None):
    if isinstance(value, np.ndarray):
        if dtype is not None and value.dtype.kind == "f":
            return value.astype(dtype)
        return value.copy()
    return value


def primal_map(case, args, before):
    """F: launch the reference kernel in float64 on copies of ``args`` whose active arrays are
    ``before``; return the active arrays after the launch."""
    a = {k: _copy(v, np.float64) for k, v in args.items()}
    for name, value in before.items():
        a[name] = np.array(value, dtype=np.float64)
    case.reference[case.griddim, case.blockdim](*[a[p] for p in params_of(case.reference)])
    return {name: a[name] for name in before}


_FD_CACHE = {}


def fd_jvp(case, args, direction, key=None, doubled=True):
    """Central differences of F along ``direction`` (float64), checked against the step doubled
    (``doubled``): a derivative that moves with h (a branch or a trip count crossed) is an error
    of the harness. The unit directions skip that check: the random ones, which move every
    element at once, have made it."""
    if key is not None and (case.name, key) in _FD_CACHE:
        return _FD_CACHE[case.name, key]
    x = {n: args[n].astype(np.float64) for n in direction}
    direction = {n: d.astype(np.float64) for n, d in direction.items()}  # h·v in float64, not float32
    result = []
    for h in (H_STEP, 2 * H_STEP) if doubled else (H_STEP,):
        plus = primal_map(case, args, {n: x[n] + h * direction[n] for n in x})
        minus = primal_map(case, args, {n: x[n] - h * direction[n] for n in x})
        result.append({n: (plus[n] - minus[n]) / (2 * h) for n in x})
    scale = max(1.0, max(np.max(np.abs(r)) for r in result[0].values()))
    drift = max(np.max(np.abs(result[0][n] - result[-1][n])) for n in x) / scale
    if drift > 1e-6:
        pytest.fail(f"{case.name}: finite differences unstable (relative change {drift:.1e} when h "
                    "doubles): the inputs sit on a branch or trip-count boundary; change the case")
    if key is not None:
        _FD_CACHE[case.name, key] = result[0]
    return result[0]


def random_direction(case, args, rng):
    return {n: rng.standard_normal(args[n].shape).astype(case.dtype) for n in active_names(case)}


def launch_with_shadows(case, launchable, args, shadows, stream=None):
    """Launch a generated (or hand-written) kernel on copies; return the shadow arrays after."""
    a = {k: _copy(v) for k, v in args.items()}
    s = {n: np.array(v, dtype=args[n].dtype) for n, v in shadows.items()}
    config = (case.griddim, case.blockdim) if stream is None else (case.griddim, case.blockdim, stream)
    launchable[config](*[a[p] for p in params_of(case.kernel)], *[s[n] for n in active_names(case)])
    return s


def _dot(u, v):
    return sum(float(np.sum(u[n].astype(np.float64) * v[n].astype(np.float64))) for n in u)


def _abs_dot(u, v):
    return sum(float(np.sum(np.abs(u[n].astype(np.float64) * v[n].astype(np.float64)))) for n in u)


def check_jvp(case, jvp, seed=0, override=None):
    """The tangent kernel's outputs, every array, every element, against finite differences."""
    args = make_args(case, seed, override)
    rtol, _ = tolerances(case)
    rng = np.random.default_rng(seed + 1000)
    for k in range(N_DIRECTIONS):
        v = random_direction(case, args, rng)
        got = launch_with_shadows(case, jvp, args, v)
        ref = fd_jvp(case, args, v, key=("dir", seed, k, repr(override)))
        for n in ref:  # each array against its own magnitude
            scale = max(1.0, float(np.max(np.abs(ref[n]))))
            err = np.abs(got[n].astype(np.float64) - ref[n])
            worst = np.unravel_index(np.argmax(err), err.shape)
            assert err[worst] <= rtol * scale, (
                f"{case.name} jvp: {n}_dot{[int(i) for i in worst]} = {float(got[n][worst])!r}, "
                f"finite differences {float(ref[n][worst])!r} (direction {k}, scale {scale:.3g})")


def _unit_indices(shape, rng):
    size = int(np.prod(shape))
    picks = {0, size - 1} | set(rng.integers(0, size, N_UNIT_INDICES).tolist())
    return [np.unravel_index(k, shape) for k in sorted(picks)]


def check_vjp(case, vjp, seed=0, override=None):
    """The adjoint kernel's Jᵀ·ȳ against ⟨ȳ, F'(x)·v⟩ by finite differences, along random
    directions v (every element at once) and unit directions (first, last, random elements)."""
    args = make_args(case, seed, override)
    rtol, _ = tolerances(case)
    rng = np.random.default_rng(seed + 2000)
    ybar = random_direction(case, args, rng)
    got = launch_with_shadows(case, vjp, args, ybar)
    checks = []
    drng = np.random.default_rng(seed + 1000)
    for k in range(N_DIRECTIONS):
        v = random_direction(case, args, drng)
        checks.append((f"random direction {k}", v, ("dir", seed, k, repr(override))))
    for n in active_names(case):
        for idx in _unit_indices(args[n].shape, rng):
            v = {m: np.zeros(args[m].shape, case.dtype) for m in active_names(case)}
            v[n][idx] = 1.0
            checks.append((f"{n}_bar{[int(i) for i in idx]}", v, ("unit", seed, n, idx, repr(override))))
    for label, v, key in checks:
        ref = fd_jvp(case, args, v, key=key, doubled=key[0] == "dir")
        lhs, rhs = _dot(got, v), _dot(ybar, ref)
        scale = max(1.0, _abs_dot(ybar, ref), abs(rhs))
        assert abs(lhs - rhs) <= rtol * scale, (
            f"{case.name} vjp, {label}: <x_bar, v> = {lhs!r}, <y_bar, J v> by finite differences "
            f"= {rhs!r} (scale {scale:.3g})")


def check_dot_product(case, jvp, vjp, seed=0):
    """⟨ȳ, J·v⟩ from the tangent kernel equals ⟨Jᵀ·ȳ, v⟩ from the adjoint kernel."""
    args = make_args(case, seed)
    _, rtol = tolerances(case)
    rng = np.random.default_rng(seed + 3000)
    for _ in range(2):
        v = random_direction(case, args, rng)
        ybar = random_direction(case, args, rng)
        jv = launch_with_shadows(case, jvp, args, v)
        jtybar = launch_with_shadows(case, vjp, args, ybar)
        lhs, rhs = _dot(ybar, jv), _dot(jtybar, v)
        scale = max(1.0, _abs_dot(ybar, jv), _abs_dot(jtybar, v))
        assert abs(lhs - rhs) <= rtol * scale, (
            f"{case.name}: <y_bar, J v> = {lhs!r} (jvp) but <J^T y_bar, v> = {rhs!r} (vjp)")


# ---------------------------------------------------------------- the generated kernels


@pytest.fixture(scope="module")
def scuda():
    return pytest.importorskip("s2sad.cuda")


_GENERATED = {}


def generated(scuda, case, mode):
    """One generated kernel per case and mode for the whole run (compiled once)."""
    key = (case.name, mode)
    if key not in _GENERATED:
        make = scuda.vjp_kernel if mode == "vjp" else scuda.jvp_kernel
        _GENERATED[key] = make(case.kernel, wrt=case.wrt, outputs=case.outputs)
    return _GENERATED[key]


CASE_IDS = [c.name for c in C.CASES]
HAND_NAMES = sorted(set(H.HAND_VJP) & set(H.HAND_JVP))


@pytest.mark.parametrize("case", C.CASES, ids=CASE_IDS)
def test_jvp_matches_finite_differences(scuda, case):
    check_jvp(case, generated(scuda, case, "jvp"))


@pytest.mark.parametrize("case", C.CASES, ids=CASE_IDS)
def test_vjp_matches_finite_differences(scuda, case):
    check_vjp(case, generated(scuda, case, "vjp"))


@pytest.mark.parametrize("case", C.CASES, ids=CASE_IDS)
def test_jvp_and_vjp_agree(scuda, case):
    check_dot_product(case, generated(scuda, case, "jvp"), generated(scuda, case, "vjp"))


if given is not None:
    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
    @given(name=st.sampled_from(["elementwise", "stencil3", "branches", "while_break_continue",
                                 "accumulate"]),
           seed=st.integers(0, 2**31 - 1))
    def test_random_inputs(scuda, name, seed):
        """Fresh inputs for cases whose control flow depends on the data."""
        case = C.CASE[name]
        check_jvp(case, generated(scuda, case, "jvp"), seed=seed)
        check_vjp(case, generated(scuda, case, "vjp"), seed=seed)


# ---------------------------------------------------------------- (c) refusals


def marker_position(kernel):
    """(file, line, column or None, other lines allowed) of the one ``# ERR`` marker in a
    kernel's source; the other lines are those marked ``# ERR-OR``."""
    fn = kernel.py_func
    filename = inspect.getsourcefile(fn)
    lines, start = inspect.getsourcelines(fn)
    hits = [k for k, line in enumerate(lines) if re.search(r"# ERR(?!-OR)", line)]
    assert len(hits) == 1, f"{fn.__name__}: expected one `# ERR` marker, found {len(hits)}"
    others = [start + k for k, line in enumerate(lines) if "# ERR-OR" in line]
    lineno = start + hits[0]
    code, marker = linecache.getline(filename, lineno).split("# ERR", 1)
    m = re.match(r"\s*col=(.+?)\s*$", marker)
    return filename, lineno, (code.index(m.group(1)) if m else None), others


REFUSAL_PARAMS = [pytest.param(r, mode, id=f"{r.name}-{mode}") for r in C.REFUSALS
                  for mode in ("vjp", "jvp")]


def test_every_refusal_has_its_marker():
    for r in C.REFUSALS:
        marker_position(r.at)
    assert len(C.REFUSALS) >= 7


@pytest.mark.parametrize("refusal,mode", REFUSAL_PARAMS)
def test_refusal(scuda, refusal, mode):
    filename, lineno, col, others = marker_position(refusal.at)
    args = refusal.args(np.random.default_rng(0))
    names = [p for p in params_of(refusal.kernel) if p in refusal.wrt or p in refusal.outputs]
    shadows = [np.ones_like(args[n]) if isinstance(args[n], np.ndarray) else 1.0 for n in names]
    before = [_copy(args[p]) for p in params_of(refusal.kernel)] + [_copy(s) for s in shadows]
    launched = [_copy(args[p]) for p in params_of(refusal.kernel)] + [_copy(s) for s in shadows]
    make = scuda.vjp_kernel if mode == "vjp" else scuda.jvp_kernel
    try:
        k = make(refusal.kernel, wrt=refusal.wrt, outputs=refusal.outputs)
        k[(2,), (C.THREADS,)](*launched)
    except S2SADError as e:
        error = e
    else:
        if refusal.maybe is None:
            pytest.fail(f"{refusal.name}: accepted, but it must be refused at {filename}:{lineno}")
        # accepted (the issue allows supporting it): then it must be right
        check = check_vjp if mode == "vjp" else check_jvp
        check(refusal.maybe, generated(scuda, refusal.maybe, mode))
        return
    for b, a in zip(before, launched):  # refused before any launch: nothing was written
        if isinstance(b, np.ndarray):
            np.testing.assert_array_equal(a, b)
    assert not isinstance(error, InternalError), f"an internal error, not a refusal:\n{error}"
    assert error.filename is not None and os.path.samefile(error.filename, filename), str(error)
    assert error.lineno in [lineno, *others], f"line {lineno} expected:\n{error}"
    if col is not None and error.lineno == lineno:
        assert error.col_offset == col, str(error)
    text = str(error).split("\n")
    assert text[0].startswith(f"{error.filename}:{error.lineno}:"), text[0]
    assert text[1] == "    " + linecache.getline(filename, error.lineno).rstrip("\n"), str(error)
    assert any(t.startswith("hint: ") and len(t) > 12 for t in text[2:]), f"no hint in:\n{error}"
    if refusal.match:
        assert re.search(refusal.match, text[0]), f"{refusal.match!r} not in {text[0]!r}"


# ---------------------------------------------------------------- (d) the generated source


@pytest.mark.parametrize("case", C.CASES, ids=CASE_IDS)
def test_source_shows_the_kernels(scuda, case):
    """After a launch, ``s2sad.source`` shows the kernel it launched."""
    import s2sad

    name = case.kernel.py_func.__name__
    args = make_args(case, 0)
    for mode, suffix in (("vjp", "_bar"), ("jvp", "_dot")):
        k = generated(scuda, case, mode)
        # launched once: a derivative kernel is specialised on the types of its arguments
        launch_with_shadows(case, k, args, random_direction(case, args, np.random.default_rng(0)))
        src = s2sad.source(k)
        assert isinstance(src, str) and "cuda.jit" in src and name in src, src[:2000]
        for n in active_names(case):
            assert re.search(rf"\b{n}{suffix}\b", src), f"no {n}{suffix} in the {mode} source"
    src = s2sad.source(generated(scuda, case, "vjp"))
    for n in case.own:  # the thread's own element: a plain +=, and no atomic on that array
        assert re.search(rf"\b{n}_bar\[[^\]\n]+\]\s*\+=", src), f"no plain `{n}_bar[...] +=`:\n{src}"
        assert not re.search(rf"cuda\.atomic\.add\(\s*{n}_bar\b", src), f"atomic on {n}_bar:\n{src}"
    for n in case.colliding:  # every update atomic: a plain += would race with the atomics
        assert re.search(rf"cuda\.atomic\.add\(\s*{n}_bar\b", src), f"no atomic on {n}_bar:\n{src}"
        assert not re.search(rf"\b{n}_bar\[[^\]\n]+\]\s*\+=", src), f"a plain += on {n}_bar:\n{src}"
    if case.colliding:  # a comment says why the atomics are there
        assert re.search(r"#.*atomic", src), f"no comment about the atomics:\n{src}"


# ---------------------------------------------------------------- (e) streams, repeated launches


def _launch_on_stream(case, launchable, args, shadows):
    stream = cuda.stream()
    dev = {k: cuda.to_device(v, stream=stream) if isinstance(v, np.ndarray) else v
           for k, v in args.items()}
    dsh = {n: cuda.to_device(np.array(v, dtype=args[n].dtype), stream=stream) for n, v in shadows.items()}
    launchable[case.griddim, case.blockdim, stream](
        *[dev[p] for p in params_of(case.kernel)], *[dsh[n] for n in active_names(case)])
    stream.synchronize()
    return {n: dsh[n].copy_to_host() for n in dsh}


@pytest.mark.parametrize("name", ["elementwise", "lorenz_ensemble", "accumulate"])
@pytest.mark.parametrize("mode", ["vjp", "jvp"])
def test_launch_on_a_stream(scuda, name, mode):
    case = C.CASE[name]
    k = generated(scuda, case, mode)
    args = make_args(case, 5)
    shadows = random_direction(case, args, np.random.default_rng(6))
    on_stream = _launch_on_stream(case, k, args, shadows)
    plain = launch_with_shadows(case, k, args, shadows)
    for n in plain:
        np.testing.assert_allclose(on_stream[n], plain[n], rtol=1e-12, atol=1e-12)


class _AllocationCounter:
    """Counts arrays of at least ``min_size`` elements allocated through numba.cuda."""

    NAMES = ("device_array", "device_array_like", "to_device", "pinned_array", "mapped_array",
             "managed_array")

    def __init__(self, monkeypatch, min_size):
        self.count = 0
        for name in self.NAMES:
            if hasattr(cuda, name):
                monkeypatch.setattr(cuda, name, self._wrap(getattr(cuda, name), min_size))

    def _wrap(self, fn, min_size):
        def counting(*a, **kw):
            arr = fn(*a, **kw)
            if int(np.prod(getattr(arr, "shape", ()))) >= min_size:
                self.count += 1
            return arr
        return counting


def test_repeated_launches_reuse_the_tape(scuda, monkeypatch):
    """The launcher allocates the per-thread tape on the first launch and reuses it: the second
    launch allocates nothing as large as a tape, and gives the same adjoint. (Assumes the tape is
    allocated through numba.cuda's functions, looked up when launching.) A longer loop afterwards
    still gets a right adjoint (the tape grows)."""
    case = C.CASE["lorenz_ensemble"]
    vjp = scuda.vjp_kernel(case.kernel, wrt=case.wrt, outputs=case.outputs)  # a fresh launcher
    args = make_args(case, 0)
    tape_size = args["nsteps"] * args["state0"].shape[1]
    counter = _AllocationCounter(monkeypatch, tape_size)
    ybar = random_direction(case, args, np.random.default_rng(1))
    first = launch_with_shadows(case, vjp, args, ybar)
    allocated_first = counter.count
    second = launch_with_shadows(case, vjp, args, ybar)
    assert allocated_first >= 1, "no tape-sized allocation seen through numba.cuda on the first launch"
    assert counter.count == allocated_first, "the second launch allocated its tape again"
    for n in first:
        np.testing.assert_allclose(second[n], first[n], rtol=1e-12, atol=1e-12)
    check_vjp(case, vjp, seed=0, override={"nsteps": 2 * args["nsteps"]})


def test_stream_and_tape_on_hand_written_kernels(monkeypatch):
    """The same two checks on the hand-written taped Lorenz adjoint: they can pass."""
    case = C.CASE["lorenz_ensemble"]
    vjp = H._LorenzTaped()
    args = make_args(case, 0)
    ybar = random_direction(case, args, np.random.default_rng(1))
    counter = _AllocationCounter(monkeypatch, args["nsteps"] * args["state0"].shape[1])
    first = launch_with_shadows(case, vjp, args, ybar)
    second = launch_with_shadows(case, vjp, args, ybar)
    assert counter.count == 1
    on_stream = _launch_on_stream(case, vjp, args, ybar)
    for n in first:
        np.testing.assert_allclose(second[n], first[n], rtol=1e-12)
        np.testing.assert_allclose(on_stream[n], first[n], rtol=1e-12)


# ---------------------------------------------------------------- (f) races, on the simulator

needs_simulator = pytest.mark.skipif(not R.RACES_CHECKABLE, reason="the race detector needs the simulator")


def races_of(case, launchable, monkeypatch, kernel_only=False, seed=0, suffix="_bar"):
    """Launch on watched copies (tests/cuda_races.py); the races found. ``kernel_only``: the
    kernel's own arguments, no shadows (a primal kernel)."""
    args = make_args(case, seed)
    shadows = {} if kernel_only else random_direction(case, args, np.random.default_rng(seed))
    with R.watching(monkeypatch) as rec:
        a = [R.WatchedArray(_copy(args[p]), p, rec) if isinstance(args[p], np.ndarray) else args[p]
             for p in params_of(case.kernel)]
        sh = [R.WatchedArray(np.array(shadows[n], dtype=args[n].dtype), n + suffix, rec)
              for n in active_names(case) if n in shadows]
        launchable[case.griddim, case.blockdim](*a, *sh)
    return rec.races()


@needs_simulator
@pytest.mark.parametrize("case", C.CASES, ids=CASE_IDS)
@pytest.mark.parametrize("mode", ["vjp", "jvp"])
def test_generated_kernels_have_no_races(scuda, case, mode, monkeypatch):
    """No element is written by one thread and touched by another, nor updated atomically by one
    and plainly by another: every colliding update is atomic."""
    races = races_of(case, generated(scuda, case, mode), monkeypatch,
                     suffix="_bar" if mode == "vjp" else "_dot")
    assert not races, f"{case.name} {mode}: races in the generated kernel:\n{R.describe(races)}"


@needs_simulator
@pytest.mark.parametrize("case", C.CASES, ids=CASE_IDS)
def test_primal_kernels_have_no_races(case, monkeypatch):
    """The corpus is valid: its kernels are race-free (their own atomics included)."""
    races = races_of(case, case.reference, monkeypatch, kernel_only=True)
    assert not races, f"{case.name}: races in the primal kernel:\n{R.describe(races)}"


@needs_simulator
@pytest.mark.parametrize("name", HAND_NAMES)
def test_hand_written_kernels_have_no_races(name, monkeypatch):
    case = C.CASE[name]
    gather = [H.HAND_VJP_GATHER[name]] if name in H.HAND_VJP_GATHER else []
    for k in (H.HAND_VJP[name], H.HAND_JVP[name], *gather):
        races = races_of(case, k, monkeypatch)
        assert not races, f"{name}: {R.describe(races)}"


@needs_simulator
def test_race_detector_sees_races(monkeypatch):
    for label, (name, kernel) in H.RACY.items():
        assert races_of(C.CASE[name], kernel, monkeypatch), f"no race seen: {label}"
    race = next(r for r in C.REFUSALS if r.name == "primal_race")
    as_case = C.Case("race", race.kernel, race.args, race.wrt, race.outputs, 2, C.THREADS)
    assert races_of(as_case, race.kernel, monkeypatch, kernel_only=True)


# ---------------------------------------------------------------- the harness on hand-written kernels


@pytest.mark.parametrize("name", HAND_NAMES)
def test_harness_passes_hand_written_kernels(name):
    case = C.CASE[name]
    check_jvp(case, H.HAND_JVP[name])
    check_vjp(case, H.HAND_VJP[name])
    check_dot_product(case, H.HAND_JVP[name], H.HAND_VJP[name])


def test_harness_passes_the_gather_adjoint():
    case = C.CASE["stencil3_x"]
    check_vjp(case, H.HAND_VJP_GATHER["stencil3_x"])
    check_dot_product(case, H.HAND_JVP["stencil3_x"], H.HAND_VJP_GATHER["stencil3_x"])


@pytest.mark.parametrize("label", sorted(H.WRONG))
def test_harness_fails_wrong_kernels(label):
    name, mode, kernel = H.WRONG[label]
    case = C.CASE[name]
    check = check_vjp if mode == "vjp" else check_jvp
    with pytest.raises(AssertionError):
        check(case, kernel)
    # and the dot-product test sees it too, paired with the right kernel of the other mode
    pair = (H.HAND_JVP[name], kernel) if mode == "vjp" else (kernel, H.HAND_VJP[name])
    with pytest.raises(AssertionError):
        check_dot_product(case, *pair)


def test_harness_refuses_unstable_finite_differences():
    """A case whose inputs sit on a branch boundary is reported, not judged."""
    case = C.CASE["partial_output"]
    args = make_args(case, 0)
    args["x"][3] = 0.0  # out[3] is written only for x > 0
    v = {n: np.ones_like(args[n]) for n in active_names(case)}
    with pytest.raises(pytest.fail.Exception, match="unstable"):
        fd_jvp(case, args, v)


# ---------------------------------------------------------------- the corpus covers the issue


def test_corpus_covers_every_construct_of_the_issue():
    sources = {c.name: inspect.getsource(c.kernel.py_func) for c in C.CASES}
    sources["soft_clip"] = inspect.getsource(C.soft_clip.py_func)
    text = "\n".join(sources.values())
    module = inspect.getsource(C)
    for construct in ("cuda.grid(1)", "cuda.grid(2)", "cuda.grid(3)", "return\n", "max(", "min(", "abs(",
                      "for k in range(indptr[row], indptr[row + 1])", "cuda.threadIdx.x", "cuda.blockIdx.x",
                      "cuda.blockDim.x", "cuda.gridDim.x", "cuda.atomic.add(", "+= ", "while ",
                      "break", "continue", "elif ", "else:", "for s in range(nsteps)", "math.exp(",
                      "math.sin(", "math.log(", "math.sqrt(", "math.tanh(", "math.pow(",
                      "s2sad.checkpointed(", "x[i] = math.sin(x[i])", "x[idx[i]]", "out[j] +="):
        assert construct in text, construct
    assert "@cuda.jit(device=True)" in module
    assert {c.dtype for c in C.CASES} == {np.dtype(np.float32), np.dtype(np.float64)}
    assert any(c.colliding for c in C.CASES) and any(c.own for c in C.CASES)
    assert any(c.taped for c in C.CASES)
    assert {r.name for r in C.REFUSALS} >= {"shared_array", "syncthreads", "primal_race", "recursion",
                                            "scalar_in_wrt", "local_array_active"}
    for c in C.CASES:  # every case launches within the simulator's limit of 64 threads
        g = np.prod(np.atleast_1d(c.griddim)) * np.prod(np.atleast_1d(c.blockdim))
        assert g <= 64, c.name
