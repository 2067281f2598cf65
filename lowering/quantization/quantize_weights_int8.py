"""`quantize-weights-int8`: dynamic-range quantization. Constant weights of CONV_2D,
DEPTHWISE_CONV_2D and FULLY_CONNECTED become int8, symmetric per output channel; activations
stay float32, so the ops run as TFLite's hybrid kernels (inputs quantized at run time).
As TFLite's converter does, weights with fewer than `min_elements` values stay float."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import BoolAttr, ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern
from xdsl.rewriter import InsertPoint

from litec.dialects import tfl
from litec.lowering.graph import constant_array, is_f32
from litec.lowering.quantization.params import (
    new_const,
    symmetric_weights,
    tensor_of,
)

CHANNEL_AXIS = {tfl.Conv2DOp: 0, tfl.DepthwiseConv2DOp: 3, tfl.FullyConnectedOp: 0}
"""Ops with hybrid kernels -> the axis of their weights' output channels."""


@dataclass
class _HybridWeights(RewritePattern):
    min_elements: int

    def match_and_rewrite(self, op, rewriter: PatternRewriter) -> None:
        axis = CHANNEL_AXIS.get(type(op))
        if axis is None or not (is_f32(op.input.type) and is_f32(op.filter.type)):
            return
        w = constant_array(op.filter)
        if w is None or w.size < self.min_elements:
            return
        q, params = symmetric_weights(w, axis)
        const = new_const(op.filter, q, tensor_of(op.filter, params), "i8")
        old = op.filter
        rewriter.insert(const, InsertPoint.before(op))
        op.operands[1] = const.output
        if "asymmetric_quantize_inputs" in op.properties:
            op.properties["asymmetric_quantize_inputs"] = BoolAttr.from_bool(True)
        rewriter.notify_op_modified(op)
        if not old.uses:
            rewriter.erase(old.owner)


@dataclass(frozen=True)
class QuantizeWeightsInt8Pass(ModulePass):
    """Dynamic-range quantization: conv / depthwise / fully-connected weights to int8 per channel."""

    name = "quantize-weights-int8"
    min_elements: int = 1024

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        walker = PatternRewriteWalker(_HybridWeights(self.min_elements), apply_recursively=False)
        walker.rewrite_module(op)
