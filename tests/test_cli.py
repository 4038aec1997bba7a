"""The ``s2sad`` command line, run as a subprocess (``python -m s2sad``).

Emitted modules are imported in a fresh interpreter in which s2sad cannot be imported and
compared there against finite differences; emitting twice gives the same bytes; every bad input
is one ``s2sad: error:`` line and a non-zero exit status, never a traceback.

Subprocesses are slow to start, so the commands of a group of tests run once, in parallel, in a
module-level fixture, and the tests read their results.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import s2sad

REPO = Path(__file__).resolve().parent.parent
FIX = "tests/cli_fixtures"  # relative to REPO: the paths in headers and messages stay short
LINE_LENGTH = 100

# the functions of the main emitted module, with a point each (away from kinks and branch
# boundaries) and the differentiated arguments; several points where branches differ
CASES = [
    ("loops", "weighted_energy", [[0.3, -1.2, 0.8, 2.0, 0.4], 0.7], [0, 1]),
    ("loops", "pairwise", [[0.3, -0.2, 0.9, 0.5], 4], [0]),
    ("loops", "newton_sqrt", [2.5], [0]),
    ("branches", "piecewise", [0.3, 1.2], [0, 1]),  # log branch
    ("branches", "piecewise", [1.5, 0.4], [0, 1]),  # x > y
    ("branches", "piecewise", [-0.5, 0.2], [0, 1]),  # exp branch
    ("branches", "clipped_sum", [[0.5, 0.1, 0.9, 3.0, 0.7], 0.2, 2.0], [0, 1, 2]),
    ("inplace", "smooth", [[1.0, 0.3, 2.0, -0.5, 0.8, 1.1], 3, 0.2], [0, 2]),
    ("inplace", "recurrence", [[0.4, 1.3, -0.7, 0.2]], [0]),
    ("helpers", "model", [[0.8, -0.3], [[0.5, 1.0], [-0.2, 0.3], [1.1, 0.0], [0.7, -0.4]]], [0, 1]),
    ("helpers", "norm2", [[0.5, -1.5, 2.0]], [0]),
]
MAIN_TARGETS = list(dict.fromkeys(f"{FIX}/{m}.py:{f}" for m, f, _, _ in CASES))


def cli(*args, cwd=REPO, hash_seed="0"):
    """Run ``python -m s2sad ARGS`` and return the completed process."""
    env = dict(os.environ, NO_COLOR="1", PYTHONHASHSEED=hash_seed)
    return subprocess.run([sys.executable, "-m", "s2sad", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=300, check=False)


BATCH = textwrap.dedent("""
    import contextlib, io, json, sys
    from s2sad.cli import main
    out = {}
    for key, argv in json.load(sys.stdin).items():
        o, e = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
            try:
                rc = main(argv)
            except SystemExit as x:  # argparse: --help, usage errors
                rc = x.code if isinstance(x.code, int) else int(x.code is not None)
        out[key] = [rc, o.getvalue(), e.getvalue()]
    json.dump(out, sys.stdout)
""")


def cli_batch(commands):
    """Run several command lines through the CLI's ``main`` in one fresh interpreter (a
    subprocess each would take most of this file's time): {key: result}, each result with
    ``returncode``, ``stdout`` and ``stderr`` as from ``cli``."""
    env = dict(os.environ, NO_COLOR="1")
    p = subprocess.run([sys.executable, "-c", BATCH], input=json.dumps(commands), cwd=REPO,
                       capture_output=True, text=True, env=env, timeout=600, check=False)
    assert p.returncode == 0, p.stderr
    return {key: SimpleNamespace(returncode=rc, stdout=o, stderr=e)
            for key, (rc, o, e) in json.loads(p.stdout).items()}


def run_all(real, batched):
    """``real`` command lines as ``python -m s2sad`` subprocesses (in parallel), ``batched``
    ones through ``cli_batch``."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        # each with its own hash seed: the output must not depend on set or dict order
        futures = {key: pool.submit(cli, *args, hash_seed=str(k + 1))
                   for k, (key, args) in enumerate(real.items())}
        batch = pool.submit(cli_batch, batched) if batched else None
        res = {key: f.result() for key, f in futures.items()}
        if batch is not None:
            res.update(batch.result())
    return res


def load(path, name="emitted_under_test"):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fixture_module(name):
    return load(REPO / FIX / f"{name}.py", f"cli_fixture_{name}")


def def_line(module, func):
    tree = ast.parse((REPO / FIX / f"{module}.py").read_text())
    return next(n.lineno for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func)


def source_line_number(module, text):
    lines = (REPO / FIX / f"{module}.py").read_text().splitlines()
    return next(k for k, ln in enumerate(lines, 1) if ln.strip().startswith(text))


# ================================================================ emitted modules


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    """Every emit the tests read, run once and in parallel."""
    out = tmp_path_factory.mktemp("emit")
    main = out / "derivatives.py"
    real = {
        "main": ["emit", *MAIN_TARGETS, "--mode", "both", "-o", str(main)],
        "again": ["emit", *MAIN_TARGETS, "--mode", "both"],
    }
    batched = {
        "field": ["emit", f"{FIX}/helpers.py:field", "--mode", "forward"],
        "argnums1": ["emit", f"{FIX}/loops.py:weighted_energy", "--argnums", "1"],
        "argnums0,": ["emit", f"{FIX}/loops.py:weighted_energy", "--argnums", "0,"],
        "wrt k,x": ["emit", f"{FIX}/loops.py:weighted_energy", "--wrt", "k,x"],
        "types": ["emit", f"{FIX}/loops.py:unannotated", "--types", "x=float64[:]", "--wrt", "x",
                  "--mode", "forward"],
        "default": ["emit", f"{FIX}/loops.py:unannotated"],
        "names": ["emit", f"{FIX}/loops.py:newton_sqrt", "--mode", "both", "--name",
                  "dsqrt,sqrt_tangent"],
    }
    res = run_all(real, batched)
    for key, p in res.items():
        assert p.returncode == 0, (key, p.stderr)
        assert "Traceback" not in p.stderr
    res["main_path"] = main
    res["main_text"] = main.read_text()
    return res


CHECK_SCRIPT = textwrap.dedent('''
    import importlib.util, json, sys
    sys.modules["s2sad"] = None  # whatever is installed, s2sad is not importable here
    try:
        import s2sad  # noqa: F401
        blocked = False
    except ImportError:
        blocked = True
    import numpy as np

    def load(path, name):
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    def copy(args):
        return [a.copy() if isinstance(a, np.ndarray) else a for a in args]

    def fd(f, args, k):
        """4th-order central differences of f w.r.t. argument k, entry by entry."""
        x = np.asarray(args[k], dtype=np.float64)
        g = np.zeros(x.shape)
        for idx in np.ndindex(x.shape):
            h = 1e-3 * max(1.0, abs(float(x[idx])))
            acc = 0.0
            for s, c in ((1, 8.0), (2, -1.0)):
                vals = []
                for sign in (1, -1):
                    a = copy(args)
                    xs = x.copy()
                    xs[idx] += sign * s * h
                    a[k] = xs if x.ndim else float(xs)
                    vals.append(float(f(*a)))
                acc += c * (vals[0] - vals[1])
            g[idx] = acc / (12.0 * h)
        return g

    def err(a, b):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)), initial=0.0))

    emitted = load(sys.argv[1], "emitted")
    cases = json.load(open(sys.argv[2]))
    out = []
    for c in cases:
        user = load(c["path"], "user_" + c["module"])
        f = getattr(user, c["func"])
        args = [np.array(a, dtype=np.float64) if isinstance(a, list) else a for a in c["args"]]
        nums = c["argnums"]
        ref = [fd(f, args, k) for k in nums]
        res = {"case": c["func"], "args": c["args"]}
        # reverse: FUNC_grad(args) returns a tuple of gradients in argnums order
        before = copy(args)
        g = getattr(emitted, c["func"] + "_grad")(*args)
        g = list(g) if isinstance(g, tuple) else [g]
        res["reverse"] = max(err(a, b) for a, b in zip(g, ref))
        res["types_ok"] = all(
            (type(a) is float) if not isinstance(args[k], np.ndarray)
            else (isinstance(a, np.ndarray) and a.shape == args[k].shape and a.dtype == np.float64)
            for a, k in zip(g, nums)) and len(g) == len(nums)
        res["inputs_kept"] = all(np.array_equal(a, b) for a, b in zip(args, before))
        # forward: FUNC_jvp(primals, tangents) -> (value, tangent), one unit tangent at a time
        jvp = getattr(emitted, c["func"] + "_jvp")
        zeros = [np.zeros_like(args[k]) if isinstance(args[k], np.ndarray) else 0.0 for k in nums]
        fwd = []
        for j, k in enumerate(nums):
            col = np.zeros(np.shape(args[k]))
            for idx in np.ndindex(np.shape(args[k])):
                tangents = copy(zeros)
                if isinstance(args[k], np.ndarray):
                    tangents[j] = np.zeros_like(args[k])
                    tangents[j][idx] = 1.0
                else:
                    tangents[j] = 1.0
                value, d = jvp(*copy(args), *tangents)
                col[idx] = d
            fwd.append(col)
        res["forward"] = max(err(a, b) for a, b in zip(fwd, ref))
        res["value"] = err(value, f(*copy(args)))
        out.append(res)
    loaded = sorted(m for m, v in sys.modules.items() if m.split(".")[0] == "s2sad" and v)
    print(json.dumps({"blocked": blocked, "s2sad_modules": loaded, "results": out}))
''')


def run_standalone(module_path, cases, tmp_path, extra_env=None):
    """Import ``module_path`` in a fresh ``python -I`` without s2sad, from a temporary folder,
    and compare its FUNC_grad / FUNC_jvp with finite differences there."""
    script = tmp_path / "standalone_check.py"
    script.write_text(CHECK_SCRIPT)
    data = [{"module": m, "path": str(REPO / FIX / f"{m}.py"), "func": f, "args": a,
             "argnums": n} for m, f, a, n in cases]
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(data))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(extra_env or {})
    p = subprocess.run([sys.executable, "-I", str(script), str(module_path), str(cases_file)],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
                       check=False)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_emitted_module_runs_without_s2sad_and_matches_finite_differences(emitted, tmp_path):
    copy = tmp_path / "derivatives.py"
    shutil.copy(emitted["main_path"], copy)
    out = run_standalone(copy, CASES, tmp_path)
    assert out["blocked"], "s2sad must not be importable in the standalone check"
    assert out["s2sad_modules"] == []
    assert len(out["results"]) == len(CASES)
    for r in out["results"]:
        assert r["reverse"] < 1e-6, r
        assert r["forward"] < 1e-6, r
        assert r["value"] < 1e-12, r
        assert r["types_ok"], r
        assert r["inputs_kept"], r


def test_emitted_module_imports_only_numpy_and_math(emitted):
    tree = ast.parse(emitted["main_text"])
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported == {"math", "numpy"}


def test_emitting_twice_gives_the_same_bytes(emitted):
    # two processes, one writing a file, one printing
    assert emitted["again"].stdout.encode() == emitted["main_path"].read_bytes()
    assert "s2sad: wrote " in emitted["main"].stderr


def test_emitted_module_layout(emitted):
    text = emitted["main_text"]
    long = [ln for ln in text.splitlines() if len(ln) > LINE_LENGTH]
    assert not long
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\t" not in text and not re.search(r"[ \t]+$", text, re.MULTILINE)
    assert "\n\n\n\n" not in text
    for m in re.finditer(r"\n(?:@.*\n)?def ", text):  # two blank lines before each function
        assert text[: m.start() + 1].endswith("\n\n\n") or text[m.start() - 1] == "\n", m


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_emitted_modules_pass_ruff(emitted, tmp_path):
    files = []
    for key in ("main_text", "field", "argnums0,", "names"):
        text = emitted[key] if key == "main_text" else emitted[key].stdout
        path = tmp_path / f"emitted_{len(files)}.py"
        path.write_text(text)
        files.append(str(path))
    # ruff's default rules, plus pycodestyle's errors and warnings (line length 100)
    p = subprocess.run(["ruff", "check", "--isolated", "--extend-select", "E,W", "--line-length",
                        str(LINE_LENGTH), *files], capture_output=True, text=True, cwd=tmp_path,
                       check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_header(emitted):
    text = emitted["main_text"]
    header = text[: text.index("\nimport ")]
    assert all(ln.startswith("#") or not ln for ln in header.splitlines())
    assert f"# Generated by s2sad {s2sad.__version__} " in header
    line = def_line("loops", "weighted_energy")
    assert f"# Differentiation of weighted_energy ({FIX}/loops.py:{line}):" in header
    assert "#     weighted_energy(x: float64[:], k: float64) -> float64" in header
    assert "#     with respect to varying inputs: x k" in header
    assert ("#     reverse (adjoint) mode: weighted_energy_grad(x, k) -> (d/dx, d/dk)"
            in header)
    assert ("#     forward (tangent) mode: weighted_energy_jvp(x, k, x_dot, k_dot) -> "
            "(value, tangent)" in header)
    assert "#     with respect to varying inputs: x\n" in header  # pairwise: not the int n
    assert "# Regenerate with:" in header
    # no timestamp, no absolute path, no user name: the same input gives the same bytes
    assert not re.search(r"\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d|20\d\d", header)
    assert str(REPO) not in text


def test_source_and_emit_print_one_header(emitted):
    # the module assembler prints the header of s2sad.source() (the module cache) and of
    # s2sad emit alike: the same lines for the same derivative
    loops = fixture_module("loops")
    src = s2sad.source(s2sad.grad(loops.weighted_energy, argnums=(0, 1)),
                       np.array([0.3, -1.2, 0.8]), 0.7)

    def header(text):
        head = text[: text.index("\n\n")].splitlines()
        k = next(i for i, ln in enumerate(head)
                 if ln.startswith("# Differentiation of weighted_energy ("))
        entry = head[k + 3].split(":")[0]
        return head[0], head[k].rsplit("/", 1)[-1], head[k + 1], head[k + 2], entry

    assert header(src) == header(emitted["main_text"])
    assert "#     reverse (adjoint) mode: weighted_energy_vjp(x, k, out_bar, x_bar) -> (value, " \
           "x_bar, k_bar)" in src
    assert not src.startswith('"""')  # one format: comments, as Tapenade writes its header


def test_provenance_comments_and_module_level_arrays(emitted):
    text = emitted["main_text"]
    # derivative statements carry the user's source lines, and where they are
    line = source_line_number("loops", "e += WEIGHTS[i % 4] * math.sin(k * x[i]) ** 2")
    assert f"        # loops.py:{line}: e += WEIGHTS[i % 4] * math.sin(k * x[i]) ** 2\n" in text
    line = source_line_number("inplace", "u[i] = u[i] + nu * (u[i - 1]")
    assert f"# inplace.py:{line}: u[i] = u[i] + nu * (u[i - 1] - 2.0 * u[i] + u[i + 1])" in text
    # module-level arrays become exact literals
    assert "WEIGHTS = np.array([0.5, -1.25, 2.0, 0.1], dtype=np.float64)\n" in text
    assert "0.3333333333333333" in text
    mod = load(emitted["main_path"], "emitted_literals")
    helpers, loops = fixture_module("helpers"), fixture_module("loops")
    assert mod.A.dtype == helpers.A.dtype and np.array_equal(mod.A, helpers.A)
    assert np.array_equal(mod.WEIGHTS, loops.WEIGHTS)
    # one helper derivative for the helper that two targets call
    assert text.count("\ndef _sq(") == 1
    assert text.count("\ndef norm2_vjp(") == 1
    assert sorted(mod.__all__) == sorted(f"{f}_{s}" for f in dict.fromkeys(c[1] for c in CASES)
                                         for s in ("grad", "jvp"))


def test_grad_wrapper_returns_what_s2sad_grad_returns(emitted, tmp_path):
    loops = fixture_module("loops")
    x = np.array([0.3, -1.2, 0.8, 2.0, 0.4])
    k = 0.7
    variants = {"argnums1": 1, "argnums0,": (0,), "wrt k,x": (1, 0)}
    for key, argnums in variants.items():
        path = tmp_path / f"v{len(key)}.py"
        path.write_text(emitted[key].stdout)
        got = load(path, f"variant_{abs(hash(key))}").weighted_energy_grad(x.copy(), k)
        want = s2sad.grad(loops.weighted_energy, argnums)(x.copy(), k)
        assert type(got) is type(want), key
        if isinstance(want, tuple):
            assert len(got) == len(want)
            for a, b in zip(got, want):
                assert type(a) is type(b)
                np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    assert "argnums=(1, 0)" in emitted["wrt k,x"].stdout


def test_types_from_option_annotation_or_default(emitted, tmp_path):
    loops = fixture_module("loops")
    typed = emitted["types"].stdout
    assert "unannotated(x: float64[:], y: float64) -> float64[:]" in typed
    default = emitted["default"].stdout
    assert "unannotated(x: float64, y: float64) -> float64" in default
    path = tmp_path / "default.py"
    path.write_text(default)
    mod = load(path, "emitted_default")
    want = s2sad.grad(loops.unannotated, (0, 1))(0.4, 1.3)
    got = mod.unannotated_grad(0.4, 1.3)
    assert type(got) is tuple and np.allclose(got, want, rtol=1e-13)


def test_forward_mode_of_a_vector_function(emitted, tmp_path):
    from s2sad.check.fd import numerical_jacobian
    text = emitted["field"].stdout
    assert "def field_jvp(x, c, x_dot, c_dot):" in text and "_grad" not in text
    path = tmp_path / "field.py"
    path.write_text(text)
    mod = load(path, "emitted_field")
    helpers = fixture_module("helpers")
    x, c = np.array([0.3, -0.8, 1.4]), 0.6
    jx, jc = numerical_jacobian(helpers.field, (x, c), argnums=(0, 1))
    tx, tc = np.array([0.2, -1.0, 0.5]), 0.3
    value, tangent = mod.field_jvp(x.copy(), c, tx.copy(), tc)
    np.testing.assert_allclose(value, helpers.field(x.copy(), c), rtol=1e-14)
    np.testing.assert_allclose(tangent, jx @ tx + jc * tc, rtol=1e-7, atol=1e-9)


def test_name_option(emitted, tmp_path):
    text = emitted["names"].stdout
    assert "def dsqrt(a):" in text and "def sqrt_tangent(a, a_dot):" in text
    assert '__all__ = ["dsqrt", "sqrt_tangent"]' in text
    path = tmp_path / "names.py"
    path.write_text(text)
    mod = load(path, "emitted_names")
    assert abs(mod.dsqrt(2.5) - 0.5 / np.sqrt(2.5)) < 1e-9
    value, tangent = mod.sqrt_tangent(2.5, 1.0)
    assert abs(value - np.sqrt(2.5)) < 1e-12 and abs(tangent - 0.5 / np.sqrt(2.5)) < 1e-9


@pytest.mark.slow
def test_jit_emit_runs_under_numba_without_s2sad(tmp_path):
    pytest.importorskip("numba")
    out = tmp_path / "jitted.py"
    p = cli("emit", f"{FIX}/loops.py:weighted_energy", "--jit", "--mode", "both", "-o", str(out))
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert "import numba\n" in text and '@numba.njit(cache=True, error_model="numpy")' in text
    assert "needs only numpy, math and numba" in text
    res = run_standalone(out, [c for c in CASES if c[1] == "weighted_energy"], tmp_path,
                         {"NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")})
    assert res["blocked"] and res["s2sad_modules"] == []
    r = res["results"][0]
    assert r["reverse"] < 1e-6 and r["forward"] < 1e-6 and r["types_ok"], r


# ================================================================ show, check, --help


@pytest.fixture(scope="module")
def runs():
    """The show / check / help commands the tests read, run once and in parallel."""
    we = f"{FIX}/loops.py:weighted_energy"
    real = {
        "version": ["--version"],
        "check mismatch": ["check", f"{FIX}/mismatch.py:detached", "--at", "x=0.5"],
    }
    return run_all(real, {
        "help": ["--help"],
        "emit --help": ["emit", "--help"],
        "show --help": ["show", "--help"],
        "check --help": ["check", "--help"],
        "show": ["show", we],
        "show color": ["show", we, "--color", "always"],
        "show ir": ["show", we, "--ir"],
        "show dot": ["show", we, "--dot", "--mode", "both"],
        "check at": ["check", f"{FIX}/branches.py:piecewise", "--at", "x=0.3, y=1.2",
                     "--at", "1.5, 0.4"],
        "check random": ["check", f"{FIX}/loops.py:pairwise", "--random", "2", "--at", "n=4",
                         "--seed", "7"],
        "check random again": ["check", f"{FIX}/loops.py:pairwise", "--random", "2", "--at",
                               "n=4", "--seed", "7"],
        "check vector": ["check", f"{FIX}/helpers.py:field", "--random", "1"],
        "check int literal": ["check", f"{FIX}/loops.py:unannotated", "--at", "x=1, y=0.5"],
    })


def test_version_and_help(runs):
    assert runs["version"].returncode == 0
    assert runs["version"].stdout.strip() == f"s2sad {s2sad.__version__}"
    assert runs["help"].returncode == 0
    for cmd in ("emit", "show", "check"):
        assert cmd in runs["help"].stdout
        p = runs[f"{cmd} --help"]
        assert p.returncode == 0, p.stderr
        assert "examples:" in p.stdout and f"s2sad {cmd} " in p.stdout


@pytest.mark.skipif(shutil.which("s2sad") is None, reason="the console script is not installed")
def test_console_script():
    p = subprocess.run(["s2sad", "--version"], capture_output=True, text=True, timeout=120,
                       check=False)
    assert p.returncode == 0 and p.stdout.strip() == f"s2sad {s2sad.__version__}"


def test_show_source_ir_and_dot(runs):
    src = runs["show"]
    assert src.returncode == 0
    assert "def weighted_energy_vjp(" in src.stdout and "\x1b[" not in src.stdout
    assert src.stdout.startswith("# Generated by s2sad")
    color = runs["show color"]
    assert color.returncode == 0
    pygments = importlib.util.find_spec("pygments") is not None
    assert ("\x1b[" in color.stdout) == pygments
    ir_text = runs["show ir"].stdout
    assert runs["show ir"].returncode == 0
    assert "inferred types" in ir_text and "#   x: float64[:]" in ir_text
    assert "def weighted_energy(x, k):" in ir_text and "weighted_energy_vjp" in ir_text
    dot = runs["show dot"].stdout
    assert runs["show dot"].returncode == 0
    assert dot.startswith("digraph s2sad {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    assert '"weighted_energy (primal)"' in dot
    assert '"weighted_energy_vjp (reverse mode)"' in dot
    assert '"weighted_energy_jvp (forward mode)"' in dot
    declared = set(re.findall(r"^\s*(n\d+) \[", dot, re.MULTILINE))
    edges = re.findall(r"^\s*(n\d+) -> (n\d+);", dot, re.MULTILINE)
    assert edges and all(a in declared and b in declared for a, b in edges)


def test_check_at_points(runs):
    p = runs["check at"]
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert re.search(r"point\s+reverse\s+forward\s+sympy\s+result", out)
    assert len(re.findall(r"^\s+\d+\s+\S+\s+\S+\s+\S+\s+ok$", out, re.MULTILINE)) == 2
    assert "1: --at 'x=0.3, y=1.2'" in out and "2: --at 'x=1.5, y=0.4'" in out


def test_check_random_points_are_reproducible(runs):
    p = runs["check random"]
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == runs["check random again"].stdout
    points = re.findall(r"--at '(.*)'", p.stdout)
    assert len(points) == 2 and all(pt.endswith("n=4") for pt in points)


def test_check_vector_output_both_modes(runs):
    p = runs["check vector"]
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"^\s+1\s+\S+e-\d+\s+\S+e-\d+\s+\S+\s+ok$", p.stdout, re.MULTILINE)


def test_check_reports_a_mismatch(runs):
    p = runs["check mismatch"]
    assert p.returncode == 1, p.stdout + p.stderr
    assert "MISMATCH" in p.stdout
    assert "Traceback" not in p.stderr


def test_check_int_literal_gives_an_int(runs):
    # x=1 is an int, so the float parameters left are y alone
    p = runs["check int literal"]
    assert p.returncode == 0, p.stdout + p.stderr
    assert "with respect to y" in p.stdout


# ================================================================ bad input


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "syntax_error.py").write_text("import math\n\n\ndef f(x):\n    return x +* 2.0\n")
    (d / "raises.py").write_text("import numpy as np\n\nraise RuntimeError('boom')\n")
    we = f"{FIX}/loops.py:weighted_energy"
    real = {
        "missing file": ["emit", f"{FIX}/nope.py:f"],
        "syntax error": ["emit", f"{d}/syntax_error.py:f"],
        "int in wrt": ["emit", f"{FIX}/loops.py:pairwise", "--wrt", "n"],
        "debug": ["emit", f"{FIX}/nope.py:f", "--debug"],
    }
    batched = {
        "missing function": ["emit", f"{FIX}/loops.py:nope"],
        "no function given": ["emit", f"{FIX}/loops.py"],
        "import error": ["emit", f"{d}/raises.py:f"],
        "unsupported construct": ["emit", f"{FIX}/bad.py:uses_try"],
        "foreign callable": ["emit", f"{FIX}/bad.py:uses_foreign"],
        "vector output in reverse": ["emit", f"{FIX}/bad.py:vector"],
        "bad annotation": ["emit", f"{FIX}/bad.py:bad_annotation"],
        "unknown wrt": ["emit", we, "--wrt", "x,z"],
        "int in argnums": ["show", f"{FIX}/loops.py:pairwise", "--argnums", "1"],
        "argnums out of range": ["emit", we, "--argnums", "5"],
        "argnums not a number": ["emit", we, "--argnums", "x"],
        "bad types": ["emit", we, "--types", "x=complex128[:]"],
        "types unknown name": ["emit", we, "--types", "q=float64"],
        "at unclosed": ["check", we, "--at", "x=[1, 2"],
        "at not a literal": ["check", we, "--at", "x=[1, 2], k=foo"],
        "at unknown name": ["check", we, "--at", "z=1.0"],
        "at wrong kind": ["check", we, "--at", "x=0.3, k=0.5"],
        "at not a list of numbers": ["check", we, "--at", "x=['a'], k=0.5"],
        "at missing value": ["check", we, "--at", "k=0.5"],
        "output into a missing folder": ["emit", we, "-o", f"{d}/no/such/dir/out.py"],
        "name count": ["emit", we, "--mode", "both", "--name", "one"],
        "same name twice": ["emit", we, we],
        "unknown option": ["emit", we, "--frobnicate"],
        "output onto the source": ["emit", we, "-o", f"{FIX}/loops.py"],
        "output over a file of the user's": ["emit", we, "-o", str(d / "mine.py")],
        "uses that conflict": ["emit", f"{FIX}/untyped.py:conflict"],
    }
    (d / "mine.py").write_text("precious = 1\n")
    return d, run_all(real, batched)


BAD = {
    # case: a regex the one-line message must match (after "s2sad: error: ")
    "missing file": r"tests/cli_fixtures/nope\.py: no such file$",
    "missing function": r"tests/cli_fixtures/loops\.py: no function named `nope` \(it defines: "
                        r"newton_sqrt, pairwise, unannotated, weighted_energy\)$",
    "no function given": r"`tests/cli_fixtures/loops\.py`: expected PATH\.py:FUNC, e\.g\. "
                         r"model\.py:loss$",
    "syntax error": r".*/syntax_error\.py:5:15: syntax error: invalid syntax$",
    "import error": r".*/raises\.py:3:1: importing .*raises\.py failed: RuntimeError: boom$",
    "unsupported construct": r"tests/cli_fixtures/bad\.py:\d+:5: `try` blocks are not "
                             r"differentiated$",
    "foreign callable": r"tests/cli_fixtures/bad\.py:\d+:5: this calls a `Scale` object, which a "
                        r"standalone module cannot hold",
    "vector output in reverse": r"tests/cli_fixtures/bad\.py:\d+:5: reverse mode \(vector_grad\) "
                                r"needs vector to return a float scalar, but it returns a "
                                r"float64\[:\]$",
    "bad annotation": r"tests/cli_fixtures/bad\.py:\d+:23: cannot read the annotation "
                      r"`'complex128'` of `x` as a type$",
    "unknown wrt": r"tests/cli_fixtures/loops\.py:\d+:1: --wrt: weighted_energy has no parameter "
                   r"`z` \(its parameters: x, k\)$",
    "int in wrt": r"tests/cli_fixtures/loops\.py:\d+:\d+: cannot differentiate pairwise with "
                  r"respect to `n`, which is an int64",
    "int in argnums": r"tests/cli_fixtures/loops\.py:\d+:\d+: cannot differentiate pairwise with "
                      r"respect to `n`, which is an int64",
    "argnums out of range": r".*--argnums: 5 is out of range for weighted_energy, which takes 2 ",
    "argnums not a number": r"--argnums: `x` is not an integer$",
    "bad types": r"--types: `complex128\[:\]` is not a type s2sad knows",
    "types unknown name": r".*--types: weighted_energy has no parameter `q`",
    "at unclosed": r"--at: .* at column \d+ of `x=\[1, 2`$",
    "at not a literal": r"--at: the value of `k` is not a number or a list of numbers: `foo`$",
    "at unknown name": r".*--at: weighted_energy has no parameter `z` \(its parameters: x, k\)$",
    "at wrong kind": r"--at: `x` is a float64\[:\] \(from its annotation\), but the value given "
                     r"is float 0\.3$",
    "at not a list of numbers": r"--at: `x` must be a list of numbers",
    "at missing value": r"--at: no value for `x`",
    "output into a missing folder": r"-o .*out\.py: no such directory: ",
    "name count": r"--name: 2 derivative\(s\) to name \(weighted_energy_grad, weighted_energy_jvp\)"
                  r", 1 name\(s\) given$",
    "same name twice": r"two derivatives would both be called `weighted_energy_grad`$",
    "unknown option": r"unrecognized arguments: --frobnicate$",
    "output onto the source": r"-o tests/cli_fixtures/loops\.py: that is the source file of "
                              r"weighted_energy",
    "output over a file of the user's": r"-o .*mine\.py: the file exists and was not generated "
                                        r"by s2sad; use --force to replace it$",
    "uses that conflict": r"tests/cli_fixtures/untyped\.py:\d+:16: `n` is indexed here, but used "
                          r"as an integer \(a range\(\) bound or an index\) on line \d+: s2sad "
                          r"cannot tell its type from its uses$",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_error_line(bad_runs, case):
    _, res = bad_runs
    p = res[case]
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("s2sad: error: ")]
    assert len(lines) == 1, p.stderr
    msg = lines[0][len("s2sad: error: "):]
    assert re.match(BAD[case], msg), msg
    if re.match(r"\S+\.py:\d+:\d+: ", msg):
        # a place to point at: the source line and a caret follow
        after = p.stderr.split(lines[0] + "\n", 1)[1].splitlines()
        assert len(after) >= 2 and after[1].strip() == "^", p.stderr


def test_refused_output_leaves_the_files_alone(bad_runs):
    d, _ = bad_runs
    assert (d / "mine.py").read_text() == "precious = 1\n"
    assert (REPO / FIX / "loops.py").read_text().startswith('"""CLI fixtures: loops')


def test_force_replaces_a_file(tmp_path):
    out = tmp_path / "mine.py"
    out.write_text("precious = 1\n")
    res = cli_batch({"force": ["emit", f"{FIX}/loops.py:newton_sqrt", "-o", str(out), "--force"]})
    assert res["force"].returncode == 0, res["force"].stderr
    assert out.read_text().startswith("# Generated by s2sad")


def test_debug_shows_the_traceback(bad_runs):
    _, res = bad_runs
    p = res["debug"]
    assert p.returncode != 0
    assert "Traceback" in p.stderr and "EmitError" in p.stderr


# ================================================================ pieces of the emitted text


def test_array_literals_are_exact_and_fit_the_line():
    from s2sad.backend.literals import array_literal
    rng = np.random.default_rng(3)
    arrays = {
        "F64": rng.standard_normal(57) * 1e3,
        "TWO_D": rng.standard_normal((7, 9)),
        "F32": (rng.standard_normal(20) / 3).astype(np.float32),
        "SPECIAL": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308]),
        "INTS": np.arange(-5, 40),
        "FLAGS": np.array([True, False]),
        "EMPTY": np.zeros((0, 3)),
        "ZERO_D": np.array(2.5),
    }
    for name, arr in arrays.items():
        text = array_literal(name, arr)
        assert all(len(ln) <= LINE_LENGTH for ln in text.splitlines()), text
        ns = {"np": np, "math": math}
        exec(text, ns)  # noqa: S102 -- the literal under test
        got = ns[name]
        assert got.dtype == arr.dtype and got.shape == arr.shape, name
        assert np.array_equal(got, arr, equal_nan=arr.dtype.kind == "f"), name
        if arr.dtype.kind == "f":
            assert np.array_equal(np.signbit(got), np.signbit(arr)), name
    assert array_literal("F32", np.array([0.1, 0.2], dtype=np.float32)) == (
        "F32 = np.array([0.1, 0.2], dtype=np.float32)")


def test_layout_breaks_long_lines_without_changing_the_code():
    from s2sad.backend.layout import layout
    names = ", ".join(f"argument_number_{k}" for k in range(9))
    terms = " + ".join(f"math.sin(argument_number_{k}) * argument_number_{k + 1}" for k in range(8))
    text = textwrap.dedent(f'''
        def some_function({names}):
            """A docstring line long enough that it has to be wrapped by the layout pass when it is laid out.

        And a second paragraph."""
            first_result, second_result = helper_function_with_a_long_name({names}, 1.0)
            value = {terms}
            if first_result > second_result and math.cos(argument_number_0) > math.cos(argument_number_1) * 2.0:
                return (value * first_result, [value, second_result, {names}])
            # a comment that is far too long to stay on one line: {terms}
            return value
    ''').lstrip()
    out = layout(text)
    assert all(len(ln) <= LINE_LENGTH for ln in out.splitlines()), out
    def without_docstring(t):
        return [ast.dump(node) for node in ast.parse(t).body[0].body[1:]]

    assert without_docstring(out) == without_docstring(text)
    doc = ast.get_docstring(ast.parse(out).body[0])
    assert doc.split() == ast.get_docstring(ast.parse(text).body[0]).split()
    assert '    """A docstring line long enough' in out and '\n    """\n' in out


# ================================================================ types from use, the README's lines


def _readme_cli_lines():
    """The model.py of the README's "Thirty seconds" and the command lines of its "The command
    line" section, exactly as printed."""
    text = (REPO / "README.md").read_text()
    model = re.search(r"## Thirty seconds\n\n```python\n(.*?)```", text, re.DOTALL).group(1)
    section = text.split("## The command line", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    lines = [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip()]
    return model, lines


def test_readme_command_lines_run_as_printed(tmp_path):
    model, lines = _readme_cli_lines()
    assert [ln.split()[:2] for ln in lines] == [["s2sad", "emit"], ["s2sad", "show"],
                                               ["s2sad", "check"]]
    (tmp_path / "model.py").write_text(model)
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]))
    res = {}
    for ln in lines:
        argv = shlex.split(ln)
        res[argv[1]] = subprocess.run([sys.executable, "-m", "s2sad", *argv[1:]], cwd=tmp_path,
                                      capture_output=True, text=True, env=env, timeout=300,
                                      check=False)
    for cmd, p in res.items():
        assert p.returncode == 0, (cmd, p.stdout, p.stderr)
    # emit: x's type (a float64[:]) came from its uses; the module runs and is right
    emitted = load(tmp_path / "loss_grad.py", "readme_loss_grad")
    x, y = np.array([0.5, -0.3, 0.8, 1.1]), 2.0

    def loss(x, y):  # the README's loss, by hand
        return y * sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
                       for i in range(len(x) - 1))
    g = emitted.loss_grad(x.copy(), y)
    ref = np.array([(loss(x + h, y) - loss(x - h, y)) / 2e-6 for h in 1e-6 * np.eye(4)])
    assert np.allclose(g, ref, rtol=1e-6, atol=1e-6)
    # what model.py prints when imported is not mixed into show's output
    assert res["show"].stdout.startswith("# Generated by s2sad")
    assert "def loss_jvp(x, y, x_dot, y_dot):" in res["show"].stdout
    assert "loss(x: float64[:], y: float64)" in res["show"].stdout
    assert "ok: loss" in res["check"].stdout


def test_types_from_use():
    from s2sad.cli.targets import resolve_target, set_types
    expect = {
        "rows_times": ["float64[:, :]", "int64", "float64"],
        "shaped": ["float64[:, :, :]", "float64[:]"],
        "calls_helper": ["float64[:, :]", "int64"],
        "aliased": ["float64[:]", "float64"],
    }
    for name, types in expect.items():
        t = resolve_target(f"{REPO / FIX}/untyped.py:{name}")
        assert [str(x) for x in set_types(t)] == types, name
        assert set(t.type_origin) == {"use"}
    res = cli_batch({name: ["check", f"{FIX}/untyped.py:{name}", "--random", "1"] for name in expect})
    for name, p in res.items():
        assert p.returncode == 0 and f"ok: {name}" in p.stdout, (name, p.stdout, p.stderr)
