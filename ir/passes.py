"""The pass registry and the pass manager: passes by kebab-case name, pipelines from strings,
and instruments that watch each pass (print the IR, time, verify).

A pass is an xDSL `ModulePass`: a frozen dataclass with a `name` and typed option fields,
parsed from `name{opt=value}`. Passes register here lazily (module path + class name) so
that listing them imports nothing heavy; lowering/passes.py registers litec's own and
plug-ins' (entry-point group `litec.passes`).

    run_pipeline(module, "canonicalize,fuse-conv-activation", ctx,
                 [PrintIR(after={"canonicalize"}), PassTiming(), VerifyEach()])
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TextIO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import ArgSpecParseError, VerifyException

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
    except ArgSpecParseError as e:
        where = " ".join(line.strip() for line in str(e).splitlines()[1:] if line.strip())
        raise LitecError(
            f"bad pass pipeline '{spec}': {where} (quote option values with other characters "
            'than letters, digits, - and _: name{path="a/b.npz"})'
        ) from None
    except ValueError as e:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise LitecError(f"bad pass pipeline '{spec}': {e} (known passes: {known})") from None


# ----------------------------------------------------------------------------- the pass manager


class Instrument:
    """Hooks the pass manager calls around a pipeline; override the ones you need."""

    def before_pipeline(self, module: ModuleOp) -> None:
        """Once, before the first pass."""

    def after_pass(self, done: ModulePass, module: ModuleOp, seconds: float) -> None:
        """After each pass (`seconds`: its run time); raise a `LitecError` to stop."""

    def after_pipeline(self, module: ModuleOp) -> None:
        """Once, after the last pass."""


def run_pipeline(
    module: ModuleOp, spec: str, ctx: Context, instruments: Iterable[Instrument] = ()
) -> None:
    """Apply the passes of `spec` in order to `module`, calling the instruments around them."""
    instruments = list(instruments)
    passes = parse_pipeline(spec).passes if spec else ()
    for instrument in instruments:
        instrument.before_pipeline(module)
    for each in passes:
        start = time.perf_counter()
        each.apply(ctx, module)
        seconds = time.perf_counter() - start
        for instrument in instruments:
            instrument.after_pass(each, module, seconds)
    for instrument in instruments:
        instrument.after_pipeline(module)


@dataclass
class PrintIR(Instrument):
    """Print the IR after every pass (`after` None) or after the named passes, MLIR-style."""

    print_module: Callable[[ModuleOp], str]
    after: set[str] | None = None
    stream: TextIO | None = None

    def after_pass(self, done, module, seconds):
        if self.after is not None and done.name not in self.after:
            return
        out = self.stream or sys.stderr
        out.write(f"// -----// IR Dump After {done.name} //----- //\n")
        out.write(self.print_module(module))


@dataclass
class PassTiming(Instrument):
    """Time each pass; `report()` is the table printed at the end (`stream`, default stderr)."""

    stream: TextIO | None = None
    times: list[tuple[str, float]] = field(default_factory=list)

    def after_pass(self, done, module, seconds):
        self.times.append((done.name, seconds))

    def after_pipeline(self, module):
        (self.stream or sys.stderr).write(self.report())

    def report(self) -> str:
        total = sum(s for _, s in self.times) or 1e-12
        lines = [
            "===" + "-" * 66 + "===",
            "  pass execution timing report",
            "===" + "-" * 66 + "===",
        ]
        lines.append(f"  total {total:.4f} s")
        lines.append(f"  {'wall (s)':>10}  {'share':>6}  pass")
        for name, seconds in self.times:
            lines.append(f"  {seconds:10.4f}  {100 * seconds / total:5.1f}%  {name}")
        return "\n".join(lines) + "\n"


class VerifyEach(Instrument):
    """Run the IR verifier after every pass; the error names the pass that broke the IR."""

    def after_pass(self, done, module, seconds):
        try:
            module.verify()
        except VerifyException as e:
            first = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
            raise LitecError(f"the IR after pass '{done.name}' does not verify: {first}") from None
