"""Reading the ADBench GMM instances (text format described in the data directory's README)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ENV_VAR = "S2SAD_ADBENCH_DIR"


def data_dir() -> Path:
    """The ADBench data directory: $S2SAD_ADBENCH_DIR, else <repo>/../shared/data/adbench."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "adbench"


def gmm_path(name: str) -> Path:
    """Path of a GMM instance file in the data directory, e.g. ``gmm_path("gmm_d2_K3_test.txt")``."""
    return data_dir() / name


def load_gmm(path):
    """Parse an ADBench GMM file into ``(alphas, means, icf, x, gamma, m)``.

    alphas (K,), means (K, d), icf (K, d + d*(d-1)/2), x (n, d) are float64 arrays; gamma and m
    are Python floats (m is an integer in the file, kept as float so every argument is a float).
    """
    tokens = Path(path).read_text().split()
    d, K, n = (int(t) for t in tokens[:3])
    icf_len = d + d * (d - 1) // 2
    sizes = (K, K * d, K * icf_len, n * d, 2)
    if len(tokens) - 3 != sum(sizes):
        raise ValueError(f"{path}: expected {sum(sizes)} numbers after the header 'd K n' = "
                         f"'{d} {K} {n}', found {len(tokens) - 3}")
    values = np.array(tokens[3:], dtype=np.float64)
    alphas, means, icf, x, (gamma, m) = np.split(values, np.cumsum(sizes)[:-1])
    return (alphas, means.reshape(K, d), icf.reshape(K, icf_len), x.reshape(n, d),
            float(gamma), float(m))
