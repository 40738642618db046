"""Exceptions of the scoring library. Each says what was expected, what was got and what to do."""

from __future__ import annotations

from dataclasses import dataclass

MAX_SHOWN = 20


@dataclass(frozen=True)
class RowError:
    """One bad row: ``row`` counts data rows from 1 (the header is not a row); 0 means the whole file."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = "file" if self.row == 0 else f"row {self.row}"
        return f"{where}: {self.column + ': ' if self.column else ''}{self.message}"


class ImportValidationError(ValueError):
    """An input file failed validation; nothing was written. ``errors`` lists every bad row."""

    def __init__(self, file_name: str, errors: list[RowError], total_rows: int | None = None):
        self.file_name = file_name
        self.errors = errors
        self.total_rows = total_rows
        super().__init__(self._message())

    def _message(self) -> str:
        n = len(self.errors)
        head = f"{self.file_name}: {n} error{'s' if n != 1 else ''}"
        if self.total_rows is not None:
            head += f" in {self.total_rows} rows"
        head += "; nothing was imported (rows are numbered from 1 after the header)"
        lines = [head] + [f"  {e}" for e in self.errors[:MAX_SHOWN]]
        if n > MAX_SHOWN:
            lines.append(f"  … and {n - MAX_SHOWN} more")
        return "\n".join(lines)


class UnknownModelError(ValueError):
    """A model name that is not in the registry."""


class UnknownProductError(ValueError):
    """Product ids that are not in the catalog."""


class EmptyQueryError(ValueError):
    """A query that is empty or only whitespace."""
