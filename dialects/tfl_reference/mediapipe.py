"""Reference kernels: MediaPipe's custom operators.

MediaPipe ships its models with a few custom ops (mediapipe/util/tflite/operations/).
Their options are not flexbuffers but raw C structs; each kernel decodes its own.
"""

from __future__ import annotations

import struct

import numpy as np

from litec.dialects.tfl_reference.core import KERNELS, KernelCall, TensorInfo, kernel

_PADDING = {1: "SAME", 2: "VALID"}
"""TfLitePadding: kTfLitePaddingSame = 1, kTfLitePaddingValid = 2."""


def transpose_conv_params(custom_options: str) -> tuple[str, int, int]:
    """(padding, stride_w, stride_h) from a raw TfLiteTransposeConvParams struct (hex)."""
    raw = bytes.fromhex(custom_options or "")
    if len(raw) < 12:
        raise ValueError("Convolution2DTransposeBias options must hold padding and two strides")
    padding, stride_w, stride_h = struct.unpack_from("<iii", raw)
    if padding not in _PADDING or stride_w < 1 or stride_h < 1:
        raise ValueError(f"bad options: padding {padding}, strides {stride_w}x{stride_h}")
    return _PADDING[padding], stride_w, stride_h


@kernel("CUSTOM:Convolution2DTransposeBias")
def convolution_2d_transpose_bias(call: KernelCall, x, w, bias):
    """MediaPipe Convolution2DTransposeBias: TFLite's TRANSPOSE_CONV (OHWI weights) plus bias."""
    try:
        padding, stride_w, stride_h = transpose_conv_params(call.opts.get("custom_options", ""))
    except ValueError as e:
        raise call.error(str(e)) from None
    out_shape = np.asarray(call.out.shape, dtype=np.int32)
    inner = KernelCall(
        builtin="TRANSPOSE_CONV",
        opts={
            "padding": padding,
            "stride_w": stride_w,
            "stride_h": stride_h,
            "fused_activation_function": "NONE",
        },
        inputs=[
            TensorInfo(out_shape.shape, out_shape.dtype),
            call.inputs[1],
            call.inputs[0],
            call.inputs[2],
        ],
        outputs=call.outputs,
        op_index=call.op_index,
    )
    return KERNELS["TRANSPOSE_CONV"](inner, out_shape, w, x, bias)
