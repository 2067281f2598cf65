"""Remove transposes that cancel: composed pairs, chains of reshapes and transposes that
restore the original layout, and pairs that meet once moved through elementwise ops.

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
from xdsl.dialects.builtin import ModuleOp, TensorType
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
from litec.lowering.fusion.fuse_conv_activation import (
    add_constant,
    constant_array,
    erase_unused,
    op_error,
    quantization,
    rebuild,
)

VIEW_OPS = (tfl.TransposeOp, tfl.ReshapeOp, tfl.SqueezeOp, tfl.ExpandDimsOp)
"""Ops that only move elements (a transpose) or only reshape."""

UNARY_OPS = (
    tfl.ReluOp,
    tfl.Relu6Op,
    tfl.Relu1Op,
    tfl.LogisticOp,
    tfl.TanhOp,
    tfl.HardSwishOp,
    tfl.NegOp,
    tfl.AbsOp,
    tfl.ExpOp,
    tfl.LogOp,
    tfl.SqrtOp,
    tfl.RsqrtOp,
    tfl.SquareOp,
    tfl.FloorOp,
    tfl.LogicalNotOp,
    tfl.QuantizeOp,
    tfl.DequantizeOp,
    tfl.CastOp,
    tfl.LeakyReluOp,
    tfl.GeluOp,
)
"""Elementwise ops of one tensor: each element's result depends on that element only."""

BINARY_OPS = (tfl.BinaryOp, tfl.PReluOp)
"""Elementwise ops of two tensors; a transpose moves through them when the other operand
is a splat constant."""


class RemoveRestoringChain(RewritePattern):
    """A TRANSPOSE ending a chain of TRANSPOSE / RESHAPE / SQUEEZE / EXPAND_DIMS that keeps
    the elements in their original order -> the chain's input, or one RESHAPE of it."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfl.TransposeOp, rewriter: PatternRewriter, /) -> None:
        chain = view_chain(op)
        for k in range(len(chain), 0, -1):
            source = chain[k - 1].input
            if not keeps_order(source, chain[:k]):
                continue
            if source.type == op.output.type:
                replacement: SSAValue | Operation = source
            else:
                replacement = reshape(rewriter, source, op)
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


class SinkThroughElementwise(RewritePattern):
    """TRANSPOSE(f(TRANSPOSE(x, p)), q) -> TRANSPOSE(f(x), p∘q) (or f(x) when p∘q is the
    identity) for a chain `f` of single-use elementwise ops: unary, or binary with a splat
    constant (one element, or one value throughout; a new constant in x's layout then).
    Only where a transpose disappears: the inner one has no other use or the two cancel."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfl.TransposeOp, rewriter: PatternRewriter, /) -> None:
        chain = elementwise_chain(op.input)
        if not chain or not isinstance(inner := chain[-1].input_value.owner, tfl.TransposeOp):
            return
        p, q = permutation(inner), permutation(op)
        if p is None or q is None or not per_tensor(inner.input, op.output):
            return
        composed = [p[i] for i in q]
        identity = composed == list(range(len(q)))
        if not identity and not inner.output.has_one_use():
            return
        value = inner.input
        shape = value.type.get_shape()
        for link in reversed(chain):
            operands = {link.input_value: value}
            if link.splat is not None:
                operands[link.splat] = splat_constant(rewriter, link.splat, shape, op)
            result_type = TensorType(link.op.results[0].type.element_type, shape)
            moved = rebuild(link.op, operands, result_type)
            rewriter.insert(moved, InsertPoint.before(op))
            value = moved.results[0]
        replacement = value if identity else transpose(rewriter, value, composed, op)
        replace_and_clean(rewriter, op, replacement)


@dataclass(frozen=True)
class Link:
    """One elementwise op of a chain, the operand through which the chain enters it, and
    its other operand when that is a full-shape splat constant (to re-lay out)."""

    op: Operation
    input_value: SSAValue
    splat: SSAValue | None = None


def elementwise_chain(value: SSAValue) -> list[Link]:
    """The single-use elementwise ops that compute `value`, walking up (last op first)."""
    chain = []
    while value.has_one_use() and (link := elementwise_link(value.owner)) is not None:
        chain.append(link)
        value = link.input_value
    return chain


def elementwise_link(op) -> Link | None:
    """`op` as a link of an elementwise chain: a unary op, or a binary op whose other
    operand is a splat constant of one element or of the result's shape; the result keeps
    the chained operand's shape."""
    if isinstance(op, UNARY_OPS):
        link = Link(op, op.input)
    elif isinstance(op, BINARY_OPS):
        a, b = op.operands
        value, other = (b, a) if constant_array(a) is not None else (a, b)
        kind = splat_kind(other, op.results[0].type)
        if kind is None:
            return None
        link = Link(op, value, other if kind == "full" else None)
    else:
        return None
    same_shape = link.input_value.type.get_shape() == op.results[0].type.get_shape()
    return link if same_shape and per_tensor(link.input_value, op.results[0]) else None


def splat_kind(value: SSAValue, result_type: TensorType) -> str | None:
    """ "one" for a one-element constant (it broadcasts alike in any layout), "full" for a
    constant of the result's shape holding one value throughout, else None."""
    arr = constant_array(value)
    if arr is None:
        return None
    if arr.size == 1:
        return "one"
    full = arr.shape == tuple(result_type.get_shape())
    return "full" if full and bool(np.all(arr == arr.reshape(-1)[0])) else None


def splat_constant(
    rewriter: PatternRewriter, splat: SSAValue, shape, at: tfl.TransposeOp
) -> SSAValue:
    """The splat constant `splat` again, in `shape`."""
    arr = constant_array(splat)
    return add_constant(rewriter, np.full(shape, arr.reshape(-1)[0]), splat, at, "splat")


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


def permutation(op: tfl.TransposeOp) -> list[int] | None:
    """The op's constant permutation; None when it is not a constant. A constant that is
    not a permutation of the input's axes is an error."""
    perm = constant_array(op.perm)
    if perm is None:
        return None
    rank = len(op.input.type.get_shape())
    values = [int(v) for v in perm.reshape(-1)]
    if sorted(values) != list(range(rank)):
        raise op_error(op, f"{values} is not a permutation of {rank} axes")
    return values


def per_tensor(*values: SSAValue) -> bool:
    """Whether none of the values is quantized per axis."""
    return all((q := quantization(v.type)) is None or q.axis is None for v in values)


def transpose(
    rewriter: PatternRewriter, value: SSAValue, perm: list[int], at: tfl.TransposeOp
) -> Operation:
    """A new TRANSPOSE of `value` by `perm`, inserted before `at` (and at its location)."""
    perm_value = add_constant(rewriter, np.array(perm, np.int32), at.perm, at, "perm")
    shape = value.type.get_shape()
    result_type = TensorType(value.type.element_type, [shape[i] for i in perm])
    return rebuild(at, {at.input: value, at.perm: perm_value}, result_type)


def reshape(rewriter: PatternRewriter, value: SSAValue, at: tfl.TransposeOp) -> Operation:
    """A RESHAPE of `value` to `at`'s result type, with a constant shape, at `at`'s location."""
    shape = np.array(at.output.type.get_shape(), np.int32)
    shape_value = add_constant(rewriter, shape, at.perm, at, "shape")
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
        patterns = [RemoveRestoringChain(), ComposeTransposes(), SinkThroughElementwise()]
        walker = PatternRewriteWalker(GreedyRewritePatternApplier(patterns, dce_enabled=False))
        walker.rewrite_module(op)
