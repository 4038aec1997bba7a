"""Errors raised by s2sad.

Every error raised while building a derivative points at the user's own source: the message
starts ``file.py:LINE:COL:``, then shows the offending line with a caret and a hint.
"""

from __future__ import annotations


class S2SADError(Exception):
    """Base class of every error s2sad raises on purpose."""

    def __init__(self, message, loc=None, hint=None):
        self.bare_message = message
        self.loc = loc
        self.hint = hint
        self.filename = loc.filename if loc is not None else None
        self.lineno = loc.lineno if loc is not None else None
        self.col_offset = loc.col if loc is not None else None
        super().__init__(self._format())

    def _format(self):
        parts = []
        if self.loc is not None:
            parts.append(f"{self.loc.filename}:{self.loc.lineno}:{self.loc.col + 1}: {self.bare_message}")
            line = self.loc.source_line
            if line:
                stripped = line.rstrip("\n")
                parts.append("    " + stripped)
                parts.append("    " + " " * self.loc.col + "^")
        else:
            parts.append(self.bare_message)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class UnsupportedSyntaxError(S2SADError):
    """Python that s2sad does not differentiate (try, with, generators, classes, ...)."""


class NonDifferentiableError(S2SADError):
    """A derivative was asked of something that has none (an int argument, an unknown call)."""


class TypeInferenceError(S2SADError):
    """The types of the user's values could not be worked out, or do not fit an operation."""


class RecursionNotSupportedError(UnsupportedSyntaxError):
    """A function that calls itself, directly or through others."""


class DerivativeMismatch(S2SADError, AssertionError):
    """A derivative check (finite differences or SymPy) found a disagreement."""


class JitError(S2SADError):
    """Numba could not compile the generated derivative."""
