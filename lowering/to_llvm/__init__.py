"""Kernel level -> `llvm` dialect: the generic lowering passes of the CPU backend.

    func.func / scf / arith / math / memref / vector  (the kernel level)
      --convert-scf-to-cf (xDSL)-->          cf branches, block arguments
      --convert-vector-to-llvm-->            aligned vector loads/stores, shuffles, reductions
      --convert-memref-to-llvm-->            GEP addressing from static shapes, aligned loads/stores
      --convert-math-to-llvm-->              LLVM intrinsics (tanh expanded)
      --convert-arith-to-llvm-->             LLVM instructions and intrinsics
      --convert-cf-to-llvm-->                llvm.br / llvm.cond_br
      --convert-func-to-llvm-->              llvm.func, bare-pointer ABI
      --reconcile-unrealized-casts (xDSL)--> llvm dialect only

Each pass leaves `builtin.unrealized_conversion_cast`s where its output meets IR not yet
converted (conversion.py); the last pass removes them. `lower_to_llvm(module)` runs the
pipeline and checks that only `llvm` ops remain; backends/cpu/codegen.py compiles the result.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from litec.ir.diagnostics import LitecError
from litec.ir.passes import parse_pipeline, register_pass

# A pass module never has the name of a function of this package: importing
# `to_llvm.lower_to_llvm` as a module would replace the function `lower_to_llvm` here.
_PASSES = {
    "convert-func-to-llvm": ("convert_func_to_llvm", "ConvertFuncToLLVMPass"),
    "convert-arith-to-llvm": ("convert_arith_to_llvm", "ConvertArithToLLVMPass"),
    "convert-math-to-llvm": ("convert_math_to_llvm", "ConvertMathToLLVMPass"),
    "convert-memref-to-llvm": ("convert_memref_to_llvm", "ConvertMemRefToLLVMPass"),
    "convert-vector-to-llvm": ("convert_vector_to_llvm", "ConvertVectorToLLVMPass"),
    "convert-cf-to-llvm": ("convert_cf_to_llvm", "ConvertCfToLLVMPass"),
    "lower-to-llvm": ("lower_to_llvm_pass", "LowerToLLVMPass"),
}
for _name, (_module, _cls) in _PASSES.items():
    register_pass(_name, f"{__name__}.{_module}", _cls)
register_pass("convert-scf-to-cf", "xdsl.transforms.convert_scf_to_cf", "ConvertScfToCf")
register_pass(
    "reconcile-unrealized-casts",
    "xdsl.transforms.reconcile_unrealized_casts",
    "ReconcileUnrealizedCastsPass",
)

PIPELINE = (
    "convert-scf-to-cf",
    "convert-vector-to-llvm",
    "convert-memref-to-llvm",
    "convert-math-to-llvm",
    "convert-arith-to-llvm",
    "convert-cf-to-llvm",
    "convert-func-to-llvm",
    "reconcile-unrealized-casts",
)
"""The passes `lower_to_llvm` runs, in order."""


@contextmanager
def _no_garbage_collection():
    """Pause the cyclic garbage collector: rewriting makes many short-lived ops, and full
    collections over a large heap (a whole imported model) took a third of lowering time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def lower_to_llvm(module: ModuleOp, ctx: Context | None = None) -> ModuleOp:
    """Lower a module of kernel-level functions to the `llvm` dialect, in place.

    Every op left that is not `llvm` (or the module itself) is a `LitecError` naming it.
    The result is not verified here (the driver verifies every stage)."""
    from litec.lowering.to_llvm.llvm_ops import LLVM

    if ctx is None:
        ctx = Context()
        ctx.load_dialect(LLVM)
    with _no_garbage_collection():
        parse_pipeline(",".join(PIPELINE)).apply(ctx, module)
    for op in module.walk():
        if op is not module and not op.name.startswith("llvm."):
            raise LitecError(f"{op.name}: not lowered to the llvm dialect")
    return module
