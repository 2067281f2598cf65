"""Every litec pass by name: the `PASSES` tables of the pass folders, in processing order,
the single-file passes, and plug-ins' passes from the entry-point group `litec.passes`
(`name = "package.module:PassClass"`).

    register_all()                      # idempotent; imports no pass module
    parse_pipeline("canonicalize,dce")  # litec.ir.passes
"""

from __future__ import annotations

import dataclasses
import importlib
from functools import cache
from importlib.metadata import entry_points

from litec.ir.passes import register_pass

FOLDERS = ("canonicalize", "fusion", "quantization", "layout")
"""Pass folders under lowering/, in processing order; each has a `PASSES` table."""

SINGLE = {
    "partition": ("litec.lowering.partition", "PartitionPass"),
}
"""Passes that are a module of lowering/ by themselves."""

ENTRY_POINT_GROUP = "litec.passes"


@cache
def register_all() -> None:
    """Register every built-in and plug-in pass (each pass module is imported on first use)."""
    for folder in FOLDERS:
        package = importlib.import_module(f"{__package__}.{folder}")
        for name, (module, cls) in package.PASSES.items():
            register_pass(name, f"{package.__name__}.{module}", cls)
    for name, (module, cls) in SINGLE.items():
        register_pass(name, module, cls)
    importlib.import_module(f"{__package__}.to_llvm")  # registers its own lowering passes
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        module, _, cls = ep.value.partition(":")
        register_pass(ep.name, module, cls)


def describe_passes() -> list[tuple[str, str, str]]:
    """(name, options, first docstring line) of every registered pass, sorted by name;
    options as `opt: type = default`, comma separated."""
    from litec.ir.passes import available_passes

    register_all()
    rows = []
    for name, load in sorted(available_passes().items()):
        cls = load()
        doc = (cls.__doc__ or "").strip().splitlines()
        rows.append((name, _options(cls), doc[0] if doc else f"(from {cls.__module__})"))
    return rows


def _options(cls) -> str:
    if not dataclasses.is_dataclass(cls):
        return ""
    fields = [f for f in dataclasses.fields(cls) if f.name != "name" and f.init]
    return ", ".join(f"{f.name}: {_type_name(f.type)} = {f.default!r}" for f in fields)


def _type_name(t) -> str:
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))
