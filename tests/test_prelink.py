"""The entry of a jitted gradient calls its compiled VJP by address (backend/prelink.py, issue
12's fast first calls): the VJP is not linked into the entry (so not optimized and compiled a
second time), the entry's Numba cache is found by later processes, which make the VJP callable
again before loading it, even when the VJP itself had to be compiled again; errors raised in
the VJP reach the caller. Results against hand-derived gradients."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import s2sad
from s2sad.backend import prelink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def weighted_cubes(x, w):
    s = 0.0
    for i in range(x.shape[0]):
        s += w[i] * x[i] * x[i] * x[i] + np.sin(x[i])
    return s


def weighted_cubes_dx(x, w):  # by hand
    return 3.0 * w * x * x + np.cos(x)


def picks(x, k):
    return x[k] * x[k]


G = s2sad.grad(weighted_cubes, jit=True)
G_PICK = s2sad.grad(picks, jit=True)


def _entry(g, *args):
    from s2sad.backend.entry import _FirstCall

    e = g._entries.table[g._entries.key(args)][0]
    assert not isinstance(e, _FirstCall)
    return e


def test_entry_calls_the_vjp_without_linking_it(monkeypatch):
    monkeypatch.setattr(prelink, "LINK_BELOW", 0)  # as for any VJP past the size limit
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(300), rng.standard_normal(300)
    for _ in range(3):
        np.testing.assert_allclose(G(x, w), weighted_cubes_dx(x, w), rtol=1e-13)
    entry = _entry(G, x, w)
    (sig,) = entry.signatures
    lib = entry.overloads[sig].library
    vjp = G._last.func.dispatcher
    (vjp_sig,) = vjp.signatures
    vjp_name = vjp.overloads[vjp_sig].fndesc.mangled_name
    defined = {f.name for f in lib.get_defined_functions()}
    assert vjp_name not in defined  # not linked in
    assert not any(d is vjp.overloads[vjp_sig].library for d in lib._linking_libraries)
    assert any("s2sad.prelinked." in f.name for f in lib._final_module.functions)


def test_a_small_vjp_is_linked_in_as_numba_links_it():
    g = s2sad.grad(picks, jit=True)
    x = np.array([0.5, -1.0, 2.0])
    for _ in range(3):
        np.testing.assert_allclose(g(x, 0), [1.0, 0.0, 0.0], rtol=1e-15)
    entry = _entry(g, x, 0)
    (sig,) = entry.signatures
    lib = entry.overloads[sig].library
    vjp = g._last.func.dispatcher
    (vjp_sig,) = vjp.signatures
    assert any(d is vjp.overloads[vjp_sig].library for d in lib._linking_libraries)
    assert not any("s2sad.prelinked." in f.name for f in lib._final_module.functions)


def test_an_error_in_the_vjp_reaches_the_caller_through_the_entry(monkeypatch):
    monkeypatch.setattr(prelink, "LINK_BELOW", 0)
    # conftest sets NUMBA_BOUNDSCHECK=1: an index past the end raises IndexError in the VJP
    x = np.array([0.5, -1.0, 2.0])
    for _ in range(3):
        np.testing.assert_allclose(G_PICK(x, 1), [0.0, -2.0, 0.0], rtol=1e-15)
    _entry(G_PICK, x, 1)
    with pytest.raises(IndexError):
        G_PICK(x, 7)
    np.testing.assert_allclose(G_PICK(x, 2), [0.0, 0.0, 4.0], rtol=1e-15)


def test_relink_of_a_module_not_loaded_is_refused():
    with pytest.raises(LookupError, match="not loaded"):
        prelink.relink("s2sad_generated.nothing_here", "f_vjp", (), "s2sad.prelinked.x")


SCRIPT = """
import json, sys
import numpy as np
import s2sad
from s2sad.backend import prelink
import um
prelink.LINK_BELOW = 0  # as for any VJP past the size limit
g = s2sad.grad(um.loss, jit=True)
x = np.linspace(-1.0, 2.0, 200)
outs = [g(x).tolist() for _ in range(3)]
e = g._entries.table[g._entries.key((x,))][0]
print(json.dumps({"outs": outs, "entry_hits": e.stats.cache_hits.total(),
                  "entry_misses": e.stats.cache_misses.total()}))
"""


@pytest.mark.slow
def test_later_processes_load_the_entry_and_relink_it(tmp_path):
    (tmp_path / "um.py").write_text("import numpy as np\n\n\ndef loss(x):\n"
                                    "    s = 0.0\n    for i in range(x.shape[0]):\n"
                                    "        s += np.exp(0.5 * x[i]) * x[i]\n    return s\n")
    cache = tmp_path / "cache"
    env = {**os.environ, "S2SAD_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    x = np.linspace(-1.0, 2.0, 200)
    want = np.exp(0.5 * x) * (1.0 + 0.5 * x)  # by hand

    def run():
        p = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                           text=True, check=False)
        assert p.returncode == 0, p.stderr[-3000:]
        rec = json.loads(p.stdout.strip().splitlines()[-1])
        for out in rec["outs"]:
            np.testing.assert_allclose(out, want, rtol=1e-13)
        return rec["entry_hits"], rec["entry_misses"]

    assert run() == (0, 1)  # compiled, and cached
    assert run() == (1, 0)  # loaded, the VJP registered again first
    # the VJP's own cache gone: compiled again (its code at another address), the entry loaded
    vjp_files = [p for p in (cache / "__pycache__").iterdir() if "_vjp-" in p.name]
    assert vjp_files
    for p in vjp_files:
        p.unlink()
    assert run() == (1, 0)
