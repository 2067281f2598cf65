"""How layout-agnostic ops change when their tensors are held transposed: the one table
that propagate-layout moves transposes with (cancel-transposes takes its elementwise ops
from here too).

A value `v` held in a permuted layout is a value `v'` with `v = TRANSPOSE(v', perm)`: axis
`a` of `v` is axis `perm[a]` of `v'`. A rule computes an op on such `v'`s: it names the
operands that are in the layout (data; the others are parameters such as paddings or
axes), the perm its result is held in, new parameter constants and new properties. A rule
returns None where the op cannot be computed that way; its docstring says why.

    moved = rule_of(op)(op, perm)   # Moved | None; rule_of is None for layout-sensitive ops

The helpers at the bottom read and build TRANSPOSE ops for both passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, TensorType, i32
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter

from litec.dialects import tfl
from litec.lowering.graph import (
    add_constant,
    constant_array,
    op_error,
    quantization,
    rebuild,
)

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
"""Elementwise ops of two tensors, broadcast numpy-style."""

LAST_AXIS_OPS = (tfl.SoftmaxOp, tfl.LogSoftmaxOp, tfl.L2NormalizationOp)
"""Ops over the last axis, independent along the others."""


@dataclass(frozen=True)
class Moved:
    """How an op is computed on operands held in a permuted layout: the operand indices
    that are in the layout, the perm of its result, new parameter constants by operand
    index, and new properties."""

    data: tuple[int, ...]
    perm: list[int]
    constants: dict[int, np.ndarray] = field(default_factory=dict)
    properties: dict[str, Attribute] = field(default_factory=dict)


Rule = Callable[[Operation, list[int]], Moved | None]


def elementwise(op: Operation, perm: list[int]) -> Moved:
    """Elementwise ops: every operand is in the layout (constants of a lower rank are
    broadcast to full rank, then permuted); the result is held in the same perm."""
    return Moved(tuple(range(len(op.operands))), perm)


def last_axis(op: Operation, perm: list[int]) -> Moved | None:
    """SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION: only when the last axis stays last."""
    return elementwise(op, perm) if perm[-1] == len(perm) - 1 else None


def concatenation(op: tfl.ConcatenationOp, perm: list[int]) -> Moved:
    """CONCATENATION: the axis moves with the permutation."""
    axis = op.axis.value.data % len(perm)
    return Moved(tuple(range(len(op.operands))), perm, properties={"axis": integer(perm[axis])})


def pad(op: tfl.PadOp | tfl.PadV2Op, perm: list[int]) -> Moved | None:
    """PAD, PADV2: the rows of a constant `paddings` are permuted (PADV2's padding value
    is a scalar, unchanged); not with `paddings` computed at run time."""
    return per_axis_parameters(op, perm, (1,))


def slice_(op: tfl.SliceOp, perm: list[int]) -> Moved | None:
    """SLICE: constant `begin` and `size` are permuted; not when they are computed."""
    return per_axis_parameters(op, perm, (1, 2))


STRIDED_MASKS = ("begin_mask", "end_mask")
"""STRIDED_SLICE masks with one bit per axis, remapped with the permutation."""


def strided_slice(op: tfl.StridedSliceOp, perm: list[int]) -> Moved | None:
    """STRIDED_SLICE: constant `begin`, `end`, `strides` permuted, begin/end masks
    remapped; not with ellipsis, new-axis or shrink-axis masks (they change the rank), nor
    with fewer begin values than axes."""
    if any(
        getattr(op, m).value.data for m in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
    ):
        return None
    moved = per_axis_parameters(op, perm, (1, 2, 3))
    if moved is None:
        return None
    masks = {m: integer(remap_bits(getattr(op, m).value.data, perm)) for m in STRIDED_MASKS}
    return Moved(moved.data, perm, moved.constants, masks)


def reduce(op: tfl.ReduceOp, perm: list[int]) -> Moved | None:
    """MEAN, SUM, REDUCE_MAX: constant axes are remapped; with keep_dims the result is held
    in the same perm, else in the perm the kept axes induce (often the identity); not with
    axes computed at run time."""
    axes = constant_array(op.axes)
    if axes is None:
        return None
    rank = len(perm)
    old = sorted({int(a) % rank for a in axes.reshape(-1)})
    new = np.array(sorted(perm[a] for a in old), np.int32).reshape(axes.shape)
    if op.keep_dims.value.data:
        return Moved((0,), perm, {1: new})
    kept = [a for a in range(rank) if a not in old]
    kept_new = sorted(perm[a] for a in kept)
    return Moved((0,), [kept_new.index(perm[a]) for a in kept], {1: new})


def gather(op: tfl.GatherOp, perm: list[int]) -> Moved | None:
    """GATHER of the permuted tensor along an axis by a vector of indices: the axis moves
    with the permutation; not with batch dimensions or indices of another rank than one
    (they change the rank)."""
    if op.batch_dims.value.data or len(op.indices.type.get_shape()) != 1:
        return None
    axis = op.axis.value.data % len(perm)
    return Moved((0,), perm, properties={"axis": integer(perm[axis])})


RULES: dict[type[Operation], Rule] = {
    tfl.ConcatenationOp: concatenation,
    tfl.PadOp: pad,
    tfl.PadV2Op: pad,
    tfl.MeanOp: reduce,
    tfl.SumOp: reduce,
    tfl.ReduceMaxOp: reduce,
    tfl.SliceOp: slice_,
    tfl.StridedSliceOp: strided_slice,
    tfl.GatherOp: gather,
    **{cls: last_axis for cls in LAST_AXIS_OPS},
}
"""Layout-agnostic ops other than the elementwise ones, and their rules."""


def rule_of(op: Operation) -> Rule | None:
    """The rule for `op`, or None when `op` depends on its layout (or is unknown)."""
    return elementwise_rule_of(op) or RULES.get(type(op))


def elementwise_rule_of(op: Operation) -> Rule | None:
    """The rule for an elementwise `op`, else None."""
    return elementwise if isinstance(op, UNARY_OPS + BINARY_OPS) else None


def per_axis_parameters(op: Operation, perm: list[int], indices: tuple[int, ...]) -> Moved | None:
    """Operand 0 in the layout; the constant parameters at `indices`, one row per axis,
    permuted; None when one is not a constant with one row per axis."""
    constants = {}
    for i in indices:
        arr = constant_array(op.operands[i])
        if arr is None or arr.shape[:1] != (len(perm),):
            return None
        constants[i] = permute_rows(arr, perm)
    return Moved((0,), perm, constants)


def permute_rows(arr: np.ndarray, perm: list[int]) -> np.ndarray:
    """Row `a` of `arr` (about axis `a`) moved to row `perm[a]`."""
    out = np.empty_like(arr)
    out[perm] = arr
    return out


def remap_bits(mask: int, perm: list[int]) -> int:
    """A mask with bit `a` per axis, with bit `a` moved to bit `perm[a]`."""
    return sum(1 << perm[a] for a in range(len(perm)) if mask >> a & 1)


def relaid(arr: np.ndarray, perm: list[int]) -> np.ndarray:
    """A constant broadcast against a tensor of rank len(perm), in that tensor's permuted
    layout: padded to full rank with leading ones, then its axes moved."""
    full = arr.reshape((1,) * (len(perm) - arr.ndim) + arr.shape)
    return np.ascontiguousarray(full.transpose(np.argsort(perm)))


def permuted_type(t: TensorType, perm: list[int]) -> TensorType:
    """`t` held in `perm`: axis `a` of its shape becomes axis `perm[a]`."""
    shape = t.get_shape()
    new = [0] * len(shape)
    for a, size in enumerate(shape):
        new[perm[a]] = size
    return TensorType(t.element_type, new)


def integer(value: int) -> IntegerAttr:
    """An i32 property value."""
    return IntegerAttr(value, i32)


# ----------------------------------------------------------------------------- transposes


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
    rewriter: PatternRewriter,
    value: SSAValue,
    perm: list[int],
    at: tfl.TransposeOp,
    before: Operation | None = None,
) -> Operation:
    """A new TRANSPOSE of `value` by `perm` like `at` (its location; its perm constant is
    inserted before `before`, by default `at`); the op itself is for the caller to insert."""
    perm_value = add_constant(rewriter, np.array(perm, np.int32), at.perm, before or at, "perm")
    shape = value.type.get_shape()
    result_type = TensorType(value.type.element_type, [shape[i] for i in perm])
    return rebuild(at, {at.input: value, at.perm: perm_value}, result_type)
