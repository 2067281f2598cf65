"""CPU kernels for activations: RELU, RELU6, RELU_N1_TO_1, LOGISTIC, TANH, HARD_SWISH,
LEAKY_RELU, PRELU, GELU, SOFTMAX, LOG_SOFTMAX.

Float kernels are vectorised loops (logistic, tanh and erf as the approximations of
elementwise.py). On 8-bit data every elementwise activation is a 256-entry table computed
at compile time by the reference kernel (TFLite's own LUTs for LOGISTIC/TANH/GELU, its
fixed-point HARD_SWISH, ReluX, ...), so it is bit-exact by construction; int16 ReLUs and
LEAKY_RELU requantize in i64; quantized PRELU uses TFLite's two multipliers.

8-bit SOFTMAX (and LOG_SOFTMAX) runs on the difference to the row maximum, which takes
only 256 values: its exp and its Q12.19 summand are tables made with gemmlowp's functions,
and the row's reciprocal (GetReciprocal; for LOG_SOFTMAX the fixed-point log) is gemmlowp's
arithmetic emitted as IR (`elementwise.Fixed`, which mirrors runtime/gemmlowp.py function
by function). int16 SOFTMAX interpolates TFLite's two 513-entry tables, as TFLite does.
On other int16 data an activation without a cheap exact formula is a 65536-entry table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import f32, i16, i32, i64
from xdsl.ir import Operation, SSAValue

from litec.backends.cpu.kernels.base import Kernel, generator
from litec.backends.cpu.kernels.elementwise import (
    BYTES,
    INDEX,
    Arith,
    Fixed,
    KernelBuilder,
    Plan,
    Unsupported,
    V,
    checked,
    clamp,
    const,
    convert,
    count_leading_zeros32,
    erf,
    exp,
    fold,
    for_chunks,
    for_range,
    get_reciprocal,
    load,
    log,
    log_x_for_x_greater_than_or_equal_to_1,
    logistic,
    maximum,
    mbqm,
    narrower,
    rdbp,
    rdbp_var,
    register_plan,
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
from litec.dialects.tfl_reference.common import c_math, lut_int16, quantized_activation_range
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
    """Elementwise activations: float32 vectorised; int16 ReLUs and LEAKY_RELU requantized
    exactly; other 8- and 16-bit ones through a table made by the reference kernel."""
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
    if x.dtype == np.int16:
        return unary_table(call)
    raise Unsupported(f"{call.builtin} of {x.dtype} is not supported")


register_plan(
    plan_activation,
    *(f"tfl.{name.lower()}" for name in (*FLOAT_ACTIVATIONS, "LEAKY_RELU", "GELU")),
)


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


register_plan(plan_prelu, "tfl.prelu")


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


def lookup_int16(table: SSAValue, x: V) -> V:
    """TFLite's int16 LUTLookup of a 513-entry table: 9 bits index, 7 bits interpolate."""
    q16 = Fixed(16)
    position = convert(256 + (x >> 7), INDEX)
    base = convert(load(table, position), i64)
    slope = q16.wrap(convert(load(table, position + 1), i64) - base)
    return q16.wrap(base + ((slope * (x & 0x7F) + 64) >> 7))


def _int16_softmax(kb: KernelBuilder, x, y, rows: Rows, call: KernelCall) -> None:
    """TFLite's SoftmaxInt16: exp and 1 / (1 + x) from its interpolated 513-entry tables
    (made with the reference's lut_int16 and TFLite's table ranges)."""
    src = call.inputs[0]
    beta = single(call.opts.get("beta", 1.0))
    exp_lut = lut_int16(
        lambda v: c_math("exp", v, np.float64), 10 / 65535, 32767, 2 / 65535, 0, np.float64
    )
    recip_lut = lut_int16(lambda v: 1 / (1 + v), 1 / 65535, -32768, 2 / 65535, 0, np.float64)
    exp_table, recip_table = kb.const(exp_lut), kb.const(recip_lut)
    rescale = requantizer(float(single(src.scale) * beta) / (10.0 / 65535.0))
    widen = widener(src, i32)

    def row(base: V) -> None:
        top = convert(_row_max(x, base, rows.n, widen), i64)

        def exp_of(j: V) -> V:
            scaled = rescale(convert(load(x, base + j), i64) - top)
            return lookup_int16(exp_table, clamp(scaled + 32767, -32768, 32767))

        def first_pass(j: V, w: int) -> V:
            e = exp_of(j)
            store(convert(e, i16), y, base + j)
            return e

        total = wrap32(fold(rows.n, first_pass, lambda a, b: a + b, const(0, i64), "add", 1))
        headroom_plus_one = count_leading_zeros32(total)
        shifted_sum = ((total << (headroom_plus_one - 1)) + (1 << 13)) >> 14
        reciprocal = lookup_int16(
            recip_table, clamp(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767)
        )
        right_shift = 31 - headroom_plus_one
        rounding = right_shift.lift(1) << (right_shift - 1)

        def second_pass(j: V, w: int) -> None:
            e = convert(load(y, base + j), i64)
            result = (e * reciprocal + rounding) >> right_shift
            store(convert(clamp(result, 0, 32767), i16), y, base + j)

        for_chunks(rows.n, second_pass, 1)

    rows.each(row)


def _softmax_plan(op: Operation) -> KernelCall:
    """SOFTMAX / LOG_SOFTMAX over the last axis: float32, or quantized exactly (int8/uint8,
    and int16 SOFTMAX)."""
    call = make_call(op)
    src, dst = call.inputs[0], call.out
    if src.dtype == np.float32:
        return call
    int16 = (src.dtype, dst.dtype) == (np.int16, np.int16) and call.builtin == "SOFTMAX"
    if src.quant is None or dst.quant is None or not (src.dtype in BYTES or int16):
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
        elif call.inputs[0].dtype == np.int16:
            _int16_softmax(kb, x, y, rows, call)
        else:
            _quantized_softmax(kb, x, y, rows, call)
    return kb.finish()


generator("tfl.softmax", "tfl.log_softmax", supports=checked(_softmax_plan))(generate_softmax)
