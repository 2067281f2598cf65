"""convert-arith-to-llvm: every `arith` op to the `llvm` dialect.

One table entry per op: integer and float arithmetic map to the LLVM instruction of the
same meaning (overflow and fast-math flags kept); min/max to LLVM's intrinsics
(`llvm.smax`, `llvm.maximum`, ...); comparisons, select and casts to their LLVM
instructions (`index` is `i64`, so `index_cast` is a sign extension, a truncation or
nothing); the floor/ceil divisions and the extended add/multiply expand into a few
instructions. Scalars and 1-D vectors alike (the vector-capable compares and casts of
vector_arith.py included).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from xdsl.context import Context
from xdsl.dialects import arith, llvm
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    VectorType,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern
from xdsl.utils.type import get_element_type_or_self

from litec.lowering.to_llvm import llvm_ops, vector_arith
from litec.lowering.to_llvm.conversion import (
    check_scalar_or_vector,
    intrinsic,
    llvm_operands,
    llvm_type,
    replace,
    splat_constant,
    unsupported,
)

Lowered = tuple[Sequence[Operation], Sequence[SSAValue]]
Lowering = Callable[[Operation, list[SSAValue]], Lowered]


def _ops(*ops: Operation) -> Lowered:
    """New ops whose last one gives the (single) result."""
    return ops, ops[-1].results


@cache
def _overflow_attr(flags: frozenset) -> IntegerAttr:
    return IntegerAttr(llvm.OverflowAttr(flags or "none").to_int(), 32)


def _overflow(op: Operation) -> IntegerAttr:
    """The op's nsw/nuw flags as `llvm` ops store them (made once per set of flags)."""
    flags = op.properties.get("overflowFlags")
    return _overflow_attr(frozenset(flags.data) if flags is not None else frozenset())


def _fastmath(op: Operation) -> llvm.FastMathAttr:
    flags = op.properties.get("fastmath")
    return llvm.FastMathAttr(flags.data if flags is not None else None)


def _with_overflow(cls: type[Operation]) -> Lowering:
    return lambda op, v: _ops(cls(v[0], v[1], overflow=_overflow(op)))


def _plain(cls: type[Operation]) -> Lowering:
    return lambda op, v: _ops(cls(v[0], v[1]))


def _float(cls: type[Operation]) -> Lowering:
    return lambda op, v: _ops(cls(v[0], v[1], _fastmath(op)))


def _intrinsic(name: str) -> Lowering:
    return lambda op, v: _ops(intrinsic(name, v, v[0].type, v[0].type))


def _cast(cls: type[Operation]) -> Lowering:
    return lambda op, v: _ops(cls(v[0], llvm_type(op.results[0].type)))


def _width(t: Attribute) -> int:
    element = get_element_type_or_self(t)
    return 64 if isinstance(element, IndexType) else element.width.data


def _index_cast(op: Operation, v: list[SSAValue]) -> Lowered:
    """`index` is `i64`: extend (signed), truncate, or keep."""
    source, target = _width(op.operands[0].type), _width(op.results[0].type)
    target_type = llvm_type(op.results[0].type)
    if source == target:
        return (), v
    cls = llvm.SExtOp if source < target else llvm.TruncOp
    return _ops(cls(v[0], target_type))


def _constant(op: arith.ConstantOp, v: list[SSAValue]) -> Lowered:
    """The same value as an `llvm.mlir.constant` (`index` ones retyped `i64`)."""
    t, value = llvm_type(op.result.type), op.value
    if not isinstance(value, IntegerAttr | FloatAttr | DenseIntOrFPElementsAttr):
        raise unsupported(op, f"cannot lower a {value.name} constant")
    if t != op.result.type and isinstance(value, IntegerAttr):
        value = IntegerAttr(value.value.data, t)
    elif t != op.result.type:
        value = DenseIntOrFPElementsAttr.from_list(t, value.get_values())
    return _ops(llvm.ConstantOp.create(properties={"value": value}, result_types=[t]))


class _Emitter:
    """Collects the ops of an expansion; `emit(op)` returns its (first) result."""

    def __init__(self):
        self.ops: list[Operation] = []

    def emit(self, op: Operation) -> SSAValue:
        self.ops.append(op)
        return op.results[0]

    def icmp(self, predicate: str, lhs: SSAValue, rhs: SSAValue) -> SSAValue:
        flag = IntegerAttr(llvm.ICmpPredicateFlag(predicate).to_int(), 64)
        return self.emit(llvm.ICmpOp(lhs, rhs, flag))


def _floor_div(op: Operation, v: list[SSAValue]) -> Lowered:
    """a floordiv b = q - 1 where the remainder is non-zero and its sign differs from b's."""
    a, b = v
    e = _Emitter()
    q, r = e.emit(llvm.SDivOp(a, b)), e.emit(llvm.SRemOp(a, b))
    zero, one = e.emit(splat_constant(0, a.type)), e.emit(splat_constant(1, a.type))
    differ = e.icmp("slt", e.emit(llvm.XOrOp(r, b)), zero)
    adjust = e.emit(llvm.AndOp(e.icmp("ne", r, zero), differ))
    result = e.emit(llvm_ops.SelectOp(adjust, e.emit(llvm.SubOp(q, one)), q))
    return e.ops, [result]


def _ceil_div(signed: bool) -> Lowering:
    """a ceildiv b = q + 1 where the remainder is non-zero (and, signed, a and b agree in sign)."""
    div, rem = (llvm.SDivOp, llvm.SRemOp) if signed else (llvm.UDivOp, llvm.URemOp)

    def lower(op: Operation, v: list[SSAValue]) -> Lowered:
        a, b = v
        e = _Emitter()
        q, r = e.emit(div(a, b)), e.emit(rem(a, b))
        zero, one = e.emit(splat_constant(0, a.type)), e.emit(splat_constant(1, a.type))
        adjust = e.icmp("ne", r, zero)
        if signed:
            agree = e.icmp("sge", e.emit(llvm.XOrOp(a, b)), zero)
            adjust = e.emit(llvm.AndOp(adjust, agree))
        result = e.emit(llvm_ops.SelectOp(adjust, e.emit(llvm.AddOp(q, one)), q))
        return e.ops, [result]

    return lower


def _mul_extended(signed: bool) -> Lowering:
    """(low, high) halves of the double-width product."""
    extend = llvm.SExtOp if signed else llvm.ZExtOp

    def lower(op: Operation, v: list[SSAValue]) -> Lowered:
        t = v[0].type
        width = _width(t)
        wide = IntegerType(2 * width)
        if isinstance(t, VectorType):
            wide = VectorType(wide, t.get_shape())
        e = _Emitter()
        product = e.emit(llvm.MulOp(e.emit(extend(v[0], wide)), e.emit(extend(v[1], wide))))
        low = e.emit(llvm.TruncOp(product, t))
        upper = e.emit(llvm.LShrOp(product, e.emit(splat_constant(width, wide))))
        return e.ops, [low, e.emit(llvm.TruncOp(upper, t))]

    return lower


def _add_extended(op: Operation, v: list[SSAValue]) -> Lowered:
    """(sum, carry): the carry is set when the sum wrapped below an operand."""
    e = _Emitter()
    total = e.emit(llvm.AddOp(v[0], v[1]))
    return e.ops, [total, e.icmp("ult", total, v[0])]


_LOWERINGS: dict[type[Operation], Lowering] = {
    arith.ConstantOp: _constant,
    arith.AddiOp: _with_overflow(llvm.AddOp),
    arith.SubiOp: _with_overflow(llvm.SubOp),
    arith.MuliOp: _with_overflow(llvm.MulOp),
    arith.ShLIOp: _with_overflow(llvm.ShlOp),
    arith.DivSIOp: _plain(llvm.SDivOp),
    arith.DivUIOp: _plain(llvm.UDivOp),
    arith.RemSIOp: _plain(llvm.SRemOp),
    arith.RemUIOp: _plain(llvm.URemOp),
    arith.AndIOp: _plain(llvm.AndOp),
    arith.OrIOp: _plain(llvm.OrOp),
    arith.XOrIOp: _plain(llvm.XOrOp),
    arith.ShRSIOp: _plain(llvm.AShrOp),
    arith.ShRUIOp: _plain(llvm.LShrOp),
    arith.FloorDivSIOp: _floor_div,
    arith.CeilDivSIOp: _ceil_div(signed=True),
    arith.CeilDivUIOp: _ceil_div(signed=False),
    arith.MulSIExtendedOp: _mul_extended(signed=True),
    arith.MulUIExtendedOp: _mul_extended(signed=False),
    arith.AddUIExtendedOp: _add_extended,
    arith.MaxSIOp: _intrinsic("llvm.smax"),
    arith.MinSIOp: _intrinsic("llvm.smin"),
    arith.MaxUIOp: _intrinsic("llvm.umax"),
    arith.MinUIOp: _intrinsic("llvm.umin"),
    arith.AddfOp: _float(llvm.FAddOp),
    arith.SubfOp: _float(llvm.FSubOp),
    arith.MulfOp: _float(llvm.FMulOp),
    arith.DivfOp: _float(llvm.FDivOp),
    arith.NegfOp: lambda op, v: _ops(llvm.FNegOp(v[0], _fastmath(op))),
    arith.MaximumfOp: _intrinsic("llvm.maximum"),
    arith.MinimumfOp: _intrinsic("llvm.minimum"),
    arith.MaxnumfOp: _intrinsic("llvm.maxnum"),
    arith.MinnumfOp: _intrinsic("llvm.minnum"),
    arith.CmpiOp: lambda op, v: _ops(llvm.ICmpOp(v[0], v[1], op.predicate)),
    arith.CmpfOp: lambda op, v: _ops(llvm_ops.FCmpOp(v[0], v[1], op.predicate.value.data)),
    arith.SelectOp: lambda op, v: _ops(llvm_ops.SelectOp(*v)),
    arith.ExtSIOp: _cast(llvm.SExtOp),
    arith.ExtUIOp: _cast(llvm.ZExtOp),
    arith.TruncIOp: _cast(llvm.TruncOp),
    arith.SIToFPOp: _cast(llvm.SIToFPOp),
    arith.UIToFPOp: _cast(llvm_ops.UIToFPOp),
    arith.FPToSIOp: _cast(llvm_ops.FPToSIOp),
    arith.FPToUIOp: _cast(llvm_ops.FPToUIOp),
    arith.ExtFOp: _cast(llvm.FPExtOp),
    arith.TruncFOp: _cast(llvm.FPTruncOp),
    arith.IndexCastOp: _index_cast,
    arith.BitcastOp: lambda op, v: (
        _index_cast(op, v) if _is_index_cast(op) else _cast(llvm.BitcastOp)(op, v)
    ),
}


_LOWERINGS |= {mine: _LOWERINGS[theirs] for theirs, mine in vector_arith.REPLACES.items()}


def _is_index_cast(op: Operation) -> bool:
    return any(
        isinstance(get_element_type_or_self(v.type), IndexType) for v in (*op.operands, *op.results)
    )


class LowerArithOp(RewritePattern):
    """One `arith` op to its `llvm` form (table `_LOWERINGS`)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not op.name.startswith("arith."):
            return
        lower = _LOWERINGS.get(type(op))
        if lower is None:
            raise unsupported(op, "no lowering to the llvm dialect")
        check_scalar_or_vector(op)
        new_ops, results = lower(op, llvm_operands(rewriter, op))
        replace(rewriter, op, new_ops, results)


@dataclass(frozen=True)
class ConvertArithToLLVMPass(ModulePass):
    """Lower every `arith` op to the `llvm` dialect."""

    name = "convert-arith-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(LowerArithOp(), apply_recursively=False).rewrite_module(op)
