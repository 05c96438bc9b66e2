"""Frames at a library boundary: polars <-> pandas in the declared types, and SDV metadata.

Data moves between steps as polars; pandas (and SDV's metadata) only where a library needs it.
SDV is imported on first use of `sdv_metadata`, so converting a frame does not load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import polars as pl

from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.sources.readers import POLARS_TYPES

if TYPE_CHECKING:
    from sdv.metadata import Metadata

SDTYPES: dict[ColumnType, str] = {
    ColumnType.STRING: "categorical",
    ColumnType.INTEGER: "numerical",
    ColumnType.FLOAT: "numerical",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "datetime",
    ColumnType.DATETIME: "datetime",
}

# an integer column with at most this many distinct values is categorical for SDV
MAX_CODES = 10


def to_pandas(frame: pl.DataFrame, columns: list[ColumnSchema]) -> pd.DataFrame:
    """The modelled columns of `frame` as pandas, dates and datetimes as datetime64[ns].

    Nanoseconds because RDT turns datetimes into integers assuming them: polars' microsecond
    datetimes otherwise came back 1,000 times too small (1970-01-21 instead of 2025).
    """
    out = frame.select([c.name for c in columns]).to_pandas()
    for column in columns:
        if column.type in (ColumnType.DATE, ColumnType.DATETIME):
            out[column.name] = pd.to_datetime(out[column.name]).astype("datetime64[ns]")
    return out


def from_pandas(frame: pd.DataFrame, columns: list[ColumnSchema]) -> pl.DataFrame:
    """A sampled pandas frame back in the declared polars types."""
    series = []
    for column in columns:
        values = frame[column.name]
        if column.type == ColumnType.INTEGER:
            values = pd.to_numeric(values, errors="coerce").round()
        elif column.type == ColumnType.BOOLEAN:
            values = values.astype("boolean")
        elif column.type in (ColumnType.DATE, ColumnType.DATETIME):
            values = pd.to_datetime(values, errors="coerce")
        s = pl.from_pandas(values).alias(column.name)
        series.append(s.cast(POLARS_TYPES[column.type], strict=False))
    return pl.DataFrame(series)


def sdv_metadata(
    table: TableSchema, columns: list[ColumnSchema], frame: pd.DataFrame | None = None
) -> Metadata:
    """SDV metadata of the modelled columns from the catalog's types (never auto-detected).

    An integer column with at most MAX_CODES distinct values in `frame` (a 0/1 label, a small
    count) is categorical: a continuous marginal would blur its few exact values.
    """
    from sdv.metadata import Metadata

    spec: dict[str, dict[str, Any]] = {}
    for column in columns:
        sdtype = SDTYPES[column.type]
        if (
            column.type == ColumnType.INTEGER
            and frame is not None
            and frame[column.name].nunique(dropna=True) <= MAX_CODES
        ):
            sdtype = "categorical"
        spec[column.name] = {"sdtype": sdtype}
    return Metadata.load_from_dict({"tables": {table.name: {"columns": spec}}})
