"""The disk cache's index: from a key computed without lowering (the function's fingerprint,
the argument signature, the options, s2sad's version) to the generated module already in the
cache directory, so that a second process loads it with no frontend and no AD.

An entry is a small JSON file, ``<cache>/index/<key>.json``, naming the module file, the
SHA-256 of its text and what the caller needs to use it (the generated function's name, the
differentiated parameters, ...). JSON runs no code when read; the module is read back only
when it is a regular file of the user's own that nobody else can write, and its text hashes to
what the entry says (``loader.load_module`` then runs that text). Anything else (a missing,
corrupt or foreign entry or module) is a miss, and the derivative is built again.

s2sad's version is its version string and a digest of its own source files, so that a
changed compiler (a release, or a developer's edit) never loads modules an older one wrote.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from .files import trusted, write_atomically
from .loader import cache_dir


@functools.lru_cache(maxsize=1)
def _compiler_digest():
    from .. import version

    root = Path(version.__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def compiler_version():
    """s2sad's version string, the digest of its source and of its primitive table as it is
    now (read at each call: a test may change the string, or replace a rule)."""
    import numpy

    from .. import version
    return (version.__version__, _compiler_digest(), rules_digest(), numpy.__version__, sys.version)


def rules_digest():
    """A digest of the primitive table's contents, the same in every process that has the
    same table: its templates, and its functions by their code (a rule replaced at run time
    gives another digest, and so other keys)."""
    from ..primitives import RULES

    state = tuple((name, id(r)) + tuple(id(x) for x in _parts(r)) for name, r in RULES.items())
    if _memo.get("state") != state:  # computed again only when an entry was replaced
        h = hashlib.sha256()
        for name in sorted(RULES):
            h.update(name.encode())
            h.update(_stable(vars(RULES[name])).encode())
        _memo.update(state=state, digest=h.hexdigest())
    return _memo["digest"]


_memo = {}


def _parts(rule):
    """What of a rule may be replaced at run time (its functions and templates)."""
    out = []
    for v in vars(rule).values():
        out.append(v)
        if isinstance(v, dict):
            out.extend(v.values())
    return out


def _stable(v, depth=0):
    """A text of ``v`` with no memory addresses in it: functions by their code."""
    if depth > 6:
        return "..."
    if isinstance(v, (str, int, float, bool, type(None))):
        return repr(v)
    if isinstance(v, (tuple, list)):
        return "(" + ",".join(_stable(x, depth + 1) for x in v) + ")"
    if isinstance(v, dict):
        return "{" + ",".join(f"{_stable(k, depth + 1)}:{_stable(x, depth + 1)}"
                              for k, x in sorted(v.items(), key=lambda kv: repr(kv[0]))) + "}"
    code = getattr(v, "__code__", None)
    if code is not None:
        cells = [c.cell_contents for c in (v.__closure__ or ()) if _has_contents(c)]
        return (f"fn:{getattr(v, '__qualname__', '')}:{_code_text(code)}:"
                f"{_stable(v.__defaults__, depth + 1)}:{_stable(cells, depth + 1)}")
    if hasattr(v, "__qualname__"):  # a class, a builtin
        return f"{getattr(v, '__module__', '')}.{v.__qualname__}"
    if hasattr(v, "__dict__"):
        return type(v).__qualname__ + _stable(vars(v), depth + 1)
    return type(v).__qualname__


def _code_text(code):
    consts = ",".join(_code_text(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts)
    return f"{code.co_code.hex()}|{consts}|{','.join(code.co_names)}"


def _has_contents(cell):
    try:
        cell.cell_contents  # noqa: B018 - raises ValueError for an empty cell
    except ValueError:
        return False
    return True


def key(*parts):
    """The index key of a derivative: a digest of ``parts`` (all reprs stable across
    processes) and the compiler's version."""
    return hashlib.sha256(repr((compiler_version(),) + parts).encode()).hexdigest()[:32]


def _path(k):
    return cache_dir() / "index" / f"{k}.json"


def lookup(k):
    """The entry for key ``k`` and its module's text: (entry, source), or None."""
    p = _path(k)
    try:
        if not trusted(p):
            return None
        entry = json.loads(p.read_text())
        module = cache_dir() / entry["module"]
        if os.path.basename(entry["module"]) != entry["module"] or not trusted(module):
            return None
        data = module.read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        return None
    return entry, data.decode()


def record(k, module_path, source, **fields):
    """Remember that key ``k`` gives the module at ``module_path`` (holding ``source``)."""
    entry = dict(fields, module=Path(module_path).name,
                 sha256=hashlib.sha256(source.encode()).hexdigest())
    try:
        d = cache_dir() / "index"
        d.mkdir(mode=0o700, exist_ok=True)
        write_atomically(d / f"{k}.json", json.dumps(entry, sort_keys=True).encode())
    except OSError:
        pass  # uncached, built again next time


def seen(k):
    """Whether a marker for ``k`` was recorded (``mark``)."""
    try:
        return trusted(_path(k))
    except OSError:
        return False


def mark(k):
    record(k, "-", "")


# ------------------------------------------------------------------ derivatives


def lowered_key(pyfn):
    """The key of the marker saying that ``pyfn`` (this source, reading these values) lowered
    without a refusal; None when it has no fingerprint."""
    from ..frontend.fingerprint import Fingerprint

    fp = Fingerprint(pyfn)
    return None if fp.digest is None else key("lowered", fp.digest)


def encode_type(t):
    from ..ir.types import Array, Opaque, Scalar, Tuple

    if isinstance(t, Scalar):
        return ["scalar", t.dtype]
    if isinstance(t, Array):
        return ["array", t.dtype, t.ndim]
    if isinstance(t, Tuple):
        return ["tuple", [encode_type(x) for x in t.items]]
    if isinstance(t, Opaque):
        return ["opaque", t.what]
    raise TypeError(t)


def decode_type(e):
    from ..ir.types import Array, Opaque, Scalar, Tuple

    kind = e[0]
    if kind == "scalar":
        return Scalar(e[1])
    if kind == "array":
        return Array(e[1], int(e[2]))
    if kind == "tuple":
        return Tuple(tuple(decode_type(x) for x in e[1]))
    return Opaque(e[1])


class DiskKey:
    """The disk cache of one derivative (a transform, argument types, argnums, mode): ``key``
    is None when the function has no fingerprint (then nothing is looked up or recorded)."""

    def __init__(self, transform, types, nums, mode):
        from ..frontend.fingerprint import Fingerprint

        self.transform = transform
        self.fp = Fingerprint(transform.pyfun)
        self.key = None if self.fp.digest is None else key(
            "derivative", self.fp.digest, transform.disk_options(), repr(tuple(types)),
            tuple(nums), mode)

    def load(self, compiled_class, build):
        """The derivative as ``compiled_class`` from the module the index names, or None.
        ``build()`` (a Compiled) gives its spec and Build when they are asked for."""
        from ..log import event
        from .loader import load_module

        found = lookup(self.key)
        if found is None:
            return None
        entry, src = found
        try:
            injected = {g: self.fp.find(w) for g, w in entry["injected"].items()}
            name, stem = entry["name"], entry["stem"]
            wrt, inout, ret = list(entry["wrt"]), list(entry["inout"]), decode_type(entry["ret"])
        except (KeyError, IndexError, TypeError, ValueError):
            return None
        mod, path = load_module(src, stem, injected)
        func = getattr(mod, name, None)
        if func is None:
            return None
        t = self.transform
        event("loaded", f"{t.pyfun.__qualname__} from {path.name} (no lowering, no AD)")

        def rebuild():
            c = build()
            return c.spec, c.build

        return compiled_class(mod, path, src, t.guard(func, path, src), None, None, wrt, inout,
                              self.fp.value_reads(), ret_type=ret, rebuild=rebuild)

    def record(self, c, name):
        """Remember the module of ``c`` (whose generated function is ``name``) under the key,
        when every module-level object it was given is one the fingerprint found."""
        injected = {}
        for g, obj in c.build.module_globals().items():
            where = self.fp.locate(obj)
            if where is None:
                return
            injected[g] = where
        try:
            ret = encode_type(c.ret_type)
        except TypeError:
            return
        record(self.key, c.path, c.source, name=name, stem=self.transform.module_stem(),
               wrt=list(c.wrt), inout=list(c.inout), ret=ret, injected=injected)
