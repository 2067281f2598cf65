"""`tfl` dialect -> `.tflite`: the inverse of `import_tflite` (what `litec quantize` writes).

The exporter is a table like the importer's: each `tfl` op class maps to a fields mapper
that turns the op's properties back into the TFLite operator's options (and, for WHILE,
LSTM and CUSTOM, the subgraph indices, intermediate tensors and custom option bytes).
The generic mapper is the importer's generic one read backwards: every property is the
option field of the same name in the builtin's options table, enums by name.

    @main, @subgraph_<i>     -> subgraphs (main first, the others in module order)
    func arguments/results   -> subgraph inputs/outputs, named by their `tfl.name`
    tfl.const                -> a tensor with a buffer (equal bytes share one; 16-byte aligned);
                                stored sparse when a DENSIFY reads it: in the format its
                                `tfl.sparsity` keeps (see import_tflite), else all dimensions DENSE
    tfl.variable             -> a variable tensor;  tfl.no_value -> tensor index -1
    tfl.<op>                 -> an operator, in function order; outputs named by the location

Operator codes carry `deprecated_builtin_code = min(code, 127)` and the largest version
any of their ops needs by TFLite's op_version.cc rules (`MIN_VERSIONS`, `OPTION_VERSIONS`,
`OPERAND_VERSIONS`): on the corpus, the versions TFLite's converter wrote. The model has
version 3, a description and one SignatureDef ("serving_default") for `@main`. Anything
A `fused.elementwise` op is written as the ops of its body (what fuse-elementwise took in).
Anything else (a non-tensor type, an op in another layout than TFLite's NHWC) is a
`LitecError` naming the op.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.TensorType import TensorType as TflTensorType
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    NameLoc,
    StringAttr,
    TensorType,
    f16,
    f32,
    i1,
    i32,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue

from litec.dialects import fused, tfl
from litec.dialects.tfl_layouts import NHWC, layout_of
from litec.dialects.tfl_reference.core import op_index, prop_value, signature
from litec.ir.diagnostics import LitecError
from litec.ir.quant import quant_params
from litec.ir.resources import get_blob
from litec.lowering.import_tflite import ELEMENT_TYPES, function_name
from litec.lowering.tflite_reader import NUMPY_DTYPES, OPTION_ENUMS, QUANT_STORAGE, options_table
from litec.lowering.tflite_sparsity import SPARSITY_ATTR, SparseFormat, SparseTensor, sparsify
from litec.lowering.tflite_writer import TableWriter, option_setter, schema

SIGNATURE_KEY = "serving_default"

TENSOR_TYPE_NAMES: dict[Attribute, str] = {elem: name for name, elem in ELEMENT_TYPES.items()}
"""IR element type -> TFLite TensorType name (the importer's table, inverted)."""

QUANT_TYPE_NAMES = {storage: name for name, storage in QUANT_STORAGE.items()}
"""Storage type of a `!quant.uniform` -> TFLite TensorType name (the reader's, inverted)."""

ENUM_VALUES = {
    key: {name: value for value, name in names.items()} for key, names in OPTION_ENUMS.items()
}
"""Option fields kept as enum names -> {name: schema value}."""

_INT8_V2 = (
    "ADD", "SUB", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION", "SOFTMAX",
    "LOGISTIC", "TANH", "MEAN", "SUM", "REDUCE_MAX", "PAD", "PADV2", "TRANSPOSE",
    "STRIDED_SLICE", "SLICE", "GATHER", "SPLIT", "PACK", "UNPACK", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "ARG_MAX",
    "LESS", "GREATER", "EQUAL", "BATCH_MATMUL", "GELU", "DEQUANTIZE", "RELU", "RELU6", "ABS",
    "LOG_SOFTMAX", "L2_NORMALIZATION", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "TRANSPOSE_CONV",
)  # fmt: skip
_INT16_V3 = (
    "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION", "SOFTMAX", "LOGISTIC", "TANH", "MEAN",
    "REDUCE_MAX", "RELU6", "RSQRT", "RELU", "PAD", "PADV2", "BATCH_MATMUL", "LESS",
    "DEQUANTIZE", "PACK", "ABS",
)  # fmt: skip

MIN_VERSIONS: dict[str, dict[str, int]] = {
    "int8": {**dict.fromkeys(_INT8_V2, 2), "CONV_2D": 3, "DEPTHWISE_CONV_2D": 3,
             "FULLY_CONNECTED": 4, "SVDF": 3},
    "int16": {**dict.fromkeys(_INT16_V3, 3), "ADD": 3, "SUB": 3, "MUL": 4, "CONV_2D": 4,
              "DEPTHWISE_CONV_2D": 5, "FULLY_CONNECTED": 7, "TRANSPOSE": 5, "GATHER": 4,
              "SPLIT": 4, "SLICE": 4, "UNPACK": 4, "MAXIMUM": 4, "MINIMUM": 4, "EQUAL": 4,
              "RESIZE_BILINEAR": 4, "RESIZE_NEAREST_NEIGHBOR": 4, "LEAKY_RELU": 2,
              "QUANTIZE": 2, "UNIDIRECTIONAL_SEQUENCE_LSTM": 5, "TRANSPOSE_CONV": 3},
    "hybrid": {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 4, "FULLY_CONNECTED": 3, "SVDF": 2,
               "UNIDIRECTIONAL_SEQUENCE_LSTM": 2},
    "float16": {"DEQUANTIZE": 3},
    "int32": {"SPLIT": 3, "ABS": 5},
    "int64": {"ADD": 4, "SUB": 4, "MUL": 5},
    "bool": {"GATHER": 3, "TRANSPOSE": 3, "STRIDED_SLICE": 3, "UNPACK": 3, "ARG_MAX": 3},
}  # fmt: skip
MIN_VERSIONS["int8 per-axis"] = {**MIN_VERSIONS["int8"], "DEQUANTIZE": 5, "QUANTIZE": 3}
MIN_VERSIONS["hybrid per-axis"] = {
    **MIN_VERSIONS["hybrid"],
    "CONV_2D": 5,
    "DEPTHWISE_CONV_2D": 6,
    "FULLY_CONNECTED": 12,
}
"""Operator versions from TFLite's op_version.cc by the kind of the op's tensors (see
`type_kind`; absent: version 1)."""

OPTION_VERSIONS: dict[tuple[str, str], tuple[object, int]] = {
    ("DEPTHWISE_CONV_2D", "dilation_h_factor"): (1, 2),
    ("DEPTHWISE_CONV_2D", "dilation_w_factor"): (1, 2),
    ("TRANSPOSE_CONV", "fused_activation_function"): ("NONE", 4),
    ("FULLY_CONNECTED", "keep_num_dims"): (False, 5),
    ("FULLY_CONNECTED", "asymmetric_quantize_inputs"): (False, 9),
    ("SVDF", "asymmetric_quantize_inputs"): (False, 4),
    ("BATCH_MATMUL", "asymmetric_quantize_inputs"): (False, 4),
    ("UNIDIRECTIONAL_SEQUENCE_LSTM", "asymmetric_quantize_inputs"): (False, 3),
    ("UNIDIRECTIONAL_SEQUENCE_LSTM", "diagonal_recurrent_tensors"): (False, 4),
    ("GATHER", "batch_dims"): (0, 5),
    ("STRIDED_SLICE", "ellipsis_mask"): (0, 6),
    ("STRIDED_SLICE", "new_axis_mask"): (0, 6),
    ("STRIDED_SLICE", "offset"): (False, 8),
    ("RESIZE_BILINEAR", "half_pixel_centers"): (False, 3),
    ("RESIZE_NEAREST_NEIGHBOR", "half_pixel_centers"): (False, 3),
    ("RESIZE_NEAREST_NEIGHBOR", "align_corners"): (False, 3),
}
"""(builtin, option) -> (its plain value, the version an op needs when it differs)."""

OPERAND_VERSIONS: dict[tuple[str, str], int] = {("TRANSPOSE_CONV", "bias"): 3}
"""(builtin, optional operand) -> the version an op needs when the operand is present."""

COUNTED_INPUTS = {"RESHAPE", "DEPTHWISE_CONV_2D"}
"""Builtins whose TFLite kernel tells an absent optional input by the number of inputs and
rejects a -1 ("Tensor at index 2 was optional but was expected"); other kernels take -1
(and FULLY_CONNECTED needs version 6 for two inputs), so the -1 is written for them."""

_ELEMENT_KINDS = {i32: "int32", i64: "int64", i1: "bool", f16: "float16"}


def type_kind(op: Operation) -> str:
    """How an op is typed, for `MIN_VERSIONS`, as op_version.cc tells it: by its data input
    (`input`, else the first operand) and first result: int16, or int8 (uint8 too) when
    either is quantized so; hybrid for float results from int8 weights; "per-axis" added
    when those quantized tensors are; else by the data input's element type."""
    data = getattr(op, "input", None) or (op.operands[0] if op.operands else None)
    data_type = data.type if data is not None else None
    out_type = op.results[0].type if op.results else None
    ends = [q for q in map(quant_params, (data_type, out_type)) if q is not None]
    if any(q.storage == "i16" for q in ends):
        return "int16"
    if any(q.storage in ("i8", "u8") for q in ends):
        return _per_axis("int8", ends)
    weights = [q for v in op.operands if (q := quant_params(v.type)) is not None]
    if weights and getattr(out_type, "element_type", None) == f32:
        return _per_axis("hybrid", weights)
    return _ELEMENT_KINDS.get(getattr(data_type, "element_type", None), "float")


def _per_axis(kind: str, quants: list) -> str:
    return f"{kind} per-axis" if any(q.axis is not None for q in quants) else kind


def op_version(op: tfl.TflOp) -> int:
    """The operator version to write for an op: its types' version, raised by the options
    and operands that need a later one."""
    builtin = type(op).BUILTIN
    versions = [MIN_VERSIONS.get(type_kind(op), {}).get(builtin, 1)]
    for (name, prop), (plain, version) in OPTION_VERSIONS.items():
        if name == builtin and prop in op.properties and _value(op.properties[prop]) != plain:
            versions.append(version)
    for (name, operand), version in OPERAND_VERSIONS.items():
        if name == builtin and isinstance(getattr(op, operand).type, TensorType):
            versions.append(version)
    return max(versions)


# ----------------------------------------------------------------------------- fields mappers


@dataclass
class OperatorFields:
    """What an op writes into its Operator table besides inputs and outputs."""

    options: dict = field(default_factory=dict)
    """Option field (snake_case) -> int, float, bool, enum name or list of ints."""
    custom_code: str = ""
    custom_options: bytes = b""
    intermediates: list[int] = field(default_factory=list)


OPTION_ATTRIBUTES = (IntegerAttr, FloatAttr, StringAttr, DenseArrayBase)
"""The property kinds an options table holds (numbers, booleans, enum names, int lists)."""


def _value(attr: Attribute):
    """A property as a plain option value."""
    if not isinstance(attr, OPTION_ATTRIBUTES):
        raise LitecError(f"cannot write the property value {attr} as a TFLite option")
    return prop_value(attr)


def _options(props: dict[str, Attribute]) -> dict:
    return {name: _value(attr) for name, attr in props.items()}


def generic_fields(op: tfl.TflOp, sg: _SubgraphWriter) -> OperatorFields:
    """Every property is the TFLite option of the same name."""
    return OperatorFields(_options(op.properties))


def while_fields(op: tfl.WhileOp, sg: _SubgraphWriter) -> OperatorFields:
    """WHILE names its cond and body functions by subgraph index."""
    return OperatorFields(
        {
            "cond_subgraph_index": sg.model.subgraph_index(op.cond.root_reference.data),
            "body_subgraph_index": sg.model.subgraph_index(op.body.root_reference.data),
        }
    )


def lstm_fields(op: tfl.UnidirectionalSequenceLSTMOp, sg: _SubgraphWriter) -> OperatorFields:
    """The generic options; the `intermediates` types become intermediate tensors."""
    props = dict(op.properties)
    kept = props.pop("intermediates", None)
    fields = OperatorFields(_options(props))
    if isinstance(kept, ArrayAttr):
        base = sg.output_names(op)[0]
        fields.intermediates = [
            sg.add_tensor(t, f"{base}/intermediate_{k}") for k, t in enumerate(kept.data)
        ]
    return fields


def custom_fields(op: tfl.CustomOp, sg: _SubgraphWriter) -> OperatorFields:
    """A custom op: its code and its option bytes (kept as hex)."""
    options = op.custom_options.data if op.custom_options is not None else ""
    return OperatorFields(custom_code=op.custom_code.data, custom_options=bytes.fromhex(options))


def reshape_fields(op: tfl.ReshapeOp, sg: _SubgraphWriter) -> OperatorFields:
    """RESHAPE also gets `new_shape`: TFLite reads it when the shape input is absent."""
    return OperatorFields({"new_shape": list(op.output.type.get_shape())})


FieldsMapper = Callable[[tfl.TflOp, "_SubgraphWriter"], OperatorFields]

EXPORT_TABLE: dict[type[tfl.TflOp], FieldsMapper] = {
    op_cls: generic_fields for op_cls in tfl.BUILTIN_OPS.values()
}
"""tfl op class -> fields mapper (the importer's IMPORT_TABLE read backwards)."""
EXPORT_TABLE[tfl.WhileOp] = while_fields
EXPORT_TABLE[tfl.UnidirectionalSequenceLSTMOp] = lstm_fields
EXPORT_TABLE[tfl.CustomOp] = custom_fields
EXPORT_TABLE[tfl.ReshapeOp] = reshape_fields


# ----------------------------------------------------------------------------- the writer


def tensor_type_name(t: Attribute, name: str) -> str:
    """The TFLite TensorType name of an IR tensor type."""
    if not isinstance(t, TensorType):
        raise LitecError(f"value '{name}' of type {t} is not a tensor TFLite can hold")
    q = quant_params(t)
    if q is not None:
        return QUANT_TYPE_NAMES[q.storage]
    if t.element_type not in TENSOR_TYPE_NAMES:
        raise LitecError(f"tensor '{name}' has element type {t.element_type}, not a TFLite type")
    return TENSOR_TYPE_NAMES[t.element_type]


def _itemsize(type_name: str) -> int:
    return np.dtype(NUMPY_DTYPES[type_name]).itemsize


def _names_of(op: Operation) -> list[str] | None:
    """Output tensor names the importer recorded in the location ("a, b" for several)."""
    if not isinstance(op.location, NameLoc):
        return None
    text = op.location.desc.data
    names = text.split(", ") if len(op.results) > 1 else [text]
    return names if len(names) == len(op.results) else None


class _ModelWriter(TableWriter):
    """Writes one module into a FlatBuffers builder, children before parents."""

    def __init__(self, module: ModuleOp):
        super().__init__(1 << 16)
        self.module = module
        self.buffers: dict[bytes, int] = {b"": 0}  # buffer 0: the empty buffer, by convention
        self.data: list[bytes] = [b""]
        self.opcodes: dict[tuple[int, str], int] = {}  # (code, custom code) -> index
        self.versions: list[int] = []
        others = [op.name for op in module.ops if not isinstance(op, func.FuncOp)]
        if others:
            raise LitecError(f"the module holds '{others[0]}', which is not a function")
        funcs = list(module.ops)
        main = [f for f in funcs if f.sym_name.data == function_name(0)]
        self.functions = main + [f for f in funcs if f.sym_name.data != function_name(0)]

    def subgraph_index(self, name: str) -> int:
        for i, fn in enumerate(self.functions):
            if fn.sym_name.data == name:
                return i
        raise LitecError(f"refers to @{name}, which is not a function of the module")

    def buffer(self, data: bytes) -> int:
        """The buffer holding constant data (constants with equal bytes share one)."""
        if data not in self.buffers:
            self.buffers[data] = len(self.data)
            self.data.append(data)
        return self.buffers[data]

    def opcode(self, op: tfl.TflOp, custom_code: str) -> int:
        """The operator code index of an op: one per builtin and custom code, with the
        largest version any of its ops needs."""
        key = (getattr(BuiltinOperator, type(op).BUILTIN), custom_code)
        if key not in self.opcodes:
            self.opcodes[key] = len(self.versions)
            self.versions.append(1)
        index = self.opcodes[key]
        self.versions[index] = max(self.versions[index], op_version(op))
        return index

    # ------------------------------------------------------------------ vectors

    # ------------------------------------------------------------------ tables

    def options(self, builtin: str, options: dict) -> tuple[int, int]:
        """(BuiltinOptions type, table offset) of an op's options; (0, 0) without a table."""
        table = options_table(builtin)
        if table is None:
            if options:
                raise LitecError(
                    f"has options {sorted(options)}, but TFLite's {builtin} takes none"
                )
            return 0, 0
        module = schema(table)
        values = []
        for key, value in options.items():
            setter = option_setter(module, table, key)
            if isinstance(value, list):
                value = self.ints(value)
            elif isinstance(value, str):
                value = self.enum(key, value)
            values.append((setter, value))
        getattr(module, table + "Start")(self.b)
        for setter, value in values:
            setter(self.b, value)
        return getattr(BuiltinOptions, table), getattr(module, table + "End")(self.b)

    def enum(self, key: str, name: str) -> int:
        if name not in ENUM_VALUES.get(key, {}):
            raise LitecError(f"option '{key}' = '{name}' is not a value TFLite knows")
        return ENUM_VALUES[key][name]

    def quantization(self, t: TensorType) -> int | None:
        q = quant_params(t)
        if q is None:
            return None
        return self.quantization_table(q.scale_array(), q.zero_points, q.axis or 0)

    def constant(self, op: tfl.ConstOp, name: str) -> tuple[int, SparseTensor | None]:
        """(buffer, sparse encoding) of a constant. A DENSIFY needs a sparse input: the
        constant is stored in the format its `tfl.sparsity` keeps, else every dimension DENSE."""
        t, data = op.output.type, get_blob(op.value.resource_handle.data)
        type_name = tensor_type_name(t, name)
        if len(data) != t.element_count() * _itemsize(type_name):
            raise LitecError(
                f"constant '{name}' has {len(data)} bytes of data, "
                f"its type {t} needs {t.element_count() * _itemsize(type_name)}"
            )
        if not any(isinstance(use.operation, tfl.DensifyOp) for use in op.output.uses):
            return self.buffer(data), None
        dense = np.frombuffer(data, dtype=NUMPY_DTYPES[type_name]).reshape(t.get_shape())
        try:
            fmt = SparseFormat.dense(dense.shape)
            if (kept := op.attributes.get(SPARSITY_ATTR)) is not None:
                fmt = SparseFormat.from_attr(kept, dense.ndim)
            sparse = sparsify(fmt, dense)
        except ValueError as e:
            message = f"constant '{name}' cannot be stored in its {SPARSITY_ATTR} format: {e}"
            raise LitecError(message) from None
        return self.buffer(sparse.values), sparse

    def tensor(
        self,
        t: Attribute,
        name: str,
        buffer: int = 0,
        is_variable: bool = False,
        sparse: SparseTensor | None = None,
    ) -> int:
        """A Tensor table (`buffer` 0: no data; `sparse`: how the buffer stores it)."""
        type_name = tensor_type_name(t, name)
        T = schema("Tensor")
        name_off = self.b.CreateString(name)
        shape = self.ints(t.get_shape())
        quant = self.quantization(t)
        sparsity = self.sparsity_table(sparse) if sparse is not None else None
        T.TensorStart(self.b)
        T.TensorAddShape(self.b, shape)
        T.TensorAddType(self.b, getattr(TflTensorType, type_name))
        T.TensorAddBuffer(self.b, buffer)
        T.TensorAddName(self.b, name_off)
        if quant is not None:
            T.TensorAddQuantization(self.b, quant)
        if sparsity is not None:
            T.TensorAddSparsity(self.b, sparsity)
        T.TensorAddIsVariable(self.b, is_variable)
        return T.TensorEnd(self.b)

    def tensor_maps(self, names: list[str], indices: list[int]) -> int:
        M = schema("TensorMap")
        maps = []
        for name, index in zip(names, indices, strict=True):
            name_off = self.b.CreateString(name)
            M.TensorMapStart(self.b)
            M.TensorMapAddName(self.b, name_off)
            M.TensorMapAddTensorIndex(self.b, index)
            maps.append(M.TensorMapEnd(self.b))
        return self.tables(maps)

    def signature_def(self, inputs: list[int], outputs: list[int]) -> int:
        """The SignatureDef of @main: names as the reference interpreter reports them."""
        sig = signature(self.module, function_name(0))
        ins = self.tensor_maps([n for n, _ in sig.inputs], inputs)
        outs = self.tensor_maps([n for n, _ in sig.outputs], outputs)
        key = self.b.CreateString(SIGNATURE_KEY)
        S = schema("SignatureDef")
        S.SignatureDefStart(self.b)
        S.SignatureDefAddInputs(self.b, ins)
        S.SignatureDefAddOutputs(self.b, outs)
        S.SignatureDefAddSignatureKey(self.b, key)
        S.SignatureDefAddSubgraphIndex(self.b, 0)
        return S.SignatureDefEnd(self.b)

    def model(self, description: str) -> bytes:
        if not self.functions or self.functions[0].sym_name.data != function_name(0):
            raise LitecError("the module has no function @main to write as subgraph 0")
        writers = [_SubgraphWriter(self, i, fn) for i, fn in enumerate(self.functions)]
        subgraphs = [w.write() for w in writers]
        signature_def = self.signature_def(writers[0].inputs, writers[0].outputs)
        codes = [
            self.opcode_table(code, custom, self.versions[i])
            for (code, custom), i in self.opcodes.items()
        ]
        buffers = [self.buffer_table(data) for data in self.data]
        return self.finish_model(subgraphs, codes, buffers, description, [signature_def])


class _SubgraphWriter:
    """Writes one function as a subgraph: tensors in order of definition, then operators."""

    def __init__(self, model: _ModelWriter, index: int, fn: func.FuncOp):
        self.model = model
        self.b = model.b
        self.index = index
        self.fn = fn
        self.tensors: list[int] = []
        self.operators: list[int] = []
        self.values: dict[SSAValue, int] = {}
        self.result_names: dict[SSAValue, str] = {}
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def add_tensor(self, t: Attribute, name: str, **kind) -> int:
        """A new tensor; `kind`: buffer, is_variable, sparse (see `_ModelWriter.tensor`)."""
        self.tensors.append(self.model.tensor(t, name, **kind))
        return len(self.tensors) - 1

    def define(self, value: SSAValue, name: str, **kind) -> None:
        """The tensor of a value (a function result's name wins over the location's)."""
        name = self.result_names.get(value, name)
        self.values[value] = self.add_tensor(value.type, name, **kind)

    def output_names(self, op: Operation) -> list[str]:
        """Names of an op's output tensors: from its location, else `<op>_<index>:<k>`."""
        names = _names_of(op)
        if names is not None:
            return names
        index = op_index(op)
        base = f"{op.name}_{len(self.operators) if index is None else index}"
        return [f"{base}:{k}" for k in range(len(op.results))]

    def write(self) -> int:
        fn = self.fn
        ret = fn.body.block.last_op
        names = _attr_names(fn.res_attrs, len(fn.function_type.outputs))
        if isinstance(ret, func.ReturnOp):
            for value, name in zip(ret.arguments, names, strict=True):
                self.result_names.setdefault(value, name)
        in_names = _attr_names(fn.arg_attrs, len(fn.function_type.inputs))
        for arg, name in zip(fn.body.block.args, in_names, strict=True):
            self.define(arg, name)
        self.inputs = [self.values[a] for a in fn.body.block.args]
        for op in fn.body.block.ops:
            try:
                self.op(op)
            except LitecError as e:
                e.subgraph = self.index
                raise e.at(op_index=op_index(op), op_name=_display_name(op)) from None
        return self.subgraph_table()

    def op(self, op: Operation) -> None:
        """One op: a tensor for a constant or variable, an Operator for a builtin."""
        if isinstance(op, func.ReturnOp):
            self.outputs = [self.values[v] for v in op.arguments]
        elif isinstance(op, tfl.NoValueOp):
            self.values[op.output] = -1
        elif isinstance(op, tfl.ConstOp):
            name = self.result_names.get(op.output, self.output_names(op)[0])
            buffer, sparse = self.model.constant(op, name)
            self.define(op.output, name, buffer=buffer, sparse=sparse)
        elif isinstance(op, tfl.VariableOp):
            self.define(op.output, self.output_names(op)[0], is_variable=True)
        elif isinstance(op, fused.ElementwiseOp):
            self.fused_elementwise(op)
        elif type(op) in EXPORT_TABLE:
            self.operator(op)
        else:
            raise LitecError("is not a TFLite operator and cannot be written to a .tflite file")

    def fused_elementwise(self, op: fused.ElementwiseOp) -> None:
        """A fused chain written as the `tfl` ops of its body (TFLite has no fused op): the
        body's arguments are the operands' tensors, its yielded values the results'."""
        block = op.body.block
        yielded = block.last_op.operands
        self.values.update(zip(block.args, (self.values[v] for v in op.operands), strict=True))
        for inner, result in zip(yielded, op.results, strict=True):
            if result in self.result_names:
                self.result_names.setdefault(inner, self.result_names[result])
        for inner in op.inner_ops():
            self.operator(inner)
        self.values.update(zip(op.results, (self.values[v] for v in yielded), strict=True))

    def operator(self, op: tfl.TflOp) -> None:
        if (layout := layout_of(op)) != NHWC:
            back = f'convert-layout{{layouts="{op.name.removeprefix("tfl.")}=NHWC"}}'
            raise LitecError(f"is in {layout}; TFLite ops are NHWC: run {back} first")
        fields = EXPORT_TABLE[type(op)](op, self)
        inputs = _trim_absent(op, [self.values[v] for v in op.operands])
        for r, name in zip(op.results, self.output_names(op), strict=True):
            self.define(r, name)
        self.operators.append(
            self.model.operator_table(
                self.model.opcode(op, fields.custom_code),
                inputs,
                [self.values[r] for r in op.results],
                self.model.options(type(op).BUILTIN, fields.options),
                fields.custom_options,
                fields.intermediates,
            )
        )

    def subgraph_table(self) -> int:
        S = schema("SubGraph")
        tensors = self.model.tables(self.tensors)
        operators = self.model.tables(self.operators)
        ins, outs = self.model.ints(self.inputs), self.model.ints(self.outputs)
        name = self.b.CreateString(self.fn.sym_name.data)
        S.SubGraphStart(self.b)
        S.SubGraphAddTensors(self.b, tensors)
        S.SubGraphAddOperators(self.b, operators)
        S.SubGraphAddInputs(self.b, ins)
        S.SubGraphAddOutputs(self.b, outs)
        S.SubGraphAddName(self.b, name)
        return S.SubGraphEnd(self.b)


def _attr_names(attrs: ArrayAttr | None, count: int) -> list[str]:
    """The `tfl.name` of each argument or result ("" when it has none)."""
    names = []
    for i in range(count):
        entry = attrs.data[i].data if attrs is not None else {}
        name = entry.get("tfl.name")
        names.append(name.data if isinstance(name, StringAttr) else "")
    return names


def _trim_absent(op: tfl.TflOp, inputs: list[int]) -> list[int]:
    """Trailing absent inputs are left out for the builtins in `COUNTED_INPUTS` (the
    importer puts the no_value back)."""
    if type(op).BUILTIN not in COUNTED_INPUTS:
        return inputs
    while inputs and inputs[-1] == -1:
        inputs = inputs[:-1]
    return inputs


def _display_name(op: Operation) -> str:
    """How errors name an op: its builtin (CUSTOM with its code), else its IR name."""
    if isinstance(op, tfl.CustomOp):
        return f"CUSTOM '{op.custom_code.data}'"
    return type(op).BUILTIN if type(op) in EXPORT_TABLE else op.name


def export_tflite(module: ModuleOp, description: str | None = None) -> bytes:
    """The bytes of a `.tflite` model TFLite can run, written from a module of `tfl` functions.

    `description` defaults to the imported model's (`tfl.description`)."""
    if description is None:
        kept = module.attributes.get("tfl.description")
        description = kept.data if isinstance(kept, StringAttr) else "written by litec"
    source = module.attributes.get("tfl.source")
    try:
        return _ModelWriter(module).model(description)
    except LitecError as e:
        raise e.at(file=source.data if isinstance(source, StringAttr) else None) from None
