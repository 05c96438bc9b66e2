"""Runs dbt_like_sql models in DuckDB over Parquet files, and infers their output schema."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb
import polars as pl

from anon_platform.catalog.specs import ColumnType
from anon_platform.errors import SqlModelError
from anon_platform.sql.models import SqlModel

DUCKDB_TYPES: dict[ColumnType, str] = {
    ColumnType.STRING: "VARCHAR",
    ColumnType.INTEGER: "BIGINT",
    ColumnType.FLOAT: "DOUBLE",
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.DATE: "DATE",
    ColumnType.DATETIME: "TIMESTAMP",
}


def column_type_of_duckdb(duckdb_type: str) -> ColumnType | None:
    """The logical type of a DuckDB result type, or None when it has none."""
    t = duckdb_type.upper()
    if t in {"VARCHAR", "TEXT", "STRING", "UUID"} or t.startswith("ENUM"):
        return ColumnType.STRING
    if t in {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
    }:
        return ColumnType.INTEGER
    if t in {"FLOAT", "DOUBLE", "REAL"} or t.startswith("DECIMAL"):
        return ColumnType.FLOAT
    if t == "BOOLEAN":
        return ColumnType.BOOLEAN
    if t == "DATE":
        return ColumnType.DATE
    if t.startswith("TIMESTAMP"):
        return ColumnType.DATETIME
    return None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def infer_schema(
    model: SqlModel, input_schemas: Mapping[str, Mapping[str, ColumnType]]
) -> dict[str, ColumnType]:
    """Output columns and types of `model`, found by planning it over empty typed inputs.

    Raises SqlModelError naming the file when the SQL fails to bind (unknown column, bad
    function) or returns a column of a type the platform does not handle.
    """
    con = duckdb.connect()
    try:
        for name in (*model.source_refs, *model.model_refs):
            cols = ", ".join(
                f"{_quote(c)} {DUCKDB_TYPES[t]}" for c, t in input_schemas[name].items()
            )
            con.execute(f"CREATE TABLE {_quote(name)} ({cols})")
        try:
            described = con.execute(f"DESCRIBE {model.sql.strip().rstrip(';')}").fetchall()
        except duckdb.Error as err:
            raise SqlModelError(f"{model.path}: {err}") from err
    finally:
        con.close()
    schema: dict[str, ColumnType] = {}
    for row in described:
        column, duck_type = row[0], row[1]
        if column in schema:
            raise SqlModelError(f"{model.path}: output column '{column}' appears twice")
        logical = column_type_of_duckdb(duck_type)
        if logical is None:
            raise SqlModelError(
                f"{model.path}: output column '{column}' has type {duck_type}; cast it to one of "
                f"{', '.join(t.value for t in ColumnType)}"
            )
        schema[column] = logical
    return schema


def run_model(model: SqlModel, inputs: Mapping[str, Path]) -> pl.DataFrame:
    """Execute `model` in an in-memory DuckDB where each input is a view of its Parquet file."""
    con = duckdb.connect()
    try:
        for name in (*model.source_refs, *model.model_refs):
            path = str(inputs[name]).replace("'", "''")
            con.execute(f"CREATE VIEW {_quote(name)} AS SELECT * FROM read_parquet('{path}')")
        try:
            return con.sql(model.sql.strip().rstrip(";")).pl()
        except duckdb.Error as err:
            raise SqlModelError(f"{model.path}: {err}") from err
    finally:
        con.close()
