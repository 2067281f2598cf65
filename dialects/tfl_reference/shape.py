"""Reference kernels: shape and data movement (reshapes, slices, joins, padding, resizing).

Most of these move data without touching it; the exceptions follow TFLite's reference
kernels exactly: CONCATENATION of uint8 inputs with other scales (float rescale, as
reference_ops::ConcatenationWithScaling), RESIZE_BILINEAR (float32 arithmetic in TFLite's
operation order; int8/int16 through the 10-bit fixed-point ResizeBilinearInteger), and
RESIZE_NEAREST_NEIGHBOR's float32 source-index computation.
"""

from __future__ import annotations

import numpy as np

from litec.dialects.tfl_reference.common import resolve_axis, same_quantization
from litec.dialects.tfl_reference.core import KernelCall, TensorInfo, kernel
from litec.runtime.fixedpoint import round_half_away, trunc_div


def _check_size(call: KernelCall, result: np.ndarray) -> np.ndarray:
    """`result` reshaped to the declared output shape, refused if the sizes disagree."""
    if result.size != int(np.prod(call.out.shape)):
        raise call.error(
            f"result has shape {list(result.shape)}, the output is {list(call.out.shape)}"
        )
    return result.reshape(call.out.shape)


# ----------------------------------------------------------------------------- reshapes


@kernel("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape(call: KernelCall, x, *_):
    """TFLite RESHAPE / SQUEEZE / EXPAND_DIMS: the result type fixes the shape; data unchanged."""
    return np.reshape(x, call.out.shape)


@kernel("DENSIFY")
def densify(call: KernelCall, x):
    """TFLite DENSIFY: the importer already stored the sparse constant densely."""
    return np.reshape(x, call.out.shape).astype(call.out.dtype, copy=False)


@kernel("TRANSPOSE")
def transpose(call: KernelCall, x, perm):
    """TFLite TRANSPOSE: output dimension i is input dimension perm[i]."""
    perm = np.asarray(perm).ravel().tolist()
    if sorted(perm) != list(range(x.ndim)):
        raise call.error(f"TRANSPOSE permutation {perm} does not fit rank {x.ndim}")
    return np.ascontiguousarray(np.transpose(x, perm))


@kernel("DEPTH_TO_SPACE")
def depth_to_space(call: KernelCall, x):
    """TFLite DEPTH_TO_SPACE (NHWC): channel block (i, j) moves to pixel offset (i, j)."""
    bs = call.opts["block_size"]
    n, h, w, c = x.shape
    if bs <= 0 or c % (bs * bs):
        raise call.error(f"{c} channels do not split into {bs}x{bs} blocks")
    blocks = x.reshape(n, h, w, bs, bs, c // (bs * bs)).transpose(0, 1, 3, 2, 4, 5)
    return blocks.reshape(call.out.shape)


@kernel("SPACE_TO_DEPTH")
def space_to_depth(call: KernelCall, x):
    """TFLite SPACE_TO_DEPTH (NHWC): each bs x bs pixel block becomes channels, row-major."""
    bs = call.opts["block_size"]
    n, h, w, c = x.shape
    if bs <= 0 or h % bs or w % bs:
        raise call.error(f"a {h}x{w} image does not split into {bs}x{bs} blocks")
    blocks = x.reshape(n, h // bs, bs, w // bs, bs, c).transpose(0, 1, 3, 2, 4, 5)
    return blocks.reshape(call.out.shape)


# ----------------------------------------------------------------------------- joins and splits


def _rescale_uint8(x: np.ndarray, src: TensorInfo, dst: TensorInfo) -> np.ndarray:
    """reference_ops::ConcatenationWithScaling for one input: float32 rescale, round, clamp."""
    if same_quantization(src, dst):
        return x
    scale = np.float32(src.scale) * (np.float32(1) / np.float32(dst.scale))
    bias = np.float32(-src.zero_point) * scale
    value = round_half_away(x.astype(np.float32) * scale + bias).astype(np.int64)
    return np.clip(value + dst.zero_point, 0, 255).astype(np.uint8)


@kernel("CONCATENATION")
def concatenation(call: KernelCall, *xs):
    """TFLite CONCATENATION: uint8 inputs are rescaled to the output; int8 must share it."""
    if call.opts["fused_activation_function"] != "NONE":
        raise call.error("CONCATENATION supports no fused activation")
    axis = resolve_axis(call, call.opts["axis"], xs[0].ndim)
    dst = call.out
    if dst.dtype == np.uint8 and dst.quant is not None:
        xs = tuple(_rescale_uint8(x, s, dst) for x, s in zip(xs, call.inputs, strict=True))
    elif dst.dtype == np.int8 and not all(same_quantization(s, dst) for s in call.inputs):
        raise call.error("int8 CONCATENATION needs the same scale and zero point everywhere")
    return np.concatenate(xs, axis=axis)


@kernel("PACK")
def pack(call: KernelCall, *xs):
    """TFLite PACK: stack equally shaped tensors along a new axis."""
    if not all(same_quantization(s, call.out) for s in call.inputs):
        raise call.error("PACK needs the same scale and zero point on inputs and output")
    axis = resolve_axis(call, call.opts["axis"], xs[0].ndim + 1)
    return np.stack(xs, axis=axis)


@kernel("UNPACK")
def unpack(call: KernelCall, x):
    """TFLite UNPACK: split along an axis into `num` tensors, that axis removed."""
    axis = resolve_axis(call, call.opts["axis"], x.ndim)
    if x.shape[axis] != call.opts["num"]:
        raise call.error(f"UNPACK of {x.shape[axis]} slices into {call.opts['num']} outputs")
    return [np.ascontiguousarray(np.take(x, i, axis=axis)) for i in range(x.shape[axis])]


@kernel("SPLIT")
def split(call: KernelCall, split_dim, x):
    """TFLite SPLIT: `num_splits` equal pieces along the axis given as the first input."""
    axis = resolve_axis(call, int(np.asarray(split_dim).ravel()[0]), x.ndim)
    n = call.opts["num_splits"]
    if n <= 0 or x.shape[axis] % n:
        raise call.error(f"dimension {x.shape[axis]} does not split into {n} equal parts")
    return [np.ascontiguousarray(p) for p in np.split(x, n, axis=axis)]


# ----------------------------------------------------------------------------- slicing


@kernel("SLICE")
def slice_(call: KernelCall, x, begin, size):
    """TFLite SLICE: `size[i]` elements from `begin[i]` (size -1: to the end)."""
    begin = np.asarray(begin).ravel().tolist()
    size = np.asarray(size).ravel().tolist()
    if len(begin) != x.ndim or len(size) != x.ndim:
        raise call.error(f"SLICE needs {x.ndim} begin and size values")
    index = []
    for b, s, dim in zip(begin, size, x.shape, strict=True):
        end = dim if s == -1 else b + s
        if b < 0 or s < -1 or end > dim:
            raise call.error(f"SLICE begin {b} size {s} does not fit dimension {dim}")
        index.append(slice(b, end))
    return np.ascontiguousarray(x[tuple(index)])


class _StridedSlice:
    """TFLite's BuildStridedSliceParams: masks and indices over the effective input shape.

    New axes become size-1 dimensions of the effective input; an ellipsis expands to the
    dimensions the indices do not name; trailing unnamed dimensions are taken whole.
    """

    def __init__(self, opts: dict, shape: tuple[int, ...], begin, end, strides):
        count = len(begin)
        ellipsis, new_axis = opts["ellipsis_mask"], opts["new_axis_mask"]
        added = sum(1 for i in range(count) if not ellipsis >> i & 1 and new_axis >> i & 1)
        dims = len(shape) + added
        eff_ellipsis, eff_new, ellipsis_start, expanded = 0, 0, dims, 0
        i = 0
        while i < dims:
            if ellipsis >> i & 1:
                ellipsis_start = i
                stop = max(i + 1, min(i + 1 + added + len(shape) - count, dims))
                expanded = stop - i - 1
                for k in range(i, stop):
                    eff_ellipsis |= 1 << k
                i = stop
                continue
            if new_axis >> (i - expanded) & 1:
                eff_new |= 1 << i
            i += 1
        self.start, self.stop, self.stride = [0] * dims, [0] * dims, [1] * dims
        self.begin_mask = self.end_mask = self.shrink_mask = 0
        self.shape: list[int] = []
        added_ellipsis = added_axes = 0
        for i in range(dims):
            if eff_ellipsis >> i & 1:
                added_ellipsis = max(0, i - ellipsis_start)
                self._whole(i)
            elif eff_new >> i & 1:
                self.stop[i] = 1
                self.shape.append(1)
                added_axes += 1
                continue
            elif i >= count + expanded:
                self._whole(i)
            else:
                k = i - added_ellipsis
                self.start[i], self.stop[i], self.stride[i] = begin[k], end[k], strides[k]
                self.begin_mask |= (opts["begin_mask"] >> k & 1) << i
                self.end_mask |= (opts["end_mask"] >> k & 1) << i
                self.shrink_mask |= (opts["shrink_axis_mask"] >> k & 1) << i
            self.shape.append(shape[i - added_axes])
        self.offset = opts["offset"]

    def _whole(self, i: int) -> None:
        self.begin_mask |= 1 << i
        self.end_mask |= 1 << i

    def indices(self, axis: int) -> range:
        """reference_ops StartForAxis / EndForAxis: the positions read along one axis."""
        size, stride = self.shape[axis], self.stride[axis]
        lo, hi = (0, size) if stride > 0 else (-1, size - 1)
        start = self.start[axis] + (size if self.start[axis] < 0 else 0)
        start = min(max(start, lo), hi)
        if self.begin_mask >> axis & 1:
            start = 0 if stride > 0 else size - 1
        if self.shrink_mask >> axis & 1:
            return range(start, start if start >= size else start + 1, stride)
        end = self.stop[axis] + (start if self.offset else 0)
        end = min(max(end + (size if end < 0 else 0), lo), hi)
        if self.end_mask >> axis & 1:
            end = size if stride > 0 else -1
        return range(start, end, stride)


@kernel("STRIDED_SLICE")
def strided_slice(call: KernelCall, x, begin, end, strides):
    """TFLite STRIDED_SLICE: all masks, negative indices and strides, and `offset`."""
    begin, end, strides = (np.asarray(v).ravel().tolist() for v in (begin, end, strides))
    if not len(begin) == len(end) == len(strides):
        raise call.error("STRIDED_SLICE begin, end and strides differ in length")
    if 0 in strides:
        raise call.error("STRIDED_SLICE strides must be non-zero")
    params = _StridedSlice(call.opts, x.shape, begin, end, strides)
    effective = x.reshape(params.shape)
    picks = [np.asarray(params.indices(a), dtype=np.int64) for a in range(effective.ndim)]
    if effective.ndim == 0:
        return _check_size(call, effective.copy())
    return _check_size(call, effective[np.ix_(*picks)])


@kernel("GATHER")
def gather(call: KernelCall, params, indices):
    """TFLite GATHER: slices of `params` along `axis` picked by `indices`, with batch_dims."""
    axis = resolve_axis(call, call.opts["axis"], params.ndim)
    batch = call.opts["batch_dims"]
    batch = batch + indices.ndim if batch < 0 else batch
    if (
        not 0 <= batch <= axis
        or batch > indices.ndim
        or params.shape[:batch] != indices.shape[:batch]
    ):
        raise call.error(f"GATHER batch_dims {call.opts['batch_dims']} does not fit the inputs")
    n = params.shape[axis]
    if np.any(indices < 0) or np.any(indices >= n):
        raise call.error(f"GATHER index out of range [0, {n})")
    nb = int(np.prod(params.shape[:batch], dtype=np.int64))
    mid = int(np.prod(params.shape[batch:axis], dtype=np.int64))
    p = params.reshape(nb, mid, n, -1)
    idx = indices.reshape(nb, -1).astype(np.int64)
    rows = np.arange(nb)[:, None, None]
    cols = np.arange(mid)[None, :, None]
    return _check_size(call, p[rows, cols, idx[:, None, :]])


# ----------------------------------------------------------------------------- padding


def _paddings(call: KernelCall, x: np.ndarray, paddings) -> list[tuple[int, int]]:
    pads = np.asarray(paddings).reshape(-1, 2).tolist()
    if len(pads) != x.ndim or any(p < 0 for pair in pads for p in pair):
        raise call.error(f"paddings must be {x.ndim} non-negative (before, after) pairs")
    return [(int(a), int(b)) for a, b in pads]


@kernel("PAD")
def pad(call: KernelCall, x, paddings):
    """TFLite PAD: pads with 0, or with the output's zero point when quantized."""
    fill = call.out.zero_point if call.out.quant is not None else 0
    return np.pad(x, _paddings(call, x, paddings), constant_values=fill)


@kernel("PADV2")
def padv2(call: KernelCall, x, paddings, constant_values):
    """TFLite PADV2: pads with the given (stored) value; quantized, it shares the output's scale."""
    if call.out.quant is not None and not same_quantization(call.inputs[2], call.out):
        raise call.error("PADV2 constant_values must share the output's scale and zero point")
    fill = np.asarray(constant_values).ravel()[0]
    return np.pad(x, _paddings(call, x, paddings), constant_values=fill)


# ----------------------------------------------------------------------------- resizing


def _resize_shape(call: KernelCall, x: np.ndarray, size) -> tuple[int, int]:
    """The (height, width) a resize produces, checked against the declared output."""
    if x.ndim != 4:
        raise call.error(f"resizing needs a 4-D NHWC input, got rank {x.ndim}")
    oh, ow = (int(v) for v in np.asarray(size).ravel()[:2])
    if (x.shape[0], oh, ow, x.shape[3]) != call.out.shape:
        raise call.error(f"size {[oh, ow]} does not match the output {list(call.out.shape)}")
    if call.opts["align_corners"] and call.opts["half_pixel_centers"]:
        raise call.error("half_pixel_centers and align_corners cannot both be set")
    return oh, ow


def _float_scale(in_size: int, out_size: int, align_corners: bool) -> np.float32:
    """TFLite's float32 resize scale (align_corners: (in - 1) / (out - 1))."""
    if align_corners and out_size > 1:
        return np.float32(in_size - 1) / np.float32(out_size - 1)
    return np.float32(in_size) / np.float32(out_size)


def _bilinear_axis_float(out_size: int, in_size: int, opts: dict):
    """reference_ops::ComputeInterpolationValues for every output position of one axis."""
    scale = _float_scale(in_size, out_size, opts["align_corners"])
    pos = np.arange(out_size, dtype=np.float32)
    if opts["half_pixel_centers"]:
        src = (pos + np.float32(0.5)) * scale - np.float32(0.5)
    else:
        src = pos * scale
    lower = np.maximum(np.floor(src).astype(np.int64), 0)
    upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    return src, lower, upper


def _bilinear_float(x: np.ndarray, oh: int, ow: int, opts: dict) -> np.ndarray:
    """reference_ops::ResizeBilinear: float32 weights, terms summed in TFLite's order."""
    ys, y0, y1 = _bilinear_axis_float(oh, x.shape[1], opts)
    xs, x0, x1 = _bilinear_axis_float(ow, x.shape[2], opts)
    one = np.float32(1)
    dy = (ys - y0.astype(np.float32))[None, :, None, None]
    dx = (xs - x0.astype(np.float32))[None, None, :, None]
    v = x.astype(np.float32)
    rows0, rows1 = v[:, y0], v[:, y1]
    total = rows0[:, :, x0] * (one - dy) * (one - dx)
    total = total + rows1[:, :, x0] * dy * (one - dx)
    total = total + rows0[:, :, x1] * (one - dy) * dx
    total = total + rows1[:, :, x1] * dy * dx
    if x.dtype == np.float32:
        return total
    return np.trunc(total + np.float32(0.5)).astype(x.dtype)


def _bilinear_axis_integer(out_size: int, in_size: int, opts: dict):
    """reference_ops::ComputeInterpolationValuesInteger: positions in 1/1024 units."""
    if opts["align_corners"] and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = ((1 << 10) * in_size + out_size // 2) // out_size
    pos = np.arange(out_size, dtype=np.int64)
    src = pos * scale + (scale // 2 - (1 << 9) if opts["half_pixel_centers"] else 0)
    lower = np.maximum(trunc_div(src, 1 << 10), 0)
    upper = np.minimum(trunc_div(src + (1 << 10) - 1, 1 << 10), in_size - 1)
    return src, lower, upper


def _bilinear_integer(x: np.ndarray, oh: int, ow: int, opts: dict) -> np.ndarray:
    """reference_ops::ResizeBilinearInteger (int8, int16): 20-bit products, double rounding."""
    ys, y0, y1 = _bilinear_axis_integer(oh, x.shape[1], opts)
    xs, x0, x1 = _bilinear_axis_integer(ow, x.shape[2], opts)
    dy = (ys - (y0 << 10))[None, :, None, None]
    dx = (xs - (x0 << 10))[None, None, :, None]
    one = 1 << 10
    v = x.astype(np.int64)
    rows0, rows1 = v[:, y0], v[:, y1]
    total = (
        rows0[:, :, x0] * (one - dy) * (one - dx)
        + rows1[:, :, x0] * dy * (one - dx)
        + rows0[:, :, x1] * (one - dy) * dx
        + rows1[:, :, x1] * dy * dx
    )
    rounded = trunc_div(total + np.where(total > 0, 1 << 19, -(1 << 19)), 1 << 20)
    return rounded.astype(x.dtype)


@kernel("RESIZE_BILINEAR")
def resize_bilinear(call: KernelCall, x, size):
    """TFLite RESIZE_BILINEAR: float32 and uint8 in float, int8/int16 in 10-bit fixed point."""
    oh, ow = _resize_shape(call, x, size)
    if x.dtype in (np.float32, np.uint8):
        return _bilinear_float(x, oh, ow, call.opts)
    if x.dtype in (np.int8, np.int16):
        return _bilinear_integer(x, oh, ow, call.opts)
    raise call.error(f"RESIZE_BILINEAR of {x.dtype} is not supported")


def _nearest_axis(out_size: int, in_size: int, opts: dict) -> np.ndarray:
    """reference_ops::GetNearestNeighbor for every output position of one axis."""
    align, half = opts["align_corners"], opts["half_pixel_centers"]
    scale = _float_scale(in_size, out_size, align)
    offset = np.float32(0.5 if half else 0.0)
    src = (np.arange(out_size, dtype=np.float32) + offset) * scale
    index = (round_half_away(src) if align else np.floor(src)).astype(np.int64)
    index = np.minimum(index, in_size - 1)
    return np.maximum(index, 0) if half else index


@kernel("RESIZE_NEAREST_NEIGHBOR")
def resize_nearest_neighbor(call: KernelCall, x, size):
    """TFLite RESIZE_NEAREST_NEIGHBOR: each output pixel copies its float32-computed source."""
    oh, ow = _resize_shape(call, x, size)
    rows = _nearest_axis(oh, x.shape[1], call.opts)
    cols = _nearest_axis(ow, x.shape[2], call.opts)
    return np.ascontiguousarray(x[:, rows][:, :, cols])
