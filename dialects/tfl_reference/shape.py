"""Reference kernels: shape and data movement."""

from __future__ import annotations

import numpy as np
from litec.dialects.tfl_reference.core import kernel


@kernel("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape(call, x, *_):
    """The result type fixes the shape; the data are unchanged."""
    return np.reshape(x, call.out.shape)
