"""CPU kernels for activations: RELU, RELU6, RELU_N1_TO_1, LOGISTIC, TANH, HARD_SWISH,
LEAKY_RELU, PRELU, GELU, SOFTMAX, LOG_SOFTMAX.

Float kernels are vectorised loops (logistic, tanh and erf as the approximations of
elementwise.py). On 8-bit data every elementwise activation is a 256-entry table computed
at compile time by the reference kernel (TFLite's own LUTs for LOGISTIC/TANH/GELU, its
fixed-point HARD_SWISH, ReluX, ...), so it is bit-exact by construction; int16 ReLUs and
LEAKY_RELU requantize in i64; quantized PRELU uses TFLite's two multipliers.

Quantized SOFTMAX runs on the difference to the row maximum, which takes only 256 values:
its exp and its Q12.19 summand are tables made with gemmlowp's functions, and the row's
reciprocal (GetReciprocal) is gemmlowp's fixed-point Newton iteration emitted as IR
(`Fixed`, which mirrors runtime/gemmlowp.py function by function).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import IntegerType, f32, i32, i64
from xdsl.ir import Operation

from litec.backends.cpu.kernels.base import Kernel, generator
from litec.backends.cpu.kernels.elementwise import (
    BYTES,
    INDEX,
    Arith,
    KernelBuilder,
    Plan,
    Unsupported,
    V,
    checked,
    clamp,
    clz,
    const,
    convert,
    erf,
    exp,
    fold,
    for_chunks,
    for_range,
    load,
    log,
    logistic,
    maximum,
    mbqm,
    minimum,
    narrower,
    planned,
    rdbp,
    rdbp_var,
    requantizer,
    single,
    srdhm,
    store,
    tanh,
    unary_table,
    uniform_constant_table,
    where,
    widener,
    wrap32,
)
from litec.dialects.tfl_reference.activations import (
    ACCUMULATION_INTEGER_BITS,
    SCALED_DIFF_INTEGER_BITS,
    _softmax_scaling,
    _sum_of_exps,
)
from litec.dialects.tfl_reference.common import quantized_activation_range
from litec.dialects.tfl_reference.core import KernelCall, make_call
from litec.runtime import gemmlowp
from litec.runtime.fixedpoint import (
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_greater_than_one,
    quantize_multiplier,
)

# ----------------------------------------------------------------------------- elementwise activations


def _gelu(x: V) -> V:
    """x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))."""
    return 0.5 * x * (erf(x * math.sqrt(0.5)) + 1.0)


def _gelu_tanh(x: V) -> V:
    """GELU's tanh approximation: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
    return 0.5 * x * (tanh(inner) + 1.0)


FLOAT_ACTIVATIONS: dict[str, Callable[[V], V]] = {
    "RELU": lambda x: maximum(x, 0.0),
    "RELU6": lambda x: clamp(x, 0.0, 6.0),
    "RELU_N1_TO_1": lambda x: clamp(x, -1.0, 1.0),
    "LOGISTIC": logistic,
    "TANH": tanh,
    "HARD_SWISH": lambda x: x * clamp(x + 3.0, 0.0, 6.0) / 6.0,
}


def _float_activation(call: KernelCall) -> Callable[[V], V]:
    if call.builtin == "LEAKY_RELU":
        alpha = float(single(call.opts["alpha"]))
        return lambda x: where(x > 0.0, x, x * alpha)
    if call.builtin == "GELU":
        return _gelu_tanh if call.opts.get("approximate") else _gelu
    return FLOAT_ACTIVATIONS[call.builtin]


def _relu_int16(call: KernelCall) -> Arith:
    """TFLite's ReluX on int16: requantize, then clamp to the activation's range."""
    src, dst = call.inputs[0], call.out
    if call.builtin == "RELU_N1_TO_1":
        raise Unsupported("RELU_N1_TO_1 of int16 is not supported")
    lo, hi = quantized_activation_range(call.builtin, dst)
    rescale = requantizer(float(single(src.scale) / single(dst.scale)))
    return Arith(lambda x: clamp(rescale(x - src.zero_point) + dst.zero_point, lo, hi), i64)


def _leaky_relu_int16(call: KernelCall) -> Arith:
    """Quantized LEAKY_RELU: one multiplier for x >= 0, one (maybe negative) for alpha."""
    src, dst = call.inputs[0], call.out
    alpha = single(call.opts["alpha"])
    alpha_mult, alpha_shift = quantize_multiplier(
        float(single(src.scale) * alpha / single(dst.scale))
    )
    identity = requantizer(float(single(src.scale) / single(dst.scale)))
    sign = -1 if alpha_mult < 0 else 1

    def body(x: V) -> V:
        v = x - src.zero_point
        negative = sign * mbqm(v, abs(alpha_mult), alpha_shift)
        return clamp(where(v >= 0, identity(v), negative) + dst.zero_point, -32768, 32767)

    return Arith(body, i64)


INT16_ACTIVATIONS = {
    "RELU": _relu_int16,
    "RELU6": _relu_int16,
    "RELU_N1_TO_1": _relu_int16,
    "LEAKY_RELU": _leaky_relu_int16,
}


def plan_activation(op: Operation) -> Plan:
    """Elementwise activations: float32 vectorised; 8-bit data through a table made by the
    reference kernel; int16 ReLUs and LEAKY_RELU requantized exactly."""
    call = make_call(op)
    x = call.inputs[0]
    if x.dtype == np.float32:
        return Arith(_float_activation(call), f32)
    if x.quant is None or call.out.quant is None:
        raise Unsupported(f"{call.builtin} of unquantized {x.dtype} is not supported")
    if x.dtype in BYTES:
        return unary_table(call)
    if x.dtype == np.int16 and call.builtin in INT16_ACTIVATIONS:
        return INT16_ACTIVATIONS[call.builtin](call)
    raise Unsupported(f"{call.builtin} of {x.dtype} is not supported")


_activation_generate, _activation_check = planned(plan_activation)
generator(
    *(f"tfl.{name.lower()}" for name in (*FLOAT_ACTIVATIONS, "LEAKY_RELU", "GELU")),
    supports=_activation_check,
)(_activation_generate)


def plan_prelu(op: Operation) -> Plan:
    """PRELU with alpha broadcast: float32, or quantized with one multiplier per sign."""
    call = make_call(op)
    src, alpha, dst = call.inputs[0], call.inputs[1], call.out
    if src.dtype == np.float32:
        return Arith(lambda x, a: where(x >= 0.0, x, x * a), f32)
    if src.quant is None or alpha.quant is None or dst.quant is None:
        raise Unsupported(f"PRELU of unquantized {src.dtype} is not supported")
    table = uniform_constant_table(op, call)
    if table is not None:
        return table
    positive = requantizer(float(single(src.scale) / single(dst.scale)))
    negative = requantizer(float(single(src.scale) * single(alpha.scale) / single(dst.scale)))
    info = np.iinfo(dst.dtype)

    def body(x: V, a: V) -> V:
        v = x - src.zero_point
        product = wrap32(v * (a - alpha.zero_point))
        y = where(v >= 0, positive(v), negative(product))
        return clamp(y + dst.zero_point, info.min, info.max)

    return Arith(body, i64)


_prelu_generate, _prelu_check = planned(plan_prelu)
generator("tfl.prelu", supports=_prelu_check)(_prelu_generate)


# ----------------------------------------------------------------------------- gemmlowp as IR


class Fixed:
    """gemmlowp's fixed-point functions emitted as IR: raw `bits`-wide values (16 or 32) held
    in i64, wrapping or saturating exactly as the C++ does. Each method mirrors the numpy
    function of the same name in runtime/gemmlowp.py; constants come from that module."""

    def __init__(self, bits: int):
        self.bits = bits
        self.min = gemmlowp.raw_min(bits)
        self.max = gemmlowp.raw_max(bits)

    def const(self, int32_raw: int) -> int:
        return gemmlowp.constant(int32_raw, self.bits)

    def wrap(self, x: V) -> V:
        return convert(convert(x, IntegerType(self.bits)), i64)

    def saturate(self, x: V) -> V:
        return clamp(x, self.min, self.max)

    def add(self, a: V, b) -> V:
        return self.wrap(a + b)

    def sub(self, a, b) -> V:
        return self.wrap(a - b) if isinstance(a, V) else self.wrap(b.lift(a) - b)

    def neg(self, a: V) -> V:
        return self.wrap(0 - a)

    def saturating_add(self, a, b) -> V:
        return self.saturate(a + b) if isinstance(a, V) else self.saturate(b + a)

    def saturating_sub(self, a: V, b) -> V:
        return self.saturate(a - b)

    def mul(self, a, b) -> V:
        """SaturatingRoundingDoublingHighMul: (a*b + 2^(bits-2)) >> (bits-1).

        Only raw_min * raw_min saturates, and gemmlowp's functions never form that product:
        every one has a constant factor, or one in (0, 1) or [1, 4) (the Newton iterates,
        the reduced arguments of exp and log), so the check is left out.
        """
        a, b = (a, b) if isinstance(a, V) else (b, a)
        return (a * b + (1 << (self.bits - 2))) >> (self.bits - 1)

    def multiply_by_pot(self, x: V, exponent) -> V:
        """x * 2^exponent, saturating; a run-time exponent must be >= 0."""
        if isinstance(exponent, int) and exponent < 0:
            return rdbp(x, -exponent)
        return self.saturate(x << exponent)

    def rescale(self, x: V, src_integer_bits: int, dst_integer_bits: int) -> V:
        return self.multiply_by_pot(x, src_integer_bits - dst_integer_bits)

    def rounding_half_sum(self, a: V, b) -> V:
        total = a + b
        rounded = total + where(total >= 0, total.lift(1), -1)
        return (rounded - (rounded >> 63)) >> 1  # C++ division by 2, truncating

    def exp_on_interval_between_negative_one_quarter_and_0_excl(self, a: V) -> V:
        bits = self.bits
        constant_term = self.const(1895147668)
        one_third = self.const(715827883)
        x = self.add(a, gemmlowp.constant_pot(-3, 0, bits))
        x2 = self.mul(x, x)
        x3 = self.mul(x2, x)
        x4 = self.mul(x2, x2)
        x4_over_4 = self.multiply_by_pot(x4, -2)
        poly = self.multiply_by_pot(self.add(self.mul(self.add(x4_over_4, x3), one_third), x2), -1)
        product = self.mul(self.add(x, poly), constant_term)
        if bits == 16:
            return self.saturating_add(constant_term, product)
        return self.add(product, constant_term)

    def exp_on_negative_values(self, a: V, integer_bits: int) -> V:
        bits = self.bits
        fractional_bits = bits - 1 - integer_bits
        one_quarter = gemmlowp.constant_pot(-2, integer_bits, bits)
        a_mod_quarter_minus_one_quarter = self.sub(a & (one_quarter - 1), one_quarter)
        result = self.exp_on_interval_between_negative_one_quarter_and_0_excl(
            self.rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0)
        )
        remainder = self.sub(a_mod_quarter_minus_one_quarter, a)
        for exponent, multiplier in gemmlowp._EXP_BARREL:
            if integer_bits > exponent:
                bit = 1 << (fractional_bits + exponent)
                scaled = self.mul(result, self.const(multiplier))
                result = where((remainder & bit).ne(0), scaled, result)
        if integer_bits > 5:
            result = where(a < self.const(-(1 << (36 - integer_bits))), 0, result)
        return where(a.eq(0), gemmlowp.one(0, bits), result)

    def newton_reciprocal(self, half_denominator: V) -> V:
        x = self.add(self.mul(half_denominator, self.const(-1010580540)), self.const(1515870810))
        one_f2 = gemmlowp.one(2, self.bits)
        for _ in range(3):
            one_minus_half_denominator_times_x = self.sub(one_f2, self.mul(half_denominator, x))
            x = self.add(x, self.rescale(self.mul(x, one_minus_half_denominator_times_x), 4, 2))
        return x

    def one_minus_x_over_one_plus_x_for_x_in_0_1(self, a: V) -> V:
        x = self.newton_reciprocal(self.rounding_half_sum(a, gemmlowp.one(0, self.bits)))
        return self.rescale(self.sub(x, gemmlowp.one(2, self.bits)), 2, 0)

    def one_over_one_plus_x_for_x_in_0_1(self, a: V) -> V:
        x = self.newton_reciprocal(self.rounding_half_sum(a, gemmlowp.one(0, self.bits)))
        return self.rescale(x, 1, 0)

    def tanh(self, a: V, integer_bits: int) -> V:
        negative = a < 0
        n = where(negative, a, self.neg(a))
        t = self.one_minus_x_over_one_plus_x_for_x_in_0_1(
            self.exp_on_negative_values(n, integer_bits + 1)
        )
        return where(a.eq(0), 0, where(negative, self.neg(t), t))

    def logistic(self, a: V, integer_bits: int) -> V:
        positive = a > 0
        abs_input = where(positive, a, self.neg(a))
        if_positive = self.one_over_one_plus_x_for_x_in_0_1(
            self.exp_on_negative_values(self.neg(abs_input), integer_bits)
        )
        if_negative = self.sub(gemmlowp.one(0, self.bits), if_positive)
        one_half = self.const(1 << 30)
        return where(a.eq(0), one_half, where(positive, if_positive, if_negative))


def count_leading_zeros32(x: V) -> V:
    """TFLite's CountLeadingZeros of an int32 value held in i64 (32 for zero)."""
    return convert(clz(convert(x, i32)), i64)


def get_reciprocal(x: V, x_integer_digits: int) -> tuple[V, V]:
    """TFLite's GetReciprocal of a positive int32: (the F0 reciprocal scaled into [1, 2),
    num_bits_over_unit)."""
    fixed = Fixed(32)
    headroom_plus_one = count_leading_zeros32(x)
    shifted_sum_minus_one = fixed.wrap((x << headroom_plus_one) - (1 << 31))
    shifted_scale = fixed.one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    return shifted_scale, x_integer_digits - headroom_plus_one


def log_x_for_x_greater_than_or_equal_to_1(
    x: V, output_integer_bits: int, input_integer_bits: int
) -> V:
    """TFLite's log_x_for_x_greater_than_or_equal_to_1 of an int32 F<input> x >= 1."""
    f = Fixed(32)
    accum_bits = output_integer_bits + 1
    log_2, sqrt_sqrt_half, sqrt_half = 1488522236, 1805811301, 1518500250
    alpha_n, alpha_d, alpha_i, alpha_f = 117049297, 127690142, 1057819769, 638450708
    shifted_quarter = int(gemmlowp.rescale(536870912, 0, accum_bits, 32))

    z_a_headroom_plus_1 = count_leading_zeros32(x)
    r_a_tmp = f.multiply_by_pot(x, z_a_headroom_plus_1 - 1)
    r_a_raw = f.multiply_by_pot(f.mul(r_a_tmp, sqrt_half), 1)
    z_a_pow_2_adj = f.saturating_add(
        f.multiply_by_pot(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits),
        shifted_quarter,
    )
    z_b = f.mul(x, sqrt_half)
    z_b_headroom = count_leading_zeros32(z_b) - 1
    r_b_raw = f.multiply_by_pot(x, z_b_headroom)
    z_b_pow_2_adj = f.saturating_sub(
        f.multiply_by_pot(input_integer_bits - z_b_headroom, 31 - accum_bits), shifted_quarter
    )
    r = minimum(r_a_raw, r_b_raw)
    z_pow_2_adj = maximum(z_a_pow_2_adj, z_b_pow_2_adj)

    p = f.rounding_half_sum(r, sqrt_sqrt_half)
    q = f.sub(r, sqrt_sqrt_half)
    q = f.add(q, q)
    common_sq = f.mul(q, q)
    num = f.add(f.mul(q, r), f.mul(f.mul(q, common_sq), alpha_n))
    denom_minus_one = f.add(
        f.mul(p, f.add(f.add(q, alpha_i), f.mul(common_sq, alpha_d))), f.mul(q, alpha_f)
    )
    recip_denom = f.one_over_one_plus_x_for_x_in_0_1(denom_minus_one)
    num_scaled = f.rescale(num, 0, accum_bits)
    total = f.add(f.mul(z_pow_2_adj, log_2), f.mul(num_scaled, recip_denom))
    return f.rescale(total, accum_bits, output_integer_bits)


# ----------------------------------------------------------------------------- softmax family


@dataclass(frozen=True)
class Rows:
    """A tensor as rows of its last axis: `count` rows of `n` elements."""

    count: int
    n: int

    @staticmethod
    def of(shape) -> Rows:
        n = shape[-1] if shape else 1
        return Rows(int(np.prod(shape, dtype=np.int64)) // max(n, 1), n)

    def each(self, body: Callable[[V], None]) -> None:
        """Build `body(base offset)` once per row."""

        def row(r: V) -> list:
            body(r * self.n)
            return []

        if self.count and self.n:
            for_range(0, self.count, 1, row)


def _float_softmax(x, y, rows: Rows, beta: float, log_softmax: bool) -> None:
    """exp(beta (x - max)) / sum per row (LOG_SOFTMAX: x - max - log(sum exp(x - max)))."""

    def row(base: V) -> None:
        def value(j: V, width: int) -> V:
            return load(x, base + j, width)

        top = fold(rows.n, value, maximum, const(-math.inf, f32), "maxnumf")

        def exps(j: V, width: int) -> V:
            shifted = value(j, width) - top
            e = exp(shifted if log_softmax else shifted * beta)
            if not log_softmax:
                store(e, y, base + j)
            return e

        total = fold(rows.n, exps, lambda a, b: a + b, const(0.0, f32), "add")
        if log_softmax:
            offset = top + log(total)
            for_chunks(rows.n, lambda j, w: store(value(j, w) - offset, y, base + j))
            return
        inverse = 1.0 / total
        for_chunks(rows.n, lambda j, w: store(load(y, base + j, w) * inverse, y, base + j))

    rows.each(row)


def _softmax_tables(call: KernelCall, beta: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """For each d = max - x in 0..255: gemmlowp's exp(-d) in Q0.31 and its Q12.19 summand
    (0 where the difference is below TFLite's diff_min), plus (multiplier, left shift)."""
    mult, left_shift, diff_min = _softmax_scaling(beta, single(call.inputs[0].scale))
    diff = -np.arange(256, dtype=np.int64)[:, None]
    valid = diff >= diff_min
    rescaled = multiply_by_quantized_multiplier_greater_than_one(diff, mult, left_shift)
    exp_in_0 = gemmlowp.exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS, 32)
    summand = _sum_of_exps(diff, valid, rescaled)
    exps = np.where(valid, exp_in_0, 0)
    return exps[:, 0].astype(np.int32), summand[:, 0].astype(np.int32), mult, left_shift


def _row_max(x, base: V, n: int, widen: Callable[[V], V]) -> V:
    """The largest (widened) element of a row."""
    return fold(
        n, lambda j, w: widen(load(x, base + j, w)), maximum, const(-(1 << 31), i32), "maxsi"
    )


def _quantized_softmax(kb: KernelBuilder, x, y, rows: Rows, call: KernelCall) -> None:
    """TFLite's quantized SOFTMAX (int8/uint8 in, int8/uint8/int16 out), exactly."""
    src, dst = call.inputs[0], call.out
    exps, summands, _, _ = _softmax_tables(call, float(single(call.opts.get("beta", 1.0))))
    exp_table, sum_table = kb.const(exps), kb.const(summands)
    out = np.iinfo(dst.dtype)
    widen = widener(src, i32)
    narrow = narrower(dst)

    def row(base: V) -> None:
        top = _row_max(x, base, rows.n, widen)

        def entry(table, j: V) -> V:
            d = convert(top - widen(load(x, base + j)), INDEX)
            return convert(load(table, d), i64)

        total = fold(
            rows.n, lambda j, w: entry(sum_table, j), lambda a, b: a + b, const(0, i64), "add", 1
        )
        shifted_scale, num_bits_over_unit = get_reciprocal(wrap32(total), ACCUMULATION_INTEGER_BITS)
        exponent = clamp(num_bits_over_unit + (31 - out.bits), 0, 62)

        def element(j: V, width: int) -> None:
            product = (shifted_scale * entry(exp_table, j) + (1 << 30)) >> 31
            unsat = rdbp_var(product, exponent)
            store(narrow(clamp(unsat + out.min, out.min, out.max)), y, base + j)

        for_chunks(rows.n, element, 1)

    rows.each(row)


def _quantized_log_softmax(kb: KernelBuilder, x, y, rows: Rows, call: KernelCall) -> None:
    """TFLite's quantized LOG_SOFTMAX (int8/uint8, output scale 16/256), exactly."""
    src, dst = call.inputs[0], call.out
    _, summands, mult, left_shift = _softmax_tables(call, 1.0)
    diff_min = _softmax_scaling(1.0, single(src.scale))[2]
    reverse_mult, reverse_shift = quantize_multiplier((1 << (31 - left_shift)) / float(mult))
    if reverse_shift > 0:
        raise Unsupported(f"LOG_SOFTMAX: input scale {src.scale:g} is too small")
    diff = -np.arange(256, dtype=np.int64)
    rescaled = multiply_by_quantized_multiplier(diff, mult, left_shift).astype(np.int32)
    sum_table, rescaled_table = kb.const(summands), kb.const(rescaled)
    out = np.iinfo(dst.dtype)
    widen = widener(src, i32)
    narrow = narrower(dst)

    def row(base: V) -> None:
        top = _row_max(x, base, rows.n, widen)

        def entry(table, j: V) -> tuple[V, V]:
            d = top - widen(load(x, base + j))
            return convert(d, i64), convert(load(table, convert(d, INDEX)), i64)

        total = fold(
            rows.n, lambda j, w: entry(sum_table, j)[1], lambda a, b: a + b, const(0, i64), "add", 1
        )
        log_sum = log_x_for_x_greater_than_or_equal_to_1(
            wrap32(total), SCALED_DIFF_INTEGER_BITS, ACCUMULATION_INTEGER_BITS
        )
        reverse = rdbp(srdhm(log_sum - (1 << 31), reverse_mult), -reverse_shift)
        adjusted_diff_min = maximum(reverse, diff_min - 1)

        def element(j: V, width: int) -> None:
            d, value = entry(rescaled_table, j)
            unsat = rdbp(wrap32(value - log_sum), 31 - SCALED_DIFF_INTEGER_BITS - 4)
            y_value = clamp(unsat + out.max, out.min, out.max)
            store(narrow(where((0 - d) > adjusted_diff_min, y_value, out.min)), y, base + j)

        for_chunks(rows.n, element, 1)

    rows.each(row)


def _softmax_plan(op: Operation) -> KernelCall:
    """SOFTMAX / LOG_SOFTMAX over the last axis: float32, or quantized int8/uint8 exactly."""
    call = make_call(op)
    src, dst = call.inputs[0], call.out
    if src.dtype == np.float32:
        return call
    if src.quant is None or dst.quant is None or src.dtype not in BYTES:
        raise Unsupported(f"{call.builtin} of {src.dtype} to {dst.dtype} is not supported")
    if call.builtin == "SOFTMAX" and dst.dtype not in (*BYTES, np.dtype(np.int16)):
        raise Unsupported(f"SOFTMAX from {src.dtype} to {dst.dtype} is not supported")
    if call.builtin == "LOG_SOFTMAX" and (
        src.dtype != dst.dtype or dst.scale != 16 / 256 or dst.zero_point != np.iinfo(dst.dtype).max
    ):
        raise Unsupported("LOG_SOFTMAX output must have scale 16/256 and the top zero point")
    return call


def generate_softmax(op: Operation, symbol: str) -> Kernel:
    """Row-wise kernels of SOFTMAX and LOG_SOFTMAX."""
    call = _softmax_plan(op)
    kb = KernelBuilder(symbol)
    x, y = kb.input(0, call.inputs[0]), kb.output(0, call.out)
    rows = Rows.of(call.out.shape)
    log_softmax = call.builtin == "LOG_SOFTMAX"
    quantized = call.inputs[0].dtype != np.float32
    with kb.body():
        if not quantized:
            _float_softmax(x, y, rows, float(single(call.opts.get("beta", 1.0))), log_softmax)
        elif log_softmax:
            _quantized_log_softmax(kb, x, y, rows, call)
        else:
            _quantized_softmax(kb, x, y, rows, call)
    return kb.finish()


generator("tfl.softmax", "tfl.log_softmax", supports=checked(_softmax_plan))(generate_softmax)
