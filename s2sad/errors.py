"""Errors raised by s2sad.

Every error raised while building a derivative points at the user's own source: the message
starts ``file.py:LINE:COL:``, then shows the offending line with a caret and a hint.
"""

from __future__ import annotations

import contextlib


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


class UnsafeCacheError(S2SADError):
    """The cache directory is one that other users can write to (or is not the user's own):
    code loaded from it could be theirs, so it is refused, as ssh refuses a key file."""


class CompilerSignal(Exception):
    """Raised by one part of the compiler for another to catch (a fallback), never for users."""


class InternalError(S2SADError):
    """An exception inside s2sad itself: a bug, reported against the user's line it was
    compiling rather than as a traceback from deep inside the compiler."""


REPORT_URL = "the s2sad issue tracker"


@contextlib.contextmanager
def reporting_internal_errors(loc, what="differentiating this"):
    """Turn an unexpected exception raised inside the compiler into an ``InternalError`` that
    names the user's file and line (the original exception is chained as its cause)."""
    try:
        yield
    except (S2SADError, CompilerSignal):
        raise
    except Exception as e:  # noqa: BLE001 - every other exception is a compiler bug
        raise InternalError(
            f"internal error in s2sad while {what} ({type(e).__name__}: {e}); this is a bug in "
            "s2sad, not in your code", loc,
            f"please report it on {REPORT_URL} with this function; meanwhile, rewriting this "
            "line, or mode='forward', may avoid it") from e
