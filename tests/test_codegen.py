"""The LLVM path end to end: kernel-level functions built here -> lower_to_llvm -> codegen ->
a shared object loaded with ctypes -> compared with numpy."""

from __future__ import annotations

import ctypes
import tempfile

import numpy as np
import pytest
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, func, llvm, math, memref, scf, vector
from xdsl.dialects.builtin import (
    FloatAttr,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    VectorType,
    f32,
    i1,
    i8,
    i32,
    i64,
)
from xdsl.ir import Block, Region, SSAValue

from litec.backends.cpu import codegen
from litec.ir.diagnostics import LitecError
from litec.lowering.to_llvm import lower_to_llvm
from litec.lowering.to_llvm import vector_arith as va

RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------- building kernels


def index(value: int) -> arith.ConstantOp:
    return arith.ConstantOp(IntegerAttr(value, IndexType()))


def kernel(name: str, arg_types, build) -> func.FuncOp:
    """A `func.func @name(args)` whose body `build(*args)` writes (a return is added)."""
    block = Block(arg_types=arg_types)
    with ImplicitBuilder(block) as args:
        build(*args)
        func.ReturnOp()
    return func.FuncOp(name, (arg_types, []), Region(block))


def loop(n: int, body, step: int = 1, carried=()):
    """`scf.for %i = 0 to n step step iter_args(carried)`; `body(%i, *carried)` returns the
    list of new carried values (when there are any). Returns the loop's results."""
    carried = [SSAValue.get(v) for v in carried]
    block = Block(arg_types=[IndexType(), *(v.type for v in carried)])
    with ImplicitBuilder(block) as (i, *args):
        yielded = body(i, *args)
        scf.YieldOp(*(yielded if carried else ()))
    return scf.ForOp(index(0), index(n), index(step), carried, block).results


def reduction(source: vector.LoadOp, kind: vector.CombiningKindFlag) -> vector.ReductionOp:
    """`vector.reduction` (xDSL 0.74's constructor gives it the vector type as result type)."""
    element = source.result.type.element_type
    properties = {
        "kind": vector.CombiningKindAttr(kind),
        "fastmath": arith.FastMathFlagsAttr("none"),
    }
    return vector.ReductionOp.create(
        operands=[source.result], result_types=[element], properties=properties
    )


def native(*functions: func.FuncOp, **options):
    """Lower, compile and load `functions`; returns the ctypes library."""
    module = ModuleOp(list(functions))
    module.verify()
    lower_to_llvm(module)
    module.verify()
    so = codegen.compile_module(module, **options)
    with tempfile.NamedTemporaryFile(suffix=".so", delete=False) as f:
        f.write(so)
    return ctypes.CDLL(f.name)


def call(library, name: str, *arrays: np.ndarray) -> None:
    getattr(library, name)(*(ctypes.c_void_p(a.ctypes.data) for a in arrays))


def elementwise(name: str, n: int, dtype, op) -> func.FuncOp:
    """out[i] = op(a[i], b[i]) over memref<n x dtype>, scalar loop."""
    t = MemRefType(dtype, [n])

    def build(a, b, out):
        def body(i):
            result = op(memref.LoadOp.get(a, [i]), memref.LoadOp.get(b, [i]))
            memref.StoreOp.get(result, out, [i])

        loop(n, body)

    return kernel(name, [t, t, t], build)


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("portable", [False, True])
def test_scalar_loop_add(portable):
    n = 1003
    lib = native(elementwise("add", n, f32, arith.AddfOp), portable=portable)
    a, b = RNG.standard_normal(n, dtype=np.float32), RNG.standard_normal(n, dtype=np.float32)
    c = np.zeros(n, np.float32)
    call(lib, "add", a, b, c)
    np.testing.assert_array_equal(c, a + b)


def test_vector_fma_loop():
    """c[16i:16i+16] += a * b with vector<16xf32> loads, FMA and stores."""
    n, vt = 1024, VectorType(f32, [16])
    t = MemRefType(f32, [n])

    def build(a, b, c):
        def body(i):
            x, y, z = (vector.LoadOp(m, [i], vt) for m in (a, b, c))
            vector.StoreOp(vector.FMAOp(x, y, z), c, [i])

        loop(n, body, step=16)

    lib = native(kernel("vfma", [t, t, t], build))
    a, b, c = (RNG.standard_normal(n, dtype=np.float32) for _ in range(3))
    expected = (a.astype(np.float64) * b + c).astype(np.float32)  # FMA: one rounding
    call(lib, "vfma", a, b, c)
    np.testing.assert_array_equal(c, expected)


def test_int8_widening_multiply_accumulate():
    """out[j] = sum_k a[k] * w[k, j] in int32 from int8, a scalar reduction loop and a
    vector<16> one (llvm.sext on vectors: arith casts are scalar-only in xDSL 0.74)."""
    k, n = 67, 32
    ta, tw, to = MemRefType(i8, [k]), MemRefType(i8, [k, n]), MemRefType(i32, [n])
    vt8, vt32 = VectorType(i8, [16]), VectorType(i32, [16])

    def scalar(a, w, out):
        def column(j):
            def step(kk, acc):
                x = arith.ExtSIOp(memref.LoadOp.get(a, [kk]), i32)
                y = arith.ExtSIOp(memref.LoadOp.get(w, [kk, j]), i32)
                return [arith.AddiOp(acc, arith.MuliOp(x, y))]

            (total,) = loop(k, step, carried=[arith.ConstantOp(IntegerAttr(0, i32))])
            memref.StoreOp.get(total, out, [j])

        loop(n, column)

    def vectorised(a, w, out):
        def panel(j):
            def step(kk, acc):
                x = vector.BroadcastOp(arith.ExtSIOp(memref.LoadOp.get(a, [kk]), i32), vt32)
                y = llvm.SExtOp(vector.LoadOp(w, [kk, j], vt8), vt32)
                return [arith.AddiOp(acc, arith.MuliOp(x, y))]

            zero = arith.ConstantOp(IntegerAttr(0, i32))
            (total,) = loop(k, step, carried=[vector.BroadcastOp(zero, vt32)])
            vector.StoreOp(total, out, [j])

        loop(n, panel, step=16)

    lib = native(kernel("mac", [ta, tw, to], scalar), kernel("vmac", [ta, tw, to], vectorised))
    a = RNG.integers(-128, 128, k, dtype=np.int8)
    w = RNG.integers(-128, 128, (k, n), dtype=np.int8)
    expected = a.astype(np.int32) @ w.astype(np.int32)
    for name in ("mac", "vmac"):
        out = np.zeros(n, np.int32)
        call(lib, name, a, w, out)
        np.testing.assert_array_equal(out, expected, err_msg=name)


@pytest.mark.skipif(
    "+avx512vnni" not in codegen.target_fingerprint(), reason="this CPU has no AVX512-VNNI"
)
def test_vnni_dot_product_intrinsic():
    """uint8 x int8 dot products of 4 bytes per lane into int32 with vpdpbusd, called as an
    LLVM intrinsic from the kernel level."""
    k = 64
    tu, ts, to = MemRefType(i8, [k, 64]), MemRefType(i8, [k, 64]), MemRefType(i32, [16])
    v64, v16 = VectorType(i8, [64]), VectorType(i32, [16])

    def build(a, w, out):
        def step(kk, acc):
            x = vector.BitcastOp(vector.LoadOp(a, [kk, index(0)], v64), v16)
            y = vector.BitcastOp(vector.LoadOp(w, [kk, index(0)], v64), v16)
            dot = llvm.CallIntrinsicOp("llvm.x86.avx512.vpdpbusd.512", [acc, x, y], [v16])
            return [dot.results[0]]

        zero = vector.BroadcastOp(arith.ConstantOp(IntegerAttr(0, i32)), v16)
        (total,) = loop(k, step, carried=[zero])
        vector.StoreOp(total, out, [index(0)])

    lib = native(kernel("vnni", [tu, ts, to], build))
    a = RNG.integers(0, 256, (k, 64), dtype=np.uint8)
    w = RNG.integers(-128, 128, (k, 64), dtype=np.int8)
    out = np.zeros(16, np.int32)
    call(lib, "vnni", a, w, out)
    products = a.astype(np.int32) * w.astype(np.int32)
    np.testing.assert_array_equal(out, products.reshape(k, 16, 4).sum(axis=(0, 2)))


def test_exact_requantize_high_mul():
    """TFLite's SaturatingRoundingDoublingHighMul as (a*b + 2^30) >> 31 in i64."""
    n, multiplier = 4096, 1518500250
    t = MemRefType(i32, [n])

    def build(a, out):
        def body(i):
            wide = arith.ExtSIOp(memref.LoadOp.get(a, [i]), i64)
            product = arith.MuliOp(wide, arith.ConstantOp(IntegerAttr(multiplier, i64)))
            rounded = arith.AddiOp(product, arith.ConstantOp(IntegerAttr(1 << 30, i64)))
            shifted = arith.ShRSIOp(rounded, arith.ConstantOp(IntegerAttr(31, i64)))
            memref.StoreOp.get(arith.TruncIOp(shifted, i32), out, [i])

        loop(n, body)

    lib = native(kernel("requant", [t, t], build))
    a = RNG.integers(-(2**31), 2**31, n, dtype=np.int64).astype(np.int32)
    a[:3] = [2**31 - 1, -(2**31), 0]
    out = np.zeros(n, np.int32)
    call(lib, "requant", a, out)
    expected = ((a.astype(np.int64) * multiplier + (1 << 30)) >> 31).astype(np.int32)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(("op", "reference"), [(math.TanhOp, np.tanh), (math.ExpOp, np.exp)])
def test_math_scalar_and_vector(op, reference):
    n, vt = 512, VectorType(f32, [16])
    t = MemRefType(f32, [n])

    def scalar(a, out):
        loop(n, lambda i: memref.StoreOp.get(op(memref.LoadOp.get(a, [i])), out, [i]))

    def vectorised(a, out):
        loop(n, lambda i: vector.StoreOp(op(vector.LoadOp(a, [i], vt)), out, [i]), step=16)

    lib = native(kernel("s", [t, t], scalar), kernel("v", [t, t], vectorised))
    a = np.concatenate([np.linspace(-12, 12, n - 4), [0.0, -0.0, 40.0, -40.0]]).astype(np.float32)
    expected = reference(a.astype(np.float64))
    for name in ("s", "v"):
        out = np.zeros(n, np.float32)
        call(lib, name, a, out)
        np.testing.assert_allclose(out, expected, rtol=2e-6, atol=1e-7, err_msg=name)


def test_integer_division_family():
    """floordiv / ceildiv / rem / min / max agree with Python's integer semantics."""
    ops = {
        "floordiv": (arith.FloorDivSIOp, lambda a, b: a // b),
        "ceildiv": (arith.CeilDivSIOp, lambda a, b: -(-a // b)),
        "remsi": (arith.RemSIOp, lambda a, b: np.fmod(a, b)),
        "maxsi": (arith.MaxSIOp, np.maximum),
        "minui": (arith.MinUIOp, lambda a, b: np.minimum(a.view(np.uint32), b.view(np.uint32))),
    }
    n = 256
    lib = native(*(elementwise(name, n, i32, cls) for name, (cls, _) in ops.items()))
    a = RNG.integers(-1000, 1000, n, dtype=np.int32)
    b = RNG.integers(1, 50, n, dtype=np.int32) * RNG.choice([-1, 1], n).astype(np.int32)
    for name, (_, reference) in ops.items():
        out = np.zeros(n, np.int32)
        call(lib, name, a, b, out)
        np.testing.assert_array_equal(out.view(np.uint32), reference(a, b).astype(np.uint32))


def test_compare_select_and_casts():
    """out[i] = a[i] < b[i] ? fptosi(a[i]) : sitofp(trunc(b)) ... with cmpf/select."""
    n = 128
    t = MemRefType(f32, [n])

    def build(a, b, out):
        def body(i):
            x, y = memref.LoadOp.get(a, [i]), memref.LoadOp.get(b, [i])
            smaller = arith.CmpfOp(x, y, "olt")
            truncated = arith.SIToFPOp(arith.FPToSIOp(x, i32), f32)
            memref.StoreOp.get(arith.SelectOp(smaller, truncated, y), out, [i])

        loop(n, body)

    lib = native(kernel("sel", [t, t, t], build))
    a, b = (RNG.uniform(-100, 100, n).astype(np.float32) for _ in range(2))
    out = np.zeros(n, np.float32)
    call(lib, "sel", a, b, out)
    np.testing.assert_array_equal(out, np.where(a < b, np.trunc(a), b))


def test_vector_compares_selects_and_casts():
    """int8 -> float -> clamp to [0, 6] by compare + select -> int8, 16 lanes at a time
    (vector_arith's ops: xDSL's arith verifies these scalar-only)."""
    n = 256
    vi8, vf, vi32 = VectorType(i8, [16]), VectorType(f32, [16]), VectorType(i32, [16])
    t = MemRefType(i8, [n])

    def build(a, out):
        def body(i):
            x = va.SIToFPOp(va.ExtSIOp(vector.LoadOp(a, [i], vi8), vi32), vf)
            zero = vector.BroadcastOp(arith.ConstantOp(FloatAttr(0.0, f32)), vf)
            six = vector.BroadcastOp(arith.ConstantOp(FloatAttr(6.0, f32)), vf)
            low = va.SelectOp(va.CmpfOp(x, zero, "olt"), zero, x)
            clamped = va.SelectOp(va.CmpfOp(low, six, "ogt"), six, low)
            back = va.TruncIOp(va.FPToSIOp(clamped, vi32), vi8)
            vector.StoreOp(back, out, [i])

        loop(n, body, step=16)

    lib = native(kernel("relu6", [t, t], build))
    a = RNG.integers(-128, 128, n, dtype=np.int8)
    out = np.zeros(n, np.int8)
    call(lib, "relu6", a, out)
    np.testing.assert_array_equal(out, np.clip(a, 0, 6))


def test_vector_reductions_broadcast_and_masks():
    """sum and max of each row (tree / intrinsic reductions), written with a masked store
    of a broadcast into a row of 16 where only the first 5 lanes may change."""
    rows = 8
    vt, vi = VectorType(f32, [16]), VectorType(i32, [16])
    tf, ti = MemRefType(f32, [rows, 16]), MemRefType(i32, [rows, 16])

    def build(a, b, sums, maxes):
        def body(r):
            total = reduction(vector.LoadOp(a, [r, index(0)], vt), vector.CombiningKindFlag.ADD)
            biggest = reduction(vector.LoadOp(b, [r, index(0)], vi), vector.CombiningKindFlag.MAXSI)
            vector.StoreOp(vector.BroadcastOp(total, vt), sums, [r, index(0)])
            mask = vector.CreateMaskOp([index(5)], VectorType(i1, [16]))
            splat = vector.BroadcastOp(biggest, vi)
            vector.MaskedStoreOp(maxes, [r, index(0)], mask, splat)

        loop(rows, body)

    lib = native(kernel("red", [tf, ti, tf, ti], build))
    a = RNG.standard_normal((rows, 16), dtype=np.float32)
    b = RNG.integers(-1000, 1000, (rows, 16), dtype=np.int32)
    sums, maxes = np.zeros((rows, 16), np.float32), np.full((rows, 16), -7, np.int32)
    call(lib, "red", a, b, sums, maxes)
    np.testing.assert_allclose(sums, np.repeat(a.sum(1, keepdims=True), 16, 1), rtol=1e-5)
    expected = np.full((rows, 16), -7, np.int32)
    expected[:, :5] = b.max(1, keepdims=True)
    np.testing.assert_array_equal(maxes, expected)


def test_masked_load_reads_only_the_tail():
    """The sum of 37 floats: two full vector<16> loads, then a masked load of the last 5
    (lanes past the end are neither read nor faulted on: the pass-through gives zeros)."""
    n, vt = 37, VectorType(f32, [16])
    t, out_t = MemRefType(f32, [n]), MemRefType(f32, [1])

    def build(a, out):
        zero = vector.BroadcastOp(arith.ConstantOp(FloatAttr(0.0, f32)), vt)

        def step(i, acc):
            return [arith.AddfOp(acc, vector.LoadOp(a, [i], vt))]

        (partial,) = loop(32, step, step=16, carried=[zero])
        mask = vector.CreateMaskOp([index(n - 32)], VectorType(i1, [16]))
        tail = vector.MaskedLoadOp(a, [index(32)], mask, zero)
        total = reduction(arith.AddfOp(partial, tail), vector.CombiningKindFlag.ADD)
        memref.StoreOp.get(total, out, [index(0)])

    lib = native(kernel("tail_sum", [t, out_t], build))
    a = RNG.standard_normal(n, dtype=np.float32)
    out = np.zeros(1, np.float32)
    call(lib, "tail_sum", a, out)
    np.testing.assert_allclose(out[0], a.sum(dtype=np.float64), rtol=1e-5)


def test_same_module_same_bytes():
    def build():
        module = ModuleOp([elementwise("k", 64, f32, arith.MulfOp)])
        return codegen.compile_module(lower_to_llvm(module))

    assert build() == build()


def test_parts_compile_in_parallel_to_the_same_bytes(monkeypatch):
    """A module split into several objects links into one library with every kernel; the
    bytes do not depend on how many parts compile at once."""
    monkeypatch.setattr(codegen, "CHUNK_OPS", 20)
    ops = {"add": arith.AddfOp, "sub": arith.SubfOp, "mul": arith.MulfOp, "div": arith.DivfOp}
    module = lower_to_llvm(ModuleOp([elementwise(k, 64, f32, op) for k, op in ops.items()]))
    assert len(codegen.split_module(module)) == len(ops)
    so = codegen.compile_module(module, jobs=2)
    assert so == codegen.compile_module(module, jobs=1)
    with tempfile.NamedTemporaryFile(suffix=".so", delete=False) as f:
        f.write(so)
    lib = ctypes.CDLL(f.name)
    a, b = RNG.uniform(1, 2, 64).astype(np.float32), RNG.uniform(1, 2, 64).astype(np.float32)
    for name, reference in zip(ops, (np.add, np.subtract, np.multiply, np.divide), strict=True):
        out = np.zeros(64, np.float32)
        call(lib, name, a, b, out)
        np.testing.assert_array_equal(out, reference(a, b), err_msg=name)


def test_target_fingerprint_names_triple_and_features():
    host, portable = codegen.target_fingerprint(), codegen.target_fingerprint(portable=True)
    assert host.startswith(codegen.host_target().triple)
    assert portable.split() == [codegen.host_target().triple, "x86-64"]


def test_functions_carry_target_attributes():
    module = lower_to_llvm(ModuleOp([elementwise("k", 64, f32, arith.AddfOp)]))
    target = codegen.host_target()
    text = codegen.to_llvm_ir(module, target)
    assert f'"target-cpu"="{target.cpu}"' in text
    assert f'"prefer-vector-width"="{target.vector_bits}"' in text


def test_codegen_time_limit_names_the_function():
    module = lower_to_llvm(ModuleOp([elementwise("slow_kernel", 64, f32, arith.AddfOp)]))
    with pytest.raises(LitecError, match="ran past .* hangs on: slow_kernel"):
        codegen.compile_module(module, timeout=1e-4)


def test_missing_linker_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with pytest.raises(LitecError, match="install one that provides `cc`"):
        codegen.link_shared([b""])


def test_unlowerable_op_is_named():
    t = MemRefType(f32, [4])

    def build(out):
        scratch = memref.AllocOp([], [], t)
        memref.StoreOp.get(memref.LoadOp.get(scratch, [index(0)]), out, [index(0)])

    with pytest.raises(LitecError, match="memref.alloc: kernels do not allocate"):
        lower_to_llvm(ModuleOp([kernel("k", [t], build)]))
