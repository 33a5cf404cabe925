"""Errors that tell the user exactly where their input is wrong."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data: names the file, the 1-based line (row) and the column when known."""

    def __init__(self, path: object, message: str, row: int | None = None, column: str | None = None):
        self.path, self.row, self.column, self.message = str(path), row, column, message
        where = [self.path]
        if row is not None:
            where.append(f"line {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


class ConfigError(ValueError):
    """A bad experiment configuration (names the file and key)."""
