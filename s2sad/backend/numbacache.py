"""Numba's on-disk cache of generated modules, made safe to trust: an index (``.nbi``) or data
(``.nbc``) file that is corrupt or truncated, or that is not a regular file of the user's own
that only they can write, is discarded and the function compiled again, never a failure.

Numba loads those files with ``pickle``, which runs code: the loader keeps the directory
private (``loader.check_private``), and here each file is checked again before it is read
(the index may sit in $NUMBA_CACHE_DIR, or in Numba's user-wide cache, not in ours). Numba
reads a truncated index with an uncaught ``UnpicklingError``, in every later process, until the
file is deleted by hand; here any failure to load an entry deletes it, and any failure to save
one leaves the function uncached for this process. The classes of the dispatchers' cache
objects are swapped for the subclasses below after the module is loaded (Numba's ``_cache``
and ``_cache_file`` attributes; without them, as in a future Numba, nothing is changed).
"""

from __future__ import annotations

import os

from numba.core.caching import FunctionCache, IndexDataCacheFile
from numba.core.dispatcher import Dispatcher

from .files import trusted  # Numba may unpickle only these

discarded = []  # paths of the files discarded in this process (for tests and diagnostics)


def discard(path):
    discarded.append(str(path))
    try:
        os.unlink(path)
    except OSError:
        pass


class SafeIndexDataCacheFile(IndexDataCacheFile):
    def _load_index(self):
        try:
            if not trusted(self._index_path):
                discard(self._index_path)
                return {}
            return super()._load_index()
        except FileNotFoundError:
            return {}
        except Exception:  # noqa: BLE001 - any unreadable index is rebuilt
            discard(self._index_path)
            return {}

    def _load_data(self, name):
        path = self._data_path(name)
        if not trusted(path):  # FileNotFoundError: an OSError, a cache miss for Numba
            discard(path)
            raise FileNotFoundError(path)
        try:
            return super()._load_data(name)
        except OSError:
            raise
        except Exception as e:  # a truncated or corrupt entry: compile again
            discard(path)
            raise FileNotFoundError(path) from e


class SafeFunctionCache(FunctionCache):
    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception:  # noqa: BLE001 - data that unpickled but does not rebuild
            cf = self._cache_file
            discard(cf._index_path)
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception:  # noqa: BLE001, S110 - uncached, but compiled and correct
            pass


def protect(dispatcher):
    cache = getattr(dispatcher, "_cache", None)
    if type(cache) is FunctionCache and type(getattr(cache, "_cache_file", None)) is IndexDataCacheFile:
        cache.__class__ = SafeFunctionCache
        cache._cache_file.__class__ = SafeIndexDataCacheFile


def protect_module(mod):
    """Every Numba dispatcher defined by the generated module ``mod``."""
    for v in list(vars(mod).values()):
        if isinstance(v, Dispatcher) and getattr(v.py_func, "__module__", None) == mod.__name__:
            protect(v)
