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
from harness import diff, seeded_inputs
from litec.dialects.tfl_reference import Interpreter
from litec.dialects.tfl_reference.mediapipe import transpose_conv_params
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import ModelDesc, read_model
from oracle import run_oracle
from tflite_builder import Op, Subgraph, Tensor, build_model


def _tensor(t) -> Tensor:
    q = t.quant
    return Tensor(
        t.name,
        t.shape,
        t.dtype,
        t.data,
        scales=list(q.scales) if q else None,
        zero_points=list(q.zero_points) if q else None,
        quantized_dimension=q.axis or 0 if q else 0,
        shape_signature=t.shape_signature,
        is_variable=t.is_variable,
    )


def rewrite_transpose_conv_bias(model: ModelDesc) -> bytes:
    """The model with each Convolution2DTransposeBias replaced by TRANSPOSE_CONV + bias."""
    sg = model.main
    tensors = [_tensor(t) for t in sg.tensors]
    ops = []
    for op in sg.operators:
        if op.custom_code != "Convolution2DTransposeBias":
            ops.append(
                Op(
                    op.builtin,
                    list(op.inputs),
                    list(op.outputs),
                    op.options,
                    custom_code=op.custom_code,
                    custom_options=op.custom_options,
                    intermediates=list(op.intermediates),
                    version=op.version,
                )
            )
            continue
        padding, stride_w, stride_h = transpose_conv_params(op.custom_options.hex())
        out_shape = np.asarray(sg.tensors[op.outputs[0]].shape, dtype=np.int32)
        tensors.append(Tensor(f"{sg.tensors[op.outputs[0]].name}/shape", (4,), "INT32", out_shape))
        x, w, b = op.inputs
        ops.append(
            Op(
                "TRANSPOSE_CONV",
                [len(tensors) - 1, w, x, b],
                list(op.outputs),
                {"padding": padding, "stride_w": stride_w, "stride_h": stride_h},
                version=3,
            )
        )
    return build_model(subgraphs=[Subgraph(tensors, ops, list(sg.inputs), list(sg.outputs))])


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
        d = diff(out_name, arr, ref[f"out{i}"])
        assert d.ok, str(d)
