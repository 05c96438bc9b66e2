"""Shared pieces of the Dagster layer: asset keys, tags, and standard metadata."""

from typing import Any

import dagster as dg
import polars as pl

from anon_platform import evidence
from anon_platform.storage import Zones

OWNERS = ["team:data-privacy"]
RESTRICTED = {"sensitivity": "restricted"}
RELEASED = {"sensitivity": "released"}


def key(dataset: str, group: str, name: str) -> dg.AssetKey:
    """Asset keys read like the asset graph: <dataset>/<group>/<name>."""
    return dg.AssetKey([dataset, group, name])


def data_version(zones: Zones, dataset: str, artifact: str) -> dg.DataVersion:
    """The Dagster data version of a stored artifact: its content digest (evidence.py), so
    the UI marks everything downstream of a changed artifact as stale."""
    record = evidence.read_evidence(zones, dataset, artifact)
    if record is None:
        raise evidence.StaleEvidenceError(f"{dataset}/{artifact} has no evidence record")
    return dg.DataVersion(record.digest.removeprefix("sha256:")[:24])


def column_schema(frame: pl.DataFrame | pl.Schema) -> dg.TableSchema:
    schema = frame if isinstance(frame, pl.Schema) else frame.schema
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in schema.items()]
    )


def table_metadata(frame: pl.DataFrame, summary: str) -> dict[str, Any]:
    """Row count, column schema and a markdown summary of one table (no cell values)."""
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(frame),
        "summary": dg.MetadataValue.md(summary),
    }


def tables_metadata(tables: dict[str, pl.DataFrame], root: str, summary: str) -> dict[str, Any]:
    """Metadata of a set of tables: the root table's schema and row count, every table's rows."""
    return stored_tables_metadata(
        {name: frame.height for name, frame in tables.items()},
        {name: frame.schema for name, frame in tables.items()},
        root,
        summary,
    )


def stored_tables_metadata(
    rows: dict[str, int], schemas: dict[str, pl.Schema], root: str, summary: str
) -> dict[str, Any]:
    """`tables_metadata` of tables known by their rows and column types only (not read)."""
    lines = "\n".join(
        f"| {name} | {count:,} | {len(schemas[name])} |" for name, count in rows.items()
    )
    metadata = {
        "dagster/row_count": rows[root],
        "dagster/column_schema": column_schema(schemas[root]),
        "summary": dg.MetadataValue.md(
            summary + "\n\n| table | rows | columns |\n|---|---|---|\n" + lines
        ),
    }
    metadata.update({f"rows/{name}": count for name, count in rows.items()})
    return metadata
