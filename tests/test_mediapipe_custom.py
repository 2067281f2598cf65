"""MediaPipe's custom operators, checked against TFLite through an equivalent builtin model.

TFLite cannot run MediaPipe's custom ops without MediaPipe's resolver, so the oracle here
is the same model rewritten (with `tflite_builder`) to use TFLite builtins where the
custom op has an exact builtin equivalent: Convolution2DTransposeBias is TRANSPOSE_CONV
(version 3, which takes a bias). litec runs the original model; TFLite the rewritten one.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path
from harness import seeded_inputs
from model_rewrite import Graph, rewrite
from oracle import run_oracle
from zoo import assert_close

from litec.dialects.tfl_reference import Interpreter
from litec.dialects.tfl_reference.mediapipe import transpose_conv_params
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import ModelDesc, OperatorDesc, read_model


def _transpose_conv_bias_ops(g: Graph, op: OperatorDesc) -> None:
    """Convolution2DTransposeBias as TRANSPOSE_CONV (version 3 takes a bias)."""
    padding, stride_w, stride_h = transpose_conv_params(op.custom_options.hex())
    x, w, b = op.inputs
    out = op.outputs[0]
    out_shape = g.const(g.shape(out), np.int32)
    options = {"padding": padding, "stride_w": stride_w, "stride_h": stride_h}
    g.op("TRANSPOSE_CONV", [out_shape, w, x, b], None, options, out=out, version=3)


def rewrite_transpose_conv_bias(model: ModelDesc) -> bytes:
    """The model with each Convolution2DTransposeBias replaced by TRANSPOSE_CONV + bias."""
    return rewrite(model, {"Convolution2DTransposeBias": _transpose_conv_bias_ops})


@pytest.mark.parametrize(
    "name", ["selfie_segmentation.tflite", "selfie_segmentation_landscape.tflite"]
)
def test_convolution_2d_transpose_bias_matches_transpose_conv(name, tmp_path):
    path = model_path(name)
    model = read_model(path)
    rewritten = tmp_path / name
    rewritten.write_bytes(rewrite_transpose_conv_bias(model))
    module = import_model(model)
    inputs = seeded_inputs(module)
    ours = Interpreter(module).run(inputs)
    ref = run_oracle(rewritten, inputs)
    for i, (out_name, arr) in enumerate(ours.items()):
        assert_close(out_name, arr, ref[f"out{i}"])
