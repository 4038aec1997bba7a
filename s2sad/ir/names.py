"""Fresh names: the one rule every pass that makes a name follows."""

from __future__ import annotations


def fresh_name(base, taken, sep=""):
    """The first of ``base``, ``base{sep}2``, ``base{sep}3``, ... not in ``taken``; added to it."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}{sep}{k}"
    taken.add(name)
    return name
