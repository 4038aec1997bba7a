"""The layout of a generated module, as a person lays code out: PEP 257 docstrings, lines of at
most ``LINE_LENGTH`` characters (long expressions broken inside brackets, long comments
continued on the next comment line), PEP 8 blank lines. Text in, text out; it never changes
what the code means (the AST before and after is compared)."""

from __future__ import annotations

import ast
import inspect
import io
import re
import shlex
import textwrap
import tokenize

from ..ir.parse import parse

LINE_LENGTH = 100


def blank_lines(text):
    """Two blank lines around top-level functions (PEP 8), one at most elsewhere, one newline
    at the end."""
    lines = text.rstrip("\n").split("\n")
    out = []
    for k, ln in enumerate(lines):
        top_def = ln.startswith(("def ", "@")) and not (out and out[-1].startswith("@"))
        after_def = (ln and not ln[0].isspace() and not ln.startswith(("def ", "@"))
                     and _last_top_is_def(out))
        if top_def or after_def:
            while out and out[-1] == "":
                out.pop()
            if out:
                out += ["", ""]
        elif ln == "" and out and out[-1] == "" and (len(out) < 2 or out[-2] == ""):
            continue
        out.append(ln)
    return "\n".join(out) + "\n"


def _last_top_is_def(lines):
    for ln in reversed(lines):
        if ln and not ln[0].isspace():
            return ln.startswith(("def ", "@"))
    return False


def layout(text, limit=LINE_LENGTH):
    """Lay generated code out as hand-written code: PEP 257 docstrings, lines of at most
    ``limit`` characters (long expressions broken inside brackets, aligned with the opening
    bracket; long comments continued on the next comment line)."""
    out = []
    for line in _fix_docstrings(text, limit).split("\n"):
        if len(line) <= limit:
            out.append(line)
        elif line.lstrip().startswith("#"):
            out.extend(wrap_comment(line, limit))
        else:
            wrapped = _wrap_code(line, limit)
            out.extend(wrapped if _same_code(line, wrapped) else [line])
    return "\n".join(out)


def _same_code(line, lines):
    """Whether the broken ``lines`` mean what ``line`` meant (never change the code)."""
    def shape(text):
        text = textwrap.dedent(text)
        try:
            return ast.dump(parse(text + " pass" if text.rstrip().endswith(":") else text))
        except SyntaxError:
            return None

    before = shape(line)
    return before is not None and shape("\n".join(lines)) == before


def wrap_comment(line, limit):
    """A long comment line continued on comment lines indented four more spaces."""
    if len(line) <= limit:
        return [line]
    m = re.match(r"^(\s*)#(\s*)(.*)$", line)
    indent, inner, body = m.group(1), m.group(2) or " ", m.group(3)
    lead = f"{indent}#{inner}"
    first = textwrap.wrap(body, width=max(limit - len(lead), 20), break_long_words=False,
                          break_on_hyphens=False)
    if not first:
        return [line]
    out = [lead + first[0]]
    rest = " ".join(first[1:])
    more = lead + "    "
    for piece in textwrap.wrap(rest, width=max(limit - len(more), 20), break_long_words=False,
                               break_on_hyphens=False):
        out.append(more + piece)
    return out


def command_comment(command, limit):
    """A shell command as comment lines that can be pasted back (backslash continuations)."""

    words = shlex.split(command)
    lines, cur = [], "#     "
    for w in words:
        q = shlex.quote(w)
        if cur.strip("# ") and len(cur) + 1 + len(q) + 2 > limit:
            lines.append(cur + " \\")
            cur = "#         " + q
        else:
            cur = cur + (" " if cur.strip("# ") else "") + q
    lines.append(cur)
    return lines


def _fix_docstrings(text, limit):
    """Function docstrings indented with their function, wrapped, closing quotes alone on the
    last line of a multi-line docstring (PEP 257)."""
    tree = parse(text)
    lines = text.split("\n")
    edits = []
    for node in tree.body:  # generated functions are all at module level
        if not isinstance(node, ast.FunctionDef):
            continue
        first = node.body[0]
        if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            continue
        raw = "\n".join(lines[first.lineno - 1: first.end_lineno])
        if "\\" in raw or raw.count('"""') != 2 or not raw.strip().startswith('"""'):
            continue
        doc = inspect.cleandoc(first.value.value)
        indent = " " * first.col_offset
        edits.append((first.lineno, first.end_lineno, _docstring_lines(doc, indent, limit)))
    for start, end, new in sorted(edits, reverse=True):
        lines[start - 1: end] = new
    return "\n".join(lines)


def _docstring_lines(doc, indent, limit):
    paras = re.split(r"\n\s*\n", doc)
    width = max(limit - len(indent), 30)
    out = []
    for k, p in enumerate(paras):
        plines = p.split("\n")
        first = 3 if k == 0 else 0  # the opening quotes
        if all(len(indent) + len(x) + (first if j == 0 else 0) <= limit
               for j, x in enumerate(plines)):
            wrapped = plines  # keep the author's lines when they fit
        else:
            wrapped = textwrap.wrap(" ".join(x.strip() for x in plines), width=width,
                                    initial_indent=" " * first, break_long_words=False,
                                    break_on_hyphens=False)
            wrapped[0] = wrapped[0][first:]
        if k:
            out.append("")
        out.extend(wrapped)
    if len(out) == 1 and len(indent) + len(out[0]) + 6 <= limit:
        return [f'{indent}"""{out[0]}"""']
    res = [f'{indent}"""{out[0]}']
    res += [f"{indent}{x}" if x else "" for x in out[1:]]
    res.append(f'{indent}"""')
    return res


_OPEN = {"(": ")", "[": "]", "{": "}"}


# binary operators a line may break before, by how loosely they bind
_BINARY = {"if": 1, "else": 1, "or": 2, "and": 3, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6,
           "%": 6, "@": 6, "**": 7}


def _wrap_code(line, limit):
    """Break one long logical line inside its brackets; also try the value of an assignment
    or a return, or the test of an ``if``/``while``, wrapped in parentheses, and keep the
    layout that reads best (within the limit, fewest hanging indents, fewest lines)."""
    tries = [line]
    m = re.match(r"^(\s*)(return |[\w\[\], .]+? (?:[-+*/%@]|//|\*\*)?= )(.*)$", line)
    if m:
        tries.append(f"{m.group(1)}{m.group(2)}({m.group(3)})")
    m = re.match(r"^(\s*)(if |elif |while )(.*):$", line)
    if m:
        tries.append(f"{m.group(1)}{m.group(2)}({m.group(3)}):")
    best = None
    for t in tries:
        res = _break_line(t, limit)
        if res is None:
            continue
        lines, hanging = res
        score = (max(map(len, lines)) > limit, hanging, len(lines))
        if best is None or score < best[0]:
            best = (score, lines)
    return best[1] if best else [line]


def _tokens(line):
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(line.strip("\n") + "\n").readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    return [t for t in toks if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER,
                                               tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT)]


def _break_line(line, limit):
    """Break ``line`` after commas and before binary operators inside brackets, continuation
    lines aligned with the opening bracket; where that is too far right, a hanging indent
    after the opening bracket (four more spaces, eight for a block's header). Returns (lines,
    number of hanging indents), None when there is no place to break."""
    toks = _tokens(line)
    if toks is None:
        return None
    # break candidates: (position in line, bracket depth, position of the open bracket,
    # whether it is the hanging break right after that bracket, how loosely the operator at
    # the break binds: lower is looser, a better place)
    cands = []
    stack = []
    prev = None
    for k, t in enumerate(toks):
        s = t.string
        col = t.start[1]
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if t.type == tokenize.OP and s in _OPEN:
            stack.append(col)
            if nxt is not None and nxt.string not in ")]}":
                cands.append((nxt.start[1], len(stack), col, True, 0))
        elif t.type == tokenize.OP and s in ")]}":
            if stack:
                stack.pop()
        elif stack and s == "," and nxt is not None and nxt.string not in ")]}":
            cands.append((nxt.start[1], len(stack), stack[-1], False, 0))
        elif (stack and s in _BINARY and prev is not None and nxt is not None
              and (prev.type in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING)
                   or prev.string in ")]}") and prev.string not in ("and", "or", "not", "if",
                                                                       "else", "in", "is")):
            cands.append((col, len(stack), stack[-1], False, _BINARY[s]))
        prev = t
    if not cands:
        return None
    indent = len(line) - len(line.lstrip())
    header = line.rstrip().endswith(":") and re.match(r"\s*(if|elif|while|for|def|with)\b", line)
    hang = 8 if header else 4
    out = []
    segs = [(0, 0)]  # (position in ``line`` where an output line starts, its output column)
    override = {}  # bracket -> continuation column (a hanging indent)
    hangs = 0

    def column(pos):
        start, col = [sg for sg in segs if sg[0] <= pos][-1]
        return col + pos - start

    def cont(c):
        return override.get(c[2], column(c[2]) + 1)

    while True:
        seg_start, seg_col = segs[-1]
        prefix = " " * seg_col if len(segs) > 1 else ""
        rest = line[seg_start:]
        if seg_col + len(rest) <= limit:
            out.append(prefix + rest)
            return out, hangs
        later = [c for c in cands if c[0] > seg_start]
        fit = [c for c in later if seg_col + len(line[seg_start:c[0]].rstrip()) <= limit]
        aligned = [c for c in fit if not c[3] and (cont(c) <= limit // 2
                                                   or cont(c) + len(line[c[0]:]) <= limit)]
        hanging = [c for c in fit if c[3]]
        if aligned:
            c = min(aligned, key=lambda c: (c[1], c[4], -c[0]))
            new_col = cont(c)
        elif hanging:
            depth = min(c[1] for c in hanging)
            c = max(c for c in hanging if c[1] == depth)
            base = indent if len(segs) == 1 else seg_col
            new_col = base + hang
            override[c[2]] = new_col
            hangs += 1
        else:
            return None
        out.append(prefix + line[seg_start:c[0]].rstrip())
        segs.append((c[0], new_col))
