"""Reference kernels: reductions (TFLite's reduce.cc with kReference, reference_ops/reduce.h).

TFLite's reference reductions walk the input in row-major order and fold each element into
its output slot, so every output accumulates its elements in the order of the reduced axes.
`_grouped` puts the reduced axes last (in their order) so that a float32 `cumsum`, which
accumulates sequentially, reproduces that order exactly.
"""

from __future__ import annotations

import numpy as np

from litec.dialects.tfl_reference.common import (
    QUANTIZED_DTYPES,
    lowest,
    resolve_axis,
    same_quantization,
)
from litec.dialects.tfl_reference.core import KernelCall, kernel
from litec.runtime.fixedpoint import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    saturate,
    wrap_int32,
)


def _axes(call: KernelCall, x: np.ndarray, axis) -> list[int]:
    """TFLite's ResolveAxis: negative axes wrapped, duplicates dropped, order kept."""
    resolved = [resolve_axis(call, a, x.ndim) for a in np.asarray(axis).ravel().tolist()]
    return list(dict.fromkeys(resolved))


def _grouped(x: np.ndarray, axes: list[int]) -> np.ndarray:
    """x as (kept elements..., reduced elements): reduced axes last, in row-major order."""
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, kept + sorted(axes))
    return moved.reshape(moved.shape[: len(kept)] + (-1,))


def _sequential_sum(g: np.ndarray) -> np.ndarray:
    """Sum over the last axis, accumulating left to right as TFLite's loop does."""
    if g.shape[-1] == 0:
        return np.zeros(g.shape[:-1], g.dtype)
    return np.cumsum(g, axis=-1, dtype=g.dtype)[..., -1]


def _quantized_sum_or_mean(call: KernelCall, x: np.ndarray, axes, mean: bool) -> np.ndarray:
    """TFLite's reference QuantizedMeanOrSum: int32 sum, minus zp·n, one rescale to the output.

    The multiplier is QuantizeMultiplier(s_in / s_out); for a mean it is divided by the
    element count after a left shift of up to 32 bits, exactly as TFLite does it.
    """
    src, dst = call.inputs[0], call.out
    if src.quant is None or dst.quant is None:
        raise call.error(f"{call.builtin} of unquantized {x.dtype} is not supported")
    if x.dtype == np.int16 and (src.zero_point != 0 or dst.zero_point != 0):
        raise call.error("int16 reductions need zero points of 0")
    if x.size == 0:
        return np.zeros(dst.shape, dst.dtype)
    g = _grouped(x, axes).astype(np.int64)
    n = g.shape[-1]
    total = wrap_int32(g.sum(axis=-1))
    mult, shift = quantize_multiplier(float(np.float64(src.scale) / np.float64(dst.scale)))
    if mean and n > 0:
        pre = min(n.bit_length() - 1, 32, 31 + shift)
        mult, shift = ((mult << pre) // n), shift - pre
    shifted = wrap_int32(total - src.zero_point * n)
    out = multiply_by_quantized_multiplier(shifted, mult, shift) + dst.zero_point
    return saturate(out, dst.dtype).reshape(dst.shape)


@kernel("MEAN")
def mean(call: KernelCall, x, axis):
    """TFLite MEAN: float sum in input order / n; integers through QuantizedMeanOrSum."""
    axes = _axes(call, x, axis)
    if x.dtype in QUANTIZED_DTYPES:
        return _quantized_sum_or_mean(call, x, axes, mean=True)
    if x.dtype != np.float32:
        raise call.error(f"MEAN of {x.dtype} is not supported")
    g = _grouped(x, axes)
    total = _sequential_sum(g)
    return (total / np.float32(g.shape[-1])).astype(np.float32).reshape(call.out.shape)


@kernel("SUM")
def sum_(call: KernelCall, x, axis):
    """TFLite SUM: float/int32 sums in input order; int8/uint8/int16 rescaled to the output."""
    axes = _axes(call, x, axis)
    if x.dtype in QUANTIZED_DTYPES and call.inputs[0].quant is not None:
        return _quantized_sum_or_mean(call, x, axes, mean=False)
    if x.dtype not in (np.float32, np.int32, np.int64):
        raise call.error(f"SUM of {x.dtype} is not supported")
    return _sequential_sum(_grouped(x, axes)).reshape(call.out.shape)


@kernel("REDUCE_MAX")
def reduce_max(call: KernelCall, x, axis):
    """TFLite REDUCE_MAX: the largest element; NaN never wins (TFLite keeps `in > current`)."""
    src, dst = call.inputs[0], call.out
    if not same_quantization(src, dst):
        raise call.error("REDUCE_MAX needs the same scale and zero point on input and output")
    axes = _axes(call, x, axis)
    g = _grouped(x, axes)
    if x.dtype.kind != "f":
        return g.max(axis=-1, initial=lowest(x.dtype)).reshape(dst.shape)
    if len(axes) == x.ndim and x.size and np.isnan(x.flat[0]):
        # reducing every axis, TFLite starts from the first element, not from the lowest value
        return np.full(dst.shape, np.nan, x.dtype)
    return np.fmax.reduce(g, axis=-1, initial=lowest(x.dtype)).reshape(dst.shape)


ARG_MAX_INPUTS = (np.float32, np.int8, np.uint8, np.int32, np.bool_)


@kernel("ARG_MAX")
def arg_max(call: KernelCall, x, axis):
    """TFLite ARG_MAX: the index of the first largest element; NaN is never the largest."""
    a = resolve_axis(call, int(np.asarray(axis).ravel()[0]), x.ndim)
    if x.shape[a] == 0:
        raise call.error(f"ARG_MAX axis {a} is empty in shape {list(x.shape)}")
    if x.dtype not in ARG_MAX_INPUTS or call.out.dtype not in (np.int32, np.int64):
        raise call.error(f"ARG_MAX from {x.dtype} to {call.out.dtype} is not supported")
    if x.dtype.kind != "f":
        return np.argmax(x, axis=a).astype(call.out.dtype).reshape(call.out.shape)
    nan = np.isnan(x)
    index = np.argmax(np.where(nan, -np.inf, x), axis=a)
    # where every finite value is -inf, the first of them wins (the first element if all NaN)
    picked_nan = np.take_along_axis(nan, np.expand_dims(index, a), axis=a).squeeze(a)
    index = np.where(picked_nan, np.argmax(~nan, axis=a), index)
    return index.astype(call.out.dtype).reshape(call.out.shape)
