"""Helpers shared by the reference kernels: fused activations, (de)quantization."""

from __future__ import annotations

import numpy as np

from litec.dialects.tfl_reference.core import TensorInfo
from litec.runtime.fixedpoint import round_half_away


def float_activation(x: np.ndarray, act: str) -> np.ndarray:
    """Apply a TFLite fused activation to float values (dtype kept).

    As TFLite's CalculateActivationRange: only the ReLU family clamps; NONE, TANH and
    SIGN_BIT leave the values as they are.
    """
    bounds = _FLOAT_ACTIVATION_RANGES.get(act)
    if bounds is None:
        return x
    return np.clip(x, *bounds).astype(x.dtype)


_FLOAT_ACTIVATION_RANGES = {"RELU": (0, None), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}


def apply_activation(x: np.ndarray, act: str) -> np.ndarray:
    """An activation applied as a function (TFLite's ApplyActivationsToVector, e.g. LSTM's
    cell activation): TANH is tanh, SIGN_BIT is the sign bit; the ReLU family clamps."""
    if act == "TANH":
        return np.tanh(x).astype(x.dtype)
    if act == "SIGN_BIT":
        return np.signbit(x).astype(x.dtype)
    return float_activation(x, act)


def quantize_value(f: float, info: TensorInfo) -> int:
    """TFLite's Quantize for one real value: zp + round(f / scale), in float32 as TFLite does."""
    q = np.float32(f) / np.float32(info.scale)
    return int(info.zero_point + round_half_away(np.float64(q)))


def quantized_activation_range(act: str, info: TensorInfo) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized: the clamp bounds of a fused activation."""
    lo, hi = np.iinfo(info.dtype).min, np.iinfo(info.dtype).max
    if act == "RELU":
        return max(lo, quantize_value(0.0, info)), hi
    if act == "RELU6":
        return max(lo, quantize_value(0.0, info)), min(hi, quantize_value(6.0, info))
    if act == "RELU_N1_TO_1":
        return max(lo, quantize_value(-1.0, info)), min(hi, quantize_value(1.0, info))
    return lo, hi


def dequantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Real values of a quantized tensor as float32 (per-tensor or per-axis)."""
    q = info.quant
    assert q is not None
    scale = q.scale_array()
    zp = q.zero_point_array()
    if q.axis is not None:
        shape = [1] * x.ndim
        shape[q.axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((x.astype(np.int32) - zp).astype(np.float32) * scale).astype(np.float32)
