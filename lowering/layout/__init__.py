"""Layout passes on `tfl` IR: per-target layouts chosen, propagated, and the transposes
this creates cancelled.

Each pass is one file here, registered in `PASSES` (name -> (module, class)); its FileCheck
test is tests/filecheck/layout/<name>.mlir.
"""

PASSES: dict[str, tuple[str, str]] = {}
