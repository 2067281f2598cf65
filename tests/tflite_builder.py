"""Tiny `.tflite` files for tests, written with the `tflite` package's FlatBuffers builders.

    from tflite_builder import Tensor, Op, build_model
    data = build_model(
        tensors=[Tensor("a", (1, 4)), Tensor("b", (1, 4)), Tensor("y", (1, 4))],
        ops=[Op("ADD", ["a", "b"], ["y"], {"fused_activation_function": "RELU"})],
        inputs=["a", "b"],
        outputs=["y"],
    )
    path.write_bytes(data)

Tensors are referred to by index or by name; -1 (or None) is an absent optional input.
A tensor with `data` is a constant (its own buffer); `scales` makes it quantized.
Options are the schema's field names in snake_case, enums by name ("RELU6", "SAME") or
value, lists become vectors; the options table is the one the reader expects for the
builtin (`options_table`; `options_type` overrides it). A builtin may also be an int, to
write an operator code no TFLite version knows. Nothing is validated: tests of bad input build bad models on
purpose (a zero scale, a -1 in a shape, an out-of-range zero point).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.FullyConnectedOptionsWeightsFormat import FullyConnectedOptionsWeightsFormat
from tflite.LSTMKernelType import LSTMKernelType
from tflite.MirrorPadMode import MirrorPadMode
from tflite.Padding import Padding
from tflite.TensorType import TensorType

from litec.lowering.tflite_reader import options_table
from litec.lowering.tflite_writer import TableWriter, option_setter, schema

OPTION_ENUMS = {
    "fused_activation_function": ActivationFunctionType,
    "padding": Padding,
    "weights_format": FullyConnectedOptionsWeightsFormat,
    "kernel_type": LSTMKernelType,
    "mode": MirrorPadMode,
    "output_type": TensorType,
    "out_data_type": TensorType,
    "in_data_type": TensorType,
    "quantized_bias_type": TensorType,
}
"""Option fields whose value may be given as the schema enum's name."""


@dataclass
class Tensor:
    """One tensor: a constant when `data` is given, quantized when `scales` is given."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "FLOAT32"
    data: np.ndarray | bytes | None = None
    scales: list[float] | None = None
    zero_points: list[int] | None = None
    quantized_dimension: int = 0
    shape_signature: tuple[int, ...] | None = None
    is_variable: bool = False


@dataclass
class Op:
    """One operator; `builtin` is a BuiltinOperator name (or its int code), or "CUSTOM"."""

    builtin: str | int
    inputs: list[int | str | None]
    outputs: list[int | str]
    options: dict = field(default_factory=dict)
    options_type: str | None = None
    custom_code: str = ""
    custom_options: bytes = b""
    intermediates: list[int | str] = field(default_factory=list)
    version: int = 1


@dataclass
class Subgraph:
    """One subgraph: its tensors, operators (in execution order), inputs and outputs."""

    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int | str]
    outputs: list[int | str]
    name: str = ""


def _enum_value(key: str, value):
    if isinstance(value, str) and key in OPTION_ENUMS:
        return getattr(OPTION_ENUMS[key], value)
    return value


class _Writer(TableWriter):
    """Writes one model into a FlatBuffers builder, bottom-up as FlatBuffers requires."""

    def __init__(self):
        super().__init__(1024)
        self.buffers: list[bytes] = [b""]  # buffer 0 is the empty buffer, by convention
        self.opcodes: dict[tuple[int, str, int], int] = {}

    # --------------------------------------------------------------------- tensors

    def quantization(self, t: Tensor) -> int:
        zps = t.zero_points if t.zero_points is not None else [0] * len(t.scales)
        return self.quantization_table(t.scales, zps, t.quantized_dimension)

    def tensor(self, t: Tensor) -> int:
        T = schema("Tensor")
        buffer = 0
        if t.data is not None:
            raw = t.data if isinstance(t.data, bytes) else np.ascontiguousarray(t.data).tobytes()
            self.buffers.append(raw)
            buffer = len(self.buffers) - 1
        name = self.b.CreateString(t.name)
        shape = self.ints(list(t.shape))
        sig = None
        if t.shape_signature is not None:
            sig = self.ints(list(t.shape_signature))
        quant = self.quantization(t) if t.scales is not None else None
        T.TensorStart(self.b)
        T.TensorAddShape(self.b, shape)
        T.TensorAddType(self.b, getattr(TensorType, t.dtype))
        T.TensorAddBuffer(self.b, buffer)
        T.TensorAddName(self.b, name)
        if sig is not None:
            T.TensorAddShapeSignature(self.b, sig)
        if quant is not None:
            T.TensorAddQuantization(self.b, quant)
        T.TensorAddIsVariable(self.b, t.is_variable)
        return T.TensorEnd(self.b)

    # --------------------------------------------------------------------- operators

    def opcode_index(self, op: Op) -> int:
        code = op.builtin if isinstance(op.builtin, int) else getattr(BuiltinOperator, op.builtin)
        key = (code, op.custom_code, op.version)
        return self.opcodes.setdefault(key, len(self.opcodes))

    def options(self, op: Op) -> tuple[int, int]:
        """(BuiltinOptions type, table offset) of an op's options; (0, 0) when it has none."""
        if isinstance(op.builtin, int):
            return 0, 0
        table = op.options_type or options_table(op.builtin)
        if table is None:
            if op.options:
                raise KeyError(f"{op.builtin} takes no builtin options")
            return 0, 0
        module = schema(table)
        values = {}
        for key, value in op.options.items():
            if isinstance(value, list | tuple):
                values[key] = self.ints(list(value))
            else:
                values[key] = _enum_value(key, value)
        getattr(module, table + "Start")(self.b)
        for key, value in values.items():
            option_setter(module, table, key)(self.b, value)
        return getattr(BuiltinOptions, table), getattr(module, table + "End")(self.b)

    def operator(self, op: Op, index) -> int:
        return self.operator_table(
            self.opcode_index(op),
            [index(t) for t in op.inputs],
            [index(t) for t in op.outputs],
            self.options(op),
            op.custom_options or b"",
            [index(t) for t in op.intermediates] if op.intermediates else None,
        )

    # --------------------------------------------------------------------- subgraphs

    def subgraph(self, sg: Subgraph) -> int:
        S = schema("SubGraph")
        names = {t.name: i for i, t in enumerate(sg.tensors)}

        def index(t) -> int:
            if t is None:
                return -1
            return names[t] if isinstance(t, str) else t

        tensors = [self.tensor(t) for t in sg.tensors]
        ops = [self.operator(op, index) for op in sg.ops]
        tensor_vec = self.tables(tensors)
        op_vec = self.tables(ops)
        ins = self.ints([index(t) for t in sg.inputs])
        outs = self.ints([index(t) for t in sg.outputs])
        name = self.b.CreateString(sg.name)
        S.SubGraphStart(self.b)
        S.SubGraphAddTensors(self.b, tensor_vec)
        S.SubGraphAddOperators(self.b, op_vec)
        S.SubGraphAddInputs(self.b, ins)
        S.SubGraphAddOutputs(self.b, outs)
        S.SubGraphAddName(self.b, name)
        return S.SubGraphEnd(self.b)

    def model(self, subgraphs: list[Subgraph], description: str) -> bytes:
        sgs = [self.subgraph(sg) for sg in subgraphs]
        codes = [self.opcode_table(*key) for key in self.opcodes]
        buffers = [self.buffer_table(data) for data in self.buffers]
        return self.finish_model(sgs, codes, buffers, description)


def build_model(
    tensors: list[Tensor] | None = None,
    ops: list[Op] | None = None,
    inputs: list[int | str] | None = None,
    outputs: list[int | str] | None = None,
    *,
    subgraphs: list[Subgraph] | None = None,
    description: str = "litec test model",
) -> bytes:
    """The bytes of a `.tflite` model: one subgraph from the arguments, or `subgraphs`."""
    if subgraphs is None:
        subgraphs = [Subgraph(tensors or [], ops or [], inputs or [], outputs or [], "main")]
    return _Writer().model(subgraphs, description)
