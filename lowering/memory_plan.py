"""Memory planning: every tensor of every function in one arena, constants in one segment.

    plan = plan_memory(module, kernels)     # kernels: dict[Operation, Kernel] (CPU generators)
    plan.buffers[value]                     # BufferRef of a tensor (arena or constants)
    plan.bindings[(op, k)]                  # BufferRef of kernel argument k (CONST / SCRATCH)

Liveness runs over one timeline: `@main`'s ops in order, with each WHILE's cond and body
functions laid out inside the WHILE's own span (their values never outlive one iteration;
the WHILE's loop-carried results live across the whole span). Values that share storage
form one buffer: a view op without a kernel (RESHAPE, SQUEEZE, EXPAND_DIMS) aliases its
input, and an elementwise op writes in place over an input of the same shape and dtype
that dies at that op. Buffers are then placed greedily, each into the smallest gap left
by the buffers it is live together with (best fit), once largest first and once
longest-lived first; the smaller arena wins. Every offset is a multiple of 64 bytes.

In-place reuse asks one thing of an elementwise kernel: it reads element i of its inputs
before it writes element i of its output, and never reads another element of an input it
may overwrite (true of any map over elements; not of SOFTMAX-like row ops, which are left
out). Such kernels must not mark their arguments `noalias`.

Ops whose results nothing reads (say a DEQUANTIZE of weights a convolution packed at
compile time) are dead: no storage, no step (`MemoryPlan.dead`).

Constants (`tfl.const` values a kernel or the runtime reads, kernels' CONST data, the
initial value of each `tfl.variable`) go into the constant segment, 64-byte aligned and
deduplicated by content. `lower_bound` is the largest total of simultaneously live arena
bytes (scratch included): no placement can use less arena than that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue

from litec.backends.cpu.kernels.base import CONST, INPUT, OUTPUT, SCRATCH, Kernel
from litec.dialects import fused, tfl
from litec.dialects.tfl_reference.core import TensorInfo
from litec.ir.diagnostics import LitecError
from litec.ir.resources import get_blob
from litec.runtime import plan as rt

ALIGN = 64

VIEW_OPS = (tfl.ReshapeOp, tfl.SqueezeOp, tfl.ExpandDimsOp)
"""Ops that, without a kernel, alias their input (operand 0)."""

INPLACE_OPS = (tfl.UnaryOp, tfl.BinaryOp, tfl.PReluOp, fused.ElementwiseOp)
"""Elementwise ops whose output may overwrite a same-shaped input that dies there."""

ROW_OPS = (tfl.SoftmaxOp, tfl.LogSoftmaxOp, tfl.L2NormalizationOp)
"""Unary ops that read a whole row before writing it: never in place."""

Interval = tuple[int, int]


@dataclass
class MemoryPlan:
    """Where every tensor and every CONST/SCRATCH kernel argument lives."""

    buffers: dict[SSAValue, rt.BufferRef]
    bindings: dict[tuple[Operation, int], rt.BufferRef]
    constants: bytes
    arena_size: int
    lower_bound: int
    dead: set[Operation] = field(default_factory=set)
    """Ops whose results nothing reads: they get no storage and run no step."""


def align(n: int) -> int:
    """`n` rounded up to a multiple of 64."""
    return -(-n // ALIGN) * ALIGN


def nbytes(value: SSAValue) -> int:
    """The storage size of a tensor value."""
    info = TensorInfo.of(value.type)
    if any(d < 0 for d in info.shape):
        raise LitecError(
            f"tensor of type {value.type} has a dynamic shape; litec needs static ones"
        )
    return int(np.prod(info.shape, dtype=np.int64)) * info.dtype.itemsize


@dataclass
class _Buffer:
    """Arena storage shared by one or more values (or one kernel's scratch).

    `size` is what it takes in the arena (64-byte multiple), `used` the bytes it holds.
    """

    size: int
    used: int
    intervals: list[Interval] = field(default_factory=list)
    offset: int = 0

    def live_at_once(self, other: _Buffer) -> bool:
        return any(a <= d and c <= b for a, b in self.intervals for c, d in other.intervals)


# ----------------------------------------------------------------------------- the timeline


@dataclass
class _Timeline:
    """Times of every op and function span; a function runs once per WHILE that calls it."""

    functions: dict[str, func.FuncOp]
    op_times: dict[Operation, list[int]] = field(default_factory=dict)
    spans: dict[str, list[Interval]] = field(default_factory=dict)
    while_ends: dict[Operation, list[int]] = field(default_factory=dict)
    now: int = 0
    active: list[str] = field(default_factory=list)

    def tick(self) -> int:
        self.now += 1
        return self.now

    def expand(self, name: str) -> None:
        """Give times to one run of function `name` (and, inside WHILE spans, its callees)."""
        if name in self.active:
            raise LitecError(f"WHILE calls @{name} recursively")
        if name not in self.functions:
            raise LitecError(f"WHILE calls @{name}, which the module does not define")
        self.active.append(name)
        start = self.tick()
        for op in self.functions[name].body.block.ops:
            self.op_times.setdefault(op, []).append(self.tick())
            if isinstance(op, tfl.WhileOp):
                self.expand(op.cond.root_reference.data)
                self.expand(op.body.root_reference.data)
                self.while_ends.setdefault(op, []).append(self.tick())
        self.spans.setdefault(name, []).append((start, self.tick()))
        self.active.pop()


def _timeline(module: ModuleOp) -> _Timeline:
    functions = {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp)}
    if "main" not in functions:
        raise LitecError("the module has no function @main")
    timeline = _Timeline(functions)
    for name in ["main", *functions]:
        if name not in timeline.spans:
            timeline.expand(name)
    return timeline


# ----------------------------------------------------------------------------- liveness


def _is_view(op: Operation, kernels: dict[Operation, Kernel]) -> bool:
    return isinstance(op, VIEW_OPS) and op not in kernels


def _bound_inputs(op: Operation, kernels: dict[Operation, Kernel]) -> set[int]:
    """Operand numbers an op reads: those its kernel binds, or all of them."""
    if op not in kernels:
        return set(range(len(op.operands)))
    return {b.index for b in kernels[op].bindings if b.kind == INPUT}


def _dead_ops(module: ModuleOp, kernels: dict[Operation, Kernel]) -> set[Operation]:
    """Ops whose results nothing reads, directly or through other such ops and views.

    E.g. a DEQUANTIZE of weights that a convolution kernel packed at compile time."""
    dead = set()
    for fn in module.ops:
        read: set[SSAValue] = set()
        for op in reversed(list(fn.body.block.ops)):
            if op.results and not any(r in read for r in op.results):
                dead.add(op)
            elif _is_view(op, kernels):
                read.add(op.operands[0])
            else:
                read.update(op.operands[i] for i in _bound_inputs(op, kernels))
    return dead


class _Liveness:
    """Live intervals of values, their alias groups, and the buffers they share."""

    def __init__(self, kernels: dict[Operation, Kernel], timeline: _Timeline, dead: set):
        self.kernels = kernels
        self.timeline = timeline
        self.dead = dead
        self.defs: dict[SSAValue, list[int]] = {}
        self.ends: dict[SSAValue, list[int]] = {}
        self.leader: dict[SSAValue, SSAValue] = {}
        for fn in timeline.functions.values():
            self._function(fn)

    def _function(self, fn: func.FuncOp) -> None:
        spans = self.timeline.spans[fn.sym_name.data]
        for arg in fn.body.block.args:
            self._define(arg, [s for s, _ in spans])
        for op in fn.body.block.ops:
            if op in self.dead:
                continue
            times = self.timeline.op_times[op]
            if isinstance(op, func.ReturnOp):
                times = [e for _, e in spans]
            is_view = _is_view(op, self.kernels)
            for i in [] if is_view else _bound_inputs(op, self.kernels):
                self._use(op.operands[i], times)
            for r in op.results:
                self._define(r, times)
            if isinstance(op, tfl.WhileOp):
                for r in op.results:
                    self._use(r, self.timeline.while_ends[op])
            if is_view:
                self.leader[op.results[0]] = self.find(op.operands[0])

    def _define(self, value: SSAValue, times: list[int]) -> None:
        self.defs[value] = list(times)
        self.ends[value] = list(times)

    def _use(self, value: SSAValue, times: list[int]) -> None:
        self.ends[value] = [max(e, t) for e, t in zip(self.ends[value], times, strict=True)]

    def find(self, value: SSAValue) -> SSAValue:
        """The value whose storage `value` shares (itself when it has its own)."""
        while value in self.leader:
            value = self.leader[value]
        return value

    def members(self) -> dict[SSAValue, list[SSAValue]]:
        groups: dict[SSAValue, list[SSAValue]] = {}
        for value in self.defs:
            groups.setdefault(self.find(value), []).append(value)
        return groups

    def intervals(self, values: list[SSAValue]) -> list[Interval]:
        """Per function run, from the first definition to the last use of any value."""
        runs = zip(*(zip(self.defs[v], self.ends[v], strict=True) for v in values), strict=True)
        return [(min(s for s, _ in run), max(e for _, e in run)) for run in runs]


def _inplace_operand(op: Operation, live: _Liveness, groups, stored) -> SSAValue | None:
    """An input of an elementwise op that its output may overwrite, if there is one."""
    if not isinstance(op, INPLACE_OPS) or isinstance(op, ROW_OPS) or op not in live.kernels:
        return None
    times = live.timeline.op_times[op]
    out = op.results[0]
    if len(times) != 1 or live.find(out) is not out:
        return None
    for i in sorted(_bound_inputs(op, live.kernels)):
        value = op.operands[i]
        leader = live.find(value)
        if (
            _layout(value) == _layout(out)
            and leader in stored
            and live.intervals(groups[leader])[0][1] == times[0]
        ):
            return leader
    return None


def _layout(value: SSAValue) -> tuple:
    info = TensorInfo.of(value.type)
    return info.shape, info.dtype


def _merge_inplace(live: _Liveness, stored: set[SSAValue]) -> None:
    """Let elementwise outputs share the storage of an input that dies at their op."""
    groups = live.members()
    ops = sorted(live.kernels, key=lambda op: live.timeline.op_times[op][0])
    for op in ops:
        leader = _inplace_operand(op, live, groups, stored)
        if leader is None:
            continue
        out = op.results[0]
        for value in groups.pop(out):
            live.leader[value] = leader
            groups[leader].append(value)


# ----------------------------------------------------------------------------- constants


class _ConstantSegment:
    """Constant bytes, each piece 64-byte aligned, identical pieces stored once."""

    def __init__(self):
        self.data = bytearray()
        self.offsets: dict[bytes, int] = {}

    def add(self, data: bytes) -> rt.BufferRef:
        if data not in self.offsets:
            self.data.extend(bytes(align(len(self.data)) - len(self.data)))
            self.offsets[data] = len(self.data)
            self.data.extend(data)
        return rt.BufferRef(rt.CONST, self.offsets[data], len(data))

    def finish(self) -> bytes:
        return bytes(self.data) + bytes(align(len(self.data)) - len(self.data))


def _source_bytes(op: Operation) -> bytes:
    """The data of a `tfl.const`, or the initial value of a `tfl.variable` (its zero point)."""
    if isinstance(op, tfl.ConstOp):
        return get_blob(op.value.resource_handle.data)
    info = TensorInfo.of(op.results[0].type)
    zero = info.quant.zero_point if info.quant else 0
    return np.full(info.shape, zero, dtype=info.dtype).tobytes()


# ----------------------------------------------------------------------------- placement


def _lifetime(buf: _Buffer) -> int:
    return sum(end - start + 1 for start, end in buf.intervals)


ORDERS = {
    "largest first": lambda b: (-b.size, b.intervals[0][0]),
    "longest-lived first": lambda b: (-_lifetime(b), -b.size, b.intervals[0][0]),
}
"""Orders to place buffers in; the one giving the smaller arena wins."""


def _place(buffers: list[_Buffer]) -> int:
    """Offsets for every buffer (greedy best fit in each of `ORDERS`); returns the arena size."""
    best: tuple[int, list[int]] | None = None
    for key in ORDERS.values():
        size = _place_in_order(sorted(buffers, key=key))
        if best is None or size < best[0]:
            best = (size, [b.offset for b in buffers])
    assert best is not None
    for buf, offset in zip(buffers, best[1], strict=True):
        buf.offset = offset
    return best[0]


def _place_in_order(order: list[_Buffer]) -> int:
    placed: list[_Buffer] = []
    for buf in order:
        if buf.size == 0:
            continue
        taken = sorted((b.offset, b.offset + b.size) for b in placed if b.live_at_once(buf))
        buf.offset = _best_gap(taken, buf.size)
        placed.append(buf)
    return max((b.offset + b.size for b in placed), default=0)


def _best_gap(taken: list[Interval], size: int) -> int:
    """The start of the smallest free gap of at least `size` bytes (or the end)."""
    best, best_len, cursor = None, None, 0
    for start, end in taken:
        gap = start - cursor
        if gap >= size and (best_len is None or gap < best_len):
            best, best_len = cursor, gap
        cursor = max(cursor, end)
    return cursor if best is None else best


def _lower_bound(buffers: list[_Buffer]) -> int:
    """The largest total of bytes held by buffers live at one time."""
    events = sorted(
        (t, sign * b.used)
        for b in buffers
        for start, end in b.intervals
        for t, sign in ((start, 1), (end + 1, -1))
    )
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


# ----------------------------------------------------------------------------- the plan


def plan_memory(
    module: ModuleOp, kernels: dict[Operation, Kernel], inplace: bool = True
) -> MemoryPlan:
    """Plan the arena and the constant segment of every function of `module`."""
    timeline = _timeline(module)
    dead = _dead_ops(module, kernels)
    kernels = {op: k for op, k in kernels.items() if op not in dead}
    live = _Liveness(kernels, timeline, dead)
    sources = {v for v in live.defs if isinstance(v.owner, tfl.ConstOp | tfl.VariableOp)}
    stored = {v for v in live.defs if isinstance(v.type, TensorType) and v not in sources}
    if inplace:
        _merge_inplace(live, stored)

    consts = _ConstantSegment()
    buffers: dict[SSAValue, rt.BufferRef] = {}
    bindings: dict[tuple[Operation, int], rt.BufferRef] = {}
    arena: list[tuple[list[SSAValue], _Buffer]] = []
    for leader, values in live.members().items():
        if leader in sources:
            ref = consts.add(_source_bytes(leader.owner))
            buffers.update((v, ref) for v in values)
        elif leader in stored:
            used = max(nbytes(v) for v in values)
            arena.append((values, _Buffer(align(used), used, live.intervals(values))))
    scratch = []
    for op, kernel in kernels.items():
        for k, binding in enumerate(kernel.bindings):
            if binding.kind == CONST:
                data = np.ascontiguousarray(binding.data)
                bindings[(op, k)] = consts.add(data.tobytes())
            elif binding.kind == SCRATCH:
                times = timeline.op_times[op]
                buf = _Buffer(align(binding.size), binding.size, [(t, t) for t in times])
                scratch.append(((op, k), binding.size, buf))
    all_buffers = [b for _, b in arena] + [b for *_, b in scratch]
    arena_size = align(_place(all_buffers))
    for values, buf in arena:
        for v in values:
            buffers[v] = rt.BufferRef(rt.ARENA, buf.offset if buf.size else 0, nbytes(v))
    for key, size, buf in scratch:
        bindings[key] = rt.BufferRef(rt.ARENA, buf.offset if buf.size else 0, size)
    _check_kernels(kernels, buffers)
    bound = _lower_bound(all_buffers)
    return MemoryPlan(buffers, bindings, consts.finish(), arena_size, bound, dead)


def _check_kernels(kernels: dict[Operation, Kernel], buffers: dict[SSAValue, rt.BufferRef]):
    """Every INPUT/OUTPUT binding refers to a value that has storage."""
    for op, kernel in kernels.items():
        for b in kernel.bindings:
            values = op.operands if b.kind == INPUT else op.results if b.kind == OUTPUT else None
            if values is not None and values[b.index] not in buffers:
                raise LitecError(f"{op.name}: kernel argument {b.kind} {b.index} has no storage")
