"""Generated source as notebooks show it: highlighted HTML (with Pygments when installed, else
plain escaped text) and Markdown."""

from __future__ import annotations

import html


def source_html(title, source):
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        body = f"<pre>{html.escape(source)}</pre>"
    else:
        body = highlight(source, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))
    return (f"<details open><summary><code>{html.escape(title)}</code>: the generated "
            f"source</summary>{body}</details>")


def source_markdown(title, source):
    return f"`{title}`: the generated source\n\n```python\n{source.rstrip()}\n```\n"
