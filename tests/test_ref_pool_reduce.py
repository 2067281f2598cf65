"""Pooling and reduction reference kernels against TFLite's reference kernels (BUILTIN_REF).

Each kernel is checked op by op on the real models (fed TFLite's own input tensors), on
small synthetic models that reach the cases the real models do not (padding, strides,
activations, every dtype, MEAN's and SUM's requantization), and on hand-derived
expectations for the padding rules.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path
from oracle import run_oracle
from test_mediapipe_custom import rewrite_transpose_conv_bias
from test_mediapipe_landmarks import rewrite_landmark_ops
from tflite_builder import Op
from zoo import check_model, check_ops, const, tensor, tensor_info, write_model

from litec.dialects.tfl_reference import KERNELS, Interpreter, KernelCall
from litec.ir.diagnostics import LitecError
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import read_model

POOL_REDUCE = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "SUM", "REDUCE_MAX", "ARG_MAX")

MODEL_OPS = {
    "kws_dscnn_fp32.tflite": 1,
    "kws_dscnn_int8.tflite": 1,
    "mobilenet_v1_fp32.tflite": 1,
    "mobilenet_v1_int8.tflite": 1,
    "mobilenet_v2_int8.tflite": 1,
    "mobilenet_v3_small_fp32.tflite": 10,
    "mobilenet_v3_small_int8.tflite": 10,
    "opcov_cnn_fp32.tflite": 3,
    "opcov_cnn_int8.tflite": 3,
    "tiny_transformer_fp32.tflite": 8,
    "tiny_transformer_int8.tflite": 8,
    "face_detection_short_range.tflite": 3,
    "face_landmark.tflite": 6,
    "hand_landmark_lite.tflite": 2,
    "iris_landmark.tflite": 6,
    "palm_detection_full.tflite": 4,
    "pose_landmark_full.tflite": 2,
}
"""Real models and how many of their ops are pooling or reductions."""


@pytest.mark.parametrize("name", sorted(MODEL_OPS))
def test_real_model_ops(name):
    check_ops(model_path(name), POOL_REDUCE, MODEL_OPS[name])


@pytest.mark.parametrize(
    ("name", "count"),
    [("selfie_segmentation.tflite", 10), ("selfie_segmentation_landscape.tflite", 10)],
)
def test_selfie_pools_and_means(name, count, tmp_path):
    """Huge windows (up to 128x128): TFLite runs the model with its custom op rewritten."""
    path = tmp_path / name
    path.write_bytes(rewrite_transpose_conv_bias(read_model(model_path(name))))
    check_ops(path, POOL_REDUCE, count)


def test_face_landmark_with_attention_pools(tmp_path):
    """TFLite runs the model with its custom ops rewritten into builtins (same tensor indices)."""
    path = model_path("face_landmark_with_attention.tflite")
    rewritten = tmp_path / "rewritten.tflite"
    rewritten.write_bytes(rewrite_landmark_ops(read_model(path)))
    check_ops(path, POOL_REDUCE, 16, oracle_path=rewritten)


# ----------------------------------------------------------------------------- synthetic models

QUANT = {
    "FLOAT32": ((None, 0), (None, 0)),
    "INT8": ((0.05, 3), (0.02, -7)),
    "UINT8": ((0.05, 131), (0.03, 120)),
    "INT16": ((0.001, 0), (0.0007, 0)),
}
"""(input, other output) scale and zero point per type (scale None: not quantized)."""


def write(tmp_path, name, tensors, ops, inputs):
    """A model whose outputs are all its ops' outputs."""
    return write_model(tmp_path / f"{name}.tflite", tensors, ops, inputs)


POOLS = [
    # (filter, stride, padding, input hw, activation)
    ((2, 2), (2, 2), "VALID", (8, 8), "NONE"),
    ((3, 3), (2, 2), "SAME", (9, 7), "RELU"),
    ((3, 2), (1, 2), "SAME", (6, 5), "RELU6"),
    ((4, 4), (3, 3), "SAME", (10, 11), "RELU_N1_TO_1"),
    ((5, 1), (2, 1), "VALID", (11, 4), "NONE"),
    ((1, 1), (1, 1), "SAME", (3, 3), "NONE"),
]


def _pool_out(size, filt, stride, padding):
    if padding == "SAME":
        return (size + stride - 1) // stride
    return (size - filt + stride) // stride


@pytest.mark.parametrize("dtype", ["FLOAT32", "INT8", "UINT8", "INT16"])
def test_pooling_cases(dtype, tmp_path):
    q = QUANT[dtype][0]
    tensors, ops = [], []
    for k, (filt, stride, padding, (h, w), act) in enumerate(POOLS):
        oh, ow = (
            _pool_out(h, filt[0], stride[0], padding),
            _pool_out(w, filt[1], stride[1], padding),
        )
        opts = {
            "filter_height": filt[0],
            "filter_width": filt[1],
            "stride_h": stride[0],
            "stride_w": stride[1],
            "padding": padding,
            "fused_activation_function": act,
        }
        tensors.append(tensor(f"in{k}", (2, h, w, 3), dtype, *q))
        for builtin in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            out = f"{builtin}_{k}"
            tensors.append(tensor(out, (2, oh, ow, 3), dtype, *q))
            ops.append(Op(builtin, [f"in{k}"], [out], opts))
    inputs = [f"in{k}" for k in range(len(POOLS))]
    path = write(tmp_path, f"pools_{dtype}", tensors, ops, inputs)
    check_ops(path, POOL_REDUCE, 2 * len(POOLS))
    check_model(path)


def test_average_pool_sums_in_window_order(tmp_path):
    """A 64x64 float window: the sum must accumulate in TFLite's order to stay within 1e-5."""
    tensors = [tensor("x", (1, 128, 128, 4)), tensor("y", (1, 2, 2, 4))]
    opts = {
        "filter_height": 64,
        "filter_width": 64,
        "stride_h": 64,
        "stride_w": 64,
        "padding": "VALID",
        "fused_activation_function": "NONE",
    }
    path = write(tmp_path, "big_pool", tensors, [Op("AVERAGE_POOL_2D", ["x"], ["y"], opts)], ["x"])
    check_ops(path, POOL_REDUCE, 1)


REDUCTIONS = [
    # (axes, keep_dims)
    ([1, 2], True),
    ([2, 1], False),
    ([-1], True),
    ([0, 3], False),
    ([3, -1, 1], False),
    ([0, 1, 2, 3], True),
]


def _reduced_shape(shape, axes, keep):
    axes = {a % len(shape) for a in axes}
    if keep:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


@pytest.mark.parametrize("dtype", ["FLOAT32", "INT8", "UINT8", "INT16"])
def test_reduction_cases(dtype, tmp_path):
    """MEAN and SUM (requantized: same and other output scales), REDUCE_MAX, ARG_MAX."""
    shape = (2, 5, 6, 7)
    qin, qout = QUANT[dtype]
    tensors = [tensor("x", shape, dtype, *qin)]
    ops = []
    for k, (axes, keep) in enumerate(REDUCTIONS):
        tensors.append(const(f"axes{k}", axes))
        out_shape = _reduced_shape(shape, axes, keep)
        builtins = ["MEAN", "REDUCE_MAX"] + (["SUM"] if dtype in ("FLOAT32", "UINT8") else [])
        for builtin in builtins:
            for j, q in enumerate([qin, qout] if builtin != "REDUCE_MAX" else [qin]):
                name = f"{builtin}_{k}_{j}"
                tensors.append(tensor(name, out_shape, dtype, *q))
                ops.append(Op(builtin, ["x", f"axes{k}"], [name], {"keep_dims": keep}))
    if dtype != "INT16":
        for axis in (0, 3, -2):
            name = f"argmax_{axis}"
            tensors += [const(f"argaxis{axis}", [axis])]
            tensors.append(tensor(name, _reduced_shape(shape, [axis], False), "INT32"))
            ops.append(Op("ARG_MAX", ["x", f"argaxis{axis}"], [name], {"output_type": "INT32"}))
    path = write(tmp_path, f"reduce_{dtype}", tensors, ops, ["x"])
    check_ops(path, POOL_REDUCE, len(ops))
    check_model(path)


# ----------------------------------------------------------------------------- by hand


def call_for(builtin, opts, x: np.ndarray, out_shape, quant=(), out_quant=None) -> KernelCall:
    """A one-input call; `quant`, `out_quant`: (scale, zero point), the output's default `quant`."""
    out_quant = quant if out_quant is None else out_quant
    return KernelCall(
        builtin,
        opts,
        [tensor_info(x.shape, x.dtype, *quant)],
        [tensor_info(out_shape, x.dtype, *out_quant)],
    )


POOL_OPTS = {
    "filter_height": 3,
    "filter_width": 3,
    "stride_h": 2,
    "stride_w": 2,
    "padding": "SAME",
    "fused_activation_function": "NONE",
}


def test_same_padding_counts_only_inside_elements():
    """4x4 input, 3x3 window, stride 2, SAME: total padding 1, all of it after."""
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    y = KERNELS["AVERAGE_POOL_2D"](call_for("AVERAGE_POOL_2D", POOL_OPTS, x, (1, 2, 2, 1)), x)
    v = x[0, :, :, 0]
    expected = [[v[0:3, 0:3].mean(), v[0:3, 2:4].mean()], [v[2:4, 0:3].mean(), v[2:4, 2:4].mean()]]
    np.testing.assert_allclose(y[0, :, :, 0], expected, rtol=1e-6)


def test_same_padding_odd_total_puts_the_extra_row_after():
    """5x5 input, 4x4 window, stride 1, SAME: total padding 3 = 1 before, 2 after."""
    x = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    opts = dict(POOL_OPTS, filter_height=4, filter_width=4, stride_h=1, stride_w=1)
    y = KERNELS["MAX_POOL_2D"](call_for("MAX_POOL_2D", opts, x, (1, 5, 5, 1)), x)
    v = x[0, :, :, 0]
    expected = [
        [v[max(i - 1, 0) : i + 3, max(j - 1, 0) : j + 3].max() for j in range(5)] for i in range(5)
    ]
    np.testing.assert_array_equal(y[0, :, :, 0], expected)


def test_integer_average_rounds_half_away_from_zero():
    """(-3 + -2) / 2 = -2.5 -> -3 and (3 + 2) / 2 = 2.5 -> 3, as TFLite's int8 kernel."""
    x = np.array([-3, -2, 3, 2], dtype=np.int8).reshape(1, 1, 4, 1)
    opts = dict(POOL_OPTS, filter_height=1, filter_width=2, stride_h=1, padding="VALID")
    call = call_for("AVERAGE_POOL_2D", opts, x, (1, 1, 2, 1), (0.1, 0))
    np.testing.assert_array_equal(KERNELS["AVERAGE_POOL_2D"](call, x).ravel(), [-3, 3])


def test_window_entirely_in_padding_is_an_error():
    x = np.zeros((1, 2, 2, 1), np.float32)
    opts = dict(POOL_OPTS, filter_height=1, filter_width=1, stride_h=3, stride_w=3)
    opts["padding"] = "VALID"
    y = KERNELS["AVERAGE_POOL_2D"](call_for("AVERAGE_POOL_2D", opts, x, (1, 1, 1, 1)), x)
    assert y.shape == (1, 1, 1, 1)
    with pytest.raises(LitecError, match="output shape"):
        KERNELS["AVERAGE_POOL_2D"](call_for("AVERAGE_POOL_2D", opts, x, (1, 2, 2, 1)), x)


def test_quantized_sum_is_rescaled_from_the_true_sum():
    """SUM int8: (Σq - n·zp) · s_in / s_out + zp_out, as TFLite's QuantizedMeanOrSum intends.

    TFLite 2.3's BUILTIN_REF int8/int16 SUM reads its data as uint8 (reduce.cc passes
    GetTensorData<uint8_t> whatever the type): litec follows the kernel's intent, which the
    optimized kernel also computes, not that bug.
    """
    x = np.array([[10, -20, 30, 5]], dtype=np.int8)
    call = call_for("SUM", {"keep_dims": False}, x, (1,), (0.5, 2), (1.0, -1))
    y = KERNELS["SUM"](call, x, np.array([1], np.int32))
    # (10 - 20 + 30 + 5 - 4 * 2) * 0.5 = 8.5 rounds away from zero to 9; + zp_out -1
    np.testing.assert_array_equal(y, [8])


@pytest.mark.xfail(
    strict=True,
    reason="TFLite's BUILTIN_REF int8 SUM reinterprets its data as uint8 (upstream bug)",
)
def test_int8_sum_differs_from_builtin_ref(tmp_path):
    """Flags the day TFLite fixes reference SUM for int8: then litec must match it exactly."""
    qin, qout = QUANT["INT8"]
    tensors = [
        tensor("x", (2, 3, 4), "INT8", *qin),
        const("axes", [1]),
        tensor("y", (2, 4), "INT8", *qout),
    ]
    path = write(tmp_path, "sum_int8", tensors, [Op("SUM", ["x", "axes"], ["y"])], ["x"])
    check_ops(path, POOL_REDUCE, 1)


def test_nan_never_wins_max_or_arg_max(tmp_path):
    """TFLite keeps `in > current`: NaN is skipped, except as the first of an all-axes max."""
    tensors = [tensor("x", (4, 3)), const("a1", [1]), const("a01", [0, 1])]
    tensors += [tensor("m", (4,)), tensor("all", ()), tensor("am", (4,), "INT32")]
    ops = [
        Op("REDUCE_MAX", ["x", "a1"], ["m"]),
        Op("REDUCE_MAX", ["x", "a01"], ["all"]),
        Op("ARG_MAX", ["x", "a1"], ["am"], {"output_type": "INT32"}),
    ]
    path = write(tmp_path, "nan_max", tensors, ops, ["x"])
    nan, inf = np.nan, np.inf
    x = np.array([[nan, -inf, 3], [nan, nan, nan], [1, nan, 5], [nan, -inf, -inf]], np.float32)
    ours = Interpreter(import_model(read_model(path))).run([x])
    ref = run_oracle(path, [x])
    for i, (name, arr) in enumerate(ours.items()):
        np.testing.assert_array_equal(arr, ref[f"out{i}"], err_msg=name)
    np.testing.assert_array_equal(ours["am"], [2, 0, 2, 1])


def test_reduction_axes_wrap_dedupe_and_are_checked():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    call = call_for("SUM", {"keep_dims": False}, x, (3,))
    np.testing.assert_array_equal(KERNELS["SUM"](call, x, np.array([-1, 0, 2])), x.sum((0, 2)))
    with pytest.raises(LitecError, match="axis 3 is out of range for rank 3"):
        KERNELS["SUM"](call, x, np.array([3]))
    empty = np.zeros((2, 0), np.float32)
    arg = KernelCall(
        "ARG_MAX", {}, [tensor_info(empty.shape, np.float32)], [tensor_info((2,), np.int32)]
    )
    with pytest.raises(LitecError, match="ARG_MAX axis 1 is empty"):
        KERNELS["ARG_MAX"](arg, empty, np.array([-1]))
