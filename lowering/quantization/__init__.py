"""Quantization passes on `tfl` IR: post-training int8 quantization with calibration,
float16 weights, dynamic-range int8 weights (an imported quantized model keeps its
parameters exactly: no pass touches them).

Each pass is one file here, registered in `PASSES` (name -> (module, class)); its FileCheck
test is tests/filecheck/quantization/<name>.mlir.
"""

PASSES: dict[str, tuple[str, str]] = {
    "quantize": ("quantize", "QuantizePass"),
    "quantize-weights-fp16": ("quantize_weights_fp16", "QuantizeWeightsFp16Pass"),
    "quantize-weights-int8": ("quantize_weights_int8", "QuantizeWeightsInt8Pass"),
}
