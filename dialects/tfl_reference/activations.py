"""Reference kernels: activations (TFLite's activations.cc, gelu.cc, l2norm.cc).

Float kernels follow TFLite's reference formulas in float32. Quantized kernels follow the
kernel path TFLite's BUILTIN_REF resolver registers, bit for bit:

- LOGISTIC, TANH, GELU (int8/uint8): the 256-entry table TFLite builds in Prepare
  (LUTPopulate), from C's float `expf`/`tanhf`/`erfcf`;
- RELU, RELU6, RELU_N1_TO_1: requantize (ReluX) and clamp;
- HARD_SWISH: the int16 fixed-point scheme of reference_ops::HardSwish;
- LEAKY_RELU, PRELU: one Q31 multiplier per sign;
- SOFTMAX, LOG_SOFTMAX: gemmlowp's exp_on_negative_values, reciprocal and log
  (int16 SOFTMAX: TFLite's two 513-entry interpolated tables);
- L2_NORMALIZATION: GetInvSqrtQuantizedMultiplierExp per row.

TFLite computes its scale ratios in a mix of float and double; each multiplier below is
formed in the same precision and order as the TFLite Prepare it mirrors.
"""

from __future__ import annotations

import math

import numpy as np

from litec.dialects.tfl_reference.common import (
    apply_lut,
    c_math,
    clamp_activation,
    lookup_int16,
    lut_int16,
    quantized_activation_range,
)
from litec.dialects.tfl_reference.core import KernelCall, kernel
from litec.runtime import gemmlowp
from litec.runtime.fixedpoint import (
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_greater_than_one,
    multiply_by_quantized_multiplier_smaller_than_one_exp,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturate,
    wrap_int32,
)

f32 = np.float32


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return f32(1) / (f32(1) + c_math("exp", -v))


def _gelu(v: np.ndarray) -> np.ndarray:
    return f32(0.5) * v * c_math("erfc", v * f32(-math.sqrt(0.5)))


def _gelu_tanh(v: np.ndarray) -> np.ndarray:
    inner = f32(math.sqrt(2 / math.pi)) * (v + f32(0.044715) * v * v * v)
    return f32(0.5) * v * (f32(1) + c_math("tanh", inner))


# ----------------------------------------------------------------------------- ReLU family


def _relu_x(call: KernelCall, x: np.ndarray) -> np.ndarray:
    """The clamp of a ReLU-family builtin (named like its fused activation), float or
    quantized (TFLite's ReluX: requantize, then clamp to the activation's range)."""
    src, dst = call.inputs[0], call.out
    if dst.quant is None:
        if x.dtype != np.float32:
            raise call.error(f"{call.builtin} of {x.dtype} is not supported")
        return clamp_activation(x, call.builtin)
    if dst.dtype == np.int16 and call.builtin == "RELU_N1_TO_1":
        raise call.error("RELU_N1_TO_1 of int16 is not supported")
    lo, hi = quantized_activation_range(call.builtin, dst)
    mult, shift = quantize_multiplier(float(f32(src.scale) / f32(dst.scale)))
    y = multiply_by_quantized_multiplier(x.astype(np.int64) - src.zero_point, mult, shift)
    return np.clip(y + dst.zero_point, lo, hi).astype(dst.dtype)


@kernel("RELU")
def relu(call: KernelCall, x):
    """TFLite RELU: max(x, 0)."""
    return _relu_x(call, x)


@kernel("RELU6")
def relu6(call: KernelCall, x):
    """TFLite RELU6: min(max(x, 0), 6)."""
    return _relu_x(call, x)


@kernel("RELU_N1_TO_1")
def relu_n1_to_1(call: KernelCall, x):
    """TFLite RELU_N1_TO_1: min(max(x, -1), 1)."""
    return _relu_x(call, x)


# ----------------------------------------------------------------------------- sigmoid-like


@kernel("LOGISTIC")
def logistic(call: KernelCall, x):
    """TFLite LOGISTIC: 1 / (1 + exp(-x)); int8/uint8 through TFLite's table."""
    if x.dtype == np.float32:
        with np.errstate(over="ignore"):
            y = np.where(x < f32(-9), np.exp(x), f32(1) / (f32(1) + np.exp(-x)))
        return np.where(x > f32(16.619047164916992), f32(1), y).astype(np.float32)
    if x.dtype == np.int16:
        raise call.error("LOGISTIC of int16 is not supported by the reference interpreter")
    return apply_lut(call, x, _sigmoid)


@kernel("TANH")
def tanh(call: KernelCall, x):
    """TFLite TANH; int8/uint8 through TFLite's table."""
    if x.dtype == np.float32:
        return np.tanh(x)
    if x.dtype == np.int16:
        raise call.error("TANH of int16 is not supported by the reference interpreter")
    return apply_lut(call, x, lambda v: c_math("tanh", v))


def erfc(x: np.ndarray) -> np.ndarray:
    """erfc in float64 with relative error < 1.2e-7 (Chebyshev fit; numpy has no erfc)."""
    z = np.abs(x.astype(np.float64))
    t = 1 / (1 + 0.5 * z)
    coefs = (
        -1.26551223,
        1.00002368,
        0.37409196,
        0.09678418,
        -0.18628806,
        0.27886807,
        -1.13520398,
        1.48851587,
        -0.82215223,
        0.17087277,
    )
    poly = np.zeros_like(t)
    for c in reversed(coefs[1:]):
        poly = t * (c + poly)
    ans = t * np.exp(-z * z + coefs[0] + poly)
    return np.where(x >= 0, ans, 2 - ans)


@kernel("GELU")
def gelu(call: KernelCall, x):
    """TFLite GELU: x * Phi(x) (tanh approximation when `approximate`); quantized via a table."""
    approximate = bool(call.opts.get("approximate", False))
    if x.dtype == np.float32:
        v = x.astype(np.float64)
        if approximate:
            y = 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
        else:
            y = 0.5 * v * erfc(-v * math.sqrt(0.5))
        return y.astype(np.float32)
    return apply_lut(call, x, _gelu_tanh if approximate else _gelu)


@kernel("HARD_SWISH")
def hard_swish(call: KernelCall, x):
    """TFLite HARD_SWISH: x * relu6(x + 3) / 6; int8/uint8 in TFLite's int16 fixed point."""
    if x.dtype == np.float32:
        return (x * np.minimum(f32(6), np.maximum(f32(0), x + f32(3))) / f32(6)).astype(np.float32)
    src, dst = call.inputs[0], call.out
    if x.dtype not in (np.int8, np.uint8) or src.quant is None or dst.quant is None:
        raise call.error(f"HARD_SWISH of {x.dtype} is not supported")
    hires_input_scale = f32(1 / 128) * f32(src.scale)
    out_mult, out_exp = _int16_multiplier(hires_input_scale / f32(dst.scale))
    if out_exp > 0:
        raise call.error("HARD_SWISH: the output scale is too small for TFLite's kernel")
    relu_mult, relu_exp = _int16_multiplier(hires_input_scale / (f32(3) / f32(32768)))

    hires = gemmlowp.wrap((x.astype(np.int64) - src.zero_point) * 128, 16)
    preshift_output = gemmlowp.mul(hires, out_mult, 16)
    reluish = hires
    if relu_exp > 0:
        reluish = gemmlowp.saturate(reluish << (relu_exp - 1), 16)
    reluish = gemmlowp.mul(reluish, relu_mult, 16)
    if relu_exp > 0:
        reluish = gemmlowp.saturate(reluish << 1, 16)
    if relu_exp < 0:
        reluish = rounding_divide_by_pot(reluish, -relu_exp)
    reluish = (reluish + (1 << 15)) >> 1
    product = reluish * preshift_output  # SaturatingDoublingHighMul: truncating, no nudge
    q = np.abs(product) >> 15
    preshift = np.where(product < 0, -q, q)
    preshift = np.where((reluish == -32768) & (preshift_output == -32768), 32767, preshift)
    y = gemmlowp.wrap(rounding_divide_by_pot(preshift, -out_exp) + dst.zero_point, 16)
    return saturate(y, dst.dtype)


def _int16_multiplier(real) -> tuple[int, int]:
    """QuantizeMultiplier, then DownScaleInt32ToInt16Multiplier (HardSwishPrepare)."""
    mult, exponent = quantize_multiplier(float(real))
    if mult >= (1 << 31) - 1 - (1 << 15):
        return 32767, exponent
    return (mult + (1 << 15)) >> 16, exponent


# ----------------------------------------------------------------------------- leaky ReLU, PReLU


@kernel("LEAKY_RELU")
def leaky_relu(call: KernelCall, x):
    """TFLite LEAKY_RELU: x if x > 0 else alpha * x; quantized with one multiplier per sign."""
    alpha = f32(call.opts["alpha"])
    if x.dtype == np.float32:
        return np.where(x > 0, x, x * alpha).astype(np.float32)
    src, dst = call.inputs[0], call.out
    if src.quant is None or dst.quant is None:
        raise call.error(f"LEAKY_RELU of unquantized {x.dtype} is not supported")
    alpha_mult, alpha_shift = quantize_multiplier(float(f32(src.scale) * alpha / f32(dst.scale)))
    id_mult, id_shift = quantize_multiplier(float(f32(src.scale) / f32(dst.scale)))
    v = x.astype(np.int64) - src.zero_point
    scaled_alpha = multiply_by_quantized_multiplier(v, abs(alpha_mult), alpha_shift)
    negative = np.where(alpha_mult < 0, -scaled_alpha, scaled_alpha)
    y = np.where(v >= 0, multiply_by_quantized_multiplier(v, id_mult, id_shift), negative)
    return saturate(y + dst.zero_point, dst.dtype)


@kernel("PRELU")
def prelu(call: KernelCall, x, alpha):
    """TFLite PRELU: x if x >= 0 else alpha * x, alpha broadcast against x."""
    if x.dtype == np.float32:
        return np.where(x >= 0, x, x * alpha).astype(np.float32)
    src, alpha_info, dst = call.inputs[0], call.inputs[1], call.out
    if src.quant is None or alpha_info.quant is None or dst.quant is None:
        raise call.error(f"PRELU of unquantized {x.dtype} is not supported")
    mult_1, shift_1 = quantize_multiplier(float(f32(src.scale) / f32(dst.scale)))
    mult_2, shift_2 = quantize_multiplier(
        float(f32(src.scale) * f32(alpha_info.scale) / f32(dst.scale))
    )
    v = x.astype(np.int64) - src.zero_point
    a = alpha.astype(np.int64) - alpha_info.zero_point
    y = np.where(
        v >= 0,
        multiply_by_quantized_multiplier(v, mult_1, shift_1),
        multiply_by_quantized_multiplier(wrap_int32(v * a), mult_2, shift_2),
    )
    return np.broadcast_to(saturate(y + dst.zero_point, dst.dtype), dst.shape).copy()


# ----------------------------------------------------------------------------- softmax family

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12


def _input_radius(integer_bits: int, left_shift: int, total_bits: int = 31) -> int:
    """TFLite's CalculateInputRadius: the largest |input difference| that matters."""
    return (((1 << integer_bits) - 1) << (total_bits - integer_bits)) >> left_shift


def _softmax_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling with 5 integer bits: (multiplier, left shift, diff_min)."""
    real = min(
        float(beta) * float(input_scale) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)),
        (1 << 31) - 1.0,
    )
    mult, left_shift = quantize_multiplier(real)
    diff_min = -_input_radius(SCALED_DIFF_INTEGER_BITS, left_shift)
    return mult, left_shift, diff_min


def _sum_of_exps(diff: np.ndarray, valid: np.ndarray, rescaled: np.ndarray) -> np.ndarray:
    """Sum over the last axis of exp(diff) in Q12.19, counting only the `valid` entries."""
    exps = gemmlowp.rescale(
        gemmlowp.exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS, 32),
        0,
        ACCUMULATION_INTEGER_BITS,
        32,
    )
    return gemmlowp.wrap(np.sum(np.where(valid, exps, 0), axis=-1, keepdims=True), 32)


@kernel("SOFTMAX")
def softmax(call: KernelCall, x):
    """TFLite SOFTMAX over the last axis: exp(beta * (x - max)) / sum."""
    beta = call.opts.get("beta", 1.0)
    if x.dtype == np.float32:
        e = np.exp((x - x.max(axis=-1, keepdims=True)) * f32(beta))
        return (e / e.sum(axis=-1, keepdims=True, dtype=np.float32)).astype(np.float32)
    src, dst = call.inputs[0], call.out
    if src.quant is None or dst.quant is None:
        raise call.error(f"SOFTMAX of unquantized {x.dtype} is not supported")
    if x.dtype == np.int16 and dst.dtype == np.int16:
        return _softmax_int16(call, x, beta)
    if x.dtype not in (np.int8, np.uint8) or dst.dtype not in (np.int8, np.uint8, np.int16):
        raise call.error(f"SOFTMAX from {x.dtype} to {dst.dtype} is not supported")
    mult, left_shift, diff_min = _softmax_scaling(f32(beta), f32(src.scale))
    v = x.astype(np.int64)
    diff = v - v.max(axis=-1, keepdims=True)
    valid = diff >= diff_min
    rescaled = multiply_by_quantized_multiplier_greater_than_one(diff, mult, left_shift)
    sum_of_exps = _sum_of_exps(diff, valid, rescaled)
    shifted_scale, num_bits_over_unit = gemmlowp.get_reciprocal(
        sum_of_exps, ACCUMULATION_INTEGER_BITS
    )
    out = np.iinfo(dst.dtype)
    exponent = num_bits_over_unit + 31 - out.bits
    if np.any((exponent < 0) | (exponent > 31)):
        raise call.error("SOFTMAX: the sum of exponentials is out of range (TFLite aborts here)")
    exp_in_0 = gemmlowp.exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS, 32)
    unsat = rounding_divide_by_pot(gemmlowp.mul(shifted_scale, exp_in_0, 32), exponent)
    y = np.clip(unsat + out.min, out.min, out.max)
    return np.where(valid, y, out.min).astype(dst.dtype)


def _softmax_int16(call: KernelCall, x: np.ndarray, beta: float) -> np.ndarray:
    """TFLite's SoftmaxInt16: exp and 1 / (1 + x) from interpolated 513-entry tables."""
    src = call.inputs[0]
    exp_lut = lut_int16(
        lambda v: c_math("exp", v, np.float64), 10 / 65535, 32767, 2 / 65535, 0, np.float64
    )
    recip_lut = lut_int16(lambda v: 1 / (1 + v), 1 / 65535, -32768, 2 / 65535, 0, np.float64)
    mult, shift = quantize_multiplier(float(f32(src.scale) * f32(beta)) / (10.0 / 65535.0))
    v = x.astype(np.int64)
    scaled = multiply_by_quantized_multiplier(v - v.max(axis=-1, keepdims=True), mult, shift)
    exps = lookup_int16(np.clip(scaled + 32767, -32768, 32767), exp_lut).astype(np.int64)
    total = gemmlowp.wrap(exps.sum(axis=-1, keepdims=True), 32)
    headroom_plus_one = gemmlowp.count_leading_zeros32(total)
    shifted_sum = ((total << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    sym = np.clip(shifted_sum - (1 << 15) - (1 << 16), -32768, 32767)
    reciprocal = lookup_int16(sym, recip_lut).astype(np.int64)
    right_shift = 31 - headroom_plus_one
    result = (exps * reciprocal + (np.int64(1) << (right_shift - 1))) >> right_shift
    return np.clip(result, 0, 32767).astype(np.int16)


@kernel("LOG_SOFTMAX")
def log_softmax(call: KernelCall, x):
    """TFLite LOG_SOFTMAX over the last axis: x - max - log(sum(exp(x - max)))."""
    if x.dtype == np.float32:
        shifted = x - x.max(axis=-1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=-1, keepdims=True, dtype=np.float32))
        return (shifted - log_sum).astype(np.float32)
    src, dst = call.inputs[0], call.out
    out = np.iinfo(dst.dtype) if dst.dtype in (np.int8, np.uint8) else None
    if src.quant is None or out is None or x.dtype != dst.dtype:
        raise call.error(f"LOG_SOFTMAX of {x.dtype} is not supported")
    if dst.scale != 16 / 256 or dst.zero_point != out.max:
        raise call.error(f"LOG_SOFTMAX output must have scale 16/256 and zero point {out.max}")
    mult, left_shift, diff_min = _softmax_scaling(1.0, f32(src.scale))
    reverse_mult, reverse_shift = quantize_multiplier((1 << (31 - left_shift)) / float(mult))
    v = x.astype(np.int64)
    diff = v - v.max(axis=-1, keepdims=True)
    rescaled = multiply_by_quantized_multiplier(diff, mult, left_shift)
    sum_of_exps = _sum_of_exps(diff, diff >= diff_min, rescaled)
    log_sum = gemmlowp.log_x_for_x_greater_than_or_equal_to_1(
        sum_of_exps, SCALED_DIFF_INTEGER_BITS, ACCUMULATION_INTEGER_BITS
    )
    adjusted_diff_min = np.maximum(
        diff_min - 1,
        multiply_by_quantized_multiplier_smaller_than_one_exp(
            log_sum - (1 << 31), reverse_mult, reverse_shift
        ),
    )
    unsat = rounding_divide_by_pot(
        wrap_int32(rescaled - log_sum), 31 - SCALED_DIFF_INTEGER_BITS - 4
    )
    y = np.clip(unsat + out.max, out.min, out.max)
    return np.where(diff > adjusted_diff_min, y, out.min).astype(dst.dtype)


@kernel("L2_NORMALIZATION")
def l2_normalization(call: KernelCall, x):
    """TFLite L2_NORMALIZATION over the last axis: x / max(|x|, 1e-6)."""
    if call.opts.get("fused_activation_function", "NONE") != "NONE":
        raise call.error("L2_NORMALIZATION supports no fused activation")
    if x.dtype == np.float32:
        norm = np.sqrt((x * x).sum(axis=-1, keepdims=True, dtype=np.float32))
        return (x / np.maximum(norm, f32(1e-6))).astype(np.float32)
    src = call.inputs[0]
    if x.dtype not in (np.int8, np.uint8) or src.quant is None:
        raise call.error(f"L2_NORMALIZATION of {x.dtype} is not supported")
    diff = x.astype(np.int64) - src.zero_point
    square_sum = wrap_int32((diff * diff).sum(axis=-1, keepdims=True))
    mult, shift = gemmlowp.inv_sqrt_quantized_multiplier_exp(square_sum, -1)
    if x.dtype == np.int8:
        y = multiply_by_quantized_multiplier(diff, mult, shift + 7)
        return saturate(y, np.int8)
    y = 128 + multiply_by_quantized_multiplier_smaller_than_one_exp(128 * diff, mult, shift)
    return saturate(y, np.uint8)
