"""dce: dead-code elimination on `tfl` IR, in every function of the module.

An op goes when none of its results is used (transitively: a chain that feeds only dead
ops goes as a whole) and it has no effect besides its results: xDSL's `Pure` ops, which
include `tfl.const` and `tfl.no_value`. Ops without that trait stay whatever their uses:
`tfl.variable` (state), `tfl.while` (it runs other functions), `tfl.custom`, the stateful
sequence ops. Functions themselves, their arguments and results are never removed, so a
WHILE's cond and body keep everything they return.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.transforms.dead_code_elimination import region_dce


@dataclass(frozen=True)
class DeadCodeEliminationPass(ModulePass):
    """Remove side-effect-free ops (constants included) whose results nothing uses."""

    name = "dce"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        region_dce(op.body)
