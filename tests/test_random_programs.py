"""Differential testing on random programs (tests/progen.py): for each generated program, at a
random point, s2sad's forward mode == its reverse mode == SymPy (where the translation is
small enough) == finite differences (away from branch boundaries), and the value returned with
the gradient == the program's value.

Bugs found this way are kept, minimized: open ones in ``KNOWN_BUGS`` (each an
xfail(strict=True) test: when a fix makes one pass, pytest says so, and the entry moves to
``REGRESSIONS``). Each entry names the generator feature that triggers it; the random-program
tests leave out the features of the bugs still open, so that a known bug does not hide new
ones. Moving an entry out of KNOWN_BUGS puts its feature back into the random programs.
"""

import math
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import progen

import s2sad
from s2sad.check.fd import numerical_grad, rel_error
from s2sad.check.sympy_bridge import sympy_grad
from s2sad.errors import UnsupportedSyntaxError

# ======================================================================= bugs found (minimized)
#
# Programs found by the random testing (and by bench/fuzz.py), minimized. REGRESSIONS: fixed,
# checked as ordinary tests. KNOWN_BUGS: still open, each an xfail(strict=True) test naming the
# generator feature that triggers it; the random-program tests leave those features out.


def kb_inactive_overwrite(x):
    s = x
    s = 0.5  # the adjoint of s must be reset: the derivative is 0
    return s


def kb_inactive_overwrite_array(v):
    a = v
    a = np.zeros(3)
    return np.sum(a)


def kb_and_in_loop(x, y):
    s = x
    for i in range(2):
        s = math.sin(s)
        if y > 0.25 and y < 0.5:  # at y = 1.3: the first test passes, the second fails
            s = s * y
    return s


def kb_and_in_loop_tape(y, v, n):
    a = np.zeros(3)
    k = 0
    while k < 2:
        k += 1
        a = np.sin(a)
    for i in range(1):
        if n > 0:
            if y > 0.25 and y < 0.25:
                pass
        else:
            a = np.sin(v)
    return np.sum(a)


def _writes_w0_returns_k(w, k):
    w[0] = w[0] * w[0]
    return k


def kb_call_with_inactive_result_mutates(v):
    k = _writes_w0_returns_k(v, 1)  # an int result, but the call writes into v
    return np.sum(v) + k


def _writes_w2(w):
    w[2] = 1.0
    return w[0]


def kb_call_with_dead_result_mutates(v):
    s = _writes_w2(v)  # noqa: F841 - s is never used, but the call writes into v
    return np.sum(v)


def _subtracts_from_w2(w):
    w[2] -= 1.0


def kb_call_mutates_array_read_before(v):
    a = np.sin(v)
    _subtracts_from_w2(v)  # reverse must evaluate cos(v) at the v before the call
    return np.sum(a)


def _sets_w0(w):
    w[0] = 10.0
    return 1.0


def kb_augstore_order(x, v):
    v[0] += _sets_w0(v)  # Python reads v[0] before the call: 0.5 + 1, not 10 + 1
    return x * v[0]


def kb_forward_writes_into_argument(x, y, v):
    a = np.tanh(v)
    v[0] = x  # forward grad: the y column must not see v's tangent from the x column
    return y + np.sum(a)


def kb_zeros_plus_scalar(x):
    a = np.zeros(3) + x  # forward: the tangent is an array, not the scalar x_dot
    return np.sum(a)


def kb_copy_by_unit_scale(v):
    a = v * 1.0  # a copy; forward folds its tangent into `a_dot = v_dot`, an alias
    v[0] = 0.0  # ... so this write changes a's tangent too
    return np.sum(a)


def kb_restore_with_computed_index(v):
    a = v * v
    for i in range(2):
        v[i + 1] -= 0.25  # reverse restores v[_t] with the index temporary of the last
    return np.dot(a, v)   # iteration, not of each one


def _twice(p):
    return p * 2.0


def kb_inactive_call_overwrite(y):
    s = y
    s = _twice(0.5)  # a call whose result does not depend on the inputs overwrites s
    return s + y


@s2sad.custom_vjp
def _cube(x):
    return x * x * x


def _cube_fwd(x):
    return _cube(x), x  # JAX's idiom: the forward rule calls the function itself


def _cube_bwd(x, g):
    return (3.0 * x * x * g,)


_cube.defvjp(_cube_fwd, _cube_bwd)


def kb_custom_fwd_calls_itself(x):
    return _cube(x) + x


_V3 = (0.3, 0.5, 0.7)

# (function, arguments, generator feature that triggers it (None: not generated), what went wrong)
REGRESSIONS = [
    (kb_inactive_overwrite, (0.4,), "inactive_overwrite",
     ("reverse: an assignment of a value that does not depend on the inputs did not reset the "
      "adjoint of the variable it overwrites (reverse gave 1.0)")),
    (kb_inactive_overwrite_array, (_V3,), "inactive_overwrite",
     "reverse: same, for an array rebound to np.zeros"),
    (kb_and_in_loop, (0.7, 1.3), "and_or",
     ("reverse: a short-circuit `and` in a loop: the temporary holding the condition was pushed "
      "twice and popped under its final value")),
    (kb_and_in_loop_tape, (1.3, _V3, 2), "and_or",
     ("reverse: same; the misaligned tape then failed (operands could not be broadcast ... (3,) "
      "(0,))")),
    (kb_call_with_inactive_result_mutates, (_V3,), "mutating_helpers",
     ("both modes: a call whose result does not depend on the inputs was not differentiated, "
      "though it writes into an array that does")),
    (kb_call_with_dead_result_mutates, (_V3,), "mutating_helpers",
     "reverse: a call whose result is unused was dropped from the reverse sweep"),
    (kb_call_mutates_array_read_before, (_V3,), "mutating_helpers",
     "reverse: an array written by a called helper was not recorded before the call"),
    (kb_augstore_order, (2.0, (0.5, 1.0)), "mutating_helpers",
     "primal: `a[i] += h(a)` read a[i] after calling h; Python reads it before"),
    (kb_forward_writes_into_argument, (0.3, 0.2, (1.0, 1.0, 1.0)), "write_args",
     ("forward grad: the zero tangents of the other arguments were shared between the columns, "
      "and generated code writes into them")),
    (kb_zeros_plus_scalar, (0.3,), "inactive_array_plus_scalar",
     "forward: the tangent of `inactive array + active scalar` was not broadcast"),
    (kb_custom_fwd_calls_itself, (0.7,), None,
     ("custom_vjp whose forward rule calls the function itself: Program.add_custom meets its "
      "own placeholder (None) while lowering the rule: AttributeError: 'NoneType' object has no "
      "attribute 'rule' (found by tests/test_check.py, not by the generator)")),
    (kb_inactive_call_overwrite, (0.3,), "inactive_overwrite",
     ("reverse: the adjoint of a variable is not reset when it is overwritten by the result of "
      "a user-function call that does not depend on the inputs: gives 2.0, expected 1.0")),
    (kb_copy_by_unit_scale, (_V3,), "array_times_one",
     ("forward: `a = v * 1.0` gets the tangent `a_dot = v_dot` (an alias of v's tangent), so a "
      "later write into v changes a's tangent: gives [0, 1, 1], expected [1, 1, 1]")),
    (kb_restore_with_computed_index, (_V3,), "computed_index_store",
     ("reverse: values recorded by `v[i + 1] -= ...` in a loop are restored with the index "
      "temporary `_t = i + 1` of the forward sweep's last iteration (not recomputed per "
      "iteration), so the reverse sweep reads a wrong v")),

]

KNOWN_BUGS = []  # every bug found so far is fixed; each stays as a regression test below

AVOID = frozenset(feature for _, _, feature, _ in KNOWN_BUGS if feature is not None)


def _args(spec):
    return tuple(np.array(a, dtype=float) if isinstance(a, tuple) else a for a in spec)


def _fresh(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def assert_correct(fn, args, rtol=1e-6):
    """s2sad's value and gradient in both modes against the program and against SymPy (or
    finite differences where SymPy cannot translate it)."""
    nums = tuple(k for k, a in enumerate(args) if not isinstance(a, int))
    value = fn(*_fresh(args))
    try:
        ref = tuple(sympy_grad(fn, _fresh(args), nums))
    except UnsupportedSyntaxError:
        ref = tuple(numerical_grad(fn, args, nums))
    for mode in ("forward", "reverse"):
        val, g = s2sad.value_and_grad(fn, nums, mode=mode)(*_fresh(args))
        assert rel_error(val, value) <= 1e-12, f"{mode}: value {val}, the program gives {value}"
        assert rel_error(tuple(g), ref) <= rtol, f"{mode}: gradient {g}, expected {ref}"


@pytest.mark.parametrize(
    "fn, args",
    [pytest.param(fn, args, id=fn.__name__,
                  marks=pytest.mark.xfail(strict=True, reason=f"[{feature}] {why}"))
     for fn, args, feature, why in KNOWN_BUGS])
def test_known_bug(fn, args):
    assert_correct(fn, _args(args))


@pytest.mark.parametrize("fn, args", [pytest.param(fn, args, id=fn.__name__)
                                      for fn, args, _, _ in REGRESSIONS])
def test_fixed_bug(fn, args):
    assert_correct(fn, _args(args))


def test_bug_features_exist():
    assert {b[2] for b in KNOWN_BUGS + REGRESSIONS} - {None} <= set(progen.FEATURES)


# ======================================================================= random programs


# no shrinking: a failing program is printed as found (shrinking a program through the whole
# check takes minutes); `python bench/fuzz.py --minimize` shrinks failing programs
SETTINGS = {"deadline": None, "derandomize": True, "database": None,
            "phases": [Phase.explicit, Phase.reuse, Phase.generate],
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much]}


def _check(program, seed, jit=False, sympy_seconds=None):
    outcome = progen.check_program(program, seed=seed, jit=jit, sympy_seconds=sympy_seconds)
    assert outcome.status != "fail", (
        f"{outcome.reason}\n{outcome.details}\nat the point {progen._fmt(program.args(seed))} "
        f"(seed {seed}) of the program\n{program.source}\n(to shrink it: save it with a line "
        f"`# seed {seed}` and run `python bench/fuzz.py --file PATH --minimize`)")
    return outcome


@settings(max_examples=250, **SETTINGS)
@given(program=progen.programs(avoid=AVOID), seed=st.integers(0, 2**16))
def test_random_programs(program, seed):
    _check(program, seed)


@pytest.mark.slow
@settings(max_examples=8, **SETTINGS)
@given(program=progen.programs(max_stmts=3, avoid=AVOID), seed=st.integers(0, 2**16))
def test_random_programs_jit(program, seed):
    _check(program, seed, jit=True)


# data-sized programs are drawn by seed (Python's random inside the generator gives programs
# with many features; hypothesis's simplest-first draws would mostly give short ones)
@settings(max_examples=12, **SETTINGS)
@given(program_seed=st.integers(0, 2**30), seed=st.integers(0, 2**16))
def test_random_data_sized_programs(program_seed, seed):
    """Loops over the hundreds of rows of a data matrix (row copies, `.shape` inside loops,
    while loops over rows, triangular nests), helpers writing into arrays, array swaps."""
    _check(progen.from_seed(program_seed, max_stmts=4, avoid=AVOID, data=True), seed,
           sympy_seconds=5.0)


@pytest.mark.slow
@settings(max_examples=6, **SETTINGS)
@given(program_seed=st.integers(0, 2**30), seed=st.integers(0, 2**16))
def test_random_data_sized_programs_jit(program_seed, seed):
    _check(progen.from_seed(program_seed, max_stmts=4, avoid=AVOID, data=True), seed, jit=True,
           sympy_seconds=5.0)


# slices of arrays read, stored into and updated in place (forward mode once read a slice after
# the store that overwrote it: the fold moved the tangent past the store)
@settings(max_examples=60, **SETTINGS)
@given(program_seed=st.integers(0, 2**30), seed=st.integers(0, 2**16))
def test_random_programs_with_slices(program_seed, seed):
    _check(progen.from_seed(program_seed, avoid=AVOID, slices=True), seed, sympy_seconds=5.0)


@settings(max_examples=6, **SETTINGS)
@given(program_seed=st.integers(0, 2**30), seed=st.integers(0, 2**16))
def test_random_data_sized_programs_with_slices(program_seed, seed):
    _check(progen.from_seed(program_seed, max_stmts=4, avoid=AVOID, data=True, slices=True), seed,
           sympy_seconds=5.0)


@pytest.mark.slow
@settings(max_examples=5, **SETTINGS)
@given(program_seed=st.integers(0, 2**30), seed=st.integers(0, 2**16))
def test_random_programs_with_slices_jit(program_seed, seed):
    _check(progen.from_seed(program_seed, max_stmts=3, avoid=AVOID, slices=True), seed, jit=True,
           sympy_seconds=5.0)


def test_programs_with_slices_have_the_slice_features():
    sources = [progen.from_seed(seed, slices=True).source for seed in range(300)]
    for feature in ("] *= ", "] += ", "] = np.", "np.dot(", "::-1]", ":-1]", "np.sum("):
        assert sum(feature in src and ":" in src for src in sources) >= 5, feature
    assert sum("] *=" in ln and ":" in ln.split("]")[0] for src in sources
               for ln in src.splitlines()) >= 10
    assert progen.from_seed(7, slices=True).source != progen.from_seed(7).source


def test_slice_programs_catch_the_forward_fold_bug(monkeypatch):
    """The harness finds the bug this generator was written for: with the fold's knowledge of
    shared memory switched off (and the copies made of views of written arrays, which now hide
    it too), some slice program fails (forward != reference)."""
    from s2sad import compiler
    from s2sad.backend import fold
    monkeypatch.setattr(fold, "sharing", lambda fn, types: {})
    monkeypatch.setattr(compiler, "_views_copied", lambda fn, types, mutates: fn)
    failed = [seed for seed in range(9990000, 9990030)
              if progen.check_program(progen.from_seed(seed, avoid=AVOID, slices=True), seed,
                                      sympy_seconds=5.0).status == "fail"]
    assert len(failed) >= 2, failed  # 5 of these 30 (9990010, 9990014, ...)


# Second derivatives by every composed transform (hessian, jacfwd(grad), jacrev(grad),
# jvp(grad)) against finite differences of the reverse gradient and each other.
@settings(max_examples=25, **SETTINGS)
@given(program_seed=st.integers(0, 2**30), seed=st.integers(0, 2**16))
def test_random_programs_second_derivatives(program_seed, seed):
    o = progen.check_transforms(progen.from_seed(program_seed, max_stmts=4, avoid=AVOID), seed)
    assert o.status != "fail", f"{o.reason}\n{o.details}\nprogram seed {program_seed}, point seed {seed}"


@settings(max_examples=5, **SETTINGS)
@given(program_seed=st.integers(0, 2**30), seed=st.integers(0, 2**16))
def test_random_data_sized_programs_hessian(program_seed, seed):
    o = progen.check_transforms(progen.from_seed(program_seed, max_stmts=3, avoid=AVOID, data=True),
                                seed)
    assert o.status != "fail", f"{o.reason}\n{o.details}\nprogram seed {program_seed}, point seed {seed}"


@pytest.mark.parametrize("program_seed, seed, data", [(503, 503, True), (653, 41269, False), (601, 601, False)])
def test_reverse_over_reverse_found_by_random_programs(program_seed, seed, data):
    """Found failing (a shape error) before adjoints were summed to their own shape: an array
    swap in a row loop, helpers with jumps."""
    program = progen.from_seed(program_seed, max_stmts=4, avoid=() if data else AVOID, data=data)
    o = progen.check_transforms(program, seed, transforms=("hessian", "jacrev(grad)"))
    assert o.status == "pass", f"{o.reason}\n{o.details}"


def test_data_sized_programs_have_the_data_features():
    sources = [progen.from_seed(seed, data=True).source for seed in range(200)]
    for feature in ("for r", "while q", "X.shape[0]", "= X[r", ", b = b, a", "% 4):"):
        assert sum(feature in src for src in sources) >= 10, feature
    assert all(progen.from_seed(seed, data=True).rows >= 64 for seed in range(20))


def test_programs_are_checked_against_references():
    """The harness really compares: a sample of programs is checked against SymPy, finite
    differences, or both (not mostly skipped)."""
    used = {"sympy": 0, "fd": 0, "skip": 0}
    for seed in range(20):
        o = _check(progen.from_seed(seed, avoid=AVOID), seed)
        used["sympy"] += o.sympy_used
        used["fd"] += o.fd_used
        used["skip"] += o.status == "skip"
    assert used["sympy"] >= 15 and used["fd"] >= 10 and used["skip"] <= 3, used


def test_from_seed_is_deterministic():
    assert progen.from_seed(7).source == progen.from_seed(7).source
    assert progen.from_seed(7).source != progen.from_seed(8).source
    for seed in range(30):
        compile(progen.from_seed(seed).source, "<gen>", "exec")
        compile(progen.from_seed(seed, avoid=progen.FEATURES).source, "<gen>", "exec")


def wrong_program_source():
    return progen.GenProgram(
        "import math\nimport numpy as np\n\n\ndef f(x, y, v, n):\n"
        "    return math.sin(x) * y + np.sum(v * v)\n")


def test_harness_catches_a_wrong_rule():
    from s2sad.primitives import RULES
    rule = RULES["math.sin"]
    saved = rule.partials[0]
    rule.partials[0] = "M.sin(x)"
    try:
        o = progen.check_program(wrong_program_source(), seed=0)
    finally:
        rule.partials[0] = saved
    assert o.status == "fail" and "sympy" in o.reason
    assert progen.check_program(wrong_program_source(), seed=0).status == "pass"


def test_fuzz_script_runs(tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
    import fuzz

    rc = fuzz.main(["--n", "3", "--out", str(tmp_path), "--quiet",
                    "--avoid", ",".join(sorted(AVOID))])
    assert (tmp_path / "summary.json").exists()
    assert rc in (0, 1)


def test_margin_guards_finite_differences():
    """A point near a branch boundary: SymPy is the reference, finite differences are not
    trusted there (they straddle the kink)."""
    src = ("import math\nimport numpy as np\n\n\ndef f(x, y, v, n):\n"
           "    if x > 0.5:\n        return x * x + y\n    return -x + y + np.sum(v)\n")
    p = progen.GenProgram(src)
    seed = next(s for s in range(10000) if abs(p.args(s)[0] - 0.5) < 1e-3)
    o = progen.check_program(p, seed=seed)
    assert o.status == "pass" and o.sympy_used and not o.fd_used


def test_sympy_bridge_refuses_expressions_nested_past_the_recursion_limit():
    """A data-sized program (fuzz seed 9600000: a row loop feeding each value into the next)
    makes an expression SymPy's recursive `diff` cannot walk. The bridge refuses it as too large
    (was a raw RecursionError, which the fuzzer counted as a failure), and the harness then
    checks s2sad against finite differences, which agree."""
    from s2sad.check import to_sympy
    from s2sad.errors import UnsupportedSyntaxError
    program = progen.from_seed(9600000, data=True)
    f, args, _ = progen._evaluate(program, 9600000)
    with pytest.raises(UnsupportedSyntaxError, match="recursion limit; too large"):
        to_sympy(f, args, progen.ARGNUMS, max_size=50 * progen.SYMPY_MAX_SIZE).derivative()
    o = progen.check_program(program, seed=9600000)
    assert o.status == "pass" and o.fd_used, o
