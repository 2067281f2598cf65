"""Sequence-model and control-flow reference kernels against TFLite's reference kernels.

UNIDIRECTIONAL_SEQUENCE_LSTM on the corpus LSTMs (float32, and int8 with an int16 cell
state) and on small synthetic LSTMs for the variants the corpus lacks (CIFG, peephole,
layer norm, projection, clipping, time-major, hybrid int8 weights with symmetric or
asymmetric input quantization); SVDF and WHILE on synthetic models. Float: within 1e-5
relative; integer: bit-exact.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path
from harness import seeded_inputs
from oracle import run_oracle
from tflite_builder import Op, Subgraph, Tensor, build_model
from zoo import check_model, check_ops, tensor_info

from litec.dialects import tfl
from litec.dialects.tfl_reference import KERNELS, Interpreter, KernelCall, TensorInfo
from litec.ir.diagnostics import LitecError
from litec.lowering.import_tflite import import_model
from litec.lowering.tflite_reader import read_model


def check_synthetic(tmp_path, name: str, data: bytes) -> None:
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(data)
    check_model(path)


# ----------------------------------------------------------------------------- corpus LSTMs


@pytest.mark.parametrize("name", ["lstm_fp32.tflite", "lstm_int8.tflite"])
def test_corpus_lstm_op(name):
    """The LSTM alone on TFLite's inputs, its state starting from the variables' values."""
    check_ops(model_path(name), {"UNIDIRECTIONAL_SEQUENCE_LSTM"}, 1)


@pytest.mark.parametrize(
    "name", ["lstm_fp32.tflite", "lstm_int8.tflite", "lstm_keras3_while_fp32.tflite"]
)
def test_corpus_lstm_whole_model(name):
    check_model(model_path(name))


# ----------------------------------------------------------------------------- synthetic LSTMs


def lstm_model(
    kind: str,
    *,
    cifg=False,
    peephole=False,
    layer_norm=False,
    projection=False,
    proj_bias=False,
    time_major=False,
    cell_clip=0.0,
    proj_clip=0.0,
    asymmetric=False,
    n_batch=2,
    n_time=5,
    n_input=6,
    n_cell=8,
    seed=0,
) -> bytes:
    """One UNIDIRECTIONAL_SEQUENCE_LSTM: kind "float", "hybrid" (int8 weights) or "int8".

    With a projection n_output is n_cell - 3. The int8 LSTM has non-zero input, state and
    hidden zero points and a 2^-11 cell scale; its gate scales (intermediates 0-3) are
    quantized only with layer norm, as TFLite's converter writes them.
    """
    rng = np.random.default_rng(seed)
    integer, quantized_weights = kind == "int8", kind in ("int8", "hybrid")
    n_output = n_cell - 3 if projection else n_cell
    gates = ("forget", "cell", "output") if cifg else ("input", "forget", "cell", "output")
    tensors: dict[str, Tensor] = {}

    def add(name, shape, dtype="FLOAT32", data=None, scale=None, zp=0, variable=False):
        scales = None if scale is None else [scale]
        zps = None if scale is None else [zp]
        tensors[name] = Tensor(name, tuple(shape), dtype, data, scales, zps, is_variable=variable)

    def weights(name, shape, scale):
        if quantized_weights:
            add(name, shape, "INT8", rng.integers(-127, 128, shape).astype(np.int8), scale)
        else:
            add(name, shape, data=rng.normal(0, 0.4, shape).astype(np.float32))

    def vector(name, size, float_std, int_dtype, int_range, scale):
        if integer:
            lo, hi = int_range
            add(
                name,
                (size,),
                int_dtype.upper(),
                rng.integers(lo, hi, size).astype(int_dtype),
                scale,
            )
        else:
            add(name, (size,), data=rng.normal(0, float_std, size).astype(np.float32))

    in_shape = (n_time, n_batch, n_input) if time_major else (n_batch, n_time, n_input)
    add("input", in_shape, *(("INT8", None, 1 / 64, 7) if integer else ()))
    for gate in gates:
        weights(f"input_to_{gate}_weights", (n_cell, n_input), 0.01)
        weights(f"recurrent_to_{gate}_weights", (n_cell, n_output), 0.012)
    for gate in gates if peephole else ():
        if gate == "cell":
            continue
        if kind == "hybrid":
            w = rng.integers(-127, 128, n_cell).astype(np.int8)
            add(f"cell_to_{gate}_weights", (n_cell,), "INT8", w, 0.005)
        else:
            vector(f"cell_to_{gate}_weights", n_cell, 0.5, "int16", (-3000, 3000), 1 / 4096)
    bias_scale = 1 / (4 << 20) if layer_norm else 0.01 / 64
    for gate in gates:
        vector(f"{gate}_gate_bias", n_cell, 0.3, "int32", (-3000, 3000), bias_scale)
    if projection:
        weights("projection_weights", (n_output, n_cell), 0.008)
        if proj_bias:
            vector("projection_bias", n_output, 0.2, "int32", (-500, 500), 0.001)
    if integer:
        add("output_state", (n_batch, n_output), "INT8", None, 1 / 100, -5, True)
        add("cell_state", (n_batch, n_cell), "INT16", None, 2.0**-11, 0, True)
    else:
        add("output_state", (n_batch, n_output), variable=True)
        add("cell_state", (n_batch, n_cell), variable=True)
    for gate in gates if layer_norm else ():
        if integer:
            w = rng.integers(5000, 20000, n_cell).astype(np.int16)
            add(f"{gate}_layer_norm_coefficients", (n_cell,), "INT16", w, 1 / 16384)
        else:
            w = rng.uniform(0.5, 1.5, n_cell).astype(np.float32)
            add(f"{gate}_layer_norm_coefficients", (n_cell,), data=w)
    add("output", in_shape[:2] + (n_output,), *(("INT8", None, 1 / 100, -5) if integer else ()))
    intermediates = []
    if integer:
        for k in range(4):
            gate_scale = (2.0**-10 * (1 + k / 7),) if layer_norm else ()
            add(f"gate_{k}", (0,), "INT16" if layer_norm else "FLOAT32", None, *gate_scale)
            intermediates.append(f"gate_{k}")
        add("hidden", (0,), "INT8", None, *((1 / 120, 3) if projection else (1 / 100, -5)))
        intermediates.append("hidden")
    options = {
        "fused_activation_function": "TANH",
        "cell_clip": cell_clip,
        "proj_clip": proj_clip,
        "time_major": time_major,
        "asymmetric_quantize_inputs": asymmetric,
    }
    inputs = [name if name in tensors else None for name in tfl.LSTM_INPUTS]
    op = Op(
        "UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, ["output"], options, intermediates=intermediates
    )
    return build_model(list(tensors.values()), [op], ["input"], ["output"])


LSTM_VARIANTS = {
    "plain": {},
    "cifg": {"cifg": True},
    "peephole": {"peephole": True},
    "layer_norm": {"layer_norm": True},
    "projection": {"projection": True, "proj_bias": True},
    "clipped": {"projection": True, "cell_clip": 0.7, "proj_clip": 0.3},
    "time_major": {"time_major": True},
    # TFLite's integer peephole covers n_output (not n_cell) values, per batch or flat.
    "peephole_projection": {"peephole": True, "projection": True},
    "peephole_projection_time_major": {"peephole": True, "projection": True, "time_major": True},
    "everything": {
        "cifg": True,
        "peephole": True,
        "layer_norm": True,
        "projection": True,
        "proj_bias": True,
        "time_major": True,
    },
}
HYBRID_VARIANTS = {
    "asymmetric": {"asymmetric": True},
    "asymmetric_everything": {**LSTM_VARIANTS["everything"], "asymmetric": True},
}


@pytest.mark.parametrize("kind", ["float", "int8", "hybrid"])
@pytest.mark.parametrize("variant", sorted(LSTM_VARIANTS))
def test_synthetic_lstm(kind, variant, tmp_path):
    check_synthetic(tmp_path, f"lstm_{kind}_{variant}", lstm_model(kind, **LSTM_VARIANTS[variant]))


@pytest.mark.parametrize("variant", sorted(HYBRID_VARIANTS))
def test_synthetic_hybrid_lstm_asymmetric(variant, tmp_path):
    check_synthetic(tmp_path, f"lstm_{variant}", lstm_model("hybrid", **HYBRID_VARIANTS[variant]))


EDGE_ROW = [0.15625, 15.9375, 0.0, 0.03125, 0.09375, 0.21875]
"""An input row quantized asymmetrically to scale 1/16, zero point -128: 0.15625 / (1/16) is
2.5, which TFLite's x86 quantizer rounds before adding the zero point (-128 + 3 = -125);
rounding after adding it (the portable kernel: round(-125.5) = -126) differs."""


def test_hybrid_lstm_quantizes_inputs_like_tflite_x86(tmp_path):
    """Hybrid inputs go through TFLite's vectorised quantizers: the zero point added after
    rounding (asymmetric), and 0.49999997 (in units of the scale) rounding to 1 in the first
    8 lanes (symmetric)."""
    path = tmp_path / "lstm_edge_asymmetric.tflite"
    path.write_bytes(lstm_model("hybrid", asymmetric=True))
    check_model(path, [np.tile(np.float32(EDGE_ROW), (2, 5, 1))])
    path = tmp_path / "lstm_edge_symmetric.tflite"
    path.write_bytes(lstm_model("hybrid", n_input=8))
    row = np.float32([127, 0.49999997, -0.49999997, 0.49999997, 1.5, 0, 0, 0]) / 64  # scale 1/64
    check_model(path, [np.tile(row, (2, 5, 1))])


def test_integer_lstm_needs_intermediates(tmp_path):
    """A hand-made int8 LSTM without TFLite's intermediates is a user error, not a crash."""
    path = tmp_path / "no_intermediates.tflite"
    path.write_bytes(lstm_model("int8"))
    module = import_model(read_model(path))
    lstm = next(op for op in module.walk() if isinstance(op, tfl.UnidirectionalSequenceLSTMOp))
    del lstm.properties["intermediates"]
    with pytest.raises(LitecError, match="5 intermediate tensors"):
        Interpreter(module).run(seeded_inputs(module))


# ----------------------------------------------------------------------------- SVDF


def svdf_model(kind: str, *, rank=2, bias=True, act="RELU", asymmetric=False, seed=0) -> bytes:
    """One SVDF (batch 2, 5 inputs, 3 units, memory 4): "float", "hybrid" or "int8"."""
    rng = np.random.default_rng(seed)
    n_batch, n_input, units, memory = 2, 5, 3, 4
    n_filter = units * rank

    def int_tensor(name, shape, dtype, lo, hi, scale):
        data = rng.integers(lo, hi, shape).astype(dtype.lower())
        return Tensor(name, shape, dtype, data, [scale], [0])

    state_shape = (n_batch, n_filter * memory)
    if kind == "int8":
        tensors = [
            Tensor("x", (n_batch, n_input), "INT8", scales=[1 / 50], zero_points=[4]),
            int_tensor("wf", (n_filter, n_input), "INT8", -127, 128, 0.01),
            int_tensor("wt", (n_filter, memory), "INT16", -20000, 20000, 1 / 16384),
            int_tensor("b", (units,), "INT32", -3000, 3000, 1 / (16 * 16384)),
            Tensor("s", state_shape, "INT16", scales=[1 / 2048], zero_points=[0], is_variable=True),
            Tensor("y", (n_batch, units), "INT8", scales=[1 / 40], zero_points=[-20]),
        ]
    else:
        if kind == "float":
            wf = Tensor("wf", (n_filter, n_input), data=rng.normal(0, 0.5, (n_filter, n_input)))
            wt = Tensor("wt", (n_filter, memory), data=rng.normal(0, 0.5, (n_filter, memory)))
            wf.data, wt.data = wf.data.astype(np.float32), wt.data.astype(np.float32)
        else:
            wf = int_tensor("wf", (n_filter, n_input), "INT8", -127, 128, 0.01)
            wt = int_tensor("wt", (n_filter, memory), "INT8", -127, 128, 0.02)
        tensors = [
            Tensor("x", (n_batch, n_input)),
            wf,
            wt,
            Tensor("b", (units,), data=rng.normal(0, 0.3, units).astype(np.float32)),
            Tensor("s", state_shape, is_variable=True),
            Tensor("y", (n_batch, units)),
        ]
    options = {
        "rank": rank,
        "fused_activation_function": act,
        "asymmetric_quantize_inputs": asymmetric,
    }
    op = Op("SVDF", ["x", "wf", "wt", "b" if bias else None, "s"], ["y"], options)
    return build_model(tensors, [op], ["x"], ["y"])


SVDF_VARIANTS = {
    "plain": {},
    "no_bias": {"bias": False},
    "rank_1": {"rank": 1},
    "asymmetric": {"asymmetric": True},
}


@pytest.mark.parametrize("kind", ["float", "hybrid", "int8"])
@pytest.mark.parametrize("variant", sorted(SVDF_VARIANTS))
def test_synthetic_svdf(kind, variant, tmp_path):
    check_synthetic(tmp_path, f"svdf_{kind}_{variant}", svdf_model(kind, **SVDF_VARIANTS[variant]))


@pytest.mark.parametrize("kind", ["float", "hybrid"])
def test_synthetic_svdf_no_activation(kind, tmp_path):
    check_synthetic(tmp_path, f"svdf_{kind}_linear", svdf_model(kind, act="NONE"))


def test_hybrid_svdf_quantizes_inputs_like_tflite_x86(tmp_path):
    """The asymmetric input quantizer adds the zero point after rounding (see EDGE_ROW)."""
    path = tmp_path / "svdf_edge.tflite"
    path.write_bytes(svdf_model("hybrid", asymmetric=True, act="NONE"))
    check_model(path, [np.tile(np.float32(EDGE_ROW[:5]), (2, 1))])


def test_svdf_shifts_state():
    """With a non-zero state the memory shifts left and the new activation enters last."""
    x = np.array([[1.0, 2.0]], np.float32)
    weights_feature = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)  # 2 filters, rank 1
    weights_time = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)  # oldest, newest
    state = np.array([[10.0, 11.0, 12.0, 20.0, 21.0, 22.0]], np.float32)
    info = TensorInfo
    call = KernelCall(
        "SVDF",
        {"rank": 1, "fused_activation_function": "NONE", "asymmetric_quantize_inputs": False},
        [info((1, 2), np.dtype(np.float32))] * 3 + [None, info((1, 6), np.dtype(np.float32))],
        [info((1, 2), np.dtype(np.float32))],
    )
    out = KERNELS["SVDF"](call, x, weights_feature, weights_time, None, state)
    np.testing.assert_array_equal(out, [[11.0, 2.0]])


def test_integer_svdf_needs_relu():
    int8 = tensor_info((1, 2), np.int8, 0.02)
    call = KernelCall(
        "SVDF",
        {"rank": 1, "fused_activation_function": "NONE", "asymmetric_quantize_inputs": False},
        [int8, int8, int8, None, int8],
        [int8],
    )
    zeros = np.zeros((1, 2), np.int8)
    with pytest.raises(LitecError, match="RELU"):
        KERNELS["SVDF"](call, zeros, zeros, zeros, None, zeros)


# ----------------------------------------------------------------------------- WHILE


def while_model(limit: int = 5) -> bytes:
    """main: (i, x) -> WHILE i < limit: (i + 1, x + x)."""
    i32 = {"dtype": "INT32"}
    main = Subgraph(
        [
            Tensor("i", (1,), **i32),
            Tensor("x", (2,)),
            Tensor("i_out", (1,), **i32),
            Tensor("x_out", (2,)),
        ],
        [
            Op(
                "WHILE",
                ["i", "x"],
                ["i_out", "x_out"],
                {"cond_subgraph_index": 1, "body_subgraph_index": 2},
            )
        ],
        ["i", "x"],
        ["i_out", "x_out"],
        "main",
    )
    cond = Subgraph(
        [
            Tensor("i", (1,), **i32),
            Tensor("x", (2,)),
            Tensor("limit", (1,), data=np.array([limit], np.int32), **i32),
            Tensor("go", (1,), "BOOL"),
        ],
        [Op("LESS", ["i", "limit"], ["go"])],
        ["i", "x"],
        ["go"],
        "cond",
    )
    body = Subgraph(
        [
            Tensor("i", (1,), **i32),
            Tensor("x", (2,)),
            Tensor("one", (1,), data=np.array([1], np.int32), **i32),
            Tensor("i2", (1,), **i32),
            Tensor("x2", (2,)),
        ],
        [Op("ADD", ["i", "one"], ["i2"]), Op("ADD", ["x", "x"], ["x2"])],
        ["i", "x"],
        ["i2", "x2"],
        "body",
    )
    return build_model(subgraphs=[main, cond, body])


@pytest.mark.parametrize(("start", "iterations"), [(0, 5), (3, 2), (7, 0)])
def test_while_counter(start, iterations, tmp_path):
    path = tmp_path / "while.tflite"
    path.write_bytes(while_model())
    inputs = [np.array([start], np.int32), np.array([1.5, -2.0], np.float32)]
    ours = list(Interpreter(import_model(read_model(path))).run(inputs).values())
    ref = run_oracle(path, inputs)
    np.testing.assert_array_equal(ours[0], ref["out0"])
    np.testing.assert_array_equal(ours[1], ref["out1"])
    np.testing.assert_array_equal(ours[1], inputs[1] * 2.0**iterations)
