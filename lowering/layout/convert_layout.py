"""Convert layout-sensitive ops (convolutions, pooling, resizes, space/depth moves: the
table of dialects/tfl_layouts.py) to the layout a target's kernels compute in, then cancel
the transposes this creates.

    %y = tfl.conv_2d %x, %w, %b                          // NHWC, TFLite's layout
  with conv_2d=NCHW becomes
    %t = tfl.transpose %x, [0, 3, 1, 2]                  // NHWC -> NCHW
    %c = tfl.conv_2d %t, %w, %b {litec.layout = "NCHW"}  // images in NCHW, weights OHWI
    %y = tfl.transpose %c, [0, 2, 3, 1]                  // back, for its users

and the propagate-layout patterns then move the transposes back through the
layout-agnostic ops between two converted ops until they cancel: conv -> relu -> conv in
NCHW keeps one transpose in and one out.

A blocked layout (`NCHW16c`: [N, C/16, H, W, 16]) is reached through a RESHAPE splitting
the channels and a TRANSPOSE, and left through the inverse TRANSPOSE and a RESHAPE (the
steps of `conversion`, dialects/tfl_layouts.py). Elementwise ops between two blocked ops
(RELU, HARD_SWISH, ADD of two converted values or of a per-channel constant...) are
carried into the blocks here rather than by a propagate-layout rule, whose regions move
permutations only: lowering/layout/blocks.py moves the RESHAPEs past them, the two
RESHAPEs then cancel and the TRANSPOSEs meet as in NCHW. An op whose channels do not
fill whole blocks (C % 16) is left in NHWC.

The layout of each op is the target's `Backend.preferred_layout(op)` (None: keep it; the
CPU's kernels compute in NHWC), or the `layouts` option's entry for its op name
(`layouts="conv_2d=NCHW,max_pool_2d=NCHW"`), which wins. Ops whose images are not 4-D, or
are quantized per axis (the axis would move), are left as they are. Only data movement
changes: the reference interpreter's results are bit-identical. The graph passes after it
read a converted op's axes from its layout (fold-batch-norm, fuse-conv-activation, fold-pad;
tests/test_layout_passes.py; their per-channel folds skip blocked ops), but a transpose
left between a conv and its single user (at a function result, before a FULLY_CONNECTED)
keeps the two from fusing: where the target allows, run it after the fusion passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern
from xdsl.rewriter import InsertPoint

from litec.dialects import tfl
from litec.dialects.tfl_layouts import (
    IMAGES,
    LAYOUT,
    NHWC,
    Step,
    block_of,
    conversion,
    image_rank,
    images,
    layout_of,
    layout_problem,
    moved_shape,
    nhwc_shape,
    stored_shape,
)
from litec.ir.backend import get_backend
from litec.ir.diagnostics import LitecError
from litec.lowering.graph import add_constant, rebuild
from litec.lowering.layout.blocks import SinkBlockReshape
from litec.lowering.layout.permute import per_tensor, permutation
from litec.lowering.layout.propagate_layout import propagate

Choice = Callable[[Operation], str | None]
"""The layout an op should compute in, or None to keep its own."""


def parse_layouts(spec: str) -> dict[str, str]:
    """`"conv_2d=NCHW,max_pool_2d=NCHW"` -> {"tfl.conv_2d": "NCHW", ...}; an entry that is
    not `op=LAYOUT` of a layout-sensitive op and a layout is a one-line error naming it."""
    chosen = {}
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        name, _, layout = (part.strip() for part in entry.partition("="))
        if f"tfl.{name}" not in IMAGES:
            known = ", ".join(n.removeprefix("tfl.") for n in IMAGES)
            raise LitecError(f"convert-layout: '{entry}': no layout-sensitive op {name} ({known})")
        if (problem := layout_problem(layout)) is not None:
            raise LitecError(f"convert-layout: '{entry}': {problem}")
        chosen[f"tfl.{name}"] = layout
    return chosen


def choice(target: str, spec: str) -> Choice:
    """The `layouts` entries, else what `target` prefers."""
    chosen, backend = parse_layouts(spec), get_backend(target)
    return lambda op: chosen.get(op.name) or backend.preferred_layout(op)


def convertible(op: Operation, new: str) -> bool:
    """Whether `op`'s images are tensors of its layout's rank, none quantized per axis,
    whose channels fill `new`'s blocks (when blocked) exactly."""
    operands, results = images(op)
    values = [op.operands[i] for i in operands] + [op.results[i] for i in results]
    if not values or not all(isinstance(v.type, TensorType) for v in values):
        return False
    shapes = [v.type.get_shape() for v in values]
    if any(len(shape) != image_rank(op) for shape in shapes) or not per_tensor(*values):
        return False
    return all(nhwc_shape(layout_of(op), shape)[3] % block_of(new) == 0 for shape in shapes)


MOVES: dict[str, type[Operation]] = {"transpose": tfl.TransposeOp, "reshape": tfl.ReshapeOp}
"""The op that makes each kind of conversion step (dialects/tfl_layouts.py `Step`)."""


def converted(
    rewriter: PatternRewriter, value: SSAValue, source: str, target: str, at: Operation
) -> SSAValue:
    """`value`, an image stored in `source`, stored in `target`: the RESHAPE and TRANSPOSE
    ops of `conversion` before `at`, each one already there (another converted op's) or a
    new one at `at`'s location."""
    nhwc = nhwc_shape(source, value.type.get_shape())
    for step in conversion(source, target, nhwc):
        value = earlier(value, step, at) or inserted(rewriter, value, step, at)
    return value


def earlier(value: SSAValue, step: Step, at: Operation) -> SSAValue | None:
    """The result of an op doing `step` to `value` before `at` in its block, if any."""
    kind, arg = step
    users = (use.operation for use in value.uses)
    return next(
        (
            op.results[0]
            for op in users
            if isinstance(op, MOVES[kind])
            and op.operands[0] == value
            and op.is_before_in_block(at)
            and moved_shape(value.type.get_shape(), [step]) == op.results[0].type.get_shape()
            and (kind == "reshape" or permutation(op) == list(arg))
        ),
        None,
    )


def inserted(rewriter: PatternRewriter, value: SSAValue, step: Step, at: Operation) -> SSAValue:
    """A new op doing `step` to `value`, before `at` and at its location."""
    kind, arg = step
    param = add_constant(rewriter, np.array(arg, np.int32), value, at, "layout")
    shape = moved_shape(value.type.get_shape(), [step])
    result_type = TensorType(value.type.element_type, shape)
    op = MOVES[kind].create(operands=[value, param], result_types=[result_type])
    op.location = at.location
    rewriter.insert(op, InsertPoint.before(at))
    return op.results[0]


@dataclass(frozen=True)
class ConvertOp(RewritePattern):
    """A layout-sensitive op in another layout than `choose` gives -> the op in that
    layout, its image operands converted into it and its image results back."""

    choose: Choice

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /) -> None:
        old, new = layout_of(op), self.choose(op)
        if new is None or new == old or not convertible(op, new):
            return
        operands = images(op)[0]
        mapped = {
            op.operands[i]: converted(rewriter, op.operands[i], old, new, op) for i in operands
        }
        (result,) = op.results  # every op of the table has one result, an image
        shape = stored_shape(new, nhwc_shape(old, result.type.get_shape()))
        copy = rebuild(op, mapped, TensorType(result.type.element_type, shape))
        copy.attributes.pop(LAYOUT, None)
        if new != NHWC:
            copy.attributes[LAYOUT] = StringAttr(new)
        rewriter.insert(copy, InsertPoint.before(op))
        restored = converted(rewriter, copy.results[0], new, old, op)
        rewriter.replace(op, [], [restored])


@dataclass(frozen=True)
class ConvertLayoutPass(ModulePass):
    """Convert convolutions, pooling and resizes to a target's layouts; cancel the transposes.

    The layouts are the target's `preferred_layout`, or the `layouts` option's entries:
    permutations of NHWC, or blocked (`NCHW16c`: ops whose channels do not fill the blocks
    stay in NHWC)."""

    name = "convert-layout"

    target: str = "cpu"
    layouts: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        walker = PatternRewriteWalker(ConvertOp(choice(self.target, self.layouts)))
        walker.rewrite_module(op)
        propagate(op, SinkBlockReshape())
