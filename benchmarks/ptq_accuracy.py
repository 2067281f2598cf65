"""Post-training quantization accuracy: litec's int8 against TFLite's own int8 conversion.

For each float CNN of the corpus: calibrate on 100 samples drawn as the corpus generator drew
its representative data (`default_rng(1)`, the model's input distribution), quantize with
`quantize_model`, then on held-back inputs (`default_rng(12345)`) compare with the
float model: top-1 agreement and output SNR (dB), beside the corpus `*_int8.tflite` run with
its own int8 interface (input quantized with its scale / zero point, output dequantized).
The inputs only one of the two int8 models gets right decide which agrees more; their split
is tested for chance with an exact two-sided sign test (`p`): at 500 inputs gaps of about one
point are still chance, hence 2000 by default.
Calibration runs in the reference interpreter; the three models are then compiled for the CPU
backend and run from their artifacts (int8 bit-exact with the reference interpreter and
TFLite's reference kernels, float within tolerance), so many held-back inputs are cheap.

    python benchmarks/ptq_accuracy.py [--models kws_dscnn,opcov_cnn] [--calibration 100] [--test 2000]
        [--ranges minmax] [--no-bias-correction]   # these two: TFLite's converter's choices
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import litec
from litec.dialects.tfl_reference import signature
from litec.driver import compile_model
from litec.lowering.quantization.quantize import RANGE_CHOICES, quantize_model
from litec.models import corpus_dir
from litec.runtime import load

INPUTS: dict[str, Callable[[np.random.Generator, tuple], np.ndarray]] = {
    "pm1": lambda rng, shape: np.clip(rng.normal(0.0, 0.5, shape), -1, 1),
    "pix255": lambda rng, shape: np.clip(rng.normal(127.5, 50.0, shape), 0, 255),
    "std": lambda rng, shape: rng.normal(0.0, 1.0, shape),
}
"""The corpus generator's input distributions (make_corpus.py, INPUT_KINDS)."""

MODELS = {
    "kws_dscnn": "std",
    "mobilenet_v1": "pm1",
    "mobilenet_v2": "pm1",
    "mobilenet_v3_small": "pix255",
    "opcov_cnn": "pm1",
    "tiny_transformer": "std",
    "lstm": "std",
}
"""Float models of the corpus with an int8 twin -> their input distribution: the CNNs, the
transformer and the LSTM (for these two "top-1" is the argmax over the whole output; their
SNR is what counts)."""

CALIBRATION_SEED, TEST_SEED = 1, 12345


def draw(kind: str, seed: int, count: int, shape: tuple) -> list[np.ndarray]:
    """`count` float32 inputs of `shape`, drawn one after another as make_corpus.py does."""
    rng = np.random.default_rng(seed)
    return [INPUTS[kind](rng, shape).astype(np.float32) for _ in range(count)]


Runner = Callable[[np.ndarray], np.ndarray]


def cpu_runner(model: Path, workdir: Path) -> Runner:
    """Compile a `.tflite` / `.mlir` model for the CPU and run it on its first input."""
    artifact = workdir / f"{model.stem}.litec"
    artifact.write_bytes(compile_model(model).artifact)
    loaded = load(artifact)
    name = loaded.inputs[0].name
    return lambda x: next(iter(loaded.run({name: x}).values()))


def int8_interface(run: Runner, module) -> Runner:
    """Run an int8-interface model on a float input: quantize in, dequantize out."""
    i, o = signature(module).inputs[0][1], signature(module).outputs[0][1]

    def on_floats(x: np.ndarray) -> np.ndarray:
        q = np.clip(np.round(x / i.scale) + i.zero_point, -128, 127).astype(np.int8)
        return (run(q).astype(np.float32) - o.zero_point) * np.float32(o.scale)

    return on_floats


def compare(reference: list[np.ndarray], other: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """(per input: does the top-1 class agree, SNR in dB) of `other` against `reference`."""
    agree = np.array([a.argmax() == b.argmax() for a, b in zip(reference, other, strict=True)])
    ref = np.concatenate([a.ravel() for a in reference]).astype(np.float64)
    err = ref - np.concatenate([b.ravel() for b in other]).astype(np.float64)
    return agree, 10.0 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-30))


def measure(
    name: str, calibration: int, tests: int, workdir: Path, correct: bool, ranges: str
) -> dict:
    """One row of the table."""
    corpus = corpus_dir()
    fp32 = litec.load(corpus / f"{name}_fp32.tflite")
    iname, info = signature(fp32).inputs[0]
    samples = draw(MODELS[name], CALIBRATION_SEED, calibration, info.shape)
    start = time.perf_counter()
    ours = quantize_model(fp32, {iname: np.concatenate(samples)}, correct, ranges)
    seconds = time.perf_counter() - start
    ours_mlir = workdir / f"{name}_ptq.mlir"
    ours_mlir.write_text(litec.print_mlir(ours, resources=True))
    int8 = corpus / f"{name}_int8.tflite"
    xs = draw(MODELS[name], TEST_SEED, tests, info.shape)
    float_run = cpu_runner(corpus / f"{name}_fp32.tflite", workdir)
    reference = [float_run(x) for x in xs]
    litec_run = cpu_runner(ours_mlir, workdir)
    litec_agree, litec_snr = compare(reference, [litec_run(x) for x in xs])
    tflite_run = int8_interface(cpu_runner(int8, workdir), litec.load(int8))
    tflite_agree, tflite_snr = compare(reference, [tflite_run(x) for x in xs])
    return dict(
        model=name,
        litec_agree=100.0 * litec_agree.mean(),
        tflite_agree=100.0 * tflite_agree.mean(),
        only_litec=int(np.sum(litec_agree & ~tflite_agree)),
        only_tflite=int(np.sum(tflite_agree & ~litec_agree)),
        litec_snr=litec_snr,
        tflite_snr=tflite_snr,
        seconds=seconds,
    )


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if each
    discordant input were a fair coin."""
    n, k = wins + losses, min(wins, losses)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def table(rows: list[dict], calibration: int, tests: int, correct: bool, ranges: str) -> str:
    """The markdown table."""
    how = "with bias correction" if correct else "without bias correction"
    lines = [
        f"PTQ int8 vs float ({calibration} calibration samples, {tests} held-back inputs, "
        f"litec {ranges} activation ranges, {how})",
        "",
        "| model | top-1 agree litec | top-1 agree TFLite | right only in litec / only in "
        "TFLite (p) | SNR litec (dB) | SNR TFLite (dB) | calibrate + quantize (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['litec_agree']:.1f}% | {r['tflite_agree']:.1f}% "
            f"| {r['only_litec']} / {r['only_tflite']} ({sign_test(r['only_litec'], r['only_tflite']):.2g}) | {r['litec_snr']:.1f} | {r['tflite_snr']:.1f} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Measure and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--calibration", type=int, default=100)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument(
        "--no-bias-correction", dest="bias_correction", action="store_false",
        help="quantize without bias correction",
    )  # fmt: skip
    ap.add_argument("--ranges", default="mse", choices=RANGE_CHOICES, help="activation ranges")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            how = args.bias_correction, args.ranges
            rows.append(measure(name, args.calibration, args.test, Path(tmp), *how))
            print(rows[-1], flush=True)
    print(table(rows, args.calibration, args.test, *how))


if __name__ == "__main__":
    main()
