"""User-facing errors (at the bottom of the stack: the runtime raises them too).

Every error a user can cause (a bad file, an unsupported op, a wrong input) is a
`LitecError`. Its text is one line: `FILE: op #N BUILTIN: what is wrong`, with the parts
that are known. The command line prints it as `litec: error: ...` and exits with 2.
"""

from __future__ import annotations


class LitecError(Exception):
    """An error the user can act on; printed as one line, never as a traceback."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        op_index: int | None = None,
        op_name: str | None = None,
        subgraph: int = 0,
    ):
        super().__init__(message)
        self.message = message
        self.file = file
        self.op_index = op_index
        self.op_name = op_name
        self.subgraph = subgraph

    def at(
        self, *, file: str | None = None, op_index: int | None = None, op_name: str | None = None
    ) -> LitecError:
        """Fill in the location parts that are still unknown; returns self."""
        self.file = self.file or file
        if self.op_index is None:
            self.op_index = op_index
        self.op_name = self.op_name or op_name
        return self

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.op_index is not None:
            where = f"op #{self.op_index}"
            if self.subgraph:
                where = f"subgraph {self.subgraph} {where}"
            if self.op_name:
                where += f" {self.op_name}"
            parts.append(where)
        elif self.op_name:
            parts.append(self.op_name)
        parts.append(self.message)
        return ": ".join(parts)
