"""What the compiler did, counted and (with ``S2SAD_LOG=1``) printed to stderr one line a step:
``lowering``, ``differentiating``, ``loaded`` (a module found by the disk cache's key, with no
lowering or differentiation). Tests and users read it to see that a warm cache skips work."""

from __future__ import annotations

import os
import sys
from collections import Counter

COUNTS = Counter()  # event -> how many times in this process


def event(kind, what):
    COUNTS[kind] += 1
    if os.environ.get("S2SAD_LOG", "") not in ("", "0"):
        print(f"s2sad: {kind} {what}", file=sys.stderr, flush=True)
