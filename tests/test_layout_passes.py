"""The graph passes on ops that convert-layout put in NCHW (`litec.layout`): the CPU's -O3
graph pipeline run after converting every layout-sensitive op keeps the reference results
(`--verify-numerics`), and fuses what it fuses in NHWC; PTQ of a converted model is PTQ of
the original, bit for bit, also with bias correction (PTQ's default: channel means along
the layout's C axis). After converting the convolutions to the blocked NCHW16c, -O3 keeps
the reference results too, and PTQ without bias correction is PTQ of the original (with
it: an expected failure until calibration reads blocked values in NHWC). (The
exporter's refusal is in test_export_tflite.py.)

The corpus holds no unfolded batch norm or explicit PAD, so the synthetic models of
test_fusion.py hold those patterns; the sweep over every corpus model is marked slow.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from conftest import corpus_models, model_path
from test_convert_layout import BLOCKED, BLOCKED_LEFT, CONVERT, blocked_model
from test_fusion import (
    assert_same,
    explicit_pads,
    float_biased,
    float_chain,
    int8_activations,
    op_counts,
    unfolded_batch_norms,
)

import litec
from litec.backends.cpu.backend import CpuBackend
from litec.dialects import tfl
from litec.dialects.tfl_layouts import layout_of
from litec.driver import context, run_graph_passes
from litec.ir.passes import run_pipeline
from litec.lowering.passes import register_all
from litec.lowering.quantization.quantize import quantize_model
from litec.lowering.verify_numerics import VerifyNumerics

O3 = CpuBackend.GRAPH_PIPELINES[3]

MOVES = ("TRANSPOSE", "RESHAPE")
"""Ops converting layouts adds (a transpose of unit axes is a reshape)."""

FAST = "opcov_cnn_fp32.tflite"

SEPARATED = {
    # the depthwise's ADD reads its result through the transpose back to NHWC that the
    # FULLY_CONNECTED (NHWC) needs; the RELU after the transpose conv, at a function result
    "float_chain": {"ADD": 1, "RELU": 1},
    # the conv's SUB, before the FULLY_CONNECTED
    "float_biased": {"SUB": 1},
    # the RELU of the conv that keeps the quantization, at a function result
    "int8_activations": {"RELU": 1},
    # the transpose conv's MUL, at a function result
    "unfolded_batch_norms": {"MUL": 1},
    # (fold-pad reads a PAD through its conv's transpose)
    "explicit_pads": {},
}
"""Ops -O3 fuses in NHWC but not after converting: a transpose separates them from their
conv (propagate-layout moves a transpose only where that cancels one); the corpus has
none of these."""


def converted_o3(module, convert: str = CONVERT) -> VerifyNumerics:
    """Convert the layout-sensitive ops of `module` (by default every one, to NCHW), then run
    -O3's graph passes, checking the reference results after each pass; returns the check."""
    register_all()
    check = VerifyNumerics()
    run_pipeline(module, f"{convert},{O3}", context(), [check])
    module.verify()
    return check


def computing(module) -> Counter:
    """The module's op counts, less the data movement converting layouts adds."""
    counts = op_counts(module)
    return Counter({name: n for name, n in counts.items() if name not in MOVES})


def check_fuses_as_in_nhwc(path, separated: dict[str, int]) -> None:
    """After convert-layout, -O3 keeps the results and leaves the ops it leaves in NHWC, and
    those a transpose separates from their conv."""
    nhwc = litec.load(path)
    run_graph_passes(nhwc, O3)
    nchw = litec.load(path)
    check = converted_o3(nchw)
    assert "fold-batch-norm" in check.checked
    assert computing(nchw) == computing(nhwc) + Counter(separated)


@pytest.mark.parametrize(
    "build", [float_chain, float_biased, int8_activations, unfolded_batch_norms, explicit_pads]
)
def test_synthetic_fusions_fire_in_nchw(build, tmp_path):
    path = build(tmp_path / f"{build.__name__}.tflite")
    check_fuses_as_in_nhwc(path, SEPARATED[build.__name__])


def test_real_model_in_nchw():
    check_fuses_as_in_nhwc(model_path(FAST), {})


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(corpus_models()) - {FAST}))
def test_corpus_in_nchw(name):
    check_fuses_as_in_nhwc(model_path(name), {})


def check_blocked_o3(path) -> None:
    """After converting the convolutions to NCHW16c, -O3 keeps the results, the blocked
    ops stay blocked, and the activations after them fuse."""
    module = litec.load(path)
    check = converted_o3(module, BLOCKED)
    assert "fuse-conv-activation" in check.checked
    blocked = [op for op in module.walk() if layout_of(op) == "NCHW16c"]
    assert blocked
    assert not any(
        isinstance(u.operation, tfl.ReluOp) for op in blocked for u in op.results[0].uses
    )


def test_blocked_synthetic_o3(tmp_path):
    check_blocked_o3(blocked_model(tmp_path / "blocked.tflite"))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BLOCKED_LEFT))
def test_blocked_corpus_o3(name):
    check_blocked_o3(model_path(name))


@pytest.mark.parametrize(
    "options",
    [
        {"bias_correction": False},
        {"bias_correction": False, "ranges": "minmax"},
        {},
    ],
    ids=["mse", "minmax", "default"],
)
def test_ptq_of_nchw_ops_is_ptq_of_nhwc(options):
    """Weights keep their per-channel axis and activation ranges are per tensor, so
    quantizing a converted model gives the quantized model's results exactly."""
    module = litec.load(model_path("kws_dscnn_fp32.tflite"))
    samples = [litec.random_inputs(module, seed) for seed in range(1, 5)]
    stacked = {k: np.concatenate([s[k] for s in samples]) for k in samples[0]}
    converted = module.clone()
    run_graph_passes(converted, CONVERT)
    assert any("litec.layout" in op.attributes for op in converted.walk())
    inputs = litec.random_inputs(module, 0)
    nhwc = litec.interpret(quantize_model(module, stacked, **options), inputs)
    nchw = litec.interpret(quantize_model(converted, stacked, **options), inputs)
    assert_same(nhwc, nchw)


@pytest.mark.parametrize(
    "bias_correction",
    [False, True],
    ids=["mse", "default"],
)
def test_ptq_of_blocked_ops(bias_correction):
    """Weights keep their layout in NCHW16c ops and activation ranges are per tensor: PTQ of
    a model converted to NCHW16c is PTQ of the original, bit for bit."""
    module = litec.load(model_path("kws_dscnn_fp32.tflite"))
    samples = [litec.random_inputs(module, seed) for seed in range(1, 5)]
    stacked = {k: np.concatenate([s[k] for s in samples]) for k in samples[0]}
    converted = module.clone()
    run_graph_passes(converted, BLOCKED)
    assert any(layout_of(op) == "NCHW16c" for op in converted.walk())
    inputs = litec.random_inputs(module, 0)
    options = {"bias_correction": bias_correction}
    nhwc = litec.interpret(quantize_model(module, stacked, **options), inputs)
    blocked = litec.interpret(quantize_model(converted, stacked, **options), inputs)
    assert_same(nhwc, blocked)


@pytest.mark.parametrize("spec", ["quantize-weights-int8", "quantize-weights-fp16"])
def test_weight_quantization_of_nchw_ops(spec):
    """Weights keep TFLite's layout in NCHW ops: quantizing them after converting gives the
    results of quantizing them before."""
    module = litec.load(model_path("kws_dscnn_fp32.tflite"))
    inputs = litec.random_inputs(module, 0)
    converted = module.clone()
    run_graph_passes(converted, f"{CONVERT},{spec}")
    run_graph_passes(module, spec)
    assert_same(litec.interpret(module, inputs), litec.interpret(converted, inputs))
