"""The interpreter's machinery: kernel registry, tensor infos, and the function walker."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    FileLineColLoc,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    NameLoc,
    NoneType,
    Signedness,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    i1,
)
from xdsl.ir import Attribute, Operation, SSAValue

from litec.dialects import tfl
from litec.dialects.tfl_layouts import NHWC, from_nhwc, images, layout_of, nhwc_shape, to_nhwc
from litec.ir.diagnostics import LitecError
from litec.ir.quant import QuantParams, UniformQuantizedType
from litec.ir.resources import blob_array

_FLOAT_DTYPES = {"f16": np.float16, "f32": np.float32, "f64": np.float64}


def element_dtype(elem: Attribute) -> np.dtype:
    """The numpy dtype that holds values of an IR element type."""
    if isinstance(elem, UniformQuantizedType):
        return elem.data.dtype
    if isinstance(elem, IntegerType):
        width = elem.width.data
        if width == 1:
            return np.dtype(np.bool_)
        kind = "uint" if elem.signedness.data == Signedness.UNSIGNED else "int"
        return np.dtype(f"{kind}{width}")
    name = str(elem)
    if name in _FLOAT_DTYPES:
        return np.dtype(_FLOAT_DTYPES[name])
    raise LitecError(f"element type {name} has no numpy equivalent")


@dataclass(frozen=True)
class TensorInfo:
    """Static facts about one tensor: shape, storage dtype, quantization (or None)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    quant: QuantParams | None = None

    @staticmethod
    def of(t: Attribute) -> TensorInfo | None:
        """The info of a tensor type; None for `none` (an absent optional input)."""
        if isinstance(t, NoneType):
            return None
        assert isinstance(t, TensorType), t
        quant = t.element_type.data if isinstance(t.element_type, UniformQuantizedType) else None
        return TensorInfo(tuple(t.get_shape()), element_dtype(t.element_type), quant)

    @property
    def scale(self) -> float:
        assert self.quant is not None
        return self.quant.scale

    @property
    def zero_point(self) -> int:
        assert self.quant is not None
        return self.quant.zero_point


@dataclass
class KernelCall:
    """What a kernel knows about the op it computes."""

    builtin: str
    opts: dict
    inputs: list[TensorInfo | None]
    outputs: list[TensorInfo]
    op_index: int | None = None
    run_function: Callable[[str, list[np.ndarray]], list[np.ndarray]] | None = None
    op: Operation | None = None
    """The op itself, for kernels that need more than its properties (a fused op's body)."""

    @property
    def out(self) -> TensorInfo:
        """The (first) output's info."""
        return self.outputs[0]

    def error(self, message: str) -> LitecError:
        """A user-facing error about this op."""
        return LitecError(message, op_index=self.op_index, op_name=self.builtin)


Kernel = Callable[..., np.ndarray | Sequence[np.ndarray]]
KERNELS: dict[str, Kernel] = {}
"""TFLite builtin name (or `CUSTOM:<code>`) -> numpy kernel."""


def kernel(*builtins: str) -> Callable[[Kernel], Kernel]:
    """Register a kernel for one or more builtins."""

    def register(fn: Kernel) -> Kernel:
        for b in builtins:
            KERNELS[b] = fn
        return fn

    return register


def prop_value(attr: Attribute):
    """A property as a plain value: bool, int, float, str, a list of them, a function name,
    `TensorInfo` for types; other attributes as they are."""
    if isinstance(attr, IntegerAttr):
        if attr.type == i1:
            return bool(attr.value.data)
        return attr.value.data
    if isinstance(attr, FloatAttr):
        return attr.value.data
    if isinstance(attr, StringAttr):
        return attr.data
    if isinstance(attr, DenseArrayBase):
        return list(attr.get_values())
    if isinstance(attr, SymbolRefAttr):
        return attr.root_reference.data
    if isinstance(attr, ArrayAttr):
        return [TensorInfo.of(a) if isinstance(a, TensorType) else prop_value(a) for a in attr]
    return attr


def op_index(op: Operation) -> int | None:
    """The TFLite operator index recorded in an op's location, if any."""
    loc = op.location
    if isinstance(loc, NameLoc):
        loc = loc.location
    if isinstance(loc, FileLineColLoc):
        return loc.line.data
    return None


def kernel_name(op: Operation) -> str:
    """The registry key of an op: its builtin, or `CUSTOM:<code>`."""
    if isinstance(op, tfl.CustomOp):
        return f"CUSTOM:{op.custom_code.data}"
    return type(op).BUILTIN


def make_call(op: Operation) -> KernelCall:
    """The `KernelCall` describing a `tfl` op."""
    return KernelCall(
        builtin=kernel_name(op),
        opts={k: prop_value(v) for k, v in op.properties.items()},
        inputs=[TensorInfo.of(v.type) for v in op.operands],
        outputs=[TensorInfo.of(r.type) for r in op.results],
        op_index=op_index(op),
        op=op,
    )


def _arg_names(fn: func.FuncOp, results: bool) -> list[str]:
    attrs = fn.res_attrs if results else fn.arg_attrs
    count = len(fn.function_type.outputs if results else fn.function_type.inputs)
    prefix = "output" if results else "input"
    names = []
    for i in range(count):
        name = ""
        if attrs is not None and "tfl.name" in attrs.data[i].data:
            name = attrs.data[i].data["tfl.name"].data
        names.append(name or f"{prefix}_{i}")
    return names


@dataclass
class Signature:
    """Names and tensor infos of a function's inputs and outputs, in order."""

    inputs: list[tuple[str, TensorInfo]] = field(default_factory=list)
    outputs: list[tuple[str, TensorInfo]] = field(default_factory=list)


def signature(module: ModuleOp, function: str = "main") -> Signature:
    """The signature of `@main` (input_<i> / output_<i> for unnamed tensors)."""
    fn = _find_function(module, function)
    ins = [TensorInfo.of(t) for t in fn.function_type.inputs]
    outs = [TensorInfo.of(t) for t in fn.function_type.outputs]
    return Signature(
        list(zip(_arg_names(fn, False), ins, strict=True)),
        list(zip(_arg_names(fn, True), outs, strict=True)),
    )


def _find_function(module: ModuleOp, name: str) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == name:
            return op
    raise LitecError(f"the module has no function @{name}")


@dataclass
class _Step:
    op: Operation
    kernel: Kernel
    call: KernelCall


def _check_result(step: _Step, k: int, arr: np.ndarray, info: TensorInfo) -> None:
    if arr.shape != info.shape or arr.dtype != info.dtype:
        raise AssertionError(
            f"kernel {step.call.builtin} (op #{step.call.op_index}) returned "
            f"{arr.dtype}{list(arr.shape)} for output {k}, expected {info.dtype}{list(info.shape)}"
        )


class Interpreter:
    """Runs the functions of a `tfl` module with the numpy kernels."""

    def __init__(self, module: ModuleOp, file: str | None = None):
        self.module = module
        self.file = file or _module_source(module)
        self._plans: dict[str, tuple[func.FuncOp, list[_Step]]] = {}

    def plan(self, name: str) -> tuple[func.FuncOp, list[_Step]]:
        if name not in self._plans:
            fn = _find_function(self.module, name)
            steps = [
                self._step(op) for op in fn.body.block.ops if not isinstance(op, func.ReturnOp)
            ]
            self._plans[name] = (fn, steps)
        return self._plans[name]

    def _step(self, op: Operation) -> _Step:
        if isinstance(op, tfl.ConstOp | tfl.NoValueOp | tfl.VariableOp):
            return _Step(op, _source_kernel, make_call(op))
        if not isinstance(op, tfl.TflOp):
            raise LitecError(f"the reference interpreter runs `tfl` ops only, not {op.name}")
        call = make_call(op)
        call.run_function = self.run_function
        return _Step(op, _in_nhwc(KERNELS.get(call.builtin, _missing_kernel), op, call), call)

    def run_function(self, name: str, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run one function on arrays in argument order; returns its results in order."""
        values = self.run_values(name, args)
        ret = self.plan(name)[0].body.block.last_op
        assert isinstance(ret, func.ReturnOp)
        return [values[v] for v in ret.operands]

    def run_values(
        self, name: str, args: Sequence[np.ndarray]
    ) -> dict[SSAValue, np.ndarray | None]:
        """Run one function on arrays in argument order; returns every value it defines
        (arguments, constants, op results; None for an absent optional operand), in program
        order: what calibration and per-op checks read."""
        fn, steps = self.plan(name)
        values: dict[SSAValue, np.ndarray | None] = dict(zip(fn.body.block.args, args, strict=True))
        for step in steps:
            self._run_step(step, values)
        return values

    def _run_step(self, step: _Step, values: dict) -> None:
        if step.kernel is _source_kernel:
            values[step.op.results[0]] = source_value(step.op, step.call)
            return
        args = [values[v] for v in step.op.operands]
        try:
            out = step.kernel(step.call, *args)
        except LitecError as e:
            raise e.at(
                file=self.file, op_index=step.call.op_index, op_name=step.call.builtin
            ) from None
        outs = list(out) if isinstance(out, list | tuple) else [out]
        for k, (r, arr, info) in enumerate(
            zip(step.op.results, outs, step.call.outputs, strict=True)
        ):
            _check_result(step, k, arr, info)
            values[r] = arr

    def run(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Run `@main`; inputs by name (or in order); outputs by name, in signature order."""
        sig = signature(self.module)
        args = check_inputs(sig, inputs, self.file)
        outs = self.run_function("main", args)
        return {name: arr for (name, _), arr in zip(sig.outputs, outs, strict=True)}


def _in_nhwc(kernel: Kernel, op: Operation, call: KernelCall) -> Kernel:
    """`kernel` for `op` as stored: an op whose images are in another layout than NHWC
    (`litec.layout`, dialects/tfl_layouts.py) has them moved to NHWC, its NHWC kernel run
    on NHWC infos, and its image results moved back (what `_check_result` sees)."""
    layout = layout_of(op)
    if layout == NHWC:
        return kernel
    operands, results = images(op)
    nhwc = replace(
        call,
        inputs=_in_nhwc_infos(call.inputs, operands, layout),
        outputs=_in_nhwc_infos(call.outputs, results, layout),
    )

    def run(_call: KernelCall, *args):
        args = [to_nhwc(a, layout) if k in operands else a for k, a in enumerate(args)]
        out = kernel(nhwc, *args)
        outs = list(out) if isinstance(out, list | tuple) else [out]
        return [from_nhwc(o, layout) if k in results else o for k, o in enumerate(outs)]

    return run


def _in_nhwc_infos(infos: list, indices: tuple[int, ...], layout: str) -> list:
    """`infos` with those at `indices` describing their images (stored in `layout`) in NHWC."""
    return [
        replace(info, shape=nhwc_shape(layout, info.shape)) if k in indices else info
        for k, info in enumerate(infos)
    ]


def _missing_kernel(call: KernelCall, *args):
    raise call.error("the reference interpreter has no kernel for this operator")


def _source_kernel(call, *args):  # marker for ops that produce values from nothing
    raise AssertionError("not called")


def source_value(op: Operation, call: KernelCall) -> np.ndarray | None:
    if isinstance(op, tfl.NoValueOp):
        return None
    info = call.outputs[0]
    if isinstance(op, tfl.VariableOp):
        zero = info.quant.zero_point if info.quant else 0
        return np.full(info.shape, zero, dtype=info.dtype)
    return blob_array(op.value.resource_handle.data, info.dtype, info.shape)


def _module_source(module: ModuleOp) -> str | None:
    attr = module.attributes.get("tfl.source")
    return attr.data if isinstance(attr, StringAttr) else None


def check_inputs(sig: Signature, inputs, file: str | None) -> list[np.ndarray]:
    """Inputs in signature order, each checked for name, shape and dtype."""
    if isinstance(inputs, Mapping):
        names = [n for n, _ in sig.inputs]
        unknown = [k for k in inputs if k not in names]
        if unknown:
            raise LitecError(
                f"unknown input '{unknown[0]}'; the model's inputs are {names}", file=file
            )
        missing = [n for n in names if n not in inputs]
        if missing:
            raise LitecError(f"missing input '{missing[0]}'", file=file)
        arrays = [inputs[n] for n in names]
    else:
        arrays = list(inputs)
        if len(arrays) != len(sig.inputs):
            raise LitecError(f"expected {len(sig.inputs)} inputs, got {len(arrays)}", file=file)
    checked = []
    for (name, info), arr in zip(sig.inputs, arrays, strict=True):
        arr = np.asarray(arr)
        if arr.shape != info.shape:
            raise LitecError(
                f"input '{name}' has shape {list(arr.shape)}, the model expects {list(info.shape)}",
                file=file,
            )
        if arr.dtype != info.dtype:
            raise LitecError(
                f"input '{name}' has dtype {arr.dtype}, the model expects {info.dtype}", file=file
            )
        checked.append(np.require(arr, requirements="C"))  # keeps rank 0, unlike ascontiguousarray
    return checked


def random_input(info: TensorInfo, rng: np.random.Generator) -> np.ndarray:
    """A random tensor of the right shape and dtype: floats uniform in [-1, 1), quantized and
    narrow integers over their whole range, wider plain integers (indices) in [0, 8]."""
    if info.dtype.kind == "f":
        return rng.uniform(-1, 1, info.shape).astype(info.dtype)
    if info.dtype.kind == "b":
        return rng.integers(0, 2, info.shape).astype(np.bool_)
    lim = np.iinfo(info.dtype)
    lo, hi = (lim.min, lim.max) if info.quant is not None or lim.bits <= 16 else (0, 8)
    return rng.integers(lo, hi, info.shape, endpoint=True).astype(info.dtype)


def random_inputs(module: ModuleOp, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random inputs for every input of `@main`, by name, in signature order."""
    rng = np.random.default_rng(seed)
    return {name: random_input(info, rng) for name, info in signature(module).inputs}


def interpret(module: ModuleOp, inputs) -> dict[str, np.ndarray]:
    """Run a `tfl` module's `@main` on numpy inputs with the reference kernels."""
    return Interpreter(module).run(inputs)
