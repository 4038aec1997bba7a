"""A small structured IR: blocks of statements, structured If/For/While, array loads/stores.

Primal code produced by the frontend is in three-address form (one primitive per assignment,
operands are variables or constants). Derivative code produced by ``ad`` may nest expressions
and unpack tuples (``TupleAssign``), so the printed source reads like hand-written derivative
code. What the passes after ``ad`` need to know (which names are temporaries, which the compiler
made, where a VJP's sweeps start) is recorded on ``Function``, never recovered from spellings.
The printer (IR -> Python source) is ``backend.pysource``: the IR imports nothing above it.
"""

from .nodes import *  # noqa: F401,F403
from .verify import verify  # noqa: F401
