"""Writing TFLite's FlatBuffers tables: the pieces every `.tflite` writer needs, on the
`tflite` package's generated Start/Add/End functions (the exporter, `export_tflite.py`, and the
tests' model builder both build on `TableWriter`).

FlatBuffers are written children first: a table's vectors and sub-tables before the table.
"""

from __future__ import annotations

import importlib

import flatbuffers
import numpy as np

from litec.ir.diagnostics import LitecError

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
