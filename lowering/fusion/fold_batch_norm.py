"""Fold the per-channel MUL and ADD that an unfolded batch norm leaves after a float conv /
depthwise / transpose-conv / fully-connected into its weights and bias.

    %y = tfl.conv_2d %x, %w, %b {fused_activation_function = "NONE"}
    %s = tfl.mul %y, %scale        // %scale, %shift: one constant per output channel
    %z = tfl.add %s, %shift
  becomes
    %z = tfl.conv_2d %x, %w * scale, %b * scale + shift

Float results change by rounding only (the products w·s are rounded once, up front). A conv
in another layout (`litec.layout`) reads the scale along its layout's channel axis; its
weights keep TFLite's layout, so they are scaled along the same filter axis. A conv in a
blocked layout (`NCHW16c`, channels over two axes) is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, NoneType, StringAttr
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from litec.dialects import tfl
from litec.lowering.fusion.fuse_conv_activation import (
    CLAMPS,
    FoldBiasAdd,
    channel_bias,
    channel_vector,
    fusable_producer,
    replace_producer_and_user,
)
from litec.lowering.graph import (
    add_constant,
    constant_array,
    rebuild,
)

OUTPUT_AXIS = {
    tfl.Conv2DOp: 0,
    tfl.DepthwiseConv2DOp: 3,
    tfl.TransposeConvOp: 0,
    tfl.FullyConnectedOp: 0,
}
"""The filter axis of each conv-like op that indexes its output channels."""

AFTER_RELU = {"NONE": "RELU", "RELU": "RELU", "RELU6": "RELU6"}
"""The MUL's fused activation -> the conv's, when the conv had RELU before the MUL:
max(y, 0)·s = max(y·s, 0) for s > 0, and a later RELU / RELU6 clamps that again."""


class FoldScaleMul(RewritePattern):
    """conv(x, w, b) · s  ->  conv(x, w·s, b·s) for float32 weights and a constant `s` that
    varies along the output channels only.

    Rule for the activations: with no activation on the conv, the MUL's activation moves
    onto the conv. With RELU on the conv, only when every scale is > 0 (then
    relu(y)·s = relu(y·s)) and the MUL's activation is NONE, RELU or RELU6. Never with
    RELU6 / RELU_N1_TO_1 on the conv, whose bounds do not scale."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfl.MulOp, rewriter: PatternRewriter, /) -> None:
        for value, other in ((op.lhs, op.rhs), (op.rhs, op.lhs)):
            conv = fusable_producer(value, op)
            scale = constant_array(other)
            if conv is None or scale is None:
                continue
            weights = constant_array(conv.filter)
            vector = channel_vector(scale, conv)
            if weights is None or weights.dtype != np.float32 or vector is None:
                continue
            act = fused_activation(conv.fused_activation_function.data, op, vector)
            bias = channel_bias(conv)
            if act is None or bias is None:
                continue
            axis = OUTPUT_AXIS[type(conv)]
            shape = [1] * weights.ndim
            shape[axis] = -1
            new_weights = add_constant(
                rewriter, weights * vector.reshape(shape), conv.filter, op, "scaled"
            )
            operands = {conv.filter: new_weights}
            if not isinstance(conv.bias.type, NoneType):
                operands[conv.bias] = add_constant(rewriter, bias * vector, conv.filter, op, "bias")
            fused = rebuild(conv, operands, op.output.type, fused_activation_function=act)
            replace_producer_and_user(rewriter, conv, op, fused)
            return


def fused_activation(conv_act: str, mul: tfl.MulOp, scale) -> StringAttr | None:
    """The conv's activation after the MUL is folded into it; None when it cannot be."""
    mul_act = mul.fused_activation_function.data
    if conv_act == "NONE":
        return StringAttr(mul_act) if mul_act in CLAMPS else None
    if conv_act == "RELU" and mul_act in AFTER_RELU and bool(np.all(scale > 0)):
        return StringAttr(AFTER_RELU[mul_act])
    return None


@dataclass(frozen=True)
class FoldBatchNormPass(ModulePass):
    """Fold per-channel constant MUL/ADD after float conv/depthwise/FC ops into their weights and bias."""

    name = "fold-batch-norm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = GreedyRewritePatternApplier([FoldScaleMul(), FoldBiasAdd()], dce_enabled=False)
        PatternRewriteWalker(patterns).rewrite_module(op)
