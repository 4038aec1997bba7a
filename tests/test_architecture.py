"""The house's shape, held against the code: every import of ``s2sad/`` (function-local ones
too) goes down the layers below, never up, and no two modules import each other in a loop.

The layers, lowest first (ARCHITECTURE.md says what each owns):

    errors, ir, version, arguments
                        the vocabulary: errors, IR nodes, types; argument values (copies, IEEE);
                        Jacobians from sweeps (unit tangents and cotangents)
    primitives          the one primitive table (types, JVPs plain and batched, VJPs)
    frontend            Python source -> IR
    analysis            types, activity, rebinding, tape sizes, what to record
    ad                  IR -> derivative IR (forward, batched, reverse)
    backend             IR -> Python source, folding, module assembly, loading
    compiler, custom    one derivative module from a function and a signature; custom rules
    api                 grad, value_and_grad, jvp, vjp, source
    transforms, cuda    Jacobians and Hessians composed from api; derivative kernels of numba.cuda kernels
    check               finite differences, check_grads, the SymPy cross-check
    cli, package        the command line; ``s2sad/__init__`` and ``__main__``
"""

from __future__ import annotations

import ast
from pathlib import Path

import s2sad

ROOT = Path(s2sad.__file__).parent

LAYERS = [
    {"s2sad.errors", "s2sad.ir", "s2sad.version", "s2sad.arguments", "s2sad.sweeps",
     "s2sad.travel", "s2sad.log"},
    {"s2sad.primitives"},
    {"s2sad.frontend"},
    {"s2sad.analysis"},
    {"s2sad.ad"},
    {"s2sad.backend"},
    {"s2sad.compiler", "s2sad.custom"},
    {"s2sad.api"},
    {"s2sad.transforms", "s2sad.cuda"},
    {"s2sad.check"},
    {"s2sad.cli", "s2sad", "s2sad.__main__"},
]


def _module(path):
    parts = ["s2sad"] + list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(name):
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def _imports():
    """(importer, imported) module pairs, relative imports resolved."""
    out = set()
    for path in ROOT.rglob("*.py"):
        mod = _module(path)
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("s2sad"):
                    continue
                for alias in node.names:
                    sub = target + "." + alias.name
                    out.add((mod, sub if _is_module(sub) else target))
            elif isinstance(node, ast.Import):
                out.update((mod, a.name) for a in node.names if a.name.startswith("s2sad"))
    return out


def _layer(mod):
    for k, layer in enumerate(LAYERS):
        for unit in layer:
            if mod == unit or (unit != "s2sad" and mod.startswith(unit + ".")):
                return k
    raise AssertionError(f"{mod} is in no layer: add it to LAYERS (and to ARCHITECTURE.md)")


KNOWN_UP = set()
KNOWN_LONG = set()


def test_every_import_goes_down_the_layers():
    up = sorted(f"{a} -> {b}" for a, b in _imports()
                if a != b and not b.startswith(a + ".") and _layer(b) > _layer(a)
                and f"{a} -> {b}" not in KNOWN_UP)
    assert not up, "imports that run back up a layer:\n  " + "\n  ".join(up)


def test_no_import_cycles():
    graph = {}
    for a, b in _imports():
        if a != b and not b.startswith(a + ".") and not a.startswith(b + "."):
            graph.setdefault(a, set()).add(b)
    state, stack, cycles = {}, [], []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in graph.get(n, ()):
            if state.get(m) == "open":
                cycles.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles:\n  " + "\n  ".join(" -> ".join(c) for c in cycles)


def test_long_modules_say_why():
    """No module over ~700 lines without a reason written at its top."""
    long = []
    for path in ROOT.rglob("*.py"):
        text = path.read_text()
        if text.count("\n") > 750 and str(path.relative_to(ROOT)) not in KNOWN_LONG:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "long" not in doc.lower():
                long.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not long, "long modules whose docstring does not say why: " + ", ".join(long)
