"""Generated modules are real files in a cache directory, imported like any module: tracebacks
point at real lines, users can open them, and Numba's on-disk cache works across processes."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

_loaded = {}
_chosen = None


def set_cache_dir(path):
    """Write generated modules (and Numba's on-disk cache of them) to ``path`` from now on;
    None goes back to $S2SAD_CACHE_DIR or ~/.cache/s2sad."""
    global _chosen
    _chosen = None if path is None else Path(path)


def clear_cache():
    """Delete every generated module and Numba cache file in the cache directory."""
    import shutil

    d = cache_dir()
    for entry in d.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.suffix in (".py", ".tmp", ".nbi", ".nbc"):
            entry.unlink(missing_ok=True)


def cache_dir():
    """The cache directory: set_cache_dir(), else $S2SAD_CACHE_DIR, else ~/.cache/s2sad."""
    d = _chosen or os.environ.get("S2SAD_CACHE_DIR")
    if d:
        p = Path(d)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        p = Path(base) / "s2sad"
    p.mkdir(parents=True, exist_ok=True)
    return p


def load_module(source, stem, injected):
    """Write ``source`` to ``<cache>/<stem>_<hash>.py`` (unless already there) and import it,
    with ``injected`` (module-level objects of the user's code) set as its globals."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    name = f"{stem}_{digest}"
    path = cache_dir() / f"{name}.py"
    if not path.exists() or path.read_text() != source:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)
    modname = f"s2sad_generated.{name}"
    key = (modname, tuple(sorted((k, id(v)) for k, v in injected.items())))
    if key in _loaded:
        return _loaded[key], path
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    mod.__dict__.update(injected)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    _loaded[key] = mod
    return mod, path
