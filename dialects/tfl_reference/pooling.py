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

from litec.dialects.tfl_reference.common import (
    Window,
    clamp_activation,
    lowest,
    out_size_and_pad,
    quantized_activation_range,
    window_taps,
)
from litec.dialects.tfl_reference.core import KernelCall, kernel
from litec.runtime.fixedpoint import trunc_div

POOL_DTYPES = (np.float32, np.int8, np.uint8, np.int16)


def _pool_window(call: KernelCall, x: np.ndarray) -> tuple[Window, np.ndarray]:
    """Where a pooling op reads, and how many input elements each window holds [1, OH, OW, 1]."""
    o = call.opts
    if x.ndim != 4:
        raise call.error(f"pooling needs a 4-D NHWC input, got rank {x.ndim}")
    if x.dtype not in POOL_DTYPES:
        raise call.error(f"pooling of {x.dtype} is not supported")
    n, h, w, c = x.shape
    kernel_hw, stride = (o["filter_height"], o["filter_width"]), (o["stride_h"], o["stride_w"])
    if min(*kernel_hw, *stride) <= 0:
        raise call.error("pooling filter sizes and strides must be positive")
    (oh, top), (ow, left) = (
        out_size_and_pad(o["padding"], size, k, s)
        for size, k, s in zip((h, w), kernel_hw, stride, strict=True)
    )
    if (n, oh, ow, c) != call.out.shape:
        raise call.error(f"output shape {list(call.out.shape)}, expected {[n, oh, ow, c]}")
    rows = _inside_counts(h, kernel_hw[0], stride[0], top, oh)
    cols = _inside_counts(w, kernel_hw[1], stride[1], left, ow)
    count = (rows[:, None] * cols[None, :])[None, :, :, None]
    return Window(kernel_hw, stride, (1, 1), (top, left), (oh, ow)), count


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
    win, count = _pool_window(call, x)
    if np.any(count <= 0):
        raise call.error("a pooling window lies entirely in the padding")
    act = call.opts["fused_activation_function"]
    if x.dtype == np.float32:
        total = np.zeros(call.out.shape, np.float32)
        for part in window_taps(x, win):
            total += part
        return clamp_activation(total / count.astype(np.float32), act)
    acc = np.zeros(call.out.shape, np.int64)
    for part in window_taps(x, win):
        acc += part
    lo, hi = quantized_activation_range(act, call.out)
    return np.clip(_round_div(acc, count), lo, hi).astype(x.dtype)


@kernel("MAX_POOL_2D")
def max_pool_2d(call: KernelCall, x):
    """TFLite MAX_POOL_2D: the largest element inside each window, then the activation."""
    win, _ = _pool_window(call, x)
    best = np.full(call.out.shape, lowest(x.dtype), x.dtype)
    for part in window_taps(x, win, fill=lowest(x.dtype)):
        np.maximum(best, part, out=best)
    act = call.opts["fused_activation_function"]
    if x.dtype == np.float32:
        return clamp_activation(best, act)
    lo, hi = quantized_activation_range(act, call.out)
    return np.clip(best, lo, hi).astype(x.dtype)
