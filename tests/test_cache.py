"""The cache directory is safe to share a machine with (issue 12): private, refused when others
can write to it, a private fallback when it cannot be used, and every corrupt or foreign file in
it (generated modules, Numba's index and data files) discarded and rebuilt, never fatal."""

import os
import pickle
import stat
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import s2sad
from s2sad.backend import loader
from s2sad.errors import UnsafeCacheError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def loss(x, k):
    s = 0.0
    for i in range(x.shape[0]):
        s += k * x[i] * x[i] * x[i]
    return s


def loss_grad_by_hand(x, k):
    return 3.0 * k * x * x


X = np.array([0.5, -1.0, 2.0])


@pytest.fixture
def cache(tmp_path):
    d = tmp_path / "cache"
    loader.set_cache_dir(d)
    yield d
    loader.set_cache_dir(None)


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_created_private(tmp_path, cache):
    assert loader.cache_dir() == cache
    assert _mode(cache) == 0o700
    assert _mode(cache / "__pycache__") == 0o700


@pytest.mark.parametrize("mode,who", [(0o777, "everyone"), (0o770, "its group"), (0o1777, "everyone")])
def test_others_writable_refused(tmp_path, mode, who):
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, mode)
    loader.set_cache_dir(d)
    try:
        with pytest.raises(UnsafeCacheError, match=f"{who} can write to it") as e:
            s2sad.grad(loss)(X, 2.0)
        assert "chmod 700" in str(e.value)
        assert not list(d.iterdir())  # nothing written there
    finally:
        loader.set_cache_dir(None)


def test_under_an_others_writable_directory_refused(tmp_path):
    parent = tmp_path / "open"
    parent.mkdir()
    os.chmod(parent, 0o777)  # not sticky: anyone could rename our directory and put theirs
    loader.set_cache_dir(parent / "mine")
    try:
        with pytest.raises(UnsafeCacheError, match="everyone can write to .*open"):
            loader.cache_dir()
    finally:
        loader.set_cache_dir(None)


def test_path_under_a_file_falls_back_with_one_warning(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("not a directory")
    loader.set_cache_dir(f / "cache")
    try:
        with pytest.warns(loader.CacheWarning, match="cannot be used.*private temporary"):
            d = loader.cache_dir()
        with warnings.catch_warnings():
            warnings.simplefilter("error", loader.CacheWarning)  # one warning, not one a call
            g = s2sad.grad(loss)(X, 2.0)
            s2sad.grad(loss, argnums=1)(X, 2.0)
        assert d.is_dir() and _mode(d) == 0o700 and f not in d.parents
        np.testing.assert_allclose(g, loss_grad_by_hand(X, 2.0), rtol=1e-14)
        assert list(d.glob("loss_*.py"))
    finally:
        loader.set_cache_dir(None)


def test_read_only_directory_falls_back_with_one_warning(tmp_path, monkeypatch):
    d = tmp_path / "ro"
    d.mkdir()
    os.chmod(d, 0o500)
    if os.geteuid() == 0:  # root writes into any directory: refuse as the file system would
        def refused(p):
            raise PermissionError(13, "Permission denied", str(p))
        monkeypatch.setattr(loader, "_probe_write", refused)
    loader.set_cache_dir(d)
    try:
        with pytest.warns(loader.CacheWarning, match="PermissionError"):
            g = s2sad.grad(loss)(X, 2.0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", loader.CacheWarning)
            s2sad.grad(loss, argnums=1)(X, 2.0)
        np.testing.assert_allclose(g, loss_grad_by_hand(X, 2.0), rtol=1e-14)
        assert loader.cache_dir() != d and _mode(loader.cache_dir()) == 0o700
        assert not [f for f in d.iterdir() if f.suffix == ".py"]
    finally:
        loader.set_cache_dir(None)


# ------------------------------------------------------------------ corrupt or foreign files


def _fresh_process_view():
    """What a new process sees: the generated modules loaded again from the cache directory
    (new Numba dispatchers, which load their code from Numba's files on disk)."""
    loader._loaded.clear()


def _jit_grad_and_dispatcher():
    g = s2sad.grad(loss, jit=True)
    out = g(X, 2.0)
    return out, g._last.func.dispatcher


def _numba_files(cache, suffix):
    return sorted((cache / "__pycache__").glob(f"loss_jit_*{suffix}"))


@pytest.fixture
def warm(cache):
    """A cache holding the jitted gradient of ``loss``."""
    out, disp = _jit_grad_and_dispatcher()
    np.testing.assert_allclose(out, loss_grad_by_hand(X, 2.0), rtol=1e-14)
    assert _numba_files(cache, ".nbi") and _numba_files(cache, ".nbc")
    _fresh_process_view()
    out, disp = _jit_grad_and_dispatcher()
    assert disp.stats.cache_hits and not disp.stats.cache_misses  # loaded from disk
    _fresh_process_view()
    return cache


def _reload_and_check(cache):
    from s2sad.backend import numbacache
    numbacache.discarded.clear()
    out, disp = _jit_grad_and_dispatcher()
    np.testing.assert_allclose(out, loss_grad_by_hand(X, 2.0), rtol=1e-14)
    assert disp.stats.cache_misses  # compiled again
    found = list(numbacache.discarded)
    _fresh_process_view()
    out, disp = _jit_grad_and_dispatcher()  # and the rebuilt entry is good
    assert disp.stats.cache_hits and not disp.stats.cache_misses
    np.testing.assert_allclose(out, loss_grad_by_hand(X, 2.0), rtol=1e-14)
    return found


@pytest.mark.parametrize("which", [".nbi", ".nbc"])
@pytest.mark.parametrize("how", ["truncated", "garbage", "empty"])
def test_corrupt_numba_file_rebuilt(warm, which, how):
    for f in _numba_files(warm, which):
        data = f.read_bytes()
        f.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x80\x05garbage" * 20,
                       "empty": b""}[how])
    found = _reload_and_check(warm)
    assert any(p.endswith(which) for p in found)


class _Payload:
    def __reduce__(self):
        return (exec, (f"open({str(MARKER)!r}, 'w').write('ran')",))


MARKER = None


@pytest.mark.parametrize("which", [".nbi", ".nbc"])
@pytest.mark.parametrize("how", ["others_writable", "another_owner", "symlink"])
def test_foreign_numba_file_never_loaded(warm, tmp_path, which, how):
    """A pickle payload planted in Numba's files by someone else does not run."""
    global MARKER
    MARKER = tmp_path / "payload_ran"
    import numba
    for f in _numba_files(warm, which):
        body = pickle.dumps(_Payload())
        payload = (pickle.dumps(numba.__version__) + body) if which == ".nbi" else body
        if how == "symlink":
            target = tmp_path / (f.name + ".planted")
            target.write_bytes(payload)
            f.unlink()
            f.symlink_to(target)
            continue
        f.write_bytes(payload)
        if how == "others_writable":
            os.chmod(f, 0o666)
        elif os.geteuid() == 0:
            os.chown(f, 65534, -1)
        else:
            pytest.skip("chown to another user needs root")
    found = _reload_and_check(warm)
    assert not MARKER.exists()
    assert any(p.endswith(which) for p in found)


def test_edited_generated_module_rewritten_never_run(cache, tmp_path):
    global MARKER
    MARKER = tmp_path / "edited_ran"
    g = s2sad.grad(loss)
    g(X, 2.0)
    path = g._last.path
    path.write_text(f"open({str(MARKER)!r}, 'w').write('ran')\n")
    _fresh_process_view()
    out = s2sad.grad(loss)(X, 2.0)
    np.testing.assert_allclose(out, loss_grad_by_hand(X, 2.0), rtol=1e-14)
    assert not MARKER.exists()
    assert path.read_text() == g._last.source
    assert not list((cache / "__pycache__").glob("*.pyc"))  # no bytecode to tamper with


CONCURRENT_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {here!r})
    import s2sad
    from test_cache import loss, loss_grad_by_hand
    k = float(sys.argv[1])
    x = np.linspace(-1.0, 1.0, 5)
    for _ in range(3):
        g = s2sad.grad(loss, jit=True)(x, k)
        assert np.allclose(g, loss_grad_by_hand(x, k), rtol=1e-14, atol=0), (g, k)
        v, g = s2sad.value_and_grad(loss, argnums=1, jit=True)(x, k)
        assert abs(g - np.sum(x ** 3)) <= 1e-14 * abs(g), g
    print("ok")
""")


@pytest.mark.slow
def test_concurrent_processes_fill_one_cache(tmp_path):
    env = {**os.environ, "S2SAD_CACHE_DIR": str(tmp_path / "c"), "PYTHONPATH": ROOT}
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_SCRIPT.format(here=HERE), str(k)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in (1.0, 2.0, 3.0)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0 and out.strip() == "ok", err
    # a later process finds every entry good
    p = subprocess.run([sys.executable, "-c", CONCURRENT_SCRIPT.format(here=HERE), "4.0"],
                       env=env, capture_output=True, text=True, check=False)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


# ---------------------------------------------------------------- helpers compiled once a process


def mul_sum(a, b):
    return np.sum(a * b)


def add_sq(a, b):
    return np.sum((a + b) ** 2)


def test_helpers_shared_by_generated_modules_compiled_once(cache):
    """Two derivatives whose modules both define ``_unbroadcast2`` call one dispatcher, compiled
    once; a module built with bounds checks (another text) keeps its own. Each gradient sums
    b's contribution back over the axis broadcasting stretched (hand-derived)."""
    a = np.arange(6.0).reshape(3, 2) - 2.5
    b = np.array([[0.5, -1.5]])
    got1 = s2sad.grad(mul_sum, argnums=(0, 1), jit=True)(a, b)
    got2 = s2sad.grad(add_sq, argnums=(0, 1), jit=True)(a, b)
    got3 = s2sad.grad(add_sq, argnums=(0, 1), jit={"boundscheck": True})(a, b)
    np.testing.assert_allclose(got1[0], np.broadcast_to(b, a.shape), rtol=1e-14)
    np.testing.assert_allclose(got1[1], a.sum(axis=0, keepdims=True), rtol=1e-14)
    for got in (got2, got3):
        np.testing.assert_allclose(got[0], 2 * (a + b), rtol=1e-14)
        np.testing.assert_allclose(got[1], (2 * (a + b)).sum(axis=0, keepdims=True), rtol=1e-14)
    mods = {}
    for m in loader._loaded.values():
        if "_unbroadcast2" in vars(m):
            mods.setdefault(m.__name__.split(".")[1].split("_jit")[0], []).append(m)
    (m1,), (m2, m3) = mods["mul_sum"], sorted(mods["add_sq"], key=lambda m: "boundscheck=True" in
                                              open(m.__file__).read())
    assert "boundscheck=True" in open(m3.__file__).read()
    assert m1._unbroadcast2 is m2._unbroadcast2
    assert m3._unbroadcast2 is not m1._unbroadcast2
    assert len(m1._unbroadcast2.signatures) == 1  # compiled once for both modules
    assert len(m3._unbroadcast2.signatures) == 1
    # each module's file still defines its own (it runs where s2sad is not installed)
    for m in (m1, m2, m3):
        assert "def _unbroadcast2(g, like):" in open(m.__file__).read()


def test_a_helper_reading_its_module_is_not_shared(cache):
    """A helper of a shared name whose text reads a module-level name (here ``K``, one value per
    module) keeps its own dispatcher: each module's call sees its own ``K``."""
    def src(k):
        return ("import numba\nimport numpy as np\n\n" + f"K = {k}\n\n\n"
                '@numba.njit(cache=True, error_model="numpy")\n'
                "def _sum0(g):\n    return g.sum() + K\n")
    m1, _ = loader.load_module(src(1.0), "reads_k", {})
    m2, _ = loader.load_module(src(2.0), "reads_k", {})
    assert m1._sum0 is not m2._sum0
    assert m1._sum0(np.ones(3)) == 4.0 and m2._sum0(np.ones(3)) == 5.0
