"""lower-to-llvm: the whole kernel-level -> `llvm` pipeline as one pass (`PIPELINE`).

    litec opt kernels.mlir -p lower-to-llvm

is `litec opt kernels.mlir -p convert-scf-to-cf,convert-vector-to-llvm,...` followed by the
check that only `llvm` ops are left.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from litec.lowering.to_llvm import lower_to_llvm


@dataclass(frozen=True)
class LowerToLLVMPass(ModulePass):
    """Run every to_llvm pass in order and check that only `llvm` ops remain."""

    name = "lower-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lower_to_llvm(op, ctx)
