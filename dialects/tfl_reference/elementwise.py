"""Reference kernels: elementwise."""

from litec.dialects.tfl_reference.core import kernel  # noqa: F401
