"""Every real model through the reference interpreter, against TFLite's reference kernels.

Float outputs: max |litec - TFLite| <= 1e-5 * max(1, max |TFLite|); quantized outputs:
bit-exact. Seeded random inputs (floats uniform in [-1, 1), integers over their range).
"""

from __future__ import annotations

import pytest
from conftest import corpus_models, mediapipe_models, model_path
from harness import compare_model
from test_import import CUSTOM_OP_MODELS, TFLITE_CANNOT_RUN

MODELS = [
    m
    for m in corpus_models() + mediapipe_models()
    if m not in CUSTOM_OP_MODELS and m not in TFLITE_CANNOT_RUN
]


@pytest.mark.parametrize("name", MODELS)
def test_model_matches_tflite(name):
    diffs = compare_model(model_path(name), seed=0)
    bad = [f"{d.name}: {d}" for d in diffs if not d.ok]
    assert not bad, "; ".join(bad)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", MODELS)
def test_model_matches_tflite_more_seeds(name, seed):
    diffs = compare_model(model_path(name), seed=seed)
    bad = [f"{d.name}: {d}" for d in diffs if not d.ok]
    assert not bad, "; ".join(bad)
