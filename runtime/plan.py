"""The compiled program, as plain data: what the compiler writes and the runtime runs.

An `Executable` is everything an artifact holds, before FlatBuffers encoding
(lowering/artifact.py writes it, runtime/artifact.py reads it back and checks it):

- the signature (`TensorSpec`s of the inputs and outputs, in order);
- one arena of `arena_size` bytes, planned at compile time, and a constant segment;
- functions: `main` and the subgraph bodies WHILE calls; each is a list of `Step`s whose
  arguments are `BufferRef`s into the arena or the constants;
- one `SectionData` per backend (CPU: a shared object) holding the kernels steps call.

numpy-free and xDSL-free: the runtime imports this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ARENA = "arena"
CONST = "const"


@dataclass(frozen=True)
class QuantSpec:
    """Quantization of a signature tensor (TFLite's scale / zero point, per tensor or axis)."""

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    axis: int | None = None


@dataclass(frozen=True)
class TensorSpec:
    """A signature tensor: name (as TFLite reports it), shape, numpy dtype name, quantization."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: QuantSpec | None = None


@dataclass(frozen=True)
class BufferRef:
    """Bytes `[offset, offset + size)` of the arena or of the constant segment."""

    segment: str
    offset: int
    size: int


@dataclass
class Step:
    """One thing the runtime does, in order.

    kind "kernel": call `kernel` of backend `backend` with pointers to `args`.
    kind "while": loop over functions `cond` / `body`; `args` are the loop's input buffers
    followed by its output buffers (the loop-carried values before and after).
    kind "copy": copy args[0] into args[1] (same size).
    `op_indices` are the TFLite operator indices the step computes (for profiles and
    reports); `name` is what a profile shows (e.g. "CONV_2D").
    `parts` (kernel steps): 0, or P > 0 when the kernel is splittable: called with one more
    argument, the address of an int64 pair (part, parts), it computes that part's share,
    so the runtime may run it as any n <= P calls (p, n), p < n, in parallel.
    """

    kind: str
    name: str
    args: list[BufferRef]
    backend: str = ""
    kernel: str = ""
    op_indices: list[int] = field(default_factory=list)
    cond: str = ""
    body: str = ""
    parts: int = 0


@dataclass
class Function:
    """A planned function: where its inputs and outputs live, and its steps."""

    name: str
    inputs: list[BufferRef]
    outputs: list[BufferRef]
    steps: list[Step]


@dataclass
class SectionData:
    """A backend's part of the artifact: its bytes and facts its executor needs."""

    backend: str
    data: bytes
    meta: dict = field(default_factory=dict)


@dataclass
class Executable:
    """A whole compiled model."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    arena_size: int
    constants: bytes
    functions: dict[str, Function]
    sections: list[SectionData]
    source_sha256: str = ""
    compiler_version: str = ""
    target: str = ""
    """Target fingerprint: triple and CPU features the code was built for."""
    arena_lower_bound: int = 0
    """The largest total size of simultaneously live tensors (the plan's ideal)."""
