"""Native CPU kernels of CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED,
BATCH_MATMUL and MediaPipe's Convolution2DTransposeBias against the reference interpreter.

Each op is generated, lowered, compiled and called natively (`cpu_kernel_check`) on the
reference interpreter's own input tensors: float within 1e-4 relative, integers bit-exact.
Real models (corpus and MediaPipe) are the slow sweep; the default run takes small
synthetic models (the reference tests' `ModelWriter`) chosen for the kernels' edge cases:
overlapping last row blocks and column panels, fewer than 16 columns or channels, depths
that are not a multiple of 4 (VNNI), padding, strides, dilation, and both int8 products
(VNNI and the portable widening one).

    python tests/test_cpu_conv.py [MODEL]   # per-layer GMAC/s of a model (default MobileNetV2)
"""

from __future__ import annotations

import ctypes
import sys
import time

import numpy as np
import pytest
from conftest import model_path
from cpu_kernel_check import check_model_ops, run_op_natively
from oracle import run_oracle
from test_ref_conv import (
    TIE_MODELS,
    VARIANTS,
    ModelWriter,
    Variant,
    batch_matmul_model,
    conv_model,
    depthwise_model,
    fully_connected_model,
    tie_inputs,
    transpose_conv_model,
)

from litec.backends.cpu.kernels.base import KernelOptions, using_options
from litec.backends.cpu.kernels.matmul import (
    Q_LEFT,
    Q_MULT,
    Q_NUDGE_HI,
    Q_NUDGE_LO,
    Q_ROUND,
    Q_TOTAL,
    Q_ZERO,
    choose_tile,
    q31_params,
    zero_in_nudge,
)
from litec.backends.cpu.kernels.packing import (
    folded_bias,
    pack_f32,
    pack_vnni,
    panel_starts,
)
from litec.dialects.tfl_reference import Interpreter
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import read_model
from litec.runtime.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

MINE = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "TRANSPOSE_CONV",
    "FULLY_CONNECTED",
    "BATCH_MATMUL",
    "CUSTOM:Convolution2DTransposeBias",
}


def assert_native_matches(path, expected: int, unsupported: dict[str, int] | None = None):
    """Every op of ours in the model matches the reference natively, except the expected
    unsupported ones ({reason fragment: count})."""
    results = check_model_ops(path, MINE)
    assert len(results) == expected
    refused: dict[str, int] = {}
    bad = []
    for idx, name, diffs in results:
        if diffs[0].dtype == "error" and diffs[0].name.startswith("unsupported"):
            reason = next((r for r in unsupported or {} if r in diffs[0].name), diffs[0].name)
            refused[reason] = refused.get(reason, 0) + 1
        elif not all(d.ok for d in diffs):
            bad.append(f"op #{idx} {name}: " + "; ".join(f"{d.name} {d}" for d in diffs))
    assert not bad, "\n".join(bad)
    assert refused == (unsupported or {})


# ----------------------------------------------------------------------------- edge cases

EDGE_CONVS = [
    # K = 27 (not a multiple of 4), N = 24 (last panel overlaps), stride 2, padding
    ((1, 7, 9, 3), (24, 3, 3, 3), (2, 2), (1, 1), "SAME", "RELU6"),
    # pointwise: rows read in place (float); N = 40, M = 30 (last row block overlaps)
    ((1, 5, 6, 20), (40, 1, 1, 20), (1, 1), (1, 1), "VALID", "NONE"),
    # 1x1 with stride 2, K = 17, N = 100
    ((1, 6, 5, 17), (100, 1, 1, 17), (2, 2), (1, 1), "SAME", "RELU"),
    # N = 7 (one narrow vector), dilation
    ((2, 5, 5, 8), (7, 3, 3, 8), (1, 1), (2, 2), "SAME", "RELU_N1_TO_1"),
]

EDGE_DEPTHWISE = [
    # channels: 24 (blocks overlap), 100, 7 (narrow), 144 with a 5x5 stride-2 window;
    # depth multipliers 2 and 3
    ((1, 9, 8, 24), 1, (3, 3), (1, 1), (1, 1), "SAME", "RELU6"),
    ((1, 6, 7, 100), 1, (3, 3), (2, 2), (1, 1), "SAME", "NONE"),
    ((2, 5, 6, 7), 1, (3, 2), (1, 2), (2, 1), "VALID", "RELU"),
    ((1, 9, 9, 144), 1, (5, 5), (2, 2), (1, 1), "SAME", "NONE"),
    ((1, 6, 5, 8), 2, (3, 3), (1, 1), (1, 1), "SAME", "RELU"),
    ((1, 8, 8, 3), 3, (3, 3), (2, 2), (2, 2), "SAME", "NONE"),
    # no interior at all: border pixels test their taps at run time
    ((1, 12, 11, 16), 1, (3, 3), (1, 1), (6, 6), "SAME", "RELU"),
]

EDGE_TRANSPOSED = [
    ((1, 4, 5, 3), (20, 3, 3, 3), (2, 2), "SAME", (8, 10), "NONE", True),
    ((1, 3, 3, 16), (2, 2, 2, 16), (2, 2), "VALID", (6, 6), "RELU", False),
]

EDGE_FULLY_CONNECTED = [
    ((3, 10), 7, False, "NONE", True),
    ((2, 3, 37), 40, True, "RELU", False),
    ((1, 130), 18, False, "RELU6", True),
]


@pytest.mark.parametrize("variant", ["float", "int8", "uint8"])
def test_conv_edges(variant, tmp_path):
    path = conv_model(ModelWriter(VARIANTS[variant]), tmp_path, EDGE_CONVS)
    assert_native_matches(path, len(EDGE_CONVS))


@pytest.mark.parametrize("variant", ["float", "int8", "uint8"])
def test_depthwise_edges(variant, tmp_path):
    path = depthwise_model(ModelWriter(VARIANTS[variant]), tmp_path, EDGE_DEPTHWISE)
    assert_native_matches(path, len(EDGE_DEPTHWISE))


@pytest.mark.parametrize("variant", ["float", "int8", "uint8"])
def test_transpose_conv_edges(variant, tmp_path):
    path = transpose_conv_model(ModelWriter(VARIANTS[variant]), tmp_path, EDGE_TRANSPOSED)
    assert_native_matches(path, len(EDGE_TRANSPOSED))


@pytest.mark.parametrize("variant", ["float", "int8", "uint8"])
def test_fully_connected_edges(variant, tmp_path):
    path = fully_connected_model(
        ModelWriter(VARIANTS[variant]), tmp_path, cases=EDGE_FULLY_CONNECTED
    )
    assert_native_matches(path, len(EDGE_FULLY_CONNECTED))


def test_fully_connected_int8_weight_zero_point(tmp_path):
    """Per-tensor int8 weights may have a zero point in FULLY_CONNECTED: centred weights
    that no longer fit int8 take the widening product."""
    variant = Variant("INT8", "INT8", False, "INT32", w_zero_point=9)
    path = fully_connected_model(ModelWriter(variant), tmp_path, cases=EDGE_FULLY_CONNECTED)
    assert_native_matches(path, len(EDGE_FULLY_CONNECTED))


@pytest.mark.parametrize("variant", ["float", "int8", "int8_to_int32"])
def test_batch_matmul_cases(variant, tmp_path):
    """Adjoints and broadcast batches (the reference tests' cases)."""
    assert_native_matches(batch_matmul_model(variant, tmp_path), 5)


@pytest.mark.parametrize("variant", ["int8", "uint8"])
def test_widening_kernels(variant, tmp_path):
    """The portable integer product (no VNNI) on the same edge cases."""
    with using_options(KernelOptions(vnni=False)):
        widening_kernels_match(variant, tmp_path)


def widening_kernels_match(variant, tmp_path):
    path = conv_model(ModelWriter(VARIANTS[variant]), tmp_path, EDGE_CONVS[:3])
    assert_native_matches(path, 3)
    path = fully_connected_model(
        ModelWriter(VARIANTS[variant]), tmp_path, cases=EDGE_FULLY_CONNECTED
    )
    assert_native_matches(path, len(EDGE_FULLY_CONNECTED))


@pytest.mark.parametrize("variant", ["hybrid", "hybrid_per_tensor"])
def test_hybrid_convolutions(variant, tmp_path):
    """Float input quantized at run time (asymmetric per channel, symmetric per tensor)."""
    cases = [EDGE_CONVS[0], EDGE_CONVS[2]]
    path = conv_model(ModelWriter(VARIANTS[variant]), tmp_path, cases)
    assert_native_matches(path, len(cases))


@pytest.mark.parametrize("asymmetric", [False, True])
@pytest.mark.parametrize("variant", ["hybrid", "hybrid_per_tensor"])
def test_hybrid_fully_connected(variant, asymmetric, tmp_path):
    """Rows quantized at run time (symmetric or asymmetric); TANH and SIGN_BIT applied."""
    cases = [*EDGE_FULLY_CONNECTED, ((2, 9), 20, False, "TANH", True)]
    cases.append(((3, 16), 5, False, "SIGN_BIT", False))
    m = ModelWriter(VARIANTS[variant])
    path = fully_connected_model(m, tmp_path, asymmetric=asymmetric, cases=cases)
    assert_native_matches(path, len(cases))


def test_hybrid_depthwise(tmp_path):
    cases = [*EDGE_DEPTHWISE[:2], EDGE_DEPTHWISE[-1]]
    path = depthwise_model(ModelWriter(VARIANTS["hybrid"]), tmp_path, cases)
    assert_native_matches(path, len(cases))


@pytest.mark.parametrize("variant", ["float", "hybrid", "hybrid_per_tensor"])
def test_exact_float_order_is_bit_exact(variant, tmp_path):
    """With `exact_float`, float and hybrid convolutions, depthwise and fully-connected
    kernels sum in TFLite's order and scale as it does: equal to the reference bit for bit
    (what hybrid layers need: their inputs are quantized at run time)."""

    def model(build, **kw):
        return build(ModelWriter(VARIANTS[variant]), tmp_path, **kw)

    paths = [
        model(conv_model, cases=EDGE_CONVS[:3]),
        model(fully_connected_model, cases=EDGE_FULLY_CONNECTED),
    ]
    if variant != "hybrid_per_tensor":  # TFLite has no per-tensor hybrid depthwise
        paths.append(model(depthwise_model, cases=EDGE_DEPTHWISE[:2]))
    with using_options(KernelOptions(exact_float=True)):
        results = [r for path in paths for r in check_model_ops(path, MINE)]
    inexact = [f"op #{i} {name}: {d}" for i, name, diffs in results for d in diffs if d.max_abs]
    assert results and not inexact


@pytest.mark.parametrize("builtin", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"])
def test_hybrid_input_range_width_in_float32(builtin, tmp_path):
    """The native run-time input quantizer takes the range's width in float32 like TFLite:
    with `exact_float`, equal to TFLite's outputs bit for bit where that decides a rounding
    (test_ref_conv's TIE_MODELS)."""
    make, row_size = TIE_MODELS[builtin]
    path = make(tmp_path)
    inputs = tie_inputs(path, row_size)
    ref = run_oracle(path, inputs)
    interp = Interpreter(import_model(read_model(path)))
    values = interp.run_values("main", inputs)
    ops = [s.op for s in interp.plan("main")[1] if s.call.builtin == builtin]
    with using_options(KernelOptions(exact_float=True)):
        outs = [run_op_natively(op, [values[v] for v in op.operands])[0] for op in ops]
    assert len(outs) == len(ref)
    differ = [i for i, out in enumerate(outs) if not np.array_equal(out, ref[f"out{i}"])]
    assert not differ, f"outputs {differ} differ from TFLite's"


def test_unsupported_cases_say_why(tmp_path):
    """Groups and 16-bit activations are refused with a reason."""
    grouped = [((1, 7, 7, 6), (4, 3, 3, 3), (2, 2), (1, 1), "SAME", "RELU")]
    path = conv_model(ModelWriter(VARIANTS["float"]), tmp_path, grouped)
    assert_native_matches(path, 1, {"grouped convolution": 1})
    path = conv_model(ModelWriter(VARIANTS["int16"]), tmp_path, EDGE_CONVS[:1])
    assert_native_matches(path, 1, {"int16 input with int8 weights": 1})


# ----------------------------------------------------------------------------- compile-time data


def test_panels_overlap_back_to_the_end():
    assert panel_starts(64, 64) == [0]
    assert panel_starts(100, 32) == [0, 32, 64, 68]
    assert panel_starts(24, 16) == [0, 8]


def test_packed_layouts():
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (6, 20)).astype(np.int8)  # K = 6, N = 20
    f = pack_f32(w.astype(np.float32), 16).reshape(2, 6, 16)
    assert np.array_equal(f[1], w[:, 4:20])
    v = pack_vnni(w, 16).reshape(2, 2, 16, 4)  # K padded to 8
    assert np.array_equal(v[0, 0, 3], w[0:4, 3])
    assert np.array_equal(v[1, 1, 0], [w[4, 4], w[5, 4], 0, 0])


def test_folded_bias_makes_centred_sums():
    """bias − offset·Σw plus Σ (x + 128)·w equals Σ (x − zp)·w + bias (VNNI's shift)."""
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, 9)
    w = rng.integers(-127, 128, (9, 5))
    bias, zp = rng.integers(-1000, 1000, 5), -7
    start = folded_bias(bias, w, 128 + zp).astype(np.int64)
    assert np.array_equal(start + (x + 128) @ w, (x - zp) @ w + bias)


def requantize_like_the_kernel(x, block: np.ndarray, c: int) -> np.ndarray:
    """The kernels' one-step requantization of channel c, from its parameter block."""
    row = block[:, c].astype(np.int64)
    nudge = (row[Q_NUDGE_HI] << 32) | (row[Q_NUDGE_LO] & 0xFFFFFFFF)
    shifted = np.asarray(x, np.int64) << row[Q_LEFT]
    shifted = (shifted + 2**31) % 2**32 - 2**31  # int32 wrap
    fix = np.where(shifted < 0, row[Q_ROUND] & 0xFFFFFFFF, 0)
    total = [
        (int(v) * int(row[Q_MULT]) + int(nudge) - int(f)) >> int(row[Q_TOTAL])
        for v, f in zip(shifted, fix, strict=True)
    ]
    zero = 0 if zero_in_nudge(block[Q_TOTAL]) else row[Q_ZERO]
    return np.array(total, np.int64) + zero


def test_one_step_requantization_is_tflites_double_rounding():
    """(x·m + nudge − [x<0]·2^31) >> (31 + e) equals MultiplyByQuantizedMultiplier + zp for
    every x, over multipliers from 10^-9 to 30 (left shifts, e = 0, huge e)."""
    rng = np.random.default_rng(7)
    reals = 10 ** rng.uniform(-9, 1.5, 300)
    mult, shift = zip(*(quantize_multiplier(float(r)) for r in reals), strict=True)
    zero = int(rng.integers(-128, 128))
    block = q31_params(np.zeros(len(reals)), np.array(mult), np.array(shift), zero)
    x = np.concatenate([rng.integers(-(2**31), 2**31, 64), [-(2**31), -1, 0, 1, 2**31 - 1]])
    for c in range(len(reals)):
        expected = multiply_by_quantized_multiplier(x, mult[c], shift[c]) + zero
        assert np.array_equal(requantize_like_the_kernel(x, block, c), expected), reals[c]


def test_tiles_fit_the_registers():
    for m, n in [(1, 1000), (3136, 24), (12544, 32), (49, 7), (5, 16)]:
        tile = choose_tile(m, n)
        assert tile.mr * tile.nv <= 24 and tile.nr <= n and tile.mr <= m


# ----------------------------------------------------------------------------- real models

CORPUS_MODELS = {
    "kws_dscnn_fp32.tflite": 10,
    "kws_dscnn_int8.tflite": 10,
    "lstm_fp32.tflite": 1,
    "lstm_int8.tflite": 1,
    "mobilenet_v1_dr8.tflite": 28,
    "mobilenet_v1_fp16.tflite": 28,
    "mobilenet_v1_fp32.tflite": 28,
    "mobilenet_v1_int8.tflite": 28,
    "mobilenet_v2_fp32.tflite": 53,
    "mobilenet_v2_int8.tflite": 53,
    "mobilenet_v3_small_fp32.tflite": 54,
    "mobilenet_v3_small_int8.tflite": 54,
    "opcov_cnn_fp32.tflite": 10,
    "opcov_cnn_int8.tflite": 10,
    "tiny_transformer_fp32.tflite": 16,
    "tiny_transformer_int8.tflite": 16,
}

MEDIAPIPE_MODELS = {
    "face_detection_full_range_sparse.tflite": 91,
    "face_detection_short_range.tflite": 37,
    "face_landmark.tflite": 45,
    "face_landmark_with_attention.tflite": 146,
    "hand_landmark_full.tflite": 51,
    "hand_landmark_lite.tflite": 51,
    "hand_recrop.tflite": 33,
    "iris_landmark.tflite": 81,
    "palm_detection_full.tflite": 63,
    "palm_detection_lite.tflite": 53,
    "pose_detection.tflite": 73,
    "pose_landmark_full.tflite": 96,
    "selfie_segmentation.tflite": 55,
    "selfie_segmentation_landscape.tflite": 55,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CORPUS_MODELS | MEDIAPIPE_MODELS))
def test_real_model_ops(name):
    assert_native_matches(model_path(name), (CORPUS_MODELS | MEDIAPIPE_MODELS)[name])


# ----------------------------------------------------------------------------- speed report


def layer_speeds(path, limit: int = 12, repeat: int = 15) -> list[tuple[str, float, float]]:
    """(layer, microseconds, GMAC/s) of the first `limit` conv/FC layers of a model."""
    from cpu_kernel_check import _buffer_like, _empty, _values_by_op, aligned, compile_op

    from litec.backends.cpu.kernels.base import CONST, INPUT, OUTPUT
    from litec.dialects.tfl_reference.core import TensorInfo
    from litec.lowering.import_tflite import import_model

    module = import_model(read_model(path))
    values, steps = _values_by_op(module, 0)
    report = []
    for step in [s for s in steps if s.call.builtin in MINE][:limit]:
        op, call = step.op, step.call
        cfn, kernel = compile_op(op)
        outs = [_empty(TensorInfo.of(r.type)) for r in op.results]
        args = []
        for b in kernel.bindings:
            if b.kind == INPUT:
                args.append(_buffer_like(np.asarray(values[op.operands[b.index]])))
            elif b.kind == OUTPUT:
                args.append(outs[b.index])
            elif b.kind == CONST:
                args.append(_buffer_like(np.asarray(b.data)))
            else:
                args.append(aligned(b.size))
        ptrs = [ctypes.c_void_p(a.ctypes.data) for a in args]
        times = []
        for _ in range(repeat + 1):
            start = time.perf_counter()
            cfn(*ptrs)
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times[1:]))
        w = call.inputs[1].shape
        window = w[1] * w[2] if call.builtin == "DEPTHWISE_CONV_2D" else int(np.prod(w[1:]))
        macs = int(np.prod(call.out.shape)) * window
        name = f"#{call.op_index} {call.builtin} {call.inputs[0].shape} -> {call.out.shape}"
        report.append((name, seconds * 1e6, macs / seconds / 1e9))
    return report


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "mobilenet_v2_fp32.tflite"
    for layer, micros, rate in layer_speeds(model_path(target)):
        print(f"{layer:70s} {micros:9.1f} us {rate:7.1f} GMAC/s")
