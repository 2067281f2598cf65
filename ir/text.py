"""Textual IR: print a module with its `dense_resource` data, and parse it back."""

from __future__ import annotations

import io
import re

from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, DenseResourceAttr, ModuleOp
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import ParseError, VerifyException

from litec.ir.diagnostics import LitecError
from litec.ir.resources import exported_blobs, get_blob, take_parsed


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


_STRING_LITERAL = re.compile(r'"(?:[^"\\\n\v\f]++|\\["nt\\]|\\[0-9A-Fa-f]{2})*+"')
"""A string literal as xDSL's lexer accepts it; possessive, so it never backtracks."""
_QUOTE_OR_COMMENT = re.compile(r'"|//')


def check_string_literals(text: str, name: str) -> None:
    """Every string literal is well formed. xDSL's lexer nests `+` in `*` in its pattern
    for them, so one missing quote before a long hex blob makes it backtrack for hours."""
    pos = 0
    while (m := _QUOTE_OR_COMMENT.search(text, pos)) is not None:
        if m.group() == "//":
            pos = text.find("\n", m.end())
            if pos < 0:
                return
            continue
        literal = _STRING_LITERAL.match(text, m.start())
        if literal is None:
            line = text.count("\n", 0, m.start()) + 1
            col = m.start() - text.rfind("\n", 0, m.start())
            raise LitecError(f"{name}:{line}:{col}: unterminated or malformed string literal")
        pos = literal.end()


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def parse_checked(text: str, ctx: Context, name: str = "<text>") -> ModuleOp:
    """Parse and verify IR text; every problem is a one-line `LitecError` (FILE:LINE:COL)."""
    check_string_literals(text, name)
    try:
        module = parse_module(text, ctx, name)
    except ParseError as e:
        raise LitecError(f"{e.span.get_location()}: {_first_line(e.msg)}") from None
    except (ValueError, OverflowError, RecursionError, MemoryError) as e:
        # resource data that is not hex, an integer type of 10^20 bits, nesting too deep
        reason = _first_line(str(e)) or type(e).__name__
        raise LitecError(f"malformed IR: {reason}", file=name) from None
    try:
        module.verify()
    except VerifyException as e:
        raise LitecError(f"invalid IR: {_first_line(str(e))}", file=name) from None
    for handle in resource_handles(module):
        try:
            get_blob(handle)
        except KeyError:
            raise LitecError(
                f"no data for constant '{handle}' (was it printed with --no-resources?)",
                file=name,
            ) from None
    return module


def builtin_context(*dialects) -> Context:
    """A context with the builtin dialect and the given ones loaded."""
    ctx = Context()
    ctx.load_dialect(Builtin)
    for d in dialects:
        ctx.load_dialect(d)
    return ctx
