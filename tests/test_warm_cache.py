"""A second process with a warm cache skips the frontend and AD entirely (issue 12): the disk
index's key is computed without lowering (the function's source, its callees', what they read
from module level, the argument types, the options and s2sad's version), and every change
that could change the derivative gives another key (a wrong reuse would be a silently wrong
derivative). Each process here is a fresh Python reading a user module from tmp_path, its
results checked against hand-derived derivatives, its work read from S2SAD_LOG's lines."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import s2sad
from s2sad.backend import diskindex, loader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODULE = """
import numpy as np

C = {c}
W = np.array({w})


def helper(x):
    return {helper}


def loss(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += helper(x[i]) * W[i]
    return s
"""

X = [0.5, -1.0, 2.0]


def _hand(c, w, helper_kind):
    x = np.array(X)
    if helper_kind == "cube":  # helper(x) = C * x**3
        return 3.0 * c * x ** 2 * np.array(w)
    return 2.0 * c * x * np.array(w)  # helper(x) = C * x * x


HELPERS = {"square": "C * x * x", "cube": "C * x * x * x"}

SCRIPT = """
import json, sys
import numpy as np
import s2sad
{before}
import um
from s2sad.log import COUNTS
g = s2sad.{transform}(um.loss, jit={jit})
x = np.array({x})
out = g(x)
out = g(x)  # through the compiled entry where there is one
plain = lambda o: [plain(v) for v in o] if isinstance(o, tuple) else np.asarray(o).tolist()
print(json.dumps({{"out": plain(out), "counts": dict(COUNTS)}}))
"""


class User:
    """A user's module in a directory, and processes that differentiate it."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.cache = tmp_path / "cache"

    def write(self, c=2.0, w=(1.0, 2.0, 3.0), helper="square", prefix=""):
        (self.dir / "um.py").write_text(prefix + MODULE.format(c=c, w=list(w), helper=HELPERS[helper]))

    def run(self, transform="grad", jit=False, before=""):
        env = {**os.environ, "S2SAD_CACHE_DIR": str(self.cache), "S2SAD_LOG": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": f"{self.dir}{os.pathsep}{ROOT}"}
        code = SCRIPT.format(before=before, transform=transform, jit=jit, x=X)
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=False, cwd=str(self.dir))
        assert p.returncode == 0, p.stderr[-3000:]
        rec = json.loads(p.stdout.strip().splitlines()[-1])
        rec["log"] = [ln for ln in p.stderr.splitlines() if ln.startswith("s2sad: ")]
        return rec


def _built(rec):
    return rec["counts"].get("lowering", 0) > 0 and rec["counts"].get("differentiating", 0) > 0


def _loaded(rec):
    return (rec["counts"].get("loaded", 0) > 0 and not rec["counts"].get("lowering")
            and not rec["counts"].get("differentiating"))


@pytest.fixture
def user(tmp_path):
    return User(tmp_path)


@pytest.mark.slow
def test_second_process_loads_jitted_gradient_without_lowering(user):
    user.write()
    first = user.run(jit=True)
    second = user.run(jit=True)
    assert _built(first) and _loaded(second), second["log"]
    want = _hand(2.0, (1.0, 2.0, 3.0), "square")
    np.testing.assert_allclose(first["out"], want, rtol=1e-14)
    np.testing.assert_allclose(second["out"], want, rtol=1e-14)
    assert any("lowering loss" in ln for ln in first["log"])
    assert any(ln.startswith("s2sad: loaded loss") for ln in second["log"])


def test_each_change_invalidates(user):
    """Editing the callee, a module constant, a module array, the function's position, a
    module-level rebinding of the callee's name, or s2sad's version: built again, and right."""
    user.write()
    assert _built(user.run())
    again = user.run()
    assert _loaded(again)
    np.testing.assert_allclose(again["out"], _hand(2.0, (1.0, 2.0, 3.0), "square"), rtol=1e-14)

    cases = [
        ("callee's source", {"helper": "cube"}, _hand(2.0, (1.0, 2.0, 3.0), "cube")),
        ("a module constant", {"helper": "cube", "c": 5.0}, _hand(5.0, (1.0, 2.0, 3.0), "cube")),
        ("a module array", {"helper": "cube", "c": 5.0, "w": (1.0, 2.0, 4.0)},
         _hand(5.0, (1.0, 2.0, 4.0), "cube")),
        ("the function's line", {"helper": "cube", "c": 5.0, "w": (1.0, 2.0, 4.0), "prefix": "\n\n"},
         _hand(5.0, (1.0, 2.0, 4.0), "cube")),
    ]
    for what, params, want in cases:
        user.write(**params)
        rec = user.run()
        assert _built(rec), what
        np.testing.assert_allclose(rec["out"], want, rtol=1e-14, err_msg=what)
        rec = user.run()
        assert _loaded(rec), what  # and the new entry is found
        np.testing.assert_allclose(rec["out"], want, rtol=1e-14, err_msg=what)

    # the callee's name rebound at module level: no function's source changed
    user.write(c=5.0, w=(1.0, 2.0, 4.0), helper="cube", prefix="\n\n")
    with open(user.dir / "um.py", "a") as f:
        f.write("\n\ndef other(x):\n    return C * x * x\n\n\nhelper = other\n")
    rec = user.run()
    assert _built(rec)
    np.testing.assert_allclose(rec["out"], _hand(5.0, (1.0, 2.0, 4.0), "square"), rtol=1e-14)

    rec = user.run(before="import s2sad.version; s2sad.version.__version__ = '99.0'")
    assert _built(rec)
    assert _loaded(user.run(before="import s2sad.version; s2sad.version.__version__ = '99.0'"))


def test_options_and_transforms_have_their_own_entries(user):
    user.write()
    want = _hand(2.0, (1.0, 2.0, 3.0), "square")
    assert _built(user.run("grad"))
    rec = user.run("value_and_grad")  # the same function: lowered before, but another module
    assert rec["counts"].get("differentiating")
    rec = user.run("value_and_grad")
    assert _loaded(rec)
    value, grad = rec["out"]
    np.testing.assert_allclose(grad, want, rtol=1e-14)
    assert value == pytest.approx(float(np.sum(2.0 * np.array(X) ** 2 * np.array([1.0, 2.0, 3.0]))),
                                  rel=1e-14)
    rec = user.run("jacrev")
    assert _built(rec) or rec["counts"].get("differentiating")
    np.testing.assert_allclose(user.run("jacrev")["out"], want, rtol=1e-14)
    assert _loaded(user.run("jacrev"))


# ------------------------------------------------------------------ in this process


def cube_sum(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i] * x[i]
    return s


def _index_entries(cache):
    return sorted((cache / "index").glob("*.json"))


@pytest.fixture
def cache(tmp_path):
    d = tmp_path / "cache"
    loader.set_cache_dir(d)
    yield d
    loader.set_cache_dir(None)


def _fresh(g):
    """A new derivative object, as a new process makes it (modules loaded again)."""
    loader._loaded.clear()
    return type(g)(g.fun)


XS = np.array([0.5, -1.0, 2.0, 1.5])


@pytest.mark.parametrize("how", ["edited module", "foreign entry", "garbage entry", "entry elsewhere"])
def test_a_bad_entry_or_module_is_a_miss(cache, how):
    from s2sad.log import COUNTS

    g = s2sad.grad(cube_sum)
    np.testing.assert_allclose(g(XS), 3.0 * XS ** 2, rtol=1e-14)
    path = g._last.path
    entries = [p for p in _index_entries(cache) if '"module": "-"' not in p.read_text()]
    assert len(entries) == 1
    if how == "edited module":  # a module whose text is not the one recorded
        path.write_text(path.read_text().replace("3.0", "4.0").replace("* 3", "* 4") + "\n# edited\n")
    elif how == "foreign entry":
        os.chmod(entries[0], 0o666)
    elif how == "garbage entry":
        entries[0].write_text("{not json")
    else:
        e = json.loads(entries[0].read_text())
        e["module"] = "../" + e["module"]
        entries[0].write_text(json.dumps(e))
    before = COUNTS["differentiating"]
    g2 = _fresh(g)
    np.testing.assert_allclose(g2(XS), 3.0 * XS ** 2, rtol=1e-14)
    assert COUNTS["differentiating"] == before + 1  # built again
    assert "# edited" not in g2._last.path.read_text()


def test_loaded_derivative_still_follows_a_changed_global(cache):
    """A module loaded by the index keeps the value reads that notice a rebound module-level
    value in this process (the derivative is then built for the new value)."""
    global SCALE
    from s2sad.log import COUNTS

    g = s2sad.grad(scaled)
    np.testing.assert_allclose(g(XS), 2.0 * SCALE * XS, rtol=1e-14)
    g2 = _fresh(g)
    loaded = COUNTS["loaded"]
    np.testing.assert_allclose(g2(XS), 2.0 * SCALE * XS, rtol=1e-14)
    assert COUNTS["loaded"] == loaded + 1
    old = SCALE
    try:
        SCALE = 7.0
        np.testing.assert_allclose(g2(XS), 14.0 * XS, rtol=1e-14)
    finally:
        SCALE = old


SCALE = 3.0


def scaled(x):
    return SCALE * np.sum(x * x)


def test_loaded_gradient_differentiated_again(cache):
    """A derivative loaded by the index has its Build made when another transform needs it."""
    g = s2sad.grad(cube_sum)
    g(XS)
    h = s2sad.hessian(cube_sum)
    loader._loaded.clear()
    h2 = s2sad.hessian(cube_sum)
    np.testing.assert_allclose(h2(XS), np.diag(6.0 * XS), rtol=1e-14)
    np.testing.assert_allclose(h(XS), np.diag(6.0 * XS), rtol=1e-14)


@s2sad.custom_jvp
def custom_sq(x):
    return x * x


@custom_sq.defjvp
def custom_sq_jvp(primals, tangents):
    x, = primals
    dx, = tangents
    return x * x, 2.0 * x * dx


def uses_custom(x):
    return custom_sq(x)


def test_uncacheable_function_is_built_each_time(cache):
    """A function calling a custom rule has no fingerprint: built in each process, as before."""
    from s2sad.frontend.fingerprint import Fingerprint
    from s2sad.log import COUNTS

    assert Fingerprint(uses_custom).digest is None
    before, loaded = COUNTS["differentiating"], COUNTS["loaded"]
    for _ in range(2):
        loader._loaded.clear()
        assert s2sad.grad(uses_custom)(1.5) == pytest.approx(3.0, rel=1e-14)
    assert COUNTS["differentiating"] == before + 2 and COUNTS["loaded"] == loaded


def test_fingerprint_sees_callees_through_modules_and_njit():
    from s2sad.frontend.fingerprint import Fingerprint

    fp = Fingerprint(via_module)
    names = [f.__name__ for f in fp.functions]
    assert names == ["via_module", "cube_sum"]
    assert "np.sum" in fp.objects[0] and "json" not in fp.objects[0]  # imported, not read
    assert diskindex.key("a") != diskindex.key("b")


def via_module(x):
    return np.sum(x) + cube_sum(x)


def sin_plus(x):
    return np.sin(x) + x


def test_a_rule_replaced_at_run_time_is_another_key(cache):
    """The key holds the primitive table as it is: a module built with another rule for
    np.sin is never loaded for this one (and the original is found again once restored)."""
    from s2sad.log import COUNTS
    from s2sad.primitives import RULES

    x = np.array([0.3, -1.2])
    np.testing.assert_allclose(s2sad.grad(lambda_free_sum)(x), np.cos(x) + 1.0, rtol=1e-14)
    rule = RULES["np.sin"]
    saved = rule.partials[0]
    rule.partials[0] = "M.sin(x)"  # a wrong derivative of sin
    try:
        loader._loaded.clear()
        before = COUNTS["differentiating"]
        np.testing.assert_allclose(s2sad.grad(lambda_free_sum)(x), np.sin(x) + 1.0, rtol=1e-14)
        assert COUNTS["differentiating"] == before + 1
    finally:
        rule.partials[0] = saved
    loader._loaded.clear()
    loaded = COUNTS["loaded"]
    np.testing.assert_allclose(s2sad.grad(lambda_free_sum)(x), np.cos(x) + 1.0, rtol=1e-14)
    assert COUNTS["loaded"] == loaded + 1


def lambda_free_sum(x):
    return np.sum(sin_plus(x))
