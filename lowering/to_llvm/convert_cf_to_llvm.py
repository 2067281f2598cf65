"""convert-cf-to-llvm: `cf.br` / `cf.cond_br` to `llvm.br` / `llvm.cond_br`.

Runs after xDSL's `convert-scf-to-cf`. The arguments of every non-entry block (loop
counters and carried values, `index` among them) take their `llvm` types; branches pass
`llvm`-typed values.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import cf, llvm
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern
from xdsl.rewriter import InsertPoint

from litec.lowering.to_llvm.conversion import (
    llvm_operand,
    llvm_operands,
    replace,
    retype_block_args,
    unsupported,
)


def _branch(op: cf.BranchOp, rewriter: PatternRewriter) -> Operation:
    return llvm.BrOp(op.successor, *llvm_operands(rewriter, op))


def _cond_branch(op: cf.ConditionalBranchOp, rewriter: PatternRewriter) -> Operation:
    then_args = [llvm_operand(rewriter, v) for v in op.then_arguments]
    else_args = [llvm_operand(rewriter, v) for v in op.else_arguments]
    return llvm.CondBrOp(op.cond, op.then_block, then_args, op.else_block, else_args)


_LOWERINGS = {cf.BranchOp: _branch, cf.ConditionalBranchOp: _cond_branch}


class LowerBranch(RewritePattern):
    """One `cf` terminator to `llvm` (table `_LOWERINGS`)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not op.name.startswith("cf."):
            return
        lower = _LOWERINGS.get(type(op))
        if lower is None:
            raise unsupported(op, "no lowering to the llvm dialect")
        replace(rewriter, op, [lower(op, rewriter)], [])


@dataclass(frozen=True)
class ConvertCfToLLVMPass(ModulePass):
    """Lower `cf` branches to `llvm` and give non-entry block arguments `llvm` types."""

    name = "convert-cf-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for nested in op.walk():
            for region in nested.regions:
                for block in list(region.blocks)[1:]:
                    retype_block_args(PatternRewriter(InsertPoint.at_start(block)), block)
        PatternRewriteWalker(LowerBranch(), apply_recursively=False).rewrite_module(op)
