"""The tape-size analysis (analysis/tapesize.py) and the reservations built on it
(ad/tape.py): every scalar push is a plain store inside a region whose room was made before
it, so the most the tapes ever hold never exceeds what was reserved; for code without
branches the reservation is exact. Checked by tracing the pure-Python generated code."""

import sys

import numpy as np
import pytest

import s2sad

import progen
import reverse_trust_cases as C
import split_cases as S


class _Trace:
    """Runs a derivative (jit=False) with its module's reserve helpers wrapped, and line-traces
    the generated functions for the high-water mark of the scalar tapes' tops."""

    def __init__(self, derivative, args):
        derivative(*args)  # generate outside the trace
        self.mod = derivative._last.module
        self.path = str(derivative._last.path)
        self.reserved = {"f": 0, "i": 0}
        self.high = {"f": 0, "i": 0}
        self.base = {}
        saved = {}
        for kind, helper in (("f", "_reserve_f"), ("i", "_reserve_i")):
            real = getattr(self.mod, helper, None)
            if real is None:
                continue
            saved[helper] = real

            def wrapped(tape, need, real=real, kind=kind):
                self.reserved[kind] = max(self.reserved[kind], need)
                return real(tape, need)

            setattr(self.mod, helper, wrapped)
        sys.settrace(self._global)
        try:
            self.result = derivative(*args)
        finally:
            sys.settrace(None)
            for helper, real in saved.items():
                setattr(self.mod, helper, real)

    def _global(self, frame, event, arg):
        if frame.f_code.co_filename == self.path and frame.f_code.co_name.endswith(("_vjp", "_fwd", "_rev")):
            return self._local
        return None

    def _local(self, frame, event, arg):
        loc = frame.f_locals
        if frame.f_back is None or frame.f_back.f_code.co_filename != self.path:
            for kind, top, tape in (("f", "_ft", "_ftape"), ("i", "_it", "_itape")):
                if top in loc and tape in loc:
                    self.high[kind] = max(self.high[kind], int(loc[top]))
                    assert loc[top] <= loc[tape].shape[0], "a push past the end of the tape"
        return self._local


@pytest.mark.parametrize("fn, args", [
    (C.lsq, lambda r: (r.normal(size=3), r.normal(size=(70, 3)), r.normal(size=70))),
    (C.triangular, lambda r: (r.uniform(-0.2, 0.2, 40),)),
    (C.heat, lambda r: (np.sin(np.linspace(0.0, 3.0, 12)), 0.2)),
    (C.rows_while, lambda r: (r.normal(size=3), r.normal(size=(50, 3)))),
    (S.nested, lambda r: (r.uniform(-0.9, 0.9, 5), r.uniform(-1.0, 1.0, 150))),
    (S.calls_while, lambda r: (r.uniform(-0.5, 0.5, 8), r.normal(size=(250, 2)))),
    (S.branchy, lambda r: (r.uniform(-0.6, 0.8, 4), r.normal(size=(200, 4)))),
    (S.calls_with_growing_count, lambda r: (r.uniform(-0.8, 0.9, 5),)),
], ids=["rows", "triangular", "stencil", "while_rows", "split_nested", "split_while", "split_branches",
        "split_count_from_contents"])
def test_reservations_cover_the_high_water_mark(fn, args):
    t = _Trace(s2sad.grad(fn), args(np.random.default_rng(0)))
    for kind in ("f", "i"):
        assert t.high[kind] <= t.reserved[kind], (kind, t.high, t.reserved)


def test_reservation_is_exact_for_a_loop_over_rows():
    r = np.random.default_rng(1)
    for n in (70, 300):
        t = _Trace(s2sad.grad(C.running_tanh), (r.normal(size=3), r.normal(size=(n, 3))))
        assert t.reserved["f"] == t.high["f"] == n  # one float per row, reserved in one step


def test_rows_of_an_unchanged_matrix_are_read_again_not_recorded():
    src = s2sad.source(s2sad.grad(C.lsq), np.ones(3), np.ones((5, 3)), np.ones(5))
    assert "_ftape" not in src and "_atape" not in src


def test_no_unchecked_push_outside_a_reserved_region():
    """The generated code writes the scalar tapes only with plain stores, each after a
    reservation in an enclosing block; the checked push helpers are not needed at all."""
    src = s2sad.source(s2sad.grad(C.gmm_like, (0, 1, 2)), np.ones(2), np.ones((2, 3)), np.ones((2, 6)),
                       np.ones((4, 3)))
    assert "_reserve_f(" in src and "_ftape[_ft] = " in src
    assert "_push_f(" not in src and "_push_i(" not in src


@pytest.mark.parametrize("seed", range(40))
def test_random_data_programs_stay_within_their_reservations(seed):
    program = progen.from_seed(10_000 + seed, max_stmts=4, data=True)
    f = progen.load(program)
    args = program.args(seed)
    try:
        f(*progen._fresh(args))
    except (OverflowError, ZeroDivisionError, ValueError):
        pytest.skip("the program raises at this point")
    t = _Trace(s2sad.grad(f, progen.ARGNUMS), progen._fresh(args))
    for kind in ("f", "i"):
        assert t.high[kind] <= t.reserved[kind], (kind, t.high, t.reserved, program.source)
