"""Sparse TFLite constants (SparsityParameters) made dense at import.

A sparse tensor stores its values in traversal order; each traversal level is either
DENSE (a fixed size) or SPARSE_CSR (segments + indices, as in CSR). Dimensions listed in
`block_map` are split into blocks whose size is the dense size of the extra traversal
level. TFLite's DENSIFY op turns such a constant into a dense tensor; litec does it once,
here, so the IR only ever holds dense constants.

The walk is vectorised level by level: at each level every live position expands into
its children, carrying the value index and the traversal coordinates.
"""

from __future__ import annotations

import numpy as np
import tflite
from tflite.DimensionType import DimensionType

_INDEX_VECTORS = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}


def _index_vector(kind: int, table) -> np.ndarray:
    if kind not in _INDEX_VECTORS or table is None:
        raise ValueError("a SPARSE_CSR dimension has no index vector")
    vec = _INDEX_VECTORS[kind]()
    vec.Init(table.Bytes, table.Pos)
    if vec.ValuesLength() == 0:
        return np.zeros(0, dtype=np.int64)
    return vec.ValuesAsNumpy().astype(np.int64)


def _expand_csr(idx: np.ndarray, segments: np.ndarray, indices: np.ndarray):
    """Children of each position `idx` in a CSR level: (value positions, coordinates)."""
    if idx.size and (idx.max() + 1 >= segments.size):
        raise ValueError("CSR segments are shorter than the dimension above them")
    starts, ends = segments[idx], segments[idx + 1]
    counts = ends - starts
    if (counts < 0).any() or (ends > indices.size).any():
        raise ValueError("CSR segments are not increasing or run past the indices")
    total = int(counts.sum())
    parent = np.repeat(np.arange(idx.size), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    children = np.repeat(starts, counts) + offsets
    return parent, children, indices[children]


def densify(sparsity, shape: tuple[int, ...], dtype: np.dtype, data: bytes) -> bytes:
    """Dense bytes of a sparse constant; raises ValueError when the metadata is inconsistent."""
    values = np.frombuffer(data, dtype=dtype)
    order = (
        [int(v) for v in sparsity.TraversalOrderAsNumpy()]
        if sparsity.TraversalOrderLength()
        else []
    )
    block_map = [int(v) for v in sparsity.BlockMapAsNumpy()] if sparsity.BlockMapLength() else []
    rank = len(shape)
    if not order:
        order = list(range(rank))
    if sparsity.DimMetadataLength() != len(order):
        raise ValueError("dimension metadata does not match the traversal order")
    block_size = {}
    for k, dim in enumerate(block_map):
        block_size[dim] = sparsity.DimMetadata(rank + k).DenseSize()

    idx = np.zeros(1, dtype=np.int64)
    coords = np.zeros((1, 0), dtype=np.int64)
    for level in range(len(order)):
        meta = sparsity.DimMetadata(level)
        if meta.Format() == DimensionType.DENSE:
            size = meta.DenseSize()
            parent = np.repeat(np.arange(idx.size), size)
            child_coord = np.tile(np.arange(size), idx.size)
            idx = (idx[:, None] * size + np.arange(size)).reshape(-1)
        else:
            segments = _index_vector(meta.ArraySegmentsType(), meta.ArraySegments())
            indices = _index_vector(meta.ArrayIndicesType(), meta.ArrayIndices())
            parent, idx, child_coord = _expand_csr(idx, segments, indices)
        coords = np.concatenate([coords[parent], child_coord[:, None]], axis=1)

    if idx.size and idx.max() >= values.size:
        raise ValueError("the sparse structure refers past the stored values")
    dense_index = np.zeros((idx.size, rank), dtype=np.int64)
    for level, dim in enumerate(order):
        if dim < rank:
            dense_index[:, dim] += coords[:, level] * block_size.get(dim, 1)
        else:
            dense_index[:, block_map[dim - rank]] += coords[:, level]
    if (dense_index >= np.asarray(shape)).any():
        raise ValueError("a sparse index lies outside the tensor's shape")
    dense = np.zeros(shape, dtype=dtype)
    dense[tuple(dense_index.T)] = values[idx]
    return dense.tobytes()
