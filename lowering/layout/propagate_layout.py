"""Move transposes through layout-agnostic ops toward the graph outputs so that they meet
and cancel: models converted from NCHW frameworks wrap every conv in transposes and keep
the elementwise, concat, pad, reduce... ops between them in NCHW.

    %a = tfl.transpose %conv1, [0, 3, 1, 2]          // NHWC -> NCHW
    %b = tfl.add %a, %c                              // %c : tensor<1x8x1x1xf32>
    %d = tfl.relu %b
    %e = tfl.transpose %d, [0, 2, 3, 1]              // NCHW -> NHWC, into a conv
  becomes
    %b = tfl.add %conv1, %c2                         // %c2 : tensor<1x1x1x8xf32>
    %e = tfl.relu %b

A transpose moves with its whole region (lowering/layout/regions.py): the ops reached
through uses that a rule of lowering/layout/permute.py computes on transposed values
(elementwise ops with constants of any broadcastable shape, CONCATENATION, PAD, PADV2,
MEAN, SUM, REDUCE_MAX, SLICE, STRIDED_SLICE, GATHER, last-axis ops), and only where that
strictly lowers the work: no more TRANSPOSE ops and no more elements moved, one of the
two strictly less. The cancel-transposes patterns then compose what is left. Only data
movement changes, never a value: the reference interpreter's results are bit-identical
(a CPU kernel for a float reduction may add in another order once its axes moved).
Tensors quantized per axis stay put. The pass runs on any target: litec's kernels all
compute in TFLite's NHWC, so the transposes that pay to remove are the converters'.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriteWalker,
    RewritePattern,
)

from litec.lowering.fusion.cancel_transposes import ComposeTransposes, RemoveRestoringChain
from litec.lowering.layout.permute import rule_of
from litec.lowering.layout.regions import PropagateTranspose


@dataclass(frozen=True)
class PropagateLayoutPass(ModulePass):
    """Move transposes through layout-agnostic ops where they then cancel, and cancel them."""

    name = "propagate-layout"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        propagate(op)


def propagate(module: ModuleOp, *extra: RewritePattern) -> None:
    """Run the pass's patterns, and `extra` ones after them, on `module` until none fires."""
    patterns = [PropagateTranspose(rule_of), RemoveRestoringChain(), ComposeTransposes(), *extra]
    walker = PatternRewriteWalker(GreedyRewritePatternApplier(patterns, dce_enabled=False))
    walker.rewrite_module(module)
