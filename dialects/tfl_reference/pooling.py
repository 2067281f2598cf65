"""Reference kernels: pooling (TFLite's reference_ops / reference_integer_ops pooling.h).

TFLite walks each window in (filter_y, filter_x) order over the part that lies inside the
input; padding never enters a sum or a max, and the average divides by the number of
elements actually inside. Here the input is padded (with 0 for sums, the type's lowest
value for maxima, neither of which changes the result) and the window positions are
visited in TFLite's order, each step vectorised over every output element, so a float sum
accumulates in exactly TFLite's order.
"""

from __future__ import annotations

import numpy as np

from litec.dialects.tfl_reference.common import float_activation, quantized_activation_range
from litec.dialects.tfl_reference.core import KernelCall, kernel
from litec.runtime.fixedpoint import trunc_div

POOL_DTYPES = (np.float32, np.int8, np.uint8, np.int16)


def _out_size(padding: str, size: int, filt: int, stride: int) -> int:
    """TFLite's ComputeOutSize (GetWindowedOutputSize) for dilation 1."""
    if padding == "SAME":
        return (size + stride - 1) // stride
    return (size + stride - filt) // stride


def _pad_before(size: int, filt: int, stride: int, out: int) -> int:
    """TFLite's ComputePadding: half the total padding, the odd one going after."""
    return max((out - 1) * stride + filt - size, 0) // 2


class _Windows:
    """The windows of one pooling op: padded input, output size, per-output element counts."""

    def __init__(self, call: KernelCall, x: np.ndarray):
        o = call.opts
        if x.ndim != 4:
            raise call.error(f"pooling needs a 4-D NHWC input, got rank {x.ndim}")
        if x.dtype not in POOL_DTYPES:
            raise call.error(f"pooling of {x.dtype} is not supported")
        n, h, w, c = x.shape
        self.kh, self.kw = o["filter_height"], o["filter_width"]
        self.sh, self.sw = o["stride_h"], o["stride_w"]
        if min(self.kh, self.kw, self.sh, self.sw) <= 0:
            raise call.error("pooling filter sizes and strides must be positive")
        oh = _out_size(o["padding"], h, self.kh, self.sh)
        ow = _out_size(o["padding"], w, self.kw, self.sw)
        if (n, oh, ow, c) != call.out.shape:
            raise call.error(f"output shape {list(call.out.shape)}, expected {[n, oh, ow, c]}")
        top = _pad_before(h, self.kh, self.sh, oh)
        left = _pad_before(w, self.kw, self.sw, ow)
        bottom = max((oh - 1) * self.sh + self.kh - top - h, 0)
        right = max((ow - 1) * self.sw + self.kw - left - w, 0)
        self.x, self.pads = x, ((0, 0), (top, bottom), (left, right), (0, 0))
        self.oh, self.ow = oh, ow
        rows = _inside_counts(h, self.kh, self.sh, top, oh)
        cols = _inside_counts(w, self.kw, self.sw, left, ow)
        self.count = (rows[:, None] * cols[None, :])[None, :, :, None]

    def positions(self, fill):
        """The input slices seen by each window position, in TFLite's (y, x) order."""
        padded = np.pad(self.x, self.pads, constant_values=fill)
        for fy in range(self.kh):
            for fx in range(self.kw):
                yield padded[
                    :,
                    fy : fy + self.sh * (self.oh - 1) + 1 : self.sh,
                    fx : fx + self.sw * (self.ow - 1) + 1 : self.sw,
                    :,
                ]


def _inside_counts(size: int, filt: int, stride: int, pad: int, out: int) -> np.ndarray:
    """How many of each output's filter taps along one axis fall inside the input."""
    origin = np.arange(out) * stride - pad
    return np.minimum(filt, size - origin) - np.maximum(0, -origin)


def _round_div(acc: np.ndarray, count: np.ndarray) -> np.ndarray:
    """(acc ± count/2) / count with C++ truncation: the integer average's rounding."""
    half = count // 2
    return trunc_div(np.where(acc > 0, acc + half, acc - half), count)


@kernel("AVERAGE_POOL_2D")
def average_pool_2d(call: KernelCall, x):
    """TFLite AVERAGE_POOL_2D: float sums in window order / count; integers round half away."""
    win = _Windows(call, x)
    if np.any(win.count <= 0):
        raise call.error("a pooling window lies entirely in the padding")
    act = call.opts["fused_activation_function"]
    if x.dtype == np.float32:
        total = np.zeros(call.out.shape, np.float32)
        for part in win.positions(0):
            total += part
        return float_activation(total / win.count.astype(np.float32), act)
    acc = np.zeros(call.out.shape, np.int64)
    for part in win.positions(0):
        acc += part
    lo, hi = quantized_activation_range(act, call.out)
    return np.clip(_round_div(acc, win.count), lo, hi).astype(x.dtype)


@kernel("MAX_POOL_2D")
def max_pool_2d(call: KernelCall, x):
    """TFLite MAX_POOL_2D: the largest element inside each window, then the activation."""
    win = _Windows(call, x)
    lowest = np.finfo(x.dtype).min if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    best = np.full(call.out.shape, lowest, x.dtype)
    for part in win.positions(lowest):
        np.maximum(best, part, out=best)
    act = call.opts["fused_activation_function"]
    if x.dtype == np.float32:
        return float_activation(best, act)
    lo, hi = quantized_activation_range(act, call.out)
    return np.clip(best, lo, hi).astype(x.dtype)
