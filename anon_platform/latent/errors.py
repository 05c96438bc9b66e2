"""Errors of the latent package (a subclass of the platform's base error, so the CLI and the
Dagster layer report them like any other)."""

from __future__ import annotations

from anon_platform.errors import AnonPlatformError


class EncoderError(AnonPlatformError):
    """An encoder cannot be trained, exported, loaded, or applied to the data it was given."""


class EncoderInputError(EncoderError):
    """Data handed to an encoder does not match its schema; names the column and the problem."""

    def __init__(self, source: str, column: str | None, problem: str) -> None:
        self.source = source
        self.column = column
        self.problem = problem
        where = f"{source}" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {problem}")
