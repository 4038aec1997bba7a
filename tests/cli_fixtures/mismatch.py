"""CLI fixtures: a function whose derivative disagrees with finite differences on purpose
(stop_gradient cuts a dependence that finite differences still see)."""

import s2sad


def detached(x: float) -> float:
    return x * s2sad.stop_gradient(x)
