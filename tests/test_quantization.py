"""Quantization passes on corpus models: quantized models are left alone; fp16 and
dynamic-range weights are what TFLite's converter writes; post-training int8 keeps the float
model's answers, runs on the CPU backend bit for bit like the reference interpreter, and runs
in TFLite (exported) bit for bit too."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import mediapipe_models, model_path
from oracle import run_oracle

import litec
from litec.dialects import tfl
from litec.dialects.tfl_reference import signature
from litec.dialects.tfl_reference.conv import IN_ORDER, sums_in_any_order
from litec.ir.diagnostics import LitecError
from litec.ir.quant import quant_params
from litec.lowering.export_tflite import export_tflite
from litec.lowering.graph import constant_array
from litec.lowering.quantization.calibrate import Histogram
from litec.lowering.quantization.quantize import QuantizePass, quantize_model
from litec.lowering.quantization.quantize_weights_fp16 import QuantizeWeightsFp16Pass
from litec.lowering.quantization.quantize_weights_int8 import QuantizeWeightsInt8Pass

TFLITE = {"ranges": "minmax", "bias_correction": False}
"""The choices of TFLite's converter (the default is least-error ranges, bias correction)."""

PASSES = [
    QuantizePass(calibration="unused.npz"),
    QuantizeWeightsFp16Pass(),
    QuantizeWeightsInt8Pass(),
]


def _load(name: str):
    return litec.load(model_path(name))


def _samples(module, count: int, seed: int) -> dict[str, np.ndarray]:
    """`count` samples per input, stacked along the batch axis, as the corpus drew them."""
    rng = np.random.default_rng(seed)
    return {
        name: rng.normal(0.0, 0.5, (count * info.shape[0], *info.shape[1:]))
        .clip(-1, 1)
        .astype(np.float32)
        for name, info in signature(module).inputs
    }


def _one(samples: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {k: v[i : i + 1] for k, v in samples.items()}


def _output(module, inputs) -> np.ndarray:
    return next(iter(litec.interpret(module, inputs).values()))


@pytest.mark.parametrize("model", ["kws_dscnn_int8.tflite", "mobilenet_v1_int8.tflite"])
@pytest.mark.parametrize("each", PASSES, ids=lambda p: p.name)
def test_quantized_model_unchanged(model, each):
    module = _load(model)
    before = litec.print_mlir(module, resources=True)
    each.apply(None, module)
    assert litec.print_mlir(module, resources=True) == before


def test_fp16_weights_as_tflite_writes_them():
    ours = _load("mobilenet_v1_fp32.tflite")
    QuantizeWeightsFp16Pass().apply(None, ours)
    theirs = _load("mobilenet_v1_fp16.tflite")

    def halves(module):
        return sorted(
            constant_array(op.output).tobytes()
            for op in module.walk()
            if isinstance(op, tfl.ConstOp) and str(op.output.type.element_type) == "f16"
        )

    assert halves(ours) == halves(theirs)


def test_dynamic_range_weights_as_tflite_writes_them():
    ours = _load("mobilenet_v1_fp32.tflite")
    QuantizeWeightsInt8Pass().apply(None, ours)
    theirs = _load("mobilenet_v1_dr8.tflite")

    def weights(module):
        convs = (tfl.Conv2DOp, tfl.DepthwiseConv2DOp)
        return [
            (op.filter, quant_params(op.filter.type))
            for op in module.walk()
            if isinstance(op, convs)
        ]

    for (w_ours, q_ours), (w_theirs, q_theirs) in zip(weights(ours), weights(theirs), strict=True):
        assert q_ours == q_theirs
        np.testing.assert_array_equal(constant_array(w_ours), constant_array(w_theirs))
    x = litec.random_inputs(ours, 0)
    np.testing.assert_array_equal(_output(ours, x), _output(theirs, x))


@pytest.mark.parametrize("name", ["kws_dscnn", "opcov_cnn"])
def test_ptq_weights_as_tflite_writes_them(name):
    """int8 weights and their per-channel scales equal those of TFLite's int8 conversion."""
    fp32 = _load(f"{name}_fp32.tflite")
    ours = quantize_model(fp32, _samples(fp32, 2, seed=1))
    theirs = _load(f"{name}_int8.tflite")
    weighted = tfl.Conv2DOp | tfl.DepthwiseConv2DOp | tfl.FullyConnectedOp | tfl.TransposeConvOp

    def weights(module):
        return [op.filter for op in module.walk() if isinstance(op, weighted)]

    for w_ours, w_theirs in zip(weights(ours), weights(theirs), strict=True):
        assert quant_params(w_ours.type) == quant_params(w_theirs.type)
        np.testing.assert_array_equal(constant_array(w_ours), constant_array(w_theirs))


def test_ptq_keeps_answers_and_runs_on_cpu_and_tflite(tmp_path):
    fp32 = _load("kws_dscnn_fp32.tflite")
    ours = quantize_model(fp32, _samples(fp32, 20, seed=1))
    kinds = {op.name for op in ours.walk() if isinstance(op, tfl.TflOp)}
    assert {"tfl.quantize", "tfl.dequantize", "tfl.conv_2d"} <= kinds
    assert all(
        quant_params(r.type) is not None
        for op in ours.walk()
        if isinstance(op, tfl.Conv2DOp | tfl.DepthwiseConv2DOp | tfl.SoftmaxOp)
        for r in op.results
    )
    held_back = _samples(fp32, 10, seed=2)
    pairs = [
        (_output(fp32, _one(held_back, i)), _output(ours, _one(held_back, i))) for i in range(10)
    ]
    assert sum(a.argmax() == b.argmax() for a, b in pairs) >= 9
    x = _one(held_back, 0)
    path = tmp_path / "kws_ptq.tflite"
    path.write_bytes(export_tflite(ours))
    tflite = next(iter(run_oracle(path, list(x.values())).values()))
    np.testing.assert_array_equal(tflite, _output(ours, x))
    _check_cpu(ours, x, tmp_path)


def _check_cpu(module, inputs, tmp_path) -> None:
    from litec.driver import compile_model
    from litec.runtime import load

    source = tmp_path / "model.mlir"
    source.write_text(litec.print_mlir(module, resources=True))
    artifact = tmp_path / "model.litec"
    artifact.write_bytes(compile_model(source).artifact)
    cpu = next(iter(load(artifact).run(inputs).values()))
    np.testing.assert_array_equal(cpu, _output(module, inputs))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["opcov_cnn", "mobilenet_v2", "mobilenet_v3_small", "tiny_transformer"]
)
def test_ptq_models_run_bit_exact_in_tflite(name, tmp_path):
    fp32 = _load(f"{name}_fp32.tflite")
    ours = quantize_model(fp32, _samples(fp32, 4, seed=1))
    path = tmp_path / f"{name}_ptq.tflite"
    path.write_bytes(export_tflite(ours))
    x = _one(_samples(fp32, 1, seed=2), 0)
    tflite = next(iter(run_oracle(path, list(x.values())).values()))
    np.testing.assert_array_equal(tflite, _output(ours, x))


REF_RESOLVER_LACKS = {
    "face_detection_full_range_sparse.tflite": "int8 DEPTH_TO_SPACE (version 2)",
    "pose_detection.tflite": "int8 DEPTH_TO_SPACE (version 2)",
}
"""PTQ models TFLite's BUILTIN_REF resolver cannot load: it registers only version 1 of
DEPTH_TO_SPACE, while op_version.cc (and TFLite's converter) write int8 as version 2."""


def _builtin_only_mediapipe() -> list[str]:
    return [n for n in mediapipe_models() if n not in REF_RESOLVER_LACKS]


@pytest.mark.slow
@pytest.mark.parametrize("name", _builtin_only_mediapipe())
def test_ptq_of_mediapipe_models_runs_bit_exact_in_tflite(name, tmp_path):
    """PTQ (8 seeded calibration inputs) of each MediaPipe model TFLite can run: the written
    model runs in TFLite BUILTIN_REF bit for bit as in litec's reference interpreter."""
    fp32 = litec.load(model_path(name))
    if any(isinstance(op, tfl.CustomOp) for op in fp32.walk()):
        pytest.skip("custom ops: TFLite cannot run the model")
    runs = [litec.random_inputs(fp32, seed) for seed in range(1, 9)]
    ours = quantize_model(fp32, {k: np.concatenate([r[k] for r in runs]) for k in runs[0]})
    path = tmp_path / name
    path.write_bytes(export_tflite(ours))
    x = litec.random_inputs(fp32, 0)
    tflite = run_oracle(path, list(x.values()))
    for want, got in zip(litec.interpret(ours, x).values(), tflite.values(), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "samples, message",
    [
        ({"nope": np.zeros((1, 49, 40, 1), np.float32)}, "unknown input 'nope'"),
        ({}, "no samples for input 'serving_default_input:0'"),
        (
            {"serving_default_input:0": np.zeros((2, 40, 49, 1), np.float32)},
            "have shape [2, 40, 49, 1]",
        ),
    ],
)
def test_ptq_calibration_errors_name_the_input(samples, message):
    with pytest.raises(LitecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        quantize_model(_load("kws_dscnn_fp32.tflite"), samples)


def test_ptq_concatenation_shares_parameters_with_its_producers():
    """As TFLite: CONCATENATION's range is handed back through pooling to the depthwise conv,
    and only the fixed-output TANH feeding a concatenation is requantized (with min/max
    ranges; least-error ranges also requantize the PRELU beside the TANH, as its range is
    its own)."""
    fp32 = _load("opcov_cnn_fp32.tflite")
    ours = quantize_model(fp32, _samples(fp32, 4, seed=1), **TFLITE)
    concat = next(op for op in ours.walk() if isinstance(op, tfl.ConcatenationOp))
    params = {quant_params(v.type) for v in (*concat.operands, concat.output)}
    assert len(params) == 1
    pooled = concat.operands[0].owner.input.owner
    assert isinstance(pooled, tfl.DepthwiseConv2DOp) and quant_params(pooled.output.type) in params
    requantized = [op for op in ours.walk() if isinstance(op, tfl.QuantizeOp)]
    assert [quant_params(op.input.type) is not None for op in requantized] == [False, True]


def test_ptq_of_float16_weights():
    """Weights stored as float16 (read through DEQUANTIZE) are quantized like float32 ones;
    the float16 constants go away."""
    model = _load("kws_dscnn_fp32.tflite")
    QuantizeWeightsFp16Pass().apply(None, model)
    ours = quantize_model(model, _samples(model, 4, seed=1))
    elements = {
        str(op.output.type.element_type) for op in ours.walk() if isinstance(op, tfl.ConstOp)
    }
    assert "f16" not in elements
    assert all(
        quant_params(op.output.type) is not None
        for op in ours.walk()
        if isinstance(op, tfl.Conv2DOp | tfl.DepthwiseConv2DOp | tfl.FullyConnectedOp)
    )


def test_ptq_activation_parameters_as_tflite_chooses_them():
    """Calibrated on the corpus generator's representative data, every activation of
    opcov_cnn gets TFLite's int8 parameters (scales up to float noise, zero points exactly):
    pooling and concatenation share, the fixed outputs, and ADD inputs widened."""
    fp32 = _load("opcov_cnn_fp32.tflite")
    ours = quantize_model(fp32, _samples(fp32, 100, seed=1), **TFLITE)
    theirs = _load("opcov_cnn_int8.tflite")
    skip = tfl.ConstOp | tfl.NoValueOp | tfl.QuantizeOp | tfl.DequantizeOp

    def outputs(module):
        return [
            quant_params(op.results[0].type)
            for op in module.walk()
            if isinstance(op, tfl.TflOp) and not isinstance(op, skip)
        ]

    for q_ours, q_theirs in zip(outputs(ours), outputs(theirs), strict=True):
        assert q_ours.zero_points == q_theirs.zero_points
        np.testing.assert_allclose(q_ours.scales, q_theirs.scales, rtol=1e-5)


def test_ptq_bias_correction_improves_snr():
    fp32 = _load("kws_dscnn_fp32.tflite")
    samples, held_back = _samples(fp32, 20, seed=1), _samples(fp32, 10, seed=2)
    reference = [_output(fp32, _one(held_back, i)) for i in range(10)]

    def snr(module) -> float:
        err = [r - _output(module, _one(held_back, i)) for i, r in enumerate(reference)]
        return 10 * np.log10(sum(np.sum(r**2) for r in reference) / sum(np.sum(e**2) for e in err))

    corrected = quantize_model(fp32, samples, ranges="minmax")
    assert snr(corrected) > snr(quantize_model(fp32, samples, **TFLITE)) + 0.5


def test_mse_range_clips_outliers_keeps_zero_and_most_values():
    """A million Gaussian values and one far outlier: the least-error range clips the outlier
    (f(b) = N·(b - lo)²/255²/12 + (50 - b)² is least near b = 20), keeps 0 and 99.9% of the
    values; a run that widens the range moves the earlier counts."""
    rng = np.random.default_rng(0)
    histogram = Histogram()
    histogram.add(rng.normal(0.0, 1.0, 1_000_000).astype(np.float32))
    histogram.add(np.array([0.0, 50.0], np.float32))
    assert histogram.counts.sum() + histogram.zeros == 1_000_002
    lo, hi = histogram.mse_range()
    assert -5.0 < lo < -3.0 and 15.0 < hi < 25.0
    relu = Histogram()
    relu.add(np.maximum(rng.normal(0.0, 1.0, 1000), 0).astype(np.float32))
    assert relu.mse_range()[0] == 0.0


def test_ptq_mse_ranges_keep_answers_and_run_bit_exact_in_tflite(tmp_path):
    fp32 = _load("kws_dscnn_fp32.tflite")
    samples = _samples(fp32, 20, seed=1)
    ours = quantize_model(fp32, samples, ranges="mse")
    minmax = quantize_model(fp32, samples, ranges="minmax")

    def widest(module) -> float:
        return max(
            quant_params(op.output.type).scale
            for op in module.walk()
            if isinstance(op, tfl.Conv2DOp)
        )

    assert widest(ours) < widest(minmax)
    x = _one(_samples(fp32, 1, seed=2), 0)
    assert _output(ours, x).argmax() == _output(fp32, x).argmax()
    path = tmp_path / "kws_ptq_mse.tflite"
    path.write_bytes(export_tflite(ours))
    tflite = next(iter(run_oracle(path, list(x.values())).values()))
    np.testing.assert_array_equal(tflite, _output(ours, x))


def test_ptq_unknown_range_choice():
    with pytest.raises(LitecError, match="unknown activation range choice 'best'"):
        quantize_model(_load("kws_dscnn_fp32.tflite"), {}, ranges="best")


def test_ptq_mse_ranges_keep_logits_whole_through_data_movement():
    """mobilenet_v3_small's logits reach its SOFTMAX through a RESHAPE: the conv making them
    keeps its calibrated min/max under `ranges=mse` (clipping the largest logits would tie the
    classes the softmax ranks), while the convs before it get narrower ranges."""
    fp32 = _load("mobilenet_v3_small_fp32.tflite")
    samples = _samples(fp32, 4, seed=1)

    def conv_scales(module) -> list[float]:
        convs = [op for op in module.walk() if isinstance(op, tfl.Conv2DOp)]
        return [quant_params(op.output.type).scale for op in convs]

    mse, minmax = (
        conv_scales(quantize_model(fp32, samples, ranges="mse")),
        conv_scales(quantize_model(fp32, samples, ranges="minmax")),
    )
    assert mse[-1] == minmax[-1]
    assert sum(a < b for a, b in zip(mse, minmax, strict=True)) > len(mse) // 2


def test_ptq_of_the_transformer_quantizes_gelu_and_rsqrt():
    """As TFLite's int8 tiny_transformer: GELU and RSQRT (layer norm) are int8 with calibrated
    output ranges; NEG stays float as there."""
    fp32 = _load("tiny_transformer_fp32.tflite")
    ours = quantize_model(fp32, _samples(fp32, 4, seed=1))

    def kinds(module, op_type):
        return {quant_params(op.results[0].type) is not None for op in module.walk()
                if isinstance(op, op_type)}  # fmt: skip

    for op_type in (tfl.GeluOp, tfl.RsqrtOp, tfl.NegOp):
        assert kinds(ours, op_type) == kinds(_load("tiny_transformer_int8.tflite"), op_type)


def test_calibration_sums_convolutions_in_any_order_only_while_calibrating():
    """Calibration runs float convolutions as one matrix product (ranges need no bit-exact
    order): results within float rounding of TFLite's order, which stays the default."""
    module = _load("kws_dscnn_fp32.tflite")
    x = litec.random_inputs(module, 0)
    with sums_in_any_order():
        fast = _output(module, x)
    assert IN_ORDER.get()
    np.testing.assert_allclose(fast, _output(module, x), rtol=1e-5, atol=1e-6)
