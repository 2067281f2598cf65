"""Bad input: every broken file is one clear line on stderr, exit 2, and stays untouched.

Each case runs the real command line in a child process with a timeout (a hang is a
failure, not a stuck test run), then checks: exit status 2, exactly one stderr line
`litec: error: FILE...` (with the operator's index and name where there is one), no
traceback, nothing on stdout, and the input file byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
import tflite
from conftest import model_path
from oracle import run_oracle
from tflite_builder import Op, Subgraph, Tensor, build_model

from litec.lowering.tflite_reader import read_model

TIMEOUT = 60


def run_litec(*args: str, cwd) -> subprocess.CompletedProcess:
    """`python -m litec ARGS` in `cwd`; a hang fails the test."""
    return subprocess.run(
        [sys.executable, "-m", "litec", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def check_user_error(tmp_path, data: bytes | None, command: str = "opt", *, name="model.tflite"):
    """Run `litec COMMAND NAME` on `data`; returns the one error line (checked as above)."""
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    proc = run_litec(command, name, cwd=tmp_path)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"litec: error: {name}"), lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    if data is not None:
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()
    return lines[0]


def float_model(ops, extra_tensors=(), x_shape=(1, 4)) -> bytes:
    """A model with float tensors x, y (1x4) and any extra ones; ops read x and write y."""
    tensors = [Tensor("x", x_shape), Tensor("y", (1, 4)), *extra_tensors]
    return build_model(tensors=tensors, ops=ops, inputs=["x"], outputs=["y"])


def quant_model(**quant) -> bytes:
    """A QUANTIZE of a float input into an int8 tensor with the given quantization."""
    tensors = [Tensor("x", (1, 2, 2, 4)), Tensor("q", (1, 2, 2, 4), "INT8", **quant)]
    ops = [Op("QUANTIZE", ["x"], ["q"])]
    return build_model(tensors=tensors, ops=ops, inputs=["x"], outputs=["q"])


# ----------------------------------------------------------------------------- the builder


def test_builder_writes_models_tflite_runs(tmp_path):
    """The models these tests break are valid to start with: TFLite runs a built ADD."""
    tensors = [Tensor("a", (1, 4)), Tensor("b", (1, 4)), Tensor("y", (1, 4))]
    ops = [Op("ADD", ["a", "b"], ["y"], {"fused_activation_function": "RELU"})]
    path = tmp_path / "add.tflite"
    path.write_bytes(build_model(tensors=tensors, ops=ops, inputs=["a", "b"], outputs=["y"]))
    a = np.array([[1, -2, 3, -4]], np.float32)
    b = np.full((1, 4), 0.5, np.float32)
    expected = np.maximum(a + b, 0)
    np.testing.assert_array_equal(run_oracle(path, [a, b])["out0"], expected)
    desc = read_model(path)
    assert desc.main.operators[0].options["fused_activation_function"] == "RELU"
    assert [desc.main.tensors[t].name for t in desc.main.inputs] == ["a", "b"]


# ----------------------------------------------------------------------------- not a model


def test_missing_file(tmp_path):
    line = check_user_error(tmp_path, None, name="nothing.tflite")
    assert line == "litec: error: nothing.tflite: no such file"


def test_empty_file(tmp_path):
    assert "empty file" in check_user_error(tmp_path, b"", "inspect")


def test_text_file(tmp_path):
    line = check_user_error(tmp_path, b"this is a text file, not a model\n" * 20, "inspect")
    assert "not a TFLite model" in line


@pytest.mark.parametrize("seed", [0, 1])
def test_random_bytes(tmp_path, seed):
    data = bytearray(np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8))
    if seed == 1:
        data[4:8] = b"TFL3"  # right identifier, garbage everywhere else
    check_user_error(tmp_path, bytes(data))


def test_directory(tmp_path):
    (tmp_path / "model.tflite").mkdir()
    assert "directory" in check_user_error(tmp_path, None, "inspect")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_fifo_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "model.tflite")
    assert "not a regular file" in check_user_error(tmp_path, None, "inspect")


# ----------------------------------------------------------------------------- broken models


def _real_model() -> bytes:
    return model_path("kws_dscnn_int8.tflite").read_bytes()


@pytest.mark.parametrize("fraction", [0.0005, 0.02, 0.5, 0.98, 0.9999])
def test_truncated_model(tmp_path, fraction):
    data = _real_model()
    assert "corrupted model" in check_user_error(tmp_path, data[: int(len(data) * fraction)])


def _subgraphs_length_offset(data: bytes) -> int:
    """Where the length of the model's subgraph vector is stored."""
    model = tflite.Model.GetRootAs(data, 0)
    return model._tab.Vector(model._tab.Offset(8)) - 4


@pytest.mark.parametrize(
    "where, value",
    [
        ("root", 0xFFFFFFF0),  # the root table offset points far past the end
        ("vtable", 0x7FFFFFFF),  # the root table's vtable offset
        ("subgraphs", 0x7FFFFFFF),  # a vector length of 2^31 - 1
    ],
)
def test_corrupted_offsets(tmp_path, where, value):
    data = bytearray(_real_model())
    root = struct.unpack_from("<I", data, 0)[0]
    offset = {"root": 0, "vtable": root, "subgraphs": _subgraphs_length_offset(data)}[where]
    struct.pack_into("<I", data, offset, value)
    assert "corrupted model" in check_user_error(tmp_path, bytes(data))


def test_tensor_index_out_of_range(tmp_path):
    data = float_model([Op("ADD", ["x", 7], ["y"])])
    line = check_user_error(tmp_path, data)
    assert line == "litec: error: model.tflite: op #0 ADD: corrupted model: tensor index 7 of 2"


def test_tensor_written_twice(tmp_path):
    data = float_model([Op("RELU", ["x"], ["y"]), Op("RELU", ["x"], ["y"])])
    assert "op #1 RELU: corrupted model: writes tensor 1" in check_user_error(tmp_path, data)


def test_subgraph_that_calls_itself(tmp_path):
    main = Subgraph(
        [Tensor("x", (1,), "INT32"), Tensor("y", (1,), "INT32")],
        [Op("WHILE", ["x"], ["y"], {"cond_subgraph_index": 1, "body_subgraph_index": 0})],
        ["x"],
        ["y"],
    )
    cond = Subgraph([Tensor("i", (1,), "INT32"), Tensor("c", (), "BOOL")], [], ["i"], ["c"])
    line = check_user_error(tmp_path, build_model(subgraphs=[main, cond]))
    assert "op #0 WHILE: corrupted model: subgraph 0 calls itself" in line


def test_wrong_number_of_inputs(tmp_path):
    line = check_user_error(tmp_path, float_model([Op("ADD", ["x"], ["y"])]))
    assert line.startswith("litec: error: model.tflite: op #0 ADD: ")


# ----------------------------------------------------------------------------- unsupported


def test_unsupported_builtin(tmp_path):
    line = check_user_error(tmp_path, float_model([Op("COMPLEX_ABS", ["x"], ["y"])]))
    assert (
        line
        == "litec: error: model.tflite: op #0 COMPLEX_ABS: litec does not support this operator"
    )


def test_unknown_builtin_code(tmp_path):
    line = check_user_error(tmp_path, float_model([Op(250, ["x"], ["y"])]))
    assert "op #0 BUILTIN_250" in line


def test_vela_custom_op(tmp_path):
    """An Ethos-U (vela) compiled model: its NPU subgraph is a custom op."""
    stream = Tensor("command_stream", (16,), "UINT8", data=np.arange(16, dtype=np.uint8))
    ops = [
        Op("RELU", ["x"], ["r"]),
        Op("CUSTOM", ["r", "command_stream"], ["y"], custom_code="ethos-u", custom_options=b"\0"),
    ]
    data = float_model(ops, [Tensor("r", (1, 4)), stream])
    line = check_user_error(tmp_path, data)
    assert line == (
        "litec: error: model.tflite: op #1 CUSTOM 'ethos-u': custom operators are not supported"
    )


# ----------------------------------------------------------------------------- quantization


@pytest.mark.parametrize(
    "quant, message",
    [
        (
            dict(scales=[0.1, 0.2, 0.3], zero_points=[0, 0, 0], quantized_dimension=3),
            "3 scales, but dimension 3 of its shape [1, 2, 2, 4] does not have that many",
        ),
        (
            dict(scales=[0.1] * 4, zero_points=[0] * 4, quantized_dimension=7),
            "4 scales, but dimension 7",
        ),
        (dict(scales=[0.0], zero_points=[0]), "a scale that is not a positive finite number"),
        (dict(scales=[float("nan")], zero_points=[0]), "not a positive finite number"),
        (dict(scales=[0.1], zero_points=[200]), "a zero point outside the INT8 range"),
        (dict(scales=[0.1, 0.2], zero_points=[0]), "2 scales but 1 zero points"),
    ],
)
def test_inconsistent_quantization(tmp_path, quant, message):
    line = check_user_error(tmp_path, quant_model(**quant), "inspect")
    assert line.startswith("litec: error: model.tflite: op #0 QUANTIZE: tensor 'q' has ")
    assert message in line


# ----------------------------------------------------------------------------- shapes


def test_no_static_shape(tmp_path):
    line = check_user_error(tmp_path, float_model([Op("RELU", ["x"], ["y"])], x_shape=(-1, 4)))
    assert line == "litec: error: model.tflite: tensor 'x' has no static shape [-1, 4]"


def test_shape_of_wrong_rank(tmp_path):
    tensors = [Tensor("x", (), shape_signature=(-1, 4)), Tensor("y", (1, 4))]
    data = build_model(tensors=tensors, ops=[Op("RELU", ["x"], ["y"])], inputs=[0], outputs=[1])
    assert "tensor 'x' has no static shape" in check_user_error(tmp_path, data)


def test_dynamic_batch_in_shape_signature_is_fine(tmp_path):
    """A Keras batch dimension (-1 in shape_signature) with a static shape is not an error."""
    tensors = [Tensor("x", (1, 4), shape_signature=(-1, 4)), Tensor("y", (1, 4))]
    data = build_model(tensors=tensors, ops=[Op("RELU", ["x"], ["y"])], inputs=[0], outputs=[1])
    (tmp_path / "model.tflite").write_bytes(data)
    proc = run_litec("inspect", "model.tflite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "litec uses the static shape [1, 4]" in proc.stdout
    proc = run_litec("opt", "model.tflite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "tfl.relu" in proc.stdout


# ----------------------------------------------------------------------------- textual IR


def test_malformed_mlir(tmp_path):
    text = "builtin.module {\n  func.func @main() {\n    %0 = tfl.bogus : () -> ()\n  }\n}\n"
    line = check_user_error(tmp_path, text.encode(), name="in.mlir")
    assert re.fullmatch(r"litec: error: in.mlir:3:\d+: Operation tfl.bogus is not registered", line)


def test_invalid_mlir(tmp_path):
    text = (
        "builtin.module {\n  func.func @main(%a: tensor<1xf32>) -> tensor<1xf32> {\n"
        '    %0 = tfl.add %a, %a {fused_activation_function = "FOO"} : '
        "(tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>\n"
        "    func.return %0 : tensor<1xf32>\n  }\n}\n"
    )
    line = check_user_error(tmp_path, text.encode(), name="in.mlir")
    assert line.startswith("litec: error: in.mlir: invalid IR: tfl.add: fused_activation_function")


def test_mlir_without_constant_data(tmp_path):
    """Text printed with --no-resources parses but cannot run: a clear error, not a KeyError."""
    data = float_model(
        [Op("ADD", ["x", "c"], ["y"])], [Tensor("c", (1, 4), data=np.ones((1, 4), np.float32))]
    )
    (tmp_path / "model.tflite").write_bytes(data)
    proc = run_litec("opt", "model.tflite", "--no-resources", "-o", "bare.mlir", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = check_user_error(tmp_path, None, "interpret", name="bare.mlir")
    assert "no data for constant" in line
