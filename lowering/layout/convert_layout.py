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

The layout of each op is the target's `Backend.preferred_layout(op)` (None: keep it; the
CPU's kernels compute in NHWC), or the `layouts` option's entry for its op name
(`layouts="conv_2d=NCHW,max_pool_2d=NCHW"`), which wins. Ops whose images are not 4-D, or
are quantized per axis (the axis would move), are left as they are. Only data movement
changes: the reference interpreter's results are bit-identical. The graph passes after it
read a converted op's axes from its layout (fold-batch-norm, fuse-conv-activation, fold-pad;
tests/test_layout_passes.py), but a transpose left between a conv and its single user (at a
function result, before a FULLY_CONNECTED) keeps the two from fusing: where the target
allows, run it after the fusion passes.
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
    between,
    images,
    layout_of,
    layout_problem,
)
from litec.ir.backend import get_backend
from litec.ir.diagnostics import LitecError
from litec.lowering.graph import add_constant, rebuild
from litec.lowering.layout.permute import per_tensor, permutation
from litec.lowering.layout.propagate_layout import PropagateLayoutPass

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


def convertible(op: Operation) -> bool:
    """Whether `op`'s images are 4-D tensors, none quantized per axis."""
    operands, results = images(op)
    values = [op.operands[i] for i in operands] + [op.results[i] for i in results]
    four_d = all(isinstance(v.type, TensorType) and len(v.type.get_shape()) == 4 for v in values)
    return bool(values) and four_d and per_tensor(*values)


def transposed(rewriter: PatternRewriter, value: SSAValue, perm: list[int], at: Operation):
    """A TRANSPOSE of `value` by `perm` before `at`: one already there (another converted
    op's), else a new one at `at`'s location."""
    if (done := earlier_transpose(value, perm, at)) is not None:
        return done
    perm_value = add_constant(rewriter, np.array(perm, np.int32), value, at, "layout")
    op = tfl.TransposeOp.create(operands=[value, perm_value], result_types=[permuted(value, perm)])
    op.location = at.location
    rewriter.insert(op, InsertPoint.before(at))
    return op.output


def earlier_transpose(value: SSAValue, perm: list[int], at: Operation) -> SSAValue | None:
    """The result of a TRANSPOSE of `value` by `perm` before `at` in its block, if any."""
    users = (use.operation for use in value.uses)
    return next(
        (
            t.output
            for t in users
            if isinstance(t, tfl.TransposeOp)
            and t.input == value
            and t.is_before_in_block(at)
            and permutation(t) == perm
        ),
        None,
    )


@dataclass(frozen=True)
class ConvertOp(RewritePattern):
    """A layout-sensitive op in another layout than `choose` gives -> the op in that
    layout, its image operands transposed into it and its image results back."""

    choose: Choice

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /) -> None:
        old, new = layout_of(op), self.choose(op)
        if new is None or new == old or not convertible(op):
            return
        operands = images(op)[0]
        into, back = between(old, new), between(new, old)
        mapped = {op.operands[i]: transposed(rewriter, op.operands[i], into, op) for i in operands}
        (result,) = op.results  # every op of the table has one result, an image
        copy = rebuild(op, mapped, permuted(result, into))
        copy.attributes.pop(LAYOUT, None)
        if new != NHWC:
            copy.attributes[LAYOUT] = StringAttr(new)
        rewriter.insert(copy, InsertPoint.before(op))
        restored = transposed(rewriter, copy.results[0], back, op)
        rewriter.replace(op, [], [restored])


def permuted(value: SSAValue, perm: list[int]) -> TensorType:
    """The type of `value` transposed by `perm`."""
    shape = value.type.get_shape()
    return TensorType(value.type.element_type, [shape[a] for a in perm])


@dataclass(frozen=True)
class ConvertLayoutPass(ModulePass):
    """Convert convolutions, pooling and resizes to a target's layouts; cancel the transposes.

    The layouts are the target's `preferred_layout`, or the `layouts` option's entries."""

    name = "convert-layout"

    target: str = "cpu"
    layouts: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        walker = PatternRewriteWalker(ConvertOp(choice(self.target, self.layouts)))
        walker.rewrite_module(op)
        PropagateLayoutPass().apply(ctx, op)
