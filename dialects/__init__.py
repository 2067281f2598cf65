"""Dialects litec owns: `tfl` (the import level), `fused` (ops outlined for one kernel) and,
later, kernel and NPU dialects."""

from xdsl.context import Context
from xdsl.dialects.func import Func

from litec.dialects.fused import Fused
from litec.dialects.tfl import Tfl
from litec.ir.quant import Quant
from litec.ir.text import builtin_context


def context() -> Context:
    """A context that knows every dialect litec's IR uses."""
    return builtin_context(Func, Tfl, Fused, Quant)
