"""The catalog: typed specs of raw tables, column roles, SQL models and release plans."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from anon_platform.catalog.specs import ColumnType, DatasetRelease, Role, TableSpec

if TYPE_CHECKING:
    from anon_platform.catalog.loader import Catalog, ReleaseColumn, load_catalog

# The loader pulls in the SQL layer (sqlglot, DuckDB); code that only needs the specs or the
# schema (a generator in `anon train`) should not pay for it, so the loader loads on first use.
_FROM_LOADER = {"Catalog", "ReleaseColumn", "load_catalog"}


def __getattr__(name: str) -> Any:
    if name in _FROM_LOADER:
        return getattr(importlib.import_module("anon_platform.catalog.loader"), name)
    raise AttributeError(f"module 'anon_platform.catalog' has no attribute '{name}'")


__all__ = [
    "Catalog",
    "ColumnType",
    "DatasetRelease",
    "ReleaseColumn",
    "Role",
    "TableSpec",
    "load_catalog",
]
