"""convert-memref-to-llvm: statically shaped memrefs to bare pointers and GEPs.

A memref is one `!llvm.ptr` to its element [0, ..., 0] (the bare-pointer ABI). Loads and
stores address `getelementptr inbounds elem, ptr, sum(index_k * stride_k)` from the static
shape and strides, so LLVM sees plain affine addressing it can vectorise, and carry their
element's natural alignment. Views (`subview`, `reinterpret_cast`, `collapse_shape`,
`expand_shape`, `cast`) move the pointer and keep the strides in the type; `alloca` is a
64-byte aligned `llvm.alloca`; `copy` is `llvm.memcpy`. Kernels allocate nothing else:
`alloc` and globals are errors (bind scratch space and constants as kernel arguments).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import llvm, memref
from xdsl.dialects.builtin import IntegerAttr, MemRefType, ModuleOp, i1, i64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern

from litec.lowering.to_llvm.conversion import (
    byte_size,
    constant,
    contiguous,
    element_pointer,
    llvm_operand,
    llvm_type,
    offset_pointer,
    replace,
    strides,
    unsupported,
)

ALLOCA_ALIGNMENT = 64
"""Bytes; enough for any vector load or store on a stack buffer."""

Lowering = Callable[[Operation, PatternRewriter], Sequence[SSAValue]]


def _load(op: memref.LoadOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    ptr = element_pointer(rewriter, op, op.memref, op.indices)
    element = llvm_type(op.res.type)
    return rewriter.insert(llvm.LoadOp(ptr, element, alignment=byte_size(element))).results


def _store(op: memref.StoreOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    value = llvm_operand(rewriter, op.value)
    ptr = element_pointer(rewriter, op, op.memref, op.indices)
    rewriter.insert(llvm.StoreOp(value, ptr, alignment=byte_size(value.type)))
    return ()


def _static_shape(op: Operation, t: MemRefType) -> tuple[int, ...]:
    strides(t, op)  # checks the shape and layout are static
    return t.get_shape()


def _alloca(op: memref.AllocaOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    t = op.memref.type
    count = math.prod(_static_shape(op, t))
    size = rewriter.insert(constant(count)).result
    alignment = max(ALLOCA_ALIGNMENT, op.alignment.value.data if op.alignment else 0)
    return rewriter.insert(llvm.AllocaOp(size, llvm_type(t.element_type), alignment)).results


def _mixed(static: Sequence[int], dynamic: Sequence[SSAValue]) -> list[int | SSAValue]:
    """Static values with the dynamic ones (marked by `memref.DYNAMIC_INDEX`) filled in."""
    values = iter(dynamic)
    return [next(values) if s == memref.DYNAMIC_INDEX else s for s in static]


def _subview(op: memref.SubviewOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    source_type = op.source.type
    strides(op.result.type, op)  # later accesses need static strides
    offsets = _mixed(op.static_offsets.get_values(), op.offsets)
    terms = list(zip(offsets, strides(source_type, op), strict=True))
    base = llvm_operand(rewriter, op.source)
    return [offset_pointer(rewriter, base, llvm_type(source_type.element_type), terms)]


def _reinterpret_cast(
    op: memref.ReinterpretCastOp, rewriter: PatternRewriter
) -> Sequence[SSAValue]:
    source_type = op.source.type
    if source_type.get_offset() != 0:
        raise unsupported(op, f"the source must start at offset 0 ({source_type})")
    strides(op.result.type, op)
    offset = _mixed(op.static_offsets.get_values(), op.offsets)[0]
    base = llvm_operand(rewriter, op.source)
    return [offset_pointer(rewriter, base, llvm_type(source_type.element_type), [(offset, 1)])]


def _same_pointer(op: Operation, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    """A reshape of a contiguous memref, or a cast: the pointer does not move."""
    if not isinstance(op, memref.CastOp):
        contiguous(op, op.operands[0].type)
    return [llvm_operand(rewriter, op.operands[0])]


def _copy(op: memref.CopyOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    """`llvm.memcpy` of the whole memref (both sides contiguous)."""
    t = op.source.type
    contiguous(op, t)
    contiguous(op, op.destination.type)
    size = math.prod(t.get_shape()) * byte_size(llvm_type(t.element_type))
    length = rewriter.insert(constant(size)).result
    volatile = rewriter.insert(llvm.ConstantOp(IntegerAttr(0, i1), i1)).result
    dst, src = llvm_operand(rewriter, op.destination), llvm_operand(rewriter, op.source)
    args = [dst, src, length, volatile]
    rewriter.insert(llvm.CallIntrinsicOp("llvm.memcpy.p0.p0.i64", args, []))
    return ()


def _dim(op: memref.DimOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    """The size of a static dimension; the dimension number must be a constant."""
    shape = _static_shape(op, op.source.type)
    index_op = op.index.owner
    value = getattr(index_op, "value", None)
    if not isinstance(value, IntegerAttr):
        raise unsupported(op, "the dimension must be a constant")
    return rewriter.insert(constant(shape[value.value.data], i64)).results


_LOWERINGS: dict[type[Operation], Lowering] = {
    memref.LoadOp: _load,
    memref.StoreOp: _store,
    memref.AllocaOp: _alloca,
    memref.SubviewOp: _subview,
    memref.ReinterpretCastOp: _reinterpret_cast,
    memref.CollapseShapeOp: _same_pointer,
    memref.ExpandShapeOp: _same_pointer,
    memref.CastOp: _same_pointer,
    memref.CopyOp: _copy,
    memref.DimOp: _dim,
}

_WHY_NOT = {
    memref.AllocOp: "kernels do not allocate: bind scratch space as an argument",
    memref.GetGlobalOp: "kernels have no globals: bind constants as arguments",
    memref.GlobalOp: "kernels have no globals: bind constants as arguments",
}


class LowerMemRefOp(RewritePattern):
    """One `memref` op to `llvm` (table `_LOWERINGS`)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not op.name.startswith("memref."):
            return
        lower = _LOWERINGS.get(type(op))
        if lower is None:
            raise unsupported(op, _WHY_NOT.get(type(op), "no lowering to the llvm dialect"))
        replace(rewriter, op, [], lower(op, rewriter))


@dataclass(frozen=True)
class ConvertMemRefToLLVMPass(ModulePass):
    """Lower statically shaped `memref` ops to `llvm` pointers, GEPs, loads and stores."""

    name = "convert-memref-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(LowerMemRefOp(), apply_recursively=False).rewrite_module(op)
