"""TFLite itself (ai-edge-litert, BUILTIN_REF kernels) as the oracle, run in a child process.

TFLite's reference int8 softmax can abort and some models double-free at teardown, so
the oracle never runs in the test process: a child runs it and writes an `.npz`; a
crash becomes a test failure with TFLite's message. Results are cached on disk by
(model sha256, inputs hash, mode) under `$LITEC_CACHE/oracle` (default
`~/.cache/litec/oracle`).

Two modes:
- `run_oracle(model, inputs)`: the outputs, keyed by output name in signature order.
- `run_oracle(model, inputs, all_tensors=True)`: every tensor of subgraph 0 after the
  run, keyed `t<index>` (TFLite's `experimental_preserve_all_tensors`), for op-by-op diffs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

_CHILD = r"""
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
model, inp, out, mode = sys.argv[1:5]
it = Interpreter(model_path=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                 experimental_preserve_all_tensors=(mode == "all"), num_threads=1)
it.allocate_tensors()
data = np.load(inp)
for i, d in enumerate(it.get_input_details()):
    it.set_tensor(d["index"], data[f"in{i}"])
it.invoke()
result = {}
if mode == "all":
    for d in it.get_tensor_details():
        try:
            result[f"t{d['index']}"] = it.get_tensor(d["index"])
        except ValueError:
            pass
for i, d in enumerate(it.get_output_details()):
    result[f"out{i}"] = it.get_tensor(d["index"])
np.savez(out, **result)
sys.stdout.flush()
import os; os._exit(0)   # skip teardown: some models double-free there
"""


class OracleError(RuntimeError):
    """TFLite failed (crashed, aborted or timed out) on this model and input."""


def cache_dir() -> Path:
    root = Path(os.environ.get("LITEC_CACHE", Path.home() / ".cache" / "litec"))
    path = root / "oracle"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _key(model: Path, arrays: list[np.ndarray], mode: str) -> str:
    h = hashlib.sha256(model.read_bytes())
    for a in arrays:
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(mode.encode())
    return h.hexdigest()[:32]


def run_oracle(
    model, inputs: list[np.ndarray], *, all_tensors: bool = False, timeout: float = 600
) -> dict[str, np.ndarray]:
    """TFLite BUILTIN_REF results for `inputs` (in input order); see the module doc for keys."""
    model = Path(model)
    mode = "all" if all_tensors else "out"
    cached = cache_dir() / f"{_key(model, inputs, mode)}.npz"
    if not cached.exists():
        with tempfile.TemporaryDirectory() as tmp:
            inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
            np.savez(inp, **{f"in{i}": a for i, a in enumerate(inputs)})
            try:
                proc = subprocess.run(
                    [sys.executable, "-c", _CHILD, str(model), str(inp), str(out), mode],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                raise OracleError(f"TFLite timed out after {timeout}s on {model.name}") from None
            if proc.returncode != 0 or not out.exists():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise OracleError(
                    f"TFLite failed on {model.name} (exit {proc.returncode}): " + " | ".join(tail)
                )
            tmp_cached = cached.with_suffix(".tmp.npz")
            os.replace(out, tmp_cached)
            os.replace(tmp_cached, cached)
    with np.load(cached) as data:
        return {k: data[k] for k in data.files}
