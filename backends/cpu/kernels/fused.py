"""CPU kernel for `fused.elementwise`: one loop over the elements runs every op of the body.

Each op of the body is planned as its own kernel would be (`plan_binary`, `plan_unary`,
`plan_activation`, `plan_prelu`); the fused loop applies their vector bodies one after
another in registers. Values between ops keep their storage type (an int8 result is
narrowed to i8 and widened again by its user, as through memory), so the fused kernel
computes exactly what the separate kernels compute. Every intermediate has the output's
shape; the body's inputs broadcast into it as the unfused ops broadcast them.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Operation, SSAValue

import litec.backends.cpu.kernels.activations  # noqa: F401  (registers the activations' plans)
from litec.backends.cpu.kernels.base import Kernel, generator
from litec.backends.cpu.kernels.elementwise import (
    PLANS,
    Arith,
    KernelBuilder,
    Operand,
    Unsupported,
    V,
    _same,
    checked,
    elementwise,
    narrower,
    widener,
)
from litec.dialects import fused
from litec.dialects.tfl_reference.core import TensorInfo, kernel_name, op_index
from litec.ir.diagnostics import LitecError

Step = tuple[Operation, Arith]


def _label(op: Operation) -> str:
    index = op_index(op)
    return kernel_name(op) if index is None else f"{kernel_name(op)} (op #{index})"


def _plan_step(op: Operation, outside: dict[SSAValue, SSAValue], shape: tuple[int, ...]) -> Arith:
    """The arithmetic plan of one op of the body, or `Unsupported` saying why there is none.

    The op is planned as it stood before fusion, reading the fused op's operands where it
    reads the body's arguments: an 8-bit op with a constant operand is a table lookup
    there, faster alone than in a fused loop, so it is refused here too."""
    plan = PLANS.get(op.name)
    if plan is None:
        raise Unsupported(f"{_label(op)} is not an elementwise op the CPU fuses")
    if TensorInfo.of(op.results[0].type).shape != shape:
        raise Unsupported(f"{_label(op)}: its result is broadcast later; fused ops share one shape")
    standalone = op.clone(value_mapper=dict(outside))
    try:
        found = plan(standalone)
    except LitecError as e:
        raise Unsupported(f"{_label(op)}: {e.message}") from None
    finally:
        standalone.erase()
    if not isinstance(found, Arith):
        raise Unsupported(f"{_label(op)}: a table lookup does not run in a fused vector loop")
    return found


def plan_fused(op: fused.ElementwiseOp) -> list[Step]:
    """Fused chains of elementwise ops that are computed arithmetically (float32, plain
    integers, quantized ADD/SUB/MUL, QUANTIZE, DEQUANTIZE, ...), one result, every op of
    the output's shape; 8-bit ops that run as table lookups are not fused."""
    if len(op.outputs) != 1:
        raise Unsupported(f"a fused op with {len(op.outputs)} results (one is supported)")
    shape = TensorInfo.of(op.outputs[0].type).shape
    outside = dict(zip(op.body.block.args, op.inputs, strict=True))
    return [(inner, _plan_step(inner, outside, shape)) for inner in op.inner_ops()]


def _chain(op: fused.ElementwiseOp, steps: list[Step]) -> Callable[..., V]:
    """The loop body: the body's inputs (storage values), then every plan's constants, in
    order -> the yielded value (storage)."""
    block = op.body.block
    yielded = block.last_op.operands[0]

    def body(*args: V) -> V:
        values = dict(zip(block.args, args, strict=False))
        consts = iter(args[len(block.args) :])
        for inner, plan in steps:
            xs = [widener(TensorInfo.of(v.type), plan.compute)(values[v]) for v in inner.operands]
            y = plan.body(*xs, *(next(consts) for _ in plan.consts))
            values[inner.results[0]] = narrower(TensorInfo.of(inner.results[0].type))(y)
        return values[yielded]

    return body


@generator("fused.elementwise", supports=checked(plan_fused))
def generate_fused(op: fused.ElementwiseOp, symbol: str) -> Kernel:
    """One vectorised loop over the output computing every op of the body in registers."""
    steps = plan_fused(op)
    kb = KernelBuilder(symbol)
    infos = [TensorInfo.of(v.type) for v in op.inputs]
    refs = [kb.input(i, info) for i, info in enumerate(infos)]
    out_info = TensorInfo.of(op.outputs[0].type)
    out = kb.output(0, out_info)
    consts = [(kb.const(c), c.shape) for _, plan in steps for c in plan.consts]
    with kb.body():
        operands = [Operand(r, info.shape, _same) for r, info in zip(refs, infos, strict=True)]
        operands += [Operand(r, shape, _same) for r, shape in consts]
        elementwise(out, out_info.shape, _same, operands, _chain(op, steps))
    return kb.finish()
