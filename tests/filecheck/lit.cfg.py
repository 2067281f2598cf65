"""lit configuration for litec's FileCheck tests (`lit tests/filecheck -v`)."""

import os
import sys
from pathlib import Path

import lit.formats

config.name = "litec"  # noqa: F821 - lit provides `config`
config.test_format = lit.formats.ShTest(execute_external=False)  # noqa: F821
config.suffixes = [".mlir"]  # noqa: F821
config.test_source_root = os.path.dirname(__file__)  # noqa: F821
config.environment["PATH"] = os.environ.get("PATH", "")  # noqa: F821
config.environment["HOME"] = os.environ.get("HOME", "")  # noqa: F821
for var in ("LITEC_CACHE", "LITEC_CORPUS"):
    if var in os.environ:
        config.environment[var] = os.environ[var]  # noqa: F821

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from litec.models import corpus_dir  # noqa: E402

corpus = corpus_dir()
if corpus is not None:
    config.available_features.add("corpus")  # noqa: F821
    config.substitutions.append(("%corpus", str(corpus)))  # noqa: F821
config.substitutions.append(("%python", sys.executable))  # noqa: F821
