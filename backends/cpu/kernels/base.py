"""The contract between the CPU kernel generators and the rest of the CPU backend.

A generator turns one `tfl` op into a `Kernel`: a `func.func` at the *kernel level* plus,
for each of its arguments, what buffer it binds to. The kernel level is:

- dialects: `func`, `scf`, `arith`, `math`, `memref`, `vector`, and `llvm` intrinsics
  (`llvm.call_intrinsic`, `llvm.intr.*`) for what the others lack (e.g. VNNI dot
  products, integer min/max);
- arguments are statically shaped, identity-layout `memref`s, one per bound buffer;
  quantized tensors use their storage integer type (`memref<1x8x8x16xi8>`), float16
  constants `f16`;
- no allocation inside a kernel: scratch space is an argument bound to `scratch`;
- the function returns nothing.

A kernel may be *splittable* (`Kernel.parts` = P > 0): it then takes one more, trailing
argument that is not in its bindings, a `memref<2xi64>` holding (part, parts), and computes
only blocks [part·B / parts, (part+1)·B / parts) of the B blocks of its outermost independent
loop, so the runtime may run it as any number of parts up to P, in parallel. Its scratch
holds P per-part regions; part p uses region p.

The lowering passes (lowering/to_llvm/) turn this into the `llvm` dialect with the
*bare-pointer ABI*: every memref argument becomes one `!llvm.ptr`, so the runtime calls
`void kernel(void *a0, void *a1, ...)` with raw buffer addresses.

Generators register with `@generator("tfl.conv_2d", supports=check)`; `check(op)` returns
`(ok, reason)` (the reason is user-facing: it appears in `litec compile --report` and in
the generated supported-ops document).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, i64
from xdsl.ir import Operation

INPUT = "input"
OUTPUT = "output"
CONST = "const"
SCRATCH = "scratch"


@dataclass(frozen=True)
class Binding:
    """What one kernel argument is bound to.

    INPUT / OUTPUT: the op's operand / result number `index`; CONST: `data` (compile-time
    data the generator made, e.g. packed weights or per-channel multipliers), placed in
    the artifact's constant segment (64-byte aligned); SCRATCH: `size` bytes of arena that
    live only during this kernel.
    """

    kind: str
    index: int = 0
    data: np.ndarray | None = field(default=None, compare=False)
    size: int = 0


MAX_PARTS = 16
"""The most parts a splittable kernel runs as: fixed, so artifacts do not depend on the
machine that compiles them."""

MIN_PART_WORK = 1 << 20
"""Multiply-adds (or comparable steps) below which a part is not worth a thread's wake-up:
handing a part to a worker costs about 10-15 us; 2^20 int8 multiply-adds take about 10."""

PARTS_ATTR = "litec.parts"
"""The function attribute that records a splittable kernel's P."""


def split_parts(blocks: int, work: int) -> int:
    """How many parts a kernel of `blocks` independent blocks and `work` multiply-adds
    may run as: up to MAX_PARTS, each with at least a block and MIN_PART_WORK of work;
    0 (not splittable) when that leaves fewer than two."""
    parts = min(MAX_PARTS, blocks, work // MIN_PART_WORK)
    return parts if parts >= 2 else 0


@dataclass
class Kernel:
    """One generated kernel: its kernel-level function and its argument bindings."""

    func: func.FuncOp
    bindings: list[Binding]

    @property
    def parts(self) -> int:
        """P > 0 when the kernel is splittable into up to P parts, else 0.

        Recorded on the function (`mark_parts`), so it travels with it when identical
        kernels of several ops share one function; a kernel with no kernel-level function
        (code made some other way) is not splittable."""
        if self.func is None:
            return 0
        attr = self.func.attributes.get(PARTS_ATTR)
        return attr.value.data if isinstance(attr, IntegerAttr) else 0


def mark_parts(fn: func.FuncOp, parts: int) -> func.FuncOp:
    """Record that `fn` is splittable into up to `parts` parts (see `Kernel.parts`)."""
    if parts:
        fn.attributes[PARTS_ATTR] = IntegerAttr(parts, i64)
    return fn


@dataclass(frozen=True)
class KernelOptions:
    """What generators may use and how exactly float kernels must follow TFLite.

    `vnni` / `vbmi`: AVX512-VNNI dot products / AVX512-VBMI byte permutes (None: when this
    CPU has them; portable builds turn both off). `exact_float`: float products and sums in
    TFLite's reference order, each product rounded before it is added (no fused
    multiply-add), bias last: bit-exact with BUILTIN_REF, about 1.3x slower convolutions.
    Otherwise float kernels use FMAs and may differ from TFLite by float rounding.
    """

    vnni: bool | None = None
    vbmi: bool | None = None
    exact_float: bool = False


_OPTIONS: ContextVar[KernelOptions] = ContextVar(
    "kernel_options",
    default=KernelOptions(),  # noqa: B039 - frozen, never mutated
)


def kernel_options() -> KernelOptions:
    """The options generators are running under (see `using_options`)."""
    return _OPTIONS.get()


@contextmanager
def using_options(options: KernelOptions) -> Iterator[None]:
    """Run generators under `options` (restored afterwards)."""
    token = _OPTIONS.set(options)
    try:
        yield
    finally:
        _OPTIONS.reset(token)


Generate = Callable[[Operation, str], Kernel]
"""generate(op, symbol) -> Kernel; `symbol` is the function name to use."""
Check = Callable[[Operation], tuple[bool, str]]


@dataclass(frozen=True)
class Generator:
    generate: Generate
    supports: Check


GENERATORS: dict[str, Generator] = {}
"""`tfl` op name (e.g. "tfl.conv_2d", or "tfl.custom:<code>") -> its generator."""


def _always(op: Operation) -> tuple[bool, str]:
    return True, "supported"


def generator(*op_names: str, supports: Check = _always) -> Callable[[Generate], Generate]:
    """Register a kernel generator for one or more `tfl` op names."""

    def register(fn: Generate) -> Generate:
        for name in op_names:
            GENERATORS[name] = Generator(fn, supports)
        return fn

    return register
