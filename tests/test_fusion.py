"""Fusion passes on synthetic models that hold their patterns: the reference interpreter's
results before and after each pass, op counts, TFLite on the unfused model, and a fused
model compiled for the CPU. Quantized results must not change at all, float ones not at
all except where the pass changes rounding (stated per test).

The sweep over real models (corpus and MediaPipe: every pass, outputs unchanged) is marked
slow; `python tests/test_fusion.py [MODEL ...]` prints its table of op counts.
"""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import pytest
from conftest import corpus_models, mediapipe_models, model_path
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import run_oracle
from tflite_builder import Op, build_model
from zoo import const, tensor

import litec
import litec.runtime
from litec.dialects import tfl
from litec.dialects.tfl_reference.core import kernel_name
from litec.driver import compile_model, run_graph_passes

CONV = {
    "padding": "SAME",
    "stride_h": 1,
    "stride_w": 1,
    "dilation_h_factor": 1,
    "dilation_w_factor": 1,
    "fused_activation_function": "NONE",
}
DEPTHWISE = {**CONV, "depth_multiplier": 1}
FC = {"fused_activation_function": "NONE", "keep_num_dims": True}


def floats(name, shape, seed, low=-1.0, high=1.0):
    """A float32 constant of seeded uniform values."""
    data = np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)
    return tensor(name, shape, data=data)


def int8s(name, shape, seed, scale, zero_point=0, dtype="INT8"):
    """A quantized constant of seeded random values (int32 for a bias)."""
    np_dtype = {"INT8": np.int8, "INT32": np.int32}[dtype]
    data = np.random.default_rng(seed).integers(-100, 100, shape).astype(np_dtype)
    return tensor(name, shape, dtype, scale, zero_point, data=data)


def write(path, tensors, ops, inputs, outputs):
    """Write a one-subgraph model; returns `path`."""
    path.write_bytes(build_model(tensors, ops, inputs, outputs))
    return path


def op_counts(module) -> Counter:
    """How many ops of each builtin the module computes (constants and variables excluded)."""
    data = (tfl.ConstOp, tfl.NoValueOp, tfl.VariableOp)
    return Counter(
        kernel_name(op)
        for op in module.walk()
        if isinstance(op, tfl.TflOp) and not isinstance(op, data)
    )


def before_after(path, spec: str, seed: int = 0):
    """(inputs, outputs before, outputs after, module after) of running `spec` on `path`."""
    module = litec.load(path)
    inputs = litec.random_inputs(module, seed)
    before = litec.interpret(module, inputs)
    run_graph_passes(module, spec)
    module.verify()
    return inputs, before, litec.interpret(module, inputs), module


def assert_same(before: dict, after: dict, rtol: float = 0.0) -> None:
    """Equal outputs: bit for bit, or (float, rtol > 0) within rtol * max(1, max|before|)."""
    assert before.keys() == after.keys()
    for name, ref in before.items():
        got = after[name]
        assert got.dtype == ref.dtype and got.shape == ref.shape, name
        if rtol and ref.dtype.kind == "f":
            err = float(np.max(np.abs(got.astype(np.float64) - ref), initial=0.0))
            assert err <= rtol * max(1.0, float(np.max(np.abs(ref), initial=0.0))), (name, err)
        else:
            np.testing.assert_array_equal(got, ref, err_msg=name)


# ----------------------------------------------------------------------------- fuse-conv-activation


def float_chain(path):
    """CONV, DEPTHWISE, FULLY_CONNECTED and TRANSPOSE_CONV without biases, each followed by a
    per-channel ADD and/or an activation: every pair fuses, bit for bit."""
    tensors = [
        tensor("x", (1, 6, 6, 3)),
        floats("w1", (4, 3, 3, 3), 1),
        floats("v1", (4,), 2),
        floats("dw", (1, 3, 3, 4), 3),
        floats("v2", (1, 1, 1, 4), 4),
        floats("fw", (5, 4), 5),
        floats("tw", (2, 3, 3, 4), 6),
        tensor("y", (1, 3, 3, 4)),
        const("tshape", [1, 6, 6, 2]),
        *(tensor(n, (1, 6, 6, 4)) for n in ("c1", "a1", "r1", "d1", "a2")),
        tensor("f", (1, 6, 6, 5)),
        tensor("out1", (1, 6, 6, 5)),
        tensor("t", (1, 6, 6, 2)),
        tensor("out2", (1, 6, 6, 2)),
    ]
    ops = [
        Op("CONV_2D", ["x", "w1", None], ["c1"], CONV),
        Op("ADD", ["c1", "v1"], ["a1"], {"fused_activation_function": "NONE"}),
        Op("RELU6", ["a1"], ["r1"]),
        Op("DEPTHWISE_CONV_2D", ["r1", "dw", None], ["d1"], DEPTHWISE),
        Op("ADD", ["v2", "d1"], ["a2"], {"fused_activation_function": "RELU"}),
        Op("FULLY_CONNECTED", ["a2", "fw", None], ["f"], FC),
        Op("RELU_N1_TO_1", ["f"], ["out1"]),
        Op(
            "TRANSPOSE_CONV",
            ["tshape", "tw", "y", None],
            ["t"],
            {"padding": "SAME", "stride_h": 2, "stride_w": 2, "fused_activation_function": "NONE"},
        ),
        Op("RELU", ["t"], ["out2"]),
    ]
    return write(path, tensors, ops, ["x", "y"], ["out1", "out2"])


def float_biased(path):
    """A CONV and a FULLY_CONNECTED with biases, then a SUB / ADD of a per-channel constant."""
    tensors = [
        tensor("x", (1, 5, 5, 2)),
        floats("w", (3, 3, 3, 2), 1),
        floats("b", (3,), 2),
        floats("v", (1,), 3),
        floats("fw", (4, 3), 4),
        floats("fb", (4,), 5),
        floats("fv", (1, 4), 6),
        *(tensor(n, (1, 5, 5, 3)) for n in ("c", "s")),
        *(tensor(n, (1, 5, 5, 4)) for n in ("f", "out")),
    ]
    ops = [
        Op("CONV_2D", ["x", "w", "b"], ["c"], CONV),
        Op("SUB", ["c", "v"], ["s"], {"fused_activation_function": "RELU"}),
        Op("FULLY_CONNECTED", ["s", "fw", "fb"], ["f"], FC),
        Op("ADD", ["f", "fv"], ["out"], {"fused_activation_function": "RELU6"}),
    ]
    return write(path, tensors, ops, ["x"], ["out"])


def int8_activations(path):
    """int8 CONVs followed by RELU: fused where the RELU keeps the quantization, not where
    it requantizes; a hybrid FULLY_CONNECTED followed by TANH."""
    sx, sw, so = 0.05, 0.01, 0.02
    tensors = [
        tensor("x", (1, 4, 4, 3), "INT8", sx, -5),
        int8s("w", (6, 3, 3, 3), 1, sw),
        int8s("b", (6,), 2, sx * sw, dtype="INT32"),
        tensor("c1", (1, 4, 4, 6), "INT8", so, 3),
        tensor("c2", (1, 4, 4, 6), "INT8", so, 3),
        tensor("out1", (1, 4, 4, 6), "INT8", so, 3),
        tensor("out2", (1, 4, 4, 6), "INT8", 0.03, -128),
        tensor("h", (2, 6)),
        int8s("hw", (3, 6), 3, 0.02),
        tensor("hf", (2, 3)),
        tensor("out3", (2, 3)),
    ]
    ops = [
        Op("CONV_2D", ["x", "w", "b"], ["c1"], CONV),
        Op("RELU", ["c1"], ["out1"]),
        Op("CONV_2D", ["x", "w", "b"], ["c2"], CONV),
        Op("RELU6", ["c2"], ["out2"]),
        Op(
            "FULLY_CONNECTED", ["h", "hw", None], ["hf"], {**FC, "asymmetric_quantize_inputs": True}
        ),
        Op("TANH", ["hf"], ["out3"]),
    ]
    return write(path, tensors, ops, ["x", "h"], ["out1", "out2", "out3"])


def test_fuse_conv_activation_float_is_bit_identical(tmp_path):
    path = float_chain(tmp_path / "chain.tflite")
    _, before, after, module = before_after(path, "fuse-conv-activation")
    assert_same(before, after)
    assert op_counts(module) == Counter(
        CONV_2D=1, DEPTHWISE_CONV_2D=1, FULLY_CONNECTED=1, TRANSPOSE_CONV=1
    )


def test_fuse_conv_activation_into_existing_bias(tmp_path):
    """b + c rounds once where conv + b + c rounded twice: within a float32 rounding."""
    path = float_biased(tmp_path / "biased.tflite")
    _, before, after, module = before_after(path, "fuse-conv-activation")
    assert_same(before, after, rtol=1e-6)
    assert op_counts(module) == Counter(CONV_2D=1, FULLY_CONNECTED=1)


def test_fuse_conv_activation_quantized_exact_and_tflite(tmp_path):
    path = int8_activations(tmp_path / "int8.tflite")
    inputs, before, after, module = before_after(path, "fuse-conv-activation")
    assert_same(before, after)
    assert op_counts(module) == Counter(CONV_2D=2, RELU6=1, FULLY_CONNECTED=1)
    tflite = run_oracle(path, list(inputs.values()))
    for i, (name, arr) in enumerate(after.items()):
        ref = tflite[f"out{i}"]
        if arr.dtype.kind == "f":
            np.testing.assert_allclose(arr, ref, rtol=1e-5, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(arr, ref, err_msg=name)


# ----------------------------------------------------------------------------- fold-batch-norm


def unfolded_batch_norms(path):
    """The MUL / ADD pairs an unfolded batch norm leaves after CONV, DEPTHWISE (RELU, positive
    scales), FULLY_CONNECTED and TRANSPOSE_CONV; a RELU after the first."""
    tensors = [
        tensor("x", (1, 6, 6, 3)),
        floats("w", (4, 3, 3, 3), 1),
        floats("b", (4,), 2),
        floats("s1", (4,), 3, 0.5, 2.0),
        floats("t1", (1, 1, 1, 4), 4),
        floats("dw", (1, 3, 3, 4), 5),
        floats("s2", (1, 1, 1, 4), 6, 0.1, 3.0),
        floats("fw", (5, 4), 7),
        floats("s3", (5,), 8, -2.0, 2.0),
        floats("t3", (5,), 9),
        floats("tw", (2, 3, 3, 4), 10),
        floats("s4", (2,), 11, -1.0, 1.0),
        const("tshape", [1, 12, 12, 2]),
        *(tensor(n, (1, 6, 6, 4)) for n in ("c", "m1", "a1", "r1", "d", "m2")),
        *(tensor(n, (1, 6, 6, 5)) for n in ("f", "m3", "out1")),
        *(tensor(n, (1, 12, 12, 2)) for n in ("tc", "out2")),
    ]
    none = {"fused_activation_function": "NONE"}
    ops = [
        Op("CONV_2D", ["x", "w", "b"], ["c"], CONV),
        Op("MUL", ["c", "s1"], ["m1"], none),
        Op("ADD", ["m1", "t1"], ["a1"], none),
        Op("RELU", ["a1"], ["r1"]),
        Op(
            "DEPTHWISE_CONV_2D",
            ["r1", "dw", None],
            ["d"],
            {**DEPTHWISE, "fused_activation_function": "RELU"},
        ),
        Op("MUL", ["s2", "d"], ["m2"], none),
        Op("FULLY_CONNECTED", ["m2", "fw", None], ["f"], FC),
        Op("MUL", ["f", "s3"], ["m3"], none),
        Op("ADD", ["m3", "t3"], ["out1"], {"fused_activation_function": "RELU6"}),
        Op(
            "TRANSPOSE_CONV",
            ["tshape", "tw", "m2", None],
            ["tc"],
            {"padding": "SAME", "stride_h": 2, "stride_w": 2, "fused_activation_function": "NONE"},
        ),
        Op("MUL", ["tc", "s4"], ["out2"], none),
    ]
    return write(path, tensors, ops, ["x"], ["out1", "out2"])


def test_fold_batch_norm_within_rounding(tmp_path):
    path = unfolded_batch_norms(tmp_path / "bn.tflite")
    _, before, after, module = before_after(path, "fold-batch-norm")
    assert_same(before, after, rtol=1e-5)
    assert op_counts(module) == Counter(
        CONV_2D=1, RELU=1, DEPTHWISE_CONV_2D=1, FULLY_CONNECTED=1, TRANSPOSE_CONV=1
    )
    _, _, fused, module = before_after(path, "fold-batch-norm,fuse-conv-activation")
    assert_same(before, fused, rtol=1e-5)
    assert op_counts(module)["RELU"] == 0


# ----------------------------------------------------------------------------- fold-pad


def explicit_pads(path):
    """PAD / PADV2 before VALID convs: float stride 2 and dilated depthwise (fold), int8 with
    the zero point (fold), and Keras-style symmetric padding before a stride-2 conv (stays)."""
    sx, so = 0.05, 0.1
    pad_value = np.array([-5], np.int8)
    tensors = [
        tensor("x", (1, 8, 8, 3)),
        tensor("q", (1, 7, 7, 2), "INT8", sx, -5),
        const("p01", [[0, 0], [0, 1], [0, 1], [0, 0]]),
        const("p22", [[0, 0], [2, 2], [2, 2], [0, 0]]),
        const("p11", [[0, 0], [1, 1], [1, 1], [0, 0]]),
        tensor("zp", (1,), "INT8", sx, -5, data=pad_value),
        floats("w", (4, 3, 3, 3), 1),
        floats("dw", (1, 3, 3, 3), 2),
        int8s("qw", (4, 3, 3, 2), 3, 0.01),
        int8s("qdw", (1, 3, 3, 2), 4, 0.02),
        floats("b4", (4,), 5),
        floats("b3", (3,), 6),
        int8s("qb4", (4,), 7, sx * 0.01, dtype="INT32"),
        int8s("qb2", (2,), 8, sx * 0.02, dtype="INT32"),
        tensor("a", (1, 9, 9, 3)),
        tensor("out1", (1, 4, 4, 4)),
        tensor("b", (1, 12, 12, 3)),
        tensor("out2", (1, 8, 8, 3)),
        tensor("c", (1, 9, 9, 2), "INT8", sx, -5),
        tensor("out3", (1, 7, 7, 4), "INT8", so, 2),
        tensor("d", (1, 9, 9, 2), "INT8", sx, -5),
        tensor("out4", (1, 7, 7, 2), "INT8", so, 2),
        tensor("e", (1, 10, 10, 3)),
        tensor("out5", (1, 4, 4, 4)),
    ]
    valid = {**CONV, "padding": "VALID"}
    ops = [
        Op("PAD", ["x", "p01"], ["a"]),
        Op("CONV_2D", ["a", "w", "b4"], ["out1"], {**valid, "stride_h": 2, "stride_w": 2}),
        Op("PAD", ["x", "p22"], ["b"]),
        Op(
            "DEPTHWISE_CONV_2D",
            ["b", "dw", "b3"],
            ["out2"],
            {**DEPTHWISE, "padding": "VALID", "dilation_h_factor": 2, "dilation_w_factor": 2},
        ),
        Op("PADV2", ["q", "p11", "zp"], ["c"]),
        Op("CONV_2D", ["c", "qw", "qb4"], ["out3"], valid),
        Op("PAD", ["q", "p11"], ["d"]),
        Op("DEPTHWISE_CONV_2D", ["d", "qdw", "qb2"], ["out4"], {**DEPTHWISE, "padding": "VALID"}),
        Op("PAD", ["x", "p11"], ["e"]),
        Op("CONV_2D", ["e", "w", "b4"], ["out5"], {**valid, "stride_h": 2, "stride_w": 2}),
    ]
    return write(path, tensors, ops, ["x", "q"], ["out1", "out2", "out3", "out4", "out5"])


def test_fold_pad_bit_identical_and_tflite(tmp_path):
    path = explicit_pads(tmp_path / "pads.tflite")
    inputs, before, after, module = before_after(path, "fold-pad")
    assert_same(before, after)
    assert op_counts(module) == Counter(CONV_2D=3, DEPTHWISE_CONV_2D=2, PAD=1)
    tflite = run_oracle(path, list(inputs.values()))
    for i, (name, arr) in enumerate(after.items()):
        ref = tflite[f"out{i}"]
        if arr.dtype.kind == "f":
            np.testing.assert_allclose(arr, ref, rtol=1e-5, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(arr, ref, err_msg=name)


# ----------------------------------------------------------------------------- cancel-transposes


def transposes(path):
    """Transposes that cancel through RELU · scalar MUL, through an int8 LOGISTIC and a
    scalar int8 ADD; a pair that composes; a transpose/reshape chain that is a reshape."""
    sx = 0.05
    tensors = [
        tensor("x", (1, 4, 6, 3)),
        tensor("q", (1, 4, 6, 3), "INT8", sx, -5),
        const("nchw", [0, 3, 1, 2]),
        const("nhwc", [0, 2, 3, 1]),
        const("swap", [0, 2, 1, 3]),
        const("p021", [0, 2, 1]),
        const("s3", [1, 3, 24]),
        floats("two", (1,), 1),
        tensor("k", (1,), "INT8", 0.02, 3, data=np.array([77], np.int8)),
        *(tensor(n, (1, 3, 4, 6)) for n in ("a", "a1", "a2")),
        tensor("out1", (1, 4, 6, 3)),
        tensor("b", (1, 6, 4, 3)),
        tensor("out2", (1, 3, 6, 4)),
        tensor("c1", (1, 3, 24)),
        tensor("out3", (1, 24, 3)),
        tensor("d", (1, 3, 4, 6), "INT8", sx, -5),
        tensor("d1", (1, 3, 4, 6), "INT8", 1 / 256, -128),
        tensor("d2", (1, 3, 4, 6), "INT8", 0.01, -7),
        tensor("out4", (1, 4, 6, 3), "INT8", 0.01, -7),
    ]
    ops = [
        Op("TRANSPOSE", ["x", "nchw"], ["a"]),
        Op("RELU", ["a"], ["a1"]),
        Op("MUL", ["a1", "two"], ["a2"], {"fused_activation_function": "NONE"}),
        Op("TRANSPOSE", ["a2", "nhwc"], ["out1"]),
        Op("TRANSPOSE", ["x", "swap"], ["b"]),
        Op("TRANSPOSE", ["b", "nchw"], ["out2"]),
        Op("TRANSPOSE", ["x", "nchw"], ["c"]),
        Op("RESHAPE", ["c", "s3"], ["c1"]),
        Op("TRANSPOSE", ["c1", "p021"], ["out3"]),
        Op("TRANSPOSE", ["q", "nchw"], ["d"]),
        Op("LOGISTIC", ["d"], ["d1"]),
        Op("ADD", ["k", "d1"], ["d2"], {"fused_activation_function": "NONE"}),
        Op("TRANSPOSE", ["d2", "nhwc"], ["out4"]),
    ]
    tensors.append(tensor("c", (1, 3, 4, 6)))
    return write(path, tensors, ops, ["x", "q"], ["out1", "out2", "out3", "out4"])


def test_cancel_transposes_bit_identical_and_tflite(tmp_path):
    path = transposes(tmp_path / "transposes.tflite")
    inputs, before, after, module = before_after(path, "cancel-transposes")
    assert_same(before, after)
    assert op_counts(module) == Counter(RELU=1, MUL=1, TRANSPOSE=1, RESHAPE=1, LOGISTIC=1, ADD=1)
    tflite = run_oracle(path, list(inputs.values()))
    for i, arr in enumerate(after.values()):
        np.testing.assert_array_equal(arr, tflite[f"out{i}"])


# ----------------------------------------------------------------------------- CPU and corpus

PIPELINE = "fold-pad,fold-batch-norm,fuse-conv-activation,cancel-transposes"
"""Every pass of this file, in an order where each leaves work for the next."""


def test_fused_model_compiles_for_cpu(tmp_path):
    """The fused float and int8 models, compiled for the CPU, match the unfused ones."""
    for build in (float_chain, int8_activations, unfolded_batch_norms):
        path = build(tmp_path / f"{build.__name__}.tflite")
        fused = litec.load(path)
        run_graph_passes(fused, PIPELINE)
        mlir = tmp_path / f"{build.__name__}.mlir"
        mlir.write_text(litec.print_mlir(fused))
        inputs = list(litec.random_inputs(fused, 3).values())
        outputs = []
        for source in (path, mlir):
            with litec.runtime.load(
                compile_model(source, opt_level=0).artifact, threads=1
            ) as model:
                outputs.append(model.run(inputs))
        assert_same(*outputs, rtol=1e-5)


def sweep(path) -> tuple[Counter, Counter]:
    """Op counts before and after PIPELINE on a model; its outputs on seeded inputs must
    not change (quantized: at all; float: within 1e-5 of the largest)."""
    module = litec.load(path)
    counts = op_counts(module)
    inputs = litec.random_inputs(module, 0)
    before = litec.interpret(module, inputs)
    run_graph_passes(module, PIPELINE)
    module.verify()
    assert_same(before, litec.interpret(module, inputs), rtol=1e-5)
    return counts, op_counts(module)


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus_models() + mediapipe_models())
def test_real_model_unchanged(name):
    sweep(model_path(name))


def table(names: list[str]) -> str:
    """model | ops before -> after | what changed."""
    lines = ["| model | ops before -> after | changed |", "|---|---|---|"]
    for name in names:
        before, after = sweep(model_path(name))
        changed = ", ".join(
            f"{op} {before[op]}->{after[op]}"
            for op in sorted(before | after)
            if before[op] != after[op]
        )
        lines.append(f"| {name} | {before.total()} -> {after.total()} | {changed or '-'} |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1:] or corpus_models() + mediapipe_models()))


# ----------------------------------------------------------------------------- properties

FEW = settings(max_examples=40, deadline=None)


def padded_conv(path, size, kernel, stride, dilation, pads, depthwise):
    """PAD by `pads` (H and W alike) then a VALID conv; None when the output would be empty."""
    k_eff = (kernel - 1) * dilation + 1
    out = (size + sum(pads) - k_eff) // stride + 1
    if out < 1:
        return None
    builtin, options = ("DEPTHWISE_CONV_2D", DEPTHWISE) if depthwise else ("CONV_2D", CONV)
    w_shape = (1, kernel, kernel, 2) if depthwise else (3, kernel, kernel, 2)
    tensors = [
        tensor("x", (1, size, size, 2)),
        const("pads", [[0, 0], pads, pads, [0, 0]]),
        floats("w", w_shape, 1),
        tensor("p", (1, size + sum(pads), size + sum(pads), 2)),
        tensor("y", (1, out, out, w_shape[0] if not depthwise else 2)),
    ]
    conv = {**options, "padding": "VALID", "stride_h": stride, "stride_w": stride}
    conv |= {"dilation_h_factor": dilation, "dilation_w_factor": dilation}
    ops = [Op("PAD", ["x", "pads"], ["p"]), Op(builtin, ["p", "w", None], ["y"], conv)]
    return write(path, tensors, ops, ["x"], ["y"])


@FEW
@given(
    size=st.integers(1, 9),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    pads=st.one_of(st.none(), st.lists(st.integers(0, 3), min_size=2, max_size=2)),
    depthwise=st.booleans(),
)
def test_fold_pad_property(tmp_path_factory, size, kernel, stride, dilation, pads, depthwise):
    """Whatever the padding, results never change; SAME's own padding always folds
    (TFLite: out = ceil(size / stride), the total split in half, the odd one after)."""
    if pads is None:
        out = -(-size // stride)
        total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        pads = [total // 2, total - total // 2]
    path = tmp_path_factory.mktemp("pad") / "m.tflite"
    if padded_conv(path, size, kernel, stride, dilation, pads, depthwise) is None:
        return
    _, before, after, module = before_after(path, "fold-pad")
    assert_same(before, after)
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    assert ("PAD" not in op_counts(module)) == (pads == [total // 2, total - total // 2])


ELEMENTWISE_CHAIN = {
    "RELU": ([], {}),
    "NEG": ([], {}),
    "ABS": ([], {}),
    "MUL": (["half"], {"fused_activation_function": "NONE"}),
    "ADD": (["half"], {"fused_activation_function": "RELU6"}),
    "SUB": (["full"], {"fused_activation_function": "NONE"}),
}
"""Elementwise ops a transpose moves through: builtin -> (splat constant inputs, options)."""


@FEW
@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    data=st.data(),
)
def test_cancel_transposes_property(tmp_path_factory, shape, data):
    """TRANSPOSE p, elementwise ops, TRANSPOSE q: results never change; when q undoes p,
    no transpose is left."""
    rank = len(shape)
    p = data.draw(st.permutations(range(rank)))
    inverse = [p.index(i) for i in range(rank)]
    q = data.draw(st.one_of(st.just(inverse), st.permutations(range(rank))))
    chain = data.draw(st.lists(st.sampled_from(sorted(ELEMENTWISE_CHAIN)), max_size=3))
    moved = [shape[i] for i in p]
    tensors = [
        tensor("x", tuple(shape)),
        const("p", p),
        const("q", q),
        tensor("half", (1,), data=np.array([0.5], np.float32)),
        tensor("full", tuple(moved), data=np.full(moved, 0.25, np.float32)),
        tensor("out", tuple(moved[i] for i in q)),
        *(tensor(f"t{i}", tuple(moved)) for i in range(len(chain) + 1)),
    ]
    ops = [Op("TRANSPOSE", ["x", "p"], ["t0"])]
    for i, builtin in enumerate(chain):
        extra, options = ELEMENTWISE_CHAIN[builtin]
        ops.append(Op(builtin, [f"t{i}", *extra], [f"t{i + 1}"], options))
    ops.append(Op("TRANSPOSE", [f"t{len(chain)}", "q"], ["out"]))
    path = write(tmp_path_factory.mktemp("t") / "m.tflite", tensors, ops, ["x"], ["out"])
    _, before, after, module = before_after(path, "cancel-transposes")
    assert_same(before, after)
    assert op_counts(module)["TRANSPOSE"] <= (0 if q == inverse else 1)
