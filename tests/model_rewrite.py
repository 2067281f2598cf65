"""Rewrite a read model (`tflite_reader.ModelDesc`) into new `.tflite` bytes (`tflite_builder`).

TFLite cannot run MediaPipe's custom ops, so the tests hand it the same model with each
custom op replaced by TFLite builtins that compute the same thing. `rewrite` copies the
main subgraph and calls a replacement, looked up by custom code, for the ops to replace;
the replacement appends builtins to the `Graph`. Every original tensor keeps its index
(new ones go at the end), so TFLite's intermediate tensors line up with litec's op by op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
from tflite_builder import Op, Subgraph, Tensor, build_model

from litec.lowering.tflite_reader import ModelDesc, OperatorDesc, TensorDesc

F32, I32 = np.float32, np.int32
_TYPE_NAMES = {np.dtype(F32): "FLOAT32", np.dtype(I32): "INT32", np.dtype(np.bool_): "BOOL"}


def tensor_of(t: TensorDesc) -> Tensor:
    """The builder's copy of a read tensor (data, quantization, signature, variable flag)."""
    q = t.quant
    return Tensor(
        t.name,
        t.shape,
        t.dtype,
        t.data,
        scales=list(q.scales) if q else None,
        zero_points=list(q.zero_points) if q else None,
        quantized_dimension=(q.axis or 0) if q else 0,
        shape_signature=t.shape_signature,
        is_variable=t.is_variable,
    )


def op_of(op: OperatorDesc) -> Op:
    """The builder's copy of a read operator."""
    return Op(
        op.builtin,
        list(op.inputs),
        list(op.outputs),
        op.options,
        custom_code=op.custom_code,
        custom_options=op.custom_options,
        intermediates=list(op.intermediates),
        version=op.version,
    )


class Graph:
    """The tensors and operators of a model being rewritten; new tensors go at the end."""

    def __init__(self, tensors: list[Tensor]):
        self.tensors = tensors
        self.ops: list[Op] = []

    def shape(self, t: int) -> tuple[int, ...]:
        return tuple(self.tensors[t].shape)

    def _tensor(self, shape, dtype, data=None) -> int:
        name = f"rewrite/{len(self.tensors)}"
        self.tensors.append(Tensor(name, tuple(shape), _TYPE_NAMES[np.dtype(dtype)], data))
        return len(self.tensors) - 1

    def const(self, values, dtype=F32) -> int:
        a = np.asarray(values, dtype=dtype)
        return self._tensor(a.shape, dtype, a)

    def op(self, builtin, inputs, shape, options=None, *, dtype=F32, out=None, version=1) -> int:
        """Append a builtin op; its output is `out` or a new tensor of `shape`."""
        if out is None:
            out = self._tensor(shape, dtype)
        self.ops.append(Op(builtin, list(inputs), [out], options or {}, version=version))
        return out

    def slice(self, t: int, begin, size, *, dtype=F32, out=None) -> int:
        return self.op(
            "SLICE", [t, self.const(begin, I32), self.const(size, I32)], size, dtype=dtype, out=out
        )

    def reshape(self, t: int, shape, *, out=None) -> int:
        return self.op(
            "RESHAPE", [t, self.const(shape, I32)], shape, {"new_shape": list(shape)}, out=out
        )

    def binary(self, builtin, a: int, b: int, *, dtype=F32, out=None) -> int:
        shape = np.broadcast_shapes(self.shape(a), self.shape(b))
        return self.op(builtin, [a, b], shape, dtype=dtype, out=out)

    def unary(self, builtin, a: int, *, dtype=F32) -> int:
        return self.op(builtin, [a], self.shape(a), dtype=dtype)

    def build(self, inputs: Iterable[int], outputs: Iterable[int]) -> bytes:
        """The model bytes: one subgraph of these tensors and ops."""
        return build_model(
            subgraphs=[Subgraph(self.tensors, self.ops, list(inputs), list(outputs))]
        )


Replacement = Callable[[Graph, OperatorDesc], None]
"""Appends to the graph the ops that compute what the operator computes, into its outputs."""


def rewrite(model: ModelDesc, replacements: Mapping[str, Replacement]) -> bytes:
    """The model's main subgraph with each custom op named in `replacements` replaced."""
    sg = model.main
    g = Graph([tensor_of(t) for t in sg.tensors])
    for op in sg.operators:
        replace = replacements.get(op.custom_code) if op.custom_code else None
        if replace is None:
            g.ops.append(op_of(op))
        else:
            replace(g, op)
    return g.build(sg.inputs, sg.outputs)
