"""The litec runtime: loads a compiled artifact and runs it (numpy + ctypes only).

    import litec.runtime
    m = litec.runtime.load("model.litec", threads=None)
    outputs = m.run({"input": x})

Everything here imports neither xDSL nor llvmlite (a test checks it), so an application
needs only numpy to run a CPU artifact. The numpy-only fixed-point helpers shared with the
compiler (`fixedpoint`, `gemmlowp`) live here too; `load` and `Model` are imported on
first use so that those helpers stay cheap to import.
"""

from __future__ import annotations

__all__ = ["Model", "load"]


def __getattr__(name: str):
    if name in __all__:
        from litec.runtime import model

        return getattr(model, name)
    raise AttributeError(f"module 'litec.runtime' has no attribute '{name}'")
