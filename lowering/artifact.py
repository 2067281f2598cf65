"""The last stage: a memory-planned module and its backend sections -> one artifact file.

    functions = plan_functions(module, plan, kernels, symbols)   # the execution plan
    exe = build_executable(module, plan, functions, sections, target=..., compiler_version=...)
    data = write_artifact(exe)                                   # bytes, deterministic

`plan_functions` turns each `func.func` into a list of steps: a kernel step per live op
with a kernel (its arguments in the kernel's binding order), a WHILE step per `tfl.while` (its
arguments: the loop's inputs, then its outputs, as the runtime expects), nothing for
constants and view ops the plan aliased. `write_artifact` encodes an `Executable` with the
FlatBuffers schema in runtime/schema/artifact.fbs (docs/artifact.md); the same executable
always gives the same bytes.
"""

from __future__ import annotations

import json

import flatbuffers
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType
from xdsl.ir import Operation

from litec.backends.cpu.kernels.base import INPUT, OUTPUT, Kernel
from litec.dialects import tfl
from litec.dialects.tfl_reference.core import kernel_name, op_index, signature
from litec.ir.diagnostics import LitecError
from litec.lowering.memory_plan import VIEW_OPS, MemoryPlan
from litec.runtime import plan as rt
from litec.runtime.artifact import (
    ALIGN,
    FORMAT_VERSION,
    IDENTIFIER,
    SEGMENTS,
    STEP_KINDS,
    checksum,
)
from litec.runtime.artifact_fb import (
    Artifact,
    BufferRef,
    Function,
    Quant,
    Section,
    Step,
    TensorSpec,
    Version,
)

SOURCE_OPS = (tfl.ConstOp, tfl.NoValueOp, tfl.VariableOp)
"""Ops that make no step: their values are in the constant segment (or absent)."""

# ----------------------------------------------------------------------------- the plan


def _spec(name: str, info) -> rt.TensorSpec:
    quant = None
    if info.quant is not None:
        q = info.quant
        quant = rt.QuantSpec(tuple(q.scales), tuple(q.zero_points), q.axis)
    return rt.TensorSpec(name, tuple(info.shape), info.dtype.name, quant)


def signature_specs(module: ModuleOp) -> tuple[list[rt.TensorSpec], list[rt.TensorSpec]]:
    """`@main`'s inputs and outputs as the artifact records them."""
    sig = signature(module)
    return [_spec(n, i) for n, i in sig.inputs], [_spec(n, i) for n, i in sig.outputs]


def _kernel_args(op: Operation, kernel: Kernel, plan: MemoryPlan) -> list[rt.BufferRef]:
    args = []
    for k, b in enumerate(kernel.bindings):
        if b.kind == INPUT:
            args.append(plan.buffers[op.operands[b.index]])
        elif b.kind == OUTPUT:
            args.append(plan.buffers[op.results[b.index]])
        else:
            args.append(plan.bindings[(op, k)])
    return args


def _step(
    op: Operation, plan: MemoryPlan, kernels: dict[Operation, Kernel], symbols
) -> rt.Step | None:
    """The step that runs `op`, or None when it needs none."""
    indices = [] if op_index(op) is None else [op_index(op)]
    name = kernel_name(op) if isinstance(op, tfl.TflOp) else op.name
    if isinstance(op, tfl.WhileOp):
        args = [plan.buffers[v] for v in (*op.inputs, *op.outputs)]
        cond, body = op.cond.root_reference.data, op.body.root_reference.data
        return rt.Step("while", name, args, op_indices=indices, cond=cond, body=body)
    if op in kernels:
        backend, symbol = symbols[op]
        kernel = kernels[op]
        args = _kernel_args(op, kernel, plan)
        return rt.Step("kernel", name, args, backend, symbol, indices, parts=kernel.parts)
    if op in symbols:  # another backend's op: its tensor operands, then its results
        backend, symbol = symbols[op]
        values = [v for v in op.operands if isinstance(v.type, TensorType)] + list(op.results)
        return rt.Step("kernel", name, [plan.buffers[v] for v in values], backend, symbol, indices)
    if isinstance(op, (*SOURCE_OPS, *VIEW_OPS, func.ReturnOp)):
        return None
    raise LitecError("no backend computes this operator", op_index=op_index(op), op_name=name)


def plan_functions(
    module: ModuleOp,
    plan: MemoryPlan,
    kernels: dict[Operation, Kernel],
    symbols: dict[Operation, tuple[str, str]],
) -> dict[str, rt.Function]:
    """Every function of `module` as steps; `symbols[op]` is (backend, kernel symbol)."""
    functions = {}
    for fn in module.ops:
        if not isinstance(fn, func.FuncOp):
            continue
        block = fn.body.block
        steps = [_step(op, plan, kernels, symbols) for op in block.ops if op not in plan.dead]
        ret = block.last_op
        assert isinstance(ret, func.ReturnOp)
        functions[fn.sym_name.data] = rt.Function(
            fn.sym_name.data,
            [plan.buffers[a] for a in block.args],
            [plan.buffers[v] for v in ret.operands],
            [s for s in steps if s is not None],
        )
    return functions


def build_executable(
    module: ModuleOp,
    plan: MemoryPlan,
    functions: dict[str, rt.Function],
    sections: list,
    *,
    target: str = "",
    compiler_version: str = "",
) -> rt.Executable:
    """The whole compiled model; `sections` hold `.backend`, `.data`, `.meta` each."""
    inputs, outputs = signature_specs(module)
    sha = module.attributes.get("tfl.sha256")
    return rt.Executable(
        inputs=inputs,
        outputs=outputs,
        arena_size=plan.arena_size,
        constants=plan.constants,
        functions=functions,
        sections=[rt.SectionData(s.backend, bytes(s.data), dict(s.meta)) for s in sections],
        source_sha256=sha.data if isinstance(sha, StringAttr) else "",
        compiler_version=compiler_version,
        target=target,
        arena_lower_bound=plan.lower_bound,
    )


# ----------------------------------------------------------------------------- encoding

_SEGMENT_CODES = {name: code for code, name in SEGMENTS.items()}
_KIND_CODES = {name: code for code, name in STEP_KINDS.items()}


class _Writer:
    """Builds the FlatBuffer; children before parents, as FlatBuffers requires."""

    def __init__(self, size_hint: int):
        self.b = flatbuffers.Builder(size_hint)

    def aligned_bytes(self, data: bytes) -> int:
        """A byte vector whose data starts on a 64-byte boundary of the file.

        flatc's Python code ignores `force_align`; FlatBuffers aligns from the end of the
        buffer and pads the finished buffer to its largest alignment, so this holds from
        the start too."""
        b = self.b
        b.StartVector(1, len(data), ALIGN)
        b.head -= len(data)
        b.Bytes[b.head : b.head + len(data)] = data
        return b.EndVector()

    def strings(self, items: list[str]) -> int:
        offsets = [self.b.CreateString(s) for s in items]
        return self.offsets(offsets)

    def offsets(self, offsets: list[int]) -> int:
        self.b.StartVector(4, len(offsets), 4)
        for o in reversed(offsets):
            self.b.PrependUOffsetTRelative(o)
        return self.b.EndVector()

    def scalars(self, kind: str, items: list) -> int:
        size = {"d": 8, "q": 8, "i": 4}[kind]
        prepend = {"d": self.b.PrependFloat64, "q": self.b.PrependInt64, "i": self.b.PrependInt32}
        self.b.StartVector(size, len(items), size)
        for x in reversed(items):
            prepend[kind](x)
        return self.b.EndVector()

    def refs(self, refs: list[rt.BufferRef]) -> int:
        self.b.StartVector(24, len(refs), 8)
        for r in reversed(refs):
            BufferRef.CreateBufferRef(self.b, r.offset, r.size, _SEGMENT_CODES[r.segment])
        return self.b.EndVector()

    def quant(self, q: rt.QuantSpec) -> int:
        scales = self.scalars("d", [float(s) for s in q.scales])
        zps = self.scalars("q", [int(z) for z in q.zero_points])
        Quant.Start(self.b)
        Quant.AddScales(self.b, scales)
        Quant.AddZeroPoints(self.b, zps)
        Quant.AddAxis(self.b, -1 if q.axis is None else q.axis)
        return Quant.End(self.b)

    def tensor_spec(self, t: rt.TensorSpec) -> int:
        name, dtype = self.b.CreateString(t.name), self.b.CreateString(t.dtype)
        shape = self.scalars("q", [int(d) for d in t.shape])
        quant = None if t.quant is None else self.quant(t.quant)
        TensorSpec.Start(self.b)
        TensorSpec.AddName(self.b, name)
        TensorSpec.AddShape(self.b, shape)
        TensorSpec.AddDtype(self.b, dtype)
        if quant is not None:
            TensorSpec.AddQuant(self.b, quant)
        return TensorSpec.End(self.b)

    def step(self, s: rt.Step) -> int:
        b = self.b
        name, args = b.CreateString(s.name), self.refs(s.args)
        backend, kernel = b.CreateString(s.backend), b.CreateString(s.kernel)
        cond, body = b.CreateString(s.cond), b.CreateString(s.body)
        indices = self.scalars("i", [int(i) for i in s.op_indices])
        Step.Start(b)
        Step.AddKind(b, _KIND_CODES[s.kind])
        Step.AddName(b, name)
        Step.AddArgs(b, args)
        Step.AddBackend(b, backend)
        Step.AddKernel(b, kernel)
        Step.AddOpIndices(b, indices)
        Step.AddCond(b, cond)
        Step.AddBody(b, body)
        Step.AddParts(b, s.parts)
        return Step.End(b)

    def function(self, f: rt.Function) -> int:
        b = self.b
        steps = self.offsets([self.step(s) for s in f.steps])
        name, inputs, outputs = b.CreateString(f.name), self.refs(f.inputs), self.refs(f.outputs)
        Function.Start(b)
        Function.AddName(b, name)
        Function.AddInputs(b, inputs)
        Function.AddOutputs(b, outputs)
        Function.AddSteps(b, steps)
        return Function.End(b)

    def section(self, s: rt.SectionData, symbols: list[str]) -> int:
        b = self.b
        data = self.aligned_bytes(bytes(s.data))
        backend, names = b.CreateString(s.backend), self.strings(symbols)
        meta = b.CreateString(json.dumps(s.meta, sort_keys=True, separators=(",", ":")))
        Section.Start(b)
        Section.AddBackend(b, backend)
        Section.AddData(b, data)
        Section.AddSymbols(b, names)
        Section.AddMetaJson(b, meta)
        return Section.End(b)

    def artifact(self, exe: rt.Executable) -> bytes:
        b = self.b
        constants = self.aligned_bytes(bytes(exe.constants))
        used = _symbols_by_backend(exe)
        sections = self.offsets([self.section(s, used.get(s.backend, [])) for s in exe.sections])
        functions = self.offsets([self.function(f) for f in exe.functions.values()])
        inputs = self.offsets([self.tensor_spec(t) for t in exe.inputs])
        outputs = self.offsets([self.tensor_spec(t) for t in exe.outputs])
        texts = [b.CreateString(t) for t in (exe.compiler_version, exe.source_sha256, exe.target)]
        Artifact.Start(b)
        Artifact.AddVersion(b, Version.CreateVersion(b, *FORMAT_VERSION))
        Artifact.AddCompilerVersion(b, texts[0])
        Artifact.AddSourceSha256(b, texts[1])
        Artifact.AddTarget(b, texts[2])
        Artifact.AddInputs(b, inputs)
        Artifact.AddOutputs(b, outputs)
        Artifact.AddArenaSize(b, exe.arena_size)
        Artifact.AddArenaLowerBound(b, exe.arena_lower_bound)
        Artifact.AddFunctions(b, functions)
        Artifact.AddSections(b, sections)
        Artifact.AddConstants(b, constants)
        Artifact.AddChecksum(b, 0xFFFFFFFF)  # not the default: the field gets its slot
        b.FinishSizePrefixed(Artifact.End(b), IDENTIFIER)
        return _with_checksum(bytearray(b.Output()))


def _with_checksum(data: bytearray) -> bytes:
    """The finished file with its checksum field filled in."""
    root = 4 + int.from_bytes(data[4:8], "little")
    at, crc = checksum(memoryview(data), root)
    data[at : at + 4] = crc.to_bytes(4, "little")
    return bytes(data)


def _symbols_by_backend(exe: rt.Executable) -> dict[str, list[str]]:
    """Every kernel symbol the steps call, per backend, sorted."""
    found: dict[str, set[str]] = {}
    for f in exe.functions.values():
        for s in f.steps:
            if s.kind == "kernel":
                found.setdefault(s.backend, set()).add(s.kernel)
    return {backend: sorted(names) for backend, names in found.items()}


def write_artifact(exe: rt.Executable) -> bytes:
    """Encode a compiled model; the same executable always gives the same bytes."""
    steps = sum(len(f.steps) for f in exe.functions.values())
    hint = len(exe.constants) + sum(len(s.data) for s in exe.sections) + 256 * steps + 65536
    return _Writer(hint).artifact(exe)
