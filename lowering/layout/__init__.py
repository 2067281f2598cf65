"""Layout passes on `tfl` IR: layout-sensitive ops converted to the layouts a target
prefers (the `litec.layout` attribute, dialects/tfl_layouts.py), and transposes moved
through layout-agnostic ops until they cancel (the CPU kernels compute in TFLite's NHWC,
so the layout work that pays there is removing the transposes that models converted from
NCHW frameworks carry).

Each pass is one file here, registered in `PASSES` (name -> (module, class)); its FileCheck
test is tests/filecheck/layout/<name>.mlir. permute.py holds how each layout-agnostic op
changes under a permutation.
"""

PASSES: dict[str, tuple[str, str]] = {
    "propagate-layout": ("propagate_layout", "PropagateLayoutPass"),
    "convert-layout": ("convert_layout", "ConvertLayoutPass"),
}
