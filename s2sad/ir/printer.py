"""A readable dump of an IR function: its source form plus the inferred types."""

from __future__ import annotations


def format_function(fn, types=None):
    from ..backend.pysource import function_source

    lines = []
    types = types if types is not None else getattr(fn, "types", {})
    if types:
        lines.append(f"# IR of {fn.name}; inferred types:")
        for name in sorted(types):
            lines.append(f"#   {name}: {types[name]}")
    lines.append(function_source(fn))
    return "\n".join(lines)
