"""Jobs: per dataset the whole pipeline and the retrain run a source change asks for; across
datasets the nightly refresh and the weekly full evaluation."""

from __future__ import annotations

import dagster as dg

FULL_EVALUATION_TAG = "anon/evaluation"
# every run of one dataset carries it; the instance runs one run per value at a time
# (instance.py and docker/dagster.yaml: concurrency.runs.tag_concurrency_limits)
DATASET_TAG = "dataset"
REFRESH_JOB = "refresh_all"
EVALUATION_JOB = "full_evaluation"


def pipeline_job_name(dataset: str) -> str:
    return f"{dataset}_pipeline"


def retrain_job_name(dataset: str) -> str:
    return f"{dataset}_retrain"


def not_released() -> dg.AssetSelection:
    """Every asset but the releases: a release happens in the pipeline job, by hand, or by
    automation where the dataset allows it, never as a side effect of a refresh."""
    return dg.AssetSelection.all() - dg.AssetSelection.groups("release")


def pipeline_job(dataset: str) -> dg.UnresolvedAssetJobDefinition:
    """Raw to release for one dataset, with every blocking gate in between."""
    return dg.define_asset_job(
        pipeline_job_name(dataset),
        selection=dg.AssetSelection.key_prefixes([dataset]),
        description=f"Materialize `{dataset}` from raw tables to a gated release.",
        tags={DATASET_TAG: dataset},
    )


def retrain_job(dataset: str) -> dg.UnresolvedAssetJobDefinition:
    """Re-ingest, re-stage, re-split, retrain, resample and re-measure one dataset, with every
    gate; the release follows only by automation where releases.yml sets auto_release."""
    return dg.define_asset_job(
        retrain_job_name(dataset),
        selection=dg.AssetSelection.key_prefixes([dataset]) & not_released(),
        description=f"Retrain `{dataset}` after a source change (up to the gated reports).",
        tags={DATASET_TAG: dataset},
    )


def refresh_job() -> dg.UnresolvedAssetJobDefinition:
    """Every dataset up to its gated reports (the nightly refresh)."""
    return dg.define_asset_job(
        REFRESH_JOB,
        selection=not_released(),
        description="Refresh every dataset from its sources up to the gated reports.",
    )


def evaluation_job() -> dg.UnresolvedAssetJobDefinition:
    """Every quality report again with the expensive attacks (the weekly full evaluation)."""
    return dg.define_asset_job(
        EVALUATION_JOB,
        selection=dg.AssetSelection.groups("reports"),
        description="Re-measure every report with four times the attacks and multivariate "
        "singling-out.",
        tags={FULL_EVALUATION_TAG: "full"},
    )
