"""Remove transposes that cancel: composed pairs, chains of reshapes and transposes that
restore the original layout, and pairs that meet once moved through elementwise ops
(propagate-layout's regions, lowering/layout/regions.py, restricted to elementwise ops).

    %a = tfl.transpose %x, [0, 3, 1, 2]
    %b = tfl.relu %a
    %c = tfl.transpose %b, [0, 2, 3, 1]
  becomes
    %c = tfl.relu %x

Only data movement changes, never a value: results are bit-identical. Tensors with
per-axis quantization are left alone (their axis would move).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from litec.dialects import tfl
from litec.lowering.graph import add_constant, erase_unused
from litec.lowering.layout.permute import elementwise_rule_of, per_tensor, permutation, transpose
from litec.lowering.layout.regions import PropagateTranspose

VIEW_OPS = (tfl.TransposeOp, tfl.ReshapeOp, tfl.SqueezeOp, tfl.ExpandDimsOp)
"""Ops that only move elements (a transpose) or only reshape."""


class RemoveRestoringChain(RewritePattern):
    """A TRANSPOSE / RESHAPE / SQUEEZE / EXPAND_DIMS ending a chain of them that keeps the
    elements in their original order -> the chain's input, or one RESHAPE of it (for a
    chain of more than one op, or a TRANSPOSE)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /) -> None:
        if not isinstance(op, VIEW_OPS):
            return
        chain = view_chain(op)
        for k in range(len(chain), 0, -1):
            source = chain[k - 1].input
            if not keeps_order(source, chain[:k]):
                continue
            if source.type == op.output.type:
                replacement: SSAValue | Operation = source
            elif k > 1 or isinstance(op, tfl.TransposeOp):
                replacement = reshape(rewriter, source, op)
            else:
                return  # one op that only reshapes already
            replace_and_clean(rewriter, op, replacement)
            return


class ComposeTransposes(RewritePattern):
    """TRANSPOSE(TRANSPOSE(x, p), q) -> TRANSPOSE(x, p∘q)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfl.TransposeOp, rewriter: PatternRewriter, /) -> None:
        inner = op.input.owner
        if not isinstance(inner, tfl.TransposeOp):
            return
        p, q = permutation(inner), permutation(op)
        if p is None or q is None or not per_tensor(inner.input, op.output):
            return
        composed = transpose(rewriter, inner.input, [p[i] for i in q], op)
        replace_and_clean(rewriter, op, composed)


def view_chain(op: tfl.TransposeOp) -> list[Operation]:
    """`op` and the view ops that compute its input, walking up, while transposes have
    constant permutations and every tensor is per-tensor quantized (or not quantized)."""
    chain: list[Operation] = []
    current = op
    while isinstance(current, VIEW_OPS) and per_tensor(current.input, op.output):
        if isinstance(current, tfl.TransposeOp) and permutation(current) is None:
            break
        chain.append(current)
        current = current.input.owner
    return chain


def keeps_order(source: SSAValue, chain: list[Operation]) -> bool:
    """Whether `chain` (last op first) applied to `source` leaves every element where a
    plain reshape would: same element type, flat order unchanged."""
    if source.type.element_type != chain[0].output.type.element_type:
        return False
    shape = source.type.get_shape()
    index = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
    for op in reversed(chain):
        if isinstance(op, tfl.TransposeOp):
            index = index.transpose(permutation(op))
        else:
            index = index.reshape(op.output.type.get_shape())
    return bool(np.all(index.reshape(-1)[1:] > index.reshape(-1)[:-1]))


def reshape(rewriter: PatternRewriter, value: SSAValue, at: Operation) -> Operation:
    """A RESHAPE of `value` to `at`'s result type, with a constant shape (named after a
    TRANSPOSE's perm), at `at`'s location."""
    shape = np.array(at.output.type.get_shape(), np.int32)
    like = at.perm if isinstance(at, tfl.TransposeOp) else value
    shape_value = add_constant(rewriter, shape, like, at, "shape")
    op = tfl.ReshapeOp.create(operands=[value, shape_value], result_types=[at.output.type])
    op.location = at.location
    return op


def replace_and_clean(
    rewriter: PatternRewriter, op: Operation, replacement: SSAValue | Operation
) -> None:
    """Replace `op` by a value or a new op; erase what only `op` used."""
    inputs = list(op.operands)
    if isinstance(replacement, Operation):
        rewriter.replace(op, replacement)
    else:
        rewriter.replace(op, [], [replacement])
    erase_unused(rewriter, inputs)


@dataclass(frozen=True)
class CancelTransposesPass(ModulePass):
    """Remove transposes that cancel, directly, through reshapes or through elementwise ops."""

    name = "cancel-transposes"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = [
            PropagateTranspose(elementwise_rule_of),  # first: a transpose may become a reshape
            RemoveRestoringChain(),
            ComposeTransposes(),
        ]
        walker = PatternRewriteWalker(GreedyRewritePatternApplier(patterns, dce_enabled=False))
        walker.rewrite_module(op)
