"""Graph clean-up passes on `tfl` IR: canonicalize, constant folding, dead-code elimination.

Each pass is one file here, registered in `PASSES` (name -> (module, class)); its FileCheck
test is tests/filecheck/canonicalize/<name>.mlir.
"""

PASSES: dict[str, tuple[str, str]] = {
    "canonicalize": ("canonicalize", "CanonicalizePass"),
    "fold-constants": ("fold_constants", "FoldConstantsPass"),
    "dce": ("dce", "DeadCodeEliminationPass"),
}
