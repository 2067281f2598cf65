"""Shape and data-movement reference kernels against TFLite's reference kernels (BUILTIN_REF).

Checked op by op on the real models (fed TFLite's own input tensors), on synthetic models
for the options and dtypes the real models do not reach (masks, negative strides, batch
dims, uint8 rescaling, every resize mode), and STRIDED_SLICE and PAD against expectations
derived by hand from numpy's indexing, which follows the same clamping rules.
"""

from __future__ import annotations

import numpy as np
import pytest
import zoo
from conftest import model_path
from harness import seeded_inputs
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import run_oracle
from test_import import TFLITE_CANNOT_RUN
from test_mediapipe_custom import rewrite_transpose_conv_bias
from test_mediapipe_landmarks import rewrite_landmark_ops
from tflite_builder import Op, Tensor
from zoo import check_model, check_ops, const, tensor_info, write_model

from litec.dialects import tfl
from litec.dialects.tfl_reference import KERNELS, KernelCall, TensorInfo
from litec.dialects.tfl_reference.core import make_call
from litec.ir.diagnostics import LitecError
from litec.ir.resources import blob_array
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import read_model

SHAPE_OPS = (
    "RESHAPE",
    "SQUEEZE",
    "EXPAND_DIMS",
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
)
"""Builtins checked op by op (DENSIFY separately: TFLite shows its input still sparse)."""


def check_shape_ops(path, expected: int | None = None, oracle_path=None) -> None:
    """Every shape op of the model matches TFLite exactly when fed TFLite's inputs."""
    if expected is None:
        expected = sum(op.builtin in SHAPE_OPS for op in read_model(path).main.operators)
    check_ops(path, SHAPE_OPS, expected, exact=True, oracle_path=oracle_path)


REAL_MODELS = [
    "lstm_fp32.tflite",
    "lstm_int8.tflite",
    "lstm_keras3_while_fp32.tflite",
    "mobilenet_v1_fp16.tflite",
    "mobilenet_v1_int8.tflite",
    "mobilenet_v3_small_int8.tflite",
    "opcov_cnn_fp32.tflite",
    "opcov_cnn_int8.tflite",
    "tiny_transformer_fp32.tflite",
    "tiny_transformer_int8.tflite",
    "face_detection_full_range_sparse.tflite",
    "face_detection_short_range.tflite",
    "face_landmark.tflite",
    "hand_recrop.tflite",
    "iris_landmark.tflite",
    "palm_detection_full.tflite",
    "palm_detection_lite.tflite",
    "pose_detection.tflite",
    "pose_landmark_full.tflite",
    "selfie_segmentation.tflite",
    "selfie_segmentation_landscape.tflite",
]
"""Real models with shape or data-movement ops in their main graph (TFLite can run them)."""


@pytest.mark.parametrize("name", REAL_MODELS)
def test_real_model_ops(name, tmp_path):
    path = model_path(name)
    if name in TFLITE_CANNOT_RUN:
        path = tmp_path / name
        path.write_bytes(rewrite_transpose_conv_bias(read_model(model_path(name))))
    check_shape_ops(path)


def test_face_landmark_with_attention_ops(tmp_path):
    """TFLite runs the model with its custom ops rewritten into builtins (same tensor indices)."""
    path = model_path("face_landmark_with_attention.tflite")
    rewritten = tmp_path / "rewritten.tflite"
    rewritten.write_bytes(rewrite_landmark_ops(read_model(path)))
    check_shape_ops(path, oracle_path=rewritten)


@pytest.mark.parametrize(
    "name", ["face_detection_full_range_sparse.tflite", "pose_detection.tflite"]
)
def test_densify_gives_tflite_dense_weights(name):
    """DENSIFY passes on the constant the importer densified; TFLite densifies at run time."""
    path = model_path(name)
    module = import_model(read_model(path))
    tensors = run_oracle(path, seeded_inputs(module), all_tensors=True)
    main = next(op for op in module.ops if op.sym_name.data == "main")
    densify_ops = [op for op in main.body.block.ops if isinstance(op, tfl.DensifyOp)]
    assert densify_ops
    out_ids = {op.index: op.outputs[0] for op in read_model(path).main.operators}
    for op in densify_ops:
        call = make_call(op)
        const = op.operands[0].owner
        dense = blob_array(
            const.value.resource_handle.data, call.inputs[0].dtype, call.inputs[0].shape
        )
        ours = KERNELS["DENSIFY"](call, dense)
        ref = tensors[f"t{out_ids[call.op_index]}"]
        assert ours.dtype == ref.dtype and np.array_equal(ours, ref), f"op #{call.op_index}"


# ----------------------------------------------------------------------------- synthetic models

QUANT = {"INT8": (0.05, 3), "UINT8": (0.05, 131), "INT16": (0.001, 0)}
NP = {"FLOAT32": np.float32, "INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16}


def tensor(name, shape, dtype="FLOAT32", quant="default", data=None) -> Tensor:
    """A tensor quantized with `quant` (scale, zero point); by default its type's in QUANT."""
    quant = QUANT.get(dtype) if quant == "default" else quant
    return zoo.tensor(name, shape, dtype, *(quant or (None, 0)), data=data)


class Model:
    """A synthetic model under construction: one input, ops appended with their results."""

    def __init__(self, shape, dtype="FLOAT32"):
        self.dtype = dtype
        self.x = np.zeros(shape, NP[dtype])
        self.tensors = [tensor("x", shape, dtype)]
        self.ops: list[Op] = []
        self.inputs = ["x"]

    def op(self, builtin, inputs, out_shapes, options=None, quant="default"):
        """Add an op; constant inputs are given as lists, tensors by name."""
        names = []
        for k, v in enumerate(inputs):
            if isinstance(v, str):
                names.append(v)
                continue
            name = f"c{len(self.tensors)}_{k}"
            self.tensors.append(v if isinstance(v, Tensor) else const(name, v))
            names.append(self.tensors[-1].name)
        outs = []
        for shape in out_shapes:
            outs.append(f"{builtin.lower()}{len(self.ops)}_{len(outs)}")
            self.tensors.append(tensor(outs[-1], shape, self.dtype, quant))
        self.ops.append(Op(builtin, names, outs, options or {}))
        return outs

    def check(self, tmp_path, name) -> None:
        path = write_model(tmp_path / f"{name}.tflite", self.tensors, self.ops, self.inputs)
        check_shape_ops(path, len(self.ops))
        check_model(path, exact=True)


@pytest.mark.parametrize("dtype", ["FLOAT32", "INT8"])
def test_reshapes_and_transposes(dtype, tmp_path):
    m = Model((2, 3, 4, 5), dtype)
    x = m.x
    for perm in ([0, 2, 3, 1], [3, 2, 1, 0], [1, 0, 2, 3]):
        m.op("TRANSPOSE", ["x", perm], [np.transpose(x, perm).shape])
    m.op("RESHAPE", ["x", [6, -1]], [(6, 20)])
    m.op("RESHAPE", ["x"], [(120,)], {"new_shape": [120]})
    (e,) = m.op("EXPAND_DIMS", ["x", [-2]], [(2, 3, 4, 1, 5)])
    m.op("SQUEEZE", [e], [(2, 3, 4, 5)], {"squeeze_dims": [3]})
    m.op(
        "DEPTH_TO_SPACE",
        [m.op("RESHAPE", ["x", [2, 3, 5, 4]], [(2, 3, 5, 4)])[0]],
        [(2, 6, 10, 1)],
        {"block_size": 2},
    )
    m.op(
        "SPACE_TO_DEPTH",
        [m.op("RESHAPE", ["x", [2, 2, 6, 5]], [(2, 2, 6, 5)])[0]],
        [(2, 1, 3, 20)],
        {"block_size": 2},
    )
    m.check(tmp_path, f"reshapes_{dtype}")


@pytest.mark.parametrize("dtype", ["FLOAT32", "INT8", "UINT8", "INT16"])
def test_joins_and_splits(dtype, tmp_path):
    m = Model((2, 3, 4, 6), dtype)
    m.inputs.append("x2")
    m.tensors.append(tensor("x2", (2, 3, 4, 6), dtype))
    for axis in (0, 2, -1):
        shape = list(m.x.shape)
        shape[axis] *= 2
        m.op(
            "CONCATENATION",
            ["x", "x2"],
            [shape],
            {"axis": axis, "fused_activation_function": "NONE"},
        )
    for axis in (0, 3, -2):
        shape = list(m.x.shape)
        shape.insert(axis % 5, 2)
        m.op("PACK", ["x", "x2"], [shape], {"values_count": 2, "axis": axis})
    m.op("UNPACK", ["x"], [(2, 4, 6)] * 3, {"num": 3, "axis": 1})
    m.op("UNPACK", ["x"], [(2, 3, 4)] * 6, {"num": 6, "axis": -1})
    m.op("SPLIT", [[3], "x"], [(2, 3, 4, 2)] * 3, {"num_splits": 3})
    m.op("SPLIT", [[-4], "x"], [(1, 3, 4, 6)] * 2, {"num_splits": 2})
    m.op("SLICE", ["x", [1, 0, 1, 2], [1, -1, 2, 3]], [(1, 3, 2, 3)])
    m.op(
        "SLICE",
        ["x", const("b64", [0, 1, 0, 0], "INT64"), const("s64", [-1, 2, 4, 1], "INT64")],
        [(2, 2, 4, 1)],
    )
    m.check(tmp_path, f"joins_{dtype}")


def test_uint8_concatenation_rescales_to_the_output(tmp_path):
    """ConcatenationWithScaling: inputs with other scales are rescaled in float32 and rounded."""
    m = Model((1, 4, 4, 3), "UINT8")
    m.inputs += ["a", "b"]
    m.tensors += [
        tensor("a", (1, 4, 4, 2), "UINT8", (0.11, 100)),
        tensor("b", (1, 4, 4, 3), "UINT8", (0.013, 7)),
    ]
    opts = {"axis": 3, "fused_activation_function": "NONE"}
    m.op("CONCATENATION", ["x", "a", "b"], [(1, 4, 4, 8)], opts, quant=(0.05, 131))
    m.op("CONCATENATION", ["a", "x", "b"], [(1, 4, 4, 8)], opts, quant=(0.07, 90))
    m.check(tmp_path, "concat_rescale")


@pytest.mark.parametrize("dtype", ["FLOAT32", "INT8"])
def test_gather(dtype, tmp_path):
    m = Model((3, 4, 5), dtype)
    m.op("GATHER", ["x", [2, 0, 2]], [(3, 4, 5)], {"axis": 0, "batch_dims": 0})
    m.op("GATHER", ["x", [[1, 3], [0, 0]]], [(3, 2, 2, 5)], {"axis": 1, "batch_dims": 0})
    m.op("GATHER", ["x", const("i64", [4, 1], "INT64")], [(3, 4, 2)], {"axis": -1, "batch_dims": 0})
    m.op("GATHER", ["x", [[1, 2], [0, 0], [3, 3]]], [(3, 2, 5)], {"axis": 1, "batch_dims": 1})
    m.op("GATHER", ["x", [[4], [0], [2]]], [(3, 4, 1)], {"axis": 2, "batch_dims": -1})
    m.check(tmp_path, f"gather_{dtype}")


@pytest.mark.parametrize("dtype", ["FLOAT32", "INT8", "UINT8", "INT16"])
def test_padding(dtype, tmp_path):
    m = Model((1, 3, 4, 2), dtype)
    m.op("PAD", ["x", [[0, 0], [1, 2], [0, 3], [0, 0]]], [(1, 6, 7, 2)])
    m.op("PAD", ["x", const("p64", [[1, 0], [0, 0], [2, 2], [1, 1]], "INT64")], [(2, 3, 8, 4)])
    value = np.asarray([-0.5 if dtype == "FLOAT32" else 42], NP[dtype])
    pad_value = tensor("v", (1,), dtype, data=value)
    m.op("PADV2", ["x", [[0, 0], [2, 1], [1, 0], [0, 0]], pad_value], [(1, 6, 5, 2)])
    m.check(tmp_path, f"pad_{dtype}")


RESIZE_MODES = [
    {"align_corners": False, "half_pixel_centers": False},
    {"align_corners": True, "half_pixel_centers": False},
    {"align_corners": False, "half_pixel_centers": True},
]


@pytest.mark.parametrize("dtype", ["FLOAT32", "INT8", "UINT8", "INT16"])
def test_resize(dtype, tmp_path):
    m = Model((2, 5, 7, 3), dtype)
    for mode in RESIZE_MODES:
        for size in ([10, 14], [3, 4], [8, 7], [1, 1]):
            m.op("RESIZE_BILINEAR", ["x", size], [(2, *size, 3)], mode)
            m.op("RESIZE_NEAREST_NEIGHBOR", ["x", size], [(2, *size, 3)], mode)
    m.check(tmp_path, f"resize_{dtype}")


# ----------------------------------------------------------------------------- STRIDED_SLICE


def numpy_index(begin, end, strides, masks) -> tuple:
    """The numpy index a STRIDED_SLICE spec means (TensorFlow's semantics, without offset)."""
    index = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
        bit = 1 << i
        if masks.get("ellipsis_mask", 0) & bit:
            index.append(Ellipsis)
        elif masks.get("new_axis_mask", 0) & bit:
            index.append(np.newaxis)
        elif masks.get("shrink_axis_mask", 0) & bit:
            index.append(b)
        else:
            start = None if masks.get("begin_mask", 0) & bit else b
            stop = None if masks.get("end_mask", 0) & bit else e
            index.append(slice(start, stop, s))
    return tuple(index)


STRIDED_SLICES = [
    # (begin, end, strides, masks)
    ([0, 1, 0, 2], [2, 3, 4, 6], [1, 1, 2, 1], {}),
    ([1, -1, 3, -2], [0, 0, 0, 0], [1, -1, -1, -2], {"end_mask": 0b0110}),
    ([0, 2, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], {"begin_mask": 0b1101, "end_mask": 0b1111}),
    ([1, 0, -1], [2, 0, 0], [1, 1, 1], {"shrink_axis_mask": 0b101, "end_mask": 0b010}),
    ([0, 1], [0, 3], [1, 1], {"ellipsis_mask": 0b01}),
    ([1, 0, 0], [2, 0, 5], [1, 1, -2], {"ellipsis_mask": 0b010, "shrink_axis_mask": 0b001}),
    ([0, 0, 1], [0, 0, 4], [1, 1, 1], {"new_axis_mask": 0b001, "ellipsis_mask": 0b010}),
    ([0, 0, 0, 0, 0], [1, 2, 1, 4, 5], [1, 1, 1, 1, 1], {"new_axis_mask": 0b00100}),
    ([-100, 1], [100, -100], [1, -1], {}),
    ([5, 0], [-7, 9], [-3, 4], {}),
    ([1], [2], [1], {"shrink_axis_mask": 1}),
    ([0, 0, 0, 0], [9, 9, 9, 9], [2, 3, 3, 4], {}),
]


@pytest.mark.parametrize("dtype", ["FLOAT32", "INT8", "INT16"])
def test_strided_slice_against_tflite(dtype, tmp_path):
    m = Model((2, 3, 4, 6), dtype)
    for begin, end, strides, masks in STRIDED_SLICES:
        shape = m.x[numpy_index(begin, end, strides, masks)].shape
        opts = {
            "begin_mask": 0,
            "end_mask": 0,
            "ellipsis_mask": 0,
            "new_axis_mask": 0,
            "shrink_axis_mask": 0,
            **masks,
        }
        m.op("STRIDED_SLICE", ["x", begin, end, strides], [shape], opts)
    m.op(
        "STRIDED_SLICE",
        ["x", [0, 1, 1, 2], [2, 2, 3, 3], [1, 1, 1, 1]],
        [(2, 2, 3, 3)],
        {"offset": True},
    )
    m.check(tmp_path, f"strided_slice_{dtype}")


def strided_slice(x, begin, end, strides, shape=None, **opts) -> np.ndarray:
    """Run the STRIDED_SLICE kernel; the output shape is numpy's unless given."""
    masks = {k: v for k, v in opts.items() if k.endswith("_mask")}
    if shape is None:
        shape = x[numpy_index(begin, end, strides, masks)].shape
    opts = {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0} | {
        "shrink_axis_mask": 0,
        "offset": False,
        **opts,
    }
    call = KernelCall(
        "STRIDED_SLICE", opts, [TensorInfo(x.shape, x.dtype)], [TensorInfo(shape, x.dtype)]
    )
    args = (np.asarray(v, np.int32) for v in (begin, end, strides))
    return KERNELS["STRIDED_SLICE"](call, x, *args)


X = np.arange(2 * 3 * 4 * 6).reshape(2, 3, 4, 6)


@pytest.mark.parametrize(("begin", "end", "strides", "masks"), STRIDED_SLICES)
def test_strided_slice_matches_numpy(begin, end, strides, masks):
    expected = X[numpy_index(begin, end, strides, masks)]
    np.testing.assert_array_equal(strided_slice(X, begin, end, strides, **masks), expected)


def test_strided_slice_masks_by_hand():
    x = np.arange(10)
    # begin_mask: start from the beginning whatever begin says; end_mask: run to the end
    np.testing.assert_array_equal(strided_slice(x, [7], [3], [1], begin_mask=1), [0, 1, 2])
    np.testing.assert_array_equal(strided_slice(x, [7], [3], [1], end_mask=1), [7, 8, 9])
    # negative stride: begin_mask starts at the last element, end_mask runs past the first
    np.testing.assert_array_equal(strided_slice(x, [0], [6], [-2], begin_mask=1), [9, 7])
    np.testing.assert_array_equal(strided_slice(x, [2], [0], [-1], end_mask=1), [2, 1, 0])
    # negative indices count from the end; out-of-range ones clamp
    np.testing.assert_array_equal(strided_slice(x, [-3], [100], [1]), [7, 8, 9])
    np.testing.assert_array_equal(strided_slice(x, [100], [-100], [-4]), [9, 5, 1])
    # shrink_axis: one element, the axis removed
    assert strided_slice(x, [-2], [0], [1], shrink_axis_mask=1).shape == ()
    assert strided_slice(x, [-2], [0], [1], shrink_axis_mask=1) == 8


def test_strided_slice_offset_makes_end_relative():
    """offset=True: end is begin + end (TFLite's extension, used by slicing lowered ops)."""
    x = np.arange(24).reshape(4, 6)
    y = strided_slice(x, [1, 2], [2, 3], [1, 1], offset=True, shape=(2, 3))
    np.testing.assert_array_equal(y, x[1:3, 2:5])


def test_strided_slice_zero_stride_is_an_error():
    with pytest.raises(LitecError, match="non-zero"):
        strided_slice(np.arange(4), [0], [4], [0], shape=(4,))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_strided_slice_random_specs_match_numpy(data):
    """Random begin/end/stride/begin_mask/end_mask/shrink specs over a 3-D tensor."""
    x = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    n = data.draw(st.integers(1, 3))
    begin, end, strides, shrink = [], [], [], 0
    for i in range(n):
        size = x.shape[i]
        if data.draw(st.booleans()):
            b = data.draw(st.integers(-size, size - 1))
            begin.append(b)
            end.append(b + 1)
            strides.append(1)
            shrink |= 1 << i
            continue
        begin.append(data.draw(st.integers(-2 * size, 2 * size)))
        end.append(data.draw(st.integers(-2 * size, 2 * size)))
        strides.append(data.draw(st.sampled_from([-3, -2, -1, 1, 2, 3])))
    masks = {
        "begin_mask": data.draw(st.integers(0, 2**n - 1)) & ~shrink,
        "end_mask": data.draw(st.integers(0, 2**n - 1)) & ~shrink,
        "shrink_axis_mask": shrink,
    }
    expected = x[numpy_index(begin, end, strides, masks)]
    np.testing.assert_array_equal(strided_slice(x, begin, end, strides, **masks), expected)


# ----------------------------------------------------------------------------- PAD by hand


def pad_call(builtin, x, out_shape, *quant) -> KernelCall:
    """A PAD (or PADV2) call; `quant`: (scale, zero point) of the data."""
    infos = [tensor_info(x.shape, x.dtype, *quant), tensor_info((x.ndim, 2), np.int32)]
    if builtin == "PADV2":
        infos.append(tensor_info((1,), x.dtype, *quant))
    return KernelCall(builtin, {}, infos, [tensor_info(out_shape, x.dtype, *quant)])


def test_quantized_pad_fills_with_the_zero_point():
    """A quantized zero is the zero point: int8 PAD with zp -5 pads with -5, not 0."""
    x = np.array([[1, 2], [3, 4]], np.int8)
    call = pad_call("PAD", x, (3, 4), 0.5, -5)
    y = KERNELS["PAD"](call, x, np.array([[1, 0], [0, 2]], np.int32))
    np.testing.assert_array_equal(y, [[-5, -5, -5, -5], [1, 2, -5, -5], [3, 4, -5, -5]])


def test_float_pad_fills_with_zero_and_padv2_with_its_value():
    x = np.ones((1, 2), np.float32)
    pads = np.array([[0, 1], [2, 0]], np.int32)
    y = KERNELS["PAD"](pad_call("PAD", x, (2, 4)), x, pads)
    np.testing.assert_array_equal(y, [[0, 0, 1, 1], [0, 0, 0, 0]])
    y = KERNELS["PADV2"](pad_call("PADV2", x, (2, 4)), x, pads, np.array([7], np.float32))
    np.testing.assert_array_equal(y, [[7, 7, 1, 1], [7, 7, 7, 7]])


def test_negative_padding_is_an_error():
    x = np.ones((2, 2), np.float32)
    with pytest.raises(LitecError, match="non-negative"):
        KERNELS["PAD"](pad_call("PAD", x, (2, 2)), x, np.array([[0, -1], [0, 0]], np.int32))


def test_int8_concatenation_with_other_scales_is_an_error():
    """TFLite refuses int8 CONCATENATION across scales (only uint8 is rescaled)."""
    a, b = np.zeros((1, 2), np.int8), np.ones((1, 3), np.int8)

    call = KernelCall(
        "CONCATENATION",
        {"axis": 1, "fused_activation_function": "NONE"},
        [tensor_info(a.shape, a.dtype, 0.5), tensor_info(b.shape, b.dtype, 0.25)],
        [tensor_info((1, 5), a.dtype, 0.5)],
    )
    with pytest.raises(LitecError, match="same scale"):
        KERNELS["CONCATENATION"](call, a, b)
