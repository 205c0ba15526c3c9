"""The one error the expression language raises: what is wrong, and where."""

from __future__ import annotations

from cvm.errors import InvalidError


class ExpressionError(InvalidError, ValueError):
    """A refused expression, with the 0-based character offset of the problem.

    The message names the line and column (1-based), the reason, and repeats the
    expression with a caret under the offending place.
    """

    def __init__(self, text: str, offset: int, reason: str) -> None:
        self.text = text
        self.offset = max(0, min(offset, len(text)))
        self.reason = reason
        before = text[: self.offset]
        self.line = before.count("\n") + 1
        self.column = self.offset - (before.rfind("\n") + 1) + 1
        super().__init__(self._message())

    def _message(self) -> str:
        line_text = self.text.splitlines()[self.line - 1] if self.text.strip() else self.text
        caret = " " * (self.column - 1) + "^"
        return f"{self.reason} (line {self.line}, column {self.column})\n    {line_text}\n    {caret}"
