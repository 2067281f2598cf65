"""Reference kernels: control."""

from litec.dialects.tfl_reference.core import kernel  # noqa: F401
