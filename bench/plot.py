"""The benchmark as a picture: per problem, each measured variant's time as a multiple of the
function alone and of the hand-written adjoint (log scale), peers included.

    python bench/run.py --plot bench.png          # measure, then draw
    python bench/plot.py bench/results.json bench.png   # draw a run already made

Needs matplotlib (``pip install matplotlib``); without it, says so and draws nothing."""

from __future__ import annotations

import json
import math
import sys

ORDER = ("s2sad_reverse", "s2sad_reverse_raw", "s2sad_reverse_api", "s2sad_forward",
         "s2sad_forward_sweep", "hand", "hand_value")


def plot(results, path):
    """Draw ``results`` (the JSON's "problems") into ``path``; False when matplotlib is absent."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot: matplotlib is not installed (pip install matplotlib): no picture drawn",
              file=sys.stderr)
        return False
    names = list(results)
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 1.2 + 2.6 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        variants = results[name]["variants"]
        keys = [k for k in variants if k != "function" and variants[k].get("median_s")]
        keys.sort(key=lambda k: ORDER.index(k) if k in ORDER else len(ORDER))
        labels = [variants[k]["label"].strip() + (" (estimate)" if variants[k]["status"] == "estimate"
                                                  else "") for k in keys]
        for col, (field, ref) in enumerate((("x_function", "the function (Numba)"),
                                            ("x_hand", "the hand-written adjoint"))):
            ax = axes[row][col]
            vals = [variants[k].get(field) or float("nan") for k in keys]
            colors = ["tab:blue" if k.startswith("s2sad") else "tab:gray" if k.startswith("hand")
                      else "tab:orange" for k in keys]
            ax.barh(range(len(keys)), vals, color=colors)
            ax.set_yticks(range(len(keys)), labels, fontsize=7)
            ax.invert_yaxis()
            ax.set_xscale("log")
            ax.axvline(1.0, color="black", linewidth=0.8)
            ax.set_title(f"{name}: time / time of {ref}", fontsize=9)
            for y, v in enumerate(vals):
                if not math.isnan(v):
                    ax.text(v, y, f" {v:.2f}x", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        data = json.load(fh)
    return 0 if plot(data["problems"], argv[1]) else 1


if __name__ == "__main__":
    sys.exit(main())
