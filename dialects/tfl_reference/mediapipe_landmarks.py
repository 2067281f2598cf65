"""Reference kernels: MediaPipe's landmark custom ops (version 2, as the face models use them).

MediaPipe's face landmark model with attention crops feature maps around the lips and the
eyes and maps the landmarks it finds there back: `Landmarks2TransformMatrix` turns a set of
landmarks into a 4x4 crop matrix, `TransformTensorBilinear` samples a feature map through
it, and `TransformLandmarks` applies it to 2-D or 3-D landmarks. The semantics are those of
MediaPipe's CPU kernels (mediapipe/util/tflite/operations/*.cc, `v2` namespaces), including
where they compute in double before storing a float; options are flexbuffers maps, parsed
as TFLite's GPU delegate parses them (delegates/gpu/common/mediapipe/*.cc).

The models carry operator-code version 2, which the IR does not record: the version-1
forms (rank-4 inputs) are rejected with an error instead of being guessed at.
"""

from __future__ import annotations

import numpy as np
from flatbuffers import flexbuffers

from litec.dialects.tfl_reference.core import KernelCall, kernel

F32 = np.float32


def flexbuffer_options(call: KernelCall) -> dict:
    """A custom op's flexbuffers options map (empty when the op has none)."""
    raw = bytes.fromhex(call.opts.get("custom_options", "") or "")
    if not raw:
        return {}
    try:
        opts = flexbuffers.Loads(raw)
    except (ValueError, IndexError, KeyError) as e:
        raise call.error(f"custom options are not a flexbuffers map: {e}") from None
    if not isinstance(opts, dict):
        raise call.error("custom options are not a flexbuffers map")
    return opts


def _require_float32(call: KernelCall, *arrays: np.ndarray) -> None:
    if any(a.dtype != np.float32 for a in arrays) or call.out.dtype != np.float32:
        raise call.error("only float32 tensors are supported")


def _dot4(row: np.ndarray, a, b, c, d) -> np.ndarray:
    """MediaPipe's DotProduct(float4, float4), summed left to right in float32."""
    return ((row[0] * a + row[1] * b) + row[2] * c) + row[3] * d


def _matmul4(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A 4x4 float32 product accumulated over k in order, as MediaPipe's Mat4 `*=` does."""
    acc = np.zeros((4, 4), F32)
    for k in range(4):
        acc = acc + a[:, k : k + 1] * b[k : k + 1, :]
    return acc


# --------------------------------------------------------------- Landmarks2TransformMatrix


_L2TM_OPTIONS = {
    "subset_idxs": list,
    "left_rotation_idx": int,
    "right_rotation_idx": int,
    "target_rotation_radians": (int, float),
    "output_height": int,
    "output_width": int,
    "scale_x": (int, float),
    "scale_y": (int, float),
}
"""Landmarks2TransformMatrix v2 options and the Python types flexbuffers decodes them to."""


def _l2tm_params(call: KernelCall, n_landmarks: int) -> dict:
    """Checked version-2 options of Landmarks2TransformMatrix (as MediaPipe's Eval checks)."""
    opts = flexbuffer_options(call)
    missing = [k for k in _L2TM_OPTIONS if k not in opts]
    if missing:
        raise call.error(f"options lack {', '.join(missing)} (only version 2 is supported)")
    wrong = [k for k, kind in _L2TM_OPTIONS.items() if not isinstance(opts[k], kind)]
    if wrong or not all(isinstance(i, int) for i in opts["subset_idxs"]):
        raise call.error(f"options of the wrong type: {', '.join(wrong) or 'subset_idxs'}")
    p = {k: opts[k] for k in _L2TM_OPTIONS}
    if not p["subset_idxs"]:
        raise call.error("subset_idxs is empty")
    idxs = [p["left_rotation_idx"], p["right_rotation_idx"], *p["subset_idxs"]]
    if any(not 0 <= i < n_landmarks for i in idxs):
        raise call.error(f"a landmark index is outside [0, {n_landmarks})")
    for key in ("output_height", "output_width", "scale_x", "scale_y"):
        if p[key] <= 0:
            raise call.error(f"{key} must be positive, got {p[key]}")
    return p


def _rotation2(r: np.float32) -> np.ndarray:
    """The rows (cos, -sin), (sin, cos) of a 2-D rotation, in float32."""
    c, s = np.cos(r), np.sin(r)
    return np.array([[c, -s], [s, c]], F32)


def _rotate(m: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's Mat3 * float3 for (x, y, 1) with a pure rotation: float32, k in order."""
    return m[0, 0] * x + m[0, 1] * y, m[1, 0] * x + m[1, 1] * y


def landmarks_to_matrix(xyz: np.ndarray, p: dict) -> np.ndarray:
    """The 4x4 crop matrix of Landmarks2TransformMatrix v2 for landmarks (N, 3) float32."""
    left, right = xyz[p["left_rotation_idx"]], xyz[p["right_rotation_idx"]]
    angle = np.arctan2(right[1] - left[1], right[0] - left[0])
    rotation = F32(p["target_rotation_radians"]) - angle
    subset = xyz[np.asarray(p["subset_idxs"])]
    rx, ry = _rotate(_rotation2(rotation), subset[:, 0], subset[:, 1])
    crop_w, crop_h = rx.max() - rx.min(), ry.max() - ry.min()
    mid_x, mid_y = (rx.min() + rx.max()) / F32(2), (ry.min() + ry.max()) / F32(2)
    crop_x, crop_y = _rotate(_rotation2(-rotation), mid_x, mid_y)

    out_w, out_h = p["output_width"], p["output_height"]
    scale_x = F32(p["scale_x"]) * crop_w / F32(out_w)
    scale_y = F32(p["scale_y"]) * crop_h / F32(out_h)
    t_shift, t_rot, t_scale, t_shift2 = (np.eye(4, dtype=F32) for _ in range(4))
    t_shift[:2, 3] = crop_x, crop_y
    t_rot[:2, :2] = _rotation2(-rotation)
    t_scale[0, 0], t_scale[1, 1] = scale_x, scale_y
    t_shift2[:2, 3] = -1.0 * (out_w / 2.0), -1.0 * (out_h / 2.0)
    t = np.eye(4, dtype=F32)
    for step in (t_shift, t_rot, t_scale, t_shift2):
        t = _matmul4(t, step)
    return t


@kernel("CUSTOM:Landmarks2TransformMatrix")
def landmarks_to_transform_matrix(call: KernelCall, landmarks):
    """MediaPipe Landmarks2TransformMatrix v2: the crop matrix around a landmark subset.

    The crop is rotated so that the left and right rotation landmarks lie on a line at
    `target_rotation_radians`, fits the rotated subset's bounding box scaled by
    (scale_x, scale_y), and maps output pixels of an output_width x output_height crop
    to landmark coordinates.
    """
    _require_float32(call, landmarks)
    if landmarks.ndim != 3 or landmarks.shape[-1] != 3:
        raise call.error(f"landmarks must be (1, N, 3) (version 2), got {landmarks.shape}")
    xyz = landmarks.reshape(-1, 3)
    params = _l2tm_params(call, len(xyz))
    return landmarks_to_matrix(xyz, params).reshape(call.out.shape)


# --------------------------------------------------------------- TransformTensorBilinear


def _half_pixel_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two matrix rows, with v2's align-corners correction T -> S * T * A.

    MediaPipe adds x0 * 0.5 + x1 * 0.5 - 0.5 to the translation in double precision and
    stores the sum back into the float.
    """
    rows = matrix.reshape(-1)[:8].reshape(2, 4).astype(F32)
    r64 = rows.astype(np.float64)
    rows[:, 3] = (r64[:, 3] + ((r64[:, 0] * 0.5 + r64[:, 1] * 0.5) - 0.5)).astype(F32)
    return rows[0], rows[1]


def _lerp(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(1.0 - w) * a + w * b as MediaPipe evaluates it: the first product in double."""
    return ((1.0 - w.astype(np.float64)) * a + (w * b).astype(np.float64)).astype(F32)


@kernel("CUSTOM:TransformTensorBilinear")
def transform_tensor_bilinear(call: KernelCall, data, matrix):
    """MediaPipe TransformTensorBilinear v2: bilinear sampling of NHWC data through a matrix.

    Output pixel (x, y) samples the input at (T * (x + 0.5, y + 0.5, 0, 1)) - 0.5 (pixel
    centres); a sample outside [0, W-1] x [0, H-1] is 0, and taps beyond the edge read 0.
    Only batch 0 of the input is read.
    """
    _require_float32(call, data, matrix)
    if data.ndim != 4 or len(call.out.shape) != 4 or matrix.size < 8:
        raise call.error("expects NHWC data, a 4x4 matrix and an NHWC output")
    _, out_h, out_w, channels = call.out.shape
    _, in_h, in_w, in_c = data.shape
    if call.out.shape[0] != 1 or channels != in_c:
        raise call.error(f"output {call.out.shape} must be (1, H, W, {in_c})")
    x_row, y_row = _half_pixel_rows(matrix)
    oy, ox = np.meshgrid(np.arange(out_h, dtype=F32), np.arange(out_w, dtype=F32), indexing="ij")
    tx = _dot4(x_row, ox, oy, F32(0), F32(1))
    ty = _dot4(y_row, ox, oy, F32(0), F32(1))
    inside = (tx >= 0) & (tx <= in_w - 1) & (ty >= 0) & (ty <= in_h - 1)
    fx, fy = np.floor(tx), np.floor(ty)
    right, lower = tx - fx, ty - fy
    # Indices only matter where the sample is inside; elsewhere they may be anything.
    x0 = np.where(inside, fx, 0).astype(np.int64)
    y0 = np.where(inside, fy, 0).astype(np.int64)
    image = data[0]

    def tap(h: np.ndarray, w: np.ndarray) -> np.ndarray:
        ok = (h < in_h) & (w < in_w)
        return np.where(
            ok[..., None], image[np.minimum(h, in_h - 1), np.minimum(w, in_w - 1)], F32(0)
        )

    w1 = right[..., None]
    upper_row = _lerp(w1, tap(y0, x0), tap(y0, x0 + 1))
    lower_row = _lerp(w1, tap(y0 + 1, x0), tap(y0 + 1, x0 + 1))
    l1 = lower[..., None]
    result = (
        (l1 * lower_row).astype(np.float64) + (1.0 - l1.astype(np.float64)) * upper_row
    ).astype(F32)
    return np.where(inside[..., None], result, F32(0))[None]


# --------------------------------------------------------------- TransformLandmarks


@kernel("CUSTOM:TransformLandmarks")
def transform_landmarks(call: KernelCall, landmarks, matrix):
    """MediaPipe TransformLandmarks v2: (x, y) -> the matrix's first two rows applied to
    (x, y, 0, 1); z (for 3-D landmarks) passes through.

    Landmarks are (1, N, D) with D = 2 or 3, the dimension count version 2 takes from
    the output shape.
    """
    _require_float32(call, landmarks, matrix)
    if landmarks.ndim != 3 or matrix.size < 8:
        raise call.error(f"landmarks must be (1, N, D) (version 2), got {landmarks.shape}")
    dims = landmarks.shape[-1]
    if dims not in (2, 3) or landmarks.shape[0] != 1:
        raise call.error(f"landmarks must be (1, N, 2) or (1, N, 3), got {landmarks.shape}")
    rows = matrix.reshape(-1)[:8].reshape(2, 4)
    x, y = landmarks[..., 0], landmarks[..., 1]
    out = landmarks.copy()
    out[..., 0] = _dot4(rows[0], x, y, F32(0), F32(1))
    out[..., 1] = _dot4(rows[1], x, y, F32(0), F32(1))
    return out
