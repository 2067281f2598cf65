"""Shared helpers of the reference-kernel tests: synthetic models and checks against TFLite.

A "zoo" is a small synthetic model (`tflite_builder`) holding many independent ops, so
TFLite runs once for all of them (its results are cached on disk); `check_ops` then runs
each op of interest alone on TFLite's own input tensors (`harness.compare_ops`).
Quantized results must be bit-exact, float ones within the harness tolerance (`exact`:
float ones bit-exact too).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from harness import compare_model, compare_ops, diff
from oracle import run_oracle
from tflite_builder import Op, Tensor, build_model

from litec.dialects.tfl_reference import Interpreter, TensorInfo
from litec.ir.quant import QuantParams
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import read_model

_STORAGE = {np.dtype(np.int8): "i8", np.dtype(np.uint8): "u8", np.dtype(np.int16): "i16"}

# ----------------------------------------------------------------------------- model pieces


def tensor(name, shape, dtype="FLOAT32", scale=None, zero_point=0, data=None) -> Tensor:
    """A tensor for a synthetic model; quantized (per-tensor) when `scale` is given."""
    quantized = scale is not None
    return Tensor(
        name,
        tuple(shape),
        dtype,
        data,
        scales=[scale] if quantized else None,
        zero_points=[zero_point] if quantized else None,
    )


def const(name, values, dtype="INT32") -> Tensor:
    """An integer constant (axes, shapes, paddings, indices)."""
    arr = np.asarray(values, dtype={"INT32": np.int32, "INT64": np.int64}[dtype])
    return Tensor(name, arr.shape, dtype, data=arr)


def random_scale(rng, low=-3.0, high=0.0) -> float:
    """A float32-representable scale, log-uniform in [10^low, 10^high]."""
    return float(np.float32(10 ** rng.uniform(low, high)))


def random_zero_point(rng, dtype: str) -> int:
    """A zero point TFLite accepts for the storage type (0 for int16)."""
    if dtype == "INT8":
        return int(rng.integers(-128, 128))
    if dtype == "UINT8":
        return int(rng.integers(0, 256))
    return 0


def random_quant(rng, dtype: str, low=-3.0, high=0.0) -> tuple[float, int]:
    """A random (scale, zero point) for the storage type."""
    return random_scale(rng, low, high), random_zero_point(rng, dtype)


def write_model(path, tensors: list[Tensor], ops: list[Op], inputs=None):
    """Write a one-subgraph model whose outputs are all its ops' results; returns `path`.

    The inputs default to the tensors that no op produces and that hold no data.
    """
    produced = [o for op in ops for o in op.outputs]
    if inputs is None:
        inputs = [t.name for t in tensors if t.data is None and t.name not in produced]
    path.write_bytes(build_model(tensors, ops, inputs, produced))
    return path


def tensor_info(shape, dtype, scale=None, zero_point=0) -> TensorInfo:
    """A kernel's view of a tensor, quantized (per-tensor) when `scale` is given."""
    dtype = np.dtype(dtype)
    quant = QuantParams(_STORAGE[dtype], (scale,), (zero_point,)) if scale is not None else None
    return TensorInfo(tuple(shape), dtype, quant)


# ----------------------------------------------------------------------------- checks


def assert_ops_match(results, builtins: Collection[str], expected=None, *, exact=False) -> None:
    """Every compared op of `builtins` matches TFLite; `expected` of them (default: any) ran."""
    mine = [(idx, name, diffs) for idx, name, diffs in results if name in builtins]
    bad = [
        f"op #{idx} {name}: " + "; ".join(str(d) for d in diffs)
        for idx, name, diffs in mine
        if not all(d.ok and (d.max_abs == 0 or not exact) for d in diffs)
    ]
    assert not bad, "\n".join(bad)
    if expected is None:
        assert mine, "no op of interest was compared"
    else:
        assert len(mine) == expected


def check_ops(path, builtins: Collection[str], expected=None, *, exact=False, oracle_path=None):
    """Each op of `builtins` in the model, run alone on TFLite's inputs, matches TFLite.

    `oracle_path`: the model TFLite runs instead (a builtin rewrite with the same tensors).
    """
    results = compare_ops(path, builtins=set(builtins), oracle_path=oracle_path)
    assert_ops_match(results, builtins, expected, exact=exact)


def check_zoo(path, tensors: list[Tensor], ops: list[Op], builtins, *, exact=False) -> None:
    """Write a model of `ops` (`write_model`) and check each op of `builtins` in it."""
    write_model(path, tensors, ops)
    expected = sum(op.builtin in builtins for op in ops)
    check_ops(path, builtins, expected, exact=exact)


def check_model(path, inputs=None, *, exact=False) -> None:
    """The whole model's outputs match TFLite's on `inputs` (default: seeded random ones)."""
    if inputs is None:
        diffs = compare_model(path)
    else:
        ours = Interpreter(import_model(read_model(path))).run(inputs)
        ref = run_oracle(path, inputs)
        diffs = [diff(name, arr, ref[f"out{i}"]) for i, (name, arr) in enumerate(ours.items())]
    bad = [f"{d.name}: {d}" for d in diffs if not d.ok or (exact and d.max_abs != 0)]
    assert not bad, "; ".join(bad)


def assert_close(name: str, ours: np.ndarray, ref: np.ndarray) -> None:
    """One tensor matches TFLite's within the harness tolerance."""
    d = diff(name, ours, ref)
    assert d.ok, f"{name}: {d}"
