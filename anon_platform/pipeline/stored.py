"""Reading back what the pipeline steps stored under ANON_HOME (never writing): source
fingerprints as ingested, staged tables, the copy filter's record, identifier values, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from anon_platform.catalog import Catalog
from anon_platform.evaluation import QualityReport
from anon_platform.storage import Zones, read_json, read_parquet

COPY_FILTER_FILE = "copy_filter.json"
REPORT_FILE = "report.json"


def fingerprint_path(zones: Zones, dataset: str, table: str) -> Path:
    """The record `ingest` writes beside a raw table: content fingerprint, rows, source."""
    return zones.raw_table(dataset, table).with_suffix(".json")


def ingested_source_fingerprint(zones: Zones, dataset: str, table: str) -> dict[str, Any] | None:
    """The source fingerprint recorded when `table` was last ingested (None if never)."""
    path = fingerprint_path(zones, dataset, table)
    return read_json(path).get("source") if path.is_file() else None


def source_fingerprints(catalog: Catalog, zones: Zones, dataset: str) -> dict[str, str]:
    """Fingerprint of every raw table of the dataset as last ingested."""
    return {
        t.name: read_json(fingerprint_path(zones, dataset, t.name))["fingerprint"]
        for t in catalog.sources[dataset].tables
    }


def staged_tables(catalog: Catalog, zones: Zones, dataset: str) -> dict[str, pl.DataFrame]:
    """The staged models a dataset releases, under their release table names."""
    release = catalog.releases[dataset]
    return {t.name: read_parquet(zones.staging_model(dataset, t.model)) for t in release.tables}


def copy_filter_record(zones: Zones, dataset: str, generator: str) -> dict[str, dict] | None:
    """What the copy filter removed from the stored synthetic tables, per table (None when the
    record is missing, which the synthetic-table gate fails)."""
    path = zones.synthetic(dataset, generator) / COPY_FILTER_FILE
    return read_json(path) if path.is_file() else None


def raw_identifier_values(catalog: Catalog, zones: Zones, dataset: str) -> dict[str, pl.Series]:
    """Every identifier column of the dataset's raw tables, keyed 'table.column'."""
    values = {}
    for table, columns in catalog.identifier_columns(dataset).items():
        if columns:
            frame = pl.read_parquet(zones.raw_table(dataset, table), columns=columns)
            values.update({f"{table}.{c}": frame[c] for c in columns})
    return values


def stored_report(zones: Zones, dataset: str, generator: str) -> QualityReport:
    """The report.json the report step stored for `generator`, typed."""
    return QualityReport.read(zones.report(dataset, generator) / REPORT_FILE)
