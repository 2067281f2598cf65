"""CPU kernels for elementwise ops, activations, reductions and sequence ops, run natively
against the reference interpreter (float within the tolerance, everything else bit-exact).

Every op of these builtins in the corpus and MediaPipe models (fed the reference
interpreter's own tensors), synthetic models for what those do not reach (every dtype,
broadcasts, fused activations, random quantization, LSTM and SVDF variants), and the
compile-time pieces (broadcast plans, tables, support checks) without a compiler.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from conftest import model_path
from cpu_kernel_check import check_model_ops, native_diff, run_op_natively
from test_ref_activations import _unary as _activation
from test_ref_elementwise import _binary, _unary, random_binary_zoo
from test_ref_pool_reduce import QUANT, REDUCTIONS, _reduced_shape
from test_ref_sequence import LSTM_VARIANTS, SVDF_VARIANTS, lstm_model, svdf_model
from tflite_builder import Op
from zoo import (
    const,
    random_quant,
    random_scale,
    tensor,
    tensor_info,
    write_model,
)

from litec.backends.cpu.kernels import activations, elementwise, reduce, sequence  # noqa: F401
from litec.backends.cpu.kernels.base import GENERATORS, KernelOptions, using_options
from litec.backends.cpu.kernels.elementwise import broadcast_dims, reference_table, vector_steps
from litec.backends.cpu.kernels.reduce import KEPT, REDUCED, Dim, collapse
from litec.dialects import tfl
from litec.dialects.tfl_reference import KERNELS, TensorInfo
from litec.dialects.tfl_reference.core import KernelCall, make_call, random_input, source_value
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import read_model

ELEMENTWISE = {
    "ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "LESS", "GREATER",
    "EQUAL", "LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT", "NEG", "ABS", "RSQRT", "SQRT", "EXP",
    "LOG", "SQUARE", "FLOOR", "CAST", "QUANTIZE", "DEQUANTIZE",
}  # fmt: skip
ACTIVATIONS = {
    "RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "PRELU",
    "GELU", "SOFTMAX", "LOG_SOFTMAX",
}  # fmt: skip
REDUCTIONS_OPS = {"MEAN", "SUM", "REDUCE_MAX", "ARG_MAX"}
SEQUENCE = {"UNIDIRECTIONAL_SEQUENCE_LSTM", "SVDF"}
BUILTINS = ELEMENTWISE | ACTIVATIONS | REDUCTIONS_OPS | SEQUENCE
"""The builtins whose kernels these tests check."""

MODELS = {
    "kws_dscnn_int8.tflite": 2,
    "opcov_cnn_fp32.tflite": 10,
    "opcov_cnn_int8.tflite": 11,
}
"""Models checked in the default run: how many of their ops (in @main) are ours."""

SLOW_MODELS = {
    "kws_dscnn_fp32.tflite": 2,
    "lstm_fp32.tflite": 1,
    "lstm_int8.tflite": 1,
    "mobilenet_v1_dr8.tflite": 2,
    "mobilenet_v1_fp16.tflite": 58,
    "mobilenet_v1_fp32.tflite": 2,
    "mobilenet_v1_int8.tflite": 2,
    "mobilenet_v2_fp32.tflite": 12,
    "mobilenet_v2_int8.tflite": 12,
    "mobilenet_v3_small_fp32.tflite": 56,
    "mobilenet_v3_small_int8.tflite": 56,
    "tiny_transformer_fp32.tflite": 50,
    "tiny_transformer_int8.tflite": 58,
    "face_detection_full_range_sparse.tflite": 201,
    "face_detection_short_range.tflite": 107,
    "face_landmark.tflite": 156,
    "face_landmark_with_attention.tflite": 516,
    "hand_landmark_full.tflite": 114,
    "hand_landmark_lite.tflite": 115,
    "hand_recrop.tflite": 19,
    "iris_landmark.tflite": 79,
    "palm_detection_full.tflite": 194,
    "palm_detection_lite.tflite": 164,
    "pose_detection.tflite": 159,
    "pose_landmark_full.tflite": 221,
    "selfie_segmentation.tflite": 178,
    "selfie_segmentation_landscape.tflite": 188,
}


def assert_ops_match(path, expected: int | None = None, builtins=BUILTINS) -> None:
    """Every op of `builtins` in the model's @main matches the reference; `expected` ran."""
    results = check_model_ops(path, set(builtins))
    bad = [
        (i, b, [str(d) for d in diffs]) for i, b, diffs in results if not all(d.ok for d in diffs)
    ]
    assert not bad, bad
    if expected is not None:
        assert len(results) == expected


# ----------------------------------------------------------------------------- real models


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_ops(name):
    assert_ops_match(model_path(name), MODELS[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_MODELS))
def test_model_ops_slow(name):
    assert_ops_match(model_path(name), SLOW_MODELS[name])


# ----------------------------------------------------------------------------- synthetic models


def check_zoo(tmp_path, name: str, tensors, ops, builtins=BUILTINS) -> None:
    """Every op of `builtins` in a synthetic model, native against the reference."""
    path = write_model(tmp_path / f"{name}.tflite", tensors, ops)
    assert_ops_match(path, sum(op.builtin in builtins for op in ops), builtins)


UNQUANTIZED = (None, 0, None, 0, None, 0)
SAME, BROADCAST = ((2, 3, 20), (2, 3, 20)), ((2, 1, 20), (3, 1))


def test_binary_ops_float_int_bool(tmp_path):
    """Float (broadcast, fused activations), int32 (wrapping, division) and logical ops."""
    tensors, ops = [], []
    for builtin in ("ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM"):
        options = {"fused_activation_function": "RELU6"} if builtin in ("ADD", "MUL") else {}
        _binary(tensors, ops, builtin, "FLOAT32", BROADCAST, UNQUANTIZED, options)
    for builtin in ("ADD", "MUL", "LESS", "EQUAL"):
        _binary(tensors, ops, builtin, "INT32", SAME, UNQUANTIZED)
    _binary(tensors, ops, "GREATER", "FLOAT32", BROADCAST, UNQUANTIZED)
    for builtin in ("LOGICAL_AND", "LOGICAL_OR"):
        _binary(tensors, ops, builtin, "BOOL", BROADCAST, UNQUANTIZED)
    check_zoo(tmp_path, "binary_float", tensors, ops)


def test_binary_ops_quantized(tmp_path):
    """int8/uint8/int16 ADD, SUB, MUL, SQUARED_DIFFERENCE, comparisons, MIN/MAX, exactly."""
    tensors, ops = [], []
    for builtin in ("ADD", "SUB", "MUL"):
        _binary(tensors, ops, builtin, "INT8", SAME, (0.02, -3, 0.015, 7, 0.03, 2))
        act = {"fused_activation_function": "RELU"}
        _binary(tensors, ops, builtin, "INT8", BROADCAST, (0.02, -3, 0.015, 7, 0.05, -10), act)
    _binary(tensors, ops, "ADD", "UINT8", SAME, (0.02, 128, 0.01, 120, 0.04, 100))
    general, pot = {"pot_scale_int16": False}, {"pot_scale_int16": True}
    _binary(tensors, ops, "ADD", "INT16", SAME, (5e-4, 0, 3e-4, 0, 1e-3, 0), general)
    _binary(tensors, ops, "SUB", "INT16", SAME, (2**-12, 0, 2**-10, 0, 2**-10, 0), pot)
    _binary(tensors, ops, "MUL", "INT16", SAME, (5e-4, 0, 3e-4, 0, 1e-3, 0))
    _binary(
        tensors, ops, "SQUARED_DIFFERENCE", "INT8", BROADCAST, (0.02, -3, 0.015, 7, 0.002, -128)
    )
    _binary(tensors, ops, "MAXIMUM", "INT8", BROADCAST, (0.02, 1, 0.02, 1, 0.02, 1))
    for builtin in ("LESS", "GREATER", "EQUAL"):
        _binary(tensors, ops, builtin, "INT8", SAME, (0.02, 3, 0.021, -4, None, 0))
    _binary(tensors, ops, "EQUAL", "INT16", SAME, (1e-3, 0, 2e-3, 0, None, 0))
    check_zoo(tmp_path, "binary_quantized", tensors, ops)


def test_int16_mul_into_int8(tmp_path):
    tensors = [
        tensor("a", (4, 20), "INT16", 2**-15, 0),
        tensor("b", (4, 20), "INT16", 2**-15, 0),
        tensor("y", (4, 20), "INT8", 1 / 128, 3),
    ]
    check_zoo(tmp_path, "mul16", tensors, [Op("MUL", ["a", "b"], ["y"])])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_ops_random_quantization(tmp_path, seed):
    """Random scales, zero points, broadcasts and activations (as test_ref_elementwise)."""
    rng = np.random.default_rng(seed)
    shapes = [
        ((2, 3, 21), (2, 3, 21)),
        ((2, 3, 21), (3, 1)),
        ((1, 21), (2, 3, 21)),
        ((2, 3, 21), ()),
    ]
    tensors, ops = random_binary_zoo(rng, shapes)
    check_zoo(tmp_path, f"binary_random_{seed}", tensors, ops)


@pytest.mark.parametrize(
    "dtype",
    [
        "INT8",
        pytest.param("UINT8", marks=pytest.mark.slow),
        pytest.param("INT16", marks=pytest.mark.slow),
    ],
)
def test_quantized_div(tmp_path, dtype):
    """Quantized DIV with positive and negative divisors (pushed off the zero point first)."""
    rng = np.random.default_rng(3)
    numpy_dtype = {"INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16}[dtype]
    low, high = {"INT8": (-120, 120), "UINT8": (5, 250), "INT16": (0, 0)}[dtype]
    tensors, ops = [], []
    for i in range(4):
        s1, s2, so = (random_scale(rng, -4, 0) for _ in range(3))
        z1, z2, zo = (int(rng.integers(low, high + 1)) for _ in range(3))
        positive = i % 2 == 0 or dtype == "UINT8"
        name = f"div_{i}"
        step = np.full((1,), z2 + (1 if positive else -1), dtype=numpy_dtype)
        tensors += [
            tensor(f"{name}_a", (3, 40), dtype, s1, z1),
            tensor(f"{name}_x", (3, 40), dtype, s2, z2),
            tensor(f"{name}_c", (1,), dtype, s2, z2, data=step),
            tensor(f"{name}_b", (3, 40), dtype, s2, z2),
            tensor(name, (3, 40), dtype, so, zo),
        ]
        ops.append(
            Op("MAXIMUM" if positive else "MINIMUM", [f"{name}_x", f"{name}_c"], [f"{name}_b"])
        )
        act = {"fused_activation_function": ["NONE", "RELU"][i % 2]}
        ops.append(Op("DIV", [f"{name}_a", f"{name}_b"], [name], act))
    check_zoo(tmp_path, f"div_{dtype}", tensors, ops, {"DIV"})


@pytest.mark.parametrize("vbmi", [None, False])
def test_uniform_constant_operand_is_a_table(tmp_path, vbmi):
    """int8 x * c and c - x with one repeated constant value (the tables of mobilenet_v3);
    byte permutes where the CPU has VBMI, and the portable scalar lookup."""
    with using_options(KernelOptions(vbmi=vbmi)):
        uniform_constant_table_matches(tmp_path, f"uniform_{vbmi}")


def uniform_constant_table_matches(tmp_path, name):
    tensors = [
        tensor("x", (2, 5, 19), "INT8", 0.05, 3),
        tensor("c", (1, 1, 19), "INT8", 0.01, -2, data=np.full((1, 1, 19), 57, np.int8)),
        tensor("m", (2, 5, 19), "INT8", 0.02, 1),
        tensor("s", (2, 5, 19), "INT8", 0.07, -5),
    ]
    ops = [Op("MUL", ["x", "c"], ["m"]), Op("SUB", ["c", "x"], ["s"])]
    check_zoo(tmp_path, name, tensors, ops)


def test_unary_ops(tmp_path):
    """Float math, int8 tables, (de)quantization, logical not."""
    q = partial(random_quant, np.random.default_rng(0))
    tensors, ops = [], []
    plain = (None, 0, None, 0)
    for builtin in ("NEG", "ABS", "EXP", "LOG", "SQRT", "RSQRT", "SQUARE", "FLOOR"):
        before = "ABS" if builtin in ("LOG", "SQRT", "RSQRT") else None
        _unary(tensors, ops, builtin, "FLOAT32", plain, before=before)
    _unary(tensors, ops, "LOGICAL_NOT", "BOOL", plain)
    _unary(tensors, ops, "ABS", "INT8", (*q("INT8"), *q("INT8")))
    _unary(tensors, ops, "QUANTIZE", "FLOAT32", (None, 0, *q("INT8", -3, -1)), out_dtype="INT8")
    _unary(tensors, ops, "DEQUANTIZE", "INT8", (*q("INT8"), None, 0), out_dtype="FLOAT32")
    check_zoo(tmp_path, "unary", tensors, ops)


@pytest.mark.slow
def test_conversions(tmp_path):
    """CAST between float, integer and bool; (de)quantization of every storage type."""
    q = partial(random_quant, np.random.default_rng(0))
    tensors, ops = [], []
    plain = (None, 0, None, 0)
    _unary(tensors, ops, "NEG", "INT32", plain)
    _unary(tensors, ops, "ABS", "INT32", plain)
    for out_dtype in ("INT32", "INT8", "UINT8", "INT16", "BOOL", "FLOAT32"):
        _unary(tensors, ops, "CAST", "FLOAT32", plain, out_dtype=out_dtype)
        _unary(tensors, ops, "CAST", "INT32", plain, out_dtype=out_dtype)
    for dtype in ("INT8", "UINT8", "INT16"):
        _unary(tensors, ops, "QUANTIZE", "FLOAT32", (None, 0, *q(dtype, -3, -1)), out_dtype=dtype)
        _unary(tensors, ops, "DEQUANTIZE", dtype, (*q(dtype), None, 0), out_dtype="FLOAT32")
    _unary(tensors, ops, "QUANTIZE", "INT8", (*q("INT8"), *q("UINT8")), out_dtype="UINT8")
    int16_to_int8 = (*q("INT16", -4, -2), *q("INT8", -3, -1))
    _unary(tensors, ops, "QUANTIZE", "INT16", int16_to_int8, out_dtype="INT8")
    check_zoo(tmp_path, "conversions", tensors, ops)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_unary_ops_random(tmp_path, seed):
    """Every unary op the reference tests reach, with random quantization."""
    q = partial(random_quant, np.random.default_rng(seed))
    tensors, ops = [], []
    for _ in range(2):
        _unary(tensors, ops, "NEG", "INT8", (*q("INT8"), *q("INT8")))
        _unary(tensors, ops, "ABS", "INT8", (*q("INT8"), *q("INT8")))
        _unary(tensors, ops, "ABS", "INT16", (*q("INT16"), *q("INT16")))
        _unary(tensors, ops, "EXP", "INT8", (*q("INT8", -2, -0.5), *q("INT8", -2, 1)))
        _unary(tensors, ops, "LOG", "INT8", (*q("INT8", -2, 0), *q("INT8", -2, -0.5)))
        _unary(
            tensors, ops, "RSQRT", "INT8", (*q("INT8", -3, -1), *q("INT8", -2, 0)), before="RELU"
        )
        _unary(tensors, ops, "SQRT", "INT8", (*q("INT8", -3, -1), *q("INT8", -2, 0)), before="RELU")
    for out_dtype in ("INT32", "INT8", "UINT8", "INT16", "BOOL", "FLOAT32"):
        _unary(tensors, ops, "CAST", "FLOAT32", (None, 0, None, 0), out_dtype=out_dtype)
        _unary(tensors, ops, "CAST", "INT32", (None, 0, None, 0), out_dtype=out_dtype)
    _unary(tensors, ops, "QUANTIZE", "UINT8", (*q("UINT8"), *q("INT8")), out_dtype="INT8")
    _unary(tensors, ops, "QUANTIZE", "INT16", (*q("INT16", -4, -2), *q("INT16", -4, -2)))
    _unary(tensors, ops, "QUANTIZE", "INT8", (*q("INT8"), *q("INT8")))
    check_zoo(tmp_path, f"unary_random_{seed}", tensors, ops)


@pytest.mark.slow
def test_int16_tables(tmp_path):
    """int16 EXP/LOG/RSQRT/SQRT/GELU: 65536-entry tables from the reference kernel."""
    q = partial(random_quant, np.random.default_rng(4))
    tensors, ops = [], []
    _unary(tensors, ops, "EXP", "INT16", (*q("INT16", -4, -3.5), *q("INT16", -4, -2)))
    _unary(tensors, ops, "LOG", "INT16", (*q("INT16", -4, -3), *q("INT16", -4, -3)))
    rsqrt = (*q("INT16", -4, -3), *q("INT16", -4, -2))
    _unary(tensors, ops, "RSQRT", "INT16", rsqrt, before="RELU")
    _unary(tensors, ops, "SQRT", "INT16", rsqrt, before="RELU")
    gelu = (*q("INT16", -4, -3), *q("INT16", -4, -3))
    _activation(tensors, ops, "GELU", "INT16", gelu, options={"approximate": True})
    check_zoo(tmp_path, "int16_tables", tensors, ops)


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
    ):
        _activation(tensors, ops, builtin, "FLOAT32", plain)
    _activation(tensors, ops, "GELU", "FLOAT32", plain, options={"approximate": False})
    _activation(tensors, ops, "GELU", "FLOAT32", plain, options={"approximate": True})
    _activation(tensors, ops, "LEAKY_RELU", "FLOAT32", plain, options={"alpha": 0.2})
    _activation(tensors, ops, "SOFTMAX", "FLOAT32", plain, options={"beta": 0.7})
    alpha = ("FLOAT32", None, 0, np.linspace(-1, 1, 9, dtype=np.float32))
    _activation(tensors, ops, "PRELU", "FLOAT32", plain, alpha=alpha)
    check_zoo(tmp_path, "float_activations", tensors, ops)


@pytest.mark.parametrize(
    "dtype",
    [
        "INT8",
        pytest.param("UINT8", marks=pytest.mark.slow),
        pytest.param("INT16", marks=pytest.mark.slow),
    ],
)
def test_quantized_activations(tmp_path, dtype):
    """Every quantized activation the reference supports (its own test's parameters)."""
    rng = np.random.default_rng(0)
    q = partial(random_quant, rng)
    tensors, ops = [], []
    low = -128 if dtype == "INT8" else 0
    for builtin in ("RELU", "RELU6", "RELU_N1_TO_1"):
        if not (builtin == "RELU_N1_TO_1" and dtype == "INT16"):
            _activation(tensors, ops, builtin, dtype, (*q(dtype), *q(dtype)))
    alpha = float(rng.uniform(0.01, 2))
    _activation(tensors, ops, "LEAKY_RELU", dtype, (*q(dtype), *q(dtype)), options={"alpha": alpha})
    alpha_dtype = "UINT8" if dtype == "UINT8" else "INT8"
    alpha_data = rng.integers(0, 256, (1, 1, 9)).astype(np.uint8)
    if alpha_dtype == "INT8":
        alpha_data = alpha_data.view(np.int8)
    prelu_alpha = (alpha_dtype, *q(alpha_dtype, -3, -1), alpha_data)
    _activation(tensors, ops, "PRELU", dtype, (*q(dtype), *q(dtype)), alpha=prelu_alpha)
    if dtype != "INT16":
        for approximate in (False, True):
            params = (*q(dtype, -2, -0.5), *q(dtype, -2, -0.5))
            _activation(tensors, ops, "GELU", dtype, params, options={"approximate": approximate})
        _activation(tensors, ops, "LOGISTIC", dtype, (*q(dtype, -2, 0), 1 / 256, low))
        _activation(tensors, ops, "TANH", dtype, (*q(dtype, -2, 0), 1 / 128, low + 128))
        _activation(tensors, ops, "HARD_SWISH", dtype, (*q(dtype, -2, 0), *q(dtype, -2, 0)))
        beta = {"beta": 1.0}
        _activation(tensors, ops, "SOFTMAX", dtype, (*q(dtype, -2, 0), 1 / 256, low), options=beta)
        params = (*q(dtype, -2, 0), 1 / 32768, 0)
        _activation(tensors, ops, "SOFTMAX", dtype, params, out_dtype="INT16", options=beta)
        _activation(tensors, ops, "LOG_SOFTMAX", dtype, (*q(dtype, -2, 0), 16 / 256, low + 255))
    check_zoo(tmp_path, f"activations_{dtype}", tensors, ops)


def test_softmax_rows(tmp_path):
    """Rows of 1000 (vector loop + remainder), of 12, and many rows of 32; float32, int8 and
    int16 (TFLite's interpolated tables)."""
    tensors, ops = [], []
    quantization = {"FLOAT32": ((None, 0), (None, 0)), "INT8": ((0.1, 5), (1 / 256, -128))}
    quantization["INT16"] = ((3e-4, 0), (1 / 32768, 0))
    for k, shape in enumerate([(1, 1000), (3, 12), (2, 2, 32, 32)]):
        for dtype, (qin, q) in quantization.items():
            name = f"softmax_{k}_{dtype}"
            tensors += [tensor(f"{name}_x", shape, dtype, *qin), tensor(name, shape, dtype, *q)]
            ops.append(Op("SOFTMAX", [f"{name}_x"], [name], {"beta": 1.0}))
    check_zoo(tmp_path, "softmax", tensors, ops)


@pytest.mark.parametrize(
    ("dtype", "cases"),
    [
        ("FLOAT32", 3),
        ("INT8", 3),
        *[
            pytest.param(dtype, len(REDUCTIONS), marks=pytest.mark.slow)
            for dtype in ("FLOAT32", "INT8", "UINT8", "INT16")
        ],
    ],
)
def test_reductions(tmp_path, dtype, cases):
    """MEAN and SUM (same and other output scales), REDUCE_MAX, ARG_MAX over mixed axes
    (the first `cases` of the reference tests' axes)."""
    shape = (2, 5, 6, 7)
    qin, qout = QUANT[dtype]
    tensors, ops = [tensor("x", shape, dtype, *qin)], []
    for k, (axes, keep) in enumerate(REDUCTIONS[:cases]):
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
            tensors.append(const(f"argaxis{axis}", [axis]))
            tensors.append(tensor(name, _reduced_shape(shape, [axis], False), "INT32"))
            ops.append(Op("ARG_MAX", ["x", f"argaxis{axis}"], [name], {"output_type": "INT32"}))
    path = write_model(tmp_path / f"reduce_{dtype}_{cases}.tflite", tensors, ops, ["x"])
    assert_ops_match(path, len(ops))


@pytest.mark.parametrize(
    ("kind", "variant"),
    [
        ("float", "plain"),
        ("int8", "plain"),
        *[
            pytest.param(kind, variant, marks=pytest.mark.slow)
            for kind in ("float", "int8")
            for variant in sorted(LSTM_VARIANTS)
            if variant != "plain"
            and not (
                kind == "int8"
                and ("peephole" in variant or variant in ("layer_norm", "everything"))
            )
            and not (kind == "float" and variant in ("layer_norm", "everything"))
        ],
    ],
)
def test_lstm(tmp_path, kind, variant):
    """LSTM variants (batch 2, 5 steps; CIFG, peephole, projection, clips, time-major)."""
    path = tmp_path / f"lstm_{kind}_{variant}.tflite"
    path.write_bytes(lstm_model(kind, **LSTM_VARIANTS[variant]))
    assert_ops_match(path, 1)


@pytest.mark.parametrize("kind", ["float", "int8"])
@pytest.mark.parametrize("variant", sorted(SVDF_VARIANTS))
def test_svdf(tmp_path, kind, variant):
    path = tmp_path / f"svdf_{kind}_{variant}.tflite"
    path.write_bytes(svdf_model(kind, **SVDF_VARIANTS[variant]))
    assert_ops_match(path, 1)


def _op_of(path, builtin_class):
    module = import_model(read_model(path))
    return next(op for op in module.walk() if isinstance(op, builtin_class))


def check_op_with(op, inputs: list) -> None:
    """One op natively on given inputs (constants filled in from the IR) vs the reference."""
    call = make_call(op)
    args = [
        source_value(v.owner, make_call(v.owner)) if isinstance(v.owner, tfl.ConstOp) else given
        for v, given in zip(op.operands, inputs, strict=True)
    ]
    ref = KERNELS[call.builtin](call, *args)
    ours = run_op_natively(op, args)
    for k, (o, r) in enumerate(zip(ours, [ref], strict=True)):
        d = native_diff(f"out{k}", o, r)
        assert d.ok, str(d)


@pytest.mark.parametrize("kind", ["float", "int8"])
def test_lstm_starts_from_its_state_inputs(tmp_path, kind):
    """Non-zero output and cell states (the variables' values) seed the sequence."""
    path = tmp_path / f"lstm_state_{kind}.tflite"
    path.write_bytes(lstm_model(kind, projection=True, proj_bias=True))
    op = _op_of(path, tfl.UnidirectionalSequenceLSTMOp)
    rng = np.random.default_rng(1)
    inputs = [None] * len(op.operands)
    for i in (0, 18, 19):
        info = TensorInfo.of(op.operands[i].type)
        inputs[i] = random_input(info, rng)
    check_op_with(op, inputs)


@pytest.mark.parametrize("kind", ["float", "int8"])
def test_svdf_shifts_its_state(tmp_path, kind):
    """The state's memory (not just zeros) enters the time-weighted sums, shifted by one."""
    path = tmp_path / f"svdf_state_{kind}.tflite"
    path.write_bytes(svdf_model(kind))
    op = _op_of(path, tfl.SVDFOp)
    rng = np.random.default_rng(2)
    inputs = [None] * len(op.operands)
    for i in (0, 4):
        info = TensorInfo.of(op.operands[i].type)
        inputs[i] = random_input(info, rng)
    if kind == "int8":
        inputs[4] = (inputs[4] // 8).astype(np.int16)  # keep the int32 sums in range
    check_op_with(op, inputs)


# ----------------------------------------------------------------------------- without a compiler


def test_broadcast_dims_collapse_and_mark_broadcasts():
    assert broadcast_dims([1, 32, 64], [[1, 32, 1], [1, 1, 64]]) == ([32, 64], [[1, 0], [0, 1]])
    assert broadcast_dims([1, 56, 56, 16], [[1, 56, 56, 16], [1, 1, 1, 16]]) == (
        [3136, 16],
        [[16, 1], [0, 1]],
    )
    assert broadcast_dims([1, 224, 224, 3], [[1, 224, 224, 3], []]) == ([150528], [[1], [0]])
    assert broadcast_dims([1], [[1], [1]]) == ([1], [[0], [0]])


def test_vector_steps_cover_every_element_once():
    for n in (0, 1, 3, 8, 15, 16, 24, 28, 1000):
        steps = vector_steps(n, 16)
        covered = [p for p in range(steps[0][0])] + [
            p for start, width in steps[1:] for p in range(start, start + width)
        ]
        assert covered == list(range(n)), n


def test_reduction_dims_merge_runs_of_one_kind():
    assert collapse((1, 7, 7, 1280), [1, 2]) == [Dim(49, REDUCED, 1280), Dim(1280, KEPT, 1)]
    assert collapse((1, 32, 64), [2]) == [Dim(32, KEPT, 64), Dim(64, REDUCED, 1)]
    assert collapse((2, 1, 3), [1]) == [Dim(6, KEPT, 1)]


def test_tables_come_from_the_reference_and_skip_refused_inputs():
    """RSQRT of an int8 below its zero point is an error in TFLite: those entries are 0."""
    src = tensor_info((4,), np.int8, 0.05, 10)
    dst = tensor_info((4,), np.int8, 0.1, -3)
    call = KernelCall("RSQRT", {}, [src], [dst])
    table = reference_table(call, 0)
    values = np.arange(256, dtype=np.uint8).view(np.int8)
    valid = values >= 10
    np.testing.assert_array_equal(table[valid], KERNELS["RSQRT"](call, values[valid]))
    assert not table[~valid].any()


def _supports(path, builtin_class) -> tuple[bool, str]:
    op = _op_of(path, builtin_class)
    return GENERATORS[op.name].supports(op)


def test_unsupported_paths_say_why(tmp_path):
    path = tmp_path / "hybrid.tflite"
    path.write_bytes(lstm_model("hybrid"))
    ok, reason = _supports(path, tfl.UnidirectionalSequenceLSTMOp)
    assert not ok and "float32 input with int8 weights" in reason
    path = tmp_path / "ln.tflite"
    path.write_bytes(lstm_model("int8", layer_norm=True))
    ok, reason = _supports(path, tfl.UnidirectionalSequenceLSTMOp)
    assert not ok and "layer normalisation" in reason
    tensors = [tensor("x", (2, 3), "INT16", 1e-3, 0), tensor("y", (2, 3), "INT16", 1 / 32768, 0)]
    path = write_model(tmp_path / "logistic16.tflite", tensors, [Op("LOGISTIC", ["x"], ["y"])])
    ok, reason = _supports(path, tfl.LogisticOp)
    assert not ok and "int16" in reason
