"""CPU kernels for sequence models: UNIDIRECTIONAL_SEQUENCE_LSTM and SVDF.

LSTM (float32, and TFLite's integer 8x8_16 path): one kernel runs the whole sequence. The
state starts from the op's state inputs (the variables' values) and lives in scratch;
every step computes each gate's pre-activation for all cells (vectorised over cells, the
weights packed transposed per gate, `[gate][input][cell]`, so each input element is one
broadcast FMA into 16 accumulators), then updates cell and hidden state and writes the
step's output. The integer path takes every parameter from the reference interpreter's
own Prepare (`_IntegerLstm`: zero points folded into biases, Q31 gate scales) and runs
gemmlowp's int16 logistic and tanh as IR (activations.Fixed), so it is bit-exact.

SVDF (float32, int8): the feature projection of the input, the state's memory shifted
by one step with it appended, then the rank-reduced time-weighted sums.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import f32, i8, i32, i64
from xdsl.ir import Operation, SSAValue

from litec.backends.cpu.kernels.base import Kernel, generator
from litec.backends.cpu.kernels.elementwise import (
    ACTIVATION_RANGES,
    Fixed,
    KernelBuilder,
    Unsupported,
    V,
    checked,
    clamp,
    const,
    constant_operand,
    convert,
    fma,
    fold,
    for_chunks,
    for_range,
    load,
    logistic,
    maximum,
    mbqm,
    rdbp,
    requantizer,
    store,
    tanh,
    where,
    wrap32,
)
from litec.dialects import tfl
from litec.dialects.tfl_reference.core import KernelCall, make_call
from litec.dialects.tfl_reference.sequence import _IntegerLstm, _Lstm

# ----------------------------------------------------------------------------- shared pieces


def matvec(weights: SSAValue, start: int, k: int, n: int, vec: Callable[[V], V], j: V, acc: V) -> V:
    """acc + W^T v for one chunk of outputs: `weights` holds W transposed (`k` rows of `n`
    from element `start`), `vec(i)` gives v[i]; lanes j .. j + width of acc."""
    width = acc.lanes or 1

    def step(i: V, a: V) -> list[V]:
        w = load(weights, i * n + (start + j), width)
        w = w if a.is_float else convert(w, a.elem)
        v = vec(i)
        return [fma(w, v, a) if a.is_float else a + w * v]

    return for_range(0, k, 1, step, [acc])[0]


def copy(src: SSAValue, dst: SSAValue, n: int, widen: Callable[[V], V]) -> None:
    """dst[i] = widen(src[i]) for i < n."""
    for_chunks(n, lambda j, w: store(widen(load(src, j, w)), dst, j))


@dataclass(frozen=True)
class Sequence:
    """The shape of an LSTM's run: batch, time steps, input, cell and output (state) sizes."""

    batch: int
    time: int
    n_input: int
    n_cell: int
    n_output: int
    time_major: bool

    def offset(self, t: V, b: V, size: int) -> V:
        """Where step t of batch b starts in an input or output of `size` per step."""
        if self.time_major:
            return (t * self.batch + b) * size
        return (b * self.time + t) * size


def _lstm_setup(op: Operation) -> tuple[KernelCall, _Lstm, Sequence]:
    call = make_call(op)
    x = call.inputs[0]
    if len(x.shape) != 3:
        raise Unsupported(f"the LSTM input must have rank 3, has rank {len(x.shape)}")
    time_major = bool(call.opts["time_major"])
    steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    arrays = {}
    for i, name in enumerate(tfl.LSTM_INPUTS):
        info = call.inputs[i]
        if info is None or name in ("input", "output_state", "cell_state"):
            arrays[name] = None if info is None else np.zeros(info.shape, info.dtype)
            continue
        value = constant_operand(op, i)
        if value is None:
            raise Unsupported(f"the LSTM's {name} must be a constant")
        arrays[name] = value
    lstm = _Lstm(
        arrays=arrays,
        infos=dict(zip(tfl.LSTM_INPUTS, call.inputs, strict=True)),
        n_batch=batch,
        n_cell=call.inputs[4].shape[0],
        n_output=call.inputs[8].shape[1],
    )
    shape = Sequence(batch, steps, x.shape[2], lstm.n_cell, lstm.n_output, time_major)
    return call, lstm, shape


def _packed(lstm: _Lstm, gates, kind: int, dtype) -> np.ndarray:
    """The gates' input (kind 0) or recurrent (kind 1) weights, each transposed: [gate][k][cell]."""
    names = [(f"input_to_{g}_weights", f"recurrent_to_{g}_weights")[kind] for g in gates]
    return np.stack([lstm.arrays[name].T for name in names]).astype(dtype)


# ----------------------------------------------------------------------------- float LSTM

CELL_ACTIVATIONS: dict[str, Callable[[V], V]] = {
    "NONE": lambda v: v,
    "TANH": tanh,
    "RELU": lambda v: maximum(v, 0.0),
    "RELU6": lambda v: clamp(v, 0.0, 6.0),
    "RELU_N1_TO_1": lambda v: clamp(v, -1.0, 1.0),
    "SIGN_BIT": lambda v: where(v < 0.0, v.lift(1.0), 0.0),
}
"""TFLite's ApplyActivationsToVector: the LSTM's cell and output activation."""


def _float_lstm(kb: KernelBuilder, call: KernelCall, lstm: _Lstm, s: Sequence) -> None:
    """lstm_eval.cc EvalFloat: gates, cell update, output, optional peephole and projection."""
    gates = lstm.gates()
    act = CELL_ACTIVATIONS[call.opts["fused_activation_function"]]
    cell_clip, proj_clip = float(call.opts["cell_clip"]), float(call.opts["proj_clip"])
    n, o = s.n_cell, s.n_output
    x, h0, c0 = (
        kb.input(0, call.inputs[0]),
        kb.input(18, call.inputs[18]),
        kb.input(19, call.inputs[19]),
    )
    out = kb.output(0, call.out)
    wx, wh = (
        kb.const(_packed(lstm, gates, 0, np.float32)),
        kb.const(_packed(lstm, gates, 1, np.float32)),
    )
    bias = kb.const(np.stack([lstm.arrays[f"{g}_gate_bias"] for g in gates]).astype(np.float32))
    peephole = {
        g: kb.const(lstm.arrays[f"cell_to_{g}_weights"].astype(np.float32))
        for g in gates
        if lstm.arrays.get(f"cell_to_{g}_weights") is not None
    }
    projection = None
    if lstm.projection:
        proj_bias = lstm.arrays["projection_bias"]
        projection = (
            kb.const(lstm.arrays["projection_weights"].T.astype(np.float32)),
            kb.const(
                np.zeros(o, np.float32) if proj_bias is None else proj_bias.astype(np.float32)
            ),
        )
    h, c = kb.scratch(s.batch * o, np.float32), kb.scratch(s.batch * n, np.float32)
    pre = kb.scratch(len(gates) * s.batch * n, np.float32)
    hidden = kb.scratch(n, np.float32) if projection else None
    g_index = {g: k for k, g in enumerate(gates)}

    def gate_loop(t: V, b: V) -> None:
        xb = s.offset(t, b, s.n_input)
        for k, g in enumerate(gates):

            def chunk(j: V, w: int, k=k, g=g) -> None:
                acc = load(bias, j + k * n, w)
                acc = matvec(wx, k * s.n_input * n, s.n_input, n, lambda i: load(x, xb + i), j, acc)
                acc = matvec(wh, k * o * n, o, n, lambda i: load(h, b * o + i), j, acc)
                if g in peephole and g != "output":
                    acc = fma(load(peephole[g], j, w), load(c, b * n + j, w), acc)
                store(acc, pre, (b + k * s.batch) * n + j)

            for_chunks(n, chunk)

    def pre_act(g: str, b: V, j: V, w: int) -> V:
        return load(pre, (b + g_index[g] * s.batch) * n + j, w)

    def update(t: V, b: V) -> None:
        def chunk(j: V, w: int) -> None:
            c_old = load(c, b * n + j, w)
            forget = logistic(pre_act("forget", b, j, w))
            cell_gate = act(pre_act("cell", b, j, w))
            input_gate = 1.0 - forget if lstm.cifg else logistic(pre_act("input", b, j, w))
            c_new = forget * c_old + input_gate * cell_gate
            if cell_clip > 0:
                c_new = clamp(c_new, -cell_clip, cell_clip)
            store(c_new, c, b * n + j)
            o_pre = pre_act("output", b, j, w)
            if "output" in peephole:
                o_pre = fma(load(peephole["output"], j, w), c_new, o_pre)
            h_new = logistic(o_pre) * act(c_new)
            if projection:
                store(h_new, hidden, j)
            else:
                store(h_new, h, b * o + j)
                store(h_new, out, s.offset(t, b, o) + j)

        for_chunks(n, chunk)
        if projection:
            _project_float(projection, hidden, n, o, proj_clip, h, out, b * o, s.offset(t, b, o))

    with kb.body():
        copy(h0, h, s.batch * o, lambda v: v)
        copy(c0, c, s.batch * n, lambda v: v)

        def step(t: V) -> list:
            for_range(0, s.batch, 1, lambda b: gate_loop(t, b) or [])
            for_range(0, s.batch, 1, lambda b: update(t, b) or [])
            return []

        for_range(0, s.time, 1, step)


def _project_float(projection, hidden, n: int, o: int, clip: float, h, out, h_base: V, out_base: V):
    """h = clip(W_proj hidden + b_proj), into the state and the step's output."""
    weights, bias = projection

    def chunk(j: V, w: int) -> None:
        acc = matvec(weights, 0, n, o, lambda i: load(hidden, i), j, load(bias, j, w))
        if clip > 0:
            acc = clamp(acc, -clip, clip)
        store(acc, h, h_base + j)
        store(acc, out, out_base + j)

    for_chunks(o, chunk)


# ----------------------------------------------------------------------------- integer LSTM


def _integer_lstm(kb: KernelBuilder, call: KernelCall, lstm: _Lstm, s: Sequence) -> None:
    """lstm_eval.cc EvalInteger8x8_16 with the parameters of the reference's Prepare."""
    p = _IntegerLstm(call, lstm, s.time_major)
    gates = lstm.gates()
    n, o = s.n_cell, s.n_output
    x, h0, c0 = (
        kb.input(0, call.inputs[0]),
        kb.input(18, call.inputs[18]),
        kb.input(19, call.inputs[19]),
    )
    out = kb.output(0, call.out)
    wx, wh = kb.const(_packed(lstm, gates, 0, np.int8)), kb.const(_packed(lstm, gates, 1, np.int8))
    bias_in = kb.const(np.stack([p.gates[g].bias_in for g in gates]).astype(np.int32))
    bias_rec = kb.const(np.stack([p.gates[g].bias_rec for g in gates]).astype(np.int32))
    projection = None
    if lstm.projection:
        projection = (
            kb.const(lstm.arrays["projection_weights"].T.astype(np.int8)),
            kb.const(p.proj_bias.astype(np.int32)),
        )
    h, c = kb.scratch(s.batch * o, np.int32), kb.scratch(s.batch * n, np.int32)
    pre = kb.scratch(len(gates) * s.batch * n, np.int32)
    hidden = kb.scratch(n, np.int32) if projection else None
    g_index = {g: k for k, g in enumerate(gates)}
    q16 = Fixed(16)
    wide = lambda v: convert(v, i32)  # noqa: E731

    def gate_loop(t: V, b: V) -> None:
        xb = s.offset(t, b, s.n_input)
        for k, g in enumerate(gates):
            params = p.gates[g]

            def chunk(j: V, w: int, k=k, params=params) -> None:
                dx = matvec(
                    wx,
                    k * s.n_input * n,
                    s.n_input,
                    n,
                    lambda i: wide(load(x, xb + i)),
                    j,
                    load(bias_in, j + k * n, w),
                )
                acc = clamp(mbqm(convert(dx, i64), *params.scale_in), -32768, 32767)
                dh = matvec(
                    wh,
                    k * o * n,
                    o,
                    n,
                    lambda i: load(h, b * o + i),
                    j,
                    load(bias_rec, j + k * n, w),
                )
                acc = clamp(mbqm(convert(dh, i64), *params.scale_rec) + acc, -32768, 32767)
                store(convert(acc, i32), pre, (b + k * s.batch) * n + j)

            for_chunks(n, chunk)

    def pre_act(g: str, b: V, j: V, w: int) -> V:
        return convert(load(pre, (b + g_index[g] * s.batch) * n + j, w), i64)

    def update(t: V, b: V) -> None:
        def chunk(j: V, w: int) -> None:
            c_old = convert(load(c, b * n + j, w), i64)
            forget = q16.logistic(pre_act("forget", b, j, w), 3)
            cell_gate = q16.tanh(pre_act("cell", b, j, w), 3)
            kept = q16.wrap(rdbp(forget * c_old, 15))
            input_gate = 32767 - forget if lstm.cifg else q16.logistic(pre_act("input", b, j, w), 3)
            added = q16.wrap(rdbp(input_gate * cell_gate, 30 + p.cell_scale))
            c_new = clamp(kept + added, -32768, 32767)
            if p.cell_clip > 0:
                c_new = clamp(c_new, -p.cell_clip, p.cell_clip)
            store(convert(c_new, i32), c, b * n + j)
            output_gate = q16.logistic(pre_act("output", b, j, w), 3)
            cell_tanh = q16.tanh(c_new, 15 + p.cell_scale)
            hidden_value = clamp(
                mbqm(output_gate * cell_tanh, *p.hidden_scale) + p.hidden_zp, -128, 127
            )
            if projection:
                store(convert(hidden_value, i32), hidden, j)
                return
            store(convert(hidden_value, i32), h, b * o + j)
            store(convert(hidden_value, out.type.element_type), out, s.offset(t, b, o) + j)

        for_chunks(n, chunk)
        if projection:
            _project_integer(projection, p, hidden, n, o, h, out, b * o, s.offset(t, b, o))

    with kb.body():
        copy(h0, h, s.batch * o, lambda v: convert(v, i32))
        copy(c0, c, s.batch * n, lambda v: convert(v, i32))

        def step(t: V) -> list:
            for_range(0, s.batch, 1, lambda b: gate_loop(t, b) or [])
            for_range(0, s.batch, 1, lambda b: update(t, b) or [])
            return []

        for_range(0, s.time, 1, step)


def _project_integer(
    projection, p: _IntegerLstm, hidden, n: int, o: int, h, out, h_base: V, out_base: V
):
    """h = sat8(rescale(W_proj hidden + folded bias) + zp_state), clipped: state and output."""
    weights, bias = projection

    def chunk(j: V, w: int) -> None:
        acc = matvec(weights, 0, n, o, lambda i: load(hidden, i), j, load(bias, j, w))
        value = clamp(mbqm(convert(acc, i64), *p.proj_scale) + p.state_zp, -128, 127)
        if p.proj_clip > 0:
            value = clamp(value, -p.proj_clip, p.proj_clip)
        store(convert(value, i32), h, h_base + j)
        store(convert(value, out.type.element_type), out, out_base + j)

    for_chunks(o, chunk)


def _lstm_plan(op: Operation) -> tuple[KernelCall, _Lstm, Sequence]:
    """UNIDIRECTIONAL_SEQUENCE_LSTM, float32 or integer 8x8_16 (int8 input, int8 weights,
    int16 cell state), constant weights; not the hybrid path, not layer normalisation."""
    call, lstm, shape = _lstm_setup(op)
    path = (call.inputs[0].dtype, call.inputs[4].dtype)
    if path == (np.float32, np.float32):
        if lstm.layer_norm:
            raise Unsupported("float LSTMs with layer normalisation are not supported")
        return call, lstm, shape
    if path == (np.int8, np.int8):
        params = _IntegerLstm(call, lstm, shape.time_major)
        if any(g.ln_weights is not None or g.w_cell is not None for g in params.gates.values()):
            raise Unsupported(
                "integer LSTMs with layer normalisation or peepholes are not supported"
            )
        return call, lstm, shape
    raise Unsupported(
        f"no CPU LSTM kernel for {path[0]} input with {path[1]} weights "
        "(supported: float32/float32, int8/int8)"
    )


def generate_lstm(op: Operation, symbol: str) -> Kernel:
    """The whole-sequence LSTM kernel."""
    call, lstm, shape = _lstm_plan(op)
    kb = KernelBuilder(symbol)
    if call.inputs[0].dtype == np.float32:
        _float_lstm(kb, call, lstm, shape)
    else:
        _integer_lstm(kb, call, lstm, shape)
    return kb.finish()


generator("tfl.unidirectional_sequence_lstm", supports=checked(_lstm_plan))(generate_lstm)


# ----------------------------------------------------------------------------- SVDF


@dataclass(frozen=True)
class Svdf:
    """SVDF's sizes: batch, input, filters (units x rank), memory, rank."""

    batch: int
    n_input: int
    n_filter: int
    memory: int
    rank: int

    @property
    def units(self) -> int:
        return self.n_filter // self.rank


def _svdf_plan(op: Operation) -> tuple[KernelCall, Svdf]:
    """SVDF, float32 or int8 (int16 state and time weights, RELU as TFLite requires), with
    constant weights; not the hybrid path."""
    call = make_call(op)
    x, wf, wt = call.inputs[0], call.inputs[1], call.inputs[2]
    path = (x.dtype, wf.dtype)
    if path not in ((np.float32, np.float32), (np.int8, np.int8)):
        raise Unsupported(
            f"no CPU SVDF kernel for {path[0]} input with {path[1]} weights "
            "(supported: float32/float32, int8/int8)"
        )
    if any(constant_operand(op, i) is None for i in (1, 2)) or (
        call.inputs[3] is not None and constant_operand(op, 3) is None
    ):
        raise Unsupported("the SVDF's weights and bias must be constants")
    if x.dtype == np.int8 and call.opts["fused_activation_function"] != "RELU":
        raise Unsupported("an int8 SVDF must have a RELU activation (as TFLite requires)")
    return call, Svdf(x.shape[0], x.shape[1], wf.shape[0], wt.shape[1], call.opts["rank"])


def generate_svdf(op: Operation, symbol: str) -> Kernel:
    """SVDF: per batch row, each filter's feature activation, its time-weighted sum over the
    memory shifted by one step, then the sum over each unit's `rank` filters."""
    call, s = _svdf_plan(op)
    integer = call.inputs[0].dtype == np.int8
    compute = i32 if integer else f32
    kb = KernelBuilder(symbol)
    x, state = kb.input(0, call.inputs[0]), kb.input(4, call.inputs[4])
    out = kb.output(0, call.out)
    wf = kb.const(constant_operand(op, 1))
    wt = kb.const(constant_operand(op, 2))
    bias_data = constant_operand(op, 3) if call.inputs[3] is not None else None
    bias = kb.const(bias_data) if bias_data is not None else None
    filtered = kb.scratch(s.n_filter, np.int64 if integer else np.float32)
    finish = _svdf_integer_output(call) if integer else _svdf_float_output(call)
    x_zp = call.inputs[0].zero_point if integer else 0
    features_scale = _svdf_feature_scale(call) if integer else None
    total_type = i64 if integer else f32

    def row(b: V) -> None:
        def feature(f: V) -> list:
            def product(i: V, w: int) -> V:
                xv = convert(load(x, b * s.n_input + i, w), compute) - x_zp
                return xv * convert(load(wf, f * s.n_input + i, w), compute)

            activation = fold(s.n_input, product, lambda a, v: a + v, const(0, compute), "add")
            if integer:
                activation = clamp(features_scale(convert(activation, i64)), -32768, 32767)

            def weighted(m: V, w: int) -> V:
                remembered = load(state, (b * s.n_filter + f) * s.memory + m + 1, w)
                weight = load(wt, f * s.memory + m, w)
                return convert(remembered, total_type) * convert(weight, total_type)

            total = fold(s.memory - 1, weighted, lambda a, v: a + v, const(0, total_type), "add")
            newest = convert(activation, total_type) * convert(
                load(wt, f * s.memory + s.memory - 1), total_type
            )
            store(total + newest, filtered, f)
            return []

        for_range(0, s.n_filter, 1, feature)

        def unit(u: V) -> list:
            total = fold(
                s.rank,
                lambda r, w: load(filtered, u * s.rank + r, w),
                lambda a, v: a + v,
                const(0, total_type),
                "add",
            )
            if bias is not None:
                total = total + convert(load(bias, u), total_type)
            store(finish(total), out, b * s.units + u)
            return []

        for_range(0, s.units, 1, unit)

    with kb.body():
        for_range(0, s.batch, 1, lambda b: row(b) or [])
    return kb.finish()


def _svdf_feature_scale(call: KernelCall) -> Callable[[V], V]:
    """x W_f^T (int32) to the int16 state's scale: QuantizeMultiplier(s_in s_wf / s_state)."""
    i, single = call.inputs, np.float32
    return requantizer(float(single(single(i[0].scale) * single(i[1].scale)) / single(i[4].scale)))


def _svdf_integer_output(call: KernelCall) -> Callable[[V], V]:
    """The int32 sum (wrapped like TFLite's) to int8: QuantizeMultiplier(s_state s_wt / s_out)."""
    i, single = call.inputs, np.float32
    rescale = requantizer(
        float(single(single(i[4].scale) * single(i[2].scale)) / single(call.out.scale))
    )
    return lambda total: convert(clamp(rescale(wrap32(total)) + call.out.zero_point, -128, 127), i8)


def _svdf_float_output(call: KernelCall) -> Callable[[V], V]:
    low, high = ACTIVATION_RANGES.get(call.opts["fused_activation_function"], (None, None))
    return lambda total: clamp(total, low, high)


generator("tfl.svdf", supports=checked(_svdf_plan))(generate_svdf)
