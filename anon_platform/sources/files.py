"""Reading a csv or parquet table file: the one place the pipeline and the CLI read files.

`read_file` returns the cells as stored (csv: every column a string) and refuses what a reader
would otherwise "learn" silently: duplicate column names, a file that reads as one column whose
header holds another separator, rows with more or fewer fields than the header, text that is not
UTF-8. A csv separated by `;`, tab or `|` is sniffed from its header and first rows and read
with that separator (the note says so). `read_typed_table` (the CLI) then infers column types
and refuses non-finite numbers and date columns in mixed formats; `table_schema` builds the
one-table schema the CLI commands train and evaluate with.

Every error is a SourceDataError naming the table, the column where there is one, and what to
do; no reader message, traceback or cell value reaches it (cells may be identifiers).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import MIN_ROWS, ColumnType, ForeignKey, Role
from anon_platform.errors import CatalogError, SourceDataError

FORMATS = {".csv": "csv", ".parquet": "parquet"}
SEPARATORS = (",", ";", "\t", "|")
_SNIFF_LINES = 50
_SEPARATOR_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
POLARS_TYPES: dict[ColumnType, pl.DataType] = {
    ColumnType.STRING: pl.String(),
    ColumnType.INTEGER: pl.Int64(),
    ColumnType.FLOAT: pl.Float64(),
    ColumnType.BOOLEAN: pl.Boolean(),
    ColumnType.DATE: pl.Date(),
    ColumnType.DATETIME: pl.Datetime("us"),
}
_ISO_DATETIME = "YYYY-MM-DD HH:MM:SS"
# the date layouts told apart when a column mixes them: (strftime format, how it is shown)
DATE_FORMATS = (
    ("%Y-%m-%d", "YYYY-MM-DD"),
    ("%Y-%m-%d %H:%M:%S%.f", _ISO_DATETIME),
    ("%Y-%m-%dT%H:%M:%S%.f", _ISO_DATETIME),
    ("%Y-%m-%d %H:%M", _ISO_DATETIME),
    ("%d/%m/%Y", "DD/MM/YYYY"),
    ("%m/%d/%Y", "MM/DD/YYYY"),
    ("%d.%m.%Y", "DD.MM.YYYY"),
    ("%Y/%m/%d", "YYYY/MM/DD"),
    ("%d-%m-%Y", "DD-MM-YYYY"),
)


@dataclass(frozen=True)
class TableFile:
    """A table read from a file, with what the reader decided on the way (e.g. the separator)."""

    frame: pl.DataFrame
    notes: tuple[str, ...] = field(default=())


def file_format(path: Path, declared: str | None = None) -> str:
    """'csv' or 'parquet': the declared format, else from the file's suffixes (csv otherwise)."""
    if declared:
        return declared
    return "parquet" if ".parquet" in [s.lower() for s in path.suffixes] else "csv"


def rows_text(mask: pl.Series, shown: int = 5) -> str:
    """'rows 3, 17 and 4 more' (1-based data rows) for a boolean mask."""
    idx = (mask.arg_true() + 1).to_list()
    listed = ", ".join(str(i) for i in idx[:shown])
    more = f" and {len(idx) - shown} more" if len(idx) > shown else ""
    return f"row{'s' if len(idx) > 1 else ''} {listed}{more}"


# --- reading cells --------------------------------------------------------------------------


def _head_text(table: str, path: Path) -> str:
    """The header and first rows of a csv as text; SourceDataError if it is not UTF-8."""
    with path.open("rb") as handle:
        head = b"".join(handle.readline() for _ in range(_SNIFF_LINES + 1))
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        if len(head) - err.start < 4:  # a character cut at the end of what was read
            return head[: err.start].decode("utf-8-sig")
        line = head[: err.start].count(b"\n") + 1
        raise SourceDataError(
            table, None, f"{path} is not UTF-8 text (line {line}): save it as UTF-8 and retry"
        ) from None


def _field_counts(text: str, separator: str) -> list[int]:
    rows = csv.reader(io.StringIO(text), delimiter=separator)
    return [len(row) for row in rows if row]


def sniff_separator(table: str, path: Path) -> tuple[str, str | None]:
    """The separator of a csv and a note when it is not ','.

    ',' unless the header holds no ',' but one of ';', tab, '|' splits the header and the first
    rows into the same number (> 1) of fields. A one-column header that holds one of them while
    the rows do not split evenly is refused, suggesting that separator.
    """
    text = _head_text(table, path)
    lines = text.splitlines()
    if not lines:
        return ",", None
    text = "\n".join(lines[:-1] if len(lines) > _SNIFF_LINES else lines)
    if _field_counts(lines[0], ",")[:1] != [1]:
        return ",", None
    for separator in SEPARATORS[1:]:
        counts = _field_counts(text, separator)
        if counts and counts[0] > 1 and all(c == counts[0] for c in counts):
            name = _SEPARATOR_NAMES[separator]
            return separator, f"{path}: read as {name}-separated ({counts[0]} columns)"
    for separator in SEPARATORS[1:]:
        if separator in lines[0]:
            name = _SEPARATOR_NAMES[separator]
            raise SourceDataError(
                table,
                None,
                f"{path} reads as one column whose name holds {name}, but its rows do not "
                f"split evenly on {name}: save it comma-separated, quoting fields that contain "
                "the separator",
            )
    return ",", None


def _duplicates(names: list[str]) -> list[str]:
    return [name for name, n in Counter(names).items() if n > 1]


def _refuse_duplicates(table: str, path: Path, names: list[str]) -> None:
    duplicated = _duplicates(names)
    if duplicated:
        raise SourceDataError(
            table,
            duplicated[0],
            f"{path}: column name(s) {', '.join(repr(d) for d in duplicated)} occur more than "
            "once: give every column its own name",
        )


def _ragged_row(path: Path, separator: str) -> tuple[int, int, int] | None:
    """(1-based data row, its field count, the header's) of the first row that differs."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        rows = csv.reader(handle, delimiter=separator)
        header = next(rows, [])
        for number, row in enumerate(rows, start=1):
            if row and len(row) != len(header):
                return number, len(row), len(header)
    return None


def _read_csv(table: str, path: Path) -> TableFile:
    separator, note = sniff_separator(table, path)
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        header = next(csv.reader(handle, delimiter=separator), [])
    _refuse_duplicates(table, path, header)
    try:
        frame = pl.read_csv(path, separator=separator, infer_schema=False, raise_if_empty=False)
    except pl.exceptions.ComputeError as err:
        if "utf-8" in str(err).lower():
            raise SourceDataError(
                table, None, f"{path} is not UTF-8 text: save it as UTF-8 and retry"
            ) from None
        ragged = _ragged_row(path, separator)
        if ragged is None:
            raise SourceDataError(
                table, None, f"{path} is not a readable csv file: check it opens as a table"
            ) from None
        row, found, expected = ragged
        raise SourceDataError(
            table,
            None,
            f"{path}: row {row} has {found} fields where the header has {expected}: quote "
            f"fields that contain the separator {_SEPARATOR_NAMES[separator]}, or fix that row",
        ) from None
    return TableFile(frame, (note,) if note else ())


def _read_parquet(table: str, path: Path) -> TableFile:
    try:
        return TableFile(pl.read_parquet(path))
    except pl.exceptions.DuplicateError:
        import pyarrow.parquet as pq

        _refuse_duplicates(table, path, pq.read_schema(path).names)
        raise
    except (pl.exceptions.PolarsError, OSError):
        raise SourceDataError(
            table, None, f"{path} is not a readable parquet file: check it was written whole"
        ) from None


def read_file(table: str, path: Path, declared_format: str | None = None) -> TableFile:
    """The cells of a csv (every column a string) or parquet file, checked as the module says.

    Raises SourceDataError naming `table` for a missing, unreadable or ill-formed file.
    """
    if not path.is_file():
        raise SourceDataError(table, None, f"source file not found: {path}")
    try:
        if file_format(path, declared_format) == "parquet":
            return _read_parquet(table, path)
        return _read_csv(table, path)
    except OSError as err:
        raise SourceDataError(table, None, f"cannot open {path}: {err.strerror}") from None


# --- typed columns --------------------------------------------------------------------------


def _blank_to_null(series: pl.Series) -> pl.Series:
    text = series.str.strip_chars()
    return pl.select(pl.when(text.str.len_chars() == 0).then(None).otherwise(text)).to_series()


def nan_to_null(series: pl.Series) -> pl.Series:
    """A float column with NaN read as a missing value (as pandas writes missing numbers)."""
    return series.fill_nan(None) if series.dtype.is_float() else series


def refuse_non_finite(table: str, series: pl.Series) -> None:
    """SourceDataError naming the column, count and rows when it holds +inf or -inf."""
    if not series.dtype.is_float():
        return
    infinite = series.is_infinite().fill_null(False)
    if infinite.any():
        raise SourceDataError(
            table,
            series.name,
            f"{int(infinite.sum())} infinite value(s) ({rows_text(infinite)}): a generator "
            "cannot learn them; replace them with a number, or leave the cell empty for a "
            "missing value",
        )


def date_layouts(values: pl.Series) -> Counter[str] | None:
    """How many of the (non-null string) values are in each DATE_FORMATS layout, the first
    layout that parses each value; None when some value parses under none of them."""
    layouts: Counter[str] = Counter()
    remaining = values
    for fmt, shown in DATE_FORMATS:
        if remaining.len() == 0:
            break
        parsed = remaining.str.strptime(pl.Datetime("us"), fmt, strict=False, exact=True)
        hit = parsed.is_not_null()
        if hit.any():
            layouts[shown] = int(hit.sum())
            remaining = remaining.filter(~hit)
    return layouts if remaining.len() == 0 and layouts else None


def refuse_mixed_dates(table: str, name: str, layouts: Counter[str]) -> None:
    """SourceDataError when a column's dates come in more than one layout."""
    if len(layouts) > 1:
        found = ", ".join(f"{n} like {shown}" for shown, n in layouts.most_common())
        raise SourceDataError(
            table,
            name,
            f"dates in mixed formats ({found}): write every date as YYYY-MM-DD "
            "(a date and time as YYYY-MM-DD HH:MM:SS)",
        )


def _infer_column(table: str, series: pl.Series) -> pl.Series:
    """A string column as integer, float, boolean, date or datetime when every value is one."""
    text = _blank_to_null(series)
    values = text.drop_nulls()
    if values.len() == 0:
        return series
    for dtype in (pl.Int64, pl.Float64):
        cast = text.cast(dtype, strict=False)
        if cast.null_count() == text.null_count():
            return nan_to_null(cast).alias(series.name)
    lower = text.str.to_lowercase()
    if lower.drop_nulls().is_in(["true", "false"]).all():
        return (lower == "true").alias(series.name)
    layouts = date_layouts(values)
    if layouts is None:
        return series
    refuse_mixed_dates(table, series.name, layouts)
    formats = [f for f, shown in DATE_FORMATS if shown == next(iter(layouts))]
    if "%H" not in formats[0]:
        return text.str.to_date(formats[0], strict=False).alias(series.name)
    parsed = [text.str.to_datetime(f, strict=False, time_unit="us") for f in formats]
    return pl.select(pl.coalesce(parsed)).to_series().alias(series.name)


def column_type(dtype: pl.DataType) -> ColumnType:
    """The catalog type of a polars dtype (anything exotic is treated as a string)."""
    if dtype.is_integer():
        return ColumnType.INTEGER
    if dtype.is_float():
        return ColumnType.FLOAT
    if dtype == pl.Boolean:
        return ColumnType.BOOLEAN
    if dtype == pl.Date:
        return ColumnType.DATE
    if isinstance(dtype, pl.Datetime):
        return ColumnType.DATETIME
    return ColumnType.STRING


def typed_frame(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with string columns typed where every value allows, every column in the
    platform's polars type for its catalog type, NaN read as missing; SourceDataError for
    infinite numbers and dates in mixed formats."""
    columns = []
    for name, dtype in frame.schema.items():
        series = frame[name]
        if dtype == pl.String:
            series = _infer_column(table, series)
        series = nan_to_null(series.cast(POLARS_TYPES[column_type(series.dtype)], strict=False))
        refuse_non_finite(table, series)
        columns.append(series)
    return pl.DataFrame(columns, schema={s.name: s.dtype for s in columns})


def read_typed_table(path: Path, table: str | None = None) -> TableFile:
    """A csv/parquet file read and typed (`read_file` then `typed_frame`), for the CLI."""
    name = table or path.stem
    read = read_file(name, path)
    return TableFile(typed_frame(name, read.frame), read.notes)


def refuse_too_few_rows(table: str, rows: int, min_rows: int = MIN_ROWS) -> None:
    """SourceDataError when a table has fewer rows than a generator may learn from."""
    if rows < min_rows:
        raise SourceDataError(
            table,
            None,
            f"{rows} row(s), fewer than the {min_rows} a table needs for synthesis (a "
            "generator learning from so few people reproduces them): add rows, or lower the "
            "minimum if you accept that risk (anon train --min-rows N; min_rows in sources.yml)",
        )


# --- the schema of a file -------------------------------------------------------------------


def table_schema(
    name: str,
    frame: pl.DataFrame,
    source: str,
    roles: dict[str, Role] | None = None,
    primary_key: str | None = None,
    foreign_keys: tuple[ForeignKey, ...] = (),
    target: str | None = None,
) -> TableSchema:
    """The TableSchema of a frame: types from its dtypes, `roles` (else attribute), keys and
    target; CatalogError naming `source` when a named column is not in the frame."""
    roles = roles or {}
    named = [primary_key, target, *roles, *(fk.column for fk in foreign_keys)]
    for column in named:
        if column is not None and column not in frame.columns:
            raise CatalogError(
                f"table '{name}': no column '{column}': column '{column}' is not a column of "
                f"{source} (columns: {', '.join(frame.columns)})"
            )
    keys = {primary_key, *(fk.column for fk in foreign_keys)}
    columns = []
    for column, dtype in frame.schema.items():
        role = roles.get(column, Role.ATTRIBUTE)
        if column in keys:
            role = Role.KEY
        elif column == target:
            role = Role.TARGET
        columns.append(ColumnSchema(name=column, type=column_type(dtype), role=role))
    return TableSchema(
        name=name,
        columns=tuple(columns),
        primary_key=primary_key,
        foreign_keys=foreign_keys,
        target=target,
    )


__all__ = [
    "FORMATS",
    "POLARS_TYPES",
    "TableFile",
    "column_type",
    "read_file",
    "read_typed_table",
    "refuse_non_finite",
    "refuse_too_few_rows",
    "sniff_separator",
    "table_schema",
    "typed_frame",
]
