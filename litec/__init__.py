"""litec: an ahead-of-time compiler for TFLite models, built on xDSL.

The public API:

    module = litec.load_tflite("model.tflite")       # checked read + import: `tfl` IR
    module = litec.load("model.tflite" | "in.mlir")  # either form
    text = litec.print_mlir(module)                  # MLIR text with the constant data
    outputs = litec.interpret(module, {"input": x})  # reference interpreter, dict by name

Every problem a user can cause raises `litec.LitecError`, whose text is one line naming
the file (and the operator, where there is one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from litec.ir.diagnostics import LitecError

if TYPE_CHECKING:  # xDSL is imported lazily: `import litec.runtime` must stay numpy-only
    from xdsl.dialects.builtin import ModuleOp

__all__ = [
    "LitecError",
    "interpret",
    "load",
    "load_tflite",
    "parse_mlir",
    "print_mlir",
    "random_inputs",
    "signature",
]


def load_tflite(path: str | Path) -> ModuleOp:
    """Read, check and import a `.tflite` file into a module of `tfl` functions."""
    from litec.lowering.import_tflite import load_tflite as _load

    return _load(path)


_STRING_LITERAL = re.compile(r'"(?:[^"\\\n\v\f]++|\\["nt\\]|\\[0-9A-Fa-f]{2})*+"')
"""A string literal as xDSL's lexer accepts it; possessive, so it never backtracks."""
_QUOTE_OR_COMMENT = re.compile(r'"|//')


def _check_string_literals(text: str, name: str) -> None:
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


def parse_mlir(text: str, name: str = "<text>") -> ModuleOp:
    """Parse and verify `tfl` IR text (as `print_mlir` writes it)."""
    from xdsl.utils.exceptions import ParseError, VerifyException

    from litec.dialects import context
    from litec.ir.resources import get_blob
    from litec.ir.text import parse_module, resource_handles

    _check_string_literals(text, name)
    try:
        module = parse_module(text, context(), name)
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


def load(path: str | Path) -> ModuleOp:
    """A module from a `.tflite` file or from a `.mlir` text file (by its suffix)."""
    path = Path(path)
    if path.suffix != ".mlir":
        return load_tflite(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LitecError("no such file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise LitecError(
            f"cannot read: {getattr(e, 'strerror', None) or e}", file=str(path)
        ) from None
    return parse_mlir(text, str(path))


def print_mlir(module: ModuleOp, *, resources: bool = True, locations: bool = True) -> str:
    """The module as MLIR text; with `resources`, constant data follows so it parses back."""
    from litec.dialects import context
    from litec.ir.text import print_module

    return print_module(module, context(), resources=resources, locations=locations)


def signature(module: ModuleOp):
    """Names and tensor infos of `@main`'s inputs and outputs (the `.npz` keys)."""
    from litec.dialects.tfl_reference import signature as _signature

    return _signature(module)


def random_inputs(module: ModuleOp, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random inputs for `@main`, by name: floats uniform in [-1, 1), quantized and
    narrow integers over their whole range, wider plain integers (indices) in [0, 8]."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, info in signature(module).inputs:
        if info.dtype.kind == "f":
            inputs[name] = rng.uniform(-1, 1, info.shape).astype(info.dtype)
            continue
        if info.dtype.kind == "b":
            inputs[name] = rng.integers(0, 2, info.shape).astype(np.bool_)
            continue
        lim = np.iinfo(info.dtype)
        lo, hi = (lim.min, lim.max) if info.quant is not None or lim.bits <= 16 else (0, 8)
        inputs[name] = rng.integers(lo, hi, info.shape, endpoint=True).astype(info.dtype)
    return inputs


def interpret(
    model: str | Path | ModuleOp, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]
) -> dict[str, np.ndarray]:
    """Run a model (a path or a module) with the reference interpreter.

    `inputs` by name (or a list in signature order); returns the outputs by name, in
    signature order."""
    from xdsl.dialects.builtin import ModuleOp

    from litec.dialects.tfl_reference import Interpreter

    module = model if isinstance(model, ModuleOp) else load(model)
    return Interpreter(module).run(inputs)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else text
