"""CPU kernels for reductions: MEAN, SUM, REDUCE_MAX, ARG_MAX.

The axes are constants, so each kernel is a loop nest specialised for its shape: the tensor
is collapsed into alternating runs of kept and reduced dimensions. When the innermost run
is kept (a spatial mean over H, W keeping C) the kernel vectorises along it, 16 outputs at
a time, accumulating over the reduced positions in registers; when it is reduced (a mean
over the last axis) each output is a vectorised fold along it.

Quantized MEAN and SUM are TFLite's QuantizedMeanOrSum: an int32 sum, minus zp * n, and
one requantization (the mean divides the multiplier by n, as TFLite does); float sums
may add in another order than TFLite's (within the float tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import f32, i32, i64
from xdsl.ir import Operation, SSAValue

from litec.backends.cpu.kernels.base import Kernel, generator
from litec.backends.cpu.kernels.elementwise import (
    QUANTIZED,
    KernelBuilder,
    Unsupported,
    V,
    checked,
    clamp,
    const,
    constant_operand,
    convert,
    fold,
    for_chunks,
    for_range,
    index,
    load,
    mbqm,
    narrower,
    splat,
    storage_type,
    store,
    where,
    widener,
    wrap32,
)
from litec.dialects.tfl_reference.core import KernelCall, make_call
from litec.dialects.tfl_reference.reduce import _axes
from litec.runtime.fixedpoint import quantize_multiplier

KEPT, REDUCED = "kept", "reduced"


@dataclass(frozen=True)
class Dim:
    """One collapsed dimension: its size, whether it is reduced, its element stride."""

    size: int
    kind: str
    stride: int


def collapse(shape: Sequence[int], axes: Sequence[int]) -> list[Dim]:
    """The input's dimensions without size-1 ones, neighbours of one kind merged, outermost
    first. A tensor with no dimension left is one kept element."""
    runs: list[list] = []
    for d, size in enumerate(shape):
        if size == 1:
            continue
        kind = REDUCED if d in axes else KEPT
        if runs and runs[-1][1] == kind:
            runs[-1][0] *= size
        else:
            runs.append([size, kind])
    dims, stride = [], 1
    for size, kind in reversed(runs):
        dims.append(Dim(size, kind, stride))
        stride *= size
    return list(reversed(dims)) or [Dim(1, KEPT, 1)]


@dataclass(frozen=True)
class Reduction:
    """How one reduction computes: `widen` loaded values to the accumulator type, `combine`
    two accumulators, start from `init` (a scalar), `kind` combines vector lanes, and
    `finish(acc)` makes the output value (before narrowing to the output's storage)."""

    widen: Callable[[V], V]
    combine: Callable[[V, V], V]
    init: Callable[[], V]
    kind: str
    finish: Callable[[V], V]


def emit_reduction(x: SSAValue, out: SSAValue, dims: list[Dim], r: Reduction, narrow) -> None:
    """The loop nest of a reduction over collapsed dims (`collapse`)."""
    kept = [d for d in dims if d.kind == KEPT]
    reduced = [d for d in dims if d.kind == REDUCED]
    out_strides = [math.prod(k.size for k in kept[i + 1 :]) for i in range(len(kept))]
    inner_kept = dims[-1].kind == KEPT

    def over(ds: list[Dim], strides: list[int], base: V, out_base: V, body) -> None:
        """Nested loops over `ds`; body(input offset, output offset) innermost."""
        if not ds:
            body(base, out_base)
            return

        def iteration(i: V) -> list:
            over(ds[1:], strides[1:], base + i * ds[0].stride, out_base + i * strides[0], body)
            return []

        for_range(0, ds[0].size, 1, iteration)

    def accumulate(ds: list[Dim], base: V, acc: V, width: int) -> V:
        """acc combined with every element at base + the offsets of the reduced dims `ds`."""
        if not ds:
            return r.combine(acc, r.widen(load(x, base, width)))

        def iteration(i: V, a: V) -> list[V]:
            return [accumulate(ds[1:], base + i * ds[0].stride, a, width)]

        return for_range(0, ds[0].size, 1, iteration, [acc])[0]

    if inner_kept:
        inner = kept[-1]

        def row(base: V, out_base: V) -> None:
            def chunk(j: V, width: int) -> None:
                acc = accumulate(reduced, base + j, splat(r.init(), width), width)
                store(narrow(r.finish(acc)), out, out_base + j)

            for_chunks(inner.size, chunk)

        over(kept[:-1], out_strides[:-1], index(0), index(0), row)
        return
    innermost = reduced[-1]

    def element(base: V, out_base: V) -> None:
        def inner_fold(b: V, acc: V) -> V:
            value = fold(
                innermost.size, lambda j, w: r.widen(load(x, b + j, w)), r.combine, r.init(), r.kind
            )
            return r.combine(acc, value)

        def outer(ds: list[Dim], b: V, acc: V) -> V:
            if not ds:
                return inner_fold(b, acc)
            return for_range(
                0, ds[0].size, 1, lambda i, a: [outer(ds[1:], b + i * ds[0].stride, a)], [acc]
            )[0]

        store(narrow(r.finish(outer(reduced[:-1], base, r.init()))), out, out_base)

    over(kept, out_strides, index(0), index(0), element)


# ----------------------------------------------------------------------------- MEAN, SUM, REDUCE_MAX


def _add(a: V, b: V) -> V:
    return a + b


def _max(acc: V, v: V) -> V:
    """The larger; NaN never wins (TFLite keeps `in > current`)."""
    return where(v > acc, v, acc)


def _quantized_sum_or_mean(call: KernelCall, n: int, mean: bool) -> Reduction:
    """TFLite's reference QuantizedMeanOrSum: int32 sum, minus zp * n, one rescale."""
    src, dst = call.inputs[0], call.out
    if src.quant is None or dst.quant is None:
        raise Unsupported(f"{call.builtin} of unquantized {src.dtype} is not supported")
    if src.dtype == np.int16 and (src.zero_point != 0 or dst.zero_point != 0):
        raise Unsupported("int16 reductions need zero points of 0")
    mult, shift = quantize_multiplier(float(np.float64(src.scale) / np.float64(dst.scale)))
    if mean and n > 0:
        pre = min(n.bit_length() - 1, 32, 31 + shift)
        mult, shift = (mult << pre) // n, shift - pre
    info = np.iinfo(dst.dtype)

    def finish(total: V) -> V:
        shifted = wrap32(convert(total, i64) - src.zero_point * n)
        return clamp(mbqm(shifted, mult, shift) + dst.zero_point, info.min, info.max)

    return Reduction(widener(src, i32), _add, lambda: const(0, i32), "add", finish)


def _float_sum(n: int, mean: bool) -> Reduction:
    finish = (lambda acc: acc / float(n)) if mean else (lambda acc: acc)
    return Reduction(lambda v: v, _add, lambda: const(0.0, f32), "add", finish)


def _max_reduction(call: KernelCall) -> Reduction:
    """REDUCE_MAX on the stored values (quantized: input and output quantized alike)."""
    src, dst = call.inputs[0], call.out
    if not same_quantization(src, dst):
        raise Unsupported("REDUCE_MAX needs the same scale and zero point on input and output")
    if src.dtype == np.float32:
        lowest = float(np.finfo(np.float32).min)
        return Reduction(lambda v: v, _max, lambda: const(lowest, f32), "maxnumf", lambda a: a)
    if src.dtype.kind not in "iu":
        raise Unsupported(f"REDUCE_MAX of {src.dtype} is not supported")
    compute = i32 if src.dtype.itemsize < 4 else storage_type(src.dtype)
    lowest = int(np.iinfo(src.dtype).min)
    return Reduction(
        widener(src, compute), _max, lambda: const(lowest, compute), "maxsi", lambda a: a
    )


def same_quantization(a, b) -> bool:
    """Whether two tensors share scale and zero point (or are both unquantized)."""
    if a.quant is None or b.quant is None:
        return a.quant is b.quant
    return (a.quant.scales, a.quant.zero_points) == (b.quant.scales, b.quant.zero_points)


def _plan(op: Operation) -> tuple[KernelCall, list[Dim], Reduction]:
    """MEAN, SUM and REDUCE_MAX over constant axes: float32, int32/int64 sums, and the
    quantized int8/uint8/int16 paths of TFLite's reference kernels."""
    call = make_call(op)
    src = call.inputs[0]
    axis = constant_operand(op, 1)
    if axis is None:
        raise Unsupported(f"{call.builtin} needs constant axes")
    axes = _axes(call, np.broadcast_to(0, src.shape), axis)
    dims = collapse(src.shape, axes)
    n = math.prod(src.shape[a] for a in axes)
    if call.builtin == "REDUCE_MAX":
        return call, dims, _max_reduction(call)
    mean = call.builtin == "MEAN"
    if src.dtype in QUANTIZED and src.quant is not None:
        return call, dims, _quantized_sum_or_mean(call, n, mean)
    if src.dtype == np.float32:
        return call, dims, _float_sum(n, mean)
    if not mean and src.dtype in (np.int32, np.int64):
        t = storage_type(src.dtype)
        return call, dims, Reduction(lambda v: v, _add, lambda: const(0, t), "add", lambda a: a)
    raise Unsupported(f"{call.builtin} of {src.dtype} is not supported")


def generate_reduction(op: Operation, symbol: str) -> Kernel:
    """The kernel of MEAN, SUM or REDUCE_MAX."""
    call, dims, reduction = _plan(op)
    kb = KernelBuilder(symbol)
    x, out = kb.input(0, call.inputs[0]), kb.output(0, call.out)
    empty = math.prod(call.inputs[0].shape) == 0
    with kb.body():
        if empty and call.inputs[0].quant is not None:
            # TFLite's quantized kernels write zeros for an empty input
            zero = const(0, storage_type(call.out.dtype))
            for_chunks(math.prod(call.out.shape), lambda j, w: store(splat(zero, w), out, j))
        else:
            emit_reduction(x, out, dims, reduction, narrower(call.out))
    return kb.finish()


generator("tfl.mean", "tfl.sum", "tfl.reduce_max", supports=checked(_plan))(generate_reduction)


# ----------------------------------------------------------------------------- ARG_MAX

ARG_MAX_INPUTS = (np.float32, np.int8, np.uint8, np.int32, np.bool_)


def _arg_max_plan(op: Operation) -> tuple[KernelCall, int, int, int]:
    """ARG_MAX along one constant axis (float32, int8, uint8, int32, bool to int32/int64):
    the first largest element; NaN is never the largest. Returns (call, outer, n, inner)."""
    call = make_call(op)
    src, dst = call.inputs[0], call.out
    axis = constant_operand(op, 1)
    if axis is None:
        raise Unsupported("ARG_MAX needs a constant axis")
    a = int(np.asarray(axis).ravel()[0])
    a = a + len(src.shape) if a < 0 else a
    if not 0 <= a < len(src.shape) or src.shape[a] == 0:
        raise Unsupported(f"ARG_MAX axis {a} is out of range or empty for shape {list(src.shape)}")
    if src.dtype not in ARG_MAX_INPUTS or dst.dtype not in (np.int32, np.int64):
        raise Unsupported(f"ARG_MAX from {src.dtype} to {dst.dtype} is not supported")
    outer, inner = math.prod(src.shape[:a]), math.prod(src.shape[a + 1 :])
    return call, outer, src.shape[a], inner


def generate_arg_max(op: Operation, symbol: str) -> Kernel:
    """ARG_MAX: for each position the running best and its index, vectorised along the
    dimensions after the axis (scalar when the axis is innermost).

    Floats compare with NaN as -inf; if then the winner is a NaN at index 0 (every other
    value -inf or NaN), the first non-NaN index wins, as TFLite's reference does.
    """
    call, outer, n, inner = _arg_max_plan(op)
    src = call.inputs[0]
    kb = KernelBuilder(symbol)
    x, out = kb.input(0, src), kb.output(0, call.out)
    is_float = src.dtype == np.float32
    compute = f32 if is_float else i32
    widen = widener(src, compute) if src.dtype != np.bool_ else (lambda v: convert(v, i32, True))
    narrow = narrower(call.out)

    def key(v: V) -> V:
        return where(v.ne(v), -math.inf, v) if is_float else v

    def position(o: V) -> None:
        def chunk(j: V, width: int) -> None:
            base = o * (n * inner) + j
            first = widen(load(x, base, width))
            zero = splat(const(0, i32), width)

            def step(a: V, best: V, best_index: V, first_valid: V) -> list[V]:
                v = widen(load(x, base + a * inner, width))
                better = key(v) > best
                a32 = splat(convert(a, i32), width)
                valid = first_valid
                if is_float:
                    valid = where(v.eq(v) & first_valid.eq(n), a32, first_valid)
                return [where(better, key(v), best), where(better, a32, best_index), valid]

            first_valid = splat(const(n, i32), width)
            if is_float:
                first_valid = where(first.eq(first), zero, first_valid)
            best, best_index, first_valid = for_range(
                1, n, 1, step, [key(first), zero, first_valid]
            )
            if is_float:
                picked_nan = first.ne(first) & best_index.eq(0)
                fallback = where(first_valid.eq(n), zero, first_valid)
                best_index = where(picked_nan, fallback, best_index)
            store(narrow(best_index), out, o * inner + j)

        for_chunks(inner, chunk)

    with kb.body():
        for_range(0, outer, 1, lambda o: position(o) or [])
    return kb.finish()


generator("tfl.arg_max", supports=checked(_arg_max_plan))(generate_arg_max)
