"""Files in the cache directory: written atomically (a concurrent reader sees the old file or
the new one), and read back only when ``trusted``."""

from __future__ import annotations

import os
import stat
import threading


def write_atomically(path, data):
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")  # a writer's own
    tmp.write_bytes(data)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one


def trusted(path):
    """Whether a file in the cache may be read as ours: a regular file (no link) of the user's
    own that neither group nor others can write. A missing file raises FileNotFoundError."""
    st = os.lstat(path)
    return (stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
            and not st.st_mode & 0o022)
