"""Fold an explicit PAD / PADV2 into the VALID convolution it feeds, as SAME padding.

    %p = tfl.pad %x, %pads         // [[0, 0], [0, 1], [0, 1], [0, 0]]
    %y = tfl.conv_2d %p, %w, %b {padding = "VALID", stride_h = 2, ...}
  becomes
    %y = tfl.conv_2d %x, %w, %b {padding = "SAME", stride_h = 2, ...}

TFLite convolutions have no explicit padding, so this folds only when the PAD adds exactly
what SAME would (TFLite splits the total in half, the odd one after) and pads with what
SAME reads outside the input: 0.0 for float, the zero point for quantized tensors.
Results are bit-identical. A conv in another layout (`litec.layout = "NCHW"`) has its
image's H and W where its layout says; its filter keeps TFLite's [O, H, W, I]. The PAD may
reach the conv through a TRANSPOSE (convert-layout's, into the conv's layout):

    %p = tfl.pad %x, %pads                  // NHWC
    %t = tfl.transpose %p, [0, 3, 1, 2]
    %y = tfl.conv_2d %t, ... {litec.layout = "NCHW", padding = "VALID"}
  becomes
    %t = tfl.transpose %x, [0, 3, 1, 2]
    %y = tfl.conv_2d %t, ... {litec.layout = "NCHW", padding = "SAME"}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from litec.dialects import tfl
from litec.dialects.tfl_layouts import is_blocked, layout_of
from litec.dialects.tfl_reference.common import out_size_and_pad
from litec.lowering.fusion.fuse_conv_activation import (
    is_hybrid,
)
from litec.lowering.graph import (
    constant_array,
    erase_unused,
    op_error,
    quantization,
    rebuild,
)
from litec.lowering.layout.permute import per_tensor, permutation

PAD_OPS = (tfl.PadOp, tfl.PadV2Op)
SAME = StringAttr("SAME")


class FoldPadIntoConv(RewritePattern):
    """VALID CONV_2D / DEPTHWISE_CONV_2D of a PAD that adds exactly SAME's padding -> SAME,
    also through a TRANSPOSE between them (then the conv reads the PAD's input transposed).

    Not for hybrid convs: they quantize their input at run time from its range, which the
    padding zeros may widen; nor for convs in a blocked layout (`NCHW16c`)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: tfl.Conv2DOp | tfl.DepthwiseConv2DOp, rewriter: PatternRewriter, /
    ) -> None:
        pad, moved = padded_input(op)
        if op.padding.data != "VALID" or pad is None or is_hybrid(op) or is_blocked(layout_of(op)):
            return
        shape = pad.input.type.get_shape()
        perm = permutation(moved) if moved is not None else list(range(len(shape)))
        pads = padding_amounts(pad)
        if pads is None or not pads_with_zero(pad):
            return
        unpadded = TensorType(pad.input.type.element_type, [shape[a] for a in perm])
        if pads[perm].tolist() != same_padding(op, unpadded.get_shape()):
            return
        source = pad.input
        if moved is not None:
            moved_again = rebuild(moved, {moved.input: pad.input}, unpadded)
            rewriter.insert(moved_again, InsertPoint.before(op))
            source = moved_again.results[0]
        inputs = [op.input]
        fused = rebuild(op, {op.input: source}, op.output.type, padding=SAME)
        rewriter.replace(op, fused)
        erase_unused(rewriter, inputs)


def padded_input(conv: Operation) -> tuple[Operation | None, tfl.TransposeOp | None]:
    """(the PAD the conv reads, the TRANSPOSE it reads it through or None); (None, None)
    when it reads no PAD so, or through a transpose of a tensor quantized per axis."""
    source = conv.input.owner
    moved = source if isinstance(source, tfl.TransposeOp) else None
    pad = source.input.owner if moved is not None else source
    if not isinstance(pad, PAD_OPS):
        return None, None
    if moved is not None and (permutation(moved) is None or not per_tensor(pad.input)):
        return None, None
    return pad, moved


def padding_amounts(pad: Operation) -> np.ndarray | None:
    """The PAD's [rank, 2] before/after amounts; None when they are not a constant."""
    pads = constant_array(pad.padding)
    if pads is None:
        return None
    rank = len(pad.input.type.get_shape())
    if pads.shape != (rank, 2):
        raise op_error(pad, f"padding of shape {list(pads.shape)} for a rank-{rank} input")
    return pads


def pads_with_zero(pad: Operation) -> bool:
    """Whether the PAD fills with what a SAME convolution reads outside its input: 0.0, or
    the zero point with the input's quantization kept."""
    if pad.input.type.element_type != pad.output.type.element_type:
        return False
    q = quantization(pad.output.type)
    zero = 0 if q is None else q.zero_point
    if isinstance(pad, tfl.PadOp):
        return True
    value = constant_array(pad.constant_values)
    return value is not None and value.size == 1 and value.reshape(()) == zero


def same_padding(conv: Operation, shape: list[int]) -> list[list[int]]:
    """The [[before, after], ...] padding of each axis that SAME adds to an input of `shape`
    for this conv (none on N and C, wherever its layout puts them); only where SAME's output
    size is the conv's."""
    kernel = conv.filter.type.get_shape()[1:3]
    stride = (conv.stride_h.value.data, conv.stride_w.value.data)
    dilation = (conv.dilation_h_factor.value.data, conv.dilation_w_factor.value.data)
    out = conv.output.type.get_shape()
    amounts = [[0, 0] for _ in shape]
    spatial = [layout_of(conv).index(axis) for axis in "HW"]
    for axis, k, s, d in zip(spatial, kernel, stride, dilation, strict=True):
        size, before = out_size_and_pad("SAME", shape[axis], k, s, d)
        if size != out[axis]:
            return []
        total = max((size - 1) * s + (k - 1) * d + 1 - shape[axis], 0)
        amounts[axis] = [before, total - before]
    return amounts


@dataclass(frozen=True)
class FoldPadPass(ModulePass):
    """Fold a PAD into the VALID conv/depthwise it feeds when it adds exactly SAME's padding."""

    name = "fold-pad"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = GreedyRewritePatternApplier([FoldPadIntoConv()], dce_enabled=False)
        PatternRewriteWalker(patterns).rewrite_module(op)
