"""CPU kernels for RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (NHWC).

Source positions and interpolation weights depend only on the static shapes, so they are
computed at compile time with the reference interpreter's own functions and passed as
constant tables: per output row, the two source rows' offsets and the row weight; per
output column, the two source columns' offsets and the column weight. The kernel walks
output pixels and interpolates channels in 512-bit vectors:

- float32: per pixel, the four weights (1-dy)(1-dx), dy(1-dx), (1-dy)dx, dy dx, then one
  multiply and three FMAs per vector (within float rounding of TFLite's order);
- uint8, which TFLite computes in float and truncates `total + 0.5`: the four terms in
  TFLite's order, `v00*(1-dy)*(1-dx) + v10*dy*(1-dx) + ...`, so results are bit-exact;
- int8 / int16: TFLite's ResizeBilinearInteger, weights in 1/1024 units, exact integer
  sums (i32 for int8, i64 for int16) rounded half away from zero by 2^20.

Nearest-neighbour resizing is a copy: one channel run per output pixel, its source
pixel's offset from the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import IndexType, MemRefType, f32, i32, i64
from xdsl.ir import Operation, SSAValue

from litec.backends.cpu.kernels.base import CONST, INPUT, OUTPUT, Binding, Kernel, generator
from litec.backends.cpu.kernels.movement import (
    Axis,
    Copy,
    KernelBuilder,
    Plan,
    Table,
    Unsupported,
    add_table,
    build,
    checked_call,
    const_operand,
    flat_memref,
    for_vectors,
    io_plan,
    lanes,
    supported_if,
    vector_of,
)
from litec.dialects.tfl_reference.core import KernelCall
from litec.dialects.tfl_reference.shape import (
    _bilinear_axis_float,
    _bilinear_axis_integer,
    _nearest_axis,
)

FLOAT_PATH = ("float32", "uint8")
INTEGER_PATH = ("int8", "int16")


def _checked(op: Operation) -> KernelCall:
    """A resize op with a 4-D input, matching output and compatible options."""
    call = checked_call(op)
    x, out = call.inputs[0], call.out
    if len(x.shape) != 4 or len(out.shape) != 4:
        raise Unsupported("resizing needs a 4-D NHWC input")
    if x.dtype != out.dtype or (x.shape[0], x.shape[3]) != (out.shape[0], out.shape[3]):
        raise Unsupported(f"cannot resize {x.dtype}{list(x.shape)} to {list(out.shape)}")
    size = const_operand(op, 1)
    if size is not None and [int(v) for v in size.ravel()[:2]] != list(out.shape[1:3]):
        raise Unsupported(f"size {size.ravel().tolist()} does not match the output")
    if call.opts["align_corners"] and call.opts["half_pixel_centers"]:
        raise Unsupported("half_pixel_centers and align_corners cannot both be set")
    return call


# ----------------------------------------------------------------------------- bilinear


@dataclass(frozen=True)
class _Axis:
    """One axis of a bilinear resize: per output position, the two source offsets (in
    elements) and the weight of the second."""

    lower: np.ndarray
    upper: np.ndarray
    weight: np.ndarray


def _float_axis(out: int, size: int, stride: int, opts: dict) -> _Axis:
    src, lower, upper = _bilinear_axis_float(out, size, opts)
    return _Axis(lower * stride, upper * stride, src - lower.astype(np.float32))


def _integer_axis(out: int, size: int, stride: int, opts: dict) -> _Axis:
    src, lower, upper = _bilinear_axis_integer(out, size, opts)
    return _Axis(lower * stride, upper * stride, src - (lower << 10))


def plan_bilinear(op: Operation) -> tuple[KernelCall, _Axis, _Axis]:
    """The checked op and its row and column tables."""
    call = _checked(op)
    dtype = str(call.out.dtype)
    if dtype not in FLOAT_PATH + INTEGER_PATH:
        raise Unsupported(f"RESIZE_BILINEAR of {dtype} is not supported")
    _, h, w, c = call.inputs[0].shape
    _, oh, ow, _ = call.out.shape
    axis = _float_axis if dtype in FLOAT_PATH else _integer_axis
    return call, axis(oh, h, w * c, call.opts), axis(ow, w, c, call.opts)


@generator("tfl.resize_bilinear", supports=supported_if(plan_bilinear))
def resize_bilinear(op: Operation, symbol: str) -> Kernel:
    """RESIZE_BILINEAR: float32 / uint8 in float32, int8 / int16 in 10-bit fixed point."""
    call, rows, cols = plan_bilinear(op)
    offsets = np.concatenate([rows.lower, rows.upper, cols.lower, cols.upper])
    weights = np.concatenate([rows.weight, cols.weight])
    weight_type = f32 if str(call.out.dtype) in FLOAT_PATH else i32
    types = [
        flat_memref(call.inputs[0]),
        flat_memref(call.out),
        MemRefType(i32, [offsets.size]),
        MemRefType(weight_type, [weights.size]),
    ]
    bindings = [
        Binding(INPUT, 0),
        Binding(OUTPUT, 0),
        Binding(CONST, data=offsets.astype(np.int32)),
        Binding(CONST, data=weights.astype(np.float32 if weight_type == f32 else np.int32)),
    ]
    kb = KernelBuilder(symbol, types)
    pixel = _PIXELS[str(call.out.dtype)]
    _emit_bilinear(kb, call, pixel)
    return Kernel(kb.finish(), bindings)


@dataclass
class _Taps:
    """Where one output pixel reads: four source offsets (without the channel) and its
    two weights (scalars)."""

    v00: SSAValue
    v10: SSAValue
    v01: SSAValue
    v11: SSAValue
    dy: SSAValue
    dx: SSAValue

    def weights(self, kb: KernelBuilder) -> list[SSAValue]:
        """The float weights of v00, v10, v01, v11: (1-dy)(1-dx), dy(1-dx), (1-dy)dx, dy dx."""
        ry, rx = kb.sub(1.0, self.dy), kb.sub(1.0, self.dx)
        return [kb.mul(ry, rx), kb.mul(self.dy, rx), kb.mul(ry, self.dx), kb.mul(self.dy, self.dx)]


def _emit_bilinear(kb: KernelBuilder, call: KernelCall, pixel) -> None:
    """Output pixels outer, channel vectors inner; `pixel(kb, call, taps, c0, width)`
    gives the output vector."""
    x, out, offsets, weights = kb.args
    n, h, w, c = call.inputs[0].shape
    _, oh, ow, _ = call.out.shape
    elem = x.type.element_type

    def batch(b):
        src = kb.mul(b, h * w * c)

        def out_row(y):
            r0 = kb.add(src, kb.cast(kb.load(offsets, y), IndexType()))
            r1 = kb.add(src, kb.cast(kb.load(offsets, kb.add(y, oh)), IndexType()))
            dy = kb.load(weights, y)
            dst = kb.mul(kb.add(kb.mul(b, oh), y), ow * c)

            def out_col(xo):
                c0 = kb.cast(kb.load(offsets, kb.add(xo, 2 * oh)), IndexType())
                c1 = kb.cast(kb.load(offsets, kb.add(xo, 2 * oh + ow)), IndexType())
                dx = kb.load(weights, kb.add(xo, oh))
                taps = _Taps(kb.add(r0, c0), kb.add(r1, c0), kb.add(r0, c1), kb.add(r1, c1), dy, dx)
                base = kb.add(dst, kb.mul(xo, c))

                def chunk(ch, width):
                    kb.store(pixel(kb, call, taps, ch, width), out, kb.add(base, ch))

                for_vectors(kb, c, lanes(elem), chunk)

            kb.repeat(ow, out_col)

        kb.repeat(oh, out_row)

    kb.repeat(n, batch)


def _load_taps(kb: KernelBuilder, taps: _Taps, ch, width: int, elem, unsigned: bool):
    x = kb.args[0]
    return [
        kb.cast(kb.load(x, kb.add(at, ch), width), elem, unsigned)
        for at in (taps.v00, taps.v10, taps.v01, taps.v11)
    ]


def _float_pixel(kb: KernelBuilder, call: KernelCall, taps: _Taps, ch, width: int):
    """float32: the four taps weighted by the pixel's products of row and column weights,
    accumulated with FMAs (within float rounding of TFLite's term-by-term order)."""
    v00, v10, v01, v11 = _load_taps(kb, taps, ch, width, f32, False)
    w00, w10, w01, w11 = (kb.splat(w, width) for w in taps.weights(kb))
    total = kb.mul(v00, w00)
    for v, w in ((v10, w10), (v01, w01), (v11, w11)):
        total = kb.fma(v, w, total)
    return total


def _uint8_pixel(kb: KernelBuilder, call: KernelCall, taps: _Taps, ch, width: int):
    """uint8: reference_ops::ResizeBilinear's float sum term by term in TFLite's order,
    `v00*(1-dy)*(1-dx) + v10*dy*(1-dx) + v01*(1-dy)*dx + v11*dy*dx`, then
    trunc(total + 0.5): bit-exact."""
    v00, v10, v01, v11 = _load_taps(kb, taps, ch, width, f32, True)
    dy, dx = kb.splat(taps.dy, width), kb.splat(taps.dx, width)
    one = kb.const(1.0, vector_of(f32, width))
    ry, rx = kb.sub(one, dy), kb.sub(one, dx)
    total = kb.mul(kb.mul(v00, ry), rx)
    total = kb.add(total, kb.mul(kb.mul(v10, dy), rx))
    total = kb.add(total, kb.mul(kb.mul(v01, ry), dx))
    total = kb.add(total, kb.mul(kb.mul(v11, dy), dx))
    return kb.cast(kb.cast(kb.add(total, 0.5), i32), kb.args[1].type.element_type)


def _integer_pixel(kb: KernelBuilder, call: KernelCall, taps: _Taps, ch, width: int):
    """reference_ops::ResizeBilinearInteger: exact sum of the four weighted taps, then
    (sum ± 2^19) / 2^20."""
    acc = i32 if call.out.dtype == np.int8 else i64
    one = 1 << 10
    dy, dx = kb.cast(taps.dy, acc), kb.cast(taps.dx, acc)
    ry, rx = kb.sub(kb.const(one, acc), dy), kb.sub(kb.const(one, acc), dx)
    values = _load_taps(kb, taps, ch, width, acc, False)
    total = None
    for v, wy, wx in zip(values, (ry, dy, ry, dy), (rx, rx, dx, dx), strict=True):
        term = kb.mul(v, kb.splat(kb.mul(wy, wx), width))
        total = term if total is None else kb.add(total, term)
    rounded = kb.div_half_away(total, kb.const(1 << 20, total.type), 1 << 19)
    return kb.cast(rounded, kb.args[1].type.element_type)


_PIXELS = {
    "float32": _float_pixel,
    "uint8": _uint8_pixel,
    "int8": _integer_pixel,
    "int16": _integer_pixel,
}
"""Output dtype -> how one output vector is interpolated."""


# ----------------------------------------------------------------------------- nearest


def plan_nearest(op: Operation) -> Plan:
    """RESIZE_NEAREST_NEIGHBOR: per output pixel, copy the channels of its source pixel
    (the source rows and columns as TFLite computes them, in float32)."""
    call = _checked(op)
    n, h, w, c = call.inputs[0].shape
    _, oh, ow, _ = call.out.shape
    rows = _nearest_axis(oh, h, call.opts) * (w * c)
    cols = _nearest_axis(ow, w, call.opts) * c
    plan = io_plan(call, [0])
    table = add_table(plan, np.concatenate([rows, cols]))
    axes = (
        Axis(n, oh * ow * c, h * w * c),
        Axis(oh, ow * c, 1, Table(table)),
        Axis(ow, c, 1, Table(table, oh)),
    )
    plan.copies.append(Copy(1, 0, c, axes))
    return plan


@generator("tfl.resize_nearest_neighbor", supports=supported_if(plan_nearest))
def resize_nearest_neighbor(op: Operation, symbol: str) -> Kernel:
    """RESIZE_NEAREST_NEIGHBOR as a table-driven copy."""
    return build(plan_nearest(op), symbol)
