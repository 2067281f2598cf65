"""Fusion passes on `tfl` IR: conv / depthwise / fully-connected + bias + activation,
batch-norm folding, pad into conv, elementwise chains, transpose / reshape elimination.

Each pass is one file here, registered in `PASSES` (name -> (module, class)); its FileCheck
test is tests/filecheck/fusion/<name>.mlir.
"""

PASSES: dict[str, tuple[str, str]] = {
    "fuse-conv-activation": ("fuse_conv_activation", "FuseConvActivationPass"),
    "fold-batch-norm": ("fold_batch_norm", "FoldBatchNormPass"),
    "fold-pad": ("fold_pad", "FoldPadPass"),
    "cancel-transposes": ("cancel_transposes", "CancelTransposesPass"),
    "fuse-elementwise": ("fuse_elementwise", "FuseElementwisePass"),
}
