"""Helpers shared by the reference kernels: fused activations, (de)quantization, windows of
2-D window ops, and TFLite's lookup tables for quantized elementwise functions."""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from litec.dialects.tfl_reference.core import KernelCall, TensorInfo
from litec.runtime import gemmlowp
from litec.runtime.fixedpoint import round_half_away

f32 = np.float32

QUANTIZED_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16))
"""Storage types of quantized activations."""


def clamp_activation(x: np.ndarray, act: str | None) -> np.ndarray:
    """Apply a TFLite fused activation as a clamp to float (or int32) values, dtype kept.

    As TFLite's CalculateActivationRange: only the ReLU family clamps; NONE, TANH and
    SIGN_BIT leave the values as they are.
    """
    bounds = _ACTIVATION_RANGES.get(act)
    if bounds is None:
        return x
    return np.clip(x, *bounds).astype(x.dtype)


_ACTIVATION_RANGES = {"RELU": (0, None), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}


def apply_activation(x: np.ndarray, act: str) -> np.ndarray:
    """An activation applied as a function (TFLite's ApplyActivationsToVector, e.g. LSTM's
    cell activation): TANH is tanh, SIGN_BIT is the sign bit; the ReLU family clamps."""
    if act == "TANH":
        return np.tanh(x).astype(x.dtype)
    if act == "SIGN_BIT":
        return np.signbit(x).astype(x.dtype)
    return clamp_activation(x, act)


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


def quant_arrays(info: TensorInfo, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Scales (float32) and zero points (int32) shaped to broadcast against a tensor of rank
    `ndim`: along the quantized axis, or as scalars for a per-tensor quantization."""
    q = info.quant
    scale, zero_point = q.scale_array(), q.zero_point_array()
    if q.axis is None:
        return scale[:1].reshape(()), zero_point[:1].reshape(())
    shape = [1] * ndim
    shape[q.axis] = -1
    return scale.reshape(shape), zero_point.reshape(shape)


def dequantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Real values of a quantized tensor as float32 (per-tensor or per-axis)."""
    scale, zero_point = quant_arrays(info, x.ndim)
    return ((x.astype(np.int32) - zero_point).astype(np.float32) * scale).astype(np.float32)


def same_quantization(a: TensorInfo | None, b: TensorInfo | None) -> bool:
    """Whether two tensors share scale and zero point (or are both unquantized)."""
    qa, qb = a.quant if a else None, b.quant if b else None
    if qa is None or qb is None:
        return qa is qb
    return (qa.scales, qa.zero_points) == (qb.scales, qb.zero_points)


def resolve_axis(call: KernelCall, axis: int, rank: int) -> int:
    """A possibly negative axis, wrapped into [0, rank) or refused."""
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise call.error(f"axis {axis} is out of range for rank {rank}")
    return a


def lowest(dtype: np.dtype):
    """The lowest value of a float or integer dtype (where a max reduction starts)."""
    return np.finfo(dtype).min if dtype.kind == "f" else np.iinfo(dtype).min


# ----------------------------------------------------------------------------- windows


def out_size_and_pad(padding: str, size: int, k: int, stride: int, dilation: int = 1):
    """TFLite's ComputeOutSize and ComputePaddingWithOffset: (output size, padding before).

    The total padding is split in half, the odd one going after.
    """
    eff = (k - 1) * dilation + 1
    out = (size + stride - (1 if padding == "SAME" else eff)) // stride
    return out, max((out - 1) * stride + eff - size, 0) // 2


@dataclass(frozen=True)
class Window:
    """Where a 2-D window op reads: kernel size, strides, dilations, padding before, output size."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad: tuple[int, int]
    out: tuple[int, int]


def window_taps(x: np.ndarray, win: Window, fill=0) -> Iterator[np.ndarray]:
    """For each kernel tap (row-major): the input each output pixel meets there, [N, OH, OW, C].

    The input is padded with `fill` (0 for sums, where quantized callers subtract the zero
    point first; the lowest value for maxima).
    """
    n, h, w, c = x.shape
    (kh, kw), (sh, sw), (dh, dw), (ph, pw), (oh, ow) = (
        win.kernel,
        win.stride,
        win.dilation,
        win.pad,
        win.out,
    )
    rows = max((oh - 1) * sh + (kh - 1) * dh + 1, ph + h)
    cols = max((ow - 1) * sw + (kw - 1) * dw + 1, pw + w)
    padded = np.full((n, rows, cols, c), fill, x.dtype)
    padded[:, ph : ph + h, pw : pw + w] = x
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            yield padded[:, y0 : y0 + (oh - 1) * sh + 1 : sh, x0 : x0 + (ow - 1) * sw + 1 : sw]


# ----------------------------------------------------------------------------- C math for tables


def _load_libm():
    name = ctypes.util.find_library("m")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


_LIBM = _load_libm()


def c_math(name: str, x: np.ndarray, dtype=np.float32) -> np.ndarray:
    """C's `name` (`namef` for float32) on each value, as TFLite's table builders call it.

    TFLite fills its lookup tables with libm's float functions, which are not always
    correctly rounded (glibc's `tanhf` differs from the rounded exact value for ~5% of
    inputs), so the tables call the same libm when there is one; without it they use
    Python's double-precision math rounded to `dtype`. Tables are small (256 or 513
    entries), so this loop never runs over tensor data.
    """
    values = np.asarray(x, dtype=dtype).ravel()
    fn = None
    if _LIBM is not None:
        ctype = ctypes.c_float if dtype == np.float32 else ctypes.c_double
        fn = getattr(_LIBM, name + ("f" if dtype == np.float32 else ""))
        fn.restype, fn.argtypes = ctype, [ctype]
    fn = fn or getattr(math, name)
    return np.array([fn(float(v)) for v in values], dtype=dtype).reshape(np.shape(x))


# ----------------------------------------------------------------------------- lookup tables


def lut_int8(transform, src: TensorInfo, dst: TensorInfo) -> np.ndarray:
    """TFLite's LUTPopulate for int8/uint8: the output for every input value, lowest first.

    `transform` maps float32 values to float32 values.
    """
    info = np.iinfo(src.dtype)
    values = np.arange(info.min, info.max + 1)
    dequantized = f32(src.scale) * (values - src.zero_point).astype(f32)
    with np.errstate(over="ignore", invalid="ignore"):
        rescaled = round_half_away(transform(dequantized) * (f32(1) / f32(dst.scale)))
        quantized = float_to_int32_saturating(rescaled + f32(dst.zero_point))
    return np.clip(quantized, info.min, info.max).astype(src.dtype)


def float_to_int32_saturating(x: np.ndarray) -> np.ndarray:
    """C++ static_cast<int32_t> of floats as TFLite's build behaves: saturating.

    Out-of-range conversions are undefined in C++; the oracle's compiled tables saturate
    them (expf of a large input, even inf, ends at the top of the table), so do the same.
    """
    return np.trunc(np.clip(x, -(2.0**31), 2.0**31 - 1)).astype(np.int64)


def lookup_int8(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """LUTLookup for int8/uint8: index the table by the stored value."""
    return table[x.astype(np.int64) - np.iinfo(x.dtype).min]


def lut_int16(transform, in_scale, in_zp: int, out_scale, out_zp: int, dtype=np.float32):
    """TFLite's LUTPopulateInt16: 512 interpolation segments plus an end point (513 int16).

    Arithmetic is in `dtype` (float32, or float64 where TFLite asks for double).
    """
    t = np.dtype(dtype).type
    in_scale, out_scale = t(in_scale), t(out_scale)
    input_min = in_scale * t(-32768 - in_zp)
    input_max = in_scale * t(32767 - in_zp)
    output_min = out_scale * t(-32768 - out_zp)
    output_max = out_scale * t(32767 - out_zp)
    step = (input_max - input_min) / t(512)
    half_step = step / t(2)
    scaling_inv = t(65536) / (output_max - output_min)
    i = np.arange(512).astype(dtype)
    start = input_min + i * step
    val = transform(start)
    val_midpoint = transform(start + half_step)
    val_next = transform(input_min + (i + t(1)) * step)
    sample = round_half_away(val * scaling_inv)
    midpoint_interp = round_half_away((val_next * scaling_inv + sample) / t(2))
    midpoint_err = midpoint_interp - round_half_away(val_midpoint * scaling_inv)
    bias = round_half_away(midpoint_err / t(2))
    table = np.empty(513, dtype=dtype)
    table[:512] = sample - bias
    table[512] = round_half_away(transform(np.array([input_max], dtype=dtype))[0] * scaling_inv)
    return np.clip(table, -32768, 32767).astype(np.int16)


def lookup_int16(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """TFLite's int16 LUTLookup: 9 bits index the table, 7 bits interpolate."""
    x = x.astype(np.int64)
    index = 256 + (x >> 7)
    offset = x & 0x7F
    table = lut.astype(np.int64)
    base = table[index]
    slope = gemmlowp.wrap(table[index + 1] - base, 16)
    return gemmlowp.wrap(base + ((slope * offset + 64) >> 7), 16).astype(np.int16)


def apply_lut(call: KernelCall, x: np.ndarray, transform) -> np.ndarray:
    """Run a quantized elementwise function through TFLite's table for its dtype."""
    src, dst = call.inputs[0], call.out
    if src.quant is None or dst.quant is None:
        raise call.error(f"{call.builtin} of unquantized {src.dtype} is not supported")
    if src.dtype == np.int16:
        lut = lut_int16(transform, src.scale, src.zero_point, dst.scale, dst.zero_point)
        return lookup_int16(x, lut)
    if src.dtype in (np.int8, np.uint8):
        return lookup_int8(x, lut_int8(transform, src, dst))
    raise call.error(f"{call.builtin} of {src.dtype} is not supported")
