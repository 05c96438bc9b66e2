"""Jobs: one 'pipeline' job per dataset that materializes its whole asset graph."""

from __future__ import annotations

import dagster as dg


def pipeline_job_name(dataset: str) -> str:
    return f"{dataset}_pipeline"


def pipeline_job(dataset: str) -> dg.UnresolvedAssetJobDefinition:
    """Raw to release for one dataset, with every blocking gate in between."""
    return dg.define_asset_job(
        pipeline_job_name(dataset),
        selection=dg.AssetSelection.key_prefixes([dataset]),
        description=f"Materialize `{dataset}` from raw tables to a gated release.",
        tags={"dataset": dataset},
    )
