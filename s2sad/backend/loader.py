"""Generated modules are real files in a cache directory, imported like any module: tracebacks
point at real lines, users can open them, and Numba's on-disk cache works across processes.

The directory is shared with nothing: it is created private (0700); one that another user owns
or that others can write to is refused (``UnsafeCacheError``, as ssh refuses a key file), since
Numba's cache files in it are pickles that run code when loaded. One that cannot be used (a
read-only directory, a path under a file) gives one warning and a private temporary directory
for the rest of the process. A generated module is executed from the text s2sad generated, never
from what is on disk (an edited file is rewritten), and Numba's index and data files that are
corrupt, truncated or not the user's own are discarded and rebuilt (``numbacache``)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import stat
import sys
import tempfile
import warnings
from pathlib import Path

from ..errors import UnsafeCacheError
from .files import write_atomically

_loaded = {}
_chosen = None
_usable = {}  # requested directory -> the directory used (itself, or a private fallback)


class CacheWarning(UserWarning):
    """The cache directory asked for cannot be used; a private temporary one is used instead."""


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


def requested_cache_dir():
    """The directory asked for: set_cache_dir(), else $S2SAD_CACHE_DIR, else ~/.cache/s2sad."""
    d = _chosen or os.environ.get("S2SAD_CACHE_DIR")
    if d:
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "s2sad"


def cache_dir():
    """The cache directory: set_cache_dir(), else $S2SAD_CACHE_DIR, else ~/.cache/s2sad; a
    private temporary directory (with one warning) when that one cannot be used."""
    p = requested_cache_dir()
    got = _usable.get(p)
    if got is not None and got.is_dir():
        return got
    try:
        p.mkdir(mode=0o700, parents=True, exist_ok=True)
        check_private(p)
        pyc = p / "__pycache__"  # where Numba writes its index and data files
        pyc.mkdir(mode=0o700, exist_ok=True)
        check_private(pyc)
        _probe_write(p)
    except UnsafeCacheError:
        raise
    except OSError as e:
        got = Path(tempfile.mkdtemp(prefix="s2sad-cache-"))
        warnings.warn(f"s2sad: the cache directory {p} cannot be used ({type(e).__name__}: "
                      f"{e.strerror or e}); generated modules go to the private temporary "
                      f"directory {got} for this process (set S2SAD_CACHE_DIR or call "
                      "s2sad.set_cache_dir() to choose another)", CacheWarning, stacklevel=3)
    else:
        got = p
    _usable[p] = got
    return got


def check_private(p):
    """Refuse a directory that is not the user's own or that others can write to, and one
    under a directory that others can write to (other than a sticky one, as /tmp)."""
    st = os.stat(p)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(20, "not a directory", str(p))
    why = None
    if st.st_uid != os.geteuid():
        why = f"it belongs to another user (uid {st.st_uid})"
    elif st.st_mode & 0o022:
        who = "everyone" if st.st_mode & 0o002 else "its group"
        why = f"{who} can write to it (mode {stat.S_IMODE(st.st_mode):o})"
    else:
        for parent in Path(os.path.realpath(p)).parents:
            pst = os.stat(parent)
            if pst.st_mode & 0o002 and not pst.st_mode & stat.S_ISVTX:
                why = f"everyone can write to {parent}, which holds it"
                break
    if why:
        raise UnsafeCacheError(
            f"refusing the s2sad cache directory {p}: {why}. Its Numba cache files are pickles "
            "that run code when loaded, so another user could run code as you",
            hint=f"chmod 700 {p} (and check who else wrote files there), or point "
                 "S2SAD_CACHE_DIR / s2sad.set_cache_dir() at a directory of your own")


def _probe_write(p):
    fd, name = tempfile.mkstemp(dir=p, prefix=".probe-", suffix=".tmp")
    os.close(fd)
    os.unlink(name)


class _GeneratedModules:
    """``s2sad_generated.*``, importable by name: Numba's cache of a user's ``@njit(cache=True)``
    function that calls a derivative names the generated modules it was linked against, and
    imports them when a new process loads it, before s2sad has made them. Such an import gets
    an empty module (Numba wants only its namespace, for the environment of object-mode code,
    which generated code never has); the module s2sad loads replaces it. Nothing is executed."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == "s2sad_generated" or name.startswith("s2sad_generated."):
            return importlib.util.spec_from_loader(name, cls, is_package=name == "s2sad_generated")
        return None

    @staticmethod
    def create_module(spec):
        return None

    @staticmethod
    def exec_module(mod):
        mod.__doc__ = "A module generated by s2sad (a placeholder until s2sad loads it)."


if _GeneratedModules not in sys.meta_path:
    sys.meta_path.append(_GeneratedModules)


def load_module(source, stem, injected):
    """Write ``source`` to ``<cache>/<stem>_<hash>.py`` (unless already there) and import it,
    with ``injected`` (module-level objects of the user's code) set as its globals. The module
    runs ``source`` itself, not what the file holds (no bytecode cache either): an edited or
    truncated file is rewritten, and never runs."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    name = f"{stem}_{digest}"
    modname = f"s2sad_generated.{name}"
    path = cache_dir() / f"{name}.py"
    key = (str(path), tuple(sorted((k, id(v)) for k, v in injected.items())))
    _write_if_changed(path, source.encode())
    if key in _loaded:
        return _loaded[key], path
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    mod.__dict__.update(injected)
    sys.modules[modname] = mod
    exec(compile(source, str(path), "exec"), mod.__dict__)  # noqa: S102 - our generated text
    if "numba" in mod.__dict__:
        from .numbacache import protect_module
        share_helpers(mod, source)
        protect_module(mod)
    _loaded[key] = mod
    return mod, path


_shared = {}  # the text of a compiled helper -> the dispatcher every module calls it by


def share_helpers(mod, source):
    """One Numba dispatcher per helper text in a process: a runtime helper or loop kernel
    (``runtime.CALLED``, ``kernels.py``) that several generated modules define alike is compiled
    once, not once per module (``_unbroadcast2`` ~0.2 s, a kernel ~0.25 s of a cold first call).
    Each module still defines its own (it runs where s2sad is not installed); only the name in
    the module loaded here is bound to the first module's dispatcher. Only a helper that reads
    nothing of its module but ``np``, ``math`` and builtins is shared (one calling another, as
    ``_unbroadcast3_mul``, would call the first module's)."""
    import ast
    import builtins

    from .assemble import JIT_DECORATOR
    from .runtime import CALLED

    deco = JIT_DECORATOR[1:-1]
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for node in tree.body:
        if not (isinstance(node, ast.FunctionDef) and (node.name in CALLED or _is_kernel(node.name))
                and len(node.decorator_list) == 1):
            continue
        d = node.decorator_list[0]
        if not ast.get_source_segment(source, d).startswith(deco):  # inlined: typed where called
            continue
        names = [n for b in node.body for n in ast.walk(b) if isinstance(n, ast.Name)]
        assigned = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)} | {
            n.id for n in names if not isinstance(n.ctx, ast.Load)}
        free = {n.id for n in names if isinstance(n.ctx, ast.Load)}
        if free - assigned - {"np", "math"} - set(dir(builtins)):
            continue
        text = "".join(lines[d.lineno - 1:node.end_lineno])
        got = _shared.setdefault(text, mod.__dict__[node.name])
        mod.__dict__[node.name] = got


def _is_kernel(name):
    from .kernels import KERNELS
    return name in KERNELS or name.startswith(("_elementwise", "_permute_", "_einsum_"))


def _write_if_changed(path, data):
    try:
        st = os.lstat(path)
        same = (stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
                and st.st_size == len(data) and path.read_bytes() == data)
    except OSError:
        same = False
    if not same:
        write_atomically(path, data)
