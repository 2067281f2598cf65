"""Reference kernels for control flow: WHILE (kernels/while.cc)."""

from __future__ import annotations

import numpy as np

from litec.dialects.tfl_reference.core import KernelCall, kernel


@kernel("WHILE")
def while_loop(call: KernelCall, *values: np.ndarray) -> list[np.ndarray]:
    """TFLite WHILE: run the `body` function on the loop values while `cond` returns true.

    Both are functions of the module (TFLite subgraphs) taking all loop values; `cond`
    returns one boolean, `body` the next loop values. The outputs are the final values.
    """
    cond, body = call.opts["cond"], call.opts["body"]
    loop = list(values)
    while _condition(call, call.run_function(cond, loop)):
        loop = call.run_function(body, loop)
        if len(loop) != len(values):
            raise call.error(f"the body @{body} returns {len(loop)} values, not {len(values)}")
    return loop


def _condition(call: KernelCall, results: list[np.ndarray]) -> bool:
    if len(results) != 1 or np.size(results[0]) != 1:
        raise call.error(f"the condition @{call.opts['cond']} must return one boolean")
    return bool(np.asarray(results[0]).reshape(()))
