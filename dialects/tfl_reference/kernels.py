"""Imports every kernel module so that its kernels register themselves."""

from litec.dialects.tfl_reference import (  # noqa: F401
    activations,
    control,
    conv,
    elementwise,
    fused,
    mediapipe,
    mediapipe_landmarks,
    pooling,
    reduce,
    sequence,
    shape,
)
