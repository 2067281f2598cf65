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


def parse_mlir(text: str, name: str = "<text>") -> ModuleOp:
    """Parse and verify `tfl` IR text (as `print_mlir` writes it)."""
    from litec.dialects import context
    from litec.ir.text import parse_checked

    return parse_checked(text, context(), name)


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
    from litec.dialects.tfl_reference import random_inputs as _random_inputs

    return _random_inputs(module, seed)


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
