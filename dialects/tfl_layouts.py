"""The layout a layout-sensitive `tfl` op computes in: the discardable attribute
`litec.layout = "NCHW"` names the order of its image axes (letters N, H, W, C; absent:
TFLite's NHWC), optionally with the channels split in blocks of k (a power of two from 2 to
64): `NCHW16c` stores an NHWC image [N, H, W, C] as [N, C/16, H, W, 16] (TVM's NCHWc),
`NHCW16c` as [N, H, C/16, W, 16]: the 4 axes in the order given, C counted in blocks, then
the k channels of a block last. Its image operands and results (the `IMAGES` table) are
stored so; the op computes what the NHWC op computes. Weights, biases and parameters
(sizes, output shapes, block sizes) keep TFLite's layout.

    %y = tfl.conv_2d %x, %w, %b {litec.layout = "NCHW", ...}
           : (tensor<1x3x8x8xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>

    layout_of(op)                            # "NCHW"; "NHWC" when untagged
    conversion("NHWC", "NCHW16c", [1, 8, 8, 32])
        # [("reshape", (1, 8, 8, 2, 16)), ("transpose", (0, 3, 1, 2, 4))]

`conversion` is the one description of how an image moves between layouts: convert-layout
(lowering/layout/convert_layout.py) emits its steps as RESHAPE and TRANSPOSE ops, the
reference interpreter runs a tagged op through its NHWC kernel with them
(tfl_reference/core.py, `to_nhwc` / `from_nhwc`), and the verifier checks stored shapes
with them; a plain permutation is one TRANSPOSE. A backend refuses the layouts its kernels
do not compute in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import StringAttr, TensorType
from xdsl.ir import Operation
from xdsl.utils.exceptions import VerifyException

LAYOUT = "litec.layout"
"""The discardable attribute naming an op's layout."""

NHWC = "NHWC"
"""TFLite's layout: what an op without the attribute computes in."""

BLOCKS = (2, 4, 8, 16, 32, 64)
"""The numbers of channels a blocked layout may hold per block."""

IMAGES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "tfl.conv_2d": ((0,), (0,)),
    "tfl.depthwise_conv_2d": ((0,), (0,)),
    "tfl.transpose_conv": ((2,), (0,)),
    "tfl.average_pool_2d": ((0,), (0,)),
    "tfl.max_pool_2d": ((0,), (0,)),
    "tfl.resize_bilinear": ((0,), (0,)),
    "tfl.resize_nearest_neighbor": ((0,), (0,)),
    "tfl.space_to_depth": ((0,), (0,)),
    "tfl.depth_to_space": ((0,), (0,)),
}
"""Layout-sensitive ops by name: (image operand indices, image result indices). Keyed by
name, not class, so that the dialect's verifier can use this module."""

Step = tuple[str, tuple[int, ...]]
"""One data movement: ("reshape", the new shape) or ("transpose", the perm)."""


def layout_of(op: Operation) -> str:
    """The layout `op`'s images are stored in (NHWC when untagged)."""
    attr = op.attributes.get(LAYOUT)
    return attr.data if isinstance(attr, StringAttr) else NHWC


def layout_problem(layout: str) -> str | None:
    """What is wrong with a layout string, or None when it orders N, H, W, C, then
    optionally names a block of channels (`16c`)."""
    order, suffix = layout[:4], layout[4:]
    if sorted(order) != sorted(NHWC):
        return (
            f"'{layout}' is not a layout: it must order the letters N, H, W, C "
            "(then optionally a block of channels, as in NCHW16c)"
        )
    if suffix and not re.fullmatch(r"[1-9][0-9]*c", suffix):
        return f"'{layout}' is not a layout: its block '{suffix}' must be a number then 'c'"
    if suffix and int(suffix[:-1]) not in BLOCKS:
        block = suffix[:-1]
        return f"'{layout}' is not a layout: a block of {block} channels (2 to 64, a power of two)"
    return None


def block_of(layout: str) -> int:
    """How many channels a block of `layout` holds; 1 when it is a plain permutation."""
    return int(layout[4:-1] or 1)


def is_blocked(layout: str) -> bool:
    """Whether `layout` splits the channels in blocks."""
    return block_of(layout) > 1


def between(source: str, target: str) -> list[int]:
    """The TRANSPOSE perm turning a tensor stored in plain layout `source` into one stored
    in plain layout `target`."""
    return [source.index(axis) for axis in target]


def conversion(source: str, target: str, nhwc: Sequence[int]) -> list[Step]:
    """The steps moving an image of NHWC shape `nhwc` stored in `source` into `target`:
    back to NHWC, then into `target`, adjacent moves of one kind merged and moves of
    nothing left out (between plain layouts: at most one TRANSPOSE)."""
    return simplified([*back(source, nhwc), *into(target, nhwc)], stored_shape(source, nhwc))


def into(layout: str, nhwc: Sequence[int]) -> list[Step]:
    """The steps storing an NHWC image of shape `nhwc` in `layout`: a RESHAPE splitting C
    in blocks ([N, H, W, C/k, k]) when blocked, then a TRANSPOSE into the layout's order."""
    perm = tuple(between(NHWC, layout[:4]))
    k = block_of(layout)
    if k == 1:
        return [("transpose", perm)]
    n, h, w, c = nhwc
    return [("reshape", (n, h, w, c // k, k)), ("transpose", (*perm, 4))]


def back(layout: str, nhwc: Sequence[int]) -> list[Step]:
    """The steps bringing an image stored in `layout` back to NHWC shape `nhwc`: those of
    `into` undone in reverse order (its RESHAPE, if any, came from `nhwc`)."""
    return [
        ("transpose", tuple(int(a) for a in np.argsort(arg)))
        if kind == "transpose"
        else ("reshape", tuple(nhwc))
        for kind, arg in reversed(into(layout, nhwc))
    ]


def simplified(steps: list[Step], shape: Sequence[int]) -> list[Step]:
    """`steps` applied to `shape` with adjacent steps of one kind merged into one, and
    steps that move nothing (an identity perm, a reshape to the same shape) dropped."""
    out: list[Step] = []
    for kind, arg in steps:
        if out and out[-1][0] == kind:
            _, first = out.pop()
            arg = tuple(first[a] for a in arg) if kind == "transpose" else arg
        nothing = moved_shape(shape, out) if kind == "reshape" else tuple(range(len(arg)))
        if arg != nothing:
            out.append((kind, arg))
    return out


def moved_shape(shape: Sequence[int], steps: list[Step]) -> tuple[int, ...]:
    """The shape of a tensor of `shape` after `steps`."""
    shape = tuple(shape)
    for kind, arg in steps:
        shape = arg if kind == "reshape" else tuple(shape[a] for a in arg)
    return shape


def moved(arr: np.ndarray, steps: list[Step]) -> np.ndarray:
    """`arr` after `steps`, contiguous (TFLite's RESHAPE and TRANSPOSE)."""
    for kind, arg in steps:
        arr = arr.reshape(arg) if kind == "reshape" else np.ascontiguousarray(arr.transpose(arg))
    return arr


def nhwc_shape(layout: str, stored: Sequence[int]) -> tuple[int, ...]:
    """The NHWC shape of an image stored in `layout` with shape `stored` (in NHWC: `stored`,
    of any rank, as an untagged op's result is)."""
    if layout == NHWC:
        return tuple(stored)
    n, h, w, c = (stored[layout.index(axis)] for axis in NHWC)
    return (n, h, w, c * block_of(layout))


def stored_shape(layout: str, nhwc: Sequence[int]) -> tuple[int, ...]:
    """The shape an NHWC image of shape `nhwc` has stored in `layout`."""
    return moved_shape(nhwc, into(layout, nhwc))


def to_nhwc(arr: np.ndarray, layout: str) -> np.ndarray:
    """An image stored in `layout`, in NHWC."""
    return moved(arr, conversion(layout, NHWC, nhwc_shape(layout, arr.shape)))


def from_nhwc(arr: np.ndarray, layout: str) -> np.ndarray:
    """An NHWC image, stored in `layout`."""
    return moved(arr, conversion(NHWC, layout, arr.shape))


def image_rank(op: Operation) -> int:
    """The rank of `op`'s images: 4, or 5 in a blocked layout."""
    return 4 + is_blocked(layout_of(op))


def images(op: Operation) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(image operand indices, image result indices) of `op`; empty for other ops."""
    return IMAGES.get(op.name, ((), ()))


def channel_axis(op: Operation) -> int:
    """The axis of `op`'s images that holds the channels; for plain permutation layouts
    only (a blocked layout spreads them over two axes: callers skip blocked ops)."""
    layout = layout_of(op)
    if is_blocked(layout):
        raise ValueError(f"{op.name} in {layout} has no single channel axis")
    return layout.index("C")


def verify_layout(op: Operation) -> None:
    """A `litec.layout` attribute must be a layout, on an op of `IMAGES` whose images are
    4-D tensors (5-D when blocked, of the shape the layout stores: k channels last)."""
    attr = op.attributes.get(LAYOUT)
    if attr is None:
        return
    if not isinstance(attr, StringAttr):
        raise VerifyException(f"{op.name}: {LAYOUT} must be a string, not {attr}")
    layout = attr.data
    if (problem := layout_problem(layout)) is not None:
        raise VerifyException(f"{op.name}: {LAYOUT} {problem}")
    operands, results = images(op)
    if not operands:
        raise VerifyException(f"{op.name}: only layout-sensitive ops carry {LAYOUT}")
    rank = image_rank(op)
    values = [op.operands[i] for i in operands] + [op.results[i] for i in results]
    for v in values:
        shape = v.type.get_shape() if isinstance(v.type, TensorType) else ()
        if len(shape) != rank or stored_shape(layout, nhwc_shape(layout, shape)) != shape:
            raise VerifyException(
                f"{op.name}: {LAYOUT} {layout} needs {rank}-D images of its stored shape"
                + (f" ({block_of(layout)} channels last)" if rank == 5 else "")
            )
