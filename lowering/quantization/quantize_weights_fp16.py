"""`quantize-weights-fp16`: float32 constants stored as float16, widened back by DEQUANTIZE
(what TFLite's converter writes with `supported_types=[tf.float16]`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import Float16Type, ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from litec.dialects import tfl
from litec.lowering.graph import constant_array, is_f32
from litec.lowering.quantization.params import (
    new_const,
    tensor_of,
)


class _ConstToFloat16(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfl.ConstOp, rewriter: PatternRewriter) -> None:
        if not is_f32(op.output.type):
            return
        half = constant_array(op.output).astype(np.float16)
        narrow = new_const(op.output, half, tensor_of(op.output, Float16Type()), "f16")
        widen = tfl.DequantizeOp.build(operands=[narrow.output], result_types=[op.output.type])
        widen.location = op.location
        rewriter.replace(op, [narrow, widen])


@dataclass(frozen=True)
class QuantizeWeightsFp16Pass(ModulePass):
    """Store float32 constants as float16, each followed by a DEQUANTIZE to float32."""

    name = "quantize-weights-fp16"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(_ConstToFloat16(), apply_recursively=False).rewrite_module(op)
