"""Smoke test of the benchmark runner (bench/run.py): a quick run on one problem produces the
tables and a JSON with every field the README documents. Speed is not asserted."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_run_writes_json(tmp_path):
    out = tmp_path / "results.json"
    env_cache = tmp_path / "cache"
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--no-peers", "--no-subprocess",
         "--problems", "lorenz", "--json", str(out), "--plot", str(tmp_path / "bench.png")],
        check=False, capture_output=True, text=True, timeout=300, cwd=str(REPO),
        env={**os.environ, "S2SAD_CACHE_DIR": str(env_cache)})
    assert p.returncode == 0, p.stderr[-3000:]
    assert "== lorenz:" in p.stdout and "== targets" in p.stdout

    data = json.loads(out.read_text())
    assert {"machine", "options", "problems", "targets"} <= set(data)
    assert data["machine"]["numba"] and data["options"]["quick"] is True
    rec = data["problems"]["lorenz"]
    V = rec["variants"]
    for key in ("function", "s2sad_reverse", "s2sad_reverse_raw", "s2sad_reverse_api",
                "s2sad_forward", "s2sad_forward_sweep", "hand"):
        assert V[key]["status"] == "measured", (key, V[key])
        assert V[key]["median_s"] > 0 and V[key]["samples"] >= 3
        assert V[key]["x_function"] > 0 and V[key]["x_hand"] > 0
    for key in ("s2sad_reverse", "s2sad_forward", "hand"):
        assert V[key]["max_rel_err_vs_hand"] < 1e-9, (key, V[key]["max_rel_err_vs_hand"])
    assert V["function"]["x_function"] == pytest.approx(1.0)

    gen = rec["source_generation"]
    assert gen["reverse"]["median_s"] > 0 and gen["forward"]["median_s"] > 0
    tape = rec["tape"]
    assert tape["per"] == "Euler step" and tape["bench_count"] == 1000
    assert tape["floats_per_iter"] >= 0 and tape["bench_bytes"] >= 0  # a target, not asserted
    assert "first_call" not in rec  # --no-subprocess

    names = {t["target"] for t in data["targets"]}
    assert any("3x function" in n for n in names) and any("tape" in n for n in names)
    assert all(t["met"] in (True, False, None) for t in data["targets"])
    png = (tmp_path / "bench.png").read_bytes()  # --plot: drawn with matplotlib
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_cuda_bench_on_the_simulator(tmp_path):
    """bench/cuda.py --sim (Numba's CUDA simulator, tiny sizes): every table and target row is
    printed, the generated adjoints agree with the hand-written ones, the report file is written.
    Speed is not asserted (the simulator's times mean nothing)."""
    pytest.importorskip("s2sad.cuda")
    out = tmp_path / "cuda_bench.txt"
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "cuda.py"), "--sim", "--n", "96", "--members", "40",
         "--steps", "12", "--repeats", "2", "--out", str(out)],
        check=False, capture_output=True, text=True, timeout=300, cwd=str(REPO),
        env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "S2SAD_CACHE_DIR": str(tmp_path / "cache"),
             "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stderr[-3000:]
    text = out.read_text()
    assert text.strip() == p.stdout.strip()
    for title in ("== elementwise", "== 3-point stencil", "== ensemble Lorenz", "== targets"):
        assert title in text, title
    rows = [line for line in text.splitlines() if line.startswith("generated adjoint")]
    assert len(rows) == 4, rows  # elementwise, stencil, Lorenz taped and checkpointed
    for row in rows[:3]:  # measured, and the same adjoint as the hand-written kernel
        assert "max rel err vs hand" in row and "MISMATCH" not in row, row
    assert "MISMATCH" not in rows[3]  # the checkpointed one: measured, or why not (test_cuda's job)
    targets = text.split("== targets")[1].splitlines()
    assert len([t for t in targets if t.endswith("MET")]) >= 3
    assert any(t.startswith("Lorenz: generated (tape) >= 8x faster than JAX") and t.endswith("NOT MEASURED")
               for t in targets)  # JAX is skipped under --sim


@pytest.mark.slow
def test_quick_run_of_a_vectorized_problem(tmp_path):
    """attention (issue 15): the NumPy function, grad(f, jit=True), the Python backend, JAX
    reported as not installed or measured, and where the jitted gradient's time goes."""
    out = tmp_path / "results.json"
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--no-subprocess", "--no-tape",
         "--no-overhead", "--no-source-gen", "--no-where", "--peers", "jax", "--problems", "attention",
         "--json", str(out)],
        check=False, capture_output=True, text=True, timeout=900, cwd=str(REPO),
        env={**os.environ, "S2SAD_CACHE_DIR": str(tmp_path / "cache")})
    assert p.returncode == 0, p.stderr[-3000:]
    assert "== attention:" in p.stdout and "where the time goes" not in p.stdout
    V = json.loads(out.read_text())["problems"]["attention"]["variants"]
    assert V["s2sad_reverse_api"]["max_rel_err_vs_hand"] < 1e-10
    assert V["jax"]["status"] in ("measured", "skipped")
    assert {"function", "s2sad_python"} <= set(V)


def _centred_norm(x, w):
    c = x - np.mean(x, axis=0, keepdims=True)
    return np.sum(np.tanh(c @ w) ** 2)


@pytest.mark.slow
def test_where_the_time_goes_names_the_user_lines():
    """bench/where.py on a small vectorized function: every share is a fraction, they add up to
    about the whole, and the lines reported are the user's (the bench's quick run skips it:
    recompiling attention with clock reads took two minutes of CI)."""
    import s2sad
    from bench import where
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(300, 20)), rng.normal(size=(20, 8)))
    g = s2sad.grad(_centred_norm, (0, 1), jit=True)
    g(*args)
    rec = where.profile(g, args, repeats=3)
    assert "error" not in rec, rec
    shares = [r["share"] for r in rec["lines"]]
    assert all(0.0 <= s <= 1.0 for s in shares) and 0.5 < sum(shares) < 1.5, shares
    assert rec["total_s"] > 0.0
    # Tiny inputs, where a statement can take less than the clock read taken off it, still give
    # shares of a positive whole (CI once saw every share 0.0 at 6x3).
    small = (args[0][:6, :3].copy(), args[1][:3, :2].copy())
    g(*small)
    rec = where.profile(g, small, repeats=3)
    shares = [r["share"] for r in rec["lines"]]
    assert rec["total_s"] > 0.0 and 0.5 < sum(shares) < 1.5, shares
    assert any("np.tanh(c @ w)" in r["line"] for r in rec["lines"]), rec["lines"]


@pytest.mark.slow
def test_examples_first_calls_are_timed_one_derivative_at_a_time(capsys):
    """bench/run.py's examples section: in a fresh process with empty caches, each row of
    examples/demo.py --jit is run and each derivative's first call is timed on its own (linear's
    reverse row makes two: the loss's gradient and the layer's VJP); the targets table gets one
    row per derivative and one for the whole demo."""
    from bench import run
    rec = run.measure_examples(["square", "linear"])
    assert "error" not in rec, rec
    rows = {(r["example"], r["mode"]): r for r in rec["rows"]}
    assert set(rows) == {("square", "reverse"), ("square", "forward"), ("linear", "reverse"),
                         ("linear", "forward")}
    assert all(r["ok"] for r in rows.values()), rows
    made = [d["module"].split("_jit_")[0] for d in rows[("linear", "reverse")]["derivatives"]]
    assert sorted(made) == ["linear", "loss"], made
    for r in rows.values():
        assert r["derivatives"] and all(0 < d["cpu_s"] <= r["cpu_s"] * 1.05 for d in r["derivatives"])
    assert rec["total_cpu_s"] >= sum(r["cpu_s"] for r in rows.values()) * 0.95
    targets = run.evaluate_targets({}, None, rec, "cpu")
    per = [t for t in targets if t["target"].startswith("cold first call <= 2 s per derivative")]
    assert len(per) == sum(len(r["derivatives"]) for r in rows.values())
    assert any(t["problem"] == "demo" and t["limit"] == 10.0 for t in targets)
    run.print_examples(rec, "cpu")
    out = capsys.readouterr().out
    assert "linear        reverse" in out and "loss " in out


@pytest.mark.slow
def test_hand_written_gradient_first_call_in_a_fresh_process(tmp_path):
    """The floor s2sad's cold first call is set against: bench/handwritten.py's @njit gradient
    compiled by Numba in a fresh process."""
    from bench import run
    rec = run._run_child([sys.executable, str(REPO / "bench" / "run.py"), "--child-hand-first-call",
                          "lorenz"], {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert "error" not in rec, rec
    assert 0 < rec["first_call_cpu_s"] and 0 < rec["first_call_s"] < rec["process_wall_s"]
