"""Errors that tell the user exactly where their input is wrong. The CLI prints each as one line and exits 2."""

from __future__ import annotations


class DenoiserecError(ValueError):
    """Base of the user-facing errors: bad data, bad settings, a refused output path, a corrupt checkpoint."""


class DataError(DenoiserecError):
    """Bad input data: names the file, the 1-based line (row) and the column when known."""

    def __init__(self, path: object, message: str, row: int | None = None, column: str | None = None):
        self.path, self.row, self.column, self.message = str(path), row, column, message
        where = [self.path]
        if row is not None:
            where.append(f"line {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


class ConfigError(DenoiserecError):
    """A bad experiment configuration (names the file and the key path, e.g. ``train.epochs``)."""


class OutputError(DenoiserecError):
    """An output path denoiserec refuses to write to (it would replace or delete something it did not create)."""


class CheckpointError(DenoiserecError):
    """A checkpoint file that cannot be read (truncated, garbage, or not written by denoiserec)."""
