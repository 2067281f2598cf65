"""The CPU backend: kernels generated per op, lowered to LLVM, one shared object per model.

    tfl op ──(kernels/*.py generator)──► kernel-level func.func (shared across layers of the
           same shape class) ──(lowering/to_llvm)──► llvm dialect ──(codegen)──► LLVM IR
           ──► llvmlite object ──(cc -shared)──► .so bytes: the artifact's CPU section

It registers through the entry-point group `litec.backends` exactly as an outside package
would (`cpu = "litec.backends.cpu.backend:CpuBackend"`).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field, replace
from functools import cache

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType, f32
from xdsl.ir import Operation

from litec.backends.cpu import kernels as kernels_pkg
from litec.backends.cpu.kernels.base import (
    GENERATORS,
    Kernel,
    KernelOptions,
    kernel_options,
    using_options,
)
from litec.dialects import tfl
from litec.dialects.tfl_layouts import NHWC, layout_of
from litec.dialects.tfl_reference.core import kernel_name, op_index
from litec.ir.backend import Backend, Section
from litec.ir.diagnostics import LitecError
from litec.ir.quant import quant_params

CORE_OPS = {
    tfl.WhileOp: "control flow: run by the runtime",
    tfl.ReshapeOp: "a view: shares its input's buffer",
    tfl.SqueezeOp: "a view: shares its input's buffer",
    tfl.ExpandDimsOp: "a view: shares its input's buffer",
}
"""Ops the core runs without a kernel: the memory plan aliases views (or the execution
plan copies them), the runtime runs loops."""


@cache
def load_generators() -> dict:
    """Import every module of `backends/cpu/kernels/` so its generators register."""
    for info in pkgutil.iter_modules(kernels_pkg.__path__):
        importlib.import_module(f"{kernels_pkg.__name__}.{info.name}")
    return GENERATORS


def generator_key(op: Operation) -> str:
    """The registry key of an op: its name, or `tfl.custom:<code>`."""
    if isinstance(op, tfl.CustomOp):
        return f"tfl.custom:{op.custom_code.data}"
    return op.name


def needs_kernel(op: Operation) -> bool:
    """Whether the op is computed by a generated kernel (not by the core)."""
    return type(op) not in CORE_OPS


def fingerprint(fn: func.FuncOp) -> tuple:
    """A hashable key equal for structurally identical functions (whatever their name): each
    op's name, properties, attributes, result types, and its operands, successors and
    regions' blocks numbered in walk order."""
    ids: dict[object, int] = {}

    def number(node) -> int:
        return ids.setdefault(node, len(ids))

    def enter(region) -> tuple:
        for block in region.blocks:
            number(block)
            for arg in block.args:
                number(arg)
        return tuple(tuple(block.arg_types) for block in region.blocks)

    key = [fn.function_type, enter(fn.body)]
    for op in fn.body.walk():
        key.append(
            (
                op.name,
                tuple(number(v) for v in op.operands),
                tuple(number(b) for b in op.successors),
                tuple(r.type for r in op.results),
                tuple(op.properties.items()),
                tuple(op.attributes.items()),
                tuple(enter(r) for r in op.regions),
            )
        )
        for r in op.results:
            number(r)
    return tuple(key)


@dataclass
class KernelSet:
    """The kernels of one model: one per op, and the module of the distinct functions."""

    kernels: dict[Operation, Kernel] = field(default_factory=dict)
    module: ModuleOp = field(default_factory=lambda: ModuleOp([]))
    by_key: dict[tuple, func.FuncOp] = field(default_factory=dict)
    """`fingerprint` of a function -> the function emitted for it."""

    def add(self, op: Operation, kernel: Kernel) -> None:
        """Add `op`'s kernel, reusing an identical function generated for an earlier op."""
        key = fingerprint(kernel.func)
        shared = self.by_key.get(key)
        if shared is None:
            name = re.sub(r"\W", "_", generator_key(op).removeprefix("tfl."))
            kernel.func.sym_name = StringAttr(f"k{len(self.by_key)}_{name}")
            self.module.body.block.add_op(kernel.func)
            self.by_key[key] = shared = kernel.func
        self.kernels[op] = Kernel(shared, kernel.bindings)


def quantizes_at_run_time(op: Operation) -> bool:
    """A hybrid op: float32 activations with quantized weights, the input quantized per run."""
    types = [v.type for v in op.operands]
    first = types[0].element_type if types and isinstance(types[0], TensorType) else None
    return first == f32 and any(quant_params(t) is not None for t in types[1:])


def generator_options(options: dict, ops: list[Operation]) -> KernelOptions:
    """The generators' options: those in force (see `using_options`), with the compile
    options applied: `portable` turns off the host's AVX-512 VNNI / VBMI instructions;
    `exact_float` follows TFLite's float order, and is on for every model with hybrid ops
    (their run-time quantization turns a 1-ulp float difference upstream into a whole
    quantization step)."""
    chosen = kernel_options()
    if options.get("portable"):
        chosen = replace(chosen, vnni=False, vbmi=False)
    if options.get("exact_float") or any(map(quantizes_at_run_time, ops)):
        chosen = replace(chosen, exact_float=True)
    return chosen


PLACEHOLDER = "kernel"
"""The symbol every kernel is generated under, so identical functions print identically."""


class CpuBackend(Backend):
    """Native x86-64 code: kernels generated by litec, compiled by LLVM through llvmlite.

    Options: `portable` (plain x86-64, no AVX) instead of this CPU's name and features;
    `exact_float` (float sums in TFLite's reference order, see `KernelOptions`)."""

    name = "cpu"

    GRAPH_PIPELINES = {
        0: "",
        1: "canonicalize,fold-constants,dce",
        2: "canonicalize,fold-constants,propagate-layout,fold-pad,fuse-conv-activation,"
        "canonicalize,dce",
        3: "canonicalize,fold-constants{max_bytes=67108864},propagate-layout,fold-pad,"
        "fold-batch-norm,fuse-conv-activation,fuse-elementwise,canonicalize,dce",
    }
    """The graph passes of each -O level (`litec compile -O<n>`): -O1 clean-up only, -O2 adds
    layout-transpose removal (the CPU computes in NHWC, TFLite's layout) and the fusions that
    keep results bit-identical, -O3 those that round differently
    (batch-norm folding) and one kernel per elementwise chain; quantization passes change what
    a model computes and run only when asked (`litec quantize`)."""

    def graph_pipeline(self, opt_level: int) -> str:
        return self.GRAPH_PIPELINES[opt_level]

    # preferred_layout: None (the base's): the kernels are written for TFLite's NHWC, which
    # keeps channels innermost for the vectorised loops and needs no transposes.

    def supports(self, op: Operation) -> tuple[bool, str]:
        """Supported when a kernel generator for the op exists and accepts it, in NHWC."""
        if layout_of(op) != NHWC:
            return False, f"the CPU kernels compute in NHWC, this op is in {layout_of(op)}"
        if type(op) in CORE_OPS:
            return True, CORE_OPS[type(op)]
        gen = load_generators().get(generator_key(op))
        if gen is None:
            return False, f"no CPU kernel for {generator_key(op)}"
        return gen.supports(op)

    def generate(self, ops: list[Operation], options: dict | None = None) -> KernelSet:
        """The kernel of every op (in order); identical functions are emitted once."""
        generators = load_generators()
        found = KernelSet()
        with using_options(generator_options(options or {}, ops)):
            for op in ops:
                if not needs_kernel(op):
                    continue
                try:
                    kernel = generators[generator_key(op)].generate(op, PLACEHOLDER)
                except LitecError as e:
                    raise e.at(op_index=op_index(op), op_name=kernel_name(op)) from None
                found.add(op, kernel)
        return found

    def lower(self, module: ModuleOp) -> ModuleOp:
        """Kernel level -> `llvm` dialect, in place (returns the module)."""
        from litec.lowering.to_llvm import lower_to_llvm

        return lower_to_llvm(module)

    def llvm_ir(self, module: ModuleOp, options: dict) -> str:
        """The textual LLVM IR of an `llvm`-dialect module (what `codegen` compiles)."""
        from litec.backends.cpu.codegen import host_target, to_llvm_ir

        return to_llvm_ir(module, host_target(bool(options.get("portable"))))

    def codegen(self, module: ModuleOp, options: dict) -> Section:
        """Compile an `llvm`-dialect module at O3 for this CPU (or portable x86-64) into the
        section: one shared object, its kernels, and the target fingerprint."""
        from litec.backends.cpu.codegen import compile_module, target_fingerprint

        portable = bool(options.get("portable"))
        symbols = [op.sym_name.data for op in module.ops if hasattr(op, "sym_name")]
        return Section(
            backend=self.name,
            data=compile_module(module, portable=portable),
            kernels={s: s for s in symbols},
            meta={"target": target_fingerprint(portable)},
        )

    def emit(self, module: ModuleOp, plan, options: dict) -> Section:
        """Lower the kernel module and compile it: the CPU section (the `.so`)."""
        return self.codegen(self.lower(module), options)
