"""fuse-elementwise and fused.elementwise: the reference semantics of a fused op are its
body's, bit for bit; the CPU's fused kernel computes what the separate kernels compute
(float within 1e-6 relative, quantized exactly); on a real model fewer kernels run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import model_path
from harness import median_ms

import litec
from litec import runtime
from litec.backends.cpu.backend import CpuBackend
from litec.dialects import context, fused
from litec.dialects.tfl_reference.core import KernelCall
from litec.dialects.tfl_reference.fused import run_body
from litec.driver import compile_model
from litec.ir.passes import run_pipeline
from litec.lowering.fusion.fuse_elementwise import outline
from litec.lowering.passes import register_all

FLOAT = """
builtin.module {
  func.func @main(%x: tensor<3x37xf32>, %b: tensor<37xf32>, %y: tensor<3x37xf32>) -> tensor<3x37xf32> {
    %s = tfl.add %x, %b {fused_activation_function = "NONE"} : (tensor<3x37xf32>, tensor<37xf32>) -> tensor<3x37xf32>
    %r = tfl.logistic %s : (tensor<3x37xf32>) -> tensor<3x37xf32>
    %m = tfl.mul %r, %s {fused_activation_function = "NONE"} : (tensor<3x37xf32>, tensor<3x37xf32>) -> tensor<3x37xf32>
    %h = tfl.hard_swish %m : (tensor<3x37xf32>) -> tensor<3x37xf32>
    %t = tfl.tanh %h : (tensor<3x37xf32>) -> tensor<3x37xf32>
    %d = tfl.sub %t, %y {fused_activation_function = "RELU6"} : (tensor<3x37xf32>, tensor<3x37xf32>) -> tensor<3x37xf32>
    func.return %d : tensor<3x37xf32>
  }
}
"""

INT8 = """
builtin.module {
  func.func @main(%x: tensor<5x19x!quant.uniform<i8:f32, 0.05:-3>>, %y: tensor<5x19x!quant.uniform<i8:f32, 0.03:7>>, %w: tensor<19xf32>) -> tensor<5x19x!quant.uniform<i8:f32, 0.04:2>> {
    %a = tfl.add %x, %y {fused_activation_function = "RELU"} : (tensor<5x19x!quant.uniform<i8:f32, 0.05:-3>>, tensor<5x19x!quant.uniform<i8:f32, 0.03:7>>) -> tensor<5x19x!quant.uniform<i8:f32, 0.06:-128>>
    %m = tfl.mul %a, %x {fused_activation_function = "NONE"} : (tensor<5x19x!quant.uniform<i8:f32, 0.06:-128>>, tensor<5x19x!quant.uniform<i8:f32, 0.05:-3>>) -> tensor<5x19x!quant.uniform<i8:f32, 0.02:1>>
    %f = tfl.dequantize %m : (tensor<5x19x!quant.uniform<i8:f32, 0.02:1>>) -> tensor<5x19xf32>
    %g = tfl.mul %f, %w {fused_activation_function = "NONE"} : (tensor<5x19xf32>, tensor<19xf32>) -> tensor<5x19xf32>
    %q = tfl.quantize %g : (tensor<5x19xf32>) -> tensor<5x19x!quant.uniform<i8:f32, 0.04:2>>
    func.return %q : tensor<5x19x!quant.uniform<i8:f32, 0.04:2>>
  }
}
"""

REFERENCE_RUNS_FUSED = "op" in KernelCall.__dataclass_fields__
"""Whether the interpreter hands a kernel its op (the fused kernel needs the body)."""


def passes(module, pipeline: str):
    """`module` with the passes of `pipeline` applied (in place)."""
    register_all()
    run_pipeline(module, pipeline, context())
    return module


def fuse(module, before: str = ""):
    """`module` with the passes `before` then fuse-elementwise applied (in place)."""
    return passes(module, ",".join(p for p in (before, "fuse-elementwise") if p))


def fused_ops(module) -> list[fused.ElementwiseOp]:
    return [op for op in module.walk() if isinstance(op, fused.ElementwiseOp)]


def only_fused_op(module) -> fused.ElementwiseOp:
    (op,) = fused_ops(module)
    return op


@pytest.mark.parametrize("text", [FLOAT, INT8], ids=["float", "int8"])
def test_whole_chain_fuses(text):
    module = fuse(litec.parse_mlir(text))
    op = only_fused_op(module)
    assert len(op.inner_ops()) == text.count("tfl.")
    assert list(op.inputs) == list(module.body.block.first_op.body.block.args)


@pytest.mark.parametrize("text", [FLOAT, INT8], ids=["float", "int8"])
def test_reference_body_is_bit_exact(text):
    before = litec.parse_mlir(text)
    inputs = litec.random_inputs(before, seed=3)
    (expected,) = litec.interpret(before, inputs).values()
    op = only_fused_op(fuse(litec.parse_mlir(text)))
    (got,) = run_body(op.body.block, list(inputs.values()))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.skipif(not REFERENCE_RUNS_FUSED, reason="needs KernelCall.op (core.py)")
@pytest.mark.parametrize("text", [FLOAT, INT8], ids=["float", "int8"])
def test_interpreter_runs_fused_module(text):
    before = litec.parse_mlir(text)
    inputs = litec.random_inputs(before, seed=4)
    after = fuse(litec.parse_mlir(text))
    for name, expected in litec.interpret(before, inputs).items():
        np.testing.assert_array_equal(litec.interpret(after, inputs)[name], expected)


def compiled(module, path: Path, opt_level: int = 0):
    """The loaded artifact of `module` (printed with its data to `path`.mlir, compiled at
    `opt_level`: by default no graph passes, so it runs exactly the ops given)."""
    mlir = path.with_suffix(".mlir")
    mlir.write_text(litec.print_mlir(module))
    c = compile_model(mlir, opt_level=opt_level)
    path.write_bytes(c.artifact)
    return c, runtime.load(path)


def assert_close(got: dict, expected: dict) -> None:
    """Float outputs within 1e-6 of the largest magnitude, others exactly."""
    for name, ref in expected.items():
        if ref.dtype.kind == "f":
            scale = max(1.0, float(np.max(np.abs(ref))))
            assert float(np.max(np.abs(got[name] - ref))) <= 1e-6 * scale, name
        else:
            np.testing.assert_array_equal(got[name], ref)


@pytest.mark.parametrize("text", [FLOAT, INT8], ids=["float", "int8"])
def test_cpu_fused_kernel_matches_unfused(text, tmp_path):
    before = litec.parse_mlir(text)
    inputs = litec.random_inputs(before, seed=5)
    unfused_c, unfused = compiled(before, tmp_path / "unfused.litec")
    fused_c, fused_model = compiled(fuse(litec.parse_mlir(text)), tmp_path / "fused.litec")
    assert len(fused_c.kernels) == 1 < len(unfused_c.kernels)
    assert_close(fused_model.run(inputs), unfused.run(inputs))


FLOAT_UNARY = ["relu", "relu6", "relu_n1_to_1", "logistic", "tanh", "hard_swish", "neg", "abs"]
FLOAT_BINARY = ["add", "sub", "mul", "maximum", "minimum", "squared_difference"]
WITH_ACTIVATION = {"add", "sub", "mul"}


def _binary(name: str, out: str, a: str, b: str, types: str, rng) -> str:
    act = rng.choice(["NONE", "RELU", "RELU6"]) if name in WITH_ACTIVATION else None
    attrs = f' {{fused_activation_function = "{act}"}}' if act else ""
    return f"{out} = tfl.{name} {a}, {b}{attrs} : {types}"


def random_float_chain(seed: int, shape: str = "2x5x37", length: int = 8) -> str:
    """@main(x, y, b) of `length` random float ops, each on the last value and another
    input or earlier value (so some intermediates have several uses); returns the last
    value and one earlier value (which then cannot fuse into the last one's group)."""
    rng = np.random.default_rng(seed)
    t, tb = f"tensor<{shape}xf32>", "tensor<37xf32>"
    lines, values = [], ["%x"]
    for i in range(length):
        out = f"%v{i}"
        if rng.random() < 0.5:
            lines.append(f"{out} = tfl.{rng.choice(FLOAT_UNARY)} {values[-1]} : ({t}) -> {t}")
        else:
            other = rng.choice(["%b", "%y", *values])
            types = f"({t}, {tb if other == '%b' else t}) -> {t}"
            lines.append(_binary(rng.choice(FLOAT_BINARY), out, values[-1], other, types, rng))
        values.append(out)
    extra = rng.choice(values[1:-1])
    body = "\n    ".join(lines)
    return f"""builtin.module {{
  func.func @main(%x: {t}, %y: {t}, %b: {tb}) -> ({t}, {t}) {{
    {body}
    func.return {values[-1]}, {extra} : {t}, {t}
  }}
}}"""


def random_int8_chain(seed: int, length: int = 6) -> str:
    """@main(x, y) of `length` random quantized ADD/SUB/MUL (random scales and zero points)
    and DEQUANTIZE -> float activation -> QUANTIZE steps, on int8 tensors."""
    rng = np.random.default_rng(seed)

    def qtype() -> str:
        scale, zero_point = rng.uniform(0.01, 0.1), int(rng.integers(-20, 20))
        return f"tensor<4x33x!quant.uniform<i8:f32, {scale:.6f}:{zero_point}>>"

    types = {"%x": qtype(), "%y": qtype()}
    lines, last = [], "%x"
    for i in range(length):
        out, t_out = f"%v{i}", qtype()
        if rng.random() < 0.3:
            f32 = "tensor<4x33xf32>"
            act = rng.choice(FLOAT_UNARY)
            lines.append(f"%f{i} = tfl.dequantize {last} : ({types[last]}) -> {f32}")
            lines.append(f"%g{i} = tfl.{act} %f{i} : ({f32}) -> {f32}")
            lines.append(f"{out} = tfl.quantize %g{i} : ({f32}) -> {t_out}")
        else:
            other = rng.choice(list(types))
            signature = f"({types[last]}, {types[other]}) -> {t_out}"
            name = rng.choice(["add", "sub", "mul"])
            lines.append(_binary(name, out, last, other, signature, rng))
        types[out], last = t_out, out
    body = "\n    ".join(lines)
    return f"""builtin.module {{
  func.func @main(%x: {types["%x"]}, %y: {types["%y"]}) -> {types[last]} {{
    {body}
    func.return {last} : {types[last]}
  }}
}}"""


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("make", [random_float_chain, random_int8_chain], ids=["float", "int8"])
def test_random_chains(make, seed, tmp_path):
    """Random chains: the reference of the fused body is bit-exact, and the CPU's fused
    kernels compute what the unfused kernels compute."""
    text = make(seed)
    before = litec.parse_mlir(text)
    inputs = litec.random_inputs(before, seed=seed)
    after = fuse(litec.parse_mlir(text))
    assert fused_ops(after)
    _, unfused = compiled(before, tmp_path / "unfused.litec")
    _, fused_model = compiled(after, tmp_path / "fused.litec")
    assert_close(fused_model.run(inputs), unfused.run(inputs))


TABLES = """
builtin.module {
  func.func @main(%x: tensor<64x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<64x!quant.uniform<i8:f32, 0.0078125:0>> {
    %l = tfl.logistic %x : (tensor<64x!quant.uniform<i8:f32, 0.5:-3>>) -> tensor<64x!quant.uniform<i8:f32, 0.00390625:-128>>
    %t = tfl.tanh %l : (tensor<64x!quant.uniform<i8:f32, 0.00390625:-128>>) -> tensor<64x!quant.uniform<i8:f32, 0.0078125:0>>
    func.return %t : tensor<64x!quant.uniform<i8:f32, 0.0078125:0>>
  }
}
"""


def test_cpu_refuses_table_ops_with_a_reason():
    module = litec.parse_mlir(TABLES)
    ops = list(module.body.block.first_op.body.block.ops)[:-1]
    ok, reason = CpuBackend().supports(outline(ops))
    assert not ok
    assert reason == "LOGISTIC: a table lookup does not run in a fused vector loop"
    assert not fused_ops(fuse(module))


@pytest.mark.slow
def test_selfie_segmentation_fused_on_cpu(tmp_path):
    """-O2's graph passes, then with and without fuse-elementwise."""
    path = model_path("selfie_segmentation.tflite")
    o2 = CpuBackend.GRAPH_PIPELINES[2]
    before = passes(litec.load(path), o2)
    inputs = litec.random_inputs(before, seed=0)
    after = fuse(litec.load(path), o2)
    assert fused_ops(after)
    unfused_c, unfused = compiled(before, tmp_path / "unfused.litec")
    fused_c, fused_model = compiled(after, tmp_path / "fused.litec")
    assert len(fused_c.kernels) < len(unfused_c.kernels)
    assert_close(fused_model.run(inputs), unfused.run(inputs))
    print(
        f"kernels {len(unfused_c.kernels)} -> {len(fused_c.kernels)}, latency "
        f"{median_ms(unfused, inputs):.3f} -> {median_ms(fused_model, inputs):.3f} ms"
    )
