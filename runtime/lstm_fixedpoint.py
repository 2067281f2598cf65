"""gemmlowp's fixed-point transcendental functions on numpy arrays, bit-exact.

TFLite's integer LSTM computes its gate activations with gemmlowp's `logistic` and
`tanh` on `FixedPoint<int16_t, N>` values (Q3.12 gates, a Qm.n cell state), and its
integer layer norm with `GetInvSqrtQuantizedMultiplierExp`. This module reproduces them.

Raw fixed-point values travel as int64 arrays; `bits` is the width of the C++ raw type
(16 or 32) and every step wraps or saturates exactly as gemmlowp's scalar code does for
that type (plain `+`/`-` wrap, `*` is SaturatingRoundingDoublingHighMul, rescaling
saturates). `integer_bits` is gemmlowp's `tIntegerBits`.
"""

from __future__ import annotations

import numpy as np
from litec.runtime.fixedpoint import rounding_divide_by_pot


def wrap(x, bits: int) -> np.ndarray:
    """Two's-complement wrap to a `bits`-wide signed integer (C++ narrowing conversion)."""
    half = 1 << (bits - 1)
    return ((np.asarray(x, dtype=np.int64) + half) & ((1 << bits) - 1)) - half


def saturate(x, bits: int) -> np.ndarray:
    """Clamp to the range of a `bits`-wide signed integer."""
    half = 1 << (bits - 1)
    return np.clip(np.asarray(x, dtype=np.int64), -half, half - 1)


def srdhm(a, b, bits: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul for int16 or int32 raw values."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << (bits - 2), 1 - (1 << (bits - 2)))
    total = ab + nudge
    q = np.abs(total) >> (bits - 1)  # C++ division truncates toward zero
    result = np.where(total < 0, -q, q)
    low = -(1 << (bits - 1))
    return np.where((a == low) & (b == low), (1 << (bits - 1)) - 1, result)


def multiply_by_pot(x, exponent: int, bits: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> (also what Rescale does)."""
    x = np.asarray(x, dtype=np.int64)
    if exponent > 0:
        return saturate(x << exponent, bits)
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    return x


def constant(int32_raw: int, bits: int) -> int:
    """GEMMLOWP_CHECKED_FIXEDPOINT_CONSTANT: an int32 raw value rounded to `bits` bits."""
    return int(rounding_divide_by_pot(np.int64(int32_raw), 32 - bits))


def one(integer_bits: int, bits: int) -> int:
    """FixedPoint::One(): the largest raw value when there are no integer bits."""
    if integer_bits == 0:
        return (1 << (bits - 1)) - 1
    return 1 << (bits - 1 - integer_bits)


def _rounding_half_sum(a, b, bits: int) -> np.ndarray:
    total = np.asarray(a, dtype=np.int64) + b
    sign = np.where(total >= 0, 1, -1)
    q = np.abs(total + sign) >> 1
    return wrap(np.where(total + sign < 0, -q, q), bits)


def _add_saturating_if_16bit(a, b, bits: int) -> np.ndarray:
    total = np.asarray(a, dtype=np.int64) + b
    return saturate(total, bits) if bits == 16 else wrap(total, bits)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a, bits: int) -> np.ndarray:
    frac = bits - 1
    constant_term = constant(1895147668, bits)
    one_third = constant(715827883, bits)
    x = wrap(a + (1 << (frac - 3)), bits)
    x2 = srdhm(x, x, bits)
    x3 = srdhm(x2, x, bits)
    x4 = srdhm(x2, x2, bits)
    x4_over_4 = multiply_by_pot(x4, -2, bits)
    poly = wrap(srdhm(wrap(x4_over_4 + x3, bits), one_third, bits) + x2, bits)
    poly = multiply_by_pot(poly, -1, bits)
    return _add_saturating_if_16bit(
        constant_term, srdhm(constant_term, wrap(x + poly, bits), bits), bits
    )


_EXP_BARREL = (
    (-2, 1672461947),
    (-1, 1302514674),
    (0, 790015084),
    (1, 290630308),
    (2, 39332535),
    (3, 720401),
    (4, 242),
)
"""(exponent, Q0.31 raw exp(-2^exponent)) for gemmlowp's exp barrel shifter."""


def exp_on_negative_values(a, integer_bits: int, bits: int) -> np.ndarray:
    """gemmlowp's exp_on_negative_values: exp(a) for a <= 0, as a Q0 value."""
    a = np.asarray(a, dtype=np.int64)
    frac = bits - 1 - integer_bits
    one_quarter = 1 << (frac - 2)
    a_mod_quarter_minus_one_quarter = wrap((a & (one_quarter - 1)) - one_quarter, bits)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits, bits), bits
    )
    remainder = wrap(a_mod_quarter_minus_one_quarter - a, bits)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit_set = (remainder & (1 << (frac + exponent))) != 0
            result = np.where(bit_set, srdhm(result, constant(multiplier, bits), bits), result)
    if integer_bits > 5:
        clamp = constant(-(1 << (36 - integer_bits)), bits)
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, one(0, bits), result)


def _newton_reciprocal(half_denominator, bits: int) -> np.ndarray:
    """The Q2 Newton-Raphson iterate of 1 / half_denominator shared by tanh and logistic."""
    x = wrap(
        constant(1515870810, bits) + srdhm(half_denominator, constant(-1010580540, bits), bits),
        bits,
    )
    one_q2 = one(2, bits)
    for _ in range(3):
        one_minus = wrap(one_q2 - srdhm(half_denominator, x, bits), bits)
        x = wrap(x + multiply_by_pot(srdhm(x, one_minus, bits), 2, bits), bits)
    return x


def _one_minus_x_over_one_plus_x_for_x_in_0_1(a, bits: int) -> np.ndarray:
    x = _newton_reciprocal(_rounding_half_sum(a, one(0, bits), bits), bits)
    return multiply_by_pot(wrap(x - one(2, bits), bits), 2, bits)


def _one_over_one_plus_x_for_x_in_0_1(a, bits: int) -> np.ndarray:
    x = _newton_reciprocal(_rounding_half_sum(a, one(0, bits), bits), bits)
    return multiply_by_pot(x, 1, bits)


def tanh(a, integer_bits: int, bits: int = 16) -> np.ndarray:
    """gemmlowp::tanh of Q`integer_bits` raw values; the result is Q0 (raw / 2^(bits-1))."""
    a = np.asarray(a, dtype=np.int64)
    negative = a < 0
    n = np.where(negative, a, wrap(-a, bits))
    t = _one_minus_x_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(n, integer_bits + 1, bits), bits
    )
    return np.where(a == 0, 0, np.where(negative, wrap(-t, bits), t))


def logistic(a, integer_bits: int, bits: int = 16) -> np.ndarray:
    """gemmlowp::logistic of Q`integer_bits` raw values; the result is Q0."""
    a = np.asarray(a, dtype=np.int64)
    positive = a > 0
    abs_input = np.where(positive, a, wrap(-a, bits))
    if_positive = _one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(wrap(-abs_input, bits), integer_bits, bits), bits
    )
    if_negative = wrap(one(0, bits) - if_positive, bits)
    half = constant(1 << 30, bits)
    return np.where(a == 0, half, np.where(positive, if_positive, if_negative))


def inv_sqrt_quantized_multiplier_exp(value: int, reverse_shift: int) -> tuple[int, int]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp: 1/sqrt(value) as (Q31 multiplier, shift)."""
    if value <= 1:
        return (1 << 31) - 1, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    leading_zeros = 32 - int(value).bit_length()
    left_shift_bit_pairs = (leading_zeros - 1) // 2 - 1
    shift -= left_shift_bit_pairs
    value <<= 2 * left_shift_bit_pairs
    half_input = int(multiply_by_pot(np.int64(value >> 1), -1, 32))
    half_three = constant((1 << 28) + (1 << 27), 32)
    x = one(3, 32)
    for _ in range(5):
        x3 = multiply_by_pot(srdhm(srdhm(x, x, 32), x, 32), 6, 32)  # Q9 -> Q3
        x = multiply_by_pot(wrap(srdhm(half_three, x, 32) - srdhm(half_input, x3, 32), 32), 3, 32)
    inv_sqrt = int(srdhm(x, constant(1518500250, 32), 32))
    if shift < 0:
        inv_sqrt = int(wrap(inv_sqrt << -shift, 32))
        shift = 0
    return inv_sqrt, shift * reverse_shift
