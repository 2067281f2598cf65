"""Quantized element types: `!quant.uniform<...>`, as in MLIR's quant dialect.

    !quant.uniform<i8:f32, 0.0235:-128>            per-tensor scale and zero point
    !quant.uniform<i8:f32:3, {0.5:0, 0.25:0}>     per-axis (axis 3), one pair per channel

The storage type is i8, u8, i16 or i32 (TFLite's int32 bias tensors carry a scale too).
Scales are TFLite's float32 values, printed so they parse back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute, Data, Dialect, TypeAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer

STORAGE_DTYPES = {"i8": np.int8, "u8": np.uint8, "i16": np.int16, "i32": np.int32, "i64": np.int64}


@dataclass(frozen=True)
class QuantParams:
    """Scale and zero point of a quantized tensor; `axis` is None when per-tensor."""

    storage: str
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    axis: int | None = None

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype that stores the quantized values."""
        return np.dtype(STORAGE_DTYPES[self.storage])

    @property
    def scale(self) -> float:
        """The per-tensor scale (the first one for a per-axis type)."""
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        """The per-tensor zero point (the first one for a per-axis type)."""
        return self.zero_points[0]

    def scale_array(self) -> np.ndarray:
        """Scales as float32, the precision TFLite stores them in."""
        return np.asarray(self.scales, dtype=np.float32)

    def zero_point_array(self) -> np.ndarray:
        """Zero points as int32."""
        return np.asarray(self.zero_points, dtype=np.int32)


@irdl_attr_definition
class UniformQuantizedType(Data[QuantParams], TypeAttribute):
    """A uniformly quantized element type (TFLite's QuantizationParameters)."""

    name = "quant.uniform"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> QuantParams:
        parser.parse_punctuation("<")
        storage = parser.parse_identifier("storage type")
        if storage not in STORAGE_DTYPES:
            parser.raise_error(f"unsupported quantized storage type '{storage}'")
        parser.parse_punctuation(":")
        parser.parse_identifier("expressed type")
        axis = None
        if parser.parse_optional_punctuation(":"):
            axis = parser.parse_integer(allow_negative=False)
        parser.parse_punctuation(",")

        def pair() -> tuple[float, int]:
            scale = parser.parse_float()
            parser.parse_punctuation(":")
            return scale, parser.parse_integer()

        if axis is None:
            pairs = [pair()]
        else:
            pairs = parser.parse_comma_separated_list(parser.Delimiter.BRACES, pair)
        parser.parse_punctuation(">")
        return QuantParams(storage, tuple(s for s, _ in pairs), tuple(z for _, z in pairs), axis)

    def print_parameter(self, printer: Printer) -> None:
        q = self.data
        pairs = ", ".join(f"{s!r}:{z}" for s, z in zip(q.scales, q.zero_points, strict=True))
        if q.axis is None:
            printer.print_string(f"<{q.storage}:f32, {pairs}>")
        else:
            printer.print_string(f"<{q.storage}:f32:{q.axis}, {{{pairs}}}>")


def quant_params(t: Attribute) -> QuantParams | None:
    """The quantization of a tensor type, or None for a plain (float/int/bool) tensor."""
    elem = t.element_type if isinstance(t, TensorType) else t
    return elem.data if isinstance(elem, UniformQuantizedType) else None


Quant = Dialect("quant", [], [UniformQuantizedType])
