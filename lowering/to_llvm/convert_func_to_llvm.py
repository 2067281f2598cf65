"""convert-func-to-llvm: `func.func` / `return` / `call` to `llvm`, bare-pointer ABI.

Every memref argument becomes one `!llvm.ptr` (to its element [0, ..., 0]) and `index`
becomes `i64`, so a kernel is `void kernel(void *a0, void *a1, ...)` in C. Public
functions keep external linkage, private ones become internal. Argument attributes in
the `llvm.` namespace (e.g. `llvm.noalias`, `llvm.align`) carry over, so a generator can
promise what the runtime guarantees.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, llvm
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from litec.lowering.to_llvm.conversion import (
    llvm_operands,
    llvm_type,
    replace,
    retype_block_args,
    unsupported,
)


def _llvm_arg_attrs(op: func.FuncOp) -> ArrayAttr[DictionaryAttr] | None:
    """The `llvm.*` entries of each argument's attributes (None when there are none)."""
    if op.arg_attrs is None:
        return None
    kept = [
        DictionaryAttr({k: v for k, v in attrs.data.items() if k.startswith("llvm.")})
        for attrs in op.arg_attrs
    ]
    return ArrayAttr(kept) if any(d.data for d in kept) else None


def _function_type(op: Operation, inputs, outputs) -> llvm.LLVMFunctionType:
    if len(outputs) > 1:
        raise unsupported(op, "functions return at most one value")
    output = llvm_type(outputs[0]) if outputs else llvm.LLVMVoidType()
    return llvm.LLVMFunctionType([llvm_type(t) for t in inputs], output)


class LowerFunc(RewritePattern):
    """`func.func` -> `llvm.func`, its entry block's arguments retyped."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.FuncOp, rewriter: PatternRewriter, /):
        ft = op.function_type
        function_type = _function_type(op, ft.inputs.data, ft.outputs.data)
        body = rewriter.move_region_contents_to_new_regions(op.body)
        if body.blocks:
            retype_block_args(rewriter, body.blocks.first)
        private = op.sym_visibility is not None and op.sym_visibility.data == "private"
        linkage = llvm.LinkageAttr("internal" if private and body.blocks else "external")
        other = {"arg_attrs": _llvm_arg_attrs(op)}
        new = llvm.FuncOp(op.sym_name, function_type, linkage, body=body, other_props=other)
        rewriter.replace(op, new, [])


class LowerReturn(RewritePattern):
    """`func.return` -> `llvm.return`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.ReturnOp, rewriter: PatternRewriter, /):
        values = llvm_operands(rewriter, op)
        if len(values) > 1:
            raise unsupported(op, "functions return at most one value")
        replace(rewriter, op, [llvm.ReturnOp(values[0] if values else None)], [])


class LowerCall(RewritePattern):
    """`func.call` -> `llvm.call`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.CallOp, rewriter: PatternRewriter, /):
        if len(op.res) > 1:
            raise unsupported(op, "functions return at most one value")
        result = llvm_type(op.res[0].type) if op.res else None
        call = llvm.CallOp(op.callee, *llvm_operands(rewriter, op), return_type=result)
        replace(rewriter, op, [call], call.results)


@dataclass(frozen=True)
class ConvertFuncToLLVMPass(ModulePass):
    """Lower `func` functions, returns and calls to `llvm` with the bare-pointer ABI."""

    name = "convert-func-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = GreedyRewritePatternApplier([LowerFunc(), LowerReturn(), LowerCall()])
        PatternRewriteWalker(patterns, apply_recursively=False).rewrite_module(op)
