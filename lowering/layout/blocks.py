"""Elementwise ops carried into and out of blocked layouts (dialects/tfl_layouts.py).
convert-layout stores an image in NCHW16c through a RESHAPE splitting its channels in
blocks ([N, H, W, C] -> [N, H, W, C/16, 16]) and a TRANSPOSE, and brings a result back
through the inverse TRANSPOSE and a RESHAPE merging the blocks. An elementwise op between
two blocked ops reads such a merging RESHAPE; computed before it, on the blocks, it leaves
the merging and the splitting RESHAPE adjacent (they cancel: RemoveRestoringChain) and
its operands and result each behind one TRANSPOSE, which propagate-layout's regions then
move through it until they cancel. Converting back to NHWC moves a splitting RESHAPE
past the same ops the other way.

    %m = tfl.reshape %t, %s : (tensor<1x8x8x2x16xf32>, tensor<4xi32>) -> tensor<1x8x8x32xf32>
    %y = tfl.add %m, %c         // %c : tensor<32xf32>, one value per channel
  becomes
    %a = tfl.add %t, %c2        // %c2 : tensor<1x1x1x2x16xf32>, the same values in blocks
    %y = tfl.reshape %a, %s : (tensor<1x8x8x2x16xf32>, tensor<4xi32>) -> tensor<1x8x8x32xf32>
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern
from xdsl.rewriter import InsertPoint

from litec.dialects import tfl
from litec.lowering.graph import add_constant, constant_array, erase_unused, rebuild
from litec.lowering.layout.permute import elementwise_rule_of, per_tensor


def moves_blocks(op: Operation) -> bool:
    """Whether `op` is a RESHAPE between [..., C] and [..., C/k, k] (either way), and
    keeps the element type."""
    if not isinstance(op, tfl.ReshapeOp):
        return False
    if op.input.type.element_type != op.output.type.element_type:
        return False
    short, long = sorted((op.input.type.get_shape(), op.output.type.get_shape()), key=len)
    return (
        len(long) == len(short) + 1 >= 2
        and long[:-2] == short[:-1]
        and long[-2] * long[-1] == short[-1]
    )


def before_reshape(
    arr: np.ndarray, src: tuple[int, ...], dst: tuple[int, ...]
) -> np.ndarray | None:
    """A constant broadcast against `dst` (a RESHAPE's result shape), broadcast alike
    against `src` (its input shape; they differ in the channel axes only); None when it
    varies along part of the channel axes only, or has more axes than `dst`."""
    if arr.ndim > len(dst):
        return None
    kept = min(len(src), len(dst)) - 1
    full = arr.reshape((1,) * (len(dst) - arr.ndim) + arr.shape)
    tail = full.shape[kept:]
    if all(d == 1 for d in tail):
        return full.reshape(full.shape[:kept] + (1,) * (len(src) - kept))
    if tail == tuple(dst[kept:]):
        return full.reshape(full.shape[:kept] + tuple(src[kept:]))
    return None


class SinkBlockReshape(RewritePattern):
    """An elementwise op (lowering/layout/permute.py) whose tensor operands are RESHAPEs
    between [..., C] and [..., C/k, k] of tensors of one shape, its other operands
    constants -> the op on the RESHAPEs' inputs (constants of more than one element laid
    out alike), then one RESHAPE. Not when the op broadcasts its result larger, nor with
    tensors quantized per axis."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /) -> None:
        if elementwise_rule_of(op) is None or not per_tensor(*op.operands, *op.results):
            return
        shape = op.results[0].type.get_shape()
        reshapes = [v.owner for v in op.operands if moves_blocks(v.owner)]
        if not reshapes or any(r.output.type.get_shape() != shape for r in reshapes):
            return
        src = reshapes[0].input.type.get_shape()
        if any(r.input.type.get_shape() != src for r in reshapes):
            return
        constants = {v: constant_array(v) for v in op.operands if v.owner not in reshapes}
        moved = {
            v: None if arr is None else before_reshape(arr, src, shape)
            for v, arr in constants.items()
        }
        if any(arr is None for arr in moved.values()):
            return
        operands: dict[SSAValue, SSAValue] = {r.output: r.input for r in reshapes}
        for value, arr in moved.items():
            if arr.size > 1:  # one element broadcasts alike against any shape
                operands[value] = add_constant(rewriter, arr, value, op, "blocks")
        inner = rebuild(op, operands, TensorType(op.results[0].type.element_type, src))
        rewriter.insert(inner, InsertPoint.before(op))
        first = reshapes[0]
        after = rebuild(first, {first.input: inner.results[0]}, op.results[0].type)
        inputs = list(op.operands)
        rewriter.replace(op, after)
        erase_unused(rewriter, inputs)
