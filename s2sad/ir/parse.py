"""``ast.parse`` one thread at a time.

CPython before 3.11.8 / 3.12.1 corrupts its AST conversion when two threads parse at once
(``SystemError: AST constructor recursion depth mismatch``, python/cpython#106905): a Dask
worker unpickling one derivative while building another did. Every parse s2sad makes goes
through here."""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source, filename="<unknown>", mode="exec", **kwargs):
    with _LOCK:
        return ast.parse(source, filename, mode, **kwargs)
