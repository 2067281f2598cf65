"""Executors: the runtime half of a backend, found through entry points.

An executor is registered in the entry-point group `litec.executors` under its backend's
name. The runtime creates one per artifact section and asks it for a callable per kernel:

    ex = CpuExecutor(section, threads=1)
    fn = ex.kernel("k12_conv_2d")     # fn(pointers: list[int]) -> None
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import ClassVar

from litec.runtime.plan import SectionData

EXECUTOR_GROUP = "litec.executors"


class Executor(ABC):
    """Runs the kernels of one backend's artifact section."""

    name: ClassVar[str]

    @abstractmethod
    def __init__(self, section: SectionData, threads: int | None = None): ...

    @abstractmethod
    def kernel(self, symbol: str) -> Callable[[list[int]], None]:
        """A callable that runs kernel `symbol` on raw buffer addresses (in argument order)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the executor holds (e.g. unload a shared object)."""


def load_executor(name: str) -> type[Executor]:
    """The executor class registered for backend `name`."""
    for ep in entry_points(group=EXECUTOR_GROUP):
        if ep.name == name:
            return ep.load()
    raise KeyError(name)
