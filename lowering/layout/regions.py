"""Regions of ops computed on transposed values: grown from a TRANSPOSE through the ops a
rule of lowering/layout/permute.py can move, and rewritten in the transpose's input
layout where that strictly lowers the work.

    %a = tfl.transpose %x, [0, 3, 1, 2]       region: {add, relu}, entered by %a, left
    %b = tfl.add %a, %c                       through %e (which cancels)
    %d = tfl.relu %b
    %e = tfl.transpose %d, [0, 2, 3, 1]

Every data operand of a region op is a region value, a transpose by the same perm or a
constant (re-laid out). The rewrite is done only when it leaves no more TRANSPOSE ops
and no more elements moved by them, one of the two strictly less: it removes the
transposes entering the region that only it uses and those leaving it that undo the
perm, and adds one for each region value used outside the region by another op than
a transpose (a transpose that uses it is composed with its perm by the cancel-transposes
patterns run after: neither added nor removed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern
from xdsl.rewriter import InsertPoint

from litec.dialects import tfl
from litec.lowering.graph import (
    add_constant,
    constant_array,
    erase_unused,
    rebuild,
)
from litec.lowering.layout.permute import (
    Moved,
    Rule,
    per_tensor,
    permutation,
    permuted_type,
    relaid,
    rule_of,
    transpose,
)

RuleLookup = Callable[[Operation], Rule | None]
"""Which rule moves an op (None: the op stays out of regions)."""


@dataclass
class Region:
    """Ops computed on transposed values: the perm each value is held in (region results
    and the outputs of the transposes entering the region), and how each op moves."""

    perms: dict[SSAValue, list[int]] = field(default_factory=dict)
    entries: list[tfl.TransposeOp] = field(default_factory=list)
    ops: dict[Operation, Moved] = field(default_factory=dict)

    def outside_uses(self, value: SSAValue) -> list[Operation]:
        """The ops outside the region that use `value`."""
        return [u.operation for u in value.uses if u.operation not in self.ops]

    def results(self):
        """(result, perm) of every region op."""
        return ((r, self.perms[r]) for op in self.ops for r in op.results)


def grow(seed: tfl.TransposeOp, rules: RuleLookup) -> Region:
    """The region reached from `seed` through uses of ops that `rules` can move."""
    region = Region()
    enter(region, seed, permutation(seed))
    work = [seed.output]
    while work:
        for use in list(work.pop().uses):
            op = use.operation
            if op in region.ops or (moved := admit(region, rules, op, use.index)) is None:
                continue
            perm = region.perms[op.operands[use.index]]
            for value in (op.operands[i] for i in moved.data):
                if value not in region.perms and isinstance(value.owner, tfl.TransposeOp):
                    enter(region, value.owner, perm)
                    work.append(value)
            region.ops[op] = moved
            region.perms.update((r, moved.perm) for r in op.results)
            if not is_identity(moved.perm):
                work.extend(op.results)
    return region


def enter(region: Region, op: tfl.TransposeOp, perm: list[int]) -> None:
    """Record `op` as a transpose entering the region."""
    region.entries.append(op)
    region.perms[op.output] = perm


def admit(region: Region, rules: RuleLookup, op: Operation, index: int) -> Moved | None:
    """How `op`, reached through operand `index`, moves into the region; None when its
    rule refuses or an operand in the layout is neither a region value, a transpose by
    the same perm nor a constant."""
    rule = rules(op)
    perm = region.perms[op.operands[index]]
    if rule is None or op.parent_block() is not op.operands[index].owner.parent_block():
        return None
    moved = rule(op, perm)
    if moved is None or index not in moved.data or not per_tensor(*op.operands, *op.results):
        return None
    if any(len(r.type.get_shape()) != len(moved.perm) for r in op.results):
        return None
    return moved if all(in_layout(region, op.operands[i], perm) for i in moved.data) else None


def in_layout(region: Region, value: SSAValue, perm: list[int]) -> bool:
    """Whether `value` can be had in `perm`'s layout: a region value held in it, the output
    of a transpose by it, or a constant of at most its rank."""
    if value in region.perms:
        return region.perms[value] == perm
    if isinstance(value.owner, tfl.TransposeOp):
        return permutation(value.owner) == perm
    arr = constant_array(value)
    return arr is not None and arr.ndim <= len(perm)


def cost(region: Region) -> tuple[tuple[int, int], tuple[int, int]]:
    """(TRANSPOSE ops, elements they move) that the region's rewrite removes and adds."""
    removed, added = [], []
    for entry in region.entries:
        if not region.outside_uses(entry.output):
            removed.append(entry.output)
    for result, perm in region.results():
        users = region.outside_uses(result)
        removed.extend(u.output for u in users if composed(perm, u) == identity(perm))
        if not is_identity(perm) and any(composed(perm, u) is None for u in users):
            added.append(result)
    return tally(removed), tally(added)


def tally(values: list[SSAValue]) -> tuple[int, int]:
    """How many values, and their elements in all."""
    return len(values), sum(int(np.prod(v.type.get_shape(), dtype=np.int64)) for v in values)


def composed(perm: list[int], op: Operation) -> list[int] | None:
    """The perm of TRANSPOSE(TRANSPOSE(x, perm), op's perm) when `op` is a transpose by a
    constant; else None (a value that `op` uses in the old layout needs a transpose)."""
    if not isinstance(op, tfl.TransposeOp):
        return None
    q = permutation(op)
    return None if q is None or len(q) != len(perm) else [perm[i] for i in q]


def identity(perm: list[int]) -> list[int]:
    """The identity permutation of as many axes as `perm`."""
    return list(range(len(perm)))


def is_identity(perm: list[int]) -> bool:
    """Whether `perm` keeps every axis in place."""
    return perm == identity(perm)


def worth_it(region: Region) -> bool:
    """No more transposes and no more elements moved, one of them strictly less."""
    removed, added = cost(region)
    return all(a <= r for a, r in zip(added, removed, strict=True)) and added != removed


def rewrite(region: Region, rewriter: PatternRewriter, at: tfl.TransposeOp) -> None:
    """Compute the region's ops in the transposes' input layout; a value used outside the
    region is restored by a TRANSPOSE (composed later with the transposes that use it)."""
    new: dict[SSAValue, SSAValue] = {e.output: e.input for e in region.entries}
    block = at.parent_block()
    order = {op: i for i, op in enumerate(block.ops)}
    ops = sorted(region.ops, key=order.__getitem__)
    for op in ops:
        moved = region.ops[op]
        operands = {v: new[v] for v in op.operands if v in new}
        for i, arr in moved.constants.items():
            operands[op.operands[i]] = add_constant(rewriter, arr, op.operands[i], op, "perm")
        data = [op.operands[i] for i in moved.data]
        perm = next(region.perms[v] for v in data if v in region.perms)
        for value in data:
            arr = constant_array(value)
            if value not in new and arr.size > 1:  # one element broadcasts alike in any layout
                operands[value] = add_constant(rewriter, relaid(arr, perm), value, op, "perm")
        result_type = permuted_type(op.results[0].type, moved.perm)
        copy = rebuild(op, operands, result_type, **moved.properties)
        rewriter.insert(copy, InsertPoint.before(op))
        new[op.results[0]] = copy.results[0]
    for result, perm in region.results():
        restore(region, rewriter, result, new[result], perm)
    inputs = [v for op in ops for v in op.operands]
    for op in reversed(ops):
        rewriter.erase(op)
    erase_unused(rewriter, inputs)


def restore(
    region: Region, rewriter: PatternRewriter, old: SSAValue, new: SSAValue, perm: list[int]
) -> None:
    """Give the uses of `old` outside the region `new`, transposed back by `perm`."""
    users = set(region.outside_uses(old))
    if not users:
        return
    value = new
    if not is_identity(perm):
        after = new.owner.next_op
        back = transpose(rewriter, new, perm, region.entries[0], after)
        rewriter.insert(back, InsertPoint.before(after))
        value = back.results[0]
    rewriter.replace_uses_with_if(old, value, lambda use: use.operation in users)


@dataclass(frozen=True)
class PropagateTranspose(RewritePattern):
    """A TRANSPOSE whose region (see the module docstring) is worth rewriting -> the
    region computed in the transpose's input layout; `rules` gives the ops it may hold."""

    rules: RuleLookup = rule_of

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfl.TransposeOp, rewriter: PatternRewriter, /) -> None:
        if permutation(op) is None or not per_tensor(op.input, op.output):
            return
        region = grow(op, self.rules)
        if region.ops and worth_it(region):
            rewrite(region, rewriter, op)
