"""Calibration for post-training quantization: the range (min, max), a histogram and the
per-channel mean of every float tensor of `@main` over a set of input samples, run through the
reference interpreter.

    samples = load_samples("data.npz")      # keyed by input name, stacked along the batch axis
    stats = calibrate(module, samples)      # .ranges: value -> (min, max); .means: value -> mean
    stats.histograms[value].mse_range()     # the clipped range with the least int8 error

TFLite's converter calibrates the ranges the same way: one run per sample, the minimum of the
minima and the maximum of the maxima of each tensor. The means (over all but the channel
axis: the last, or the C of the NHWC image a value stored in another layout holds,
dialects/tfl_layouts.py) serve bias correction; the histograms serve ranges chosen for the
least quantization error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from litec.dialects import tfl
from litec.dialects.tfl_layouts import NHWC, images, layout_of, to_nhwc
from litec.dialects.tfl_reference import Interpreter, TensorInfo, signature
from litec.dialects.tfl_reference.conv import sums_in_any_order
from litec.ir.diagnostics import LitecError
from litec.lowering.quantization.lstm import lstm_calibration

Ranges = dict[SSAValue, tuple[float, float]]

BINS = 2048
"""Histogram bins over a tensor's calibrated range."""
KEEP = 0.999
"""A clipped range keeps at least this share of the calibration values."""


@dataclass
class Histogram:
    """The distribution of a tensor's values over all runs: `BINS` equal bins over its
    running (min, max); when a run widens the range, the counts so far move to the new bins
    by their bins' centres. Exact zeros (ReLU's) are counted apart: int8 keeps them exact."""

    lo: float = 0.0
    hi: float = 0.0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(BINS))
    zeros: int = 0

    def add(self, arr: np.ndarray) -> None:
        """Count the values of one run."""
        lo, hi = min(self.lo, float(arr.min())), max(self.hi, float(arr.max()))
        if (lo, hi) != (self.lo, self.hi):
            self.counts = np.bincount(self._bins(self.centres(), lo, hi), self.counts, BINS)
            self.lo, self.hi = lo, hi
        nonzero = arr[arr != 0].astype(np.float64)
        self.zeros += arr.size - nonzero.size
        self.counts += np.bincount(self._bins(nonzero, lo, hi), minlength=BINS)

    def centres(self) -> np.ndarray:
        """The centre of each bin."""
        width = (self.hi - self.lo) / BINS
        return self.lo + width * (np.arange(BINS) + 0.5)

    @staticmethod
    def _bins(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        index = (x - lo) * (BINS / (hi - lo)) if hi > lo else np.zeros_like(x)
        return np.clip(index.astype(np.int64), 0, BINS - 1)

    def mse_range(self, steps: int = 128) -> tuple[float, float]:
        """The range [a, b] (0 inside) with the least expected int8 error: rounding (step²/12
        for each value inside) plus clipping (the squared distance of each value outside),
        each end searched between the calibrated extreme and the point that leaves out half
        of the `1 - KEEP` share of the values allowed to be clipped."""
        x, n = self.centres(), self.counts
        tail = (1.0 - KEEP) / 2 * (n.sum() + self.zeros)
        a = self._ends(min(self.lo, 0.0), np.cumsum(n), x, tail, steps)
        b = self._ends(max(self.hi, 0.0), np.cumsum(n[::-1])[::-1], x, tail, steps)
        below = np.maximum(a[:, None] - x, 0.0)
        above = np.maximum(x - b[:, None], 0.0)
        inside = n.sum() - (n * (below > 0)).sum(axis=1)[:, None] - (n * (above > 0)).sum(axis=1)
        step = (b - a[:, None]) / 255
        error = (
            inside * step**2 / 12 + (n * below**2).sum(axis=1)[:, None] + (n * above**2).sum(axis=1)
        )
        i, j = np.unravel_index(np.argmin(error), error.shape)
        return float(a[i]), float(b[j])

    @staticmethod
    def _ends(
        end: float, outside: np.ndarray, x: np.ndarray, tail: float, steps: int
    ) -> np.ndarray:
        """Candidate ends from `end` towards 0, stopping where more than `tail` values lie
        beyond (`outside[k]`: how many values lie at or beyond bin k's centre)."""
        allowed = x[outside <= tail]
        nearest = (allowed.max() if end < 0 else allowed.min()) if allowed.size else end
        nearest = nearest if nearest * end > 0 else end
        return np.linspace(end, nearest, steps)


@dataclass
class Calibration:
    """What calibration measured for each float value of `@main`."""

    ranges: Ranges = field(default_factory=dict)
    """(min, max) over all samples."""
    means: dict[SSAValue, np.ndarray] = field(default_factory=dict)
    """The mean of each channel (of the NHWC image for values in `layouts`, else along the
    last axis), over all samples."""
    layouts: dict[SSAValue, str] = field(default_factory=dict)
    """The layout of the values read as images by ops in another layout than NHWC."""
    histograms: dict[SSAValue, Histogram] = field(default_factory=dict)
    """The distribution of the values over all samples."""
    inner: dict[tuple[SSAValue, str], tuple[float, float]] = field(default_factory=dict)
    """(min, max) of values inside ops, by (the op's first result, name): an LSTM's cell
    state, hidden value and gate pre-activations (quantization/lstm.py)."""

    def add(self, values: Mapping[SSAValue, np.ndarray | None], runs: int) -> None:
        """Account for the float values of one run of `runs`."""
        for value, arr in values.items():
            if arr is None or arr.dtype != np.float32 or arr.size == 0:
                continue
            _widen(self.ranges, value, arr)
            channels = to_nhwc(arr, self.layouts[value]) if value in self.layouts else arr
            mean = channels.reshape(-1, channels.shape[-1] if arr.ndim else 1).mean(axis=0) / runs
            self.means[value] = self.means.get(value, 0.0) + mean
            self.histograms.setdefault(value, Histogram()).add(arr)

    def add_inner(self, key: tuple[SSAValue, str], arr: np.ndarray) -> None:
        """Account for values inside an op (see `inner`)."""
        _widen(self.inner, key, arr)


def _widen(ranges: dict, key, arr: np.ndarray) -> None:
    """Widen `ranges[key]` (min, max) to cover `arr`."""
    lo, hi = float(arr.min()), float(arr.max())
    old = ranges.get(key, (lo, hi))
    ranges[key] = (min(old[0], lo), max(old[1], hi))


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


def calibrate(module: ModuleOp, samples: Mapping[str, np.ndarray]) -> Calibration:
    """Ranges and channel means of every float32 input and op result of `@main` over all
    samples."""
    runs = split_samples(module, samples)
    interp = Interpreter(module)
    stats = Calibration(layouts=_image_layouts(interp.plan("main")[0]))
    with lstm_calibration(stats), sums_in_any_order():
        for args in runs:
            values = interp.run_values("main", args)
            stats.add({v: a for v, a in values.items() if not _is_constant(v)}, len(runs))
    return stats


def _image_layouts(fn: func.FuncOp) -> dict[SSAValue, str]:
    """The layout of each value an op in another layout than NHWC reads as an image."""
    return {
        op.operands[i]: layout_of(op)
        for op in fn.body.block.ops
        if layout_of(op) != NHWC
        for i in images(op)[0]
    }


def _is_constant(value: SSAValue) -> bool:
    return isinstance(value.owner, tfl.ConstOp)
