"""Post-training quantization of UNIDIRECTIONAL_SEQUENCE_LSTM into TFLite's integer "8x8_16"
LSTM, with the parameters TFLite's converter chooses (tools/optimize/operator_property.cc,
the LSTM recipe; compiler/mlir/lite/transforms/prepare_quantize_lstm.h):

- input, output and output state int8 from calibration, the output state with the output's
  parameters (the kernel reads its own output back as the next step's state);
- the cell state int16, zero point 0, scale 2^k / 32768 with 2^k the least power of two
  that bounds the calibrated |cell state|;
- the input, recurrent and projection weights int8 symmetric per tensor; the peephole and
  layer-norm weights int16 symmetric per tensor;
- the gate biases int32 at s_input · s_(input to gate weights), or with layer norm at
  s_(layer-norm weights) · 2^-10; the projection bias int32 at s_projection · s_hidden (the
  kernel folds the zero points into the biases itself: the written ones are plain);
- five intermediate tensors: the gates' pre-activations before layer normalization (int16
  symmetric from calibration; float and unused without layer norm) and the hidden state
  o · act(c) before the projection (int8 from calibration; the output's parameters when
  there is no projection, as it then is the output).

Calibration (`lstm_calibration`, around calibrate.py's runs) reads the values inside the
float kernel through dialects/tfl_reference/sequence.py's `LSTM_OBSERVER` and keeps their
ranges in `Calibration.inner` under `(lstm output, what)` keys. The cell state's range
covers every step (TFLite logs the state tensor before and after each run: never wider, and
the same power of two on the corpus LSTM). Unlike TFLite's calibrator,
which keeps the LSTM state from one representative sample to the next, each sample starts
from a zero state as every litec run does, so the output parameters differ slightly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
from xdsl.dialects.builtin import ArrayAttr, Float32Type, NoneType, TensorType
from xdsl.ir import Operation, SSAValue

from litec.dialects import tfl
from litec.dialects.tfl_reference.sequence import GATES, LSTM_OBSERVER
from litec.ir.quant import QuantParams, UniformQuantizedType, quant_params
from litec.lowering.quantization.params import (
    activation_params,
    float_const,
    quantize_bias,
    symmetric_weights,
    tensor_of,
)

if TYPE_CHECKING:
    from litec.lowering.quantization.calibrate import Calibration
    from litec.lowering.quantization.quantize import _Quantizer

INT8_WEIGHTS = tuple(
    f"{kind}_to_{gate}_weights" for kind in ("input", "recurrent") for gate in GATES
) + ("projection_weights",)
"""int8 symmetric per-tensor weights."""
INT16_WEIGHTS = tuple(f"cell_to_{gate}_weights" for gate in ("input", "forget", "output")) + tuple(
    f"{gate}_layer_norm_coefficients" for gate in GATES
)
"""int16 symmetric per-tensor weights: peephole and layer-norm coefficients."""
LAYER_NORM_BIAS_FACTOR = 2.0**-10
"""With layer norm a gate bias has the scale of its layer-norm weights times this."""
CELL_BOUNDS = (1.0, 64.0)
"""The powers of two the integer kernel accepts as cell-state bound (scales 2^-15 .. 2^-9)."""


# ----------------------------------------------------------------------------- calibration


def key(op: Operation, what: str) -> tuple[SSAValue, str]:
    """Where calibration keeps the range of a value inside the LSTM `op`: "cell_state",
    "hidden" or a gate's name (its pre-activation before layer normalization)."""
    return (op.results[0], what)


@contextmanager
def lstm_calibration(stats: Calibration) -> Iterator[None]:
    """While open, every float LSTM the reference interpreter runs widens the ranges of its
    inner values in `stats.inner` (see `key`)."""

    def observe(op: Operation | None, what: str, values: np.ndarray) -> None:
        if op is None or values.size == 0:
            return
        stats.add_inner(key(op, what), values)

    token = LSTM_OBSERVER.set(observe)
    try:
        yield
    finally:
        LSTM_OBSERVER.reset(token)


# ----------------------------------------------------------------------------- parameters


def cell_state_params(lo: float, hi: float) -> QuantParams:
    """int16, zero point 0, scale 2^k / 32768 for the least 2^k >= max(|lo|, |hi|) (kept
    within `CELL_BOUNDS`, the scales the integer kernel accepts)."""
    peak = max(abs(lo), abs(hi))
    bound = 2.0 ** math.ceil(math.log2(peak)) if peak > 0 else CELL_BOUNDS[0]
    bound = min(max(bound, CELL_BOUNDS[0]), CELL_BOUNDS[1])
    return QuantParams("i16", (bound / 32768,), (0,))


def symmetric16_params(lo: float, hi: float) -> QuantParams:
    """int16 symmetric parameters for values in [lo, hi]: scale max(|lo|, |hi|) / 32767 as
    float32 (1 for all zeros)."""
    peak = max(abs(lo), abs(hi))
    return QuantParams("i16", (float(np.float32(peak / 32767 if peak > 0 else 1.0)),), (0,))


def _intermediate(params: QuantParams | None) -> TensorType:
    """An intermediate tensor's type: empty, with its parameters (or float when unused)."""
    element = Float32Type() if params is None else UniformQuantizedType(params)
    return TensorType(element, [0])


# ----------------------------------------------------------------------------- the rule


STATES = ("output_state", "cell_state")


def _quantizable(operands: dict[str, SSAValue]) -> bool:
    """The states are variables and every weight and bias is absent or a float constant."""
    return all(isinstance(operands[name].owner, tfl.VariableOp) for name in STATES) and all(
        isinstance(v.type, NoneType) or float_const(v) is not None
        for name, v in operands.items()
        if name not in ("input", *STATES)
    )


def quantize_lstm(q: _Quantizer, op: tfl.UnidirectionalSequenceLSTMOp) -> None:
    """Float LSTM -> integer 8x8_16 LSTM with TFLite's parameters; stays float when a weight
    or bias is not a constant, a state not a variable, or calibration saw no cell state."""
    named = dict(zip(tfl.LSTM_INPUTS, op.inputs, strict=True))
    ranges = q.stats.inner
    if not _quantizable(named) or key(op, "cell_state") not in ranges:
        return
    present = {n for n, v in named.items() if not isinstance(v.type, NoneType)}
    layer_norm = "forget_layer_norm_coefficients" in present
    x = q.quantized(named["input"])
    s_in = quant_params(x.type).scale
    out = q.calibrated(op.output)
    hidden = (
        activation_params(*ranges[key(op, "hidden")]) if "projection_weights" in present else out
    )
    new = {"input": x}
    scales: dict[str, float] = {}
    for name in present & set(INT8_WEIGHTS + INT16_WEIGHTS):
        w = float_const(named[name])
        data, params = symmetric_weights(w, None, 8 if name in INT8_WEIGHTS else 16)
        new[name] = q.const(named[name], data, params)
        scales[name] = params.scale
    for gate in GATES:
        name = f"{gate}_gate_bias"
        if name in present:
            scale = (
                scales[f"{gate}_layer_norm_coefficients"] * LAYER_NORM_BIAS_FACTOR
                if layer_norm
                else s_in * scales[f"input_to_{gate}_weights"]
            )
            new[name] = _bias(q, named[name], scale)
    if "projection_bias" in present:
        new["projection_bias"] = _bias(
            q, named["projection_bias"], scales["projection_weights"] * hidden.scale
        )
    new["output_state"] = _state(q, named["output_state"], out)
    new["cell_state"] = _state(
        q, named["cell_state"], cell_state_params(*ranges[key(op, "cell_state")])
    )
    # With layer norm the kernel reads all four gate scales, the CIFG's missing input gate's
    # too (unused: scale 1).
    gates = [
        symmetric16_params(*ranges.get(key(op, gate), (0.0, 0.0))) if layer_norm else None
        for gate in GATES
    ]
    op.properties["intermediates"] = ArrayAttr([_intermediate(p) for p in [*gates, hidden]])
    old_states = [named[name].owner for name in STATES]
    q.replace(op, [new.get(n, v) for n, v in named.items()], [out])
    for each in old_states:
        if not each.results[0].uses:
            each.detach()
            each.erase()


def _bias(q: _Quantizer, value: SSAValue, scale: float) -> SSAValue:
    """An int32 bias at `scale` (stored as float32), a new constant for each use: a float
    bias the gates share gets one copy per gate."""
    params = QuantParams("i32", (float(np.float32(scale)),), (0,))
    return q.const(value, quantize_bias(float_const(value), params), params)


def _state(q: _Quantizer, value: SSAValue, params: QuantParams) -> SSAValue:
    """A new variable for a state operand, quantized with `params`."""
    variable = tfl.VariableOp.build(result_types=[tensor_of(value, params)])
    variable.location = value.owner.location
    q.block.insert_op_before(variable, value.owner)
    return variable.output
