"""``s2sad show --dot``: the data flow of IR functions as Graphviz DOT text, drawn beside the
IR's printer (``pysource``), whose expression text labels the statements."""

from __future__ import annotations

from .. import ir
from .pysource import expr_source


class DotGraph:
    """The data flow of IR functions as Graphviz DOT text: an ellipse per variable, a box per
    statement (labelled with its operation), edges from what it reads to what it writes; the
    statements of loops and branches inside a cluster for the loop or branch."""

    def __init__(self):
        self.lines = []
        self.n = 0
        self.nclusters = 0

    def _id(self):
        self.n += 1
        return f"n{self.n}"

    def function(self, fn, title):
        self.nclusters += 1
        self.vars = {}
        self.lines.append(f"  subgraph cluster_{self.nclusters} {{")
        self.lines.append(f"    label={_q(title)}; fontname=\"Helvetica-Bold\"; color=gray50;")
        self.indent = "    "
        self.var_lines = []
        for p in fn.params:
            self._var(p, param=True)
        body_lines = []
        saved = self.lines
        self.lines = body_lines
        self._block(fn.body)
        self.lines = saved
        self.lines.extend(self.var_lines)
        self.lines.extend(body_lines)
        self.lines.append("  }")

    def _var(self, name, param=False):
        if name not in self.vars:
            nid = self._id()
            self.vars[name] = nid
            style = ', style=filled, fillcolor="#dde8f5"' if param else ""
            self.var_lines.append(f"    {nid} [label={_q(name)}, shape=ellipse{style}];")
        return self.vars[name]

    def _op(self, label, reads, writes, shape="box"):
        nid = self._id()
        self.lines.append(f"{self.indent}{nid} [label={_q(_short(label))}, shape={shape}];")
        for r in dict.fromkeys(reads):
            self.lines.append(f"{self.indent}{self._var(r)} -> {nid};")
        for w in dict.fromkeys(writes):
            self.lines.append(f"{self.indent}{nid} -> {self._var(w)};")
        return nid

    def _cluster(self, label, stmts_list):
        self.nclusters += 1
        self.lines.append(f"{self.indent}subgraph cluster_{self.nclusters} {{")
        self.lines.append(f"{self.indent}  label={_q(_short(label))}; style=dashed; color=gray60;")
        old = self.indent
        self.indent += "  "
        for stmts in stmts_list:
            self._block(stmts)
        self.indent = old
        self.lines.append(f"{self.indent}}}")

    def _block(self, stmts):
        for s in stmts:
            self._stmt(s)

    def _stmt(self, s):
        if isinstance(s, (ir.Comment, ir.Pass, ir.Break, ir.Continue)):
            return
        if isinstance(s, ir.Assign):
            self._op(f"{s.target.name} = {expr_source(s.value)}", ir.expr_vars(s.value),
                     [s.target.name])
        elif isinstance(s, ir.AugAssign):
            tgt = expr_source(s.target)
            w = s.target.name if isinstance(s.target, ir.Var) else s.target.array.name
            self._op(f"{tgt} {s.op}= {expr_source(s.value)}", ir.stmt_reads(s), [w])
        elif isinstance(s, (ir.Store, ir.AugStore)):
            idx = ", ".join(expr_source(i) for i in s.index)
            op = "=" if isinstance(s, ir.Store) else f"{s.op}="
            reads = [r for r in ir.stmt_reads(s) if r != s.array.name or isinstance(s, ir.AugStore)]
            self._op(f"{s.array.name}[{idx}] {op} {expr_source(s.value)}", reads, [s.array.name])
        elif isinstance(s, ir.ExprStmt):
            self._op(expr_source(s.value), ir.expr_vars(s.value), [])
        elif isinstance(s, ir.Return):
            reads = ir.expr_vars(s.value) if s.value is not None else []
            self._op("return" + (f" {expr_source(s.value)}" if s.value is not None else ""),
                     reads, ["<output>"], shape="doubleoctagon")
        elif isinstance(s, ir.If):
            test = expr_source(s.test)
            self._op(f"if {test}", ir.expr_vars(s.test), [], shape="diamond")
            self._cluster(f"if {test}", [s.body])
            if s.orelse:
                self._cluster(f"else (not {test})", [s.orelse])
        elif isinstance(s, ir.For):
            rng = f"range({expr_source(s.start)}, {expr_source(s.stop)}, {expr_source(s.step)})"
            label = f"for {s.var.name} in {rng}"
            self._op(label, ir.stmt_reads(s), [s.var.name], shape="hexagon")
            self._cluster(label, [s.body])
        elif isinstance(s, ir.While):
            label = f"while {expr_source(s.test)}"
            self._cluster(label, [s.cond])
            self._op(label, ir.expr_vars(s.test), [], shape="hexagon")
            self._cluster(label + " (body)", [s.body])

    def text(self):
        head = ["digraph s2sad {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];',
                '  edge [color="#555555"];']
        return "\n".join(head + self.lines + ["}"]) + "\n"


def _q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short(s, n=60):
    return s if len(s) <= n else s[: n - 3] + "..."
