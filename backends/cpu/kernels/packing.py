"""Compile-time data of the matrix-product kernels: constants read from the IR, packed weights.

Everything here is numpy at compile time. The kernels (matmul.py, conv.py) read weights
as *panels*: the N output columns are cut into panels of `nr` consecutive columns, and
panel p holds, for each k, its `nr` weights side by side, so the inner loop loads whole
vectors. When N is not a multiple of `nr`, the last panel starts at N - nr and overlaps
the one before: its columns are computed twice and stored twice with equal values, so no
kernel needs a partial vector (`panel_starts`).

Layouts (64-byte aligned CONST data):
- float32: `[P][K][nr]`;
- int8 for VNNI `vpdpbusd` (4 consecutive k per 32-bit lane): `[P][K/4][nr][4]`, K padded
  to a multiple of 4 with zero weights;
- int8 for the portable widening kernel: `[P][K][nr]`.
"""

from __future__ import annotations

import functools

import numpy as np
from xdsl.ir import SSAValue

from litec.backends.cpu.kernels.base import kernel_options
from litec.dialects import tfl
from litec.dialects.tfl_reference import KERNELS
from litec.dialects.tfl_reference.core import make_call, source_value

F32, I8, U8, I32 = (np.dtype(t) for t in (np.float32, np.int8, np.uint8, np.int32))


FOLDED = (tfl.DequantizeOp, tfl.DensifyOp)
"""Ops of constants that kernels fold at compile time (float16 and sparse weights arrive so)."""


def constant(value: SSAValue) -> np.ndarray | None:
    """The compile-time value of an operand, or None when it is computed at run time.

    A `tfl.const`, or a DEQUANTIZE / DENSIFY of one, evaluated by the reference
    interpreter's kernels (what TFLite computes once when it prepares the model).
    """
    owner = value.owner
    if isinstance(owner, tfl.ConstOp):
        return source_value(owner, make_call(owner))
    if not isinstance(owner, FOLDED):
        return None
    source = constant(owner.operands[0])
    if source is None:
        return None
    call = make_call(owner)
    return KERNELS[call.builtin](call, source)


def panel_starts(n: int, nr: int) -> list[int]:
    """First column of each panel of `nr` columns; the last one overlaps back to end at n."""
    assert nr <= n, (nr, n)
    count = -(-n // nr)
    return [min(p * nr, n - nr) for p in range(count)]


def pack_f32(w_kn: np.ndarray, nr: int) -> np.ndarray:
    """float32 weights [K][N] as panels [P][K][nr] (flat)."""
    panels = [w_kn[:, s : s + nr] for s in panel_starts(w_kn.shape[1], nr)]
    return np.ascontiguousarray(np.stack(panels), dtype=F32).ravel()


def pack_i8(w_kn: np.ndarray, nr: int, dtype=I8) -> np.ndarray:
    """Integer weights [K][N] as panels [P][K][nr] (flat) for the widening kernel: int8, or
    int32 for centred uint8 weights that do not fit int8."""
    panels = [w_kn[:, s : s + nr] for s in panel_starts(w_kn.shape[1], nr)]
    return np.ascontiguousarray(np.stack(panels), dtype=dtype).ravel()


def padded_depth(k: int) -> int:
    """K rounded up to a multiple of 4 (VNNI sums 4 products per 32-bit lane)."""
    return -(-k // 4) * 4


def pack_vnni(w_kn: np.ndarray, nr: int) -> np.ndarray:
    """int8 weights [K][N] as panels [P][K/4][nr][4] (flat), K padded with zero weights."""
    k, n = w_kn.shape
    padded = np.zeros((padded_depth(k), n), I8)
    padded[:k] = w_kn
    quads = padded.reshape(-1, 4, n)
    panels = [quads[:, :, s : s + nr].transpose(0, 2, 1) for s in panel_starts(n, nr)]
    return np.ascontiguousarray(np.stack(panels), dtype=I8).ravel()


def column_sums(w_kn: np.ndarray) -> np.ndarray:
    """Σ_k w[k][n] per column, int64."""
    return w_kn.astype(np.int64).sum(axis=0)


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap to int32 (the kernels' accumulators wrap the same way)."""
    return np.asarray(x, dtype=np.int64).astype(np.int32)


def folded_bias(bias: np.ndarray | None, w_kn: np.ndarray, input_offset: int) -> np.ndarray:
    """int32 accumulator start: bias − input_offset · Σ_k w, wrapped like TFLite's int32 sums.

    With VNNI the kernel sums (x + 128)·w, so input_offset = 128 + zp_in; the widening
    kernel sums x·w, so input_offset = zp_in. Either way Σ (x − zp_in)·w + bias results.
    """
    start = np.zeros(w_kn.shape[1], np.int64) if bias is None else bias.astype(np.int64)
    return wrap32(start - input_offset * column_sums(w_kn))


@functools.cache
def host_has_vnni() -> bool:
    """Whether this CPU has AVX512-VNNI (then int8 kernels use `vpdpbusd`)."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    return bool(features.get("avx512vnni") and features.get("avx512bw"))


def use_vnni() -> bool:
    """Whether generated int8 kernels may use AVX512-VNNI (`KernelOptions.vnni`)."""
    allowed = kernel_options().vnni
    return host_has_vnni() if allowed is None else allowed
