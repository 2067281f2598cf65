"""Reading `.tflite` files: checked, once, into plain Python data.

All access to the FlatBuffer goes through this module, with the generated schema code of
the `tflite` package (no hand-written decoding). The Python FlatBuffers runtime has no
verifier, so this module does the equivalent checks before anything else trusts the
data: the file identifier, every vector length against the file size (a corrupted length
must not turn into a hang), every tensor and opcode index, buffer extents, shapes, and
the consistency of quantization parameters. Any failure is a `LitecError` naming the
file and, where known, the operator.

The result, a `ModelDesc`, is what `litec inspect` prints and what the importer lowers.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tflite
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.FullyConnectedOptionsWeightsFormat import FullyConnectedOptionsWeightsFormat
from tflite.Padding import Padding
from tflite.TensorType import TensorType as TflTensorType

from litec.ir.diagnostics import LitecError
from litec.ir.quant import QuantParams
from litec.lowering.tflite_sparsity import SparseFormat, densify

MAX_TENSOR_BYTES = 1 << 32
"""Largest tensor litec accepts (4 GiB); a bigger one is a corrupted shape."""

SUBGRAPH_OPTIONS = (
    "body_subgraph_index",
    "cond_subgraph_index",
    "else_subgraph_index",
    "init_subgraph_index",
    "subgraph_index",
    "then_subgraph_index",
)
"""Option fields that name another subgraph (WHILE, IF, CALL_ONCE, CALL)."""


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_")}


BUILTIN_NAMES = _enum_names(BuiltinOperator)
TENSOR_TYPE_NAMES = _enum_names(TflTensorType)
OPTIONS_CLASS_NAMES = _enum_names(BuiltinOptions)

NUMPY_DTYPES = {
    "FLOAT32": np.float32,
    "FLOAT16": np.float16,
    "FLOAT64": np.float64,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "UINT16": np.uint16,
    "INT32": np.int32,
    "UINT32": np.uint32,
    "INT64": np.int64,
    "BOOL": np.bool_,
}
"""TFLite tensor types litec handles, and how numpy stores them."""

QUANT_STORAGE = {"INT8": "i8", "UINT8": "u8", "INT16": "i16", "INT32": "i32", "INT64": "i64"}

OPTION_ENUMS = {
    "fused_activation_function": _enum_names(ActivationFunctionType),
    "padding": _enum_names(Padding),
    "weights_format": _enum_names(FullyConnectedOptionsWeightsFormat),
    "output_type": TENSOR_TYPE_NAMES,
    "out_data_type": TENSOR_TYPE_NAMES,
    "in_data_type": TENSOR_TYPE_NAMES,
    "quantized_bias_type": TENSOR_TYPE_NAMES,
}
"""Option fields that hold a schema enum: they are kept as the enum's name."""

_OPTIONS_TABLE_EXCEPTIONS = {
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "L2_POOL_2D": "Pool2DOptions",
    "L2_NORMALIZATION": "L2NormOptions",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions",
    "MAXIMUM": "MaximumMinimumOptions",
    "MINIMUM": "MaximumMinimumOptions",
    "CONV_3D_TRANSPOSE": "Conv3DOptions",
    "RANDOM_UNIFORM": "RandomOptions",
    "RANDOM_STANDARD_NORMAL": "RandomOptions",
    "MULTINOMIAL": "RandomOptions",
    **dict.fromkeys(
        ("MEAN", "SUM", "REDUCE_PROD", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_ANY", "REDUCE_ALL"),
        "ReducerOptions",
    ),
}
_OPTIONS_TABLES = {name.lower(): name for name in OPTIONS_CLASS_NAMES.values()}


def options_table(builtin: str) -> str | None:
    """The BuiltinOptions table a builtin's options are read from (None: not known).

    Mostly the builtin's name in CamelCase + "Options" (CONV_2D -> Conv2DOptions); the
    exceptions share a table (pools, reducers, MAXIMUM/MINIMUM) or are named otherwise."""
    if builtin in _OPTIONS_TABLE_EXCEPTIONS:
        return _OPTIONS_TABLE_EXCEPTIONS[builtin]
    return _OPTIONS_TABLES.get(builtin.replace("_", "").lower() + "options")


@dataclass
class TensorDesc:
    """One TFLite tensor, checked."""

    index: int
    name: str  # as in the file; may be empty
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None
    quant: QuantParams | None
    data: bytes | None
    is_variable: bool = False
    sparse: bool = False
    sparse_format: SparseFormat | None = None
    """How the file stored a sparse constant (the importer keeps it as `tfl.sparsity`)."""
    problem: str | None = None
    """Why the tensor is unusable (e.g. inconsistent quantization); reported against the
    first operator that uses it."""

    @property
    def label(self) -> str:
        """How messages name the tensor: its name, or its index when it has none."""
        return self.name or f"#{self.index}"

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def dynamic_dims(self) -> list[int]:
        """Dimensions that the signature marks dynamic (-1) but the model fixes."""
        if self.shape_signature is None:
            return []
        return [i for i, d in enumerate(self.shape_signature) if d < 0]

    def array(self) -> np.ndarray:
        """The constant's data as a numpy array of its shape."""
        assert self.data is not None
        return np.frombuffer(self.data, dtype=NUMPY_DTYPES[self.dtype]).reshape(self.shape)


@dataclass
class OperatorDesc:
    """One TFLite operator, checked: tensor indices are in range (-1 = absent input)."""

    index: int
    builtin: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict
    version: int = 1
    custom_code: str = ""
    custom_options: bytes = b""
    intermediates: tuple[int, ...] = ()

    @property
    def display_name(self) -> str:
        """The builtin name, with the custom code for CUSTOM ops."""
        return f"CUSTOM '{self.custom_code}'" if self.builtin == "CUSTOM" else self.builtin


@dataclass
class SubgraphDesc:
    """One TFLite subgraph."""

    index: int
    name: str
    tensors: list[TensorDesc]
    operators: list[OperatorDesc]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass
class ModelDesc:
    """A whole checked `.tflite` model."""

    path: str
    sha256: str
    size: int
    version: int
    description: str
    subgraphs: list[SubgraphDesc]
    signature_keys: list[str] = field(default_factory=list)

    @property
    def main(self) -> SubgraphDesc:
        return self.subgraphs[0]

    def op_histogram(self) -> dict[str, int]:
        """How often each operator occurs, over all subgraphs."""
        hist: dict[str, int] = {}
        for sg in self.subgraphs:
            for op in sg.operators:
                hist[op.display_name] = hist.get(op.display_name, 0) + 1
        return dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _Reader:
    """Reads one model.

    For error messages, `self.where` names the operator being read (index, name),
    `self.sg` its subgraph and `self.section` the part of the file being read."""

    def __init__(self, path: str, buf: bytes):
        self.path = path
        self.buf = buf
        self.where: tuple[int | None, str | None] = (None, None)
        self.sg = 0
        self.section = "the model table"

    def error(self, message: str) -> LitecError:
        op_index, op_name = self.where
        return LitecError(
            message, file=self.path, op_index=op_index, op_name=op_name, subgraph=self.sg
        )

    def length(self, n: int, what: str, elem_bytes: int = 4) -> int:
        """A vector length that fits in the file; a corrupted one must not become a long loop."""
        if n < 0 or n * elem_bytes > len(self.buf):
            raise self.error(
                f"corrupted model: {what} claims {n} entries in a {len(self.buf)}-byte file"
            )
        return n

    def ints(self, obj, name: str, elem_bytes: int = 4) -> tuple[int, ...]:
        n = self.length(getattr(obj, name + "Length")(), name, elem_bytes)
        if n == 0:
            return ()
        return tuple(int(v) for v in getattr(obj, name + "AsNumpy")())

    def string(self, raw: bytes | None) -> str:
        return raw.decode("utf-8", errors="replace") if raw else ""

    # ------------------------------------------------------------------ model

    def read(self) -> ModelDesc:
        buf = self.buf
        model = tflite.Model.GetRootAs(buf, 0)
        opcodes = [
            self.opcode(model.OperatorCodes(i))
            for i in range(self.length(model.OperatorCodesLength(), "operator codes"))
        ]
        n_buffers = self.length(model.BuffersLength(), "buffers")
        buffers = [self.buffer(model.Buffers(i), i) for i in range(n_buffers)]
        n_sub = self.length(model.SubgraphsLength(), "subgraphs")
        if n_sub == 0:
            raise self.error("the model has no subgraphs")
        subgraphs = [self.subgraph(model.Subgraphs(i), i, opcodes, buffers) for i in range(n_sub)]
        self.check_calls(subgraphs)
        self.sg, self.section = 0, "the signatures"
        keys = [
            self.string(model.SignatureDefs(i).SignatureKey())
            for i in range(self.length(model.SignatureDefsLength(), "signatures"))
        ]
        return ModelDesc(
            path=self.path,
            sha256=hashlib.sha256(buf).hexdigest(),
            size=len(buf),
            version=model.Version(),
            description=self.string(model.Description()),
            subgraphs=subgraphs,
            signature_keys=keys,
        )

    def opcode(self, code) -> tuple[str, str, int]:
        self.section = "the operator codes"
        value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = BUILTIN_NAMES.get(value, f"BUILTIN_{value}")
        custom = self.string(code.CustomCode()) if name == "CUSTOM" else ""
        return name, custom, code.Version()

    def buffer(self, b, index: int) -> bytes | None:
        self.section = f"buffer {index}"
        offset, size = b.Offset(), b.Size()
        if offset > 1:
            if offset + size > len(self.buf):
                raise self.error(f"corrupted model: buffer {index} lies outside the file")
            return self.buf[offset : offset + size]
        n = self.length(b.DataLength(), f"buffer {index}", 1)
        if n == 0:
            return None
        start = b._tab.Vector(b._tab.Offset(4))
        if start + n > len(self.buf):
            raise self.error(f"corrupted model: buffer {index} lies outside the file")
        return self.buf[start : start + n]

    # ------------------------------------------------------------------ subgraph

    def subgraph(self, sg, index, opcodes, buffers) -> SubgraphDesc:
        self.sg, self.section = index, f"subgraph {index}"
        n_tensors = self.length(sg.TensorsLength(), "tensors")
        tensors = [self.tensor(sg.Tensors(i), i, buffers) for i in range(n_tensors)]
        operators = [
            self.operator(sg.Operators(i), i, opcodes, n_tensors)
            for i in range(self.length(sg.OperatorsLength(), "operators"))
        ]
        self.section = f"subgraph {index}"
        inputs, outputs = self.ints(sg, "Inputs"), self.ints(sg, "Outputs")
        for t in inputs + outputs:
            if not 0 <= t < n_tensors:
                raise self.error(
                    f"corrupted model: subgraph {index} names tensor {t} of {n_tensors}"
                )
        self.check_writers(tensors, operators, inputs)
        self.check_problems(tensors, operators)
        return SubgraphDesc(index, self.string(sg.Name()), tensors, operators, inputs, outputs)

    def check_writers(self, tensors, operators, inputs) -> None:
        """Each tensor has at most one producer: a subgraph input, a constant, or one op."""
        written = {t: "it is a subgraph input" for t in inputs}
        for op in operators:
            self.where = (op.index, op.display_name)
            for t in op.outputs:
                if tensors[t].is_constant:
                    raise self.error(f"corrupted model: writes the constant tensor {t}")
                if t in written:
                    raise self.error(f"corrupted model: writes tensor {t}, but {written[t]}")
                written[t] = f"op #{op.index} writes it too"
        self.where = (None, None)

    def check_problems(self, tensors, operators) -> None:
        """A tensor's problem is reported at the first operator that uses it, else on its own."""
        for op in operators:
            for t in op.inputs + op.outputs:
                if t >= 0 and tensors[t].problem:
                    self.where = (op.index, op.display_name)
                    raise self.error(tensors[t].problem)
        self.where = (None, None)
        for t in tensors:
            if t.problem:
                raise self.error(t.problem)

    def check_calls(self, subgraphs: list[SubgraphDesc]) -> None:
        """Ops that name subgraphs (WHILE, IF, ...) name existing ones, and none recurses."""
        calls: dict[int, list[tuple[int, OperatorDesc]]] = {}
        for sg in subgraphs:
            for op in sg.operators:
                for key in SUBGRAPH_OPTIONS:
                    if key not in op.options:
                        continue
                    callee = op.options[key]
                    self.where = (op.index, op.display_name)
                    if not 0 <= callee < len(subgraphs):
                        raise self.error(f"corrupted model: {key} {callee} is not a subgraph")
                    calls.setdefault(sg.index, []).append((callee, op))
        for start in calls:
            stack, seen = [start], set()
            while stack:
                for callee, op in calls.get(stack.pop(), []):
                    if callee == start:
                        self.where = (op.index, op.display_name)
                        raise self.error(f"corrupted model: subgraph {start} calls itself")
                    if callee not in seen:
                        seen.add(callee)
                        stack.append(callee)
        self.where = (None, None)

    def tensor(self, t, index: int, buffers: list[bytes | None]) -> TensorDesc:
        self.section = f"tensor {index} of subgraph {self.sg}"
        raw_name = self.string(t.Name())
        name = raw_name or f"#{index}"
        type_name = TENSOR_TYPE_NAMES.get(t.Type(), f"type {t.Type()}")
        shape = self.ints(t, "Shape")
        signature = self.ints(t, "ShapeSignature") or None
        if any(d < 0 for d in shape):
            raise self.error(f"tensor '{name}' has no static shape {list(shape)}")
        if signature is not None and len(signature) != len(shape):
            raise self.error(
                f"tensor '{name}' has no static shape: its shape {list(shape)} does not have "
                f"the rank of its shape_signature {list(signature)}"
            )
        b = t.Buffer()
        if not 0 <= b < max(len(buffers), 1):
            raise self.error(f"corrupted model: tensor '{name}' names buffer {b} of {len(buffers)}")
        data = buffers[b] if buffers else None
        sparse = t.Sparsity() is not None
        desc = TensorDesc(
            index, raw_name, type_name, shape, signature, None, None, bool(t.IsVariable()), sparse
        )
        if type_name not in NUMPY_DTYPES:
            if data is not None:
                raise self.error(
                    f"tensor '{name}' has type {type_name}, which litec does not support"
                )
            return desc
        count = math.prod(shape)
        itemsize = np.dtype(NUMPY_DTYPES[type_name]).itemsize
        if count * itemsize > MAX_TENSOR_BYTES:
            raise self.error(f"tensor '{name}' of shape {list(shape)} is too large")
        if data is not None and sparse:
            data = self.densify(t, name, shape, type_name, data)
            desc.sparse_format = SparseFormat.read(t.Sparsity(), len(shape), len(self.buf))
        if data is not None and len(data) != count * itemsize:
            raise self.error(
                f"constant tensor '{name}' has {len(data)} bytes of data; "
                f"its shape {list(shape)} of {type_name} needs {count * itemsize}"
            )
        desc.data = data
        try:
            desc.quant = self.quant(t.Quantization(), name, type_name, shape)
        except LitecError as e:
            desc.problem = e.message
        return desc

    def densify(self, t, name, shape, type_name, data) -> bytes:
        try:
            dtype = np.dtype(NUMPY_DTYPES[type_name])
            return densify(t.Sparsity(), shape, dtype, data, len(self.buf))
        except ValueError as e:
            raise self.error(f"sparse tensor '{name}': {e}") from None

    def quant(self, q, name: str, type_name: str, shape) -> QuantParams | None:
        if q is None:
            return None
        n_scale = self.length(q.ScaleLength(), "scales")
        if n_scale == 0 or type_name not in QUANT_STORAGE:
            return None
        scales = tuple(float(s) for s in q.ScaleAsNumpy())
        zps = self.ints(q, "ZeroPoint", 8)
        if len(zps) == 0:
            zps = (0,) * n_scale
        if len(zps) != n_scale:
            raise self.error(f"tensor '{name}' has {n_scale} scales but {len(zps)} zero points")
        if not all(math.isfinite(s) and s > 0 for s in scales):
            raise self.error(f"tensor '{name}' has a scale that is not a positive finite number")
        info = np.iinfo(NUMPY_DTYPES[type_name])
        if not all(info.min <= z <= info.max for z in zps):
            raise self.error(f"tensor '{name}' has a zero point outside the {type_name} range")
        axis = None
        if n_scale > 1:
            axis = q.QuantizedDimension()
            if not 0 <= axis < len(shape) or shape[axis] != n_scale:
                raise self.error(
                    f"tensor '{name}' has {n_scale} scales, but dimension {axis} of its "
                    f"shape {list(shape)} does not have that many channels"
                )
        return QuantParams(QUANT_STORAGE[type_name], scales, zps, axis)

    # ------------------------------------------------------------------ operator

    def operator(self, op, index: int, opcodes, n_tensors: int) -> OperatorDesc:
        self.section = f"operator {index} of subgraph {self.sg}"
        k = op.OpcodeIndex()
        self.where = (index, None)
        if not 0 <= k < len(opcodes):
            raise self.error(f"corrupted model: opcode index {k} of {len(opcodes)}")
        builtin, custom_code, version = opcodes[k]
        self.where = (index, f"CUSTOM '{custom_code}'" if custom_code else builtin)
        inputs, outputs = self.ints(op, "Inputs"), self.ints(op, "Outputs")
        intermediates = self.ints(op, "Intermediates")
        for t in inputs + outputs + intermediates:
            if not -1 <= t < n_tensors:
                raise self.error(f"corrupted model: tensor index {t} of {n_tensors}")
        if -1 in outputs:
            raise self.error("corrupted model: an output tensor index is -1")
        custom_options = b""
        if builtin == "CUSTOM" and op.CustomOptionsLength():
            n = self.length(op.CustomOptionsLength(), "custom options", 1)
            custom_options = op.CustomOptionsAsNumpy()[:n].tobytes()
        desc = OperatorDesc(
            index,
            builtin,
            inputs,
            outputs,
            self.options(op, builtin),
            version,
            custom_code,
            custom_options,
            intermediates,
        )
        self.where = (None, None)
        return desc

    def options(self, op, builtin: str) -> dict:
        """The builtin options as a dict: snake_case field names, enums by name.

        Options of another table than the builtin's are ignored, as TFLite ignores them
        (the op then runs with the schema's defaults)."""
        table = op.BuiltinOptions()
        class_name = OPTIONS_CLASS_NAMES.get(op.BuiltinOptionsType())
        expected = options_table(builtin)
        if table is None or class_name in (None, "NONE") or expected not in (None, class_name):
            return {}
        module = getattr(tflite, class_name, None)
        cls = getattr(module, class_name, module)
        if cls is None:
            return {}
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        result = {}
        for attr in dir(cls):
            if (
                not attr[0].isupper()
                or attr in ("Init", "GetRootAs")
                or attr.startswith("GetRootAs")
                or attr.endswith(("Length", "IsNone", "AsNumpy", "BufferHasIdentifier"))
            ):
                continue
            key = _snake(attr)
            if hasattr(cls, attr + "AsNumpy"):
                value = list(self.ints(opts, attr))
            else:
                value = getattr(opts, attr)()
            if key in OPTION_ENUMS:
                value = OPTION_ENUMS[key].get(value, str(value))
            result[key] = value
        return result


def read_model(path: str | Path) -> ModelDesc:
    """Read and check a `.tflite` file; raises `LitecError` with a one-line reason."""
    path = str(path)
    name = Path(path).name
    try:
        if Path(path).exists() and not Path(path).is_dir() and not Path(path).is_file():
            raise LitecError("is not a regular file", file=path)
        buf = Path(path).read_bytes()
    except FileNotFoundError:
        raise LitecError("no such file", file=path) from None
    except IsADirectoryError:
        raise LitecError("is a directory, not a model file", file=path) from None
    except OSError as e:
        raise LitecError(f"cannot read: {e.strerror}", file=path) from None
    return read_model_bytes(buf, name if path == name else path)


def read_model_bytes(buf: bytes, path: str = "<bytes>") -> ModelDesc:
    """Read and check a model held in memory."""
    if len(buf) == 0:
        raise LitecError("empty file, not a TFLite model", file=path)
    if len(buf) < 16:
        raise LitecError(f"only {len(buf)} bytes, too small for a TFLite model", file=path)
    if buf[4:8] != b"TFL3":
        raise LitecError("not a TFLite model (no 'TFL3' file identifier)", file=path)
    reader = _Reader(path, bytes(buf))
    try:
        return reader.read()
    except LitecError:
        raise
    except (
        IndexError,
        struct.error,
        ValueError,
        UnicodeDecodeError,
        OverflowError,
        TypeError,
        AttributeError,
        KeyError,
        MemoryError,
        RecursionError,
        ZeroDivisionError,
    ) as e:
        if isinstance(e, IndexError | struct.error):
            what = "an offset or length points outside the file"
        else:
            what = f"inconsistent data ({type(e).__name__})"
        raise reader.error(f"corrupted model: {what} (while reading {reader.section})") from None
