"""The backend interface, and the registry that finds backends through entry points.

A backend (built in or a separate package) is a class registered in the entry-point group
`litec.backends` (`name = "module:Class"`). It declares:

- `name`: the target name users pass to `--target`;
- `supports(op)`: `(ok, reason)` for one `tfl` op; the reason is shown to users in the
  placement report and generates the supported-ops document;
- `emit(fn, plan)`: lowers the ops placed on it (the function `fn`, already memory-planned)
  and returns its artifact section: the bytes plus the kernels the execution plan calls;
- `graph_pipeline(opt_level)` (optional): the graph passes `litec compile -O0..-O3` runs
  before partitioning when this is the requested target;
- `preferred_layout(op)` (optional): the layout a layout-sensitive op should compute in on
  this target (the `convert-layout` pass asks it).

Partitioning, CPU fallback, the placement report, memory planning and the artifact
container are the core's job (lowering/partition.py, lowering/memory_plan.py,
lowering/artifact.py), not the backend's. The runtime side of a backend is an executor,
registered in the group `litec.executors` (runtime/executor.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import ClassVar

from xdsl.ir import Operation

from litec.ir.diagnostics import LitecError


@dataclass
class Section:
    """What a backend contributes to the artifact.

    `data`: the backend's bytes (CPU: a shared object); `kernels`: step name -> symbol (or
    index) the executor resolves in `data`; `meta`: small JSON-able facts (e.g. the target
    triple and CPU features the code was built for).
    """

    backend: str
    data: bytes
    kernels: dict[str, str] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


class Backend(ABC):
    """A compilation target."""

    name: ClassVar[str]

    @abstractmethod
    def supports(self, op: Operation) -> tuple[bool, str]:
        """Whether this backend runs `op`, and a one-line reason users can read."""

    @abstractmethod
    def emit(self, module, plan, options: dict) -> Section:
        """Lower the ops placed on this backend and return the artifact section."""

    def graph_pipeline(self, opt_level: int) -> str:
        """The graph passes (`tfl` -> `tfl`) `litec compile -O<opt_level>` runs for this
        target, as a pipeline string; none by default."""
        return ""

    def preferred_layout(self, op: Operation) -> str | None:
        """The layout `op` (a layout-sensitive `tfl` op: conv, pooling, resize...) should
        compute in on this target, as the order of its image axes ("NCHW"; see
        `litec.layout`), or None to keep the one it has (TFLite's NHWC). The hook for GPU
        and NPU backends whose kernels want channels first; the `convert-layout` pass
        inserts the transposes and cancels those that meet."""
        return None


BACKEND_GROUP = "litec.backends"


def load_backends() -> dict[str, Backend]:
    """Every installed backend by name (entry-point group `litec.backends`)."""
    found: dict[str, Backend] = {}
    for ep in entry_points(group=BACKEND_GROUP):
        cls = ep.load()
        found[cls.name] = cls()
    return found


def get_backend(name: str) -> Backend:
    """The backend called `name`, or a `LitecError` listing the installed ones."""
    backends = load_backends()
    if name not in backends:
        known = ", ".join(sorted(backends)) or "none"
        raise LitecError(f"unknown target '{name}' (installed backends: {known})")
    return backends[name]
