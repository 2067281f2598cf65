"""Elementwise reference kernels against TFLite (BUILTIN_REF), op by op.

Three kinds of cases:
- every elementwise op of the corpus and MediaPipe models, run alone on TFLite's own
  input tensors (`harness.compare_ops`);
- small synthetic models (`tflite_builder`) for what the corpus does not reach: uint8 and
  int16, broadcasting, fused activations, random quantization parameters. Many ops share
  one model so TFLite runs once per model (its results are cached on disk);
- unit tests of semantics worth pinning down (CAST saturation, error messages).

Quantized results must be bit-exact; float within the harness tolerance.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from conftest import model_path
from tflite_builder import Op
from zoo import (
    check_ops,
    check_zoo,
    random_quant,
    random_scale,
    random_zero_point,
    tensor,
    tensor_info,
)

from litec.dialects.tfl_reference.core import KERNELS, KernelCall
from litec.ir.diagnostics import LitecError

ELEMENTWISE = {
    "ADD",
    "SUB",
    "MUL",
    "DIV",
    "SQUARED_DIFFERENCE",
    "MAXIMUM",
    "MINIMUM",
    "LESS",
    "GREATER",
    "EQUAL",
    "LOGICAL_AND",
    "LOGICAL_OR",
    "LOGICAL_NOT",
    "NEG",
    "ABS",
    "EXP",
    "LOG",
    "SQRT",
    "RSQRT",
    "SQUARE",
    "FLOOR",
    "CAST",
    "QUANTIZE",
    "DEQUANTIZE",
}

# ----------------------------------------------------------------------------- real models

CORPUS_MODELS = [
    "mobilenet_v2_fp32.tflite",
    "mobilenet_v2_int8.tflite",
    "mobilenet_v3_small_fp32.tflite",
    "mobilenet_v3_small_int8.tflite",
    "opcov_cnn_fp32.tflite",
    "opcov_cnn_int8.tflite",
    "tiny_transformer_fp32.tflite",
    "tiny_transformer_int8.tflite",
    "mobilenet_v1_fp16.tflite",
    "face_detection_short_range.tflite",
    "pose_detection.tflite",
    "hand_recrop.tflite",
]


@pytest.mark.parametrize("name", CORPUS_MODELS)
def test_model_ops_match_tflite(name):
    """Each elementwise op of a real model, run alone on TFLite's inputs."""
    check_ops(model_path(name), ELEMENTWISE)


# ----------------------------------------------------------------------------- synthetic models


def _binary(tensors, ops, builtin, dtype, shapes, params, options=None):
    """Append `a <builtin> b`; params = (s1, z1, s2, z2, s_out, z_out), scales None = float."""
    name = f"{builtin.lower()}_{len(ops)}"
    s1, z1, s2, z2, so, zo = params
    out_dtype = "BOOL" if builtin in ("LESS", "GREATER", "EQUAL") else dtype
    tensors += [
        tensor(f"{name}_a", shapes[0], dtype, s1, z1),
        tensor(f"{name}_b", shapes[1], dtype, s2, z2),
        tensor(name, np.broadcast_shapes(*shapes), out_dtype, so, zo),
    ]
    ops.append(Op(builtin, [f"{name}_a", f"{name}_b"], [name], options or {}))


def test_binary_ops_float_int32_and_fixed_quantization(tmp_path):
    """ADD/SUB/MUL/DIV/SQUARED_DIFFERENCE/MIN/MAX/comparisons over dtypes and broadcasts."""
    tensors, ops = [], []
    unquantized = (None, 0, None, 0, None, 0)
    same, broadcast = ((2, 3, 4), (2, 3, 4)), ((2, 1, 4), (3, 1))
    for builtin in ("ADD", "SUB", "MUL"):
        _binary(
            tensors,
            ops,
            builtin,
            "FLOAT32",
            broadcast,
            unquantized,
            {"fused_activation_function": "RELU6"},
        )
        _binary(
            tensors, ops, builtin, "INT32", same, unquantized, {"fused_activation_function": "RELU"}
        )
        _binary(tensors, ops, builtin, "INT8", same, (0.02, -3, 0.015, 7, 0.03, 2))
        _binary(
            tensors,
            ops,
            builtin,
            "INT8",
            broadcast,
            (0.02, -3, 0.015, 7, 0.05, -10),
            {"fused_activation_function": "RELU"},
        )
        _binary(tensors, ops, builtin, "UINT8", same, (0.02, 128, 0.01, 120, 0.04, 100))
    # int16: the general path (left shift 15) and the power-of-two path
    _binary(
        tensors, ops, "ADD", "INT16", same, (5e-4, 0, 3e-4, 0, 1e-3, 0), {"pot_scale_int16": False}
    )
    _binary(
        tensors, ops, "SUB", "INT16", same, (5e-4, 0, 3e-4, 0, 1e-3, 0), {"pot_scale_int16": False}
    )
    _binary(
        tensors,
        ops,
        "ADD",
        "INT16",
        same,
        (2**-10, 0, 2**-12, 0, 2**-10, 0),
        {"pot_scale_int16": True},
    )
    _binary(
        tensors,
        ops,
        "SUB",
        "INT16",
        same,
        (2**-12, 0, 2**-10, 0, 2**-10, 0),
        {"pot_scale_int16": True},
    )
    _binary(tensors, ops, "MUL", "INT16", same, (5e-4, 0, 3e-4, 0, 1e-3, 0))
    _binary(tensors, ops, "DIV", "FLOAT32", broadcast, unquantized)
    _binary(tensors, ops, "SQUARED_DIFFERENCE", "FLOAT32", broadcast, unquantized)
    _binary(
        tensors, ops, "SQUARED_DIFFERENCE", "INT8", broadcast, (0.02, -3, 0.015, 7, 0.002, -128)
    )
    for builtin in ("MAXIMUM", "MINIMUM"):
        _binary(tensors, ops, builtin, "FLOAT32", broadcast, unquantized)
        _binary(tensors, ops, builtin, "INT8", broadcast, (0.02, 1, 0.02, 1, 0.02, 1))
    for builtin in ("LESS", "GREATER", "EQUAL"):
        _binary(tensors, ops, builtin, "FLOAT32", broadcast, unquantized)
        _binary(tensors, ops, builtin, "INT32", same, unquantized)
        _binary(tensors, ops, builtin, "INT8", same, (0.02, 3, 0.021, -4, None, 0))
        _binary(tensors, ops, builtin, "UINT8", ((2, 3, 4), (4,)), (0.02, 128, 0.02, 128, None, 0))
        _binary(tensors, ops, builtin, "INT16", same, (1e-3, 0, 2e-3, 0, None, 0))
    check_zoo(tmp_path / "binary.tflite", tensors, ops, ELEMENTWISE)


def random_binary_zoo(rng, shapes) -> tuple[list, list]:
    """42 quantized binary ops (ADD/SUB/MUL/SQUARED_DIFFERENCE/comparisons over int8, uint8,
    int16) with random scales, zero points and activations, cycling through `shapes`
    (pairs of operand shapes); scales kept where TFLite accepts them."""
    activations = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
    builtins = ["ADD", "SUB", "MUL", "SQUARED_DIFFERENCE", "LESS", "GREATER", "EQUAL"]
    tensors, ops = [], []
    for i in range(42):
        builtin = builtins[i % 7]
        dtype = (
            "INT8" if builtin == "SQUARED_DIFFERENCE" else ["INT8", "UINT8", "INT16"][i // 7 % 3]
        )
        s1, s2 = random_scale(rng), random_scale(rng)
        if builtin in ("ADD", "SUB"):  # TFLite needs 2 * max(s1, s2) < 2^20 * s_out
            so = random_scale(rng, np.log10(2 * max(s1, s2)) - 3, 0.5)
        elif builtin == "MUL":
            so = random_scale(rng, np.log10(s1 * s2) - 1, np.log10(s1 * s2) + 3)
        elif builtin == "SQUARED_DIFFERENCE":  # and (2 * max)^2 < 2^14 * s_out
            so = random_scale(rng, np.log10(4 * max(s1, s2) ** 2 / 16384) + 0.1, 0)
        else:
            so = None
        options = {}
        if builtin in ("ADD", "SUB", "MUL"):
            options["fused_activation_function"] = activations[i % 4]
        if builtin in ("ADD", "SUB") and dtype == "INT16":
            options["pot_scale_int16"] = False
        params = (
            s1,
            random_zero_point(rng, dtype),
            s2,
            random_zero_point(rng, dtype),
            so,
            random_zero_point(rng, dtype),
        )
        _binary(tensors, ops, builtin, dtype, shapes[i % 4], params, options)
    return tensors, ops


@pytest.mark.parametrize("seed", [0, 1])
def test_binary_ops_random_quantization(tmp_path, seed):
    """Quantized binary ops with random scales, zero points, broadcasts and activations."""
    rng = np.random.default_rng(seed)
    shapes = [((2, 3, 5), (2, 3, 5)), ((2, 3, 5), (3, 1)), ((1, 5), (2, 3, 5)), ((2, 3, 5), ())]
    tensors, ops = random_binary_zoo(rng, shapes)
    check_zoo(tmp_path / "random.tflite", tensors, ops, ELEMENTWISE)


def test_quantized_div_random_quantization(tmp_path):
    """Quantized DIV (int8/uint8/int16, positive and negative divisors) is bit-exact.

    TFLite refuses a divisor equal to its zero point, so each divisor is first pushed
    away from it by a MAXIMUM (or MINIMUM) with a constant one step off the zero point.
    """
    rng = np.random.default_rng(3)
    numpy_dtypes = {"INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16}
    tensors, ops = [], []
    for i in range(18):
        dtype = ["INT8", "UINT8", "INT16"][i % 3]
        low, high = {"INT8": (-120, 120), "UINT8": (5, 250), "INT16": (0, 0)}[dtype]
        s1, s2, so = (random_scale(rng, -4, 0) for _ in range(3))
        z1, z2, zo = (int(rng.integers(low, high + 1)) for _ in range(3))
        positive = i % 4 < 2 or dtype == "UINT8"
        name = f"div_{i}"
        step = np.full((1,), z2 + (1 if positive else -1), dtype=numpy_dtypes[dtype])
        tensors += [
            tensor(f"{name}_a", (3, 40), dtype, s1, z1),
            tensor(f"{name}_x", (3, 40), dtype, s2, z2),
            tensor(f"{name}_c", (1,), dtype, s2, z2, data=step),
            tensor(f"{name}_b", (3, 40), dtype, s2, z2),
            tensor(name, (3, 40), dtype, so, zo),
        ]
        bound = "MAXIMUM" if positive else "MINIMUM"
        ops.append(Op(bound, [f"{name}_x", f"{name}_c"], [f"{name}_b"]))
        activation = ["NONE", "RELU"][i % 2]
        ops.append(
            Op("DIV", [f"{name}_a", f"{name}_b"], [name], {"fused_activation_function": activation})
        )
    check_zoo(tmp_path / "div.tflite", tensors, ops, {"DIV"})


def _unary(tensors, ops, builtin, dtype, params, out_dtype=None, before=None, options=None):
    """Append `builtin(x)` (after `before(x)` when inputs must be made valid first)."""
    name = f"{builtin.lower()}_{len(ops)}"
    si, zi, so, zo = params
    source = f"{name}_x"
    tensors.append(tensor(source, (2, 3, 7), dtype, si, zi))
    if before:
        tensors.append(tensor(f"{name}_pre", (2, 3, 7), dtype, si, zi))
        ops.append(Op(before, [source], [f"{name}_pre"]))
        source = f"{name}_pre"
    tensors.append(tensor(name, (2, 3, 7), out_dtype or dtype, so, zo))
    ops.append(Op(builtin, [source], [name], options or {}))


@pytest.mark.parametrize("seed", [0, 1])
def test_unary_ops(tmp_path, seed):
    """NEG/ABS/EXP/LOG/SQRT/RSQRT/SQUARE/FLOOR/CAST/LOGICAL_NOT/(DE)QUANTIZE, float and quantized."""
    rng = np.random.default_rng(seed)

    q = partial(random_quant, rng)

    tensors, ops = [], []
    plain = (None, 0, None, 0)
    for builtin in ("NEG", "ABS", "EXP", "LOG", "SQRT", "RSQRT", "SQUARE", "FLOOR"):
        before = "ABS" if builtin in ("LOG", "SQRT", "RSQRT") else None
        _unary(tensors, ops, builtin, "FLOAT32", plain, before=before)
    _unary(tensors, ops, "NEG", "INT32", plain)
    _unary(tensors, ops, "ABS", "INT32", plain)
    _unary(tensors, ops, "LOGICAL_NOT", "BOOL", plain)
    for _ in range(2):
        _unary(tensors, ops, "NEG", "INT8", (*q("INT8"), *q("INT8")))
        scale, zero_point = q("INT8")
        _unary(tensors, ops, "ABS", "INT8", (scale, zero_point, scale, zero_point))
        _unary(tensors, ops, "ABS", "INT8", (*q("INT8"), *q("INT8")))
        _unary(tensors, ops, "ABS", "INT16", (*q("INT16"), *q("INT16")))
        _unary(tensors, ops, "EXP", "INT8", (*q("INT8", -2, -0.5), *q("INT8", -2, 1)))
        _unary(tensors, ops, "LOG", "INT8", (*q("INT8", -2, 0), *q("INT8", -2, -0.5)))
        _unary(
            tensors, ops, "RSQRT", "INT8", (*q("INT8", -3, -1), *q("INT8", -2, 0)), before="RELU"
        )
        _unary(tensors, ops, "SQRT", "INT8", (*q("INT8", -3, -1), *q("INT8", -2, 0)), before="RELU")
        _unary(tensors, ops, "EXP", "INT16", (*q("INT16", -4, -3.5), *q("INT16", -4, -2)))
        _unary(tensors, ops, "LOG", "INT16", (*q("INT16", -4, -3), *q("INT16", -4, -3)))
        _unary(
            tensors,
            ops,
            "RSQRT",
            "INT16",
            (*q("INT16", -4, -3), *q("INT16", -4, -2)),
            before="RELU",
        )
    for out_dtype in ("INT32", "INT8", "UINT8", "INT16", "BOOL", "FLOAT32"):
        _unary(tensors, ops, "CAST", "FLOAT32", plain, out_dtype=out_dtype)
        _unary(tensors, ops, "CAST", "INT32", plain, out_dtype=out_dtype)
    for dtype in ("INT8", "UINT8", "INT16"):
        _unary(tensors, ops, "QUANTIZE", "FLOAT32", (None, 0, *q(dtype, -3, -1)), out_dtype=dtype)
        _unary(tensors, ops, "DEQUANTIZE", dtype, (*q(dtype), None, 0), out_dtype="FLOAT32")
    _unary(tensors, ops, "QUANTIZE", "INT8", (*q("INT8"), *q("UINT8")), out_dtype="UINT8")
    _unary(tensors, ops, "QUANTIZE", "UINT8", (*q("UINT8"), *q("INT8")), out_dtype="INT8")
    _unary(
        tensors,
        ops,
        "QUANTIZE",
        "INT16",
        (*q("INT16", -4, -2), *q("INT8", -3, -1)),
        out_dtype="INT8",
    )
    _unary(tensors, ops, "QUANTIZE", "INT16", (*q("INT16", -4, -2), *q("INT16", -4, -2)))
    _unary(tensors, ops, "QUANTIZE", "INT8", (*q("INT8"), *q("INT8")))
    check_zoo(tmp_path / "unary.tflite", tensors, ops, ELEMENTWISE)


def test_int16_mul_into_int8(tmp_path):
    """MUL of two int16 tensors into int8 (the LSTM-style path: F0 product, shift by 8)."""
    tensors = [
        tensor("a", (4, 16), "INT16", 2**-15, 0),
        tensor("b", (4, 16), "INT16", 2**-15, 0),
        tensor("y", (4, 16), "INT8", 1 / 128, 3),
    ]
    ops = [Op("MUL", ["a", "b"], ["y"], {"fused_activation_function": "NONE"})]
    check_zoo(tmp_path / "mul16.tflite", tensors, ops, {"MUL"})


def test_scalar_quantize_and_dequantize(tmp_path):
    """Rank-0 tensors keep their rank through QUANTIZE and DEQUANTIZE."""
    tensors = [
        tensor("x", (), "FLOAT32"),
        tensor("q", (), "INT8", 0.02, 3),
        tensor("d", (), "INT8", 0.05, -7),
        tensor("y", (), "FLOAT32"),
    ]
    ops = [Op("QUANTIZE", ["x"], ["q"]), Op("DEQUANTIZE", ["d"], ["y"])]
    check_zoo(tmp_path / "scalar.tflite", tensors, ops, {"QUANTIZE", "DEQUANTIZE"})


# ----------------------------------------------------------------------------- unit tests


def _call(builtin, inputs, output, **opts) -> KernelCall:
    return KernelCall(builtin, opts, list(inputs), [output])


def test_cast_float_to_int_truncates_and_saturates():
    x = np.array([-1.7, 1.7, 300.0, -300.0, np.inf, np.nan], dtype=np.float32)
    call = _call("CAST", [tensor_info((6,), np.float32)], tensor_info((6,), np.int8))
    assert KERNELS["CAST"](call, x).tolist() == [-1, 1, 127, -128, 127, 127]


def test_binary_float_activation_clamps_only_relu_family():
    """TFLite's float ADD ignores TANH/SIGN_BIT as fused activations (no clamp)."""
    info = tensor_info((3,), np.float32)
    a = np.array([-2.0, 0.5, 8.0], dtype=np.float32)
    b = np.zeros(3, dtype=np.float32)
    for act, want in [
        ("RELU6", [0, 0.5, 6]),
        ("RELU_N1_TO_1", [-1, 0.5, 1]),
        ("TANH", [-2, 0.5, 8]),
    ]:
        call = _call("ADD", [info, info], info, fused_activation_function=act)
        assert KERNELS["ADD"](call, a, b).tolist() == want


def test_quantized_division_by_zero_point_is_an_error():
    info = tensor_info((2,), np.int8, 0.1, 5)
    call = _call("DIV", [info, info], info, fused_activation_function="NONE")
    with pytest.raises(LitecError, match="division by zero"):
        KERNELS["DIV"](call, np.array([1, 2], np.int8), np.array([5, 6], np.int8))


def test_quantized_div_of_zero_rounds_like_tflite():
    """0 / b in TFLite's reference DIV lands on zero point + 1 (its shift wraps past 31)."""
    info = tensor_info((1,), np.uint8, 0.02, 128)
    divisor = tensor_info((1,), np.uint8, 0.01, 120)
    out = tensor_info((1,), np.uint8, 0.4, 100)
    call = _call("DIV", [info, divisor], out, fused_activation_function="NONE")
    assert KERNELS["DIV"](call, np.array([128], np.uint8), np.array([156], np.uint8)).tolist() == [
        101
    ]


def test_unsupported_dtype_is_a_user_error():
    info = tensor_info((2,), np.int32)
    with pytest.raises(LitecError, match="SQUARE of int32"):
        KERNELS["SQUARE"](_call("SQUARE", [info], info), np.array([1, 2], np.int32))
