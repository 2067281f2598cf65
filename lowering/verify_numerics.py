"""`--verify-numerics`: the reference interpreter runs before the pipeline and after each
pass on the same seeded inputs; the first pass that changes a result is named.

Quantized (integer) outputs must not change at all; float outputs may move by
`rtol · max(1, max |before|)` (passes such as batch-norm folding round differently).
Quantization passes change the results on purpose: after one, its results are the new
reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from litec.dialects.tfl_reference.core import interpret, random_inputs
from litec.ir.diagnostics import LitecError
from litec.ir.passes import Instrument

FLOAT_RTOL = 1e-5
"""Default float tolerance of a pipeline, relative to max(1, max |output|)."""

INTENDED_CHANGES = {"quantize", "quantize-weights-fp16", "quantize-weights-int8"}
"""Passes that change the results on purpose (quantization): after one of them, its results
become the reference the following passes are checked against."""


def first_change(before: dict, after: dict, rtol: float) -> str | None:
    """What changed between two runs' outputs (one line), or None when none did."""
    for name, ref in before.items():
        got = after.get(name)
        if got is None or got.shape != ref.shape or got.dtype != ref.dtype:
            return f"output '{name}' is now {_describe(got)}, was {_describe(ref)}"
        if ref.dtype.kind != "f":
            wrong = int(np.count_nonzero(got != ref))
            if wrong:
                return f"output '{name}': {wrong} of {ref.size} quantized values changed"
            continue
        err = float(np.max(np.abs(got.astype(np.float64) - ref), initial=0.0))
        bound = rtol * max(1.0, float(np.max(np.abs(ref), initial=0.0)))
        if not err <= bound:
            return f"output '{name}': max error {err:.3g} exceeds {bound:.3g}"
    return None


def _describe(arr) -> str:
    if arr is None:
        return "missing"
    return f"{arr.dtype}[{'x'.join(map(str, arr.shape))}]"


@dataclass
class VerifyNumerics(Instrument):
    """Check after each pass that the module computes what it computed before the pipeline."""

    seed: int = 0
    rtol: float = FLOAT_RTOL
    inputs: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)
    """The passes checked so far."""
    rebaselined: list[str] = field(default_factory=list)
    """The passes (INTENDED_CHANGES) whose results became the reference."""

    def before_pipeline(self, module: ModuleOp) -> None:
        self.inputs = random_inputs(module, self.seed)
        self.reference = interpret(module, self.inputs)

    def after_pass(self, done, module, seconds):
        try:
            outputs = interpret(module, self.inputs)
        except LitecError as e:
            raise LitecError(
                f"verify-numerics: the reference interpreter cannot run the IR after pass "
                f"'{done.name}': {e}"
            ) from None
        if done.name in INTENDED_CHANGES:
            self.reference = outputs
            self.rebaselined.append(done.name)
            return
        change = first_change(self.reference, outputs, self.rtol)
        if change is not None:
            raise LitecError(f"verify-numerics: pass '{done.name}' changed the results: {change}")
        self.checked.append(done.name)
