"""CPU kernels for data movement, pooling, resizing and MediaPipe's landmark ops, run natively
against the reference interpreter (float within the tolerance, everything else bit-exact).

Every op of these builtins in the corpus and MediaPipe models (fed the reference
interpreter's own tensors), synthetic models for what the real ones do not reach (every
dtype, strided-slice masks, odd SAME padding, every resize mode, run-time GATHER
indices), and the compile-time pieces (copy plans, support checks) without a compiler.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path
from cpu_kernel_check import check_model_ops
from test_ref_pool_reduce import POOLS, _pool_out
from test_ref_shape import RESIZE_MODES, STRIDED_SLICES, Model, numpy_index, tensor
from zoo import const, write_model

import litec
from litec.backends.cpu.kernels import mediapipe, pooling, resize  # noqa: F401 (registers)
from litec.backends.cpu.kernels.base import GENERATORS
from litec.backends.cpu.kernels.movement import Axis, Copy, plan_pad, vector_pieces

BUILTINS = (
    "RESHAPE",
    "SQUEEZE",
    "EXPAND_DIMS",
    "DENSIFY",
    "TRANSPOSE",
    "CONCATENATION",
    "PACK",
    "UNPACK",
    "SPLIT",
    "SLICE",
    "STRIDED_SLICE",
    "GATHER",
    "PAD",
    "PADV2",
    "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR",
    "DEPTH_TO_SPACE",
    "SPACE_TO_DEPTH",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "CUSTOM:Landmarks2TransformMatrix",
    "CUSTOM:TransformTensorBilinear",
    "CUSTOM:TransformLandmarks",
)
"""The builtins whose kernels these tests check."""

LANDMARK_OPS = {b for b in BUILTINS if b.startswith("CUSTOM:")}

SLOW_MODELS = {  # model -> how many ops of ours its @main holds
    "opcov_cnn_fp32.tflite": 6,
    "tiny_transformer_int8.tflite": 16,
    "face_landmark_with_attention.tflite": 50,
    "lstm_fp32.tflite": 1,
    "lstm_int8.tflite": 1,
    "lstm_keras3_while_fp32.tflite": 2,
    "mobilenet_v1_int8.tflite": 1,
    "tiny_transformer_fp32.tflite": 16,
    "face_detection_full_range_sparse.tflite": 96,
    "face_detection_short_range.tflite": 20,
    "face_landmark.tflite": 9,
    "hand_landmark_lite.tflite": 1,
    "hand_recrop.tflite": 11,
    "iris_landmark.tflite": 9,
    "palm_detection_full.tflite": 15,
    "palm_detection_lite.tflite": 15,
    "pose_detection.tflite": 59,
    "pose_landmark_full.tflite": 15,
    "selfie_segmentation.tflite": 13,
    "selfie_segmentation_landscape.tflite": 3,
}


# ----------------------------------------------------------------------------- real models


def assert_ops_match(path, expected: int, builtins=BUILTINS) -> None:
    """`expected` ops of `builtins` in the model's @main, each matching the reference."""
    results = check_model_ops(path, set(builtins))
    bad = [
        (i, b, [str(d) for d in diffs]) for i, b, diffs in results if not all(d.ok for d in diffs)
    ]
    assert not bad, bad
    assert len(results) == expected


def test_opcov_int8_ops():
    """Pooling, int8 resize and concatenation of the op-coverage CNN."""
    assert_ops_match(model_path("opcov_cnn_int8.tflite"), 6)


def test_landmark_ops_of_face_landmark_with_attention():
    """The 11 MediaPipe landmark ops, on landmarks the model computes."""
    path = model_path("face_landmark_with_attention.tflite")
    assert_ops_match(path, 11, LANDMARK_OPS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_MODELS))
def test_model_ops_slow(name):
    assert_ops_match(model_path(name), SLOW_MODELS[name])


# ----------------------------------------------------------------------------- synthetic models


def dtypes(first: str, *others: str) -> list:
    """Parameters: the default run checks the first dtype, the slow run the others too."""
    return [first, *(pytest.param(d, marks=pytest.mark.slow) for d in others)]


def check(model: Model, tmp_path, name: str) -> None:
    """Every op of a synthetic model, native against the reference interpreter."""
    path = write_model(tmp_path / f"{name}.tflite", model.tensors, model.ops, model.inputs)
    assert_ops_match(path, len(model.ops))


@pytest.mark.parametrize("dtype", dtypes("INT8", "FLOAT32", "INT16"))
def test_transposes_and_blocks(dtype, tmp_path):
    m = Model((2, 3, 4, 5), dtype)
    for perm in ([0, 2, 3, 1], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 2, 3]):
        m.op("TRANSPOSE", ["x", perm], [np.transpose(m.x, perm).shape])
    (e,) = m.op("EXPAND_DIMS", ["x", [-2]], [(2, 3, 4, 1, 5)])
    m.op("SQUEEZE", [e], [(2, 3, 4, 5)], {"squeeze_dims": [3]})
    (r,) = m.op("RESHAPE", ["x", [2, 3, 5, 4]], [(2, 3, 5, 4)])
    m.op("DEPTH_TO_SPACE", [r], [(2, 6, 10, 1)], {"block_size": 2})
    (s,) = m.op("RESHAPE", ["x", [2, 2, 6, 5]], [(2, 2, 6, 5)])
    m.op("SPACE_TO_DEPTH", [s], [(2, 1, 3, 20)], {"block_size": 2})
    check(m, tmp_path, f"transposes_{dtype}")


@pytest.mark.parametrize("dtype", dtypes("FLOAT32", "INT8", "UINT8", "INT16"))
def test_joins_and_splits(dtype, tmp_path):
    m = Model((2, 3, 4, 6), dtype)
    m.inputs.append("x2")
    m.tensors.append(tensor("x2", (2, 3, 4, 6), dtype))
    for axis in (0, 2, -1):
        shape = list(m.x.shape)
        shape[axis] *= 2
        opts = {"axis": axis, "fused_activation_function": "NONE"}
        m.op("CONCATENATION", ["x", "x2"], [shape], opts)
    for axis in (0, 3, -2):
        shape = list(m.x.shape)
        shape.insert(axis % 5, 2)
        m.op("PACK", ["x", "x2"], [shape], {"values_count": 2, "axis": axis})
    m.op("UNPACK", ["x"], [(2, 4, 6)] * 3, {"num": 3, "axis": 1})
    m.op("UNPACK", ["x"], [(2, 3, 4)] * 6, {"num": 6, "axis": -1})
    m.op("SPLIT", [[3], "x"], [(2, 3, 4, 2)] * 3, {"num_splits": 3})
    m.op("SPLIT", [[-4], "x"], [(1, 3, 4, 6)] * 2, {"num_splits": 2})
    m.op("SLICE", ["x", [1, 0, 1, 2], [1, -1, 2, 3]], [(1, 3, 2, 3)])
    begin, size = const("b64", [0, 1, 0, 0], "INT64"), const("s64", [-1, 2, 4, 1], "INT64")
    m.op("SLICE", ["x", begin, size], [(2, 2, 4, 1)])
    check(m, tmp_path, f"joins_{dtype}")


def test_uint8_concatenation_rescales_to_the_output(tmp_path):
    m = Model((1, 4, 4, 3), "UINT8")
    m.inputs += ["a", "b"]
    m.tensors += [
        tensor("a", (1, 4, 4, 2), "UINT8", (0.11, 100)),
        tensor("b", (1, 4, 4, 19), "UINT8", (0.013, 7)),
    ]
    opts = {"axis": 3, "fused_activation_function": "NONE"}
    m.op("CONCATENATION", ["x", "a", "b"], [(1, 4, 4, 24)], opts, quant=(0.05, 131))
    m.op("CONCATENATION", ["a", "x", "b"], [(1, 4, 4, 24)], opts, quant=(0.07, 90))
    check(m, tmp_path, "concat_rescale")


@pytest.mark.parametrize("dtype", dtypes("INT8", "FLOAT32"))
def test_gather(dtype, tmp_path):
    m = Model((3, 4, 5), dtype)
    m.op("GATHER", ["x", [2, 0, 2]], [(3, 4, 5)], {"axis": 0, "batch_dims": 0})
    m.op("GATHER", ["x", [[1, 3], [0, 0]]], [(3, 2, 2, 5)], {"axis": 1, "batch_dims": 0})
    m.op("GATHER", ["x", const("i64", [4, 1], "INT64")], [(3, 4, 2)], {"axis": -1, "batch_dims": 0})
    m.op("GATHER", ["x", [[1, 2], [0, 0], [3, 3]]], [(3, 2, 5)], {"axis": 1, "batch_dims": 1})
    m.op("GATHER", ["x", [[4], [0], [2]]], [(3, 4, 1)], {"axis": 2, "batch_dims": -1})
    check(m, tmp_path, f"gather_{dtype}")


def test_gather_with_run_time_indices(tmp_path):
    """Indices that are a model input (random in [0, 8]) are read by the kernel."""
    m = Model((2, 9, 17), "FLOAT32")
    m.inputs.append("i")
    m.tensors.append(tensor("i", (5,), "INT32", quant=None))
    m.op("GATHER", ["x", "i"], [(2, 5, 17)], {"axis": 1, "batch_dims": 0})
    check(m, tmp_path, "gather_dynamic")


@pytest.mark.parametrize("dtype", dtypes("UINT8", "FLOAT32", "INT8", "INT16"))
def test_padding(dtype, tmp_path):
    m = Model((1, 3, 4, 2), dtype)
    m.op("PAD", ["x", [[0, 0], [1, 2], [0, 3], [0, 0]]], [(1, 6, 7, 2)])
    m.op("PAD", ["x", const("p64", [[1, 0], [0, 0], [2, 2], [1, 1]], "INT64")], [(2, 3, 8, 4)])
    m.op("PAD", ["x", [[0, 0], [0, 0], [0, 0], [0, 37]]], [(1, 3, 4, 39)])
    value = np.asarray([-0.5 if dtype == "FLOAT32" else 42], m.x.dtype)
    pad_value = tensor("v", (1,), dtype, data=value)
    m.op("PADV2", ["x", [[0, 0], [2, 1], [1, 0], [0, 0]], pad_value], [(1, 6, 5, 2)])
    check(m, tmp_path, f"pad_{dtype}")


@pytest.mark.parametrize("dtype", dtypes("INT8", "FLOAT32", "INT16"))
def test_strided_slice_masks(dtype, tmp_path):
    m = Model((2, 3, 4, 6), dtype)
    zero_masks = dict.fromkeys(
        ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"), 0
    )
    for begin, end, strides, masks in STRIDED_SLICES:
        shape = m.x[numpy_index(begin, end, strides, masks)].shape
        if 0 in shape and dtype != "INT8":
            continue  # cpu_kernel_check allocates empty outputs as one byte: int8 only
        m.op("STRIDED_SLICE", ["x", begin, end, strides], [shape], {**zero_masks, **masks})
    spec = ["x", [0, 1, 1, 2], [2, 2, 3, 3], [1, 1, 1, 1]]
    m.op("STRIDED_SLICE", spec, [(2, 2, 3, 3)], {**zero_masks, "offset": True})
    check(m, tmp_path, f"strided_slice_{dtype}")


@pytest.mark.parametrize("dtype", dtypes("FLOAT32", "INT8", "UINT8", "INT16"))
def test_resize_modes(dtype, tmp_path):
    m = Model((2, 5, 7, 19), dtype)
    for mode in RESIZE_MODES:
        for size in ([10, 14], [3, 4], [8, 7], [1, 1]):
            m.op("RESIZE_BILINEAR", ["x", size], [(2, *size, 19)], mode)
            m.op("RESIZE_NEAREST_NEIGHBOR", ["x", size], [(2, *size, 19)], mode)
    check(m, tmp_path, f"resize_{dtype}")


@pytest.mark.parametrize("dtype", dtypes("INT8", "FLOAT32", "UINT8", "INT16"))
def test_pooling_windows(dtype, tmp_path):
    """TFLite's pooling cases: odd SAME padding (clipped windows), strides, activations;
    18 channels reach a vector tail."""
    m = Model((1, 1, 1, 1), dtype)
    m.tensors, m.inputs = [], []
    for k, (filt, stride, padding, (h, w), act) in enumerate(POOLS):
        oh, ow = (_pool_out(h, filt[i], stride[i], padding) for i, h in enumerate((h, w)))
        opts = {
            "filter_height": filt[0],
            "filter_width": filt[1],
            "stride_h": stride[0],
            "stride_w": stride[1],
            "padding": padding,
            "fused_activation_function": act,
        }
        m.tensors.append(tensor(f"in{k}", (2, h, w, 18), dtype))
        m.inputs.append(f"in{k}")
        for builtin in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            m.op(builtin, [f"in{k}"], [(2, oh, ow, 18)], opts)
    check(m, tmp_path, f"pools_{dtype}")


def test_global_average_pool_of_many_taps(tmp_path):
    """A 40x40 window: a loop of taps, float sums in window order."""
    m = Model((1, 40, 40, 33), "FLOAT32")
    opts = {
        "filter_height": 40,
        "filter_width": 40,
        "stride_h": 40,
        "stride_w": 40,
        "padding": "VALID",
        "fused_activation_function": "RELU6",
    }
    m.op("AVERAGE_POOL_2D", ["x"], [(1, 1, 1, 33)], opts)
    check(m, tmp_path, "global_pool")


# ----------------------------------------------------------------------------- compile time


def test_vector_pieces_cover_a_run_widest_first():
    assert vector_pieces(37, 16) == [(0, 16, 2), (32, 4, 1), (36, 1, 1)]
    assert vector_pieces(15, 16) == [(0, 8, 1), (8, 4, 1), (12, 2, 1), (14, 1, 1)]
    assert vector_pieces(64, 64) == [(0, 64, 1)]
    assert vector_pieces(0, 16) == []


def test_contiguous_axes_merge_into_one_run():
    identity = Copy(1, 0, 1, (Axis(2, 60, 60), Axis(3, 20, 20), Axis(4, 5, 5), Axis(5, 1, 1)))
    assert identity.simplified() == Copy(1, 0, 120)
    rows = Copy(1, 0, 1, (Axis(3, 8, 5), Axis(5, 1, 1)))
    assert rows.simplified() == Copy(1, 0, 5, (Axis(3, 8, 5),))
    assert Copy(1, 0, 4, (Axis(0, 4, 4),)).simplified().run == 0


def _first(module, name: str):
    return next(op for op in module.walk() if op.name == name)


def test_channel_padding_is_one_copy_and_one_fill_per_pixel():
    """face_landmark's PAD 16 -> 32 channels: copy 16, fill 16, 48x48 times."""
    module = litec.load_tflite(model_path("face_landmark.tflite"))
    plan = plan_pad(_first(module, "tfl.pad"))
    copy, fill = (c.simplified() for c in plan.copies)
    assert (copy.run, copy.axes) == (16, (Axis(48 * 48, 32, 16),))
    assert (fill.src, fill.run, fill.dst_base, fill.axes) == (None, 16, 16, (Axis(2304, 32, 0),))


def test_support_checks_give_reasons(tmp_path):
    m = Model((2, 3, 4, 5), "INT8")
    m.inputs.append("perm")
    m.tensors.append(tensor("perm", (4,), "INT32", quant=None))
    m.op("TRANSPOSE", ["x", "perm"], [(2, 3, 4, 5)])
    m.tensors.append(tensor("y", (2, 3, 4, 5), "INT8", (0.5, 0)))
    m.inputs.append("y")
    opts = {"axis": 0, "fused_activation_function": "NONE"}
    m.op("CONCATENATION", ["x", "y"], [(4, 3, 4, 5)], opts)
    path = write_model(tmp_path / "refused.tflite", m.tensors, m.ops, m.inputs)
    module = litec.load_tflite(path)
    transpose, concat = (_first(module, n) for n in ("tfl.transpose", "tfl.concatenation"))
    assert GENERATORS["tfl.transpose"].supports(transpose) == (
        False,
        "the permutation must be a constant",
    )
    ok, reason = GENERATORS["tfl.concatenation"].supports(concat)
    assert not ok and "same scale and zero point" in reason


def test_generation_is_deterministic_and_verifies():
    """An op generates the same valid function every time, so equal kernels can be shared."""
    module = litec.load_tflite(model_path("palm_detection_lite.tflite"))
    for name in ("tfl.max_pool_2d", "tfl.resize_bilinear", "tfl.pad", "tfl.concatenation"):
        op = _first(module, name)
        first, second = (GENERATORS[name].generate(op, "k").func for _ in range(2))
        first.verify()
        assert str(first) == str(second)


def test_pooling_without_padding_has_static_bounds():
    """2x2 stride-2 VALID windows never leave the input: no run-time clipping."""
    module = litec.load_tflite(model_path("face_landmark.tflite"))
    plan = pooling.plan_pool(_first(module, "tfl.max_pool_2d"))
    assert not plan.clipped and plan.pad == (0, 0)
