"""Exceptions the platform raises for bad input and bad configuration.

Every message names where the problem is (file, table, column) and what is wrong, and never
contains a raw value of a sensitive column.
"""


class AnonPlatformError(Exception):
    """Base class of every error the platform raises on purpose."""


class CatalogError(AnonPlatformError):
    """sources.yml or releases.yml is missing, malformed, or inconsistent."""


class SqlModelError(AnonPlatformError):
    """A dbt_like_sql model cannot be parsed, refers to an unknown name, or forms a cycle."""


class SourceDataError(AnonPlatformError):
    """A raw table does not match what sources.yml declares (columns, types, keys, emptiness)."""

    def __init__(self, table: str, column: str | None, problem: str) -> None:
        self.table = table
        self.column = column
        self.problem = problem
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {problem}")


class GeneratorError(AnonPlatformError):
    """A generator cannot be built, fitted, sampled, saved or loaded."""


class ReleaseError(AnonPlatformError):
    """A release cannot be written (the release zone is left untouched). `reasons` are the
    lines the audit log records: failed expectations or the stale artifact, never raw values."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or [message]


class GateError(AnonPlatformError):
    """A gate cannot be evaluated (a misconfigured expectation): an error, not a data failure."""
