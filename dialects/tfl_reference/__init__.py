"""The reference interpreter: numpy semantics for every `tfl` op.

This is the oracle that passes and backends are checked against, and it is itself
checked against TFLite's reference kernels (float within 1e-5 relative, quantized bit
for bit). Each kernel is a plain numpy function registered by TFLite builtin name; it
receives a `KernelCall` (options, input and output tensor infos) and the input arrays,
and returns the output array (or a list of them for multi-output ops).

Quantized tensors travel as their stored integers (int8, uint8, int16, int32); the
quantization parameters are in the `TensorInfo`s. Float16 tensors travel as float16.
"""

from __future__ import annotations

from litec.dialects.tfl_reference import kernels as _kernels  # noqa: F401  (registers kernels)
from litec.dialects.tfl_reference.core import (
    KERNELS,
    Interpreter,
    KernelCall,
    TensorInfo,
    interpret,
    kernel,
    random_inputs,
    signature,
)

__all__ = [
    "KERNELS",
    "Interpreter",
    "KernelCall",
    "TensorInfo",
    "interpret",
    "kernel",
    "random_inputs",
    "signature",
]
