"""CPU kernels for data movement: transposes, joins, splits, slices, gathers, padding.

Every op here is planned at compile time as a few *copies*: a static loop nest whose
innermost step moves one contiguous run of elements from a source buffer to a
destination buffer (or fills a run with one value). All index arithmetic is folded into
per-axis strides, adjacent axes that are contiguous in both buffers are merged, and each
run is copied with 512-bit vector loads and stores plus a power-of-two tail, so a
channel-padding PAD becomes two vector stores per pixel and a concatenation along the
innermost axis a handful of wide copies per row.

Kernels see each buffer as a flat, statically sized memref of the tensor's storage type
(same bytes as the tensor's own shape under the bare-pointer ABI); bool is stored as i8.
The small IR builder below (`KernelBuilder`, `for_vectors`) is shared by the pooling,
resize and MediaPipe kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
from xdsl.dialects import arith, func, llvm, math, memref, scf, vector
from xdsl.dialects.builtin import (
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    VectorType,
    f16,
    f32,
    f64,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue

from litec.backends.cpu.kernels.base import CONST, INPUT, OUTPUT, Binding, Kernel, generator
from litec.dialects import tfl
from litec.dialects.tfl_reference.common import same_quantization
from litec.dialects.tfl_reference.core import KernelCall, TensorInfo, make_call
from litec.dialects.tfl_reference.shape import _StridedSlice
from litec.ir.diagnostics import LitecError
from litec.ir.resources import blob_array
from litec.lowering.to_llvm.llvm_ops import FPToSIOp

VECTOR_BYTES = 64
"""Width of the widest vector register the kernels use (AVX-512)."""

_STORAGE = {
    "float32": f32,
    "float16": f16,
    "float64": f64,
    "int8": i8,
    "uint8": i8,
    "bool": i8,
    "int16": i16,
    "uint16": i16,
    "int32": i32,
    "uint32": i32,
    "int64": i64,
}
"""numpy dtype -> the element type a kernel stores it as (signless integers, bool as i8)."""


class Unsupported(Exception):
    """An op this generator cannot compile; the message is shown to users."""


# ----------------------------------------------------------------------------- op facts


def storage_type(dtype: np.dtype) -> Attribute:
    """The memref element type holding values of a numpy dtype."""
    name = np.dtype(dtype).name
    if name not in _STORAGE:
        raise Unsupported(f"tensors of {name} are not supported")
    return _STORAGE[name]


def flat_memref(info: TensorInfo) -> MemRefType:
    """A tensor's buffer as a kernel argument: a flat memref of its storage type."""
    return MemRefType(storage_type(info.dtype), [int(np.prod(info.shape, dtype=np.int64))])


def const_operand(op: Operation, index: int) -> np.ndarray | None:
    """The compile-time value of operand `index`, or None when it is not a `tfl.const`."""
    owner = op.operands[index].owner
    if not isinstance(owner, tfl.ConstOp):
        return None
    info = TensorInfo.of(owner.output.type)
    assert info is not None
    return blob_array(owner.value.resource_handle.data, info.dtype, info.shape)


def required_const(op: Operation, index: int, what: str) -> np.ndarray:
    """A constant operand the kernel folds in, or `Unsupported` naming it."""
    value = const_operand(op, index)
    if value is None:
        raise Unsupported(f"{what} must be a constant")
    return value


def checked_call(op: Operation) -> KernelCall:
    """The op's `KernelCall`, with statically shaped tensors only."""
    call = make_call(op)
    for info in [*call.inputs, *call.outputs]:
        if info is not None and any(d < 0 for d in info.shape):
            raise Unsupported("tensors with dynamic shapes are not supported")
    return call


def strides(shape: Sequence[int]) -> list[int]:
    """Row-major element strides of a shape."""
    out, step = [], 1
    for d in reversed(shape):
        out.append(step)
        step *= int(d)
    return out[::-1]


def supported_if(plan: Callable[[Operation], object]) -> Callable[[Operation], tuple[bool, str]]:
    """A support check that tries to plan the op: `Unsupported` or a reference error is the
    reason it is refused."""

    def check(op: Operation) -> tuple[bool, str]:
        try:
            plan(op)
        except (Unsupported, LitecError) as e:
            return False, str(e)
        return True, "supported"

    return check


# ----------------------------------------------------------------------------- IR builder


def lanes(elem: Attribute) -> int:
    """How many elements of a type fill one vector register."""
    return VECTOR_BYTES * 8 // elem.bitwidth


def vector_of(elem: Attribute, width: int) -> Attribute:
    """`vector<width x elem>`, or the scalar type itself for width 1."""
    return elem if width == 1 else VectorType(elem, [width])


def is_float(t: Attribute) -> bool:
    """Whether a scalar or vector type holds floats."""
    elem = t.element_type if isinstance(t, VectorType) else t
    return isinstance(elem, Float16Type | Float32Type | Float64Type)


class KernelBuilder:
    """Builds one kernel function: hoisted constants, loops, loads and stores, arithmetic.

    Ops go to the end of the current block (the function body, or the body of the loop
    being built); constants and splats are created once and hoisted to the function entry.
    """

    def __init__(self, symbol: str, arg_types: Sequence[Attribute]):
        self.func = func.FuncOp(symbol, (list(arg_types), []))
        self.args: list[SSAValue] = list(self.func.body.block.args)
        self._block: Block = self.func.body.block
        self._hoisted: list[Operation] = []
        self._constants: dict[tuple, SSAValue] = {}

    def emit(self, op: Operation) -> SSAValue:
        """Append `op` to the current block; its first result (if any)."""
        self._block.add_op(op)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def finish(self) -> func.FuncOp:
        """The finished function: constants first, then the body, then `func.return`."""
        self.emit(func.ReturnOp())
        body = self.func.body.block
        first = body.first_op
        for op in self._hoisted:
            body.insert_op_before(op, first)
        return self.func

    def _hoist(self, key: tuple, make: Callable[[], Operation]) -> SSAValue:
        if key not in self._constants:
            op = make()
            self._hoisted.append(op)
            self._constants[key] = op.results[0]
        return self._constants[key]

    # constants

    def index(self, value: int | SSAValue) -> SSAValue:
        """An index constant (SSA values pass through)."""
        if isinstance(value, SSAValue):
            return value
        return self.const(int(value), IndexType())

    def const(self, value: float | int, t: Attribute) -> SSAValue:
        """A constant of a scalar type, or a splat of it for a vector type."""
        if isinstance(t, VectorType):
            scalar = self.const(value, t.element_type)
            return self._hoist(("splat", t, value), lambda: vector.BroadcastOp(scalar, t))
        if is_float(t):
            attr, key = FloatAttr(float(value), t), float(value).hex()  # keeps -0.0 apart
        else:
            attr = IntegerAttr(_wrap(int(value), t), t)
            key = attr.value.data
        return self._hoist(("const", t, key), lambda: arith.ConstantOp(attr))

    def splat(self, value: SSAValue, width: int) -> SSAValue:
        """A run-time scalar broadcast to `width` lanes (the scalar itself for width 1)."""
        if width == 1:
            return value
        return self.emit(vector.BroadcastOp(value, VectorType(value.type, [width])))

    # memory

    def load(self, mem: SSAValue, offset: int | SSAValue, width: int = 1) -> SSAValue:
        """`width` consecutive elements of a flat memref (a scalar for width 1)."""
        idx = self.index(offset)
        if width == 1:
            return self.emit(memref.LoadOp.get(mem, [idx]))
        elem = mem.type.element_type
        return self.emit(vector.LoadOp(mem, [idx], VectorType(elem, [width])))

    def store(self, value: SSAValue, mem: SSAValue, offset: int | SSAValue) -> None:
        """Store a scalar or a vector at `offset` of a flat memref."""
        idx = self.index(offset)
        if isinstance(value.type, VectorType):
            self.emit(vector.StoreOp(value, mem, [idx]))
        else:
            self.emit(memref.StoreOp.get(value, mem, [idx]))

    # arithmetic (scalars or vectors; python numbers become constants of the other's type)

    def _pair(self, a, b) -> tuple[SSAValue, SSAValue]:
        if not isinstance(a, SSAValue):
            a = self.const(a, b.type)
        if not isinstance(b, SSAValue):
            b = self.const(b, a.type)
        return a, b

    def add(self, a, b) -> SSAValue:
        """a + b (adding an integer 0 emits nothing)."""
        if isinstance(b, int) and b == 0 and not is_float(a.type):
            return a
        a, b = self._pair(a, b)
        return self.emit(arith.AddfOp(a, b) if is_float(a.type) else arith.AddiOp(a, b))

    def sub(self, a, b) -> SSAValue:
        """a - b."""
        a, b = self._pair(a, b)
        return self.emit(arith.SubfOp(a, b) if is_float(a.type) else arith.SubiOp(a, b))

    def mul(self, a, b) -> SSAValue:
        """a * b (multiplying an integer by 1 emits nothing)."""
        if isinstance(b, int) and b == 1 and not is_float(a.type):
            return a
        a, b = self._pair(a, b)
        return self.emit(arith.MulfOp(a, b) if is_float(a.type) else arith.MuliOp(a, b))

    def fma(self, a: SSAValue, b: SSAValue, c: SSAValue) -> SSAValue:
        """a * b + c with one rounding (floats)."""
        return self.emit(math.FmaOp(a, b, c))

    def div(self, a, b) -> SSAValue:
        """Float division, or integer division truncating toward zero (C++'s `/`)."""
        a, b = self._pair(a, b)
        return self.emit(arith.DivfOp(a, b) if is_float(a.type) else arith.DivSIOp(a, b))

    def max(self, a, b, unsigned: bool = False) -> SSAValue:
        """The larger (floats: NaN-propagating, as numpy's maximum)."""
        a, b = self._pair(a, b)
        if is_float(a.type):
            return self.emit(arith.MaximumfOp(a, b))
        return self.emit(arith.MaxUIOp(a, b) if unsigned else arith.MaxSIOp(a, b))

    def min(self, a, b, unsigned: bool = False) -> SSAValue:
        """The smaller (floats: NaN-propagating, as numpy's minimum)."""
        a, b = self._pair(a, b)
        if is_float(a.type):
            return self.emit(arith.MinimumfOp(a, b))
        return self.emit(arith.MinUIOp(a, b) if unsigned else arith.MinSIOp(a, b))

    def clamp(self, x: SSAValue, lo, hi, unsigned: bool = False) -> SSAValue:
        """x limited to [lo, hi] (either bound may be None)."""
        if lo is not None:
            x = self.max(x, lo, unsigned)
        if hi is not None:
            x = self.min(x, hi, unsigned)
        return x

    def cmp(self, pred: str, a, b) -> SSAValue:
        """An integer (`slt`, `sgt`, ...) or ordered float (`olt`, `oge`, ...) comparison."""
        a, b = self._pair(a, b)
        if is_float(a.type):
            return self.emit(arith.CmpfOp(a, b, pred))
        return self.emit(arith.CmpiOp(a, b, pred))

    def select(self, cond: SSAValue, a, b) -> SSAValue:
        """a where `cond` (a scalar i1) holds, else b."""
        a, b = self._pair(a, b)
        return self.emit(arith.SelectOp(cond, a, b))

    def cast(self, x: SSAValue, elem: Attribute, unsigned: bool = False) -> SSAValue:
        """Convert a scalar or vector to another element type (lanes kept).

        Integers widen by sign (or zero, `unsigned`) extension and narrow by truncation;
        int -> float converts the signed (`unsigned`: zero-extended) value; index casts go
        through arith.index_cast. xDSL 0.74's arith casts take scalars only, so vectors
        are cast with the `llvm` dialect's casts.
        """
        src = x.type.element_type if isinstance(x.type, VectorType) else x.type
        if src == elem:
            return x
        if unsigned and is_float(elem) and src.bitwidth < 32:
            x, src = self.cast(x, i32, unsigned=True), i32
        if isinstance(x.type, VectorType):
            return self.emit(_vector_cast_op(x, src, elem, unsigned))
        return self.emit(_cast_op(x, src, elem, unsigned))

    def div_half_away(self, x: SSAValue, divisor, half) -> SSAValue:
        """(x ± half) / divisor, truncating, the sign of `half` following x's: TFLite's
        integer rounding division (half = divisor / 2 rounds half away from zero)."""
        bits = (x.type.element_type if isinstance(x.type, VectorType) else x.type).width.data
        sign = self.binary(arith.ShRSIOp, x, bits - 1)  # 0 or -1
        if not isinstance(half, SSAValue):
            half = self.const(half, x.type)
        signed_half = self.sub(self.binary(arith.XOrIOp, half, sign), sign)
        return self.div(self.add(x, signed_half), divisor)

    def binary(self, cls: type[Operation], a, b) -> SSAValue:
        """Any two-operand arith op (e.g. arith.ShRSIOp), constants as in `add`."""
        a, b = self._pair(a, b)
        return self.emit(cls(a, b))

    # loops

    @contextmanager
    def loop(self, lb: int | SSAValue, ub: int | SSAValue, step: int = 1) -> Iterator[SSAValue]:
        """`with kb.loop(lb, ub, step) as i:` builds the body of an scf.for."""
        body = Block(arg_types=[IndexType()])
        outer, self._block = self._block, body
        try:
            yield body.args[0]
        finally:
            self._block = outer
        body.add_op(scf.YieldOp())
        self.emit(scf.ForOp(self.index(lb), self.index(ub), self.index(step), [], body))

    def fold(
        self,
        lb: int | SSAValue,
        ub: int | SSAValue,
        inits: Sequence[SSAValue],
        body: Callable[..., Sequence[SSAValue]],
    ) -> list[SSAValue]:
        """An scf.for carrying values: `body(i, *carried)` returns the next carried values."""
        block = Block(arg_types=[IndexType(), *(v.type for v in inits)])
        outer, self._block = self._block, block
        try:
            results = body(*block.args)
            self.emit(scf.YieldOp(*results))
        finally:
            self._block = outer
        op = scf.ForOp(self.index(lb), self.index(ub), self.index(1), list(inits), block)
        self.emit(op)
        return list(op.results)

    def branch(
        self, cond: SSAValue, then: Callable[[], None], otherwise: Callable[[], None]
    ) -> None:
        """An scf.if without results: `then()` or `otherwise()` builds each side."""
        regions = []
        for side in (then, otherwise):
            block = Block()
            outer, self._block = self._block, block
            try:
                side()
                self.emit(scf.YieldOp())
            finally:
                self._block = outer
            regions.append([block])
        self.emit(scf.IfOp(cond, [], *regions))

    def repeat(self, count: int, body: Callable[[SSAValue], None]) -> None:
        """Run `body(i)` for i in [0, count): inline for a single step, else as a loop."""
        if count <= 0:
            return
        if count == 1:
            body(self.index(0))
            return
        with self.loop(0, count) as i:
            body(i)


def _wrap(value: int, t: Attribute) -> int:
    """An integer constant in the signed range of its type (bit patterns of e.g. 255 as i8)."""
    if not isinstance(t, IntegerType):
        return value
    bits = t.width.data
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) and bits > 1 else value


def _cast_op(x: SSAValue, src: Attribute, dst: Attribute, unsigned: bool) -> Operation:
    """A scalar arith cast."""
    if isinstance(src, IndexType) or isinstance(dst, IndexType):
        return arith.IndexCastOp(x, dst)
    if is_float(src) and is_float(dst):
        return arith.ExtFOp(x, dst) if dst.bitwidth > src.bitwidth else arith.TruncFOp(x, dst)
    if is_float(dst):
        return arith.SIToFPOp(x, dst)
    if is_float(src):
        return arith.FPToSIOp(x, dst)
    if dst.width.data < src.width.data:
        return arith.TruncIOp(x, dst)
    return arith.ExtUIOp(x, dst) if unsigned else arith.ExtSIOp(x, dst)


def _vector_cast_op(x: SSAValue, src: Attribute, dst: Attribute, unsigned: bool) -> Operation:
    """A cast of every lane of a vector."""
    t = VectorType(dst, x.type.get_shape())
    if is_float(src) and is_float(dst):
        return arith.ExtFOp(x, t) if dst.bitwidth > src.bitwidth else arith.TruncFOp(x, t)
    if is_float(dst):
        return llvm.SIToFPOp(x, t)
    if is_float(src):
        return FPToSIOp(x, t)
    if dst.width.data < src.width.data:
        return llvm.TruncOp(x, t)
    return llvm.ZExtOp(x, t) if unsigned else llvm.SExtOp(x, t)


def vector_pieces(n: int, width: int) -> list[tuple[int, int, int]]:
    """Cover [0, n) with vectors: (start, lanes, count) — `count` full vectors of `width`
    lanes from `start`, then one piece per power of two of the remainder, widest first."""
    pieces = []
    full = n // width
    if full:
        pieces.append((0, width, full))
    start, rest, w = full * width, n % width, width // 2
    while rest:
        if rest >= w:
            pieces.append((start, w, 1))
            start, rest = start + w, rest - w
        w //= 2
    return pieces


def for_vectors(
    kb: KernelBuilder, n: int, width: int, body: Callable[[SSAValue, int], None]
) -> None:
    """Call `body(offset, lanes)` over [0, n) in vectors of `width` lanes and a static tail."""
    for start, w, count in vector_pieces(n, width):
        if count == 1:
            body(kb.index(start), w)
            continue
        with kb.loop(start, start + count * w, w) as off:
            body(off, w)


# ----------------------------------------------------------------------------- copy plans


@dataclass(frozen=True)
class Table:
    """Source positions read from a buffer: kernel argument `arg`, from element `base`;
    when `limit` is set each position is clamped to [0, limit) for memory safety."""

    arg: int
    base: int = 0
    limit: int | None = None


@dataclass(frozen=True)
class Axis:
    """One loop of a copy: `count` steps of `dst` and `src` elements. With a `table`, the
    source offset of step i is table[base + i] * src instead of i * src."""

    count: int
    dst: int
    src: int
    table: Table | None = None


@dataclass(frozen=True)
class Copy:
    """Copy a run of `run` elements per step of the loop nest `axes` (outermost first), from
    argument `src` at `src_base` to argument `dst` at `dst_base`; `src` None fills the runs
    with `value` instead. `convert`, if set, maps each loaded piece before it is stored."""

    dst: int
    src: int | None
    run: int
    axes: tuple[Axis, ...] = ()
    dst_base: int = 0
    src_base: int = 0
    value: float | int = 0
    convert: Callable[[KernelBuilder, SSAValue], SSAValue] | None = field(
        default=None, compare=False
    )

    def simplified(self) -> Copy:
        """The same copy with unit axes dropped, contiguous axes merged and the innermost
        contiguous axis folded into the run."""
        axes = [a for a in self.axes if a.count != 1 or a.table is not None]
        if any(a.count == 0 for a in axes) or self.run == 0:
            return replace(self, axes=(), run=0)
        run, fill = self.run, self.src is None
        while axes and _contiguous(axes[-1], run, run, fill):
            run *= axes.pop().count
        merged: list[Axis] = []
        for a in axes:
            inner = a.table is None
            if merged and inner and _contiguous(merged[-1], a.count * a.dst, a.count * a.src, fill):
                merged[-1] = Axis(merged[-1].count * a.count, a.dst, a.src)
            else:
                merged.append(a)
        return replace(self, axes=tuple(merged), run=run)


def _contiguous(outer: Axis, dst: int, src: int, fill: bool) -> bool:
    """Whether `outer` steps by exactly (dst, src) elements (a fill has no source)."""
    if outer.table is not None:
        return False
    return outer.dst == dst and (fill or outer.src == src)


def emit_copies(kb: KernelBuilder, copies: Sequence[Copy]) -> None:
    """Emit each copy's loop nest with vector runs."""
    for c in copies:
        c = c.simplified()
        if c.run:
            _emit_nest(kb, c, list(c.axes), kb.index(c.dst_base), kb.index(c.src_base))


def _emit_nest(kb: KernelBuilder, c: Copy, axes: list[Axis], doff, soff) -> None:
    if not axes:
        _emit_run(kb, c, doff, soff)
        return
    a, rest = axes[0], axes[1:]

    def step(i: SSAValue) -> None:
        d = kb.add(doff, kb.mul(i, a.dst))
        s = kb.add(soff, kb.mul(_table_position(kb, a, i), a.src)) if c.src is not None else soff
        _emit_nest(kb, c, rest, d, s)

    kb.repeat(a.count, step)


def _table_position(kb: KernelBuilder, a: Axis, i: SSAValue) -> SSAValue:
    """The source position of step i of an axis: i itself, or the table entry it names."""
    if a.table is None:
        return i
    t = a.table
    value = kb.cast(kb.load(kb.args[t.arg], kb.add(i, t.base)), IndexType())
    return value if t.limit is None else kb.clamp(value, 0, t.limit - 1)


def _emit_run(kb: KernelBuilder, c: Copy, doff: SSAValue, soff: SSAValue) -> None:
    dst = kb.args[c.dst]
    elem = dst.type.element_type

    def piece(off: SSAValue, w: int) -> None:
        if c.src is None:
            value = kb.const(c.value, vector_of(elem, w))
        else:
            value = kb.load(kb.args[c.src], kb.add(soff, off), w)
            if c.convert is not None:
                value = c.convert(kb, value)
        kb.store(value, dst, kb.add(doff, off))

    for_vectors(kb, c.run, lanes(elem), piece)


def transposed(shape: Sequence[int], perm: Sequence[int], dst: int, src: int) -> Copy:
    """The copy that writes `src` (of `shape`) transposed by `perm` to `dst`."""
    in_strides = strides(shape)
    out_shape = [shape[p] for p in perm]
    out_strides = strides(out_shape)
    axes = tuple(Axis(out_shape[k], out_strides[k], in_strides[p]) for k, p in enumerate(perm))
    return Copy(dst, src, 1, axes)


def _blocks(shape: Sequence[int], axis: int) -> tuple[int, int, int]:
    """(outer, size, inner) of a shape around `axis`."""
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1 :], dtype=np.int64))
    return outer, int(shape[axis]), inner


def _axis(axis: int, rank: int) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise Unsupported(f"axis {axis} is out of range for rank {rank}")
    return a


# ----------------------------------------------------------------------------- kernels


@dataclass
class Plan:
    """A movement kernel: its argument bindings (with types) and its copies."""

    bindings: list[Binding]
    types: list[Attribute]
    copies: list[Copy]


def io_plan(call: KernelCall, inputs: Sequence[int], copies: Sequence[Copy] = ()) -> Plan:
    """A plan whose arguments are the given inputs, then every output, as flat memrefs."""
    bindings = [Binding(INPUT, i) for i in inputs]
    bindings += [Binding(OUTPUT, k) for k in range(len(call.outputs))]
    types = [flat_memref(call.inputs[i]) for i in inputs]
    types += [flat_memref(o) for o in call.outputs]
    return Plan(bindings, types, list(copies))


def add_table(plan: Plan, data: np.ndarray) -> int:
    """Append a CONST int32 table argument; its argument position."""
    table = np.ascontiguousarray(data, dtype=np.int32).reshape(-1)
    plan.bindings.append(Binding(CONST, data=table))
    plan.types.append(MemRefType(i32, [table.size]))
    return len(plan.types) - 1


def build(plan: Plan, symbol: str) -> Kernel:
    """The kernel that runs a plan's copies."""
    kb = KernelBuilder(symbol, plan.types)
    emit_copies(kb, plan.copies)
    return Kernel(kb.finish(), plan.bindings)


PLANNERS: dict[str, Callable[[Operation], Plan]] = {}
"""`tfl` op name -> the planner of its movement kernel."""


def planner(*names: str):
    """Register a movement planner: its kernel generator and its support check."""

    def register(fn: Callable[[Operation], Plan]):
        for name in names:
            PLANNERS[name] = fn
        generator(*names, supports=supported_if(fn))(lambda op, symbol: build(fn(op), symbol))
        return fn

    return register


def _same_storage(call: KernelCall, data: Sequence[int] | None = None) -> None:
    """The data inputs (default: all) and every output share one dtype."""
    inputs = call.inputs if data is None else [call.inputs[i] for i in data]
    dtypes = {str(i.dtype) for i in [*inputs, *call.outputs] if i is not None}
    if len(dtypes) != 1:
        raise Unsupported(f"mixed dtypes {sorted(dtypes)}")


@planner("tfl.reshape", "tfl.squeeze", "tfl.expand_dims", "tfl.densify")
def plan_reshape(op: Operation) -> Plan:
    """RESHAPE / SQUEEZE / EXPAND_DIMS / DENSIFY as a plain copy (for when the memory
    planner cannot alias the output with the input)."""
    call = checked_call(op)
    if str(call.inputs[0].dtype) != str(call.out.dtype):
        raise Unsupported(f"{call.inputs[0].dtype} input with a {call.out.dtype} output")
    size = int(np.prod(call.out.shape, dtype=np.int64))
    return io_plan(call, [0], [Copy(1, 0, size)])


@planner("tfl.transpose")
def plan_transpose(op: Operation) -> Plan:
    """TRANSPOSE: one strided copy; the permutation must be constant."""
    call = checked_call(op)
    _same_storage(call, [0])
    shape = call.inputs[0].shape
    perm = [int(p) for p in required_const(op, 1, "the permutation").ravel()]
    perm = [p + len(shape) if p < 0 else p for p in perm]
    if sorted(perm) != list(range(len(shape))):
        raise Unsupported(f"permutation {perm} does not fit rank {len(shape)}")
    return io_plan(call, [0], [transposed(shape, perm, 1, 0)])


def _block_size(call: KernelCall) -> int:
    """The checked block size of DEPTH_TO_SPACE / SPACE_TO_DEPTH."""
    bs = call.opts["block_size"]
    if len(call.inputs[0].shape) != 4 or bs <= 0:
        raise Unsupported("needs a 4-D NHWC input and a positive block size")
    return bs


@planner("tfl.depth_to_space")
def plan_depth_to_space(op: Operation) -> Plan:
    """DEPTH_TO_SPACE: the transpose (n, h, i, w, j, c) of the input viewed as
    (n, h, w, i, j, c)."""
    call = checked_call(op)
    _same_storage(call)
    bs = _block_size(call)
    n, h, w, c = call.inputs[0].shape
    if c % (bs * bs):
        raise Unsupported(f"{c} channels do not split into {bs}x{bs} blocks")
    copy = transposed((n, h, w, bs, bs, c // (bs * bs)), (0, 1, 3, 2, 4, 5), 1, 0)
    return io_plan(call, [0], [copy])


@planner("tfl.space_to_depth")
def plan_space_to_depth(op: Operation) -> Plan:
    """SPACE_TO_DEPTH: the transpose (n, h, w, i, j, c) of the input viewed as
    (n, h, i, w, j, c)."""
    call = checked_call(op)
    _same_storage(call)
    bs = _block_size(call)
    n, h, w, c = call.inputs[0].shape
    if h % bs or w % bs:
        raise Unsupported(f"a {h}x{w} image does not split into {bs}x{bs} blocks")
    copy = transposed((n, h // bs, bs, w // bs, bs, c), (0, 1, 3, 2, 4, 5), 1, 0)
    return io_plan(call, [0], [copy])


# ----------------------------------------------------------------------------- joins and splits


def _uint8_rescale(src: TensorInfo, dst: TensorInfo):
    """reference_ops::ConcatenationWithScaling for one uint8 input, as a piece converter:
    float32 x * scale + bias, rounded half away from zero, plus the zero point, clamped."""
    scale = np.float32(src.scale) * (np.float32(1) / np.float32(dst.scale))
    bias = np.float32(-src.zero_point) * scale

    def convert(kb: KernelBuilder, x: SSAValue) -> SSAValue:
        v = kb.cast(kb.cast(x, i32, unsigned=True), f32)
        v = kb.emit(math.RoundOp(kb.add(kb.mul(v, float(scale)), float(bias))))
        q = kb.clamp(kb.add(kb.cast(v, i32), dst.zero_point), 0, 255)
        return kb.cast(q, i8)

    return convert


@planner("tfl.concatenation")
def plan_concatenation(op: Operation) -> Plan:
    """CONCATENATION: one copy per input into its slot of the output; uint8 inputs of
    another scale are rescaled on the way (int8 must share the output's)."""
    call = checked_call(op)
    _same_storage(call)
    if call.opts["fused_activation_function"] != "NONE":
        raise Unsupported("CONCATENATION supports no fused activation")
    out = call.out
    axis = _axis(call.opts["axis"], len(out.shape))
    uint8 = out.dtype == np.uint8 and out.quant is not None
    if not uint8 and not all(same_quantization(s, out) for s in call.inputs):
        raise Unsupported("CONCATENATION needs the same scale and zero point everywhere")
    outer, total, inner = _blocks(out.shape, axis)
    copies, start = [], 0
    for k, info in enumerate(call.inputs):
        size = info.shape[axis] * inner
        convert = _uint8_rescale(info, out) if uint8 and not same_quantization(info, out) else None
        axes = (Axis(outer, total * inner, size),)
        copies.append(Copy(len(call.inputs), k, size, axes, dst_base=start, convert=convert))
        start += size
    return io_plan(call, range(len(call.inputs)), copies)


@planner("tfl.pack")
def plan_pack(op: Operation) -> Plan:
    """PACK: input k fills slot k of the new axis."""
    call = checked_call(op)
    _same_storage(call)
    if not all(same_quantization(s, call.out) for s in call.inputs):
        raise Unsupported("PACK needs the same scale and zero point on inputs and output")
    axis = _axis(call.opts["axis"], len(call.out.shape))
    outer, count, inner = _blocks(call.out.shape, axis)
    copies = [
        Copy(count, k, inner, (Axis(outer, count * inner, inner),), dst_base=k * inner)
        for k in range(count)
    ]
    return io_plan(call, range(len(call.inputs)), copies)


def _pieces(op: Operation, data: int, axis: int, sizes: Sequence[int]) -> Plan:
    """Output k takes `sizes[k]` slices of input `data` along `axis`, in order."""
    call = checked_call(op)
    _same_storage(call, [data])
    outer, total, inner = _blocks(call.inputs[data].shape, axis)
    copies, start = [], 0
    for k, size in enumerate(sizes):
        run = size * inner
        copies.append(Copy(1 + k, 0, run, (Axis(outer, run, total * inner),), src_base=start))
        start += run
    return io_plan(call, [data], copies)


@planner("tfl.unpack")
def plan_unpack(op: Operation) -> Plan:
    """UNPACK: output k is slice k along the axis."""
    call = checked_call(op)
    shape = call.inputs[0].shape
    axis = _axis(call.opts["axis"], len(shape))
    if shape[axis] != call.opts["num"] or len(call.outputs) != shape[axis]:
        raise Unsupported(f"UNPACK of {shape[axis]} slices into {call.opts['num']} outputs")
    return _pieces(op, 0, axis, [1] * shape[axis])


@planner("tfl.split")
def plan_split(op: Operation) -> Plan:
    """SPLIT: `num_splits` equal pieces along a constant axis."""
    call = checked_call(op)
    shape = call.inputs[1].shape
    axis = _axis(int(required_const(op, 0, "the split axis").ravel()[0]), len(shape))
    n = call.opts["num_splits"]
    if n <= 0 or shape[axis] % n or len(call.outputs) != n:
        raise Unsupported(f"dimension {shape[axis]} does not split into {n} equal parts")
    return _pieces(op, 1, axis, [shape[axis] // n] * n)


# ----------------------------------------------------------------------------- slicing


def _sliced(call: KernelCall, shape: Sequence[int], ranges: Sequence[range]) -> Plan:
    """Copy the elements at the given positions per axis of the input (row-major)."""
    counts = [len(r) for r in ranges]
    in_strides, out_strides = strides(shape), strides(counts)
    base = sum(r.start * s for r, s in zip(ranges, in_strides, strict=True) if len(r))
    axes = tuple(
        Axis(len(r), d, r.step * s) for r, d, s in zip(ranges, out_strides, in_strides, strict=True)
    )
    if int(np.prod(counts, dtype=np.int64)) != int(np.prod(call.out.shape, dtype=np.int64)):
        raise Unsupported(f"the slice has shape {counts}, the output {list(call.out.shape)}")
    return io_plan(call, [0], [Copy(1, 0, 1, axes, src_base=base)])


@planner("tfl.slice")
def plan_slice(op: Operation) -> Plan:
    """SLICE: constant begin and size (size -1: to the end)."""
    call = checked_call(op)
    _same_storage(call, [0])
    shape = call.inputs[0].shape
    begin = required_const(op, 1, "begin").ravel().tolist()
    size = required_const(op, 2, "size").ravel().tolist()
    if len(begin) != len(shape) or len(size) != len(shape):
        raise Unsupported(f"SLICE needs {len(shape)} begin and size values")
    ranges = []
    for b, s, dim in zip(begin, size, shape, strict=True):
        end = dim if s == -1 else b + s
        if b < 0 or s < -1 or end > dim:
            raise Unsupported(f"SLICE begin {b} size {s} does not fit dimension {dim}")
        ranges.append(range(b, end))
    return _sliced(call, shape, ranges)


@planner("tfl.strided_slice")
def plan_strided_slice(op: Operation) -> Plan:
    """STRIDED_SLICE: constant begin, end and strides, every mask, negative strides."""
    call = checked_call(op)
    _same_storage(call, [0])
    begin, end, step = (
        required_const(op, i, what).ravel().tolist()
        for i, what in ((1, "begin"), (2, "end"), (3, "strides"))
    )
    if not len(begin) == len(end) == len(step) or 0 in step:
        raise Unsupported("begin, end and strides must have one length and non-zero strides")
    params = _StridedSlice(call.opts, call.inputs[0].shape, begin, end, step)
    ranges = [params.indices(a) for a in range(len(params.shape))]
    return _sliced(call, params.shape, ranges)


@planner("tfl.gather")
def plan_gather(op: Operation) -> Plan:
    """GATHER: slices picked by indices; constant indices are checked and folded into a
    table, run-time indices are read by the kernel and clamped into range."""
    call = checked_call(op)
    _same_storage(call, [0])
    shape, ishape = call.inputs[0].shape, call.inputs[1].shape
    axis = _axis(call.opts["axis"], len(shape))
    batch = call.opts["batch_dims"]
    batch = batch + len(ishape) if batch < 0 else batch
    if not 0 <= batch <= axis or batch > len(ishape) or shape[:batch] != ishape[:batch]:
        raise Unsupported(f"batch_dims {call.opts['batch_dims']} does not fit the inputs")
    nb = int(np.prod(shape[:batch], dtype=np.int64))
    mid = int(np.prod(shape[batch:axis], dtype=np.int64))
    n, inner = shape[axis], int(np.prod(shape[axis + 1 :], dtype=np.int64))
    m = int(np.prod(ishape[batch:], dtype=np.int64))
    indices = const_operand(op, 1)
    if indices is None:  # arguments: params, indices, output
        plan, out, table, limit = io_plan(call, [0, 1]), 2, 1, n
    else:  # arguments: params, output, the index table
        if np.any(indices < 0) or np.any(indices >= n):
            raise Unsupported(f"GATHER index out of range [0, {n})")
        plan, out, limit = io_plan(call, [0]), 1, None
        table = add_table(plan, indices)
    for b in range(nb):
        axes = (
            Axis(mid, m * inner, n * inner),
            Axis(m, inner, inner, Table(table, b * m, limit)),
        )
        base = b * mid * m * inner
        plan.copies.append(Copy(out, 0, inner, axes, base, b * mid * n * inner))
    return plan


# ----------------------------------------------------------------------------- padding


def _pad_copies(shape: Sequence[int], pads: Sequence[tuple[int, int]], value) -> list[Copy]:
    """PAD as copies: the input into the interior of the output, then the fill value into
    the border, one box per padded side (the dimensions before it interior, after it whole)."""
    out_shape = [d + a + b for d, (a, b) in zip(shape, pads, strict=True)]
    out_strides, in_strides = strides(out_shape), strides(shape)
    origin = sum(a * s for (a, _), s in zip(pads, out_strides, strict=True))
    interior = tuple(Axis(d, o, s) for d, o, s in zip(shape, out_strides, in_strides, strict=True))
    copies = [Copy(1, 0, 1, interior, dst_base=origin)]
    for k, (before, after) in enumerate(pads):
        for start, count in ((0, before), (before + shape[k], after)):
            if not count:
                continue
            lead = sum(pads[j][0] * out_strides[j] for j in range(k))
            axes = (
                *(Axis(shape[j], out_strides[j], 0) for j in range(k)),
                Axis(count, out_strides[k], 0),
                *(Axis(out_shape[j], out_strides[j], 0) for j in range(k + 1, len(shape))),
            )
            base = lead + start * out_strides[k]
            copies.append(Copy(1, None, 1, axes, dst_base=base, value=value))
    return copies


def _paddings(op: Operation, shape: Sequence[int]) -> list[tuple[int, int]]:
    pads = required_const(op, 1, "paddings").reshape(-1, 2).tolist()
    if len(pads) != len(shape) or any(p < 0 for pair in pads for p in pair):
        raise Unsupported(f"paddings must be {len(shape)} non-negative (before, after) pairs")
    return [(int(a), int(b)) for a, b in pads]


def _fill_bits(value, info: TensorInfo):
    """A fill value as the kernel stores it (bool and unsigned values as their bits)."""
    if info.dtype.kind == "f":
        return float(value)
    return int(np.asarray(value).astype(info.dtype).view(f"i{info.dtype.itemsize}"))


@planner("tfl.pad")
def plan_pad(op: Operation) -> Plan:
    """PAD: constant paddings; fills with 0, or the output's zero point when quantized."""
    call = checked_call(op)
    _same_storage(call, [0])
    shape = call.inputs[0].shape
    fill = call.out.zero_point if call.out.quant is not None else 0
    copies = _pad_copies(shape, _paddings(op, shape), _fill_bits(fill, call.out))
    return io_plan(call, [0], copies)


@planner("tfl.padv2")
def plan_padv2(op: Operation) -> Plan:
    """PADV2: constant paddings and fill value (quantized: stored in the output's scale)."""
    call = checked_call(op)
    _same_storage(call, [0])
    if call.out.quant is not None and not same_quantization(call.inputs[2], call.out):
        raise Unsupported("constant_values must share the output's scale and zero point")
    shape = call.inputs[0].shape
    fill = required_const(op, 2, "constant_values").ravel()[0]
    copies = _pad_copies(shape, _paddings(op, shape), _fill_bits(fill, call.out))
    return io_plan(call, [0], copies)
