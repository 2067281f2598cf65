"""CPU kernels for AVERAGE_POOL_2D and MAX_POOL_2D (NHWC; float32, int8, uint8, int16).

One loop nest per op: output pixels outer, channels in 512-bit vectors, the window taps
innermost, accumulated in registers in TFLite's (filter_y, filter_x) order, so float sums
round exactly as the reference kernels do. When no window of the op crosses the input's
border (every VALID pooling, and SAME pooling that needs no padding) the window bounds
and the average's divisor are compile-time constants; otherwise each output pixel clips
its window to the input at run time and divides by the number of taps inside, as TFLite
does. Integer averages round half away from zero; activations clamp the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from xdsl.dialects.builtin import i32
from xdsl.ir import Operation, SSAValue

from litec.backends.cpu.kernels.base import INPUT, OUTPUT, Binding, Kernel, generator
from litec.backends.cpu.kernels.movement import (
    KernelBuilder,
    Unsupported,
    checked_call,
    flat_memref,
    for_vectors,
    lanes,
    supported_if,
    vector_of,
)
from litec.dialects.tfl_reference.common import (
    _ACTIVATION_RANGES,
    lowest,
    out_size_and_pad,
    quantized_activation_range,
)
from litec.dialects.tfl_reference.core import KernelCall

POOL_DTYPES = ("float32", "int8", "uint8", "int16")


@dataclass(frozen=True)
class Pool:
    """The static facts of one pooling op."""

    call: KernelCall
    shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    out: tuple[int, int]

    @property
    def clipped(self) -> bool:
        """Whether some window reaches outside the input (bounds then vary per pixel)."""
        _, h, w, _ = self.shape
        (kh, kw), (sh, sw), (top, left), (oh, ow) = self.kernel, self.stride, self.pad, self.out
        return bool(top or left or (oh - 1) * sh + kh > h or (ow - 1) * sw + kw > w)


def plan_pool(op: Operation) -> Pool:
    """Check a pooling op and compute its geometry as TFLite does."""
    call = checked_call(op)
    x, out = call.inputs[0], call.out
    if len(x.shape) != 4:
        raise Unsupported(f"pooling needs a 4-D NHWC input, got rank {len(x.shape)}")
    if str(x.dtype) not in POOL_DTYPES or x.dtype != out.dtype:
        raise Unsupported(f"pooling of {x.dtype} to {out.dtype} is not supported")
    o = call.opts
    kernel, stride = (o["filter_height"], o["filter_width"]), (o["stride_h"], o["stride_w"])
    if min(*kernel, *stride) <= 0:
        raise Unsupported("pooling filter sizes and strides must be positive")
    n, h, w, c = x.shape
    (oh, top), (ow, left) = (
        out_size_and_pad(o["padding"], size, k, s)
        for size, k, s in zip((h, w), kernel, stride, strict=True)
    )
    if (n, oh, ow, c) != out.shape:
        raise Unsupported(f"output shape {list(out.shape)}, expected {[n, oh, ow, c]}")
    if top >= kernel[0] or left >= kernel[1]:
        raise Unsupported("a pooling window lies entirely in the padding")
    return Pool(call, (n, h, w, c), kernel, stride, (top, left), (oh, ow))


@dataclass
class _Pixel:
    """One output pixel's window: first input row/column and the tap bounds inside."""

    row: SSAValue
    col: SSAValue
    fy: tuple[int | SSAValue, int | SSAValue]
    fx: tuple[int | SSAValue, int | SSAValue]


def _bounds(kb: KernelBuilder, start: SSAValue, k: int, size: int, clipped: bool):
    """Tap bounds [lo, hi) along one axis for a window starting at input position `start`."""
    if not clipped:
        return 0, k
    lo = kb.max(kb.sub(kb.index(0), start), 0)
    hi = kb.min(kb.sub(kb.index(size), start), k)
    return lo, hi


def _window(kb: KernelBuilder, p: Pool, b: SSAValue, oy: SSAValue, ox: SSAValue) -> _Pixel:
    _, h, w, _ = p.shape
    y0 = kb.sub(kb.mul(oy, p.stride[0]), p.pad[0])
    x0 = kb.sub(kb.mul(ox, p.stride[1]), p.pad[1])
    fy = _bounds(kb, y0, p.kernel[0], h, p.clipped)
    fx = _bounds(kb, x0, p.kernel[1], w, p.clipped)
    return _Pixel(kb.add(kb.mul(b, h), y0), x0, fy, fx)


def _reduce_window(kb: KernelBuilder, p: Pool, px: _Pixel, c0: SSAValue, width: int, init, step):
    """Fold `step(acc, taps)` over the window's taps in (fy, fx) order, from `init`."""
    x = kb.args[0]
    _, _, w, c = p.shape

    def row(fy: SSAValue, acc: SSAValue):
        line = kb.mul(kb.add(px.row, fy), w)

        def col(fx: SSAValue, acc: SSAValue):
            offset = kb.add(kb.mul(kb.add(line, kb.add(px.col, fx)), c), c0)
            return [step(acc, kb.load(x, offset, width))]

        return kb.fold(*px.fx, [acc], col)

    return kb.fold(*px.fy, [init], row)[0]


def _tap_count(kb: KernelBuilder, p: Pool, px: _Pixel) -> int | SSAValue:
    """How many taps of the window lie inside the input."""
    if not p.clipped:
        return p.kernel[0] * p.kernel[1]
    rows = kb.sub(kb.index(px.fy[1]), kb.index(px.fy[0]))
    cols = kb.sub(kb.index(px.fx[1]), kb.index(px.fx[0]))
    return kb.mul(rows, cols)


def _as_lanes(kb: KernelBuilder, value: int | SSAValue, elem, width: int):
    """A count (static or index-typed) as a scalar or splat of `elem`."""
    if isinstance(value, int):
        return kb.const(value, vector_of(elem, width))
    return kb.splat(kb.cast(kb.cast(value, i32), elem), width)


def _emit_pool(p: Pool, symbol: str, pixel) -> Kernel:
    """The loop nest over output pixels and channel vectors; `pixel(kb, px, c0, width)`
    returns the output vector for channels [c0, c0 + width)."""
    call = p.call
    kb = KernelBuilder(symbol, [flat_memref(call.inputs[0]), flat_memref(call.out)])
    n, _, _, c = p.shape
    oh, ow = p.out
    elem = kb.args[0].type.element_type

    def batch(b):
        def out_row(oy):
            def out_col(ox):
                px = _window(kb, p, b, oy, ox)
                base = kb.mul(kb.add(kb.mul(kb.add(kb.mul(b, oh), oy), ow), ox), c)

                def chunk(c0, width):
                    kb.store(pixel(kb, px, c0, width), kb.args[1], kb.add(base, c0))

                for_vectors(kb, c, lanes(elem), chunk)

            kb.repeat(ow, out_col)

        kb.repeat(oh, out_row)

    kb.repeat(n, batch)
    return Kernel(kb.finish(), [Binding(INPUT, 0), Binding(OUTPUT, 0)])


def _float_bounds(act: str):
    """The clamp of a fused activation on float outputs (None: no bound)."""
    return _ACTIVATION_RANGES.get(act, (None, None))


@generator("tfl.max_pool_2d", supports=supported_if(plan_pool))
def max_pool_2d(op: Operation, symbol: str) -> Kernel:
    """MAX_POOL_2D: the largest tap inside each window, then the fused activation."""
    p = plan_pool(op)
    dtype, act = p.call.out.dtype, p.call.opts["fused_activation_function"]
    unsigned = dtype == np.uint8
    if dtype.kind == "f":
        lo, hi = _float_bounds(act)
    else:
        lo, hi = quantized_activation_range(act, p.call.out)

    def pixel(kb: KernelBuilder, px: _Pixel, c0, width):
        start = kb.const(lowest(dtype), vector_of(kb.args[0].type.element_type, width))
        best = _reduce_window(kb, p, px, c0, width, start, partial(kb.max, unsigned=unsigned))
        return kb.clamp(best, lo, hi, unsigned)

    return _emit_pool(p, symbol, pixel)


@generator("tfl.average_pool_2d", supports=supported_if(plan_pool))
def average_pool_2d(op: Operation, symbol: str) -> Kernel:
    """AVERAGE_POOL_2D: float sums in tap order / taps inside; integer sums rounded half
    away from zero (TFLite's (sum ± count/2) / count), then the fused activation."""
    p = plan_pool(op)
    out, act = p.call.out, p.call.opts["fused_activation_function"]
    if out.dtype.kind == "f":
        return _emit_pool(p, symbol, _float_average(p, *_float_bounds(act)))
    unsigned = out.dtype == np.uint8
    return _emit_pool(
        p, symbol, _integer_average(p, unsigned, *quantized_activation_range(act, out))
    )


def _float_average(p: Pool, lo, hi):
    """Per channel vector: the float sum of the taps in window order / the tap count."""

    def pixel(kb: KernelBuilder, px: _Pixel, c0, width):
        elem = kb.args[0].type.element_type
        zero = kb.const(0.0, vector_of(elem, width))
        total = _reduce_window(kb, p, px, c0, width, zero, kb.add)
        count = _as_lanes(kb, _tap_count(kb, p, px), elem, width)
        return kb.clamp(kb.div(total, count), lo, hi)

    return pixel


def _integer_average(p: Pool, unsigned: bool, lo: int, hi: int):
    """Per channel vector: the exact i32 sum, divided rounding half away from zero."""

    def pixel(kb: KernelBuilder, px: _Pixel, c0, width):
        zero = kb.const(0, vector_of(i32, width))

        def step(acc, v):
            return kb.add(acc, kb.cast(v, i32, unsigned=unsigned))

        total = _reduce_window(kb, p, px, c0, width, zero, step)
        count = _tap_count(kb, p, px)
        half = count // 2 if isinstance(count, int) else kb.div(count, 2)
        divisor, half = (_as_lanes(kb, v, i32, width) for v in (count, half))
        mean = kb.div_half_away(total, divisor, half)
        return kb.cast(kb.clamp(mean, lo, hi), kb.args[0].type.element_type)

    return pixel
