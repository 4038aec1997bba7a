"""Derivative objects travel (issue 13): every kind pickles with pickle and cloudpickle as the
function, options and argnums that made it, never its generated modules, and works when
unpickled in another process (a real subprocess), from the cache directory or generated anew.
References: finite differences of the user's functions and hand-derived formulas."""

import math
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

import s2sad
from s2sad.check.fd import numerical_grad, numerical_jacobian

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import travel_cases as T

X = np.array([0.3, -0.4, 1.2])
K = 0.7
CT = np.array([1.0, -2.0])


def soft_prime(x):  # d/dx log(1 + e^x)
    return 1.0 / (1.0 + math.exp(-x))


def energy_hessian(x, k):
    """d2/dx2 of sum k (x[i+1] - x[i])^2 + sin(x[i]), by hand."""
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 2 * k - math.sin(x[i])
        h[i + 1, i + 1] += 2 * k
        h[i, i + 1] -= 2 * k
        h[i + 1, i] -= 2 * k
    return h


def cases():
    """name -> (derivative object, arguments, reference result)."""
    g_x = numerical_grad(T.energy, (X, K), 0)
    g_k = numerical_grad(T.energy, (X, K), 1)
    jac = numerical_jacobian(T.field, (X,))
    cube = 3 * X ** 2
    rule = np.array([math.log1p(math.exp(v)) + v * soft_prime(v) for v in X])
    vjp_ref = CT @ jac
    return {
        "grad argnums": (s2sad.grad(T.energy, argnums=(0, 1)), (X, K), (g_x, g_k)),
        "grad forward": (s2sad.grad(T.energy, mode="forward"), (X, K), g_x),
        "value_and_grad jit": (s2sad.value_and_grad(T.energy, jit=True), (X, K),
                               (T.energy(X, K), g_x)),
        "vjp function": (s2sad.vjp(T.field, X)[1], (CT,), (vjp_ref,)),
        "jacfwd": (s2sad.jacfwd(T.field), (X,), jac),
        "jacrev": (s2sad.jacrev(T.field), (X,), jac),
        "jacobian": (s2sad.jacobian(T.field, mode="auto"), (X,), jac),
        "hessian": (s2sad.hessian(T.energy), (X, K), energy_hessian(X, K)),
        "jvp of grad": (s2sad.jacfwd(s2sad.grad(T.energy)), (X, K), energy_hessian(X, K)),
        "decorated grad": (T.decorated, (X,), cube),
        "calls a custom rule": (s2sad.grad(T.uses_rule), (X,), rule),
        "custom rule itself": (s2sad.grad(T.soft), (0.3,), soft_prime(0.3)),
    }


@pytest.fixture(scope="module")
def made():
    out = cases()
    for obj, args, _ in out.values():  # made and called: they hold generated modules now
        obj(*args)
    return out


def assert_close(got, want):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_close(g, w)
        return
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_in_this_process_the_same_as_before(made):
    for name, (obj, args, want) in made.items():
        for dumps in (pickle.dumps, cloudpickle.dumps):
            data = dumps(obj)
            assert b"s2sad.backend" not in data and len(data) < 2000, name  # no module inside
            assert_close(pickle.loads(data)(*args), want)


RUN = textwrap.dedent("""
    import pickle, sys
    sys.path.insert(0, sys.argv[1])
    items = pickle.load(open(sys.argv[2], "rb"))
    out = {}
    for key, (data, args) in items.items():
        obj = pickle.loads(data)
        out[key] = obj(*args)
    pickle.dump(out, open(sys.argv[3], "wb"))
""")


def run_elsewhere(items, tmp_path, cache_dir):
    src, dst = tmp_path / "in.pkl", tmp_path / "out.pkl"
    src.write_bytes(pickle.dumps(items))
    env = dict(os.environ, S2SAD_CACHE_DIR=str(cache_dir),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-c", RUN, str(HERE), str(src), str(dst)], env=env,
                       capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    return pickle.loads(dst.read_bytes())


@pytest.mark.slow
def test_unpickled_in_another_process(made, tmp_path):
    """Half from this run's cache directory (the generated files are there), half into an
    empty one (generated anew)."""
    items = {(name, m.__name__): (m.dumps(obj), args)
             for name, (obj, args, _) in made.items() for m in (pickle, cloudpickle)}
    shared = run_elsewhere({k: v for k, v in items.items() if k[1] == "pickle"}, tmp_path,
                           os.environ["S2SAD_CACHE_DIR"])
    fresh_dir = tmp_path / "fresh-cache"
    fresh = run_elsewhere({k: v for k, v in items.items() if k[1] == "cloudpickle"}, tmp_path,
                          fresh_dir)
    assert len(shared) + len(fresh) == len(items)
    for (name, _), got in {**shared, **fresh}.items():
        assert_close(got, made[name][2])
    assert any(fresh_dir.rglob("*.py"))  # generated there


MAIN = textwrap.dedent('''
    import math, sys
    import cloudpickle
    import numpy as np
    import s2sad

    def helper(v):
        return v * v

    def loss(x, k):
        s = 0.0
        for i in range(x.shape[0]):
            s += k * helper(x[i]) + math.cos(x[i])
        return s

    g = s2sad.grad(loss, jit=True)
    g(np.ones(3), 2.0)
    with open(sys.argv[1], "wb") as fh:
        fh.write(cloudpickle.dumps(g))
''')


@pytest.mark.slow
def test_a_function_of_main_goes_by_value_with_its_source(tmp_path):
    """cloudpickle sends a function of __main__ by value; its file's lines go with it, so the
    other process differentiates it although the script is gone."""
    script = tmp_path / "script_that_goes_away.py"
    script.write_text(MAIN)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, str(script), str(tmp_path / "g.pkl")], env=env,
                       capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0, p.stderr
    script.unlink()
    x = np.array([0.3, -0.4, 1.2])
    got = run_elsewhere({"g": ((tmp_path / "g.pkl").read_bytes(), (x, 2.0))}, tmp_path,
                        tmp_path / "cache2")["g"]
    np.testing.assert_allclose(got, 2.0 * 2 * x - np.sin(x), rtol=1e-12)
