"""MediaPipe's landmark custom ops, checked against TFLite through equivalent builtin chains.

TFLite cannot run Landmarks2TransformMatrix, TransformTensorBilinear or TransformLandmarks
(they live in MediaPipe's op resolver), so the oracle is the model rewritten with
`tflite_builder`: each custom op becomes a chain of TFLite builtins that computes the same
thing (coordinate math + BATCH_MATMUL, GATHER_ND and bilinear weights, ATAN2/SIN/COS and
reductions). litec runs the original model, TFLite the rewritten one. Checked that way:
- each op alone on seeded inputs (tiny models);
- each op inside face_landmark_with_attention, fed the tensors TFLite computed for its
  inputs (needs no other litec kernel);
- the whole model, and its custom-op-free part pruned out, once every builtin kernel it
  uses is registered.
Unit tests with hand-derived expectations pin the geometry (identity crop, 2x2 averaging,
translation, the crop matrix of an axis-aligned and of a rotated landmark set).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import model_path
from flatbuffers import flexbuffers
from harness import compare_ops, seeded_inputs
from model_rewrite import F32, I32, Graph, op_of, rewrite, tensor_of
from oracle import run_oracle
from tflite_builder import Op, Tensor, build_model
from zoo import assert_close, assert_ops_match, check_model

from litec.dialects.tfl_reference import KERNELS, Interpreter
from litec.dialects.tfl_reference.core import KernelCall, TensorInfo
from litec.ir.diagnostics import LitecError
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import ModelDesc, OperatorDesc, read_model, read_model_bytes

FACE = "face_landmark_with_attention.tflite"


# ------------------------------------------------------------ rewriting into builtins


def transform_landmarks_ops(g: Graph, landmarks: int, matrix: int, out: int) -> None:
    """TransformLandmarks v2: (x, y, 0, 1) @ matrix^T, first two columns; z passes."""
    _, n, dims = g.shape(landmarks)
    xy = g.slice(landmarks, (0, 0, 0), (1, n, 2)) if dims == 3 else landmarks
    zero_one = g.const(np.tile([0, 1], (1, n, 1)))
    homogeneous = g.op("CONCATENATION", [xy, zero_one], (1, n, 4), {"axis": 2})
    moved = g.op("BATCH_MATMUL", [homogeneous, matrix], (1, n, 4), {"adj_y": True})
    if dims == 2:
        g.slice(moved, (0, 0, 0), (1, n, 2), out=out)
        return
    z = g.slice(landmarks, (0, 0, 2), (1, n, 1))
    xy_moved = g.slice(moved, (0, 0, 0), (1, n, 2))
    g.op("CONCATENATION", [xy_moved, z], (1, n, 3), {"axis": 2}, out=out)


def transform_tensor_bilinear_ops(g: Graph, data: int, matrix: int, out: int) -> None:
    """TransformTensorBilinear v2: sample at T' (x, y, 0, 1), bilinearly.

    T' is T with MediaPipe's pixel-centre correction x0 / 2 + x1 / 2 - 1/2 added to its
    translation; BATCH_MATMUL then sums the products in the kernel's own order, so both
    sample at (nearly) the same float positions.
    """
    _, h, w, c = g.shape(data)
    _, out_h, out_w, _ = g.shape(out)
    p = out_h * out_w
    rows = g.reshape(matrix, (4, 4))
    halves = g.binary("MUL", g.slice(rows, (0, 0), (2, 2)), g.const([0.5]))
    both = g.binary("ADD", g.slice(halves, (0, 0), (2, 1)), g.slice(halves, (0, 1), (2, 1)))
    shift = g.binary("SUB", both, g.const([0.5]))
    shift_4x4 = g.op("PAD", [shift, g.const([[0, 2], [3, 0]], I32)], (4, 4))
    corrected = g.reshape(g.binary("ADD", rows, shift_4x4), (1, 4, 4))
    oy, ox = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    coords = np.stack([ox, oy, 0 * ox, 1 + 0 * ox], -1).reshape(1, p, 4)
    moved = g.op("BATCH_MATMUL", [g.const(coords), corrected], (1, p, 4), {"adj_y": True})
    xy = g.slice(moved, (0, 0, 0), (1, p, 2))
    below = g.binary("LESS", xy, g.const([0.0]), dtype=np.bool_)
    above = g.binary("GREATER", xy, g.const([[[w - 1, h - 1]]]), dtype=np.bool_)
    outside = g.unary("CAST", g.binary("LOGICAL_OR", below, above, dtype=np.bool_))
    any_outside = g.op("REDUCE_MAX", [outside, g.const([2], I32)], (1, p, 1), {"keep_dims": True})
    one = g.const([1.0])
    inside = g.binary("SUB", one, any_outside)
    base = g.unary("FLOOR", xy)
    frac = g.binary("SUB", xy, base)
    xy0 = g.unary("CAST", base, dtype=I32)
    yx0 = g.op("GATHER", [xy0, g.const([1, 0], I32)], (1, p, 2), {"axis": 2}, dtype=I32)
    image = g.reshape(data, (h, w, c))

    def tap(dy: int, dx: int) -> int:
        idx = g.binary("ADD", yx0, g.const([[[dy, dx]]], I32), dtype=I32)
        idx = g.binary("MAXIMUM", idx, g.const([0], I32), dtype=I32)
        idx = g.binary("MINIMUM", idx, g.const([[[h - 1, w - 1]]], I32), dtype=I32)
        return g.op("GATHER_ND", [image, idx], (1, p, c))

    def lerp(t: int, a: int, b: int) -> int:
        keep = g.binary("MUL", a, g.binary("SUB", one, t))
        return g.binary("ADD", keep, g.binary("MUL", b, t))

    fx = g.slice(frac, (0, 0, 0), (1, p, 1))
    fy = g.slice(frac, (0, 0, 1), (1, p, 1))
    upper = lerp(fx, tap(0, 0), tap(0, 1))
    lower = lerp(fx, tap(1, 0), tap(1, 1))
    sampled = g.binary("MUL", lerp(fy, upper, lower), inside)
    g.reshape(sampled, (1, out_h, out_w, c), out=out)


def landmarks_to_matrix_ops(g: Graph, landmarks: int, out: int, p: dict) -> None:
    """Landmarks2TransformMatrix v2, written out: rotation, rotated bounding box, matrix."""
    n = g.shape(landmarks)[1]
    xy = g.reshape(g.slice(landmarks, (0, 0, 0), (1, n, 2)), (n, 2))

    def pick(idxs) -> int:
        return g.op("GATHER", [xy, g.const(idxs, I32)], (len(idxs), 2), {"axis": 0})

    def column(t: int, k: int) -> int:
        return g.slice(t, (0, k), (g.shape(t)[0], 1))

    def reduce(builtin: str, t: int) -> int:
        return g.op(builtin, [t, g.const([0], I32)], (1, 1), {"keep_dims": True})

    def mul(a: int, b: int) -> int:
        return g.binary("MUL", a, b)

    def add(a: int, b: int) -> int:
        return g.binary("ADD", a, b)

    def sub(a: int, b: int) -> int:
        return g.binary("SUB", a, b)

    ends = pick([p["left_rotation_idx"], p["right_rotation_idx"]])
    d = sub(g.slice(ends, (1, 0), (1, 2)), g.slice(ends, (0, 0), (1, 2)))
    angle = g.binary("ATAN2", column(d, 1), column(d, 0))
    rotation = sub(g.const([[p["target_rotation_radians"]]]), angle)
    c, s = g.unary("COS", rotation), g.unary("SIN", rotation)
    pts = pick(p["subset_idxs"])
    px, py = column(pts, 0), column(pts, 1)
    rx, ry = sub(mul(c, px), mul(s, py)), add(mul(s, px), mul(c, py))
    lo_x, hi_x, lo_y, hi_y = (reduce(b, t) for t in (rx, ry) for b in ("REDUCE_MIN", "REDUCE_MAX"))
    half = g.const([[0.5]])
    mid_x, mid_y = mul(add(lo_x, hi_x), half), mul(add(lo_y, hi_y), half)
    crop_x, crop_y = add(mul(c, mid_x), mul(s, mid_y)), sub(mul(c, mid_y), mul(s, mid_x))
    out_w, out_h = p["output_width"], p["output_height"]
    scale_x = mul(sub(hi_x, lo_x), g.const([[p["scale_x"] / out_w]]))
    scale_y = mul(sub(hi_y, lo_y), g.const([[p["scale_y"] / out_h]]))
    a, b = mul(c, scale_x), mul(s, scale_y)
    e, f = mul(s, scale_x), mul(c, scale_y)
    shift_x, shift_y = g.const([[-out_w / 2]]), g.const([[-out_h / 2]])
    tx = add(add(mul(a, shift_x), mul(b, shift_y)), crop_x)
    ty = add(sub(mul(f, shift_y), mul(e, shift_x)), crop_y)
    zero, one = g.const([[0.0]]), g.const([[1.0]])
    minus_e = mul(e, g.const([[-1.0]]))
    entries = [a, b, zero, tx, minus_e, f, zero, ty, zero, zero, one, zero, zero, zero, zero, one]
    flat = g.op("CONCATENATION", entries, (1, 16), {"axis": 1})
    g.reshape(flat, (1, 4, 4), out=out)


def _landmarks_to_matrix(g: Graph, op: OperatorDesc) -> None:
    params = flexbuffers.Loads(op.custom_options)
    landmarks_to_matrix_ops(g, op.inputs[0], op.outputs[0], params)


LANDMARK_OPS = {
    "Landmarks2TransformMatrix": _landmarks_to_matrix,
    "TransformTensorBilinear": lambda g, op: transform_tensor_bilinear_ops(
        g, *op.inputs, op.outputs[0]
    ),
    "TransformLandmarks": lambda g, op: transform_landmarks_ops(g, *op.inputs, op.outputs[0]),
}
"""Each landmark custom op's builtin chain."""


def rewrite_landmark_ops(model: ModelDesc) -> bytes:
    """The model with each landmark custom op replaced by its builtin chain."""
    return rewrite(model, LANDMARK_OPS)


# ------------------------------------------------------------ one op, tiny models


def single_op_model(code: str, options: dict | None, in_shapes, out_shape) -> bytes:
    """A model holding one version-2 custom op with flexbuffers `options`."""
    tensors = [Tensor(f"in{i}", s) for i, s in enumerate(in_shapes)]
    tensors.append(Tensor("out", out_shape))
    n = len(in_shapes)
    raw = flexbuffers.Dumps(options) if options else b""
    op = Op("CUSTOM", list(range(n)), [n], custom_code=code, custom_options=raw, version=2)
    return build_model(tensors, [op], list(range(n)), [n])


def run_both(data: bytes, inputs: list[np.ndarray], tmp_path) -> tuple[np.ndarray, np.ndarray]:
    """(litec on the custom-op model, TFLite on its builtin rewrite) for the same inputs."""
    model = read_model_bytes(data, "single_op.tflite")
    ours = Interpreter(import_model(model)).run(inputs)
    path = tmp_path / "rewritten.tflite"
    path.write_bytes(rewrite_landmark_ops(model))
    ref = run_oracle(path, inputs)
    return next(iter(ours.values())), ref["out0"]


def _crop_matrix(rng, scale: float, centre, out_hw) -> np.ndarray:
    """A 4x4 crop matrix: random rotation, `scale`, the output's middle mapped to `centre`."""
    angle = rng.uniform(-np.pi, np.pi)
    m = np.eye(4)
    m[:2, :2] = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m[:2, 3] = np.asarray(centre) - m[:2, :2] @ (np.array(out_hw[::-1]) / 2)
    return m.astype(F32)[None]


@pytest.mark.parametrize("dims", [2, 3])
def test_transform_landmarks_matches_builtins(dims, tmp_path):
    rng = np.random.default_rng(dims)
    landmarks = rng.uniform(-20, 20, (1, 37, dims)).astype(F32)
    matrix = rng.uniform(-3, 3, (1, 4, 4)).astype(F32)
    data = single_op_model("TransformLandmarks", None, [(1, 37, dims), (1, 4, 4)], (1, 37, dims))
    ours, ref = run_both(data, [landmarks, matrix], tmp_path)
    assert_close("transform_landmarks", ours, ref)


@pytest.mark.parametrize("seed", range(4))
def test_transform_tensor_bilinear_matches_builtins(seed, tmp_path):
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1, 1, (1, 13, 11, 5)).astype(F32)
    # A 7 x 9 crop, scaled up, around a point of the 11 x 13 image: it straddles the border,
    # and samples outside must read 0.
    centre = rng.uniform(0, 11), rng.uniform(0, 13)
    matrix = _crop_matrix(rng, rng.uniform(1.2, 1.6), centre, (9, 7))
    options = {"output_height": 9, "output_width": 7}
    data = single_op_model(
        "TransformTensorBilinear", options, [(1, 13, 11, 5), (1, 4, 4)], (1, 9, 7, 5)
    )
    ours, ref = run_both(data, [image, matrix], tmp_path)
    assert_close("transform_tensor_bilinear", ours, ref)
    assert (ours == 0).all(axis=-1).any() and not (ours == 0).all()


def _l2tm_options(rng, n: int) -> dict:
    return {
        "left_rotation_idx": 3,
        "right_rotation_idx": 11,
        "subset_idxs": [int(i) for i in rng.choice(n, 9, replace=False)],
        "target_rotation_radians": float(rng.uniform(-1, 1)),
        "output_height": 16,
        "output_width": 12,
        "scale_x": 1.5,
        "scale_y": 1.25,
    }


@pytest.mark.parametrize("seed", range(4))
def test_landmarks_to_transform_matrix_matches_builtins(seed, tmp_path):
    rng = np.random.default_rng(seed)
    landmarks = rng.uniform(0, 48, (1, 20, 3)).astype(F32)
    data = single_op_model(
        "Landmarks2TransformMatrix", _l2tm_options(rng, 20), [(1, 20, 3)], (1, 4, 4)
    )
    ours, ref = run_both(data, [landmarks], tmp_path)
    assert_close("landmarks_to_transform_matrix", ours, ref)


# ------------------------------------------------------------ hand-derived expectations


def _call(code: str, options: dict | None, inputs: list[np.ndarray], out_shape) -> KernelCall:
    opts = {"custom_code": code}
    if options:
        opts["custom_options"] = flexbuffers.Dumps(options).hex()
    return KernelCall(
        builtin=f"CUSTOM:{code}",
        opts=opts,
        inputs=[TensorInfo(a.shape, a.dtype) for a in inputs],
        outputs=[TensorInfo(tuple(out_shape), np.dtype(F32))],
    )


def bilinear(image: np.ndarray, matrix: np.ndarray, out_hw) -> np.ndarray:
    call = _call("TransformTensorBilinear", None, [image, matrix], (1, *out_hw, image.shape[-1]))
    return KERNELS["CUSTOM:TransformTensorBilinear"](call, image, matrix)


def _image(h=6, w=8, c=3) -> np.ndarray:
    return np.arange(h * w * c, dtype=F32).reshape(1, h, w, c)


def test_bilinear_identity_is_the_plain_crop():
    image = _image()
    out = bilinear(image, np.eye(4, dtype=F32)[None], (4, 5))
    np.testing.assert_array_equal(out, image[:, :4, :5])


def test_bilinear_integer_shift_crops_and_pads_with_zero():
    image = _image()
    m = np.eye(4, dtype=F32)
    m[:2, 3] = 2, 3  # x + 2, y + 3
    out = bilinear(image, m[None], (5, 7))
    np.testing.assert_array_equal(out[:, :3, :6], image[:, 3:6, 2:8])
    assert (out[:, 3:] == 0).all() and (out[:, :, 6:] == 0).all()


def test_bilinear_half_scale_averages_2x2_blocks():
    # With pixel centres, x_in + .5 = 2 (x_out + .5): sample 2x + .5, between 2x and 2x + 1.
    image = _image()
    m = np.diag([2, 2, 1, 1]).astype(F32)[None]
    out = bilinear(image, m, (3, 4))
    blocks = image.reshape(1, 3, 2, 4, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(out, blocks, rtol=1e-6)


def bilinear_loop(image: np.ndarray, matrix: np.ndarray, out_hw) -> np.ndarray:
    """MediaPipe's TransformTensorBilinearV2 transcribed loop by loop: float32 where the C++
    has float, float64 where it has double (its 0.5 and 1.0 literals)."""
    f, d = np.float32, np.float64
    _, h, w, c = image.shape
    m = [f(v) for v in matrix.reshape(-1)[:8]]
    rows = [m[0:4], m[4:8]]
    for r in rows:
        r[3] = f(d(r[3]) + (d(r[0]) * 0.5 + d(r[1]) * 0.5 - 0.5))
    out = np.zeros((1, *out_hw, c), f)

    def read(y: int, x: int) -> np.ndarray:
        return image[0, y, x] if y < h and x < w else np.zeros(c, f)

    def lerp(t, a, b) -> np.ndarray:
        return ((1.0 - d(t)) * a.astype(d) + (t * b).astype(d)).astype(f)

    for oy in range(out_hw[0]):
        for ox in range(out_hw[1]):
            tx, ty = (((r[0] * f(ox) + r[1] * f(oy)) + r[2] * f(0)) + r[3] * f(1) for r in rows)
            if tx < 0.0 or tx > w - 1 or ty < 0.0 or ty > h - 1:
                continue
            x0, y0 = int(np.floor(tx)), int(np.floor(ty))
            upper = lerp(tx - f(x0), read(y0, x0), read(y0, x0 + 1))
            lower = lerp(tx - f(x0), read(y0 + 1, x0), read(y0 + 1, x0 + 1))
            lc = ty - f(y0)
            out[0, oy, ox] = ((lc * lower).astype(d) + (1.0 - d(lc)) * upper.astype(d)).astype(f)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_bilinear_is_bit_exact_with_the_transcribed_loop(seed):
    rng = np.random.default_rng(seed)
    image = rng.uniform(-4, 4, (1, 10, 9, 3)).astype(F32)
    matrix = _crop_matrix(rng, rng.uniform(0.5, 1.6), rng.uniform(0, 9, 2), (8, 7))
    np.testing.assert_array_equal(
        bilinear(image, matrix, (8, 7)), bilinear_loop(image, matrix, (8, 7))
    )
    # The whole image through the identity: the last row and column sample exactly on the
    # edge, where the taps beyond it read 0 with weight 0.
    eye = np.eye(4, dtype=F32)[None]
    np.testing.assert_array_equal(bilinear(image, eye, (10, 9)), bilinear_loop(image, eye, (10, 9)))


def test_transform_landmarks_translate_and_scale():
    m = np.eye(4, dtype=F32)
    m[0, 0], m[1, 1], m[:2, 3] = 2, 3, (10, -1)
    pts = np.array([[[0, 0, 7], [1, 1, 8], [-2, 4, 9]]], F32)
    call = _call("TransformLandmarks", None, [pts, m[None]], pts.shape)
    out = KERNELS["CUSTOM:TransformLandmarks"](call, pts, m[None])
    np.testing.assert_array_equal(out, [[[10, -1, 7], [12, 2, 8], [6, 11, 9]]])


def _landmarks(points: dict[int, tuple[float, float]], n: int = 8) -> np.ndarray:
    xyz = np.zeros((1, n, 3), F32)
    for i, (x, y) in points.items():
        xyz[0, i, :2] = x, y
    return xyz


def l2tm(landmarks: np.ndarray, **options) -> np.ndarray:
    base = {
        "left_rotation_idx": 0,
        "right_rotation_idx": 1,
        "subset_idxs": [2, 3, 4],
        "target_rotation_radians": 0.0,
        "output_height": 8,
        "output_width": 16,
        "scale_x": 1.0,
        "scale_y": 1.0,
    }
    call = _call("Landmarks2TransformMatrix", base | options, [landmarks], (1, 4, 4))
    return KERNELS["CUSTOM:Landmarks2TransformMatrix"](call, landmarks)


def test_landmarks_matrix_axis_aligned_box():
    # Level eyes (0,0)-(1,0): no rotation. Subset box x 2..10, y 4..8: centre (6, 6), size
    # 8 x 4 on a 16 x 8 crop -> scale .5 both ways; translation = centre - scale * (8, 4).
    xyz = _landmarks({1: (1, 0), 2: (2, 4), 3: (10, 8), 4: (5, 5)})
    expected = np.array([[0.5, 0, 0, 2], [0, 0.5, 0, 4], [0, 0, 1, 0], [0, 0, 0, 1]], F32)
    np.testing.assert_array_equal(l2tm(xyz)[0], expected)


def test_landmarks_matrix_rotated_box():
    # Eyes (0,0)-(0,1): rotation -pi/2 maps (x, y) -> (y, -x): box x 4..8, y -10..-2, centre
    # rotated back (6, 6), size 4 x 8 -> scales .25, 1; matrix R(pi/2) S, translation
    # (6, 6) + R(pi/2) S (-8, -4) = (10, 4).
    xyz = _landmarks({1: (0, 1), 2: (2, 4), 3: (10, 8), 4: (5, 5)})
    expected = np.array([[0, -1, 0, 10], [0.25, 0, 0, 4], [0, 0, 1, 0], [0, 0, 0, 1]], F32)
    np.testing.assert_allclose(l2tm(xyz)[0], expected, atol=1e-6)


def test_landmarks_matrix_target_rotation_and_scale():
    # The same box with level eyes but target rotation pi/2 is the rotated case mirrored;
    # scale_x = 2 doubles the first column.
    xyz = _landmarks({1: (1, 0), 2: (2, 4), 3: (10, 8), 4: (5, 5)})
    m = l2tm(xyz, target_rotation_radians=np.pi / 2, scale_x=2.0)[0]
    # rotation +pi/2: (x, y) -> (-y, x): box x -8..-4, y 2..10, size 4 x 8, centre (6, 6);
    # matrix R(-pi/2) diag(.5, 1), translation (6, 6) + R(-pi/2) (-4, -4) = (2, 10).
    expected = np.array([[0, 1, 0, 2], [-0.5, 0, 0, 10], [0, 0, 1, 0], [0, 0, 0, 1]], F32)
    np.testing.assert_allclose(m, expected, atol=1e-6)


def test_matrix_then_bilinear_samples_the_box():
    # The crop matrix of a box, fed to TransformTensorBilinear, samples inside that box.
    image = np.zeros((1, 12, 20, 1), F32)
    image[0, 4:9, 2:11] = 1  # the box x 2..10, y 4..8
    xyz = _landmarks({1: (1, 0), 2: (2, 4), 3: (10, 8), 4: (5, 5)})
    out = bilinear(image, l2tm(xyz), (8, 16))
    assert out.min() > 0.4 and np.isclose(out[0, 2:6, 2:14].min(), 1)


@pytest.mark.parametrize(
    ("code", "options", "shapes", "message"),
    [
        ("TransformLandmarks", None, [(1, 1, 4, 2), (1, 4, 4)], "version 2"),
        ("TransformLandmarks", None, [(1, 4, 5), (1, 4, 4)], "(1, N, 2) or (1, N, 3)"),
        ("Landmarks2TransformMatrix", {"subset": [1, 2]}, [(1, 8, 3)], "only version 2"),
        ("Landmarks2TransformMatrix", None, [(1, 1, 1, 24)], "version 2"),
    ],
)
def test_unsupported_forms_are_errors(code, options, shapes, message):
    arrays = [np.zeros(s, F32) for s in shapes]
    call = _call(code, options, arrays, shapes[0])
    with pytest.raises(LitecError, match=re.escape(message)):
        KERNELS[f"CUSTOM:{code}"](call, *arrays)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"subset_idxs": [2, 8]}, "outside [0, 8)"),
        ({"subset_idxs": []}, "empty"),
        ({"scale_x": "1.5"}, "wrong type: scale_x"),
        ({"output_width": 0}, "output_width must be positive"),
    ],
)
def test_bad_matrix_options_are_errors(options, message):
    with pytest.raises(LitecError, match=re.escape(message)):
        l2tm(_landmarks({}), **options)


# ------------------------------------------------------------ the face model


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    """The model, its module, its builtin rewrite's path, inputs, TFLite's tensors of it."""
    model = read_model(model_path(FACE))
    path = tmp_path_factory.mktemp("face") / FACE
    path.write_bytes(rewrite_landmark_ops(model))
    module = import_model(model)
    inputs = seeded_inputs(module)
    return model, module, path, inputs, run_oracle(path, inputs, all_tensors=True)


def test_face_model_custom_ops_match_builtins_op_by_op(face):
    """Each custom op alone on the tensors TFLite computed for its inputs (harness.compare_ops)."""
    rewritten = face[2]
    kernels = {f"CUSTOM:{code}" for code in LANDMARK_OPS}
    results = compare_ops(model_path(FACE), builtins=kernels, oracle_path=rewritten)
    assert_ops_match(results, {f"CUSTOM '{code}'" for code in LANDMARK_OPS}, 11)


def test_face_model_crops_lie_inside_the_feature_map(face):
    # A sanity check that the comparison above samples real data, not only zeros.
    model, _, _, _, tensors = face
    for op in model.main.operators:
        if op.custom_code == "TransformTensorBilinear":
            assert np.count_nonzero(tensors[f"t{op.outputs[0]}"]) > 0


def test_face_model_whole_matches_builtin_rewrite(face):
    _, module, path, inputs, _ = face
    ours = Interpreter(module).run(inputs)
    ref = run_oracle(path, inputs)
    for i, (name, arr) in enumerate(ours.items()):
        assert_close(name, arr, ref[f"out{i}"])


def prune(model: ModelDesc, outputs: list[str]) -> bytes:
    """The model cut down to the ops the named outputs need (a model TFLite runs alone)."""
    sg = model.main
    by_name = {t.name: t.index for t in sg.tensors}
    producer = {t: op for op in sg.operators for t in op.outputs}
    needed, todo = set(), [by_name[n] for n in outputs]
    while todo:
        op = producer.get(todo.pop())
        if op is None or op.index in needed:
            continue
        needed.add(op.index)
        todo.extend(t for t in op.inputs if t >= 0)
    g = Graph([tensor_of(t) for t in sg.tensors])
    g.ops = [op_of(op) for op in sg.operators if op.index in needed]
    return g.build(sg.inputs, [by_name[n] for n in outputs])


def test_face_model_custom_op_free_outputs(tmp_path):
    model = read_model(model_path(FACE))
    data = prune(model, ["output_mesh_identity", "conv_faceflag"])
    pruned = read_model_bytes(data, "pruned.tflite")
    assert not any(op.custom_code for op in pruned.main.operators)
    path = tmp_path / "pruned.tflite"
    path.write_bytes(data)
    check_model(path)
