"""Reference kernels: sequence."""

from litec.dialects.tfl_reference.core import kernel  # noqa: F401
