"""Split mode for helper calls (ad/split.py) and faint-variable elimination (analysis/liveness.py):
a helper's forward sweep runs once, in its caller's forward sweep, recording on the caller's
tapes, and its reverse sweep pops it in the caller's reverse sweep. Every gradient is compared
with central finite differences in float64, in the Python backend and under Numba (CI runs the
jitted ones with NUMBA_BOUNDSCHECK=1), at loop sizes of hundreds."""

import numpy as np
import pytest

import s2sad
from s2sad.check.fd import numerical_grad, rel_error

import split_cases as C

BACKENDS = [pytest.param(False, id="python"), pytest.param(True, id="jit", marks=pytest.mark.slow)]


def _code(text):
    """Generated source without its comment lines (which quote the user's lines)."""
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("#"))


def _rows(n, m, seed):
    return np.random.default_rng(seed).normal(size=(n, m)) * 0.5


CASES = [
    # (function, arguments, helper called in split mode)
    (C.rows_through_writer, lambda: (np.linspace(-0.8, 0.9, 6), _rows(300, 6, 1)), "blend_row"),
    (C.overwrite_after, lambda: (np.linspace(-0.5, 0.7, 5),), "fill"),
    (C.branchy, lambda: (np.linspace(-0.6, 0.8, 4), _rows(200, 4, 2)), "sin_chain"),
    (C.same_array_twice_in_loop, lambda: (np.linspace(-1.0, 1.0, 7),), "mix_into"),
    (C.nested, lambda: (np.linspace(-0.9, 0.6, 5), np.linspace(-1.0, 1.0, 150)), "tanh_chain"),
    (C.calls_while, lambda: (np.linspace(-0.5, 0.5, 8), _rows(250, 2, 3)), "while_chain"),
    (C.calls_rebinder, lambda: (np.linspace(-0.4, 0.9, 6), _rows(200, 1, 4)), "rebinds_param"),
    (C.tuple_results, lambda: (np.linspace(0.5, 1.5, 5), _rows(120, 5, 5)), "stats"),
    # reads the array it made (its adjoint takes that array's shape): joint
    (C.calls_array_result, lambda: (np.linspace(-0.8, 0.9, 7), _rows(150, 7, 7)), "smooth:joint"),
    (C.calls_with_growing_count, lambda: (np.linspace(-0.8, 0.9, 5),), "count_from_contents"),
    (C.feeds_back, lambda: (np.linspace(-0.9, 0.6, 5), 0.3), "tanh_chain"),
    (C.checkpointed_calls, lambda: (np.linspace(-0.9, 0.6, 5), 120, 4), "tanh_chain"),
    # its reverse sweep reads arrays its forward sweep made (views, perhaps): joint mode
    (C.calls_slice_writer, lambda: (np.linspace(-0.7, 0.8, 9),), "shift_slice:joint"),
    (C.calls_effectful, lambda: (np.array([0.4, -0.7]), _rows(150, 1, 6)), "reads_what_a_call_wrote:joint"),
    (C.mean_tested_writes, lambda: (-0.47298, np.array([0.962112, -1.363963, 0.196796])),
     "clamp_when_mean_high"),
]
IDS = ["writes_into_argument", "caller_writes_after", "under_branches", "same_array_twice",
       "nested_helpers", "while_loop_helper", "rebinds_parameter", "tuple_result", "array_result", "count_read_from_contents", "result_is_next_argument", "checkpointed_loop", "slice_write", "faint_result_of_a_call_with_effects",
       "branch_test_reads_the_array_it_writes"]


@pytest.mark.parametrize("jit", BACKENDS)
@pytest.mark.parametrize("f, make_args, helper", CASES, ids=IDS)
def test_split_mode_gradient_matches_finite_differences(f, make_args, helper, jit):
    args = make_args()
    g = s2sad.grad(f, jit=jit)
    got = g(*args)
    src = s2sad.source(g)
    if helper.endswith(":joint"):
        helper = helper.split(":")[0]
        assert f"{helper}_vjp(" in src and f"{helper}_fwd(" not in src, src
    else:  # the helper really is called in split mode, not by a joint VJP
        assert f"= {helper}_fwd(" in src and f"{helper}_rev(" in src and f"{helper}_vjp(" not in src, src
    want = numerical_grad(f, args)
    assert rel_error(got, want) < 1e-7, (got, want)
    # the arguments the helpers wrote into are as the caller passed them
    assert all(np.array_equal(a, b) for a, b in zip(args, make_args()))


def test_nested_split_helpers_record_on_one_tape():
    """A split helper's own helper is split too: its h_fwd runs inside the outer h_fwd, on the
    same tapes, sized by the outer caller's reservation."""
    src = s2sad.source(s2sad.grad(C.nested), np.linspace(-0.9, 0.6, 5), np.linspace(-1.0, 1.0, 150))
    outer_fwd = src.split("def chains_fwd(")[1].split("\ndef ")[0]
    assert "= tanh_chain_fwd(" in outer_fwd and "_reserve_f(" not in outer_fwd, outer_fwd
    top = src.split("def nested_vjp(")[1]
    assert "_reserve_f(" in top and "np.empty(256" in top


def test_gmm_helpers_forward_sweeps_run_once():
    """The loop GMM: sq_mahalanobis's forward sweep runs once, in the caller's forward sweep
    (not again inside a joint VJP); its own result `total` is not computed by its reverse
    sweep, which reads exp(icf[k, j]) off the tape rather than calling exp again (a costly
    primitive), and sum_log_diag's joint VJP no longer sums (faint)."""
    from bench import problems as P

    args = P.make_inputs("gmm", small=True)
    g = s2sad.grad(P.gmm_objective, argnums=(0, 1, 2))
    got = g(*args)
    want = numerical_grad(P.gmm_objective, args, (0, 1, 2))
    for a, b in zip(got, want):
        assert rel_error(a, b) < 1e-7
    src = s2sad.source(g)
    assert "sq_mahalanobis_vjp(" not in src
    rev = _code(src.split("def sq_mahalanobis_rev(")[1].split("\ndef ")[0])
    assert "total +=" not in rev and "math.exp" not in rev
    fwd = _code(src.split("def sq_mahalanobis_fwd(")[1].split("\ndef ")[0])
    assert fwd.count("math.exp") == 1
    sld = _code(src.split("def sum_log_diag_vjp(")[1].split("-- reverse sweep --")[0])
    assert "s +=" not in sld and "s = 0.0" not in sld, sld


def test_faint_statements_are_dropped_but_not_array_writes():
    """Faint-variable elimination keeps what a helper writes into its caller's array, even when
    the helper's own result needs none of it."""
    w = np.linspace(-0.5, 0.7, 5)
    g = s2sad.grad(C.overwrite_after)
    assert rel_error(g(w), numerical_grad(C.overwrite_after, (w,))) < 1e-7
    src = s2sad.source(g)
    fwd = _code(src.split("def fill_fwd(")[1].split("\ndef ")[0])
    assert "dst[j] = math.sin(" in fwd


def test_drop_faint_keeps_what_an_array_write_or_a_later_read_needs():
    """analysis/liveness.py on its own: a loop-carried accumulation nothing reads goes (with its
    loop), one an array write reads stays, and so does a call (it may write into arrays)."""
    from s2sad import ir
    from s2sad.analysis.liveness import drop_faint
    from s2sad.ir.types import Array, Scalar

    V, C0 = ir.Var, ir.Const
    f64 = Scalar("float64")
    types = {"s": f64, "t": f64, "u": f64, "x": f64, "a": Array("float64", 1)}
    acc = lambda v: ir.For(V("j"), C0(0), V("n"), C0(1),  # noqa: E731
                           [ir.Assign(V(v), ir.BinOp("+", V(v), V("x")), inplace=True)])
    body = [ir.Assign(V("s"), C0(0.0)), acc("s"),
            ir.Assign(V("t"), C0(0.0)), acc("t"),
            ir.Assign(V("u"), ir.CallUser("helper", (V("a"),))),
            ir.Store(V("a"), (C0(0),), V("s"))]
    assert drop_faint(body, set(), types)
    kept = [s for s in ir.walk_stmts(body)]
    defs = [n for s in kept for n in ir.stmt_defs(s)]
    assert "t" not in defs and defs.count("s") == 2  # s = 0.0 and s += x stay, t's loop went
    assert sum(isinstance(s, ir.For) for s in kept) == 1
    assert any(isinstance(s, ir.ExprStmt) and isinstance(s.value, ir.CallUser) for s in kept)
    assert isinstance(body[-1], ir.Store)
