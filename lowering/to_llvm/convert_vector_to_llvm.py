"""convert-vector-to-llvm: 1-D `vector` ops to `llvm`.

- `load` / `store` / `maskedload` / `maskedstore`: GEP addressing as memref-to-llvm, with
  an explicit alignment of one element (an `llvm.load` of a vector without one assumes the
  vector's size and faults on buffers aligned less);
- `broadcast`: `insertelement` + a zero-mask `shufflevector` (LLVM's splat);
- `extract` / `insert`: `extractelement` / `insertelement`; `shuffle`: `shufflevector`;
- `fma`: `llvm.fma`; `bitcast`: `llvm.bitcast`; `create_mask`: `[0, 1, ...] < n`;
- `reduction`: `llvm.vector.reduce.*` for integers and float min/max; float add/mul as a
  tree of half-width shuffles (LLVM's `reduce.fadd` without fast-math is a serial chain).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import llvm, vector
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    VectorType,
    i32,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern

from litec.lowering.to_llvm import llvm_ops
from litec.lowering.to_llvm.conversion import (
    byte_size,
    element_pointer,
    intrinsic,
    llvm_operand,
    llvm_type,
    replace,
    shared_constant,
    type_suffix,
    unsupported,
)

Lowering = Callable[[Operation, PatternRewriter], Sequence[SSAValue]]


def _insert(rewriter: PatternRewriter, op: Operation) -> SSAValue:
    return rewriter.insert(op).results[0]


def _lanes(op: Operation, t: Attribute) -> int:
    """The length of a 1-D vector type (an error naming `op` for any other shape)."""
    if not isinstance(t, VectorType) or len(t.get_shape()) != 1 or t.get_num_scalable_dims():
        raise unsupported(op, f"only 1-D fixed-size vectors are supported ({t})")
    return t.get_shape()[0]


def _load(op: vector.LoadOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    t = llvm_type(op.result.type)
    _lanes(op, t)
    ptr = element_pointer(rewriter, op, op.base, op.indices)
    return [_insert(rewriter, llvm.LoadOp(ptr, t, alignment=byte_size(t.element_type)))]


def _store(op: vector.StoreOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    value = llvm_operand(rewriter, op.vector)
    _lanes(op, value.type)
    ptr = element_pointer(rewriter, op, op.base, op.indices)
    rewriter.insert(llvm.StoreOp(value, ptr, alignment=byte_size(value.type.element_type)))
    return ()


def _alignment(rewriter: PatternRewriter, t: VectorType) -> SSAValue:
    return shared_constant(rewriter, byte_size(t.element_type), i32)


def _masked_load(op: vector.MaskedLoadOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    t = llvm_type(op.result.type)
    _lanes(op, t)
    ptr = element_pointer(rewriter, op, op.base, op.indices)
    mask, passthru = llvm_operand(rewriter, op.mask), llvm_operand(rewriter, op.pass_thru)
    args = [ptr, _alignment(rewriter, t), mask, passthru]
    name = f"llvm.masked.load.{type_suffix(t)}.p0"
    return [_insert(rewriter, llvm.CallIntrinsicOp(name, args, [t]))]


def _masked_store(op: vector.MaskedStoreOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    value = llvm_operand(rewriter, op.value_to_store)
    t = value.type
    _lanes(op, t)
    ptr = element_pointer(rewriter, op, op.base, op.indices)
    args = [value, ptr, _alignment(rewriter, t), llvm_operand(rewriter, op.mask)]
    rewriter.insert(llvm.CallIntrinsicOp(f"llvm.masked.store.{type_suffix(t)}.p0", args, []))
    return ()


def _splat(rewriter: PatternRewriter, scalar: SSAValue, t: VectorType) -> SSAValue:
    """`scalar` in every lane of a `t`: insert into lane 0, shuffle with a zero mask."""
    undef = _insert(rewriter, llvm.UndefOp(t))
    zero = shared_constant(rewriter, 0)
    single = _insert(rewriter, llvm.InsertElementOp(undef, scalar, zero))
    mask = DenseArrayBase.from_list(i32, [0] * t.get_shape()[0])
    return _insert(rewriter, llvm.ShuffleVectorOp(single, undef, mask, t))


def _broadcast(op: vector.BroadcastOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    t = llvm_type(op.vector.type)
    _lanes(op, t)
    source = llvm_operand(rewriter, op.source)
    if source.type == t:
        return [source]
    if isinstance(source.type, VectorType):
        _lanes(op, source.type)
        if source.type.get_shape() != (1,):
            raise unsupported(op, f"cannot broadcast {source.type} to {t}")
        mask = DenseArrayBase.from_list(i32, [0] * t.get_shape()[0])
        return [_insert(rewriter, llvm.ShuffleVectorOp(source, source, mask, t))]
    return [_splat(rewriter, source, t)]


def _position(op: Operation, rewriter: PatternRewriter) -> SSAValue:
    """The single (static or dynamic) position of a 1-D `vector.extract` / `vector.insert`."""
    static = op.static_position.get_values()
    if len(static) != 1:
        raise unsupported(op, "only one position into a 1-D vector is supported")
    if static[0] != vector.DYNAMIC_INDEX:
        return shared_constant(rewriter, static[0])
    return llvm_operand(rewriter, op.dynamic_position[0])


def _extract(op: vector.ExtractOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    source = llvm_operand(rewriter, op.vector)
    _lanes(op, source.type)
    if isinstance(op.result.type, VectorType):
        raise unsupported(op, "extracting a sub-vector is not supported")
    position = _position(op, rewriter)
    return [_insert(rewriter, llvm_ops.ExtractElementOp(source, position))]


def _insert_element(op: vector.InsertOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    dest = llvm_operand(rewriter, op.dest)
    _lanes(op, dest.type)
    if isinstance(op.source.type, VectorType):
        raise unsupported(op, "inserting a sub-vector is not supported")
    value, position = llvm_operand(rewriter, op.source), _position(op, rewriter)
    return [_insert(rewriter, llvm.InsertElementOp(dest, value, position))]


def _shuffle(op: vector.ShuffleOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    t = llvm_type(op.result.type)
    _lanes(op, t)
    v1, v2 = llvm_operand(rewriter, op.v1), llvm_operand(rewriter, op.v2)
    _lanes(op, v1.type)
    mask = DenseArrayBase.from_list(i32, op.mask.get_values())
    return [_insert(rewriter, llvm.ShuffleVectorOp(v1, v2, mask, t))]


def _fma(op: vector.FMAOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    args = [llvm_operand(rewriter, v) for v in (op.lhs, op.rhs, op.acc)]
    _lanes(op, args[0].type)
    return [_insert(rewriter, llvm.FMAOp(*args))]


def _bitcast(op: vector.BitcastOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    t = llvm_type(op.result.type)
    _lanes(op, t)
    return [_insert(rewriter, llvm.BitcastOp(llvm_operand(rewriter, op.source), t))]


def _create_mask(op: vector.CreateMaskOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    """Lane i is set when i < n."""
    lanes = _lanes(op, op.mask_vector.type)
    t = VectorType(i64, [lanes])
    steps = _insert(
        rewriter, llvm.ConstantOp(DenseIntOrFPElementsAttr.from_list(t, list(range(lanes))), t)
    )
    bound = _splat(rewriter, llvm_operand(rewriter, op.mask_dim_sizes[0]), t)
    slt = IntegerAttr(llvm.ICmpPredicateFlag.SLT.to_int(), 64)
    return [_insert(rewriter, llvm.ICmpOp(steps, bound, slt))]


_INT_REDUCE = {
    "add": ("llvm.vector.reduce.add", llvm.AddOp),
    "mul": ("llvm.vector.reduce.mul", llvm.MulOp),
    "and": ("llvm.vector.reduce.and", llvm.AndOp),
    "or": ("llvm.vector.reduce.or", llvm.OrOp),
    "xor": ("llvm.vector.reduce.xor", llvm.XOrOp),
    "minsi": ("llvm.vector.reduce.smin", "llvm.smin"),
    "maxsi": ("llvm.vector.reduce.smax", "llvm.smax"),
    "minui": ("llvm.vector.reduce.umin", "llvm.umin"),
    "maxui": ("llvm.vector.reduce.umax", "llvm.umax"),
}
_FLOAT_REDUCE = {
    "add": (None, llvm.FAddOp),
    "mul": (None, llvm.FMulOp),
    "minnumf": ("llvm.vector.reduce.fmin", "llvm.minnum"),
    "maxnumf": ("llvm.vector.reduce.fmax", "llvm.maxnum"),
    "minimumf": ("llvm.vector.reduce.fminimum", "llvm.minimum"),
    "maximumf": ("llvm.vector.reduce.fmaximum", "llvm.maximum"),
}
"""kind -> (reduction intrinsic, or None for a shuffle tree; how two values combine)."""


def _combine(rewriter: PatternRewriter, how, a: SSAValue, b: SSAValue) -> SSAValue:
    if isinstance(how, str):
        return _insert(rewriter, intrinsic(how, [a, b], a.type, a.type))
    return _insert(rewriter, how(a, b))


def _tree(rewriter: PatternRewriter, how, v: SSAValue) -> SSAValue:
    """Combine the halves of `v` (a power-of-two length) until one lane is left."""
    lanes = v.type.get_shape()[0]
    while lanes > 1:
        half = lanes // 2
        t = VectorType(v.type.element_type, [half])
        low = DenseArrayBase.from_list(i32, list(range(half)))
        high = DenseArrayBase.from_list(i32, list(range(half, 2 * half)))
        a = _insert(rewriter, llvm.ShuffleVectorOp(v, v, low, t))
        b = _insert(rewriter, llvm.ShuffleVectorOp(v, v, high, t))
        v, lanes = _combine(rewriter, how, a, b), half
    return _insert(rewriter, llvm_ops.ExtractElementOp(v, shared_constant(rewriter, 0)))


def _reduction(op: vector.ReductionOp, rewriter: PatternRewriter) -> Sequence[SSAValue]:
    source = llvm_operand(rewriter, op.vector)
    lanes = _lanes(op, source.type)
    element = source.type.element_type
    table = _INT_REDUCE if isinstance(element, IntegerType) else _FLOAT_REDUCE
    kind = op.kind.data.value
    if kind not in table:
        raise unsupported(op, f"no <{kind}> reduction of {source.type}")
    reduce_name, how = table[kind]
    if reduce_name is None:
        if lanes & (lanes - 1):
            raise unsupported(op, f"float <{kind}> reductions need a power-of-two length")
        result = _tree(rewriter, how, source)
    else:
        result = _insert(rewriter, intrinsic(reduce_name, [source], element, source.type))
    if op.acc is not None:
        result = _combine(rewriter, how, result, llvm_operand(rewriter, op.acc))
    return [result]


_LOWERINGS: dict[type[Operation], Lowering] = {
    vector.LoadOp: _load,
    vector.StoreOp: _store,
    vector.MaskedLoadOp: _masked_load,
    vector.MaskedStoreOp: _masked_store,
    vector.BroadcastOp: _broadcast,
    vector.ExtractOp: _extract,
    vector.InsertOp: _insert_element,
    vector.ShuffleOp: _shuffle,
    vector.FMAOp: _fma,
    vector.BitcastOp: _bitcast,
    vector.CreateMaskOp: _create_mask,
    vector.ReductionOp: _reduction,
}


class LowerVectorOp(RewritePattern):
    """One `vector` op to `llvm` (table `_LOWERINGS`)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not op.name.startswith("vector."):
            return
        lower = _LOWERINGS.get(type(op))
        if lower is None:
            raise unsupported(op, "no lowering to the llvm dialect")
        replace(rewriter, op, [], lower(op, rewriter))


@dataclass(frozen=True)
class ConvertVectorToLLVMPass(ModulePass):
    """Lower 1-D `vector` ops to `llvm` (aligned loads/stores, shuffles, reductions)."""

    name = "convert-vector-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(LowerVectorOp(), apply_recursively=False).rewrite_module(op)
