"""Gate on each synthetic table, as Great Expectations suites: the staged schema and types,
categories inside the training domain, numbers and dates inside the training range, no
identifier value of the source, and no copy of a training row whose quasi-identifier
combination is unique.

Identifier values are compared as salted hashes so that the check's own data never holds or
prints a raw identifier outside the restricted zone; the training range and domain are shown
in the check's metadata by name only, never by value.
"""

from __future__ import annotations

import hashlib

import polars as pl

from anon_platform.catalog.schema import DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, Role
from anon_platform.common.frames import to_pandas
from anon_platform.evaluation.privacy import copies_of_unique_training_rows
from anon_platform.gates.results import Expectation, GateResult
from anon_platform.gates.suites import Rule, observed_value, run_suite, unexpected_count
from anon_platform.sources.readers import POLARS_TYPES

# the Python type GX observes for the values of each logical type (pyarrow-backed frames)
VALUE_TYPES = {
    ColumnType.STRING: "str",
    ColumnType.INTEGER: "int",
    ColumnType.FLOAT: "float",
    ColumnType.BOOLEAN: "bool",
    ColumnType.DATE: "date",
    ColumnType.DATETIME: "datetime",
}
RANGED = (ColumnType.INTEGER, ColumnType.FLOAT, ColumnType.DATE, ColumnType.DATETIME)
IDENTIFIER_CELLS = "__identifier_cells__"
UNIQUE_COPY = "__copies_unique_training_row__"


def expected_schema(schema: DatasetSchema, table: str) -> dict[str, str]:
    """Column -> polars type name a synthetic table must have: staging's, minus identifiers,
    plus the identifier columns the release fills with fake values (strings)."""
    spec = schema.table(table)
    expected = {
        c.name: str(POLARS_TYPES[c.type]) for c in spec.columns if c.role != Role.IDENTIFIER
    }
    expected.update({name: str(pl.String()) for name in spec.fake})
    return expected


def _normalised(values: pl.Series) -> pl.Series:
    return values.cast(pl.String).str.strip_chars().str.to_lowercase()


def _digest(value: str, salt: str) -> str:
    return hashlib.sha256((salt + value).encode()).hexdigest()


def identifier_digests(raw_identifiers: dict[str, pl.Series], salt: str) -> set[str]:
    """Salted digests of every identifier value of the raw tables (trimmed, lowercase)."""
    digests: set[str] = set()
    for series in raw_identifiers.values():
        for value in _normalised(series).drop_nulls().unique().to_list():
            digests.add(_digest(value, salt))
    return digests


def _leaking_cells(frame: pl.DataFrame, digests: set[str], salt: str) -> dict[str, pl.Series]:
    """Per column with at least one hit: a boolean per row, True where the cell equals an
    identifier value of the source."""
    leaks: dict[str, pl.Series] = {}
    for name in frame.columns:
        values = _normalised(frame[name])
        hits = [v for v in values.drop_nulls().unique().to_list() if _digest(v, salt) in digests]
        if hits:
            leaks[name] = values.is_in(hits).fill_null(False)
    return leaks


def _schema_rules(table: TableSchema, want: dict[str, str], frame: pl.DataFrame) -> list[Rule]:
    import great_expectations.expectations as gxe

    got = {name: str(dtype) for name, dtype in frame.schema.items()}

    def differences(observed: object) -> str:
        present = set(observed) if isinstance(observed, list) else set(got)
        return "; ".join(
            [f"missing {c}" for c in want if c not in present]
            + [f"unexpected {c}" for c in sorted(present - set(want))]
        )

    rules = [
        Rule(
            f"{table.name}: columns equal staging's (identifiers excluded)",
            gxe.ExpectTableColumnsToMatchSet(column_set=list(want), exact_match=True),
            f"{len(want)} columns",
            lambda result: differences(observed_value(result)) or "equal",
            lambda observed: str(observed),
        )
    ]
    for column in table.columns:
        if column.name in want and column.name in got:
            rules.append(
                Rule(
                    f"{table.name}.{column.name}: values of type {column.type.value}",
                    gxe.ExpectColumnValuesToBeOfType(
                        column=column.name, type_=VALUE_TYPES[column.type]
                    ),
                    VALUE_TYPES[column.type],
                    observed_value,
                    lambda observed, d=got[column.name], w=want[column.name]: (
                        f"column is {d}, staging has {w}"
                    ),
                )
            )
    return rules


def _content_rules(
    table: TableSchema, train: pl.DataFrame, frame: pl.DataFrame, leaks: dict[str, pl.Series]
) -> list[Rule]:
    import great_expectations.expectations as gxe

    keys = {table.primary_key, *(fk.column for fk in table.foreign_keys)}
    rules = []
    for column in table.modelled_columns:
        if column.name not in frame.columns or column.name in keys:
            continue
        seen = train[column.name].drop_nulls()
        if column.type in (ColumnType.STRING, ColumnType.BOOLEAN):
            rules.append(
                Rule(
                    f"{table.name}.{column.name}: categories inside the training domain",
                    gxe.ExpectColumnValuesToBeInSet(
                        column=column.name, value_set=seen.unique().to_list()
                    ),
                    f"{seen.n_unique()} training categories",
                    unexpected_count,
                    lambda n: f"{n} row(s) with a category never seen in training",
                )
            )
        elif column.type in RANGED and not seen.is_empty():
            rules.append(
                Rule(
                    f"{table.name}.{column.name}: values inside the training range",
                    gxe.ExpectColumnValuesToBeBetween(
                        column=column.name, min_value=seen.min(), max_value=seen.max()
                    ),
                    "training min..max",
                    unexpected_count,
                    lambda n: f"{n} row(s) outside the training range",
                )
            )
    rules.append(
        Rule(
            f"{table.name}: no identifier value of the source",
            gxe.ExpectColumnSumToBeBetween(column=IDENTIFIER_CELLS, max_value=0),
            0,
            observed_value,
            lambda n: (
                "leaking columns: "
                + ", ".join(f"{c} ({int(s.sum())} cells)" for c, s in leaks.items())
            ),
        )
    )
    rules.append(
        Rule(
            f"{table.name}: no copy of a training row with a unique quasi-identifier combination",
            gxe.ExpectColumnValuesToBeInSet(column=UNIQUE_COPY, value_set=[False]),
            0,
            unexpected_count,
            lambda n: (
                f"{n} synthetic row(s) equal a training row that is unique on its quasi-identifiers"
            ),
        )
    )
    return rules


def _copy_filter_expectation(
    table: str, record: dict | None, copies_removed_max: float
) -> Expectation:
    name = f"{table}: copies of unique training rows removed before storing <= {copies_removed_max}"
    if record is None:
        return Expectation(name, False, "no copy-filter record", copies_removed_max)
    share = float(record["copies_share"])
    return Expectation(
        name,
        share <= copies_removed_max,
        share,
        copies_removed_max,
        f"{record['copies_removed']} of {record['sampled']} sampled rows removed, and "
        f"{record['orphans_removed']} rows whose parent was removed",
    )


def check_synthetic_tables(
    schema: DatasetSchema,
    synthetic: dict[str, pl.DataFrame],
    train: dict[str, pl.DataFrame],
    raw_identifiers: dict[str, pl.Series],
    salt: str = "anon-platform",
    copy_filter: dict[str, dict] | None = None,
    copies_removed_max: float = 0.001,
) -> GateResult:
    """Expectations per table: every table present with the staged columns and types; values
    inside the training domain and range; no cell equal to an identifier value of the source;
    no row copying a training row that is unique on its quasi-identifiers; and, when the
    tables went through the copy filter (`copy_filter`: its record per table, from the
    pipeline), at most `copies_removed_max` of the sampled rows removed by it."""
    digests = identifier_digests(raw_identifiers, salt)
    expectations: list[Expectation] = []
    for table in schema.tables:
        if copy_filter is not None:
            expectations.append(
                _copy_filter_expectation(
                    table.name, copy_filter.get(table.name), copies_removed_max
                )
            )
        frame = synthetic.get(table.name)
        if frame is None:
            expectations.append(
                Expectation(f"{table.name}: table present", False, "missing", "present")
            )
            continue
        want = expected_schema(schema, table.name)
        shaped = frame.to_pandas(use_pyarrow_extension_array=True)
        checked = run_suite(
            "synthetic tables", f"{table.name}_schema", shaped, _schema_rules(table, want, frame)
        )
        leaks = _leaking_cells(frame, digests, salt)
        modelled = [c for c in table.modelled_columns if c.name in frame.columns]
        qis = [c.name for c in modelled if c.role == Role.QUASI_IDENTIFIER]
        copies = copies_of_unique_training_rows(
            to_pandas(train[table.name], modelled), to_pandas(frame, modelled), modelled, qis
        )
        cells = pl.Series([0] * frame.height, dtype=pl.Int64)
        for hit in leaks.values():
            cells = cells + hit.cast(pl.Int64)
        content = frame.with_columns(
            cells.alias(IDENTIFIER_CELLS), pl.Series(UNIQUE_COPY, copies)
        ).to_pandas(use_pyarrow_extension_array=True)
        judged = run_suite(
            "synthetic tables",
            f"{table.name}_content",
            content,
            _content_rules(table, train[table.name], frame, leaks),
        )
        expectations += [*checked.expectations, *judged.expectations]
    return GateResult("synthetic tables", tuple(expectations))
