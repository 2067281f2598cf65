"""Calibration for post-training quantization: the range (min, max) of every float tensor of
`@main` over a set of input samples, run through the reference interpreter.

    samples = load_samples("data.npz")      # keyed by input name, stacked along the batch axis
    ranges = calibrate(module, samples)     # SSA value -> (min, max)

TFLite's converter calibrates the same way: one run per sample, the minimum of the minima
and the maximum of the maxima of each tensor.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from litec.dialects import tfl
from litec.dialects.tfl_reference import Interpreter, TensorInfo, signature
from litec.ir.diagnostics import LitecError

Ranges = dict[SSAValue, tuple[float, float]]


def load_samples(path: str) -> dict[str, np.ndarray]:
    """The arrays of a calibration `.npz` by key."""
    try:
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as e:
        raise LitecError(f"cannot read calibration data '{path}': {e}") from None


def split_samples(module: ModuleOp, samples: Mapping[str, np.ndarray]) -> list[list[np.ndarray]]:
    """The samples as model inputs, one list (in signature order) per run; a LitecError names
    an input that is missing, unknown, or has the wrong shape or dtype."""
    inputs = signature(module).inputs
    names = [name for name, _ in inputs]
    for key in samples:
        if key not in names:
            raise LitecError(f"calibration data has an unknown input '{key}'; inputs: {names}")
    runs = {name: _runs_of(name, info, samples) for name, info in inputs}
    counts = {len(r) for r in runs.values()}
    if len(counts) > 1:
        raise LitecError(f"calibration inputs hold different numbers of samples: {sorted(counts)}")
    return [list(each) for each in zip(*runs.values(), strict=True)]


def _runs_of(name: str, info: TensorInfo, samples: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    if name not in samples:
        raise LitecError(f"calibration data has no samples for input '{name}'")
    data = np.asarray(samples[name])
    batch, rest = info.shape[0] if info.shape else 1, info.shape[1:]
    if data.ndim != len(info.shape) or data.shape[1:] != rest or not data.shape[0] % batch == 0:
        raise LitecError(
            f"calibration samples for input '{name}' have shape {list(data.shape)}; expected "
            f"[N*{batch}, {', '.join(map(str, rest))}] (samples stacked along the batch axis)"
        )
    if data.shape[0] == 0 or data.dtype.kind not in "fiu":
        raise LitecError(f"calibration samples for input '{name}' are empty or not numbers")
    data = data.astype(info.dtype)
    return [data[i : i + batch] for i in range(0, data.shape[0], batch)]


def calibrate(module: ModuleOp, samples: Mapping[str, np.ndarray]) -> Ranges:
    """(min, max) of every float32 input and op result of `@main` over all samples."""
    runs = split_samples(module, samples)
    interp = Interpreter(module)
    fn, steps = interp.plan("main")
    ranges: Ranges = {}
    for args in runs:
        values = dict(zip(fn.body.block.args, args, strict=True))
        _widen(ranges, values)
        for step in steps:
            interp._run_step("main", step, values)
            if not isinstance(step.op, tfl.ConstOp):
                _widen(ranges, {r: values[r] for r in step.op.results})
    return ranges


def _widen(ranges: Ranges, values: Mapping[SSAValue, np.ndarray | None]) -> None:
    for value, arr in values.items():
        if arr is None or arr.dtype != np.float32 or arr.size == 0:
            continue
        lo, hi = float(arr.min()), float(arr.max())
        old = ranges.get(value)
        ranges[value] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
