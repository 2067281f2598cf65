"""Reference kernels: reduce."""

from litec.dialects.tfl_reference.core import kernel  # noqa: F401
