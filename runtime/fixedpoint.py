"""Exact fixed-point arithmetic of TFLite's integer kernels, vectorised with numpy.

Written once, at the bottom of the stack, for the reference interpreter, the CPU
lowering (to compute kernel parameters) and the NPU simulator. Every function matches
TFLite's C++ (gemmlowp-style) definition bit for bit, including C++'s truncating
division, its rounding rules and int32 wrap-around, in the default build
(double-rounding `MultiplyByQuantizedMultiplier`, `TFLITE_SINGLE_ROUNDING` off); the
tests check them against big-integer references.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = q * 2^(shift - 31) with |q| a Q31 int32 in [2^30, 2^31).

    Reals below 2^-32 or so flush to (0, 0) as TFLite does; shifts above 30 are kept (only
    the single-rounding build saturates them).
    """
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def quantize_multiplier_array(reals) -> tuple[np.ndarray, np.ndarray]:
    """`quantize_multiplier` for each element (per-channel scales); int64 arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int64)
    shift = np.array([p[1] for p in pairs], dtype=np.int64)
    return mult, shift


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplierSmallerThanOneExp: returns (multiplier, left_shift <= 0)."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real} is not in (0, 1)")
    return quantize_multiplier(real)


def _round_half_away(x: float) -> int:
    """C's round() of a double: halves away from zero (exact: x - trunc(x) is representable)."""
    t = math.trunc(x)
    frac = x - t
    return t + (frac >= 0.5) - (frac <= -0.5)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Vectorised C round() (TfLiteRound): halves away from zero; keeps the float dtype.

    Exact for every float: the fraction x - trunc(x) is representable, so no
    `floor(|x| + 0.5)` double rounding (which sends 0.49999997f to 1).
    """
    t = np.trunc(x)
    with np.errstate(invalid="ignore"):  # inf - inf: infinities stay themselves
        return t + np.sign(x) * (np.abs(x - t) >= 0.5)


def round_to_int32(x) -> np.ndarray:
    """C++ `static_cast<int32_t>(std::round(x))` on x86-64, as int64.

    Halves away from zero; values outside the int32 range (and NaN) become INT32_MIN,
    the "integer indefinite" value that x86's conversion returns.
    """
    r = round_half_away(np.asarray(x, dtype=np.float64))
    in_range = (r >= INT32_MIN) & (r <= INT32_MAX)
    return np.where(in_range, r, INT32_MIN).astype(np.int64)


def saturating_rounding_doubling_high_mul(a, b, bits: int = 32) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on `bits`-bit values (16 or 32; returns
    int64 holding them).

    gemmlowp nudges a·b by ±2^(bits-2) and divides by 2^(bits-1) truncating; that is
    a·b / 2^(bits-1) rounded half up, i.e. (a·b + 2^(bits-2)) >> (bits-1), except that
    min · min saturates to max.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    result = (a * b + (1 << (bits - 2))) >> (bits - 1)
    lowest = -(1 << (bits - 1))
    overflow = (a == lowest) & (b == lowest)
    if overflow.any():
        return np.where(overflow, -lowest - 1, result)
    return result


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent (0..31), rounding half away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to the int32 range (C++ int32 overflow), as int64."""
    return np.asarray(x, dtype=np.int64).astype(np.int32).astype(np.int64)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier(int32_t x, ...) (double rounding, the default).

    x: int32 values (wider integers wrap to int32, as passing them to the C++ function
    does); multiplier, shift: scalars or arrays broadcasting against x (per-channel).
    Returns int64 holding int32 results.
    """
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    shifted = wrap_int32(x)
    if left.any():
        shifted = wrap_int32(shifted << left)
    high = saturating_rounding_doubling_high_mul(shifted, multiplier)
    return rounding_divide_by_pot(high, np.maximum(-shift, 0))


def multiply_by_quantized_multiplier_int64(x, multiplier, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier(int64_t x, ...) of the 16x8 kernels.

    The Q31 multiplier is rounded to Q15, the product is rounded half up with one shift,
    and the result is truncated to int32 (`int32_t result = x >> total_shift`).
    x: int64 accumulators (|x| < 2^47); returns int64 holding int32 results.
    """
    x = np.asarray(x, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64)
    reduced = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, 0x7FFF)
    total_shift = 15 - np.asarray(shift, dtype=np.int64)
    rounded = x * reduced + (np.int64(1) << (total_shift - 1))
    return wrap_int32(rounded >> total_shift)


def multiply_by_quantized_multiplier_smaller_than_one_exp(x, multiplier, left_shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplierSmallerThanOneExp (left_shift <= 0)."""
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, multiplier),
        -np.asarray(left_shift, dtype=np.int64),
    )


def multiply_by_quantized_multiplier_greater_than_one(x, multiplier, left_shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplierGreaterThanOne (left_shift >= 0)."""
    shifted = wrap_int32(np.asarray(x, dtype=np.int64) << np.asarray(left_shift, dtype=np.int64))
    return saturating_rounding_doubling_high_mul(shifted, multiplier)


def saturate(x: np.ndarray, dtype) -> np.ndarray:
    """Clamp to the range of an integer dtype and cast."""
    info = np.iinfo(dtype)
    return np.clip(x, info.min, info.max).astype(dtype)


def trunc_div(x, divisor) -> np.ndarray:
    """C++ integer division of int64 values: the quotient truncated toward zero."""
    x = np.asarray(x, dtype=np.int64)
    q = np.abs(x) // divisor
    return np.where(x < 0, -q, q)


def checked_log2(x: float) -> int | None:
    """TFLite's CheckedLog2: log2 of a (nearly) power-of-two float32 value, None otherwise."""
    log2 = np.float32(np.log(np.float32(x))) * (np.float32(1) / np.float32(np.log(np.float32(2))))
    rounded = round_half_away(log2)
    return int(rounded) if abs(log2 - rounded) < np.float32(1e-3) else None


# ----------------------------------------------------------------------------- input quantizers


def round_like_tflite_x86(rows: np.ndarray) -> np.ndarray:
    """How TFLite's x86 build rounds in its input quantizers (NEON code through NEON_2_SSE).

    Each row's leading multiple of 8 values goes through RoundToNearest, which truncates
    v ± 0.5 computed in float32; the remaining tail uses round(), halves away from zero.
    """
    vectorised = rows.shape[1] & ~7
    out = round_half_away(rows)
    head = rows[:, :vectorised]
    out[:, :vectorised] = np.trunc(head + np.where(head < 0, np.float32(-0.5), np.float32(0.5)))
    return out


def symmetric_quantize_floats(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's SymmetricQuantizeFloats of each float32 row: int8 values in [-127, 127] (as
    integer-valued float64) and float32 scales."""
    f32 = np.float32
    rng = np.maximum(np.abs(rows.min(axis=1)), np.abs(rows.max(axis=1)))
    zero = rng == 0
    safe = np.where(zero, f32(1), rng)
    scale = np.where(zero, f32(1), safe / f32(127))
    q = np.clip(round_like_tflite_x86(rows * (f32(127) / safe)[:, None]), -127, 127)
    q[zero] = 0
    return q.astype(np.float64), scale


def asymmetric_quantize_floats(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TFLite's AsymmetricQuantizeFloats of each float32 row: int8 values (as integer-valued
    float64), float32 scales, zero points; the zero point is added after rounding.

    The range's ends are float32 in TFLite's NEON code (x86 included), so the width
    rmax - rmin is rounded to float32 before the parameters are computed in double."""
    lo = np.minimum(rows.min(axis=1), 0).astype(np.float32)
    hi = np.maximum(rows.max(axis=1), 0).astype(np.float32)
    rmin, rmax = lo.astype(np.float64), hi.astype(np.float64)
    flat = rmin == rmax
    scale = np.where(flat, 1.0, (hi - lo).astype(np.float64) / 255.0)
    from_min_error = 128.0 + np.abs(rmin / scale)
    from_max_error = 127.0 + np.abs(rmax / scale)
    zp = np.where(from_min_error < from_max_error, -128.0 - rmin / scale, 127.0 - rmax / scale)
    offset = np.where(flat, 0, np.clip(round_half_away(zp), -128, 127)).astype(np.int64)
    scale32 = scale.astype(np.float32)
    inverse = (1.0 / scale32.astype(np.float64)).astype(np.float32)
    q = np.clip(round_like_tflite_x86(rows * inverse[:, None]) + offset[:, None], -128, 127)
    q[flat] = 0
    return q, scale32, offset


def batch_quantize_floats(rows: np.ndarray, asymmetric: bool):
    """TFLite's BatchQuantizeFloats: (int8 values, float32 scales, zero points) per row.

    Every hybrid kernel (convolutions, FULLY_CONNECTED, BATCH_MATMUL, LSTM, SVDF)
    quantizes its float inputs with it.
    """
    if asymmetric:
        return asymmetric_quantize_floats(rows)
    q, scale = symmetric_quantize_floats(rows)
    return q, scale, np.zeros(len(rows), np.int64)
