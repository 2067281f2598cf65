"""Run one `tfl` op's generated CPU kernel natively, and compare it with the reference.

    outs = run_op_natively(op, inputs)                     # generate -> lower -> compile -> call
    results = check_model_ops(path, {"CONV_2D"}, seed=0)   # every such op of a model

`check_model_ops` feeds each op the reference interpreter's own input tensors (so a wrong
kernel shows up by itself, not as drift), and compares the native outputs with the
reference outputs: float within 1e-4 x max(1, max|ref|), integers exactly.
"""

from __future__ import annotations

import ctypes
import tempfile
from pathlib import Path

import numpy as np
from harness import Diff, diff
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from litec.backends.cpu.backend import generator_key, load_generators
from litec.backends.cpu.codegen import compile_module
from litec.backends.cpu.kernels.base import CONST, INPUT, OUTPUT, SCRATCH
from litec.dialects import tfl
from litec.dialects.tfl_reference import Interpreter, random_inputs
from litec.dialects.tfl_reference.core import TensorInfo
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import read_model
from litec.lowering.to_llvm import lower_to_llvm

NATIVE_FLOAT_RTOL = 1e-4
"""Float kernels: max |native - reference| <= NATIVE_FLOAT_RTOL * max(1, max |reference|)."""

_ALIGN = 64


def aligned(nbytes: int) -> np.ndarray:
    """A zeroed, 64-byte aligned byte buffer, its size rounded up to 64 bytes (never empty)."""
    size = max(-(-nbytes // _ALIGN) * _ALIGN, _ALIGN)
    raw = np.zeros(size + _ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % _ALIGN
    return raw[start : start + size]


def _buffer_like(arr: np.ndarray) -> np.ndarray:
    buf = aligned(arr.nbytes).view(arr.dtype)[: arr.size].reshape(arr.shape)
    buf[...] = arr
    return buf


def _empty(info: TensorInfo) -> np.ndarray:
    n = int(np.prod(info.shape, dtype=np.int64))
    return aligned(n * info.dtype.itemsize).view(info.dtype)[:n].reshape(info.shape)


def compile_op(op: Operation):
    """(ctypes function, kernel) for one op; keeps the library alive on the function."""
    gen = load_generators()[generator_key(op)]
    ok, reason = gen.supports(op)
    if not ok:
        raise NotImplementedError(reason)
    kernel = gen.generate(op, "kernel_under_test")
    fn = kernel.func.clone() if kernel.func.parent is not None else kernel.func
    module = ModuleOp([fn])
    lower_to_llvm(module)
    so = compile_module(module)
    with tempfile.NamedTemporaryFile(suffix=".so", delete=False) as f:
        f.write(so)
        path = f.name
    lib = ctypes.CDLL(path)
    Path(path).unlink()
    cfn = lib.kernel_under_test
    cfn.restype = None
    cfn._lib = lib
    return cfn, kernel


def run_op_natively(op: Operation, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
    """The op's outputs computed by its native kernel on `inputs` (in operand order)."""
    cfn, kernel = compile_op(op)
    outs = [_empty(TensorInfo.of(r.type)) for r in op.results]
    args = []
    for b in kernel.bindings:
        if b.kind == INPUT:
            args.append(_buffer_like(np.asarray(inputs[b.index])))
        elif b.kind == OUTPUT:
            args.append(outs[b.index])
        elif b.kind == CONST:
            args.append(_buffer_like(np.asarray(b.data)))
        elif b.kind == SCRATCH:
            args.append(aligned(b.size))
        else:
            raise AssertionError(f"unknown binding {b.kind}")
    if kernel.parts:  # a splittable kernel (base.py), run whole: part 0 of 1
        args.append(np.array([0, 1], np.int64))
    cfn(*[ctypes.c_void_p(a.ctypes.data) for a in args])
    return outs


def native_diff(name: str, ours: np.ndarray, ref: np.ndarray) -> Diff:
    """A Diff judged by the native tolerance (floats: 1e-4 relative)."""
    d = diff(name, ours, ref)
    d.rtol = NATIVE_FLOAT_RTOL
    return d


def _failure(what: str, e: Exception) -> Diff:
    return Diff(f"{what}: {type(e).__name__}: {e}", "error", np.inf, -1, 0, 0)


def _values_by_op(module: ModuleOp, seed: int):
    """Run the reference interpreter; every SSA value of @main with its array."""
    interp = Interpreter(module)
    values = interp.run_values("main", list(random_inputs(module, seed).values()))
    return values, interp.plan("main")[1]


def check_model_ops(path, builtins: set[str], seed: int = 0) -> list[tuple[int, str, list[Diff]]]:
    """Each op of `builtins` in @main, native vs reference on the reference's own inputs."""
    module = import_model(read_model(path))
    values, steps = _values_by_op(module, seed)
    results = []
    for step in steps:
        op = step.op
        if not isinstance(op, tfl.TflOp) or step.call.builtin not in builtins:
            continue
        if isinstance(op, tfl.ConstOp | tfl.NoValueOp | tfl.VariableOp | func.ReturnOp):
            continue
        inputs = [values[v] for v in op.operands]
        try:
            outs = run_op_natively(op, inputs)
        except NotImplementedError as e:
            results.append((step.call.op_index, step.call.builtin, [_failure("unsupported", e)]))
            continue
        except Exception as e:  # noqa: BLE001 - one failing kernel must not hide the others
            results.append((step.call.op_index, step.call.builtin, [_failure("failed", e)]))
            continue
        diffs = [
            native_diff(f"out{k}", o, values[r])
            for k, (o, r) in enumerate(zip(outs, op.results, strict=True))
        ]
        results.append((step.call.op_index, step.call.builtin, diffs))
    return results
