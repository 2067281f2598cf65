"""canonicalize: local rewrites of `tfl` ops that keep every result bit for bit.

`FORWARDS` is the table of ops that, under a condition, compute one of their operands
unchanged (an identity reshape or transpose, a zero pad, a whole-tensor slice, `x * 1.0`...):
they are replaced by that operand when its type, quantization included, is the result's.
Two more patterns shorten chains of views: a reshape of a reshape / squeeze / expand_dims
reads the first view's input, and a pack of a single tensor becomes a reshape.

Ops left without uses are erased on the way, as `dce` would. Float neutral elements are
the exact ones: `x * 1.0`, `x / 1.0`, `x + (-0.0)`, `x - 0.0`.
`x + 0.0` is kept, because it turns -0.0 into +0.0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, NoneType
from xdsl.ir import Operation, SSAValue
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
from litec.ir.diagnostics import LitecError
from litec.lowering.graph import constant_array, op_error

Forward = Callable[[Operation], SSAValue | None]
"""The operand an op passes through unchanged, or None."""


def _all(value: SSAValue, test: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Whether `value` is a non-empty constant whose every element passes `test`."""
    data = constant_array(value)
    return data is not None and data.size > 0 and bool(np.all(test(data)))


def is_returned(value: SSAValue) -> bool:
    """Whether a function returns `value`."""
    return any(isinstance(use.operation, func.ReturnOp) for use in value.uses)


def keeps_results_computed(result: SSAValue, replacement: SSAValue) -> bool:
    """Whether `result` may become `replacement` while every function result stays a value
    computed by an op of its own: never an argument, a constant or another result."""
    if not is_returned(result):
        return True
    owner = replacement.owner
    return (
        isinstance(owner, Operation)
        and not isinstance(owner, tfl.ConstOp)
        and not is_returned(replacement)
    )


# ----------------------------------------------------------------------------- forwards


def _input(op: Operation) -> SSAValue:
    return op.operands[0]


def _identity_permutation(op: tfl.TransposeOp) -> SSAValue | None:
    perm = constant_array(op.perm)
    if perm is None or not np.array_equal(perm.reshape(-1), np.arange(perm.size)):
        return None
    return op.input


def _single_value(op: tfl.ConcatenationOp) -> SSAValue | None:
    if len(op.values) != 1 or op.fused_activation_function.data != "NONE":
        return None
    return op.values[0]


def _zero_padding(op: tfl.PadOp | tfl.PadV2Op) -> SSAValue | None:
    return op.input if _all(op.padding, lambda p: p == 0) else None


def _unit_strides(op: tfl.StridedSliceOp) -> SSAValue | None:
    """With unit strides, no new or shrunk axes and the input's shape, the slice takes all."""
    if op.new_axis_mask.value.data or op.shrink_axis_mask.value.data:
        return None
    return op.input if _all(op.strides, lambda s: s == 1) else None


def _is_one(c: np.ndarray) -> np.ndarray:
    return (c.dtype.kind == "f") & (c == 1)


def _is_negative_zero(c: np.ndarray) -> np.ndarray:
    return (c.dtype.kind == "f") & (c == 0) & np.signbit(c)


def _is_positive_zero(c: np.ndarray) -> np.ndarray:
    return (c.dtype.kind == "f") & (c == 0) & ~np.signbit(c)


def _neutral(test: Callable[[np.ndarray], np.ndarray], commutative: bool) -> Forward:
    """`x op c` (or `c op x` when commutative) is `x` for a float constant `c` of the result's
    own shape (no broadcast) whose elements all pass `test`, and no fused activation."""

    def forward(op: tfl.BinaryActOp) -> SSAValue | None:
        if op.fused_activation_function.data != "NONE":
            return None
        pairs = [(op.lhs, op.rhs), (op.rhs, op.lhs)][: 2 if commutative else 1]
        for x, c in pairs:
            if c.type == op.output.type and _all(c, test):
                return x
        return None

    return forward


FORWARDS: dict[type[Operation], Forward] = {
    tfl.ReshapeOp: _input,
    tfl.SqueezeOp: _input,
    tfl.ExpandDimsOp: _input,
    tfl.CastOp: _input,
    # a valid slice whose result has its input's shape starts at 0 and takes everything
    tfl.SliceOp: _input,
    tfl.StridedSliceOp: _unit_strides,
    tfl.TransposeOp: _identity_permutation,
    tfl.ConcatenationOp: _single_value,
    tfl.PadOp: _zero_padding,
    tfl.PadV2Op: _zero_padding,
    tfl.MulOp: _neutral(_is_one, commutative=True),
    tfl.DivOp: _neutral(_is_one, commutative=False),
    tfl.AddOp: _neutral(_is_negative_zero, commutative=True),
    tfl.SubOp: _neutral(_is_positive_zero, commutative=False),
}
"""Op class -> the operand it computes unchanged (checked against the result type after)."""


# ----------------------------------------------------------------------------- patterns


class ForwardOperand(RewritePattern):
    """An op of `FORWARDS` that passes an operand of its own result type through is removed."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        rule = FORWARDS.get(type(op))
        if rule is None:
            return
        try:
            value = rule(op)
        except LitecError as e:
            raise op_error(op, e) from None
        result = op.results[0]
        if value is None or value.type != result.type:
            return
        if keeps_results_computed(result, value):
            rewriter.replace(op, [], [value])


VIEWS = (tfl.ReshapeOp, tfl.SqueezeOp, tfl.ExpandDimsOp)
"""Ops that only change the shape: the data, in order, is their input's."""


def _element_type(value: SSAValue):
    return value.type.element_type


class MergeReshapes(RewritePattern):
    """A reshape of a view reshapes the view's input (when the quantization is the same)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfl.ReshapeOp, rewriter: PatternRewriter) -> None:
        view = op.input.owner
        if not isinstance(view, VIEWS):
            return
        source = view.operands[0]
        if _element_type(source) != _element_type(op.output):
            return
        reshape = tfl.ReshapeOp.build(operands=[source, op.shape], result_types=[op.output.type])
        reshape.location = op.location
        rewriter.replace(op, reshape)


class PackOneAsReshape(RewritePattern):
    """A pack of one tensor is a reshape (when the quantization is the same)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfl.PackOp, rewriter: PatternRewriter) -> None:
        if len(op.values) != 1 or _element_type(op.values[0]) != _element_type(op.output):
            return
        no_shape = tfl.NoValueOp.build(result_types=[NoneType()])
        reshape = tfl.ReshapeOp.build(
            operands=[op.values[0], no_shape.output], result_types=[op.output.type]
        )
        reshape.location = op.location
        rewriter.insert(no_shape, InsertPoint.before(op))
        rewriter.replace(op, reshape)


PATTERNS = (ForwardOperand, MergeReshapes, PackOneAsReshape)


@dataclass(frozen=True)
class CanonicalizePass(ModulePass):
    """Remove identity ops (reshape, transpose, pad, slice, x*1.0...) and merge reshapes; bit-exact."""

    name = "canonicalize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = GreedyRewritePatternApplier([p() for p in PATTERNS])
        PatternRewriteWalker(patterns).rewrite_module(op)
