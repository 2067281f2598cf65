"""Reference kernels: reductions (TFLite's reduce.cc with kReference, reference_ops/reduce.h).

TFLite's reference reductions walk the input in row-major order and fold each element into
its output slot, so every output accumulates its elements in the order of the reduced axes.
`_grouped` puts the reduced axes last (in their order) so that a float32 `cumsum`, which
accumulates sequentially, reproduces that order exactly.
"""

from __future__ import annotations

import numpy as np
from litec.dialects.tfl_reference.core import KernelCall, kernel
from litec.runtime.fixedpoint import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    saturate,
    wrap_int32,
)

QUANTIZED_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16))


def _axes(call: KernelCall, x: np.ndarray, axis) -> list[int]:
    """TFLite's ResolveAxis: negative axes wrapped, duplicates dropped, order kept."""
    resolved: list[int] = []
    for a in np.asarray(axis).ravel().tolist():
        a = a + x.ndim if a < 0 else a
        if not 0 <= a < x.ndim:
            raise call.error(f"reduction axis {a} is out of range for rank {x.ndim}")
        if a not in resolved:
            resolved.append(a)
    return resolved


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
    """TFLite REDUCE_MAX: the largest element (quantized: input and output scales must match)."""
    src, dst = call.inputs[0], call.out
    if src.quant is not None and (src.quant.scales, src.quant.zero_points) != (
        dst.quant.scales,
        dst.quant.zero_points,
    ):
        raise call.error("REDUCE_MAX needs the same scale and zero point on input and output")
    g = _grouped(x, _axes(call, x, axis))
    if g.shape[-1] == 0:
        lowest = np.finfo(x.dtype).min if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        return np.full(dst.shape, lowest, x.dtype)
    return g.max(axis=-1).reshape(dst.shape)


ARG_MAX_TYPES = {"INT32": np.int32, "INT64": np.int64}


@kernel("ARG_MAX")
def arg_max(call: KernelCall, x, axis):
    """TFLite ARG_MAX: the index of the first largest element along one axis."""
    a = int(np.asarray(axis).ravel()[0])
    a = a + x.ndim if a < 0 else a
    if not 0 <= a < x.ndim:
        raise call.error(f"ARG_MAX axis {a} is out of range for rank {x.ndim}")
    out_type = ARG_MAX_TYPES.get(call.opts["output_type"])
    if out_type is None:
        raise call.error(f"ARG_MAX output type {call.opts['output_type']} is not supported")
    return np.argmax(x, axis=a).astype(out_type).reshape(call.out.shape)
