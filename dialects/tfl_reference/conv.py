"""Reference kernels: CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED, BATCH_MATMUL.

Each kernel takes the path TFLite's reference kernels (BUILTIN_REF) take for its types:

- float32: each product and each partial sum rounded to float32 in the order of TFLite's
  reference loops (no fused multiply-add), then bias and the fused activation's clamp:
  bit-exact with TFLite, so no drift accumulates through deep models.
- quantized (int8 or uint8 activations, or int16 activations with int8 weights, "16x8"):
  exact integer sums of (x - zp_x)(w - zp_w), wrapped to the C++ accumulator's width,
  then TFLite's requantization. The convolutions and BATCH_MATMUL use Q31 multipliers
  with double rounding (the 64-bit variant for 16x8 with int64 bias); FULLY_CONNECTED's
  reference kernel rescales in double precision, `round(acc * s_in * s_w / s_out)`.
- hybrid (float32 activations, int8 weights): TFLite's dynamic quantization of the input
  (per batch; symmetric, or asymmetric with a zero point), integer sums, float32 scaling.

Integer sums run as float64 BLAS products of integer-valued operands: exact, because
no partial sum of the (checked) depth can reach 2^53.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from litec.dialects.tfl_reference.common import (
    Window,
    apply_activation,
    clamp_activation,
    out_size_and_pad,
    quantized_activation_range,
    window_taps,
)
from litec.dialects.tfl_reference.core import KernelCall, TensorInfo, kernel
from litec.runtime.fixedpoint import (
    asymmetric_quantize_floats,
    batch_quantize_floats,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_int64,
    quantize_multiplier,
    quantize_multiplier_array,
    round_to_int32,
    symmetric_quantize_floats,
    wrap_int32,
)

F32, I8, U8, I16, I32, I64 = (
    np.dtype(t) for t in (np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64)
)
QUANTIZED_KINDS = {(I8, I8), (U8, U8), (I16, I8)}
"""(activation, weight) dtypes of the fully quantized kernels."""

CLAMPING_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
"""The fused activations FULLY_CONNECTED accepts unless its weights are hybrid."""

Sums = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(input, weights) -> the op's sums of products: float32 operands in TFLite's order and
rounding, integer-valued float64 operands exactly."""


EXACT_DEPTH = 2**53 // 2**32
"""Sums of this many products of integers below 2^16 in magnitude are exact in float64."""


def _centred(v: np.ndarray, zero_point: int = 0) -> np.ndarray:
    """Integer values minus a zero point, as float64 for BLAS (exact up to EXACT_DEPTH)."""
    return v.astype(np.float64) - zero_point


def _check_depth(call: KernelCall, depth: int) -> None:
    if depth > EXACT_DEPTH:
        raise call.error(f"sums of {depth} products are too deep for exact accumulation")


def _bias(bias: np.ndarray | None, dtype) -> np.ndarray | int:
    """The bias in the accumulator's dtype (0 when the op has none)."""
    return 0 if bias is None else bias.astype(dtype)


# ----------------------------------------------------------------------------- windows


def _window(call: KernelCall, in_hw, kernel_hw, out_hw) -> Window:
    """The window of a (transposed) convolution; `in_hw` is where TFLite computes padding from."""
    o = call.opts
    stride = (o["stride_h"], o["stride_w"])
    dilation = (o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1))
    if min(*stride, *dilation) < 1:
        raise call.error("strides and dilations must be positive")
    dims = [
        out_size_and_pad(o["padding"], *args)
        for args in zip(in_hw, kernel_hw, stride, dilation, strict=True)
    ]
    computed = tuple(d[0] for d in dims)
    if computed != tuple(out_hw):
        raise call.error(
            f"spatial size {list(out_hw)} does not match the computed {list(computed)}"
        )
    return Window(tuple(kernel_hw), stride, dilation, tuple(d[1] for d in dims), computed)


IN_ORDER: ContextVar[bool] = ContextVar("litec_conv_sums_in_order", default=True)
"""Whether float CONV_2D sums in TFLite's order (bit for bit, slow). Calibration, which reads
ranges and means only, runs with it off (`sums_in_any_order`): one float32 matrix product
per group, about 30x faster on MobileNetV1."""


@contextmanager
def sums_in_any_order() -> Iterator[None]:
    """While open, float CONV_2D sums in BLAS order (results within float rounding)."""
    token = IN_ORDER.set(False)
    try:
        yield
    finally:
        IN_ORDER.reset(token)


def _in_order(terms: Iterable[tuple[np.ndarray, np.ndarray]], shape) -> np.ndarray:
    """Σ a·b over `terms` in order, each product and each sum rounded to float32.

    TFLite's reference loops (`total += x * w`, no fused multiply-add) vectorised over every
    output at once, so float results match them bit for bit.
    """
    acc = np.zeros(shape, F32)
    product = np.empty(shape, F32)
    for a, b in terms:
        np.multiply(a, b, out=product)
        acc += product
    return acc


def _conv_sums(win: Window) -> Sums:
    """Convolution sums for OHWI weights, grouped when the filter is shallower than the input.

    float32: in TFLite's order (filter row, filter column, input channel; `IN_ORDER`);
    integers (and float32 outside that order): im2col and one matmul per group.
    """

    def sums(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        n, o, cg = x.shape[0], w.shape[0], w.shape[3]
        groups, taps = x.shape[3] // cg, win.kernel[0] * win.kernel[1]
        patches = np.stack(list(window_taps(x, win)), axis=3).reshape(-1, taps, groups, cg)
        weights = w.reshape(groups, o // groups, taps, cg)
        if x.dtype == F32 and IN_ORDER.get():
            columns = np.ascontiguousarray(patches.transpose(1, 3, 0, 2))[..., None]
            per_step = weights.transpose(2, 3, 0, 1)
            terms = ((columns[t, c], per_step[t, c]) for t in range(taps) for c in range(cg))
            acc = _in_order(terms, (len(patches), groups, o // groups))
        else:
            flat = weights.reshape(groups, o // groups, taps * cg)
            acc = np.stack(
                [patches[:, :, g].reshape(-1, taps * cg) @ flat[g].T for g in range(groups)], 1
            )
        return acc.reshape(n, *win.out, o)

    return sums


def _depthwise_sums(win: Window) -> Sums:
    """Depthwise sums for 1HW(C·M) weights, tap by tap (TFLite's order); channel c·M + m reads c."""

    def sums(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        mult = w.shape[3] // x.shape[3]
        acc = np.zeros((x.shape[0], *win.out, w.shape[3]), np.result_type(x, w))
        for tap, wt in zip(window_taps(x, win), w[0].reshape(-1, w.shape[3]), strict=True):
            acc += (tap if mult == 1 else np.repeat(tap, mult, axis=3)) * wt
        return acc

    return sums


def _transposed_canvas(win: Window, x_shape, w_shape, dtype):
    """The uncropped output of a transposed convolution and, per kernel tap, where it lands."""
    n, h, wd, _ = x_shape
    o, kh, kw, _ = w_shape
    (sh, sw), (ph, pw), (oh, ow) = win.stride, win.pad, win.out
    rows, cols = max((h - 1) * sh + kh, ph + oh), max((wd - 1) * sw + kw, pw + ow)
    full = np.zeros((n, rows, cols, o), dtype)

    def at(ky: int, kx: int) -> np.ndarray:
        return full[:, ky : ky + (h - 1) * sh + 1 : sh, kx : kx + (wd - 1) * sw + 1 : sw]

    return full, at


def _crop(win: Window, full: np.ndarray) -> np.ndarray:
    (ph, pw), (oh, ow) = win.pad, win.out
    return full[:, ph : ph + oh, pw : pw + ow]


def _transpose_conv_in_order(win: Window, x_shape, w_shape, term) -> np.ndarray:
    """Float32 transposed-convolution sums of `term(ky, kx, c)` in TFLite's order.

    TFLite scatters input pixel by input pixel (row, column, channel); for one output that
    visits the kernel taps from the last to the first, channels innermost.
    """
    full, at = _transposed_canvas(win, x_shape, w_shape, F32)
    _, kh, kw, cin = w_shape
    for ky in reversed(range(kh)):
        for kx in reversed(range(kw)):
            patch = at(ky, kx)
            for c in range(cin):
                patch += term(ky, kx, c)
    return _crop(win, full)


def _transpose_conv_sums(win: Window) -> Sums:
    """Transposed-convolution sums: each input pixel scatters x · w over a kernel-sized patch."""

    def sums(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        if x.dtype == F32:
            return _transpose_conv_in_order(
                win, x.shape, w.shape, lambda ky, kx, c: x[..., c, None] * w[:, ky, kx, c]
            )
        n, h, wd, c = x.shape
        o, kh, kw, _ = w.shape
        spread = (x.reshape(-1, c) @ w.transpose(3, 1, 2, 0).reshape(c, -1)).reshape(
            n, h, wd, kh, kw, o
        )
        full, at = _transposed_canvas(win, x.shape, w.shape, spread.dtype)
        for ky in range(kh):
            for kx in range(kw):
                at(ky, kx)[...] += spread[:, :, :, ky, kx]
        return _crop(win, full)

    return sums


# ----------------------------------------------------------------------------- requantization


def _channel_scales(call: KernelCall, w: TensorInfo, channels: int) -> np.ndarray:
    """The weight scales as float32, one per output channel (a per-tensor scale broadcast)."""
    scales = w.quant.scale_array()
    if len(scales) not in (1, channels):
        raise call.error(f"the weights have {len(scales)} scales for {channels} output channels")
    return np.broadcast_to(scales, (channels,))


def _conv_multipliers(call: KernelCall, x: TensorInfo, w: TensorInfo, channels: int):
    """Per-channel Q31 multipliers and shifts as PopulateConvolutionQuantizationParams computes.

    int8/int16: (double)s_x * (double)s_w / (double)s_out; uint8 keeps the legacy
    GetQuantizedConvolutionMultipler, whose s_x * s_w is a float32 product.
    """
    out = call.out
    if x.dtype == U8:
        if len(w.quant.scales) > 1:
            raise call.error("uint8 kernels need per-tensor weights")
        real = float(F32.type(x.scale) * F32.type(w.scale)) / float(out.scale)
        mult, shift = quantize_multiplier(real)
        return np.full(channels, mult, np.int64), np.full(channels, shift, np.int64)
    scales = _channel_scales(call, w, channels).astype(np.float64)
    return quantize_multiplier_array(np.float64(x.scale) * scales / np.float64(out.scale))


def _finish_float(call: KernelCall, acc: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """Add the bias, then ActivationFunctionWithMinMax in float32 (TANH and SIGN_BIT clamp
    nothing here)."""
    out = (acc + _bias(bias, F32)).astype(F32)
    return clamp_activation(out, call.opts["fused_activation_function"])


def _finish_quantized(call: KernelCall, scaled: np.ndarray) -> np.ndarray:
    """Add the output zero point (int32 arithmetic), clamp to the fused activation, cast."""
    act = call.opts.get("fused_activation_function", "NONE")
    lo, hi = quantized_activation_range(act, call.out)
    return np.clip(wrap_int32(scaled + call.out.zero_point), lo, hi).astype(call.out.dtype)


def _wide_accumulator(call: KernelCall, x: TensorInfo, bias: np.ndarray | None) -> bool:
    """Whether TFLite accumulates in int64: 16x8 kernels unless the bias type is int32.

    TFLite decides by the quantized_bias_type option; where an op does not carry it, the
    bias tensor's type says the same (an int32 bias without the option is misread by
    TFLite itself).
    """
    if x.dtype != I16:
        return False
    declared = call.opts.get("quantized_bias_type")
    if declared in ("INT32", "INT64"):
        return declared == "INT64"
    return bias is None or bias.dtype != I32


def _requantize_q31(call, acc, bias, mult, shift, wide: bool) -> np.ndarray:
    """Bias, then MultiplyByQuantizedMultiplier (int32, or the int64 variant), zero point, clamp."""
    total = acc + _bias(bias, I64)
    rescale = multiply_by_quantized_multiplier_int64 if wide else multiply_by_quantized_multiplier
    return _finish_quantized(call, rescale(total, mult, shift))


# ----------------------------------------------------------------------------- conv-like kernels


def _weights_zero_point(x: TensorInfo, w: TensorInfo) -> int:
    """The weight offset a convolution applies: uint8 kernels only (int8 weights are symmetric)."""
    return w.zero_point if x.dtype == U8 else 0


def _float_conv(call: KernelCall, sums: Sums, x, w, bias) -> np.ndarray:
    """Float32 convolution: sums in TFLite's order, bias, clamp."""
    return _finish_float(call, sums(x.astype(F32), w.astype(F32)), bias)


def _integer_conv_sums(call: KernelCall, sums: Sums, x, w) -> np.ndarray:
    """Exact int64 sums of integer (already centred) inputs and weights."""
    _check_depth(call, w.size // call.out.shape[-1])
    return sums(x, _centred(w)).astype(np.int64)


def _quantized_conv(call: KernelCall, sums: Sums, x, w, bias, xi: TensorInfo, wi: TensorInfo):
    """int8 / uint8 / 16x8 convolution: exact sums, TFLite's per-channel requantization."""
    mult, shift = _conv_multipliers(call, xi, wi, call.out.shape[-1])
    w = w.astype(np.int64) - _weights_zero_point(xi, wi)
    acc = _integer_conv_sums(call, sums, _centred(x, xi.zero_point), w)
    return _requantize_q31(call, acc, bias, mult, shift, _wide_accumulator(call, xi, bias))


def _hybrid_scaled(call, sums: Sums, x, w, wi: TensorInfo, per_channel: bool) -> np.ndarray:
    """Hybrid sums scaled back to float32, [N, OH, OW, O]: TFLite's conv hybrid arithmetic.

    Per channel: inputs quantized asymmetrically per batch, float(acc) * s_w[o] * s_x[b];
    per tensor: symmetric, float(acc) * (s_x[b] * s_w).
    """
    n, channels = x.shape[0], call.out.shape[-1]
    if per_channel:
        q, scale, offset = asymmetric_quantize_floats(x.reshape(n, -1))
        acc = _integer_conv_sums(call, sums, (q - offset[:, None]).reshape(x.shape), w)
        return (
            wrap_int32(acc).astype(F32)
            * _channel_scales(call, wi, channels)
            * scale[:, None, None, None]
        )
    q, scale = symmetric_quantize_floats(x.reshape(n, -1))
    acc = _integer_conv_sums(call, sums, q.reshape(x.shape), w)
    return wrap_int32(acc).astype(F32) * (scale * F32.type(wi.scale))[:, None, None, None]


def _check_kind(call: KernelCall, xi: TensorInfo, wi: TensorInfo) -> tuple[np.dtype, np.dtype]:
    kind = (xi.dtype, wi.dtype)
    if kind not in QUANTIZED_KINDS | {(F32, F32), (F32, I8)}:
        raise call.error(f"{xi.dtype} input with {wi.dtype} weights is not supported")
    if kind != (F32, F32) and wi.quant is None:
        raise call.error("the weights are not quantized")
    if xi.dtype != F32 and (xi.quant is None or call.out.quant is None):
        raise call.error("quantized inputs and outputs need quantization parameters")
    return kind


@kernel("CONV_2D")
def conv_2d(call: KernelCall, x, w, bias=None):
    """TFLite CONV_2D: NHWC input, OHWI filter (grouped when shallower than the input)."""
    xi, wi = call.inputs[0], call.inputs[1]
    kind = _check_kind(call, xi, wi)
    cin, o, cg = x.shape[3], w.shape[0], w.shape[3]
    if cin % cg or o % (cin // cg):
        raise call.error(f"{cin} input channels do not split into groups of {cg} for {o} filters")
    win = _window(call, x.shape[1:3], w.shape[1:3], call.out.shape[1:3])
    sums = _conv_sums(win)
    if kind == (F32, F32):
        return _float_conv(call, sums, x, w, bias)
    if kind in QUANTIZED_KINDS:
        return _quantized_conv(call, sums, x, w, bias, xi, wi)
    scales = wi.quant.scales
    if cin != cg and len(scales) != o:
        raise call.error("hybrid grouped convolution needs one weight scale per output channel")
    per_channel = cin != cg or any(s != scales[0] for s in scales)
    return _finish_float(call, _hybrid_scaled(call, sums, x, w, wi, per_channel), bias)


@kernel("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(call: KernelCall, x, w, bias=None):
    """TFLite DEPTHWISE_CONV_2D: NHWC input, 1HW(C·M) filter; output channel c·M + m reads c."""
    xi, wi = call.inputs[0], call.inputs[1]
    kind = _check_kind(call, xi, wi)
    if w.shape[0] != 1 or w.shape[3] % x.shape[3]:
        raise call.error(f"filter {list(w.shape)} is not 1HW(C·M) for {x.shape[3]} channels")
    win = _window(call, x.shape[1:3], w.shape[1:3], call.out.shape[1:3])
    sums = _depthwise_sums(win)
    if kind == (F32, F32):
        return _float_conv(call, sums, x, w, bias)
    if kind in QUANTIZED_KINDS:
        return _quantized_conv(call, sums, x, w, bias, xi, wi)
    channels = call.out.shape[-1]
    if len(wi.quant.scales) != channels:
        raise call.error("hybrid depthwise convolution needs one weight scale per output channel")
    q, scale, offset = asymmetric_quantize_floats(x.reshape(x.shape[0], -1))
    acc = wrap_int32(_integer_conv_sums(call, sums, (q - offset[:, None]).reshape(x.shape), w))
    per_output = wi.quant.scale_array() * scale[:, None, None, None]
    return _finish_float(call, acc.astype(F32) * per_output, bias)


@kernel("TRANSPOSE_CONV")
def transpose_conv(call: KernelCall, output_shape, w, x, bias=None):
    """TFLite TRANSPOSE_CONV: inputs (output shape, OHWI filter, NHWC input, optional bias)."""
    xi, wi = call.inputs[2], call.inputs[1]
    kind = _check_kind(call, xi, wi)
    if w.shape[3] != x.shape[3]:
        raise call.error(f"filter depth {w.shape[3]} does not match {x.shape[3]} input channels")
    if list(np.asarray(output_shape).ravel()) != list(call.out.shape):
        raise call.error(f"output_shape {list(output_shape)} differs from {list(call.out.shape)}")
    win = _window(call, call.out.shape[1:3], w.shape[1:3], x.shape[1:3])
    win = Window(win.kernel, win.stride, (1, 1), win.pad, call.out.shape[1:3])
    if kind == (F32, F32):
        return _float_conv(call, _transpose_conv_sums(win), x, w, bias)
    if kind in QUANTIZED_KINDS:
        return _quantized_conv(call, _transpose_conv_sums(win), x, w, bias, xi, wi)
    return _finish_float(call, _hybrid_transpose_conv(call, win, x, w, wi), bias)


def _hybrid_transpose_conv(call: KernelCall, win: Window, x, w, wi: TensorInfo) -> np.ndarray:
    """TFLite's HybridTransposeConv: each int32 product scaled to float32, then summed in order."""
    q, scale, offset = asymmetric_quantize_floats(x.reshape(x.shape[0], -1))
    q = (q - offset[:, None]).reshape(x.shape).astype(np.int64)
    scales = _channel_scales(call, wi, call.out.shape[-1])
    per_batch = scale[:, None, None, None]

    def term(ky: int, kx: int, c: int) -> np.ndarray:
        products = q[..., c, None] * w[:, ky, kx, c].astype(np.int64)
        return wrap_int32(products).astype(F32) * scales * per_batch

    return _transpose_conv_in_order(win, x.shape, w.shape, term)


# ----------------------------------------------------------------------------- matrix products


def _double_rescale(call: KernelCall, acc, xi: TensorInfo, wi: TensorInfo) -> np.ndarray:
    """TFLite's reference FULLY_CONNECTED requantization: (int32)round(acc * s_x * s_w / s_out)."""
    scales = _channel_scales(call, wi, call.out.shape[-1]).astype(np.float64)
    effective = np.float64(xi.scale) * scales / np.float64(call.out.scale)
    return _finish_quantized(call, round_to_int32(acc.astype(np.float64) * effective))


@kernel("FULLY_CONNECTED")
def fully_connected(call: KernelCall, x, w, bias=None):
    """TFLite FULLY_CONNECTED: y = x · Wᵀ + b over the flattened leading dimensions of x."""
    xi, wi = call.inputs[0], call.inputs[1]
    if call.opts.get("weights_format", "DEFAULT") != "DEFAULT":
        raise call.error(f"weights format {call.opts['weights_format']} is not supported")
    kind = _check_kind(call, xi, wi)
    act = call.opts["fused_activation_function"]
    if w.shape[1] == 0:
        return np.zeros(call.out.shape, call.out.dtype)  # TFLite writes zeros, bias or not
    if x.size % w.shape[1]:
        raise call.error(f"input of {x.size} values does not split into rows of {w.shape[1]}")
    rows = x.reshape(-1, w.shape[1])
    if kind == (F32, I8):
        return _hybrid_fully_connected(call, rows, w, bias, wi).reshape(call.out.shape)
    if act not in CLAMPING_ACTIVATIONS:
        raise call.error(f"fused activation {act} is only supported with hybrid weights")
    if kind == (F32, F32):
        columns, weights = np.ascontiguousarray(rows.T)[..., None], np.ascontiguousarray(w.T)
        acc = _in_order(zip(columns, weights, strict=True), (len(rows), w.shape[0]))
        return _finish_float(call, acc, bias).reshape(call.out.shape)
    if xi.dtype == U8 and call.out.dtype != U8:
        raise call.error(f"uint8 input with {call.out.dtype} output is not supported")
    per_channel = len(wi.quant.scales) > 1
    if per_channel and xi.dtype == U8:
        raise call.error("uint8 FULLY_CONNECTED needs per-tensor weights")
    _check_depth(call, w.shape[1])
    w_centred = _centred(w, 0 if per_channel else wi.zero_point)
    acc = (_centred(rows, xi.zero_point) @ w_centred.T).astype(np.int64) + _bias(bias, I64)
    if not _wide_accumulator(call, xi, bias):
        acc = wrap_int32(acc)
    return _double_rescale(call, acc, xi, wi).reshape(call.out.shape)


def _hybrid_fully_connected(call: KernelCall, rows, w, bias, wi: TensorInfo) -> np.ndarray:
    """TFLite's EvalHybridDense: quantized rows, int32 dot products, b + dot * s_x[b] * s_w."""
    q, scale, offset = batch_quantize_floats(rows, call.opts["asymmetric_quantize_inputs"])
    _check_depth(call, w.shape[1])
    row_sums = w.astype(np.int64).sum(axis=1)
    dot = wrap_int32((q @ _centred(w).T).astype(np.int64) - row_sums * offset[:, None])
    if len(wi.quant.scales) > 1:
        per_output = scale[:, None] * _channel_scales(call, wi, w.shape[0])
    else:
        per_output = (scale * F32.type(wi.scale))[:, None]
    out = _bias(bias, F32) + dot.astype(F32) * per_output
    return apply_activation(out.astype(F32), call.opts["fused_activation_function"])


def _matmul_operands(call: KernelCall, lhs, rhs):
    """lhs as [..., M, K] and rhs as [..., K, N] after the adjoint options."""
    a = np.swapaxes(lhs, -1, -2) if call.opts["adj_x"] else lhs
    b = np.swapaxes(rhs, -1, -2) if call.opts["adj_y"] else rhs
    if a.shape[-1] != b.shape[-2]:
        raise call.error(f"cannot multiply {list(a.shape)} by {list(b.shape)}")
    return a, b


@kernel("BATCH_MATMUL")
def batch_matmul(call: KernelCall, lhs, rhs):
    """TFLite BATCH_MATMUL: lhs · rhs over broadcast batch dimensions, optional adjoints."""
    li, ri, out = call.inputs[0], call.inputs[1], call.out
    a, b = _matmul_operands(call, lhs, rhs)
    kind = (li.dtype, ri.dtype)
    if kind == (F32, F32):
        shape = (*np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), a.shape[-2], b.shape[-1])
        terms = zip(
            np.moveaxis(a, -1, 0)[..., None], np.moveaxis(b, -2, 0)[..., None, :], strict=True
        )
        return _in_order(terms, shape).reshape(out.shape)
    _check_depth(call, a.shape[-1])
    if kind == (F32, I8):
        return _hybrid_batch_matmul(call, a, b, ri).reshape(out.shape)
    if kind == (I8, I8) and out.dtype == I32:
        acc = (_centred(a) @ _centred(b)).astype(np.int64)
        return wrap_int32(acc).astype(I32).reshape(out.shape)
    if kind not in {(I8, I8), (I16, I16), (I16, I8)} or out.dtype != li.dtype:
        raise call.error(f"{li.dtype} x {ri.dtype} -> {out.dtype} is not supported")
    if li.quant is None or ri.quant is None or out.quant is None:
        raise call.error("quantized operands need quantization parameters")
    real = float(F32.type(li.scale) * F32.type(ri.scale)) / float(out.scale)
    mult, shift = quantize_multiplier(real)
    acc = (_centred(a, li.zero_point) @ _centred(b, ri.zero_point)).astype(np.int64)
    if li.dtype == I16:
        scaled = multiply_by_quantized_multiplier_int64(acc, mult, shift)
    else:
        scaled = multiply_by_quantized_multiplier(acc, mult, shift)
    return _finish_quantized(call, scaled).reshape(out.shape)


def _hybrid_batch_matmul(call: KernelCall, a, b, ri: TensorInfo) -> np.ndarray:
    """TFLite's hybrid BatchMatMul: quantized lhs rows, int32 sums, offsets corrected in float."""
    k = a.shape[-1]
    q, scale, offset = batch_quantize_floats(
        a.reshape(-1, k).astype(F32), call.opts["asymmetric_quantize_inputs"]
    )
    q = q.reshape(a.shape)
    scale, offset = scale.reshape(a.shape[:-1])[..., None], offset.reshape(a.shape[:-1])[..., None]
    total = wrap_int32((q @ _centred(b)).astype(np.int64)).astype(F32)
    column_sums = b.astype(np.int64).sum(axis=-2, keepdims=True)
    correction = column_sums.astype(F32) * offset.astype(F32)
    total = np.trunc(total - correction)
    if len(ri.quant.scales) > 1:
        scale = scale * _channel_scales(call, ri, b.shape[-1])
    else:
        scale = scale * F32.type(ri.scale)
    return (scale * total).astype(F32)
