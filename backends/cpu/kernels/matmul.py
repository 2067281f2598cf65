"""CPU kernels for matrix products: the register-tiled GEMM, FULLY_CONNECTED and BATCH_MATMUL.

Every product kernel (these two ops, and CONV_2D / TRANSPOSE_CONV in conv.py) computes
C[M][N] = A[M][K] · B[K][N] with one loop nest (`emit_gemm`):

    for each block of MR rows (A):          the last block overlaps back to end at M
        pack the block's rows if needed     (im2col, the +128 shift of int8, ...)
        for each panel of NR columns (B):   the last panel overlaps back to end at N
            MR x NR accumulators start      (bias, or a folded bias)
            for k:  NR/L vector loads of packed B, MR broadcasts of A, MR·NR/L FMAs
            epilogue from registers         (activation, requantization) and store

Overlapping tails recompute a few rows or columns and store equal values twice, so there
are no partial vectors and no remainder loops. The accumulators are loop-carried vectors
(LLVM keeps them in zmm registers). Three products share the nest:

- float32: `vector.fma` of a broadcast A value and a B vector;
- int8 with AVX512-VNNI: `vpdpbusd` sums 4 products of unsigned A bytes and signed B
  bytes per 32-bit lane; A is packed shifted by +128 (x ^ 0x80), and the bias is folded
  with −(128 + zp_in)·Σw so the sums equal TFLite's Σ (x − zp_in)·w exactly;
- int8 widening (any x86-64): sign-extended products summed in int32.

Integer sums wrap modulo 2^32 exactly like TFLite's int32 accumulators, whatever the
order, so quantized results are bit-exact.

Row blocks are independent, so a product kernel with enough work is splittable (base.py):
`emit_gemm(..., part)` computes only that part's share of the row blocks, packing rows into
the part's own scratch region; every part computes its rows exactly as one whole call does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, func, llvm, math, memref, scf, vector
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    TensorType,
    VectorType,
    f32,
    f64,
    i8,
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
    mark_parts,
    split_parts,
)
from litec.backends.cpu.kernels.packing import (
    F32,
    I8,
    I32,
    U8,
    constant,
    folded_bias,
    pack_f32,
    pack_i8,
    pack_vnni,
    padded_depth,
    panel_starts,
    use_vnni,
)
from litec.dialects.tfl_reference.common import quantized_activation_range
from litec.dialects.tfl_reference.conv import CLAMPING_ACTIVATIONS, _channel_scales
from litec.dialects.tfl_reference.core import KernelCall, TensorInfo, make_call
from litec.lowering.to_llvm import llvm_ops
from litec.runtime.fixedpoint import quantize_multiplier

INDEX = IndexType()
Val = int | SSAValue
"""An index that is a compile-time int where possible, an SSA value otherwise."""

# ----------------------------------------------------------------------------- IR building


@dataclass
class _Constants:
    """The constants of the kernel being built: one each, at the top of its entry block."""

    entry: Block
    values: dict[tuple[float, Attribute], SSAValue] = field(default_factory=dict)


_POOL: list[_Constants] = []


def ix(v: Val) -> SSAValue:
    """An index value (a constant for an int)."""
    if isinstance(v, SSAValue):
        return v
    return const(v, INDEX)


def const(value: float, typ: Attribute) -> SSAValue:
    """A scalar or splat-vector constant, shared within the kernel being built."""
    key = (value, typ)
    pool = _POOL[-1] if _POOL else None
    if pool is not None and key in pool.values:
        return pool.values[key]
    if isinstance(typ, VectorType):
        op = arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(typ, [value]))
    elif isinstance(typ, IntegerType | IndexType):
        op = arith.ConstantOp(IntegerAttr(int(value), typ))
    else:
        op = arith.ConstantOp(FloatAttr(float(value), typ))
    if pool is not None:
        op.detach()
        first = pool.entry.first_op
        if first is None:
            pool.entry.add_op(op)
        else:
            pool.entry.insert_op_before(op, first)
        pool.values[key] = op.result
    return op.result


def add(a: Val, b: Val) -> Val:
    """a + b on indices, folded when both are known."""
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if b == 0:
        return a
    if a == 0:
        return b
    return arith.AddiOp(ix(a), ix(b)).result


def mul(a: Val, b: Val) -> Val:
    """a · b on indices, folded when both are known."""
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if a == 0 or b == 0:
        return 0
    if b == 1:
        return a
    if a == 1:
        return b
    return arith.MuliOp(ix(a), ix(b)).result


def div(a: Val, b: int) -> Val:
    """a // b on non-negative indices."""
    if isinstance(a, int):
        return a // b
    return a if b == 1 else arith.DivUIOp(a, ix(b)).result


def rem(a: Val, b: int) -> Val:
    """a % b on non-negative indices."""
    if isinstance(a, int):
        return a % b
    return 0 if b == 1 else arith.RemUIOp(a, ix(b)).result


def minimum(a: Val, b: int) -> Val:
    """min(a, b) on indices."""
    if isinstance(a, int):
        return min(a, b)
    less = arith.CmpiOp(a, ix(b), "slt").result
    return arith.SelectOp(less, a, ix(b)).result


def maximum(a: Val, b: int) -> Val:
    """max(a, b) on indices."""
    if isinstance(a, int):
        return max(a, b)
    less = arith.CmpiOp(a, ix(b), "slt").result
    return arith.SelectOp(less, ix(b), a).result


def below(a: Val, bound: int) -> SSAValue:
    """0 <= a < bound for an index that may be negative (one unsigned compare)."""
    return arith.CmpiOp(ix(a), ix(bound), "ult").result


def both(a: SSAValue, b: SSAValue) -> SSAValue:
    return arith.AndIOp(a, b).result


Body = Callable[..., Sequence[SSAValue]]


def loop(lo: Val, hi: Val, body: Body, inits: Sequence[SSAValue] = (), step: int = 1):
    """`scf.for` from lo to hi; body(iv, *carried) returns the carried values.

    A loop of one known iteration is emitted inline (iv an int), one of none not at all.
    """
    if isinstance(lo, int) and isinstance(hi, int):
        if hi <= lo:
            return list(inits)
        if hi - lo <= step:
            return list(body(lo, *inits))
    block = Block(arg_types=[INDEX, *(v.type for v in inits)])
    with ImplicitBuilder(block):
        scf.YieldOp(*body(block.args[0], *block.args[1:]))
    return list(scf.ForOp(ix(lo), ix(hi), ix(step), list(inits), Region(block)).results)


def when(cond: SSAValue, then: Body, otherwise: Body, types: Sequence[Attribute] = ()):
    """`scf.if`: both branches return values of `types`."""
    regions = []
    for branch in (then, otherwise):
        block = Block()
        with ImplicitBuilder(block):
            scf.YieldOp(*branch())
        regions.append(Region(block))
    return list(scf.IfOp(cond, list(types), *regions).results)


@functools.cache
def vtype(elem: Attribute, lanes: int) -> VectorType:
    """vector<lanes x elem> (cached: building a VectorType is slow in xDSL)."""
    return VectorType(elem, [lanes])


def elem_of(ref: SSAValue) -> Attribute:
    typ = ref.type
    assert isinstance(typ, MemRefType)
    return typ.element_type


def vload(ref: SSAValue, i: Val, lanes: int) -> SSAValue:
    """`lanes` consecutive elements from ref[i]."""
    return vector.LoadOp(ref, [ix(i)], vtype(elem_of(ref), lanes)).result


def vstore(v: SSAValue, ref: SSAValue, i: Val) -> None:
    vector.StoreOp(v, ref, [ix(i)])


def load(ref: SSAValue, i: Val) -> SSAValue:
    return memref.LoadOp.get(ref, [ix(i)]).res


def store(x: SSAValue, ref: SSAValue, i: Val) -> None:
    memref.StoreOp.get(x, ref, [ix(i)])


def splat(x: SSAValue, lanes: int) -> SSAValue:
    return vector.BroadcastOp(x, vtype(x.type, lanes)).vector


def lanes_of(v: SSAValue) -> int:
    typ = v.type
    assert isinstance(typ, VectorType)
    return typ.get_shape()[0]


def like(v: SSAValue, elem: Attribute) -> Attribute:
    """The type of v with another element type (v a vector or a scalar)."""
    return vtype(elem, lanes_of(v)) if isinstance(v.type, VectorType) else elem


def sext(x: SSAValue, elem: Attribute) -> SSAValue:
    """Sign extension (scalars or vectors; xDSL's arith casts take scalars only)."""
    return llvm.SExtOp(x, like(x, elem)).res


def widen(x: SSAValue, unsigned: bool) -> SSAValue:
    """int8 (or uint8 when `unsigned`) values, scalar or vector, as int32."""
    if unsigned:
        return llvm.ZExtOp(x, like(x, i32)).res
    return sext(x, i32)


def to_float(x: SSAValue, elem: Attribute) -> SSAValue:
    """Signed integer to float (scalars or vectors)."""
    return llvm.SIToFPOp(x, like(x, elem)).result


def to_int(x: SSAValue, elem: Attribute) -> SSAValue:
    """Float to signed integer, toward zero (scalars or vectors; x86 gives INT_MIN out of range)."""
    return llvm_ops.FPToSIOp(x, like(x, elem)).result


def intrinsic(name: str, args: Sequence[SSAValue], typ: Attribute) -> SSAValue:
    return llvm.CallIntrinsicOp(name, list(args), [typ]).results[0]


def memref_of(elem: Attribute, count: int) -> MemRefType:
    """The flat memref type of one bound buffer (a tensor of `count` elements)."""
    return MemRefType(elem, [max(count, 1)])


@dataclass(frozen=True)
class Part:
    """Which part of a splittable kernel a call computes (see base.py): part `index` of
    `count`, known (the whole kernel: 0 of 1) or read from the trailing argument."""

    index: Val = 0
    count: Val = 1

    @staticmethod
    def of(descriptor: SSAValue) -> Part:
        """The part a `memref<2xi64>` descriptor (part, parts) names."""
        index, count = (arith.IndexCastOp(load(descriptor, i), INDEX).result for i in (0, 1))
        return Part(index, count)

    def blocks(self, total: int) -> tuple[Val, Val]:
        """This part's share [lo, hi) of `total` blocks: lo = index·total / count."""
        if isinstance(self.count, int):
            return self.index * total // self.count, (self.index + 1) * total // self.count
        lo = arith.DivUIOp(ix(mul(self.index, total)), self.count).result
        hi = arith.DivUIOp(ix(mul(add(self.index, 1), total)), self.count).result
        return lo, hi

    def scratch(self, size: int) -> Val:
        """Where this part's region of `size` elements starts in a kernel's scratch."""
        return mul(self.index, size)


WHOLE = Part()
"""The whole kernel, in one call."""


def kernel_function(
    symbol: str, arg_types: Sequence[Attribute], body: Callable, parts: int = 0
) -> func.FuncOp:
    """A kernel-level `func.func @symbol` whose body(*args) emits its ops.

    With `parts` > 0 the function is splittable (base.py): it takes a trailing
    `memref<2xi64>` descriptor and body(*args, part=Part) computes that part's share."""
    types = [*arg_types, memref_of(i64, 2)] if parts else list(arg_types)
    block = Block(arg_types=types)
    _POOL.append(_Constants(block))
    try:
        with ImplicitBuilder(block):
            if parts:
                body(*block.args[:-1], part=Part.of(block.args[-1]))
            else:
                body(*block.args)
            func.ReturnOp()
    finally:
        _POOL.pop()
    return mark_parts(func.FuncOp(symbol, (types, []), Region(block)), parts)


# ----------------------------------------------------------------------------- copying runs


def copy_run(src: SSAValue, s: Val, dst: SSAValue, d: Val, count: int, lanes: int, convert=None):
    """dst[d : d+count] = convert(src[s : s+count]), in vectors (the last one overlapping)."""
    width = min(lanes, count)
    if count == 0:
        return

    def chunk(j):
        off = minimum(mul(j, width), count - width)
        v = vload(src, add(s, off), width)
        vstore(convert(v) if convert else v, dst, add(d, off))
        return []

    loop(0, -(-count // width), chunk)


def fill_run(dst: SSAValue, d: Val, count: int, lanes: int, value: SSAValue) -> None:
    """dst[d : d+count] = value (a scalar SSA value), in vectors."""
    width = min(lanes, count)
    if count == 0:
        return
    v = splat(value, width)

    def chunk(j):
        vstore(v, dst, add(d, minimum(mul(j, width), count - width)))
        return []

    loop(0, -(-count // width), chunk)


# ----------------------------------------------------------------------------- the GEMM


@dataclass(frozen=True)
class Tile:
    """A register tile: `mr` rows × `nv` vectors of `lanes` columns (nr = nv·lanes)."""

    mr: int
    nv: int
    lanes: int

    @property
    def nr(self) -> int:
        return self.nv * self.lanes


ACCUMULATORS = 24
"""Accumulator vectors of a tile (of 32 zmm registers; the rest hold B and A)."""


def choose_tile(m: int, n: int, max_mr: int = 12, max_nv: int = 4) -> Tile:
    """The tile with the fewest vector FMAs per row of A, then the widest panel.

    Columns come in vectors of 16 lanes; fewer than 16 columns make one narrow vector.
    """
    if n < 16:
        return Tile(min(m, max_mr), 1, n)

    def cost(nv: int) -> tuple[int, int]:
        return (len(panel_starts(n, 16 * nv)) * nv, -nv)

    nv = min((v for v in range(1, max_nv + 1) if 16 * v <= n), key=cost)
    return Tile(min(m, max_mr, ACCUMULATORS // nv), nv, 16)


@dataclass(frozen=True)
class RowBlock:
    """Where the rows of one block of A are: row r starts at ref[bases[r]], k steps by kstride."""

    ref: SSAValue
    bases: list[Val]
    kstride: int = 1


Rows = Callable[[Val, int], RowBlock]
"""rows(m0, mr) -> the block of rows m0 .. m0+mr of A (may emit packing code first)."""


def direct_rows(ref: SSAValue, row_stride: int, offset: Val = 0, kstride: int = 1) -> Rows:
    """Rows read in place: row m starts at offset + m·row_stride."""

    def rows(m0: Val, mr: int) -> RowBlock:
        return RowBlock(ref, [add(offset, mul(add(m0, r), row_stride)) for r in range(mr)], kstride)

    return rows


def packed_rows(
    scratch: SSAValue, width: int, fill_row: Callable[[Val, Val], None], offset: Val = 0
) -> Rows:
    """Rows packed into scratch [mr][width] (from element `offset`) before use;
    fill_row(m, dst_offset) writes row m."""

    def rows(m0: Val, mr: int) -> RowBlock:
        def pack(r):
            fill_row(add(m0, r), add(offset, mul(r, width)))
            return []

        loop(0, mr, pack)
        return RowBlock(scratch, [add(offset, r * width) for r in range(mr)])

    return rows


class Product:
    """How one k step of a tile multiplies: B layout, accumulator type, the step itself."""

    group = 1
    """k values per B element group (VNNI: 4)."""

    def depth(self, k: int) -> int:
        """Trip count of the k loop."""
        return k

    def step(self, a: RowBlock, b: SSAValue, base: Val, kk: Val, tile: Tile, accs) -> list:
        raise NotImplementedError


class F32Product(Product):
    """float32: acc += broadcast(A[r][k]) · B[k][panel columns] (`mul_add`), k ascending:
    TFLite's reference order."""

    def step(self, a, b, base, kk, tile, accs):
        w = [
            vload(b, add(base, add(mul(kk, tile.nr), v * tile.lanes)), tile.lanes)
            for v in range(tile.nv)
        ]
        out = []
        for r in range(tile.mr):
            x = splat(load(a.ref, add(a.bases[r], mul(kk, a.kstride))), tile.lanes)
            out += [mul_add(accs[r * tile.nv + v], x, w[v]) for v in range(tile.nv)]
        return out


def mul_add(acc: SSAValue, x: SSAValue, w: SSAValue) -> SSAValue:
    """acc + x·w: a fused multiply-add, or with `KernelOptions.exact_float` the product
    rounded first (separate fmul and fadd, which LLVM never contracts), as TFLite's
    reference kernels compute it."""
    if kernel_options().exact_float:
        return arith.AddfOp(acc, arith.MulfOp(x, w).result).result
    return vector.FMAOp(x, w, acc).res


VPDPBUSD = "llvm.x86.avx512.vpdpbusd.512"


class VnniProduct(Product):
    """int8 with AVX512-VNNI: 4 k at a time, unsigned (shifted) A bytes × signed B bytes."""

    group = 4

    def depth(self, k):
        return padded_depth(k) // 4

    def step(self, a, b, base, kk, tile, accs):
        assert a.kstride == 1 and tile.lanes == 16
        w = [vload(b, add(base, add(mul(kk, 4 * tile.nr), 64 * v)), 64) for v in range(tile.nv)]
        acc_type = vtype(i32, 16)
        out = []
        for r in range(tile.mr):
            quad = vload(a.ref, add(a.bases[r], mul(kk, 4)), 4)
            word = vector.ExtractOp(vector.BitcastOp(quad, vtype(i32, 1)).result, [0], i32)
            x = vector.BitcastOp(splat(word.result, 16), vtype(i8, 64)).result
            out += [
                intrinsic(VPDPBUSD, [accs[r * tile.nv + v], x, w[v]], acc_type)
                for v in range(tile.nv)
            ]
        return out


@dataclass
class WideningProduct(Product):
    """Integers widened to int32: acc += (A[r][k] − a_zero) · B (B int8, or int32 centred);
    A is int8, or uint8 when `unsigned`."""

    a_zero: SSAValue | None = None
    unsigned: bool = False

    def step(self, a, b, base, kk, tile, accs):
        w = []
        for v in range(tile.nv):
            raw = vload(b, add(base, add(mul(kk, tile.nr), v * tile.lanes)), tile.lanes)
            w.append(raw if elem_of(b) == i32 else sext(raw, i32))
        out = []
        for r in range(tile.mr):
            x = widen(load(a.ref, add(a.bases[r], mul(kk, a.kstride))), self.unsigned)
            if self.a_zero is not None:
                x = arith.SubiOp(x, self.a_zero).result
            xs = splat(x, tile.lanes)
            for v in range(tile.nv):
                prod = arith.MuliOp(xs, w[v]).result
                out.append(arith.AddiOp(accs[r * tile.nv + v], prod).result)
        return out


class Epilogue:
    """What a tile starts from and what happens to it after the k loop."""

    def columns(self, n0: Val, tile: Tile):
        """Per-panel values (loaded once per panel); passed back to init and finish."""
        return n0

    def init(self, cols, v: int, tile: Tile) -> SSAValue:
        raise NotImplementedError

    def finish(self, cols, r: int, v: int, acc: SSAValue, m0: Val, n0: Val, tile: Tile) -> None:
        raise NotImplementedError


def clamp_start(i: Val, size: int, total: int) -> Val:
    """Start of block i of `size` among `total`: i·size, the last one moved back to fit."""
    return minimum(mul(i, size), total - size)


def row_blocks(m: int, tile: Tile) -> int:
    """How many blocks of rows `emit_gemm` computes."""
    return -(-m // tile.mr)


def gemm_parts(m: int, n: int, k: int, tile: Tile) -> int:
    """The parts a GEMM's row blocks may be split into (`split_parts`)."""
    return split_parts(row_blocks(m, tile), m * n * k)


def emit_gemm(
    m: int,
    n: int,
    k: int,
    tile: Tile,
    product: Product,
    rows: Rows,
    b: SSAValue,
    epi: Epilogue,
    part: Part = WHOLE,
    b_offset: Val = 0,
) -> None:
    """C[M][N] = A · B over tiles; B packed in panels of tile.nr columns (packing.py),
    from element `b_offset` of `b`.

    `part`: compute only that part's share of the row blocks."""
    depth = product.depth(k)
    panel_size = depth * tile.nr * product.group

    def row_block(i):
        m0 = clamp_start(i, tile.mr, m)
        block = rows(m0, tile.mr)

        def panel(p):
            n0 = clamp_start(p, tile.nr, n)
            cols = epi.columns(n0, tile)
            inits = [epi.init(cols, v, tile) for _ in range(tile.mr) for v in range(tile.nv)]
            base = add(b_offset, mul(p, panel_size))

            def kstep(kk, *accs):
                return product.step(block, b, base, kk, tile, accs)

            accs = loop(0, depth, kstep, inits)
            for r in range(tile.mr):
                for v in range(tile.nv):
                    epi.finish(cols, r, v, accs[r * tile.nv + v], m0, n0, tile)
            return []

        loop(0, len(panel_starts(n, tile.nr)), panel)
        return []

    loop(*part.blocks(row_blocks(m, tile)), row_block)


# ----------------------------------------------------------------------------- epilogues


def out_index(ldc: int, m0: Val, r: int, n0: Val, v: int, tile: Tile, offset: Val = 0) -> Val:
    return add(offset, add(mul(add(m0, r), ldc), add(n0, v * tile.lanes)))


FLOAT_BOUNDS = {"RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}
"""Fused activations that clamp float results (TANH and SIGN_BIT clamp nothing)."""


def float_activation(x: SSAValue, act: str) -> SSAValue:
    """The clamp of a fused activation (TFLite's ActivationFunctionWithMinMax)."""
    lo, hi = FLOAT_BOUNDS.get(act, (None, None))
    if lo is not None:
        x = arith.MaxnumfOp(x, const(lo, x.type)).result
    if hi is not None:
        x = arith.MinnumfOp(x, const(hi, x.type)).result
    return x


@dataclass
class FloatEpilogue(Epilogue):
    """float32: start from 0, add the bias after the sum (TFLite's order), clamp to the
    activation, store."""

    out: SSAValue
    ldc: int
    bias: SSAValue | None = None
    act: str = "NONE"
    offset: Val = 0

    def init(self, n0, v, tile):
        return const(0.0, vtype(f32, tile.lanes))

    def finish(self, n0, r, v, acc, m0, _, tile):
        if self.bias is not None:
            acc = arith.AddfOp(acc, vload(self.bias, add(n0, v * tile.lanes), tile.lanes)).result
        vstore(
            float_activation(acc, self.act),
            self.out,
            out_index(self.ldc, m0, r, n0, v, tile, self.offset),
        )


@dataclass
class RawEpilogue(Epilogue):
    """int32 sums stored as they are, starting from start[n] (or 0)."""

    out: SSAValue
    ldc: int
    start: SSAValue | None = None
    offset: Val = 0

    def init(self, n0, v, tile):
        if self.start is None:
            return const(0, vtype(elem_of(self.out), tile.lanes))
        return vload(self.start, add(n0, v * tile.lanes), tile.lanes)

    def finish(self, n0, r, v, acc, m0, _, tile):
        vstore(acc, self.out, out_index(self.ldc, m0, r, n0, v, tile, self.offset))


(
    Q_BIAS,
    Q_MULT,
    Q_LEFT,
    Q_TOTAL,
    Q_ROUND,
    Q_NUDGE_LO,
    Q_NUDGE_HI,
    Q_ZERO,
    Q_LOW,
    Q_HIGH,
    Q_INPUT_ZERO,
) = range(11)
"""Rows of the Q31 parameter block (int32 [11][N]). Per channel: the start value (folded
bias), the Q31 multiplier m, the left shift, the total right shift 31 + e, the rounding
correction of negative sums (2^31 when e > 0, as bits), the 64-bit nudge (low and high
words, see `Requant`). Then, repeated: the output zero point, the clamp bounds and the
input zero point. As data, not code, they let same-shaped layers share one kernel."""

ZERO_IN_NUDGE_MAX_SHIFT = 52
"""Largest total shift whose zero point·2^shift still fits the 64-bit nudge with the product."""


def q31_params(bias, mult, shift, zero_point=0, lo=-128, hi=127, input_zero_point=0):
    """The int32 [11][N] Q31 parameter block (see Q_BIAS ... Q_INPUT_ZERO)."""
    bias = np.asarray(bias, np.int64)
    mult, shift = np.broadcast_arrays(np.asarray(mult, np.int64), np.asarray(shift, np.int64))
    right = np.maximum(-shift, 0)
    total = 31 + right
    nudge = [
        (1 << 30) + ((1 << (30 + e)) if e else 0) + (zero_point << t if zero_in_nudge(total) else 0)
        for e, t in zip(right.ravel().tolist(), total.ravel().tolist(), strict=True)
    ]
    nudge = np.array(nudge, np.int64).reshape(right.shape)
    rows = [bias, mult, np.maximum(shift, 0), total, np.where(right > 0, 1 << 31, 0)]
    rows += [nudge & 0xFFFFFFFF, nudge >> 32, zero_point, lo, hi, input_zero_point]
    wide = np.stack([np.broadcast_to(np.asarray(r, np.int64), bias.shape) for r in rows])
    return wide.astype(np.uint32).view(np.int32)


def zero_in_nudge(total) -> bool:
    """Whether the output zero point rides in the nudge (no shift is too large for it)."""
    return int(np.max(total, initial=31)) <= ZERO_IN_NUDGE_MAX_SHIFT


@dataclass(frozen=True)
class Requant:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding), zero point and clamp, exactly.

    TFLite rounds twice: h = (x·m + 2^30) >> 31, then h / 2^e rounded half away from zero.
    Both roundings fold into one 64-bit floor division (e > 0):

        (x·m + 2^30 + 2^(30+e) − [x < 0]·2^31 + zp·2^(31+e)) >> (31 + e)

    ([h < 0] equals [x < 0] for TFLite's multipliers, m in [2^30, 2^31), even at h = 0);
    for e = 0 the nudge is 2^30 and no correction applies. The zero point rides in the nudge
    (`zero_in_nudge`), else it is added after. Even and odd lanes multiply in place as
    64-bit lanes (vpmuldq on x86, no widening shuffles).
    """

    params: SSAValue
    n: int
    zero_point: SSAValue
    lo: SSAValue
    hi: SSAValue
    left: bool = True
    zero_in_nudge: bool = True

    @staticmethod
    def load(params: SSAValue, block: np.ndarray) -> Requant:
        """The requantization of a parameter block: `params` is its kernel argument, `block`
        its compile-time data (which decides what code is needed)."""
        n = block.shape[1]
        zero, lo, hi = (load(params, row * n) for row in (Q_ZERO, Q_LOW, Q_HIGH))
        left = bool((block[Q_LEFT] > 0).any())
        return Requant(params, n, zero, lo, hi, left, zero_in_nudge(block[Q_TOTAL]))

    def row(self, which: int, c: Val, lanes: int) -> SSAValue:
        return vload(self.params, add(which * self.n, c), lanes)

    def channels(self, c: Val, lanes: int) -> dict:
        """Per-channel values for channels c.. (`apply` needs them), made once per block."""
        rows = {r: self.row(r, c, lanes) for r in (Q_MULT, Q_TOTAL, Q_ROUND, Q_NUDGE_LO)}
        rows[Q_NUDGE_HI] = self.row(Q_NUDGE_HI, c, lanes)
        if self.left:
            rows[Q_LEFT] = self.row(Q_LEFT, c, lanes)
        if lanes % 2:
            return {"wide": _wide_channels(rows), **rows}
        return {"pairs": _paired_channels(rows), **rows}

    def apply(self, x: SSAValue, rows: dict) -> SSAValue:
        """int32 lanes x → clamped int32 results (exact), with the values of `channels`."""
        if self.left:
            x = arith.ShLIOp(x, rows[Q_LEFT]).result
        y = _paired_requant(x, rows["pairs"]) if "pairs" in rows else _wide_requant(x, rows["wide"])
        if not self.zero_in_nudge:
            y = arith.AddiOp(y, splat(self.zero_point, lanes_of(x))).result
        return clamp_int(y, self.lo, self.hi)


def _words(v: SSAValue) -> SSAValue:
    """An int32 vector of 2·L lanes as L int64 lanes (even lanes low, odd lanes high)."""
    return vector.BitcastOp(v, vtype(i64, lanes_of(v) // 2)).result


def _low_words(v: SSAValue) -> SSAValue:
    return arith.AndIOp(v, const(0xFFFFFFFF, v.type)).result


def _high_words(v: SSAValue) -> SSAValue:
    return arith.ShRUIOp(v, const(32, v.type)).result


def _paired_channels(rows: dict) -> tuple:
    """(m, m of the odd lanes, then for the even and for the odd lanes: total shift, rounding
    correction, nudge) as int64 lanes."""
    m = _words(rows[Q_MULT])
    total, fix, lo, hi = (_words(rows[r]) for r in (Q_TOTAL, Q_ROUND, Q_NUDGE_LO, Q_NUDGE_HI))
    upper = const(-(1 << 32), hi.type)
    nudge_even = arith.OrIOp(_low_words(lo), arith.ShLIOp(hi, const(32, hi.type)).result)
    nudge_odd = arith.OrIOp(_high_words(lo), arith.AndIOp(hi, upper).result)
    m_odd = arith.ShRSIOp(m, const(32, m.type)).result
    return (
        m,
        m_odd,
        (_low_words(total), _low_words(fix), nudge_even.result),
        (_high_words(total), _high_words(fix), nudge_odd.result),
    )


def _paired_requant(x: SSAValue, channels: tuple) -> SSAValue:
    m, m_odd, even, odd = channels
    xs = _words(x)
    c32 = const(32, xs.type)
    x_even = arith.ShRSIOp(arith.ShLIOp(xs, c32).result, c32).result
    x_odd = arith.ShRSIOp(xs, c32).result
    m_even = arith.ShRSIOp(arith.ShLIOp(m, c32).result, c32).result
    results = []
    for xw, mw, (total, fix, nudge) in ((x_even, m_even, even), (x_odd, m_odd, odd)):
        wide = arith.AddiOp(arith.MuliOp(xw, mw).result, nudge).result
        wide = arith.SubiOp(wide, arith.AndIOp(xw, fix).result).result
        results.append(arith.ShRSIOp(wide, total).result)
    odd_high = arith.ShLIOp(results[1], c32).result
    both_halves = arith.OrIOp(_low_words(results[0]), odd_high).result
    return vector.BitcastOp(both_halves, vtype(i32, lanes_of(x))).result


def _wide_channels(rows: dict) -> tuple:
    """(m, total shift, rounding correction, nudge) as int64 lanes, one per channel."""
    unsigned = [llvm.ZExtOp(rows[r], like(rows[r], i64)).res for r in (Q_TOTAL, Q_ROUND)]
    lo = llvm.ZExtOp(rows[Q_NUDGE_LO], like(rows[Q_NUDGE_LO], i64)).res
    hi = sext(rows[Q_NUDGE_HI], i64)
    nudge = arith.OrIOp(lo, arith.ShLIOp(hi, const(32, hi.type)).result).result
    return sext(rows[Q_MULT], i64), *unsigned, nudge


def _wide_requant(x: SSAValue, channels: tuple) -> SSAValue:
    m, total, fix, nudge = channels
    xw = sext(x, i64)
    wide = arith.AddiOp(arith.MuliOp(xw, m).result, nudge).result
    wide = arith.SubiOp(wide, arith.AndIOp(xw, fix).result).result
    return narrow(arith.ShRSIOp(wide, total).result, i32)


def clamp_int(x: SSAValue, lo: int | SSAValue, hi: int | SSAValue) -> SSAValue:
    """max(lo, min(x, hi)) on integer vectors; bounds known, or scalar SSA values."""

    def bound(b):
        return splat(b, lanes_of(x)) if isinstance(b, SSAValue) else const(b, x.type)

    return arith.MinSIOp(arith.MaxSIOp(x, bound(lo)).result, bound(hi)).result


def narrow(x: SSAValue, elem: Attribute) -> SSAValue:
    """Integer truncation (scalars or vectors)."""
    return llvm.TruncOp(x, like(x, elem)).res


@dataclass
class QuantizedEpilogue(Epilogue):
    """int8 from int32 sums: start from the folded bias, requantize (Q31), store bytes.

    The panel's per-channel rows are loaded once per panel (`columns`)."""

    out: SSAValue
    ldc: int
    requant: Requant
    offset: Val = 0

    def columns(self, n0, tile):
        rq = self.requant
        return n0, [rq.channels(add(n0, v * tile.lanes), tile.lanes) for v in range(tile.nv)]

    def init(self, cols, v, tile):
        return self.requant.row(Q_BIAS, add(cols[0], v * tile.lanes), tile.lanes)

    def finish(self, cols, r, v, acc, m0, n0, tile):
        y = self.requant.apply(acc, cols[1][v])
        vstore(narrow(y, i8), self.out, out_index(self.ldc, m0, r, n0, v, tile, self.offset))


@dataclass
class DoubleRescaleEpilogue(Epilogue):
    """FULLY_CONNECTED's reference requantization: (int32)round(acc · s_x·s_w/s_out) in double.

    x86's conversion of an out-of-range double gives INT32_MIN, as in TFLite. `bias`: the
    int32 start values [N] followed by the output zero point and the clamp bounds (data, so
    same-shaped layers share the kernel); `scale`: s_x·s_w[n]/s_out as doubles.
    """

    out: SSAValue
    ldc: int
    bias: SSAValue
    scale: SSAValue
    n: int

    def __post_init__(self):
        self.zero_point, self.lo, self.hi = (load(self.bias, self.n + i) for i in range(3))

    def init(self, n0, v, tile):
        return vload(self.bias, add(n0, v * tile.lanes), tile.lanes)

    def finish(self, n0, r, v, acc, m0, _, tile):
        lanes = tile.lanes
        vd = vtype(f64, lanes)
        real = arith.MulfOp(to_float(acc, f64), vload(self.scale, add(n0, v * lanes), lanes)).result
        rounded = intrinsic(f"llvm.round.v{lanes}f64", [real], vd)
        y = to_int(rounded, i32)
        y = arith.AddiOp(y, splat(self.zero_point, lanes)).result
        vstore(
            narrow(clamp_int(y, self.lo, self.hi), i8),
            self.out,
            out_index(self.ldc, m0, r, n0, v, tile),
        )


# ----------------------------------------------------------------------------- int8 operands


def shift_to_unsigned(v: SSAValue) -> SSAValue:
    """x + 128 on int8 lanes (= x ^ 0x80): the unsigned operand of vpdpbusd."""
    return arith.AddiOp(v, const(-128, v.type)).result


def int8_rows(
    src: SSAValue, k: int, scratch: SSAValue, width: int, shift: bool, offset: Val = 0
) -> Rows:
    """Rows of k 8-bit values packed into scratch rows of `width` (from `offset`), shifted
    by +128 when `shift` (int8 for VNNI), copied as they are otherwise."""
    convert = shift_to_unsigned if shift else None

    def copy_row(m: Val, d: Val) -> None:
        copy_run(src, mul(m, k), scratch, d, k, 64, convert)

    return packed_rows(scratch, width, copy_row, offset)


def vnni_applies(n: int) -> bool:
    """Whether an int8 product of n columns uses VNNI (it needs full 16-lane vectors)."""
    return use_vnni() and n >= 16


@dataclass(frozen=True)
class QuantWeights:
    """Constant integer weights [K][N] packed for the chosen product, with the folded bias."""

    packed: np.ndarray
    bias: np.ndarray
    product: Product
    width: int
    """Length of a packed row of A (K, or K padded to a multiple of 4 for VNNI)."""
    shift: bool
    """Whether A's rows are packed shifted by +128 (int8 input, VNNI's unsigned operand)."""

    @property
    def elem(self) -> Attribute:
        return i32 if self.packed.dtype == I32 else i8


def quantized_weights(w_kn, bias, zp_in: int, tile: Tile, vnni: bool, unsigned: bool = False):
    """Pack centred integer weights (w − zp_w) for VNNI when they fit int8 (an int8 input
    shifted by +128, a uint8 input as it is), else for the widening product; fold the input
    zero point (and the shift) into the bias. Returns `QuantWeights`."""
    k = w_kn.shape[0]
    fits = w_kn.size == 0 or (w_kn.min() >= -128 and w_kn.max() <= 127)
    if vnni and fits:
        shift = not unsigned
        offset = zp_in + 128 * shift
        packed = pack_vnni(np.asarray(w_kn, I8), tile.nr)
        bias = folded_bias(bias, w_kn, offset)
        return QuantWeights(packed, bias, VnniProduct(), padded_depth(k), shift)
    packed = pack_i8(w_kn, tile.nr) if fits else pack_i8(w_kn, tile.nr, I32)
    bias = folded_bias(bias, w_kn, zp_in)
    return QuantWeights(packed, bias, WideningProduct(unsigned=unsigned), k, False)


# ----------------------------------------------------------------------------- hybrid inputs


@dataclass(frozen=True)
class Quantized:
    """The parameters of a float input quantized at run time (`emit_quantize_input`)."""

    offset: SSAValue
    """The zero point (i32; 0 when symmetric)."""
    scale: SSAValue
    """The scale (f32)."""


def emit_quantize_input(
    x: SSAValue, x_at: Val, q: SSAValue, q_at: Val, count: int, asymmetric: bool, shifted: bool
) -> Quantized:
    """TFLite's AsymmetricQuantizeFloats / SymmetricQuantizeFloats of the `count` floats at
    x[x_at] into q[q_at].

    Bit-exact with `litec.runtime.fixedpoint`: the range and its width in float32, the
    parameters in double, values x·(1/scale) rounded the x86 way (round_like_tflite_x86:
    the leading multiple of 8 values as trunc(v ± 0.5) in float32, the rest half away from
    zero).
    `shifted` stores q + 128 (the unsigned VNNI operand).
    """
    lo, hi = _range(x, x_at, count, asymmetric)
    if asymmetric:
        inverse, offset, scale = _asymmetric_params(lo, hi)
        qmin = -128
    else:
        inverse, scale = _symmetric_params(hi)
        offset, qmin = const(0, i32), -127
    head = count & ~7

    def quantize(rounded: SSAValue) -> SSAValue:
        y = arith.AddiOp(to_int(rounded, i32), splat_like(offset, rounded)).result
        y = clamp_int(y, qmin, 127)
        y = narrow(y, i8)
        return shift_to_unsigned(y) if shifted else y

    def head_convert(v: SSAValue) -> SSAValue:
        scaled = arith.MulfOp(v, splat_like(inverse, v)).result
        half = intrinsic(f"llvm.copysign.v{lanes_of(v)}f32", [const(0.5, v.type), scaled], v.type)
        summed = arith.AddfOp(scaled, half).result
        return quantize(intrinsic(f"llvm.trunc.v{lanes_of(v)}f32", [summed], v.type))

    copy_run(x, x_at, q, q_at, head, 16, head_convert)

    def tail(i):
        scaled = arith.MulfOp(load(x, add(x_at, i)), inverse).result
        store(quantize(intrinsic("llvm.round.f32", [scaled], f32)), q, add(q_at, i))
        return []

    loop(head, count, tail)
    return Quantized(offset, scale)


def splat_like(x: SSAValue, v: SSAValue) -> SSAValue:
    """x as a vector of v's lanes when v is a vector."""
    return splat(x, lanes_of(v)) if isinstance(v.type, VectorType) else x


def _range(x: SSAValue, x_at: Val, count: int, asymmetric: bool) -> tuple[SSAValue, SSAValue]:
    """(min(x, 0), max(x, 0)) for asymmetric; (unused, max |x|) for symmetric (float32)."""
    lanes = min(16, count)
    zero = const(0.0, vtype(f32, lanes))

    def chunk(j, lo, hi):
        v = vload(x, add(x_at, clamp_start(j, lanes, count)), lanes)
        if not asymmetric:
            v = intrinsic(f"llvm.fabs.v{lanes}f32", [v], v.type)
        return [arith.MinnumfOp(lo, v).result, arith.MaxnumfOp(hi, v).result]

    lo, hi = loop(0, -(-count // lanes), chunk, [zero, zero])
    return _horizontal(lo, arith.MinnumfOp), _horizontal(hi, arith.MaxnumfOp)


def _horizontal(v: SSAValue, combine) -> SSAValue:
    """The lanes of a float32 vector combined left to right (a scalar)."""
    acc = vector.ExtractOp(v, [0], f32).result
    for lane in range(1, lanes_of(v)):
        acc = combine(acc, vector.ExtractOp(v, [lane], f32).result).result
    return acc


def _select(cond: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
    return arith.SelectOp(cond, a, b).result


def _asymmetric_params(lo: SSAValue, hi: SSAValue):
    """AsymmetricQuantizeFloats' parameters: (1/scale as float32, zero point i32, scale f32);
    the width hi - lo is a float32 difference, as in TFLite's NEON code."""
    rmin, rmax = arith.ExtFOp(lo, f64).result, arith.ExtFOp(hi, f64).result
    diff = arith.ExtFOp(arith.SubfOp(hi, lo).result, f64).result
    flat = arith.CmpfOp(diff, const(0.0, f64), "oeq").result
    scale = _select(flat, const(1.0, f64), arith.DivfOp(diff, const(255.0, f64)).result)
    lo_q = arith.DivfOp(rmin, scale).result
    hi_q = arith.DivfOp(rmax, scale).result
    from_min = arith.SubfOp(const(-128.0, f64), lo_q).result
    from_max = arith.SubfOp(const(127.0, f64), hi_q).result
    err_min = arith.AddfOp(const(128.0, f64), intrinsic("llvm.fabs.f64", [lo_q], f64)).result
    err_max = arith.AddfOp(const(127.0, f64), intrinsic("llvm.fabs.f64", [hi_q], f64)).result
    zp = _select(arith.CmpfOp(err_min, err_max, "olt").result, from_min, from_max)
    zp = intrinsic("llvm.round.f64", [zp], f64)
    zp = arith.MinimumfOp(arith.MaximumfOp(zp, const(-128.0, f64)).result, const(127.0, f64))
    offset = _select(flat, const(0, i32), to_int(zp.result, i32))
    scale32 = arith.TruncFOp(scale, f32).result
    inverse = arith.DivfOp(const(1.0, f64), arith.ExtFOp(scale32, f64).result).result
    return arith.TruncFOp(inverse, f32).result, offset, scale32


def _symmetric_params(rng: SSAValue):
    """SymmetricQuantizeFloats' parameters: (127/range, scale), float32; range 0 gives 1."""
    zero = arith.CmpfOp(rng, const(0.0, f32), "oeq").result
    safe = _select(zero, const(1.0, f32), rng)
    scale = _select(zero, const(1.0, f32), arith.DivfOp(safe, const(127.0, f32)).result)
    return arith.DivfOp(const(127.0, f32), safe).result, scale


@dataclass
class HybridEpilogue(Epilogue):
    """Hybrid: int32 sums corrected for the run-time zero point, scaled to float, bias, activation.

    out = act(float(acc − correction·Σw[n]) · (s_x · s_w[n]) + bias[n]), where the
    correction (the input's zero point, +128 with VNNI) and s_x belong to the output row:
    `row_quant(m) -> (correction i32, s_x f32)`.
    """

    out: SSAValue
    ldc: int
    params: SSAValue
    """float32 [3][N]: Σw (exact as floats), s_w, bias."""
    n: int
    row_quant: Callable[[Val], tuple[SSAValue, SSAValue]]
    activation: Callable[[SSAValue], SSAValue]
    channel_scale_first: bool = False
    """Scale as (float(acc) · s_w[n]) · s_x (TFLite's per-channel hybrid convolution)
    instead of float(acc) · (s_x · s_w[n]): float products round differently."""

    def init(self, n0, v, tile):
        return const(0, vtype(i32, tile.lanes))

    def finish(self, n0, r, v, acc, m0, _, tile):
        lanes, c = tile.lanes, add(n0, v * tile.lanes)
        correction, scale = self.row_quant(add(m0, r))
        col_sums = to_int(vload(self.params, c, lanes), i32)
        fix = arith.MuliOp(col_sums, splat(correction, lanes)).result
        y = to_float(arith.SubiOp(acc, fix).result, f32)
        w_scale = vload(self.params, add(self.n, c), lanes)
        if self.channel_scale_first:
            y = arith.MulfOp(arith.MulfOp(y, w_scale).result, splat(scale, lanes)).result
        else:
            y = arith.MulfOp(y, arith.MulfOp(splat(scale, lanes), w_scale).result).result
        y = arith.AddfOp(y, vload(self.params, add(2 * self.n, c), lanes)).result
        vstore(self.activation(y), self.out, add(mul(add(m0, r), self.ldc), c))


def hybrid_params(w_kn: np.ndarray, w_scales: np.ndarray, bias) -> np.ndarray:
    """float32 [3][N] of HybridEpilogue: Σ_k w, the weight scales, the bias (or zeros)."""
    n = w_kn.shape[1]
    sums = np.asarray(w_kn, np.int64).sum(axis=0).astype(F32)
    return np.stack([sums, np.broadcast_to(w_scales, (n,)), _zeros_or(bias, n)]).astype(F32)


def _zeros_or(bias, n: int) -> np.ndarray:
    return np.zeros(n, F32) if bias is None else np.asarray(bias, F32)


def applied_activation(act: str) -> Callable[[SSAValue], SSAValue]:
    """TFLite's ApplyActivationsToVector: TANH is tanh, SIGN_BIT the sign bit as 0 / 1,
    the ReLU family clamps (hybrid FULLY_CONNECTED)."""
    if act == "TANH":
        return lambda y: math.TanhOp(y).result
    if act == "SIGN_BIT":

        def sign_bit(y: SSAValue) -> SSAValue:
            bits = arith.BitcastOp(y, like(y, i32)).result
            return to_float(arith.ShRUIOp(bits, const(31, bits.type)).result, f32)

        return sign_bit
    return lambda y: float_activation(y, act)


# ----------------------------------------------------------------------------- FULLY_CONNECTED


def _fc_problem(op: Operation):
    call = make_call(op)
    x, w_info = call.inputs[0], call.inputs[1]
    return call, x, w_info


def check_fully_connected(op: Operation) -> tuple[bool, str]:
    """FULLY_CONNECTED: constant weights; float32, int8, uint8 (per-tensor weights), or hybrid
    (float32 input and output, int8 weights)."""
    call, x, w = _fc_problem(op)
    if constant(op.operands[1]) is None:
        return False, "weights computed at run time are not supported"
    if runtime_operand(op, 2):
        return False, "a bias computed at run time is not supported"
    if call.opts.get("weights_format", "DEFAULT") != "DEFAULT":
        return False, f"weights format {call.opts['weights_format']} is not supported"
    kind = (x.dtype, w.dtype, call.out.dtype)
    act = call.opts["fused_activation_function"]
    if kind == (F32, I8, F32):
        return (w.quant is not None, "the int8 weights are not quantized")
    if kind not in ((F32, F32, F32), (I8, I8, I8), (U8, U8, U8)):
        return False, (
            f"{x.dtype} input with {w.dtype} weights and {call.out.dtype} output is not supported"
        )
    if act not in CLAMPING_ACTIVATIONS:
        return False, f"fused activation {act} is not supported"
    if x.dtype == U8 and len(w.quant.scales) > 1:
        return False, "uint8 FULLY_CONNECTED needs per-tensor weights"
    return True, "supported"


def optional_operand(op: Operation, index: int) -> SSAValue | None:
    """An optional input: None when it is absent (`none`)."""
    if len(op.operands) <= index or not isinstance(op.operands[index].type, TensorType):
        return None
    return op.operands[index]


def runtime_operand(op: Operation, index: int) -> bool:
    """Whether an (optional) input is present but only known at run time."""
    value = optional_operand(op, index)
    return value is not None and constant(value) is None


def optional_constant(op: Operation, index: int) -> np.ndarray | None:
    """The value of a constant optional input (the bias), None when absent."""
    value = optional_operand(op, index)
    return None if value is None else constant(value)


@generator("tfl.fully_connected", supports=check_fully_connected)
def fully_connected(op: Operation, symbol: str) -> Kernel:
    """FULLY_CONNECTED: one GEMM over the flattened rows of the input, weights packed."""
    call, x, w_info = _fc_problem(op)
    w = constant(op.operands[1])
    n, k = w.shape
    m = int(np.prod(x.shape)) // max(k, 1)
    bias = optional_constant(op, 2)
    act = call.opts["fused_activation_function"]
    if w_info.dtype == I8 and x.dtype == F32:
        return _hybrid_fc(call, symbol, m, n, k, w, bias, w_info)
    if x.dtype == F32:
        return _float_fc(symbol, m, n, k, w, bias, act)
    return _int8_fc(call, symbol, m, n, k, w, bias, w_info)


def _float_fc(symbol, m, n, k, w, bias, act) -> Kernel:
    tile = choose_tile(m, n)
    parts = gemm_parts(m, n, k, tile)
    consts = [pack_f32(np.asarray(w, F32).T, tile.nr)]
    if bias is not None:
        consts.append(np.asarray(bias, F32))
    arg_types = [
        memref_of(f32, m * k),
        *(memref_of(f32, c.size) for c in consts),
        memref_of(f32, m * n),
    ]

    def body(x, packed, *rest, part=WHOLE):
        bias_ref = rest[0] if bias is not None else None
        epi = FloatEpilogue(rest[-1], n, bias_ref, act)
        emit_gemm(m, n, k, tile, F32Product(), direct_rows(x, k), packed, epi, part)

    bindings = [Binding(INPUT, 0), *(Binding(CONST, data=c) for c in consts), Binding(OUTPUT, 0)]
    return Kernel(kernel_function(symbol, arg_types, body, parts), bindings)


def _int8_fc(call: KernelCall, symbol, m, n, k, w, bias, w_info: TensorInfo) -> Kernel:
    """int8 / uint8 FULLY_CONNECTED: weights centred by their (per-tensor) zero point."""
    x, out = call.inputs[0], call.out
    tile = choose_tile(m, n)
    parts = gemm_parts(m, n, k, tile)
    w_zero = w_info.zero_point if len(w_info.quant.scales) == 1 else 0
    centred = np.asarray(w, np.int64).T - w_zero
    unsigned = x.dtype == U8
    weights = quantized_weights(centred, bias, x.zero_point, tile, vnni_applies(n), unsigned)
    scales = _channel_scales(call, w_info, n).astype(np.float64)
    effective = np.float64(x.scale) * scales / np.float64(out.scale)
    lo, hi = quantized_activation_range(call.opts["fused_activation_function"], out)
    start = np.concatenate([weights.bias, np.array([out.zero_point, lo, hi], np.int32)])
    consts = [weights.packed, start, effective]
    elems = [weights.elem, i32, f64]
    scratch_size = tile.mr * weights.width
    arg_types = [
        memref_of(i8, m * k),
        *(memref_of(e, c.size) for e, c in zip(elems, consts, strict=True)),
        memref_of(i8, scratch_size * max(parts, 1)),
        memref_of(i8, m * n),
    ]

    def body(xs, packed, bias_ref, scale_ref, scratch, out_ref, part=WHOLE):
        at = part.scratch(scratch_size)
        rows = int8_rows(xs, k, scratch, weights.width, weights.shift, at)
        epi = DoubleRescaleEpilogue(out_ref, n, bias_ref, scale_ref, n)
        emit_gemm(m, n, k, tile, weights.product, rows, packed, epi, part)

    bindings = [
        Binding(INPUT, 0),
        *(Binding(CONST, data=c) for c in consts),
        Binding(SCRATCH, size=scratch_size * max(parts, 1)),
        Binding(OUTPUT, 0),
    ]
    return Kernel(kernel_function(symbol, arg_types, body, parts), bindings)


def _hybrid_fc(call: KernelCall, symbol, m, n, k, w, bias, w_info: TensorInfo) -> Kernel:
    """TFLite's EvalHybridDense: each row quantized at run time (BatchQuantizeFloats), int8
    products, b + dot · s_row · s_w, then the activation applied (TANH, SIGN_BIT included)."""
    tile = choose_tile(m, n)
    weights = quantized_weights(np.asarray(w, np.int64).T, None, 0, tile, vnni_applies(n))
    shift = weights.shift
    params = hybrid_params(np.asarray(w).T, _channel_scales(call, w_info, n), bias)
    asymmetric = bool(call.opts["asymmetric_quantize_inputs"])
    act = applied_activation(call.opts["fused_activation_function"])
    width = weights.width
    arg_types = [
        memref_of(f32, m * k),
        memref_of(i8, weights.packed.size),
        memref_of(f32, params.size),
        memref_of(i8, m * width),
        memref_of(f32, m),
        memref_of(i32, m),
        memref_of(f32, m * n),
    ]

    def body(xs, packed, params_ref, q, scales, offsets, out):
        def quantize_row(row):
            quant = emit_quantize_input(xs, mul(row, k), q, mul(row, width), k, asymmetric, shift)
            store(quant.scale, scales, row)
            store(quant.offset, offsets, row)
            return []

        loop(0, m, quantize_row)

        def row_quant(row: Val) -> tuple[SSAValue, SSAValue]:
            correction = load(offsets, row)
            if shift:
                correction = arith.AddiOp(correction, const(128, i32)).result
            return correction, load(scales, row)

        epi = HybridEpilogue(out, n, params_ref, n, row_quant, act)
        emit_gemm(m, n, k, tile, weights.product, direct_rows(q, width), packed, epi)

    bindings = [
        Binding(INPUT, 0),
        Binding(CONST, data=weights.packed),
        Binding(CONST, data=params),
        Binding(SCRATCH, size=m * width),
        Binding(SCRATCH, size=4 * m),
        Binding(SCRATCH, size=4 * m),
        Binding(OUTPUT, 0),
    ]
    return Kernel(kernel_function(symbol, arg_types, body), bindings)


# ----------------------------------------------------------------------------- BATCH_MATMUL


@dataclass(frozen=True)
class BatchShape:
    """A BATCH_MATMUL as M×K by K×N products, one per (broadcast) batch, with element offsets."""

    m: int
    n: int
    k: int
    adj_x: bool
    adj_y: bool
    offsets: np.ndarray
    """[batches][2]: the first element of each batch's lhs and rhs."""

    @property
    def batches(self) -> int:
        return len(self.offsets)


def batch_shape(call: KernelCall) -> BatchShape:
    lhs, rhs = call.inputs[0].shape, call.inputs[1].shape
    adj_x, adj_y = bool(call.opts["adj_x"]), bool(call.opts["adj_y"])
    m, k = (lhs[-1], lhs[-2]) if adj_x else (lhs[-2], lhs[-1])
    n = rhs[-2] if adj_y else rhs[-1]
    batch = np.broadcast_shapes(lhs[:-2], rhs[:-2])

    def firsts(shape, size):
        ids = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        return np.broadcast_to(ids, batch).ravel() * size

    offsets = np.stack([firsts(lhs[:-2], m * k), firsts(rhs[:-2], k * n)], axis=1)
    return BatchShape(m, n, k, adj_x, adj_y, offsets.reshape(-1, 2))


def check_batch_matmul(op: Operation) -> tuple[bool, str]:
    """BATCH_MATMUL: float32, or int8 x int8 to int8 / int32."""
    call = make_call(op)
    lhs, rhs, out = call.inputs[0], call.inputs[1], call.out
    kind = (lhs.dtype, rhs.dtype, out.dtype)
    if kind not in ((F32, F32, F32), (I8, I8, I8), (I8, I8, I32)):
        return False, f"{lhs.dtype} x {rhs.dtype} -> {out.dtype} is not supported"
    if kind == (I8, I8, I8) and (lhs.quant is None or rhs.quant is None or out.quant is None):
        return False, "quantized operands need quantization parameters"
    shape = batch_shape(call)
    if min(shape.m, shape.n, shape.k) == 0:
        return False, "empty matrices are not supported"
    return True, "supported"


def batch_offset(table: SSAValue | None, shape: BatchShape, bi: Val, which: int) -> Val:
    """Where batch bi of lhs (0) or rhs (1) starts: known, or read from the offset table."""
    if isinstance(bi, int):
        return int(shape.offsets[bi, which])
    assert table is not None
    return arith.IndexCastOp(load(table, add(mul(bi, 2), which)), INDEX).result


def pack_rhs(
    rhs: SSAValue, at: Val, shape: BatchShape, tile: Tile, dst: SSAValue, convert, offset: Val = 0
):
    """Pack one batch's rhs [K][N] (or [N][K] with adj_y) into panels [P][K][nr] at run time,
    from element `offset` of `dst`."""
    k, n, nr = shape.k, shape.n, tile.nr

    def panel(p):
        n0 = clamp_start(p, nr, n)

        def row(kk):
            d = add(offset, mul(add(mul(p, k), kk), nr))
            if not shape.adj_y:
                copy_run(rhs, add(at, add(mul(kk, n), n0)), dst, d, nr, 16, convert)
                return []

            def column(j):
                x = load(rhs, add(at, add(mul(add(n0, j), k), kk)))
                store(convert(x) if convert else x, dst, add(d, j))
                return []

            loop(0, nr, column)
            return []

        loop(0, k, row)
        return []

    loop(0, len(panel_starts(n, nr)), panel)


def centred_i32(zero_point: int):
    """int8 values (scalar or vector) widened to int32 minus a zero point."""

    def convert(v: SSAValue) -> SSAValue:
        wide = sext(v, i32)
        return arith.SubiOp(wide, const(zero_point, wide.type)).result if zero_point else wide

    return convert


@generator("tfl.batch_matmul", supports=check_batch_matmul)
def batch_matmul(op: Operation, symbol: str) -> Kernel:
    """BATCH_MATMUL: per batch, rhs packed into panels at run time, then the tiled GEMM.

    Split, each part packs every batch's rhs into its own scratch region and computes its
    share of the row blocks."""
    call = make_call(op)
    shape = batch_shape(call)
    lhs, rhs, out = call.inputs[0], call.inputs[1], call.out
    m, n, k = shape.m, shape.n, shape.k
    tile = choose_tile(m, n)
    parts = split_parts(row_blocks(m, tile), shape.batches * m * n * k)
    floating = lhs.dtype == F32
    elem = f32 if floating else i8
    packed_elem = f32 if floating else i32
    panel_count = len(panel_starts(n, tile.nr))
    per_part = panel_count * k * tile.nr
    table = [shape.offsets.astype(np.int64).ravel()] if shape.batches > 1 else []
    params = [] if floating or out.dtype == I32 else [_bmm_requant_params(call, n)]
    arg_types = [
        memref_of(elem, int(np.prod(lhs.shape))),
        memref_of(elem, int(np.prod(rhs.shape))),
        *(memref_of(i64, t.size) for t in table),
        *(memref_of(i32, p.size) for p in params),
        memref_of(packed_elem, per_part * max(parts, 1)),
        memref_of(f32 if floating else (i8 if params else i32), int(np.prod(out.shape))),
    ]

    def body(a, b, *rest, part=WHOLE):
        offsets = rest[0] if table else None
        params_ref = rest[len(table)] if params else None
        scratch, out_ref = rest[-2], rest[-1]
        if floating:
            product, convert = F32Product(), None
        else:
            zero_in = lhs.zero_point if params else 0
            product = WideningProduct(const(zero_in, i32) if zero_in else None)
            convert = centred_i32(rhs.zero_point if params else 0)

        packed = part.scratch(per_part)

        def one_batch(bi):
            rhs_at = batch_offset(offsets, shape, bi, 1)
            pack_rhs(b, rhs_at, shape, tile, scratch, convert, packed)
            at = batch_offset(offsets, shape, bi, 0)
            rows = direct_rows(a, 1, at, kstride=m) if shape.adj_x else direct_rows(a, k, at)
            quant = (params_ref, params[0]) if params else None
            epi = _bmm_epilogue(call, out_ref, quant, n, mul(bi, m * n))
            emit_gemm(m, n, k, tile, product, rows, scratch, epi, part, packed)
            return []

        loop(0, shape.batches, one_batch)

    bindings = [
        Binding(INPUT, 0),
        Binding(INPUT, 1),
        *(Binding(CONST, data=t) for t in table),
        *(Binding(CONST, data=p) for p in params),
        Binding(SCRATCH, size=per_part * max(parts, 1) * 4),
        Binding(OUTPUT, 0),
    ]
    return Kernel(kernel_function(symbol, arg_types, body, parts), bindings)


def _bmm_requant_params(call: KernelCall, n: int) -> np.ndarray:
    """Per-tensor Q31 parameters of an int8 BATCH_MATMUL, as the reference computes them."""
    lhs, rhs, out = call.inputs[0], call.inputs[1], call.out
    real = float(F32.type(lhs.scale) * F32.type(rhs.scale)) / float(out.scale)
    mult, shift = quantize_multiplier(real)
    lo, hi = quantized_activation_range("NONE", out)
    return q31_params(np.zeros(n, np.int64), mult, shift, out.zero_point, lo, hi)


def _bmm_epilogue(call: KernelCall, out_ref, params, n: int, offset: Val) -> Epilogue:
    """params: (kernel argument, compile-time block) of the Q31 parameters, or None."""
    if call.out.dtype == F32:
        return FloatEpilogue(out_ref, n, offset=offset)
    if params is None:
        return RawEpilogue(out_ref, n, offset=offset)
    return QuantizedEpilogue(out_ref, n, Requant.load(*params), offset)
