"""The compile driver: straight-line, one stage after another, the IR verified after each.

    .tflite ──read+import──► tfl ──graph passes (-O)──► graph ──partition──► partitioned
            ──generate──► kernel
            ──memory plan──► ──lower──► llvm ──translate──► llvm-ir ──codegen──► artifact

`compile_model` runs the stages up to `compile_to`, keeps the text of the stage named by
`emit`, and reports each stage's time to a `progress` callback (the command line prints
them on stderr). Compiling the same model twice gives byte-identical artifacts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.utils.exceptions import VerifyException

import litec
from litec.dialects import context, tfl
from litec.dialects.tfl_reference.core import kernel_name, op_index
from litec.ir.backend import Backend, Section, get_backend
from litec.ir.diagnostics import LitecError
from litec.ir.passes import run_pipeline
from litec.lowering.artifact import build_executable, plan_functions, write_artifact
from litec.lowering.memory_plan import MemoryPlan, plan_memory
from litec.lowering.partition import (
    DATA_OPS,
    TARGET_ATTR,
    Placement,
    check_placements,
    partition,
    placed_ops,
)
from litec.lowering.passes import register_all
from litec.lowering.quantization.calibrate import load_samples
from litec.lowering.quantization.quantize import quantize_in_place
from litec.runtime.plan import Executable

STAGES = ("tfl", "graph", "partitioned", "kernel", "llvm", "llvm-ir", "artifact")
"""The stages in processing order; `--compile-to` stops after one of them."""

EMIT_STAGES = STAGES[:-1]
"""The stages `--emit` can print as text."""

OPT_LEVELS = (0, 1, 2, 3)
DEFAULT_OPT_LEVEL = 2
"""`-O` levels: which graph passes run is the requested backend's choice (graph_pipeline)."""

FALLBACK = "cpu"
"""The backend every op another target refuses falls back to."""

Progress = Callable[[str, float, str], None]
"""progress(stage, seconds, detail) after each stage."""


def verify(op: Operation, what: str) -> None:
    """Verify IR litec made; failing is a compiler bug (an internal error), said in one line."""
    try:
        op.verify()
    except VerifyException as e:
        lines = [line.strip() for line in str(e).strip().splitlines()]
        reason = " ".join(lines[:2]) if lines[0].endswith(":") else lines[0]
        raise VerifyException(f"{what} does not verify: {reason}") from e


@dataclass
class Compilation:
    """What one compile produced, up to the stage it stopped at."""

    model: Path
    emit: str | None = None
    compile_to: str = "artifact"
    progress: Progress | None = None
    resources: bool = True
    module: ModuleOp | None = None
    placements: list[Placement] = field(default_factory=list)
    kernels: dict[Operation, object] = field(default_factory=dict)
    """Every op's kernel (`backends/cpu/kernels/base.Kernel`), all backends together."""
    symbols: dict[Operation, tuple[str, str]] = field(default_factory=dict)
    """Every op's (backend, kernel symbol)."""
    plan: MemoryPlan | None = None
    executable: Executable | None = None
    artifact: bytes | None = None
    pipeline: str = ""
    """The graph passes that ran (the requested backend's pipeline for the -O level)."""
    emitted: str | None = None
    """The text of stage `emit`, once it ran."""
    timings: list[tuple[str, float]] = field(default_factory=list)

    def stage(self, name: str, run: Callable[[], object], detail=lambda r: "") -> object:
        """Run one stage, time it and report it."""
        start = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - start
        self.timings.append((name, seconds))
        if self.progress is not None:
            self.progress(name, seconds, detail(result))
        return result

    def check(self, name: str, modules: list[ModuleOp], text: Callable[[], str]) -> bool:
        """Verify a stage's IR, keep its text when it is the one to emit; True to stop here."""
        for module in modules:
            verify(module, f"the IR after stage '{name}'")
        return self.keep(name, text)

    def keep(self, name: str, text: Callable[[], str]) -> bool:
        """Keep a stage's text when it is the one to emit; True to stop here."""
        if self.emit == name:
            self.emitted = text()
        return self.compile_to == name


def compile_model(
    model: str | Path,
    target: str = "cpu",
    *,
    portable: bool = False,
    exact_float: bool = False,
    opt_level: int = DEFAULT_OPT_LEVEL,
    quantize: str | None = None,
    calibration: str | None = None,
    emit: str | None = None,
    compile_to: str = "artifact",
    progress: Progress | None = None,
    report: Callable[[list[Placement]], None] | None = None,
    resources: bool = True,
) -> Compilation:
    """Compile a `.tflite` (or `.mlir`) model for `target`, up to stage `compile_to`.

    `report(placements)` is called once every op is placed, before unplaceable ops fail."""
    for stage in (emit, compile_to):
        if stage is not None and stage not in STAGES:
            raise LitecError(f"unknown stage '{stage}' (stages: {', '.join(STAGES)})")
    if emit is not None and STAGES.index(emit) > STAGES.index(compile_to):
        raise LitecError(f"--emit {emit} comes after --compile-to {compile_to}")
    c = Compilation(Path(model), emit, compile_to, progress, resources)
    requested, cpu = get_backend(target), get_backend(FALLBACK)
    options = {"portable": portable, "exact_float": exact_float}

    module = c.module = c.stage("tfl", lambda: litec.load(model), _count_ops)
    tfl_text = lambda: litec.print_mlir(module, resources=resources)  # noqa: E731
    if c.check("tfl", [module], tfl_text):
        return c

    c.pipeline = requested.graph_pipeline(_opt_level(opt_level))
    if quantize is not None:
        c.stage("quantize", lambda: quantize_module(module, quantize, calibration), _quantized)
    c.stage("graph", lambda: run_graph_passes(module, c.pipeline), _count_ops)
    if c.check("graph", [module], tfl_text):
        return c

    c.placements = c.stage("partitioned", lambda: partition(module, requested, cpu), _on_targets)
    if report is not None:
        report(c.placements)
    check_placements(c.placements, file=c.model.name)
    if c.check("partitioned", [module], tfl_text):
        return c

    backends = _used_backends(c.placements, requested, cpu)
    generate = lambda: _generate(module, backends, options)  # noqa: E731
    kernel_sets = c.stage("kernel", generate, _count_kernels)
    for name, kernel_set in kernel_sets.items():
        c.kernels.update(kernel_set.kernels)
        c.symbols.update((op, (name, k.func.sym_name.data)) for op, k in kernel_set.kernels.items())
    first_users = {symbol: op for op, (_, symbol) in reversed(c.symbols.items())}
    for symbol, op in first_users.items():  # each kernel alone: the error names its op
        verify(c.kernels[op].func, f"op #{op_index(op)} {kernel_name(op)}: kernel @{symbol}")
    kernel_modules = [ks.module for ks in kernel_sets.values()]
    if c.keep("kernel", lambda: "".join(map(_text, kernel_modules))):
        return c

    c.plan = c.stage("memory plan", lambda: plan_memory(module, c.kernels), _arena)
    sections = _emit_sections(c, kernel_sets, backends, options)
    if sections is None:
        return c

    c.executable = _executable(c, sections)
    c.artifact = c.stage("artifact", lambda: write_artifact(c.executable), _bytes)
    return c


def _opt_level(level: int) -> int:
    if level not in OPT_LEVELS:
        raise LitecError(f"unknown optimization level -O{level} (levels: -O0 to -O3)")
    return level


QUANTIZE_MODES = {
    "int8": "",  # post-training, calibrated: quantize_in_place, CALIBRATED
    "int8-minmax": "",
    "fp16": "quantize-weights-fp16",
    "dynamic": "quantize-weights-int8",
}
"""`--quantize` modes -> their pass (the calibrated modes need calibration data instead)."""

CALIBRATED = {
    "int8": {},
    "int8-minmax": {"ranges": "minmax", "bias_correction": False},
}
"""Calibrated modes -> `quantize_in_place` options: litec's least-error ranges with bias
correction (the default), or TFLite's converter's min/max ranges."""


def quantize_module(module: ModuleOp, mode: str, calibration: str | None) -> str:
    """Quantize a float module in place as `mode` (QUANTIZE_MODES; int8 is calibrated on the
    samples of `calibration`, an .npz keyed by input name); returns the mode."""
    if mode not in QUANTIZE_MODES:
        raise LitecError(f"unknown quantization '{mode}' (modes: {', '.join(QUANTIZE_MODES)})")
    if mode not in CALIBRATED:
        run_graph_passes(module, QUANTIZE_MODES[mode])
        return mode
    if calibration is None:
        raise LitecError(f"{mode} quantization needs calibration data: --calibration DATA.npz")
    quantize_in_place(module, load_samples(calibration), **CALIBRATED[mode])
    return mode


def run_graph_passes(module: ModuleOp, pipeline: str) -> ModuleOp:
    """Apply a graph pipeline (`tfl` -> `tfl`) to `module` in place; returns it."""
    if pipeline:
        register_all()
        run_pipeline(module, pipeline, context())
    return module


def _emit_sections(c: Compilation, kernel_sets: dict, backends: dict, options: dict):
    """Each backend's section; the CPU one stage by stage (llvm, llvm-ir). None: stopped."""
    sections = []
    for name, backend in backends.items():
        kernel_module = kernel_sets[name].module
        if name != FALLBACK:
            emit = lambda b=backend, m=kernel_module: b.emit(m, c.plan, options)  # noqa: E731
            sections.append(c.stage(f"emit {name}", emit))
            continue
        llvm = c.stage("llvm", lambda b=backend, m=kernel_module: b.lower(m), _count_funcs)
        if c.check("llvm", [llvm], lambda m=llvm: _text(m)):
            return None
        if "llvm-ir" in (c.emit, c.compile_to):
            ir = c.stage("llvm-ir", lambda b=backend, m=llvm: b.llvm_ir(m, options), _lines)
            if c.keep("llvm-ir", lambda t=ir: t):
                return None
        section = c.stage("codegen", lambda b=backend, m=llvm: b.codegen(m, options), _size)
        sections.append(section)
    return sections


# ----------------------------------------------------------------------------- stages


def _used_backends(placements: list[Placement], requested: Backend, cpu: Backend) -> dict:
    """The backends ops were placed on, CPU first (it runs the fallbacks)."""
    names = {p.target for p in placements} | {cpu.name}
    return {b.name: b for b in (cpu, requested) if b.name in names}


def _generate(module: ModuleOp, backends: dict[str, Backend], options: dict) -> dict:
    """Each backend's kernels for the ops placed on it."""
    kernel_sets = {}
    for name, backend in backends.items():
        if not hasattr(backend, "generate"):
            raise LitecError(f"backend '{name}' cannot generate kernels (it has no generate())")
        ops = [op for _, op in placed_ops(module) if _target(op) == name]
        kernel_sets[name] = backend.generate(ops, options)
    return kernel_sets


def _target(op: Operation) -> str:
    return op.attributes[TARGET_ATTR].data


def _text(module: ModuleOp) -> str:
    return litec.print_mlir(module, resources=False)


def _funcs(module: ModuleOp) -> list:
    return [op for op in module.ops if hasattr(op, "sym_name")]


# ----------------------------------------------------------------------------- the executable


def _version() -> str:
    try:
        return version("litec")
    except PackageNotFoundError:
        return "unknown"


def _executable(c: Compilation, sections: list[Section]) -> Executable:
    """The execution plan over the planned buffers, with the signature and the sections."""
    functions = plan_functions(c.module, c.plan, c.kernels, c.symbols)
    target = next(s for s in sections if s.backend == FALLBACK).meta["target"]
    return build_executable(
        c.module, c.plan, functions, sections, target=target, compiler_version=_version()
    )


# ----------------------------------------------------------------------------- progress details


def count_ops(module: ModuleOp) -> int:
    """The graph's operators: every function's top-level `tfl` ops (a fused op counts once,
    not its body), constants and absent inputs excluded."""
    return sum(
        isinstance(op, tfl.TflOp) and not isinstance(op, DATA_OPS)
        for fn in module.ops
        if isinstance(fn, func.FuncOp)
        for op in fn.body.block.ops
    )


def _count_ops(module: ModuleOp) -> str:
    return f"{count_ops(module)} ops"


def _quantized(mode: str) -> str:
    return f"{mode} quantization"


def _on_targets(placements: list[Placement]) -> str:
    counts: dict[str, int] = {}
    for p in placements:
        counts[p.target] = counts.get(p.target, 0) + 1
    return ", ".join(f"{n} ops on {t}" for t, n in sorted(counts.items()))


def _count_kernels(kernel_sets: dict) -> str:
    return ", ".join(
        f"{len(_funcs(ks.module))} {name} kernels for {len(ks.kernels)} ops"
        for name, ks in kernel_sets.items()
    )


def _arena(plan) -> str:
    return f"arena {plan.arena_size:,} bytes (lower bound {plan.lower_bound:,})"


def _count_funcs(module: ModuleOp) -> str:
    return f"{len(_funcs(module))} functions"


def _lines(text: str) -> str:
    return f"{text.count(chr(10)):,} lines"


def _bytes(data: bytes) -> str:
    return f"{len(data):,} bytes"


def _size(section: Section) -> str:
    return f"{len(section.data):,} bytes of native code"
