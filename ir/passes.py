"""The pass registry: every litec pass by its kebab-case name, and pipelines from strings.

A pass is an xDSL `ModulePass`: a frozen dataclass with a `name` and typed option fields,
parsed from `name{opt=value}`. Passes register here lazily (module path + class name) so
that listing them imports nothing heavy; plug-ins add theirs through `register_pass`.

    pipeline = parse_pipeline("convert-arith-to-llvm,convert-func-to-llvm")
    pipeline.apply(ctx, module)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from xdsl.passes import ModulePass, PassPipeline

from litec.ir.diagnostics import LitecError

_REGISTRY: dict[str, Callable[[], type[ModulePass]]] = {}


def register_pass(name: str, module: str, cls: str) -> None:
    """Make `module.cls` available as pass `name` (imported on first use)."""

    def load() -> type[ModulePass]:
        return getattr(importlib.import_module(module), cls)

    _REGISTRY[name] = load


def available_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Name -> loader of every registered pass."""
    return dict(_REGISTRY)


def parse_pipeline(spec: str, callback=None) -> PassPipeline:
    """A pipeline from `a,b{opt=1},c`; unknown names are a `LitecError` listing the known ones."""
    try:
        return PassPipeline.parse_spec(_REGISTRY, spec, callback)
    except ValueError as e:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise LitecError(f"bad pass pipeline '{spec}': {e} (known passes: {known})") from None
