"""The LLVM path end to end: kernel-level functions built here -> lower_to_llvm -> codegen ->
a shared object loaded with ctypes -> compared with numpy."""

from __future__ import annotations

import ctypes
import tempfile

import numpy as np
import pytest
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import IndexType, IntegerAttr, MemRefType, ModuleOp, f32
from xdsl.ir import Block, Region

from litec.backends.cpu import codegen
from litec.lowering.to_llvm import lower_to_llvm


def index(value: int) -> arith.ConstantOp:
    return arith.ConstantOp(IntegerAttr(value, IndexType()))


def kernel(name: str, arg_types, build) -> func.FuncOp:
    """A `func.func @name(args)` whose body `build(*args)` writes (a return is added)."""
    block = Block(arg_types=arg_types)
    with ImplicitBuilder(block) as args:
        build(*args)
        func.ReturnOp()
    return func.FuncOp(name, (arg_types, []), Region(block))


def loop(n: int, body) -> None:
    """`scf.for %i = 0 to n` with `body(%i)` (inside an ImplicitBuilder)."""
    block = Block(arg_types=[IndexType()])
    with ImplicitBuilder(block) as (i,):
        body(i)
        scf.YieldOp()
    scf.ForOp(index(0), index(n), index(1), [], block)


def native(*functions: func.FuncOp, **options):
    """Lower, compile and load `functions`; returns the ctypes library."""
    module = ModuleOp(list(functions))
    module.verify()
    lower_to_llvm(module)
    so = codegen.compile_module(module, **options)
    with tempfile.NamedTemporaryFile(suffix=".so", delete=False) as f:
        f.write(so)
    return ctypes.CDLL(f.name)


def call(library, name: str, *arrays: np.ndarray) -> None:
    getattr(library, name)(*(ctypes.c_void_p(a.ctypes.data) for a in arrays))


def scalar_add(n: int) -> func.FuncOp:
    t = MemRefType(f32, [n])

    def build(a, b, c):
        def body(i):
            s = arith.AddfOp(memref.LoadOp.get(a, [i]), memref.LoadOp.get(b, [i]))
            memref.StoreOp.get(s, c, [i])

        loop(n, body)

    return kernel("add", [t, t, t], build)


@pytest.mark.parametrize("portable", [False, True])
def test_scalar_loop_add(portable):
    n = 1003
    lib = native(scalar_add(n), portable=portable)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    c = np.zeros(n, np.float32)
    call(lib, "add", a, b, c)
    np.testing.assert_array_equal(c, a + b)


def test_same_module_same_bytes():
    def build():
        module = ModuleOp([scalar_add(64)])
        return codegen.compile_module(lower_to_llvm(module))

    assert build() == build()


def test_target_fingerprint_names_triple_and_features():
    host, portable = codegen.target_fingerprint(), codegen.target_fingerprint(portable=True)
    assert host.startswith(codegen.host_target().triple)
    assert portable.split() == [codegen.host_target().triple, "x86-64"]
