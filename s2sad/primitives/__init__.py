"""The primitives: one table (``RULES``, a ``Rule`` per primitive) holding each primitive's type
rule, JVP (plain and batched) and VJP, below both ``analysis/`` and ``ad/``, which read it.

``table.py`` defines what a rule is, ``typerules.py`` the result types, ``batched.py`` the
vector-forward-mode forms, ``template.py`` the rule-template language, and ``rules.py`` the
entries themselves, one or two lines a primitive (``linalg.py`` those of linear algebra).
"""

from . import linalg as _linalg  # noqa: F401  (fills the table)
from . import rules as _entries  # noqa: F401
from . import cudarules as _cudarules  # noqa: F401
from .rules import BINOP_RULE, METHOD_RULE, canonical_call, prod_others  # noqa: F401
from .table import RULES, Ctx, Rule  # noqa: F401
