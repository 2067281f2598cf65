"""The CPU backend's graph pipelines on real models: -O0 and -O3 both within the contract
against TFLite (quantized bit-exact, float within 1e-4 x max(1, max|ref|)), and
`--verify-numerics` clean over every level's pipeline (the reference interpreter's outputs
unchanged by each pass: quantized exactly, float within 1e-5)."""

from __future__ import annotations

import pytest
from conftest import corpus_models, model_path
from test_compile_models import EXACT_FLOAT, compile_and_compare

import litec
from litec.backends.cpu.backend import CpuBackend
from litec.dialects import context
from litec.ir.passes import run_pipeline
from litec.lowering.passes import register_all
from litec.lowering.verify_numerics import VerifyNumerics

FAST = ["kws_dscnn_int8.tflite", "kws_dscnn_fp32.tflite"]


def verify_pipeline(name: str, level: int) -> list[str]:
    """Run the -O<level> pipeline with VerifyNumerics; the passes it checked."""
    register_all()
    check = VerifyNumerics()
    run_pipeline(
        litec.load(model_path(name)), CpuBackend.GRAPH_PIPELINES[level], context(), [check]
    )
    return check.checked


def compiled_within_contract(name: str, level: int) -> None:
    result = compile_and_compare(model_path(name), opt_level=level, exact_float=name in EXACT_FLOAT)
    bad = [f"{d.name}: {d}" for d in result.diffs if not d.ok]
    assert not bad, f"-O{level}: " + "; ".join(bad)


@pytest.mark.parametrize("name", FAST)
def test_small_models_at_every_level(name):
    for level in (0, 3):
        compiled_within_contract(name, level)
    assert len(verify_pipeline(name, 3)) == len(CpuBackend.GRAPH_PIPELINES[3].split(","))


@pytest.mark.slow
@pytest.mark.parametrize("name", [m for m in corpus_models() if m not in FAST])
def test_corpus_model_at_o0_and_o3(name):
    compiled_within_contract(name, 0)
    compiled_within_contract(name, 3)


@pytest.mark.slow
@pytest.mark.parametrize("name", corpus_models())
def test_verify_numerics_is_clean(name):
    for level in (1, 2, 3):
        assert verify_pipeline(name, level)
