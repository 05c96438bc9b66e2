"""Gate on each synthetic table: the staged schema, and no identifier value of the source.

Identifier values are compared as salted hashes so that the check's own data never holds or
prints a raw identifier outside the restricted zone.
"""

from __future__ import annotations

import hashlib

import polars as pl

from anon_platform.catalog.schema import DatasetSchema
from anon_platform.catalog.specs import Role
from anon_platform.gates.results import Expectation, GateResult
from anon_platform.sources.readers import POLARS_TYPES


def expected_schema(schema: DatasetSchema, table: str) -> dict[str, str]:
    """Column -> polars type name a synthetic table must have: staging's, minus identifiers."""
    return {
        c.name: str(POLARS_TYPES[c.type])
        for c in schema.table(table).columns
        if c.role != Role.IDENTIFIER
    }


def _normalised(values: pl.Series) -> pl.Series:
    return values.cast(pl.String).str.strip_chars().str.to_lowercase().drop_nulls()


def identifier_digests(raw_identifiers: dict[str, pl.Series], salt: str) -> set[str]:
    """Salted digests of every identifier value of the raw tables (trimmed, lowercase)."""
    digests: set[str] = set()
    for series in raw_identifiers.values():
        for value in _normalised(series).unique().to_list():
            digests.add(hashlib.sha256((salt + value).encode()).hexdigest())
    return digests


def _leaked_cells(frame: pl.DataFrame, digests: set[str], salt: str) -> dict[str, int]:
    leaks: dict[str, int] = {}
    for name in frame.columns:
        values = _normalised(frame[name])
        if values.is_empty():
            continue
        uniques = values.unique()
        hits = {
            v
            for v in uniques.to_list()
            if hashlib.sha256((salt + v).encode()).hexdigest() in digests
        }
        if hits:
            leaks[name] = int(values.is_in(list(hits)).sum())
    return leaks


def check_synthetic_tables(
    schema: DatasetSchema,
    synthetic: dict[str, pl.DataFrame],
    raw_identifiers: dict[str, pl.Series],
    salt: str = "anon-platform",
) -> GateResult:
    """Expectations: every table present with the expected columns and types; no cell of any
    synthetic column equals an identifier value of the source."""
    digests = identifier_digests(raw_identifiers, salt)
    expectations: list[Expectation] = []
    for table in schema.tables:
        frame = synthetic.get(table.name)
        want = expected_schema(schema, table.name)
        if frame is None:
            expectations.append(
                Expectation(f"{table.name}: table present", False, "missing", "present")
            )
            continue
        got = {name: str(dtype) for name, dtype in frame.schema.items()}
        differences = sorted(
            [f"missing {c}" for c in want if c not in got]
            + [f"unexpected {c}" for c in got if c not in want]
            + [f"{c}: {got[c]} != {want[c]}" for c in want if c in got and got[c] != want[c]]
        )
        expectations.append(
            Expectation(
                f"{table.name}: schema equals staging (identifiers excluded)",
                not differences,
                "; ".join(differences) if differences else "equal",
                f"{len(want)} columns",
            )
        )
        leaks = _leaked_cells(frame, digests, salt)
        expectations.append(
            Expectation(
                f"{table.name}: no identifier value of the source",
                not leaks,
                sum(leaks.values()),
                0,
                "leaking columns: " + ", ".join(f"{c} ({n} cells)" for c, n in leaks.items())
                if leaks
                else "",
            )
        )
    return GateResult("synthetic tables", tuple(expectations))
