"""What the to_llvm passes share: the type conversion, the casts at pass boundaries, and
memref addressing.

Each pass converts the ops of one dialect. Where a converted op takes a value that is still
of a kernel-level type, or leaves a result that unconverted ops still use, it puts a
`builtin.unrealized_conversion_cast` between the two types; `reconcile-unrealized-casts`
removes the cast pairs once every pass has run. So the passes run in any order, and each
one's output is valid IR on its own (that is what its FileCheck test shows).

Types: `index` -> `i64`; a `memref` -> `!llvm.ptr` (the bare-pointer ABI: the pointer to
the memref's element [0, ..., 0]); a 1-D vector of `index` -> of `i64`; the rest unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import func, llvm
from xdsl.dialects.builtin import (
    AnyFloat,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    UnitAttr,
    UnrealizedConversionCastOp,
    VectorType,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter
from xdsl.rewriter import InsertPoint

from litec.ir.diagnostics import LitecError

PTR = llvm.LLVMPointerType()
NSW = llvm.OverflowAttr((llvm.OverflowFlag.NO_SIGNED_WRAP,))


def llvm_type(t: Attribute) -> Attribute:
    """The `llvm`-dialect type of a kernel-level type."""
    if isinstance(t, IndexType):
        return i64
    if isinstance(t, MemRefType):
        return PTR
    if isinstance(t, VectorType) and isinstance(t.element_type, IndexType):
        return VectorType(i64, t.get_shape())
    return t


def unsupported(op: Operation, why: str) -> LitecError:
    """The error for an op a pass cannot lower: `<op name>: <why>`."""
    return LitecError(f"{op.name}: {why}")


def _cast_op(value: SSAValue, to: Attribute) -> UnrealizedConversionCastOp:
    """A cast of `value` to `to` (built without IRDL's argument processing: lowering makes
    thousands of these)."""
    op = UnrealizedConversionCastOp.create(operands=[value], result_types=[to])
    op.results[0].name_hint = value.name_hint
    return op


_ONE_DYNAMIC_INDEX = DenseArrayBase.from_list(i32, [llvm.GEP_USE_SSA_VAL])
_NO_WRAP_FLAGS = IntegerAttr(0, 32)


def _gep(base: SSAValue, index: SSAValue, element: Attribute) -> llvm.GEPOp:
    """`getelementptr inbounds element, base, index` (built directly, as `_cast_op`)."""
    properties = {
        "rawConstantIndices": _ONE_DYNAMIC_INDEX,
        "elem_type": element,
        "noWrapFlags": _NO_WRAP_FLAGS,
        "inbounds": UnitAttr(),
    }
    return llvm.GEPOp.create(operands=[base, index], result_types=[PTR], properties=properties)


def _is_cast(op: Operation, source: Attribute, to: Attribute) -> bool:
    return (
        isinstance(op, UnrealizedConversionCastOp)
        and [v.type for v in op.inputs] == [source]
        and [r.type for r in op.results] == [to]
    )


def cast(rewriter: PatternRewriter, value: SSAValue, to: Attribute) -> SSAValue:
    """`value` as type `to`: itself, the input of the cast that made it, an existing cast of
    it, or a new cast placed right after its definition (so it serves every user)."""
    if value.type == to:
        return value
    if _is_cast(value.owner, to, value.type):
        return value.owner.inputs[0]
    for use in value.uses:
        if _is_cast(use.operation, value.type, to):
            return use.operation.results[0]
    op = _cast_op(value, to)
    result = op.results[0]
    if isinstance(value, BlockArgument):
        rewriter.insert(op, InsertPoint.at_start(value.block))
    else:
        rewriter.insert(op, InsertPoint.after(value.owner))
    return result


def llvm_operand(rewriter: PatternRewriter, value: SSAValue) -> SSAValue:
    """`value` as its `llvm` type (see `cast`)."""
    return cast(rewriter, value, llvm_type(value.type))


def llvm_operands(rewriter: PatternRewriter, op: Operation) -> list[SSAValue]:
    """Every operand of `op` as its `llvm` type."""
    return [llvm_operand(rewriter, v) for v in op.operands]


def replace(
    rewriter: PatternRewriter,
    op: Operation,
    new_ops: Sequence[Operation],
    new_results: Sequence[SSAValue] | None = None,
) -> None:
    """Replace `op` by `new_ops` (already built on `llvm`-typed values). Where a result's
    type changed, users that cast it to the new type take the new value directly; any
    other users get a cast back."""
    if new_results is None:
        new_results = new_ops[-1].results if new_ops else []
    rewriter.insert(list(new_ops))
    for new, old in zip(new_results, op.results, strict=True):
        if new.type != old.type:
            _bypass_casts(rewriter, old, new)
    results = [
        cast(rewriter, new, old.type) if old.uses else new
        for new, old in zip(new_results, op.results, strict=True)
    ]
    rewriter.replace(op, [], results)


def _bypass_casts(rewriter: PatternRewriter, old: SSAValue, new: SSAValue) -> None:
    """Users of `old` that only cast it to `new`'s type use `new` instead (and go)."""
    for use in list(old.uses):
        user = use.operation
        if _is_cast(user, old.type, new.type):
            rewriter.replace_all_uses_with(user.results[0], new)
            rewriter.erase(user)


def retype_block_args(rewriter: PatternRewriter, block: Block) -> None:
    """Give `block`'s arguments their `llvm` types; their users get a cast back."""
    casts = []
    for arg in block.args:
        new_type = llvm_type(arg.type)
        if new_type == arg.type:
            continue
        old_type = arg.type
        new_arg = rewriter.replace_value_with_new_type(arg, new_type)
        cast_op = _cast_op(new_arg, old_type)
        back = cast_op.results[0]
        new_arg.replace_uses_with_if(back, lambda use, c=cast_op: use.operation is not c)
        casts.append(cast_op)
    if casts:
        rewriter.insert(casts, InsertPoint.at_start(block))


def constant(value: int, t: Attribute = i64) -> llvm.ConstantOp:
    """An integer `llvm.mlir.constant` of type `t`."""
    assert isinstance(t, IntegerType)
    return llvm.ConstantOp(IntegerAttr(value, t), t)


def shared_constant(rewriter: PatternRewriter, value: int, t: Attribute = i64) -> SSAValue:
    """An integer constant at the start of the enclosing function, made once per function
    (strides and offsets repeat in every access; creating ops is what lowering spends on)."""
    block = rewriter.insertion_point.block
    while (parent := block.parent_op()) is not None and not isinstance(
        parent, func.FuncOp | llvm.FuncOp
    ):
        block = parent.parent_block()
    if parent is not None:
        block = parent.regions[0].blocks.first
    for op in block.ops:  # the constants and argument casts at its start
        if isinstance(op, UnrealizedConversionCastOp):
            continue
        if not isinstance(op, llvm.ConstantOp):
            break
        if (
            op.result.type == t
            and isinstance(op.value, IntegerAttr)
            and op.value.value.data == value
        ):
            return op.result
    return rewriter.insert(constant(value, t), InsertPoint.at_start(block)).result


def byte_size(t: Attribute) -> int:
    """Bytes of one scalar of type `t` (an `i1` takes one byte)."""
    width = t.bitwidth if hasattr(t, "bitwidth") else t.width.data
    return max(1, width // 8)


def strides(memref: MemRefType, op: Operation) -> tuple[int, ...]:
    """The static element strides of `memref`; anything dynamic is an error naming `op`."""
    if any(d < 0 for d in memref.get_shape()):
        raise unsupported(op, f"dynamic shapes are not supported ({memref})")
    found = memref.get_strides()
    if found is None or any(s is None for s in found):
        raise unsupported(op, f"only static strided layouts are supported ({memref})")
    return tuple(found)


def offset_pointer(
    rewriter: PatternRewriter,
    base: SSAValue,
    element: Attribute,
    terms: Sequence[tuple[int | SSAValue, int]],
) -> SSAValue:
    """`base` advanced by `sum(offset_k * stride_k)` elements: one `getelementptr inbounds`
    by a no-signed-wrap linear index, so LLVM sees affine addressing it can vectorise.
    Offsets are static ints or `index` values; strides are static."""
    terms = [(_constant_value(o), s) for o, s in terms]
    linear: SSAValue | None = None

    def add(term: SSAValue) -> SSAValue:
        if linear is None:
            return term
        return rewriter.insert(llvm.AddOp(linear, term, overflow=NSW)).res

    for offset, stride in terms:
        if isinstance(offset, int):
            continue
        term = llvm_operand(rewriter, offset)
        if stride != 1:
            factor = shared_constant(rewriter, stride)
            term = rewriter.insert(llvm.MulOp(term, factor, overflow=NSW)).res
        linear = add(term)
    static = sum(o * s for o, s in terms if isinstance(o, int))
    if static:
        linear = add(shared_constant(rewriter, static))
    if linear is None:
        return base
    return rewriter.insert(_gep(base, linear, element)).result


_CONSTANT_OPS = ("arith.constant", "llvm.mlir.constant")


def _constant_value(value: int | SSAValue) -> int | SSAValue:
    """An `index` value made by a constant (perhaps through a cast) as its int; else itself."""
    if isinstance(value, int):
        return value
    owner = value.owner
    if isinstance(owner, UnrealizedConversionCastOp):
        owner = owner.inputs[0].owner
    if not isinstance(owner, Operation) or owner.name not in _CONSTANT_OPS:
        return value
    constant_value = owner.properties["value"]
    return constant_value.value.data if isinstance(constant_value, IntegerAttr) else value


def element_pointer(
    rewriter: PatternRewriter, op: Operation, memref: SSAValue, indices: Sequence[SSAValue]
) -> SSAValue:
    """The address of `memref[indices]` (see `offset_pointer`)."""
    memref_type = memref.type
    assert isinstance(memref_type, MemRefType)
    base = llvm_operand(rewriter, memref)
    terms = list(zip(indices, strides(memref_type, op), strict=True))
    return offset_pointer(rewriter, base, llvm_type(memref_type.element_type), terms)


def contiguous(op: Operation, memref_type: MemRefType) -> None:
    """Check that `memref_type` is a dense row-major block (an error naming `op` if not)."""
    if strides(memref_type, op) != memref_type.strides_for_shape(memref_type.get_shape()):
        raise unsupported(op, f"the memref must be contiguous ({memref_type})")


def type_suffix(t: Attribute) -> str:
    """LLVM's mangling of an overloaded intrinsic's type: `i32`, `f32`, `v16f32`."""
    if isinstance(t, VectorType):
        return f"v{t.get_shape()[0]}{type_suffix(t.element_type)}"
    if isinstance(t, IntegerType):
        return f"i{t.width.data}"
    return f"f{t.bitwidth}"


def intrinsic(
    name: str, args: Sequence[SSAValue], result_type: Attribute | None, overload: Attribute
) -> llvm.CallIntrinsicOp:
    """`llvm.call_intrinsic` of the overloaded intrinsic `name` at type `overload`
    (e.g. `llvm.smax` on `vector<16xi32>` calls `llvm.smax.v16i32`)."""
    results = [] if result_type is None else [result_type]
    return llvm.CallIntrinsicOp(f"{name}.{type_suffix(overload)}", args, results)


def splat_constant(value: int | float, t: Attribute) -> llvm.ConstantOp:
    """A constant of type `t` (an integer or float, or a 1-D vector of them: splatted)."""
    if isinstance(t, VectorType):
        values = [value] * t.get_shape()[0]
        return llvm.ConstantOp(DenseIntOrFPElementsAttr.from_list(t, values), t)
    if isinstance(t, IntegerType):
        return llvm.ConstantOp(IntegerAttr(int(value), t), t)
    return llvm.ConstantOp(FloatAttr(float(value), t), t)


def check_scalar_or_vector(op: Operation) -> None:
    """Operands and results of `op` are scalars or 1-D vectors (an error naming `op` if not)."""
    for value in (*op.operands, *op.results):
        t = value.type
        if isinstance(t, VectorType) and len(t.get_shape()) == 1 and not t.get_num_scalable_dims():
            continue
        if isinstance(t, IntegerType | IndexType | AnyFloat):
            continue
        raise unsupported(op, f"only scalars and 1-D vectors are supported ({t})")
