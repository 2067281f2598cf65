"""The layout a layout-sensitive `tfl` op computes in: the discardable attribute
`litec.layout = "NCHW"` names the order of its 4-D image axes (letters N, H, W, C; absent:
TFLite's NHWC). Its image operands and results (the `IMAGES` table) are stored in that
order; the op computes what the NHWC op computes. Weights, biases and parameters (sizes,
output shapes, block sizes) keep TFLite's layout.

    %y = tfl.conv_2d %x, %w, %b {litec.layout = "NCHW", ...}
           : (tensor<1x3x8x8xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>

    layout_of(op)               # "NCHW"; "NHWC" when untagged
    between("NHWC", "NCHW")     # [0, 3, 1, 2]: the TRANSPOSE perm from one layout to the other

The convert-layout pass (lowering/layout/convert_layout.py) chooses the layouts, the
reference interpreter runs a tagged op through its NHWC kernel (tfl_reference/core.py),
and a backend refuses the layouts its kernels do not compute in.
"""

from __future__ import annotations

from xdsl.dialects.builtin import StringAttr, TensorType
from xdsl.ir import Operation
from xdsl.utils.exceptions import VerifyException

LAYOUT = "litec.layout"
"""The discardable attribute naming an op's layout."""

NHWC = "NHWC"
"""TFLite's layout: what an op without the attribute computes in."""

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


def layout_of(op: Operation) -> str:
    """The layout `op`'s images are stored in (NHWC when untagged)."""
    attr = op.attributes.get(LAYOUT)
    return attr.data if isinstance(attr, StringAttr) else NHWC


def layout_problem(layout: str) -> str | None:
    """What is wrong with a layout string, or None when it orders N, H, W, C."""
    if sorted(layout) != sorted(NHWC):
        return f"'{layout}' is not a layout: it must order the letters N, H, W, C"
    return None


def between(source: str, target: str) -> list[int]:
    """The TRANSPOSE perm turning a tensor stored in `source` into one stored in `target`."""
    return [source.index(axis) for axis in target]


def images(op: Operation) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(image operand indices, image result indices) of `op`; empty for other ops."""
    return IMAGES.get(op.name, ((), ()))


def channel_axis(op: Operation) -> int:
    """The axis of `op`'s images that holds the channels."""
    return layout_of(op).index("C")


def verify_layout(op: Operation) -> None:
    """A `litec.layout` attribute must be a layout, on an op of `IMAGES` whose images are
    4-D tensors."""
    attr = op.attributes.get(LAYOUT)
    if attr is None:
        return
    if not isinstance(attr, StringAttr):
        raise VerifyException(f"{op.name}: {LAYOUT} must be a string, not {attr}")
    if (problem := layout_problem(attr.data)) is not None:
        raise VerifyException(f"{op.name}: {LAYOUT} {problem}")
    operands, results = images(op)
    if not operands:
        raise VerifyException(f"{op.name}: only layout-sensitive ops carry {LAYOUT}")
    values = [op.operands[i] for i in operands] + [op.results[i] for i in results]
    if any(not isinstance(v.type, TensorType) or len(v.type.get_shape()) != 4 for v in values):
        raise VerifyException(f"{op.name}: {LAYOUT} needs 4-D images")
