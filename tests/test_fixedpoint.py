"""`litec.runtime.fixedpoint` against exact big-integer (Python int / Fraction) references.

Each reference states TFLite's definition as exact rational arithmetic, not as the same
shift-and-mask steps the implementation takes: SaturatingRoundingDoublingHighMul rounds
a·b / 2^31 half up, RoundingDivideByPOT rounds x / 2^e half away from zero, and so on.
TFLite's input quantizers (hybrid kernels) are checked on hand-derived values here and
against TFLite in the kernels' tests.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from litec.runtime import fixedpoint as fp

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
int32s = st.integers(INT32_MIN, INT32_MAX)
multipliers = st.integers(1 << 30, INT32_MAX)  # what QuantizeMultiplier produces for reals > 0
shifts = st.integers(-31, 7)


def floor_half_up(r: Fraction) -> int:
    """r rounded to the nearest integer, halves toward +infinity."""
    return math.floor(r + Fraction(1, 2))


def round_away(r: Fraction) -> int:
    """r rounded to the nearest integer, halves away from zero (C's round)."""
    n = math.floor(abs(r) + Fraction(1, 2))
    return n if r >= 0 else -n


def wrap32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def ref_srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    return floor_half_up(Fraction(a * b, 1 << 31))


def ref_rdbpot(x: int, e: int) -> int:
    return round_away(Fraction(x, 1 << e))


def ref_mbqm(x: int, m: int, s: int) -> int:
    shifted = wrap32(wrap32(x) * (1 << max(s, 0)))
    return ref_rdbpot(ref_srdhm(shifted, m), max(-s, 0))


def ref_quantize_multiplier(d: float) -> tuple[int, int]:
    if d == 0:
        return 0, 0
    r = Fraction(d)
    e = math.floor(math.log2(abs(d))) + 1
    while abs(r) >= Fraction(2) ** e:  # make 2^(e-1) <= |r| < 2^e exactly
        e += 1
    while abs(r) < Fraction(2) ** (e - 1):
        e -= 1
    q = round_away(r * Fraction(2) ** (31 - e))
    if abs(q) == 1 << 31:
        q, e = q // 2, e + 1
    return (0, 0) if e < -31 else (q, e)


# ----------------------------------------------------------------------------- SRDHM


@given(int32s, int32s)
@example(INT32_MIN, INT32_MIN)
@example(INT32_MIN, INT32_MAX)
@example(-(1 << 30), 1)  # exact negative half: rounds toward +inf
@example(3 << 29, 1)
def test_saturating_rounding_doubling_high_mul(a, b):
    assert int(fp.saturating_rounding_doubling_high_mul(a, b)) == ref_srdhm(a, b)


def test_srdhm_saturates_only_at_int32_min_squared():
    assert int(fp.saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN)) == INT32_MAX
    assert int(fp.saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN + 1)) == INT32_MAX


@given(st.integers(-(1 << 15), (1 << 15) - 1), st.integers(-(1 << 15), (1 << 15) - 1))
@example(-(1 << 15), -(1 << 15))
@example(-(1 << 14), 1)  # -1/2 in units of the result rounds up to 0
def test_srdhm_int16(a, b):
    want = (1 << 15) - 1 if a == b == -(1 << 15) else floor_half_up(Fraction(a * b, 1 << 15))
    assert int(fp.saturating_rounding_doubling_high_mul(a, b, 16)) == want


@given(st.lists(st.tuples(int32s, int32s), min_size=1, max_size=20))
def test_srdhm_vectorised(pairs):
    a, b = (np.array(v, dtype=np.int32) for v in zip(*pairs, strict=True))
    got = fp.saturating_rounding_doubling_high_mul(a, b)
    assert got.tolist() == [ref_srdhm(int(x), int(y)) for x, y in pairs]


# ----------------------------------------------------------------------------- RDBPOT


@given(int32s, st.integers(0, 31))
@example(-3, 1)
@example(3, 1)
@example(-5, 2)
@example(INT32_MIN, 31)
@example(INT32_MAX, 31)
def test_rounding_divide_by_pot(x, e):
    assert int(fp.rounding_divide_by_pot(x, e)) == ref_rdbpot(x, e)


@given(st.lists(st.tuples(int32s, st.integers(0, 31)), min_size=1, max_size=20))
def test_rounding_divide_by_pot_per_element_exponents(pairs):
    x, e = (np.array(v, dtype=np.int64) for v in zip(*pairs, strict=True))
    assert fp.rounding_divide_by_pot(x, e).tolist() == [ref_rdbpot(a, b) for a, b in pairs]


# ----------------------------------------------------------------------------- MBQM


@given(int32s, multipliers, shifts)
@example(INT32_MAX, INT32_MAX, 7)  # left shift wraps like C++ int32
@example(INT32_MIN, 1 << 30, 0)
@example(-1, 1 << 30, -31)
def test_multiply_by_quantized_multiplier(x, m, s):
    assert int(fp.multiply_by_quantized_multiplier(x, m, s)) == ref_mbqm(x, m, s)


@given(st.integers(-(1 << 40), 1 << 40), multipliers, shifts)
def test_multiply_by_quantized_multiplier_takes_int32(x, m, s):
    """A wider accumulator is truncated to int32 first, like the C++ parameter."""
    assert int(fp.multiply_by_quantized_multiplier(x, m, s)) == ref_mbqm(wrap32(x), m, s)


@given(
    st.lists(int32s, min_size=1, max_size=6),
    st.lists(st.tuples(multipliers, shifts), min_size=1, max_size=5),
)
def test_multiply_by_quantized_multiplier_per_channel(xs, channels):
    x = np.array(xs, dtype=np.int64)[:, None]
    m = np.array([c[0] for c in channels], dtype=np.int64)
    s = np.array([c[1] for c in channels], dtype=np.int64)
    got = fp.multiply_by_quantized_multiplier(x, m, s)
    assert got.tolist() == [[ref_mbqm(a, mm, ss) for mm, ss in channels] for a in xs]


@given(int32s, multipliers, st.integers(-31, 0))
def test_mbqm_is_close_to_the_real_product(x, m, s):
    """Double rounding: within one unit of x · m · 2^(s - 31)."""
    exact = Fraction(x * m, 1 << 31) * Fraction(2) ** s
    assert abs(int(fp.multiply_by_quantized_multiplier(x, m, s)) - exact) <= 1


@given(int32s, multipliers, st.integers(-31, 0))
def test_smaller_than_one_exp_matches_mbqm(x, m, s):
    got = fp.multiply_by_quantized_multiplier_smaller_than_one_exp(x, m, s)
    assert int(got) == ref_mbqm(x, m, s)


@given(int32s, multipliers, st.integers(0, 7))
def test_greater_than_one_matches_mbqm(x, m, s):
    got = fp.multiply_by_quantized_multiplier_greater_than_one(x, m, s)
    assert int(got) == ref_mbqm(x, m, s)


# ----------------------------------------------------------------------------- 64-bit MBQM


def ref_mbqm64(x: int, m: int, s: int) -> int:
    reduced = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
    return wrap32(floor_half_up(Fraction(x * reduced, 1 << (15 - s))))


@given(st.integers(-(1 << 47), (1 << 47) - 1), st.integers(0, INT32_MAX), shifts)
@example(-(1 << 47), INT32_MAX, 7)
@example(12345, 0x7FFF0000, -3)
@example(-3, 1 << 30, -31)
def test_multiply_by_quantized_multiplier_int64(x, m, s):
    assert int(fp.multiply_by_quantized_multiplier_int64(x, m, s)) == ref_mbqm64(x, m, s)


@given(st.lists(st.integers(-(1 << 40), 1 << 40), min_size=1, max_size=5), multipliers, shifts)
def test_multiply_by_quantized_multiplier_int64_vectorised(xs, m, s):
    got = fp.multiply_by_quantized_multiplier_int64(np.array(xs, dtype=np.int64), m, s)
    assert got.tolist() == [ref_mbqm64(x, m, s) for x in xs]


# ----------------------------------------------------------------------------- QuantizeMultiplier

positive_doubles = st.floats(min_value=1e-300, max_value=1e12, allow_nan=False)


@given(st.one_of(positive_doubles, positive_doubles.map(lambda v: -v)))
@example(1.0)
@example(0.5)
@example(1.0 - 2.0**-53)  # rounds up to 2^31: renormalised to (2^30, shift + 1)
@example(2.0**-32)  # the smallest shift kept: -31
@example(2.0**-33)  # flushed to zero
@example(2.0**-32 * (1 - 2.0**-53))
@example(2.0**40)  # shifts above 30 are kept in the double-rounding build
@example(0.0007843137718737125)
def test_quantize_multiplier(d):
    assert fp.quantize_multiplier(d) == ref_quantize_multiplier(d)


@given(st.floats(min_value=2.0**-31, max_value=2.0**30, allow_nan=False))
def test_quantize_multiplier_represents_the_real(d):
    q, s = fp.quantize_multiplier(d)
    assert (1 << 30) <= q <= INT32_MAX
    assert abs(Fraction(q) * Fraction(2) ** (s - 31) - Fraction(d)) <= Fraction(2) ** (s - 32)


def test_quantize_multiplier_zero_and_array():
    assert fp.quantize_multiplier(0.0) == (0, 0)
    mult, shift = fp.quantize_multiplier_array([0.5, 0.25, 0.0, 3.0])
    assert mult.tolist() == [1 << 30, 1 << 30, 0, 3 << 29]
    assert shift.tolist() == [0, -1, 0, 2]


def test_quantize_multiplier_smaller_than_one():
    assert fp.quantize_multiplier_smaller_than_one(0.25) == (1 << 30, -1)
    with pytest.raises(ValueError):
        fp.quantize_multiplier_smaller_than_one(1.5)


# ----------------------------------------------------------------------------- rounding


@given(st.floats(allow_nan=False, allow_infinity=False))
@example(0.49999999999999994)
@example(-0.49999999999999994)
@example(2.5)
@example(-2.5)
@example(2.0**52 + 1)
def test_round_half_away_float64(x):
    assert float(fp.round_half_away(np.float64(x))) == round_away(Fraction(x))


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
@example(0.49999997)
@example(-1.5)
def test_round_half_away_float32_keeps_dtype(x):
    got = fp.round_half_away(np.array([x], dtype=np.float32))
    assert got.dtype == np.float32
    assert float(got[0]) == round_away(Fraction(float(np.float32(x))))


@given(st.floats(allow_nan=True, allow_infinity=True))
@example(2147483647.5)  # rounds to 2^31: out of range
@example(-2147483648.4)
@example(-2147483648.5)
def test_round_to_int32(x):
    want = INT32_MIN
    if math.isfinite(x):
        r = round_away(Fraction(x))
        want = r if INT32_MIN <= r <= INT32_MAX else INT32_MIN
    assert int(fp.round_to_int32(x)) == want


# ----------------------------------------------------------------------------- wrap, saturate


@given(st.integers(-(1 << 62), 1 << 62))
def test_wrap_int32(v):
    assert int(fp.wrap_int32(v)) == wrap32(v)


@given(st.lists(st.integers(-(1 << 40), 1 << 40), min_size=1, max_size=10))
def test_saturate(vals):
    for dtype in (np.int8, np.uint8, np.int16, np.int32):
        info = np.iinfo(dtype)
        got = fp.saturate(np.array(vals, dtype=np.int64), dtype)
        assert got.dtype == dtype
        assert got.tolist() == [min(max(v, info.min), info.max) for v in vals]


# ----------------------------------------------------------------------------- trunc_div, log2


@given(st.integers(-(1 << 40), 1 << 40), st.integers(1, 1 << 20))
def test_trunc_div(x, d):
    q = abs(x) // d
    assert int(fp.trunc_div(x, d)) == (q if x >= 0 else -q)


def test_checked_log2():
    assert [fp.checked_log2(2.0**e) for e in (-15, -11, 0, 3)] == [-15, -11, 0, 3]
    assert fp.checked_log2(2.0**-10 * 1.0005) == -10  # within TFLite's 1e-3 of a power of two
    assert fp.checked_log2(0.001) is None
    assert fp.checked_log2(3.0) is None


# ----------------------------------------------------------------------------- input quantizers


def test_vectorised_rounding_of_input_quantization():
    """The first multiple of 8 values of a row round as trunc(v ± 0.5) in float32.

    0.49999997f + 0.5f rounds to 1.0f, so those lanes give 1 where round() gives 0.
    """
    v = np.full((1, 9), 0.49999997, np.float32)
    assert fp.round_like_tflite_x86(v).tolist() == [[1.0] * 8 + [0.0]]
    halves = np.array([[2.5, -2.5, 0.5, -0.5, 1.4, -1.6, 0, 3]], np.float32)
    assert fp.round_like_tflite_x86(halves).tolist() == [[3, -3, 1, -1, 1, -2, 0, 3]]


def test_symmetric_input_quantization():
    q, scale = fp.symmetric_quantize_floats(
        np.array([[0.0, 1.0, -2.54, 0.01], [0, 0, 0, 0]], np.float32)
    )
    assert scale.dtype == np.float32
    assert scale.tolist() == [np.float32(2.54) / np.float32(127), 1.0]
    assert q.tolist() == [[0, 50, -127, 1], [0, 0, 0, 0]]  # 0.01 * 127 / 2.54 is 0.5f


def test_asymmetric_input_quantization():
    """Range [0, 2.55]: scale 0.01, zero point -128, added after rounding (2.5 -> 3 -> -125)."""
    rows = np.array([[0.0, 2.55, 1.0, 0.025, 0.015, 0.5, 0.7, 2.0, 0.005]], np.float32)
    q, scale, offset = fp.asymmetric_quantize_floats(rows)
    assert offset.tolist() == [-128]
    assert scale.tolist() == [np.float32(0.01)]
    assert q.tolist() == [[-128, 127, -28, -125, -126, -78, -58, 72, -127]]


def test_asymmetric_range_width_is_float32():
    """Range [-0.3, 0.9]: its width is 1.2f (TFLite's float32 difference), not the exact
    1.19999998808, so ±0.28 lie ±59.499996 steps from 0 and round to ±59."""
    rows = np.array([[-0.3, 0.9, -0.28, 0.28]], np.float32)
    q, scale, offset = fp.asymmetric_quantize_floats(rows)
    assert scale.tolist() == [np.float32(float(np.float32(1.2)) / 255)]
    assert offset.tolist() == [-64]
    assert q.tolist() == [[-128, 127, -123, -5]]
