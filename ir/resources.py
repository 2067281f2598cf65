"""Constant data as `dense_resource` blobs.

Constants never become per-element attributes: each is a `dense_resource<handle>`
whose bytes live in a process-wide store keyed by handle (xDSL's blob store is
process-global too, so handles are made unique per model). The store holds raw bytes;
the attribute's tensor type says how to view them.

Printing hands the bytes to xDSL's builtin resource table as MLIR's hex form (a 4-byte
little-endian alignment, then the data); parsing reads them back from there.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
from xdsl.dialects.builtin import Builtin

_BLOBS: dict[str, bytes] = {}
_ALIGNMENT_PREFIX = (64).to_bytes(4, "little").hex()


def _xdsl_store() -> OpAsmDialectInterface:
    interface = Builtin.get_interface(OpAsmDialectInterface)
    assert interface is not None
    return interface


def add_blob(name: str, data: bytes) -> str:
    """Store `data` under a handle derived from `name`; returns the (unique) handle."""
    handle, n = name, 0
    while handle in _BLOBS and _BLOBS[handle] != data:
        n += 1
        handle = f"{name}_{n}"
    _BLOBS[handle] = data
    return handle


def get_blob(handle: str) -> bytes:
    """The bytes of a resource."""
    if handle not in _BLOBS:
        raise KeyError(f"no data for resource '{handle}'")
    return _BLOBS[handle]


@contextmanager
def exported_blobs(handles):
    """While printing: xDSL's resource table holds the hex text of these resources.

    The table is emptied again afterwards, because xDSL renames a parsed resource whose
    handle is already in its table.
    """
    store = _xdsl_store()
    handles = set(handles)
    for handle in handles:
        store._blob_storage[handle] = "0x" + _ALIGNMENT_PREFIX + get_blob(handle).hex()
    try:
        yield
    finally:
        for handle in handles:
            store._blob_storage.pop(handle, None)


def take_parsed(handles) -> None:
    """After parsing: move the resources xDSL read from text into our store (text wins)."""
    store = _xdsl_store()
    for handle in handles:
        text = store._blob_storage.pop(handle, None)
        if text:
            _BLOBS[handle] = bytes.fromhex(text[2 + len(_ALIGNMENT_PREFIX) :])


def blob_array(handle: str, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only numpy view of a resource."""
    arr = np.frombuffer(get_blob(handle), dtype=dtype)
    return arr.reshape(shape)
