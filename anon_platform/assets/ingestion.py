"""raw/<table> and staging/<model> assets of a dataset."""

import dagster as dg

from anon_platform.assets.common import OWNERS, RESTRICTED, data_version, key, table_metadata
from anon_platform.catalog import Catalog
from anon_platform.catalog.specs import FileLocation, Role, TableSpec
from anon_platform.pipeline import steps
from anon_platform.resources import AnonHome
from anon_platform.sql.models import SqlModel


def source_metadata(source: dict) -> dict:
    """What the UI shows of a source's fingerprint: its content digest and, for a file, its
    size and last modification time (so a glance tells when each source last changed)."""
    metadata: dict = {"source/content": str(source["content"])}
    if source["kind"] == "file":
        metadata["source/bytes"] = source["size"]
        metadata["source/modified"] = dg.MetadataValue.timestamp(source["mtime_ns"] / 1e9)
    else:
        metadata["source/rows"] = source["rows"]
    return metadata


def _raw_asset(catalog: Catalog, dataset: str, table: TableSpec) -> dg.AssetsDefinition:
    is_file = isinstance(table.location, FileLocation)
    kinds = {"polars", table.location.resolved_format} if is_file else {"polars", "sql"}
    roles = {r: [c.name for c in table.columns if c.role == r] for r in Role}

    @dg.asset(
        key=key(dataset, "raw", table.name),
        deps=[key(dataset, "raw", fk.parent_table) for fk in table.foreign_keys],
        group_name="raw",
        kinds=kinds,
        owners=OWNERS,
        tags=RESTRICTED,
        description=(
            f"{table.description}\n\nRaw `{table.name}` of `{dataset}`, restricted zone. "
            f"Identifier columns: {', '.join(roles[Role.IDENTIFIER]) or 'none'}; sensitive: "
            f"{', '.join(roles[Role.SENSITIVE]) or 'none'}."
        ),
    )
    def raw_table(context: dg.AssetExecutionContext, anon_home: AnonHome) -> dg.MaterializeResult:
        ingested = steps.ingest(catalog, anon_home.zones(), dataset, table.name)
        context.log.info(f"ingested {dataset}.{table.name}: {ingested.frame.height} rows")
        return dg.MaterializeResult(
            metadata={
                **table_metadata(
                    ingested.frame,
                    f"Raw `{table.name}` ingested and conformed to "
                    f"sources.yml: {ingested.frame.height:,} rows.",
                ),
                "fingerprint": ingested.fingerprint,
                "path": dg.MetadataValue.path(str(ingested.path)),
                **source_metadata(ingested.source),
            },
            data_version=dg.DataVersion(ingested.fingerprint.removeprefix("sha256:")[:24]),
        )

    return raw_table


def _staging_asset(catalog: Catalog, dataset: str, model: SqlModel) -> dg.AssetsDefinition:
    comment = " ".join(
        line.strip().removeprefix("--").strip()
        for line in model.sql.splitlines()
        if line.strip().startswith("--")
    )

    @dg.asset(
        key=key(dataset, "staging", model.name),
        deps=[key(dataset, "raw", s) for s in model.source_refs]
        + [key(dataset, "staging", m) for m in model.model_refs],
        group_name="staging",
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        tags=RESTRICTED,
        description=(comment or f"Staging model {model.name}.")
        + f"\n\nSQL: `{model.path.relative_to(catalog.root)}`",
    )
    def staging_model(
        context: dg.AssetExecutionContext, anon_home: AnonHome
    ) -> dg.MaterializeResult:
        zones = anon_home.zones()
        frame = steps.stage(catalog, zones, dataset, model.name)
        context.log.info(f"staged {dataset}.{model.name}: {frame.height} rows")
        return dg.MaterializeResult(
            metadata={
                **table_metadata(
                    frame, f"Model `{model.name}` run in DuckDB: {frame.height:,} rows."
                ),
                "sql": dg.MetadataValue.md(f"```sql\n{model.sql.strip()}\n```"),
            },
            data_version=data_version(zones, dataset, f"staging/{model.name}"),
        )

    return staging_model


def raw_assets(catalog: Catalog, dataset: str) -> list[dg.AssetsDefinition]:
    """One asset per raw table: ingested as is, checked against sources.yml."""
    return [_raw_asset(catalog, dataset, t) for t in catalog.sources[dataset].tables]


def staging_assets(catalog: Catalog, dataset: str) -> list[dg.AssetsDefinition]:
    """One asset per dbt_like_sql model; its deps are the names its SQL reads."""
    return [_staging_asset(catalog, dataset, m) for m in catalog.dataset_models(dataset)]
