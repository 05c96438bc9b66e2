"""Reads raw tables from files or SQL databases and checks them against sources.yml.

Every check names the table, the column and the problem, and points at rows by number, never
by value: raw values of identifier and sensitive columns must not reach logs.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import polars as pl

from anon_platform.catalog.specs import ColumnType, FileLocation, SqlLocation, TableSpec
from anon_platform.errors import SourceDataError
from anon_platform.sources.files import (
    POLARS_TYPES,
    date_layouts,
    nan_to_null,
    read_file,
    refuse_mixed_dates,
    refuse_non_finite,
    refuse_too_few_rows,
    rows_text,
)

_LOG = logging.getLogger(__name__)
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
_DATETIME_FORMATS = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
_rows = rows_text


def _parse_strings(series: pl.Series, column_type: ColumnType) -> pl.Series:
    text = series.str.strip_chars()
    text = pl.select(pl.when(text.str.len_chars() == 0).then(None).otherwise(text)).to_series()
    match column_type:
        case ColumnType.STRING:
            return series
        case ColumnType.INTEGER:
            return text.cast(pl.Int64, strict=False)
        case ColumnType.FLOAT:
            return text.cast(pl.Float64, strict=False)
        case ColumnType.BOOLEAN:
            lower = text.str.to_lowercase()
            return pl.select(
                pl.when(lower.is_in(_TRUE)).then(True).when(lower.is_in(_FALSE)).then(False)
            ).to_series()
        case ColumnType.DATE:
            return text.str.to_date("%Y-%m-%d", strict=False)
        case ColumnType.DATETIME:
            parsed = [
                text.str.to_datetime(f, strict=False, time_unit="us") for f in _DATETIME_FORMATS
            ]
            return pl.select(pl.coalesce(parsed)).to_series()
    raise AssertionError(column_type)


def coerce_column(table: str, series: pl.Series, column_type: ColumnType) -> pl.Series:
    """`series` converted to the declared type; a value that does not convert is an error, and
    so is an infinite number (NaN is read as a missing value); dates in more than one layout
    are refused as such."""
    target = POLARS_TYPES[column_type]
    if series.dtype == pl.String and column_type != ColumnType.STRING:
        converted = _parse_strings(series, column_type)
        was_blank = series.str.strip_chars().str.len_chars() == 0
        failed = converted.is_null() & series.is_not_null() & ~was_blank.fill_null(False)
    elif series.dtype == pl.Null:
        converted, failed = series.cast(target), pl.Series([False] * len(series))
    else:
        try:
            converted = series.cast(target, strict=False)
        except pl.exceptions.InvalidOperationError:
            converted = pl.Series(series.name, [None] * len(series), dtype=target)
        failed = converted.is_null() & series.is_not_null()
        if column_type == ColumnType.INTEGER and series.dtype.is_float():
            failed = failed | (series.is_not_null() & (series != series.round(0)))
    if (
        failed.any()
        and series.dtype == pl.String
        and column_type in (ColumnType.DATE, ColumnType.DATETIME)
    ):
        layouts = date_layouts(series.drop_nulls().str.strip_chars())
        if layouts is not None:
            refuse_mixed_dates(table, series.name, layouts)
    if failed.any():
        raise SourceDataError(
            table,
            series.name,
            f"{int(failed.sum())} value(s) are not of declared type {column_type.value} "
            f"({_rows(failed)})",
        )
    converted = nan_to_null(converted.cast(target)).alias(series.name)
    refuse_non_finite(table, converted)
    return converted


def _check_columns(spec: TableSpec, found: list[str]) -> None:
    declared = spec.column_names
    missing = [c for c in declared if c not in found]
    if missing:
        raise SourceDataError(
            spec.name,
            missing[0],
            f"declared column is missing from the source (missing: {', '.join(missing)})",
        )
    unknown = [c for c in found if c not in declared]
    if unknown:
        raise SourceDataError(
            spec.name,
            unknown[0],
            f"unknown column, not declared in sources.yml (schema drift: {', '.join(unknown)})",
        )


def conform(spec: TableSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with exactly the declared columns, in order, of the declared types.

    Raises SourceDataError for missing or unknown columns, an empty table or one with fewer
    than `spec.min_rows` rows, unconvertible or infinite values, dates in mixed layouts, nulls
    in a non-nullable column, and null or duplicate primary keys.
    """
    _check_columns(spec, frame.columns)
    if frame.height == 0:
        raise SourceDataError(spec.name, None, "the table is empty (0 rows)")
    refuse_too_few_rows(spec.name, frame.height, spec.min_rows)
    columns = [coerce_column(spec.name, frame[c.name], c.type) for c in spec.columns]
    result = pl.DataFrame(columns)
    for column in spec.columns:
        nulls = result[column.name].is_null()
        if not column.nullable and nulls.any():
            raise SourceDataError(
                spec.name,
                column.name,
                f"{int(nulls.sum())} null value(s) in a non-nullable column ({_rows(nulls)})",
            )
    if spec.primary_key:
        key = result[spec.primary_key]
        if key.is_null().any():
            raise SourceDataError(
                spec.name, spec.primary_key, f"null primary key ({_rows(key.is_null())})"
            )
        duplicated = key.is_duplicated()
        if duplicated.any():
            raise SourceDataError(
                spec.name, spec.primary_key, f"duplicate primary key values ({_rows(duplicated)})"
            )
    return result


def check_foreign_keys(
    spec: TableSpec, frame: pl.DataFrame, parents: dict[str, pl.DataFrame]
) -> None:
    """Every non-null foreign key of `frame` matches a row of its parent, else SourceDataError."""
    for fk in spec.foreign_keys:
        parent_keys = parents[fk.parent_table][fk.parent_column]
        values = frame[fk.column]
        dangling = values.is_not_null() & ~values.is_in(parent_keys.implode(), nulls_equal=False)
        if dangling.any():
            raise SourceDataError(
                spec.name,
                fk.column,
                f"{int(dangling.sum())} foreign key value(s) match no row of '{fk.references}' "
                f"({_rows(dangling)})",
            )


def _read_file(spec: TableSpec, path: Path, file_format: str) -> pl.DataFrame:
    read = read_file(spec.name, path, file_format)
    for note in read.notes:  # e.g. a sniffed separator
        _LOG.warning("table '%s': %s", spec.name, note)
    return read.frame


def database_url(location: SqlLocation) -> str:
    """The SQLAlchemy URL of a SQL source (from the env var when `url_env` is given)."""
    if location.url is not None:
        return location.url
    assert location.url_env is not None
    url = os.environ.get(location.url_env)
    if not url:
        raise SourceDataError(
            location.table,
            None,
            f"environment variable {location.url_env} (the database URL) is not set",
        )
    return url


def _read_sql(spec: TableSpec, location: SqlLocation) -> pl.DataFrame:
    # Imported here: generators import this module for `fingerprint`, and `anon train` on a
    # file should not load SQLAlchemy.
    import sqlalchemy as sa

    engine = sa.create_engine(database_url(location))
    try:
        table = sa.Table(location.table, sa.MetaData(), schema=location.db_schema)
        query = sa.select(sa.text("*")).select_from(table)
        with engine.connect() as connection:
            return pl.read_database(query, connection, infer_schema_length=None)
    except sa.exc.SQLAlchemyError as err:
        reason = str(err.orig) if getattr(err, "orig", None) else str(err)
        raise SourceDataError(
            spec.name,
            None,
            f"cannot read SQL table "
            f"'{location.db_schema or ''}{'.' if location.db_schema else ''}"
            f"{location.table}': {reason.strip().splitlines()[0]}",
        ) from err
    finally:
        engine.dispose()


def read_source(spec: TableSpec, base_dir: Path) -> pl.DataFrame:
    """Read a raw table (file or SQL) as is, without conforming it; relative paths from base_dir."""
    location = spec.location
    if isinstance(location, FileLocation):
        path = location.path if location.path.is_absolute() else base_dir / location.path
        return _read_file(spec, path.resolve(), location.resolved_format)
    return _read_sql(spec, location)


def fingerprint(frame: pl.DataFrame) -> str:
    """A content fingerprint of a conformed table: sha256 over its CSV rendering."""
    digest = hashlib.sha256()
    digest.update(",".join(f"{n}:{t}" for n, t in frame.schema.items()).encode())
    for chunk in frame.iter_slices(50_000):
        digest.update(chunk.write_csv(include_header=False).encode())
    return "sha256:" + digest.hexdigest()
