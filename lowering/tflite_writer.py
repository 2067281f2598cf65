"""Writing TFLite's FlatBuffers tables: the pieces every `.tflite` writer needs, on the
`tflite` package's generated Start/Add/End functions (the exporter, `export_tflite.py`, and the
tests' model builder both build on `TableWriter`).

FlatBuffers are written children first: a table's vectors and sub-tables before the table.
"""

from __future__ import annotations

import importlib

import flatbuffers
import numpy as np
from tflite.DimensionType import DimensionType

from litec.ir.diagnostics import LitecError
from litec.lowering.tflite_sparsity import INDEX_VECTORS, SparseTensor, index_kind

BUFFER_ALIGNMENT = 16
"""Byte alignment of constant data within the file."""

SCHEMA_VERSION = 3
"""The TFLite schema version written."""


def schema(table: str):
    """The generated module of a schema table (its Start/Add/End functions)."""
    return importlib.import_module(f"tflite.{table}")


def option_setter(module, table: str, key: str):
    """`<Table>Add<Field>` of the schema module for a snake_case option name."""
    wanted = (table + "Add" + key.replace("_", "")).lower()
    for attr, fn in vars(module).items():
        if attr.lower() == wanted:
            return fn
    raise LitecError(f"option '{key}' is not a field of TFLite's {table}")


class TableWriter:
    """A FlatBuffers builder with the tables and vectors of a `.tflite` model."""

    def __init__(self, initial_size: int = 1024):
        self.b = flatbuffers.Builder(initial_size)

    def tables(self, offsets: list[int]) -> int:
        """A vector of table offsets."""
        self.b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            self.b.PrependUOffsetTRelative(off)
        return self.b.EndVector()

    def aligned_bytes(self, data: bytes) -> int:
        """A byte vector whose data starts at a multiple of BUFFER_ALIGNMENT."""
        self.b.StartVector(1, len(data), BUFFER_ALIGNMENT)
        self.b.head -= len(data)
        self.b.Bytes[self.b.head : self.b.head + len(data)] = data
        return self.b.EndVector()

    def quantization_table(self, scales, zero_points, axis: int) -> int:
        """QuantizationParameters: float32 scales, int64 zero points, the quantized axis."""
        scale = self.b.CreateNumpyVector(np.asarray(scales, dtype=np.float32))
        zero_point = self.b.CreateNumpyVector(np.asarray(zero_points, dtype=np.int64))
        Q = schema("QuantizationParameters")
        Q.QuantizationParametersStart(self.b)
        Q.QuantizationParametersAddScale(self.b, scale)
        Q.QuantizationParametersAddZeroPoint(self.b, zero_point)
        Q.QuantizationParametersAddQuantizedDimension(self.b, axis)
        return Q.QuantizationParametersEnd(self.b)

    def index_vector(self, values: np.ndarray) -> tuple[int, int]:
        """(SparseIndexVector kind, table) of a CSR index array, in the smallest type that
        holds it."""
        kind = index_kind(values)
        table, dtype = INDEX_VECTORS[kind]
        vec = self.b.CreateNumpyVector(values.astype(dtype))
        V = schema(table)
        getattr(V, table + "Start")(self.b)
        getattr(V, table + "AddValues")(self.b, vec)
        return kind, getattr(V, table + "End")(self.b)

    def dimension_metadata(self, kind: str, dense_size: int, csr) -> int:
        """DimensionMetadata of one traversal level; `csr`: (segments, indices) or None."""
        D = schema("DimensionMetadata")
        arrays = [self.index_vector(a) for a in csr] if csr is not None else []
        D.DimensionMetadataStart(self.b)
        D.DimensionMetadataAddFormat(self.b, getattr(DimensionType, kind))
        D.DimensionMetadataAddDenseSize(self.b, dense_size)
        if arrays:
            (segments_kind, segments), (indices_kind, indices) = arrays
            D.DimensionMetadataAddArraySegmentsType(self.b, segments_kind)
            D.DimensionMetadataAddArraySegments(self.b, segments)
            D.DimensionMetadataAddArrayIndicesType(self.b, indices_kind)
            D.DimensionMetadataAddArrayIndices(self.b, indices)
        return D.DimensionMetadataEnd(self.b)

    def sparsity_table(self, sparse: SparseTensor) -> int:
        """SparsityParameters of a constant stored sparse (`tflite_sparsity.sparsify`)."""
        fmt = sparse.format
        dims = [
            self.dimension_metadata(kind, size, sparse.csr.get(level))
            for level, (kind, size) in enumerate(zip(fmt.formats, fmt.dense_sizes, strict=True))
        ]
        order = self.b.CreateNumpyVector(np.asarray(fmt.traversal_order, dtype=np.int32))
        block_map = self.b.CreateNumpyVector(np.asarray(fmt.block_map, dtype=np.int32))
        dim_vec = self.tables(dims)
        S = schema("SparsityParameters")
        S.SparsityParametersStart(self.b)
        S.SparsityParametersAddTraversalOrder(self.b, order)
        S.SparsityParametersAddBlockMap(self.b, block_map)
        S.SparsityParametersAddDimMetadata(self.b, dim_vec)
        return S.SparsityParametersEnd(self.b)

    def opcode_table(self, code: int, custom_code: str, version: int) -> int:
        """OperatorCode, with `deprecated_builtin_code` as TFLite expects (min(code, 127))."""
        C = schema("OperatorCode")
        custom = self.b.CreateString(custom_code) if custom_code else None
        C.OperatorCodeStart(self.b)
        C.OperatorCodeAddDeprecatedBuiltinCode(self.b, min(code, 127))
        C.OperatorCodeAddBuiltinCode(self.b, code)
        C.OperatorCodeAddVersion(self.b, version)
        if custom is not None:
            C.OperatorCodeAddCustomCode(self.b, custom)
        return C.OperatorCodeEnd(self.b)

    def operator_table(
        self,
        opcode: int,
        inputs: list[int],
        outputs: list[int],
        options: tuple[int, int] = (0, 0),
        custom_options: bytes = b"",
        intermediates: list[int] | None = None,
    ) -> int:
        """Operator: tensor indices, (options type, options table) or (0, 0), custom option
        bytes and intermediate tensors where given."""
        O = schema("Operator")
        ins, outs = self.ints(inputs), self.ints(outputs)
        inter = self.ints(intermediates) if intermediates else None
        custom = self.b.CreateByteVector(custom_options) if custom_options else None
        O.OperatorStart(self.b)
        O.OperatorAddOpcodeIndex(self.b, opcode)
        O.OperatorAddInputs(self.b, ins)
        O.OperatorAddOutputs(self.b, outs)
        if options[0]:
            O.OperatorAddBuiltinOptionsType(self.b, options[0])
            O.OperatorAddBuiltinOptions(self.b, options[1])
        if custom is not None:
            O.OperatorAddCustomOptions(self.b, custom)
        if inter is not None:
            O.OperatorAddIntermediates(self.b, inter)
        return O.OperatorEnd(self.b)

    def ints(self, values, dtype=np.int32) -> int:
        """A vector of integers (int32 unless `dtype` says otherwise)."""
        return self.b.CreateNumpyVector(np.asarray(values, dtype=dtype))

    def buffer_table(self, data: bytes) -> int:
        """Buffer: `data` aligned (none for the empty buffer)."""
        vec = self.aligned_bytes(data) if data else None
        B = schema("Buffer")
        B.BufferStart(self.b)
        if vec is not None:
            B.BufferAddData(self.b, vec)
        return B.BufferEnd(self.b)

    def finish_model(
        self, subgraphs: list[int], codes: list[int], buffers: list[int], description: str,
        signature_defs: list[int] | None = None,
    ) -> bytes:  # fmt: skip
        """The Model table over written subgraphs, operator codes and buffers: the file."""
        sg_vec, code_vec, buf_vec = self.tables(subgraphs), self.tables(codes), self.tables(buffers)
        sig_vec = self.tables(signature_defs) if signature_defs else None
        desc = self.b.CreateString(description)
        M = schema("Model")
        M.ModelStart(self.b)
        M.ModelAddVersion(self.b, SCHEMA_VERSION)
        M.ModelAddOperatorCodes(self.b, code_vec)
        M.ModelAddSubgraphs(self.b, sg_vec)
        M.ModelAddDescription(self.b, desc)
        M.ModelAddBuffers(self.b, buf_vec)
        if sig_vec is not None:
            M.ModelAddSignatureDefs(self.b, sig_vec)
        self.b.Finish(M.ModelEnd(self.b), file_identifier=b"TFL3")
        return bytes(self.b.Output())
