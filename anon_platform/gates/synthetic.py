"""Gate on each synthetic table, as Great Expectations suites: the staged schema and types,
categories inside the training domain, numbers and dates inside the training range, no
identifier value of the source, and no copy of a training row whose quasi-identifier
combination is unique.

Domain and range are judged against real unseen data: real holdout rows also hold categories
and values training never saw (measured on 11 public tables split 300/300/300: 9 of them
failed a zero-tolerance rule on unseen real rows). A column fails only when its share of values
outside the training domain or range is significantly above the holdout's own share: a
one-sided exact (hypergeometric, Fisher) test at `domain_alpha`, Bonferroni-adjusted over every
domain and range rule of the dataset. The rule is a GX expectation with `mostly` set to the
largest share the test still accepts; without a holdout the rule is strict (nothing outside).

Identifier values are compared as salted hashes so that the check's own data never holds or
prints a raw identifier outside the restricted zone; the training range and domain are shown
in the check's metadata by name only, never by value.
"""

from __future__ import annotations

import hashlib

import polars as pl
from scipy.stats import hypergeom

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


def _domain_columns(table: TableSchema, frame: pl.DataFrame) -> list:
    """The modelled, non-key columns of `table` present in `frame` that get a domain or range
    rule (ranged columns only where training has values)."""
    keys = {table.primary_key, *(fk.column for fk in table.foreign_keys)}
    return [
        c
        for c in table.modelled_columns
        if c.name in frame.columns
        and c.name not in keys
        and c.type in (ColumnType.STRING, ColumnType.BOOLEAN, *RANGED)
    ]


def allowed_outside(outside_reference: int, reference: int, compared: int, alpha: float) -> int:
    """The largest number of `compared` values outside the training domain or range that is not
    significantly more than `outside_reference` of `reference` holdout values (one-sided exact
    test at `alpha`: P(X >= s) for X hypergeometric over the pooled counts)."""
    if compared == 0 or reference == 0:
        return 0

    def p_value(count: int) -> float:
        pooled = compared + reference
        return float(hypergeom.sf(count - 1, pooled, count + outside_reference, compared))

    # the p-value falls as the count rises: bisect for the last count it still accepts
    low, high = 0, compared
    if p_value(high) >= alpha:
        return high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if p_value(middle) >= alpha else (low, middle)
    return low


def _outside_rule(
    name: str,
    expectation_type: type,
    arguments: dict,
    outside: pl.Series,
    compared: pl.Series,
    holdout: pl.Series | None,
    alpha: float,
    what: str,
) -> Rule:
    """`expectation_type` with `mostly` at the largest share of values outside that real
    unseen data (`holdout`, flagged by `outside`) makes not significant at `alpha` (already
    Bonferroni-adjusted); strict without a holdout."""
    values = int(compared.drop_nulls().len())
    reference_share: float | None = None
    allowed = 0
    if holdout is not None:
        held = holdout.drop_nulls()
        out_held = int(outside.sum())
        reference_share = out_held / held.len() if held.len() else 0.0
        allowed = allowed_outside(out_held, held.len(), values, alpha)
    allowed_share = allowed / values if values else 0.0
    # half a row of slack: GX compares the share of values inside with `mostly` in floats
    mostly = 1.0 - (allowed + 0.5) / values if values and allowed else 1.0
    return Rule(
        name,
        expectation_type(**arguments, mostly=max(mostly, 0.0)),
        allowed_share,
        lambda result: (result.get("unexpected_percent") or 0.0) / 100.0,
        lambda share: (
            f"{round(share * values)} of {values} value(s) {what}"
            + (f" (holdout: {reference_share:.4f})" if reference_share is not None else "")
        ),
        reference_share,
        None if reference_share is None else allowed_share - reference_share,
    )


def _content_rules(
    table: TableSchema,
    train: pl.DataFrame,
    frame: pl.DataFrame,
    leaks: dict[str, pl.Series],
    holdout: pl.DataFrame | None,
    alpha: float,
) -> list[Rule]:
    import great_expectations.expectations as gxe

    rules = []
    for column in _domain_columns(table, frame):
        seen = train[column.name].drop_nulls()
        held = None if holdout is None else holdout[column.name]
        if column.type in (ColumnType.STRING, ColumnType.BOOLEAN):
            domain = seen.unique()
            values = held.drop_nulls() if held is not None else seen.head(0)
            rules.append(
                _outside_rule(
                    f"{table.name}.{column.name}: categories inside the training domain",
                    gxe.ExpectColumnValuesToBeInSet,
                    {"column": column.name, "value_set": domain.to_list()},
                    ~values.is_in(domain.implode()),
                    frame[column.name],
                    held,
                    alpha,
                    "with a category never seen in training",
                )
            )
        elif not seen.is_empty():
            low, high = seen.min(), seen.max()
            values = held.drop_nulls() if held is not None else seen.head(0)
            rules.append(
                _outside_rule(
                    f"{table.name}.{column.name}: values inside the training range",
                    gxe.ExpectColumnValuesToBeBetween,
                    {"column": column.name, "min_value": low, "max_value": high},
                    ~values.is_between(low, high),
                    frame[column.name],
                    held,
                    alpha,
                    "outside the training range",
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
    holdout: dict[str, pl.DataFrame] | None = None,
    domain_alpha: float = 0.01,
) -> GateResult:
    """Expectations per table: every table present with the staged columns and types; values
    inside the training domain and range no more often than real unseen `holdout` rows are
    (see the module docstring; strict without a holdout); no cell equal to an identifier value
    of the source; no row copying a training row that is unique on its quasi-identifiers; and,
    when the tables went through the copy filter (`copy_filter`: its record per table, from the
    pipeline), at most `copies_removed_max` of the sampled rows removed by it."""
    digests = identifier_digests(raw_identifiers, salt)
    expectations: list[Expectation] = []
    domain_rules = sum(
        len(_domain_columns(t, synthetic[t.name])) for t in schema.tables if t.name in synthetic
    )
    alpha = domain_alpha / max(domain_rules, 1)
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
            _content_rules(
                table,
                train[table.name],
                frame,
                leaks,
                None if holdout is None else holdout[table.name],
                alpha,
            ),
        )
        expectations += [*checked.expectations, *judged.expectations]
    return GateResult("synthetic tables", tuple(expectations))
