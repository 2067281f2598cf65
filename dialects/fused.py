"""The `fused` dialect: several `tfl` ops outlined into one op that one kernel computes.

    %y = fused.elementwise %x, %b : (tensor<1x8x8x16xf32>, tensor<16xf32>) -> tensor<1x8x8x16xf32> {
    ^bb0(%x1: tensor<1x8x8x16xf32>, %b1: tensor<16xf32>):
      %s = tfl.add %x1, %b1 {fused_activation_function = "NONE"} : (...) -> tensor<1x8x8x16xf32>
      %r = tfl.logistic %s : (tensor<1x8x8x16xf32>) -> tensor<1x8x8x16xf32>
      fused.yield %r : tensor<1x8x8x16xf32>
    }

The body holds the original `tfl` ops on tensors, unchanged, so their meaning (and the
reference interpreter's kernels for them) carries over; only the grouping is new. The op
is a graph-level op like the `tfl` ones (partition places it, the memory plan gives it one
step with its operands and results), and its location is its last op's, so errors name
that TFLite operator.
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Dialect, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException

from litec.dialects import tfl

NOT_IN_BODY = (tfl.ConstOp, tfl.NoValueOp, tfl.VariableOp, tfl.WhileOp)
"""`tfl` ops a body may not hold: data (constants are operands of the fused op) and calls."""


@irdl_op_definition
class ElementwiseOp(tfl.TflOp):
    """A chain (or small DAG) of elementwise `tfl` ops computed in one pass over the elements.

    Operands are the chain's inputs (broadcast as the ops inside broadcast them); the
    single-block body takes them as arguments, runs the original ops and yields the results.
    """

    name = "fused.elementwise"
    BUILTIN: ClassVar[str] = "FUSED_ELEMENTWISE"
    inputs = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    body = region_def("single_block")
    traits = traits_def(IsolatedFromAbove(), Pure())
    assembly_format = "$inputs attr-dict `:` functional-type($inputs, $outputs) $body"

    def __init__(self, inputs: list[SSAValue], result_types: list, body: Region):
        super().__init__(operands=[inputs], result_types=[result_types], regions=[body])

    def inner_ops(self) -> list[Operation]:
        """The body's ops, without the terminator, in order."""
        return list(self.body.block.ops)[:-1]

    def verify_(self) -> None:
        block = self.body.block
        if [a.type for a in block.args] != [v.type for v in self.inputs]:
            raise VerifyException("fused.elementwise: the body's arguments must match the operands")
        last = block.last_op
        if not isinstance(last, YieldOp):
            raise VerifyException("fused.elementwise: the body must end with fused.yield")
        if [v.type for v in last.values] != [r.type for r in self.outputs]:
            raise VerifyException("fused.elementwise: the yielded values must match the results")
        for op in self.inner_ops():
            if not isinstance(op, tfl.TflOp) or isinstance(op, (*NOT_IN_BODY, ElementwiseOp)):
                raise VerifyException(
                    f"fused.elementwise: the body holds computing `tfl` ops, not {op.name}"
                )


@irdl_op_definition
class YieldOp(IRDLOperation):
    """The results of a `fused.elementwise` body."""

    name = "fused.yield"
    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), HasParent(ElementwiseOp), Pure())
    assembly_format = "($values^ `:` type($values))? attr-dict"

    def __init__(self, *values: SSAValue):
        super().__init__(operands=[list(values)])


Fused = Dialect("fused", [ElementwiseOp, YieldOp], [])
