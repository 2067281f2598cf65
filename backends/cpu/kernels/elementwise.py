"""CPU kernels for elementwise ops, and the small IR toolkit that the activation, reduction
and sequence kernels share.

Ops: ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, LESS, GREATER, EQUAL,
LOGICAL_AND/OR/NOT, NEG, ABS, SQRT, RSQRT, EXP, LOG, CAST, QUANTIZE, DEQUANTIZE.

How a kernel is built:

- `V` wraps an SSA value; Python operators on it emit `arith` ops (numbers become splatted
  constants), so a kernel body reads like the reference interpreter's numpy code.
- `KernelBuilder` makes the `func.func` and its argument bindings; every buffer is a flat
  `memref<N x storage>` (bool tensors are bytes: LLVM packs `vector<Nxi1>` in memory).
- `elementwise` emits the loop nest of an elementwise op over statically broadcast
  operands: dimensions collapsed where the operands' strides allow, the innermost one
  vectorised (`vector<16 x ...>`) with a scalar tail; a broadcast operand along it is loaded
  once and splatted.
- Quantized arithmetic runs in i64 with TFLite's exact fixed point: `srdhm` is
  SaturatingRoundingDoublingHighMul as `(a*b + 2^30) >> 31`, exact for the multipliers
  TFLite makes (never INT32_MIN); every multiplier is computed at compile time by the
  reference interpreter's own helpers.
- A unary op on 8-bit data (and a binary op whose other operand is one constant value) is
  a 256-entry table computed at compile time by the reference kernel itself (bit-exact by
  construction) and looked up per element; int16 ops without a cheap exact formula get
  a 65536-entry table the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, func, llvm, memref, scf, vector
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import (
    AnyFloat,
    Float16Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    VectorType,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from litec.backends.cpu.kernels.base import (
    CONST,
    INPUT,
    OUTPUT,
    SCRATCH,
    Binding,
    Kernel,
    generator,
    kernel_options,
)
from litec.dialects import tfl
from litec.dialects.tfl_reference import KERNELS, KernelCall, TensorInfo
from litec.dialects.tfl_reference.core import make_call
from litec.dialects.tfl_reference.elementwise import _act_range, _pot_shifts, _smaller_than_one
from litec.ir.diagnostics import LitecError
from litec.ir.resources import blob_array
from litec.lowering.to_llvm import vector_arith as varith
from litec.runtime import gemmlowp
from litec.runtime.fixedpoint import quantize_multiplier

single = np.float32
"""TFLite forms many quantization parameters in float32 arithmetic: single(x) rounds as it does."""

LANES = 16
"""Vector width of the generated loops: 16 x f32 is one 512-bit register."""

INDEX = IndexType()
QUANTIZED = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16))
BYTES = (np.dtype(np.int8), np.dtype(np.uint8))

# ----------------------------------------------------------------------------- the value algebra


def _elem(t: Attribute) -> Attribute:
    return t.element_type if isinstance(t, VectorType) else t


def _lanes(t: Attribute) -> int | None:
    return t.get_shape()[0] if isinstance(t, VectorType) else None


def _with_elem(t: Attribute, elem: Attribute) -> Attribute:
    """`t`'s shape (scalar or vector) with another element type."""
    lanes = _lanes(t)
    return elem if lanes is None else VectorType(elem, [lanes])


def _result(op: Operation) -> V:
    return V(op.results[0])


class V:
    """An SSA value of the kernel being built; Python operators emit `arith` ops.

    Numbers on either side become constants of this value's type (splatted for vectors).
    Integers are signed: `>>` is arithmetic, comparisons are signed; comparisons give i1.
    """

    __slots__ = ("ssa",)

    def __init__(self, ssa: SSAValue | Operation):
        self.ssa = SSAValue.get(ssa)

    @property
    def type(self) -> Attribute:
        return self.ssa.type

    @property
    def elem(self) -> Attribute:
        return _elem(self.type)

    @property
    def lanes(self) -> int | None:
        return _lanes(self.type)

    @property
    def is_float(self) -> bool:
        return isinstance(self.elem, AnyFloat)

    def lift(self, x) -> V:
        """`x` as a value of this value's type: a number becomes a constant, a scalar value
        is splatted to this vector's width."""
        if not isinstance(x, V):
            return const(x, self.type)
        if x.lanes is None and self.lanes is not None:
            return splat(x, self.lanes)
        return x

    def _binary(self, other, float_op, int_op, reverse: bool = False) -> V:
        a, b = matched(self, other)
        if reverse:
            a, b = b, a
        op = float_op if self.is_float else int_op
        if op is None:
            raise TypeError(f"no {int_op or float_op} for {self.type}")
        return _result(op(a.ssa, b.ssa))

    def __add__(self, o):
        return self._binary(o, arith.AddfOp, arith.AddiOp)

    def __radd__(self, o):
        return self._binary(o, arith.AddfOp, arith.AddiOp, True)

    def __sub__(self, o):
        return self._binary(o, arith.SubfOp, arith.SubiOp)

    def __rsub__(self, o):
        return self._binary(o, arith.SubfOp, arith.SubiOp, True)

    def __mul__(self, o):
        return self._binary(o, arith.MulfOp, arith.MuliOp)

    def __rmul__(self, o):
        return self._binary(o, arith.MulfOp, arith.MuliOp, True)

    def __truediv__(self, o):
        return self._binary(o, arith.DivfOp, None)

    def __rtruediv__(self, o):
        return self._binary(o, arith.DivfOp, None, True)

    def __and__(self, o):
        return self._binary(o, None, arith.AndIOp)

    def __or__(self, o):
        return self._binary(o, None, arith.OrIOp)

    def __xor__(self, o):
        return self._binary(o, None, arith.XOrIOp)

    def __lshift__(self, o):
        return self._binary(o, None, arith.ShLIOp)

    def __rshift__(self, o):
        return self._binary(o, None, arith.ShRSIOp)

    def __neg__(self):
        if self.is_float:
            return _result(arith.NegfOp(self.ssa))
        return 0 - self

    def _compare(self, o, fpred: str, ipred: str) -> V:
        a, b = matched(self, o)
        cls, predicate = (varith.CmpfOp, fpred) if self.is_float else (varith.CmpiOp, ipred)
        return _result(cls(a.ssa, b.ssa, predicate))

    def __lt__(self, o):
        return self._compare(o, "olt", "slt")

    def __le__(self, o):
        return self._compare(o, "ole", "sle")

    def __gt__(self, o):
        return self._compare(o, "ogt", "sgt")

    def __ge__(self, o):
        return self._compare(o, "oge", "sge")

    def eq(self, o) -> V:
        """self == o (Python's == stays identity, so values can be dict keys)."""
        return self._compare(o, "oeq", "eq")

    def ne(self, o) -> V:
        """self != o (unordered for floats: NaN != NaN)."""
        return self._compare(o, "une", "ne")


def matched(*values) -> list[V]:
    """The operands of one op: numbers become constants of the first value's element type,
    scalars are splatted to the width of any vector among them."""
    first = next(v for v in values if isinstance(v, V))
    lanes = next((v.lanes for v in values if isinstance(v, V) and v.lanes is not None), None)
    t = first.elem if lanes is None else VectorType(first.elem, [lanes])
    out = []
    for v in values:
        if not isinstance(v, V):
            out.append(const(v, t))
        elif v.lanes is None and lanes is not None:
            out.append(splat(v, lanes))
        else:
            out.append(v)
    return out


_POOLS: list[tuple[Block, dict]] = []
"""Constant pools of the kernels being built (innermost last): each constant is made once,
in a block that `KernelBuilder.body` moves to the top of the kernel."""


def const(x, t: Attribute) -> V:
    """A constant of type `t` (a vector type gets a splat), made once per kernel."""
    if not _POOLS:
        return _make_const(x, t)
    block, cache = _POOLS[-1]
    key = (float(x) if isinstance(_elem(t), AnyFloat) else int(x), t)
    if key not in cache:
        with ImplicitBuilder(block):
            cache[key] = _make_const(x, t)
    return cache[key]


def _make_const(x, t: Attribute) -> V:
    lanes = _lanes(t)
    if lanes is not None:
        return splat(const(x, _elem(t)), lanes)
    if isinstance(t, AnyFloat):
        return _result(arith.ConstantOp(FloatAttr(float(x), t)))
    value = int(x)
    if t == i1:
        value = -1 if value else 0
    return _result(arith.ConstantOp(IntegerAttr(value, t)))


def index(x: int) -> V:
    """An `index` constant."""
    return const(x, INDEX)


def splat(v: V, lanes: int) -> V:
    """A vector with `v` in every lane (`v` itself for one lane)."""
    if lanes == 1:
        return v
    return _result(vector.BroadcastOp(v.ssa, VectorType(v.type, [lanes])))


def where(cond: V, a, b) -> V:
    """cond ? a : b, lane by lane; a number takes the type of the other operand (one of them
    must be a value)."""
    a, b = matched(a, b)
    if cond.lanes is not None and a.lanes is None:
        a, b = splat(a, cond.lanes), splat(b, cond.lanes)
    elif a.lanes is not None and cond.lanes is None:
        cond = splat(cond, a.lanes)
    return _result(varith.SelectOp(cond.ssa, a.ssa, b.ssa))


def maximum(a: V, b) -> V:
    """a > b ? a : b (TFLite's MAXIMUM; LLVM selects one max instruction from it)."""
    return where(a > b, a, b)


def minimum(a: V, b) -> V:
    """a < b ? a : b."""
    return where(a < b, a, b)


def clamp(x: V, lo, hi) -> V:
    """min(max(x, lo), hi); a bound of None is no bound."""
    if lo is not None:
        x = maximum(x, lo)
    if hi is not None:
        x = minimum(x, hi)
    return x


def convert(v: V, elem: Attribute, unsigned: bool = False) -> V:
    """Convert to element type `elem`: integers extend (signed unless `unsigned`) or
    truncate, floats extend or truncate, int <-> float convert (float to int truncates)."""
    src = v.elem
    if src == elem:
        return v
    t = _with_elem(v.type, elem)
    src_float, dst_float = isinstance(src, AnyFloat), isinstance(elem, AnyFloat)
    if src_float and dst_float:
        wider = _float_bits(elem) > _float_bits(src)
        return _result(arith.ExtFOp(v.ssa, t) if wider else arith.TruncFOp(v.ssa, t))
    if src_float:
        return _result(varith.FPToSIOp(v.ssa, t))
    if dst_float:
        return _result(varith.UIToFPOp(v.ssa, t) if unsigned else varith.SIToFPOp(v.ssa, t))
    if src == INDEX or elem == INDEX:
        return _result(varith.IndexCastOp(v.ssa, t))
    if elem.width.data > src.width.data:
        return _result(varith.ExtUIOp(v.ssa, t) if unsigned else varith.ExtSIOp(v.ssa, t))
    return _result(varith.TruncIOp(v.ssa, t))


def _float_bits(t: Attribute) -> int:
    return 16 if isinstance(t, Float16Type) else t.bitwidth


def bitcast(v: V, elem: Attribute) -> V:
    """Reinterpret the bits as another element type of the same width."""
    return _result(arith.BitcastOp(v.ssa, _with_elem(v.type, elem)))


def fma(a: V, b, c) -> V:
    """a * b + c, fused."""
    a, b, c = matched(a, b, c)
    return _result(mathd.FmaOp(a.ssa, b.ssa, c.ssa))


def floor(x: V) -> V:
    """Round toward minus infinity (float)."""
    return _result(mathd.FloorOp(x.ssa))


def trunc(x: V) -> V:
    """Round toward zero (float)."""
    return _result(mathd.TruncOp(x.ssa))


def sqrt(x: V) -> V:
    """Square root (float)."""
    return _result(mathd.SqrtOp(x.ssa))


def absf(x: V) -> V:
    """|x| (float)."""
    return _result(mathd.AbsFOp(x.ssa))


def clz(x: V) -> V:
    """Count of leading zero bits (integer)."""
    return _result(mathd.CountLeadingZerosOp(x.ssa))


def reduce(v: V, kind: str) -> V:
    """Combine the lanes of a vector: kind "add", "maxnumf", "maxsi", ...; a scalar is itself."""
    if v.lanes is None:
        return v
    # built generically: xDSL 0.74's ReductionOp constructor gives the result the vector's type
    op = vector.ReductionOp.build(
        operands=[v.ssa, []],
        result_types=[v.elem],
        properties={"kind": vector.CombiningKindAttr(vector.CombiningKindFlag(kind))},
    )
    return _result(op)


# ----------------------------------------------------------------------------- memory


def load(ref: SSAValue, offset: V, lanes: int | None = None) -> V:
    """Load one element (or `lanes` > 1 consecutive ones) of a flat memref at `offset`."""
    if lanes is None or lanes == 1:
        return _result(memref.LoadOp.get(ref, [offset.ssa]))
    t = VectorType(ref.type.element_type, [lanes])
    return _result(vector.LoadOp(ref, [offset.ssa], t))


def store(value: V, ref: SSAValue, offset: V) -> None:
    """Store one element (or a vector of consecutive ones) at `offset`."""
    if value.lanes is None:
        memref.StoreOp.get(value.ssa, ref, [offset.ssa])
    else:
        vector.StoreOp(value.ssa, ref, [offset.ssa])


def for_range(lo: int | V, hi: int | V, step: int, body, carried: Sequence[V] = ()) -> list[V]:
    """An `scf.for` from lo to hi; `body(i, *carried)` builds one iteration and returns the
    next carried values (a list, possibly empty). Returns the final carried values."""
    lo_v = lo if isinstance(lo, V) else index(lo)
    hi_v = hi if isinstance(hi, V) else index(hi)
    block = Block(arg_types=[INDEX, *(c.type for c in carried)])
    loop = scf.ForOp(lo_v.ssa, hi_v.ssa, index(step).ssa, [c.ssa for c in carried], block)
    with ImplicitBuilder(block):
        nxt = body(V(block.args[0]), *(V(a) for a in block.args[1:]))
        scf.YieldOp(*(n.ssa for n in nxt or ()))
    return [V(r) for r in loop.results]


# ----------------------------------------------------------------------------- kernel functions

STORAGE = {
    np.dtype(np.float32): f32,
    np.dtype(np.float16): f16,
    np.dtype(np.int8): i8,
    np.dtype(np.uint8): i8,
    np.dtype(np.int16): i16,
    np.dtype(np.int32): i32,
    np.dtype(np.int64): i64,
    np.dtype(np.bool_): i8,
}
"""numpy dtype -> memref element type (uint8 is i8 read as unsigned; bool is a byte)."""


def storage_type(dtype: np.dtype) -> Attribute:
    """The memref element type holding values of a numpy dtype."""
    dtype = np.dtype(dtype)
    if dtype not in STORAGE:
        raise LitecError(f"no CPU kernel handles {dtype} tensors")
    return STORAGE[dtype]


def flat_memref(shape: Sequence[int], dtype: np.dtype) -> MemRefType:
    """A flat memref over a tensor's elements."""
    return MemRefType(storage_type(dtype), [int(np.prod(shape, dtype=np.int64))])


class KernelBuilder:
    """Builds one kernel: arguments with their bindings, then the body (`with kb.body():`)."""

    def __init__(self, symbol: str):
        self.symbol = symbol
        self.block = Block()
        self.bindings: list[Binding] = []

    def _arg(self, binding: Binding, t: Attribute) -> SSAValue:
        self.bindings.append(binding)
        return self.block.insert_arg(t, len(self.block.args))

    def input(self, i: int, info: TensorInfo) -> SSAValue:
        """The buffer of operand i."""
        return self._arg(Binding(INPUT, i), flat_memref(info.shape, info.dtype))

    def output(self, i: int, info: TensorInfo) -> SSAValue:
        """The buffer of result i."""
        return self._arg(Binding(OUTPUT, i), flat_memref(info.shape, info.dtype))

    def const(self, data: np.ndarray) -> SSAValue:
        """Compile-time data (tables, packed weights), flat."""
        data = np.ascontiguousarray(data).ravel()
        return self._arg(Binding(CONST, data=data), flat_memref(data.shape, data.dtype))

    def scratch(self, count: int, dtype) -> SSAValue:
        """Arena space for `count` values of `dtype`, live only during this kernel."""
        size = count * np.dtype(dtype).itemsize
        return self._arg(Binding(SCRATCH, size=size), flat_memref((count,), dtype))

    @contextmanager
    def body(self):
        """Context in which ops are appended to the kernel's body; its constants are made
        once each, at the top."""
        pool = Block()
        _POOLS.append((pool, {}))
        try:
            with ImplicitBuilder(self.block):
                yield
        finally:
            _POOLS.pop()
            constants = list(pool.ops)
            for op in constants:
                op.detach()
            if self.block.first_op is None:
                self.block.add_ops(constants)
            elif constants:
                self.block.insert_ops_before(constants, self.block.first_op)

    def finish(self) -> Kernel:
        """Close the body and make the kernel."""
        with ImplicitBuilder(self.block):
            func.ReturnOp()
        types = [a.type for a in self.block.args]
        fn = func.FuncOp(self.symbol, (types, []), Region(self.block))
        return Kernel(fn, self.bindings)


# ----------------------------------------------------------------------------- compile-time facts


class Unsupported(LitecError):
    """An op (or an option or dtype combination of it) that no CPU kernel handles."""


def constant_operand(op: Operation, i: int) -> np.ndarray | None:
    """The value of operand i when a `tfl.const` defines it, else None."""
    value = op.operands[i]
    owner = value.owner
    if not isinstance(owner, tfl.ConstOp):
        return None
    info = TensorInfo.of(value.type)
    return blob_array(owner.value.resource_handle.data, info.dtype, info.shape)


def checked(plan: Callable[[Operation], object]) -> Callable[[Operation], tuple[bool, str]]:
    """A `supports` check from a planning function that raises `LitecError` (the message is
    the reason) for what it cannot do."""

    def check(op: Operation) -> tuple[bool, str]:
        try:
            plan(op)
        except LitecError as e:
            return False, e.message
        return True, "supported"

    check.__doc__ = plan.__doc__
    return check


# ----------------------------------------------------------------------------- elementwise loops


@dataclass(frozen=True)
class Operand:
    """An input of an elementwise loop: its flat buffer, its tensor shape (broadcast against
    the output's), and how a loaded storage value becomes a compute value."""

    ref: SSAValue
    shape: tuple[int, ...]
    widen: Callable[[V], V]


def broadcast_dims(
    out_shape: Sequence[int], in_shapes: Sequence[Sequence[int]]
) -> tuple[list[int], list[list[int]]]:
    """The collapsed iteration space of a broadcast: its sizes (outermost first) and each
    input's element strides along them (0 where the input is broadcast).

    Size-1 dimensions are dropped, and neighbours merge wherever every input steps through
    both alike (contiguous, or broadcast along both). The output is contiguous.
    """
    rank = len(out_shape)
    dims: list[int] = []
    strides: list[list[int]] = [[] for _ in in_shapes]
    for d in range(rank):
        if out_shape[d] == 1:
            continue
        dims.append(out_shape[d])
        for k, shape in enumerate(in_shapes):
            padded = (1,) * (rank - len(shape)) + tuple(shape)
            inner = int(np.prod(padded[d + 1 :], dtype=np.int64))
            strides[k].append(0 if padded[d] == 1 else inner)
    merged_dims: list[int] = []
    merged: list[list[int]] = [[] for _ in in_shapes]
    for d, size in enumerate(dims):
        mergeable = merged_dims and all(
            s[-1] == st[d] * size for s, st in zip(merged, strides, strict=True)
        )
        if mergeable:
            merged_dims[-1] *= size
            for s, st in zip(merged, strides, strict=True):
                s[-1] = st[d]
            continue
        merged_dims.append(size)
        for s, st in zip(merged, strides, strict=True):
            s.append(st[d])
    if not merged_dims:
        return [1], [[0] for _ in in_shapes]
    return merged_dims, merged


def vector_steps(n: int, lanes: int) -> list[tuple[int, int]]:
    """How to cover n consecutive elements: (start, width) chunks, the first repeated.

    Returns [(end of the main loop, lanes)] then straight-line chunks of 8, 4 and single
    elements for the remainder (width 1 = scalar).
    """
    steps = [(n - n % lanes, lanes)]
    pos = steps[0][0]
    for width in (8, 4):
        if width < lanes and n - pos >= width:
            steps.append((pos, width))
            pos += width
    steps.extend((p, 1) for p in range(pos, n))
    return steps


def for_chunks(n: int, chunk: Callable[[V, int], None], lanes: int | None = None) -> None:
    """Cover n consecutive elements: `chunk(offset, width)` in a loop of `lanes`-wide steps
    (default LANES; 1 = scalars only), then straight-line chunks of 8, 4 and 1 for the
    remainder (`vector_steps`)."""
    lanes = lanes or LANES

    def main_loop(j: V) -> list:
        chunk(j, lanes)
        return []

    for start, width in vector_steps(n, lanes):
        if width != lanes:
            chunk(index(start), width)
        elif start:
            for_range(0, start, lanes, main_loop)


def fold(
    n: int, load_at: Callable[[V, int], V], combine, init: V, kind: str, lanes: int | None = None
) -> V:
    """Fold n consecutive elements into one scalar: `load_at(offset, width)` gives them (as
    compute values), `combine(acc, value)` adds one in, `init` (a scalar) starts; a vector
    accumulator (`lanes` wide, default LANES) runs over the main loop and its lanes are
    combined by `reduce(.., kind)`."""
    lanes = lanes or LANES
    steps = vector_steps(n, lanes)
    acc = init
    main_end = steps[0][0]
    if main_end and lanes > 1:

        def step(j: V, vacc: V) -> list[V]:
            return [combine(vacc, load_at(j, lanes))]

        (vacc,) = for_range(0, main_end, lanes, step, [splat(init, lanes)])
        acc = combine(acc, reduce(vacc, kind))
    elif main_end:
        (acc,) = for_range(0, main_end, 1, lambda j, a: [combine(a, load_at(j, 1))], [acc])
    for start, width in steps[1:]:
        acc = combine(acc, reduce(load_at(index(start), width), kind))
    return acc


def elementwise(
    out: SSAValue,
    out_shape: Sequence[int],
    narrow: Callable[[V], V],
    operands: Sequence[Operand],
    body: Callable[..., V],
    lanes: int | None = None,
) -> None:
    """The loop nest of an elementwise op: out = narrow(body(*widened inputs)).

    `body` receives and returns values that are either all scalars or all vectors of one
    width; it is built once per vector width the shape needs (and once for scalars).
    `lanes`: the main vector width (default LANES; 1 = scalar loops only).
    """
    lanes = lanes or LANES
    dims, strides = broadcast_dims(out_shape, [o.shape for o in operands])
    out_strides = [int(np.prod(dims[d + 1 :], dtype=np.int64)) for d in range(len(dims))]

    def level(d: int, bases: list[V], out_base: V) -> None:
        if d == len(dims) - 1:
            inner(dims[d], [s[d] for s in strides], bases, out_base)
            return

        def iteration(i: V) -> list:
            level(
                d + 1,
                [b + i * s[d] for b, s in zip(bases, strides, strict=True)],
                out_base + i * out_strides[d],
            )
            return []

        for_range(0, dims[d], 1, iteration)

    def inner(n: int, inner_strides: list[int], bases: list[V], out_base: V) -> None:
        fixed = [
            o.widen(load(o.ref, b)) if s == 0 else None
            for o, b, s in zip(operands, bases, inner_strides, strict=True)
        ]

        def chunk(j: V, width: int) -> None:
            args = [
                o.widen(load(o.ref, b + j, width)) if f is None else splat(f, width)
                for o, b, f in zip(operands, bases, fixed, strict=True)
            ]
            store(narrow(body(*args)), out, out_base + j)

        for_chunks(n, chunk, lanes)

    level(0, [index(0) for _ in operands], index(0))


# ----------------------------------------------------------------------------- float functions
# Polynomial and rational approximations in float32 arithmetic, vectorised like any other
# op (no calls into libm); each is within 1e-6 of the exact function (absolute for tanh and
# erf, relative for exp and log), far inside the float tolerance.


def polynomial(x: V, coefficients: Sequence[float]) -> V:
    """Horner's scheme with FMAs, highest coefficient first."""
    p = x.lift(coefficients[0])
    for c in coefficients[1:]:
        p = fma(p, x, c)
    return p


def exp(x: V) -> V:
    """e^x (Cephes expf: Cody-Waite reduction by ln 2, degree-5 polynomial, 2^n by bits).

    Inputs are clamped to [-87, 88] so that 2^n stays a normal float: below -87 the result
    is e^-87 (1.6e-38) instead of smaller, above 88 e^88.
    """
    x = clamp(x, -87.0, 88.0)
    n = floor(fma(x, 1.44269504088896341, 0.5))
    r = fma(n, 2.12194440e-4, fma(n, -0.693359375, x))
    p = polynomial(
        r,
        [
            1.9875691500e-4,
            1.3981999507e-3,
            8.3334519073e-3,
            4.1665795894e-2,
            1.6666665459e-1,
            5.0000001201e-1,
        ],
    )
    e = fma(p, r * r, r) + 1.0
    bits = (convert(n, i32) + 127) << 23
    return e * bitcast(bits, f32)


def log(x: V) -> V:
    """ln x (Cephes logf); log 0 = -inf, log of a negative number or NaN = NaN, log inf = inf."""
    bits = bitcast(x, i32)
    e = ((bits >> 23) & 0xFF) - 126
    m = bitcast((bits & (0x807FFFFF - (1 << 32))) | 0x3F000000, f32)
    small = m < 0.707106781186547524
    e = convert(where(small, e - 1, e), f32)
    m = where(small, m + m, m) - 1.0
    z = m * m
    y = (
        polynomial(
            m,
            [
                7.0376836292e-2,
                -1.1514610310e-1,
                1.1676998740e-1,
                -1.2420140846e-1,
                1.4249322787e-1,
                -1.6668057665e-1,
                2.0000714765e-1,
                -2.4999993993e-1,
                3.3333331174e-1,
            ],
        )
        * m
        * z
    )
    y = fma(e, -2.12194440e-4, y)
    y = fma(z, -0.5, y)
    result = fma(e, 0.693359375, m + y)
    result = where(x.eq(0.0), -math.inf, result)
    result = where(x.eq(math.inf), math.inf, result)
    return where((x < 0.0) | x.ne(x), math.nan, result)


def tanh(x: V) -> V:
    """tanh x (Eigen's rational approximation, 13/6, clamped at +-7.905)."""
    x = clamp(x, -7.90531110763549805, 7.90531110763549805)
    x2 = x * x
    p = polynomial(
        x2,
        [
            -2.76076847742355e-16,
            2.00018790482477e-13,
            -8.60467152213735e-11,
            5.12229709037114e-08,
            1.48572235717979e-05,
            6.37261928875436e-04,
            4.89352455891786e-03,
        ],
    )
    q = polynomial(
        x2, [1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03]
    )
    return x * p / q


def erf(x: V) -> V:
    """erf x (Eigen's rational approximation, clamped at +-4)."""
    x = clamp(x, -4.0, 4.0)
    x2 = x * x
    p = polynomial(
        x2,
        [
            -2.72614225801306e-10,
            2.77068142495902e-08,
            -2.10102402082508e-06,
            -5.69250639462346e-05,
            -7.34990630326855e-04,
            -2.95459980854025e-03,
            -1.60960333262415e-02,
        ],
    )
    q = polynomial(
        x2,
        [
            -1.45660718464996e-05,
            -2.13374055278905e-04,
            -1.68282697438203e-03,
            -7.37332916720468e-03,
            -1.42647390514189e-02,
        ],
    )
    return x * p / q


def logistic(x: V) -> V:
    """1 / (1 + e^-x)."""
    return 1.0 / (exp(-x) + 1.0)


# ----------------------------------------------------------------------------- fixed point
# Integers travel as i64 holding TFLite's int32 values, so no intermediate step overflows.


def wrap32(x: V) -> V:
    """Two's-complement wrap to int32 (C++ int32 overflow), kept in i64."""
    return convert(convert(x, i32), i64)


def srdhm(x: V, multiplier: int) -> V:
    """SaturatingRoundingDoublingHighMul(x, multiplier) for a constant multiplier: exactly
    (x * m + 2^30) >> 31, since TFLite's multipliers are never INT32_MIN."""
    return (x * multiplier + (1 << 30)) >> 31


def rdbp(x: V, exponent: int) -> V:
    """RoundingDivideByPOT: x / 2^exponent rounded half away from zero (constant exponent)."""
    if exponent == 0:
        return x
    sign = x >> (x.elem.width.data - 1)  # -1 for negative x, else 0
    return (x + (1 << (exponent - 1)) + sign) >> exponent


def rdbp_var(x: V, exponent: V) -> V:
    """RoundingDivideByPOT with an exponent computed at run time (0..63)."""
    mask = (x.lift(1) << exponent) - 1
    threshold = (mask >> 1) + where(x < 0, x.lift(1), 0)
    return (x >> exponent) + where((x & mask) > threshold, x.lift(1), 0)


def mbqm(x: V, multiplier: int, shift: int) -> V:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding) with constant parameters."""
    if shift > 0:
        x = wrap32(x << shift)
    return rdbp(srdhm(x, multiplier), max(-shift, 0))


def requantizer(real: float) -> Callable[[V], V]:
    """x -> MultiplyByQuantizedMultiplier(x, QuantizeMultiplier(real))."""
    multiplier, shift = quantize_multiplier(real)
    return lambda x: mbqm(x, multiplier, shift)


# ----------------------------------------------------------------------------- gemmlowp as IR


class Fixed:
    """gemmlowp's fixed-point functions emitted as IR: raw `bits`-wide values (16 or 32) held
    in i64, wrapping or saturating exactly as the C++ does. Each method mirrors the numpy
    function of the same name in runtime/gemmlowp.py; constants come from that module."""

    def __init__(self, bits: int):
        self.bits = bits
        self.min = gemmlowp.raw_min(bits)
        self.max = gemmlowp.raw_max(bits)

    def const(self, int32_raw: int) -> int:
        return gemmlowp.constant(int32_raw, self.bits)

    def wrap(self, x: V) -> V:
        return convert(convert(x, IntegerType(self.bits)), i64)

    def saturate(self, x: V) -> V:
        return clamp(x, self.min, self.max)

    def add(self, a: V, b) -> V:
        return self.wrap(a + b)

    def sub(self, a, b) -> V:
        return self.wrap(a - b) if isinstance(a, V) else self.wrap(b.lift(a) - b)

    def neg(self, a: V) -> V:
        return self.wrap(0 - a)

    def saturating_add(self, a, b) -> V:
        return self.saturate(a + b) if isinstance(a, V) else self.saturate(b + a)

    def saturating_sub(self, a: V, b) -> V:
        return self.saturate(a - b)

    def mul(self, a, b) -> V:
        """SaturatingRoundingDoublingHighMul: (a*b + 2^(bits-2)) >> (bits-1).

        Only raw_min * raw_min saturates, and gemmlowp's functions never form that product:
        every one has a constant factor, or one in (0, 1) or [1, 4) (the Newton iterates,
        the reduced arguments of exp and log), so the check is left out.
        """
        a, b = (a, b) if isinstance(a, V) else (b, a)
        return (a * b + (1 << (self.bits - 2))) >> (self.bits - 1)

    def multiply_by_pot(self, x: V, exponent) -> V:
        """x * 2^exponent, saturating; a run-time exponent must be >= 0."""
        if isinstance(exponent, int) and exponent < 0:
            return rdbp(x, -exponent)
        return self.saturate(x << exponent)

    def rescale(self, x: V, src_integer_bits: int, dst_integer_bits: int) -> V:
        return self.multiply_by_pot(x, src_integer_bits - dst_integer_bits)

    def rounding_half_sum(self, a: V, b) -> V:
        total = a + b
        rounded = total + where(total >= 0, total.lift(1), -1)
        return (rounded - (rounded >> 63)) >> 1  # C++ division by 2, truncating

    def exp_on_interval_between_negative_one_quarter_and_0_excl(self, a: V) -> V:
        bits = self.bits
        constant_term = self.const(1895147668)
        one_third = self.const(715827883)
        x = self.add(a, gemmlowp.constant_pot(-3, 0, bits))
        x2 = self.mul(x, x)
        x3 = self.mul(x2, x)
        x4 = self.mul(x2, x2)
        x4_over_4 = self.multiply_by_pot(x4, -2)
        poly = self.multiply_by_pot(self.add(self.mul(self.add(x4_over_4, x3), one_third), x2), -1)
        product = self.mul(self.add(x, poly), constant_term)
        if bits == 16:
            return self.saturating_add(constant_term, product)
        return self.add(product, constant_term)

    def exp_on_negative_values(self, a: V, integer_bits: int) -> V:
        bits = self.bits
        fractional_bits = bits - 1 - integer_bits
        one_quarter = gemmlowp.constant_pot(-2, integer_bits, bits)
        a_mod_quarter_minus_one_quarter = self.sub(a & (one_quarter - 1), one_quarter)
        result = self.exp_on_interval_between_negative_one_quarter_and_0_excl(
            self.rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0)
        )
        remainder = self.sub(a_mod_quarter_minus_one_quarter, a)
        for exponent, multiplier in gemmlowp._EXP_BARREL:
            if integer_bits > exponent:
                bit = 1 << (fractional_bits + exponent)
                scaled = self.mul(result, self.const(multiplier))
                result = where((remainder & bit).ne(0), scaled, result)
        if integer_bits > 5:
            result = where(a < self.const(-(1 << (36 - integer_bits))), 0, result)
        return where(a.eq(0), gemmlowp.one(0, bits), result)

    def newton_reciprocal(self, half_denominator: V) -> V:
        x = self.add(self.mul(half_denominator, self.const(-1010580540)), self.const(1515870810))
        one_f2 = gemmlowp.one(2, self.bits)
        for _ in range(3):
            one_minus_half_denominator_times_x = self.sub(one_f2, self.mul(half_denominator, x))
            x = self.add(x, self.rescale(self.mul(x, one_minus_half_denominator_times_x), 4, 2))
        return x

    def one_minus_x_over_one_plus_x_for_x_in_0_1(self, a: V) -> V:
        x = self.newton_reciprocal(self.rounding_half_sum(a, gemmlowp.one(0, self.bits)))
        return self.rescale(self.sub(x, gemmlowp.one(2, self.bits)), 2, 0)

    def one_over_one_plus_x_for_x_in_0_1(self, a: V) -> V:
        x = self.newton_reciprocal(self.rounding_half_sum(a, gemmlowp.one(0, self.bits)))
        return self.rescale(x, 1, 0)

    def tanh(self, a: V, integer_bits: int) -> V:
        negative = a < 0
        n = where(negative, a, self.neg(a))
        t = self.one_minus_x_over_one_plus_x_for_x_in_0_1(
            self.exp_on_negative_values(n, integer_bits + 1)
        )
        return where(a.eq(0), 0, where(negative, self.neg(t), t))

    def logistic(self, a: V, integer_bits: int) -> V:
        positive = a > 0
        abs_input = where(positive, a, self.neg(a))
        if_positive = self.one_over_one_plus_x_for_x_in_0_1(
            self.exp_on_negative_values(self.neg(abs_input), integer_bits)
        )
        if_negative = self.sub(gemmlowp.one(0, self.bits), if_positive)
        one_half = self.const(1 << 30)
        return where(a.eq(0), one_half, where(positive, if_positive, if_negative))


def count_leading_zeros32(x: V) -> V:
    """TFLite's CountLeadingZeros of an int32 value held in i64 (32 for zero)."""
    return convert(clz(convert(x, i32)), i64)


def get_reciprocal(x: V, x_integer_digits: int) -> tuple[V, V]:
    """TFLite's GetReciprocal of a positive int32: (the F0 reciprocal scaled into [1, 2),
    num_bits_over_unit)."""
    fixed = Fixed(32)
    headroom_plus_one = count_leading_zeros32(x)
    shifted_sum_minus_one = fixed.wrap((x << headroom_plus_one) - (1 << 31))
    shifted_scale = fixed.one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    return shifted_scale, x_integer_digits - headroom_plus_one


def log_x_for_x_greater_than_or_equal_to_1(
    x: V, output_integer_bits: int, input_integer_bits: int
) -> V:
    """TFLite's log_x_for_x_greater_than_or_equal_to_1 of an int32 F<input> x >= 1."""
    f = Fixed(32)
    accum_bits = output_integer_bits + 1
    log_2, sqrt_sqrt_half, sqrt_half = 1488522236, 1805811301, 1518500250
    alpha_n, alpha_d, alpha_i, alpha_f = 117049297, 127690142, 1057819769, 638450708
    shifted_quarter = int(gemmlowp.rescale(536870912, 0, accum_bits, 32))

    z_a_headroom_plus_1 = count_leading_zeros32(x)
    r_a_tmp = f.multiply_by_pot(x, z_a_headroom_plus_1 - 1)
    r_a_raw = f.multiply_by_pot(f.mul(r_a_tmp, sqrt_half), 1)
    z_a_pow_2_adj = f.saturating_add(
        f.multiply_by_pot(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits),
        shifted_quarter,
    )
    z_b = f.mul(x, sqrt_half)
    z_b_headroom = count_leading_zeros32(z_b) - 1
    r_b_raw = f.multiply_by_pot(x, z_b_headroom)
    z_b_pow_2_adj = f.saturating_sub(
        f.multiply_by_pot(input_integer_bits - z_b_headroom, 31 - accum_bits), shifted_quarter
    )
    r = minimum(r_a_raw, r_b_raw)
    z_pow_2_adj = maximum(z_a_pow_2_adj, z_b_pow_2_adj)

    p = f.rounding_half_sum(r, sqrt_sqrt_half)
    q = f.sub(r, sqrt_sqrt_half)
    q = f.add(q, q)
    common_sq = f.mul(q, q)
    num = f.add(f.mul(q, r), f.mul(f.mul(q, common_sq), alpha_n))
    denom_minus_one = f.add(
        f.mul(p, f.add(f.add(q, alpha_i), f.mul(common_sq, alpha_d))), f.mul(q, alpha_f)
    )
    recip_denom = f.one_over_one_plus_x_for_x_in_0_1(denom_minus_one)
    num_scaled = f.rescale(num, 0, accum_bits)
    total = f.add(f.mul(z_pow_2_adj, log_2), f.mul(num_scaled, recip_denom))
    return f.rescale(total, accum_bits, output_integer_bits)


# ----------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Arith:
    """An elementwise op computed arithmetically: every input is widened to `compute`, `body`
    maps them (then `consts`, compile-time arrays broadcast against the output) to the
    result, which is narrowed to the output's storage type."""

    body: Callable[..., V]
    compute: Attribute
    consts: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class Table:
    """An elementwise op that is a lookup of its 8- or 16-bit operand `operand`, indexed by
    the operand's raw (unsigned) value."""

    operand: int
    data: np.ndarray


@dataclass(frozen=True)
class Precomputed:
    """An op whose output is known at compile time (DEQUANTIZE of a constant): a copy."""

    data: np.ndarray


Plan = Arith | Table | Precomputed


def _same(v: V) -> V:
    return v


def widener(info: TensorInfo, compute: Attribute) -> Callable[[V], V]:
    """Storage value -> compute value (bytes of a bool tensor become i1)."""
    if info.dtype == np.bool_:
        return lambda v: v.ne(0)
    unsigned = info.dtype == np.uint8
    return lambda v: convert(v, compute, unsigned)


def narrower(info: TensorInfo) -> Callable[[V], V]:
    """Compute value -> storage value of the output (i1 becomes a 0/1 byte)."""
    storage = storage_type(info.dtype)
    return lambda v: convert(v, storage, unsigned=v.elem == i1)


def table_lookup(table: SSAValue) -> Callable[[V], V]:
    """A raw 8- or 16-bit value -> the table's entry for it (indexed unsigned)."""
    return lambda v: load(table, convert(convert(v, i32, unsigned=True), INDEX))


@functools.cache
def host_has_vbmi() -> bool:
    """Whether this CPU has AVX512-VBMI (byte permutes across two registers)."""
    import llvmlite.binding as llvm_binding

    features = llvm_binding.get_host_cpu_features()
    return bool(features.get("avx512vbmi") and features.get("avx512bw"))


def use_vbmi() -> bool:
    """Whether generated kernels may use AVX512-VBMI (`KernelOptions.vbmi`)."""
    allowed = kernel_options().vbmi
    return host_has_vbmi() if allowed is None else allowed


def _permutable(plan: Table, src: TensorInfo, dst: TensorInfo) -> bool:
    """Whether a table runs as byte permutes: bytes to bytes, no broadcast, VBMI."""
    same_size = int(np.prod(src.shape, dtype=np.int64)) == int(np.prod(dst.shape, dtype=np.int64))
    return src.dtype in BYTES and plan.data.dtype.itemsize == 1 and same_size and use_vbmi()


def byte_permute(a: V, index_bytes: V, b: V) -> V:
    """vpermi2b: each lane takes a[i & 63] or b[i & 63] by bit 6 of its index byte i."""
    name = "llvm.x86.avx512.vpermi2var.qi.512"
    return _result(llvm.CallIntrinsicOp(name, [a.ssa, index_bytes.ssa, b.ssa], [a.type]))


def byte_table_loop(x: SSAValue, out: SSAValue, n: int, table: SSAValue) -> None:
    """out[i] = table[x[i]] for n bytes and a 256-byte table held in four zmm registers:
    two permutes cover the low and high halves, the index's top bit picks one; 64 bytes a
    step, then a scalar tail."""
    quarters = [load(table, index(64 * k), 64) for k in range(4)]
    lookup = table_lookup(table)

    def vector_step(j: V) -> list:
        raw = load(x, j, 64)
        low = byte_permute(quarters[0], raw, quarters[1])
        high = byte_permute(quarters[2], raw, quarters[3])
        store(where(raw < 0, high, low), out, j)
        return []

    def scalar_step(j: V) -> list:
        store(lookup(load(x, j)), out, j)
        return []

    main = n - n % 64
    if main:
        for_range(0, main, 64, vector_step)
    if main < n:
        for_range(main, n, 1, scalar_step)


def _emit_precomputed(call: KernelCall, kb: KernelBuilder, plan: Precomputed) -> None:
    out = kb.output(0, call.out)
    data = kb.const(plan.data.astype(call.out.dtype))
    with kb.body():
        elementwise(out, call.out.shape, _same, [Operand(data, call.out.shape, _same)], _same)


def _emit_table(call: KernelCall, kb: KernelBuilder, plan: Table) -> None:
    info = call.inputs[plan.operand]
    x = kb.input(plan.operand, info)
    out = kb.output(0, call.out)
    table = kb.const(plan.data)
    with kb.body():
        if _permutable(plan, info, call.out):
            byte_table_loop(x, out, int(np.prod(info.shape, dtype=np.int64)), table)
            return
        lookup = [Operand(x, info.shape, table_lookup(table))]
        elementwise(out, call.out.shape, _same, lookup, _same, lanes=1)


def _emit_arith(call: KernelCall, kb: KernelBuilder, plan: Arith) -> None:
    refs = [kb.input(i, info) for i, info in enumerate(call.inputs)]
    out = kb.output(0, call.out)
    consts = [(kb.const(c), c.shape) for c in plan.consts]
    with kb.body():
        operands = [
            Operand(r, info.shape, widener(info, plan.compute))
            for r, info in zip(refs, call.inputs, strict=True)
        ]
        operands += [Operand(r, shape, _same) for r, shape in consts]
        elementwise(out, call.out.shape, narrower(call.out), operands, plan.body)


EMITTERS = {Arith: _emit_arith, Table: _emit_table, Precomputed: _emit_precomputed}
"""Plan kind -> what builds its kernel (arguments, then body)."""


def emit(op: Operation, symbol: str, plan: Plan) -> Kernel:
    """The kernel of an elementwise op from its plan."""
    kb = KernelBuilder(symbol)
    EMITTERS[type(plan)](make_call(op), kb, plan)
    return kb.finish()


PLANS: dict[str, Callable[[Operation], Plan]] = {}
"""Op name -> the planning function of its elementwise kernel (filled by `register_plan`;
the fused kernel plans each op of its body with it)."""


def register_plan(plan: Callable[[Operation], Plan], *op_names: str) -> None:
    """Register, for `op_names`, the generator of the kernel `plan(op)` describes; what
    `plan` refuses (a `LitecError`) is the support check's reason."""
    PLANS.update(dict.fromkeys(op_names, plan))

    def generate(op: Operation, symbol: str) -> Kernel:
        return emit(op, symbol, plan(op))

    generate.__doc__ = plan.__doc__
    generator(*op_names, supports=checked(plan))(generate)


# ----------------------------------------------------------------------------- tables


TABLE_DTYPES = {
    np.dtype(np.int8): np.uint8,
    np.dtype(np.uint8): np.uint8,
    np.dtype(np.int16): np.uint16,
}
"""Input types a table can cover, with the unsigned type of the same width (its raw index)."""


def reference_table(
    call: KernelCall, operand: int, fixed: dict[int, object] | None = None
) -> np.ndarray:
    """The op's output for every value of its 8- or 16-bit operand `operand`, in raw (unsigned)
    order, computed by the reference interpreter's own kernel.

    Other operands take the values in `fixed`. Values the reference refuses (e.g. RSQRT of
    a negative number, where TFLite stops with an error) map to 0; if it refuses every
    value, its error is the reason the op is unsupported.
    """
    fixed = fixed or {}
    src = call.inputs[operand]
    raw = TABLE_DTYPES[src.dtype]
    values = np.arange(np.iinfo(raw).max + 1, dtype=raw).view(src.dtype)
    kernel = KERNELS[call.builtin]

    def run(xs: np.ndarray) -> np.ndarray:
        n = len(xs)
        shaped = dataclasses.replace(
            call,
            inputs=[None if i is None else dataclasses.replace(i, shape=(n,)) for i in call.inputs],
            outputs=[dataclasses.replace(o, shape=(n,)) for o in call.outputs],
        )
        args = [
            xs if k == operand else np.full(n, fixed[k], dtype=info.dtype)
            for k, info in enumerate(call.inputs)
        ]
        with np.errstate(all="ignore"):
            return np.asarray(kernel(shaped, *args)).reshape(n)

    def each(xs: np.ndarray) -> list:
        """Outputs of `xs`, None for a refused value (bisecting to find them)."""
        try:
            return list(run(xs))
        except LitecError:
            if len(xs) == 1:
                return [None]
            half = len(xs) // 2
            return each(xs[:half]) + each(xs[half:])

    try:
        return run(values)
    except LitecError as first:
        below = values < (src.zero_point if src.quant is not None else 0)
        try:  # the usual refusal: every value below the zero point (RSQRT, SQRT)
            table = np.zeros(len(values), call.out.dtype)
            table[~below] = run(values[~below])
            if below.any() and each(values[below][-1:]) == [None]:
                return table
        except LitecError:
            pass
        outputs = each(values)
        if all(o is None for o in outputs):
            raise Unsupported(first.message) from None
        return np.array([0 if o is None else o for o in outputs], dtype=call.out.dtype)


def unary_table(call: KernelCall) -> Table:
    """A unary op on 8- or 16-bit data as a table (16-bit: 65536 entries)."""
    return Table(0, reference_table(call, 0))


def uniform_constant_table(op: Operation, call: KernelCall) -> Table | None:
    """A binary op with one operand a constant of a single repeated value and the other
    8-bit data: a table of the other operand (e.g. int8 x * 0.5, x + 3), else None."""
    for k in (0, 1):
        other = constant_operand(op, 1 - k)
        if call.inputs[k].dtype not in BYTES or other is None or other.size == 0:
            continue
        value = other.flat[0]
        if np.all(other == value):
            return Table(k, reference_table(call, k, {1 - k: value}))
    return None


# ----------------------------------------------------------------------------- binary ops

FLOAT_BINARY: dict[str, Callable[[V, V], V]] = {
    "ADD": lambda a, b: a + b,
    "SUB": lambda a, b: a - b,
    "MUL": lambda a, b: a * b,
    "DIV": lambda a, b: a / b,
    "SQUARED_DIFFERENCE": lambda a, b: (a - b) * (a - b),
    "MAXIMUM": maximum,
    "MINIMUM": minimum,
    "LESS": lambda a, b: a < b,
    "GREATER": lambda a, b: a > b,
    "EQUAL": lambda a, b: a.eq(b),
}
"""Float (and plain integer) semantics of the binary ops; integers wrap in their width."""


def _int_div(a: V, b: V) -> V:
    """C++ integer division, truncating; x / 0 gives 0 and x / -1 wraps instead of trapping
    (TFLite stops with an error on a zero divisor)."""
    safe = where(b.eq(0) | b.eq(-1), 1, b)
    return where(b.eq(-1), 0 - a, _result(arith.DivSIOp(a.ssa, safe.ssa)))


INT_BINARY = {**FLOAT_BINARY, "DIV": _int_div}

LOGICAL_BINARY: dict[str, Callable[[V, V], V]] = {
    "LOGICAL_AND": lambda a, b: a & b,
    "LOGICAL_OR": lambda a, b: a | b,
}


ACTIVATION_RANGES = {"RELU": (0, None), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}
"""TFLite's CalculateActivationRange for unquantized ops: only the ReLU family clamps."""


def _with_activation(call: KernelCall, fn: Callable[..., V]) -> Callable[..., V]:
    """An unquantized op's fused activation as a clamp (TFLite's CalculateActivationRange)."""
    low, high = ACTIVATION_RANGES.get(call.opts.get("fused_activation_function"), (None, None))
    if low is None:
        return fn
    return lambda *xs: clamp(fn(*xs), low, high)


def _rescaled_lt1(multiplier_shift: tuple[int, int]) -> Callable[[V], V]:
    """x -> MultiplyByQuantizedMultiplierSmallerThanOneExp(x, multiplier, shift <= 0)."""
    multiplier, shift = multiplier_shift
    return lambda x: rdbp(srdhm(x, multiplier), -shift)


def _add_sub(call: KernelCall, sign: int) -> Callable[[V, V], V]:
    """Quantized a + sign * b (TFLite's AddElementwise / SubElementwise / Sub16)."""
    i1, i2, out = call.inputs[0], call.inputs[1], call.out
    if out.dtype == np.int16 and (i1.zero_point, i2.zero_point, out.zero_point) != (0, 0, 0):
        raise call.error("int16 ADD/SUB needs zero points of 0")
    lo, hi = _act_range(call)
    shifts = _pot_shifts(call)
    if shifts is not None:
        return lambda a, b: clamp(
            clamp(rdbp(a, -shifts[0]) + sign * rdbp(b, -shifts[1]), -32768, 32767), lo, hi
        )
    left_shift = 15 if out.dtype == np.int16 else 20
    twice_max = 2 * float(max(single(i1.scale), single(i2.scale)))
    scale1 = _rescaled_lt1(_smaller_than_one(call, float(single(i1.scale)) / twice_max, "input 1"))
    scale2 = _rescaled_lt1(_smaller_than_one(call, float(single(i2.scale)) / twice_max, "input 2"))
    real_out = twice_max / float(single(1 << left_shift) * single(out.scale))
    scale_out = _rescaled_lt1(_smaller_than_one(call, real_out, "output"))

    def body(a: V, b: V) -> V:
        x1 = scale1((a - i1.zero_point) << left_shift)
        x2 = scale2((b - i2.zero_point) << left_shift)
        return clamp(scale_out(x1 + sign * x2) + out.zero_point, lo, hi)

    return body


def _mul(call: KernelCall) -> Callable[[V, V], V]:
    """Quantized MUL: one multiplier s1 * s2 / s_out (int16 into int8: gemmlowp's product)."""
    i1, i2, out = call.inputs[0], call.inputs[1], call.out
    lo, hi = _act_range(call)
    if i1.dtype == np.int16 and out.dtype != np.int16:

        def body16(a: V, b: V) -> V:
            product = where(a.eq(-32768) & b.eq(-32768), 32767, (a * b + (1 << 14)) >> 15)
            return (
                clamp(rdbp(product, 8), lo - out.zero_point, hi - out.zero_point) + out.zero_point
            )

        return body16
    if i1.dtype != out.dtype:
        raise call.error(f"MUL of {i1.dtype} into {out.dtype} is not supported")
    rescale = requantizer(float(single(i1.scale) * single(i2.scale) / single(out.scale)))

    def body(a: V, b: V) -> V:
        product = wrap32((a - i1.zero_point) * (b - i2.zero_point))
        return clamp(rescale(product) + out.zero_point, lo, hi)

    return body


def _squared_difference(call: KernelCall) -> Callable[[V, V], V]:
    """Quantized int8 SQUARED_DIFFERENCE: both inputs on a common scale after a shift of 7."""
    i1, i2, out = call.inputs[0], call.inputs[1], call.out
    if i1.dtype != np.int8:
        raise call.error(f"SQUARED_DIFFERENCE of quantized {i1.dtype} is not supported")
    left_shift = 7
    twice_max = 2 * float(max(single(i1.scale), single(i2.scale)))
    scale1 = _rescaled_lt1(_smaller_than_one(call, float(single(i1.scale)) / twice_max, "input 1"))
    scale2 = _rescaled_lt1(_smaller_than_one(call, float(single(i2.scale)) / twice_max, "input 2"))
    real_out = twice_max * twice_max / float(single(1 << (2 * left_shift)) * single(out.scale))
    scale_out = _rescaled_lt1(_smaller_than_one(call, real_out, "output"))

    def body(a: V, b: V) -> V:
        diff = scale1((a - i1.zero_point) << left_shift) - scale2((b - i2.zero_point) << left_shift)
        return clamp(scale_out(wrap32(diff * diff)) + out.zero_point, -128, 127)

    return body


def _div(call: KernelCall) -> Callable[[V, V], V]:
    """Quantized DIV: the divisor's fixed-point reciprocal (GetReciprocal), the dividend's
    headroom, one multiplier s1 / (s2 s_out); the final shift as TFLite's x86 build does it
    (a shift past 31 bits wraps, so 0 / b lands on zero point + 1, as in TFLite)."""
    i1, i2, out = call.inputs[0], call.inputs[1], call.out
    multiplier, shift = quantize_multiplier(
        float(single(i1.scale) / (single(i2.scale) * single(out.scale)))
    )
    lo, hi = _act_range(call)

    def body(a: V, b: V) -> V:
        v1, v2 = a - i1.zero_point, b - i2.zero_point
        v1 = where(v2 < 0, 0 - v1, v1)
        v2 = where(v2 < 0, 0 - v2, v2)
        reciprocal, reciprocal_shift = get_reciprocal(v2, 31)
        headroom = count_leading_zeros32(where(v1 < 0, v1 ^ -1, v1)) - 1
        unscaled = (wrap32(v1 << headroom) * reciprocal + (1 << 30)) >> 31
        exponent = (reciprocal_shift + headroom) - shift
        y = _rdbp_x86(srdhm(unscaled, multiplier), exponent)
        return clamp(y + out.zero_point, lo, hi)

    return body


def _rdbp_x86(x: V, exponent: V) -> V:
    """RoundingDivideByPOT as TFLite's x86 build computes it for any int32 exponent: out of
    0..31 the mask truncates to -1 and `sar` takes the shift count mod 32."""
    in_range = (exponent >= 0) & (exponent <= 31)
    wrapped = (x >> (exponent & 31)) + where(x >= 0, x.lift(1), 0)
    return where(in_range, rdbp_var(x, clamp(exponent, 0, 31)), wrapped)


def _comparison_scale(call: KernelCall, info: TensorInfo) -> Callable[[V], V]:
    """TFLite's ComparisonWithScaling: a quantized input on a common fine scale."""
    if float(single(info.scale)) >= 1:
        raise call.error(f"comparison of a quantized input with scale {info.scale:g} >= 1")
    rescale = _rescaled_lt1(quantize_multiplier(float(single(info.scale))))
    return lambda x: rescale(wrap32((x - info.zero_point) << 8))


def _compare(call: KernelCall) -> Callable[[V, V], V]:
    """LESS / GREATER / EQUAL of quantized inputs, rescaled where TFLite rescales."""
    i1, i2 = call.inputs[0], call.inputs[1]
    fn = FLOAT_BINARY[call.builtin]
    scaled_int16 = call.builtin == "EQUAL"
    scaled = i1.dtype in BYTES or (i1.dtype == np.int16 and scaled_int16)
    if not (scaled and i1.quant is not None and i2.quant is not None):
        return fn
    s1, s2 = _comparison_scale(call, i1), _comparison_scale(call, i2)
    return lambda a, b: fn(s1(a), s2(b))


QUANTIZED_BINARY: dict[str, Callable[[KernelCall], Callable[[V, V], V]]] = {
    "ADD": lambda call: _add_sub(call, 1),
    "SUB": lambda call: _add_sub(call, -1),
    "MUL": _mul,
    "DIV": _div,
    "SQUARED_DIFFERENCE": _squared_difference,
    "MAXIMUM": lambda call: maximum,
    "MINIMUM": lambda call: minimum,
    "LESS": _compare,
    "GREATER": _compare,
    "EQUAL": _compare,
}


def plan_binary(op: Operation) -> Plan:
    """Elementwise binary ops with broadcasting: float32, plain integers, booleans, and the
    quantized int8/uint8/int16 arithmetic of TFLite's reference kernels."""
    call = make_call(op)
    a, out = call.inputs[0], call.out
    if call.builtin in LOGICAL_BINARY:
        return Arith(LOGICAL_BINARY[call.builtin], i1)
    table = uniform_constant_table(op, call)
    if table is not None:
        return table
    if a.dtype == np.float32:
        return Arith(_with_activation(call, FLOAT_BINARY[call.builtin]), f32)
    quantized = a.quant is not None and a.dtype in QUANTIZED
    if not quantized:
        if a.dtype.kind not in "iu":
            raise Unsupported(f"{call.builtin} of {a.dtype} is not supported")
        return Arith(_with_activation(call, INT_BINARY[call.builtin]), storage_type(a.dtype))
    if call.builtin not in QUANTIZED_BINARY:
        raise Unsupported(f"quantized {call.builtin} of two tensors is not supported")
    del out
    return Arith(QUANTIZED_BINARY[call.builtin](call), i64)


register_plan(
    plan_binary,
    "tfl.add",
    "tfl.sub",
    "tfl.mul",
    "tfl.div",
    "tfl.squared_difference",
    "tfl.maximum",
    "tfl.minimum",
    "tfl.less",
    "tfl.greater",
    "tfl.equal",
    "tfl.logical_and",
    "tfl.logical_or",
)


# ----------------------------------------------------------------------------- unary ops


def round_half_away(x: V) -> V:
    """C's round() of floats, exactly: halves away from zero (x - trunc(x) is exact)."""
    t = trunc(x)
    away = where(x < 0.0, x.lift(-1.0), 1.0)
    return t + where(absf(x - t) >= 0.5, away, 0.0)


FLOAT_UNARY: dict[str, Callable[[V], V]] = {
    "NEG": lambda x: -x,
    "ABS": absf,
    "SQRT": sqrt,
    "RSQRT": lambda x: 1.0 / sqrt(x),
    "EXP": exp,
    "LOG": log,
    "SQUARE": lambda x: x * x,
    "FLOOR": floor,
}


def _quant_consts(info: TensorInfo, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Scales (float32) and zero points (int32) shaped to broadcast along the quantized axis."""
    q = info.quant
    scale, zero_point = q.scale_array(), q.zero_point_array()
    shape = [1] * ndim
    if q.axis is not None:
        shape[q.axis] = -1
    else:
        scale, zero_point = scale[:1], zero_point[:1]
    return scale.reshape(shape), zero_point.reshape(shape)


def _dequantize(call: KernelCall) -> Arith:
    """int8/uint8/int16 (per tensor or per axis) or float16 to float32, as TFLite rounds."""
    src = call.inputs[0]
    if src.dtype == np.float16:
        return Arith(lambda x: convert(x, f32), f32)
    if src.quant is None or src.dtype not in QUANTIZED:
        raise Unsupported(f"DEQUANTIZE from {src.dtype} is not supported")
    scale, zero_point = _quant_consts(src, len(src.shape))

    def body(x: V, s: V, zp: V) -> V:
        return convert(convert(x, i32) - zp, f32) * s

    return Arith(body, i32, (scale, zero_point))


def _quantize(call: KernelCall) -> Arith | Table:
    """float32 to int8/uint8/int16 (zp + round(x / scale) in float32, saturated), or a
    requantization between integer types (one Q31 multiplier)."""
    src, dst = call.inputs[0], call.out
    if dst.quant is None or dst.dtype not in QUANTIZED:
        raise Unsupported(f"QUANTIZE to {dst.dtype} is not supported")
    info = np.iinfo(dst.dtype)
    if src.dtype == np.float32:
        scale, zero_point = _quant_consts(dst, len(dst.shape))

        def body(x: V, s: V, zp: V) -> V:
            zp_f = convert(zp, f32)
            q = clamp(round_half_away(x / s), info.min - zp_f, info.max - zp_f)
            return convert(q, i32) + zp

        return Arith(body, f32, (scale, zero_point))
    if src.quant is None or src.dtype not in QUANTIZED:
        raise Unsupported(f"QUANTIZE from {src.dtype} is not supported")
    if src.dtype in BYTES:
        return unary_table(call)
    rescale = requantizer(float(np.float64(src.scale) / np.float64(dst.scale)))
    return Arith(
        lambda x: clamp(rescale(x - src.zero_point) + dst.zero_point, info.min, info.max), i64
    )


def _cast(call: KernelCall) -> Arith:
    """CAST as numpy's astype, except float to integer: truncate, saturate, NaN to the max."""
    src, dst = call.inputs[0].dtype, call.out.dtype
    if dst == np.bool_:
        compute = i1 if src == np.bool_ else storage_type(src)
        return Arith(lambda x: x if src == np.bool_ else x.ne(0), compute)
    out_type = storage_type(dst)
    if src.kind == "f" and dst.kind in "iu":
        info = np.iinfo(dst)

        def saturating(x: V) -> V:
            x = convert(x, f64)
            y = where(x.ne(x), float(info.max), clamp(trunc(x), float(info.min), float(info.max)))
            return convert(y, i64)

        return Arith(saturating, f32 if src == np.float32 else storage_type(src))
    compute = i1 if src == np.bool_ else storage_type(src)
    unsigned = src in (np.uint8, np.bool_)
    return Arith(lambda x: convert(x, out_type, unsigned), compute)


def _neg(call: KernelCall) -> Arith:
    """NEG on the stored values (quantized tensors too), wrapping."""
    dtype = call.inputs[0].dtype
    if dtype == np.float32:
        return Arith(lambda x: -x, f32)
    return Arith(lambda x: 0 - x, storage_type(dtype))


def _abs_int(call: KernelCall) -> Arith:
    """ABS of integers: plain ones wrap; quantized int16 rescales |x - zp| when scales differ."""
    src, dst = call.inputs[0], call.out
    if src.quant is None:
        return Arith(lambda x: where(x < 0, 0 - x, x), storage_type(src.dtype))
    if dst.quant is None or src.dtype != np.int16:
        raise Unsupported(f"ABS of {src.dtype} is not supported")
    ratio = float(single(src.scale) / single(dst.scale))
    rescale = requantizer(ratio) if ratio != 1.0 else (lambda v: v)

    def body(x: V) -> V:
        value = x - src.zero_point
        magnitude = where(value < 0, 0 - value, value)
        return clamp(rescale(magnitude) + dst.zero_point, -32768, 32767)

    return Arith(body, i64)


SPECIAL_UNARY: dict[str, Callable[[KernelCall], Plan]] = {
    "DEQUANTIZE": _dequantize,
    "QUANTIZE": _quantize,
    "CAST": _cast,
    "NEG": _neg,
}
"""Unary ops whose every dtype has its own plan (the rest: float math, or a byte table)."""


def plan_unary(op: Operation) -> Plan:
    """Elementwise unary ops: float32 math (vectorised approximations of exp and log), the
    conversions, and every other op on 8-bit data as a table made by the reference kernel."""
    call = make_call(op)
    if call.builtin == "LOGICAL_NOT":
        return Arith(lambda x: x ^ 1, i1)
    if call.builtin == "DEQUANTIZE" and constant_operand(op, 0) is not None:
        return Precomputed(KERNELS["DEQUANTIZE"](call, constant_operand(op, 0)))
    if call.builtin in SPECIAL_UNARY:
        return SPECIAL_UNARY[call.builtin](call)
    x = call.inputs[0]
    if x.dtype == np.float32:
        return Arith(FLOAT_UNARY[call.builtin], f32)
    if x.dtype in BYTES:
        return unary_table(call)
    if call.builtin == "ABS":
        return _abs_int(call)
    if x.dtype == np.int16 and x.quant is not None:
        return unary_table(call)
    raise Unsupported(f"{call.builtin} of {x.dtype} is not supported by the CPU backend")


register_plan(
    plan_unary, *(f"tfl.{name.lower()}" for name in (*FLOAT_UNARY, *SPECIAL_UNARY, "LOGICAL_NOT"))
)
