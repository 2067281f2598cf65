"""The compile driver, partitioning and the CPU backend object, on tiny synthetic models.

Kernels here come from small generators written in this file (registered over the real
ones with monkeypatch), so these tests check the driver's plumbing, not the kernel library:
placement and its report, kernel sharing, the stages and their text, the execution plan,
determinism, and end to end through the runtime against the reference interpreter.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from tflite_builder import Op, Tensor, build_model
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import IndexType, MemRefType, f32
from xdsl.ir import Block
from xdsl.utils.exceptions import VerifyException

import litec
from litec import cli, driver
from litec.backends.cpu import backend as backend_module
from litec.backends.cpu.backend import CpuBackend
from litec.backends.cpu.kernels.base import CONST, INPUT, OUTPUT, Binding, Generator, Kernel
from litec.ir.backend import Backend, get_backend
from litec.ir.diagnostics import LitecError
from litec.lowering.partition import (
    REASON_ATTR,
    TARGET_ATTR,
    check_placements,
    partition,
    report,
)

PIECES = {
    "memory plan": "litec.lowering.memory_plan",
    "LLVM lowering": "litec.lowering.to_llvm",
    "codegen": "litec.backends.cpu.codegen",
    "artifact writer": "litec.lowering.artifact",
    "runtime": "litec.runtime.model",
}


def missing_pieces() -> list[str]:
    """The parts of the CPU path that have not landed yet (other helpers build them)."""
    return [what for what, mod in PIECES.items() if importlib.util.find_spec(mod) is None]


needs_backend = pytest.mark.skipif(
    bool(missing_pieces()), reason=f"not landed yet: {', '.join(missing_pieces())}"
)


# ----------------------------------------------------------------------------- test kernels


def _elementwise(op, symbol: str, combine, bindings: list[Binding]) -> Kernel:
    """y[i] = combine(a[i], b[i]) over a flat float32 buffer, as kernel-level IR."""
    n = int(np.prod(op.results[0].type.get_shape()))
    t = MemRefType(f32, [n])
    fn = func.FuncOp(symbol, ([t, t, t], []))
    with ImplicitBuilder(fn.body) as (a, b, y):
        lo = arith.ConstantOp.from_int_and_width(0, IndexType())
        hi = arith.ConstantOp.from_int_and_width(n, IndexType())
        one = arith.ConstantOp.from_int_and_width(1, IndexType())
        loop = scf.ForOp(lo, hi, one, [], Block(arg_types=[IndexType()]))
        with ImplicitBuilder(loop.body) as (i,):
            x = memref.LoadOp.get(a, [i])
            z = memref.LoadOp.get(b, [i])
            memref.StoreOp.get(combine(x, z), y, [i])
            scf.YieldOp()
        func.ReturnOp()
    return Kernel(fn, bindings)


def gen_add(op, symbol: str) -> Kernel:
    """ADD of two float inputs of the same shape."""
    binds = [Binding(INPUT, 0), Binding(INPUT, 1), Binding(OUTPUT, 0)]
    return _elementwise(op, symbol, lambda x, z: arith.AddfOp(x, z), binds)


def gen_mul_const(op, symbol: str) -> Kernel:
    """MUL by a constant second operand, passed as compile-time data (a CONST binding)."""
    from litec.dialects.tfl_reference.core import make_call, source_value

    const = op.operands[1].owner
    data = np.asarray(source_value(const, make_call(const)), np.float32).reshape(-1)
    binds = [Binding(INPUT, 0), Binding(CONST, data=data), Binding(OUTPUT, 0)]
    return _elementwise(op, symbol, lambda x, z: arith.MulfOp(x, z), binds)


def _supports_float(op) -> tuple[bool, str]:
    if str(op.results[0].type.element_type) != "f32":
        return False, "test kernels are float32 only"
    return True, "supported"


@pytest.fixture
def test_kernels(monkeypatch):
    """The generators of this file stand in for the kernel library: ADD and MUL only."""
    generators = {
        "tfl.add": Generator(gen_add, _supports_float),
        "tfl.mul": Generator(gen_mul_const, _supports_float),
    }
    monkeypatch.setattr(backend_module, "load_generators", lambda: generators)


def _vec(name: str, n: int = 8, dtype: str = "FLOAT32") -> Tensor:
    return Tensor(name, (n,), dtype)


@pytest.fixture
def chain_model(tmp_path):
    """y = reshape(((a + b) + b) * c, [2, 4]) with c constant: two identical ADD kernels."""
    tensors = [
        _vec("a"),
        _vec("b"),
        _vec("s"),
        _vec("t"),
        Tensor("c", (8,), data=np.linspace(-2, 2, 8, dtype=np.float32)),
        _vec("p"),
        Tensor("shape", (2,), "INT32", data=np.array([2, 4], np.int32)),
        Tensor("y", (2, 4)),
    ]
    ops = [
        Op("ADD", ["a", "b"], ["s"]),
        Op("ADD", ["s", "b"], ["t"]),
        Op("MUL", ["t", "c"], ["p"]),
        Op("RESHAPE", ["p", "shape"], ["y"]),
    ]
    path = tmp_path / "chain.tflite"
    path.write_bytes(build_model(tensors=tensors, ops=ops, inputs=["a", "b"], outputs=["y"]))
    return path


@pytest.fixture
def int_model(tmp_path):
    """An int32 ADD and a float ADD: the test kernels refuse the first."""
    tensors = [_vec("i", dtype="INT32"), _vec("j", dtype="INT32"), _vec("a"), _vec("y")]
    tensors.append(_vec("k", dtype="INT32"))
    ops = [Op("ADD", ["i", "j"], ["k"]), Op("ADD", ["a", "a"], ["y"])]
    path = tmp_path / "mixed.tflite"
    path.write_bytes(
        build_model(tensors=tensors, ops=ops, inputs=["i", "j", "a"], outputs=["k", "y"])
    )
    return path


# ----------------------------------------------------------------------------- partition


class OnlyMul(Backend):
    """A plug-in that runs MUL and refuses everything else."""

    name = "onlymul"

    def supports(self, op):
        if op.name == "tfl.mul":
            return True, "supported"
        return False, f"onlymul has no {op.name}"

    def emit(self, module, plan, options):
        raise NotImplementedError


def test_partition_records_placements(test_kernels, chain_model):
    module = litec.load(chain_model)
    cpu = get_backend("cpu")
    placements = partition(module, cpu, cpu)
    assert [(p.op_index, p.builtin, p.target) for p in placements] == [
        (0, "ADD", "cpu"),
        (1, "ADD", "cpu"),
        (2, "MUL", "cpu"),
        (3, "RESHAPE", "cpu"),
    ]
    ops = [op for op in module.walk() if TARGET_ATTR in op.attributes]
    assert len(ops) == 4 and all(op.attributes[REASON_ATTR].data for op in ops)
    module.verify()
    assert 'litec.target = "cpu"' in litec.print_mlir(module, resources=False)


def test_partition_falls_back_to_cpu_with_the_reason(test_kernels, chain_model):
    module = litec.load(chain_model)
    placements = partition(module, OnlyMul(), get_backend("cpu"))
    by_op = {p.op_index: p for p in placements}
    assert by_op[2].target == "onlymul" and by_op[2].reason == "supported"
    assert by_op[0].target == "cpu"
    assert by_op[0].reason == "onlymul: onlymul has no tfl.add (fell back to cpu)"


def test_unsupported_op_is_one_clear_error(test_kernels, int_model):
    module = litec.load(int_model)
    cpu = get_backend("cpu")
    placements = partition(module, cpu, cpu)
    assert [p.supported for p in placements] == [False, True]
    with pytest.raises(LitecError) as e:
        check_placements(placements, file="mixed.tflite")
    assert str(e.value) == "mixed.tflite: op #0 ADD: test kernels are float32 only"


def test_report_table(test_kernels, int_model):
    module = litec.load(int_model)
    cpu = get_backend("cpu")
    lines = report(partition(module, cpu, cpu)).splitlines()
    assert lines[0].split() == ["op", "builtin", "target", "reason"]
    assert lines[1].split()[:3] == ["#0", "ADD", "cpu"] and "float32 only" in lines[1]
    assert lines[-1] == "2 ops: 1 on cpu, 1 without a kernel"


def test_cpu_backend_support_check(monkeypatch, chain_model):
    monkeypatch.setattr(backend_module, "load_generators", dict)
    module = litec.load(chain_model)
    add = next(op for op in module.walk() if op.name == "tfl.add")
    reshape = next(op for op in module.walk() if op.name == "tfl.reshape")
    assert CpuBackend().supports(add) == (False, "no CPU kernel for tfl.add")
    assert CpuBackend().supports(reshape)[0]


# ----------------------------------------------------------------------------- kernels and stages


def test_identical_kernels_are_shared(test_kernels, chain_model):
    c = driver.compile_model(chain_model, compile_to="kernel")
    funcs = {k.func.sym_name.data for k in c.kernels.values()}
    assert sorted(funcs) == ["k0_add", "k1_mul"]
    assert len(c.kernels) == 3  # both ADDs call k0_add; the RESHAPE is a view


def test_stage_texts(test_kernels, chain_model):
    texts = {
        stage: driver.compile_model(chain_model, emit=stage, compile_to=stage).emitted
        for stage in ("tfl", "partitioned", "kernel")
    }
    assert "tfl.add" in texts["tfl"] and "litec.target" not in texts["tfl"]
    assert 'litec.reason = "supported"' in texts["partitioned"]
    assert "func.func @k0_add" in texts["kernel"] and "scf.for" in texts["kernel"]


def test_stage_timings_are_reported(test_kernels, chain_model):
    seen = []
    driver.compile_model(chain_model, compile_to="kernel", progress=lambda *a: seen.append(a))
    assert [s for s, _, _ in seen] == ["tfl", "graph", "partitioned", "kernel"]
    assert seen[0][2] == "4 ops" and seen[3][2] == "2 cpu kernels for 3 ops"


def test_bad_stage_orders():
    with pytest.raises(LitecError, match="unknown stage 'asm'"):
        driver.compile_model("x.tflite", compile_to="asm")
    with pytest.raises(LitecError, match="--emit llvm comes after --compile-to kernel"):
        driver.compile_model("x.tflite", emit="llvm", compile_to="kernel")


def test_cli_knows_the_driver_stages():
    assert cli.STAGES == driver.STAGES and cli.EMIT_STAGES == driver.EMIT_STAGES


def test_unknown_target():
    with pytest.raises(LitecError, match="unknown target 'tpu' \\(installed backends: cpu"):
        driver.compile_model("x.tflite", target="tpu")


# ----------------------------------------------------------------------------- end to end


@needs_backend
def test_execution_plan(test_kernels, chain_model):
    c = driver.compile_model(chain_model)
    ex = c.executable
    main = ex.functions["main"]
    assert [(s.kind, s.name, s.kernel) for s in main.steps] == [
        ("kernel", "ADD", "k0_add"),
        ("kernel", "ADD", "k0_add"),
        ("kernel", "MUL", "k1_mul"),
    ]  # the RESHAPE shares its input's buffer
    assert [s.op_indices for s in main.steps] == [[0], [1], [2]]
    assert [t.name for t in ex.inputs] == ["a", "b"] and ex.outputs[0].shape == (2, 4)
    assert ex.arena_size >= ex.arena_lower_bound > 0
    assert ex.source_sha256 == c.module.attributes["tfl.sha256"].data
    assert [s.backend for s in ex.sections] == ["cpu"] and ex.target


@needs_backend
def test_compile_twice_is_byte_identical(test_kernels, chain_model):
    first = driver.compile_model(chain_model).artifact
    second = driver.compile_model(chain_model).artifact
    assert first == second


@needs_backend
def test_runs_like_the_reference(test_kernels, chain_model):
    import litec.runtime

    c = driver.compile_model(chain_model)
    model = litec.runtime.load(c.artifact, threads=1)
    inputs = litec.random_inputs(c.module, seed=3)
    ours = model.run(inputs)
    ref = litec.interpret(chain_model, inputs)
    assert list(ours) == list(ref)
    np.testing.assert_allclose(ours["y"], ref["y"], rtol=1e-6)


@needs_backend
def test_llvm_stages(test_kernels, chain_model):
    llvm = driver.compile_model(chain_model, emit="llvm", compile_to="llvm").emitted
    assert "llvm.func @k0_add" in llvm and "llvm.func @k1_mul" in llvm
    ir = driver.compile_model(chain_model, emit="llvm-ir", compile_to="llvm-ir").emitted
    assert 'define void @"k0_add"(ptr' in ir


def test_fingerprint_tells_functions_apart(chain_model):
    from litec.backends.cpu.backend import fingerprint

    module = litec.load(chain_model)
    add = next(op for op in module.walk() if op.name == "tfl.add")
    binds = [Binding(INPUT, 0), Binding(INPUT, 1), Binding(OUTPUT, 0)]

    def key(combine, name="kernel"):
        return fingerprint(_elementwise(add, name, combine, binds).func)

    a_minus_b = key(lambda x, z: arith.SubfOp(x, z))
    assert key(lambda x, z: arith.SubfOp(x, z), name="other") == a_minus_b
    assert key(lambda x, z: arith.SubfOp(z, x)) != a_minus_b
    assert key(lambda x, z: arith.AddfOp(x, z)) != a_minus_b


def test_a_kernel_that_does_not_verify_is_named(monkeypatch, chain_model):
    def broken(op, symbol):
        kernel = gen_add(op, symbol)
        kernel.func.body.block.last_op.detach()  # no func.return: the function is malformed
        return kernel

    generators = {"tfl.add": Generator(broken, _supports_float)}
    generators["tfl.mul"] = Generator(gen_mul_const, _supports_float)
    monkeypatch.setattr(backend_module, "load_generators", lambda: generators)
    with pytest.raises(VerifyException) as e:
        driver.compile_model(chain_model, compile_to="kernel")
    message = str(e.value)
    assert message.startswith("op #0 ADD: kernel @k0_add does not verify: ")
    assert "\n" not in message


def test_opt_levels_choose_the_backends_graph_pipeline(test_kernels, chain_model):
    """-O picks the requested backend's graph pipeline; the graph stage prints parseable IR."""
    from litec.backends.cpu.backend import CpuBackend

    for level in driver.OPT_LEVELS:
        c = driver.compile_model(chain_model, opt_level=level, emit="graph", compile_to="graph")
        assert c.pipeline == CpuBackend.GRAPH_PIPELINES[level]
        assert litec.parse_mlir(c.emitted).verify() is None
    with pytest.raises(LitecError, match="unknown optimization level -O7"):
        driver.compile_model(chain_model, opt_level=7)
