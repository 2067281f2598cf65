"""Reference kernels: elementwise arithmetic, comparisons, type conversions, (de)quantization."""

from __future__ import annotations

import numpy as np
from litec.dialects.tfl_reference.common import dequantize
from litec.dialects.tfl_reference.core import KernelCall, TensorInfo, kernel
from litec.runtime.fixedpoint import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    round_half_away,
    saturate,
)

QUANTIZED_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16))


def _axis_shaped(values: np.ndarray, info: TensorInfo, ndim: int) -> np.ndarray:
    """Per-axis parameters reshaped to broadcast along the quantized axis (scalars stay 1-D)."""
    if info.quant.axis is None:
        return values[:1].reshape(())
    shape = [1] * ndim
    shape[info.quant.axis] = -1
    return values.reshape(shape)


def affine_quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """TFLite's AffineQuantize: zp + round(x / scale) in float32, clamped to the storage type."""
    scale = _axis_shaped(info.quant.scale_array(), info, x.ndim)
    zp = _axis_shaped(info.quant.zero_point_array(), info, x.ndim)
    q = round_half_away(x.astype(np.float32) / scale).astype(np.float64) + zp
    return saturate(q, info.dtype)


def requantize(x: np.ndarray, src: TensorInfo, dst: TensorInfo) -> np.ndarray:
    """TFLite's Requantize: (x - zp_in) * (s_in / s_out) as a Q31 multiplier, + zp_out."""
    mult, shift = quantize_multiplier(float(np.float64(src.scale) / np.float64(dst.scale)))
    acc = multiply_by_quantized_multiplier(x.astype(np.int64) - src.zero_point, mult, shift)
    return saturate(acc + dst.zero_point, dst.dtype)


@kernel("QUANTIZE")
def quantize(call: KernelCall, x):
    """TFLite QUANTIZE: float32 to int8/uint8/int16, or requantize between integer types."""
    src, dst = call.inputs[0], call.out
    if dst.quant is None or dst.dtype not in QUANTIZED_DTYPES:
        raise call.error(f"QUANTIZE to {dst.dtype} is not supported")
    if src.dtype == np.float32:
        return affine_quantize(x, dst)
    if src.quant is None or src.dtype not in QUANTIZED_DTYPES:
        raise call.error(f"QUANTIZE from {src.dtype} is not supported")
    return requantize(x, src, dst)


@kernel("DEQUANTIZE")
def dequantize_kernel(call: KernelCall, x):
    """TFLite DEQUANTIZE: int8/uint8/int16 (per-tensor or per-axis) or float16 to float32."""
    src = call.inputs[0]
    if src.dtype == np.float16:
        return x.astype(np.float32)
    if src.quant is None or src.dtype not in QUANTIZED_DTYPES:
        raise call.error(f"DEQUANTIZE from {src.dtype} is not supported")
    return dequantize(x, src)
