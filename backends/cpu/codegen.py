"""Native code for the CPU backend: `llvm` dialect -> LLVM IR -> object code -> shared object.

    llvm-dialect module --(xdsl.backend.llvm + the ops of lowering/to_llvm/llvm_ops.py)-->
    LLVM IR (+ target-cpu / target-features / prefer-vector-width on every function)
    --(llvmlite: parse, verify, O3 new-pass-manager pipeline, emit_object)--> object
    --(the system `cc -shared`)--> .so bytes

The target is the host CPU with all its features (AVX2 / AVX-512 / VNNI where present), or
plain x86-64 with `portable=True`. A large module is split into parts of whole functions
that are optimised and emitted in parallel, each in a forked child under a time limit (an
LLVM hang is an error that names the function, not a stuck compile), then linked in a fixed
order: the same module compiles to the same bytes, whatever the number of cores.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from multiprocessing.connection import wait

import llvmlite.binding as llvm_binding
import llvmlite.ir as ir
from xdsl.backend.llvm import convert as xdsl_convert
from xdsl.backend.llvm.convert_op import convert_op
from xdsl.backend.llvm.convert_type import convert_type
from xdsl.dialects import llvm
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue

from litec.ir.diagnostics import LitecError
from litec.lowering.to_llvm import llvm_ops

CODEGEN_TIMEOUT_S = 300.0
"""Seconds optimisation + object emission of one part of a module may take (an error after)."""

CHUNK_OPS = 1500
"""About how many `llvm` ops go into one object file (parts compile in parallel)."""

PORTABLE_CPU = "x86-64"


@dataclass(frozen=True)
class Target:
    """What code is built for: LLVM triple, CPU name and feature string (`+avx2,+fma,...`)."""

    triple: str
    cpu: str
    features: str

    @property
    def vector_bits(self) -> int:
        """The widest vectors worth preferring: 512 with AVX-512, else 256 with AVX2."""
        enabled = set(self.features.split(","))
        if "+avx512f" in enabled:
            return 512
        return 256 if "+avx2" in enabled else 128

    def fingerprint(self) -> str:
        """`triple cpu +f1,+f2,...` (the features the code may use), for the artifact header."""
        return f"{self.triple} {self.cpu} {self.features}".rstrip()


@cache
def _initialize() -> None:
    llvm_binding.initialize_native_target()
    llvm_binding.initialize_native_asmprinter()


@cache
def host_target(portable: bool = False) -> Target:
    """The host CPU and its enabled features, or plain x86-64 with `portable`."""
    _initialize()
    triple = llvm_binding.get_default_triple()
    if portable:
        return Target(triple, PORTABLE_CPU, "")
    features = llvm_binding.get_host_cpu_features()
    enabled = sorted(f"+{name}" for name, on in features.items() if on)
    return Target(triple, llvm_binding.get_host_cpu_name(), ",".join(enabled))


def target_fingerprint(portable: bool = False) -> str:
    """The target fingerprint of code `compile_module` builds here (see `Target.fingerprint`)."""
    return host_target(portable).fingerprint()


# ----------------------------------------------------------------------------- llvm -> LLVM IR


def _fcmp(op: llvm_ops.FCmpOp, builder: ir.IRBuilder, values: dict) -> ir.Value:
    predicate = str(llvm.FCmpPredicateFlag.from_int(op.predicate.value.data)).lstrip("_")
    return builder.fcmp_ordered(predicate, values[op.lhs], values[op.rhs])


_EXTRA: dict[type[Operation], object] = {
    llvm_ops.ExtractElementOp: lambda op, b, v: b.extract_element(v[op.vector], v[op.position]),
    llvm_ops.FPToSIOp: lambda op, b, v: b.fptosi(v[op.arg], convert_type(op.result.type)),
    llvm_ops.FPToUIOp: lambda op, b, v: b.fptoui(v[op.arg], convert_type(op.result.type)),
    llvm_ops.UIToFPOp: lambda op, b, v: b.uitofp(v[op.arg], convert_type(op.result.type)),
    llvm_ops.FCmpOp: _fcmp,
    llvm_ops.SelectOp: lambda op, b, v: b.select(v[op.cond], v[op.lhs], v[op.rhs]),
}
"""LLVM IR for the ops xDSL's converter does not know (lowering/to_llvm/llvm_ops.py)."""


def _convert_function(op: llvm.FuncOp, module: ir.Module) -> None:
    """The body of one function (as xDSL's converter does, with the extra ops)."""
    function = module.get_global(op.sym_name.data)
    blocks: dict[Block, ir.Block] = {}
    values: dict[SSAValue, ir.Value] = {}
    for i, block in enumerate(op.body.blocks):
        blocks[block] = function.append_basic_block(name=block.name_hint or "")
        if i == 0:
            values.update(zip(block.args, function.args, strict=True))
    for block in list(op.body.blocks)[1:]:
        builder = ir.IRBuilder(blocks[block])
        for arg in block.args:
            values[arg] = builder.phi(convert_type(arg.type))
    for block in op.body.blocks:
        builder = ir.IRBuilder(blocks[block])
        if blocks[block].instructions:
            builder.position_after(blocks[block].instructions[-1])
        for inner in block.ops:
            extra = _EXTRA.get(type(inner))
            if extra is None:
                convert_op(inner, builder, values, blocks)
            else:
                values[inner.results[0]] = extra(inner, builder, values)


def _function_attributes(target: Target) -> list[str]:
    """What every function gets (xDSL's converter drops function attributes)."""
    attrs = ["nounwind", f'"target-cpu"="{target.cpu}"']
    if target.features:
        attrs.append(f'"target-features"="{target.features}"')
    if target.vector_bits > 128:
        attrs.append(f'"prefer-vector-width"="{target.vector_bits}"')
    return attrs


def to_llvm_ir(module: ModuleOp, target: Target | None = None) -> str:
    """LLVM IR text of an `llvm`-dialect module, with the target's function attributes."""
    target = target or host_target()
    out = ir.Module()
    out.triple = target.triple
    functions: list[llvm.FuncOp] = []
    for op in module.ops:
        if isinstance(op, llvm.GlobalOp):
            xdsl_convert._convert_global(op, out)
        elif isinstance(op, llvm.FuncOp):
            xdsl_convert._declare_func(op, out)
            functions.append(op)
        else:
            raise LitecError(f"{op.name}: expected llvm.func or llvm.mlir.global at module level")
    for op in functions:
        if op.body.blocks:
            _convert_function(op, out)
            function = out.get_global(op.sym_name.data)
            if op.linkage.linkage.data == "internal":
                function.linkage = "internal"
            for attr in _function_attributes(target):
                set.add(function.attributes, attr)  # llvmlite accepts only enum attributes
    return str(out)


# ----------------------------------------------------------------------------- LLVM IR -> object


def _target_machine(target: Target):
    _initialize()
    machine = llvm_binding.Target.from_triple(target.triple)
    return machine.create_target_machine(
        cpu=target.cpu, features=target.features, opt=3, reloc="pic", codemodel="default"
    )


def optimize(ir_text: str, target: Target) -> llvm_binding.ModuleRef:
    """Parse, verify and optimise (O3, loop and SLP vectorisation) LLVM IR."""
    _initialize()
    try:
        module = llvm_binding.parse_assembly(ir_text)
        module.verify()
    except RuntimeError as e:
        raise LitecError(f"invalid LLVM IR: {str(e).strip()}") from None
    module.triple = target.triple
    machine = _target_machine(target)
    module.data_layout = str(machine.target_data)
    tuning = llvm_binding.create_pipeline_tuning_options(speed_level=3)
    tuning.loop_vectorization = True
    tuning.slp_vectorization = True
    builder = llvm_binding.create_pass_builder(machine, tuning)
    builder.getModulePassManager().run(module, builder)
    return module


def emit_object(ir_text: str, target: Target) -> bytes:
    """Optimised object code for LLVM IR text (in this process, no time limit)."""
    module = optimize(ir_text, target)
    return _target_machine(target).emit_object(module)


def _emit_in_child(ir_text: str, target: Target, conn) -> None:
    try:
        conn.send(("ok", emit_object(ir_text, target)))
    except LitecError as e:
        conn.send(("error", e.message))
    except Exception as e:  # noqa: BLE001 - reported to the parent as an internal error
        conn.send(("error", f"LLVM failed: {type(e).__name__}: {e}"))
    finally:
        conn.close()


def _start_child(context, ir_text: str, target: Target):
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_emit_in_child, args=(ir_text, target, send), daemon=True)
    child.start()
    send.close()
    return receive, child


def _finish_child(receive, child) -> bytes:
    """The object a child sent (a `LitecError` for what went wrong in it)."""
    try:
        status, payload = receive.recv()
    except EOFError:
        child.join()
        status, payload = "error", f"LLVM crashed (exit status {child.exitcode})"
    _stop_child(receive, child)
    if status == "error":
        raise LitecError(payload)
    return payload


def _stop_child(receive, child) -> None:
    if child.is_alive():
        child.kill()
    child.join()
    receive.close()


def emit_objects(
    ir_texts: list[str], target: Target, timeout: float = CODEGEN_TIMEOUT_S, jobs: int = 1
) -> list[bytes | None]:
    """`emit_object` of each text in forked children, `jobs` at a time: the objects, None
    for a text that ran past `timeout`. An error in a child is raised as a `LitecError`."""
    context = multiprocessing.get_context("fork")
    objects: list[bytes | None] = [None] * len(ir_texts)
    waiting = list(range(len(ir_texts)))
    running: dict = {}  # pipe end -> (text number, child, deadline)
    try:
        while waiting or running:
            while waiting and len(running) < max(1, jobs):
                i = waiting.pop(0)
                receive, child = _start_child(context, ir_texts[i], target)
                running[receive] = (i, child, time.monotonic() + timeout)
            first_deadline = min(deadline for _, _, deadline in running.values())
            for receive in wait(list(running), max(0.0, first_deadline - time.monotonic())):
                i, child, _ = running.pop(receive)
                objects[i] = _finish_child(receive, child)
            for receive, (_, child, deadline) in list(running.items()):
                if time.monotonic() >= deadline:
                    del running[receive]
                    _stop_child(receive, child)
    finally:
        for receive, (_, child, _) in running.items():
            _stop_child(receive, child)
    return objects


def _hanging_functions(module: ModuleOp, target: Target, timeout: float) -> list[str]:
    """The functions that, compiled alone (the others declared only), run past `timeout`."""
    defined = [op for op in module.ops if isinstance(op, llvm.FuncOp) and op.body.blocks]
    alone = [_module_of(module, [op]) for op in defined]
    objects = emit_objects([to_llvm_ir(m, target) for m in alone], target, timeout)
    return [op.sym_name.data for op, obj in zip(defined, objects, strict=True) if obj is None]


def _declaration(op: llvm.FuncOp) -> llvm.FuncOp:
    return llvm.FuncOp(op.sym_name, op.function_type, llvm.LinkageAttr("external"))


def _module_of(module: ModuleOp, functions: list[llvm.FuncOp]) -> ModuleOp:
    """A module defining `functions` and every internal function, declaring the rest."""
    kept = []
    for op in module.ops:
        defined = isinstance(op, llvm.FuncOp) and op.body.blocks
        internal = defined and op.linkage.linkage.data == "internal"
        kept.append(op.clone() if not defined or internal or op in functions else _declaration(op))
    return ModuleOp(kept)


def split_module(module: ModuleOp) -> list[ModuleOp]:
    """Modules of consecutive public functions, about `CHUNK_OPS` ops each, to compile in
    parallel. The split depends only on the module (not on the core count), so the linked
    bytes do not either. A module with globals stays whole."""
    if any(isinstance(op, llvm.GlobalOp) for op in module.ops):
        return [module]
    public = [
        op
        for op in module.ops
        if isinstance(op, llvm.FuncOp) and op.body.blocks and op.linkage.linkage.data != "internal"
    ]
    groups: list[list[llvm.FuncOp]] = [[]]
    size = 0
    for op in public:
        ops = sum(1 for _ in op.walk())
        if groups[-1] and size + ops > CHUNK_OPS:
            groups.append([])
            size = 0
        groups[-1].append(op)
        size += ops
    if len(groups) == 1:
        return [module]
    return [_module_of(module, group) for group in groups]


# ----------------------------------------------------------------------------- object -> .so


def link_shared(objects: list[bytes]) -> bytes:
    """A shared object from object files (in this order), linked by the system `cc -shared`."""
    cc = os.environ.get("CC") or shutil.which("cc")
    if cc is None or shutil.which(cc) is None:
        raise LitecError(
            "no C compiler driver to link the shared object: install one that provides `cc` "
            "(e.g. `apt-get install gcc` or `clang`), or set CC"
        )
    with tempfile.TemporaryDirectory(prefix="litec-link-") as tmp:
        paths = []
        for i, obj in enumerate(objects):
            paths.append(os.path.join(tmp, f"kernels{i}.o"))
            with open(paths[-1], "wb") as f:
                f.write(obj)
        so_path = os.path.join(tmp, "kernels.so")
        command = [cc, "-shared", "-o", so_path, *paths, "-lm"]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            raise LitecError(f"linking the shared object failed: {proc.stderr.strip()}")
        with open(so_path, "rb") as f:
            return f.read()


def compile_module(
    module: ModuleOp,
    *,
    portable: bool = False,
    timeout: float = CODEGEN_TIMEOUT_S,
    jobs: int | None = None,
) -> bytes:
    """The shared object (bytes) for an `llvm`-dialect module: one symbol per public function.

    Parts of the module (`split_module`) are optimised and emitted in parallel, `jobs` at a
    time (default: the CPUs this process may use), each under `timeout` seconds."""
    target = host_target(portable)
    jobs = jobs or len(os.sched_getaffinity(0))
    parts = split_module(module)
    objects = emit_objects([to_llvm_ir(part, target) for part in parts], target, timeout, jobs)
    for part, obj in zip(parts, objects, strict=True):
        if obj is None:
            hanging = _hanging_functions(part, target, timeout) or ["(only the whole module)"]
            raise LitecError(
                f"LLVM code generation ran past {timeout:g} s; it hangs on: {', '.join(hanging)}"
            )
    return link_shared(objects)
