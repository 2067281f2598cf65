"""Helpers the graph passes (`tfl` -> `tfl`: canonicalize/, fusion/, quantization/, layout/)
share: reading and making constants, rebuilding an op, erasing what became unused, and user
errors that name an op.

    w = constant_array(conv.filter)                       # read-only numpy view, or None
    b = add_constant(rewriter, bias, conv.filter, op, "bias")    # blob "<filter's>_bias"
    c = new_constant(arr, ty, op.location, tag="folded")  # detached; blob "folded_<hash>"
    fused = rebuild(conv, {conv.bias: b}, op.output.type, fused_activation_function=act)
"""

from __future__ import annotations

import hashlib

import numpy as np
from xdsl.dialects.builtin import (
    DenseResourceAttr,
    FileLineColLoc,
    Float32Type,
    NameLoc,
    TensorType,
    f32,
    i32,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter
from xdsl.rewriter import InsertPoint
from xdsl.traits import Pure

from litec.dialects import tfl
from litec.dialects.tfl_reference.core import TensorInfo, kernel_name, op_index
from litec.ir.diagnostics import LitecError
from litec.ir.quant import QuantParams
from litec.ir.resources import add_blob, get_blob

ELEMENT_TYPES = {np.dtype(np.float32): f32, np.dtype(np.int32): i32}
"""Element types of constants whose dtype differs from the value they are made like."""


def constant_array(value: SSAValue) -> np.ndarray | None:
    """The data of a `tfl.const` result as a read-only array; None for any other value. A
    blob whose size does not match its type is a user error."""
    op = value.owner
    if not isinstance(op, tfl.ConstOp):
        return None
    info = TensorInfo.of(op.output.type)
    handle = op.value.resource_handle.data
    data = get_blob(handle)
    needed = int(np.prod(info.shape)) * info.dtype.itemsize
    if len(data) != needed:
        raise LitecError(
            f"constant '{handle}' holds {len(data)} bytes, its type {op.output.type} needs {needed}"
        )
    return np.frombuffer(data, dtype=info.dtype).reshape(info.shape)


def new_constant(
    arr: np.ndarray, ty: TensorType, location: Attribute, tag: str, base: str | None = None
) -> tfl.ConstOp:
    """A detached `tfl.const` of type `ty` holding `arr` (in C order), at `location`. Its
    blob is named `<base>_<tag>`, or, without a base, `<tag>_<hash of the data>` (equal data
    share one); a name another blob holds gets a number."""
    data = arr.tobytes()
    name = f"{tag}_{hashlib.sha256(data).hexdigest()[:16]}" if base is None else f"{base}_{tag}"
    const = tfl.ConstOp(DenseResourceAttr.from_params(add_blob(name, data), ty))
    const.location = location
    return const


def add_constant(
    rewriter: PatternRewriter, arr: np.ndarray, like: SSAValue, before: Operation, tag: str
) -> SSAValue:
    """A new `tfl.const` of `arr` inserted before `before` (at its location): of `like`'s
    element type when the dtypes agree, else float32 or int32; its resource is named after
    `like`'s resource plus `tag`."""
    same = TensorInfo.of(like.type).dtype == arr.dtype
    t = TensorType(like.type.element_type if same else ELEMENT_TYPES[arr.dtype], arr.shape)
    base = like.owner.value.resource_handle.data if isinstance(like.owner, tfl.ConstOp) else "c"
    const = new_constant(arr, t, before.location, tag, base)
    rewriter.insert(const, InsertPoint.before(before))
    return const.output


def rebuild(
    op: Operation,
    operands: dict[SSAValue, SSAValue],
    result_type: Attribute,
    **properties: Attribute,
) -> Operation:
    """A copy of `op` with operands mapped by `operands`, its result type and some
    properties replaced; attributes and location kept."""
    return type(op).create(
        operands=[operands.get(v, v) for v in op.operands],
        result_types=[result_type],
        properties={**op.properties, **properties},
        attributes=dict(op.attributes),
        location=op.location,
    )


def erase_unused(rewriter: PatternRewriter, values) -> None:
    """Erase the pure ops that compute `values` and have no use left, and theirs in turn."""
    work = [v.owner for v in values]
    while work:
        op = work.pop()
        if not isinstance(op, Operation) or op.parent is None or not op.has_trait(Pure):
            continue
        if all(not r.uses for r in op.results):
            work.extend(v.owner for v in op.operands)
            rewriter.erase(op)


def is_f32(t: Attribute) -> bool:
    """Whether `t` is a float32 tensor type."""
    return isinstance(t, TensorType) and isinstance(t.element_type, Float32Type)


def quantization(t: Attribute) -> QuantParams | None:
    """The quantization of a tensor type, or None."""
    info = TensorInfo.of(t)
    return info.quant if info is not None else None


def op_error(op: Operation, problem: str | LitecError) -> LitecError:
    """A one-line user error about `op`: its model file, subgraph, TFLite index and builtin."""
    error = LitecError(problem) if isinstance(problem, str) else problem
    loc = op.location.location if isinstance(op.location, NameLoc) else op.location
    if isinstance(loc, FileLineColLoc) and error.file is None:
        error.file, error.subgraph = loc.filename.data, loc.column.data
    return error.at(op_index=op_index(op), op_name=kernel_name(op))
