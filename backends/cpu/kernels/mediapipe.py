"""CPU kernels for MediaPipe's landmark custom ops (version 2, float32).

Semantics and options as the reference interpreter has them
(dialects/tfl_reference/mediapipe_landmarks.py, after MediaPipe's CPU kernels):

- `Landmarks2TransformMatrix`: scalar code. The landmark subset is a constant index
  table walked by one loop keeping the rotated bounding box in registers; the chain of
  4x4 products is multiplied out at compile time wherever an entry is a known 0 or 1, so
  only the entries that depend on the landmarks cost instructions.
- `TransformTensorBilinear`: per output pixel, the source position in float32 through the
  matrix (with v2's half-pixel correction, computed in double as MediaPipe does); pixels
  outside the input are 0, others interpolate their channels in 512-bit vectors, the two
  blends in double where MediaPipe computes in double.
- `TransformLandmarks`: each landmark's (x, y) through the matrix's first two rows, z
  copied.

sin and cos come from `math` ops, atan2 from LLVM's intrinsic (libm through LLVM); every
other operation is in MediaPipe's order.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, llvm, math
from xdsl.dialects.builtin import IndexType, f32, f64, i32
from xdsl.ir import Operation, SSAValue

from litec.backends.cpu.kernels.base import Kernel, generator
from litec.backends.cpu.kernels.movement import (
    KernelBuilder,
    Unsupported,
    add_table,
    checked_call,
    for_vectors,
    io_plan,
    lanes,
    supported_if,
    vector_of,
)
from litec.dialects.tfl_reference.core import KernelCall
from litec.dialects.tfl_reference.mediapipe_landmarks import _l2tm_params

Scalar = SSAValue | np.float32
"""A float32 value known at compile time (np.float32) or computed by the kernel."""


def _float32(call: KernelCall) -> KernelCall:
    if any(i is None or i.dtype != np.float32 for i in [*call.inputs, *call.outputs]):
        raise Unsupported("only float32 tensors are supported")
    return call


# --------------------------------------------------------------- Landmarks2TransformMatrix


def plan_landmarks_to_matrix(op: Operation) -> tuple[KernelCall, dict]:
    """The checked op and its version-2 options."""
    call = _float32(checked_call(op))
    shape = call.inputs[0].shape
    if len(shape) != 3 or shape[-1] != 3 or int(np.prod(call.out.shape)) != 16:
        raise Unsupported(f"landmarks must be (1, N, 3) (version 2), got {list(shape)}")
    return call, _l2tm_params(call, shape[0] * shape[1])


def _is_known(v: Scalar) -> bool:
    return not isinstance(v, SSAValue)


def _mul(kb: KernelBuilder, a: Scalar, b: Scalar) -> Scalar:
    """a * b, folded when a factor is known (0 times a finite value is 0)."""
    if _is_known(a) and _is_known(b):
        return np.float32(a * b)
    if not _is_known(b):
        return kb.mul(a, b) if not _is_known(a) else _mul(kb, b, a)
    if b == 0:
        return np.float32(0)
    return a if b == 1 else kb.mul(a, float(b))


def _add(kb: KernelBuilder, a: Scalar, b: Scalar) -> Scalar:
    """a + b, folded when a term is a known 0 or both are known."""
    if _is_known(a) and _is_known(b):
        return np.float32(a + b)
    if not _is_known(b):
        return kb.add(a, b) if not _is_known(a) else _add(kb, b, a)
    return a if b == 0 else kb.add(a, float(b))


def _matmul4(kb: KernelBuilder, a: list[list[Scalar]], b: list[list[Scalar]]):
    """MediaPipe's Mat4 product: each entry accumulated over k in order from 0."""
    out = []
    for i in range(4):
        row = []
        for j in range(4):
            acc: Scalar = np.float32(0)
            for k in range(4):
                acc = _add(kb, acc, _mul(kb, a[i][k], b[k][j]))
            row.append(acc)
        out.append(row)
    return out


def _eye() -> list[list[Scalar]]:
    return [[np.float32(i == j) for j in range(4)] for i in range(4)]


def _rotation(kb: KernelBuilder, angle: SSAValue) -> tuple[SSAValue, SSAValue]:
    """(cos, sin) of an angle."""
    return kb.emit(math.CosOp(angle)), kb.emit(math.SinOp(angle))


def _rotate(kb: KernelBuilder, cs, x: SSAValue, y: SSAValue) -> tuple[SSAValue, SSAValue]:
    """(cos·x + (-sin)·y, sin·x + cos·y) in float32, as MediaPipe's Mat3 * float3."""
    c, s = cs
    minus_s = kb.emit(arith.NegfOp(s))
    return kb.add(kb.mul(c, x), kb.mul(minus_s, y)), kb.add(kb.mul(s, x), kb.mul(c, y))


def _xy(kb: KernelBuilder, landmarks: SSAValue, index) -> tuple[SSAValue, SSAValue]:
    """x and y of landmark `index` (an int or an index value)."""
    base = kb.mul(kb.index(index), 3)
    return kb.load(landmarks, base), kb.load(landmarks, kb.add(base, 1))


def _bounding_box(kb: KernelBuilder, table: SSAValue, count: int, cs) -> list[SSAValue]:
    """[min x, max x, min y, max y] of the rotated subset (landmark indices in `table`)."""
    big = kb.const(np.finfo(np.float32).max, f32)
    small = kb.const(np.finfo(np.float32).min, f32)

    def step(j, lo_x, hi_x, lo_y, hi_y):
        index = kb.cast(kb.load(table, j), IndexType())
        rx, ry = _rotate(kb, cs, *_xy(kb, kb.args[0], index))
        return [kb.min(lo_x, rx), kb.max(hi_x, rx), kb.min(lo_y, ry), kb.max(hi_y, ry)]

    return kb.fold(0, count, [big, small, big, small], step)


@generator("tfl.custom:Landmarks2TransformMatrix", supports=supported_if(plan_landmarks_to_matrix))
def landmarks_to_transform_matrix(op: Operation, symbol: str) -> Kernel:
    """Landmarks2TransformMatrix v2: the 4x4 crop matrix around a landmark subset."""
    call, p = plan_landmarks_to_matrix(op)
    plan = io_plan(call, range(len(call.inputs)))
    table = add_table(plan, np.asarray(p["subset_idxs"]))
    kb = KernelBuilder(symbol, plan.types)
    landmarks, out = kb.args[0], kb.args[1]
    lx, ly = _xy(kb, landmarks, p["left_rotation_idx"])
    rx, ry = _xy(kb, landmarks, p["right_rotation_idx"])
    # math.atan2 has no lowering; LLVM's own intrinsic (atan2f from libm) is allowed here.
    angle = kb.emit(llvm.CallIntrinsicOp("llvm.atan2.f32", [kb.sub(ry, ly), kb.sub(rx, lx)], [f32]))
    rotation = kb.sub(kb.const(np.float32(p["target_rotation_radians"]), f32), angle)
    lo_x, hi_x, lo_y, hi_y = _bounding_box(
        kb, kb.args[table], len(p["subset_idxs"]), _rotation(kb, rotation)
    )
    crop_w, crop_h = kb.sub(hi_x, lo_x), kb.sub(hi_y, lo_y)
    mid_x, mid_y = (kb.div(kb.add(lo, hi), 2.0) for lo, hi in ((lo_x, hi_x), (lo_y, hi_y)))
    back = _rotation(kb, kb.emit(arith.NegfOp(rotation)))
    crop_x, crop_y = _rotate(kb, back, mid_x, mid_y)
    out_w, out_h = p["output_width"], p["output_height"]
    scale_x = kb.div(kb.mul(crop_w, float(np.float32(p["scale_x"]))), float(out_w))
    scale_y = kb.div(kb.mul(crop_h, float(np.float32(p["scale_y"]))), float(out_h))
    steps = [_eye() for _ in range(4)]
    steps[0][0][3], steps[0][1][3] = crop_x, crop_y
    c, s = back
    steps[1][0][0], steps[1][0][1] = c, kb.emit(arith.NegfOp(s))
    steps[1][1][0], steps[1][1][1] = s, c
    steps[2][0][0], steps[2][1][1] = scale_x, scale_y
    steps[3][0][3] = np.float32(-1.0 * (out_w / 2.0))
    steps[3][1][3] = np.float32(-1.0 * (out_h / 2.0))
    t = _eye()
    for step in steps:
        t = _matmul4(kb, t, step)
    for k, value in enumerate(v for row in t for v in row):
        kb.store(kb.const(value, f32) if _is_known(value) else value, out, k)
    return Kernel(kb.finish(), plan.bindings)


# --------------------------------------------------------------- TransformTensorBilinear


def plan_transform_tensor(op: Operation) -> KernelCall:
    """The checked op: NHWC data, a 4x4 matrix, a (1, H, W, C) output."""
    call = _float32(checked_call(op))
    data, matrix, out = call.inputs[0], call.inputs[1], call.out
    if len(data.shape) != 4 or len(out.shape) != 4 or int(np.prod(matrix.shape)) < 8:
        raise Unsupported("expects NHWC data, a 4x4 matrix and an NHWC output")
    if out.shape[0] != 1 or out.shape[3] != data.shape[3]:
        raise Unsupported(f"output {list(out.shape)} must be (1, H, W, {data.shape[3]})")
    return call


def _matrix_rows(kb: KernelBuilder, matrix: SSAValue) -> list[list[SSAValue]]:
    """The matrix's first two rows with v2's half-pixel correction of the translation:
    t += (m0 * 0.5 + m1 * 0.5) - 0.5, in double, stored back as float."""
    rows = [[kb.load(matrix, 4 * r + k) for k in range(4)] for r in range(2)]
    for row in rows:
        m0, m1, m3 = (kb.cast(row[k], f64) for k in (0, 1, 3))
        shift = kb.sub(kb.add(kb.mul(m0, 0.5), kb.mul(m1, 0.5)), 0.5)
        row[3] = kb.cast(kb.add(m3, shift), f32)
    return rows


def _dot4(kb: KernelBuilder, row: list[SSAValue], x: SSAValue, y: SSAValue) -> SSAValue:
    """MediaPipe's DotProduct(row, (x, y, 0, 1)), left to right in float32."""
    total = kb.add(kb.add(kb.mul(row[0], x), kb.mul(row[1], y)), kb.mul(row[2], 0.0))
    return kb.add(total, row[3])


def _lerp(kb: KernelBuilder, one_minus_w: SSAValue, w: SSAValue, a, b) -> SSAValue:
    """(1.0 - w) * a + w * b as MediaPipe evaluates it: the first product in double, the
    second in float; `one_minus_w` is (1.0 - w) in double, splatted."""
    first = kb.mul(one_minus_w, kb.cast(a, f64))
    return kb.cast(kb.add(first, kb.cast(kb.mul(w, b), f64)), f32)


@generator("tfl.custom:TransformTensorBilinear", supports=supported_if(plan_transform_tensor))
def transform_tensor_bilinear(op: Operation, symbol: str) -> Kernel:
    """TransformTensorBilinear v2: bilinear sampling of batch 0 through the matrix."""
    call = plan_transform_tensor(op)
    plan = io_plan(call, range(len(call.inputs)))
    kb = KernelBuilder(symbol, plan.types)
    out = kb.args[2]
    _, in_h, in_w, c = call.inputs[0].shape
    _, out_h, out_w, _ = call.out.shape
    x_row, y_row = _matrix_rows(kb, kb.args[1])
    width = lanes(f32)

    def pixel_row(oy):
        fy_out = kb.cast(kb.cast(oy, i32), f32)

        def pixel(ox):
            fx_out = kb.cast(kb.cast(ox, i32), f32)
            tx, ty = _dot4(kb, x_row, fx_out, fy_out), _dot4(kb, y_row, fx_out, fy_out)
            inside = [
                kb.cmp("oge", tx, 0.0),
                kb.cmp("ole", tx, float(in_w - 1)),
                kb.cmp("oge", ty, 0.0),
                kb.cmp("ole", ty, float(in_h - 1)),
            ]
            cond = inside[0]
            for more in inside[1:]:
                cond = kb.binary(arith.AndIOp, cond, more)
            base = kb.mul(kb.add(kb.mul(oy, out_w), ox), c)

            def sample():
                _sample(kb, call, tx, ty, base)

            def zeros():
                for_vectors(
                    kb,
                    c,
                    width,
                    lambda ch, w: kb.store(kb.const(0.0, vector_of(f32, w)), out, kb.add(base, ch)),
                )

            kb.branch(cond, sample, zeros)

        kb.repeat(out_w, pixel)

    kb.repeat(out_h, pixel_row)
    return Kernel(kb.finish(), plan.bindings)


def _sample(kb: KernelBuilder, call: KernelCall, tx: SSAValue, ty: SSAValue, base) -> None:
    """Interpolate the channels at (tx, ty), a point inside the input."""
    data, out = kb.args[0], kb.args[2]
    _, in_h, in_w, c = call.inputs[0].shape
    fx, fy = kb.emit(math.FloorOp(tx)), kb.emit(math.FloorOp(ty))
    x0 = kb.cast(kb.cast(fx, i32), IndexType())
    y0 = kb.cast(kb.cast(fy, i32), IndexType())
    right, lower = kb.sub(tx, fx), kb.sub(ty, fy)
    has_right = kb.cmp("slt", x0, in_w - 1)
    has_lower = kb.cmp("slt", y0, in_h - 1)
    x1, y1 = kb.min(kb.add(x0, 1), in_w - 1), kb.min(kb.add(y0, 1), in_h - 1)
    both = kb.binary(arith.AndIOp, has_right, has_lower)
    rows = [kb.mul(kb.mul(y, in_w), c) for y in (y0, y1)]
    cols = [kb.mul(x, c) for x in (x0, x1)]
    one_minus_right = kb.sub(kb.const(1.0, f64), kb.cast(right, f64))
    one_minus_lower = kb.sub(kb.const(1.0, f64), kb.cast(lower, f64))

    def chunk(ch, w):
        def tap(row, col, valid):
            v = kb.load(data, kb.add(kb.add(rows[row], cols[col]), ch), w)
            return v if valid is None else kb.select(valid, v, kb.const(0.0, v.type))

        r, lo = kb.splat(right, w), kb.splat(lower, w)
        r64, lo64 = kb.splat(one_minus_right, w), kb.splat(one_minus_lower, w)
        upper_row = _lerp(kb, r64, r, tap(0, 0, None), tap(0, 1, has_right))
        lower_row = _lerp(kb, r64, r, tap(1, 0, has_lower), tap(1, 1, both))
        first = kb.cast(kb.mul(lo, lower_row), f64)
        result = kb.cast(kb.add(first, kb.mul(lo64, kb.cast(upper_row, f64))), f32)
        kb.store(result, out, kb.add(base, ch))

    for_vectors(kb, c, lanes(f32), chunk)


# --------------------------------------------------------------- TransformLandmarks


def plan_transform_landmarks(op: Operation) -> KernelCall:
    """The checked op: (1, N, 2) or (1, N, 3) landmarks and a 4x4 matrix."""
    call = _float32(checked_call(op))
    shape, matrix = call.inputs[0].shape, call.inputs[1]
    if len(shape) != 3 or shape[0] != 1 or shape[-1] not in (2, 3):
        raise Unsupported(f"landmarks must be (1, N, 2) or (1, N, 3), got {list(shape)}")
    if int(np.prod(matrix.shape)) < 8 or call.out.shape != shape:
        raise Unsupported("expects a 4x4 matrix and an output shaped like the landmarks")
    return call


@generator("tfl.custom:TransformLandmarks", supports=supported_if(plan_transform_landmarks))
def transform_landmarks(op: Operation, symbol: str) -> Kernel:
    """TransformLandmarks v2: (x, y) through the matrix's first two rows; z copied."""
    call = plan_transform_landmarks(op)
    plan = io_plan(call, range(len(call.inputs)))
    kb = KernelBuilder(symbol, plan.types)
    landmarks, matrix, out = kb.args
    _, n, dims = call.inputs[0].shape
    rows = [[kb.load(matrix, 4 * r + k) for k in range(4)] for r in range(2)]

    def landmark(i):
        base = kb.mul(i, dims)
        x, y = kb.load(landmarks, base), kb.load(landmarks, kb.add(base, 1))
        kb.store(_dot4(kb, rows[0], x, y), out, base)
        kb.store(_dot4(kb, rows[1], x, y), out, kb.add(base, 1))
        if dims == 3:
            kb.store(kb.load(landmarks, kb.add(base, 2)), out, kb.add(base, 2))

    kb.repeat(n, landmark)
    return Kernel(kb.finish(), plan.bindings)
