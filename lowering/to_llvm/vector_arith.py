"""`arith` compares, select and casts on 1-D vectors as well as scalars (MLIR's semantics).

xDSL 0.74 verifies `arith.cmpi`/`cmpf`/`select` and the integer/float casts as scalar-only
(its constructors even type a vector compare `i1`), so a kernel that compares or converts
whole vectors does not verify. These ops have the same names, text forms and constructor
signatures, and accept scalars or vectors of the same shape; kernel generators build them
instead of xDSL's, and convert-arith-to-llvm lowers both. `ARITH` is xDSL's `arith` dialect
with these ops in place of its own (for a context that parses such kernels).
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    AnyFloat,
    IndexType,
    IntegerAttr,
    IntegerType,
    VectorType,
    i1,
)
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.type import get_element_type_or_self

_CMPI = ("eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge")
_CMPF = (
    "false", "oeq", "ogt", "oge", "olt", "ole", "one", "ord",
    "ueq", "ugt", "uge", "ult", "ule", "une", "uno", "true",
)  # fmt: skip
_INT: tuple[type, ...] = (IntegerType,)
_FLOAT: tuple[type, ...] = AnyFloat.__args__


def _shape(t: Attribute) -> tuple[int, ...]:
    return tuple(t.get_shape()) if isinstance(t, VectorType) else ()


def _like(t: Attribute, element: Attribute) -> Attribute:
    """`element`, or a vector of it shaped like `t`."""
    return VectorType(element, t.get_shape()) if isinstance(t, VectorType) else element


def _check_element(op: Operation, t: Attribute, kinds: tuple[type, ...], what: str) -> None:
    element = get_element_type_or_self(t)
    if not isinstance(element, kinds):
        raise VerifyException(f"{op.name}: expected {what} (or a vector of them), got {t}")


class _Compare(IRDLOperation):
    """`arith.cmpi` / `arith.cmpf` on scalars or vectors: an `i1` per element."""

    PREDICATES: ClassVar[tuple[str, ...]]
    ELEMENTS: ClassVar[tuple[type, ...]]

    T: ClassVar = VarConstraint("T", AnyAttr())
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def()
    predicate = prop_def(IntegerAttr)

    traits = traits_def(Pure())

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation, predicate: int | str):
        if isinstance(predicate, str):
            predicate = self.PREDICATES.index(predicate)
        lhs = SSAValue.get(lhs)
        super().__init__(
            operands=[lhs, rhs],
            result_types=[_like(lhs.type, i1)],
            properties={"predicate": IntegerAttr(predicate, 64)},
        )

    def verify_(self) -> None:
        _check_element(self, self.lhs.type, self.ELEMENTS, "operands of the compared kind")
        if self.result.type != _like(self.lhs.type, i1):
            raise VerifyException(f"{self.name}: the result must be {_like(self.lhs.type, i1)}")

    @classmethod
    def parse(cls, parser: Parser):
        predicate = parser.parse_identifier()
        parser.parse_punctuation(",")
        lhs = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        rhs = parser.parse_unresolved_operand()
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        operand_type = parser.parse_type()
        lhs, rhs = parser.resolve_operands([lhs, rhs], [operand_type] * 2, parser.pos)
        op = cls(lhs, rhs, predicate)
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(f" {self.PREDICATES[self.predicate.value.data]}, ")
        printer.print_operand(self.lhs)
        printer.print_string(", ")
        printer.print_operand(self.rhs)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.lhs.type)


@irdl_op_definition
class CmpiOp(_Compare):
    """Integer comparison (`arith.cmpi`) of scalars or vectors."""

    name = "arith.cmpi"
    PREDICATES: ClassVar[tuple[str, ...]] = _CMPI
    ELEMENTS: ClassVar[tuple[type, ...]] = (IntegerType, IndexType)


@irdl_op_definition
class CmpfOp(_Compare):
    """Float comparison (`arith.cmpf`) of scalars or vectors."""

    name = "arith.cmpf"
    PREDICATES: ClassVar[tuple[str, ...]] = _CMPF
    ELEMENTS: ClassVar[tuple[type, ...]] = _FLOAT

    fastmath = prop_def(arith.FastMathFlagsAttr, default_value=arith.FastMathFlagsAttr("none"))


@irdl_op_definition
class SelectOp(IRDLOperation):
    """`cond ? lhs : rhs` (`arith.select`), element-wise for a vector condition."""

    name = "arith.select"

    T: ClassVar = VarConstraint("T", AnyAttr())
    cond = operand_def()
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())

    def __init__(
        self, cond: SSAValue | Operation, lhs: SSAValue | Operation, rhs: SSAValue | Operation
    ):
        super().__init__(operands=[cond, lhs, rhs], result_types=[SSAValue.get(lhs).type])

    def verify_(self) -> None:
        if self.cond.type not in (i1, _like(self.result.type, i1)):
            raise VerifyException(f"{self.name}: the condition must be i1 or one i1 per element")

    @classmethod
    def parse(cls, parser: Parser) -> SelectOp:
        cond = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        lhs = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        rhs = parser.parse_unresolved_operand()
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        types = [parser.parse_type()]
        if parser.parse_optional_punctuation(","):
            types.append(parser.parse_type())
        cond_type, value_type = (i1, types[0]) if len(types) == 1 else types
        cond, lhs, rhs = parser.resolve_operands(
            [cond, lhs, rhs], [cond_type, value_type, value_type], parser.pos
        )
        op = cls(cond, lhs, rhs)
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list([self.cond, self.lhs, self.rhs], printer.print_operand)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        if self.cond.type != i1:
            printer.print_attribute(self.cond.type)
            printer.print_string(", ")
        printer.print_attribute(self.result.type)


class _Cast(IRDLOperation):
    """A cast of a scalar or vector to another element type (same shape)."""

    SOURCE: ClassVar[tuple[type, ...]]
    TARGET: ClassVar[tuple[type, ...]]

    input = operand_def()
    result = result_def()

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def __init__(self, value: SSAValue | Operation, target_type: Attribute):
        super().__init__(operands=[value], result_types=[target_type])

    def verify_(self) -> None:
        source, target = self.input.type, self.result.type
        if _shape(source) != _shape(target):
            raise VerifyException(f"{self.name}: {source} and {target} differ in shape")
        _check_element(self, source, self.SOURCE, "a source of the right kind")
        _check_element(self, target, self.TARGET, "a result of the right kind")


@irdl_op_definition
class ExtSIOp(_Cast):
    """Sign extension (`arith.extsi`)."""

    name = "arith.extsi"
    SOURCE: ClassVar[tuple[type, ...]] = _INT
    TARGET: ClassVar[tuple[type, ...]] = _INT


@irdl_op_definition
class ExtUIOp(_Cast):
    """Zero extension (`arith.extui`)."""

    name = "arith.extui"
    SOURCE: ClassVar[tuple[type, ...]] = _INT
    TARGET: ClassVar[tuple[type, ...]] = _INT


@irdl_op_definition
class TruncIOp(_Cast):
    """Integer truncation (`arith.trunci`)."""

    name = "arith.trunci"
    SOURCE: ClassVar[tuple[type, ...]] = _INT
    TARGET: ClassVar[tuple[type, ...]] = _INT


@irdl_op_definition
class SIToFPOp(_Cast):
    """Signed integer to float (`arith.sitofp`)."""

    name = "arith.sitofp"
    SOURCE: ClassVar[tuple[type, ...]] = _INT
    TARGET: ClassVar[tuple[type, ...]] = _FLOAT


@irdl_op_definition
class UIToFPOp(_Cast):
    """Unsigned integer to float (`arith.uitofp`)."""

    name = "arith.uitofp"
    SOURCE: ClassVar[tuple[type, ...]] = _INT
    TARGET: ClassVar[tuple[type, ...]] = _FLOAT


@irdl_op_definition
class FPToSIOp(_Cast):
    """Float to signed integer, toward zero (`arith.fptosi`)."""

    name = "arith.fptosi"
    SOURCE: ClassVar[tuple[type, ...]] = _FLOAT
    TARGET: ClassVar[tuple[type, ...]] = _INT


@irdl_op_definition
class FPToUIOp(_Cast):
    """Float to unsigned integer, toward zero (`arith.fptoui`)."""

    name = "arith.fptoui"
    SOURCE: ClassVar[tuple[type, ...]] = _FLOAT
    TARGET: ClassVar[tuple[type, ...]] = _INT


@irdl_op_definition
class IndexCastOp(_Cast):
    """`index` <-> integer (`arith.index_cast`), signed."""

    name = "arith.index_cast"
    SOURCE: ClassVar[tuple[type, ...]] = (IntegerType, IndexType)
    TARGET: ClassVar[tuple[type, ...]] = (IntegerType, IndexType)


VECTOR_OPS = (
    CmpiOp, CmpfOp, SelectOp, ExtSIOp, ExtUIOp, TruncIOp,
    SIToFPOp, UIToFPOp, FPToSIOp, FPToUIOp, IndexCastOp,
)  # fmt: skip
"""The ops defined here."""

REPLACES: dict[type[Operation], type[Operation]] = {
    getattr(arith, op.__name__): op for op in VECTOR_OPS
}
"""xDSL's op class -> the one here that takes its place."""

_NAMES = {op.name for op in VECTOR_OPS}

ARITH = Dialect(
    "arith",
    [op for op in arith.Arith.operations if op.name not in _NAMES] + list(VECTOR_OPS),
    list(arith.Arith.attributes),
)
"""xDSL's `arith` dialect with the vector-capable ops in place of its own."""
