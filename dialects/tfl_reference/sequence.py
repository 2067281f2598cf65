"""Reference kernels for sequence models: UNIDIRECTIONAL_SEQUENCE_LSTM and SVDF.

TFLite sources followed: kernels/unidirectional_sequence_lstm.cc (Prepare: the integer
LSTM's effective scales and zero-point-folded biases), kernels/lstm_eval.cc (EvalFloat,
EvalHybrid, EvalInteger8x8_16 and their per-step gate functions),
kernels/internal/reference/portable_tensor_utils.cc (the vector primitives),
kernels/svdf.cc and kernels/internal/reference/svdf.h.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from xdsl.ir import Operation

from litec.dialects import tfl
from litec.dialects.tfl_reference.common import apply_activation, clamp_activation
from litec.dialects.tfl_reference.core import KernelCall, TensorInfo, kernel
from litec.runtime import gemmlowp
from litec.runtime.fixedpoint import (
    batch_quantize_floats,
    checked_log2,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturate,
    trunc_div,
    wrap_int32,
)

GATES = ("input", "forget", "cell", "output")
"""LSTM gates in TFLite's order (also the order of the integer LSTM's intermediates)."""

LstmObserver = Callable[[Operation | None, str, np.ndarray], None]

LSTM_OBSERVER: ContextVar[LstmObserver | None] = ContextVar("LSTM_OBSERVER", default=None)
"""A view inside the float LSTM kernel for calibration (lowering/quantization/lstm.py sets
it around a run), called with the op, what it reports and the values, at every step: each
gate's pre-activation before layer normalization (the gate's name; with layer norm only:
TFLite's intermediates 0-3), the hidden state o * act(c) before any projection ("hidden",
intermediate 4) and the new cell state ("cell_state"). Unset, the kernel reports nothing."""

_GATE_WEIGHTS = {
    gate: (f"input_to_{gate}_weights", f"recurrent_to_{gate}_weights") for gate in GATES
}


@dataclass
class _Lstm:
    """The op's inputs by TFLite name, plus the shape facts every path needs."""

    arrays: dict[str, np.ndarray | None]
    infos: dict[str, TensorInfo | None]
    n_batch: int
    n_cell: int
    n_output: int

    def has(self, name: str) -> bool:
        return self.arrays[name] is not None

    @property
    def cifg(self) -> bool:
        """Coupled input and forget gate: no input gate, it is 1 - forget."""
        return not self.has("input_to_input_weights")

    @property
    def layer_norm(self) -> bool:
        return self.has("forget_layer_norm_coefficients")

    @property
    def projection(self) -> bool:
        return self.has("projection_weights")

    def gates(self) -> tuple[str, ...]:
        """The gates this LSTM computes."""
        return GATES[1:] if self.cifg else GATES


@kernel("UNIDIRECTIONAL_SEQUENCE_LSTM")
def unidirectional_sequence_lstm(call: KernelCall, *args: np.ndarray | None) -> np.ndarray:
    """TFLite UNIDIRECTIONAL_SEQUENCE_LSTM: float32, hybrid or integer 8x8_16.

    Hybrid: float input and state, int8 weights. Integer: int8 input and output, int8
    weights, int16 cell state, gate scales from TFLite's intermediate tensors. Runs the
    sequence from the op's state inputs (the variables' values) and returns the output
    of every time step, time-major or batch-major like the input.
    """
    x = args[0]
    if x.ndim != 3:
        raise call.error(f"the input must have rank 3, has rank {x.ndim}")
    time_major = call.opts["time_major"]
    seq = x if time_major else x.swapaxes(0, 1)
    lstm = _Lstm(
        arrays=dict(zip(tfl.LSTM_INPUTS, args, strict=True)),
        infos=dict(zip(tfl.LSTM_INPUTS, call.inputs, strict=True)),
        n_batch=seq.shape[1],
        n_cell=call.inputs[4].shape[0],
        n_output=call.inputs[8].shape[1],
    )
    path = (call.inputs[0].dtype, call.inputs[4].dtype)
    if path == (np.float32, np.float32):
        steps = _FloatLstm(call, lstm).run(seq)
    elif path == (np.float32, np.int8):
        steps = _HybridLstm(call, lstm).run(seq)
    elif path == (np.int8, np.int8):
        steps = _IntegerLstm(call, lstm, time_major).run(seq)
    else:
        raise call.error(
            f"no LSTM kernel for {path[0]} input with {path[1]} weights "
            "(supported: float32/float32, float32/int8, int8/int8)"
        )
    out = np.stack(steps)
    return np.ascontiguousarray(out if time_major else out.swapaxes(0, 1))


# ----------------------------------------------------------------------------- float32


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (np.float32(1) / (np.float32(1) + np.exp(-x))).astype(np.float32)


def _mean_stddev_normalization(x: np.ndarray) -> np.ndarray:
    """TFLite's MeanStddevNormalization over the last axis (epsilon 1e-8 inside the sqrt)."""
    mean = x.mean(axis=-1, keepdims=True, dtype=np.float32)
    variance = np.square(x - mean).mean(axis=-1, keepdims=True, dtype=np.float32)
    return ((x - mean) / np.sqrt(variance + np.float32(1e-8))).astype(np.float32)


class _FloatLstm:
    """lstm_eval.cc EvalFloat / LstmStepFloat."""

    def __init__(self, call: KernelCall, lstm: _Lstm):
        self.lstm = lstm
        self.a = lstm.arrays
        self.activation = call.opts["fused_activation_function"]
        self.cell_clip = np.float32(call.opts["cell_clip"])
        self.proj_clip = np.float32(call.opts["proj_clip"])
        self.peephole = {gate: self.a.get(f"cell_to_{gate}_weights") for gate in GATES}
        self.op = call.op
        self.observer = LSTM_OBSERVER.get() or (lambda op, what, values: None)

    def prepare(self, v: np.ndarray):
        """A step's vector as the matrix products take it."""
        return v

    def matmul(self, weights: str, v) -> np.ndarray:
        """v times the transposed weight matrix of that name."""
        return v @ self.a[weights].T

    def gate(self, gate: str, x, h, c, activation) -> np.ndarray:
        """CalculateLstmGate: activation(b + W x + R h [+ P . c]); with layer norm, b after it."""
        in_name, rec_name = _GATE_WEIGHTS[gate]
        bias = self.a[f"{gate}_gate_bias"]
        acc = np.zeros_like(bias) if self.lstm.layer_norm else bias
        acc = acc + self.matmul(in_name, x) + self.matmul(rec_name, h)
        peephole = self.peephole[gate]
        if peephole is not None and c is not None:
            acc = acc + peephole * c
        if self.lstm.layer_norm:
            self.observer(self.op, gate, acc)
            acc = _mean_stddev_normalization(acc) * self.a[f"{gate}_layer_norm_coefficients"]
            acc = acc + bias
        return activation(acc.astype(np.float32))

    def step(self, x, h, c) -> tuple[np.ndarray, np.ndarray]:
        def act(v):
            return apply_activation(v, self.activation)

        x, h_in = self.prepare(x), self.prepare(h)
        forget = self.gate("forget", x, h_in, c, _sigmoid)
        cell_gate = self.gate("cell", x, h_in, None, act)
        if self.lstm.cifg:
            c = forget * c + (np.float32(1) - forget) * cell_gate
        else:
            c = forget * c + self.gate("input", x, h_in, c, _sigmoid) * cell_gate
        if self.cell_clip > 0:
            c = np.clip(c, -self.cell_clip, self.cell_clip)
        h = self.gate("output", x, h_in, c, _sigmoid) * act(c)
        self.observer(self.op, "cell_state", c)
        self.observer(self.op, "hidden", h)
        if self.lstm.projection:
            bias = self.a["projection_bias"]
            h = self.matmul("projection_weights", self.prepare(h)) + (0 if bias is None else bias)
            if self.proj_clip > 0:
                h = np.clip(h, -self.proj_clip, self.proj_clip)
        return h.astype(np.float32), c.astype(np.float32)

    def run(self, seq: np.ndarray) -> list[np.ndarray]:
        lstm = self.lstm
        h = self.a["output_state"].reshape(lstm.n_batch, lstm.n_output)
        c = self.a["cell_state"].reshape(lstm.n_batch, lstm.n_cell)
        outputs = []
        for x in seq:
            h, c = self.step(x, h, c)
            outputs.append(h)
        return outputs


class _HybridLstm(_FloatLstm):
    """lstm_eval.cc EvalHybrid / LstmStepHybrid: float activations, int8 weights.

    Each step quantizes the input, the output state and the projection input per batch
    row (symmetric, or asymmetric with `asymmetric_quantize_inputs`), multiplies in
    integers and scales the products back to float.
    """

    def __init__(self, call: KernelCall, lstm: _Lstm):
        super().__init__(call, lstm)
        self.asymmetric = call.opts["asymmetric_quantize_inputs"]
        self.scales = {
            name: np.float32(info.scale)
            for name, info in lstm.infos.items()
            if info is not None and info.quant is not None
        }
        for gate, weights in self.peephole.items():
            if weights is not None:
                scale = self.scales[f"cell_to_{gate}_weights"]
                self.peephole[gate] = (scale * weights.astype(np.float32)).astype(np.float32)

    def prepare(self, v: np.ndarray):
        return batch_quantize_floats(v, self.asymmetric)

    def matmul(self, weights: str, v) -> np.ndarray:
        return _hybrid_matmul(v, self.a[weights], self.scales[weights])


def _hybrid_matmul(quantized, weights: np.ndarray, weights_scale) -> np.ndarray:
    """The hybrid MatrixBatchVectorMultiply: integer products of a batch-quantized vector
    (`batch_quantize_floats`) with int8 weights, less the zero point times the row sums,
    scaled back to float."""
    q, scale, zero_point = quantized
    w = weights.astype(np.int64)
    dot = q @ w.T - zero_point[:, None] * w.sum(axis=1)
    return dot.astype(np.float32) * (scale * weights_scale)[:, None]


# ----------------------------------------------------------------------------- integer 8x8_16


def _fold_zero_point(weights: np.ndarray | None, zero_point: int, bias) -> np.ndarray | None:
    """PrecomputeZeroPointTimesWeightWithBias: bias + zero_point * row sums of the weights."""
    if weights is None:
        return None
    rows = weights.shape[0]
    folded = np.zeros(rows, np.int64) if bias is None else bias.astype(np.int64)
    return wrap_int32(folded + zero_point * weights.astype(np.int64).sum(axis=1))


@dataclass
class _IntegerGate:
    """One gate's constants, computed as unidirectional_sequence_lstm.cc's Prepare does."""

    w_in: np.ndarray
    w_rec: np.ndarray
    bias_in: np.ndarray
    bias_rec: np.ndarray
    scale_in: tuple[int, int]
    scale_rec: tuple[int, int]
    w_cell: np.ndarray | None
    scale_cell: tuple[int, int]
    ln_weights: np.ndarray | None
    ln_bias: np.ndarray | None
    ln_scale: tuple[int, int]
    variance_guard: int


class _IntegerLstm:
    """lstm_eval.cc EvalInteger8x8_16 / LstmStepInteger8x8_16."""

    def __init__(self, call: KernelCall, lstm: _Lstm, time_major: bool):
        self.lstm = lstm
        self.time_major = time_major
        a, i = lstm.arrays, lstm.infos
        if i["cell_state"].dtype != np.int16:
            raise call.error("an int8 LSTM needs an int16 cell state (8x8_16)")
        intermediates = call.opts.get("intermediates") or []
        if len(intermediates) != 5 or intermediates[4].quant is None:
            raise call.error("an integer LSTM needs TFLite's 5 intermediate tensors")
        cell_scale = checked_log2(i["cell_state"].scale)
        if cell_scale is None or not -15 <= cell_scale <= -9:
            raise call.error(
                f"the cell state scale {i['cell_state'].scale} is not a power of two "
                "in [2^-15, 2^-9]"
            )
        self.cell_scale = cell_scale
        f32 = np.float32
        gate_scales = [
            f32(intermediates[k].scale) if lstm.layer_norm else f32(2.0**-12) for k in range(4)
        ]
        hidden_scale = f32(intermediates[4].scale)
        self.hidden_zp = intermediates[4].zero_point
        input_scale, state_scale = f32(i["input"].scale), f32(i["output_state"].scale)
        self.state_zp = i["output_state"].zero_point
        self.gates = {
            gate: self._gate(gate, gate_scales[k], input_scale, state_scale)
            for k, gate in enumerate(GATES)
            if gate in lstm.gates()
        }
        self.hidden_scale = quantize_multiplier(
            float(f32(2.0**-15 / float(hidden_scale) * 2.0**-15))
        )
        if lstm.projection:
            proj = i["projection_weights"]
            self.proj_scale = quantize_multiplier(
                float(f32(f32(proj.scale) * hidden_scale) / state_scale)
            )
            # The hidden state carries its zero point (the oracle's CwiseMul adds it;
            # older TFLite sources subtracted it), so the projection folds -zp like
            # every other input does. Both signs were checked against the oracle.
            self.proj_bias = _fold_zero_point(
                a["projection_weights"], -self.hidden_zp, a["projection_bias"]
            )
        self.cell_clip = self._clip(call.opts["cell_clip"], i["cell_state"].scale, 16)
        self.proj_clip = self._clip(call.opts["proj_clip"], call.out.scale, 8)

    @staticmethod
    def _clip(clip: float, scale: float, bits: int) -> int:
        """The quantized clip bound: static_cast<intN>(clamp(clip / scale)); 0 = no clip."""
        if clip <= 0:
            return 0
        limit = float(1 << (bits - 1))
        return int(min(max(np.float32(clip) / np.float32(scale), -limit), limit - 1))

    def _gate(self, gate: str, gate_scale, input_scale, state_scale) -> _IntegerGate:
        a, i, f32 = self.lstm.arrays, self.lstm.infos, np.float32
        in_name, rec_name = _GATE_WEIGHTS[gate]
        bias = None if self.lstm.layer_norm else a[f"{gate}_gate_bias"]
        input_zp = i["input"].zero_point
        w_cell = a.get(f"cell_to_{gate}_weights")
        scale_cell = (0, 0)
        if w_cell is not None:
            real = 2.0**self.cell_scale * float(i[f"cell_to_{gate}_weights"].scale)
            scale_cell = quantize_multiplier(float(f32(real / float(gate_scale))))
        ln_weights = a[f"{gate}_layer_norm_coefficients"] if self.lstm.layer_norm else None
        ln_scale, guard = (1 << 30, 1), 1
        if ln_weights is not None:
            scale = f32(i[f"{gate}_layer_norm_coefficients"].scale)
            ln_scale = quantize_multiplier(float(scale))
            guard = max(1, int(f32(10000) * scale))
        return _IntegerGate(
            w_in=a[in_name].astype(np.int64),
            w_rec=a[rec_name].astype(np.int64),
            bias_in=_fold_zero_point(a[in_name], -input_zp, bias),
            bias_rec=_fold_zero_point(a[rec_name], -self.state_zp, None),
            scale_in=quantize_multiplier(
                float(f32(f32(f32(i[in_name].scale) * input_scale) / gate_scale))
            ),
            scale_rec=quantize_multiplier(
                float(f32(f32(f32(i[rec_name].scale) * state_scale) / gate_scale))
            ),
            w_cell=None if w_cell is None else w_cell.astype(np.int64),
            scale_cell=scale_cell,
            ln_weights=None if ln_weights is None else ln_weights.astype(np.int64),
            ln_bias=None if ln_weights is None else a[f"{gate}_gate_bias"].astype(np.int64),
            ln_scale=ln_scale,
            variance_guard=guard,
        )

    def gate(self, gate: str, x, h, c) -> np.ndarray:
        """CalculateLstmGateInteger8x8_16: int16 Q3.12 pre-activation, then sigmoid / tanh."""
        p = self.gates[gate]
        acc = _accumulate(0, x, p.w_in, p.bias_in, p.scale_in)
        acc = _accumulate(acc, h, p.w_rec, p.bias_rec, p.scale_rec)
        if p.w_cell is not None:
            acc = self._peephole(acc, c, p)
        if p.ln_weights is not None:
            acc = _integer_layer_norm(acc, p)
        if gate == "cell":
            return gemmlowp.tanh(acc, 3, 16)
        return gemmlowp.logistic(acc, 3, 16)

    def _peephole(self, acc: np.ndarray, c: np.ndarray, p: _IntegerGate) -> np.ndarray:
        """VectorBatchVectorCwiseProductAccumulate as the integer LSTM calls it.

        TFLite passes n_output (not n_cell) as the vector size: with a projection that
        changes the size, it covers only the first n_batch * n_output cell values, over
        the flattened batch when time-major (one call for all batches) and per batch row
        otherwise. Without a projection both are the plain elementwise product.
        """
        n = self.lstm.n_output
        rows = 1 if self.time_major else acc.shape[0]
        flat_acc, flat_c = acc.reshape(rows, -1).copy(), c.reshape(rows, -1)
        count = n * (acc.shape[0] if self.time_major else 1)
        weights = np.resize(p.w_cell[:n], count)
        prod = multiply_by_quantized_multiplier(weights * flat_c[:, :count], *p.scale_cell)
        flat_acc[:, :count] = saturate(prod + flat_acc[:, :count], np.int16)
        return flat_acc.reshape(acc.shape).astype(np.int64)

    def step(self, x, h, c) -> tuple[np.ndarray, np.ndarray]:
        forget = self.gate("forget", x, h, c)
        cell_gate = self.gate("cell", x, h, c)
        kept = gemmlowp.wrap(rounding_divide_by_pot(forget * c, 15), 16)
        input_gate = np.int64(32767) - forget if self.lstm.cifg else self.gate("input", x, h, c)
        added = gemmlowp.wrap(
            rounding_divide_by_pot(input_gate * cell_gate, 30 + self.cell_scale), 16
        )
        c = saturate(kept + added, np.int16).astype(np.int64)
        if self.cell_clip > 0:
            c = np.clip(c, -self.cell_clip, self.cell_clip)
        output_gate = self.gate("output", x, h, c)
        cell_tanh = gemmlowp.tanh(c, 15 + self.cell_scale, 16)
        hidden = multiply_by_quantized_multiplier(output_gate * cell_tanh, *self.hidden_scale)
        hidden = np.clip(hidden + self.hidden_zp, -128, 127)
        if not self.lstm.projection:
            return hidden, c
        w = self.lstm.arrays["projection_weights"].astype(np.int64)
        h = saturate(_project(hidden, w, self.proj_bias, self.proj_scale) + self.state_zp, np.int8)
        if self.proj_clip > 0:
            h = np.clip(h, -self.proj_clip, self.proj_clip)
        return h.astype(np.int64), c

    def run(self, seq: np.ndarray) -> list[np.ndarray]:
        lstm = self.lstm
        h = lstm.arrays["output_state"].reshape(lstm.n_batch, lstm.n_output).astype(np.int64)
        c = lstm.arrays["cell_state"].reshape(lstm.n_batch, lstm.n_cell).astype(np.int64)
        outputs = []
        for x in seq:
            h, c = self.step(x.astype(np.int64), h, c)
            outputs.append(h.astype(np.int8))
        return outputs


def _project(v, weights, bias, scale) -> np.ndarray:
    """The rescaled int32 product W v + b of an integer matrix-vector multiply."""
    return multiply_by_quantized_multiplier(wrap_int32(v @ weights.T + bias), *scale)


def _accumulate(acc, v, weights, bias, scale) -> np.ndarray:
    """MatrixBatchVectorMultiplyAccumulate (int8 x int8 -> int16): acc + rescaled W v + b."""
    return saturate(_project(v, weights, bias, scale) + acc, np.int16).astype(np.int64)


def _integer_layer_norm(x: np.ndarray, p: _IntegerGate) -> np.ndarray:
    """PortableApplyLayerNorm: integer mean/variance normalisation of each batch row."""
    n = x.shape[-1]
    mean = trunc_div(x.sum(axis=-1) * 1024, n)
    variance = (x * x).sum(axis=-1) * ((1 << 20) // n) - mean * mean
    variance = wrap_int32(trunc_div(variance, 1 << 20))
    variance = np.where(variance < 1, p.variance_guard, variance)
    inv_mult, inv_shift = gemmlowp.inv_sqrt_quantized_multiplier_exp(variance, -1)
    rescaled = multiply_by_quantized_multiplier(
        wrap_int32(1024 * x - mean[:, None]), inv_mult[:, None], inv_shift[:, None]
    )
    weighted = wrap_int32(wrap_int32(rescaled * p.ln_weights) + p.ln_bias)
    rounded = trunc_div(np.where(weighted > 0, weighted + 512, weighted - 512), 1024)
    out = multiply_by_quantized_multiplier(rounded, p.ln_scale[0], p.ln_scale[1] + 12)
    return saturate(out, np.int16).astype(np.int64)


# ----------------------------------------------------------------------------- SVDF


@kernel("SVDF")
def svdf(call: KernelCall, x, weights_feature, weights_time, bias, state) -> np.ndarray:
    """TFLite SVDF: float32, hybrid (float input, int8 weights) or int8 (int16 state).

    The state holds each filter's last `memory_size` activations: it shifts left by one,
    takes this step's feature activations (weights_feature x) at its end, and the
    output is the rank-reduced time-weighted sum of it (plus bias, activation).
    """
    rank = call.opts["rank"]
    n_batch, n_filter, n_memory = x.shape[0], weights_feature.shape[0], weights_time.shape[1]
    memory = state.reshape(n_batch, n_filter, n_memory)
    path = (call.inputs[0].dtype, call.inputs[1].dtype)
    if path == (np.int8, np.int8):
        return _integer_svdf(call, x, weights_feature, weights_time, bias, memory, rank)
    if path == (np.float32, np.float32):
        activation = x @ weights_feature.T
    elif path == (np.float32, np.int8):
        quantized = batch_quantize_floats(x, call.opts["asymmetric_quantize_inputs"])
        activation = _hybrid_matmul(quantized, weights_feature, np.float32(call.inputs[1].scale))
        weights_time = (weights_time * np.float32(call.inputs[2].scale)).astype(np.float32)
    else:
        raise call.error(
            f"no SVDF kernel for {path[0]} input with {path[1]} weights "
            "(supported: float32/float32, float32/int8, int8/int8)"
        )
    memory = np.concatenate([memory[..., 1:], activation[..., None]], axis=-1)
    filtered = (memory * weights_time).sum(axis=-1, dtype=np.float32)
    out = filtered.reshape(n_batch, -1, rank).sum(axis=-1, dtype=np.float32)
    if bias is not None:
        out = out + bias
    return clamp_activation(out.astype(np.float32), call.opts["fused_activation_function"])


def _integer_svdf(call: KernelCall, x, weights_feature, weights_time, bias, memory, rank):
    """EvalIntegerSVDF: int8 input and feature weights, int16 state and time weights."""
    if call.opts["fused_activation_function"] != "RELU":
        raise call.error("an int8 SVDF must have a RELU activation (as TFLite requires)")
    i, f32 = call.inputs, np.float32
    scale_1 = quantize_multiplier(float(f32(f32(i[0].scale) * f32(i[1].scale)) / f32(i[4].scale)))
    scale_2 = quantize_multiplier(
        float(f32(f32(i[4].scale) * f32(i[2].scale)) / f32(call.out.scale))
    )
    features = (x.astype(np.int64) - i[0].zero_point) @ weights_feature.astype(np.int64).T
    activation = saturate(
        multiply_by_quantized_multiplier(wrap_int32(features), *scale_1), np.int16
    )
    memory = np.concatenate([memory[..., 1:], activation[..., None]], axis=-1).astype(np.int64)
    filtered = wrap_int32((memory * weights_time.astype(np.int64)).sum(axis=-1))
    out = wrap_int32(filtered.reshape(x.shape[0], -1, rank).sum(axis=-1))
    if bias is not None:
        out = wrap_int32(out + bias)
    out = multiply_by_quantized_multiplier(out, *scale_2) + call.out.zero_point
    return saturate(out, np.int8)
