"""Textual IR: print a module with its `dense_resource` data, and parse it back."""

from __future__ import annotations

import io

from litec.ir.resources import exported_blobs, take_parsed
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, DenseResourceAttr, ModuleOp
from xdsl.parser import Parser
from xdsl.printer import Printer


def resource_handles(module: ModuleOp) -> list[str]:
    """Handles of every `dense_resource` referenced by the module's ops."""
    handles = []
    for op in module.walk():
        for attr in op.properties.values():
            if isinstance(attr, DenseResourceAttr):
                handles.append(attr.resource_handle.data)
    return handles


def print_module(
    module: ModuleOp, ctx: Context, *, resources: bool = True, locations: bool = True
) -> str:
    """MLIR text of `module`; with `resources`, the constant data follows in a `{-# ... #-}` block."""
    stream = io.StringIO()
    printer = Printer(stream=stream, print_debuginfo=locations)
    if resources:
        with exported_blobs(resource_handles(module)):
            printer.print_op(module)
            printer.print_metadata(ctx.loaded_dialects)
    else:
        printer.print_op(module)
    stream.write("\n")
    return stream.getvalue()


def parse_module(text: str, ctx: Context, name: str = "<text>") -> ModuleOp:
    """Parse MLIR text (with or without a resource block) into a module."""
    module = Parser(ctx, text, name).parse_module()
    take_parsed(resource_handles(module))
    return module


def builtin_context(*dialects) -> Context:
    """A context with the builtin dialect and the given ones loaded."""
    ctx = Context()
    ctx.load_dialect(Builtin)
    for d in dialects:
        ctx.load_dialect(d)
    return ctx
