"""Activation reference kernels and `runtime/gemmlowp.py` against TFLite (BUILTIN_REF).

- every activation op of the corpus and MediaPipe models, run alone on TFLite's inputs,
  and whole models whose kernels all exist;
- synthetic models for the dtypes and options the corpus does not reach (uint8, int16,
  int8 -> int16 softmax, approximate GELU, LOG_SOFTMAX, L2_NORMALIZATION, random scales);
- gemmlowp's fixed-point functions: values from the C++ implementation (int32 and int16
  raw types, edge inputs included) and properties checked with hypothesis.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
from conftest import model_path
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mediapipe_custom import rewrite_transpose_conv_bias
from tflite_builder import Op
from zoo import check_model, check_ops, check_zoo, random_quant, tensor

from litec.dialects.tfl_reference.activations import erfc
from litec.dialects.tfl_reference.common import lookup_int16, lut_int16
from litec.lowering.tflite_reader import read_model
from litec.runtime import gemmlowp

ACTIVATIONS = {
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "LOGISTIC",
    "TANH",
    "HARD_SWISH",
    "LEAKY_RELU",
    "PRELU",
    "GELU",
    "SOFTMAX",
    "LOG_SOFTMAX",
    "L2_NORMALIZATION",
}

# ----------------------------------------------------------------------------- real models


@pytest.mark.parametrize(
    "name",
    [
        "opcov_cnn_fp32.tflite",
        "opcov_cnn_int8.tflite",
        "mobilenet_v3_small_fp32.tflite",
        "mobilenet_v3_small_int8.tflite",
        "tiny_transformer_fp32.tflite",
        "tiny_transformer_int8.tflite",
        "kws_dscnn_int8.tflite",
        "mobilenet_v2_int8.tflite",
        "face_landmark.tflite",
        "hand_landmark_lite.tflite",
        "iris_landmark.tflite",
    ],
)
def test_model_ops_match_tflite(name):
    """Each activation op of a real model, run alone on TFLite's inputs."""
    check_ops(model_path(name), ACTIVATIONS)


def test_selfie_segmentation_ops_match_tflite(tmp_path):
    """HARD_SWISH, LOGISTIC, RELU, MUL, ADD of MediaPipe's selfie model.

    TFLite cannot run the model's custom transpose convolution, so TFLite runs the model
    with that op rewritten to the equivalent builtin (see test_mediapipe_custom).
    """
    path = model_path("selfie_segmentation.tflite")
    rewritten = tmp_path / "selfie_builtin.tflite"
    rewritten.write_bytes(rewrite_transpose_conv_bias(read_model(path)))
    builtins = ACTIVATIONS | {"ADD", "MUL"}
    check_ops(path, builtins, oracle_path=rewritten)


@pytest.mark.parametrize(
    "name",
    [
        "opcov_cnn_int8.tflite",
        "mobilenet_v3_small_int8.tflite",
        "tiny_transformer_int8.tflite",
        "kws_dscnn_int8.tflite",
        "opcov_cnn_fp32.tflite",
    ],
)
def test_whole_model_matches_tflite(name):
    """Whole models (every kernel present) match: int8 bit-exact, float within tolerance."""
    check_model(model_path(name))


# ----------------------------------------------------------------------------- synthetic models


def _unary(tensors, ops, builtin, dtype, params, out_dtype=None, options=None, alpha=None):
    """Append `builtin(x)` on a (2, 3, 9) tensor.

    `alpha` is PRELU's constant second input: (dtype, scale, zero point, data).
    """
    name = f"{builtin.lower()}_{len(ops)}"
    si, zi, so, zo = params
    tensors.append(tensor(f"{name}_x", (2, 3, 9), dtype, si, zi))
    inputs = [f"{name}_x"]
    if alpha is not None:
        alpha_dtype, scale, zero_point, data = alpha
        tensors.append(tensor(f"{name}_alpha", data.shape, alpha_dtype, scale, zero_point, data))
        inputs.append(f"{name}_alpha")
    tensors.append(tensor(name, (2, 3, 9), out_dtype or dtype, so, zo))
    ops.append(Op(builtin, inputs, [name], options or {}))


def test_float_activations(tmp_path):
    tensors, ops = [], []
    plain = (None, 0, None, 0)
    for builtin in (
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "LOGISTIC",
        "TANH",
        "HARD_SWISH",
        "LOG_SOFTMAX",
        "L2_NORMALIZATION",
    ):
        _unary(tensors, ops, builtin, "FLOAT32", plain)
    _unary(tensors, ops, "GELU", "FLOAT32", plain, options={"approximate": False})
    _unary(tensors, ops, "GELU", "FLOAT32", plain, options={"approximate": True})
    _unary(tensors, ops, "LEAKY_RELU", "FLOAT32", plain, options={"alpha": 0.2})
    _unary(tensors, ops, "SOFTMAX", "FLOAT32", plain, options={"beta": 0.7})
    alpha = ("FLOAT32", None, 0, np.linspace(-1, 1, 9, dtype=np.float32))
    _unary(tensors, ops, "PRELU", "FLOAT32", plain, alpha=alpha)
    check_zoo(tmp_path / "float.tflite", tensors, ops, ACTIVATIONS)


@pytest.mark.parametrize("seed", [0, 1])
def test_quantized_activations(tmp_path, seed):
    """Every quantized activation TFLite's reference supports, with random parameters."""
    rng = np.random.default_rng(seed)

    q = partial(random_quant, rng)

    tensors, ops = [], []
    for dtype in ("INT8", "UINT8", "INT16"):
        low = -128 if dtype == "INT8" else 0  # the fixed output zero points below
        for builtin in ("RELU", "RELU6", "RELU_N1_TO_1"):
            if not (builtin == "RELU_N1_TO_1" and dtype == "INT16"):
                _unary(tensors, ops, builtin, dtype, (*q(dtype), *q(dtype)))
        alpha_value = float(rng.uniform(0.01, 2))
        _unary(
            tensors,
            ops,
            "LEAKY_RELU",
            dtype,
            (*q(dtype), *q(dtype)),
            options={"alpha": alpha_value},
        )
        alpha_dtype = "UINT8" if dtype == "UINT8" else "INT8"  # int16 PReLU takes int8 alphas
        alpha_data = rng.integers(0, 256, (1, 1, 9)).astype(np.uint8)
        if alpha_dtype == "INT8":
            alpha_data = alpha_data.view(np.int8)
        alpha = (alpha_dtype, *q(alpha_dtype, -3, -1), alpha_data)
        _unary(tensors, ops, "PRELU", dtype, (*q(dtype), *q(dtype)), alpha=alpha)
        for approximate in (False, True):
            _unary(
                tensors,
                ops,
                "GELU",
                dtype,
                (*q(dtype, -2, -0.5), *q(dtype, -2, -0.5)),
                options={"approximate": approximate},
            )
        if dtype == "INT16":
            continue
        _unary(tensors, ops, "LOGISTIC", dtype, (*q(dtype, -2, 0), 1 / 256, low))
        _unary(tensors, ops, "TANH", dtype, (*q(dtype, -2, 0), 1 / 128, low + 128))
        _unary(tensors, ops, "HARD_SWISH", dtype, (*q(dtype, -2, 0), *q(dtype, -2, 0)))
        _unary(
            tensors, ops, "SOFTMAX", dtype, (*q(dtype, -2, 0), 1 / 256, low), options={"beta": 1.0}
        )
        _unary(
            tensors,
            ops,
            "SOFTMAX",
            dtype,
            (*q(dtype, -2, 0), 1 / 32768, 0),
            out_dtype="INT16",
            options={"beta": 1.0},
        )
        _unary(tensors, ops, "LOG_SOFTMAX", dtype, (*q(dtype, -2, 0), 16 / 256, low + 255))
        _unary(tensors, ops, "L2_NORMALIZATION", dtype, (*q(dtype, -2, 0), 1 / 128, low + 128))
    _unary(
        tensors, ops, "SOFTMAX", "INT16", (*q("INT16", -4, -3), 1 / 32768, 0), options={"beta": 1.0}
    )
    check_zoo(tmp_path / "quantized.tflite", tensors, ops, ACTIVATIONS)


def test_int16_lookup_table_interpolates():
    """An identity int16 table gives back its input (LUTLookup's interpolation is exact)."""
    lut = lut_int16(lambda v: v, 1 / 32768, 0, 1 / 32768, 0)
    x = np.arange(-32768, 32768, 97, dtype=np.int16)
    assert np.abs(lookup_int16(x, lut).astype(int) - x).max() <= 1


def test_erfc_is_accurate():
    x = np.linspace(-6, 6, 2001)
    want = np.array([math.erfc(v) for v in x])
    assert np.all(np.abs(erfc(x) - want) <= 1.3e-7 * want)


# ----------------------------------------------------------------------------- gemmlowp

# (input, output) raw pairs from gemmlowp's and TFLite's C++, edge inputs first.
EXP_ON_NEGATIVE_VALUES = {
    (32, 5): [(0, 2147483647), (-(2**31), 0), (-118380734, 367984755), (-1793548877, 0)],
    (32, 0): [(0, 2147483647), (-(2**31), 790015308), (-2037181481, 831653184)],
    (16, 3): [(0, 32767), (-32768, 11), (-800, 26954), (-21634, 167)],
}
LOGISTIC = {
    (32, 4): [(0, 1073741824), (-(2**31), 241), (2**31 - 1, 2147483406), (711969236, 2136866064)],
    (16, 3): [(0, 16384), (-32768, 11), (32767, 32756), (-800, 14787), (-21634, 165)],
}
TANH = {
    (32, 4): [(0, 0), (-(2**31), -2147483647), (2**31 - 1, 2147483647), (711969236, 2147377604)],
    (16, 3): [(0, 0), (-32768, -32767), (32767, 32767), (-800, -6316), (-21634, -32767)],
}


@pytest.mark.parametrize(
    "fn, table",
    [
        (gemmlowp.exp_on_negative_values, EXP_ON_NEGATIVE_VALUES),
        (gemmlowp.logistic, LOGISTIC),
        (gemmlowp.tanh, TANH),
    ],
)
def test_gemmlowp_transcendentals_match_cpp(fn, table):
    for (bits, integer_bits), pairs in table.items():
        x = np.array([p[0] for p in pairs])
        assert fn(x, integer_bits, bits).tolist() == [p[1] for p in pairs], (bits, integer_bits)


def test_gemmlowp_reciprocals_match_cpp():
    a = np.array([357700937, 1925214238, 1118690020])
    assert gemmlowp.one_over_one_plus_x_for_x_in_0_1(a, 32).tolist() == [
        1840856772,
        1132341790,
        1411953710,
    ]
    assert gemmlowp.one_minus_x_over_one_plus_x_for_x_in_0_1(a, 32).tolist() == [
        1534229896,
        117199932,
        676423772,
    ]
    b = np.array([15248, 9089, 28504])
    assert gemmlowp.one_over_one_plus_x_for_x_in_0_1(b, 16).tolist() == [22360, 25652, 17522]


def test_tflite_fixed_point_helpers_match_cpp():
    scale, bits_over_unit = gemmlowp.get_reciprocal(np.array([1, 5626, 41110743]), 12)
    assert scale.tolist() == [2147483647, 1563471920, 1752767980]
    assert bits_over_unit.tolist() == [-19, -7, 6]
    logs = gemmlowp.log_x_for_x_greater_than_or_equal_to_1(
        np.array([2**19, 41110743, 3461701]), 5, 12
    )
    assert logs.tolist() == [0, 292727764, 126666252]
    mult, shift = gemmlowp.inv_sqrt_quantized_multiplier_exp(np.array([0, 1, 24627, 5626]), -1)
    assert mult.tolist() == [2147483647, 2147483647, 218949579, 229044558]
    assert shift.tolist() == [0, 0, -4, -3]


int32s = st.integers(-(2**31) + 1, 2**31 - 1)


@given(st.lists(int32s, min_size=1, max_size=50))
@settings(max_examples=50, deadline=None)
def test_logistic_and_tanh_symmetries(values):
    x = np.array(values)
    nonzero = x != 0
    total = gemmlowp.logistic(x, 4, 32) + gemmlowp.logistic(-x, 4, 32)
    assert np.all(total[nonzero] == 2**31 - 1)  # One - r + r
    assert np.array_equal(gemmlowp.tanh(-x, 4, 32), -gemmlowp.tanh(x, 4, 32))


@given(st.lists(st.integers(-(2**31), 0), min_size=1, max_size=50))
@settings(max_examples=50, deadline=None)
def test_exp_on_negative_values_is_close_to_exp(values):
    a = np.array(values)
    got = gemmlowp.exp_on_negative_values(a, 5, 32) / 2**31
    assert np.abs(got - np.exp(a / 2**26)).max() < 5e-7


@given(st.lists(st.integers(2, 2**31 - 1), min_size=1, max_size=50))
@settings(max_examples=50, deadline=None)
def test_inv_sqrt_and_log_are_close_to_float(values):
    x = np.array(values)
    mult, shift = gemmlowp.inv_sqrt_quantized_multiplier_exp(x, -1)
    assert np.abs(mult * 2.0**shift / 2**31 * np.sqrt(x) - 1).max() < 3e-6
    f12 = np.maximum(x, 2**19)  # values >= 1 in Q12.19
    logs = gemmlowp.log_x_for_x_greater_than_or_equal_to_1(f12, 5, 12) / 2**26
    assert np.abs(logs - np.log(f12 / 2**19)).max() < 2e-7


@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=50))
def test_count_leading_zeros(values):
    got = gemmlowp.count_leading_zeros32(np.array(values)).tolist()
    assert got == [32 - v.bit_length() for v in values]


@given(st.integers(-(2**15), 2**15 - 1), st.integers(-(2**15), 2**15 - 1))
def test_int16_mul_is_a_rounded_doubling_high_product(a, b):
    got = int(gemmlowp.mul(a, b, 16))
    if a == b == -(2**15):
        assert got == 2**15 - 1
    else:
        exact = a * b / 2**15
        assert abs(got - exact) <= 0.5
