"""The CPU executor: runs kernels from the artifact's shared object through ctypes.

    ex = CpuExecutor(section, threads=None)
    fn = ex.kernel("k3_conv_2d")      # fn(addresses) calls void k3_conv_2d(void *, ...)

The section's bytes are a shared object; it is written to a private temporary file
(mode 0600), loaded with `ctypes.CDLL` and the file removed at once. ctypes releases the
GIL during each call, so the model (runtime/model.py) runs the parts of a split kernel step
on several threads at once; the executor itself only records `threads`.

`check_target(fingerprint)` compares the artifact's target fingerprint with this machine:
its architecture, and every CPU feature the code was built for that this module knows how
to look up (`FEATURE_FLAGS`, from /proc/cpuinfo).
"""

from __future__ import annotations

import _ctypes
import ctypes
import os
import platform
import tempfile
from collections.abc import Callable

from litec.runtime.errors import LitecError
from litec.runtime.executor import Executor
from litec.runtime.plan import SectionData

FEATURE_FLAGS = {
    "sse": "sse",
    "sse2": "sse2",
    "sse3": "pni",
    "ssse3": "ssse3",
    "sse4.1": "sse4_1",
    "sse4.2": "sse4_2",
    "sse4a": "sse4a",
    "popcnt": "popcnt",
    "lzcnt": "abm",
    "bmi": "bmi1",
    "bmi2": "bmi2",
    "movbe": "movbe",
    "f16c": "f16c",
    "fma": "fma",
    "avx": "avx",
    "avx2": "avx2",
    "avx512f": "avx512f",
    "avx512cd": "avx512cd",
    "avx512bw": "avx512bw",
    "avx512dq": "avx512dq",
    "avx512vl": "avx512vl",
    "avx512ifma": "avx512ifma",
    "avx512vbmi": "avx512vbmi",
    "avx512vbmi2": "avx512_vbmi2",
    "avx512vnni": "avx512_vnni",
    "avx512bitalg": "avx512_bitalg",
    "avx512vpopcntdq": "avx512_vpopcntdq",
    "avx512bf16": "avx512_bf16",
    "avx512fp16": "avx512_fp16",
    "avxvnni": "avx_vnni",
    "amx-tile": "amx_tile",
    "amx-int8": "amx_int8",
    "amx-bf16": "amx_bf16",
    "gfni": "gfni",
    "vaes": "vaes",
    "vpclmulqdq": "vpclmulqdq",
    "aes": "aes",
    "pclmul": "pclmulqdq",
    "sha": "sha_ni",
    "adx": "adx",
}
"""LLVM x86 feature name -> its /proc/cpuinfo flag: the features kernels may use."""

_MACHINES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}


def parse_fingerprint(fingerprint: str) -> tuple[str, set[str]]:
    """(triple, features the code needs) from `"<triple> [<cpu>] [+f1,+f2,-f3...]"`."""
    tokens = fingerprint.split()
    features = {
        f[1:] for tok in tokens if tok[:1] in "+-" for f in tok.split(",") if f.startswith("+")
    }
    return (tokens[0] if tokens else ""), features


def host_flags() -> set[str] | None:
    """This CPU's feature flags from /proc/cpuinfo, or None where there is none to read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def check_target(fingerprint: str, flags: set[str] | None = None) -> None:
    """Raise a `LitecError` when this machine cannot run code built for `fingerprint`."""
    triple, features = parse_fingerprint(fingerprint)
    if not triple:
        return
    arch = _MACHINES.get(triple.split("-")[0].lower(), triple.split("-")[0])
    here = _MACHINES.get(platform.machine().lower(), platform.machine())
    if arch != here:
        raise LitecError(f"the artifact was compiled for {arch} ({triple}); this machine is {here}")
    flags = host_flags() if flags is None else flags
    if flags is None:
        return
    missing = sorted(f for f in features if f in FEATURE_FLAGS and FEATURE_FLAGS[f] not in flags)
    if missing:
        raise LitecError(
            f"the artifact needs CPU features this machine lacks: {', '.join(missing)} "
            f"(compiled for '{fingerprint.split(' +')[0]}'); compile it again for this "
            "machine, or with --portable"
        )


class CpuExecutor(Executor):
    """Loads a CPU section's shared object and hands out its kernels as callables."""

    name = "cpu"

    def __init__(self, section: SectionData, threads: int | None = None):
        self.threads = threads
        if "target" in section.meta:
            check_target(str(section.meta["target"]))
        self._lib = _load_shared_object(section.data)

    def kernel(self, symbol: str) -> Callable[[list[int]], None]:
        """`void symbol(void *, ...)` as a callable on a list of addresses."""
        try:
            fn = self._lib[symbol]
        except AttributeError:
            raise LitecError(f"the CPU code has no kernel '{symbol}'") from None
        fn.restype = None

        def call(addresses: list[int]) -> None:
            if fn.argtypes is None:
                fn.argtypes = [ctypes.c_void_p] * len(addresses)
            fn(*addresses)

        return call

    def close(self) -> None:
        """Unload the shared object; its kernels must not be called afterwards."""
        if self._lib is not None:
            _ctypes.dlclose(self._lib._handle)
            self._lib = None


def _load_shared_object(data: bytes) -> ctypes.CDLL:
    fd, path = tempfile.mkstemp(prefix="litec-", suffix=".so")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return ctypes.CDLL(path, mode=os.RTLD_LOCAL | os.RTLD_NOW)
    except OSError as e:
        raise LitecError(f"cannot load the artifact's CPU code: {e}") from None
    finally:
        os.unlink(path)
