"""The `litec` command line and the Python API: inspect, opt, interpret, npz naming, overwrites."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import model_path
from harness import seeded_inputs
from oracle import run_oracle
from tflite_builder import Op, Tensor, build_model

import litec
from litec.cli import main
from litec.lowering.tflite_reader import read_model

SMALL = "kws_dscnn_int8.tflite"
"""A small int8 corpus model: every op has a reference kernel, bit-exact with TFLite."""


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """`litec ARGS` in this process: (exit status, stdout, stderr)."""
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def unnamed_model(tmp_path):
    """x * 2 (RESHAPEd) with unnamed input and output tensors: npz keys input_0 / output_0."""
    tensors = [
        Tensor("", (1, 4)),
        Tensor("two", (1, 4), data=np.full((1, 4), 2, np.float32)),
        Tensor("prod", (1, 4)),
        Tensor("shape", (1,), "INT32", data=np.array([4], np.int32)),
        Tensor("", (4,)),
    ]
    ops = [Op("MUL", [0, "two"], ["prod"]), Op("RESHAPE", ["prod", "shape"], [4])]
    path = tmp_path / "unnamed.tflite"
    path.write_bytes(build_model(tensors=tensors, ops=ops, inputs=[0], outputs=[4]))
    return path


# ----------------------------------------------------------------------------- inspect


def test_inspect_text(capsys):
    path = model_path(SMALL)
    rc, out, err = run_cli(capsys, "inspect", path)
    assert rc == 0 and err == ""
    assert hashlib.sha256(path.read_bytes()).hexdigest() in out
    assert "serving_default_input:0: int8[1x49x40x1]  scale 0.0337494 zero point -4" in out
    assert "StatefulPartitionedCall_1:0: int8[1x12]" in out
    assert "#0 main: 12 ops, 33 tensors" in out
    assert "5  CONV_2D" in out and "4  DEPTHWISE_CONV_2D" in out


def test_inspect_json(capsys):
    path = model_path(SMALL)
    rc, out, _ = run_cli(capsys, "inspect", path, "--json")
    assert rc == 0
    info = json.loads(out)
    desc = read_model(path)
    assert info["sha256"] == desc.sha256 and info["size"] == path.stat().st_size
    assert info["op_histogram"] == desc.op_histogram()
    (inp,) = info["inputs"]
    assert inp["key"] == "serving_default_input:0" and inp["shape"] == [1, 49, 40, 1]
    assert inp["dtype"] == "int8" and inp["quantization"]["zero_points"] == [-4]
    assert [sg["operators"] for sg in info["subgraphs"]] == [12]


def test_inspect_dynamic_batch(tmp_path, capsys):
    tensors = [Tensor("x", (1, 4), shape_signature=(-1, 4)), Tensor("y", (1, 4))]
    path = tmp_path / "dyn.tflite"
    path.write_bytes(
        build_model(tensors=tensors, ops=[Op("RELU", [0], [1])], inputs=[0], outputs=[1])
    )
    rc, out, _ = run_cli(capsys, "inspect", path)
    assert rc == 0
    assert "shape_signature [-1, 4] marks dimension 0 dynamic; litec uses the static shape" in out
    rc, out, _ = run_cli(capsys, "inspect", path, "--json")
    assert json.loads(out)["inputs"][0]["dynamic_dims"] == [0]


# ----------------------------------------------------------------------------- opt


def test_opt_print_parse_print_is_identical(tmp_path, capsys):
    out_path = tmp_path / "m.mlir"
    rc, out, err = run_cli(capsys, "opt", model_path(SMALL), "-o", out_path)
    assert (rc, out, err) == (0, "", "")
    text = out_path.read_text()
    assert text.startswith("builtin.module") and "{-#" in text and "tfl.conv_2d" in text
    rc, again, _ = run_cli(capsys, "opt", out_path)
    assert rc == 0 and again == text
    rc, printed, _ = run_cli(capsys, "opt", model_path(SMALL), "--emit", "tfl")
    assert printed == text


def test_opt_round_trip_in_fresh_processes(tmp_path):
    """The text parses back in another process (the constants travel in the text)."""
    first = tmp_path / "a.mlir"
    cmd = [sys.executable, "-m", "litec", "opt"]
    subprocess.run([*cmd, str(model_path(SMALL)), "-o", str(first)], check=True, timeout=120)
    proc = subprocess.run([*cmd, str(first)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == first.read_text()


def test_opt_no_resources(capsys):
    rc, out, _ = run_cli(capsys, "opt", model_path(SMALL), "--no-resources")
    assert rc == 0 and "{-#" not in out and "dense_resource<" in out


def test_opt_refuses_to_overwrite_other_files(tmp_path, capsys):
    precious = tmp_path / "notes.mlir"
    precious.write_text("my notes\n")
    rc, _, err = run_cli(capsys, "opt", model_path(SMALL), "-o", precious)
    assert rc == 2 and "not written by litec; use --force" in err
    assert precious.read_text() == "my notes\n"
    rc, _, _ = run_cli(capsys, "opt", model_path(SMALL), "-o", precious, "--force")
    assert rc == 0 and precious.read_text().startswith("builtin.module")
    rc, _, _ = run_cli(capsys, "opt", model_path(SMALL), "-o", precious)  # ours now
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mlir"]  # no temp files left


# ----------------------------------------------------------------------------- interpret


def test_interpret_random_inputs_summary(capsys):
    rc, out, err = run_cli(capsys, "interpret", model_path(SMALL))
    assert rc == 0
    assert "seeded random inputs (seed 0" in err
    assert out.startswith("StatefulPartitionedCall_1:0: int8[1x12]  min ")


def test_interpret_matches_tflite(tmp_path, capsys):
    path = model_path(SMALL)
    module = litec.load_tflite(path)
    inputs = litec.random_inputs(module, seed=3)
    (name,) = inputs
    np.savez(tmp_path / "in.npz", **inputs)
    rc, _, err = run_cli(
        capsys,
        "interpret",
        path,
        "--inputs",
        tmp_path / "in.npz",
        "--outputs",
        tmp_path / "out.npz",
    )
    assert rc == 0, err
    with np.load(tmp_path / "out.npz") as out:
        assert out.files == ["StatefulPartitionedCall_1:0"]
        expected = run_oracle(path, [inputs[name]])["out0"]
        np.testing.assert_array_equal(out["StatefulPartitionedCall_1:0"], expected)


def test_interpret_text_ir_like_the_model(tmp_path, capsys):
    run_cli(capsys, "opt", model_path(SMALL), "-o", tmp_path / "m.mlir")
    for source, out in ((model_path(SMALL), "a.npz"), (tmp_path / "m.mlir", "b.npz")):
        rc, _, err = run_cli(
            capsys, "interpret", source, "--seed", "5", "--outputs", tmp_path / out
        )
        assert rc == 0, err
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert a.files == b.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])


def test_random_inputs_are_the_harness_inputs():
    module = litec.load_tflite(model_path("lstm_keras3_while_fp32.tflite"))
    ours = list(litec.random_inputs(module, seed=7).values())
    theirs = seeded_inputs(module, 7)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_npz_keys_for_unnamed_tensors(unnamed_model, tmp_path, capsys):
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    np.savez(tmp_path / "in.npz", input_0=x)
    rc, _, err = run_cli(
        capsys, "interpret", unnamed_model, "--inputs", tmp_path / "in.npz", "--outputs",
        tmp_path / "out.npz",
    )  # fmt: skip
    assert rc == 0, err
    with np.load(tmp_path / "out.npz") as out:
        assert out.files == ["output_0"]
        np.testing.assert_array_equal(out["output_0"], 2 * x.reshape(4))


@pytest.mark.parametrize(
    "inputs, message",
    [
        (
            {"x": np.zeros((1, 4), np.float32)},
            "unknown input 'x'; the model's inputs are ['input_0']",
        ),
        ({"input_0": np.zeros((2, 4), np.float32)}, "has shape [2, 4], the model expects [1, 4]"),
        ({"input_0": np.zeros((1, 4), np.float64)}, "has dtype float64, the model expects float32"),
    ],
)
def test_interpret_wrong_inputs(unnamed_model, tmp_path, capsys, inputs, message):
    np.savez(tmp_path / "in.npz", **inputs)
    rc, out, err = run_cli(capsys, "interpret", unnamed_model, "--inputs", tmp_path / "in.npz")
    assert rc == 2 and out == ""
    assert err.startswith("litec: error: unnamed.tflite: ") and message in err
    assert len(err.splitlines()) == 1


def test_interpret_inputs_not_npz(unnamed_model, tmp_path, capsys):
    (tmp_path / "in.npz").write_text("not a zip")
    rc, _, err = run_cli(capsys, "interpret", unnamed_model, "--inputs", tmp_path / "in.npz")
    assert rc == 2 and "in.npz: not a readable .npz file" in err and len(err.splitlines()) == 1


def test_outputs_overwrite_protection(unnamed_model, tmp_path, capsys):
    out = tmp_path / "out.npz"
    np.savez(out, mine=np.ones(3))  # an .npz litec did not write
    before = out.read_bytes()
    rc, _, err = run_cli(capsys, "interpret", unnamed_model, "--outputs", out)
    assert rc == 2 and "out.npz: exists and was not written by litec; use --force" in err
    assert out.read_bytes() == before
    rc, _, _ = run_cli(capsys, "interpret", unnamed_model, "--outputs", out, "--force")
    assert rc == 0
    with zipfile.ZipFile(out) as zf:
        assert zf.comment == b"written by litec"
    rc, _, err = run_cli(capsys, "interpret", unnamed_model, "--outputs", out, "--seed", "1")
    assert rc == 0, err  # ours: replaced without --force
    rc, _, err = run_cli(capsys, "interpret", unnamed_model, "--outputs", unnamed_model)
    assert rc == 2 and "not written by litec" in err  # never the model itself
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz", "unnamed.tflite"]


# ----------------------------------------------------------------------------- errors, API


def test_internal_error_is_one_line(monkeypatch, capsys, unnamed_model):
    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr("litec.cli.cmd_inspect", broken)
    rc, _, err = run_cli(capsys, "inspect", unnamed_model)
    assert rc == 1
    assert err == "litec: internal error: RuntimeError: boom; run with --debug for a traceback\n"
    rc, _, err = run_cli(capsys, "--debug", "inspect", unnamed_model)
    assert rc == 1 and "Traceback" in err and err.endswith("RuntimeError: boom\n")


def test_entry_points():
    for cmd in (["litec"], [sys.executable, "-m", "litec"]):
        proc = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout.startswith("litec ")


def test_python_api(unnamed_model):
    module = litec.load_tflite(unnamed_model)
    x = np.ones((1, 4), np.float32)
    by_module = litec.interpret(module, {"input_0": x})
    by_path = litec.interpret(unnamed_model, [x])
    assert list(by_module) == list(by_path) == ["output_0"]
    np.testing.assert_array_equal(by_path["output_0"], np.full(4, 2, np.float32))
    assert [n for n, _ in litec.signature(module).inputs] == ["input_0"]
    again = litec.parse_mlir(litec.print_mlir(module))
    np.testing.assert_array_equal(litec.interpret(again, [x])["output_0"], by_path["output_0"])
    with pytest.raises(litec.LitecError, match="no such file"):
        litec.load_tflite(unnamed_model.with_name("absent.tflite"))
