"""User-facing errors: `LitecError` lives at the bottom of the stack (runtime/errors.py),
so that the numpy-only runtime raises the same error type as the compiler above it."""

from litec.runtime.errors import LitecError

__all__ = ["LitecError"]
