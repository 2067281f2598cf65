"""Stage 1: `.tflite` -> `tfl` dialect.

The importer is a table: each TFLite builtin maps to the `tfl` op that mirrors it and
an options mapper that turns the operator's (already checked) options into the op's
properties. Most ops use the generic mapper: every property the op declares is taken
from the TFLite option of the same name, with the schema's default when the model
leaves the options out.

Each subgraph becomes a `func.func` (`@main` for subgraph 0, `@subgraph_<i>` for the
others, which WHILE refers to); constant tensors become `tfl.const` ops with
`dense_resource` data; input and output tensor names are kept as `tfl.name` argument
and result attributes; each op's location is `loc("OUTPUT_NAMES"("FILE":OP_INDEX:SUBGRAPH))`.

A sparse constant (SparsityParameters) is imported dense; how the file stored it is kept on
its `tfl.const` as a discardable `tfl.sparsity` attribute, so that the exporter stores it
the same way again (`tflite_sparsity.SparseFormat`; the index arrays follow from the values):

    tfl.const dense_resource<...> : tensor<16x1x1x24xf16> {tfl.sparsity = {
        traversal_order = array<i32: 0, 1, 2, 3>, block_map = array<i32>,
        format = ["DENSE", "DENSE", "DENSE", "SPARSE_CSR"], dense_size = array<i32: 16, 1, 1, 0>}}

Block dimensions are numbered after the tensor's in `traversal_order`; `dense_size` is per
traversal level, as the file has it. A pass that replaces the constant drops the attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    BoolAttr,
    DenseArrayBase,
    DenseResourceAttr,
    DictionaryAttr,
    FileLineColLoc,
    FloatAttr,
    IntAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    NameLoc,
    NoneAttr,
    NoneType,
    Signedness,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import OptionalDef, VarOperandDef, VarResultDef
from xdsl.irdl.constraints import VerificationContext
from xdsl.utils.exceptions import VerifyException

from litec.dialects import tfl
from litec.dialects.tfl_reference import KERNELS
from litec.ir.diagnostics import LitecError
from litec.ir.quant import UniformQuantizedType
from litec.ir.resources import add_blob
from litec.lowering.tflite_reader import ModelDesc, OperatorDesc, TensorDesc, read_model
from litec.lowering.tflite_sparsity import SPARSITY_ATTR

ELEMENT_TYPES: dict[str, Attribute] = {
    "FLOAT32": f32,
    "FLOAT16": f16,
    "FLOAT64": f64,
    "INT8": i8,
    "UINT8": IntegerType(8, Signedness.UNSIGNED),
    "INT16": i16,
    "UINT16": IntegerType(16, Signedness.UNSIGNED),
    "INT32": i32,
    "UINT32": IntegerType(32, Signedness.UNSIGNED),
    "INT64": i64,
    "BOOL": i1,
}
"""TFLite tensor type -> IR element type (quantized tensors use `!quant.uniform`)."""

KNOWN_CUSTOM_OPS: set[str] = {k.split(":", 1)[1] for k in KERNELS if k.startswith("CUSTOM:")}
"""Custom codes litec gives meaning to: those the reference interpreter has a kernel for."""


def tensor_type(t: TensorDesc) -> TensorType:
    """The IR type of a TFLite tensor."""
    if t.dtype not in ELEMENT_TYPES:
        raise LitecError(f"tensor '{t.name}' has type {t.dtype}, which litec does not support")
    elem = UniformQuantizedType(t.quant) if t.quant is not None else ELEMENT_TYPES[t.dtype]
    return TensorType(elem, t.shape)


# ----------------------------------------------------------------------------- options mappers


def _to_attr(value) -> Attribute:
    if isinstance(value, bool):
        return BoolAttr.from_bool(value)
    if isinstance(value, int):
        return IntegerAttr(value, 32)
    if isinstance(value, float):
        return FloatAttr(float(np.float32(value)), f32)
    if isinstance(value, str):
        return StringAttr(value)
    if isinstance(value, list):
        return DenseArrayBase.from_list(i32, value)
    raise TypeError(f"cannot store option value {value!r}")


_DEFAULTS = {StringAttr: "", IntegerAttr: 0, FloatAttr: 0.0, BoolAttr: False, DenseArrayBase: []}
_ENUM_DEFAULTS = {
    "fused_activation_function": "NONE",
    "padding": "SAME",
    "weights_format": "DEFAULT",
    "output_type": "INT64",
}


def generic_options(op_cls: type[tfl.TflOp], desc: OperatorDesc, ctx: _Importer) -> dict:
    """Every required property of the op, from the TFLite option of the same name."""
    props = {}
    for name, prop in op_cls.get_irdl_definition().properties.items():
        if name in desc.options:
            props[name] = _to_attr(desc.options[name])
        elif isinstance(prop, OptionalDef):
            continue
        else:
            base = getattr(prop.constr, "attr", None)
            props[name] = _to_attr(_ENUM_DEFAULTS.get(name, _DEFAULTS.get(base, 0)))
    return props


def while_options(op_cls, desc: OperatorDesc, ctx: _Importer) -> dict:
    """WHILE refers to its cond and body subgraphs by function symbol."""
    n = len(ctx.model.subgraphs)
    props = {}
    for key, prop in (("cond_subgraph_index", "cond"), ("body_subgraph_index", "body")):
        index = desc.options.get(key, -1)
        if not 0 < index < n:
            raise LitecError(f"{key} {index} is not a subgraph of this model")
        props[prop] = SymbolRefAttr(function_name(index))
    return props


def lstm_options(op_cls, desc: OperatorDesc, ctx: _Importer) -> dict:
    """The generic options, plus the intermediate tensors that carry gate scales."""
    props = generic_options(op_cls, desc, ctx)
    if desc.intermediates:
        types = [tensor_type(ctx.tensors[i]) for i in desc.intermediates]
        props["intermediates"] = ArrayAttr(types)
    return props


def custom_options(op_cls, desc: OperatorDesc, ctx: _Importer) -> dict:
    """A custom op is known by its code; its option bytes are kept as hex."""
    if desc.custom_code not in KNOWN_CUSTOM_OPS:
        raise LitecError("custom operators are not supported")
    props = {"custom_code": StringAttr(desc.custom_code)}
    if desc.custom_options:
        props["custom_options"] = StringAttr(desc.custom_options.hex())
    return props


OptionsMapper = Callable[[type[tfl.TflOp], OperatorDesc, "_Importer"], dict]

IMPORT_TABLE: dict[str, tuple[type[tfl.TflOp], OptionsMapper]] = {
    builtin: (op_cls, generic_options) for builtin, op_cls in tfl.BUILTIN_OPS.items()
}
"""TFLite builtin -> (tfl op class, options mapper)."""
IMPORT_TABLE["WHILE"] = (tfl.WhileOp, while_options)
IMPORT_TABLE["UNIDIRECTIONAL_SEQUENCE_LSTM"] = (tfl.UnidirectionalSequenceLSTMOp, lstm_options)
IMPORT_TABLE["CUSTOM"] = (tfl.CustomOp, custom_options)


def function_name(subgraph_index: int) -> str:
    """The function a subgraph becomes."""
    return "main" if subgraph_index == 0 else f"subgraph_{subgraph_index}"


# ----------------------------------------------------------------------------- the importer


def _split_by_defs(defs, values: list, what: str) -> list:
    """Group values for an IRDL builder: one each for single defs, the rest for the var def."""
    n_single = sum(1 for _, d in defs if not isinstance(d, VarOperandDef | VarResultDef))
    has_var = len(defs) > n_single
    if len(values) < n_single or (not has_var and len(values) != n_single):
        expected = f"at least {n_single}" if has_var else str(n_single)
        raise LitecError(f"expects {expected} {what}, has {len(values)}")
    grouped, pos = [], 0
    for _, d in defs:
        if isinstance(d, VarOperandDef | VarResultDef):
            take = len(values) - n_single
            grouped.append(values[pos : pos + take])
            pos += take
        else:
            grouped.append(values[pos])
            pos += 1
    return grouped


def _accepts_none(d) -> bool:
    try:
        d.constr.verify((NoneType(),), VerificationContext())
    except VerifyException:
        return False
    return True


def _missing_optional(defs, n_given: int) -> int:
    """How many trailing optional inputs (TFLite may omit them) are absent."""
    if any(isinstance(d, VarOperandDef) for _, d in defs):
        return 0
    missing = 0
    for _, d in list(defs)[n_given:]:
        if not _accepts_none(d):
            return 0
        missing += 1
    return missing


class _Importer:
    """Builds the functions of one model."""

    def __init__(self, model: ModelDesc, stem: str):
        self.model = model
        self.stem = stem
        self.file = Path(model.path).name
        self.tensors: list[TensorDesc] = []

    def module(self) -> ModuleOp:
        funcs = [self.function(i) for i in range(len(self.model.subgraphs))]
        attrs = {
            "tfl.source": StringAttr(self.file),
            "tfl.sha256": StringAttr(self.model.sha256),
            "tfl.schema_version": IntegerAttr(self.model.version, 32),
            "tfl.description": StringAttr(self.model.description),
        }
        return ModuleOp(funcs, attributes=attrs)

    def function(self, index: int) -> func.FuncOp:
        sg = self.model.subgraphs[index]
        self.tensors = sg.tensors
        self.subgraph = index
        in_types = [tensor_type(sg.tensors[t]) for t in sg.inputs]
        out_types = [tensor_type(sg.tensors[t]) for t in sg.outputs]

        def names(indices):
            return ArrayAttr(
                [DictionaryAttr({"tfl.name": StringAttr(sg.tensors[t].name)}) for t in indices]
            )

        fn = func.FuncOp(
            function_name(index),
            (in_types, out_types),
            arg_attrs=names(sg.inputs),
            res_attrs=names(sg.outputs),
        )
        self.block = fn.body.block
        self.values: dict[int, SSAValue] = dict(zip(sg.inputs, self.block.args, strict=True))
        for op in sg.operators:
            self.operator(op)
        self.block.add_op(func.ReturnOp(*[self.value(t) for t in sg.outputs]))
        return fn

    def value(self, t: int) -> SSAValue:
        """The SSA value of tensor `t`, creating its constant / no-value / variable op."""
        if t in self.values:
            return self.values[t]
        if t == -1:
            op = tfl.NoValueOp.build(result_types=[NoneType()])
        else:
            desc = self.tensors[t]
            ty = tensor_type(desc)
            if desc.is_constant:
                handle = add_blob(f"{self.stem}_sg{self.subgraph}_t{t}", desc.data)
                op = tfl.ConstOp(DenseResourceAttr.from_params(handle, ty))
                if desc.sparse_format is not None:
                    op.attributes[SPARSITY_ATTR] = desc.sparse_format.to_attr()
            elif desc.is_variable:
                op = tfl.VariableOp.build(result_types=[ty])
            else:
                raise LitecError(f"tensor '{desc.name}' is used before any operator produces it")
            op.location = NameLoc(StringAttr(desc.name), NoneAttr())
        self.block.add_op(op)
        self.values[t] = op.results[0]
        return op.results[0]

    def location_of(self, op_index: int):
        return FileLineColLoc(StringAttr(self.file), IntAttr(op_index), IntAttr(self.subgraph))

    def operator(self, desc: OperatorDesc) -> None:
        try:
            self.build(desc)
        except LitecError as e:
            e.subgraph = self.subgraph
            raise e.at(
                file=self.model.path, op_index=desc.index, op_name=desc.display_name
            ) from None

    def build(self, desc: OperatorDesc) -> None:
        if desc.builtin not in IMPORT_TABLE:
            raise LitecError("litec does not support this operator")
        op_cls, mapper = IMPORT_TABLE[desc.builtin]
        op_def = op_cls.get_irdl_definition()
        props = mapper(op_cls, desc, self)
        inputs = list(desc.inputs) + [-1] * _missing_optional(op_def.operands, len(desc.inputs))
        operands = _split_by_defs(op_def.operands, [self.value(t) for t in inputs], "inputs")
        out_types = [tensor_type(self.tensors[t]) for t in desc.outputs]
        results = _split_by_defs(op_def.results, out_types, "outputs")
        op = op_cls.build(operands=operands, result_types=results, properties=props)
        out_names = ", ".join(self.tensors[t].name for t in desc.outputs)
        op.location = NameLoc(StringAttr(out_names), self.location_of(desc.index))
        try:
            op.verify()
        except VerifyException as e:
            raise LitecError(f"inconsistent operator: {' '.join(str(e).split())}") from None
        self.block.add_op(op)
        for t, r in zip(desc.outputs, op.results, strict=True):
            self.values[t] = r


def import_model(model: ModelDesc) -> ModuleOp:
    """Lower a checked model to a module of `tfl` functions."""
    stem = Path(model.path).stem.replace("-", "_").replace(".", "_") + "_" + model.sha256[:8]
    try:
        return _Importer(model, stem).module()
    except LitecError as e:
        raise e.at(file=model.path) from None


def load_tflite(path: str | Path) -> ModuleOp:
    """Read, check and import a `.tflite` file."""
    return import_model(read_model(path))
