"""CPU kernels for convolutions: CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and MediaPipe's
Convolution2DTransposeBias.

- CONV_2D is the tiled GEMM of matmul.py over M = output pixels, K = KH·KW·C_in,
  N = C_out. A 1x1, stride-1, unpadded float convolution reads its input in place; any
  other packs each block of rows first (implicit im2col into SCRATCH: the block's patches,
  padding filled with the value whose centred contribution is 0).
- DEPTHWISE_CONV_2D is channel-vectorised: for each output pixel, blocks of up to four
  16-lane channel vectors accumulate over the kernel taps. Pixels whose window lies inside
  the input run fully unrolled taps; border pixels test each tap. Split (base.py), each part
  computes a share of the output rows of every image.
- TRANSPOSE_CONV multiplies every input pixel by all its kernel taps at once (one GEMM into
  SCRATCH, N = KH·KW·C_out), then each output pixel gathers the taps that land on it.

Quantized kernels are bit-exact with TFLite's reference kernels: the per-channel Q31
parameters are the reference interpreter's own (`_conv_multipliers`), sums wrap in
int32, and requantization is `Requant` (matmul.py). Hybrid (float input, int8 weights)
convolutions quantize their input at run time exactly as TFLite does
(`emit_quantize_input`), then run the int8 kernels and scale back to float.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import f32, i8, i32
from xdsl.ir import Attribute, Operation, SSAValue

from litec.backends.cpu.kernels.base import (
    CONST,
    INPUT,
    OUTPUT,
    SCRATCH,
    Binding,
    Kernel,
    generator,
    split_parts,
)
from litec.backends.cpu.kernels.matmul import (
    Q_INPUT_ZERO,
    WHOLE,
    F32Product,
    FloatEpilogue,
    HybridEpilogue,
    Part,
    Quantized,
    QuantizedEpilogue,
    RawEpilogue,
    Requant,
    Rows,
    Tile,
    Val,
    add,
    below,
    both,
    choose_tile,
    clamp_start,
    const,
    copy_run,
    direct_rows,
    div,
    emit_gemm,
    emit_quantize_input,
    fill_run,
    float_activation,
    gemm_parts,
    hybrid_params,
    int8_rows,
    ix,
    kernel_function,
    lanes_of,
    load,
    loop,
    maximum,
    memref_of,
    minimum,
    mul,
    mul_add,
    narrow,
    optional_constant,
    packed_rows,
    q31_params,
    quantized_weights,
    rem,
    runtime_operand,
    shift_to_unsigned,
    splat,
    store,
    to_float,
    vload,
    vnni_applies,
    vstore,
    vtype,
    when,
    widen,
)
from litec.backends.cpu.kernels.packing import F32, I8, U8, constant, pack_f32, panel_starts
from litec.dialects.tfl_reference.common import Window, quantized_activation_range
from litec.dialects.tfl_reference.conv import (
    _channel_scales,
    _conv_multipliers,
    _weights_zero_point,
    _window,
)
from litec.dialects.tfl_reference.core import KernelCall, TensorInfo, make_call
from litec.dialects.tfl_reference.mediapipe import transpose_conv_params

# ----------------------------------------------------------------------------- shared facts


@dataclass(frozen=True)
class ConvShape:
    """A 2-D window op over an NHWC input: sizes and its window (the reference's `Window`)."""

    batch: int
    height: int
    width: int
    channels: int
    win: Window

    @property
    def out_pixels(self) -> int:
        return self.batch * self.win.out[0] * self.win.out[1]

    @property
    def taps(self) -> int:
        return self.win.kernel[0] * self.win.kernel[1]

    def input_index(self, b: Val, iy: Val, ix: Val, c: Val = 0) -> Val:
        return add(mul(add(mul(add(mul(b, self.height), iy), self.width), ix), self.channels), c)


def conv_shape(call: KernelCall, x: TensorInfo, kernel_hw, out_hw) -> ConvShape:
    return ConvShape(*x.shape, _window(call, x.shape[1:3], kernel_hw, out_hw))


def check_types(call: KernelCall, x: TensorInfo, w: TensorInfo) -> str | None:
    """Why the (input, weight, output) types are not supported, or None."""
    kind = (x.dtype, w.dtype, call.out.dtype)
    if kind == (F32, F32, F32):
        return None
    if kind in ((I8, I8, I8), (U8, U8, U8)):
        if w.quant is None or x.quant is None or call.out.quant is None:
            return "quantized tensors need quantization parameters"
        if x.dtype == U8 and len(w.quant.scales) > 1:
            return "uint8 kernels need per-tensor weights"
        return None
    if kind == (F32, I8, F32):
        if w.quant is None:
            return "the int8 weights are not quantized"
        if x.shape[0] != 1:
            return "hybrid convolutions of more than one batch are not supported"
        return None
    return f"{x.dtype} input with {w.dtype} weights and {call.out.dtype} output is not supported"


def pixel_of(shape: ConvShape, m: Val) -> tuple[Val, Val, Val]:
    """(batch, output row, output column) of output pixel m."""
    oh, ow = shape.win.out
    b, p = div(m, oh * ow), rem(m, oh * ow)
    return b, div(p, ow), rem(p, ow)


def window_origin(shape: ConvShape, oy: Val, ox: Val) -> tuple[Val, Val]:
    """Input coordinates of an output pixel's first tap (may be negative)."""
    (sh, sw), (ph, pw) = shape.win.stride, shape.win.pad
    return add(mul(oy, sh), -ph), add(mul(ox, sw), -pw)


# ----------------------------------------------------------------------------- im2col rows


def im2col_rows(
    shape: ConvShape,
    x: SSAValue,
    scratch: SSAValue,
    width: int,
    pad: SSAValue,
    convert=None,
    offset: Val = 0,
) -> Rows:
    """Rows of patches [KH][KW][C] per output pixel, packed into scratch rows of `width`
    (from element `offset`).

    Taps outside the input are filled with `pad`; `convert` maps copied vectors. A kernel
    row that lies wholly inside the input (undilated across) is one contiguous run.
    """
    (kh, kw), (dh, dw), c = shape.win.kernel, shape.win.dilation, shape.channels
    lanes = 64 if pad.type == i8 else 16
    span = (kw - 1) * dw + 1

    def fill_row(m: Val, d: Val) -> None:
        b, oy, ox = pixel_of(shape, m)
        y0, x0 = window_origin(shape, oy, ox)
        row_inside = below(x0, shape.width - span + 1) if span <= shape.width else None

        def tap_row(ky):
            iy = add(y0, mul(ky, dh))
            row_ok = below(iy, shape.height)

            def tap(kx):
                ix = add(x0, mul(kx, dw))
                dst = add(d, mul(add(mul(ky, kw), kx), c))

                def copy():
                    copy_run(x, shape.input_index(b, iy, ix), scratch, dst, c, lanes, convert)
                    return []

                def fill():
                    fill_run(scratch, dst, c, lanes, pad)
                    return []

                when(both(row_ok, below(ix, shape.width)), copy, fill)
                return []

            def whole_row():
                at = shape.input_index(b, iy, x0)
                copy_run(x, at, scratch, add(d, mul(ky, kw * c)), kw * c, lanes, convert)
                return []

            def by_tap():
                return loop(0, kw, tap)

            if dw == 1 and kw > 1 and row_inside is not None:
                when(both(row_ok, row_inside), whole_row, by_tap)
            else:
                by_tap()
            return []

        loop(0, kh, tap_row)

    return packed_rows(scratch, width, fill_row, offset)


def is_pointwise(shape: ConvShape) -> bool:
    """1x1 kernel, stride 1, no padding: the input rows are the GEMM's rows as they are."""
    win = shape.win
    return win.kernel == (1, 1) and win.stride == (1, 1) and win.pad == (0, 0)


# ----------------------------------------------------------------------------- CONV_2D


def check_conv_2d(op: Operation) -> tuple[bool, str]:
    """CONV_2D: float32, int8, uint8 (per-tensor weights) and hybrid (float32 input, int8
    weights); constant weights, no groups."""
    call = make_call(op)
    x, w = call.inputs[0], call.inputs[1]
    if constant(op.operands[1]) is None:
        return False, "weights computed at run time are not supported"
    if runtime_operand(op, 2):
        return False, "a bias computed at run time is not supported"
    if x.shape[3] != w.shape[3]:
        return False, "grouped convolution is not supported"
    why = check_types(call, x, w)
    if why:
        return False, why
    conv_shape(call, x, w.shape[1:3], call.out.shape[1:3])
    return True, "supported"


@generator("tfl.conv_2d", supports=check_conv_2d)
def conv_2d(op: Operation, symbol: str) -> Kernel:
    """CONV_2D as a GEMM of output pixels by filters over patches."""
    call = make_call(op)
    x, w_info = call.inputs[0], call.inputs[1]
    w = constant(op.operands[1])
    shape = conv_shape(call, x, w.shape[1:3], call.out.shape[1:3])
    w_kn = w.reshape(w.shape[0], -1).T
    bias = optional_constant(op, 2)
    if x.dtype in (I8, U8):
        return _int8_conv(call, symbol, shape, w_kn, bias, w_info)
    if w_info.dtype == I8:
        return _hybrid_conv(call, symbol, shape, w_kn, bias, w_info)
    return _float_conv(call, symbol, shape, w_kn, bias)


def _float_conv(call: KernelCall, symbol: str, shape: ConvShape, w_kn, bias) -> Kernel:
    m, (k, n) = shape.out_pixels, w_kn.shape
    tile = choose_tile(m, n)
    parts = gemm_parts(m, n, k, tile)
    pointwise = is_pointwise(shape)
    consts = [pack_f32(np.asarray(w_kn, F32), tile.nr), _bias_or_zeros(bias, n)]
    per_part = 0 if pointwise else tile.mr * k
    scratch = per_part * max(parts, 1)
    act = call.opts["fused_activation_function"]
    arg_types = [
        memref_of(f32, int(np.prod(call.inputs[0].shape))),
        *(memref_of(f32, c.size) for c in consts),
        *([memref_of(f32, scratch)] if scratch else []),
        memref_of(f32, m * n),
    ]

    def body(xs, packed, bias_ref, *rest, part=WHOLE):
        out = rest[-1]
        if pointwise:
            rows = direct_rows(xs, k)
        else:
            at = part.scratch(per_part)
            rows = im2col_rows(shape, xs, rest[0], k, const(0.0, f32), offset=at)
        epi = FloatEpilogue(out, n, bias_ref, act)
        emit_gemm(m, n, k, tile, F32Product(), rows, packed, epi, part)

    bindings = [
        Binding(INPUT, 0),
        *(Binding(CONST, data=c) for c in consts),
        *([Binding(SCRATCH, size=scratch * 4)] if scratch else []),
        Binding(OUTPUT, 0),
    ]
    return Kernel(kernel_function(symbol, arg_types, body, parts), bindings)


def _bias_or_zeros(bias, n: int, dtype=F32) -> np.ndarray:
    return np.zeros(n, dtype) if bias is None else np.asarray(bias, dtype)


def conv_requant(call: KernelCall, x: TensorInfo, folded: np.ndarray):
    """The Q31 parameter block (`q31_params`) and a `Requant` factory for a quantized conv.

    The multipliers are the reference interpreter's (`_conv_multipliers`).
    """
    n, out = len(folded), call.out
    mult, shift = _conv_multipliers(call, x, call.inputs[1], n)
    lo, hi = quantized_activation_range(call.opts.get("fused_activation_function", "NONE"), out)
    params = q31_params(folded, mult, shift, out.zero_point, lo, hi, x.zero_point)

    def requant(ref: SSAValue) -> Requant:
        return Requant.load(ref, params)

    return params, requant


def centred_weights(x: TensorInfo, w_info: TensorInfo, w) -> np.ndarray:
    """Integer weights minus the zero point a convolution applies (uint8 kernels only)."""
    return np.asarray(w, np.int64) - _weights_zero_point(x, w_info)


def _int8_conv(call: KernelCall, symbol: str, shape: ConvShape, w_kn, bias, w_info) -> Kernel:
    """int8 / uint8 CONV_2D: packed rows (+128 for int8 on VNNI), Q31 requantization."""
    x = call.inputs[0]
    m, (k, n) = shape.out_pixels, w_kn.shape
    tile = choose_tile(m, n)
    parts = gemm_parts(m, n, k, tile)
    centred = centred_weights(x, w_info, w_kn)
    unsigned = x.dtype == U8
    weights = quantized_weights(centred, bias, x.zero_point, tile, vnni_applies(n), unsigned)
    params, requant = conv_requant(call, x, weights.bias)
    per_part = tile.mr * weights.width
    scratch = per_part * max(parts, 1)
    arg_types = [
        memref_of(i8, int(np.prod(x.shape))),
        memref_of(weights.elem, weights.packed.size),
        memref_of(i32, params.size),
        memref_of(i8, scratch),
        memref_of(i8, m * n),
    ]

    def body(xs, packed, params_ref, scratch_ref, out, part=WHOLE):
        at = part.scratch(per_part)
        if is_pointwise(shape):
            rows = int8_rows(xs, k, scratch_ref, weights.width, weights.shift, at)
        else:
            zero = load(params_ref, Q_INPUT_ZERO * n)
            if weights.shift:
                zero = arith.AddiOp(zero, const(128, i32)).result
            convert = shift_to_unsigned if weights.shift else None
            pad = narrow(zero, i8)
            rows = im2col_rows(shape, xs, scratch_ref, weights.width, pad, convert, at)
        epi = QuantizedEpilogue(out, n, requant(params_ref))
        emit_gemm(m, n, k, tile, weights.product, rows, packed, epi, part)

    bindings = [
        Binding(INPUT, 0),
        Binding(CONST, data=weights.packed),
        Binding(CONST, data=params),
        Binding(SCRATCH, size=scratch),
        Binding(OUTPUT, 0),
    ]
    return Kernel(kernel_function(symbol, arg_types, body, parts), bindings)


# ----------------------------------------------------------------------------- hybrid


def hybrid_per_channel(call: KernelCall, w_info: TensorInfo) -> bool:
    """TFLite's hybrid conv quantizes asymmetrically when the weight scales differ."""
    scales = w_info.quant.scales
    return any(s != scales[0] for s in scales)


def _hybrid_conv(call: KernelCall, symbol: str, shape: ConvShape, w_kn, bias, w_info) -> Kernel:
    x = call.inputs[0]
    m, (k, n) = shape.out_pixels, w_kn.shape
    count = int(np.prod(x.shape))
    tile = choose_tile(m, n)
    weights = quantized_weights(np.asarray(w_kn, np.int64), None, 0, tile, vnni_applies(n))
    vnni = weights.shift
    asymmetric = hybrid_per_channel(call, w_info)
    params = hybrid_params(w_kn, _channel_scales(call, w_info, n), bias)
    direct = is_pointwise(shape) and weights.width == k
    scratch = 0 if direct else tile.mr * weights.width
    act = call.opts["fused_activation_function"]
    arg_types = [
        memref_of(f32, count),
        memref_of(i8, weights.packed.size),
        memref_of(f32, params.size),
        memref_of(i8, count),
        *([memref_of(i8, scratch)] if scratch else []),
        memref_of(f32, m * n),
    ]

    def body(xs, packed, params_ref, q, *rest):
        out = rest[-1]
        quant = emit_quantize_input(xs, 0, q, 0, count, asymmetric, vnni)
        correction = quant.offset
        if vnni:
            correction = arith.AddiOp(correction, const(128, i32)).result
        if direct:
            rows = direct_rows(q, k)
        else:
            pad = narrow(correction, i8)
            rows = im2col_rows(shape, q, rest[0], weights.width, pad)
        epi = HybridEpilogue(
            out,
            n,
            params_ref,
            n,
            lambda _: (correction, quant.scale),
            lambda y: float_activation(y, act),
            channel_scale_first=asymmetric,
        )
        emit_gemm(m, n, k, tile, weights.product, rows, packed, epi)

    bindings = [
        Binding(INPUT, 0),
        Binding(CONST, data=weights.packed),
        Binding(CONST, data=params),
        Binding(SCRATCH, size=count),
        *([Binding(SCRATCH, size=scratch)] if scratch else []),
        Binding(OUTPUT, 0),
    ]
    return Kernel(kernel_function(symbol, arg_types, body), bindings)


# ----------------------------------------------------------------------------- DEPTHWISE_CONV_2D


def check_depthwise(op: Operation) -> tuple[bool, str]:
    """DEPTHWISE_CONV_2D: float32, int8, uint8 and hybrid; any depth multiplier; constant
    weights."""
    call = make_call(op)
    x, w = call.inputs[0], call.inputs[1]
    if constant(op.operands[1]) is None:
        return False, "weights computed at run time are not supported"
    if runtime_operand(op, 2):
        return False, "a bias computed at run time is not supported"
    if w.shape[0] != 1 or w.shape[3] % x.shape[3]:
        return False, f"filter {list(w.shape)} is not 1HW(C·M) for {x.shape[3]} channels"
    why = check_types(call, x, w)
    if why:
        return False, why
    if w.dtype == I8 and x.dtype == F32 and len(w.quant.scales) != w.shape[3]:
        return False, "hybrid depthwise convolution needs one weight scale per channel"
    conv_shape(call, x, w.shape[1:3], call.out.shape[1:3])
    return True, "supported"


class Taps:
    """What a depthwise kernel accumulates per channel vector, and how it finishes.

    Border pixels start from `init` and add `tap` for the taps inside the input; interior
    pixels start from `init_inside` (integers: the zero point's share folded in) and add
    `tap_inside` for every tap.
    """

    w: SSAValue

    def weight(self, wi: Val, lanes: int) -> SSAValue:
        return vload(self.w, wi, lanes)

    def init(self, c: Val, lanes: int) -> SSAValue:
        raise NotImplementedError

    def init_inside(self, c: Val, lanes: int) -> SSAValue:
        return self.init(c, lanes)

    def tap(self, acc: SSAValue, xi: Val, w: SSAValue) -> SSAValue:
        raise NotImplementedError

    def tap_inside(self, acc: SSAValue, xi: Val, w: SSAValue) -> SSAValue:
        return self.tap(acc, xi, w)

    def prepare(self, c: Val, lanes: int):
        """Per-channel values `finish` needs, loaded once per channel block."""
        return None

    def finish(self, acc: SSAValue, oi: Val, prepared) -> None:
        raise NotImplementedError


@dataclass
class FloatTaps(Taps):
    """float32: acc = 0; acc += x · w per tap (`mul_add`); + bias; clamp; store: TFLite's
    reference order."""

    x: SSAValue
    w: SSAValue
    bias: SSAValue
    out: SSAValue
    act: str

    def init(self, c, lanes):
        return const(0.0, vtype(f32, lanes))

    def tap(self, acc, xi, w):
        return mul_add(acc, vload(self.x, xi, lanes_of(acc)), w)

    def prepare(self, c, lanes):
        return vload(self.bias, c, lanes)

    def finish(self, acc, oi, bias):
        vstore(float_activation(arith.AddfOp(acc, bias).result, self.act), self.out, oi)


@dataclass
class IntTaps(Taps):
    """int8: acc = bias; acc += (x − zp)·w per tap, in int32; then `finish_int`.

    Inside the input every tap is present, so Σ (x − zp)·w = Σ x·w − zp·Σw: interior pixels
    start from bias − zp·Σw and skip the subtraction.
    """

    x: SSAValue
    w: SSAValue
    """int32 weights [KH·KW][C] (widened at compile time)."""
    bias: SSAValue | None
    weight_sums: SSAValue
    """int32 Σ over the taps of each channel's weights."""
    zero_point: SSAValue
    """i32 scalar."""
    prepare_int: Callable[[Val, int], object]
    finish_int: Callable[[SSAValue, Val, object], None]
    unsigned: bool = False
    """uint8 input values."""

    def init(self, c, lanes):
        if self.bias is None:
            return const(0, vtype(i32, lanes))
        return vload(self.bias, c, lanes)

    def init_inside(self, c, lanes):
        share = arith.MuliOp(vload(self.weight_sums, c, lanes), splat(self.zero_point, lanes))
        return arith.SubiOp(self.init(c, lanes), share.result).result

    def tap(self, acc, xi, w):
        lanes = lanes_of(acc)
        x = arith.SubiOp(
            widen(vload(self.x, xi, lanes), self.unsigned), splat(self.zero_point, lanes)
        )
        return arith.AddiOp(acc, arith.MuliOp(x.result, w).result).result

    def tap_inside(self, acc, xi, w):
        x = widen(vload(self.x, xi, lanes_of(acc)), self.unsigned)
        return arith.AddiOp(acc, arith.MuliOp(x, w).result).result

    def prepare(self, c, lanes):
        return self.prepare_int(c, lanes)

    def finish(self, acc, oi, prepared):
        self.finish_int(acc, oi, prepared)


def interior(out: int, stride: int, pad: int, kernel: int, dilation: int, size: int):
    """The output positions [lo, hi) whose whole window lies inside the input."""
    lo = -(-pad // stride)
    last = size - 1 - (kernel - 1) * dilation + pad
    hi = min(out, last // stride + 1) if last >= 0 else 0
    return min(lo, max(hi, 0)), max(hi, 0)


WEIGHT_REGISTERS = 25
"""Weight vectors a depthwise block may keep in registers across a row of pixels."""


def depthwise_blocks(taps: int, channels: int) -> tuple[Tile, bool]:
    """Channel vectors per block, and whether the block's weights stay in registers."""
    if taps <= WEIGHT_REGISTERS:
        return choose_tile(1, channels, max_nv=WEIGHT_REGISTERS // taps), True
    return choose_tile(1, channels), False


DEPTHWISE_COST = 4
"""GEMM multiply-adds a depthwise one costs (it loads an input vector per tap: no register
reuse across filters), when weighing whether to split a depthwise kernel."""

MAX_BORDER = 8
"""Border rows (and columns) a depthwise kernel unrolls with their taps known at compile
time; beyond that (huge dilations) border pixels test each tap at run time."""


def valid_taps(pos: Val, stride: int, pad: int, kernel: int, dilation: int, size: int):
    """The kernel offsets that fall inside the input for output position `pos` (all of them
    when pos is only known at run time: an interior position)."""
    if not isinstance(pos, int):
        return list(range(kernel))
    first = pos * stride - pad
    return [k for k in range(kernel) if 0 <= first + k * dilation < size]


def emit_depthwise(
    shape: ConvShape, blocks: Tile, taps: Taps, preload: bool, part: Part = WHOLE
) -> None:
    """Row by row, channel block by channel block, pixel by pixel: sum over the taps.

    Interior rows and columns run in loops; the few border rows and columns are unrolled,
    each with the taps that fall inside the input, so no pixel tests a tap at run time.
    Interior pixels keep the block's weights in registers (`preload`) and, for integers,
    start from the folded zero point (`Taps.init_inside`). `part`: only that part's share
    of the output rows (of every image).
    """
    win, c = shape.win, shape.channels
    (kh, kw), (dh, dw), (oh, ow) = win.kernel, win.dilation, win.out
    rows = interior(oh, win.stride[0], win.pad[0], kh, dh, shape.height)
    cols = interior(ow, win.stride[1], win.pad[1], kw, dw, shape.width)
    if max(oh - rows[1] + rows[0], ow - cols[1] + cols[0]) > MAX_BORDER:
        _emit_depthwise_guarded(shape, blocks, taps, preload, rows, cols, part)
        return
    lanes, nv = blocks.lanes, blocks.nv

    def weight(ky: int, kx: int, st: Val) -> SSAValue:
        return taps.weight(add((ky * kw + kx) * c, st), lanes)

    def row(b: Val, oy: Val):
        out_row = mul(add(mul(b, oh), oy), ow)
        ky_set = valid_taps(oy, win.stride[0], win.pad[0], kh, dh, shape.height)

        def block(j):
            c0 = clamp_start(j, blocks.nr, c)
            starts = [add(c0, v * lanes) for v in range(nv)]
            prepared = [taps.prepare(st, lanes) for st in starts]

            def pixel(ox: Val, weights: dict, inits: list | None):
                kx_set = valid_taps(ox, win.stride[1], win.pad[1], kw, dw, shape.width)
                full = inits is not None and len(ky_set) * len(kx_set) == kh * kw
                tap = taps.tap_inside if full else taps.tap
                accs = list(inits) if full else [taps.init(st, lanes) for st in starts]
                y0, x0 = window_origin(shape, oy, ox)
                for ky in ky_set:
                    for kx in kx_set:
                        at = shape.input_index(b, add(y0, ky * dh), add(x0, kx * dw))
                        for v, st in enumerate(starts):
                            w = weights.get((ky, kx, v)) or weight(ky, kx, st)
                            accs[v] = tap(accs[v], add(at, st), w)
                for acc, st, pre in zip(accs, starts, prepared, strict=True):
                    taps.finish(acc, add(mul(add(out_row, ox), c), st), pre)
                return []

            for ox in range(cols[0]):
                pixel(ox, {}, None)
            weights = {
                (ky, kx, v): weight(ky, kx, st)
                for ky in ky_set
                for kx in range(kw)
                for v, st in enumerate(starts)
                if preload
            }
            inits = [taps.init_inside(st, lanes) for st in starts] if len(ky_set) == kh else None
            loop(cols[0], cols[1], lambda ox: pixel(ox, weights, inits))
            for ox in range(cols[1], ow):
                pixel(ox, {}, None)
            return []

        return loop(0, len(panel_starts(c, blocks.nr)), block)

    lo, hi = part.blocks(oh)

    def batch(b):
        for oy in range(rows[0]):
            within(oy, lo, hi, lambda oy=oy: row(b, oy))
        loop(maximum(lo, rows[0]), minimum(hi, rows[1]), lambda oy: row(b, oy))
        for oy in range(rows[1], oh):
            within(oy, lo, hi, lambda oy=oy: row(b, oy))
        return []

    loop(0, shape.batch, batch)


def within(v: int, lo: Val, hi: Val, emit: Callable[[], object]) -> None:
    """emit() where lo <= v < hi (tested at run time unless lo and hi are known)."""
    if isinstance(lo, int) and isinstance(hi, int):
        if lo <= v < hi:
            emit()
        return
    inside = both(
        arith.CmpiOp(ix(lo), ix(v), "ule").result, arith.CmpiOp(ix(v), ix(hi), "ult").result
    )

    def then():
        emit()
        return []

    when(inside, then, lambda: [])


def _emit_depthwise_guarded(
    shape: ConvShape, blocks: Tile, taps: Taps, preload: bool, rows, cols, part: Part = WHOLE
):
    """`emit_depthwise` for many border rows or columns: border pixels test each tap."""
    win, c = shape.win, shape.channels
    (kh, kw), (dh, dw), (oh, ow) = win.kernel, win.dilation, win.out
    lanes, nv = blocks.lanes, blocks.nv

    def weight_index(ky: Val, kx: Val, s: Val) -> Val:
        return add(mul(add(mul(ky, kw), kx), c), s)

    def row(b: Val, oy: Val):
        out_row = mul(add(mul(b, oh), oy), ow)

        def block(j):
            c0 = clamp_start(j, blocks.nr, c)
            starts = [add(c0, v * lanes) for v in range(nv)]
            prepared = [taps.prepare(st, lanes) for st in starts]

            def store(accs, ox):
                for acc, st, pre in zip(accs, starts, prepared, strict=True):
                    taps.finish(acc, add(mul(add(out_row, ox), c), st), pre)

            def border_pixel(ox):
                y0, x0 = window_origin(shape, oy, ox)

                def one_tap(ky, kx, accs):
                    at = shape.input_index(b, add(y0, mul(ky, dh)), add(x0, mul(kx, dw)))
                    return [
                        taps.tap(acc, add(at, st), taps.weight(weight_index(ky, kx, st), lanes))
                        for acc, st in accs
                    ]

                inits = [taps.init(st, lanes) for st in starts]
                store(_guarded_taps(shape, y0, x0, starts, inits, one_tap), ox)
                return []

            def inner():
                loop(0, cols[0], border_pixel)
                weights = {
                    (t, v): taps.weight(weight_index(t // kw, t % kw, st), lanes)
                    for t in range(kh * kw)
                    for v, st in enumerate(starts)
                    if preload
                }
                inits = [taps.init_inside(st, lanes) for st in starts]

                def inside_pixel(ox):
                    y0, x0 = window_origin(shape, oy, ox)
                    accs = list(inits)
                    for t in range(kh * kw):
                        ky, kx = divmod(t, kw)
                        at = shape.input_index(b, add(y0, ky * dh), add(x0, kx * dw))
                        for v, st in enumerate(starts):
                            w = weights.get((t, v)) or taps.weight(weight_index(ky, kx, st), lanes)
                            accs[v] = taps.tap_inside(accs[v], add(at, st), w)
                    store(accs, ox)
                    return []

                loop(cols[0], cols[1], inside_pixel)
                return loop(cols[1], ow, border_pixel)

            def border():
                return loop(0, ow, border_pixel)

            if rows[1] > rows[0]:
                when(below(add(oy, -rows[0]), rows[1] - rows[0]), inner, border)
            else:
                border()
            return []

        return loop(0, len(panel_starts(c, blocks.nr)), block)

    loop(0, shape.batch, lambda b: loop(*part.blocks(oh), lambda oy: row(b, oy)))


def _guarded_taps(shape: ConvShape, y0, x0, starts, accs, one_tap):
    """Taps of a border pixel: each one only where it falls inside the input."""
    (kh, kw), (dh, dw) = shape.win.kernel, shape.win.dilation
    types = [a.type for a in accs]

    def tap_row(ky, *row_accs):
        row_ok = below(add(y0, mul(ky, dh)), shape.height)

        def tap(kx, *tap_accs):
            ok = both(row_ok, below(add(x0, mul(kx, dw)), shape.width))
            pairs = list(zip(tap_accs, starts, strict=True))
            return when(ok, lambda: one_tap(ky, kx, pairs), lambda: list(tap_accs), types)

        return loop(0, kw, tap, row_accs)

    return loop(0, kh, tap_row, accs)


@generator("tfl.depthwise_conv_2d", supports=check_depthwise)
def depthwise_conv_2d(op: Operation, symbol: str) -> Kernel:
    """DEPTHWISE_CONV_2D, channel-vectorised (see `emit_depthwise`).

    A depth multiplier M > 1 first repeats each input channel M times into SCRATCH (output
    channel c·M + m reads input channel c); hybrid kernels first quantize the input.
    """
    call = make_call(op)
    x, w_info = call.inputs[0], call.inputs[1]
    w = constant(op.operands[1])
    mult = w.shape[3] // x.shape[3]
    shape = conv_shape(call, x, w.shape[1:3], call.out.shape[1:3])
    shape = replace(shape, channels=w.shape[3])
    hybrid = x.dtype == F32 and w_info.dtype == I8
    parts = _depthwise_parts(call, w_info, w, optional_constant(op, 2), shape.channels)
    count = int(np.prod(x.shape))
    source_elem = f32 if x.dtype == F32 and not hybrid else i8
    scratch = ([count] if hybrid else []) + ([count * mult] if mult > 1 else [])
    work = int(np.prod(call.out.shape)) * shape.taps * DEPTHWISE_COST
    split = 0 if scratch else split_parts(shape.win.out[0], work)
    arg_types = [
        memref_of(f32 if x.dtype == F32 else i8, count),
        *(memref_of(e, a.size) for e, a in zip(parts.elems, parts.consts, strict=True)),
        *(memref_of(source_elem, n) for n in scratch),
        memref_of(f32 if call.out.dtype == F32 else i8, int(np.prod(call.out.shape))),
    ]

    def body(xs, *rest, part=WHOLE):
        consts, spaces, out = rest[: len(parts.consts)], rest[len(parts.consts) : -1], rest[-1]
        source, quant = xs, None
        if hybrid:
            quant = emit_quantize_input(xs, 0, spaces[0], 0, count, True, shifted=False)
            source = spaces[0]
        if mult > 1:
            emit_repeat_channels(source, spaces[-1], count, mult)
            source = spaces[-1]
        blocks, preload = depthwise_blocks(shape.taps, shape.channels)
        emit_depthwise(shape, blocks, parts.taps(source, consts, out, quant), preload, part)

    bindings = [
        Binding(INPUT, 0),
        *(Binding(CONST, data=a) for a in parts.consts),
        *(Binding(SCRATCH, size=n * (4 if source_elem == f32 else 1)) for n in scratch),
        Binding(OUTPUT, 0),
    ]
    return Kernel(kernel_function(symbol, arg_types, body, split), bindings)


@dataclass(frozen=True)
class DepthwiseParts:
    """One depthwise kernel kind: its constant data and how its `Taps` are made."""

    consts: list[np.ndarray]
    elems: list[Attribute]
    taps: Callable[..., Taps]
    """taps(source, const refs, out, Quantized or None) -> Taps."""


def _depthwise_parts(call: KernelCall, w_info: TensorInfo, w, bias, c: int) -> DepthwiseParts:
    """float32, int8 (Q31 requantization) or hybrid (float scaling) depthwise parts."""
    x, act = call.inputs[0], call.opts["fused_activation_function"]
    if x.dtype == F32 and w_info.dtype == F32:
        return DepthwiseParts(
            [np.asarray(w, F32).ravel(), _bias_or_zeros(bias, c)],
            [f32, f32],
            lambda src, refs, out, _: FloatTaps(src, refs[0], refs[1], out, act),
        )
    weights = centred_weights(x, w_info, w).astype(np.int32).reshape(-1, c)
    sums = weights.sum(axis=0, dtype=np.int32)
    if x.dtype != F32:
        params, requant = conv_requant(call, x, _bias_or_zeros(bias, c, np.int64))

        def int8_taps(src, refs, out, _):
            rq = requant(refs[2])

            def finish(acc, oi, rows):
                vstore(narrow(rq.apply(acc, rows), i8), out, oi)

            zero = load(refs[2], Q_INPUT_ZERO * c)
            unsigned = x.dtype == U8
            return IntTaps(src, refs[0], refs[2], refs[1], zero, rq.channels, finish, unsigned)

        return DepthwiseParts([weights.ravel(), sums, params], [i32, i32, i32], int8_taps)
    params = np.stack([_channel_scales(call, w_info, c), _bias_or_zeros(bias, c)]).astype(F32)

    def hybrid_taps(src, refs, out, quant: Quantized):
        def prepare(ch, lanes):
            scale = arith.MulfOp(vload(refs[2], ch, lanes), splat(quant.scale, lanes)).result
            return scale, vload(refs[2], add(c, ch), lanes)

        def finish(acc, oi, prepared):
            scale, bias_vector = prepared
            y = arith.MulfOp(to_float(acc, f32), scale).result
            vstore(float_activation(arith.AddfOp(y, bias_vector).result, act), out, oi)

        return IntTaps(src, refs[0], None, refs[1], quant.offset, prepare, finish)

    return DepthwiseParts([weights.ravel(), sums, params], [i32, i32, f32], hybrid_taps)


def emit_repeat_channels(src: SSAValue, dst: SSAValue, count: int, mult: int) -> None:
    """dst[i·mult + m] = src[i] for each m < mult: channel c becomes channels c·mult + m."""

    def element(i):
        value = load(src, i)
        for m in range(mult):
            store(value, dst, add(mul(i, mult), m))
        return []

    loop(0, count, element)


# ----------------------------------------------------------------------------- TRANSPOSE_CONV


@dataclass(frozen=True)
class Transposed:
    """A transposed convolution: its call, input info, weights [O][KH][KW][C], bias, window."""

    call: KernelCall
    x: TensorInfo
    w: np.ndarray
    bias: np.ndarray | None
    win: Window


def _transposed(call: KernelCall, x: TensorInfo, w: np.ndarray, bias) -> Transposed:
    """The window as the reference computes it: padding from the output size, no dilation."""
    win = _window(call, call.out.shape[1:3], w.shape[1:3], x.shape[1:3])
    win = Window(win.kernel, win.stride, (1, 1), win.pad, tuple(call.out.shape[1:3]))
    return Transposed(call, x, w, bias, win)


def check_transpose_conv(op: Operation) -> tuple[bool, str]:
    """TRANSPOSE_CONV: float32, int8 or uint8; constant weights and bias."""
    call = make_call(op)
    return _check_transposed(op, call, call.inputs[2], weights=1, bias=3)


def _check_transposed(op, call: KernelCall, x: TensorInfo, weights: int, bias: int):
    w_info = call.inputs[weights]
    w = constant(op.operands[weights])
    if w is None:
        return False, "weights computed at run time are not supported"
    if runtime_operand(op, bias):
        return False, "a bias computed at run time is not supported"
    if w_info.dtype != x.dtype:
        return False, f"{x.dtype} input with {w_info.dtype} weights is not supported"
    why = check_types(call, x, w_info)
    if why:
        return False, why
    if w.shape[3] != x.shape[3]:
        return False, f"filter depth {w.shape[3]} does not match {x.shape[3]} input channels"
    _transposed(call, x, w, None)
    return True, "supported"


@generator("tfl.transpose_conv", supports=check_transpose_conv)
def transpose_conv(op: Operation, symbol: str) -> Kernel:
    """TRANSPOSE_CONV: input pixels × all taps (one GEMM), then a gather per output pixel."""
    call = make_call(op)
    t = _transposed(call, call.inputs[2], constant(op.operands[1]), optional_constant(op, 3))
    return _emit_transposed(t, symbol, input_index=2)


def _custom_call(op: Operation) -> KernelCall:
    """Convolution2DTransposeBias as the TRANSPOSE_CONV call the reference makes of it."""
    call = make_call(op)
    padding, stride_w, stride_h = transpose_conv_params(call.opts.get("custom_options", ""))
    opts = {
        "padding": padding,
        "stride_w": stride_w,
        "stride_h": stride_h,
        "fused_activation_function": "NONE",
    }
    inputs = [None, call.inputs[1], call.inputs[0], call.inputs[2]]
    return KernelCall("TRANSPOSE_CONV", opts, inputs, call.outputs, call.op_index)


def check_transpose_bias(op: Operation) -> tuple[bool, str]:
    """MediaPipe Convolution2DTransposeBias: as TRANSPOSE_CONV; constant weights and bias."""
    try:
        call = _custom_call(op)
    except ValueError as e:
        return False, str(e)
    return _check_transposed(op, call, call.inputs[2], weights=1, bias=2)


@generator("tfl.custom:Convolution2DTransposeBias", supports=check_transpose_bias)
def convolution_2d_transpose_bias(op: Operation, symbol: str) -> Kernel:
    """MediaPipe Convolution2DTransposeBias: TRANSPOSE_CONV (OHWI weights) plus bias."""
    call = _custom_call(op)
    t = _transposed(call, call.inputs[2], constant(op.operands[1]), constant(op.operands[2]))
    return _emit_transposed(t, symbol, input_index=0)


def _emit_transposed(t: Transposed, symbol: str, input_index: int) -> Kernel:
    """The spread GEMM [input pixels][C] x [C][KH·KW·O] into SCRATCH, then `emit_gather`."""
    x, call = t.x, t.call
    o, kh, kw, c = t.w.shape
    m, n_spread = x.shape[0] * x.shape[1] * x.shape[2], kh * kw * o
    w_kn = t.w.transpose(3, 1, 2, 0).reshape(c, n_spread)
    tile = choose_tile(m, n_spread)
    act = call.opts["fused_activation_function"]
    if x.dtype == F32:
        consts = [pack_f32(np.asarray(w_kn, F32), tile.nr), _bias_or_zeros(t.bias, o)]
        elems, scratch = [f32, f32], [(f32, m * n_spread)]
    else:
        centred = centred_weights(x, call.inputs[1], w_kn)
        weights = quantized_weights(
            centred, None, x.zero_point, tile, vnni_applies(n_spread), x.dtype == U8
        )
        params, requant = conv_requant(call, x, _bias_or_zeros(t.bias, o, np.int64))
        consts = [weights.packed, weights.bias, params]
        elems = [weights.elem, i32, i32]
        scratch = [(i32, m * n_spread), (i8, tile.mr * weights.width)]
    io = f32 if x.dtype == F32 else i8
    arg_types = [
        memref_of(io, m * c),
        *(memref_of(e, a.size) for e, a in zip(elems, consts, strict=True)),
        *(memref_of(e, n) for e, n in scratch),
        memref_of(io, int(np.prod(call.out.shape))),
    ]

    def float_body(xs, packed, bias, spread, out):
        emit_gemm(
            m,
            n_spread,
            c,
            tile,
            F32Product(),
            direct_rows(xs, c),
            packed,
            FloatEpilogue(spread, n_spread),
        )

        def finish(acc, oi, ch):
            vstore(float_activation(acc, act), out, oi)

        emit_gather(t, spread, bias, finish)

    def int8_body(xs, packed, start, params, spread, rows_space, out):
        rows = int8_rows(xs, c, rows_space, weights.width, weights.shift)
        first = RawEpilogue(spread, n_spread, start)
        emit_gemm(m, n_spread, c, tile, weights.product, rows, packed, first)
        rq = requant(params)

        def finish(acc, oi, ch):
            rows = rq.channels(ch, lanes_of(acc))
            vstore(narrow(rq.apply(acc, rows), i8), out, oi)

        emit_gather(t, spread, params, finish)

    body = float_body if x.dtype == F32 else int8_body
    bindings = [
        Binding(INPUT, input_index),
        *(Binding(CONST, data=a) for a in consts),
        *(Binding(SCRATCH, size=n * (1 if e == i8 else 4)) for e, n in scratch),
        Binding(OUTPUT, 0),
    ]
    return Kernel(kernel_function(symbol, arg_types, body), bindings)


def emit_gather(t: Transposed, spread: SSAValue, start: SSAValue, finish) -> None:
    """Each output pixel sums the spread values of the (input pixel, tap) pairs landing on it.

    Output (oy, ox) receives input (iy, ix) through tap (ky, kx) when
    oy + pad_h = iy·stride_h + ky (and the same across). Sums start from start[o] (the
    bias; int8: the first row of the Q31 parameter block, which is the bias).
    """
    o, kh, kw, _ = t.w.shape
    blocks = choose_tile(1, o)
    b_count, h, wd = t.x.shape[0], t.x.shape[1], t.x.shape[2]
    (sh, sw), (ph, pw), (oh, ow) = t.win.stride, t.win.pad, t.win.out
    n_spread, lanes = kh * kw * o, blocks.lanes

    def landing(pos: Val, k: int, stride: int, size: int):
        full = add(pos, -k)
        ok = below(full, size * stride)
        if stride > 1:
            ok = both(ok, arith.CmpiOp(ix(rem(full, stride)), ix(0), "eq").result)
        return ok, div(full, stride)

    def pixel(b, oy, ox):
        def block(j):
            c0 = clamp_start(j, blocks.nr, o)
            starts = [add(c0, v * lanes) for v in range(blocks.nv)]
            accs = [vload(start, s, lanes) for s in starts]
            types = [a.type for a in accs]
            for ky in range(kh):
                row_ok, iy = landing(add(oy, ph), ky, sh, h)
                for kx in range(kw):
                    col_ok, ixx = landing(add(ox, pw), kx, sw, wd)
                    base = add(
                        mul(add(mul(add(mul(b, h), iy), wd), ixx), n_spread), (ky * kw + kx) * o
                    )

                    def gathered(accs=accs, base=base):
                        return [
                            add_vectors(acc, vload(spread, add(base, s), lanes))
                            for acc, s in zip(accs, starts, strict=True)
                        ]

                    accs = when(both(row_ok, col_ok), gathered, lambda accs=accs: accs, types)
            out_base = mul(add(mul(add(mul(b, oh), oy), ow), ox), o)
            for acc, s in zip(accs, starts, strict=True):
                finish(acc, add(out_base, s), s)
            return []

        return loop(0, len(panel_starts(o, blocks.nr)), block)

    loop(0, b_count, lambda b: loop(0, oh, lambda oy: loop(0, ow, lambda ox: pixel(b, oy, ox))))


def add_vectors(a: SSAValue, b: SSAValue) -> SSAValue:
    """a + b, float or integer."""
    if a.type.element_type == f32:
        return arith.AddfOp(a, b).result
    return arith.AddiOp(a, b).result
