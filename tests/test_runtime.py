"""The runtime: load an artifact, run it, profile it, and refuse what it cannot run.

Until litec's own CPU code generator is wired in, the kernels here are tiny LLVM IR
functions written in this test, compiled with llvmlite and linked with `cc` into the
artifact's shared object: the runtime cannot tell them from generated ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from test_memory_plan import Fn, f32t, module_of
from xdsl.dialects.builtin import TensorType, i1, i32

import litec.lowering.artifact as writer
from litec import interpret
from litec.backends.cpu.kernels.base import CONST, INPUT, OUTPUT, SCRATCH, Binding, Kernel
from litec.dialects import tfl
from litec.ir.diagnostics import LitecError
from litec.lowering.artifact import build_executable, plan_functions, write_artifact
from litec.lowering.memory_plan import plan_memory
from litec.runtime import load
from litec.runtime import plan as rt
from litec.runtime.cpu_executor import check_target, parse_fingerprint

llvm = pytest.importorskip("llvmlite.binding")

# ----------------------------------------------------------------------------- kernels

ELEMENTWISE = {
    "add_f32": (["float", "float"], "float", "%r = fadd float %x0, %x1"),
    "mul_f32": (["float", "float"], "float", "%r = fmul float %x0, %x1"),
    "neg_f32": (["float"], "float", "%r = fneg float %x0"),
    "relu_f32": (
        ["float"],
        "float",
        "%c = fcmp ogt float %x0, 0.0\n  %r = select i1 %c, float %x0, float 0.0",
    ),
    "add_i32": (["i32", "i32"], "i32", "%r = add i32 %x0, %x1"),
    "less_i32": (["i32", "i32"], "i8", "%c = icmp slt i32 %x0, %x1\n  %r = zext i1 %c to i8"),
}


def kernel_ir(symbol: str, op: str, n: int, scratch: bool = False) -> str:
    """`void symbol(in..., [scratch], out)`: out[i] = op(in[i]...) for i < n.

    With `scratch`, the result goes through the scratch buffer first."""
    ins, out_ty, body = ELEMENTWISE[op]
    params = [f"ptr %a{k}" for k in range(len(ins))] + (["ptr %s"] if scratch else []) + ["ptr %o"]
    loads = "\n  ".join(
        f"%p{k} = getelementptr {t}, ptr %a{k}, i64 %i\n  %x{k} = load {t}, ptr %p{k}"
        for k, t in enumerate(ins)
    )
    result = "%r"
    if scratch:
        result = "%rs"
        body += f"\n  %ps = getelementptr {out_ty}, ptr %s, i64 %i\n  store {out_ty} %r, ptr %ps"
        body += f"\n  %rs = load {out_ty}, ptr %ps"
    return f"""
define void @{symbol}({", ".join(params)}) {{
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  {loads}
  {body}
  %po = getelementptr {out_ty}, ptr %o, i64 %i
  store {out_ty} {result}, ptr %po
  %next = add i64 %i, 1
  %done = icmp eq i64 %next, {n}
  br i1 %done, label %exit, label %loop
exit:
  ret void
}}
"""


def build_so(ir: str) -> bytes:
    """A shared object from LLVM IR text (llvmlite + the system `cc`)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    module = llvm.parse_assembly(ir)
    module.verify()
    machine = llvm.Target.from_default_triple().create_target_machine(reloc="pic")
    with tempfile.TemporaryDirectory() as d:
        obj, so = Path(d, "k.o"), Path(d, "k.so")
        obj.write_bytes(machine.emit_object(module))
        subprocess.run(["cc", "-shared", "-o", str(so), str(obj)], check=True)
        return so.read_bytes()


def host_fingerprint() -> str:
    features = ",".join(f"+{k}" for k, on in sorted(llvm.get_host_cpu_features().items()) if on)
    return f"{llvm.get_process_triple()} {llvm.get_host_cpu_name()} {features}"


class Compiled:
    """A module, its kernels (op -> (ir op, bindings, scratch?)) and its artifact."""

    def __init__(self, module, kernels: dict, extra_symbols=(), **exe_changes):
        self.module = module
        self.kernels = {op: Kernel(None, b) for op, (_, b) in kernels.items()}
        symbols, irs = {}, []
        for k, (op, (name, bindings)) in enumerate(kernels.items()):
            symbol = f"k{k}_{name}"
            n = int(np.prod(op.results[0].type.get_shape()))
            scratch = any(b.kind == SCRATCH for b in bindings)
            irs.append(kernel_ir(symbol, name, n, scratch))
            symbols[op] = ("cpu", symbol)
        self.plan = plan_memory(module, self.kernels)
        functions = plan_functions(module, self.plan, self.kernels, symbols)
        section = rt.SectionData("cpu", build_so("\n".join(irs)), {})
        exe = build_executable(
            module, self.plan, functions, [section], target=host_fingerprint(), compiler_version="t"
        )
        for key, value in exe_changes.items():
            setattr(exe, key, value)
        self.executable = exe
        self.data = write_artifact(exe)


def io(x) -> list[Binding]:
    """Bindings: operands `x` (indices) as inputs, result 0 as output."""
    return [Binding(INPUT, i) for i in x] + [Binding(OUTPUT, 0)]


def straight_line() -> Compiled:
    """add, relu, mul by a constant (packed as CONST), reshape (a view), neg via scratch."""
    f = Fn("main", [f32t(4, 16), f32t(4, 16)])
    x, y = f.args
    c_data = np.linspace(-2, 2, 64, dtype=np.float32).reshape(4, 16)
    a = f.binary(tfl.AddOp, x, y)
    b = f.unary(tfl.ReluOp, a)
    c = f.binary(tfl.MulOp, b, f.const(c_data))
    d = f.unary(tfl.NegOp, f.reshape(c, (64,)))
    m = module_of(f.finish(d, a))
    kernels = {
        a.owner: ("add_f32", io([0, 1])),
        b.owner: ("relu_f32", io([0])),
        c.owner: ("mul_f32", [Binding(INPUT, 0), Binding(CONST, data=c_data), Binding(OUTPUT, 0)]),
        d.owner: ("neg_f32", [Binding(INPUT, 0), Binding(SCRATCH, size=256), Binding(OUTPUT, 0)]),
    }
    return Compiled(m, kernels)


def looping() -> Compiled:
    """main: (i, x) -> WHILE i < 5: (i + 1, relu(x) + x), then neg."""
    cond = Fn("cond", [TensorType(i32, (1,)), f32t(4, 16)])
    flag = cond.binary(
        tfl.LessOp, cond.args[0], cond.const(np.array([5], np.int32)), TensorType(i1, (1,))
    )
    body = Fn("body", [TensorType(i32, (1,)), f32t(4, 16)])
    i, x = body.args
    i_next = body.binary(tfl.AddOp, i, body.const(np.array([1], np.int32)))
    r = body.unary(tfl.ReluOp, x)
    x_next = body.binary(tfl.AddOp, r, x)
    main = Fn("main", [TensorType(i32, (1,)), f32t(4, 16)])
    t = main.unary(tfl.NegOp, main.args[1])
    n, y = main.while_("cond", "body", [main.args[0], t])
    out = main.unary(tfl.NegOp, y)
    m = module_of(main.finish(out, n), cond.finish(flag), body.finish(i_next, x_next))
    kernels = {
        flag.owner: ("less_i32", io([0, 1])),
        i_next.owner: ("add_i32", io([0, 1])),
        r.owner: ("relu_f32", io([0])),
        x_next.owner: ("add_f32", io([0, 1])),
        t.owner: ("neg_f32", io([0])),
        out.owner: ("neg_f32", io([0])),
    }
    return Compiled(m, kernels)


@pytest.fixture(scope="module")
def line() -> Compiled:
    return straight_line()


@pytest.fixture(scope="module")
def loop() -> Compiled:
    return looping()


def random_inputs(m, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        s.name: (
            rng.standard_normal(s.shape) if s.dtype == "float32" else rng.integers(-3, 7, s.shape)
        ).astype(s.dtype)
        for s in m.inputs
    }


def check_against_reference(compiled: Compiled, m, seed: int) -> None:
    inputs = random_inputs(m, seed)
    got = m.run(inputs)
    want = interpret(compiled.module, inputs)
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


# ----------------------------------------------------------------------------- running


def test_runtime_imports_neither_xdsl_nor_llvmlite():
    code = (
        "import sys, litec.runtime, litec.runtime.model, litec.runtime.cpu_executor;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('xdsl', 'llvmlite'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_straight_line_matches_the_reference(line):
    m = load(line.data)
    for seed in range(3):
        check_against_reference(line, m, seed)


def test_while_matches_the_reference(loop):
    m = load(loop.data)
    for seed in range(3):
        check_against_reference(loop, m, seed)
    out = m.run({"input_0": np.array([5], np.int32), "input_1": np.ones((4, 16), np.float32)})
    assert out["output_1"] == 5  # cond false at once: the loop's outputs are its inputs


def test_load_from_a_path_maps_the_constants(line, tmp_path):
    path = tmp_path / "m.litec"
    path.write_bytes(line.data)
    m = load(path, threads=1)
    consts = m._memory[rt.CONST]
    assert not consts.flags.writeable and not consts.flags.owndata  # the mapped file itself
    assert consts.ctypes.data % 64 == 0 and m._memory[rt.ARENA].ctypes.data % 64 == 0
    check_against_reference(line, m, 7)
    assert [s.name for s in m.inputs] == ["input_0", "input_1"]
    assert [s.name for s in m.outputs] == ["output_0", "output_1"]
    assert m.outputs[0].shape == (64,) and m.outputs[0].dtype == "float32"


def test_inputs_as_a_list(line):
    m = load(line.data)
    inputs = random_inputs(m)
    by_name, by_list = m.run(inputs), m.run(list(inputs.values()))
    for name in by_name:
        np.testing.assert_array_equal(by_name[name], by_list[name])


def test_outputs_are_copies(line):
    m = load(line.data)
    first = m.run(random_inputs(m, 1))["output_0"]
    kept = first.copy()
    m.run(random_inputs(m, 2))
    np.testing.assert_array_equal(first, kept)


def test_no_allocation_per_run_beyond_the_outputs():
    f = Fn("main", [f32t(256, 256)])
    y = f.unary(tfl.ReluOp, f.unary(tfl.NegOp, f.args[0]))
    compiled = Compiled(
        module_of(f.finish(y)),
        {y.owner.operands[0].owner: ("neg_f32", io([0])), y.owner: ("relu_f32", io([0]))},
    )
    m = load(compiled.data)
    x = np.ones((256, 256), np.float32)
    m.run([x])
    tracemalloc.start()
    m.run([x])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < x.nbytes + 64 * 1024  # the returned output, and small change


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"nope": 1}, r"unknown input 'nope'; the model's inputs are \['input_0', 'input_1'\]"),
        ({"input_0": np.zeros((4, 16), np.float32)}, "missing input 'input_1'"),
        ([np.zeros((4, 16), np.float32)], "expected 2 inputs, got 1"),
        (
            [np.zeros((4, 15), np.float32), np.zeros((4, 16), np.float32)],
            r"input 'input_0' has shape \[4, 15\], the model expects \[4, 16\]",
        ),
        (
            [np.zeros((4, 16)), np.zeros((4, 16), np.float32)],
            "input 'input_0' has dtype float64, the model expects float32",
        ),
    ],
)
def test_wrong_inputs(line, inputs, message):
    m = load(line.data)
    with pytest.raises(LitecError, match=message):
        m.run(inputs)


def test_profile_and_chrome_trace(loop, tmp_path):
    m = load(loop.data)
    inputs = {"input_0": np.array([2], np.int32), "input_1": np.ones((4, 16), np.float32)}
    m.run(inputs)
    with pytest.raises(LitecError, match="no profile recorded"):
        m.export_chrome_trace(tmp_path / "none.json")
    m.run(inputs, profile=True)
    m.run(inputs, profile=True)
    rows = m.profile()

    def calls(function: str, name: str) -> int:
        return sum(r["calls"] for r in rows if (r["function"], r["name"]) == (function, name))

    assert calls("main", "WHILE") == 2
    assert calls("cond", "LESS") == 2 * 4  # i = 2, 3, 4, 5
    assert calls("body", "ADD") == 2 * 3 * 2  # two ADDs, three iterations
    assert all(r["total_ms"] >= 0 and r["op_indices"] for r in rows)
    path = tmp_path / "trace.json"
    m.export_chrome_trace(path)
    events = json.loads(path.read_text())["traceEvents"]
    steps = [e for e in events if e["cat"] != "run"]
    assert len([e for e in events if e["cat"] == "run"]) == 2
    assert len(steps) == sum(r["calls"] for r in rows)
    assert {e["ph"] for e in events} == {"X"}
    kernel = next(e for e in steps if e["name"] == "LESS")
    assert kernel["args"]["function"] == "cond" and kernel["args"]["op_indices"] == [0]
    m.reset_profile()
    assert m.profile() == []


def test_closed_model(line):
    m = load(line.data)
    m.close()
    with pytest.raises(LitecError, match="closed"):
        m.run(random_inputs(m))


# ----------------------------------------------------------------------------- refusing


def test_load_errors_name_the_file(line, tmp_path):
    with pytest.raises(LitecError, match=r"nope\.litec: no such file"):
        load(tmp_path / "nope.litec")
    with pytest.raises(LitecError, match="cannot read"):
        load(tmp_path)
    path = tmp_path / "cut.litec"
    path.write_bytes(line.data[: len(line.data) // 2])
    with pytest.raises(LitecError, match=r"cut\.litec: truncated artifact"):
        load(path)
    path.write_bytes(b"")
    with pytest.raises(LitecError, match="not a litec artifact: only 0 bytes"):
        load(path)


def test_wrong_magic(line):
    data = bytearray(line.data)
    data[8:12] = b"NOPE"
    with pytest.raises(LitecError, match="wrong magic"):
        load(bytes(data))


def test_newer_format(line, monkeypatch):
    monkeypatch.setattr(writer, "FORMAT_VERSION", (99, 0))
    with pytest.raises(LitecError, match="artifact format 99.0 is newer"):
        load(write_artifact(line.executable))


def test_another_architecture(line):
    exe = line.executable
    other = rt.Executable(
        **{**exe.__dict__, "target": "aarch64-unknown-linux-gnu neoverse-n1 +neon"}
    )
    with pytest.raises(LitecError, match="compiled for aarch64"):
        load(write_artifact(other))


def test_missing_cpu_features(line):
    triple = llvm.get_process_triple()
    with pytest.raises(LitecError, match="needs CPU features this machine lacks: avx512vnni, fma"):
        check_target(f"{triple} x +sse2,+fma,-avx,+avx512vnni,+madeup", flags={"sse2"})
    check_target(f"{triple} x +sse2,-fma", flags={"sse2"})
    flags = __import__("litec.runtime.cpu_executor", fromlist=["host_flags"]).host_flags()
    if flags is None or "amx_tile" in flags:
        pytest.skip("cannot find a feature this CPU lacks")
    exe = line.executable
    other = rt.Executable(**{**exe.__dict__, "target": f"{triple} sapphirerapids +amx-tile"})
    with pytest.raises(LitecError, match="lacks: amx-tile"):
        load(write_artifact(other))


def test_fingerprint_parsing():
    assert parse_fingerprint("x86_64-unknown-linux-gnu znver4 +avx2,-avx512f,+fma") == (
        "x86_64-unknown-linux-gnu",
        {"avx2", "fma"},
    )
    assert parse_fingerprint("") == ("", set())
    check_target("")


def test_broken_shared_object(line):
    exe = line.executable
    broken = rt.Executable(**{**exe.__dict__, "sections": [rt.SectionData("cpu", b"not elf", {})]})
    with pytest.raises(LitecError, match="cannot load the artifact's CPU code"):
        load(write_artifact(broken))


def test_kernel_missing_from_the_shared_object(line):
    exe = line.executable
    other = build_so(kernel_ir("something_else", "neg_f32", 4))
    renamed = rt.Executable(**{**exe.__dict__, "sections": [rt.SectionData("cpu", other, {})]})
    with pytest.raises(LitecError, match="the CPU code has no kernel 'k0_add_f32'"):
        load(write_artifact(renamed))


def test_backend_without_an_executor(line):
    exe = line.executable
    main = exe.functions["main"]
    step = rt.Step("kernel", "X", [], "no-such-backend", "k")
    functions = {
        **exe.functions,
        "main": rt.Function("main", main.inputs, main.outputs, [*main.steps, step]),
    }
    other = rt.Executable(
        **{
            **exe.__dict__,
            "functions": functions,
            "sections": [*exe.sections, rt.SectionData("no-such-backend", b"", {})],
        }
    )
    with pytest.raises(LitecError, match="no executor for backend 'no-such-backend'"):
        load(write_artifact(other))
