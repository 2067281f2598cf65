"""Partition: every `tfl` op gets a placement (target, reason), with CPU as the fallback.

The requested backend's `supports(op)` decides first; an op it refuses goes to the CPU
backend, keeping the requested target's reason so users see why it fell back. The
placement is recorded on the op as attributes and returned as the report table
(`litec compile --report`):

    %y = tfl.conv_2d %x, %w, %b {..., litec.target = "cpu", litec.reason = "supported"}

Constants, absent inputs and variables are data, not operators: they get no placement.
As a pass (`litec opt m.mlir -p 'partition{target=cpu}'`) it only records the placements.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Operation
from xdsl.passes import ModulePass

from litec.dialects import tfl
from litec.dialects.tfl_reference.core import kernel_name, op_index
from litec.ir.backend import Backend, get_backend
from litec.ir.diagnostics import LitecError
from litec.ir.passes import register_pass

TARGET_ATTR = "litec.target"
REASON_ATTR = "litec.reason"

DATA_OPS = (tfl.ConstOp, tfl.NoValueOp, tfl.VariableOp)
"""Ops that name data rather than compute it: never placed."""


@dataclass(frozen=True)
class Placement:
    """Where one operator runs and why: a row of the placement report."""

    function: str
    op_index: int | None
    builtin: str
    target: str
    reason: str
    supported: bool = True
    """False when no backend, the CPU fallback included, runs the op."""


def placed_ops(module: ModuleOp) -> list[tuple[func.FuncOp, Operation]]:
    """Every operator that needs a placement, function by function, in program order."""
    return [
        (fn, op)
        for fn in module.ops
        if isinstance(fn, func.FuncOp)
        for op in fn.body.ops
        if isinstance(op, tfl.TflOp) and not isinstance(op, DATA_OPS)
    ]


def place(op: Operation, target: Backend, fallback: Backend) -> tuple[str, str, bool]:
    """(target name, reason, supported) for one op."""
    ok, reason = target.supports(op)
    if ok or target.name == fallback.name:
        return target.name, reason, ok
    fallback_ok, fallback_reason = fallback.supports(op)
    if not fallback_ok:
        return fallback.name, f"{target.name}: {reason}; {fallback.name}: {fallback_reason}", False
    return fallback.name, f"{target.name}: {reason} (fell back to {fallback.name})", True


def partition(module: ModuleOp, target: Backend, fallback: Backend) -> list[Placement]:
    """Place every op of `module` on `target` or `fallback`; record it on the op."""
    placements = []
    for fn, op in placed_ops(module):
        where, reason, ok = place(op, target, fallback)
        op.attributes[TARGET_ATTR] = StringAttr(where)
        op.attributes[REASON_ATTR] = StringAttr(reason)
        placements.append(
            Placement(fn.sym_name.data, op_index(op), kernel_name(op), where, reason, ok)
        )
    return placements


def check_placements(placements: list[Placement], file: str | None = None) -> None:
    """Raise a one-line `LitecError` naming the first op no backend runs (and how many)."""
    missing = [p for p in placements if not p.supported]
    if not missing:
        return
    first = missing[0]
    more = f" (and {len(missing) - 1} more ops; see --report)" if len(missing) > 1 else ""
    raise LitecError(
        f"{first.reason}{more}", file=file, op_index=first.op_index, op_name=first.builtin
    )


def _op_label(p: Placement) -> str:
    return ("" if p.function == "main" else f"@{p.function} ") + f"#{p.op_index}"


def report(placements: list[Placement]) -> str:
    """The placement table: op index, builtin, target, reason; one line per op."""
    header = ("op", "builtin", "target", "reason")
    rows = [(_op_label(p), p.builtin, p.target, p.reason) for p in placements]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in [header, *rows]
    ]
    counts: dict[str, int] = {}
    for p in placements:
        where = f"on {p.target}" if p.supported else "without a kernel"
        counts[where] = counts.get(where, 0) + 1
    summary = ", ".join(f"{n} {where}" for where, n in sorted(counts.items()))
    lines.append(f"{len(placements)} ops: {summary or 'none'}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PartitionPass(ModulePass):
    """Record every op's placement (`litec.target`, `litec.reason`) for `target`, CPU fallback."""

    name = "partition"
    target: str = "cpu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        partition(op, get_backend(self.target), get_backend("cpu"))


register_pass(PartitionPass.name, __name__, PartitionPass.__name__)
