"""A module-level array and scalar that a differentiated function reads (tests of staleness)."""

import numpy as np

W = np.array([1.0, 2.0, 3.0])
SCALE = 2.0


def loss(x):
    return SCALE * np.sum(W * x * x)
