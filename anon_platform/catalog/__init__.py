"""The catalog: typed specs of raw tables, column roles, SQL models and release plans."""

from anon_platform.catalog.loader import Catalog, ReleaseColumn, load_catalog
from anon_platform.catalog.specs import ColumnType, DatasetRelease, Role, TableSpec

__all__ = [
    "Catalog",
    "ColumnType",
    "DatasetRelease",
    "ReleaseColumn",
    "Role",
    "TableSpec",
    "load_catalog",
]
