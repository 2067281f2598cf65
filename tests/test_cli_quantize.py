"""`litec quantize` and `litec compile --quantize`: a float corpus model quantized, written as a
.tflite file TFLite runs bit-exact with litec's reference interpreter, or compiled directly."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path
from oracle import run_oracle
from test_cli import run_cli

import litec
import litec.runtime
from litec import cli, driver

FLOAT = "kws_dscnn_fp32.tflite"
INPUT = "serving_default_input:0"


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """20 samples from the corpus's representative distribution (normal(0, 0.5) clipped)."""
    rng = np.random.default_rng(1)
    data = np.clip(rng.normal(0, 0.5, (20, 49, 40, 1)), -1, 1).astype(np.float32)
    path = tmp_path_factory.mktemp("cal") / "data.npz"
    np.savez(path, **{INPUT: data})
    return path


@pytest.mark.parametrize("mode", ["int8", "int8-minmax"])
def test_int8_model_runs_in_tflite_as_litec_computes_it(capsys, tmp_path, calibration, mode):
    out = tmp_path / "q.tflite"
    rc, _, err = run_cli(
        capsys, "quantize", model_path(FLOAT), "--calibration", calibration, "-o", out,
        "--mode", mode,
    )  # fmt: skip
    assert rc == 0, err
    module = litec.load(out)
    names = [type(op).BUILTIN for op in module.walk() if hasattr(type(op), "BUILTIN")]
    assert names.count("CONV_2D") == 5 and "QUANTIZE" in names and "DEQUANTIZE" in names
    x = np.clip(np.random.default_rng(7).normal(0, 0.5, (1, 49, 40, 1)), -1, 1).astype(np.float32)
    ours = litec.interpret(module, [x])
    theirs = run_oracle(out, [x])
    np.testing.assert_array_equal(next(iter(ours.values())), theirs["out0"])


def test_compile_quantize_equals_the_written_model(tmp_path, calibration):
    c = driver.compile_model(model_path(FLOAT), quantize="int8", calibration=str(calibration))
    quantized = litec.load(model_path(FLOAT))
    driver.quantize_module(quantized, "int8", str(calibration))
    x = np.clip(np.random.default_rng(3).normal(0, 0.5, (1, 49, 40, 1)), -1, 1).astype(np.float32)
    with litec.runtime.load(c.artifact, threads=1) as m:
        got = next(iter(m.run([x]).values()))
    np.testing.assert_array_equal(got, next(iter(litec.interpret(quantized, [x]).values())))


@pytest.mark.parametrize("mode", ["fp16", "dynamic"])
def test_weight_only_modes(capsys, tmp_path, mode):
    out = tmp_path / f"{mode}.tflite"
    rc, _, err = run_cli(capsys, "quantize", model_path(FLOAT), "--mode", mode, "-o", out)
    assert rc == 0, err
    x = np.clip(np.random.default_rng(5).normal(0, 0.5, (1, 49, 40, 1)), -1, 1).astype(np.float32)
    ours = next(iter(litec.interpret(litec.load(out), [x]).values()))
    ref = next(iter(litec.interpret(litec.load(model_path(FLOAT)), [x]).values()))
    assert np.max(np.abs(ours - ref)) < 0.05  # weights rounded: close, not equal


def test_files_are_protected(capsys, tmp_path, calibration):
    model = model_path(FLOAT)
    foreign = tmp_path / "mine.tflite"
    foreign.write_bytes(b"not litec's")
    rc, _, err = run_cli(capsys, "quantize", model, "--calibration", calibration, "-o", foreign)
    assert rc == 2 and "was not written by litec; use --force" in err
    assert foreign.read_bytes() == b"not litec's"
    copy = tmp_path / "model.tflite"
    copy.write_bytes(model.read_bytes())
    rc, _, err = run_cli(
        capsys, "quantize", copy, "--calibration", calibration, "-o", copy, "--force"
    )
    assert rc == 2 and "would overwrite the input model" in err


def test_bad_calibration_is_one_line(capsys, tmp_path):
    model = model_path(FLOAT)
    rc, _, err = run_cli(capsys, "quantize", model, "-o", tmp_path / "q.tflite")
    assert rc == 2 and "needs calibration data: --calibration DATA.npz" in err
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, other=np.zeros((2, 49, 40, 1), np.float32))
    rc, _, err = run_cli(
        capsys, "quantize", model, "--calibration", wrong, "-o", tmp_path / "q.tflite"
    )
    assert rc == 2 and "unknown input 'other'" in err
    assert not (tmp_path / "q.tflite").exists()


def test_modes_agree_with_the_driver():
    assert set(cli.QUANTIZE_MODES) == set(driver.QUANTIZE_MODES)
