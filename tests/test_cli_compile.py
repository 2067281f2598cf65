"""The command line of the CPU path: compile (stages, report, overwrites), run, inspect, bench.

The kernels are this suite's own small generators (tests/test_driver.py), so these tests
check the command line, not the kernel library.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import test_driver

import litec
from litec.cli import main

chain_model = test_driver.chain_model
int_model = test_driver.int_model
test_kernels = test_driver.test_kernels
needs_backend = test_driver.needs_backend


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """`litec ARGS` in this process: (exit status, stdout, stderr)."""
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


# ----------------------------------------------------------------------------- compile


def test_report_and_stop_early(test_kernels, chain_model, tmp_path, capsys):
    rc, out, err = run_cli(
        capsys, "compile", chain_model, "--report", "--compile-to", "partitioned"
    )
    assert rc == 0, err
    assert out.splitlines()[0].split() == ["op", "builtin", "target", "reason"]
    assert "#2  MUL      cpu     supported" in out
    assert out.splitlines()[-1] == "4 ops: 4 on cpu"
    assert [line.split()[1] for line in err.splitlines()] == ["tfl", "graph", "partitioned"]
    assert not list(tmp_path.glob("*.litec"))


def test_emit_without_output_stops_there(test_kernels, chain_model, capsys):
    rc, out, err = run_cli(capsys, "compile", chain_model, "--emit", "kernel", "-q")
    assert rc == 0 and err == ""
    assert out.startswith("builtin.module") and "func.func @k0_add" in out


def test_emit_tfl_parses_back(test_kernels, chain_model, tmp_path, capsys):
    rc, out, _ = run_cli(capsys, "compile", chain_model, "--emit", "partitioned", "-q")
    assert rc == 0
    text = tmp_path / "p.mlir"
    text.write_text(out)
    module = litec.load(text)
    assert "litec.target" in litec.print_mlir(module, resources=False)


def test_unsupported_op_is_one_line_exit_2(test_kernels, int_model, capsys):
    rc, out, err = run_cli(capsys, "compile", int_model, "--report", "-q")
    assert rc == 2
    assert err == "litec: error: mixed.tflite: op #0 ADD: test kernels are float32 only\n"
    assert "1 without a kernel" in out  # the report is printed before the error


def test_bad_stage_and_target(chain_model, capsys):
    rc, _, err = run_cli(capsys, "compile", chain_model, "--target", "tpu")
    assert rc == 2 and err.startswith("litec: error: unknown target 'tpu'")
    rc, _, err = run_cli(capsys, "compile", chain_model, "--emit", "llvm", "--compile-to", "tfl")
    assert rc == 2 and "--emit llvm comes after --compile-to tfl" in err


def test_missing_model(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "compile", tmp_path / "nope.tflite", "-o", tmp_path / "x.litec")
    assert rc == 2 and err.count("\n") == 1 and "nope.tflite" in err


def test_refuses_to_overwrite_other_files(chain_model, tmp_path, capsys):
    precious = tmp_path / "precious.litec"
    precious.write_text("not an artifact")
    rc, _, err = run_cli(capsys, "compile", chain_model, "-o", precious)
    assert rc == 2 and "not written by litec; use --force" in err
    assert precious.read_text() == "not an artifact"


# ----------------------------------------------------------------------------- run, inspect, bench


@pytest.fixture
def artifact(test_kernels, chain_model, tmp_path, capsys):
    out = tmp_path / "chain.litec"
    rc, _, err = run_cli(capsys, "compile", chain_model, "-o", out)
    assert rc == 0, err
    assert f"litec: wrote {out}" in err.splitlines()[-1]
    return out


@needs_backend
def test_compile_overwrites_its_own_artifact(artifact, chain_model, capsys):
    before = artifact.read_bytes()
    rc, _, err = run_cli(capsys, "compile", chain_model, "-o", artifact, "-q")
    assert rc == 0 and err == "" and artifact.read_bytes() == before


@needs_backend
def test_force_overwrites(test_kernels, chain_model, tmp_path, capsys):
    precious = tmp_path / "precious.litec"
    precious.write_text("not an artifact")
    rc, _, _ = run_cli(capsys, "compile", chain_model, "-o", precious, "--force", "-q")
    assert rc == 0 and precious.read_bytes() != b"not an artifact"


@needs_backend
def test_run_matches_the_reference(artifact, chain_model, tmp_path, capsys):
    from litec.cli import read_npz, write_npz

    module = litec.load(chain_model)
    inputs = litec.random_inputs(module, seed=5)
    write_npz(tmp_path / "in.npz", inputs)
    rc, _, err = run_cli(
        capsys, "run", artifact, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "o.npz"
    )
    assert rc == 0, err
    ours = read_npz(tmp_path / "o.npz")
    ref = litec.interpret(module, inputs)
    assert list(ours) == list(ref) == ["y"]
    np.testing.assert_allclose(ours["y"], ref["y"], rtol=1e-6)


@needs_backend
def test_run_random_inputs_repeat_and_profile(artifact, tmp_path, capsys):
    trace = tmp_path / "trace.json"
    rc, out, err = run_cli(capsys, "run", artifact, "--repeat", 3, "--profile", trace)
    assert rc == 0, err
    assert out.startswith("y: float32[2x4]")
    assert "seeded random inputs" in err and "3 runs: median" in err
    events = json.loads(trace.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    assert {e["name"] for e in events} >= {"ADD", "MUL"}


@needs_backend
def test_run_wrong_input_is_one_line(artifact, tmp_path, capsys):
    from litec.cli import write_npz

    write_npz(tmp_path / "in.npz", {"nope": np.zeros(8, np.float32)})
    rc, _, err = run_cli(capsys, "run", artifact, "--inputs", tmp_path / "in.npz")
    assert rc == 2 and err.startswith("litec: error:") and err.count("\n") == 1


@needs_backend
def test_run_not_an_artifact(chain_model, capsys):
    rc, _, err = run_cli(capsys, "run", chain_model)
    assert rc == 2 and err.startswith("litec: error:") and err.count("\n") == 1


@needs_backend
def test_inspect_artifact(artifact, capsys):
    rc, out, _ = run_cli(capsys, "inspect", artifact)
    assert rc == 0
    assert out.startswith(f"artifact: {artifact}")
    assert "a: float32[8]" in out and "y: float32[2x4]" in out
    assert "arena " in out and "lower bound" in out
    assert "  cpu: 3 kernel" in out
    rc, out, _ = run_cli(capsys, "inspect", artifact, "--json")
    info = json.loads(out)
    assert info["steps"] == {"cpu": {"kernel": 3}}
    assert info["arena_size"] >= info["arena_lower_bound"] > 0
    assert [s["backend"] for s in info["sections"]] == ["cpu"]


@needs_backend
def test_bench(test_kernels, chain_model, capsys):
    rc, out, err = run_cli(capsys, "bench", chain_model, "--repeat", 5, "--warmup", 1)
    assert rc == 0, err
    assert "threads 1" in out and "5 runs: median" in out and "lower bound" in out
