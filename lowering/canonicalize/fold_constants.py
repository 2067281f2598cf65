"""fold-constants: an op whose operands are all constants becomes a constant.

The value is what the reference interpreter's kernel computes for the op, so folding never
changes a result (quantized or float). It is stored as a `dense_resource` blob named after
its content's hash (equal data share a handle; different models never clash), with the
op's own result type, and keeps the op's tensor name as its location.

Not folded: ops with effects or state (no `Pure` trait: WHILE, CUSTOM, variables, the
stateful sequence ops), ops without a reference kernel, ops in another layout than TFLite's
(`litec.layout`: the kernels compute in NHWC), ops whose results together take
more than `max_bytes`, and ops whose result a function returns (function results stay
values computed by an op). Typical hits: DEQUANTIZE of float16 weights, shape arithmetic.
Constants left without uses are erased on the way, as `dce` would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    ModuleOp,
    NameLoc,
    NoneAttr,
    StringAttr,
)
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.traits import Pure

from litec.dialects import tfl
from litec.dialects.tfl_layouts import NHWC, layout_of
from litec.dialects.tfl_reference import KERNELS, TensorInfo
from litec.dialects.tfl_reference.core import kernel_name, make_call
from litec.ir.diagnostics import LitecError
from litec.lowering.canonicalize.canonicalize import is_returned
from litec.lowering.graph import constant_array, new_constant, op_error

CONSTANTS = (tfl.ConstOp, tfl.NoValueOp)
"""Ops whose result is known at compile time (`tfl.no_value`: an absent optional input)."""


def result_bytes(op: Operation) -> int:
    """Bytes the op's results take."""
    infos = [TensorInfo.of(r.type) for r in op.results]
    return sum(int(np.prod(i.shape)) * i.dtype.itemsize for i in infos)


def foldable(op: Operation, max_bytes: int) -> bool:
    """Whether `op` is a pure `tfl` op of constants with a kernel, small enough to fold."""
    return (
        isinstance(op, tfl.TflOp)
        and not isinstance(op, CONSTANTS)
        and op.has_trait(Pure)
        and len(op.operands) > 0
        and all(isinstance(v.owner, CONSTANTS) for v in op.operands)
        and kernel_name(op) in KERNELS
        and layout_of(op) == NHWC
        and result_bytes(op) <= max_bytes
        and not any(is_returned(r) for r in op.results)
    )


def evaluate(op: Operation) -> list[np.ndarray]:
    """The op's results, computed by its reference kernel on its constant operands."""
    call = make_call(op)
    out = KERNELS[call.builtin](call, *(constant_array(v) for v in op.operands))
    outs = list(out) if isinstance(out, list | tuple) else [out]
    for k, (arr, info) in enumerate(zip(outs, call.outputs, strict=True)):
        if arr.shape != info.shape or arr.dtype != info.dtype:
            raise LitecError(
                f"the reference kernel computed {arr.dtype}{list(arr.shape)} for result {k}, "
                f"the op's type says {info.dtype}{list(info.shape)}"
            )
    return outs


def result_locations(op: Operation) -> list:
    """One location per result: its tensor name from the op's location (no op index, as
    imported constants have none), or the op's location as it is."""
    loc = op.location
    if not isinstance(loc, NameLoc):
        return [loc] * len(op.results)
    names = loc.desc.data.split(", ")
    if len(names) != len(op.results):
        names = [loc.desc.data] * len(op.results)
    return [NameLoc(StringAttr(name), NoneAttr()) for name in names]


@dataclass
class FoldConstantOp(RewritePattern):
    """Replace a foldable op by one constant per result."""

    max_bytes: int

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not foldable(op, self.max_bytes):
            return
        try:
            values = evaluate(op)
        except LitecError as e:
            raise op_error(op, e) from None
        consts = [
            new_constant(arr, r.type, loc, "folded")
            for arr, r, loc in zip(values, op.results, result_locations(op), strict=True)
        ]
        rewriter.replace(op, consts, [c.output for c in consts])


@dataclass(frozen=True)
class FoldConstantsPass(ModulePass):
    """Evaluate ops whose operands are all constants with the reference kernels; store the result."""

    name = "fold-constants"
    max_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if self.max_bytes < 0:
            raise LitecError(f"fold-constants: max_bytes must be 0 or more, not {self.max_bytes}")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = GreedyRewritePatternApplier([FoldConstantOp(self.max_bytes)])
        PatternRewriteWalker(patterns).rewrite_module(op)
