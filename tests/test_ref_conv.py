"""Convolution and matrix-product reference kernels against TFLite's reference kernels.

CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED and BATCH_MATMUL are checked
op by op on the real models (each op fed TFLite's own input tensors), on small synthetic
models (`tflite_builder`) for every type path the real models do not reach (uint8, 16x8
with int64 and int32 bias, per-tensor int8 weights, hybrid per-tensor and per-channel,
asymmetric input quantization, dilation, groups, depth multipliers, adjoints,
broadcasting), on hybrid inputs whose rounding the float32 width of their range decides,
and on hand-derived expectations for padding and input quantization.
Float within 1e-5 relative, quantized bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import model_path
from test_mediapipe_custom import rewrite_transpose_conv_bias
from tflite_builder import Op, Tensor
from zoo import check_model, check_ops, tensor_info, write_model

from litec.dialects.tfl_reference import KERNELS, KernelCall, TensorInfo
from litec.dialects.tfl_reference.common import out_size_and_pad
from litec.ir.diagnostics import LitecError
from litec.lowering.tflite_reader import read_model

MINE = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL")

MODEL_OPS = {
    "kws_dscnn_fp32.tflite": 10,
    "kws_dscnn_int8.tflite": 10,
    "lstm_fp32.tflite": 1,
    "lstm_int8.tflite": 1,
    "mobilenet_v1_dr8.tflite": 28,
    "mobilenet_v1_fp16.tflite": 28,
    "mobilenet_v1_int8.tflite": 28,
    "mobilenet_v2_fp32.tflite": 53,
    "mobilenet_v2_int8.tflite": 53,
    "mobilenet_v3_small_int8.tflite": 54,
    "opcov_cnn_fp32.tflite": 10,
    "opcov_cnn_int8.tflite": 10,
    "tiny_transformer_fp32.tflite": 16,
    "tiny_transformer_int8.tflite": 16,
    "face_detection_short_range.tflite": 37,
    "hand_landmark_lite.tflite": 51,
}
"""Real models (fast enough for the default run) and how many of their ops are ours."""

SLOW_MODEL_OPS = {
    "mobilenet_v1_fp32.tflite": 28,
    "mobilenet_v3_small_fp32.tflite": 54,
    "face_detection_full_range_sparse.tflite": 91,
    "face_landmark.tflite": 45,
    "hand_landmark_full.tflite": 51,
    "hand_recrop.tflite": 33,
    "iris_landmark.tflite": 81,
    "palm_detection_full.tflite": 63,
    "palm_detection_lite.tflite": 53,
    "pose_detection.tflite": 73,
    "pose_landmark_full.tflite": 96,
}


@pytest.mark.parametrize("name", sorted(MODEL_OPS))
def test_real_model_ops(name):
    check_ops(model_path(name), MINE, MODEL_OPS[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_MODEL_OPS))
def test_real_model_ops_slow(name):
    check_ops(model_path(name), MINE, SLOW_MODEL_OPS[name])


@pytest.mark.parametrize(
    "name",
    [
        "selfie_segmentation.tflite",
        pytest.param("selfie_segmentation_landscape.tflite", marks=pytest.mark.slow),
    ],
)
def test_selfie_segmentation_ops(name, tmp_path):
    """TFLite runs these with their Convolution2DTransposeBias rewritten to TRANSPOSE_CONV."""
    path = tmp_path / name
    path.write_bytes(rewrite_transpose_conv_bias(read_model(model_path(name))))
    check_ops(path, MINE, 55)


@pytest.mark.parametrize("name", ["mobilenet_v1_dr8.tflite", "mobilenet_v2_int8.tflite"])
def test_whole_model(name):
    """Whole models (others' kernels included)."""
    check_model(model_path(name))


# ----------------------------------------------------------------------------- synthetic models

RNG_SEED = 20261123


@dataclass(frozen=True)
class Variant:
    """The tensor types of one kernel path."""

    x: str  # activation type (input and output)
    w: str  # weight type
    per_channel: bool
    bias: str  # bias type
    w_zero_point: int = 0  # of int8 weights; only FULLY_CONNECTED accepts one


VARIANTS = {
    "float": Variant("FLOAT32", "FLOAT32", False, "FLOAT32"),
    "int8": Variant("INT8", "INT8", True, "INT32"),
    "int8_per_tensor": Variant("INT8", "INT8", False, "INT32"),
    "uint8": Variant("UINT8", "UINT8", False, "INT32"),
    "int16": Variant("INT16", "INT8", True, "INT64"),
    "int16_int32_bias": Variant("INT16", "INT8", True, "INT32"),
    "hybrid": Variant("FLOAT32", "INT8", True, "FLOAT32"),
    "hybrid_per_tensor": Variant("FLOAT32", "INT8", False, "FLOAT32"),
}

ACT_QUANT = {"INT8": (0.05, 3, -5), "UINT8": (0.05, 131, 120), "INT16": (0.001, 0, 0)}
"""Activation (scale, input zero point, output zero point) per quantized type."""

SPREAD = {"INT8": 74.0, "UINT8": 74.0, "INT16": 18900.0, "FLOAT32": 0.58}
"""Standard deviation of a seeded input (harness.seeded_input) or weight, in stored units."""

TARGET = {"INT8": 40.0, "UINT8": 40.0, "INT16": 8000.0}
"""Standard deviation the outputs should have, in stored units: spread, not saturated."""

NP_TYPES = {
    "FLOAT32": np.float32,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
}


class ModelWriter:
    """Collects single-op cases (each with its own inputs) into one model."""

    def __init__(self, variant: Variant, equal_scales: bool = False):
        self.v = variant
        self.equal_scales = equal_scales
        self.rng = np.random.default_rng(RNG_SEED)
        self.tensors: list[Tensor] = []
        self.ops: list[Op] = []
        self.inputs: list[str] = []

    def activation(self, name: str, shape, output: bool, scale: float | None = None) -> str:
        v = self.v
        if v.x == "FLOAT32":
            self.tensors.append(Tensor(name, tuple(shape)))
        else:
            s, zp_in, zp_out = ACT_QUANT[v.x]
            zp = zp_out if output else zp_in
            self.tensors.append(
                Tensor(name, tuple(shape), v.x, scales=[scale or s], zero_points=[zp])
            )
        if not output:
            self.inputs.append(name)
        return name

    def weights(self, name: str, shape, axis: int) -> tuple[str, np.ndarray]:
        """A constant weight tensor; returns its name and per-output-channel scales."""
        v, rng = self.v, self.rng
        if v.w == "FLOAT32":
            data = rng.uniform(-1, 1, shape).astype(np.float32)
            self.tensors.append(Tensor(name, tuple(shape), data=data))
            return name, np.ones(shape[axis])
        if v.w == "UINT8":
            data = rng.integers(0, 256, shape).astype(np.uint8)
            self.tensors.append(
                Tensor(name, tuple(shape), "UINT8", data=data, scales=[0.01], zero_points=[120])
            )
            return name, np.full(shape[axis], 0.01)
        data = rng.integers(-127, 128, shape).astype(np.int8)
        count = shape[axis] if v.per_channel else 1
        scales = rng.uniform(0.005, 0.02, count).astype(np.float32)
        if self.equal_scales:
            scales[:] = scales[0]
        self.tensors.append(
            Tensor(
                name,
                tuple(shape),
                "INT8",
                data=data,
                scales=[float(s) for s in scales],
                zero_points=[v.w_zero_point] * count,
                quantized_dimension=axis,
            )
        )
        return name, np.broadcast_to(scales.astype(np.float64), (shape[axis],))

    def bias(self, name: str, w_scales: np.ndarray, acc_std: float) -> str:
        v, n = self.v, len(w_scales)
        if v.bias == "FLOAT32":
            data = self.rng.uniform(-1, 1, n).astype(np.float32)
            self.tensors.append(Tensor(name, (n,), data=data))
            return name
        data = self.rng.integers(-int(acc_std), int(acc_std) + 1, n).astype(NP_TYPES[v.bias])
        scales = [float(np.float32(ACT_QUANT[v.x][0] * s)) for s in w_scales]
        self.tensors.append(
            Tensor(name, (n,), v.bias, data=data, scales=scales, zero_points=[0] * n)
        )
        return name

    def out_scale(self, w_scales: np.ndarray, depth: float) -> tuple[float | None, float]:
        """(output scale, accumulator spread) for sums of `depth` products."""
        acc_std = math.sqrt(depth) * SPREAD[self.v.x] * SPREAD[self.v.w]
        if self.v.x == "FLOAT32":
            return None, acc_std
        real = ACT_QUANT[self.v.x][0] * float(np.mean(w_scales)) * acc_std
        return real / TARGET[self.v.x], acc_std

    def op(self, builtin, inputs, output, options) -> None:
        self.ops.append(Op(builtin, inputs, [output], options))

    def write(self, path) -> object:
        return write_model(path, self.tensors, self.ops, self.inputs)


def _out(size, k, stride, dilation, padding):
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        return -(-size // stride)
    return (size - eff) // stride + 1


def _window_options(padding, stride, dilation, activation) -> dict:
    return {
        "padding": padding,
        "stride_h": stride[0],
        "stride_w": stride[1],
        "dilation_h_factor": dilation[0],
        "dilation_w_factor": dilation[1],
        "fused_activation_function": activation,
    }


def _bias_type_option(v: Variant) -> dict:
    return {"quantized_bias_type": v.bias} if v.x == "INT16" else {}


CONVS = [
    # input NHWC, filter OHWI, stride (h, w), dilation (h, w), padding, activation
    ((2, 9, 8, 4), (6, 3, 3, 4), (2, 1), (1, 1), "SAME", "RELU6"),
    ((1, 10, 11, 3), (5, 3, 2, 3), (1, 1), (2, 3), "VALID", "NONE"),
    ((1, 7, 7, 6), (4, 3, 3, 3), (2, 2), (1, 1), "SAME", "RELU"),  # two groups
    ((1, 5, 5, 8), (16, 1, 1, 8), (1, 1), (1, 1), "VALID", "RELU_N1_TO_1"),
    ((1, 8, 10, 2), (3, 4, 4, 2), (3, 3), (1, 1), "SAME", "NONE"),
    ((1, 6, 6, 3), (4, 3, 3, 3), (1, 1), (2, 2), "SAME", "NONE"),
]


def conv_model(m: ModelWriter, tmp_path, cases=CONVS):
    for k, (xs, ws, stride, dil, pad, act) in enumerate(cases):
        x = m.activation(f"x{k}", xs, output=False)
        w, w_scales = m.weights(f"w{k}", ws, axis=0)
        scale, acc_std = m.out_scale(w_scales, ws[1] * ws[2] * ws[3])
        b = m.bias(f"b{k}", w_scales, acc_std)
        oh, ow = (_out(xs[i + 1], ws[i + 1], stride[i], dil[i], pad) for i in range(2))
        y = m.activation(f"y{k}", (xs[0], oh, ow, ws[0]), output=True, scale=scale)
        opts = _window_options(pad, stride, dil, act) | _bias_type_option(m.v)
        m.op("CONV_2D", [x, w, b], y, opts)
    return m.write(tmp_path / "conv.tflite")


DEPTHWISE = [
    # input NHWC, depth multiplier, kernel, stride, dilation, padding, activation
    ((2, 9, 8, 4), 1, (3, 3), (1, 1), (1, 1), "SAME", "RELU6"),
    ((1, 10, 11, 3), 2, (3, 2), (2, 2), (1, 1), "VALID", "NONE"),
    ((1, 8, 8, 2), 3, (3, 3), (1, 1), (2, 2), "SAME", "RELU"),
    ((1, 7, 9, 5), 1, (5, 5), (2, 3), (1, 1), "SAME", "RELU_N1_TO_1"),
]


def depthwise_model(m: ModelWriter, tmp_path, cases=DEPTHWISE):
    for k, (xs, mult, kern, stride, dil, pad, act) in enumerate(cases):
        ch = xs[3] * mult
        x = m.activation(f"x{k}", xs, output=False)
        w, w_scales = m.weights(f"w{k}", (1, *kern, ch), axis=3)
        scale, acc_std = m.out_scale(w_scales, kern[0] * kern[1])
        b = m.bias(f"b{k}", w_scales, acc_std)
        oh, ow = (_out(xs[i + 1], kern[i], stride[i], dil[i], pad) for i in range(2))
        y = m.activation(f"y{k}", (xs[0], oh, ow, ch), output=True, scale=scale)
        opts = _window_options(pad, stride, dil, act) | {"depth_multiplier": mult}
        m.op("DEPTHWISE_CONV_2D", [x, w, b], y, opts)
    return m.write(tmp_path / "depthwise.tflite")


TRANSPOSED = [
    # input NHWC, filter OHWI, stride, padding, output HW, activation, bias
    ((1, 4, 5, 3), (2, 3, 3, 3), (2, 2), "SAME", (8, 10), "NONE", True),
    ((2, 3, 3, 2), (4, 3, 2, 2), (2, 1), "VALID", (7, 4), "RELU", True),
    ((1, 3, 4, 4), (3, 4, 4, 4), (3, 3), "SAME", (9, 12), "RELU6", False),
    ((1, 5, 5, 2), (2, 2, 2, 2), (2, 2), "SAME", (9, 10), "NONE", True),
]


def transpose_conv_model(m: ModelWriter, tmp_path, cases=TRANSPOSED):
    for k, (xs, ws, stride, pad, (oh, ow), act, has_bias) in enumerate(cases):
        x = m.activation(f"x{k}", xs, output=False)
        w, w_scales = m.weights(f"w{k}", ws, axis=0)
        depth = ws[1] * ws[2] * ws[3] / (stride[0] * stride[1])
        scale, acc_std = m.out_scale(w_scales, depth)
        b = m.bias(f"b{k}", w_scales, acc_std) if has_bias else None
        shape = np.array([xs[0], oh, ow, ws[0]], np.int32)
        m.tensors.append(Tensor(f"shape{k}", (4,), "INT32", data=shape))
        y = m.activation(f"y{k}", tuple(shape), output=True, scale=scale)
        opts = {
            "padding": pad,
            "stride_h": stride[0],
            "stride_w": stride[1],
            "fused_activation_function": act,
            **_bias_type_option(m.v),
        }
        m.op("TRANSPOSE_CONV", [f"shape{k}", w, x, b], y, opts)
    return m.write(tmp_path / "transpose_conv.tflite")


FULLY_CONNECTED = [
    # input shape, units, keep_num_dims, activation, bias
    ((3, 10), 7, False, "NONE", True),
    ((2, 3, 8), 5, True, "RELU", False),
    ((2, 3, 8), 6, False, "RELU6", True),
    ((1, 2, 2, 6), 4, False, "RELU_N1_TO_1", True),
]


def fully_connected_model(m: ModelWriter, tmp_path, asymmetric=False, cases=FULLY_CONNECTED):
    for k, (xs, units, keep, act, has_bias) in enumerate(cases):
        depth = xs[-1]
        x = m.activation(f"x{k}", xs, output=False)
        w, w_scales = m.weights(f"w{k}", (units, depth), axis=0)
        scale, acc_std = m.out_scale(w_scales, depth)
        b = m.bias(f"b{k}", w_scales, acc_std) if has_bias else None
        out_shape = (*xs[:-1], units) if keep else (math.prod(xs) // depth, units)
        y = m.activation(f"y{k}", out_shape, output=True, scale=scale)
        opts = {
            "fused_activation_function": act,
            "keep_num_dims": keep,
            "asymmetric_quantize_inputs": asymmetric,
            **_bias_type_option(m.v),
        }
        m.op("FULLY_CONNECTED", [x, w, b], y, opts)
    return m.write(tmp_path / "fully_connected.tflite")


MODELS = {
    "CONV_2D": (conv_model, CONVS),
    "DEPTHWISE_CONV_2D": (depthwise_model, DEPTHWISE),
    "TRANSPOSE_CONV": (transpose_conv_model, TRANSPOSED),
    "FULLY_CONNECTED": (fully_connected_model, FULLY_CONNECTED),
}

UNSUPPORTED_BY_TFLITE = {
    ("DEPTHWISE_CONV_2D", "int16_int32_bias"),  # its Prepare requires an int64 bias
    ("DEPTHWISE_CONV_2D", "hybrid_per_tensor"),  # its kernel reads past the one scale
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("builtin", sorted(MODELS))
def test_synthetic_cases(builtin, variant, tmp_path):
    if (builtin, variant) in UNSUPPORTED_BY_TFLITE:
        pytest.skip("TFLite itself does not run this combination")
    make, cases = MODELS[builtin]
    if (builtin, variant) == ("CONV_2D", "hybrid_per_tensor"):
        cases = [c for c in cases if c[0][3] == c[1][3]]  # TFLite: groups need per-channel
    if variant == "int16_int32_bias":
        # Without a bias only the quantized_bias_type option, which the tfl dialect does not
        # carry yet, says the accumulator is int32.
        cases = [c for c in cases if c[-1] is not False]
    path = make(ModelWriter(VARIANTS[variant]), tmp_path, cases=cases)
    check_ops(path, MINE, len(cases))
    check_model(path)


@pytest.mark.parametrize("variant", ["hybrid", "hybrid_per_tensor"])
def test_fully_connected_asymmetric_input_quantization(variant, tmp_path):
    path = fully_connected_model(ModelWriter(VARIANTS[variant]), tmp_path, asymmetric=True)
    check_ops(path, MINE, len(FULLY_CONNECTED))


def test_fully_connected_int8_weights_with_zero_point(tmp_path):
    """Per-tensor int8 weights may have a zero point in FULLY_CONNECTED (not in convolutions)."""
    variant = Variant("INT8", "INT8", False, "INT32", w_zero_point=9)
    path = fully_connected_model(ModelWriter(variant), tmp_path)
    check_ops(path, MINE, len(FULLY_CONNECTED))


def test_hybrid_fully_connected_applies_any_activation(tmp_path):
    """The hybrid path applies TANH and SIGN_BIT (the float path rejects them, like TFLite)."""
    cases = [((3, 10), 7, False, "TANH", True), ((2, 9), 4, False, "SIGN_BIT", True)]
    path = fully_connected_model(ModelWriter(VARIANTS["hybrid"]), tmp_path, cases=cases)
    check_ops(path, MINE, 2)


def test_hybrid_conv_with_equal_scales_is_per_tensor(tmp_path):
    """Per-channel scales that are all equal take TFLite's per-tensor (symmetric) path."""
    cases = CONVS[:2] + CONVS[3:]  # not the grouped one: groups always go per channel
    path = conv_model(ModelWriter(VARIANTS["hybrid"], equal_scales=True), tmp_path, cases)
    check_ops(path, MINE, len(cases))


BATCH_MATMULS = [
    # lhs shape, rhs shape, adj_x, adj_y
    ((2, 3, 4), (2, 4, 5), False, False),
    ((2, 4, 3), (2, 5, 4), True, True),
    ((1, 2, 3, 4), (2, 1, 4, 5), False, False),
    ((3, 4), (2, 5, 4), False, True),
    ((2, 1, 3, 4), (4, 5), False, False),
]

BMM_VARIANTS = {
    # lhs type, rhs type, output type, rhs constant with per-channel scales, asymmetric
    "float": ("FLOAT32", "FLOAT32", "FLOAT32", None, False),
    "int8": ("INT8", "INT8", "INT8", None, False),
    "int8_to_int32": ("INT8", "INT8", "INT32", None, False),
    "int16": ("INT16", "INT16", "INT16", None, False),
    "int16_int8": ("INT16", "INT8", "INT16", None, False),
    "hybrid": ("FLOAT32", "INT8", "FLOAT32", False, False),
    "hybrid_asymmetric": ("FLOAT32", "INT8", "FLOAT32", False, True),
    "hybrid_per_channel": ("FLOAT32", "INT8", "FLOAT32", True, True),
}

BMM_QUANT = {
    "INT8": ((0.05, 3), (0.04, -2), (0.8, -5)),
    "INT16": ((0.001, 0), (0.002, 0), (0.5, 0)),
}


def batch_matmul_model(variant: str, tmp_path, cases=BATCH_MATMULS):
    lt, rt, ot, per_channel, asym = BMM_VARIANTS[variant]
    rng = np.random.default_rng(RNG_SEED)
    tensors, ops, inputs = [], [], []
    for k, (ls, rs, adj_x, adj_y) in enumerate(cases):
        m = ls[-2] if adj_x else ls[-1]
        n = rs[-2] if adj_y else rs[-1]
        rows = ls[-1] if adj_x else ls[-2]
        batch = np.broadcast_shapes(ls[:-2], rs[:-2])
        out_shape = (*batch, rows, n)
        if lt == "FLOAT32":
            tensors.append(Tensor(f"a{k}", ls))
        else:
            (s, z), _, _ = BMM_QUANT[lt]
            tensors.append(Tensor(f"a{k}", ls, lt, scales=[s], zero_points=[z]))
        inputs.append(f"a{k}")
        if per_channel is None:
            if rt == "FLOAT32":
                tensors.append(Tensor(f"b{k}", rs))
            else:
                _, (s, z), _ = BMM_QUANT[rt]
                z = 0 if lt == "INT16" else z  # 16-bit kernels are symmetric
                tensors.append(Tensor(f"b{k}", rs, rt, scales=[s], zero_points=[z]))
            inputs.append(f"b{k}")
        else:
            data = rng.integers(-127, 128, rs).astype(np.int8)
            count = n if per_channel else 1
            scales = [float(s) for s in rng.uniform(0.005, 0.02, count).astype(np.float32)]
            tensors.append(
                Tensor(
                    f"b{k}",
                    rs,
                    "INT8",
                    data=data,
                    scales=scales,
                    zero_points=[0] * count,
                    quantized_dimension=len(rs) - (2 if adj_y else 1),
                )
            )
        if ot in ("FLOAT32", "INT32"):
            tensors.append(Tensor(f"y{k}", out_shape, ot))
        else:
            _, _, (s, z) = BMM_QUANT[ot]
            tensors.append(
                Tensor(f"y{k}", out_shape, ot, scales=[s * math.sqrt(m)], zero_points=[z])
            )
        opts = {"adj_x": adj_x, "adj_y": adj_y, "asymmetric_quantize_inputs": asym}
        ops.append(Op("BATCH_MATMUL", [f"a{k}", f"b{k}"], [f"y{k}"], opts))
    return write_model(tmp_path / f"bmm_{variant}.tflite", tensors, ops, inputs)


@pytest.mark.parametrize("variant", sorted(BMM_VARIANTS))
def test_batch_matmul_cases(variant, tmp_path):
    check_ops(batch_matmul_model(variant, tmp_path), MINE, len(BATCH_MATMULS))


# ----------------------------------------------------------------------------- input quantization

TIE_RANGE = (-0.3, 0.9)
TIE_VALUES = (-0.28, 0.28)
"""Hybrid inputs spanning TIE_RANGE, with TIE_VALUES among them. TFLite's asymmetric input
quantizer takes rmax - rmin in float32: 1.2f, not the exact 1.19999998808; from its scale
±0.28 lie ±59.499996 steps from 0, from the exact width's ±59.500004: they round apart
(59 or 60 steps)."""

FIRST_CONV = ((1, 8, 8, 3), (8, 3, 3, 3), (2, 2), (1, 1), "SAME", "RELU6")
"""A network's first convolution: 3 input channels, stride 2, padded with the zero point."""


def _per_batch(shape) -> int:
    return math.prod(shape[1:])


def _per_row(shape) -> int:
    return shape[-1]


def _hybrid(make, cases, **kw):
    return lambda tmp_path: make(ModelWriter(VARIANTS["hybrid"]), tmp_path, cases=cases, **kw)


TIE_MODELS = {
    "CONV_2D": (_hybrid(conv_model, [FIRST_CONV, CONVS[1]]), _per_batch),
    "DEPTHWISE_CONV_2D": (_hybrid(depthwise_model, DEPTHWISE[1:2]), _per_batch),
    "TRANSPOSE_CONV": (_hybrid(transpose_conv_model, TRANSPOSED[:2]), _per_batch),
    "FULLY_CONNECTED": (_hybrid(fully_connected_model, FULLY_CONNECTED, asymmetric=True), _per_row),
    "BATCH_MATMUL": (lambda tmp_path: batch_matmul_model("hybrid_asymmetric", tmp_path), _per_row),
}
"""Hybrid models whose input quantization is asymmetric, and how many input values make
up one quantization row (a batch for the convolutions, a row for the matrix products)."""


def tie_inputs(path, row_size) -> list[np.ndarray]:
    """Seeded inputs for a float model: each quantization row uniform in TIE_RANGE, holding
    both ends of it and, every 7th value, TIE_VALUES (vectorised lanes and tails alike)."""
    rng = np.random.default_rng(RNG_SEED)
    sg = read_model(path).main
    arrays = []
    for t in sg.inputs:
        shape = sg.tensors[t].shape
        row = row_size(shape)
        x = rng.uniform(*TIE_RANGE, (math.prod(shape) // row, row)).astype(np.float32)
        x[:, :2] = TIE_RANGE
        x[:, 2::7] = TIE_VALUES[0]
        x[:, 5::7] = TIE_VALUES[1]
        arrays.append(x.reshape(shape))
    return arrays


@pytest.mark.parametrize("builtin", sorted(TIE_MODELS))
def test_hybrid_input_range_width_in_float32(builtin, tmp_path):
    """Asymmetric input quantization's scale comes from the range's float32 width: hybrid
    kernels equal TFLite's bit for bit where that decides a rounding (as in MobileNetV2's
    first convolution with int8 weights, inputs in [-1, 1]: 7.7e-4 relative otherwise)."""
    make, row_size = TIE_MODELS[builtin]
    path = make(tmp_path)
    check_model(path, tie_inputs(path, row_size), exact=True)


# ----------------------------------------------------------------------------- by hand


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("SAME", 10, 3, 3, 1), (4, 1)),  # total padding 2: one before, one after
        (("SAME", 9, 4, 2, 1), (5, 1)),  # total 3: the odd one goes after
        (("VALID", 10, 3, 3, 1), (3, 0)),
        (("SAME", 6, 3, 1, 2), (6, 2)),  # dilated kernel spans 5
        (("VALID", 11, 2, 1, 3), (8, 0)),
        (("SAME", 5, 1, 2, 1), (3, 0)),
    ],
)
def test_padding(args, expected):
    assert out_size_and_pad(*args) == expected


def _call(builtin, x: TensorInfo, w: TensorInfo, out: TensorInfo, **opts) -> KernelCall:
    return KernelCall(builtin, opts, [x, w, None], [out], op_index=7)


def test_unsupported_type_combination_is_a_user_error():
    x = tensor_info((1, 4), np.int8, 0.1)
    w = tensor_info((3, 4), np.uint8, 0.1)
    out = tensor_info((1, 3), np.int8, 0.1)
    call = _call("FULLY_CONNECTED", x, w, out, fused_activation_function="NONE")
    with pytest.raises(LitecError, match="int8 input with uint8 weights"):
        KERNELS["FULLY_CONNECTED"](call, np.zeros((1, 4), np.int8), np.zeros((3, 4), np.uint8))


def test_float_fully_connected_rejects_tanh():
    f32 = np.dtype(np.float32)
    call = _call(
        "FULLY_CONNECTED",
        TensorInfo((1, 4), f32),
        TensorInfo((3, 4), f32),
        TensorInfo((1, 3), f32),
        fused_activation_function="TANH",
    )
    with pytest.raises(LitecError, match="TANH"):
        KERNELS["FULLY_CONNECTED"](call, np.zeros((1, 4), f32), np.zeros((3, 4), f32))


def test_conv_output_size_mismatch_is_reported():
    f32 = np.dtype(np.float32)
    call = KernelCall(
        "CONV_2D",
        _window_options("VALID", (1, 1), (1, 1), "NONE"),
        [TensorInfo((1, 5, 5, 1), f32), TensorInfo((1, 3, 3, 1), f32), None],
        [TensorInfo((1, 5, 5, 1), f32)],
    )
    with pytest.raises(LitecError, match="does not match the computed"):
        KERNELS["CONV_2D"](call, np.zeros((1, 5, 5, 1), f32), np.zeros((1, 3, 3, 1), f32))
