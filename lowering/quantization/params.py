"""What the quantization passes share: int8 parameters computed as TFLite's converter
computes them, constants read and written as numpy arrays, and the tensor types they carry.

    activation_params(-1.0, 1.0)          # per-tensor asymmetric: scale 2/255, zero point -1
    symmetric_per_channel(w, axis=0)      # int8 weights, one scale per channel, zero point 0
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute, SSAValue

from litec.dialects import tfl
from litec.ir.quant import QuantParams, UniformQuantizedType
from litec.lowering.graph import constant_array, new_constant

QMIN, QMAX = -128, 127
"""The int8 range of activations; weights use the symmetric [-127, 127]."""


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (C's `round`, which TFLite uses)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _f32(x: float) -> float:
    return float(np.float32(x))


def activation_params(lo: float, hi: float) -> QuantParams:
    """int8 per-tensor asymmetric parameters for values in [lo, hi], widened to include 0;
    the zero point nudged as TFLite's quantizer does (from whichever end is more exact)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / (QMAX - QMIN) or 1.0  # in double, as TFLite; stored as float32
    from_min, from_max = QMIN - lo / scale, QMAX - hi / scale
    exact_min = abs(QMIN) + abs(lo / scale) < abs(QMAX) + abs(hi / scale)
    zero_point = int(np.clip(round_half_away(from_min if exact_min else from_max), QMIN, QMAX))
    return QuantParams("i8", (_f32(scale),), (zero_point,))


SYMMETRIC_STORAGE = {8: ("i8", np.int8), 16: ("i16", np.int16)}
"""Bits of symmetric weights -> (storage type name, numpy dtype)."""


def symmetric_weights(
    w: np.ndarray, axis: int | None, bits: int = 8
) -> tuple[np.ndarray, QuantParams]:
    """Symmetric `bits`-bit weights in [-qmax, qmax] (qmax = 127 for int8, 32767 for int16)
    with zero point 0, per channel along `axis` (per tensor when None), and their
    parameters: scale max|w| / qmax (1 for an all-zero channel); the values w · (qmax /
    max|w|) in double, rounded as TFLite's converter does (bit for bit)."""
    storage, dtype = SYMMETRIC_STORAGE[bits]
    qmax = 2.0 ** (bits - 1) - 1
    reduce = tuple(i for i in range(w.ndim) if i != axis) if axis is not None else None
    peak = np.abs(w.astype(np.float64)).max(axis=reduce, keepdims=True, initial=0.0)
    inverse = np.divide(qmax, peak, out=np.zeros_like(peak), where=peak > 0)
    q = np.clip(round_half_away(w.astype(np.float64) * inverse), -qmax, qmax).astype(dtype)
    scales = (peak / qmax).astype(np.float32).ravel()
    scales = np.where(scales > 0, scales, np.float32(1.0))
    params = QuantParams(storage, tuple(map(float, scales)), (0,) * len(scales), axis)
    return q, params


def dequantize_weights(q: np.ndarray, params: QuantParams) -> np.ndarray:
    """Symmetric int8 weights back to float64, per channel along the parameters' axis."""
    shape = [1] * q.ndim
    if params.axis is not None:
        shape[params.axis] = -1
    return q.astype(np.float64) * params.scale_array().astype(np.float64).reshape(shape)


def quantize_array(x: np.ndarray, params: QuantParams) -> np.ndarray:
    """Per-tensor affine quantization of float values into the storage type of `params`."""
    info = np.iinfo(params.dtype)
    q = round_half_away(x.astype(np.float64) / params.scale) + params.zero_point
    return np.clip(q, info.min, info.max).astype(params.dtype)


def bias_params(input_scale: float, weight: QuantParams) -> QuantParams:
    """int32 bias parameters: scale s_in * s_w per weight channel, zero point 0."""
    scales = tuple(_f32(input_scale * s) for s in weight.scales)
    axis = 0 if weight.axis is not None else None
    return QuantParams("i32", scales, (0,) * len(scales), axis)


def quantize_bias(b: np.ndarray, params: QuantParams) -> np.ndarray:
    """float bias to int32 with one scale per channel (saturating)."""
    q = round_half_away(b.astype(np.float64) / params.scale_array().astype(np.float64))
    info = np.iinfo(np.int32)
    return np.clip(q, info.min, info.max).astype(np.int32)


def tensor_of(value: SSAValue | TensorType, element: Attribute | QuantParams) -> TensorType:
    """The tensor type with the shape of `value` and a new element type (or quantization)."""
    t = value if isinstance(value, TensorType) else value.type
    if isinstance(element, QuantParams):
        element = UniformQuantizedType(element)
    return TensorType(element, t.get_shape())


def float_const(value: SSAValue) -> np.ndarray | None:
    """The data of a float32 constant: a float32 `tfl.const`, or a float16 one read through
    a DEQUANTIZE (TFLite's fp16 weights); None for anything else."""
    if isinstance(value.owner, tfl.DequantizeOp):
        half = constant_array(value.owner.input)
        return half.astype(np.float32) if half is not None and half.dtype == np.float16 else None
    data = constant_array(value)
    return data if data is not None and data.dtype == np.float32 else None


def new_const(like: SSAValue, data: np.ndarray, ty: TensorType, suffix: str) -> tfl.ConstOp:
    """A `tfl.const` holding `data` as `ty`, named after the constant `like` (or the float16
    constant under it) with `suffix`, at its location."""
    source = like.owner.input.owner if isinstance(like.owner, tfl.DequantizeOp) else like.owner
    assert isinstance(source, tfl.ConstOp)
    return new_constant(data, ty, source.location, suffix, source.value.resource_handle.data)
