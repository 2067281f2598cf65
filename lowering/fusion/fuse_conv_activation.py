"""Fuse into a conv / depthwise / transpose-conv / fully-connected op what follows it: a
constant per-channel ADD (or SUB) folded into its bias, and a standalone activation folded
into its `fused_activation_function`.

    %y = tfl.conv_2d %x, %w, %no_bias {fused_activation_function = "NONE", ...}
    %z = tfl.add %y, %c {fused_activation_function = "RELU"}     // %c : tensor<8xf32>
    %r = tfl.relu6 %z
  becomes
    %r = tfl.conv_2d %x, %w, %c {fused_activation_function = "RELU6", ...}  // see the rules

A conv in another layout (`litec.layout = "NCHW"`, dialects/tfl_layouts.py) has its output
channels on its layout's C axis; its weights and bias keep TFLite's layout, so the same
folds apply with the per-channel constant read along that axis. A conv in a blocked layout
(`NCHW16c`) spreads its channels over two axes: the per-channel folds skip it (here and in
fold-batch-norm: `channel_vector`); its activation still fuses.

The helpers at the bottom (constants, rebuilt ops, errors) serve every fusion pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    ModuleOp,
    NoneType,
    StringAttr,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from litec.dialects import tfl
from litec.dialects.tfl_layouts import NHWC, channel_axis, is_blocked, layout_of, nhwc_shape
from litec.dialects.tfl_reference.core import TensorInfo
from litec.lowering.graph import (
    add_constant,
    constant_array,
    erase_unused,
    is_f32,
    op_error,
    quantization,
    rebuild,
)

CONV_OPS = (tfl.Conv2DOp, tfl.DepthwiseConv2DOp, tfl.TransposeConvOp, tfl.FullyConnectedOp)
"""Ops with a bias and a fused activation, whose output channels are their layout's C axis
(the last for TFLite's NHWC and for FULLY_CONNECTED)."""

ACTIVATION_OPS = {
    tfl.ReluOp: "RELU",
    tfl.Relu6Op: "RELU6",
    tfl.Relu1Op: "RELU_N1_TO_1",
    tfl.TanhOp: "TANH",
}
"""Standalone activation ops and the fused activation that computes the same."""

CLAMPS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
"""Fused activations every conv-like kernel applies as a clamp of its result."""

BIAS_SIGN = {tfl.AddOp: 1, tfl.SubOp: -1}
"""Binary ops folded into a bias, and the sign their constant gets there."""


# ----------------------------------------------------------------------------- patterns


class FoldBiasAdd(RewritePattern):
    """conv(x, w, b) + c  ->  conv(x, w, b + c) for a float conv with no activation and a
    float constant `c` that varies along the output channels only (`conv - c` likewise);
    the ADD's clamping activation moves onto the conv. Bit-identical when the conv had no
    bias; else b + c is rounded once where (conv + b) + c rounded twice."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /) -> None:
        sign = BIAS_SIGN.get(type(op))
        if sign is None or op.fused_activation_function.data not in CLAMPS:
            return
        orders = ((op.lhs, op.rhs), (op.rhs, op.lhs))
        for value, other in orders if sign > 0 else orders[:1]:
            conv = fusable_producer(value, op)
            if conv is None or conv.fused_activation_function.data != "NONE":
                continue
            addend = constant_array(other)
            vector = None if addend is None else channel_vector(addend, conv)
            bias = channel_bias(conv)
            if vector is None or bias is None:
                continue
            new_bias = add_constant(rewriter, bias + sign * vector, conv.filter, op, "bias")
            act = op.fused_activation_function
            fused = rebuild(
                conv, {conv.bias: new_bias}, op.output.type, fused_activation_function=act
            )
            replace_producer_and_user(rewriter, conv, op, fused)
            return


class FuseActivation(RewritePattern):
    """activation(conv(...))  ->  conv(...) with that fused activation, where it computes
    the same: the conv has no activation; float, or quantized with the activation's input
    and output quantization equal (TFLite's ReluX then only clamps, as the conv does);
    TANH only into a hybrid FULLY_CONNECTED (float input, int8 weights), the one kernel
    that applies it (the others ignore a fused TANH)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /) -> None:
        act = ACTIVATION_OPS.get(type(op))
        if act is None or op.input.type != op.output.type:
            return
        conv = fusable_producer(op.input, op)
        if conv is None or conv.fused_activation_function.data != "NONE":
            return
        if act == "TANH" and not (isinstance(conv, tfl.FullyConnectedOp) and is_hybrid(conv)):
            return
        if not is_f32(op.input.type) and quantization(op.input.type) is None:
            return
        fused = rebuild(conv, {}, op.output.type, fused_activation_function=StringAttr(act))
        replace_producer_and_user(rewriter, conv, op, fused)


def is_hybrid(op: Operation) -> bool:
    """A conv-like op with float input and int8 weights (quantized at run time)."""
    return is_f32(op.input.type) and TensorInfo.of(op.filter.type).dtype == np.int8


@dataclass(frozen=True)
class FuseConvActivationPass(ModulePass):
    """Fold per-channel constant ADDs into conv/FC biases and activations into their fused activation."""

    name = "fuse-conv-activation"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = [FoldBiasAdd(), FuseActivation()]
        PatternRewriteWalker(
            GreedyRewritePatternApplier(patterns, dce_enabled=False)
        ).rewrite_module(op)


# ----------------------------------------------------------------------------- helpers


def fusable_producer(value: SSAValue, user: Operation) -> Operation | None:
    """The conv-like op that computes `value` when `user` is its only use and computes a
    result of the same type (no broadcast, no requantization), else None."""
    producer = value.owner
    if not isinstance(producer, CONV_OPS) or not value.has_one_use():
        return None
    if user.results[0].type != value.type:
        return None
    return producer if producer.parent_block() is user.parent_block() else None


def replace_producer_and_user(
    rewriter: PatternRewriter, producer: Operation, user: Operation, fused: Operation
) -> None:
    """Put `fused` in place of `user` and erase `producer`, whose only use `user` was, and
    what only they used."""
    inputs = [*user.operands, *producer.operands]
    rewriter.replace(user, fused)
    rewriter.erase(producer)
    erase_unused(rewriter, inputs)


def output_axis(op: Operation) -> int:
    """The axis of a conv-like op's result that holds its output channels, counted from the
    end: its layout's C (-1 in NHWC, and for FULLY_CONNECTED, whose result is [..., C])."""
    return channel_axis(op) - len(NHWC)


def output_channels(op: Operation) -> int:
    """How many output channels a conv-like op has."""
    return nhwc_shape(layout_of(op), op.output.type.get_shape())[-1]


def channel_vector(arr: np.ndarray, conv: Operation) -> np.ndarray | None:
    """`arr` as one float32 value per output channel of `conv` when, broadcast against its
    result, it varies along the channel axis only and does not enlarge the result; else
    None."""
    out_shape = tuple(conv.output.type.get_shape())
    if is_blocked(layout_of(conv)) or arr.ndim > len(out_shape) or arr.dtype != np.float32:
        return None
    shape = (1,) * (len(out_shape) - arr.ndim) + arr.shape
    axis, channels = len(shape) + output_axis(conv), output_channels(conv)
    if any(d != 1 for k, d in enumerate(shape) if k != axis) or shape[axis] not in (1, channels):
        return None
    return np.broadcast_to(arr.reshape(-1), (channels,)).astype(np.float32)


def channel_bias(conv: Operation) -> np.ndarray | None:
    """The conv's bias as float32 values (zeros when it has none); None when the bias is
    not a float constant. A bias whose length is not the channel count is an error."""
    channels = output_channels(conv)
    if isinstance(conv.bias.type, NoneType):
        return np.zeros(channels, np.float32)
    bias = constant_array(conv.bias)
    if bias is None or bias.dtype != np.float32:
        return None
    if bias.shape != (channels,):
        raise op_error(conv, f"bias of shape {list(bias.shape)} for {channels} output channels")
    return bias
