"""convert-math-to-llvm: `math` ops to LLVM intrinsics, on scalars and 1-D vectors.

Ops with an LLVM intrinsic call it (`math.exp` -> `llvm.exp.v16f32`, ...); `rsqrt` is
`1 / sqrt`; `tanh` has no intrinsic and expands to `copysign((1 - e) / (1 + e), x)` with
`e = exp(-2|x|)` (no overflow: e <= 1). Note that LLVM turns `exp`/`log`/... on vectors into
one libm call per element: fast kernels use polynomial approximations instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import llvm, math
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i1
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern

from litec.lowering.to_llvm.conversion import (
    check_scalar_or_vector,
    intrinsic,
    llvm_operands,
    replace,
    splat_constant,
    type_suffix,
    unsupported,
)

Lowering = Callable[[Operation, list[SSAValue]], Sequence[Operation]]


def _call(name: str) -> Lowering:
    """The intrinsic `name`, overloaded on the result type."""
    return lambda op, v: [intrinsic(name, v, v[0].type, v[0].type)]


def _call_poison_flag(name: str) -> Lowering:
    """An integer intrinsic whose second argument is `is_poison` (false: defined everywhere)."""

    def lower(op: Operation, v: list[SSAValue]) -> Sequence[Operation]:
        flag = llvm.ConstantOp(IntegerAttr(0, i1), i1)
        return [flag, intrinsic(name, [v[0], flag.result], v[0].type, v[0].type)]

    return lower


def _rsqrt(op: Operation, v: list[SSAValue]) -> Sequence[Operation]:
    one = splat_constant(1.0, v[0].type)
    root = intrinsic("llvm.sqrt", v, v[0].type, v[0].type)
    return [one, root, llvm.FDivOp(one, root)]


def _tanh(op: Operation, v: list[SSAValue]) -> Sequence[Operation]:
    """tanh(x) = copysign((1 - e) / (1 + e), x), e = exp(-2|x|)."""
    x = v[0]
    t = x.type
    magnitude = intrinsic("llvm.fabs", [x], t, t)
    minus_two, one = splat_constant(-2.0, t), splat_constant(1.0, t)
    scaled = llvm.FMulOp(magnitude, minus_two)
    e = intrinsic("llvm.exp", [scaled.res], t, t)
    numerator, denominator = llvm.FSubOp(one, e), llvm.FAddOp(one, e)
    quotient = llvm.FDivOp(numerator, denominator)
    signed = intrinsic("llvm.copysign", [quotient.res, x], t, t)
    return [magnitude, minus_two, one, scaled, e, numerator, denominator, quotient, signed]


def _powi(op: Operation, v: list[SSAValue]) -> Sequence[Operation]:
    """`llvm.powi` is overloaded on both the base and the exponent type."""
    name = f"llvm.powi.{type_suffix(v[0].type)}.{type_suffix(v[1].type)}"
    return [llvm.CallIntrinsicOp(name, v, [v[0].type])]


_LOWERINGS: dict[type[Operation], Lowering] = {
    math.AbsFOp: _call("llvm.fabs"),
    math.AbsIOp: _call_poison_flag("llvm.abs"),
    math.CeilOp: _call("llvm.ceil"),
    math.FloorOp: _call("llvm.floor"),
    math.RoundOp: _call("llvm.round"),
    math.RoundEvenOp: _call("llvm.roundeven"),
    math.TruncOp: _call("llvm.trunc"),
    math.SqrtOp: _call("llvm.sqrt"),
    math.RsqrtOp: _rsqrt,
    math.ExpOp: _call("llvm.exp"),
    math.Exp2Op: _call("llvm.exp2"),
    math.LogOp: _call("llvm.log"),
    math.Log2Op: _call("llvm.log2"),
    math.Log10Op: _call("llvm.log10"),
    math.SinOp: _call("llvm.sin"),
    math.CosOp: _call("llvm.cos"),
    math.TanOp: _call("llvm.tan"),
    math.TanhOp: _tanh,
    math.PowFOp: _call("llvm.pow"),
    math.FPowIOp: _powi,
    math.CopySignOp: _call("llvm.copysign"),
    math.FmaOp: _call("llvm.fma"),
    math.CountLeadingZerosOp: _call_poison_flag("llvm.ctlz"),
    math.CountTrailingZerosOp: _call_poison_flag("llvm.cttz"),
    math.CtPopOp: _call("llvm.ctpop"),
}


class LowerMathOp(RewritePattern):
    """One `math` op to LLVM intrinsics (table `_LOWERINGS`)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not op.name.startswith("math."):
            return
        lower = _LOWERINGS.get(type(op))
        if lower is None:
            raise unsupported(op, "no LLVM intrinsic; expand it into a polynomial first")
        check_scalar_or_vector(op)
        replace(rewriter, op, lower(op, llvm_operands(rewriter, op)))


@dataclass(frozen=True)
class ConvertMathToLLVMPass(ModulePass):
    """Lower `math` ops to LLVM intrinsics (`tanh` expanded)."""

    name = "convert-math-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(LowerMathOp(), apply_recursively=False).rewrite_module(op)
