"""Notebooks (issue 13): examples/notebook.ipynb executed headless by plain IPython (a fresh
interpreter): functions defined in cells are differentiated (their source comes from IPython's
cell cache), and derivative objects display their generated source once specialised.
References: finite differences and the hand-derived Rosenbrock Hessian."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "examples" / "notebook.ipynb"

RUN = textwrap.dedent("""
    import json, sys
    import numpy as np
    from IPython.core.interactiveshell import InteractiveShell
    from s2sad.check.fd import numerical_grad

    shell = InteractiveShell.instance()
    nb = json.load(open(sys.argv[1]))
    failed = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            r = shell.run_cell("".join(cell["source"]), store_history=True)
            if not r.success:
                failed.append("".join(cell["source"]) + " -> " + repr(r.error_in_exec or r.error_before_exec))
    ns = shell.user_ns
    x = ns["x"]
    print(json.dumps({
        "failed": failed,
        "g": ns["g"].tolist(),
        "fd": numerical_grad(ns["loss"], (x, 2.0)).tolist(),
        "H": ns["H"].tolist(),
        "x": x.tolist(),
        "filename": ns["loss"].__code__.co_filename,
        "html": ns["dloss"]._repr_html_(),
        "markdown": ns["dloss"]._repr_markdown_(),
        "unspecialised": ns["s2sad"].grad(ns["loss"])._repr_html_(),
    }))
""")


def rosenbrock_hessian(x, y):
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        h[i + 1, i + 1] += 200.0
        h[i, i + 1] -= 400.0 * x[i]
        h[i + 1, i] -= 400.0 * x[i]
    return y * h


def test_notebook_runs_headless():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-c", RUN, str(NOTEBOOK)], capture_output=True, text=True,
                       env=env, timeout=600, check=False, cwd=REPO)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["failed"] == []
    assert not os.path.exists(out["filename"])  # defined in a cell, not a file
    np.testing.assert_allclose(out["g"], out["fd"], rtol=1e-7)
    x = np.array(out["x"])
    np.testing.assert_allclose(out["H"], rosenbrock_hessian(x, 2.0), rtol=1e-10)
    assert "loss_vjp" in out["html"]
    assert out["html"].startswith("<details open>") and "<pre" in out["html"]
    assert out["markdown"].count("```") == 2 and "def loss_vjp(x, y, out_bar, x_bar):" in out["markdown"]
    assert out["unspecialised"] is None  # not called yet: Jupyter falls back to the repr
