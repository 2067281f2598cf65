"""fuse-elementwise: chains of elementwise `tfl` ops outlined into one `fused.elementwise`.

    %s = tfl.add %x, %b                     %y = fused.elementwise %x, %b {
    %t = tfl.logistic %s           ──►        ^bb0(%x1, %b1):  tfl.add, tfl.logistic,
    %y = tfl.mul %t, %x                                        tfl.mul, fused.yield
                                            }

Ops are taken from the last one back: an op (the root) gathers the producers of its
operands that are elementwise, of the root's shape, and whose every use is already in the
group (so no intermediate is needed outside: a diamond such as x * logistic(x) fuses whole).
Inputs of other shapes broadcast into the group as they did into its ops. An op joins only
when the target's kernel for a fused op accepts it (the CPU refuses, e.g., 8-bit ops that
run as table lookups), so whatever is fused runs as one kernel on that target.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from litec.dialects import fused, tfl
from litec.ir.backend import Backend, get_backend

ELEMENTWISE = (tfl.BinaryOp, tfl.UnaryOp, tfl.PReluOp)
NOT_ELEMENTWISE = (tfl.SoftmaxOp, tfl.LogSoftmaxOp, tfl.L2NormalizationOp, tfl.DensifyOp)
"""Unary ops that are not elementwise (they read whole rows, or sparse constants)."""


def outline(members: list[Operation]) -> fused.ElementwiseOp:
    """A (detached) fused op computing `members` (in program order; the last is the root)
    on clones of them; its operands are the values they read from outside."""
    inside = {r for op in members for r in op.results}
    inputs = list(dict.fromkeys(v for op in members for v in op.operands if v not in inside))
    block = Block(arg_types=[v.type for v in inputs])
    mapping: dict[SSAValue, SSAValue] = dict(zip(inputs, block.args, strict=True))
    for value, arg in mapping.items():
        arg.name_hint = value.name_hint
    for op in members:
        block.add_op(op.clone(value_mapper=mapping))
    root = members[-1]
    block.add_op(fused.YieldOp(*(mapping[r] for r in root.results)))
    op = fused.ElementwiseOp(inputs, [r.type for r in root.results], Region(block))
    op.location = root.location
    return op


def accepted(target: Backend, members: list[Operation]) -> fused.ElementwiseOp | None:
    """The fused op of `members` when `target` supports it, else None."""
    candidate = outline(members)
    if target.supports(candidate)[0]:
        return candidate
    candidate.erase()
    return None


@dataclass
class _Fusable:
    """Which ops may join a fused op: elementwise ones the target accepts fused (asked once
    per op, with the op fused alone)."""

    target: Backend
    known: dict[Operation, bool]

    def __call__(self, op: Operation) -> bool:
        if op not in self.known:
            elementwise = isinstance(op, ELEMENTWISE) and not isinstance(op, NOT_ELEMENTWISE)
            candidate = accepted(self.target, [op]) if elementwise else None
            if candidate is not None:
                candidate.erase()
            self.known[op] = candidate is not None
        return self.known[op]


def _shape(op: Operation) -> tuple[int, ...]:
    return tuple(op.results[0].type.get_shape())


def _joins(producer: Operation, group: set[Operation], shape, fusable: _Fusable) -> bool:
    return (
        producer not in group
        and _shape(producer) == shape
        and all(use.operation in group for use in producer.results[0].uses)
        and fusable(producer)
    )


def grow(root: Operation, fusable: _Fusable) -> list[Operation]:
    """The group `root` heads, in program order (just `[root]` when nothing joins)."""
    group, shape = {root}, _shape(root)
    grew = True
    while grew:
        producers = {v.owner for op in group for v in op.operands}
        joining = [p for p in producers if isinstance(p, Operation)]
        joining = [p for p in joining if _joins(p, group, shape, fusable)]
        group.update(joining)
        grew = bool(joining)
    return [op for op in root.parent_block().ops if op in group]


@dataclass
class FuseChain(RewritePattern):
    """An elementwise op and the producers that fuse with it -> one `fused.elementwise`."""

    fusable: _Fusable

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op.parent_op(), func.FuncOp) or not self.fusable(op):
            return
        members = grow(op, self.fusable)
        if len(members) < 2:
            return
        fused_op = accepted(self.fusable.target, members)
        if fused_op is None:
            return
        rewriter.replace(op, fused_op)
        for member in reversed(members[:-1]):
            rewriter.erase(member)


@dataclass(frozen=True)
class FuseElementwisePass(ModulePass):
    """Fuse chains of elementwise ops into one `fused.elementwise` op (one kernel on `target`)."""

    name = "fuse-elementwise"
    target: str = "cpu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fusable = _Fusable(get_backend(self.target), {})
        walker = PatternRewriteWalker(
            FuseChain(fusable), walk_reverse=True, apply_recursively=False
        )
        walker.rewrite_module(op)
