"""Reference kernels: conv."""

from litec.dialects.tfl_reference.core import kernel  # noqa: F401
