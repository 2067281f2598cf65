"""gemmlowp's fixed-point arithmetic (`fixedpoint/fixedpoint.h`), exact and vectorised.

TFLite's integer kernels compute exp, tanh, logistic, reciprocals, logarithms and inverse
square roots with gemmlowp's `FixedPoint<tRawType, tIntegerBits>`: a raw integer of
`bits` bits (16 or 32) read as `raw / 2^(bits - 1 - integer_bits)`. This module
reproduces those functions bit for bit on numpy arrays, together with the few helpers
TFLite adds on top of them in `kernels/internal/common.h` (GetReciprocal,
log_x_for_x_greater_than_or_equal_to_1, GetInvSqrtQuantizedMultiplierExp).

Raw values travel as int64 arrays holding the C++ value. Every step wraps or saturates
exactly as the scalar C++ does for the raw type: `+` and `-` wrap, `*` of two fixed-point
values is SaturatingRoundingDoublingHighMul, rescaling saturates. `bits` is always
explicit: the same function differs between int16 and int32 raw types.

Numpy only: the reference interpreter, the CPU lowering and the NPU simulator share it.
"""

from __future__ import annotations

import numpy as np

from litec.runtime.fixedpoint import rounding_divide_by_pot, saturating_rounding_doubling_high_mul

# ----------------------------------------------------------------------------- raw integers


def raw_min(bits: int) -> int:
    """The smallest raw value of a `bits`-wide signed integer."""
    return -(1 << (bits - 1))


def raw_max(bits: int) -> int:
    """The largest raw value of a `bits`-wide signed integer."""
    return (1 << (bits - 1)) - 1


def wrap(x, bits: int) -> np.ndarray:
    """Two's-complement wrap to `bits` bits (C++ integer overflow and narrowing)."""
    half = 1 << (bits - 1)
    return ((np.asarray(x, dtype=np.int64) + half) & ((1 << bits) - 1)) - half


def saturate(x, bits: int) -> np.ndarray:
    """Clamp to the range of a `bits`-wide signed integer."""
    return np.clip(np.asarray(x, dtype=np.int64), raw_min(bits), raw_max(bits))


def add(a, b, bits: int) -> np.ndarray:
    """gemmlowp's Add: a + b, wrapping (also `operator+` on FixedPoint)."""
    return wrap(np.asarray(a, dtype=np.int64) + b, bits)


def sub(a, b, bits: int) -> np.ndarray:
    """gemmlowp's Sub: a - b, wrapping."""
    return wrap(np.asarray(a, dtype=np.int64) - b, bits)


def neg(a, bits: int) -> np.ndarray:
    """gemmlowp's Neg: -a, wrapping (the minimum stays the minimum)."""
    return wrap(-np.asarray(a, dtype=np.int64), bits)


def saturating_add(a, b, bits: int) -> np.ndarray:
    """a + b saturated to the raw type (gemmlowp SaturatingAdd, TFLite SaturatingAddNonGemmlowp)."""
    return saturate(np.asarray(a, dtype=np.int64) + b, bits)


def saturating_sub(a, b, bits: int) -> np.ndarray:
    """a - b saturated to the raw type (TFLite's SaturatingSub)."""
    return saturate(np.asarray(a, dtype=np.int64) - b, bits)


def _trunc_div_pow2(x: np.ndarray, shift: int) -> np.ndarray:
    """C++ division of int64 values by 2^shift: truncation toward zero."""
    q = np.abs(x) >> shift
    return np.where(x < 0, -q, q)


def mul(a, b, bits: int) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul: the product of two fixed-point values.

    `a * b / 2^(bits - 1)` rounded half up (gemmlowp's nudge, then truncation); only
    `min * min` saturates. Integer bits add up: F<m> * F<n> is an F<m + n>.
    """
    return saturating_rounding_doubling_high_mul(a, b, bits)


def multiply_by_pot(x, exponent, bits: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT: x * 2^exponent, saturating up, rounding down.

    `exponent` may be an array when it is non-negative (TFLite's
    SaturatingRoundingMultiplyByPOTParam); a negative exponent must be a scalar.
    """
    x = np.asarray(x, dtype=np.int64)
    if np.ndim(exponent) == 0 and exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    return saturate(x << np.asarray(exponent, dtype=np.int64), bits)


def rescale(x, src_integer_bits: int, dst_integer_bits: int, bits: int) -> np.ndarray:
    """gemmlowp's Rescale<dst>(F<src>): change the number of integer bits."""
    return multiply_by_pot(x, src_integer_bits - dst_integer_bits, bits)


def rounding_half_sum(a, b) -> np.ndarray:
    """gemmlowp's RoundingHalfSum: (a + b) / 2, rounding half away from zero."""
    total = np.asarray(a, dtype=np.int64) + b
    return _trunc_div_pow2(total + np.where(total >= 0, 1, -1), 1)


def count_leading_zeros32(x) -> np.ndarray:
    """TFLite's CountLeadingZeros of the value as uint32 (32 for zero)."""
    u = np.asarray(x, dtype=np.int64) & 0xFFFFFFFF
    _, bit_length = np.frexp(u.astype(np.float64))  # exact: u < 2^53
    return np.where(u == 0, 32, 32 - bit_length).astype(np.int64)


# ----------------------------------------------------------------------------- constants


def constant(int32_raw: int, bits: int) -> int:
    """GEMMLOWP_CHECKED_FIXEDPOINT_CONSTANT: an int32 raw constant narrowed to `bits` bits."""
    return int(rounding_divide_by_pot(np.int64(int32_raw), 32 - bits))


def one(integer_bits: int, bits: int) -> int:
    """FixedPoint::One(): the largest raw value when there are no integer bits."""
    if integer_bits == 0:
        return raw_max(bits)
    return 1 << (bits - 1 - integer_bits)


def constant_pot(exponent: int, integer_bits: int, bits: int) -> int:
    """FixedPoint::ConstantPOT<exponent>(): 2^exponent."""
    return 1 << (bits - 1 - integer_bits + exponent)


# ----------------------------------------------------------------------------- exp, tanh, logistic

_EXP_BARREL = (
    (-2, 1672461947),  # exp(-1/4)
    (-1, 1302514674),  # exp(-1/2)
    (0, 790015084),  # exp(-1)
    (1, 290630308),  # exp(-2)
    (2, 39332535),  # exp(-4)
    (3, 720401),  # exp(-8)
    (4, 242),  # exp(-16)
)
"""exp(-2^k) as Q0.31 constants, for the bits of the input above one quarter."""


def _add_saturating_if_16bit(a, b, bits: int) -> np.ndarray:
    return saturating_add(a, b, bits) if bits == 16 else add(a, b, bits)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a, bits: int) -> np.ndarray:
    """exp(a) for a F0 in [-1/4, 0): a Taylor expansion around -1/8; returns F0."""
    constant_term = constant(1895147668, bits)  # exp(-1/8)
    one_third = constant(715827883, bits)
    x = add(a, constant_pot(-3, 0, bits), bits)
    x2 = mul(x, x, bits)
    x3 = mul(x2, x, bits)
    x4 = mul(x2, x2, bits)
    x4_over_4 = multiply_by_pot(x4, -2, bits)
    poly = multiply_by_pot(add(mul(add(x4_over_4, x3, bits), one_third, bits), x2, bits), -1, bits)
    return _add_saturating_if_16bit(
        constant_term, mul(constant_term, add(x, poly, bits), bits), bits
    )


def exp_on_negative_values(a, integer_bits: int, bits: int) -> np.ndarray:
    """gemmlowp's exp_on_negative_values: exp(a) for a F<integer_bits> a <= 0; returns F0."""
    a = np.asarray(a, dtype=np.int64)
    fractional_bits = bits - 1 - integer_bits
    one_quarter = constant_pot(-2, integer_bits, bits)
    a_mod_quarter_minus_one_quarter = sub(a & (one_quarter - 1), one_quarter, bits)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0, bits), bits
    )
    remainder = sub(a_mod_quarter_minus_one_quarter, a, bits)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            scaled = mul(result, constant(multiplier, bits), bits)
            result = np.where(remainder & bit, scaled, result)
    if integer_bits > 5:
        clamp = constant(-(1 << (36 - integer_bits)), bits)  # -32
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, one(0, bits), result)


def _newton_reciprocal(half_denominator, bits: int) -> np.ndarray:
    """Three Newton-Raphson steps towards 1 / half_denominator; returns F2."""
    x = add(
        constant(1515870810, bits),  # 48/17
        mul(half_denominator, constant(-1010580540, bits), bits),  # -32/17
        bits,
    )
    one_f2 = one(2, bits)
    for _ in range(3):
        one_minus_half_denominator_times_x = sub(one_f2, mul(half_denominator, x, bits), bits)
        x = add(x, rescale(mul(x, one_minus_half_denominator_times_x, bits), 4, 2, bits), bits)
    return x


def one_minus_x_over_one_plus_x_for_x_in_0_1(a, bits: int) -> np.ndarray:
    """(1 - a) / (1 + a) for a F0 a in (0, 1); returns F0."""
    x = _newton_reciprocal(rounding_half_sum(a, one(0, bits)), bits)
    return rescale(sub(x, one(2, bits), bits), 2, 0, bits)


def one_over_one_plus_x_for_x_in_0_1(a, bits: int) -> np.ndarray:
    """1 / (1 + a) for a F0 a in (0, 1); returns F0."""
    x = _newton_reciprocal(rounding_half_sum(a, one(0, bits)), bits)
    return rescale(x, 1, 0, bits)  # ExactMulByPot<-1> makes it an F1


def tanh(a, integer_bits: int, bits: int) -> np.ndarray:
    """gemmlowp's tanh of a F<integer_bits>; returns F0."""
    a = np.asarray(a, dtype=np.int64)
    negative = a < 0
    n = np.where(negative, a, neg(a, bits))
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(n, integer_bits + 1, bits), bits
    )
    return np.where(a == 0, 0, np.where(negative, neg(t, bits), t))


def logistic(a, integer_bits: int, bits: int) -> np.ndarray:
    """gemmlowp's logistic 1 / (1 + exp(-a)) of a F<integer_bits>; returns F0."""
    a = np.asarray(a, dtype=np.int64)
    positive = a > 0
    abs_input = np.where(positive, a, neg(a, bits))
    if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(neg(abs_input, bits), integer_bits, bits), bits
    )
    if_negative = sub(one(0, bits), if_positive, bits)
    one_half = constant(1 << 30, bits)
    return np.where(a == 0, one_half, np.where(positive, if_positive, if_negative))


# ----------------------------------------------------------------------------- TFLite's helpers


def get_reciprocal(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetReciprocal of a positive int32 F<x_integer_digits>.

    Returns (the F0 reciprocal of x scaled into [1, 2), num_bits_over_unit).
    """
    x = np.asarray(x, dtype=np.int64)
    headroom_plus_one = count_leading_zeros32(x)
    shifted_sum_minus_one = wrap((x << headroom_plus_one) - (1 << 31), 32)
    shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one, 32)
    return shifted_scale, x_integer_digits - headroom_plus_one


def log_x_for_x_greater_than_or_equal_to_1(
    x, output_integer_bits: int, input_integer_bits: int
) -> np.ndarray:
    """TFLite's log_x_for_x_greater_than_or_equal_to_1 on int32: log of a F<input> x >= 1.

    Returns a F<output_integer_bits>.
    """
    accum_bits = output_integer_bits + 1
    log_2, sqrt_sqrt_half, sqrt_half = 1488522236, 1805811301, 1518500250
    alpha_n, alpha_d, alpha_i, alpha_f = 117049297, 127690142, 1057819769, 638450708
    shifted_quarter = int(rescale(536870912, 0, accum_bits, 32))

    z_a = np.asarray(x, dtype=np.int64)
    z_a_headroom_plus_1 = count_leading_zeros32(z_a)
    r_a_tmp = multiply_by_pot(z_a, z_a_headroom_plus_1 - 1, 32)
    r_a_raw = multiply_by_pot(mul(r_a_tmp, sqrt_half, 32), 1, 32)
    z_a_pow_2_adj = saturating_add(
        multiply_by_pot(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits, 32),
        shifted_quarter,
        32,
    )
    z_b = mul(z_a, sqrt_half, 32)
    z_b_headroom = count_leading_zeros32(z_b) - 1
    r_b_raw = multiply_by_pot(z_a, z_b_headroom, 32)
    z_b_pow_2_adj = saturating_sub(
        multiply_by_pot(input_integer_bits - z_b_headroom, 31 - accum_bits, 32),
        shifted_quarter,
        32,
    )
    r = np.minimum(r_a_raw, r_b_raw)
    z_pow_2_adj = np.maximum(z_a_pow_2_adj, z_b_pow_2_adj)

    p = rounding_half_sum(r, sqrt_sqrt_half)
    q = sub(r, sqrt_sqrt_half, 32)
    q = add(q, q, 32)
    common_sq = mul(q, q, 32)
    num = add(mul(q, r, 32), mul(mul(q, common_sq, 32), alpha_n, 32), 32)
    denom_minus_one = add(
        mul(p, add(add(alpha_i, q, 32), mul(alpha_d, common_sq, 32), 32), 32),
        mul(alpha_f, q, 32),
        32,
    )
    recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one, 32)
    num_scaled = rescale(num, 0, accum_bits, 32)
    total = add(mul(z_pow_2_adj, log_2, 32), mul(num_scaled, recip_denom, 32), 32)
    return rescale(total, accum_bits, output_integer_bits, 32)


def inv_sqrt_quantized_multiplier_exp(x, reverse_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp of non-negative int32 values.

    Returns (multiplier, shift) with 1/sqrt(x) = multiplier * 2^(shift * -reverse_shift - 31)
    (as TFLite computes it: five Newton-Raphson steps in F3). Inputs 0 and 1 give
    (INT32_MAX, 0).
    """
    x = np.asarray(x, dtype=np.int64)
    small = x <= 1
    x = np.where(small, 2, x)
    shift = np.full(x.shape, 11, dtype=np.int64)
    while np.any(x >= 1 << 29):
        big = x >= 1 << 29
        x = np.where(big, x >> 2, x)
        shift += big
    left_shift_bit_pairs = (count_leading_zeros32(x) - 1) // 2 - 1
    shift -= left_shift_bit_pairs
    x = x << (2 * left_shift_bit_pairs)

    half_input = multiply_by_pot(x >> 1, -1, 32)  # F3
    half_three = (1 << 28) + (1 << 27)  # 1.5 in F3
    y = np.full(x.shape, one(3, 32), dtype=np.int64)
    for _ in range(5):
        y3 = rescale(mul(mul(y, y, 32), y, 32), 9, 3, 32)
        y = rescale(sub(mul(half_three, y, 32), mul(half_input, y3, 32), 32), 6, 3, 32)
    y = mul(y, 1518500250, 32)  # sqrt(2) / 2 in F0
    negative = shift < 0
    y = np.where(negative, wrap(y << np.maximum(-shift, 0), 32), y)
    shift = np.where(negative, 0, shift) * reverse_shift
    return np.where(small, raw_max(32), y), np.where(small, 0, shift)
