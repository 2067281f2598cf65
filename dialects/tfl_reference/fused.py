"""Reference semantics of the `fused` dialect: `fused.elementwise` runs its body's ops one
after another with their own kernels, so fusing changes no result, bit for bit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import Block

from litec.dialects.tfl_reference.core import KERNELS, KernelCall, kernel, make_call


def run_body(block: Block, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run the `tfl` ops of a fused op's body on arrays (one per block argument); the arrays
    its terminator yields."""
    values = dict(zip(block.args, inputs, strict=True))
    for op in list(block.ops)[:-1]:
        call = make_call(op)
        out = KERNELS[call.builtin](call, *(values[v] for v in op.operands))
        outs = out if isinstance(out, list | tuple) else [out]
        values.update(zip(op.results, outs, strict=True))
    return [values[v] for v in block.last_op.operands]


@kernel("FUSED_ELEMENTWISE")
def fused_elementwise(call: KernelCall, *inputs: np.ndarray) -> list[np.ndarray]:
    """`fused.elementwise`: its body on the inputs."""
    return run_body(call.op.body.block, inputs)
