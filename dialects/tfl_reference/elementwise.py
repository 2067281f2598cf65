"""Reference kernels: elementwise arithmetic, comparisons, type conversions, (de)quantization.

Binary ops broadcast like numpy (TFLite's BroadcastBinaryOpSimple does the same up to 6-D).
Quantized ADD, SUB, SQUARED_DIFFERENCE and comparisons bring both inputs to a common
scale first (TFLite's "twice the larger input scale" multipliers after a left shift of
20, 15 or 7, or 8 for comparisons); MUL and DIV rescale the product or quotient once.
Each multiplier is formed in the float/double precision of the TFLite Prepare it mirrors.
"""

from __future__ import annotations

import numpy as np

from litec.dialects.tfl_reference.common import (
    QUANTIZED_DTYPES,
    apply_lut,
    c_math,
    clamp_activation,
    dequantize,
    quant_arrays,
    quantized_activation_range,
)
from litec.dialects.tfl_reference.core import KernelCall, TensorInfo, kernel
from litec.runtime import gemmlowp
from litec.runtime.fixedpoint import (
    checked_log2,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_greater_than_one,
    multiply_by_quantized_multiplier_smaller_than_one_exp,
    quantize_multiplier,
    round_half_away,
    rounding_divide_by_pot,
    saturate,
    wrap_int32,
)

f32 = np.float32


def _clamp(call: KernelCall, y: np.ndarray) -> np.ndarray:
    """An unquantized op's fused activation as a clamp, in the output's dtype."""
    act = call.opts.get("fused_activation_function")
    return clamp_activation(y, act).astype(call.out.dtype, copy=False)


def _wrapping(op, a: np.ndarray, b: np.ndarray, dtype) -> np.ndarray:
    """An integer op with C++ wrap-around in `dtype`."""
    return op(a.astype(np.int64), b.astype(np.int64)).astype(dtype)


def _is_quantized(call: KernelCall) -> bool:
    return call.out.quant is not None and call.out.dtype in QUANTIZED_DTYPES


def _act_range(call: KernelCall) -> tuple[int, int]:
    return quantized_activation_range(call.opts.get("fused_activation_function", "NONE"), call.out)


def _smaller_than_one(call: KernelCall, real: float, what: str) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp, refusing what TFLite cannot compute."""
    if not 0 <= real < 1:
        raise call.error(f"the {what} rescale factor {real:g} is not below 1")
    return quantize_multiplier(real)


# ----------------------------------------------------------------------------- ADD, SUB


def _input_multipliers(call: KernelCall) -> tuple[float, list[tuple[int, int]]]:
    """Twice the larger input scale, and each input's multiplier onto it (TFLite's Prepare of
    ADD, SUB and SQUARED_DIFFERENCE)."""
    i1, i2 = call.inputs[0], call.inputs[1]
    twice_max = 2 * float(max(f32(i1.scale), f32(i2.scale)))
    return twice_max, [
        _smaller_than_one(call, float(f32(info.scale)) / twice_max, f"input {k}")
        for k, info in ((1, i1), (2, i2))
    ]


def _rescaled(x: np.ndarray, info: TensorInfo, left_shift: int, multiplier) -> np.ndarray:
    """A quantized input less its zero point, shifted left (int32), on the common scale."""
    shifted = wrap_int32((x.astype(np.int64) - info.zero_point) << left_shift)
    return multiply_by_quantized_multiplier_smaller_than_one_exp(shifted, *multiplier)


def _pot_shifts(call: KernelCall) -> tuple[int, int] | None:
    """The int16 power-of-two path's input shifts, or None for the general path."""
    i1, i2, out = call.inputs[0], call.inputs[1], call.out
    if out.dtype != np.int16 or not call.opts.get("pot_scale_int16", True):
        return None
    logs = [checked_log2(t.scale) for t in (i1, i2, out)]
    if None in logs:
        return None
    shift1, shift2 = logs[0] - logs[2], logs[1] - logs[2]
    if (shift1 != 0 and shift2 != 0) or shift1 > 0 or shift2 > 0:
        raise call.error("int16 power-of-two scales: one input must match the output scale")
    return shift1, shift2


def _add_sub_quantized(call: KernelCall, a, b, sign: int) -> np.ndarray:
    """Quantized a + sign * b (TFLite's AddElementwise / SubElementwise / Sub16)."""
    i1, i2, out = call.inputs[0], call.inputs[1], call.out
    if out.dtype == np.int16 and (i1.zero_point, i2.zero_point, out.zero_point) != (0, 0, 0):
        raise call.error("int16 ADD/SUB needs zero points of 0")
    lo, hi = _act_range(call)
    shifts = _pot_shifts(call)
    if shifts is not None:
        x1 = rounding_divide_by_pot(a.astype(np.int64), -shifts[0])
        x2 = rounding_divide_by_pot(b.astype(np.int64), -shifts[1])
        return np.clip(gemmlowp.saturate(x1 + sign * x2, 16), lo, hi).astype(out.dtype)
    left_shift = 15 if out.dtype == np.int16 else 20
    twice_max, (m1, m2) = _input_multipliers(call)
    real_out = twice_max / float(f32(1 << left_shift) * f32(out.scale))
    mult_out, shift_out = _smaller_than_one(call, real_out, "output")
    x1, x2 = _rescaled(a, i1, left_shift, m1), _rescaled(b, i2, left_shift, m2)
    y = multiply_by_quantized_multiplier_smaller_than_one_exp(
        wrap_int32(x1 + sign * x2), mult_out, shift_out
    )
    return np.clip(y + out.zero_point, lo, hi).astype(out.dtype)


@kernel("ADD")
def add(call: KernelCall, a, b):
    """TFLite ADD with a fused activation; quantized with TFLite's left shift of 20 (int16: 15)."""
    if _is_quantized(call):
        return _add_sub_quantized(call, a, b, 1)
    if a.dtype.kind == "f":
        return _clamp(call, a + b)
    return _clamp(call, _wrapping(np.add, a, b, a.dtype))


@kernel("SUB")
def sub(call: KernelCall, a, b):
    """TFLite SUB with a fused activation; quantized like ADD."""
    if _is_quantized(call):
        return _add_sub_quantized(call, a, b, -1)
    if a.dtype.kind == "f":
        return _clamp(call, a - b)
    return _clamp(call, _wrapping(np.subtract, a, b, a.dtype))


# ----------------------------------------------------------------------------- MUL, DIV


@kernel("MUL")
def mul(call: KernelCall, a, b):
    """TFLite MUL with a fused activation; quantized: one multiplier s1 * s2 / s_out."""
    if not _is_quantized(call):
        if a.dtype.kind == "f":
            return _clamp(call, a * b)
        return _clamp(call, _wrapping(np.multiply, a, b, a.dtype))
    i1, i2, out = call.inputs[0], call.inputs[1], call.out
    lo, hi = _act_range(call)
    if a.dtype == np.int16 and out.dtype != np.int16:
        product = gemmlowp.mul(a.astype(np.int64), b.astype(np.int64), 16)
        y = np.clip(rounding_divide_by_pot(product, 8), lo - out.zero_point, hi - out.zero_point)
        return (y + out.zero_point).astype(out.dtype)
    if a.dtype != out.dtype:
        raise call.error(f"MUL of {a.dtype} into {out.dtype} is not supported")
    real = float(f32(i1.scale) * f32(i2.scale) / f32(out.scale))
    mult, shift = quantize_multiplier(real)
    product = (a.astype(np.int64) - i1.zero_point) * (b.astype(np.int64) - i2.zero_point)
    y = multiply_by_quantized_multiplier(wrap_int32(product), mult, shift) + out.zero_point
    return np.clip(y, lo, hi).astype(out.dtype)


def _count_leading_sign_bits(x: np.ndarray) -> np.ndarray:
    """TFLite's CountLeadingSignBits of int32 values (31 for 0 and -1)."""
    return gemmlowp.count_leading_zeros32(np.where(x < 0, ~x, x)) - 1


def _rounding_divide_by_pot_x86(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """gemmlowp's int32 RoundingDivideByPOT as TFLite's x86 build computes it, exponents > 31 too.

    DIV asks for shifts past 31 when the dividend is tiny (0 or +-1). There (and for negative
    shifts) the int32 mask (2^e - 1) truncates to -1 and the shift count wraps mod 32 (x86 `sar`), so
    0 / 2^40 rounds to 1: TFLite's reference DIV really outputs zero point + 1 there.
    """
    out_of_range = (exponent < 0) | (exponent > 31)
    in_range = rounding_divide_by_pot(x, np.where(out_of_range, 0, exponent))
    wrapped = (x >> (exponent & 31)) + (x > (x < 0) - 1)
    return np.where(out_of_range, wrapped, in_range)


@kernel("DIV")
def div(call: KernelCall, a, b):
    """TFLite DIV with a fused activation; quantized through a fixed-point reciprocal."""
    if not _is_quantized(call):
        if a.dtype.kind == "f":
            with np.errstate(divide="ignore", invalid="ignore"):
                return _clamp(call, a / b)
        if np.any(b == 0):
            raise call.error("integer division by zero")
        a64, b64 = a.astype(np.int64), b.astype(np.int64)
        quotient = np.abs(a64) // np.abs(b64) * np.sign(a64) * np.sign(b64)
        return _clamp(call, quotient.astype(a.dtype))
    i1, i2, out = call.inputs[0], call.inputs[1], call.out
    if np.any(b.astype(np.int64) == i2.zero_point):
        raise call.error("quantized division by zero")
    mult, shift = quantize_multiplier(float(f32(i1.scale) / (f32(i2.scale) * f32(out.scale))))
    v1 = a.astype(np.int64) - i1.zero_point
    v2 = b.astype(np.int64) - i2.zero_point
    v1, v2 = np.where(v2 < 0, -v1, v1), np.abs(v2)
    reciprocal, recip_shift = gemmlowp.get_reciprocal(v2, 31)
    headroom = _count_leading_sign_bits(v1)
    unscaled = multiply_by_quantized_multiplier_greater_than_one(v1, reciprocal, headroom)
    total_shift = shift - recip_shift - headroom
    y = _rounding_divide_by_pot_x86(gemmlowp.mul(unscaled, mult, 32), -total_shift)
    lo, hi = _act_range(call)
    return np.clip(y + out.zero_point, lo, hi).astype(out.dtype)


@kernel("SQUARED_DIFFERENCE")
def squared_difference(call: KernelCall, a, b):
    """TFLite SQUARED_DIFFERENCE: (a - b)^2; int8 on a common scale after a left shift of 7."""
    if a.dtype.kind == "f":
        d = a - b
        return d * d
    if a.dtype != np.int8:
        if call.out.quant is not None:
            raise call.error(f"SQUARED_DIFFERENCE of quantized {a.dtype} is not supported")
        d = a.astype(np.int64) - b
        return wrap_int32(d * d).astype(a.dtype)
    i1, i2, out = call.inputs[0], call.inputs[1], call.out
    left_shift = 7
    twice_max, (m1, m2) = _input_multipliers(call)
    real_out = twice_max * twice_max / float(f32(1 << (2 * left_shift)) * f32(out.scale))
    mult_out, shift_out = _smaller_than_one(call, real_out, "output")
    diff = _rescaled(a, i1, left_shift, m1) - _rescaled(b, i2, left_shift, m2)
    y = multiply_by_quantized_multiplier_smaller_than_one_exp(
        wrap_int32(diff * diff), mult_out, shift_out
    )
    return saturate(y + out.zero_point, np.int8)


# ----------------------------------------------------------------------------- min, max, compare


@kernel("MAXIMUM")
def maximum(call: KernelCall, a, b):
    """TFLite MAXIMUM: a > b ? a : b (quantized: on the stored values)."""
    return np.where(a > b, a, b).astype(call.out.dtype)


@kernel("MINIMUM")
def minimum(call: KernelCall, a, b):
    """TFLite MINIMUM: a < b ? a : b (quantized: on the stored values)."""
    return np.where(a < b, a, b).astype(call.out.dtype)


def _comparison_scaled(call: KernelCall, x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """TFLite's ComparisonWithScaling: a quantized input on a common fine scale."""
    if float(f32(info.scale)) >= 1:
        raise call.error(f"comparison of a quantized input with scale {info.scale:g} >= 1")
    mult, shift = quantize_multiplier(float(f32(info.scale)))
    shifted = wrap_int32((x.astype(np.int64) - info.zero_point) << 8)
    return multiply_by_quantized_multiplier_smaller_than_one_exp(shifted, mult, shift)


def _compare(call: KernelCall, op, a, b, scaled_int16: bool = False) -> np.ndarray:
    """Compare; int8/uint8 (and for EQUAL quantized int16) on a common scale, as TFLite does."""
    i1, i2 = call.inputs[0], call.inputs[1]
    scaled = a.dtype in (np.int8, np.uint8) or (a.dtype == np.int16 and scaled_int16)
    if scaled and i1.quant is not None and i2.quant is not None:
        a, b = _comparison_scaled(call, a, i1), _comparison_scaled(call, b, i2)
    return op(a, b)


@kernel("LESS")
def less(call: KernelCall, a, b):
    """TFLite LESS (int8/uint8 compared on a common scale, int16 on the stored values)."""
    return _compare(call, np.less, a, b)


@kernel("GREATER")
def greater(call: KernelCall, a, b):
    """TFLite GREATER (int8/uint8 compared on a common scale, int16 on the stored values)."""
    return _compare(call, np.greater, a, b)


@kernel("EQUAL")
def equal(call: KernelCall, a, b):
    """TFLite EQUAL (quantized inputs compared on a common scale)."""
    return _compare(call, np.equal, a, b, scaled_int16=True)


@kernel("LOGICAL_AND")
def logical_and(call: KernelCall, a, b):
    """TFLite LOGICAL_AND."""
    return np.logical_and(a, b)


@kernel("LOGICAL_OR")
def logical_or(call: KernelCall, a, b):
    """TFLite LOGICAL_OR."""
    return np.logical_or(a, b)


@kernel("LOGICAL_NOT")
def logical_not(call: KernelCall, x):
    """TFLite LOGICAL_NOT."""
    return np.logical_not(x)


# ----------------------------------------------------------------------------- unary


@kernel("NEG")
def neg(call: KernelCall, x):
    """TFLite NEG: -x on the stored values (quantized tensors too), wrapping."""
    return (-x.astype(np.int64)).astype(x.dtype) if x.dtype.kind in "iu" else -x


@kernel("ABS")
def abs_(call: KernelCall, x):
    """TFLite ABS; int8 (and quantized int16) rescaled when the scales differ."""
    src, dst = call.inputs[0], call.out
    if x.dtype.kind == "f":
        return np.abs(x)
    if not (x.dtype == np.int8 or (x.dtype == np.int16 and src.quant is not None)):
        return np.abs(x.astype(np.int64)).astype(x.dtype)
    if src.quant is None or dst.quant is None:
        raise call.error(f"ABS of unquantized {x.dtype} is not supported")
    value = np.abs(x.astype(np.int64) - src.zero_point)
    if f32(src.scale) != f32(dst.scale):
        mult, shift = quantize_multiplier(float(f32(src.scale) / f32(dst.scale)))
        value = multiply_by_quantized_multiplier(value, mult, shift)
    return saturate(value + dst.zero_point, x.dtype)


def _float_or_lut(call: KernelCall, x, float_fn, transform) -> np.ndarray:
    """A float op in float32, or its quantized version through TFLite's table."""
    if x.dtype == np.float32:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float_fn(x).astype(np.float32)
    if x.dtype == np.int16 and call.inputs[0].zero_point != 0:
        raise call.error(f"int16 {call.builtin} needs a zero point of 0")
    return apply_lut(call, x, transform)


@kernel("EXP")
def exp(call: KernelCall, x):
    """TFLite EXP; int8/int16 through a table."""
    return _float_or_lut(call, x, np.exp, lambda v: c_math("exp", v))


@kernel("LOG")
def log(call: KernelCall, x):
    """TFLite LOG; int8/int16 through a table (log of x <= 0 is the lowest output)."""
    dst = call.out
    if dst.quant is None:
        return _float_or_lut(call, x, np.log, None)
    lowest = f32(np.iinfo(dst.dtype).min - dst.zero_point) * f32(dst.scale)

    def transform(v):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v <= 0, lowest, c_math("log", np.maximum(v, f32(1e-30))))

    return _float_or_lut(call, x, np.log, transform)


@kernel("SQRT")
def sqrt(call: KernelCall, x):
    """TFLite SQRT; int8/int16 via float: trunc(sqrt(dequantized) / s_out) + zp_out."""
    if x.dtype == np.float32:
        with np.errstate(invalid="ignore"):
            return np.sqrt(x)
    src, dst = call.inputs[0], call.out
    if x.dtype not in (np.int8, np.int16) or src.quant is None or dst.quant is None:
        raise call.error(f"SQRT of {x.dtype} is not supported")
    real = f32(src.scale) * (x.astype(np.int64) - src.zero_point).astype(f32)
    if np.any(real < 0):
        raise call.error("Sqrt is only defined for non-negative values")
    q = np.trunc(np.sqrt(real) / f32(dst.scale)).astype(np.int64) + dst.zero_point
    return saturate(q, x.dtype)


@kernel("RSQRT")
def rsqrt(call: KernelCall, x):
    """TFLite RSQRT; int8 through GetInvSqrtQuantizedMultiplierExp, int16 through a table."""
    if x.dtype == np.float32:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (f32(1) / np.sqrt(x)).astype(np.float32)
    src, dst = call.inputs[0], call.out
    if src.quant is None or dst.quant is None or x.dtype not in (np.int8, np.int16):
        raise call.error(f"RSQRT of {x.dtype} is not supported")
    if np.any(x.astype(np.int64) < src.zero_point):
        raise call.error("Rsqrt is only defined for positive values")
    if x.dtype == np.int16:
        at_zero = f32(32767) * f32(dst.scale)

        def transform(v):
            with np.errstate(divide="ignore"):
                return np.where(v <= 0, at_zero, f32(1) / np.sqrt(np.maximum(v, f32(0))))

        return _float_or_lut(call, x, None, transform)
    mult, shift = quantize_multiplier(1.0 / float(np.sqrt(f32(src.scale)) * f32(dst.scale)))
    value = x.astype(np.int64) - src.zero_point
    inv_mult, inv_shift = gemmlowp.inv_sqrt_quantized_multiplier_exp(value, -1)
    data = multiply_by_quantized_multiplier(1, inv_mult, inv_shift + 20)
    y = multiply_by_quantized_multiplier(data, mult, shift - 20) + dst.zero_point
    return np.where(value == 0, 127, saturate(y, np.int8)).astype(np.int8)


@kernel("SQUARE")
def square(call: KernelCall, x):
    """TFLite SQUARE (float32)."""
    if x.dtype != np.float32:
        raise call.error(f"SQUARE of {x.dtype} is not supported")
    return x * x


@kernel("FLOOR")
def floor(call: KernelCall, x):
    """TFLite FLOOR (float)."""
    if x.dtype.kind != "f":
        raise call.error(f"FLOOR of {x.dtype} is not supported")
    return np.floor(x)


@kernel("CAST")
def cast(call: KernelCall, x):
    """TFLite CAST: float to integer truncates and saturates (NaN to the maximum)."""
    dtype = call.out.dtype
    if x.dtype.kind != "f" or dtype.kind not in "iu":
        return x.astype(dtype)
    info = np.iinfo(dtype)
    v = x.astype(np.float64)
    clipped = np.clip(np.trunc(np.nan_to_num(v, nan=info.max)), info.min, info.max)
    return clipped.astype(dtype)


# ----------------------------------------------------------------------------- (de)quantization


def affine_quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """TFLite's AffineQuantize: zp + round(x / scale) in float32, clamped to the storage type."""
    scale, zero_point = quant_arrays(info, x.ndim)
    q = round_half_away(x.astype(np.float32) / scale).astype(np.float64) + zero_point
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
