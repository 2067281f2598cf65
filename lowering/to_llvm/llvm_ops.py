"""The `llvm` ops litec needs that xDSL 0.74's `llvm` dialect lacks or restricts.

Named and printed as MLIR's `llvm` dialect names them:

- `llvm.extractelement`, `llvm.fptosi`, `llvm.fptoui`, `llvm.uitofp`: missing from xDSL;
- `llvm.fcmp` and `llvm.select` on vectors: xDSL's accept only scalars (a scalar `i1`
  condition); these accept both and replace xDSL's in `LLVM`.

`LLVM` is xDSL's `llvm` dialect with these ops added: load it (instead of xDSL's) into a
context that parses the IR `lower_to_llvm` prints. `backends/cpu/codegen.py` translates
these ops to LLVM IR.
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects import llvm
from xdsl.dialects.builtin import (
    I1,
    AnyFloatConstr,
    ArrayAttr,
    IntAttr,
    IntegerAttr,
    IntegerType,
    SignlessIntegerConstraint,
    VectorType,
    i1,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParsePropInAttrDict,
    RangeOf,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import NoMemoryEffect, Pure
from xdsl.utils.exceptions import VerifyException


def _bool_like(value_type: Attribute) -> Attribute:
    """`i1`, or `vector<N x i1>` for a vector of N elements."""
    if isinstance(value_type, VectorType):
        return VectorType(i1, value_type.get_shape())
    return i1


@irdl_op_definition
class ExtractElementOp(IRDLOperation):
    """One element of a 1-D vector, at a dynamic position (LLVM `extractelement`)."""

    name = "llvm.extractelement"

    ELEMENT: ClassVar = VarConstraint("ELEMENT", AnyAttr())
    VECTOR: ClassVar = VarConstraint(
        "VECTOR",
        VectorType.constr(ELEMENT, shape=ArrayAttr.constr(RangeOf(IntAttr).of_length(1))),
    )

    vector = operand_def(VECTOR)
    position = operand_def(SignlessIntegerConstraint)
    res = result_def(ELEMENT)

    assembly_format = "$vector `[` $position `:` type($position) `]` attr-dict `:` type($vector)"
    traits = traits_def(NoMemoryEffect())

    def __init__(self, vector: SSAValue | Operation, position: SSAValue | Operation):
        vector_type = SSAValue.get(vector).type
        assert isinstance(vector_type, VectorType)
        super().__init__(operands=[vector, position], result_types=[vector_type.element_type])


@irdl_op_definition
class FPToSIOp(llvm.GenericCastOp):
    """Float to signed integer, rounding toward zero (LLVM `fptosi`)."""

    name = "llvm.fptosi"


@irdl_op_definition
class FPToUIOp(llvm.GenericCastOp):
    """Float to unsigned integer, rounding toward zero (LLVM `fptoui`)."""

    name = "llvm.fptoui"


@irdl_op_definition
class UIToFPOp(llvm.GenericCastOp):
    """Unsigned integer to float (LLVM `uitofp`)."""

    name = "llvm.uitofp"


@irdl_op_definition
class FCmpOp(IRDLOperation):
    """Float comparison of scalars or vectors (LLVM `fcmp`); prints like xDSL's."""

    name = "llvm.fcmp"

    T: ClassVar = VarConstraint("T", AnyFloatConstr | VectorType.constr(AnyFloatConstr))

    lhs = operand_def(T)
    rhs = operand_def(T)
    res = result_def(I1 | VectorType[I1])
    predicate = prop_def(IntegerAttr[IntegerType])
    fastmathFlags = prop_def(llvm.FastMathAttr, default_value=llvm.FastMathAttr(None))

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation, predicate: str | int):
        if isinstance(predicate, str):
            predicate = llvm.FCmpPredicateFlag(predicate).to_int()
        super().__init__(
            operands=[lhs, rhs],
            result_types=[_bool_like(SSAValue.get(lhs).type)],
            properties={"predicate": IntegerAttr(predicate, i64)},
        )

    @classmethod
    def parse(cls, parser: Parser) -> FCmpOp:
        predicate = llvm.FCmpPredicateFlag(parser.parse_str_literal()).to_int()
        lhs = parser.parse_unresolved_operand()
        parser.parse_characters(",")
        rhs = parser.parse_unresolved_operand()
        attributes = parser.parse_optional_attr_dict()
        parser.parse_characters(":")
        operand_type = parser.parse_type()
        lhs, rhs = parser.resolve_operands([lhs, rhs], [operand_type] * 2, parser.pos)
        op = cls(lhs, rhs, predicate)
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        flag = llvm.FCmpPredicateFlag.from_int(self.predicate.value.data)
        printer.print_string(f' "{flag}" ')
        printer.print_ssa_value(self.lhs)
        printer.print_string(", ")
        printer.print_ssa_value(self.rhs)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.lhs.type)

    def verify_(self) -> None:
        if self.res.type != _bool_like(self.lhs.type):
            raise VerifyException(f"result must be {_bool_like(self.lhs.type)}")


@irdl_op_definition
class SelectOp(IRDLOperation):
    """`cond ? lhs : rhs`, element-wise for a vector condition (LLVM `select`)."""

    name = "llvm.select"

    T: ClassVar = VarConstraint("T", AnyAttr())

    cond = operand_def(I1 | VectorType[I1])
    lhs = operand_def(T)
    rhs = operand_def(T)
    res = result_def(T)
    fastmathFlags = prop_def(llvm.FastMathAttr, default_value=llvm.FastMathAttr(None))

    traits = traits_def(Pure())
    assembly_format = "$cond `,` $lhs `,` $rhs attr-dict `:` type($cond) `,` type($res)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(
        self,
        cond: SSAValue | Operation,
        lhs: SSAValue | Operation,
        rhs: SSAValue | Operation,
    ):
        super().__init__(operands=[cond, lhs, rhs], result_types=[SSAValue.get(lhs).type])

    def verify_(self) -> None:
        if isinstance(self.cond.type, VectorType) and self.cond.type != _bool_like(self.res.type):
            raise VerifyException("a vector condition must have one i1 per result element")


EXTRA_OPS = (ExtractElementOp, FPToSIOp, FPToUIOp, UIToFPOp, FCmpOp, SelectOp)
"""The ops defined here (translated to LLVM IR by the CPU codegen)."""

_REPLACED = {op.name for op in EXTRA_OPS}

LLVM = Dialect(
    "llvm",
    [op for op in llvm.LLVM.operations if op.name not in _REPLACED] + list(EXTRA_OPS),
    list(llvm.LLVM.attributes),
)
"""xDSL's `llvm` dialect with litec's extra and vector-capable ops."""
