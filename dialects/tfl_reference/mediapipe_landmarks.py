"""Reference kernels: MediaPipe landmark custom ops (Landmarks2TransformMatrix, TransformTensorBilinear, TransformLandmarks)."""

from litec.dialects.tfl_reference.core import kernel  # noqa: F401
